/*
 * service_internal.h — the service's own pieces, shared by its three files
 * and by no one else: service.c (lifecycle, the request path, the
 * single-session operations), service_batch.c (reset_batch and step_batch)
 * and service_retry.c (retry identities, the reply cache, the duplicate
 * rules). Internal names carry the service__ prefix.
 */
#ifndef SERVICE_INTERNAL_H
#define SERVICE_INTERNAL_H

#include "retry.h"
#include "service.h"
#include "siphash.h"

struct service {
    service_config_t cfg;
    session_table_t *sessions;
    retry_cache_t *retry; /* last reply per retrying client */
    uint8_t secret[SIPHASH_KEY_LEN]; /* mixes peer-chosen ids (service_retry.c) */
    arena_t *arena;
    service_stats_t stats;
    uint64_t started_ms;
    bool draining;
    uint32_t mark; /* bumped per batch: session_t.mark == mark means "seen" */
    unsigned obs_dim_max, action_dim_max;
    /* Batch scratch, sized for max_batch rows; obs also holds a single
     * reset's or step's observation. */
    session_t **batch;  /* (max_batch) */
    int64_t *actions;   /* (max_batch) a Discrete step_batch's actions, whatever their dtype */
    double *box_actions; /* (max_batch, action_dim_max) a Box step's values, copied aligned */
    double bounds[4][ENV_DIM_MAX]; /* a reply's space bounds, widened from float32 */
    float *obs;         /* (max_batch, obs_dim_max) */
    float *final_obs;   /* (max_batch, obs_dim_max) */
    double *rewards;    /* (max_batch) */
    bool *terminated, *truncated; /* (max_batch) each */
    uint8_t *autoreset; /* (max_batch) */
    env_t **step_envs;  /* (max_batch) the rows a step_batch steps; NULL: reset instead */
    const char **env_ids; /* (env_class_count()) */
};

/* ------------------------------------------------------------ service.c */

/* The session with this id, or ERR_NOT_FOUND saying why it may be gone. */
int service__find_session(service_t *svc, uint64_t id, session_t **out, errbuf_t *e);

/* req has moved s: its LRU time, and its retry mark. */
void service__touch(service_t *svc, const wire_request_t *req, session_t *s, uint64_t now_ms);

/* A Box action tensor for rows sessions of cls (rows 0: one step, shape
 * [dim]; else shape [rows, dim]), FLOAT32 or FLOAT64, copied into
 * svc->box_actions; *a points there. INVALID_ARGUMENT naming the problem. */
int service__box_actions(service_t *svc, const env_class_t *cls, const wire_tensor_t *t,
                         size_t rows, const char *what, env_action_t *a, errbuf_t *e);

/* ------------------------------------------------------ service_batch.c */

int service__reset_batch(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                         wire_reply_t *rep, errbuf_t *e);
int service__step_batch(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                        wire_reply_t *rep, errbuf_t *e);

/* ------------------------------------------------------ service_retry.c */

/* Whether req is one a resend must not execute again; if so, rewrites
 * req->client_id into the client's retry identity and sets *origin to
 * where the cache accounts its reply. */
bool service__retry_begin(service_t *svc, wire_request_t *req, const service_peer_t *peer,
                          uint64_t *origin);

/* Answers a resend of the client's last state-changing request from the
 * cache, byte for byte; false when it is not one. */
bool service__retry_replay(service_t *svc, const wire_request_t *req, uint64_t now_ms,
                           wire_buf_t *out, service_result_t *res);

/* Keeps the reply to req (answered with code) for its resends. */
void service__retry_keep(service_t *svc, const wire_request_t *req, uint64_t origin, int code,
                         const wire_buf_t *reply, uint64_t now_ms);

/* Refuses a request this session has already executed, or an older one of
 * the same client: ERR_FAILED_PRECONDITION, counted. */
int service__retry_check(service_t *svc, const wire_request_t *req, const session_t *s,
                         errbuf_t *e);

/* Records req as the last request of its client that changed s. */
void service__retry_mark(const wire_request_t *req, session_t *s);

#endif
