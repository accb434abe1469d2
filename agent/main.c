/*
 * main.c — agentd's command line: options, signals, then train_run().
 *
 * Every option is one row of the table below, as in envd's main.c: its
 * flag, its environment twin (for containers), its kind, bounds, default
 * and the field of train_config_t it sets; common/opts.c reads them, the
 * environment first, and flags override it. The same table renders --help
 * and the "hyperparameters" object of summary.json, so neither can forget
 * an option. SIGINT and SIGTERM only set a flag that the training loop
 * reads between ticks; the loop then saves its checkpoint and returns.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curve.h"
#include "discovery.h"
#include "hostport.h"
#include "log.h"
#include "opts.h"
#include "presets.h"
#include "text.h"
#include "train.h"
#include "wire.h"

#define AGENTD_VERSION "0.1.0"

#define F(field) offsetof(train_config_t, field)
#define NOF ((size_t)-1)

/* Defaults were chosen by measurement over seeds 1-10 (`make bench-train`);
 * see the report in docs/agentd.md for the numbers behind them. */
static const opts_row_t options[] = {
    {"Servers", "env", "AGENTD_ENV", OPTS_LIST, 0, 0, "tcp://127.0.0.1:5555", "ENDPOINT",
     "envd endpoint; repeat for several servers (env: comma-separated)", NOF},
    {NULL, "env-dns", "AGENTD_ENV_DNS", OPTS_STR, 0, 0, NULL, "HOST:PORT",
     "one envd per address of HOST (a scaled compose or headless Kubernetes service), "
     "added to --env; HOST is resolved again every --env-dns-every seconds: new "
     "addresses join, vanished ones leave, training goes on",
     F(env_dns)},
    {NULL, "env-dns-max", "AGENTD_ENV_DNS_MAX", OPTS_I64, 1, TRAIN_MAX_ENDPOINTS, "16", "N",
     "places kept for --env-dns replicas (fixed for the run, so --load finds the same "
     "sessions); addresses beyond N are left out with a warning",
     F(env_dns_max)},
    {NULL, "env-dns-every", "AGENTD_ENV_DNS_EVERY", OPTS_F64, 0.1, 86400, "5", "SECONDS",
     "how often --env-dns HOST is resolved again (training pauses for the lookup)",
     F(env_dns_every)},
    {NULL, "sessions", "AGENTD_SESSIONS", OPTS_I64, 1, 8192, "16", "N",
     "training sessions on each endpoint", F(sessions)},
    {NULL, "groups", "AGENTD_GROUPS", OPTS_I64, 1, 64, "2", "G",
     "cut each endpoint's sessions into G groups, each with its own step_batch in flight, "
     "so acting on one group overlaps the servers' work on the others (1: lock-step)",
     F(groups)},
    {NULL, "rollout", "AGENTD_ROLLOUT", OPTS_STR, 0, 0, "sync", "MODE",
     "sync: groups are stepped in a fixed order, so a seed gives the same checkpoint "
     "whatever the network does; async: act on whichever groups have replied, so no "
     "session waits for a slow server",
     F(rollout)},
    {NULL, "env-id", "AGENTD_ENV_ID", OPTS_STR, 0, 0, "CartPole-v1", "ID",
     "environment to learn", F(env_id)},
    {NULL, "timeout-ms", "AGENTD_TIMEOUT_MS", OPTS_I64, 1, 600000, "1000", "MS",
     "a server that does not answer within this is dropped from the rotation", F(timeout_ms)},
    {NULL, "attempts", "AGENTD_ATTEMPTS", OPTS_I64, 1, 100, "3", "N",
     "sends per request within --timeout-ms: the first, then resends after the server's "
     "retransmission timeout (srtt + 4 rttvar of its replies, 10 ms to --timeout-ms/2, "
     "doubling each time; equal slices of --timeout-ms before any reply) without a reply; "
     "envd answers a resend from its reply cache",
     F(attempts)},
    {NULL, "retry-min-ms", "AGENTD_RETRY_MIN_MS", OPTS_I64, 1, 3600000, "100", "MS",
     "first probe of a dropped server after this; the wait doubles per failed probe",
     F(retry_min_ms)},
    {NULL, "retry-max-ms", "AGENTD_RETRY_MAX_MS", OPTS_I64, 1, 3600000, "5000", "MS",
     "longest wait between probes of a dropped server", F(retry_max_ms)},
    {NULL, "curve-server-key", "AGENTD_CURVE_SERVER_KEY", OPTS_STR, 0, 0, NULL, "FILE",
     "connect with CURVE to envd servers holding this public key (their NAME.pub)",
     F(curve_server_key)},
    {NULL, "curve-key", "AGENTD_CURVE_KEY", OPTS_STR, 0, 0, NULL, "FILE",
     "with --curve-server-key: our own secret key (NAME.key from envd --keygen; its .pub "
     "must be in envd's --curve-clients)",
     F(curve_key)},
    {NULL, "give-up", "AGENTD_GIVE_UP", OPTS_F64, 0, 1e9, "60", "SECONDS",
     "with no server answering for this long, save and stop (status 1)", F(give_up_s)},

    {"Network and DQN", "hidden", "AGENTD_HIDDEN", OPTS_TEXT, 1, 4096, "64,64", "W[,W...]",
     "hidden layer widths of the Q-network (ReLU MLP)", NOF},
    {NULL, "lr", "AGENTD_LR", OPTS_F64, 1e-9, 1, "2.3e-3", "RATE", "Adam learning rate",
     F(dqn.lr)},
    {NULL, "gamma", "AGENTD_GAMMA", OPTS_F64, 0, 1, "0.99", "G", "discount factor", F(dqn.gamma)},
    {NULL, "batch-size", "AGENTD_BATCH_SIZE", OPTS_INT, 1, 65536, "64", "N",
     "minibatch size of a gradient step", F(dqn.batch)},
    {NULL, "buffer-size", "AGENTD_BUFFER_SIZE", OPTS_I64, 1, 1e9, "100000", "N",
     "replay buffer capacity, transitions", F(buffer_size)},
    {NULL, "learning-starts", "AGENTD_LEARNING_STARTS", OPTS_I64, 0, 1e12, "1000", "N",
     "transitions collected before the first gradient step", F(learning_starts)},
    {NULL, "train-freq", "AGENTD_TRAIN_FREQ", OPTS_I64, 1, 1e12, "256", "N",
     "train every N env steps (over all sessions) ...", F(train_freq)},
    {NULL, "gradient-steps", "AGENTD_GRADIENT_STEPS", OPTS_I64, 0, 1e9, "128", "N",
     "... with this many gradient steps", F(gradient_steps)},
    {NULL, "target-update", "AGENTD_TARGET_UPDATE", OPTS_I64, 1, 1e12, "128", "N",
     "update the target network every N gradient steps", F(dqn.target_update)},
    {NULL, "tau", "AGENTD_TAU", OPTS_F64, 1e-9, 1, "1", "TAU",
     "target update: target = tau*online + (1-tau)*target; 1 is a hard copy, "
     "below 1 Polyak averaging",
     F(dqn.tau)},
    {NULL, "double-dqn", "AGENTD_DOUBLE_DQN", OPTS_BOOL, 0, 0, "true", "BOOL",
     "Double DQN targets (--double-dqn=false for the vanilla max)", F(dqn.double_dqn)},
    {NULL, "max-grad-norm", "AGENTD_MAX_GRAD_NORM", OPTS_F64, 0, 1e9, "10", "NORM",
     "clip the global gradient norm to this (0: no clipping)", F(dqn.max_grad_norm)},
    {NULL, "huber-delta", "AGENTD_HUBER_DELTA", OPTS_F64, 1e-9, 1e9, "1", "D",
     "Huber loss threshold (1 is smooth L1)", F(dqn.huber_delta)},
    {NULL, "adam-eps", "AGENTD_ADAM_EPS", OPTS_F64, 0, 1, "1e-8", "EPS", "Adam epsilon",
     F(dqn.adam_eps)},
    {NULL, "eps-start", "AGENTD_EPS_START", OPTS_F64, 0, 1, "1", "E",
     "exploration epsilon at step 0", F(eps_start)},
    {NULL, "eps-end", "AGENTD_EPS_END", OPTS_F64, 0, 1, "0.05", "E",
     "exploration epsilon after the decay", F(eps_end)},
    {NULL, "eps-decay-steps", "AGENTD_EPS_DECAY_STEPS", OPTS_I64, 0, 1e12, "5000", "N",
     "env steps of the linear decay from eps-start to eps-end", F(eps_decay_steps)},

    {"Run", "total-steps", "AGENTD_TOTAL_STEPS", OPTS_I64, 1, 1e13, "500000", "N",
     "env step budget; spent without reaching the target: status 3", F(total_steps)},
    {NULL, "target-return", "AGENTD_TARGET_RETURN", OPTS_F64, -1e12, 1e12, "475", "R",
     "stop (status 0) when an evaluation mean reaches R", F(target_return)},
    {NULL, "eval-every", "AGENTD_EVAL_EVERY", OPTS_I64, 0, 1e13, "2500", "N",
     "evaluate every N env steps (0: only at the end)", F(eval_every)},
    {NULL, "eval-from", "AGENTD_EVAL_FROM", OPTS_I64, 0, 1e13, "0", "N",
     "no periodic evaluation before N env steps (then every --eval-every)", F(eval_from)},
    {NULL, "eval-episodes", "AGENTD_EVAL_EPISODES", OPTS_I64, 1, 8192, "100", "E",
     "episodes per evaluation, played at once on separate sessions", F(eval_episodes)},
    {NULL, "eval-seed", "AGENTD_EVAL_SEED", OPTS_U64, 0, 0, "1000000", "S",
     "evaluation episode i is reset with seed S+i", F(eval_seed)},
    {NULL, "seed", "AGENTD_SEED", OPTS_U64, 0, 0, "1", "S",
     "seeds the network, exploration, replay sampling and session resets", F(seed)},
    {NULL, "save", "AGENTD_SAVE", OPTS_STR, 0, 0, NULL, "PATH",
     "checkpoint file, written every --save-every env steps and at exit", F(save_path)},
    {NULL, "save-every", "AGENTD_SAVE_EVERY", OPTS_I64, 0, 1e13, "0", "N",
     "save every N env steps (0: only at exit)", F(save_every)},
    {NULL, "save-replay", "AGENTD_SAVE_REPLAY", OPTS_BOOL, 0, 0, "false", "BOOL",
     "include the replay buffer in checkpoints (larger; makes a resume exact)",
     F(save_replay)},
    {NULL, "load", "AGENTD_LOAD", OPTS_STR, 0, 0, NULL, "PATH",
     "resume from a checkpoint: nets, optimizer, counters, RNGs, sessions (and replay if "
     "saved)",
     F(load_path)},
    {NULL, "eval-only", "AGENTD_EVAL_ONLY", OPTS_BOOL, 0, 0, "false", "BOOL",
     "with --load: evaluate the checkpoint's network (its own shape) and exit",
     F(eval_only)},
    {NULL, "no-train", "AGENTD_NO_TRAIN", OPTS_BOOL, 0, 0, "false", "BOOL",
     "act only, never train or evaluate: measures acting throughput", F(no_train)},

    {"Output", "logdir", "AGENTD_LOGDIR", OPTS_STR, 0, 0, NULL, "DIR",
     "write progress.csv, TensorBoard events and summary.json here", F(logdir)},
    {NULL, "log-every", "AGENTD_LOG_EVERY", OPTS_I64, 1, 1e13, "1000", "N",
     "a progress.csv row every N env steps (and one per evaluation)", F(log_every)},
    {NULL, "progress", "AGENTD_PROGRESS", OPTS_F64, 0, 1e6, "1", "SECONDS",
     "progress line period on stderr (0: none)", F(progress_s)},
    {NULL, "log-level", "AGENTD_LOG_LEVEL", OPTS_LEVEL, 0, 0, "info", "LEVEL",
     "error, warn, info or debug", NOF},
};

enum { O_COUNT = sizeof options / sizeof options[0] };

/* The table as this run parses it: options with the --env-id's preset
 * applied to the defaults (presets.c). */
static opts_row_t rows[O_COUNT];

static int row_index(const char *name)
{
    for (int i = 0; i < O_COUNT; i++)
        if (strcmp(options[i].name, name) == 0)
            return i;
    return -1;
}

/* Copies the table into rows with env_id's defaults; NULL for an unknown
 * environment, which has no --target-return default. */
static const preset_t *apply_preset(const char *env_id)
{
    memcpy(rows, options, sizeof rows);
    const preset_t *p = preset_find(env_id);
    int tr = row_index("target-return");
    rows[tr].def = p ? p->target_return : NULL;
    for (int i = 0; p && i < PRESET_MAX_DEFAULTS && p->defaults[i].name; i++) {
        int k = row_index(p->defaults[i].name);
        if (k >= 0)
            rows[k].def = p->defaults[i].value;
    }
    return p;
}

static void usage(const opts_t *o, FILE *f)
{
    fprintf(f,
            "usage: agentd [OPTION]...\n"
            "DQN learner for envd (protocol v1): trains on many sessions over many servers\n"
            "until the greedy evaluation mean reaches --target-return.\n"
            "Environments (discrete actions): %s.\n"
            "Defaults are --env-id's: --env-id ID --help shows another's (docs/agentd.md).\n",
            preset_discrete_ids());
    opts_usage(o, f);
    fprintf(f,
            "\n  %-28s %s\n  %-28s %s\n"
            "\nBooleans take 1/0, true/false, yes/no or on/off.\n"
            "\nExit status:\n"
            "  0    solved: an evaluation mean reached --target-return (also: --eval-only and\n"
            "       --no-train runs that completed)\n"
            "  1    runtime error (no server answered within --give-up, a bad checkpoint, ...)\n"
            "  2    usage error\n"
            "  3    --total-steps spent without reaching --target-return\n"
            "  4    the run ended (as 0, 3, 130 or 143) but its final --save failed: no\n"
            "       checkpoint of its end is on disk (stderr and summary.json say why)\n"
            "  130  stopped by SIGINT, 143 by SIGTERM (the checkpoint was saved first)\n",
            "--help", "show this help", "--version", "print the version");
}

typedef struct settings {
    train_config_t cfg;
    int log_level;
    char *json;          /* options as JSON, for summary.json */
} settings_t;

/* --hidden W[,W...]: the widths of the hidden layers, each within the row's bounds. */
static int set_hidden(train_config_t *c, const opts_row_t *o, const char *val, const char *origin)
{
    int n = 0;
    for (const char *p = val; *p;) {
        char *end;
        errno = 0;
        long w = strtol(p, &end, 10);
        if (errno || end == p || w < o->min || w > o->max || n == QNET_MAX_HIDDEN ||
            (*end && *end != ',')) {
            fprintf(stderr,
                    "agentd: %s: '%s' is not 1 to %d widths between %g and %g, "
                    "comma-separated\n",
                    origin, val, QNET_MAX_HIDDEN, o->min, o->max);
            return -1;
        }
        c->hidden[n++] = (int)w;
        p = *end ? end + 1 : end;
    }
    if (n == 0) {
        fprintf(stderr, "agentd: %s: no widths\n", origin);
        return -1;
    }
    c->nhidden = n;
    return 0;
}

/* opts_set_fn: stores a checked value in its field of train_config_t. */
static int set(void *ctx, int which, const opts_value_t *v, const char *origin)
{
    settings_t *st = ctx;
    const opts_row_t *o = &options[which];
    char *cfg = (char *)&st->cfg;
    errbuf_t e;
    switch (o->kind) {
    case OPTS_INT: *(int *)(cfg + o->off) = (int)v->num; break;
    case OPTS_I64: *(int64_t *)(cfg + o->off) = (int64_t)v->num; break;
    case OPTS_F64: *(double *)(cfg + o->off) = v->num; break;
    case OPTS_U64: *(uint64_t *)(cfg + o->off) = v->u64; break;
    case OPTS_BOOL:
    case OPTS_FLAG: *(bool *)(cfg + o->off) = v->on; break;
    case OPTS_STR: *(const char **)(cfg + o->off) = v->str; break;
    case OPTS_LIST:
        if (!v) {
            st->cfg.nendpoints = 0; /* flags replace the environment's list */
        } else if (st->cfg.nendpoints >= TRAIN_MAX_ENDPOINTS) {
            fprintf(stderr, "agentd: at most %d --env endpoints\n", TRAIN_MAX_ENDPOINTS);
            return -1;
        } else if (hostport_endpoint_check(v->str, 0, &e) < 0) {
            fprintf(stderr, "agentd: %s: %s\nTry 'agentd --help'.\n", origin, e.msg);
            return -1;
        } else {
            st->cfg.endpoints[st->cfg.nendpoints++] = v->str;
        }
        break;
    case OPTS_TEXT: return set_hidden(&st->cfg, o, v->str, origin); /* --hidden, the only one */
    case OPTS_LEVEL: st->log_level = v->level; break;
    }
    return 0;
}

/* Checks between options. */
static int check(const train_config_t *c, const preset_t *p)
{
    const char *why = NULL;
    if (p && !p->discrete) {
        fprintf(stderr,
                "agentd: %s has a continuous (Box) action space, and DQN needs discrete "
                "actions: agentd learns %s.\n",
                c->env_id, preset_discrete_ids());
        return -1;
    }
    if (isnan(c->target_return)) {
        fprintf(stderr,
                "agentd: %s has no known reward threshold: give --target-return R (agentd "
                "knows %s).\nTry 'agentd --help'.\n",
                c->env_id, preset_discrete_ids());
        return -1;
    }
    if (strcmp(c->rollout, "sync") != 0 && strcmp(c->rollout, "async") != 0)
        why = "--rollout is sync or async";
    else if (c->groups > c->sessions && !c->eval_only)
        why = "--groups is above --sessions: every group needs a session";
    else if (c->eval_only && !c->load_path)
        why = "--eval-only needs --load PATH";
    else if (c->eval_only && c->no_train)
        why = "--eval-only and --no-train exclude each other";
    else if (c->retry_min_ms > c->retry_max_ms)
        why = "--retry-min-ms is above --retry-max-ms";
    else if (c->dqn.batch > c->buffer_size)
        why = "--batch-size is larger than --buffer-size";
    else if (c->learning_starts > c->buffer_size)
        why = "--learning-starts is larger than --buffer-size: training would never start";
    else if (c->eps_end > c->eps_start)
        why = "--eps-end is above --eps-start";
    else if (!c->curve_server_key != !c->curve_key)
        why = "--curve-server-key and --curve-key go together";
    else if (c->env_dns && c->nendpoints + (size_t)c->env_dns_max > TRAIN_MAX_ENDPOINTS)
        why = "--env endpoints and --env-dns-max exceed 64 endpoints";
    if (why)
        fprintf(stderr, "agentd: %s\nTry 'agentd --help'.\n", why);
    return why ? -1 : 0;
}

/* The options' final values as the members of a JSON object. */
static char *options_json(const settings_t *st)
{
    text_t t = {0};
    const char *cfg = (const char *)&st->cfg;
    for (int i = 0; i < O_COUNT; i++) {
        const opts_row_t *o = &options[i];
        text_printf(&t, "%s\"%s\": ", i ? ", " : "", o->name);
        switch (o->kind) {
        case OPTS_I64: text_printf(&t, "%" PRId64, *(const int64_t *)(cfg + o->off)); break;
        case OPTS_INT: text_printf(&t, "%d", *(const int *)(cfg + o->off)); break;
        case OPTS_U64: text_printf(&t, "%" PRIu64, *(const uint64_t *)(cfg + o->off)); break;
        case OPTS_F64: text_printf(&t, "%.10g", *(const double *)(cfg + o->off)); break;
        case OPTS_BOOL:
        case OPTS_FLAG: text_printf(&t, "%s", *(const bool *)(cfg + o->off) ? "true" : "false"); break;
        case OPTS_STR: text_json_str(&t, *(const char *const *)(cfg + o->off)); break;
        case OPTS_LIST:
            text_printf(&t, "[");
            for (size_t k = 0; k < st->cfg.nendpoints; k++) {
                text_printf(&t, "%s", k ? ", " : "");
                text_json_str(&t, st->cfg.endpoints[k]);
            }
            text_printf(&t, "]");
            break;
        case OPTS_TEXT:
            text_printf(&t, "[");
            for (int k = 0; k < st->cfg.nhidden; k++)
                text_printf(&t, "%s%d", k ? ", " : "", st->cfg.hidden[k]);
            text_printf(&t, "]");
            break;
        case OPTS_LEVEL: text_printf(&t, "\"%s\"", log_level_name(st->log_level)); break;
        }
    }
    if (t.failed) {
        text_free(&t);
        return NULL;
    }
    return t.data;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* --env-dns: the follower of the name (discovery.c) and its first
 * lookup, which adds the name's addresses to the --env endpoints; train.c
 * keeps places for more and follows later lookups. Options come first, so
 * summary.json's "env" lists what the lookup found. Returns 0 or an exit
 * status. */
static int start_env_dns(train_config_t *c, discovery_t **dns)
{
    errbuf_t e;
    if (discovery_new(c->env_dns, (int)c->env_dns_max, c->env_dns_every, dns, &e) < 0) {
        fprintf(stderr, "agentd: --env-dns: %s\nTry 'agentd --help'.\n", e.msg);
        return TRAIN_EXIT_USAGE;
    }
    c->nfixed = c->nendpoints;
    int rc = discovery_first(*dns, c->endpoints, &c->nendpoints, c->give_up_s, &stop_signal, &e);
    if (rc == 0) {
        c->dns = *dns;
        return 0;
    }
    if (rc == ERR_INVALID_ARGUMENT) {
        fprintf(stderr, "agentd: --env-dns: %s\n", e.msg);
        return TRAIN_EXIT_USAGE;
    }
    if (rc == ERR_TIMEOUT) /* logged */
        return TRAIN_EXIT_ERROR;
    return stop_signal == SIGINT ? TRAIN_EXIT_SIGINT : TRAIN_EXIT_SIGTERM;
}

int main(int argc, char **argv)
{
    settings_t st;
    memset(&st, 0, sizeof st);
    char version[64];
    snprintf(version, sizeof version, "agentd %s (protocol %d.%d)", AGENTD_VERSION, WIRE_MAJOR,
             WIRE_MINOR);
    const char *env_id = preset_env_id(argc, argv, options[row_index("env-id")].def);
    const preset_t *preset = apply_preset(env_id);
    st.cfg.target_return = NAN; /* an unknown environment has no default */
    opts_t o = {.prog = "agentd", .version = version, .rows = rows, .nrows = O_COUNT,
                .set = set, .ctx = &st, .usage = usage, .width = 28, .unset = "none"};
    int rc = opts_parse(&o, argc, argv);
    if (rc == 0 && st.cfg.nendpoints == 0 && !st.cfg.env_dns)
        st.cfg.endpoints[st.cfg.nendpoints++] = options[0].def;
    if (rc == 0)
        rc = check(&st.cfg, preset);
    st.cfg.async = rc == 0 && strcmp(st.cfg.rollout, "async") == 0;
    if (rc != 0) {
        opts_deinit(&o);
        return rc > 0 ? 0 : TRAIN_EXIT_USAGE;
    }
    log_init("agentd", st.log_level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    discovery_t *dns = NULL;
    if (st.cfg.env_dns && (rc = start_env_dns(&st.cfg, &dns)) != 0) {
        discovery_destroy(&dns);
        opts_deinit(&o);
        return rc;
    }
    static curve_client_keys_t curve;
    if (st.cfg.curve_server_key) {
        errbuf_t e;
        if (curve_client_load(st.cfg.curve_server_key, st.cfg.curve_key, &curve, &e) < 0) {
            fprintf(stderr, "agentd: CURVE keys: %s\n", e.msg);
            discovery_destroy(&dns);
            opts_deinit(&o);
            return TRAIN_EXIT_USAGE;
        }
        st.cfg.curve = &curve;
        log_info("CURVE: connecting as %s", curve.public_key);
    }
    st.json = options_json(&st);
    st.cfg.options_json = st.json;

    int status = train_run(&st.cfg, &stop_signal);
    discovery_destroy(&dns);
    free(st.json);
    opts_deinit(&o);
    return status;
}
