/*
 * fixture_server.c — the server-side suites' shared fixtures (see
 * fixture_server.h).
 */
#include "fixture_server.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "bits.h"
#include "curve.h"
#include "log.h"
#include "spawn.h"

/* ---------------------------------------------------- the service in-process */

void svc_fixture_init(svc_fixture_t *f, const service_config_t *cfg)
{
    errbuf_t e;
    memset(f, 0, sizeof *f);
    f->now = 1000;
    ck_assert_msg(service_new(cfg, &f->svc, &e) == 0, "service_new: %s", e.msg);
    ck_assert_msg(arena_new(4096, &f->arena, &e) == 0, "arena_new: %s", e.msg);
}

void svc_fixture_deinit(svc_fixture_t *f)
{
    service_destroy(&f->svc);
    arena_destroy(&f->arena);
    wire_buf_deinit(&f->in);
    wire_buf_deinit(&f->out);
}

void svc_fixture_send(svc_fixture_t *f, wire_reply_t *rep)
{
    errbuf_t e;
    service_handle(f->svc, f->in.data, f->in.len, f->peer, f->now, &f->out, NULL);
    arena_reset(f->arena);
    ck_assert_msg(wire_decode_reply(f->arena, f->out.data, f->out.len, rep, &e) == 0,
                  "reply does not decode: %s", e.msg);
}

void svc_fixture_call(svc_fixture_t *f, wire_request_t *req, wire_reply_t *rep)
{
    req->major = WIRE_MAJOR;
    req->minor = WIRE_MINOR;
    ck_assert_int_eq(wire_encode_request(req, &f->in), 0);
    svc_fixture_send(f, rep);
}

/* ------------------------------------------------- the server on a thread */

void harness_config(server_config_t *cfg)
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

client_t *client_open(harness_t *h, const char *endpoint, int timeout_ms)
{
    client_t *c = NULL;
    errbuf_t e;
    ck_assert_msg(client_new(h->zctx, endpoint, timeout_ms, &c, &e) == 0, "client: %s", e.msg);
    return c;
}

/* Sockets and handles are made here and used by the loop thread only after
 * pthread_create, which orders the two (ZeroMQ allows moving a socket
 * between threads across a full memory barrier). */
harness_t *harness_start_bare(const server_config_t *cfg)
{
    harness_t *h = calloc(1, sizeof *h);
    server_config_t def;
    errbuf_t e;

    ck_assert_ptr_nonnull(h);
    if (!cfg) {
        harness_config(&def);
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
    return h;
}

harness_t *harness_start(const server_config_t *cfg)
{
    harness_t *h = harness_start_bare(cfg);
    h->c = client_open(h, h->endpoint, TIMEOUT_MS);
    return h;
}

void harness_send_stop(harness_t *h)
{
    if (!h->stop_sent) {
        h->stop_sent = true;
        ck_assert_int_eq(uv_async_send(&h->stop), 0);
    }
}

uint64_t harness_stop(harness_t **hp)
{
    harness_t *h = *hp;
    client_destroy(&h->c);
    harness_send_stop(h);
    ck_assert_int_eq(pthread_join(h->thread, NULL), 0);
    ck_assert_msg(h->loop_close_rc == 0, "uv_loop_close: %s: a handle was left open",
                  uv_err_name(h->loop_close_rc));
    uint64_t refused = server_auth_failures(h->server);
    server_destroy(&h->server);
    ck_assert_ptr_null(h->server);
    server_destroy(&h->server); /* safe twice */
    zmq_ctx_term(h->zctx);
    sem_destroy(&h->paused);
    sem_destroy(&h->resume);
    free(h);
    *hp = NULL;
    return refused;
}

/* ------------------------------------------------------------------ calls */

void call_ok(client_t *c, wire_request_t *req, wire_reply_t *rep)
{
    errbuf_t e;
    err_clear(&e);
    int rc = client_call(c, req, rep, &e);
    ck_assert_msg(rc == 0, "%s: %s: %s", wire_op_name(req->op), err_name(rc), e.msg);
    ck_assert_int_eq(rep->op, req->op);
    ck_assert_uint_eq(rep->major, WIRE_MAJOR);
    ck_assert_str_eq(rep->message, "");
}

const char *call_err(client_t *c, wire_request_t *req, int code)
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

void call_raw(client_t *c, const void *data, size_t len, wire_reply_t *rep)
{
    errbuf_t e;
    err_clear(&e);
    ck_assert_msg(client_send_raw(c, data, len, &e) == 0, "%s", e.msg);
    int rc = client_recv(c, rep, &e);
    ck_assert_msg(rc == 0, "no reply to raw bytes: %s: %s", err_name(rc), e.msg);
}

void ck_message_has(const char *msg, const char *word)
{
    ck_assert_msg(strstr(msg, word) != NULL, "message lacks '%s': %s", word, msg);
}

void make_n(client_t *c, const char *env_id, const option_t *opts, size_t nopts, uint32_t count,
            uint64_t *ids)
{
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = env_id, .options = opts,
                                                       .noptions = nopts, .count = count}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_assert_uint_eq(rep.make.n, count ? count : 1);
    memcpy(ids, rep.make.sessions, rep.make.n * sizeof *ids);
}

uint64_t make_one(client_t *c)
{
    uint64_t id;
    make_n(c, "CartPole-v1", NULL, 0, 1, &id);
    return id;
}

wire_stats_t stats(client_t *c)
{
    wire_request_t req = {.op = WIRE_OP_STATS};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    return rep.stats;
}

void close_ids(client_t *c, const uint64_t *ids, size_t n, uint32_t want_closed)
{
    wire_request_t req = {.op = WIRE_OP_CLOSE, .close = {.sessions = ids, .n = n}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_assert_uint_eq(rep.close.closed, want_closed);
}

void ck_obs_shape_dim(const wire_tensor_t *got, uint32_t rows, uint32_t dim)
{
    ck_assert_int_eq(got->dtype, WIRE_DTYPE_FLOAT32);
    if (rows) {
        ck_assert_uint_eq(got->ndim, 2);
        ck_assert_uint_eq(got->shape[0], rows);
        ck_assert_uint_eq(got->shape[1], dim);
    } else {
        ck_assert_uint_eq(got->ndim, 1);
        ck_assert_uint_eq(got->shape[0], dim);
    }
    ck_assert_uint_eq(got->len, (rows ? rows : 1) * dim * sizeof(float));
}

void ck_obs_shape(const wire_tensor_t *got, uint32_t rows) { ck_obs_shape_dim(got, rows, 4); }

void ck_obs_eq_dim(const float *want, const wire_tensor_t *got, uint32_t rows, uint32_t dim,
                   const char *what)
{
    size_t n = (rows ? rows : 1) * dim;
    ck_obs_shape_dim(got, rows, dim);
    for (size_t k = 0; k < n; k++) {
        float g;
        memcpy(&g, (const char *)got->data + k * sizeof g, sizeof g);
        ck_assert_msg(f32_bits(g) == f32_bits(want[k]), "%s[%zu]: %08x (%a), want %08x (%a)", what,
                      k, f32_bits(g), g, f32_bits(want[k]), want[k]);
    }
}

void ck_obs_eq(const float *want, const wire_tensor_t *got, uint32_t rows, const char *what)
{
    ck_obs_eq_dim(want, got, rows, 4, what);
}

void remote_reset(client_t *c, uint64_t id, const uint64_t *seed, float *obs)
{
    wire_request_t req = {.op = WIRE_OP_RESET, .reset = {.session = id, .has_seed = seed != NULL,
                                                         .seed = seed ? *seed : 0}};
    wire_reply_t rep;
    call_ok(c, &req, &rep);
    ck_obs_shape(&rep.reset.obs, 0);
    memcpy(obs, rep.reset.obs.data, 4 * sizeof *obs);
}

void remote_step(client_t *c, uint64_t id, int64_t action, step_result_t *r)
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

/* ---------------------------------------------------------------- mirrors */

env_t *local_env(const char *id, const option_t *opts, size_t nopts)
{
    const env_class_t *cls = env_find(id);
    errbuf_t e;

    ck_assert_ptr_nonnull(cls);
    env_t *env = calloc(1, env_size(cls));
    ck_assert_ptr_nonnull(env);
    ck_assert_msg(env_init(env, cls, opts, nopts, &e) == 0, "env_init: %s", e.msg);
    return env;
}

void local_reset(env_t *env, const uint64_t *seed, float *obs)
{
    errbuf_t e;
    ck_assert_msg(env_reset(env, seed, NULL, 0, obs, &e) == 0, "env_reset: %s", e.msg);
}

void local_step(env_t *env, int64_t action, step_result_t *r)
{
    errbuf_t e;
    ck_assert_msg(env_step(env, ENV_DISCRETE(action), r->obs, &r->reward, &r->terminated, &r->truncated, &e) == 0,
                  "env_step: %s", e.msg);
}

void ck_step_eq(const step_result_t *want, const step_result_t *got, const char *what)
{
    for (int k = 0; k < 4; k++)
        ck_assert_msg(f32_bits(got->obs[k]) == f32_bits(want->obs[k]), "%s: obs[%d] %a, want %a",
                      what, k, got->obs[k], want->obs[k]);
    ck_assert_msg(f64_bits(got->reward) == f64_bits(want->reward), "%s: reward %g, want %g", what,
                  got->reward, want->reward);
    ck_assert_int_eq(got->terminated, want->terminated);
    ck_assert_int_eq(got->truncated, want->truncated);
}

void mirror_batch_row(env_t *env, int mode, int64_t action, batch_row_t *x)
{
    memset(x, 0, sizeof *x);
    if (mode == WIRE_AUTORESET_NEXT_STEP && env->done) {
        local_reset(env, NULL, x->obs);
        x->autoreset = 1;
        return;
    }
    step_result_t r;
    local_step(env, action, &r);
    memcpy(x->obs, r.obs, sizeof r.obs);
    x->reward = r.reward;
    x->terminated = r.terminated;
    x->truncated = r.truncated;
    if (mode == WIRE_AUTORESET_SAME_STEP && (r.terminated || r.truncated)) {
        memcpy(x->final_obs, r.obs, sizeof r.obs);
        local_reset(env, NULL, x->obs);
        x->autoreset = 1;
    }
}

int64_t balance(const float *obs) { return obs[2] + obs[3] > 0; }

void witness_check(client_t *c, witness_t *w, int steps)
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

void witness_start(client_t *c, witness_t *w, uint64_t seed)
{
    float remote[4];
    w->id = make_one(c);
    w->env = local_env("CartPole-v1", NULL, 0);
    remote_reset(c, w->id, &seed, remote);
    local_reset(w->env, &seed, w->obs);
    ck_assert(memcmp(remote, w->obs, sizeof remote) == 0);
    witness_check(c, w, 3);
}

void witness_end(client_t *c, witness_t *w)
{
    witness_check(c, w, 5);
    free(w->env);
    w->env = NULL;
}

/* ----------------------------------------------------------------- golden */

cJSON *golden_case(const char *case_id)
{
    FILE *f = fopen(GOLDEN_PATH, "r");
    ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", GOLDEN_PATH);
    char *line = NULL;
    size_t cap = 0;
    cJSON *found = NULL;
    while (!found && getline(&line, &cap, f) > 0) {
        cJSON *cs = cJSON_Parse(line);
        const cJSON *id = cs ? cJSON_GetObjectItemCaseSensitive(cs, "case_id") : NULL;
        if (cJSON_IsString(id) && strcmp(id->valuestring, case_id) == 0)
            found = cs;
        else
            cJSON_Delete(cs);
    }
    free(line);
    fclose(f);
    ck_assert_msg(found != NULL, "%s not in %s", case_id, GOLDEN_PATH);
    return found;
}

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

void replay_golden_case(client_t *c, const cJSON *cs)
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

/* ------------------------------------------------------------------- HTTP */

void http_exchange(int port, const char *request, char *out, size_t cap)
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

/* -------------------------------------------------------------------- keys */

static void read_pair(const char *dir, const char *name, char *pub, char *sec)
{
    char path[512];
    errbuf_t e;
    snprintf(path, sizeof path, "%s/%s.pub", dir, name);
    ck_assert_msg(curve_read_key(path, pub, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    ck_assert_msg(curve_read_key(path, sec, &e) == 0, "%s", e.msg);
}

void keys_make(keys_t *k)
{
    char prefix[512], cmd[1200];
    errbuf_t e;
    ck_assert(curve_available());
    k->dir = spawn_tmpdir();
    ck_assert_ptr_nonnull(k->dir);
    snprintf(k->clients_dir, sizeof k->clients_dir, "%s/clients", k->dir);
    ck_assert_int_eq(mkdir(k->clients_dir, 0700), 0);
    const char *names[] = {"server", "client", "rogue"};
    for (int i = 0; i < 3; i++) {
        snprintf(prefix, sizeof prefix, "%s/%s", k->dir, names[i]);
        ck_assert_msg(curve_keygen(prefix, &e) == 0, "keygen: %s", e.msg);
    }
    read_pair(k->dir, "server", k->server_pub, k->server_sec);
    read_pair(k->dir, "client", k->client_pub, k->client_sec);
    read_pair(k->dir, "rogue", k->rogue_pub, k->rogue_sec);
    snprintf(cmd, sizeof cmd, "cp '%s/client.pub' '%s/'", k->dir, k->clients_dir);
    ck_assert_int_eq(system(cmd), 0);
}
