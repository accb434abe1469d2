/*
 * check_server.c — envd over a real ZeroMQ socket, end to end.
 *
 * Each test starts its own server in-process: a harness thread runs a
 * private uv_loop with server_new() bound to tcp://127.0.0.1:* (or an ipc
 * path under a fresh temporary folder), and clients talk to it through
 * common/client.h or raw ZeroMQ sockets, so every request crosses the real
 * codec and the real transport. The harness stops the server through a
 * uv_async_t and then proves that uv_loop_close() succeeds: no handle is
 * left open. What the server answers is checked against a local env_t
 * driven identically (float32 observations compared bit for bit) and
 * against the golden Gymnasium trajectories; each bad input is checked for
 * its status code and for leaving a bystander session exactly where it
 * was. The last tests run the real build/envd binary: SIGTERM, --help and
 * a bad flag. No fixed ports, no timing assertions; every wait is bounded.
 */
#include <arpa/inet.h>
#include <check.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "bits.h"
#include "client.h"
#include "env.h"
#include "log.h"
#include "lossy_proxy.h"
#include "server.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT_MS 5000 /* a reply that does not come fails the test, never hangs it */
#define GOLDEN_PATH "tests/data/cartpole_v1_public.jsonl"

/* ------------------------------------------------------------- harness */

typedef struct harness {
    uv_loop_t loop;
    uv_async_t stop;
    server_t *server;
    pthread_t thread;
    int loop_close_rc;
    bool stop_sent;
    bool pause_on_stop;      /* on_stop waits for `resume` before stopping */
    sem_t paused, resume;
    const char *endpoint;    /* binds[0] as bound */
    int metrics_port;
    void *zctx;
    client_t *c;             /* the default client */
} harness_t;

static void default_config(server_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->binds[0] = "tcp://127.0.0.1:*";
    cfg->nbinds = 1;
    cfg->service = (service_config_t){.max_sessions = 64, .max_batch = 16,
                                      .session_ttl_ms = 60000, .max_message_size = 64 * 1024};
    cfg->sndhwm = 1000;
}

static void on_stop(uv_async_t *a)
{
    harness_t *h = a->data;
    if (h->pause_on_stop) {
        sem_post(&h->paused);
        sem_wait(&h->resume);
    }
    server_stop(h->server);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    harness_t *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
    h->loop_close_rc = uv_loop_close(&h->loop);
    return NULL;
}

static client_t *client_open(harness_t *h, const char *endpoint, int timeout_ms)
{
    client_t *c = NULL;
    errbuf_t e;
    ck_assert_msg(client_new(h->zctx, endpoint, timeout_ms, &c, &e) == 0, "client: %s", e.msg);
    return c;
}

/* Sockets and handles are made here and used by the loop thread only after
 * pthread_create, which orders the two (ZeroMQ allows moving a socket
 * between threads across a full memory barrier). */
static harness_t *harness_start(const server_config_t *cfg)
{
    harness_t *h = calloc(1, sizeof *h);
    server_config_t def;
    errbuf_t e;

    if (!cfg) {
        default_config(&def);
        cfg = &def;
    }
    log_init("check_server", LOG_ERROR);
    sem_init(&h->paused, 0, 0);
    sem_init(&h->resume, 0, 0);
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    ck_assert_msg(server_new(&h->loop, cfg, &h->server, &e) == 0, "server_new: %s", e.msg);
    h->endpoint = server_endpoint(h->server, 0);
    h->metrics_port = server_metrics_port(h->server);
    ck_assert_int_eq(uv_async_init(&h->loop, &h->stop, on_stop), 0);
    h->stop.data = h;
    ck_assert_int_eq(pthread_create(&h->thread, NULL, loop_main, h), 0);
    h->zctx = zmq_ctx_new();
    h->c = client_open(h, h->endpoint, TIMEOUT_MS);
    return h;
}

static void harness_send_stop(harness_t *h)
{
    if (!h->stop_sent) {
        h->stop_sent = true;
        ck_assert_int_eq(uv_async_send(&h->stop), 0);
    }
}

/* Stops the server and checks that its loop closed with no handle open.
 * Every client of h->zctx must be destroyed first. */
static void harness_stop(harness_t **hp)
{
    harness_t *h = *hp;
    client_destroy(&h->c);
    harness_send_stop(h);
    ck_assert_int_eq(pthread_join(h->thread, NULL), 0);
    ck_assert_msg(h->loop_close_rc == 0, "uv_loop_close: %s: a handle was left open",
                  uv_err_name(h->loop_close_rc));
    server_destroy(&h->server);
    ck_assert_ptr_null(h->server);
    server_destroy(&h->server); /* safe twice */
    zmq_ctx_term(h->zctx);
    sem_destroy(&h->paused);
    sem_destroy(&h->resume);
    free(h);
    *hp = NULL;
}

/* ------------------------------------------------------------- calls */

static void call_ok(client_t *c, wire_request_t *req, wire_reply_t *rep)
{
    errbuf_t e;
    err_clear(&e);
    int rc = client_call(c, req, rep, &e);
    ck_assert_msg(rc == 0, "%s: %s: %s", wire_op_name(req->op), err_name(rc), e.msg);
    ck_assert_int_eq(rep->op, req->op);
    ck_assert_uint_eq(rep->major, WIRE_MAJOR);
    ck_assert_str_eq(rep->message, "");
}

/* Expects an error reply with this code; returns its message (valid until
 * the client's next receive). */
static const char *call_err(client_t *c, wire_request_t *req, int code)
{
    wire_reply_t rep;
    errbuf_t e;
    err_clear(&e);
    int rc = client_call(c, req, &rep, &e);
    ck_assert_msg(rc == code, "%s: got %s (%s), want %s", wire_op_name(req->op), err_name(rc),
                  e.msg, err_name(code));
    ck_assert_int_eq(rep.op, WIRE_OP_NONE);
    ck_assert_uint_eq(rep.id, req->id);
    ck_assert_msg(rep.message[0] != '\0', "error reply without a message");
    return rep.message;
}

/* Sends bytes that the client does not encode; returns the reply. */
static void call_raw(client_t *c, const void *data, size_t len, wire_reply_t *rep)
{
    errbuf_t e;
    err_clear(&e);
    ck_assert_msg(client_send_raw(c, data, len, &e) == 0, "%s", e.msg);
    int rc = client_recv(c, rep, &e);
    ck_assert_msg(rc == 0, "no reply to raw bytes: %s: %s", err_name(rc), e.msg);
}

static void ck_message_has(const char *msg, const char *word)
{
    ck_assert_msg(strstr(msg, word) != NULL, "message lacks '%s': %s", word, msg);
}

static void make_n(client_t *c, const char *env_id, const option_t *opts, size_t nopts,
                   uint32_t count, uint64_t *ids)
{
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = env_id, .options = opts,
                                                       .noptions = nopts, .count = count}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_assert_uint_eq(rep.make.n, count ? count : 1);
    memcpy(ids, rep.make.sessions, rep.make.n * sizeof *ids);
}

static uint64_t make_one(client_t *c)
{
    uint64_t id;
    make_n(c, "CartPole-v1", NULL, 0, 1, &id);
    return id;
}

static wire_stats_t stats(client_t *c)
{
    wire_request_t req = {.op = WIRE_OP_STATS};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    return rep.stats;
}

static void close_ids(client_t *c, const uint64_t *ids, size_t n, uint32_t want_closed)
{
    wire_request_t req = {.op = WIRE_OP_CLOSE, .close = {.sessions = ids, .n = n}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_assert_uint_eq(rep.close.closed, want_closed);
}

/* ------------------------------------------------- observations and mirrors */

/* A FLOAT32 tensor of shape [rows, 4], or [4] when rows is 0. */
static void ck_obs_shape(const wire_tensor_t *got, uint32_t rows)
{
    ck_assert_int_eq(got->dtype, WIRE_DTYPE_FLOAT32);
    if (rows) {
        ck_assert_uint_eq(got->ndim, 2);
        ck_assert_uint_eq(got->shape[0], rows);
        ck_assert_uint_eq(got->shape[1], 4);
    } else {
        ck_assert_uint_eq(got->ndim, 1);
        ck_assert_uint_eq(got->shape[0], 4);
    }
    ck_assert_uint_eq(got->len, (rows ? rows : 1) * 4 * sizeof(float));
}

/* The tensor holds exactly `want`, bit for bit. */
static void ck_obs_eq(const float *want, const wire_tensor_t *got, uint32_t rows, const char *what)
{
    size_t n = (rows ? rows : 1) * 4;
    ck_obs_shape(got, rows);
    for (size_t k = 0; k < n; k++) {
        float g;
        memcpy(&g, (const char *)got->data + k * sizeof g, sizeof g);
        ck_assert_msg(f32_bits(g) == f32_bits(want[k]), "%s[%zu]: %08x (%a), want %08x (%a)", what,
                      k, f32_bits(g), g, f32_bits(want[k]), want[k]);
    }
}


typedef struct step_result {
    float obs[4];
    double reward;
    bool terminated, truncated;
} step_result_t;

static void remote_reset(client_t *c, uint64_t id, const uint64_t *seed, float *obs)
{
    wire_request_t req = {.op = WIRE_OP_RESET, .reset = {.session = id, .has_seed = seed != NULL,
                                                         .seed = seed ? *seed : 0}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_obs_shape(&rep.reset.obs, 0);
    memcpy(obs, rep.reset.obs.data, 4 * sizeof *obs);
}

static void remote_step(client_t *c, uint64_t id, int64_t action, step_result_t *r)
{
    wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = id, .action = action}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_obs_shape(&rep.step.obs, 0);
    memcpy(r->obs, rep.step.obs.data, sizeof r->obs);
    r->reward = rep.step.reward;
    r->terminated = rep.step.terminated;
    r->truncated = rep.step.truncated;
}

static env_t *local_env(const char *id, const option_t *opts, size_t nopts)
{
    const env_class_t *cls = env_find(id);
    option_t eo[OPTIONS_MAX];
    errbuf_t e;

    ck_assert_ptr_nonnull(cls);
    ck_assert_uint_le(nopts, OPTIONS_MAX);
    for (size_t i = 0; i < nopts; i++) {
        eo[i].key = opts[i].key;
        eo[i].type = (option_type_t)opts[i].type; /* the two enums list the same types in order */
        memcpy(&eo[i].v, &opts[i].v, sizeof eo[i].v);
    }
    env_t *env = calloc(1, env_size(cls));
    ck_assert_msg(env_init(env, cls, eo, nopts, &e) == 0, "env_init: %s", e.msg);
    return env;
}

static void local_reset(env_t *env, const uint64_t *seed, float *obs)
{
    errbuf_t e;
    ck_assert_msg(env_reset(env, seed, NULL, 0, obs, &e) == 0, "env_reset: %s", e.msg);
}

static void local_step(env_t *env, int64_t action, step_result_t *r)
{
    errbuf_t e;
    ck_assert_msg(env_step(env, action, r->obs, &r->reward, &r->terminated, &r->truncated, &e) == 0,
                  "env_step: %s", e.msg);
}

static void ck_step_eq(const step_result_t *want, const step_result_t *got, const char *what)
{
    for (int k = 0; k < 4; k++)
        ck_assert_msg(f32_bits(got->obs[k]) == f32_bits(want->obs[k]), "%s: obs[%d] %a, want %a",
                      what, k, got->obs[k], want->obs[k]);
    ck_assert_msg(f64_bits(got->reward) == f64_bits(want->reward), "%s: reward %g, want %g", what,
                  got->reward, want->reward);
    ck_assert_int_eq(got->terminated, want->terminated);
    ck_assert_int_eq(got->truncated, want->truncated);
}

/* The golden files' balance policy: long episodes from few lines. */
static int64_t balance(const float *obs) { return obs[2] + obs[3] > 0; }

/* A bystander: a session on the server and a local twin. After any bad
 * request, stepping both must still give identical results. */
typedef struct witness {
    uint64_t id;
    env_t *env;
    float obs[4];
} witness_t;

static void witness_check(client_t *c, witness_t *w, int steps)
{
    for (int t = 0; t < steps; t++) {
        step_result_t want, got;
        int64_t a = balance(w->obs);
        remote_step(c, w->id, a, &got);
        local_step(w->env, a, &want);
        ck_step_eq(&want, &got, "bystander session");
        memcpy(w->obs, want.obs, sizeof w->obs);
    }
}

static void witness_start(client_t *c, witness_t *w, uint64_t seed)
{
    float remote[4];
    w->id = make_one(c);
    w->env = local_env("CartPole-v1", NULL, 0);
    remote_reset(c, w->id, &seed, remote);
    local_reset(w->env, &seed, w->obs);
    ck_assert(memcmp(remote, w->obs, sizeof remote) == 0);
    witness_check(c, w, 3);
}

static void witness_end(client_t *c, witness_t *w)
{
    witness_check(c, w, 5);
    free(w->env);
    w->env = NULL;
}

static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int more = *s < 0x80 ? 0 : *s >= 0xc2 && *s <= 0xdf ? 1 : *s >= 0xe0 && *s <= 0xef ? 2
                 : *s >= 0xf0 && *s <= 0xf4 ? 3 : -1;
        if (more < 0)
            return false;
        s++;
        for (int i = 0; i < more; i++, s++)
            if ((*s & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* --------------------------------------------------------------- hello, make, describe */

START_TEST(test_hello_reports_versions_env_ids_and_limits)
{
    harness_t *h = harness_start(NULL);
    wire_request_t req = {.op = WIRE_OP_HELLO, .hello.client = "check_server"};
    wire_reply_t rep;

    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.hello.major, 1);
    ck_assert_uint_eq(rep.hello.minor, WIRE_MINOR);
    ck_message_has(rep.hello.server_version, ENVD_VERSION);
    ck_assert_uint_eq(rep.hello.n_env_ids, env_class_count());
    for (size_t i = 0; i < env_class_count(); i++)
        ck_assert_str_eq(rep.hello.env_ids[i], env_class_at(i)->id);
    ck_assert_uint_eq(rep.hello.max_message_size, 64 * 1024);
    ck_assert_uint_eq(rep.hello.max_batch, 16);
    ck_assert_uint_eq(rep.hello.max_sessions, 64);
    ck_assert_uint_eq(rep.hello.session_ttl_ms, 60000);
    harness_stop(&h);
}
END_TEST

START_TEST(test_make_returns_sessions_spaces_and_exact_bounds)
{
    harness_t *h = harness_start(NULL);
    const env_class_t *cls = env_find("CartPole-v1");
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 3}};
    wire_reply_t rep;

    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.make.n, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_ne(rep.make.sessions[i], 0);
        for (size_t j = 0; j < i; j++)
            ck_assert_uint_ne(rep.make.sessions[i], rep.make.sessions[j]);
    }
    const wire_space_t *o = &rep.make.obs_space, *a = &rep.make.act_space;
    ck_assert_int_eq(o->kind, WIRE_SPACE_BOX);
    ck_assert_int_eq(o->dtype, WIRE_DTYPE_FLOAT32);
    ck_assert_uint_eq(o->ndim, 1);
    ck_assert_uint_eq(o->shape[0], 4);
    ck_assert_uint_eq(o->nbounds, 4);
    for (int k = 0; k < 4; k++) {
        ck_assert_msg(f64_bits(o->low[k]) == f64_bits(cls->obs_low[k]), "low[%d] %a", k, o->low[k]);
        ck_assert_msg(f64_bits(o->high[k]) == f64_bits(cls->obs_high[k]), "high[%d] %a", k,
                      o->high[k]);
    }
    ck_assert(isinf(o->high[1]) && o->high[1] > 0 && isinf(o->low[3]) && o->low[3] < 0);
    /* Gymnasium's float32 bounds: 2 * 2.4 and 2 * 12 degrees in radians */
    ck_assert(f32_bits((float)o->high[0]) == 0x4099999a && f32_bits((float)o->low[2]) == 0xbed67750);
    ck_assert_int_eq(a->kind, WIRE_SPACE_DISCRETE);
    ck_assert_int_eq(a->n, 2);
    ck_assert_int_eq(a->start, 0);
    ck_assert_str_eq(rep.make.spec.env_id, "CartPole-v1");
    ck_assert_uint_eq(rep.make.spec.max_episode_steps, 500);
    ck_assert(rep.make.spec.has_reward_threshold && rep.make.spec.reward_threshold == 475.0);

    /* count 0 means 1 */
    req.make.count = 0;
    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.make.n, 1);
    ck_assert_uint_eq(stats(h->c).active_sessions, 4);
    harness_stop(&h);
}
END_TEST

START_TEST(test_make_options_max_episode_steps_and_sutton_barto_reward)
{
    harness_t *h = harness_start(NULL);
    const option_t opts[] = {
        {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 10},
        {.key = "sutton_barto_reward", .type = OPTION_BOOL, .v.b = true},
    };
    wire_request_t req = {.op = WIRE_OP_MAKE,
                          .make = {.env_id = "CartPole-v1", .options = opts, .noptions = 2}};
    wire_reply_t rep;
    env_t *env = local_env("CartPole-v1", opts, 2);
    uint64_t seed = 3;
    float obs[4], lobs[4];

    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.make.spec.max_episode_steps, 10);
    uint64_t id = rep.make.sessions[0];
    remote_reset(h->c, id, &seed, obs);
    local_reset(env, &seed, lobs);
    /* Balanced, the pole stays up: truncation at exactly 10, and the
     * Sutton-Barto reward is 0 for every step that does not fail. */
    for (int t = 1; t <= 10; t++) {
        step_result_t want, got;
        remote_step(h->c, id, balance(obs), &got);
        local_step(env, balance(obs), &want);
        ck_step_eq(&want, &got, "sutton-barto session");
        ck_assert(!got.terminated && got.reward == 0.0);
        ck_assert_int_eq(got.truncated, t == 10);
        memcpy(obs, got.obs, sizeof obs);
    }
    /* A failing episode gets -1 at the end, as the local twin does. */
    remote_reset(h->c, id, &seed, obs);
    local_reset(env, &seed, lobs);
    step_result_t want, got;
    do {
        remote_step(h->c, id, 1, &got);
        local_step(env, 1, &want);
        ck_step_eq(&want, &got, "sutton-barto session");
    } while (!got.terminated && !got.truncated);
    ck_assert(got.terminated && got.reward == -1.0);
    free(env);
    harness_stop(&h);
}
END_TEST

START_TEST(test_make_refusals_create_nothing)
{
    harness_t *h = harness_start(NULL);
    const option_t unknown = {.key = "gravity", .type = OPTION_DOUBLE, .v.d = 1.0};
    const option_t wrong[] = {
        {.key = "max_episode_steps", .type = OPTION_DOUBLE, .v.d = 10.0},
        {.key = "max_episode_steps", .type = OPTION_STRING, .v.s = "10"},
        {.key = "sutton_barto_reward", .type = OPTION_INT, .v.i = 1},
        {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 0},
    };
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v2"}};
    witness_t w;

    witness_start(h->c, &w, 11);
    ck_message_has(call_err(h->c, &req, ERR_NOT_FOUND), "CartPole-v2");
    req.make.env_id = "CartPole-v1";
    req.make.options = &unknown;
    req.make.noptions = 1;
    ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "gravity");
    for (size_t k = 0; k < NELEM(wrong); k++) {
        req.make.options = &wrong[k];
        req.make.count = 3;
        ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), wrong[k].key);
    }
    wire_stats_t st = stats(h->c);
    ck_assert_uint_eq(st.active_sessions, 1);
    ck_assert_uint_eq(st.sessions_created, 1);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_describe_by_session_and_by_env_id)
{
    harness_t *h = harness_start(NULL);
    const option_t steps = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 77};
    wire_request_t req = {.op = WIRE_OP_DESCRIBE};
    wire_reply_t rep;
    uint64_t id;

    make_n(h->c, "CartPole-v1", &steps, 1, 1, &id);
    req.describe.by_session = true;
    req.describe.session = id;
    call_ok(h->c, &req, &rep);
    ck_assert_str_eq(rep.describe.spec.env_id, "CartPole-v1");
    ck_assert_uint_eq(rep.describe.spec.max_episode_steps, 77); /* the session's own limit */
    ck_assert_int_eq(rep.describe.obs_space.kind, WIRE_SPACE_BOX);
    ck_assert(isinf(rep.describe.obs_space.high[3]));
    ck_assert_int_eq(rep.describe.act_space.n, 2);

    req.describe = (typeof(req.describe)){.env_id = "CartPole-v0"};
    call_ok(h->c, &req, &rep);
    ck_assert_str_eq(rep.describe.spec.env_id, "CartPole-v0");
    ck_assert_uint_eq(rep.describe.spec.max_episode_steps, 200);
    ck_assert(rep.describe.spec.has_reward_threshold && rep.describe.spec.reward_threshold == 195.0);
    ck_assert_uint_eq(rep.describe.obs_space.nbounds, 4);

    req.describe = (typeof(req.describe)){.env_id = "Pendulum-v1"};
    call_err(h->c, &req, ERR_NOT_FOUND);
    req.describe = (typeof(req.describe)){.by_session = true, .session = id ^ 1};
    call_err(h->c, &req, ERR_NOT_FOUND);
    harness_stop(&h);
}
END_TEST

/* ----------------------------------------------------------------- reset and step */

static uint32_t golden_hex(const cJSON *arr, int k)
{
    const cJSON *x = cJSON_GetArrayItem(arr, k);
    ck_assert_msg(cJSON_IsString(x), "golden file: hex value missing");
    return (uint32_t)strtoul(x->valuestring, NULL, 16);
}

static void ck_golden_obs(const char *case_id, int seg, int t, const cJSON *hex, const float *obs)
{
    for (int k = 0; k < 4; k++)
        ck_assert_msg(f32_bits(obs[k]) == golden_hex(hex, k),
                      "%s segment %d t %d: obs[%d] = %08x, Gymnasium %08x", case_id, seg, t, k,
                      f32_bits(obs[k]), golden_hex(hex, k));
}

static void replay_golden_case(client_t *c, const cJSON *cs)
{
    const char *case_id = cJSON_GetObjectItemCaseSensitive(cs, "case_id")->valuestring;
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(cs, "make_kwargs"), *it;
    option_t opts[4];
    size_t nopts = 0;
    uint64_t id;
    int segno = 0;

    cJSON_ArrayForEach(it, kw) {
        ck_assert_msg(cJSON_IsBool(it) && nopts < NELEM(opts), "%s: make_kwargs", case_id);
        opts[nopts++] = (option_t){.key = it->string, .type = OPTION_BOOL,
                                        .v.b = cJSON_IsTrue(it)};
    }
    make_n(c, "CartPole-v1", opts, nopts, 1, &id);
    const cJSON *seg;
    cJSON_ArrayForEach(seg, cJSON_GetObjectItemCaseSensitive(cs, "segments")) {
        const cJSON *seed_str = cJSON_GetObjectItemCaseSensitive(seg, "reset_seed_str");
        uint64_t seed = 0;
        float obs[4];
        if (cJSON_IsString(seed_str))
            seed = strtoull(seed_str->valuestring, NULL, 10);
        remote_reset(c, id, cJSON_IsString(seed_str) ? &seed : NULL, obs);
        ck_golden_obs(case_id, segno, 0, cJSON_GetObjectItemCaseSensitive(seg, "initial_obs_hex"),
                      obs);
        const cJSON *rec;
        int t = 0;
        cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(seg, "steps")) {
            step_result_t got;
            t++;
            remote_step(c, id, (int64_t)cJSON_GetObjectItemCaseSensitive(rec, "action")->valuedouble,
                        &got);
            ck_golden_obs(case_id, segno, t, cJSON_GetObjectItemCaseSensitive(rec, "obs_hex"),
                          got.obs);
            double reward = cJSON_GetObjectItemCaseSensitive(rec, "reward")->valuedouble;
            ck_assert_msg(got.reward == reward, "%s segment %d t %d: reward %g, Gymnasium %g",
                          case_id, segno, t, got.reward, reward);
            ck_assert_msg(got.terminated == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "terminated")) &&
                              got.truncated == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "truncated")),
                          "%s segment %d t %d: flags differ", case_id, segno, t);
        }
        segno++;
    }
    close_ids(c, &id, 1, 1);
}

/* Seeded and unseeded resets (reseed chains, a reset in mid-episode, the
 * same seed twice), the 500-step truncation, stepping after the end, and
 * the Sutton-Barto reward: Gymnasium's recordings through the socket. */
START_TEST(test_golden_cases_replay_bit_exact_over_the_socket)
{
    static const char *const wanted[] = {
        "public/random/0", "public/random/7", "public/balance/0", "public/reseed-chain/100",
        "public/reseed-chain/104", "public/mid-episode-reset/0", "public/same-seed-twice/1",
        "public/always1-overrun/0", "public/balance-overrun/1",
        "public/random-overrun-reenter/107", "public/sutton-barto/random/0",
        "public/sutton-barto/always1-overrun/1",
    };
    harness_t *h = harness_start(NULL);
    FILE *f = fopen(GOLDEN_PATH, "r");
    char *line = NULL;
    size_t cap = 0, replayed = 0;

    ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", GOLDEN_PATH);
    while (getline(&line, &cap, f) > 0) {
        cJSON *cs = cJSON_Parse(line);
        if (!cs)
            continue;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(cs, "case_id");
        for (size_t k = 0; k < NELEM(wanted); k++)
            if (cJSON_IsString(id) && strcmp(id->valuestring, wanted[k]) == 0) {
                replay_golden_case(h->c, cs);
                replayed++;
            }
        cJSON_Delete(cs);
    }
    free(line);
    fclose(f);
    ck_assert_uint_eq(replayed, NELEM(wanted));
    ck_assert_uint_eq(stats(h->c).active_sessions, 0);
    harness_stop(&h);
}
END_TEST

/* reset() without a seed continues the stream; the very first unseeded
 * reset draws a seed from the OS, so two sessions differ. */
START_TEST(test_reset_without_seed_continues_the_stream)
{
    harness_t *h = harness_start(NULL);
    uint64_t ids[2], seed = 1234;
    env_t *env = local_env("CartPole-v1", NULL, 0);
    float remote[4], local[4], other[4];

    make_n(h->c, "CartPole-v1", NULL, 0, 2, ids);
    remote_reset(h->c, ids[0], &seed, remote);
    local_reset(env, &seed, local);
    ck_assert(memcmp(remote, local, sizeof local) == 0);
    for (int i = 0; i < 4; i++) {
        remote_reset(h->c, ids[0], NULL, remote);
        local_reset(env, NULL, local);
        ck_assert_msg(memcmp(remote, local, sizeof local) == 0, "unseeded reset %d differs", i);
    }
    remote_reset(h->c, ids[0], NULL, remote);
    remote_reset(h->c, ids[1], NULL, other);
    ck_assert_msg(memcmp(remote, other, sizeof other) != 0, "two OS-seeded streams agree");
    for (int k = 0; k < 4; k++)
        ck_assert(other[k] >= -0.05f && other[k] <= 0.05f);
    free(env);
    harness_stop(&h);
}
END_TEST

/* Reset options travel to the environment: low == high pins the state. */
START_TEST(test_reset_options_reach_the_environment)
{
    harness_t *h = harness_start(NULL);
    const option_t bounds[] = {
        {.key = "low", .type = OPTION_DOUBLE, .v.d = 0.125},
        {.key = "high", .type = OPTION_INT, .v.i = 0},
    };
    const option_t pinned[] = {
        {.key = "low", .type = OPTION_DOUBLE, .v.d = 0.25},
        {.key = "high", .type = OPTION_DOUBLE, .v.d = 0.25},
    };
    const option_t wrong = {.key = "low", .type = OPTION_STRING, .v.s = "0"};
    wire_request_t req = {.op = WIRE_OP_RESET, .reset = {.session = 0, .has_seed = true,
                                                         .seed = 1}};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 12);
    req.reset.session = make_one(h->c);
    req.reset.options = pinned;
    req.reset.noptions = 2;
    call_ok(h->c, &req, &rep);
    for (int k = 0; k < 4; k++)
        ck_assert(((const float *)rep.reset.obs.data)[k] == 0.25f);
    req.reset.options = bounds; /* low above high */
    call_err(h->c, &req, ERR_INVALID_ARGUMENT);
    req.reset.options = &wrong;
    req.reset.noptions = 1;
    ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "low");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------ batches */

static void reset_batch_call(client_t *c, const uint64_t *ids, size_t n, const uint64_t *seeds,
                             size_t nseeds, const uint8_t *mask, size_t nmask, wire_reply_t *rep)
{
    wire_request_t req = {.op = WIRE_OP_RESET_BATCH,
                          .reset_batch = {.sessions = ids, .n = n, .seeds = seeds,
                                          .nseeds = nseeds, .seeded = mask, .nseeded = nmask}};
    call_ok(c, &req, rep);
}

START_TEST(test_reset_batch_with_seeds_with_a_mask_and_without)
{
    harness_t *h = harness_start(NULL);
    const uint64_t seeds1[3] = {1, 2, 3}, seeds2[3] = {10, 20, 30};
    const uint8_t mask[3] = {1, 0, 1};
    uint64_t ids[3];
    env_t *loc[3];
    float want[12];
    wire_reply_t rep;

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    for (int i = 0; i < 3; i++)
        loc[i] = local_env("CartPole-v1", NULL, 0);

    reset_batch_call(h->c, ids, 3, seeds1, 3, NULL, 0, &rep);
    for (int i = 0; i < 3; i++)
        local_reset(loc[i], &seeds1[i], want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 3, "seeded reset_batch");

    reset_batch_call(h->c, ids, 3, seeds2, 3, mask, 3, &rep);
    for (int i = 0; i < 3; i++)
        local_reset(loc[i], mask[i] ? &seeds2[i] : NULL, want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 3, "masked reset_batch");

    reset_batch_call(h->c, ids, 3, NULL, 0, NULL, 0, &rep);
    for (int i = 0; i < 3; i++)
        local_reset(loc[i], NULL, want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 3, "unseeded reset_batch");

    /* A batch resets each session as a single reset would. */
    float one[4];
    remote_reset(h->c, ids[1], NULL, one);
    local_reset(loc[1], NULL, want);
    ck_assert(memcmp(one, want, sizeof one) == 0);
    for (int i = 0; i < 3; i++)
        free(loc[i]);
    harness_stop(&h);
}
END_TEST

/* What envd's step_batch must do to each row in `mode`, computed with local
 * environments as Gymnasium's vector autoreset modes describe. */
typedef struct batch_expect {
    float obs[16 * 4], final[16 * 4];
    double rewards[16];
    uint8_t terminated[16], truncated[16], autoreset[16];
} batch_expect_t;

static void mirror_step_batch(env_t **loc, size_t n, const int64_t *actions, int mode,
                              batch_expect_t *x)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < n; i++) {
        step_result_t r;
        if (mode == WIRE_AUTORESET_NEXT_STEP && loc[i]->done) {
            local_reset(loc[i], NULL, x->obs + 4 * i);
            x->autoreset[i] = 1; /* reward 0, flags false */
            continue;
        }
        local_step(loc[i], actions[i], &r);
        memcpy(x->obs + 4 * i, r.obs, sizeof r.obs);
        x->rewards[i] = r.reward;
        x->terminated[i] = r.terminated;
        x->truncated[i] = r.truncated;
        if (mode == WIRE_AUTORESET_SAME_STEP && (r.terminated || r.truncated)) {
            memcpy(x->final + 4 * i, r.obs, sizeof r.obs);
            local_reset(loc[i], NULL, x->obs + 4 * i);
            x->autoreset[i] = 1;
        }
    }
}

static void ck_batch_reply(const wire_reply_t *rep, size_t n, int mode, const batch_expect_t *x,
                           int t)
{
    char what[64];
    snprintf(what, sizeof what, "t %d observations", t);
    ck_assert_uint_eq(rep->step_batch.n, n);
    ck_obs_eq(x->obs, &rep->step_batch.obs, (uint32_t)n, what);
    for (size_t i = 0; i < n; i++) {
        double r;
        memcpy(&r, (const char *)rep->step_batch.rewards + 8 * i, 8);
        ck_assert_msg(f64_bits(r) == f64_bits(x->rewards[i]), "t %d row %zu: reward %g, want %g",
                      t, i, r, x->rewards[i]);
        ck_assert_msg(rep->step_batch.terminated[i] == x->terminated[i] &&
                          rep->step_batch.truncated[i] == x->truncated[i] &&
                          rep->step_batch.autoreset[i] == x->autoreset[i],
                      "t %d row %zu: flags %d%d%d, want %d%d%d", t, i,
                      rep->step_batch.terminated[i], rep->step_batch.truncated[i],
                      rep->step_batch.autoreset[i], x->terminated[i], x->truncated[i],
                      x->autoreset[i]);
    }
    ck_assert_int_eq(rep->step_batch.has_final_obs, mode == WIRE_AUTORESET_SAME_STEP);
    if (mode == WIRE_AUTORESET_SAME_STEP) {
        snprintf(what, sizeof what, "t %d final observations", t);
        ck_obs_eq(x->final, &rep->step_batch.final_obs, (uint32_t)n, what);
    }
}

/* Runs 40 batch steps of 4 sessions (max_episode_steps 12) in `mode` with
 * actions of `dtype`, against local twins. Row 0 pushes right and falls
 * within a dozen steps, row 1 balances into the truncation, rows 2 and 3
 * mix. Returns how many rows ended and how many were autoreset. */
static void run_batch_mode(int mode, int dtype, int *ended, int *resets)
{
    enum { N = 4, T = 40 };
    harness_t *h = harness_start(NULL);
    const option_t steps = {.key = "max_episode_steps", .type = OPTION_INT, .v.i = 12};
    const uint64_t seeds[N] = {5, 6, 7, 8};
    uint64_t ids[N];
    env_t *loc[N];
    float cur[N * 4];
    batch_expect_t x;
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 99);
    make_n(h->c, "CartPole-v1", &steps, 1, N, ids);
    for (int i = 0; i < N; i++)
        loc[i] = local_env("CartPole-v1", &steps, 1);
    reset_batch_call(h->c, ids, N, seeds, N, NULL, 0, &rep);
    for (int i = 0; i < N; i++)
        local_reset(loc[i], &seeds[i], cur + 4 * i);
    ck_obs_eq(cur, &rep.reset_batch.obs, N, "reset_batch");
    *ended = *resets = 0;
    for (int t = 0; t < T; t++) {
        int64_t a[N] = {1, balance(cur + 4), t % 2, balance(cur + 12) ^ (t % 5 == 0)};
        int32_t a32[N];
        uint8_t a8[N];
        wire_request_t req = {.op = WIRE_OP_STEP_BATCH,
                              .step_batch = {.sessions = ids, .n = N, .autoreset = mode,
                                             .actions = {.dtype = dtype, .ndim = 1, .shape = {N}}}};
        for (int i = 0; i < N; i++) {
            a32[i] = (int32_t)a[i];
            a8[i] = (uint8_t)a[i];
        }
        req.step_batch.actions.data = dtype == WIRE_DTYPE_INT64   ? (const void *)a
                                      : dtype == WIRE_DTYPE_INT32 ? (const void *)a32
                                                                  : (const void *)a8;
        req.step_batch.actions.len = N * wire_dtype_size(dtype);
        call_ok(h->c, &req, &rep);
        mirror_step_batch(loc, N, a, mode, &x);
        ck_batch_reply(&rep, N, mode, &x, t);
        memcpy(cur, x.obs, sizeof cur);
        for (int i = 0; i < N; i++) {
            *ended += x.terminated[i] || x.truncated[i];
            *resets += x.autoreset[i];
        }
    }
    /* The streams the autoresets drew from are the same too. */
    reset_batch_call(h->c, ids, N, NULL, 0, NULL, 0, &rep);
    for (int i = 0; i < N; i++)
        local_reset(loc[i], NULL, cur + 4 * i);
    ck_obs_eq(cur, &rep.reset_batch.obs, N, "reset_batch after the run");
    for (int i = 0; i < N; i++)
        free(loc[i]);
    witness_end(h->c, &w);
    harness_stop(&h);
}

START_TEST(test_step_batch_next_step_resets_finished_rows_on_the_next_call)
{
    int ended, resets;
    run_batch_mode(WIRE_AUTORESET_NEXT_STEP, WIRE_DTYPE_INT64, &ended, &resets);
    ck_assert_int_gt(ended, 3);
    ck_assert_int_gt(resets, 3);
}
END_TEST

START_TEST(test_step_batch_same_step_returns_final_observations)
{
    int ended, resets;
    run_batch_mode(WIRE_AUTORESET_SAME_STEP, WIRE_DTYPE_INT32, &ended, &resets);
    ck_assert_int_gt(ended, 3);
    ck_assert_int_eq(resets, ended); /* every ending row reset in the same call */
}
END_TEST

START_TEST(test_step_batch_disabled_keeps_stepping_finished_rows)
{
    int ended, resets;
    run_batch_mode(WIRE_AUTORESET_DISABLED, WIRE_DTYPE_UINT8, &ended, &resets);
    ck_assert_int_gt(ended, 3);
    ck_assert_int_eq(resets, 0);
}
END_TEST

/* ----------------------------------------------------------------- close, ping, stats */

START_TEST(test_close_is_idempotent)
{
    harness_t *h = harness_start(NULL);
    uint64_t ids[3];
    wire_request_t step = {.op = WIRE_OP_STEP};

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    close_ids(h->c, ids, 2, 2);
    close_ids(h->c, ids, 2, 0);
    const uint64_t mixed[3] = {ids[0], ids[2], 12345};
    close_ids(h->c, mixed, 3, 1);
    close_ids(h->c, NULL, 0, 0);
    step.step.session = ids[0];
    ck_message_has(call_err(h->c, &step, ERR_NOT_FOUND), "not found");
    ck_assert_uint_eq(stats(h->c).active_sessions, 0);
    harness_stop(&h);
}
END_TEST

START_TEST(test_ping_echoes_its_payload)
{
    harness_t *h = harness_start(NULL);
    uint8_t payload[1000];
    wire_request_t req = {.op = WIRE_OP_PING, .ping = {.payload = payload, .len = sizeof payload}};
    wire_reply_t rep;

    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7); /* zero bytes included */
    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.ping.len, sizeof payload);
    ck_assert(memcmp(rep.ping.payload, payload, sizeof payload) == 0);
    req.ping.len = 0;
    call_ok(h->c, &req, &rep);
    ck_assert_uint_eq(rep.ping.len, 0);
    harness_stop(&h);
}
END_TEST

START_TEST(test_stats_count_sessions_steps_requests_and_errors)
{
    harness_t *h = harness_start(NULL);
    uint64_t ids[2], seed = 1;
    const int64_t actions[2] = {0, 1};
    float obs[4];
    step_result_t r;
    wire_reply_t rep;

    make_n(h->c, "CartPole-v1", NULL, 0, 2, ids);       /* request 1 */
    remote_reset(h->c, ids[0], &seed, obs);             /* 2 */
    remote_reset(h->c, ids[1], &seed, obs);             /* 3 */
    for (int i = 0; i < 3; i++)
        remote_step(h->c, ids[0], 1, &r);               /* 4-6: 3 env steps */
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = ids, .n = 2,
                                        .autoreset = WIRE_AUTORESET_DISABLED,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {2}, .data = actions, .len = 16}}};
    call_ok(h->c, &sb, &rep);                           /* 7: 2 env steps */
    wire_request_t bad = {.op = WIRE_OP_STEP, .step = {.session = ids[0] + 1}};
    call_err(h->c, &bad, ERR_NOT_FOUND);                /* 8: error 1 */
    call_raw(h->c, "\xff\xff", 2, &rep);                /* 9: error 2, undecodable */
    ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);

    wire_stats_t st = stats(h->c);                      /* 10 */
    ck_assert_uint_eq(st.requests, 9);                  /* counted after it is answered */
    ck_assert_uint_eq(st.errors, 2);
    ck_assert_uint_eq(st.env_steps, 5);
    ck_assert_uint_eq(st.active_sessions, 2);
    ck_assert_uint_eq(st.sessions_created, 2);
    ck_assert_uint_eq(st.sessions_reclaimed, 0);
    close_ids(h->c, ids, 1, 1);                         /* 11 */
    wire_stats_t st2 = stats(h->c);
    ck_assert_uint_eq(st2.requests, 11);
    ck_assert_uint_eq(st2.active_sessions, 1);
    ck_assert_uint_eq(st2.sessions_created, 2);
    ck_assert_uint_ge(st2.uptime_ms, st.uptime_ms);
    harness_stop(&h);
}
END_TEST

/* ---------------------------------------------------------------- bad input */

START_TEST(test_garbage_bytes_are_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    static const char garbage[] = "\x0f\x01 this is not protobuf \xff\xff\xff";
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 21);
    call_raw(h->c, garbage, sizeof garbage - 1, &rep);
    ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(rep.id, 0); /* nothing could be read, not even the id */
    ck_assert_int_eq(rep.op, WIRE_OP_NONE);
    ck_message_has(rep.message, "envd.v1.Request");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_truncated_protobuf_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    wire_buf_t buf = {0};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 22);
    /* A step for the bystander itself, cut short: it must not step it. */
    wire_request_t req = {.major = 1, .id = 5, .op = WIRE_OP_STEP,
                          .step = {.session = w.id, .action = 1}};
    ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
    for (size_t cut = 1; cut <= 3; cut++) {
        call_raw(h->c, buf.data, buf.len - cut, &rep);
        ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
        ck_assert_msg(rep.message[0], "no message");
    }
    wire_buf_deinit(&buf);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_empty_message_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 23);
    call_raw(h->c, "", 0, &rep);
    ck_assert_int_eq(rep.code, ERR_INVALID_ARGUMENT);
    ck_message_has(rep.message, "empty");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* One request and its reply over a raw socket of `type`, in `n` frames. */
static int raw_socket_call(harness_t *h, int type, const void *const *frames, const size_t *lens,
                           size_t n, wire_reply_t *rep, arena_t *a, zmq_msg_t *msg)
{
    void *s = zmq_socket(h->zctx, type);
    int linger = 0, timeout = TIMEOUT_MS;
    errbuf_t e;

    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    ck_assert_int_eq(zmq_connect(s, h->endpoint), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ge(zmq_send(s, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0), 0);
    int got = zmq_msg_recv(msg, s, 0);
    ck_assert_msg(got >= 0, "no reply: %s", zmq_strerror(errno));
    ck_assert_msg(!zmq_msg_more(msg), "reply of more than one frame");
    zmq_close(s);
    int rc = wire_decode_reply(a, zmq_msg_data(msg), zmq_msg_size(msg), rep, &e);
    ck_assert_msg(rc == 0, "reply does not decode: %s", e.msg);
    return rep->code;
}

START_TEST(test_multipart_message_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    arena_t *a = NULL;
    ck_assert_int_eq(arena_new(0, &a, NULL), 0);
    wire_buf_t ping = {0};
    wire_request_t req = {.major = 1, .id = 3, .op = WIRE_OP_PING};
    wire_reply_t rep;
    zmq_msg_t msg;
    witness_t w;

    witness_start(h->c, &w, 24);
    ck_assert_int_eq(wire_encode_request(&req, &ping), 0);
    const void *frames[3] = {ping.data, ping.data, ping.data};
    const size_t lens[3] = {ping.len, ping.len, ping.len};
    for (size_t n = 2; n <= 3; n++) {
        zmq_msg_init(&msg);
        ck_assert_int_eq(raw_socket_call(h, ZMQ_DEALER, frames, lens, n, &rep, a, &msg),
                         ERR_INVALID_ARGUMENT);
        ck_message_has(rep.message, "multi-part");
        zmq_msg_close(&msg);
    }
    /* The same request in one frame is answered, and a REQ socket's
     * envelope (an empty delimiter frame) is mirrored. */
    zmq_msg_init(&msg);
    ck_assert_int_eq(raw_socket_call(h, ZMQ_DEALER, frames, lens, 1, &rep, a, &msg), ERR_OK);
    ck_assert_int_eq(rep.op, WIRE_OP_PING);
    zmq_msg_close(&msg);
    zmq_msg_init(&msg);
    ck_assert_int_eq(raw_socket_call(h, ZMQ_REQ, frames, lens, 1, &rep, a, &msg), ERR_OK);
    ck_assert_uint_eq(rep.id, 3);
    zmq_msg_close(&msg);
    wire_buf_deinit(&ping);
    arena_destroy(&a);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_request_without_op_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    wire_request_t req = {.op = WIRE_OP_NONE};
    witness_t w;

    witness_start(h->c, &w, 25);
    ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "operation"); /* id echoed */
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* A step for the bystander under major 2 or 0 must be refused before it
 * touches the session. */
START_TEST(test_major_2_and_major_0_are_version_mismatch)
{
    harness_t *h = harness_start(NULL);
    static const uint32_t majors[] = {2, 0, UINT32_MAX};
    wire_buf_t buf = {0};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 26);
    for (size_t k = 0; k < NELEM(majors); k++) {
        wire_request_t req = {.major = majors[k], .id = 40 + k, .op = WIRE_OP_STEP,
                              .step = {.session = w.id, .action = 1}};
        ck_assert_int_eq(wire_encode_request(&req, &buf), 0);
        call_raw(h->c, buf.data, buf.len, &rep);
        ck_assert_msg(rep.code == ERR_VERSION_MISMATCH, "major %u: %s", majors[k],
                      err_name(rep.code));
        ck_assert_uint_eq(rep.id, 40 + k);
        ck_message_has(rep.message, "speaks 1.");
    }
    wire_buf_deinit(&buf);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_unknown_session_is_not_found_in_every_op)
{
    harness_t *h = harness_start(NULL);
    const int64_t act = 0;
    witness_t w;

    witness_start(h->c, &w, 27);
    const uint64_t bogus = w.id ^ 0x5555;
    const uint64_t batch[2] = {w.id, bogus};
    wire_request_t reqs[] = {
        {.op = WIRE_OP_RESET, .reset = {.session = bogus}},
        {.op = WIRE_OP_STEP, .step = {.session = bogus}},
        {.op = WIRE_OP_STEP, .step = {.session = 0}},
        {.op = WIRE_OP_DESCRIBE, .describe = {.by_session = true, .session = bogus}},
        {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = batch, .n = 2}},
        {.op = WIRE_OP_STEP_BATCH,
         .step_batch = {.sessions = batch + 1, .n = 1,
                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1, .shape = {1},
                                    .data = &act, .len = 8}}},
    };
    for (size_t k = 0; k < NELEM(reqs); k++)
        ck_message_has(call_err(h->c, &reqs[k], ERR_NOT_FOUND), "not found");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_action_out_of_range_is_invalid_argument)
{
    harness_t *h = harness_start(NULL);
    static const int64_t bad[] = {2, -1, INT64_MAX, INT64_MIN};
    witness_t w;

    witness_start(h->c, &w, 28);
    for (size_t k = 0; k < NELEM(bad); k++) {
        /* aimed at the bystander itself */
        wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = w.id, .action = bad[k]}};
        ck_message_has(call_err(h->c, &req, ERR_INVALID_ARGUMENT), "action");
    }
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_step_before_reset_is_failed_precondition)
{
    harness_t *h = harness_start(NULL);
    const int64_t acts[2] = {0, 0};
    witness_t w;

    witness_start(h->c, &w, 29);
    uint64_t fresh[2] = {w.id, make_one(h->c)};
    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = fresh[1]}};
    ck_message_has(call_err(h->c, &step, ERR_FAILED_PRECONDITION), "reset");
    /* in a batch, the row is named and the bystander in row 0 stays put */
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = fresh, .n = 2,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {2}, .data = acts, .len = 16}}};
    ck_message_has(call_err(h->c, &sb, ERR_FAILED_PRECONDITION), "row 1");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* Sets up 4 seeded sessions on the server and their local twins. */
static void batch_fixture(client_t *c, uint64_t *ids, env_t **loc)
{
    const uint64_t seeds[4] = {31, 32, 33, 34};
    float want[16];
    wire_reply_t rep;

    make_n(c, "CartPole-v1", NULL, 0, 4, ids);
    reset_batch_call(c, ids, 4, seeds, 4, NULL, 0, &rep);
    for (int i = 0; i < 4; i++) {
        loc[i] = local_env("CartPole-v1", NULL, 0);
        local_reset(loc[i], &seeds[i], want + 4 * i);
    }
    ck_obs_eq(want, &rep.reset_batch.obs, 4, "fixture reset");
}

/* Steps the 4 sessions 20 times (NEXT_STEP) and compares with the twins:
 * if a refused batch had moved any session or its stream, this differs. */
static void ck_batch_untouched(client_t *c, const uint64_t *ids, env_t **loc)
{
    batch_expect_t x;
    wire_reply_t rep;
    for (int t = 0; t < 20; t++) {
        int64_t a[4] = {t % 2, 1, 0, (t / 3) % 2};
        wire_request_t req = {.op = WIRE_OP_STEP_BATCH,
                              .step_batch = {.sessions = ids, .n = 4,
                                             .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                         .shape = {4}, .data = a, .len = 32}}};
        call_ok(c, &req, &rep);
        mirror_step_batch(loc, 4, a, WIRE_AUTORESET_NEXT_STEP, &x);
        ck_batch_reply(&rep, 4, WIRE_AUTORESET_NEXT_STEP, &x, t);
    }
    reset_batch_call(c, ids, 4, NULL, 0, NULL, 0, &rep);
    float want[16];
    for (int i = 0; i < 4; i++)
        local_reset(loc[i], NULL, want + 4 * i);
    ck_obs_eq(want, &rep.reset_batch.obs, 4, "streams after refused batches");
}

/* Every refused batch leaves all of its sessions (and their random
 * streams) exactly as they were, whichever row is wrong. */
START_TEST(test_failed_batches_move_no_session)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.service.max_batch = 5;
    harness_t *h = harness_start(&cfg);
    uint64_t ids[4], fresh = make_one(h->c), v0;
    env_t *loc[4];
    const int64_t good[5] = {1, 1, 1, 1, 1}, bad_last[4] = {1, 0, 1, 2};
    const int32_t good32[4] = {1, 1, 1, 1};
    const float f32[4] = {1, 1, 1, 1};
    const uint64_t seeds3[3] = {1, 2, 3}, seeds4[4] = {1, 2, 3, 4};
    const uint8_t mask3[3] = {1, 1, 1};
    const option_t bad_bounds[2] = {{.key = "low", .type = OPTION_DOUBLE, .v.d = 1},
                                         {.key = "high", .type = OPTION_DOUBLE, .v.d = 0}};

    make_n(h->c, "CartPole-v0", NULL, 0, 1, &v0);
    batch_fixture(h->c, ids, loc);
    uint64_t with_unknown[4] = {ids[0], ids[1], ids[2], ids[3] ^ 1};
    uint64_t with_fresh[4] = {ids[0], ids[1], ids[2], fresh};
    uint64_t with_dup[4] = {ids[0], ids[1], ids[2], ids[0]};
    uint64_t with_v0[4] = {ids[0], ids[1], ids[2], v0};
    uint64_t five[5] = {ids[0], ids[1], ids[2], ids[3], fresh};
    uint64_t six[6] = {ids[0], ids[1], ids[2], ids[3], fresh, v0};
#define STEP_BATCH(ids_, n_, dtype_, shape0_, data_, len_) \
    (wire_request_t){.op = WIRE_OP_STEP_BATCH, \
                     .step_batch = {.sessions = ids_, .n = n_, \
                                    .actions = {.dtype = dtype_, .ndim = 1, .shape = {shape0_}, \
                                                .data = data_, .len = len_}}}
    struct { wire_request_t req; int code; const char *word; } cases[] = {
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT64, 4, bad_last, 32), ERR_INVALID_ARGUMENT, "row 3"},
        {STEP_BATCH(with_unknown, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_NOT_FOUND, "not found"},
        {STEP_BATCH(with_fresh, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_FAILED_PRECONDITION, "row 3"},
        {STEP_BATCH(with_dup, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_INVALID_ARGUMENT, "twice"},
        {STEP_BATCH(with_v0, 4, WIRE_DTYPE_INT64, 4, good, 32), ERR_INVALID_ARGUMENT, "CartPole-v0"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT64, 3, good, 24), ERR_INVALID_ARGUMENT, "shape [4]"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT64, 5, good, 40), ERR_INVALID_ARGUMENT, "shape [4]"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_INT32, 4, good32, 12), ERR_INVALID_ARGUMENT, "bytes"},
        {STEP_BATCH(ids, 4, WIRE_DTYPE_FLOAT32, 4, f32, 16), ERR_INVALID_ARGUMENT, "INT64"},
        {STEP_BATCH(six, 6, WIRE_DTYPE_INT64, 5, good, 40), ERR_RESOURCE_EXHAUSTED, "limit"},
        {.req = {.op = WIRE_OP_STEP_BATCH,
                 .step_batch = {.sessions = ids, .n = 4, .autoreset = 3,
                                .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1, .shape = {4},
                                            .data = good, .len = 32}}},
         .code = ERR_INVALID_ARGUMENT, .word = "autoreset"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = ids, .n = 4, .seeds = seeds3, .nseeds = 3}},
         .code = ERR_INVALID_ARGUMENT, .word = "3 seeds for 4"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = ids, .n = 4, .seeds = seeds4, .nseeds = 4,
                                 .seeded = mask3, .nseeded = 3}},
         .code = ERR_INVALID_ARGUMENT, .word = "mask"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = with_unknown, .n = 4, .seeds = seeds4, .nseeds = 4}},
         .code = ERR_NOT_FOUND, .word = "not found"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = with_dup, .n = 4, .seeds = seeds4, .nseeds = 4}},
         .code = ERR_INVALID_ARGUMENT, .word = "twice"},
        {.req = {.op = WIRE_OP_RESET_BATCH,
                 .reset_batch = {.sessions = ids, .n = 4, .seeds = seeds4, .nseeds = 4,
                                 .options = bad_bounds, .noptions = 2}},
         .code = ERR_INVALID_ARGUMENT, .word = "low"},
        {.req = {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = six, .n = 6}},
         .code = ERR_RESOURCE_EXHAUSTED, .word = "limit"},
    };
#undef STEP_BATCH
    for (size_t k = 0; k < NELEM(cases); k++) {
        const char *msg = call_err(h->c, &cases[k].req, cases[k].code);
        ck_assert_msg(strstr(msg, cases[k].word), "case %zu: message lacks '%s': %s", k,
                      cases[k].word, msg);
    }
    /* A batch of exactly max_batch is fine. */
    wire_request_t ok = {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = five, .n = 5}};
    wire_reply_t rep;
    float want[16];
    call_ok(h->c, &ok, &rep);
    for (int i = 0; i < 4; i++)
        local_reset(loc[i], NULL, want + 4 * i);
    ck_assert_uint_eq(rep.reset_batch.obs.shape[0], 5);
    ck_assert(memcmp(rep.reset_batch.obs.data, want, sizeof want) == 0);
    ck_batch_untouched(h->c, ids, loc);
    for (int i = 0; i < 4; i++)
        free(loc[i]);
    harness_stop(&h);
}
END_TEST

START_TEST(test_batch_and_make_over_max_batch_are_resource_exhausted)
{
    harness_t *h = harness_start(NULL); /* max_batch 16 */
    uint64_t ids[17];
    int64_t acts[17] = {0};
    witness_t w;

    witness_start(h->c, &w, 30);
    make_n(h->c, "CartPole-v1", NULL, 0, 16, ids);
    ids[16] = w.id;
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 17}};
    ck_message_has(call_err(h->c, &make, ERR_RESOURCE_EXHAUSTED), "17");
    wire_request_t rb = {.op = WIRE_OP_RESET_BATCH, .reset_batch = {.sessions = ids, .n = 17}};
    call_err(h->c, &rb, ERR_RESOURCE_EXHAUSTED);
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = ids, .n = 17,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {17}, .data = acts,
                                                    .len = sizeof acts}}};
    ck_message_has(call_err(h->c, &sb, ERR_RESOURCE_EXHAUSTED), "16");
    rb.reset_batch.n = 16;
    wire_reply_t rep;
    call_ok(h->c, &rb, &rep);
    ck_assert_uint_eq(stats(h->c).active_sessions, 17);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

START_TEST(test_oversized_message_is_resource_exhausted)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.service.max_message_size = 4096;
    harness_t *h = harness_start(&cfg);
    static uint8_t payload[5000];
    wire_request_t ping = {.op = WIRE_OP_PING, .ping = {.payload = payload, .len = 4000}};
    wire_reply_t rep;
    witness_t w;

    witness_start(h->c, &w, 31);
    call_ok(h->c, &ping, &rep); /* under the limit */
    /* Refused before decoding, so the reply cannot echo the id: it is 0. */
    ping.ping.len = sizeof payload;
    errbuf_t e;
    ck_assert_int_eq(client_call(h->c, &ping, &rep, &e), ERR_RESOURCE_EXHAUSTED);
    ck_assert_uint_eq(rep.id, 0);
    ck_message_has(rep.message, "4096");
    ck_assert_uint_eq(stats(h->c).errors, 1);
    /* Far over it (more than twice), ZeroMQ drops the connection unread:
     * no answer, and the server goes on serving everyone else. */
    static uint8_t huge[3 * 4096 + 4096];
    client_t *big = client_open(h, h->endpoint, 500);
    wire_request_t bigping = {.op = WIRE_OP_PING, .ping = {.payload = huge, .len = sizeof huge}};
    ck_assert_int_eq(client_call(big, &bigping, &rep, &e), ERR_TIMEOUT);
    client_destroy(&big);
    ck_assert_uint_eq(stats(h->c).errors, 1);
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* An unknown env id quoted in an error reply comes back whole characters
 * only, however long; and an id that is not UTF-8 is refused. */
START_TEST(test_error_messages_stay_valid_utf8)
{
    harness_t *h = harness_start(NULL);
    char id[601];
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = id}};
    witness_t w;

    witness_start(h->c, &w, 32);
    for (int shift = 0; shift < 3; shift++) {
        size_t n = 0;
        for (; n < (size_t)shift; n++)
            id[n] = 'x';
        while (n + 3 < sizeof id) {
            memcpy(id + n, "\xe2\x82\xac", 3); /* the euro sign */
            n += 3;
        }
        id[n] = '\0';
        const char *msg = call_err(h->c, &make, ERR_NOT_FOUND);
        ck_assert_msg(utf8_valid(msg), "shift %d: reply message is not UTF-8", shift);
    }
    make.make.env_id = "CartPole-\xff";
    ck_message_has(call_err(h->c, &make, ERR_INVALID_ARGUMENT), "UTF-8");
    witness_end(h->c, &w);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------- TTL and limits */

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One use of each busy session: a step for the first, a one-row batch
 * step for the second, and nothing else (no reset when an episode ends,
 * since stepping on is allowed), so that only steps count as use. */
static void keep_busy(client_t *c, const uint64_t *busy)
{
    const int64_t zero = 0;
    wire_request_t sb = {.op = WIRE_OP_STEP_BATCH,
                         .step_batch = {.sessions = busy + 1, .n = 1,
                                        .autoreset = WIRE_AUTORESET_DISABLED,
                                        .actions = {.dtype = WIRE_DTYPE_INT64, .ndim = 1,
                                                    .shape = {1}, .data = &zero, .len = 8}}};
    wire_reply_t rep;
    step_result_t r;
    remote_step(c, busy[0], 0, &r);
    call_ok(c, &sb, &rep);
}

/* With a 500 ms TTL (generous, so that a loaded machine's slow round
 * trip cannot look idle), an idle session is reclaimed while ones kept busy
 * (a step every round trip) are not, even long after the idle one went.
 * Loops end on what they wait for or fail after 10 s; no duration is
 * asserted. */
START_TEST(test_idle_session_is_reclaimed_and_busy_ones_are_not)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.service.session_ttl_ms = 500;
    harness_t *h = harness_start(&cfg);
    const uint64_t seeds[3] = {4, 5, 6};
    uint64_t ids[3]; /* ids[0] idle, ids[1] and ids[2] busy */
    wire_reply_t rep;

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    reset_batch_call(h->c, ids, 3, seeds, 3, NULL, 0, &rep);
    uint64_t deadline = monotonic_ms() + 10000;
    wire_stats_t st;
    do {
        keep_busy(h->c, ids + 1);
        st = stats(h->c);
    } while (st.sessions_reclaimed == 0 && monotonic_ms() < deadline);
    ck_assert_msg(st.sessions_reclaimed > 0, "nothing reclaimed in 10 s");
    /* Three more TTLs of use: a busy session that was not being touched
     * would be gone by now. */
    for (uint64_t until = monotonic_ms() + 3 * 500; monotonic_ms() < until;)
        keep_busy(h->c, ids + 1);
    st = stats(h->c);
    ck_assert_msg(st.sessions_reclaimed == 1, "%llu sessions reclaimed",
                  (unsigned long long)st.sessions_reclaimed);
    ck_assert_uint_eq(st.active_sessions, 2);
    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = ids[0]}};
    const char *msg = call_err(h->c, &step, ERR_NOT_FOUND);
    ck_message_has(msg, "reclaimed");
    ck_message_has(msg, "0.5 s");
    keep_busy(h->c, ids + 1);
    close_ids(h->c, ids, 3, 2);
    harness_stop(&h);
}
END_TEST

/* make is all or nothing: a request that does not fit creates nothing. */
START_TEST(test_make_past_max_sessions_is_resource_exhausted_and_creates_nothing)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.service.max_sessions = 4;
    harness_t *h = harness_start(&cfg);
    uint64_t ids[4];
    wire_request_t make = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 2}};

    make_n(h->c, "CartPole-v1", NULL, 0, 3, ids);
    ck_message_has(call_err(h->c, &make, ERR_RESOURCE_EXHAUSTED), "limit");
    wire_stats_t st = stats(h->c);
    ck_assert_uint_eq(st.active_sessions, 3);
    ck_assert_uint_eq(st.sessions_created, 3);
    make_n(h->c, "CartPole-v1", NULL, 0, 1, ids + 3);
    make.make.count = 1;
    call_err(h->c, &make, ERR_RESOURCE_EXHAUSTED);
    close_ids(h->c, ids, 1, 1);
    make_n(h->c, "CartPole-v1", NULL, 0, 1, ids);
    st = stats(h->c);
    ck_assert_uint_eq(st.active_sessions, 4);
    ck_assert_uint_eq(st.sessions_created, 5);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------- transport */

START_TEST(test_ipc_and_tcp_endpoints_serve_one_table)
{
    char dir[] = "/tmp/envd-check-XXXXXX", ipc[128], path[96];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/envd.sock", dir);
    snprintf(ipc, sizeof ipc, "ipc://%s", path);
    server_config_t cfg;
    default_config(&cfg);
    cfg.binds[0] = ipc;
    cfg.binds[1] = "tcp://127.0.0.1:*";
    cfg.nbinds = 2;
    harness_t *h = harness_start(&cfg);
    uint64_t seed = 8;
    float a[4], b[4];

    ck_assert_str_eq(h->endpoint, ipc);
    ck_assert_str_ne(server_endpoint(h->server, 1), "tcp://127.0.0.1:*"); /* port resolved */
    ck_assert_ptr_null(server_endpoint(h->server, 2));
    client_t *tcp = client_open(h, server_endpoint(h->server, 1), TIMEOUT_MS);
    uint64_t id = make_one(h->c); /* made over ipc, used over tcp */
    remote_reset(h->c, id, &seed, a);
    remote_reset(tcp, id, &seed, b);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    close_ids(tcp, &id, 1, 1);
    client_destroy(&tcp);
    harness_stop(&h);
    unlink(path); /* ZeroMQ leaves the socket file of a named ipc endpoint */
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_bad_endpoint_fails_to_start_with_a_message)
{
    server_config_t cfg;
    uv_loop_t loop;
    server_t *s = (server_t *)&loop; /* must be reset to NULL */
    errbuf_t e;

    default_config(&cfg);
    cfg.binds[0] = "bogus://nowhere";
    log_init("check_server", LOG_ERROR);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(server_new(&loop, &cfg, &s, &e), ERR_IO);
    ck_assert_ptr_null(s);
    ck_message_has(e.msg, "bogus://nowhere");
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* When the metrics port is taken, server_new fails but hands back the
 * server so that its handles can close: the loop must then close clean. */
START_TEST(test_metrics_port_in_use_fails_and_still_closes_clean)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    char addr[64];
    uv_loop_t loop;
    server_t *s = NULL;
    errbuf_t e;

    ck_assert_int_gt(h->metrics_port, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", h->metrics_port);
    cfg.metrics_addr = addr;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(server_new(&loop, &cfg, &s, &e), ERR_IO);
    ck_message_has(e.msg, addr);
    ck_assert_ptr_nonnull(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    server_destroy(&s);
    harness_stop(&h);
}
END_TEST

/* Requests waiting when the server stops are answered UNAVAILABLE or not
 * at all (if they had not reached the socket yet); none is served. The
 * loop thread is held inside the stop callback while they are sent. */
START_TEST(test_stop_answers_waiting_requests_unavailable_or_not_at_all)
{
    enum { N = 4 };
    harness_t *h = harness_start(NULL);
    client_t *c[N];
    int unavailable = 0, silent = 0;
    errbuf_t e;

    uint64_t id = make_one(h->c);
    for (int i = 0; i < N; i++)
        c[i] = client_open(h, h->endpoint, 1000);
    h->pause_on_stop = true;
    harness_send_stop(h);
    sem_wait(&h->paused);
    for (int i = 0; i < N; i++) {
        wire_request_t req = {.op = WIRE_OP_STEP, .step = {.session = id}};
        ck_assert_int_eq(client_send(c[i], &req, &e), 0);
    }
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000000}, NULL); /* let them arrive */
    sem_post(&h->resume);
    for (int i = 0; i < N; i++) {
        wire_reply_t rep;
        int rc = client_recv(c[i], &rep, &e);
        if (rc == ERR_TIMEOUT) {
            silent++;
        } else {
            ck_assert_msg(rc == 0 && rep.code == ERR_UNAVAILABLE, "client %d: %s %s", i,
                          err_name(rc), rc == 0 ? err_name(rep.code) : e.msg);
            ck_message_has(rep.message, "shutting down");
            unavailable++;
        }
        client_destroy(&c[i]);
    }
    ck_assert_int_eq(unavailable + silent, N);
    if (silent)
        fprintf(stderr, "check_server: %d of %d requests had not arrived at stop\n", silent, N);
    harness_stop(&h);
}
END_TEST

/* ------------------------------------------------------------------ metrics */

/* One HTTP exchange with 127.0.0.1:port; returns the whole response. */
static void http_exchange(int port, const char *request, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
    size_t len = 0;

    ck_assert_int_ge(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
                  strerror(errno));
    ck_assert_int_eq(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
    for (;;) {
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        ck_assert_uint_lt(len, cap - 1);
    }
    out[len] = '\0';
    close(fd);
}

START_TEST(test_metrics_serves_healthz_and_counters)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    static char resp[64 * 1024];
    wire_request_t bad = {.op = WIRE_OP_STEP, .step = {.session = 1}};

    ck_assert_int_gt(h->metrics_port, 0);
    http_exchange(h->metrics_port, "GET /healthz HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0, "%s", resp);
    ck_message_has(resp, "\r\n\r\nok\n");

    make_one(h->c);
    call_err(h->c, &bad, ERR_NOT_FOUND);
    http_exchange(h->metrics_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0, "%s", resp);
    ck_message_has(resp, "\nenvd_sessions_active 1\n");
    ck_message_has(resp, "\nenvd_sessions_created_total 1\n");
    ck_message_has(resp, "\nenvd_requests_total{op=\"make\"} 1\n");
    ck_message_has(resp, "\nenvd_requests_total{op=\"step\"} 1\n");
    ck_message_has(resp, "\nenvd_requests_total{op=\"step_batch\"} 0\n");
    ck_message_has(resp, "\nenvd_errors_total{code=\"NOT_FOUND\"} 1\n");
    ck_message_has(resp, "\nenvd_request_duration_seconds_count 2\n");

    http_exchange(h->metrics_port, "GET /nope HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 404 ", 13) == 0, "%s", resp);
    http_exchange(h->metrics_port, "POST /metrics HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 405 ", 13) == 0, "%s", resp);
    http_exchange(h->metrics_port, "HEAD /healthz HTTP/1.0\r\n\r\n", resp, sizeof resp);
    ck_assert_msg(strncmp(resp, "HTTP/1.0 200 ", 13) == 0 && !strstr(resp, "\r\n\r\nok"), "%s",
                  resp);
    harness_stop(&h);
}
END_TEST

/* The stop must close the metrics listener and a connection that is
 * still open (a client that connected and sent half a request). */
START_TEST(test_loop_closes_clean_with_an_open_http_connection)
{
    server_config_t cfg;
    default_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->metrics_port)};
    char buf[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(send(fd, "GET /hea", 8, MSG_NOSIGNAL), 8);
    make_one(h->c); /* a round trip: the loop has accepted the connection by now */
    harness_stop(&h); /* asserts uv_loop_close() == 0 */
    struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, sizeof buf, 0); /* closed by the server: EOF or reset */
    ck_assert_msg(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK),
                  "the connection is still open (recv %zd)", n);
    close(fd);
}
END_TEST

/* ------------------------------------------------------- lost replies */

/* Replies are lost on the way back: numbers 1 (the make's), 3 (the
 * reset's: reply 2 answered the make's resend) and 12 (the 8th step's).
 * Each time the client times out a slice, resends with the same id, envd
 * answers from its reply cache, and the episode is Gymnasium's bit for
 * bit. Were a resend executed again, the session would be made twice or
 * step twice and the trajectory would leave the golden one. */
START_TEST(test_lost_replies_are_resent_and_the_trajectory_stays_golden)
{
    static const int drop[] = {1, 3, 12, 0};
    static char resp[64 * 1024];
    server_config_t cfg;
    default_config(&cfg);
    cfg.metrics_addr = "127.0.0.1:0";
    harness_t *h = harness_start(&cfg);
    proxy_t p;
    proxy_start(&p, h->zctx, h->endpoint, drop);
    /* Slices of 1 s: generous on a loaded machine, yet a drop costs 1 s. */
    client_t *c = client_open(h, p.endpoint, 8000);
    client_set_attempts(c, 8);
    FILE *f = fopen(GOLDEN_PATH, "r");
    ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", GOLDEN_PATH);
    char *line = NULL;
    size_t cap = 0;
    int replayed = 0;
    while (!replayed && getline(&line, &cap, f) > 0) {
        cJSON *cs = cJSON_Parse(line);
        const cJSON *id = cs ? cJSON_GetObjectItemCaseSensitive(cs, "case_id") : NULL;
        if (cJSON_IsString(id) && strcmp(id->valuestring, "public/random/0") == 0) {
            replay_golden_case(c, cs);
            replayed = 1;
        }
        cJSON_Delete(cs);
    }
    free(line);
    fclose(f);
    ck_assert_int_eq(replayed, 1);
    client_destroy(&c);
    proxy_stop(&p); /* its counters are read after the join */
    ck_assert_int_eq(p.dropped, 3);
    ck_assert_int_ge(p.requests, p.replies); /* every request answered once, resends included */
    ck_assert_int_ge(p.requests - (p.replies - p.dropped), 3); /* at least one resend per drop */
    ck_assert_uint_eq(stats(h->c).active_sessions, 0); /* the make was not done twice */
    http_exchange(h->metrics_port, "GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof resp);
    const char *m = strstr(resp, "\nenvd_retries_replayed_total ");
    ck_assert_msg(m && strtoull(m + strlen("\nenvd_retries_replayed_total "), NULL, 10) >= 3,
                  "replays not counted: %s", resp);
    ck_message_has(resp, "\nenvd_retries_refused_total 0\n");
    harness_stop(&h);
}
END_TEST

/* build/envd, found beside the test runner so that other build folders work. */
/* ----------------------------------------------------------- the envd binary */

typedef struct child {
    pid_t pid;
    int out, err; /* read ends of the child's stdout and stderr */
} child_t;

static void envd_path(char *path, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    ck_assert_uint_lt(strlen(self) + 6, cap);
    memcpy(path, self, strlen(self));
    memcpy(path + strlen(self), "/envd", 6);
    ck_assert_msg(access(path, X_OK) == 0, "%s not built (make builds it)", path);
}

/* Starts envd with args and an environment of envp only (so that the
 * caller's ENVD_* variables cannot change the test). */
static child_t spawn_envd(const char *const *args, char *const *envp)
{
    char path[PATH_MAX];
    char *argv[16];
    int out[2], err[2];
    child_t c;
    size_t n = 0;

    envd_path(path, sizeof path);
    argv[n++] = path;
    for (; args[n - 1]; n++) {
        ck_assert_uint_lt(n, NELEM(argv) - 1);
        argv[n] = (char *)args[n - 1];
    }
    argv[n] = NULL;
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    c.pid = fork();
    ck_assert_int_ge(c.pid, 0);
    if (c.pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        execve(path, argv, envp);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    c.out = out[0];
    c.err = err[0];
    return c;
}

/* Appends what fd has to buf until EOF, `until` appears, or timeout_ms. */
static void read_until(int fd, char *buf, size_t cap, const char *until, int timeout_ms)
{
    uint64_t deadline = monotonic_ms() + (uint64_t)timeout_ms;
    size_t len = strlen(buf);
    while ((!until || !strstr(buf, until)) && len + 1 < cap) {
        int64_t left = (int64_t)(deadline - monotonic_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
}

/* Waits for the child to exit; kills it and fails after timeout_ms. */
static int wait_exit(child_t *c, int timeout_ms)
{
    uint64_t deadline = monotonic_ms() + (uint64_t)timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        ck_assert_int_ge(r, 0);
        if (r == c->pid)
            break;
        if (monotonic_ms() > deadline) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            ck_abort_msg("envd did not exit within %d ms", timeout_ms);
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
    }
    return status;
}

static void child_close(child_t *c)
{
    close(c->out);
    close(c->err);
}

START_TEST(test_envd_exits_0_on_sigterm_and_answers_no_late_request)
{
    char dir[] = "/tmp/envd-check-XXXXXX", ipc[128], err[16384] = "";
    char *envp[] = {NULL};
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ipc, sizeof ipc, "ipc://%s/s", dir);
    const char *args[] = {"--bind", ipc, "--log-level", "info", NULL};
    child_t c = spawn_envd(args, envp);
    void *zctx = zmq_ctx_new();
    client_t *cl = NULL;
    errbuf_t e;
    uint64_t seed = 1;
    float obs[4];

    /* The first call waits for envd to bind (ZeroMQ reconnects until then). */
    ck_assert_int_eq(client_new(zctx, ipc, TIMEOUT_MS, &cl, &e), 0);
    wire_request_t hello = {.op = WIRE_OP_HELLO, .hello.client = "check_server"};
    wire_reply_t rep;
    int rc = client_call(cl, &hello, &rep, &e);
    if (rc != 0) {
        read_until(c.err, err, sizeof err, NULL, 100);
        kill(c.pid, SIGKILL);
        ck_abort_msg("envd did not answer hello: %s; its stderr:\n%s", e.msg, err);
    }
    uint64_t id = make_one(cl);
    remote_reset(cl, id, &seed, obs);

    ck_assert_int_eq(kill(c.pid, SIGTERM), 0);
    read_until(c.err, err, sizeof err, "shutting down", TIMEOUT_MS);
    ck_assert_msg(strstr(err, "SIGTERM received: shutting down"), "no shutdown log:\n%s", err);
    /* From here the server answers UNAVAILABLE or not at all. */
    client_t *late = NULL;
    ck_assert_int_eq(client_new(zctx, ipc, 500, &late, &e), 0);
    wire_request_t step = {.op = WIRE_OP_STEP, .step = {.session = id}};
    err_clear(&e);
    rc = client_call(late, &step, &rep, &e);
    ck_assert_msg(rc == ERR_UNAVAILABLE || rc == ERR_TIMEOUT, "late request: %s (%s)",
                  err_name(rc), e.msg);
    int status = wait_exit(&c, 10000);
    read_until(c.err, err, sizeof err, NULL, 1000);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x; stderr:\n%s", status,
                  err);
    ck_assert_msg(strstr(err, "stopped cleanly"), "the loop did not close clean:\n%s", err);
    client_destroy(&late);
    client_destroy(&cl);
    zmq_ctx_term(zctx);
    child_close(&c);
    snprintf(ipc, sizeof ipc, "%s/s", dir);
    unlink(ipc); /* ZeroMQ leaves the socket file of a named ipc endpoint */
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_envd_help_exits_0)
{
    const char *args[] = {"--help", NULL};
    char *envp[] = {NULL};
    char out[8192] = "";
    child_t c = spawn_envd(args, envp);

    read_until(c.out, out, sizeof out, NULL, TIMEOUT_MS);
    int status = wait_exit(&c, TIMEOUT_MS);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_message_has(out, "usage: envd");
    ck_message_has(out, "--max-batch");
    ck_message_has(out, "ENVD_SESSION_TTL");
    child_close(&c);
}
END_TEST

START_TEST(test_envd_invalid_flag_value_exits_2_naming_it)
{
    static const struct { const char *args[3]; char *env; const char *name; } cases[] = {
        {{"--max-batch", "0", NULL}, NULL, "--max-batch"},
        {{"--session-ttl", "forever", NULL}, NULL, "--session-ttl"},
        {{"--log-level", "loud", NULL}, NULL, "log-level"},
        {{"--no-such-flag", NULL, NULL}, NULL, "--help"},
        {{NULL, NULL, NULL}, "ENVD_MAX_SESSIONS=0", "ENVD_MAX_SESSIONS"},
    };
    for (size_t k = 0; k < NELEM(cases); k++) {
        char *envp[] = {cases[k].env, NULL};
        char err[4096] = "";
        child_t c = spawn_envd(cases[k].args, envp);
        read_until(c.err, err, sizeof err, NULL, TIMEOUT_MS);
        int status = wait_exit(&c, TIMEOUT_MS);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "case %zu: status %#x", k,
                      status);
        ck_assert_msg(strstr(err, cases[k].name), "case %zu: stderr does not name %s: %s", k,
                      cases[k].name, err);
        child_close(&c);
    }
}
END_TEST

Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_hello_reports_versions_env_ids_and_limits);
    tcase_add_test(tc, test_make_returns_sessions_spaces_and_exact_bounds);
    tcase_add_test(tc, test_make_options_max_episode_steps_and_sutton_barto_reward);
    tcase_add_test(tc, test_make_refusals_create_nothing);
    tcase_add_test(tc, test_describe_by_session_and_by_env_id);
    tcase_add_test(tc, test_golden_cases_replay_bit_exact_over_the_socket);
    tcase_add_test(tc, test_reset_without_seed_continues_the_stream);
    tcase_add_test(tc, test_reset_options_reach_the_environment);
    tcase_add_test(tc, test_reset_batch_with_seeds_with_a_mask_and_without);
    tcase_add_test(tc, test_step_batch_next_step_resets_finished_rows_on_the_next_call);
    tcase_add_test(tc, test_step_batch_same_step_returns_final_observations);
    tcase_add_test(tc, test_step_batch_disabled_keeps_stepping_finished_rows);
    tcase_add_test(tc, test_close_is_idempotent);
    tcase_add_test(tc, test_ping_echoes_its_payload);
    tcase_add_test(tc, test_stats_count_sessions_steps_requests_and_errors);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_garbage_bytes_are_invalid_argument);
    tcase_add_test(tc, test_truncated_protobuf_is_invalid_argument);
    tcase_add_test(tc, test_empty_message_is_invalid_argument);
    tcase_add_test(tc, test_multipart_message_is_invalid_argument);
    tcase_add_test(tc, test_request_without_op_is_invalid_argument);
    tcase_add_test(tc, test_major_2_and_major_0_are_version_mismatch);
    tcase_add_test(tc, test_unknown_session_is_not_found_in_every_op);
    tcase_add_test(tc, test_action_out_of_range_is_invalid_argument);
    tcase_add_test(tc, test_step_before_reset_is_failed_precondition);
    tcase_add_test(tc, test_failed_batches_move_no_session);
    tcase_add_test(tc, test_batch_and_make_over_max_batch_are_resource_exhausted);
    tcase_add_test(tc, test_oversized_message_is_resource_exhausted);
    tcase_add_test(tc, test_error_messages_stay_valid_utf8);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_idle_session_is_reclaimed_and_busy_ones_are_not);
    tcase_add_test(tc, test_make_past_max_sessions_is_resource_exhausted_and_creates_nothing);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("transport");
    tcase_add_test(tc, test_ipc_and_tcp_endpoints_serve_one_table);
    tcase_add_test(tc, test_bad_endpoint_fails_to_start_with_a_message);
    tcase_add_test(tc, test_metrics_port_in_use_fails_and_still_closes_clean);
    tcase_add_test(tc, test_stop_answers_waiting_requests_unavailable_or_not_at_all);
    tcase_add_test(tc, test_metrics_serves_healthz_and_counters);
    tcase_add_test(tc, test_loop_closes_clean_with_an_open_http_connection);
    tcase_add_test(tc, test_lost_replies_are_resent_and_the_trajectory_stays_golden);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary");
    tcase_add_test(tc, test_envd_exits_0_on_sigterm_and_answers_no_late_request);
    tcase_add_test(tc, test_envd_help_exits_0);
    tcase_add_test(tc, test_envd_invalid_flag_value_exits_2_naming_it);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
