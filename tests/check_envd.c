/*
 * check_envd.c — the envd binary (server/main.c): its command line, its
 * exit statuses, its shutdown on SIGTERM, and the plaintext-only-on-
 * loopback rule with the ways out of it (CURVE, --insecure).
 *
 * Every test runs the real program, found beside the test runner or as
 * build/envd, as a child with a bounded life: a hung child is killed and
 * the test fails. Only loopback addresses are ever bound (the --insecure
 * case uses the interface name "lo", which the rule must treat as
 * reachable since it cannot tell interfaces apart by name).
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "fixture_server.h"
#include "spawn.h"

/* ------------------------------------------------------- flags and signals */

typedef struct child {
    pid_t pid;
    int out, err; /* read ends of the child's stdout and stderr */
} child_t;

/* envd, found beside the test runner so that other build folders work. */
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
static child_t envd_child(const char *const *args, char *const *envp)
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
    uint64_t deadline = clock_ms() + (uint64_t)timeout_ms;
    size_t len = strlen(buf);
    while ((!until || !strstr(buf, until)) && len + 1 < cap) {
        int64_t left = (int64_t)(deadline - clock_ms());
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
    int status = spawn_wait(c->pid, timeout_ms / 1000.0);
    ck_assert_msg(status != -1, "envd did not exit within %d ms", timeout_ms);
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
    child_t c = envd_child(args, envp);
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
    child_t c = envd_child(args, envp);

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
        child_t c = envd_child(cases[k].args, envp);
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

/* ------------------------------------------------------------ plaintext */

static char *read_all(const char *path)
{
    char *text = spawn_slurp(path, NULL);
    return text ? text : strdup("");
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

Suite *envd_suite(void)
{
    Suite *s = suite_create("envd");
    TCase *tc = tcase_create("binary");
    tcase_add_test(tc, test_envd_exits_0_on_sigterm_and_answers_no_late_request);
    tcase_add_test(tc, test_envd_help_exits_0);
    tcase_add_test(tc, test_envd_invalid_flag_value_exits_2_naming_it);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("plaintext");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_binary_refuses_plaintext_on_reachable_address);
    tcase_add_test(tc, test_binary_insecure_starts_and_warns);
    tcase_add_test(tc, test_binary_loopback_and_ipc_need_no_flag);
    tcase_add_test(tc, test_binary_curve_allows_any_address_and_needs_client_list);
    suite_add_tcase(s, tc);
    return s;
}
