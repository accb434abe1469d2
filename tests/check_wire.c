/*
 * check_wire.c — the protocol v1 codec: round trips, exact bytes, refusals.
 *
 * Every request and reply operation is encoded, decoded and compared field
 * by field, with edge values (ids of 0 and 2^64-1, seed 0, -0.0, +-inf
 * bounds, zero bytes in payloads). A round trip alone cannot catch a codec
 * whose encoder and decoder agree on a wrong field number, so a few lines
 * of hand-written protobuf below (independent of protobuf-c) pin the bytes
 * to proto/envd.proto, and build what the encoder never produces: tensors
 * of five dimensions, unknown operations, options without a value,
 * truncated and corrupt messages. Each of those must decode to
 * ERR_INVALID_ARGUMENT with a message that says what was wrong.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "rng.h"
#include "wire.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------ hand-written protobuf */

/* A message under construction; nested messages are built first and then
 * added as a length-delimited field. */
typedef struct pb {
    uint8_t b[2048];
    size_t n;
} pb_t;

static void pb_raw(pb_t *p, const void *d, size_t n)
{
    ck_assert_uint_le(p->n + n, sizeof p->b);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pb_varint(pb_t *p, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            byte |= 0x80;
        pb_raw(p, &byte, 1);
    } while (v);
}

static void pb_tag(pb_t *p, unsigned field, unsigned wire_type)
{
    pb_varint(p, (uint64_t)field << 3 | wire_type);
}

static void pb_uint(pb_t *p, unsigned field, uint64_t v)
{
    pb_tag(p, field, 0);
    pb_varint(p, v);
}

static void pb_fixed64(pb_t *p, unsigned field, uint64_t v)
{
    pb_tag(p, field, 1);
    pb_raw(p, &v, 8); /* little-endian host, as wire.c requires */
}

static void pb_bytes(pb_t *p, unsigned field, const void *d, size_t n)
{
    pb_tag(p, field, 2);
    pb_varint(p, n);
    pb_raw(p, d, n);
}

static void pb_msg(pb_t *p, unsigned field, const pb_t *m) { pb_bytes(p, field, m->b, m->n); }

static void pb_packed_u32(pb_t *p, unsigned field, const uint32_t *v, size_t n)
{
    pb_t packed = {.n = 0};
    for (size_t i = 0; i < n; i++)
        pb_varint(&packed, v[i]);
    pb_msg(p, field, &packed);
}

/* A Tensor message: dtype, shape, len bytes of data. */
static void pb_tensor(pb_t *t, int dtype, const uint32_t *shape, size_t ndim, size_t len)
{
    static const uint8_t zeros[256];
    ck_assert_uint_le(len, sizeof zeros);
    t->n = 0;
    pb_uint(t, 1, (uint64_t)dtype);
    pb_packed_u32(t, 2, shape, ndim);
    pb_bytes(t, 3, zeros, len);
}

/* Request{major 1, id, step_batch{sessions, actions: tensor}} */
static void pb_step_batch_request(pb_t *req, uint64_t id, size_t nsessions, const pb_t *tensor)
{
    pb_t sb = {.n = 0}, ids = {.n = 0};
    for (size_t i = 0; i < nsessions; i++) {
        uint64_t s = 0x1000 + i;
        pb_raw(&ids, &s, 8);
    }
    pb_msg(&sb, 1, &ids);
    if (tensor)
        pb_msg(&sb, 2, tensor);
    req->n = 0;
    pb_uint(req, 1, 1);
    pb_uint(req, 3, id);
    pb_msg(req, WIRE_OP_STEP_BATCH, &sb);
}

/* Response{major 1, status{}, reset{observation: tensor}} */
static void pb_reset_reply(pb_t *rep, const pb_t *tensor)
{
    pb_t status = {.n = 0}, reset = {.n = 0};
    pb_msg(&reset, 1, tensor);
    rep->n = 0;
    pb_uint(rep, 1, 1);
    pb_msg(rep, 4, &status);
    pb_msg(rep, WIRE_OP_RESET, &reset);
}

/* --------------------------------------------------------- comparisons */

static void ck_str_eq_or_empty(const char *want, const char *got, const char *what)
{
    ck_assert_msg(got != NULL, "%s: NULL", what);
    ck_assert_msg(strcmp(want ? want : "", got) == 0, "%s: '%s', want '%s'", what, got,
                  want ? want : "");
}

static void ck_options_eq(const option_t *want, size_t nwant, const option_t *got,
                          size_t ngot)
{
    ck_assert_uint_eq(ngot, nwant);
    for (size_t i = 0; i < nwant; i++) {
        ck_str_eq_or_empty(want[i].key, got[i].key, "option key");
        ck_assert_msg(got[i].type == want[i].type, "option %zu type %d, want %d", i, got[i].type,
                      want[i].type);
        switch (want[i].type) {
        case OPTION_BOOL: ck_assert_int_eq(got[i].v.b, want[i].v.b); break;
        case OPTION_INT: ck_assert_int_eq(got[i].v.i, want[i].v.i); break;
        case OPTION_DOUBLE:
            ck_assert_msg(f64_bits(got[i].v.d) == f64_bits(want[i].v.d), "option %zu: %a, want %a",
                          i, got[i].v.d, want[i].v.d);
            break;
        case OPTION_STRING: ck_str_eq_or_empty(want[i].v.s, got[i].v.s, "option string"); break;
        case OPTION_NONE: break;
        }
    }
}

static void ck_u64s_eq(const uint64_t *want, size_t nwant, const uint64_t *got, size_t ngot,
                       const char *what)
{
    ck_assert_msg(ngot == nwant, "%s: %zu values, want %zu", what, ngot, nwant);
    for (size_t i = 0; i < nwant; i++)
        ck_assert_msg(got[i] == want[i], "%s[%zu] = %llx, want %llx", what, i,
                      (unsigned long long)got[i], (unsigned long long)want[i]);
}

static void ck_bytes_eq(const void *want, size_t nwant, const void *got, size_t ngot,
                        const char *what)
{
    ck_assert_msg(ngot == nwant, "%s: %zu bytes, want %zu", what, ngot, nwant);
    ck_assert_msg(nwant == 0 || memcmp(got, want, nwant) == 0, "%s: bytes differ", what);
}

static void ck_tensor_eq(const wire_tensor_t *want, const wire_tensor_t *got, const char *what)
{
    ck_assert_msg(got->dtype == want->dtype, "%s: dtype %d, want %d", what, got->dtype,
                  want->dtype);
    ck_assert_msg(got->ndim == want->ndim, "%s: ndim %u, want %u", what, got->ndim, want->ndim);
    for (uint32_t i = 0; i < want->ndim; i++)
        ck_assert_msg(got->shape[i] == want->shape[i], "%s: shape[%u] %u, want %u", what, i,
                      got->shape[i], want->shape[i]);
    ck_bytes_eq(want->data, want->len, got->data, got->len, what);
}

static void ck_space_eq(const wire_space_t *want, const wire_space_t *got)
{
    ck_assert_int_eq(got->kind, want->kind);
    if (want->kind == WIRE_SPACE_DISCRETE) {
        ck_assert_int_eq(got->n, want->n);
        ck_assert_int_eq(got->start, want->start);
        return;
    }
    ck_assert_int_eq(got->dtype, want->dtype);
    ck_assert_uint_eq(got->ndim, want->ndim);
    for (uint32_t i = 0; i < want->ndim; i++)
        ck_assert_uint_eq(got->shape[i], want->shape[i]);
    ck_assert_uint_eq(got->nbounds, want->nbounds);
    for (size_t i = 0; i < want->nbounds; i++) {
        ck_assert_msg(f64_bits(got->low[i]) == f64_bits(want->low[i]), "low[%zu] %a, want %a", i,
                      got->low[i], want->low[i]);
        ck_assert_msg(f64_bits(got->high[i]) == f64_bits(want->high[i]), "high[%zu] %a, want %a",
                      i, got->high[i], want->high[i]);
    }
}

static void ck_spec_eq(const wire_spec_t *want, const wire_spec_t *got)
{
    ck_str_eq_or_empty(want->env_id, got->env_id, "spec.env_id");
    ck_assert_uint_eq(got->max_episode_steps, want->max_episode_steps);
    ck_assert_int_eq(got->has_reward_threshold, want->has_reward_threshold);
    ck_assert(f64_bits(got->reward_threshold) == f64_bits(want->reward_threshold));
}

static void ck_request_eq(const wire_request_t *w, const wire_request_t *g)
{
    ck_assert_uint_eq(g->major, w->major);
    ck_assert_uint_eq(g->minor, w->minor);
    ck_assert_uint_eq(g->id, w->id);
    ck_assert_uint_eq(g->client_id, w->client_id);
    ck_assert_int_eq(g->op, w->op);
    switch (w->op) {
    case WIRE_OP_HELLO: ck_str_eq_or_empty(w->hello.client, g->hello.client, "client"); break;
    case WIRE_OP_MAKE:
        ck_str_eq_or_empty(w->make.env_id, g->make.env_id, "make.env_id");
        ck_assert_uint_eq(g->make.count, w->make.count);
        ck_options_eq(w->make.options, w->make.noptions, g->make.options, g->make.noptions);
        break;
    case WIRE_OP_DESCRIBE:
        ck_assert_int_eq(g->describe.by_session, w->describe.by_session);
        if (w->describe.by_session)
            ck_assert_uint_eq(g->describe.session, w->describe.session);
        else
            ck_str_eq_or_empty(w->describe.env_id, g->describe.env_id, "describe.env_id");
        break;
    case WIRE_OP_RESET:
        ck_assert_uint_eq(g->reset.session, w->reset.session);
        ck_assert_int_eq(g->reset.has_seed, w->reset.has_seed);
        ck_assert_uint_eq(g->reset.seed, w->reset.seed);
        ck_options_eq(w->reset.options, w->reset.noptions, g->reset.options, g->reset.noptions);
        break;
    case WIRE_OP_STEP:
        ck_assert_uint_eq(g->step.session, w->step.session);
        ck_assert_int_eq(g->step.action, w->step.action);
        ck_assert_int_eq(g->step.has_box, w->step.has_box);
        if (w->step.has_box)
            ck_tensor_eq(&w->step.box, &g->step.box, "step.box_action");
        break;
    case WIRE_OP_RESET_BATCH:
        ck_u64s_eq(w->reset_batch.sessions, w->reset_batch.n, g->reset_batch.sessions,
                   g->reset_batch.n, "reset_batch.sessions");
        ck_u64s_eq(w->reset_batch.seeds, w->reset_batch.nseeds, g->reset_batch.seeds,
                   g->reset_batch.nseeds, "reset_batch.seeds");
        ck_bytes_eq(w->reset_batch.seeded, w->reset_batch.nseeded, g->reset_batch.seeded,
                    g->reset_batch.nseeded, "reset_batch.seeded");
        ck_options_eq(w->reset_batch.options, w->reset_batch.noptions, g->reset_batch.options,
                      g->reset_batch.noptions);
        break;
    case WIRE_OP_STEP_BATCH:
        ck_u64s_eq(w->step_batch.sessions, w->step_batch.n, g->step_batch.sessions,
                   g->step_batch.n, "step_batch.sessions");
        ck_tensor_eq(&w->step_batch.actions, &g->step_batch.actions, "step_batch.actions");
        ck_assert_int_eq(g->step_batch.autoreset, w->step_batch.autoreset);
        break;
    case WIRE_OP_CLOSE:
        ck_u64s_eq(w->close.sessions, w->close.n, g->close.sessions, g->close.n, "close.sessions");
        break;
    case WIRE_OP_PING:
        ck_bytes_eq(w->ping.payload, w->ping.len, g->ping.payload, g->ping.len, "ping.payload");
        break;
    case WIRE_OP_STATS:
    case WIRE_OP_NONE: break;
    }
}

static void ck_reply_eq(const wire_reply_t *w, const wire_reply_t *g)
{
    ck_assert_uint_eq(g->major, w->major);
    ck_assert_uint_eq(g->minor, w->minor);
    ck_assert_uint_eq(g->id, w->id);
    ck_assert_int_eq(g->code, w->code);
    ck_str_eq_or_empty(w->message, g->message, "message");
    ck_assert_int_eq(g->op, w->op);
    switch (w->op) {
    case WIRE_OP_HELLO:
        ck_assert_uint_eq(g->hello.major, w->hello.major);
        ck_assert_uint_eq(g->hello.minor, w->hello.minor);
        ck_str_eq_or_empty(w->hello.server_version, g->hello.server_version, "server_version");
        ck_assert_uint_eq(g->hello.n_env_ids, w->hello.n_env_ids);
        for (size_t i = 0; i < w->hello.n_env_ids; i++)
            ck_str_eq_or_empty(w->hello.env_ids[i], g->hello.env_ids[i], "env_ids");
        ck_assert_uint_eq(g->hello.max_message_size, w->hello.max_message_size);
        ck_assert_uint_eq(g->hello.max_batch, w->hello.max_batch);
        ck_assert_uint_eq(g->hello.max_sessions, w->hello.max_sessions);
        ck_assert_uint_eq(g->hello.session_ttl_ms, w->hello.session_ttl_ms);
        break;
    case WIRE_OP_MAKE:
        ck_u64s_eq(w->make.sessions, w->make.n, g->make.sessions, g->make.n, "make.sessions");
        ck_space_eq(&w->make.obs_space, &g->make.obs_space);
        ck_space_eq(&w->make.act_space, &g->make.act_space);
        ck_spec_eq(&w->make.spec, &g->make.spec);
        break;
    case WIRE_OP_DESCRIBE:
        ck_space_eq(&w->describe.obs_space, &g->describe.obs_space);
        ck_space_eq(&w->describe.act_space, &g->describe.act_space);
        ck_spec_eq(&w->describe.spec, &g->describe.spec);
        break;
    case WIRE_OP_RESET: ck_tensor_eq(&w->reset.obs, &g->reset.obs, "reset.obs"); break;
    case WIRE_OP_STEP:
        ck_tensor_eq(&w->step.obs, &g->step.obs, "step.obs");
        ck_assert(f64_bits(g->step.reward) == f64_bits(w->step.reward));
        ck_assert_int_eq(g->step.terminated, w->step.terminated);
        ck_assert_int_eq(g->step.truncated, w->step.truncated);
        break;
    case WIRE_OP_RESET_BATCH:
        ck_tensor_eq(&w->reset_batch.obs, &g->reset_batch.obs, "reset_batch.obs");
        break;
    case WIRE_OP_STEP_BATCH: {
        size_t n = w->step_batch.n;
        ck_assert_uint_eq(g->step_batch.n, n);
        ck_tensor_eq(&w->step_batch.obs, &g->step_batch.obs, "step_batch.obs");
        ck_bytes_eq(w->step_batch.rewards, n * 8, g->step_batch.rewards, n * 8, "rewards");
        ck_bytes_eq(w->step_batch.terminated, n, g->step_batch.terminated, n, "terminated");
        ck_bytes_eq(w->step_batch.truncated, n, g->step_batch.truncated, n, "truncated");
        ck_bytes_eq(w->step_batch.autoreset, n, g->step_batch.autoreset, n, "autoreset");
        ck_assert_int_eq(g->step_batch.has_final_obs, w->step_batch.has_final_obs);
        if (w->step_batch.has_final_obs)
            ck_tensor_eq(&w->step_batch.final_obs, &g->step_batch.final_obs, "final_obs");
        break;
    }
    case WIRE_OP_CLOSE: ck_assert_uint_eq(g->close.closed, w->close.closed); break;
    case WIRE_OP_PING:
        ck_bytes_eq(w->ping.payload, w->ping.len, g->ping.payload, g->ping.len, "ping.payload");
        break;
    case WIRE_OP_STATS:
        ck_assert_uint_eq(g->stats.active_sessions, w->stats.active_sessions);
        ck_assert_uint_eq(g->stats.sessions_created, w->stats.sessions_created);
        ck_assert_uint_eq(g->stats.sessions_reclaimed, w->stats.sessions_reclaimed);
        ck_assert_uint_eq(g->stats.env_steps, w->stats.env_steps);
        ck_assert_uint_eq(g->stats.requests, w->stats.requests);
        ck_assert_uint_eq(g->stats.errors, w->stats.errors);
        ck_assert_uint_eq(g->stats.uptime_ms, w->stats.uptime_ms);
        break;
    case WIRE_OP_NONE: break;
    }
}

/* ------------------------------------------------------------ fixtures */

static const option_t every_option[] = {
    {.key = "sutton_barto_reward", .type = OPTION_BOOL, .v.b = true},
    {.key = "off", .type = OPTION_BOOL, .v.b = false}, /* a default value is still present */
    {.key = "max_episode_steps", .type = OPTION_INT, .v.i = INT64_MIN},
    {.key = "zero", .type = OPTION_INT, .v.i = 0},
    {.key = "low", .type = OPTION_DOUBLE, .v.d = -0.0},
    {.key = "high", .type = OPTION_DOUBLE, .v.d = 0x1.fffffffffffffp+1023},
    {.key = "name", .type = OPTION_STRING, .v.s = "caf\xc3\xa9"},
    {.key = "", .type = OPTION_STRING, .v.s = ""},
    {.key = "unset", .type = OPTION_NONE}, /* a key with no value (Python's None) */
};

static const uint64_t ids3[] = {1, UINT64_MAX, 0x8000000000000000ull};
static const uint64_t seeds3[] = {0, 42, UINT64_MAX};
static const uint8_t seeded3[] = {1, 0, 1};
static const int64_t actions_i64[] = {0, 1, -1};
static const int32_t actions_i32[] = {1, 0, INT32_MIN};
static const uint8_t actions_u8[] = {1, 255, 0};
static const uint8_t payload[] = {0, 1, 0, 0xff, 'x'};

static wire_tensor_t tensor_of(int dtype, const void *data, uint32_t n)
{
    wire_tensor_t t = {.dtype = dtype, .ndim = 1, .shape = {n}, .data = data};
    t.len = n * wire_dtype_size(dtype);
    return t;
}

/* At least one request of every operation, with edge values. */
static size_t every_request(wire_request_t *r, size_t cap)
{
    size_t n = 0;
#define ADD(id_, op_, ...) \
    do { \
        ck_assert_uint_lt(n, cap); \
        r[n++] = (wire_request_t){.major = 1, .id = id_, .op = op_, __VA_ARGS__}; \
    } while (0)
    ADD(0, WIRE_OP_HELLO, .hello.client = "check_wire 1.0");
    ADD(UINT64_MAX, WIRE_OP_HELLO, .hello.client = "", .minor = 7);
    ADD(101, WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .options = every_option,
                               .noptions = NELEM(every_option), .count = 4096});
    ADD(102, WIRE_OP_MAKE, .make = {.env_id = "CartPole-v0"}, .client_id = UINT64_MAX - 5);
    ADD(103, WIRE_OP_DESCRIBE, .describe = {.by_session = true, .session = UINT64_MAX});
    ADD(104, WIRE_OP_DESCRIBE, .describe = {.by_session = true, .session = 0});
    ADD(105, WIRE_OP_DESCRIBE, .describe = {.env_id = "CartPole-v1"});
    ADD(106, WIRE_OP_DESCRIBE, .describe = {.env_id = ""});
    ADD(107, WIRE_OP_RESET, .reset = {.session = 7, .has_seed = true, .seed = UINT64_MAX,
                                 .options = every_option + 4, .noptions = 2});
    ADD(108, WIRE_OP_RESET, .reset = {.session = 7, .has_seed = true, .seed = 0});
    ADD(109, WIRE_OP_RESET, .reset = {.session = 7});
    ADD(110, WIRE_OP_STEP, .step = {.session = UINT64_MAX, .action = 1});
    ADD(111, WIRE_OP_STEP, .step = {.session = 3, .action = INT64_MIN});
    static const float torque[1] = {-1.75f};
    static const double force[1] = {0x1.fffffffffffffp-1};
    ADD(140, WIRE_OP_STEP, .step = {.session = 9, .has_box = true,
                               .box = {.dtype = WIRE_DTYPE_FLOAT32, .ndim = 1, .shape = {1},
                                       .data = torque, .len = sizeof torque}});
    ADD(141, WIRE_OP_STEP, .step = {.session = 9, .has_box = true,
                               .box = {.dtype = WIRE_DTYPE_FLOAT64, .ndim = 1, .shape = {1},
                                       .data = force, .len = sizeof force}});
    ADD(112, WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = ids3, .n = 3, .seeds = seeds3,
                                             .nseeds = 3, .seeded = seeded3, .nseeded = 3,
                                             .options = every_option, .noptions = 1});
    ADD(113, WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = ids3, .n = 2});
    ADD(114, WIRE_OP_STEP_BATCH, .step_batch = {.sessions = ids3, .n = 3,
                                           .actions = tensor_of(WIRE_DTYPE_INT64, actions_i64, 3),
                                           .autoreset = WIRE_AUTORESET_NEXT_STEP});
    ADD(115, WIRE_OP_STEP_BATCH, .step_batch = {.sessions = ids3, .n = 3,
                                           .actions = tensor_of(WIRE_DTYPE_INT32, actions_i32, 3),
                                           .autoreset = WIRE_AUTORESET_SAME_STEP});
    ADD(116, WIRE_OP_STEP_BATCH, .step_batch = {.sessions = ids3, .n = 3,
                                           .actions = tensor_of(WIRE_DTYPE_UINT8, actions_u8, 3),
                                           .autoreset = WIRE_AUTORESET_DISABLED});
    ADD(117, WIRE_OP_STEP_BATCH, .step_batch = {.actions = tensor_of(WIRE_DTYPE_INT64, NULL, 0)});
    ADD(118, WIRE_OP_CLOSE, .close = {.sessions = ids3, .n = 3});
    ADD(119, WIRE_OP_CLOSE, .close = {.n = 0});
    ADD(120, WIRE_OP_PING, .ping = {.payload = payload, .len = sizeof payload});
    ADD(121, WIRE_OP_PING, .ping = {.len = 0});
    ADD(1000, WIRE_OP_STATS);
#undef ADD
    return n;
}

static const double box_low[4] = {-4.8000002, -INFINITY, -0.41887903, -INFINITY};
static const double box_high[4] = {4.8000002, INFINITY, 0.41887903, INFINITY};
static const char *const env_ids[] = {"CartPole-v1", "CartPole-v0"};
static const float obs12[12] = {0.25f, -0.0f, INFINITY, 1e-45f, 1, 2, 3, 4, 5, 6, 7, 8};
static const float final12[12] = {0, 0, 0, 0, 9, 10, 11, 12, 0, 0, 0, 0};
static const double rewards3[3] = {1.0, 0.0, -0.0};
static const uint8_t term3[3] = {0, 1, 0}, trunc3[3] = {1, 0, 0}, reset3[3] = {0, 1, 1};

static wire_space_t box_space(void)
{
    return (wire_space_t){.kind = WIRE_SPACE_BOX, .dtype = WIRE_DTYPE_FLOAT32, .ndim = 1,
                          .shape = {4}, .low = box_low, .high = box_high, .nbounds = 4};
}

static wire_tensor_t obs_tensor(const float *data, uint32_t d0, uint32_t d1)
{
    wire_tensor_t t;
    wire_tensor_f32(&t, data, d0, d1);
    return t;
}

static size_t every_reply(wire_reply_t *r, size_t cap)
{
    size_t n = 0;
#define ADD(id_, op_, ...) \
    do { \
        ck_assert_uint_lt(n, cap); \
        r[n] = (wire_reply_t){.major = 1, .id = id_, .op = op_, __VA_ARGS__}; \
        if (!r[n].message) \
            r[n].message = ""; \
        n++; \
    } while (0)
    ADD(122, WIRE_OP_HELLO, .hello = {.major = 1, .minor = 0, .server_version = "envd 0.1.0",
                                 .env_ids = env_ids, .n_env_ids = 2,
                                 .max_message_size = (uint64_t)1 << 40, .max_batch = 8192,
                                 .max_sessions = UINT64_MAX, .session_ttl_ms = UINT32_MAX});
    ADD(123, WIRE_OP_MAKE, .make = {.sessions = ids3, .n = 3, .obs_space = box_space(),
                               .act_space = {.kind = WIRE_SPACE_DISCRETE, .n = 2, .start = 0},
                               .spec = {.env_id = "CartPole-v1", .max_episode_steps = 500,
                                        .has_reward_threshold = true,
                                        .reward_threshold = 475.0}});
    ADD(124, WIRE_OP_MAKE, .make = {.sessions = ids3, .n = 1, .obs_space = box_space(),
                               .act_space = {.kind = WIRE_SPACE_DISCRETE, .n = 3, .start = -1},
                               .spec = {.env_id = "X-v0", .max_episode_steps = 0}});
    ADD(125, WIRE_OP_DESCRIBE, .describe = {.obs_space = box_space(),
                                       .act_space = {.kind = WIRE_SPACE_DISCRETE, .n = 2},
                                       .spec = {.env_id = "CartPole-v0",
                                                .max_episode_steps = 200,
                                                .has_reward_threshold = true,
                                                .reward_threshold = 0.0}});
    ADD(126, WIRE_OP_RESET, .reset.obs = obs_tensor(obs12, 4, 0));
    ADD(127, WIRE_OP_STEP, .step = {.obs = obs_tensor(obs12 + 4, 4, 0), .reward = 1.0,
                               .terminated = true});
    ADD(128, WIRE_OP_STEP, .step = {.obs = obs_tensor(obs12, 4, 0), .reward = 0.0, .truncated = true});
    ADD(129, WIRE_OP_RESET_BATCH, .reset_batch.obs = obs_tensor(obs12, 3, 4));
    ADD(130, WIRE_OP_STEP_BATCH, .step_batch = {.n = 3, .obs = obs_tensor(obs12, 3, 4),
                                           .rewards = rewards3, .terminated = term3,
                                           .truncated = trunc3, .autoreset = reset3});
    ADD(131, WIRE_OP_STEP_BATCH, .step_batch = {.n = 3, .obs = obs_tensor(obs12, 3, 4),
                                           .rewards = rewards3, .terminated = term3,
                                           .truncated = trunc3, .autoreset = reset3,
                                           .has_final_obs = true,
                                           .final_obs = obs_tensor(final12, 3, 4)});
    ADD(132, WIRE_OP_CLOSE, .close.closed = 5);
    ADD(133, WIRE_OP_CLOSE, .close.closed = 0);
    ADD(134, WIRE_OP_PING, .ping = {.payload = payload, .len = sizeof payload});
    ADD(135, WIRE_OP_STATS, .stats = {.active_sessions = 1, .sessions_created = 1ull << 33,
                                 .sessions_reclaimed = 3, .env_steps = UINT64_MAX,
                                 .requests = 5, .errors = 6, .uptime_ms = 7});
    ADD(136, WIRE_OP_NONE, .code = ERR_NOT_FOUND, .message = "session 42 not found");
    ADD(0, WIRE_OP_NONE, .code = ERR_VERSION_MISMATCH, .message = "speak 1.0");
#undef ADD
    return n;
}

/* --------------------------------------------------------------- round trips */

START_TEST(test_every_request_op_round_trips_field_by_field)
{
    wire_request_t reqs[32], got;
    size_t n = every_request(reqs, NELEM(reqs));
    bool seen[WIRE_OP_LAST + 1] = {false};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    errbuf_t e;

    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(wire_encode_request(&reqs[i], &buf), 0);
        arena_reset(a);
        ck_assert_msg(wire_decode_request(a, buf.data, buf.len, &got, &e) == 0,
                      "request %zu (%s): %s", i, wire_op_name(reqs[i].op), e.msg);
        ck_request_eq(&reqs[i], &got);
        seen[reqs[i].op] = true;
    }
    for (int op = WIRE_OP_FIRST; op <= WIRE_OP_LAST; op++)
        ck_assert_msg(seen[op], "no round trip for %s", wire_op_name(op));
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

START_TEST(test_every_reply_op_round_trips_field_by_field)
{
    wire_reply_t reps[32], got;
    size_t n = every_reply(reps, NELEM(reps));
    bool seen[WIRE_OP_LAST + 1] = {false};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    errbuf_t e;

    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(wire_encode_reply(&reps[i], &buf), 0);
        arena_reset(a);
        ck_assert_msg(wire_decode_reply(a, buf.data, buf.len, &got, &e) == 0, "reply %zu (%s): %s",
                      i, wire_op_name(reps[i].op), e.msg);
        ck_reply_eq(&reps[i], &got);
        seen[reps[i].op] = true;
    }
    for (int op = WIRE_OP_FIRST; op <= WIRE_OP_LAST; op++)
        ck_assert_msg(seen[op], "no round trip for %s", wire_op_name(op));
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

/* An error reply carries only the status, even if the caller left an op
 * filled in: clients must not read a half-made result. */
START_TEST(test_error_reply_drops_the_op)
{
    wire_reply_t rep = {.major = 1, .id = 9, .code = ERR_INVALID_ARGUMENT,
                        .message = "action 2 is outside [0, 2)", .op = WIRE_OP_CLOSE,
                        .close.closed = 3};
    wire_reply_t got;
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    errbuf_t e;

    ck_assert_int_eq(wire_encode_reply(&rep, &buf), 0);
    ck_assert_int_eq(wire_decode_reply(a, buf.data, buf.len, &got, &e), 0);
    ck_assert_int_eq(got.code, ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(got.op, WIRE_OP_NONE);
    ck_assert_uint_eq(got.id, 9);
    ck_assert_str_eq(got.message, "action 2 is outside [0, 2)");
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

/* The bytes of a step request, written out from proto/envd.proto by hand. */
START_TEST(test_step_request_bytes_follow_the_proto)
{
    wire_request_t req = {.major = 1, .minor = 0, .id = 300, .op = WIRE_OP_STEP,
                          .step = {.session = 0x0102030405060708ull, .action = -1}};
    pb_t step = {.n = 0}, want = {.n = 0};
    wire_buf_t buf = {0};

    pb_fixed64(&step, 1, 0x0102030405060708ull);
    pb_uint(&step, 2, (uint64_t)-1); /* int64: ten-byte varint */
    pb_uint(&want, 1, 1);            /* major; minor 0 is the proto3 default: absent */
    pb_uint(&want, 3, 300);
    pb_msg(&want, 14, &step);
    ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
    ck_bytes_eq(want.b, want.n, buf.data, buf.len, "step request");
    wire_buf_deinit(&buf);
}
END_TEST

/* proto3 drops default values, so presence must come from the oneofs:
 * reset(seed=0) and describe(session=0) must not turn into their absence. */
START_TEST(test_seed_zero_and_session_zero_stay_present)
{
    wire_request_t reset = {.major = 1, .op = WIRE_OP_RESET, .reset = {.has_seed = true}};
    wire_request_t describe = {.major = 1, .op = WIRE_OP_DESCRIBE,
                               .describe = {.by_session = true}};
    wire_request_t got;
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    errbuf_t e;

    ck_assert_int_eq(wire_encode_request(&reset, &buf), 0);
    ck_assert_int_eq(wire_decode_request(a, buf.data, buf.len, &got, &e), 0);
    ck_assert(got.reset.has_seed && got.reset.seed == 0);
    reset.reset.has_seed = false;
    ck_assert_int_eq(wire_encode_request(&reset, &buf), 0);
    ck_assert_int_eq(wire_decode_request(a, buf.data, buf.len, &got, &e), 0);
    ck_assert(!got.reset.has_seed);
    ck_assert_int_eq(wire_encode_request(&describe, &buf), 0);
    ck_assert_int_eq(wire_decode_request(a, buf.data, buf.len, &got, &e), 0);
    ck_assert(got.describe.by_session && got.describe.session == 0);
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

/* Payloads far larger than the arena's first chunk decode, and the arena
 * keeps working after a reset. */
START_TEST(test_large_payload_round_trips_through_a_growing_arena)
{
    size_t len = 3 << 20;
    uint8_t *big = malloc(len);
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    wire_request_t req = {.major = 1, .op = WIRE_OP_PING, .ping = {.payload = big, .len = len}};
    wire_request_t got;
    errbuf_t e;

    for (size_t i = 0; i < len; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 24);
    for (int round = 0; round < 3; round++) {
        arena_reset(a);
        ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
        ck_assert_int_eq(wire_decode_request(a, buf.data, buf.len, &got, &e), 0);
        ck_bytes_eq(big, len, got.ping.payload, got.ping.len, "payload");
        void *p = arena_alloc(a, 24);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
    }
    wire_buf_deinit(&buf);
    arena_destroy(&a);
    free(big);
}
END_TEST

START_TEST(test_names_and_dtype_sizes)
{
    static const size_t sizes[] = {0, 4, 8, 8, 4, 1};

    ck_assert_str_eq(wire_op_name(WIRE_OP_STEP_BATCH), "step_batch");
    ck_assert_str_eq(wire_op_name(WIRE_OP_HELLO), "hello");
    ck_assert_str_eq(wire_op_name(WIRE_OP_STATS), "stats");
    ck_assert_str_eq(wire_op_name(WIRE_OP_NONE), "unknown");
    ck_assert_str_eq(wire_op_name(99), "unknown");
    for (int d = 0; d < 6; d++)
        ck_assert_uint_eq(wire_dtype_size(d), sizes[d]);
    ck_assert_uint_eq(wire_dtype_size(6), 0);
    ck_assert_uint_eq(wire_dtype_size(-1), 0);
}
END_TEST

/* ------------------------------------------------------------ tensors */

/* Decodes a hand-made step_batch request and expects a refusal whose
 * message contains each of the given words. */
static void ck_request_refused(const pb_t *req, const char *word1, const char *word2)
{
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;

    err_clear(&e);
    ck_assert_int_eq(wire_decode_request(a, req->b, req->n, &got, &e), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(e.code, ERR_INVALID_ARGUMENT);
    ck_assert_msg(word1 == NULL || strstr(e.msg, word1), "message lacks '%s': %s", word1, e.msg);
    ck_assert_msg(word2 == NULL || strstr(e.msg, word2), "message lacks '%s': %s", word2, e.msg);
    arena_destroy(&a);
}

static void ck_reply_refused(const pb_t *rep, const char *word1, const char *word2)
{
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_reply_t got;
    errbuf_t e;

    err_clear(&e);
    ck_assert_int_eq(wire_decode_reply(a, rep->b, rep->n, &got, &e), ERR_INVALID_ARGUMENT);
    ck_assert_msg(word1 == NULL || strstr(e.msg, word1), "message lacks '%s': %s", word1, e.msg);
    ck_assert_msg(word2 == NULL || strstr(e.msg, word2), "message lacks '%s': %s", word2, e.msg);
    arena_destroy(&a);
}

START_TEST(test_tensor_with_unknown_dtype_is_refused)
{
    static const int bad[] = {WIRE_DTYPE_UNSPECIFIED, 6, 1000};
    const uint32_t shape[] = {2};
    pb_t t, req, rep;

    for (size_t k = 0; k < NELEM(bad); k++) {
        pb_tensor(&t, bad[k], shape, 1, 16);
        pb_step_batch_request(&req, 1, 2, &t);
        ck_request_refused(&req, "step_batch.actions", "dtype");
        pb_reset_reply(&rep, &t);
        ck_reply_refused(&rep, "reset.observation", "dtype");
    }
    /* The same tensor with a known dtype is accepted: the refusal was the dtype. */
    pb_tensor(&t, WIRE_DTYPE_INT64, shape, 1, 16);
    pb_step_batch_request(&req, 1, 2, &t);
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;
    ck_assert_msg(wire_decode_request(a, req.b, req.n, &got, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(got.step_batch.actions.len, 16);
    arena_destroy(&a);
}
END_TEST

START_TEST(test_tensor_len_not_matching_shape_is_refused)
{
    const uint32_t shape[] = {3, 4};
    pb_t t, req, rep;

    for (size_t len = 0; len <= 52; len += 4) {
        if (len == 48)
            continue; /* 3 * 4 float32: the right size */
        pb_tensor(&t, WIRE_DTYPE_FLOAT32, shape, 2, len);
        pb_reset_reply(&rep, &t);
        ck_reply_refused(&rep, "reset.observation", "bytes");
        pb_step_batch_request(&req, 1, 12, &t);
        ck_request_refused(&req, "step_batch.actions", "bytes");
    }
    pb_tensor(&t, WIRE_DTYPE_FLOAT32, shape, 2, 47);
    pb_reset_reply(&rep, &t);
    ck_reply_refused(&rep, "47", "48 expected");
}
END_TEST

START_TEST(test_tensor_with_too_many_or_no_dims_is_refused)
{
    const uint32_t ones[WIRE_MAX_DIMS + 1] = {1, 1, 1, 1, 1};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_reply_t got;
    errbuf_t e;
    pb_t t, rep;

    pb_tensor(&t, WIRE_DTYPE_FLOAT32, ones, WIRE_MAX_DIMS + 1, 4);
    pb_reset_reply(&rep, &t);
    ck_reply_refused(&rep, "5 dimensions", NULL);
    pb_tensor(&t, WIRE_DTYPE_FLOAT32, ones, 0, 4);
    pb_reset_reply(&rep, &t);
    ck_reply_refused(&rep, "0 dimensions", NULL);
    /* WIRE_MAX_DIMS is allowed. */
    pb_tensor(&t, WIRE_DTYPE_FLOAT32, ones, WIRE_MAX_DIMS, 4);
    pb_reset_reply(&rep, &t);
    ck_assert_msg(wire_decode_reply(a, rep.b, rep.n, &got, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(got.reset.obs.ndim, WIRE_MAX_DIMS);
    arena_destroy(&a);
}
END_TEST

/* A shape whose element count overflows must be refused, not wrap around
 * to a small number that happens to match the data. */
START_TEST(test_tensor_shape_overflow_is_refused)
{
    const uint32_t huge[] = {1u << 31, 1u << 31, 1u << 31, 1u << 31}; /* 2^124 elements */
    /* 2^40 elements pass a "count so far <= 2^40" check; times 2^24 is 2^64,
     * which wraps a uint64_t to 0, matching empty data. */
    const uint32_t wraps[] = {1u << 20, 1u << 20, 1u << 24, 1};
    pb_t t, rep;

    pb_tensor(&t, WIRE_DTYPE_FLOAT32, huge, 4, 0);
    pb_reset_reply(&rep, &t);
    ck_reply_refused(&rep, "reset.observation", NULL);
    pb_tensor(&t, WIRE_DTYPE_UINT8, wraps, 4, 0);
    pb_reset_reply(&rep, &t);
    ck_reply_refused(&rep, "reset.observation", NULL);
}
END_TEST

START_TEST(test_step_batch_without_actions_is_refused)
{
    pb_t req;

    pb_step_batch_request(&req, 5, 2, NULL);
    ck_request_refused(&req, "step_batch.actions", "missing");
}
END_TEST

/* The reply's byte blocks must have one entry per observation row. */
START_TEST(test_step_batch_reply_blocks_must_match_rows)
{
    wire_reply_t rep = {.major = 1, .op = WIRE_OP_STEP_BATCH, .message = "",
                        .step_batch = {.n = 3, .obs = obs_tensor(obs12, 2, 4),
                                       .rewards = rewards3, .terminated = term3,
                                       .truncated = trunc3, .autoreset = reset3}};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    wire_reply_t got;
    errbuf_t e;

    ck_assert_int_eq(wire_encode_reply(&rep, &buf), 0);
    ck_assert_int_eq(wire_decode_reply(a, buf.data, buf.len, &got, &e), ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(e.msg, "step_batch.rewards"), "%s", e.msg);
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

/* ------------------------------------------------------ malformed bytes */

START_TEST(test_empty_message_is_invalid_argument)
{
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;

    ck_assert_int_eq(wire_decode_request(a, "", 0, &got, &e), ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(e.msg, "empty"), "%s", e.msg);
    ck_assert_int_eq(got.op, WIRE_OP_NONE);
    arena_destroy(&a);
}
END_TEST

START_TEST(test_garbage_bytes_are_invalid_argument)
{
    static const struct { const char *what; const char *bytes; size_t len; } bad[] = {
        {"wire type 7", "\x0f\x01", 2},
        {"wire type 6", "\x0e\x01", 2},
        {"field number 0", "\x00\x01", 2},
        {"endless varint", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12},
        {"length past the end", "\x08\x01\x6a\x7f\x0a", 5},
        {"string that is not UTF-8", "\x08\x01\x52\x03\x0a\x01\xff", 7},
        {"text", "GET / HTTP/1.0\r\n\r\n", 18},
        {"all ones", "\xff\xff\xff\xff\xff\xff\xff\xff", 8},
    };
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;

    for (size_t k = 0; k < NELEM(bad); k++) {
        err_clear(&e);
        int rc = wire_decode_request(a, bad[k].bytes, bad[k].len, &got, &e);
        ck_assert_msg(rc == ERR_INVALID_ARGUMENT, "%s: decoded with %d", bad[k].what, rc);
        ck_assert_msg(e.msg[0] != '\0', "%s: no message", bad[k].what);
        arena_reset(a);
    }
    arena_destroy(&a);
}
END_TEST

/* Operations are the last fields of a Request, so no proper prefix of one
 * holds a whole operation: every truncation must be refused. */
START_TEST(test_every_truncation_of_a_request_is_refused)
{
    wire_request_t reqs[32], got;
    size_t n = every_request(reqs, NELEM(reqs));
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    errbuf_t e;

    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(wire_encode_request(&reqs[i], &buf), 0);
        for (size_t len = 0; len < buf.len; len++) {
            err_clear(&e);
            arena_reset(a);
            int rc = wire_decode_request(a, buf.data, len, &got, &e);
            ck_assert_msg(rc == ERR_INVALID_ARGUMENT, "%s request cut to %zu of %zu bytes: %d",
                          wire_op_name(reqs[i].op), len, buf.len, rc);
            ck_assert_msg(e.msg[0] != '\0', "no message");
        }
    }
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

/* Random bytes either decode or are refused with a message; they never
 * crash the decoder (run under valgrind to see reads out of bounds). */
START_TEST(test_random_bytes_decode_or_are_refused)
{
    uint8_t bytes[96];
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t req;
    wire_reply_t rep;
    errbuf_t e;
    rng_t r;

    rng_seed(&r, 20261124);
    for (int round = 0; round < 3000; round++) {
        size_t len = 1 + rng_below(&r, sizeof bytes);
        for (size_t i = 0; i < len; i++)
            bytes[i] = (uint8_t)rng_next_u64(&r);
        if (round % 2)
            bytes[0] = (uint8_t)(rng_below(&r, 20) << 3 | rng_below(&r, 3)); /* a plausible tag */
        err_clear(&e);
        int rc = wire_decode_request(a, bytes, len, &req, &e);
        ck_assert(rc == 0 || (rc == ERR_INVALID_ARGUMENT && e.msg[0]));
        err_clear(&e);
        rc = wire_decode_reply(a, bytes, len, &rep, &e);
        ck_assert(rc == 0 || (rc == ERR_INVALID_ARGUMENT && e.msg[0]));
        arena_reset(a);
    }
    arena_destroy(&a);
}
END_TEST

/* A server must be able to echo the id and check the version of a request
 * it cannot otherwise read. */
START_TEST(test_request_with_no_op_is_refused_but_keeps_id_and_version)
{
    wire_request_t req = {.major = 2, .minor = 3, .id = 77, .op = WIRE_OP_NONE};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t buf = {0};
    wire_request_t got;
    errbuf_t e;

    ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
    ck_assert_int_eq(wire_decode_request(a, buf.data, buf.len, &got, &e), ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(e.msg, "operation"), "%s", e.msg);
    ck_assert_uint_eq(got.id, 77);
    ck_assert_uint_eq(got.major, 2);
    ck_assert_uint_eq(got.minor, 3);
    ck_assert_int_eq(got.op, WIRE_OP_NONE);
    wire_buf_deinit(&buf);
    arena_destroy(&a);
}
END_TEST

/* An operation from a later protocol (field 25) is an unknown field to this
 * decoder: refused, not mistaken for one it knows. */
START_TEST(test_unknown_operation_field_is_refused)
{
    pb_t req = {.n = 0}, empty = {.n = 0};

    pb_uint(&req, 1, 1);
    pb_uint(&req, 3, 8);
    pb_msg(&req, 25, &empty);
    ck_request_refused(&req, "operation", NULL);
}
END_TEST

START_TEST(test_describe_without_target_is_refused)
{
    pb_t req = {.n = 0}, empty = {.n = 0};

    pb_uint(&req, 1, 1);
    pb_msg(&req, WIRE_OP_DESCRIBE, &empty);
    ck_request_refused(&req, "describe", NULL);
}
END_TEST

/* Make requests whose env id, option key or string option is s. */
static void pb_make_with_strings(pb_t *req, const char *env_id, const char *key, const char *sval)
{
    pb_t make = {.n = 0}, opt = {.n = 0};

    pb_bytes(&opt, 1, key, strlen(key));
    pb_bytes(&opt, 5, sval, strlen(sval));
    pb_bytes(&make, 1, env_id, strlen(env_id));
    pb_msg(&make, 2, &opt);
    req->n = 0;
    pb_uint(req, 1, 1);
    pb_msg(req, WIRE_OP_MAKE, &make);
}

/* proto3 strings are UTF-8; a server that accepted others could echo them
 * in an error reply that a strict client (Python's) cannot parse. */
START_TEST(test_strings_that_are_not_utf8_are_refused)
{
    static const char *const bad[] = {
        "\xff", "caf\xe9", "\xc0\xaf" /* overlong '/' */, "\xed\xa0\x80" /* surrogate */,
        "\xe2\x82" /* cut short */, "\xf4\x90\x80\x80" /* past U+10FFFF */, "\x80",
    };
    static const char *const good[] = {"", "CartPole-v1", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "\xc3\xa9t\xc3\xa9", "\xf4\x8f\xbf\xbf"};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;
    pb_t req, d;

    for (size_t k = 0; k < NELEM(bad); k++) {
        pb_make_with_strings(&req, bad[k], "k", "v");
        ck_request_refused(&req, "make.env_id", "UTF-8");
        pb_make_with_strings(&req, "CartPole-v1", bad[k], "v");
        ck_request_refused(&req, "option key", "UTF-8");
        pb_make_with_strings(&req, "CartPole-v1", "k", bad[k]);
        ck_request_refused(&req, "string option", "UTF-8");
        d.n = 0;
        pb_bytes(&d, 2, bad[k], strlen(bad[k]));
        req.n = 0;
        pb_uint(&req, 1, 1);
        pb_msg(&req, WIRE_OP_DESCRIBE, &d);
        ck_request_refused(&req, "describe.env_id", "UTF-8");
    }
    for (size_t k = 0; k < NELEM(good); k++) {
        pb_make_with_strings(&req, good[k], good[k], good[k]);
        ck_assert_msg(wire_decode_request(a, req.b, req.n, &got, &e) == 0, "good #%zu: %s", k,
                      e.msg);
        ck_assert_str_eq(got.make.env_id, good[k]);
        ck_assert_str_eq(got.make.options[0].v.s, good[k]);
    }
    arena_destroy(&a);
}
END_TEST

/* Decodes req and expects success. */
static void ck_request_decodes(const pb_t *req, const char *what)
{
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;

    err_clear(&e);
    ck_assert_msg(wire_decode_request(a, req->b, req->n, &got, &e) == 0, "%s: %s", what, e.msg);
    arena_destroy(&a);
}

/* Request{major 1, op: {field: body}} */
static void pb_request(pb_t *req, unsigned op, const pb_t *body)
{
    req->n = 0;
    pb_uint(req, 1, 1);
    pb_msg(req, op, body);
}

/* protobuf-c gives a string field as a C string, so a NUL inside one would
 * silently cut it: "max_episode_steps\0x" must not pass as max_episode_steps.
 * Each string the requests carry, at each depth, is refused by its path;
 * NUL bytes in bytes fields and in unknown fields stay fine. */
START_TEST(test_strings_with_a_nul_are_refused)
{
    static const char key[] = "max_episode_steps\0x", env[] = "CartPole-v1\0-v0", sv[] = "a\0b";
    pb_t req, body, opt, opt2;

    /* make: env id, the second option's key, the first option's string value */
    body.n = opt.n = 0;
    pb_bytes(&body, 1, env, sizeof env - 1);
    pb_request(&req, WIRE_OP_MAKE, &body);
    ck_request_refused(&req, "make.env_id contains a NUL byte", "offset 11");

    body.n = opt.n = opt2.n = 0;
    pb_bytes(&opt, 1, "sutton_barto_reward", 19);
    pb_uint(&opt, 2, 1);
    pb_bytes(&opt2, 1, key, sizeof key - 1);
    pb_uint(&opt2, 3, 10);
    pb_bytes(&body, 1, "CartPole-v1", 11);
    pb_msg(&body, 2, &opt);
    pb_msg(&body, 2, &opt2);
    pb_request(&req, WIRE_OP_MAKE, &body);
    ck_request_refused(&req, "make.options[1].key contains a NUL byte", "offset 17");

    body.n = opt.n = 0;
    pb_bytes(&opt, 1, "name", 4);
    pb_bytes(&opt, 5, sv, sizeof sv - 1);
    pb_bytes(&body, 1, "CartPole-v1", 11);
    pb_msg(&body, 2, &opt);
    pb_request(&req, WIRE_OP_MAKE, &body);
    ck_request_refused(&req, "make.options[0].string_value contains a NUL byte", NULL);

    /* reset and reset_batch options */
    body.n = opt.n = 0;
    pb_bytes(&opt, 1, "low\0", 4);
    pb_uint(&opt, 3, 0);
    pb_fixed64(&body, 1, 7);
    pb_msg(&body, 3, &opt);
    pb_request(&req, WIRE_OP_RESET, &body);
    ck_request_refused(&req, "reset.options[0].key", "NUL");

    body.n = 0;
    pb_msg(&body, 4, &opt);
    pb_request(&req, WIRE_OP_RESET_BATCH, &body);
    ck_request_refused(&req, "reset_batch.options[0].key", "NUL");

    /* describe by env id, hello's client */
    body.n = 0;
    pb_bytes(&body, 2, env, sizeof env - 1);
    pb_request(&req, WIRE_OP_DESCRIBE, &body);
    ck_request_refused(&req, "describe.env_id", "NUL");

    body.n = 0;
    pb_bytes(&body, 1, "agentd\0", 7);
    pb_request(&req, WIRE_OP_HELLO, &body);
    ck_request_refused(&req, "hello.client", "NUL");

    /* Not strings: a ping payload, tensor data, an unknown field of an option. */
    body.n = 0;
    pb_bytes(&body, 1, "\0\0\0", 3);
    pb_request(&req, WIRE_OP_PING, &body);
    ck_request_decodes(&req, "NUL bytes in a ping payload");

    pb_t tensor;
    pb_tensor(&tensor, WIRE_DTYPE_INT64, (const uint32_t[]){2}, 1, 16);
    pb_step_batch_request(&req, 1, 2, &tensor);
    ck_request_decodes(&req, "NUL bytes in step_batch actions");

    body.n = opt.n = 0;
    pb_bytes(&opt, 1, "low", 3);
    pb_uint(&opt, 3, 0);
    pb_bytes(&opt, 9, "\0", 1);
    pb_fixed64(&body, 1, 7);
    pb_msg(&body, 3, &opt);
    pb_request(&req, WIRE_OP_RESET, &body);
    ck_request_decodes(&req, "a NUL byte in an unknown field");
}
END_TEST

/* An Option with its value oneof unset is a key with no value, not a
 * malformed request: the environment decides (Gymnasium ignores unknown
 * reset options whatever they hold). */
START_TEST(test_option_without_value_decodes_as_none)
{
    pb_t req = {.n = 0}, reset = {.n = 0}, opt = {.n = 0};
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_request_t got;
    errbuf_t e;

    pb_bytes(&opt, 1, "colour", 6);
    pb_fixed64(&reset, 1, 7);
    pb_msg(&reset, 3, &opt);
    pb_request(&req, WIRE_OP_RESET, &reset);
    ck_assert_msg(wire_decode_request(a, req.b, req.n, &got, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(got.reset.noptions, 1);
    ck_assert_str_eq(got.reset.options[0].key, "colour");
    ck_assert_int_eq(got.reset.options[0].type, OPTION_NONE);
    arena_destroy(&a);
}
END_TEST

Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_every_request_op_round_trips_field_by_field);
    tcase_add_test(tc, test_every_reply_op_round_trips_field_by_field);
    tcase_add_test(tc, test_error_reply_drops_the_op);
    tcase_add_test(tc, test_step_request_bytes_follow_the_proto);
    tcase_add_test(tc, test_seed_zero_and_session_zero_stay_present);
    tcase_add_test(tc, test_large_payload_round_trips_through_a_growing_arena);
    tcase_add_test(tc, test_names_and_dtype_sizes);
    suite_add_tcase(s, tc);

    tc = tcase_create("tensor");
    tcase_add_test(tc, test_tensor_with_unknown_dtype_is_refused);
    tcase_add_test(tc, test_tensor_len_not_matching_shape_is_refused);
    tcase_add_test(tc, test_tensor_with_too_many_or_no_dims_is_refused);
    tcase_add_test(tc, test_tensor_shape_overflow_is_refused);
    tcase_add_test(tc, test_step_batch_without_actions_is_refused);
    tcase_add_test(tc, test_step_batch_reply_blocks_must_match_rows);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_empty_message_is_invalid_argument);
    tcase_add_test(tc, test_garbage_bytes_are_invalid_argument);
    tcase_add_test(tc, test_every_truncation_of_a_request_is_refused);
    tcase_add_test(tc, test_random_bytes_decode_or_are_refused);
    tcase_add_test(tc, test_request_with_no_op_is_refused_but_keeps_id_and_version);
    tcase_add_test(tc, test_unknown_operation_field_is_refused);
    tcase_add_test(tc, test_describe_without_target_is_refused);
    tcase_add_test(tc, test_option_without_value_decodes_as_none);
    tcase_add_test(tc, test_strings_that_are_not_utf8_are_refused);
    tcase_add_test(tc, test_strings_with_a_nul_are_refused);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
