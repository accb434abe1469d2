/*
 * tblog.h — scalar curves for TensorBoard: one event file per run.
 *
 * The file is "events.out.tfevents.<unix_seconds>.<hostname>" in the given
 * directory, a TFRecord stream of tensorflow.Event messages
 * (proto/tb_event.proto): first {file_version: "brain.Event:2"}, then one
 * Event per scalar. Each record is
 *
 *     u64 length (LE), u32 masked CRC-32C of those 8 bytes,
 *     length bytes of Event, u32 masked CRC-32C of them
 *
 * (see crc32c.h for the mask). `tensorboard --logdir DIR` shows the curves
 * while the run writes them, as far as the last tblog_flush.
 */
#ifndef TBLOG_H
#define TBLOG_H

#include <stdint.h>

#include "err.h"

typedef struct tblog tblog_t;

/* Creates dir (and parents) if missing and a new event file in it, never
 * overwriting one: a second file opened in the same second gets a ".1",
 * ".2", ... suffix, which TensorBoard reads alike. ERR_IO if it cannot. */
int tblog_open(const char *dir, tblog_t **out, errbuf_t *e);

/* Appends an Event {wall_time: now, step, summary {value {tag, simple_value:
 * (float)value}}}; 0.0 is written as a value, not left out. Buffered: call
 * tblog_flush to make it visible. ERR_INVALID_ARGUMENT for an empty tag;
 * ERR_IO if the write fails, after which every call fails (a half-written
 * record would garble all the records after it). */
int tblog_scalar(tblog_t *t, const char *tag, int64_t step, double value);

/* Hands buffered records to the kernel; 0 or ERR_IO. */
int tblog_flush(tblog_t *t);

/* Flushes, closes, frees *t and sets it NULL; safe on NULL and twice. */
void tblog_close(tblog_t **t);

/* Cuts the event file at path before its first record whose step is
 * above step, or before a record that is cut off or fails its CRC (what
 * follows a damaged record cannot be framed). For a run resumed from a
 * checkpoint at step: the events the interrupted run wrote after it are
 * written again by the resumed one, and TensorBoard would draw both.
 * *dropped (if not NULL) gets the number of whole records dropped. 0 or
 * ERR_IO. */
int tblog_truncate(const char *path, int64_t step, int64_t *dropped, errbuf_t *e);

/* The event file's path. Borrowed. */
const char *tblog_path(const tblog_t *t);

/* The message of the last failure, "" if none. Borrowed. */
const char *tblog_error(const tblog_t *t);

#endif
