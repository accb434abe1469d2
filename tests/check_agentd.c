/*
 * check_agentd.c — the agentd program end to end: build/envd and
 * build/agentd as real processes over ipc:// sockets in a private
 * directory (tests/envds.h on tests/spawn.h), every wait bounded.
 *
 * What must hold: a fixed seed reaches a modest evaluation return within a
 * small budget (deterministic: the run is a function of its seed, so this
 * cannot flake); the same seed gives the same checkpoint bytes; N steps +
 * save + load + N steps equals 2N steps, byte for byte; damaged,
 * truncated and mismatched checkpoints are refused with a clear message;
 * a signal saves a loadable checkpoint; a final save that fails (disk
 * full, a path that cannot be created) is exit status 4, said on stderr
 * and in summary.json; a --logdir holds one run (a second one goes to
 * DIR/agentd_2) and a resume continues its run there with one header and
 * steps that never go back; and training carries on when one of two
 * servers is killed with SIGKILL mid-run.
 */
#include <check.h>
#include <glob.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envds.h"
#include "tb_event.pb-c.h"
#include "tbread.h"

typedef struct harness {
    envds_t s;            /* the servers and the private directory */
    char log[300];        /* agentd's output, appended run after run */
} harness_t;

static void start(harness_t *h, int nservers)
{
    envds_start(&h->s, nservers);
    snprintf(h->log, sizeof h->log, "%s/agentd.log", h->s.dir);
}

static void stop(harness_t *h)
{
    envds_stop(&h->s);
}

/* h's directory/name */
static const char *path(const harness_t *h, const char *name)
{
    return envds_path(&h->s, name);
}

/* Options every test run shares: small, quiet, fast to evaluate. The
 * timeout is far beyond any stall of a loaded machine: a server dropped
 * by mistake would change the run, and these runs must be exact. */
#define COMMON "--progress", "0", "--log-level", "info", "--sessions", "8", "--eval-episodes", \
               "20", "--timeout-ms", "30000"

/* argv = {"build/agentd", "--env", ep0, COMMON, extra..., NULL}, run to completion
 * (at most 90 s) with its output appended to h->log. Returns its exit status. */
static int agentd(harness_t *h, const char *first, ...)
{
    char *argv[64] = {spawn_bin("agentd"), "--env", h->s.ep[0], COMMON};
    int n = 0;
    while (argv[n])
        n++;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return spawn_run(argv, h->log, 90.0);
}

static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = spawn_slurp(a, &na), *y = spawn_slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* The file at path holds needle. */
static int text_has(const char *path, const char *needle)
{
    char *text = spawn_slurp(path, NULL);
    int found = text && strstr(text, needle);
    free(text);
    return found;
}

static int log_has(const harness_t *h, const char *needle)
{
    return text_has(h->log, needle);
}

/* ------------------------------------------------------------- learning */

START_TEST(test_fixed_seed_reaches_a_modest_return_within_a_small_budget)
{
    harness_t h;
    start(&h, 1);
    int st = agentd(&h, "--seed", "3", "--target-return", "150", "--total-steps", "30000",
                    "--eval-every", "2000", "--logdir", path(&h, "run"), NULL);
    ck_assert_msg(st == 0, "agentd exit %d (see %s)", st, h.log);
    char *sum = spawn_slurp(path(&h, "run/summary.json"), NULL);
    ck_assert_ptr_nonnull(sum);
    ck_assert_ptr_nonnull(strstr(sum, "\"solved\": true"));
    ck_assert_ptr_nonnull(strstr(sum, "\"seed\": 3"));
    ck_assert_ptr_nonnull(strstr(sum, "\"lr\": "));
    free(sum);
    char *csv = spawn_slurp(path(&h, "run/progress.csv"), NULL);
    ck_assert_ptr_nonnull(csv);
    ck_assert(strncmp(csv, "env_steps,train_return_mean100,eval_mean,eval_std,", 50) == 0);
    free(csv);
    stop(&h);
}
END_TEST

START_TEST(test_budget_spent_without_the_target_exits_3_and_stale_temporaries_go)
{
    harness_t h;
    start(&h, 1);
    /* What a save killed midway leaves behind: the temporary file of a
     * process that is gone. agentd deletes it before it starts. */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char stale[320];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path(&h, "budget.ckpt"), (long)dead);
    FILE *f = fopen(stale, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    int st = agentd(&h, "--seed", "1", "--target-return", "1e9", "--total-steps", "1500",
                    "--learning-starts", "500", "--save", path(&h, "budget.ckpt"), NULL);
    ck_assert_int_eq(st, 3);
    ck_assert_int_ne(access(stale, F_OK), 0);
    ck_assert_int_eq(access(path(&h, "budget.ckpt"), F_OK), 0);
    ck_assert(log_has(&h, "removed 1 temporary checkpoint file(s)"));
    stop(&h);
}
END_TEST

/* progress.csv rows with an evaluation: their env_steps into at[] (at most
 * max); returns how many. */
static int eval_rows(const char *csv_path, int64_t *at, int max)
{
    char *csv = spawn_slurp(csv_path, NULL);
    ck_assert_ptr_nonnull(csv);
    int n = 0;
    for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        long long steps;
        char *rest;
        /* env_steps,train_return_mean100,eval_mean,... */
        steps = strtoll(line + 1, &rest, 10);
        rest = strchr(rest + 1, ',');
        ck_assert_ptr_nonnull(rest);
        if (rest[1] != ',' && n < max)
            at[n++] = steps;
    }
    free(csv);
    return n;
}

START_TEST(test_eval_from_holds_periodic_evaluations_back)
{
    harness_t h;
    start(&h, 1);
    int st = agentd(&h, "--seed", "1", "--target-return", "1e9", "--total-steps", "6000",
                    "--eval-every", "1000", "--eval-from", "3500", "--log-every", "500",
                    "--logdir", path(&h, "run"), NULL);
    ck_assert_int_eq(st, 3);
    int64_t at[16];
    int n = eval_rows(path(&h, "run/progress.csv"), at, 16);
    /* 8 sessions in 2 groups: 4 env steps a round, so multiples of 1000 are
     * hit exactly. An evaluation rides in the training rounds, so its row
     * is written when it ends, a few rounds after its snapshot; the log
     * names the snapshot. The one at 5000 may still run when the budget is
     * spent (it is then given up for the final one, at 6000). */
    ck_assert_int_ge(n, 2);
    ck_assert_int_le(n, 3);
    ck_assert_int_ge(at[0], 4000);
    ck_assert(log_has(&h, "eval at 4000 env steps"));
    ck_assert(!log_has(&h, "eval at 3000 env steps"));
    ck_assert_int_eq(at[n - 1], 6000);
    stop(&h);
}
END_TEST

/* ---------------------------------------------------------- determinism */

START_TEST(test_same_seed_gives_identical_checkpoint_bytes)
{
    harness_t h;
    start(&h, 1);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(agentd(&h, "--seed", "7", "--target-return", "1e9", "--total-steps",
                                "5000", "--learning-starts", "1000", "--eval-every", "2000",
                                "--save-replay", "--save", path(&h, i ? "b.ckpt" : "a.ckpt"),
                                NULL),
                         3);
    ck_assert(same_file(path(&h, "a.ckpt"), path(&h, "b.ckpt")));
    /* And another seed does differ, so the comparison can fail. */
    ck_assert_int_eq(agentd(&h, "--seed", "8", "--target-return", "1e9", "--total-steps", "5000",
                            "--learning-starts", "1000", "--eval-every", "2000", "--save-replay",
                            "--save", path(&h, "c.ckpt"), NULL),
                     3);
    ck_assert(!same_file(path(&h, "a.ckpt"), path(&h, "c.ckpt")));
    stop(&h);
}
END_TEST

START_TEST(test_resumed_run_equals_an_uninterrupted_one)
{
    harness_t h;
    start(&h, 1);
#define RUN_OPTS "--seed", "5", "--target-return", "1e9", "--learning-starts", "1000", \
                 "--train-freq", "64", "--gradient-steps", "16", "--target-update", "50", \
                 "--eval-every", "0", "--save-replay"
    ck_assert_int_eq(agentd(&h, RUN_OPTS, "--total-steps", "6000", "--save", path(&h, "full.ckpt"),
                            NULL),
                     3);
    ck_assert_int_eq(agentd(&h, RUN_OPTS, "--total-steps", "3000", "--save", path(&h, "half.ckpt"),
                            NULL),
                     3);
    ck_assert_int_eq(agentd(&h, RUN_OPTS, "--total-steps", "6000", "--load", path(&h, "half.ckpt"),
                            "--save", path(&h, "resumed.ckpt"), NULL),
                     3);
    ck_assert(log_has(&h, "rebuilt 8 sessions from the checkpoint"));
    ck_assert(same_file(path(&h, "full.ckpt"), path(&h, "resumed.ckpt")));
    ck_assert(!same_file(path(&h, "full.ckpt"), path(&h, "half.ckpt")));
#undef RUN_OPTS
    stop(&h);
}
END_TEST

/* ---------------------------------------------------------- checkpoints */

/* Writes a checkpoint of a short run to path(h, "ok.ckpt"). */
static void short_run(harness_t *h)
{
    ck_assert_int_eq(agentd(h, "--seed", "2", "--target-return", "1e9", "--total-steps", "1200",
                            "--learning-starts", "500", "--save", path(h, "ok.ckpt"), NULL),
                     3);
}

static void write_file(const char *p, const char *data, size_t len)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ------------------------------------------------------------- --logdir */

/* The env_steps column of progress.csv at p into at (at most max); the
 * header must be its first line and appear once. */
static int csv_steps(const char *p, int64_t *at, int max)
{
    char *csv = spawn_slurp(p, NULL);
    ck_assert_msg(csv != NULL, "no %s", p);
    ck_assert_msg(strncmp(csv, "env_steps,", 10) == 0 && !strstr(csv + 1, "env_steps,"),
                  "%s: not one header", p);
    int n = 0;
    for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        ck_assert_int_lt(n, max);
        at[n++] = strtoll(line + 1, NULL, 10);
    }
    free(csv);
    return n;
}

/* The steps of the env_steps scalar over the event files of dir, in the
 * order TensorBoard reads them (file names sorted); their number. */
static int event_steps(const char *dir, int64_t *at, int max, size_t *nfiles)
{
    char pattern[400];
    snprintf(pattern, sizeof pattern, "%s/events.out.tfevents.*", dir);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    int n = 0;
    for (size_t f = 0; f < g.gl_pathc; f++) {
        tbread_t rd;
        tbread_load(g.gl_pathv[f], &rd);
        for (size_t k = 1; k < rd.n; k++) {
            Tensorflow__Event *ev = tensorflow__event__unpack(NULL, rd.recs[k].len, rd.recs[k].data);
            ck_assert_ptr_nonnull(ev);
            if (strcmp(ev->summary->value[0]->tag, "env_steps") == 0) {
                ck_assert_int_lt(n, max);
                at[n++] = ev->step;
            }
            tensorflow__event__free_unpacked(ev, NULL);
        }
        tbread_free(&rd);
    }
    *nfiles = g.gl_pathc;
    globfree(&g);
    return n;
}

static void assert_rising(const int64_t *at, int n, const char *what)
{
    for (int i = 1; i < n; i++)
        ck_assert_msg(at[i] > at[i - 1], "%s: step %lld after %lld", what, (long long)at[i],
                      (long long)at[i - 1]);
}

START_TEST(test_logdir_holds_one_run_and_a_resume_continues_it)
{
    harness_t h;
    start(&h, 1);
#define LOG_OPTS "--seed", "6", "--target-return", "1e9", "--learning-starts", "500", \
                 "--eval-every", "1000", "--log-every", "250", "--save-replay", "--logdir", \
                 path(&h, "run")
    ck_assert_int_eq(agentd(&h, LOG_OPTS, "--total-steps", "2000", "--save", path(&h, "a.ckpt"),
                            NULL),
                     3);
    size_t len;
    char *ck = spawn_slurp(path(&h, "a.ckpt"), &len);
    ck_assert_ptr_nonnull(ck);
    write_file(path(&h, "at2000.ckpt"), ck, len);
    free(ck);
    /* Resumed to 4000, then killed, as it were, after its checkpoint at
     * 2000: the second resume redoes 2000-4000 in the same folder. */
    ck_assert_int_eq(agentd(&h, LOG_OPTS, "--total-steps", "4000", "--load", path(&h, "a.ckpt"),
                            "--save", path(&h, "a.ckpt"), NULL),
                     3);
    int64_t first[64], again[64], ev[64];
    int n1 = csv_steps(path(&h, "run/progress.csv"), first, 64);
    ck_assert_int_eq(agentd(&h, LOG_OPTS, "--total-steps", "4000", "--load",
                            path(&h, "at2000.ckpt"), "--save", path(&h, "a.ckpt"), NULL),
                     3);
    ck_assert(log_has(&h, "logs: continuing run "));
    int n2 = csv_steps(path(&h, "run/progress.csv"), again, 64);
    ck_assert_int_eq(n2, n1); /* 2000-4000 replaced, not written twice */
    ck_assert_mem_eq(again, first, (size_t)n1 * sizeof *first);
    assert_rising(again, n2, "progress.csv");
    ck_assert_int_eq(again[n2 - 1], 4000);
    size_t nfiles;
    int ne = event_steps(path(&h, "run"), ev, 64, &nfiles);
    ck_assert_uint_eq(nfiles, 3);
    ck_assert_int_eq(ne, n2);
    ck_assert_mem_eq(ev, again, (size_t)ne * sizeof *ev);

    /* The run's id is in its folder and its summary. */
    char *id = spawn_slurp(path(&h, "run/run_id"), NULL), want[64];
    ck_assert_ptr_nonnull(id);
    ck_assert_uint_eq(strlen(id), 17);
    snprintf(want, sizeof want, "\"run_id\": \"%.16s\"", id);
    free(id);
    ck_assert(text_has(path(&h, "run/summary.json"), want));

    /* A fresh run with the same --logdir is a run of its own, beside. */
    char *before = spawn_slurp(path(&h, "run/progress.csv"), NULL);
    ck_assert_int_eq(agentd(&h, LOG_OPTS, "--total-steps", "1000", NULL), 3);
    ck_assert(log_has(&h, "holds another run; this one ("));
    ck_assert(log_has(&h, "/run/agentd_2 (progress.csv, TensorBoard events, summary.json)"));
    ck_assert(text_has(path(&h, "run/progress.csv"), before));
    free(before);
    int n3 = csv_steps(path(&h, "run/agentd_2/progress.csv"), first, 64);
    assert_rising(first, n3, "agentd_2/progress.csv");
    ck_assert_int_eq(first[n3 - 1], 1000);
    ck_assert(text_has(path(&h, "run/agentd_2/summary.json"), "/run/agentd_2\","));
#undef LOG_OPTS
    stop(&h);
}
END_TEST

START_TEST(test_damaged_checkpoints_are_refused_with_a_clear_error)
{
    harness_t h;
    start(&h, 1);
    short_run(&h);
    size_t len;
    char *ok = spawn_slurp(path(&h, "ok.ckpt"), &len);
    ck_assert_ptr_nonnull(ok);

    ok[len / 2] ^= 0x10; /* one bit in the middle */
    write_file(path(&h, "flipped.ckpt"), ok, len);
    ok[len / 2] ^= 0x10;
    ck_assert_int_eq(agentd(&h, "--load", path(&h, "flipped.ckpt"), "--total-steps", "2000", NULL),
                     1);
    ck_assert(log_has(&h, "flipped.ckpt"));
    ck_assert(log_has(&h, "CRC") || log_has(&h, "crc") || log_has(&h, "checksum"));

    write_file(path(&h, "short.ckpt"), ok, len - 100);
    ck_assert_int_eq(agentd(&h, "--load", path(&h, "short.ckpt"), "--total-steps", "2000", NULL), 1);
    ck_assert(log_has(&h, "short.ckpt"));

    ck_assert_int_eq(agentd(&h, "--load", path(&h, "missing.ckpt"), NULL), 1);
    ck_assert(log_has(&h, "missing.ckpt"));

    /* Nothing was loaded, nothing was saved over the good file. */
    size_t len2;
    char *again = spawn_slurp(path(&h, "ok.ckpt"), &len2);
    ck_assert(again && len2 == len && memcmp(again, ok, len) == 0);
    free(again);
    free(ok);
    stop(&h);
}
END_TEST

START_TEST(test_shape_mismatch_names_both_shapes)
{
    harness_t h;
    start(&h, 1);
    short_run(&h);
    ck_assert_int_eq(agentd(&h, "--load", path(&h, "ok.ckpt"), "--hidden", "32", "--total-steps",
                            "2000", NULL),
                     1);
    ck_assert(log_has(&h, "holds a 4-64-64-2 network; --hidden asks for 4-32-2"));
    /* --eval-only takes the checkpoint's own shape. */
    ck_assert_int_eq(agentd(&h, "--load", path(&h, "ok.ckpt"), "--hidden", "32", "--eval-only",
                            NULL),
                     0);
    ck_assert(log_has(&h, "agentd: CartPole-v1 eval mean "));
    stop(&h);
}
END_TEST

START_TEST(test_sigterm_saves_a_checkpoint_that_loads)
{
    harness_t h;
    start(&h, 1);
    char *argv[] = {spawn_bin("agentd"), "--env", h.s.ep[0], COMMON, "--seed", "4",
                    "--target-return", "1e9", "--total-steps", "100000000",
                    "--logdir", (char *)path(&h, "run"), "--save", (char *)path(&h, "sig.ckpt"),
                    NULL};
    pid_t pid = spawn_exec(argv, h.log);
    ck_assert_int_gt(pid, 0);
    /* Wait until it is training (a progress.csv row), then stop it. */
    double until = spawn_now() + 30.0;
    size_t len = 0;
    char *csv = NULL;
    while (spawn_now() < until) {
        free(csv);
        csv = spawn_slurp(path(&h, "run/progress.csv"), &len);
        if (csv && strchr(csv, '\n') && strchr(strchr(csv, '\n') + 1, '\n'))
            break;
        usleep(10000);
    }
    free(csv);
    kill(pid, SIGTERM);
    int status = spawn_wait(pid, 30.0);
    ck_assert(status != -1 && WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 143);
    char *sum = spawn_slurp(path(&h, "run/summary.json"), NULL);
    ck_assert_msg(sum && strstr(sum, "\"exit_status\": 143,") &&
                      strstr(sum, "\"saved\": true, \"saved_at_env_steps\": ") &&
                      strstr(sum, "\"failed_saves\": 0, \"error\": null}"),
                  "summary.json: %s", sum ? sum : "(none)");
    free(sum);
    ck_assert_int_eq(agentd(&h, "--load", path(&h, "sig.ckpt"), "--eval-only", NULL), 0);
    stop(&h);
}
END_TEST

/* path(h, name)'s contents hold needle */
static int file_has(const harness_t *h, const char *name, const char *needle)
{
    return text_has(path(h, name), needle);
}

/* The run's one durable product is its final checkpoint: when that save
 * fails, periodic failures having only warned, the run exits 4 instead of
 * 3 and says why on stderr, on stdout and in summary.json. Root can write
 * anywhere, so the failures come from a path under a regular file (ENOTDIR
 * at create) and from RLIMIT_FSIZE below the checkpoint's size (EFBIG at
 * write, as a full disk fails a write; SIGXFSZ ignored so that write
 * returns the error instead of killing agentd). */
START_TEST(test_a_final_save_that_fails_exits_4_and_says_why)
{
    harness_t h;
    start(&h, 1);
    FILE *f = fopen(path(&h, "file"), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    int st = agentd(&h, "--seed", "1", "--target-return", "1e9", "--total-steps", "1500",
                    "--learning-starts", "500", "--save-every", "500", "--logdir", path(&h, "run"),
                    "--save", path(&h, "file/x.ckpt"), NULL);
    ck_assert_msg(st == 4, "agentd exit %d, want 4 (see %s)", st, h.log);
    /* 4 env steps a round (8 sessions, 2 groups): 500 is hit exactly. */
    ck_assert(log_has(&h, "checkpoint at 500 env steps not saved (training goes on)"));
    ck_assert(log_has(&h, "final checkpoint not saved: create "));
    ck_assert(log_has(&h, "Not a directory; this run wrote no checkpoint to "));
    ck_assert(log_has(&h, "/file/x.ckpt NOT saved ("));
    ck_assert(file_has(&h, "run/summary.json", "\"exit_status\": 4,"));
    ck_assert(file_has(&h, "run/summary.json", "\"stop_reason\": \"budget\""));
    ck_assert(file_has(&h, "run/summary.json",
                       "\"saved\": false, \"saved_at_env_steps\": null, \"failed_saves\": 4, "
                       "\"error\": \"create "));

    /* A disk that fills: the writes fail, and no temporary file stays. */
    char *sh[64] = {"/bin/sh", "-c", "trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"",
                    spawn_bin("agentd"), "--env", h.s.ep[0], COMMON, "--seed", "1",
                    "--target-return", "1e9", "--total-steps", "1500", "--learning-starts", "500",
                    "--logdir", (char *)path(&h, "full"), "--save", (char *)path(&h, "full.ckpt"),
                    NULL};
    st = spawn_run(sh, h.log, 90.0);
    ck_assert_msg(st == 4, "agentd exit %d under a 32 KiB file size limit, want 4", st);
    ck_assert(log_has(&h, "final checkpoint not saved: write "));
    ck_assert(log_has(&h, "File too large"));
    ck_assert(file_has(&h, "full/summary.json", "\"exit_status\": 4,"));
    ck_assert(file_has(&h, "full/summary.json", "\"saved\": false"));
    ck_assert_int_ne(access(path(&h, "full.ckpt"), F_OK), 0);
    char tmp[400];
    snprintf(tmp, sizeof tmp, "ls %s | grep -q 'full.ckpt.tmp'", h.s.dir);
    ck_assert_msg(system(tmp) != 0, "a temporary checkpoint file was left behind");
    stop(&h);
}
END_TEST

/* Stopped by SIGTERM after periodic saves worked, but the final save fails:
 * 4, not 143 (which promises a saved checkpoint), and the summary says
 * which steps the last good checkpoint holds; that one still loads. */
START_TEST(test_sigterm_whose_final_save_fails_exits_4)
{
    harness_t h;
    start(&h, 1);
    ck_assert_int_eq(mkdir(path(&h, "ck"), 0755), 0);
    char *argv[] = {spawn_bin("agentd"), "--env", h.s.ep[0], COMMON, "--seed", "4",
                    "--target-return", "1e9", "--total-steps", "100000000", "--save-every", "500",
                    "--logdir", (char *)path(&h, "run"), "--save", (char *)path(&h, "ck/x.ckpt"),
                    NULL};
    pid_t pid = spawn_exec(argv, h.log);
    ck_assert_int_gt(pid, 0);
    double until = spawn_now() + 30.0;
    while (access(path(&h, "ck/x.ckpt"), F_OK) != 0 && spawn_now() < until)
        usleep(5000);
    ck_assert_msg(access(path(&h, "ck/x.ckpt"), F_OK) == 0, "no periodic checkpoint within 30 s");
    /* From now on the save path's directory is a regular file. */
    ck_assert_int_eq(rename(path(&h, "ck"), path(&h, "ck.kept")), 0);
    FILE *f = fopen(path(&h, "ck"), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    kill(pid, SIGTERM);
    int status = spawn_wait(pid, 30.0);
    ck_assert(status != -1 && WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 4, "agentd exit %d, want 4 (see %s)", WEXITSTATUS(status),
                  h.log);
    ck_assert(log_has(&h, "final checkpoint not saved: create "));
    ck_assert(log_has(&h, "/ck/x.ckpt still holds the one saved at "));
    ck_assert(file_has(&h, "run/summary.json", "\"stop_reason\": \"SIGTERM\""));
    ck_assert(file_has(&h, "run/summary.json", "\"exit_status\": 4,"));
    ck_assert(file_has(&h, "run/summary.json", "\"saved\": false, \"saved_at_env_steps\": "));
    ck_assert(!file_has(&h, "run/summary.json", "\"saved_at_env_steps\": null"));
    ck_assert_int_eq(agentd(&h, "--load", path(&h, "ck.kept/x.ckpt"), "--eval-only", NULL), 0);
    stop(&h);
}
END_TEST

START_TEST(test_usage_errors_exit_2)
{
    harness_t h;
    start(&h, 0); /* no server: every run stops at its options */
    strcpy(h.s.ep[0], "ipc:///nonexistent");
    ck_assert_int_eq(agentd(&h, "--sessions", "0", NULL), 2);
    ck_assert_int_eq(agentd(&h, "--hidden", "64,x", NULL), 2);
    ck_assert_int_eq(agentd(&h, "--eval-only", NULL), 2);
    ck_assert_int_eq(agentd(&h, "--no-such-flag", NULL), 2);
    ck_assert(log_has(&h, "--eval-only needs --load PATH"));
    stop(&h);
}
END_TEST

/* -------------------------------------------------------------- failover */

START_TEST(test_training_goes_on_when_one_of_two_servers_is_killed)
{
    harness_t h;
    start(&h, 2);
    /* The first evaluation is at 6000 env steps, so the kill (at >= 2000,
     * after learning has started at 1000) comes before any chance of
     * reaching the target. Return 150 is then reached at the first or
     * second evaluation whatever the kill point (measured over kill points
     * 2000-3600: always at 4000 with evaluations every 4000), far inside
     * the 100k budget. A live server that a loaded machine stalls past
     * the timeout is dropped too, and rejoins: the run still ends. */
    char *argv[] = {spawn_bin("agentd"), "--env", h.s.ep[0], "--env", h.s.ep[1], COMMON,
                    "--seed", "3", "--timeout-ms", "1000", "--target-return", "150",
                    "--total-steps", "100000", "--eval-every", "6000",
                    "--logdir", (char *)path(&h, "run"), NULL};
    pid_t pid = spawn_exec(argv, h.log);
    ck_assert_int_gt(pid, 0);
    double until = spawn_now() + 30.0;
    int seen = 0;
    while (!seen && spawn_now() < until) {
        char *csv = spawn_slurp(path(&h, "run/progress.csv"), NULL);
        seen = csv && (strstr(csv, "\n2000,") || strstr(csv, "\n3008,"));
        free(csv);
        usleep(5000);
    }
    ck_assert_msg(seen, "agentd did not reach 2000 env steps");
    spawn_kill(&h.s.pid[1], SIGKILL);
    int status = spawn_wait(pid, 90.0);
    ck_assert(status != -1 && WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "agentd exit %d (see %s)", WEXITSTATUS(status), h.log);
    ck_assert(log_has(&h, "dropped ipc://"));
    ck_assert(log_has(&h, "training goes on with 1 of 2 endpoints"));
    char *sum = spawn_slurp(path(&h, "run/summary.json"), NULL);
    ck_assert(sum && strstr(sum, "\"solved\": true"));
    free(sum);
    stop(&h);
}
END_TEST

/* Waits (at most max_s) until agentd's log holds needle. */
static int log_wait(const harness_t *h, const char *needle, double max_s)
{
    double until = spawn_now() + max_s;
    while (!log_has(h, needle) && spawn_now() < until)
        usleep(10000);
    return log_has(h, needle);
}

/* In either rollout mode, a server killed mid-run is dropped, training
 * goes on with the other, and once a server answers again at its
 * endpoint it rejoins with sessions made anew and serves steps. */
static void dead_server_rejoins(const char *mode)
{
    harness_t h;
    start(&h, 2);
    char *argv[] = {spawn_bin("agentd"), "--env", h.s.ep[0], "--env", h.s.ep[1], COMMON,
                    "--rollout", (char *)mode, "--seed", "3", "--timeout-ms", "1000",
                    "--retry-min-ms", "50", "--retry-max-ms", "200", "--target-return", "1e9",
                    "--total-steps", "100000000", "--eval-every", "0", "--log-level", "debug",
                    NULL};
    pid_t pid = spawn_exec(argv, h.log);
    ck_assert_int_gt(pid, 0);
    ck_assert(log_wait(&h, "envd1.sock: 8 sessions of CartPole-v1", 20.0));
    usleep(300 * 1000); /* some rounds on both */
    spawn_kill(&h.s.pid[1], SIGKILL);
    ck_assert(log_wait(&h, "training goes on with 1 of 2 endpoints", 20.0));
    h.s.pid[1] = spawn_envd(h.s.ep[1], NULL);
    ck_assert_int_gt(h.s.pid[1], 0);
    ck_assert_msg(log_wait(&h, "envd1.sock answers again: 8 sessions made, rejoined (2 of 2 "
                               "endpoints live)", 20.0),
                  "no rejoin (see %s)", h.log);
    usleep(300 * 1000);
    kill(pid, SIGTERM);
    int status = spawn_wait(pid, 30.0);
    ck_assert(status != -1 && WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 143, "agentd exit %d (see %s)", WEXITSTATUS(status),
                  h.log);
    stop(&h);
}

START_TEST(test_a_dead_server_is_dropped_and_rejoins_in_sync_mode)
{
    dead_server_rejoins("sync");
}
END_TEST

START_TEST(test_a_dead_server_is_dropped_and_rejoins_in_async_mode)
{
    dead_server_rejoins("async");
}
END_TEST

/* Started before any server: agentd says what it waits for every few
 * seconds, naming the endpoint once per line, then gives up (status 1). */
START_TEST(test_no_server_says_what_it_waits_for_then_gives_up)
{
    harness_t h;
    start(&h, 0);
    const char *ep = path(&h, "nobody.sock");
    char endpoint[400];
    snprintf(endpoint, sizeof endpoint, "ipc://%s", ep);
    char *argv[] = {spawn_bin("agentd"), "--env", endpoint, "--timeout-ms", "300",
                    "--give-up", "6", "--progress", "0", NULL};
    ck_assert_int_eq(spawn_run(argv, h.log, 30.0), 1);
    char *log = spawn_slurp(h.log, NULL);
    ck_assert_ptr_nonnull(log);
    int waits = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        char *first = strstr(line, endpoint);
        if (first)
            ck_assert_msg(!strstr(first + 1, endpoint), "endpoint named twice: %s", line);
        waits += strstr(line, "waiting for envd at ") != NULL && strstr(line, "giving up in ");
    }
    ck_assert_int_ge(waits, 1);
    free(log);
    ck_assert(log_has(&h, "no envd answered within 6 s"));
    stop(&h);
}
END_TEST

Suite *agentd_suite(void)
{
    Suite *s = suite_create("agentd");
    TCase *tc = tcase_create("processes");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_fixed_seed_reaches_a_modest_return_within_a_small_budget);
    tcase_add_test(tc, test_budget_spent_without_the_target_exits_3_and_stale_temporaries_go);
    tcase_add_test(tc, test_eval_from_holds_periodic_evaluations_back);
    tcase_add_test(tc, test_same_seed_gives_identical_checkpoint_bytes);
    tcase_add_test(tc, test_resumed_run_equals_an_uninterrupted_one);
    tcase_add_test(tc, test_damaged_checkpoints_are_refused_with_a_clear_error);
    tcase_add_test(tc, test_shape_mismatch_names_both_shapes);
    tcase_add_test(tc, test_sigterm_saves_a_checkpoint_that_loads);
    tcase_add_test(tc, test_logdir_holds_one_run_and_a_resume_continues_it);
    tcase_add_test(tc, test_a_final_save_that_fails_exits_4_and_says_why);
    tcase_add_test(tc, test_sigterm_whose_final_save_fails_exits_4);
    tcase_add_test(tc, test_usage_errors_exit_2);
    tcase_add_test(tc, test_training_goes_on_when_one_of_two_servers_is_killed);
    tcase_add_test(tc, test_a_dead_server_is_dropped_and_rejoins_in_sync_mode);
    tcase_add_test(tc, test_no_server_says_what_it_waits_for_then_gives_up);
    tcase_add_test(tc, test_a_dead_server_is_dropped_and_rejoins_in_async_mode);
    suite_add_tcase(s, tc);
    return s;
}
