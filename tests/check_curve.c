/*
 * check_curve.c — CURVE encryption and client authentication, and the
 * plaintext-only-on-loopback default.
 *
 * In-process: a server thread (as in check_server.c) runs envd's server
 * with a CURVE secret key and a directory of authorised client keys, all
 * made with curve_keygen() in a fresh temporary folder, bound to
 * tcp://127.0.0.1:*. An authorised client replays a Gymnasium golden
 * episode bit for bit; a client with an unknown key and a plaintext client
 * get no answer (their requests time out) and, as an authorised client's
 * stats show afterwards, were served nothing; the refusals are counted.
 * With the real build/envd binary: a plaintext non-loopback bind exits 2
 * and names the ways out; --insecure starts it with a WARN line; loopback
 * tcp and ipc start without it. Only loopback addresses are ever bound
 * (the --insecure case uses the interface name "lo", which the rule must
 * treat as reachable since it cannot tell interfaces apart by name).
 */
#include <check.h>
#include <cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "bits.h"
#include "client.h"
#include "curve.h"
#include "log.h"
#include "server.h"
#include "spawn.h"

#define TIMEOUT_MS 5000
#define REFUSED_MS 1000 /* how long a refused client waits before its request times out */
#define GOLDEN_PATH "tests/data/cartpole_v1_public.jsonl"

/* ------------------------------------------------------------- keys */

typedef struct keys {
    char *dir;
    char server_pub[41], server_sec[41];
    char client_pub[41], client_sec[41]; /* authorised */
    char rogue_pub[41], rogue_sec[41];   /* not authorised */
    char clients_dir[512];
} keys_t;

static void read_pair(const char *dir, const char *name, char *pub, char *sec)
{
    char path[512];
    errbuf_t e;
    snprintf(path, sizeof path, "%s/%s.pub", dir, name);
    ck_assert_msg(curve_read_key(path, pub, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    ck_assert_msg(curve_read_key(path, sec, &e) == 0, "%s", e.msg);
}

static void keys_make(keys_t *k)
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

/* -------------------------------------------------------------- harness */

typedef struct harness {
    uv_loop_t loop;
    uv_async_t stop;
    server_t *server;
    pthread_t thread;
    int loop_close_rc;
    const char *endpoint;
    void *zctx;
} harness_t;

static void on_stop(uv_async_t *a)
{
    harness_t *h = a->data;
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

static harness_t *harness_start(const keys_t *k)
{
    harness_t *h = calloc(1, sizeof *h);
    server_config_t cfg;
    errbuf_t e;
    memset(&cfg, 0, sizeof cfg);
    cfg.binds[0] = "tcp://127.0.0.1:*";
    cfg.nbinds = 1;
    cfg.service = (service_config_t){.max_sessions = 64, .max_batch = 16,
                                     .session_ttl_ms = 60000, .max_message_size = 64 * 1024};
    cfg.sndhwm = 1000;
    cfg.curve_secret = k->server_sec;
    cfg.curve_clients = k->clients_dir;
    log_init("check_curve", LOG_ERROR);
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    ck_assert_msg(server_new(&h->loop, &cfg, &h->server, &e) == 0, "server_new: %s", e.msg);
    h->endpoint = server_endpoint(h->server, 0);
    ck_assert_int_eq(uv_async_init(&h->loop, &h->stop, on_stop), 0);
    h->stop.data = h;
    ck_assert_int_eq(pthread_create(&h->thread, NULL, loop_main, h), 0);
    h->zctx = zmq_ctx_new();
    return h;
}

/* Stops the server; returns its refusal count, read once its loop has ended. */
static uint64_t harness_stop(harness_t **hp)
{
    harness_t *h = *hp;
    ck_assert_int_eq(uv_async_send(&h->stop), 0);
    ck_assert_int_eq(pthread_join(h->thread, NULL), 0);
    ck_assert_msg(h->loop_close_rc == 0, "a handle was left open");
    uint64_t refused = server_auth_failures(h->server);
    server_destroy(&h->server);
    zmq_ctx_term(h->zctx);
    free(h);
    *hp = NULL;
    return refused;
}

static client_t *curve_client(harness_t *h, const keys_t *k, const char *pub, const char *sec,
                              int timeout_ms)
{
    client_t *c = NULL;
    errbuf_t e;
    ck_assert_msg(client_new(h->zctx, h->endpoint, timeout_ms, &c, &e) == 0, "%s", e.msg);
    if (pub)
        ck_assert_msg(client_set_curve(c, k->server_pub, pub, sec, &e) == 0, "%s", e.msg);
    return c;
}

static wire_stats_t stats(client_t *c)
{
    wire_request_t req = {.op = WIRE_OP_STATS};
    wire_reply_t rep;
    errbuf_t e;
    int rc = client_call(c, &req, &rep, &e);
    ck_assert_msg(rc == 0, "stats: %s", e.msg);
    return rep.stats;
}

/* A make request that must not be answered: ERR_TIMEOUT. */
static void ck_refused(client_t *c)
{
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 1}};
    wire_reply_t rep;
    errbuf_t e;
    int rc = client_call(c, &req, &rep, &e);
    ck_assert_msg(rc == ERR_TIMEOUT, "a refused client was answered: %s (%s)", err_name(rc), e.msg);
}

/* ------------------------------------------------------------ golden */

static void ck_obs_hex(const cJSON *hex, const float *obs, int t)
{
    for (int i = 0; i < 4; i++) {
        uint32_t want = (uint32_t)strtoul(cJSON_GetArrayItem(hex, i)->valuestring, NULL, 16);
        ck_assert_msg(f32_bits(obs[i]) == want, "t %d obs[%d]: %08x, Gymnasium %08x", t, i,
                      f32_bits(obs[i]), want);
    }
}

/* Replays the first segment of public/random/0 through c, bit for bit. */
static void replay_golden(client_t *c)
{
    FILE *f = fopen(GOLDEN_PATH, "r");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", GOLDEN_PATH);
    char *line = NULL;
    size_t cap = 0;
    cJSON *cs = NULL;
    while (!cs && getline(&line, &cap, f) > 0) {
        cs = cJSON_Parse(line);
        const cJSON *id = cs ? cJSON_GetObjectItemCaseSensitive(cs, "case_id") : NULL;
        if (cs && !(cJSON_IsString(id) && strcmp(id->valuestring, "public/random/0") == 0)) {
            cJSON_Delete(cs);
            cs = NULL;
        }
    }
    free(line);
    fclose(f);
    ck_assert_msg(cs != NULL, "public/random/0 not in %s", GOLDEN_PATH);
    const cJSON *seg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cs, "segments"), 0);

    errbuf_t e;
    wire_reply_t rep;
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 1}};
    ck_assert_msg(client_call(c, &req, &rep, &e) == 0, "make: %s", e.msg);
    uint64_t id = rep.make.sessions[0];
    uint64_t seed = strtoull(cJSON_GetObjectItemCaseSensitive(seg, "reset_seed_str")->valuestring,
                             NULL, 10);
    req = (wire_request_t){.op = WIRE_OP_RESET, .reset = {.session = id, .has_seed = true,
                                                          .seed = seed}};
    ck_assert_msg(client_call(c, &req, &rep, &e) == 0, "reset: %s", e.msg);
    ck_obs_hex(cJSON_GetObjectItemCaseSensitive(seg, "initial_obs_hex"),
               (const float *)rep.reset.obs.data, 0);
    const cJSON *rec;
    int t = 0;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(seg, "steps")) {
        t++;
        req = (wire_request_t){
            .op = WIRE_OP_STEP,
            .step = {.session = id,
                     .action = (int64_t)cJSON_GetObjectItemCaseSensitive(rec, "action")->valuedouble}};
        ck_assert_msg(client_call(c, &req, &rep, &e) == 0, "step %d: %s", t, e.msg);
        ck_obs_hex(cJSON_GetObjectItemCaseSensitive(rec, "obs_hex"),
                   (const float *)rep.step.obs.data, t);
        ck_assert(rep.step.reward == cJSON_GetObjectItemCaseSensitive(rec, "reward")->valuedouble);
        ck_assert(rep.step.terminated ==
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "terminated")));
    }
    ck_assert_int_gt(t, 5);
    cJSON_Delete(cs);
}

/* ------------------------------------------------------------- tests */

START_TEST(test_authorised_client_replays_golden_episode_bit_exact)
{
    keys_t k;
    keys_make(&k);
    harness_t *h = harness_start(&k);
    client_t *c = curve_client(h, &k, k.client_pub, k.client_sec, TIMEOUT_MS);
    replay_golden(c);
    /* A Lazy Pirate reset reopens the socket: the keys must come with it. */
    client_reset(c);
    ck_assert_uint_eq(stats(c).sessions_created, 1);
    client_destroy(&c);
    ck_assert_uint_eq(harness_stop(&h), 0);
    spawn_rmdir(&k.dir);
}
END_TEST

START_TEST(test_unauthorised_key_is_refused_and_served_nothing)
{
    keys_t k;
    keys_make(&k);
    harness_t *h = harness_start(&k);
    client_t *rogue = curve_client(h, &k, k.rogue_pub, k.rogue_sec, REFUSED_MS);
    ck_refused(rogue);
    client_destroy(&rogue);
    client_t *c = curve_client(h, &k, k.client_pub, k.client_sec, TIMEOUT_MS);
    wire_stats_t st = stats(c);
    ck_assert_uint_eq(st.sessions_created, 0);
    ck_assert_uint_eq(st.requests, 0); /* counted once answered: this one is not yet */
    client_destroy(&c);
    ck_assert_uint_ge(harness_stop(&h), 1);
    spawn_rmdir(&k.dir);
}
END_TEST

START_TEST(test_plaintext_client_cannot_talk_to_curve_server)
{
    keys_t k;
    keys_make(&k);
    harness_t *h = harness_start(&k);
    client_t *plain = curve_client(h, &k, NULL, NULL, REFUSED_MS);
    ck_refused(plain);
    client_destroy(&plain);
    /* Nor with the right client keys but the wrong server key. */
    client_t *wrong = NULL;
    errbuf_t e;
    ck_assert_int_eq(client_new(h->zctx, h->endpoint, REFUSED_MS, &wrong, &e), 0);
    ck_assert_int_eq(client_set_curve(wrong, k.rogue_pub, k.client_pub, k.client_sec, &e), 0);
    ck_refused(wrong);
    client_destroy(&wrong);
    client_t *c = curve_client(h, &k, k.client_pub, k.client_sec, TIMEOUT_MS);
    wire_stats_t st = stats(c);
    ck_assert_uint_eq(st.sessions_created, 0);
    ck_assert_uint_eq(st.requests, 0);
    client_destroy(&c);
    harness_stop(&h);
    spawn_rmdir(&k.dir);
}
END_TEST

/* ---------------------------------------------------------- the binary */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

/* Runs envd with args; it must exit by itself within a bound. */
static int run_envd_exit(char *const argv[], const char *log)
{
    pid_t pid = spawn_exec(argv, log);
    ck_assert_int_gt(pid, 0);
    int status = spawn_wait(pid, 20.0);
    ck_assert_msg(status != -1 && WIFEXITED(status), "envd did not exit by itself");
    return WEXITSTATUS(status);
}

/* Starts envd, waits for "ready" in its log, stops it with SIGTERM; returns the log. */
static char *run_envd_ready(char *const argv[], const char *log)
{
    pid_t pid = spawn_exec(argv, log);
    ck_assert_int_gt(pid, 0);
    char *text = NULL;
    for (int i = 0; i < 400; i++) { /* up to ~20 s */
        free(text);
        text = read_all(log);
        if (strstr(text, " ready: ") || waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(50000);
    }
    kill(pid, SIGTERM);
    int status = spawn_wait(pid, 20.0);
    ck_assert_msg(strstr(text, " ready: "), "envd did not start:\n%s", text);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "envd did not stop cleanly");
    return text;
}

START_TEST(test_binary_refuses_plaintext_on_reachable_address)
{
    char *dir = spawn_tmpdir(), log[512];
    snprintf(log, sizeof log, "%s/envd.log", dir);
    char *argv[] = {"build/envd", "--bind", "tcp://0.0.0.0:0", NULL};
    ck_assert_int_eq(run_envd_exit(argv, log), 2);
    char *text = read_all(log);
    ck_assert_msg(strstr(text, "tcp://0.0.0.0:0") && strstr(text, "--curve-secret") &&
                      strstr(text, "--insecure") && strstr(text, "ENVD_INSECURE=1"),
                  "message: %s", text);
    free(text);
    spawn_rmdir(&dir);
}
END_TEST

START_TEST(test_binary_insecure_starts_and_warns)
{
    char *dir = spawn_tmpdir(), log[512];
    snprintf(log, sizeof log, "%s/envd.log", dir);
    /* "lo" is loopback in fact, but by name it could be any interface. */
    char *argv[] = {"build/envd", "--bind", "tcp://lo:*", "--insecure", NULL};
    char *text = run_envd_ready(argv, log);
    ck_assert_msg(strstr(text, "WARN INSECURE") && strstr(text, "tcp://lo:*"), "log: %s", text);
    free(text);
    spawn_rmdir(&dir);
}
END_TEST

START_TEST(test_binary_loopback_and_ipc_need_no_flag)
{
    char *dir = spawn_tmpdir(), log[512], ipc[600];
    ck_assert_ptr_nonnull(dir);
    snprintf(log, sizeof log, "%s/envd.log", dir);
    snprintf(ipc, sizeof ipc, "ipc://%s/envd.sock", dir);
    char *argv[] = {"build/envd", "--bind", "tcp://127.0.0.1:*", "--bind", ipc, NULL};
    char *text = run_envd_ready(argv, log);
    ck_assert_msg(!strstr(text, "WARN"), "log: %s", text);
    free(text);
    spawn_rmdir(&dir);
}
END_TEST

START_TEST(test_binary_curve_allows_any_address_and_needs_client_list)
{
    keys_t k;
    keys_make(&k);
    char log[512], sec[600];
    snprintf(log, sizeof log, "%s/envd.log", k.dir);
    snprintf(sec, sizeof sec, "%s/server.key", k.dir);
    char *alone[] = {"build/envd", "--bind", "tcp://127.0.0.1:*", "--curve-secret", sec, NULL};
    ck_assert_int_eq(run_envd_exit(alone, log), 2);
    char *argv[] = {"build/envd", "--bind", "tcp://lo:*", "--curve-secret", sec,
                    "--curve-clients", k.clients_dir, NULL};
    char *text = run_envd_ready(argv, log);
    ck_assert_msg(strstr(text, "CURVE") && !strstr(text, "WARN INSECURE"), "log: %s", text);
    free(text);
    spawn_rmdir(&k.dir);
}
END_TEST

Suite *curve_suite(void)
{
    Suite *s = suite_create("curve");
    TCase *tc = tcase_create("curve");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_authorised_client_replays_golden_episode_bit_exact);
    tcase_add_test(tc, test_unauthorised_key_is_refused_and_served_nothing);
    tcase_add_test(tc, test_plaintext_client_cannot_talk_to_curve_server);
    tcase_add_test(tc, test_binary_refuses_plaintext_on_reachable_address);
    tcase_add_test(tc, test_binary_insecure_starts_and_warns);
    tcase_add_test(tc, test_binary_loopback_and_ipc_need_no_flag);
    tcase_add_test(tc, test_binary_curve_allows_any_address_and_needs_client_list);
    suite_add_tcase(s, tc);
    return s;
}
