/*
 * err.h — the one error enum of the project and its text.
 *
 * Every function that can fail returns 0 or one of the negative codes
 * below. The first seven mirror the protocol's status codes (envd.v1.Code)
 * one for one: a code crosses the wire as -code. An errbuf_t carries the
 * human-readable detail that goes into an error reply or a log line.
 */
#ifndef ERR_H
#define ERR_H

#include <stddef.h>

enum {
    ERR_OK = 0,
    ERR_INVALID_ARGUMENT = -1,
    ERR_NOT_FOUND = -2,
    ERR_FAILED_PRECONDITION = -3,
    ERR_RESOURCE_EXHAUSTED = -4,
    ERR_VERSION_MISMATCH = -5,
    ERR_UNAVAILABLE = -6,
    ERR_INTERNAL = -7,
    /* Local-only codes: never sent on the wire. */
    ERR_IO = -8,        /* a file or socket operation failed (see errno) */
    ERR_TIMEOUT = -9,   /* a peer did not answer in time */
    ERR_CORRUPT = -10,  /* a file failed its integrity checks */
    ERR_NOMEM = -11,
};

#define ERR_MSG_MAX 240

/* The detail of a failure: the code and a message saying what was wrong. */
typedef struct errbuf {
    int code;
    char msg[ERR_MSG_MAX];
} errbuf_t;

/* Short name of a code, e.g. "INVALID_ARGUMENT". Never NULL. */
const char *err_name(int code);

/* Records code and a printf-style message in e (which may be NULL) and
 * returns code, so a failing path reads `return err_set(e, ERR_..., ...)`. */
int err_set(errbuf_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets e to ERR_OK with an empty message. */
void err_clear(errbuf_t *e);

#endif
