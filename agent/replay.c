/*
 * replay.c — the replay ring buffer: one array per field, written at
 * added % cap, sampled uniformly with rng_below().
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

struct replay {
    size_t cap;
    int obs_dim;
    uint64_t added;        /* rows ever added; head = added % cap */
    float *obs;            /* (cap, obs_dim) */
    int32_t *action;       /* (cap) */
    float *reward;         /* (cap) */
    float *next_obs;       /* (cap, obs_dim) */
    uint8_t *terminated;   /* (cap) */
    uint8_t *truncated;    /* (cap) */
};

int replay_new(size_t cap, int obs_dim, replay_t **out, errbuf_t *e)
{
    *out = NULL;
    if (cap < 1 || obs_dim < 1)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "replay: a capacity of %zu rows of %d floats; both must be >= 1", cap,
                       obs_dim);
    if (cap > SIZE_MAX / sizeof(float) / (size_t)obs_dim)
        return err_set(e, ERR_NOMEM, "out of memory (replay of %zu transitions)", cap);
    replay_t *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(e, ERR_NOMEM, "out of memory (replay of %zu transitions)", cap);
    r->cap = cap;
    r->obs_dim = obs_dim;
    size_t od = (size_t)obs_dim;
    r->obs = calloc(cap * od, sizeof(float));
    r->next_obs = calloc(cap * od, sizeof(float));
    r->action = calloc(cap, sizeof(int32_t));
    r->reward = calloc(cap, sizeof(float));
    r->terminated = calloc(cap, 1);
    r->truncated = calloc(cap, 1);
    if (!r->obs || !r->next_obs || !r->action || !r->reward || !r->terminated || !r->truncated)
        goto err;
    *out = r;
    return 0;
err:
    replay_destroy(&r);
    return err_set(e, ERR_NOMEM, "out of memory (replay of %zu transitions)", cap);
}

void replay_destroy(replay_t **rp)
{
    if (!rp || !*rp)
        return;
    replay_t *r = *rp;
    free(r->obs);
    free(r->next_obs);
    free(r->action);
    free(r->reward);
    free(r->terminated);
    free(r->truncated);
    free(r);
    *rp = NULL;
}

void replay_add(replay_t *r, const float *obs, int32_t action, float reward,
                const float *next_obs, int terminated, int truncated)
{
    size_t i = (size_t)(r->added % r->cap), od = (size_t)r->obs_dim;
    memcpy(r->obs + i * od, obs, od * sizeof(float));
    memcpy(r->next_obs + i * od, next_obs, od * sizeof(float));
    r->action[i] = action;
    r->reward[i] = reward;
    r->terminated[i] = terminated != 0;
    r->truncated[i] = truncated != 0;
    r->added++;
}

void replay_add_batch(replay_t *r, size_t n, const float *obs, const int32_t *action,
                      const float *reward, const float *next_obs, const uint8_t *terminated,
                      const uint8_t *truncated)
{
    size_t od = (size_t)r->obs_dim;
    for (size_t k = 0; k < n; k++)
        replay_add(r, obs + k * od, action[k], reward[k], next_obs + k * od, terminated[k],
                   truncated ? truncated[k] : 0);
}

int replay_sample(replay_t *r, rng_t *rng, int B, float *out_obs, int32_t *out_act,
                  float *out_rew, float *out_next, uint8_t *out_term)
{
    if (B < 0)
        return ERR_INVALID_ARGUMENT;
    size_t size = replay_size(r), od = (size_t)r->obs_dim;
    if (size == 0)
        return ERR_FAILED_PRECONDITION;
    for (int b = 0; b < B; b++) {
        size_t i = (size_t)rng_below(rng, size);
        if (out_obs)
            memcpy(out_obs + (size_t)b * od, r->obs + i * od, od * sizeof(float));
        if (out_next)
            memcpy(out_next + (size_t)b * od, r->next_obs + i * od, od * sizeof(float));
        if (out_act)
            out_act[b] = r->action[i];
        if (out_rew)
            out_rew[b] = r->reward[i];
        if (out_term)
            out_term[b] = r->terminated[i];
    }
    return 0;
}

size_t replay_size(const replay_t *r)
{
    return r->added < r->cap ? (size_t)r->added : r->cap;
}

size_t replay_capacity(const replay_t *r)
{
    return r->cap;
}

int replay_obs_dim(const replay_t *r)
{
    return r->obs_dim;
}

uint64_t replay_added(const replay_t *r)
{
    return r->added;
}

float *replay_obs(replay_t *r)
{
    return r->obs;
}

int32_t *replay_action(replay_t *r)
{
    return r->action;
}

float *replay_reward(replay_t *r)
{
    return r->reward;
}

float *replay_next_obs(replay_t *r)
{
    return r->next_obs;
}

uint8_t *replay_terminated(replay_t *r)
{
    return r->terminated;
}

uint8_t *replay_truncated(replay_t *r)
{
    return r->truncated;
}

void replay_set_added(replay_t *r, uint64_t added)
{
    r->added = added;
}

void replay_clear(replay_t *r)
{
    r->added = 0;
}
