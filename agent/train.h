/*
 * train.h — agentd's run: act on envd sessions, learn with DQN, evaluate,
 * checkpoint, report.
 *
 * train_run() is the whole program after option parsing: it connects the
 * fleet, builds or loads the learner, and loops one round at a time —
 *     predict Q for the sessions of the groups to act on (one qnet_predict),
 *     pick epsilon-greedy actions, send one step_batch per group and server,
 *     run the gradient steps that are due while the servers step,
 *     collect replies into the replay buffer —
 * with --rollout sync acting on group p of every server and collecting
 * group p+1 (so --groups - 1 groups are always in flight; one group is
 * plain lock-step), with --rollout async acting on every group that has
 * replied and collecting whichever replies have come. Evaluations start
 * every eval_every env steps on a snapshot of the net and ride in the
 * rounds' requests (a greedy evaluation never pauses training); the last
 * one, at the end, is played on its own. Saving every
 * save_every env steps (and at exit, signals included), writing progress
 * rows and a progress line, until the evaluation mean reaches
 * target_return, the step budget is spent, a signal arrives, or no server
 * is left. It then prints a summary and writes summary.json.
 *
 * Training is a pure function of the configuration, the seed and the
 * checkpoint it starts from: every schedule (epsilon, training, target
 * updates, evaluation, saving) counts env steps or gradient steps, never
 * time, and in sync mode the fleet reads replies in a fixed order. So one
 * seed against the same servers gives the same checkpoint bytes every
 * time, whatever the latency (with --logdir, but for the random run id
 * that ties a checkpoint to its log folder), and a resumed run equals an
 * uninterrupted one. Async mode trades that for never waiting on a slow
 * server.
 *
 * train.c is the loop itself (setup, tick, teardown); what a checkpoint
 * holds is run_ckpt.c, what the user sees report.c, and --env-dns
 * discovery.c.
 */
#ifndef TRAIN_H
#define TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "curve.h"
#include "discovery.h"
#include "dqn.h"
#include "qnet.h"

/* Exit statuses (documented in agentd --help). */
enum {
    TRAIN_EXIT_SOLVED = 0,     /* target reached (or --eval-only / --no-train done) */
    TRAIN_EXIT_ERROR = 1,      /* runtime error */
    TRAIN_EXIT_USAGE = 2,      /* bad options (main.c) */
    TRAIN_EXIT_BUDGET = 3,     /* --total-steps spent without reaching the target */
    TRAIN_EXIT_UNSAVED = 4,    /* the run ended (as 0, 3, 130 or 143 would say) but its
                                  final --save failed: the checkpoint is not on disk */
    TRAIN_EXIT_SIGINT = 130,   /* stopped by SIGINT, checkpoint saved */
    TRAIN_EXIT_SIGTERM = 143,  /* stopped by SIGTERM, checkpoint saved */
};

#define TRAIN_MAX_ENDPOINTS 64
_Static_assert(TRAIN_MAX_ENDPOINTS == DISCOVERY_MAX, "--env-dns keeps up to every place");

typedef struct train_config {
    /* servers */
    const char *endpoints[TRAIN_MAX_ENDPOINTS];
    size_t nendpoints;
    const char *env_dns;       /* --env-dns HOST:PORT; main.c adds its addresses to endpoints */
    discovery_t *dns;          /* main.c's follower of env_dns, first lookup done; NULL: none */
    size_t nfixed;             /* with env_dns: endpoints[0..nfixed) came from --env */
    int64_t env_dns_max;       /* places for env_dns replicas (endpoints[nfixed..] and vacant) */
    double env_dns_every;      /* seconds between lookups of env_dns */
    const char *curve_server_key; /* --curve-server-key FILE: envd's public key ... */
    const char *curve_key;        /* ... --curve-key FILE: our secret key; both or neither */
    const curve_client_keys_t *curve; /* main.c loads the two files; NULL: plaintext */
    int64_t sessions;          /* per endpoint */
    int64_t groups;            /* step_batch groups per endpoint, each with one in flight */
    const char *rollout;       /* "sync" or "async" */
    bool async;                /* rollout is "async" (main.c) */
    const char *env_id;
    int64_t timeout_ms;
    int64_t attempts;          /* sends per request within timeout_ms */
    int64_t retry_min_ms, retry_max_ms;
    double give_up_s;          /* no live server for this long: stop with an error */

    /* network and learning rule */
    int hidden[QNET_MAX_HIDDEN];
    int nhidden;
    dqn_config_t dqn;

    /* schedules, in env steps unless said otherwise */
    int64_t total_steps;
    int64_t buffer_size;       /* replay capacity, transitions */
    int64_t learning_starts;   /* transitions in the buffer before training starts */
    int64_t train_freq;        /* train every train_freq env steps ... */
    int64_t gradient_steps;    /* ... this many gradient steps */
    double eps_start, eps_end;
    int64_t eps_decay_steps;

    /* evaluation */
    int64_t eval_every;        /* 0: only at the end */
    int64_t eval_from;         /* no periodic evaluation before this many env steps */
    int64_t eval_episodes;
    uint64_t eval_seed;        /* episode i is reset with eval_seed + i */
    double target_return;

    /* run */
    uint64_t seed;
    const char *save_path;     /* NULL: no checkpoints */
    int64_t save_every;        /* 0: only at exit */
    bool save_replay;
    const char *load_path;     /* NULL: a fresh start */
    bool eval_only;
    bool no_train;             /* act only: throughput measurement */
    const char *logdir;        /* NULL: no progress.csv / TensorBoard / summary.json */
    int64_t log_every;         /* a progress.csv row every this many env steps */
    double progress_s;         /* progress line period on stderr; 0: none */

    /* every option as JSON ("name": value, ...) for summary.json */
    const char *options_json;
} train_config_t;

/* Runs agentd. stop is set by the signal handlers (SIGINT or SIGTERM's
 * number); it is only read. Returns one of the TRAIN_EXIT_* statuses. */
int train_run(const train_config_t *cfg, volatile sig_atomic_t *stop);

/* Exploration after env_steps training steps: the linear schedule of
 * --eps-start, --eps-end and --eps-decay-steps. */
static inline double train_epsilon(const train_config_t *c, int64_t env_steps)
{
    return dqn_epsilon(env_steps, c->eps_start, c->eps_end, c->eps_decay_steps);
}

#endif
