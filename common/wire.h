/*
 * wire.h — the protocol v1 codec: plain C structs <-> protobuf-c bytes.
 *
 * This is the only module that includes the generated envd.pb-c.h. envd
 * decodes requests and encodes replies with it; agentd, the benchmarks and
 * the tests do the opposite. Decoded structs point into memory owned by a
 * arena_t (protobuf-c allocates through it), so decoding allocates
 * nothing once the arena has grown to the working size; arena_reset()
 * releases everything decoded since the last reset. Arrays in replies and
 * requests being encoded are borrowed from the caller, never copied until
 * the final pack into a wire_buf_t.
 *
 * Batch blocks travel as raw little-endian bytes (see docs/protocol.md);
 * this codec assumes a little-endian host, which the build checks.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "option.h"

#define WIRE_MAJOR 1
#define WIRE_MINOR 2 /* 1.1: Request.client_id (retry-safe requests); 1.2: Box actions */
#define WIRE_MAX_DIMS 4

/* Operation numbers are the proto's oneof field numbers. */
typedef enum {
    WIRE_OP_NONE = 0,
    WIRE_OP_HELLO = 10,
    WIRE_OP_MAKE = 11,
    WIRE_OP_DESCRIBE = 12,
    WIRE_OP_RESET = 13,
    WIRE_OP_STEP = 14,
    WIRE_OP_RESET_BATCH = 15,
    WIRE_OP_STEP_BATCH = 16,
    WIRE_OP_CLOSE = 17,
    WIRE_OP_PING = 18,
    WIRE_OP_STATS = 19,
} wire_op_t;

#define WIRE_OP_FIRST WIRE_OP_HELLO
#define WIRE_OP_LAST WIRE_OP_STATS

/* Name of an operation ("step_batch"), "unknown" otherwise. */
const char *wire_op_name(int op);

typedef enum {
    WIRE_DTYPE_UNSPECIFIED = 0,
    WIRE_DTYPE_FLOAT32 = 1,
    WIRE_DTYPE_FLOAT64 = 2,
    WIRE_DTYPE_INT64 = 3,
    WIRE_DTYPE_INT32 = 4,
    WIRE_DTYPE_UINT8 = 5,
} wire_dtype_t;

/* Bytes of one element of dtype, 0 when unknown. */
size_t wire_dtype_size(int dtype);
/* "FLOAT32", "INT64", ...; "UNKNOWN" for a value outside DType. */
const char *wire_dtype_name(int dtype);

typedef enum { WIRE_AUTORESET_NEXT_STEP = 0, WIRE_AUTORESET_SAME_STEP = 1, WIRE_AUTORESET_DISABLED = 2 } wire_autoreset_t;

/* A dense little-endian C-order array. Decoded tensors are checked:
 * a known dtype and len == product(shape) * dtype size. */
typedef struct wire_tensor {
    int dtype;
    uint32_t ndim;
    uint32_t shape[WIRE_MAX_DIMS];
    const void *data;
    size_t len; /* bytes */
} wire_tensor_t;


typedef enum { WIRE_SPACE_NONE = 0, WIRE_SPACE_DISCRETE = 1, WIRE_SPACE_BOX = 2 } wire_space_kind_t;

typedef struct wire_space {
    int kind;
    int64_t n, start;                /* DISCRETE */
    int dtype;                       /* BOX */
    uint32_t ndim;                   /* BOX */
    uint32_t shape[WIRE_MAX_DIMS];   /* BOX */
    const double *low, *high;        /* BOX: (nbounds) each */
    size_t nbounds;
} wire_space_t;

typedef struct wire_spec {
    const char *env_id;
    uint32_t max_episode_steps;
    bool has_reward_threshold;
    double reward_threshold;
} wire_spec_t;

typedef struct wire_request {
    uint32_t major, minor;
    uint64_t id;
    uint64_t client_id; /* 0: no retry protection (see docs/protocol.md, Retries) */
    wire_op_t op;
    union {
        struct { const char *client; } hello;
        struct {
            const char *env_id;
            const option_t *options;
            size_t noptions;
            uint32_t count;
        } make;
        struct {
            bool by_session; /* else by env_id */
            uint64_t session;
            const char *env_id;
        } describe;
        struct {
            uint64_t session;
            bool has_seed;
            uint64_t seed;
            const option_t *options;
            size_t noptions;
        } reset;
        struct {
            uint64_t session;
            int64_t action;      /* Discrete */
            bool has_box;        /* a Box action was sent: box holds it */
            wire_tensor_t box;
        } step;
        struct {
            const uint64_t *sessions;
            size_t n;
            const uint64_t *seeds; /* (nseeds): 0 or n */
            size_t nseeds;
            const uint8_t *seeded; /* (nseeded): NULL or n bytes */
            size_t nseeded;
            const option_t *options;
            size_t noptions;
        } reset_batch;
        struct {
            const uint64_t *sessions;
            size_t n;
            wire_tensor_t actions;
            int autoreset;
        } step_batch;
        struct {
            const uint64_t *sessions;
            size_t n;
        } close;
        struct {
            const void *payload;
            size_t len;
        } ping;
    };
} wire_request_t;

typedef struct wire_stats {
    uint64_t active_sessions, sessions_created, sessions_reclaimed;
    uint64_t env_steps, requests, errors, uptime_ms;
} wire_stats_t;

typedef struct wire_reply {
    uint32_t major, minor;
    uint64_t id;
    int code;            /* ERR_OK or a negative wire code (ERR_INVALID_ARGUMENT ... ERR_INTERNAL) */
    const char *message; /* "" on success */
    wire_op_t op;        /* WIRE_OP_NONE on an error reply */
    union {
        struct {
            uint32_t major, minor;
            const char *server_version;
            const char *const *env_ids;
            size_t n_env_ids;
            uint64_t max_message_size;
            uint32_t max_batch;
            uint64_t max_sessions;
            uint32_t session_ttl_ms;
        } hello;
        struct {
            const uint64_t *sessions;
            size_t n;
            wire_space_t obs_space, act_space;
            wire_spec_t spec;
        } make;
        struct {
            wire_space_t obs_space, act_space;
            wire_spec_t spec;
        } describe;
        struct { wire_tensor_t obs; } reset;
        struct {
            wire_tensor_t obs;
            double reward;
            bool terminated, truncated;
        } step;
        struct { wire_tensor_t obs; } reset_batch;
        struct {
            size_t n;
            wire_tensor_t obs;          /* FLOAT32 (n, obs...) */
            const double *rewards;      /* (n) */
            const uint8_t *terminated;  /* (n) */
            const uint8_t *truncated;   /* (n) */
            const uint8_t *autoreset;   /* (n) */
            bool has_final_obs;
            wire_tensor_t final_obs;    /* FLOAT32 (n, obs...), SAME_STEP only */
        } step_batch;
        struct { uint32_t closed; } close;
        struct {
            const void *payload;
            size_t len;
        } ping;
        wire_stats_t stats;
    };
} wire_reply_t;

/* ------------------------------------------------------------ memory */

/* A growable output buffer for encoded messages. */
typedef struct wire_buf {
    uint8_t *data;
    size_t len, cap;
} wire_buf_t;

void wire_buf_deinit(wire_buf_t *b);

/* ------------------------------------------------------------ codec */

/* Decodes one request. Errors (ERR_INVALID_ARGUMENT) say what is wrong:
 * not a protobuf message, no operation, a malformed tensor. The request's
 * id and version are filled in as far as they could be read, so that an
 * error reply can still echo them. */
int wire_decode_request(arena_t *a, const void *buf, size_t len, wire_request_t *out,
                        errbuf_t *e);
int wire_encode_request(const wire_request_t *req, wire_buf_t *out);

int wire_decode_reply(arena_t *a, const void *buf, size_t len, wire_reply_t *out,
                      errbuf_t *e);
int wire_encode_reply(const wire_reply_t *rep, wire_buf_t *out);

/* Fills t as a FLOAT32 tensor of shape (d0) or (d0, d1) over data. */
void wire_tensor_f32(wire_tensor_t *t, const float *data, uint32_t d0, uint32_t d1);

/* A step_batch request of n sessions with Discrete actions (INT32, (n)),
 * over the caller's arrays. */
wire_request_t wire_step_batch_discrete(const uint64_t *sessions, const int32_t *actions,
                                        size_t n, wire_autoreset_t autoreset);

#endif
