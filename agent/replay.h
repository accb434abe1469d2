/*
 * replay.h — the experience replay buffer: a fixed-capacity ring of
 * transitions, one array per field.
 *
 * Row i holds one transition (obs, action, reward, next_obs, terminated,
 * truncated). Rows are written at the head, which wraps at the capacity,
 * so once full each add overwrites the oldest row. Sampling is uniform with
 * replacement over the stored rows, drawing indices with rng_below() from
 * the caller's stream, so a seeded learner samples the same batches on
 * every run. One array per field keeps a sampled batch a handful of row
 * copies and lets a checkpoint write each field in one go.
 *
 * Nothing allocates after replay_new(). Not thread-safe. Pointers returned
 * by accessors are borrowed until replay_destroy().
 */
#ifndef REPLAY_H
#define REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rng.h"

typedef struct replay replay_t;

/* An empty buffer of cap rows of obs_dim floats per observation, in *out.
 * Returns 0, ERR_INVALID_ARGUMENT if a size is < 1, or ERR_NOMEM; on
 * failure *out is NULL and e says why. */
int replay_new(size_t cap, int obs_dim, replay_t **out, errbuf_t *e);

/* Frees *r and sets *r to NULL. Safe on NULL and on a NULL *r. */
void replay_destroy(replay_t **r);

/* Appends one transition, overwriting the oldest when full. obs and
 * next_obs are (obs_dim) and are copied. */
void replay_add(replay_t *r, const float *obs, int32_t action, float reward,
                const float *next_obs, int terminated, int truncated);

/* Appends n transitions in order: obs and next_obs (n, obs_dim), the others
 * (n). truncated may be NULL (all 0). Same as n replay_add() calls. */
void replay_add_batch(replay_t *r, size_t n, const float *obs, const int32_t *action,
                      const float *reward, const float *next_obs, const uint8_t *terminated,
                      const uint8_t *truncated);

/* Draws B rows uniformly with replacement (B calls of rng_below(rng, size),
 * in order) into out_obs and out_next (B, obs_dim), out_act, out_rew and
 * out_term (B). Any out pointer may be NULL to skip that field. Returns 0,
 * ERR_FAILED_PRECONDITION if the buffer is empty (rng untouched), or
 * ERR_INVALID_ARGUMENT if B < 0. */
int replay_sample(replay_t *r, rng_t *rng, int B, float *out_obs, int32_t *out_act,
                  float *out_rew, float *out_next, uint8_t *out_term);

/* Rows stored: min(rows ever added, capacity). */
size_t replay_size(const replay_t *r);
size_t replay_capacity(const replay_t *r);
int replay_obs_dim(const replay_t *r);

/* Rows ever added (not capped); the next row written is added % capacity. */
uint64_t replay_added(const replay_t *r);

/* ---------------------------------------------------------- checkpoints
 *
 * A checkpoint saves replay_added() and the first replay_size() rows of
 * each field array below (rows past size are unused); a restore writes the
 * rows back into the same arrays and calls replay_set_added().
 */

float *replay_obs(replay_t *r);          /* (cap, obs_dim) */
int32_t *replay_action(replay_t *r);     /* (cap) */
float *replay_reward(replay_t *r);       /* (cap) */
float *replay_next_obs(replay_t *r);     /* (cap, obs_dim) */
uint8_t *replay_terminated(replay_t *r); /* (cap) */
uint8_t *replay_truncated(replay_t *r);  /* (cap) */

/* Sets the count of rows ever added, which fixes size and head. */
void replay_set_added(replay_t *r, uint64_t added);

/* Empties the buffer (contents left in place, size 0). */
void replay_clear(replay_t *r);

#endif
