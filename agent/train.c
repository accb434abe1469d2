/*
 * train.c — agentd's run loop (see train.h): fleet + DQN + replay +
 * evaluator + checkpoint + runlog, and what the user sees.
 *
 * Sections: the run's state; checkpoints; evaluation; reporting (progress
 * line, progress.csv rows, summary); setup; the loop. Everything the loop
 * touches is allocated in setup, so a tick allocates nothing.
 */
#include "train.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "checkpoint.h"
#include "clock.h"
#include "discovery.h"
#include "evaluator.h"
#include "fsutil.h"
#include "fleet.h"
#include "hostport.h"
#include "log.h"
#include "replay.h"
#include "rng.h"
#include "runlog.h"
#include "text.h"

#define RET_WINDOW 100 /* training returns averaged, as SB3's ep_info_buffer */

/* ------------------------------------------------------------ the state */

/* What survives a checkpoint, besides nets, replay and sessions. Only
 * int64 fields: no padding, so the saved bytes are the same every run. */
typedef struct counters {
    int64_t env_steps;    /* training transitions collected */
    int64_t episodes;     /* training episodes finished */
    int64_t train_acc;    /* env steps towards the next train_freq */
    int64_t pending;      /* gradient steps due, run during the next tick */
    int64_t returns_n;    /* returns ever pushed into the window */
} counters_t;

typedef struct eval_record {
    bool done;
    double mean, std;
    int64_t at_steps;     /* env steps when it ran */
} eval_record_t;

typedef struct run {
    const train_config_t *cfg;
    volatile sig_atomic_t *stop;
    double t0;            /* wall clock at start */
    void *zctx;
    fleet_t *fleet;
    dqn_t *dqn;
    replay_t *replay;
    evaluator_t *ev;
    runlog_t *log;
    ckpt_t *ck;           /* the checkpoint being resumed, until setup ends */
    qnet_shape_t shape;
    int D, A;
    float *q;             /* (nslots, A) */
    int32_t *act;         /* (nslots) */
    rng_t explore_rng, replay_rng;
    counters_t n;
    double returns[RET_WINDOW];

    /* reporting */
    double loss_sum;      /* since the last progress.csv row */
    int64_t loss_count;
    double last_loss;     /* mean loss of the last tick that trained */
    eval_record_t last_eval, best_eval;
    int64_t evaluations, eval_steps;
    double eval_seconds;
    double solved_at_s;
    int64_t solved_at_steps;
    int64_t start_steps;  /* env steps at start (resume) */
    double row_t, row_steps;      /* time and steps of the last progress.csv row */
    double line_t, line_steps;    /* ... of the last progress line */
    bool tty;
    const char *stop_reason;

    /* --save: how this run's saves went, for the exit status and summary */
    int64_t saved_at_steps;   /* env steps of the last save that worked; -1: none */
    int64_t failed_saves;     /* periodic and final */
    bool final_saved;
    char save_error[256];     /* why the last failed save failed */

    /* --env-dns: the fleet's places are endpoints[0..nfixed) from --env,
     * then env_dns_max places for the replicas, vacant when not in use. */
    const char *places[TRAIN_MAX_ENDPOINTS];
    hostport_t dns;
    double dns_next;      /* time of the next lookup */
    bool dns_failing;     /* the last lookup failed (logged once per streak) */
    bool dns_full;        /* the last lookup had more replicas than places (likewise) */
    discovery_endpoint_t dns_found[TRAIN_MAX_ENDPOINTS];
    discovery_endpoint_t dns_held[TRAIN_MAX_ENDPOINTS]; /* (env_dns_max) "" when vacant */
} run_t;


static void seed_rng(rng_t *r, uint64_t seed, uint32_t purpose)
{
    uint32_t words[3] = {(uint32_t)seed, (uint32_t)(seed >> 32), purpose};
    rng_seed_words(r, words, 3);
}

enum { RNG_INIT = 0x696e6974, RNG_EXPLORE = 0x65787072, RNG_REPLAY = 0x7265706c };

static double mean_return(const run_t *r)
{
    int64_t n = r->n.returns_n < RET_WINDOW ? r->n.returns_n : RET_WINDOW;
    if (n == 0)
        return NAN;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += r->returns[i];
    return s / (double)n;
}

static double epsilon(const run_t *r)
{
    const train_config_t *c = r->cfg;
    return dqn_epsilon(r->n.env_steps, c->eps_start, c->eps_end, c->eps_decay_steps);
}

/* ---------------------------------------------------------- checkpoints */

#define CKPT_FORMAT 1
#define CKPT_MAX_WIDTH 4096 /* a hidden layer's width, as agentd --hidden allows */

/* The "header" section. Fixed-width fields laid out without padding, so
 * a file is the same bytes on every run. */
typedef struct ck_header {
    uint32_t format;      /* CKPT_FORMAT */
    uint32_t has_replay;
    qnet_shape_t shape;   /* the net: a different --hidden is refused by name */
    uint32_t nslots;      /* endpoints x sessions of the saved sessions */
    uint32_t max_steps;   /* per-slot action history length */
    uint32_t reserved;    /* 0; keeps the next field 8-aligned without padding */
    uint64_t replay_cap;
    uint64_t seed;
    char env_id[32];
} ck_header_t;

_Static_assert(sizeof(ck_header_t) == 4 + 4 + sizeof(qnet_shape_t) + 4 + 4 + 4 + 8 + 8 + 32,
               "ck_header_t must have no padding");

typedef struct ck_replay_meta {
    uint64_t added, cap, size;
} ck_replay_meta_t;

static void shape_text(const qnet_shape_t *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%d", s->in);
    for (int l = 0; l < s->nhidden && n > 0 && (size_t)n < len; l++)
        n += snprintf(buf + n, len - (size_t)n, "-%d", s->hidden[l]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "-%d", s->out);
}

static int save_checkpoint(run_t *r, errbuf_t *e)
{
    const train_config_t *c = r->cfg;
    qnet_t *on = dqn_online(r->dqn), *tg = dqn_target(r->dqn);
    uint64_t pbytes = qnet_nparams(on) * sizeof(float);
    ck_header_t h;
    memset(&h, 0, sizeof h);
    h.format = CKPT_FORMAT;
    h.has_replay = c->save_replay;
    h.shape = r->shape;
    h.nslots = (uint32_t)fleet_nslots(r->fleet);
    h.max_steps = fleet_slot_actions(r->fleet) ? fleet_max_episode_steps(r->fleet) : 0;
    h.replay_cap = replay_capacity(r->replay);
    h.seed = c->seed;
    snprintf(h.env_id, sizeof h.env_id, "%s", c->env_id);
    int64_t adam_t = qnet_adam_t(on), updates = dqn_updates(r->dqn);
    rng_t rngs[2] = {r->explore_rng, r->replay_rng};

    ckpt_section_t s[20];
    size_t n = 0;
    s[n++] = (ckpt_section_t){"header", &h, sizeof h};
    s[n++] = (ckpt_section_t){"online", qnet_params(on), pbytes};
    s[n++] = (ckpt_section_t){"target", qnet_params(tg), pbytes};
    s[n++] = (ckpt_section_t){"adam_m", qnet_adam_m(on), pbytes};
    s[n++] = (ckpt_section_t){"adam_v", qnet_adam_v(on), pbytes};
    s[n++] = (ckpt_section_t){"adam_t", &adam_t, sizeof adam_t};
    s[n++] = (ckpt_section_t){"updates", &updates, sizeof updates};
    s[n++] = (ckpt_section_t){"counters", &r->n, sizeof r->n};
    s[n++] = (ckpt_section_t){"rngs", rngs, sizeof rngs};
    s[n++] = (ckpt_section_t){"returns", r->returns, sizeof r->returns};
    s[n++] = (ckpt_section_t){"slots", fleet_slot_states(r->fleet),
                              h.nslots * sizeof(fleet_slot_state_t)};
    if (h.max_steps)
        s[n++] = (ckpt_section_t){"slotacts", fleet_slot_actions(r->fleet),
                                  (uint64_t)h.nslots * h.max_steps};
    ck_replay_meta_t meta = {replay_added(r->replay), replay_capacity(r->replay),
                             replay_size(r->replay)};
    if (c->save_replay) {
        uint64_t rows = meta.size, od = (uint64_t)r->D;
        s[n++] = (ckpt_section_t){"rp_meta", &meta, sizeof meta};
        s[n++] = (ckpt_section_t){"rp_obs", replay_obs(r->replay), rows * od * sizeof(float)};
        s[n++] = (ckpt_section_t){"rp_act", replay_action(r->replay), rows * sizeof(int32_t)};
        s[n++] = (ckpt_section_t){"rp_rew", replay_reward(r->replay), rows * sizeof(float)};
        s[n++] = (ckpt_section_t){"rp_next", replay_next_obs(r->replay), rows * od * sizeof(float)};
        s[n++] = (ckpt_section_t){"rp_term", replay_terminated(r->replay), rows};
        s[n++] = (ckpt_section_t){"rp_trunc", replay_truncated(r->replay), rows};
    }
    assert(n <= sizeof s / sizeof s[0]);
    return ckpt_save(c->save_path, s, n, e);
}

/* Checks the checkpoint's header against the options; path names the file
 * in messages. */
static int check_header(const train_config_t *c, const ckpt_t *ck, const char *path,
                        ck_header_t *h, errbuf_t *e)
{
    int rc;
    if ((rc = ckpt_get_exact(ck, "header", h, sizeof *h, e)) < 0)
        return err_set(e, rc, "%s: %s", path, e->msg);
    if (h->format != CKPT_FORMAT)
        return err_set(e, ERR_CORRUPT, "%s: checkpoint format %u, this agentd reads %u",
                       path, h->format, CKPT_FORMAT);
    h->env_id[sizeof h->env_id - 1] = 0;
    if (strcmp(h->env_id, c->env_id) != 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: a checkpoint of %s, not %s", path,
                       h->env_id, c->env_id);
    if (h->shape.nhidden < 0 || h->shape.nhidden > QNET_MAX_HIDDEN || h->shape.in < 1 ||
        h->shape.out < 1)
        return err_set(e, ERR_CORRUPT, "%s: the header holds no valid network shape", path);
    /* --eval-only builds the net the header describes: its size must come
     * from the file, not from a header field, before anything is allocated
     * (the net's scratch grows with the square of its widest layer). */
    uint64_t nparams = 0, online = 0;
    for (int l = 0; l <= h->shape.nhidden; l++) {
        int32_t nin = l ? h->shape.hidden[l - 1] : h->shape.in;
        int32_t nout = l < h->shape.nhidden ? h->shape.hidden[l] : h->shape.out;
        if (l < h->shape.nhidden && (nout < 1 || nout > CKPT_MAX_WIDTH))
            return err_set(e, ERR_CORRUPT, "%s: hidden layer %d has width %d, not 1..%d", path,
                           l + 1, nout, CKPT_MAX_WIDTH);
        nparams += (uint64_t)nin * (uint64_t)nout + (uint64_t)nout;
    }
    if (!ckpt_get(ck, "online", &online) || online != nparams * sizeof(float))
        return err_set(e, ERR_CORRUPT,
                       "%s: section online has %" PRIu64 " bytes; the header's net needs %" PRIu64,
                       path, online, nparams * sizeof(float));
    bool same = h->shape.nhidden == c->nhidden;
    for (int l = 0; same && l < c->nhidden; l++)
        same = h->shape.hidden[l] == c->hidden[l];
    if (!same && !c->eval_only) {
        char file[128], want[128];
        qnet_shape_t w = h->shape;
        w.nhidden = c->nhidden;
        for (int l = 0; l < c->nhidden; l++)
            w.hidden[l] = c->hidden[l];
        shape_text(&h->shape, file, sizeof file);
        shape_text(&w, want, sizeof want);
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s holds a %s network; --hidden asks for %s (pass the checkpoint's "
                       "--hidden to resume it)",
                       path, file, want);
    }
    return 0;
}

/* Reads the checkpoint's header and checks it against the options; keeps
 * the file open in r->ck for load_state(). */
static int load_header(run_t *r, ck_header_t *h, errbuf_t *e)
{
    int rc = ckpt_load(r->cfg->load_path, &r->ck, e);
    if (rc < 0)
        return rc;
    return check_header(r->cfg, r->ck, r->cfg->load_path, h, e);
}

/* The saved net's inputs and outputs against the environment's. */
static int check_net_io(const ck_header_t *h, const char *path, const char *env_id, int D,
                        int A, errbuf_t *e)
{
    if (h->shape.in != D || h->shape.out != A)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s holds a net for %d observations and %d actions; %s has %d and %d",
                       path, h->shape.in, h->shape.out, env_id, D, A);
    return 0;
}

/* Copies the rest of the checkpoint into the learner, replay and counters. */
static int load_state(run_t *r, const ck_header_t *h, errbuf_t *e)
{
    const train_config_t *c = r->cfg;
    const char *path = c->load_path;
    qnet_t *on = dqn_online(r->dqn), *tg = dqn_target(r->dqn);
    uint64_t pbytes = qnet_nparams(on) * sizeof(float);
    int rc = ckpt_get_exact(r->ck, "online", qnet_params(on), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "counters", &r->n, sizeof r->n, e);
    if (rc == 0 && c->eval_only)
        return 0;
    int64_t adam_t = 0, updates = 0;
    rng_t rngs[2];
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "target", qnet_params(tg), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "adam_m", qnet_adam_m(on), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "adam_v", qnet_adam_v(on), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "adam_t", &adam_t, sizeof adam_t, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "updates", &updates, sizeof updates, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "rngs", rngs, sizeof rngs, e);
    if (rc == 0)
        rc = ckpt_get_exact(r->ck, "returns", r->returns, sizeof r->returns, e);
    if (rc < 0)
        return err_set(e, rc, "%s: %s", path, e->msg);
    if (r->n.env_steps < 0 || r->n.episodes < 0 || r->n.pending < 0 || r->n.train_acc < 0 ||
        r->n.returns_n < 0 || adam_t < 0 || updates < 0)
        return err_set(e, ERR_CORRUPT, "%s: negative counters", path);
    qnet_set_adam_t(on, adam_t);
    dqn_set_updates(r->dqn, updates);
    r->explore_rng = rngs[0];
    r->replay_rng = rngs[1];
    if (!h->has_replay)
        return 0;

    ck_replay_meta_t m;
    if ((rc = ckpt_get_exact(r->ck, "rp_meta", &m, sizeof m, e)) < 0)
        return err_set(e, rc, "%s: %s", path, e->msg);
    if (m.size > m.cap || m.size != (m.added < m.cap ? m.added : m.cap))
        return err_set(e, ERR_CORRUPT, "%s: replay sizes do not add up", path);
    uint64_t od = (uint64_t)r->D, rows = m.size;
    const char *tags[6] = {"rp_obs", "rp_act", "rp_rew", "rp_next", "rp_term", "rp_trunc"};
    uint64_t lens[6] = {rows * od * 4, rows * 4, rows * 4, rows * od * 4, rows, rows};
    const void *src[6];
    for (int i = 0; i < 6; i++) {
        uint64_t len;
        src[i] = ckpt_get(r->ck, tags[i], &len);
        if (!src[i] || len != lens[i])
            return err_set(e, ERR_CORRUPT, "%s: replay section %s is missing or has %" PRIu64
                                           " bytes for %" PRIu64 " rows",
                           path, tags[i], src[i] ? len : 0, rows);
    }
    replay_t *rp = r->replay;
    if (m.cap == replay_capacity(rp)) { /* exact: same rows, same ring position */
        memcpy(replay_obs(rp), src[0], lens[0]);
        memcpy(replay_action(rp), src[1], lens[1]);
        memcpy(replay_reward(rp), src[2], lens[2]);
        memcpy(replay_next_obs(rp), src[3], lens[3]);
        memcpy(replay_terminated(rp), src[4], lens[4]);
        memcpy(replay_truncated(rp), src[5], lens[5]);
        replay_set_added(rp, m.added);
        return 0;
    }
    /* Another --buffer-size: re-add the saved rows oldest first; the
     * newest ones that fit stay. Unaligned section data: copy per field. */
    uint64_t first = m.added > m.cap ? m.added % m.cap : 0;
    for (uint64_t k = 0; k < rows; k++) {
        uint64_t i = (first + k) % (rows ? rows : 1);
        float o[64], nx[64], rew;
        int32_t a;
        uint8_t te, tr;
        if (od > 64)
            return err_set(e, ERR_INVALID_ARGUMENT, "%s: cannot resize a replay of %" PRIu64
                                                    "-float observations", path, od);
        memcpy(o, (const uint8_t *)src[0] + i * od * 4, od * 4);
        memcpy(&a, (const uint8_t *)src[1] + i * 4, 4);
        memcpy(&rew, (const uint8_t *)src[2] + i * 4, 4);
        memcpy(nx, (const uint8_t *)src[3] + i * od * 4, od * 4);
        te = ((const uint8_t *)src[4])[i];
        tr = ((const uint8_t *)src[5])[i];
        replay_add(rp, o, a, rew, nx, te, tr);
    }
    log_info("replay: %" PRIu64 " saved transitions re-added into a buffer of %zu", rows,
             replay_capacity(rp));
    return 0;
}

/* The saved session sections against the header and this run's nslots:
 * 1 with *st and *acts set when they apply, 0 when the sessions start
 * afresh (another number of them), or an error. */
static int check_slots(const ckpt_t *ck, const ck_header_t *h, const char *path, size_t nslots,
                       const void **st, const void **acts, errbuf_t *e)
{
    uint64_t len = 0, alen = 0;
    *st = ckpt_get(ck, "slots", &len);
    *acts = h->max_steps ? ckpt_get(ck, "slotacts", &alen) : NULL;
    if (h->nslots != nslots) {
        log_info("%s saved %u sessions, this run has %zu: sessions start afresh", path,
                 h->nslots, nslots);
        return 0;
    }
    if (!*st || len != nslots * sizeof(fleet_slot_state_t) ||
        (h->max_steps && (!*acts || alen != (uint64_t)nslots * h->max_steps)))
        return err_set(e, ERR_CORRUPT, "%s: session sections do not match the header", path);
    return 1;
}

/* Hands the saved session states to the fleet, if they fit this run. */
static int load_slots(run_t *r, const ck_header_t *h, size_t nslots, errbuf_t *e)
{
    const void *st, *acts;
    int rc = check_slots(r->ck, h, r->cfg->load_path, nslots, &st, &acts, e);
    if (rc <= 0)
        return rc;
    size_t len = nslots * sizeof(fleet_slot_state_t);
    fleet_slot_state_t *copy = malloc(len);
    if (!copy)
        return err_set(e, ERR_NOMEM, "out of memory");
    memcpy(copy, st, len); /* section data is unaligned */
    rc = fleet_set_restore(r->fleet, copy, acts, h->max_steps, e);
    free(copy);
    return rc;
}

int train_check_checkpoint(const train_config_t *c, const ckpt_t *ck, int obs_dim,
                           int n_actions, size_t nslots, errbuf_t *e)
{
    const char *path = c->load_path ? c->load_path : "checkpoint";
    run_t r;
    memset(&r, 0, sizeof r);
    r.cfg = c;
    r.ck = (ckpt_t *)ck; /* load_state only reads it */
    r.D = obs_dim;
    r.A = n_actions;
    ck_header_t h;
    const void *st, *acts;
    int rc = check_header(c, ck, path, &h, e);
    if (rc == 0)
        rc = check_net_io(&h, path, c->env_id, obs_dim, n_actions, e);
    if (rc == 0 && !c->eval_only && (rc = check_slots(ck, &h, path, nslots, &st, &acts, e)) > 0)
        rc = 0;
    if (rc == 0)
        rc = dqn_new(&c->dqn, &h.shape, &r.dqn, e);
    if (rc == 0)
        rc = replay_new(c->eval_only ? 1 : (size_t)c->buffer_size, obs_dim, &r.replay, e);
    if (rc == 0)
        rc = load_state(&r, &h, e);
    replay_destroy(&r.replay);
    dqn_destroy(&r.dqn);
    return rc;
}

/* ----------------------------------------------------------- evaluation */

/* Evaluates the online net on the first live endpoint that manages it. */
static int evaluate(run_t *r, evaluator_result_t *res)
{
    for (size_t k = 0; k < fleet_nendpoints(r->fleet); k++) {
        if (!fleet_is_live(r->fleet, k))
            continue;
        errbuf_t e;
        int rc = evaluator_run(r->ev, fleet_client(r->fleet, k), r->cfg->env_id,
                               dqn_online(r->dqn), r->cfg->eval_seed, res, &e);
        if (rc == 0) {
            r->evaluations++;
            r->eval_steps += res->steps;
            r->eval_seconds += res->seconds;
            return 0;
        }
        fleet_drop(r->fleet, k, e.msg);
    }
    log_warn("evaluation skipped: no server is live");
    return ERR_UNAVAILABLE;
}

/* ------------------------------------------------------------ reporting */

static run_t *progress_owner; /* for the log hook */

static void clear_line(void)
{
    if (progress_owner && progress_owner->tty)
        fputs("\r\033[K", stderr);
}

static void fmt_count(char *buf, size_t len, double v)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
}

static void progress_line(run_t *r, double t)
{
    double dt = t - r->line_t;
    double rate = dt > 0 ? (r->n.env_steps - r->line_steps) / dt : 0.0;
    r->line_t = t;
    r->line_steps = (double)r->n.env_steps;
    char steps[16], sps[16], ev[64] = "-";
    fmt_count(steps, sizeof steps, (double)r->n.env_steps);
    fmt_count(sps, sizeof sps, rate);
    if (r->last_eval.done) {
        char at[16];
        fmt_count(at, sizeof at, (double)r->last_eval.at_steps);
        snprintf(ev, sizeof ev, "%.1f+-%.1f@%s", r->last_eval.mean, r->last_eval.std, at);
    }
    char line[256];
    snprintf(line, sizeof line,
             "steps %s | %s/s | episodes %" PRId64 " | return100 %.1f | eps %.3f | loss %.4g | "
             "eval %s | live %zu/%zu | %.0fs",
             steps, sps, r->n.episodes, mean_return(r), epsilon(r), r->last_loss, ev,
             fleet_live(r->fleet), fleet_occupied(r->fleet), t - r->t0);
    if (r->tty)
        fprintf(stderr, "\r\033[K%s", line);
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static const char *const columns[] = {
    RUNLOG_ENV_STEPS, RUNLOG_TRAIN_RETURN_MEAN100, RUNLOG_EVAL_MEAN, RUNLOG_EVAL_STD,
    "epsilon", "loss", "steps_per_sec", "episodes", "wall_seconds", "gradient_steps",
    "live_endpoints",
};
enum { NCOLUMNS = sizeof columns / sizeof columns[0] };

static void log_row(run_t *r, double t, const evaluator_result_t *ev)
{
    if (!r->log)
        return;
    double dt = t - r->row_t;
    double v[NCOLUMNS] = {
        (double)r->n.env_steps,
        mean_return(r),
        ev ? ev->mean : NAN,
        ev ? ev->std : NAN,
        epsilon(r),
        r->loss_count ? r->loss_sum / (double)r->loss_count : NAN,
        dt > 0 ? (r->n.env_steps - r->row_steps) / dt : NAN,
        (double)r->n.episodes,
        t - r->t0,
        (double)dqn_updates(r->dqn),
        (double)fleet_live(r->fleet),
    };
    r->row_t = t;
    r->row_steps = (double)r->n.env_steps;
    r->loss_sum = 0.0;
    r->loss_count = 0;
    if (runlog_row(r->log, r->n.env_steps, v) < 0)
        log_warn("--logdir: %s", runlog_error(r->log));
}

static void tjson_eval(text_t *t, const eval_record_t *ev, int episodes)
{
    if (!ev->done) {
        text_printf(t, "null");
        return;
    }
    text_printf(t, "{\"mean\": ");
    text_json_num(t, ev->mean);
    text_printf(t, ", \"std\": ");
    text_json_num(t, ev->std);
    text_printf(t, ", \"episodes\": %d, \"at_env_steps\": %" PRId64 "}", episodes, ev->at_steps);
}

/* null without --save; else the path, whether the final save worked and
 * why not, and the env steps of what the path holds from this run (the
 * final save, or the last periodic one that worked; null: nothing). */
static void tjson_checkpoint(text_t *t, const run_t *r)
{
    if (!r->cfg->save_path) {
        text_printf(t, "null");
        return;
    }
    text_printf(t, "{\"path\": ");
    text_json_str(t, r->cfg->save_path);
    text_printf(t, ", \"saved\": %s, \"saved_at_env_steps\": ", r->final_saved ? "true" : "false");
    if (r->saved_at_steps >= 0)
        text_printf(t, "%" PRId64, r->saved_at_steps);
    else
        text_printf(t, "null");
    text_printf(t, ", \"failed_saves\": %" PRId64 ", \"error\": ", r->failed_saves);
    if (r->final_saved)
        text_printf(t, "null");
    else
        text_json_str(t, r->save_error);
    text_printf(t, "}");
}

static void summary(run_t *r, int status)
{
    const train_config_t *c = r->cfg;
    double wall = clock_s() - r->t0;
    bool solved = r->solved_at_steps >= 0;
    if (r->tty && c->progress_s > 0)
        fputc('\n', stderr);
    if (c->eval_only) {
        printf("agentd: %s eval mean %.2f std %.2f over %" PRId64 " episodes (%s)\n", c->env_id,
               r->last_eval.mean, r->last_eval.std, c->eval_episodes, c->load_path);
    } else if (c->no_train) {
        printf("agentd: acted %" PRId64 " env steps in %.2f s: %.0f steps/s on %zu sessions\n",
               r->n.env_steps - r->start_steps, wall,
               (r->n.env_steps - r->start_steps) / (wall > 0 ? wall : 1), fleet_nslots(r->fleet));
    } else {
        if (solved)
            printf("agentd: solved %s in %" PRId64 " env steps and %.2f s (seed %" PRIu64 ")\n",
                   c->env_id, r->solved_at_steps, r->solved_at_s, c->seed);
        else
            printf("agentd: %s not solved (%s) after %" PRId64 " env steps and %.2f s (seed %" PRIu64
                   ")\n",
                   c->env_id, r->stop_reason, r->n.env_steps, wall, c->seed);
        if (r->last_eval.done)
            printf("agentd: final eval mean %.2f std %.2f over %" PRId64
                   " episodes; best %.2f at %" PRId64 " env steps\n",
                   r->last_eval.mean, r->last_eval.std, c->eval_episodes, r->best_eval.mean,
                   r->best_eval.at_steps);
        printf("agentd: %" PRId64 " episodes, %" PRId64 " gradient steps, %" PRId64
               " evaluations (%" PRId64 " eval env steps, %.2f s)\n",
               r->n.episodes, r->dqn ? dqn_updates(r->dqn) : 0, r->evaluations, r->eval_steps,
               r->eval_seconds);
    }
    if (c->save_path && !c->eval_only) { /* --eval-only saves nothing */
        if (r->final_saved)
            printf("agentd: checkpoint %s\n", c->save_path);
        else
            printf("agentd: checkpoint %s NOT saved (%s)\n", c->save_path, r->save_error);
    }
    if (c->logdir)
        printf("agentd: logs in %s (progress.csv, TensorBoard events, summary.json)\n", c->logdir);
    fflush(stdout);
    if (!r->log)
        return;

    text_t t = {0};
    text_printf(&t, "{\n  \"env_id\": ");
    text_json_str(&t, c->env_id);
    text_printf(&t, ",\n  \"solved\": %s,\n  \"stop_reason\": ", solved ? "true" : "false");
    text_json_str(&t, r->stop_reason);
    text_printf(&t, ",\n  \"exit_status\": %d,\n  \"seed\": %" PRIu64 ",\n", status, c->seed);
    text_printf(&t, "  \"target_return\": ");
    text_json_num(&t, c->target_return);
    text_printf(&t, ",\n  \"env_steps\": %" PRId64 ",\n  \"env_steps_to_target\": ", r->n.env_steps);
    if (solved)
        text_printf(&t, "%" PRId64, r->solved_at_steps);
    else
        text_printf(&t, "null");
    text_printf(&t, ",\n  \"wall_seconds\": ");
    text_json_num(&t, wall);
    text_printf(&t, ",\n  \"wall_seconds_to_target\": ");
    text_json_num(&t, solved ? r->solved_at_s : NAN);
    text_printf(&t, ",\n  \"episodes\": %" PRId64 ",\n  \"gradient_steps\": %" PRId64
                ",\n  \"evaluations\": %" PRId64 ",\n  \"eval_env_steps\": %" PRId64
                ",\n  \"eval_seconds\": ",
            r->n.episodes, r->dqn ? dqn_updates(r->dqn) : 0, r->evaluations, r->eval_steps);
    text_json_num(&t, r->eval_seconds);
    text_printf(&t, ",\n  \"train_return_mean100\": ");
    text_json_num(&t, mean_return(r));
    text_printf(&t, ",\n  \"final_eval\": ");
    tjson_eval(&t, &r->last_eval, (int)c->eval_episodes);
    text_printf(&t, ",\n  \"best_eval\": ");
    tjson_eval(&t, &r->best_eval, (int)c->eval_episodes);
    text_printf(&t, ",\n  \"resumed_from\": ");
    text_json_str(&t, c->load_path);
    /* The endpoints at the end: --env ones and the --env-dns replicas that
     * hold a place now (vacant places skipped). Summaries follow a setup
     * that made the fleet. */
    text_printf(&t, ",\n  \"resumed_at_env_steps\": %" PRId64 ",\n  \"checkpoint\": ", r->start_steps);
    tjson_checkpoint(&t, r);
    text_printf(&t, ",\n  \"endpoints\": [");
    size_t listed = 0;
    for (size_t i = 0; i < fleet_nendpoints(r->fleet); i++) {
        const char *ep = fleet_endpoint(r->fleet, i);
        if (!ep)
            continue;
        text_printf(&t, listed++ ? ", " : "");
        text_json_str(&t, ep);
    }
    text_printf(&t, "],\n  \"hyperparameters\": {%s}\n}\n", c->options_json ? c->options_json : "");
    if (t.failed || !t.data)
        log_warn("--logdir: summary.json: out of memory");
    else if (runlog_write_text(r->log, "summary.json", t.data) < 0)
        log_warn("--logdir: summary.json: %s", runlog_error(r->log));
    text_free(&t);
}

/* ---------------------------------------------------------------- setup */

static int setup(run_t *r, errbuf_t *e)
{
    const train_config_t *c = r->cfg;
    ck_header_t h;
    memset(&h, 0, sizeof h);
    int rc = 0;
    if (c->load_path && (rc = load_header(r, &h, e)) < 0)
        return rc;

    /* Counters first: fresh session seeds after a resume mix in its step. */
    int64_t resume_steps = 0;
    if (r->ck) {
        counters_t n;
        if (ckpt_get_exact(r->ck, "counters", &n, sizeof n, e) == 0)
            resume_steps = n.env_steps;
    }
    size_t nplaces = c->nendpoints;
    for (size_t k = 0; k < c->nendpoints; k++)
        r->places[k] = c->endpoints[k];
    if (c->env_dns) {
        if (hostport_parse(c->env_dns, 0, &r->dns, e) < 0)
            return -1;
        nplaces = c->nfixed + (size_t)c->env_dns_max; /* the rest start vacant */
        for (size_t k = c->nendpoints; k < nplaces; k++)
            r->places[k] = NULL;
        r->dns_next = clock_s() + c->env_dns_every;
    }
    fleet_config_t fc = {.endpoints = r->places, .nendpoints = nplaces,
                         .sessions = c->eval_only ? 1 : (int)c->sessions, .env_id = c->env_id,
                         .timeout_ms = (int)c->timeout_ms, .attempts = (int)c->attempts,
                         .backoff_min_ms = (int)c->retry_min_ms,
                         .backoff_max_ms = (int)c->retry_max_ms, .seed = c->seed,
                         .salt = (uint64_t)resume_steps, .curve = c->curve};
    r->zctx = zmq_ctx_new();
    if (!r->zctx)
        return err_set(e, ERR_IO, "zmq_ctx_new failed");
    if ((rc = fleet_new(r->zctx, &fc, &r->fleet, e)) < 0)
        return rc;
    if (r->ck && !c->eval_only &&
        (rc = load_slots(r, &h, fleet_nslots(r->fleet), e)) < 0)
        return rc;
    if ((rc = fleet_start(r->fleet, e)) < 0)
        return rc;
    double since = clock_s();
    while (fleet_live(r->fleet) == 0) { /* the spaces come with the first join */
        if (*r->stop)
            return err_set(e, ERR_UNAVAILABLE, "stopped while waiting for a server");
        if (fleet_usable(r->fleet) == 0 || clock_s() - since > c->give_up_s)
            return err_set(e, ERR_UNAVAILABLE, "no envd answered within %.0f s", c->give_up_s);
        fleet_poll(r->fleet);
        usleep(2000);
    }
    r->D = fleet_obs_dim(r->fleet);
    r->A = fleet_num_actions(r->fleet);
    if (r->ck) {
        if ((rc = check_net_io(&h, c->load_path, c->env_id, r->D, r->A, e)) < 0)
            return rc;
        r->shape = h.shape;
    } else {
        r->shape = (qnet_shape_t){.in = r->D, .out = r->A, .nhidden = c->nhidden};
        for (int l = 0; l < c->nhidden; l++)
            r->shape.hidden[l] = c->hidden[l];
    }
    if ((rc = dqn_new(&c->dqn, &r->shape, &r->dqn, e)) < 0)
        return rc;
    if ((rc = replay_new(c->eval_only ? 1 : (size_t)c->buffer_size, r->D, &r->replay, e)) < 0)
        return rc;
    size_t nslots = fleet_nslots(r->fleet);
    r->q = malloc(nslots * (size_t)r->A * sizeof(float));
    r->act = malloc(nslots * sizeof(int32_t));
    if (!r->q || !r->act)
        return err_set(e, ERR_NOMEM, "out of memory for the actions of %zu sessions", nslots);
    if ((rc = evaluator_new((int)c->eval_episodes, r->D, r->A, &r->ev, e)) < 0)
        return rc;

    seed_rng(&r->explore_rng, c->seed, RNG_EXPLORE);
    seed_rng(&r->replay_rng, c->seed, RNG_REPLAY);
    if (r->ck) {
        if ((rc = load_state(r, &h, e)) < 0)
            return rc;
        log_info("%s %s at %" PRId64 " env steps, %" PRId64 " gradient steps",
                 c->eval_only ? "evaluating" : "resumed", c->load_path, r->n.env_steps,
                 dqn_updates(r->dqn));
        ckpt_destroy(&r->ck);
    } else {
        rng_t init;
        seed_rng(&init, c->seed, RNG_INIT);
        dqn_init(r->dqn, &init);
    }
    r->start_steps = r->n.env_steps;
    if (c->logdir && !c->eval_only &&
        (rc = runlog_open(c->logdir, columns, NCOLUMNS, &r->log, e)) < 0)
        return rc;
    return 0;
}

static void teardown(run_t *r)
{
    runlog_close(&r->log);
    evaluator_destroy(&r->ev);
    free(r->q);
    free(r->act);
    replay_destroy(&r->replay);
    dqn_destroy(&r->dqn);
    fleet_destroy(&r->fleet);
    ckpt_destroy(&r->ck);
    if (r->zctx)
        zmq_ctx_term(r->zctx);
    r->zctx = NULL;
}

/* ----------------------------------------------------------------- loop */

/* --env-dns: every env_dns_every seconds, between ticks, looks the name up
 * again and makes the fleet's places follow it: places whose replica is no
 * longer listed are emptied first, then new replicas fill vacant places.
 * A failed lookup keeps the current set — a resolver that is down for a
 * moment (ERR_UNAVAILABLE), and also a name with no address at all
 * (ERR_NOT_FOUND): a service scaled to zero, or a hosts file caught while
 * being rewritten, must not throw away sessions that may still answer;
 * servers that are really gone are dropped by the fleet's timeout anyway.
 * The lookup blocks the loop: instant from a hosts file, one local round
 * trip to the Docker or cluster DNS; a resolver that does not answer costs
 * its own timeout at most once per period, while no request is in flight. */
static void dns_refresh(run_t *r)
{
    const train_config_t *c = r->cfg;
    double t = clock_s();
    if (!c->env_dns || t < r->dns_next)
        return;
    r->dns_next = t + c->env_dns_every;
    errbuf_t e;
    int n = discovery_resolve(r->dns.host, r->dns.port, r->dns_found, TRAIN_MAX_ENDPOINTS, &e);
    if (n < 0) {
        if (!r->dns_failing)
            log_warn("--env-dns %s: %s; keeping the %zu endpoints in use", c->env_dns, e.msg,
                     fleet_occupied(r->fleet));
        r->dns_failing = true;
        return;
    }
    if (r->dns_failing)
        log_info("--env-dns %s resolves again: %d addresses", c->env_dns, n);
    r->dns_failing = false;
    if (n > TRAIN_MAX_ENDPOINTS)
        n = TRAIN_MAX_ENDPOINTS;
    int np = (int)c->env_dns_max;
    for (int i = 0; i < np; i++) {
        const char *ep = fleet_endpoint(r->fleet, c->nfixed + (size_t)i);
        snprintf(r->dns_held[i], sizeof r->dns_held[i], "%s", ep ? ep : "");
    }
    int empty[TRAIN_MAX_ENDPOINTS], fill_place[TRAIN_MAX_ENDPOINTS], fill_addr[TRAIN_MAX_ENDPOINTS];
    int nempty, nfill;
    int lost = discovery_plan(r->dns_held, np, r->dns_found, n, c->endpoints, (int)c->nfixed,
                              empty, &nempty, fill_place, fill_addr, &nfill);
    for (int i = 0; i < nempty; i++)
        fleet_set_endpoint(r->fleet, c->nfixed + (size_t)empty[i], NULL, &e);
    for (int i = 0; i < nfill; i++)
        if (fleet_set_endpoint(r->fleet, c->nfixed + (size_t)fill_place[i],
                               r->dns_found[fill_addr[i]], &e) < 0)
            log_warn("--env-dns %s: %s: %s", c->env_dns, r->dns_found[fill_addr[i]], e.msg);
    if (lost > 0 && !r->dns_full)
        log_warn("--env-dns %s: %d addresses, --env-dns-max is %d: %d replica(s) left out",
                 c->env_dns, n, np, lost);
    r->dns_full = lost > 0;
}

static bool crossed(int64_t before, int64_t after, int64_t every)
{
    return every > 0 && after / every > before / every;
}

/* Runs an evaluation, records and logs it (with a progress.csv row);
 * true if it reached the target. */
static bool eval_now(run_t *r)
{
    evaluator_result_t res;
    if (evaluate(r, &res) < 0)
        return false;
    double t = clock_s();
    r->last_eval = (eval_record_t){true, res.mean, res.std, r->n.env_steps};
    if (!r->best_eval.done || res.mean > r->best_eval.mean)
        r->best_eval = r->last_eval;
    log_info("eval at %" PRId64 " env steps: mean %.2f std %.2f (min %.0f, max %.0f) over %d "
             "episodes, %.3f s",
             r->n.env_steps, res.mean, res.std, res.min, res.max, res.episodes, res.seconds);
    log_row(r, t, &res);
    return res.mean >= r->cfg->target_return;
}

/* A periodic save that fails is a warning: the next one may work (space
 * freed), and stopping would lose the training too. The final one is the
 * run's durable product, so its failure decides the exit status (train_run)
 * and is said plainly, with what the path holds instead. */
static int do_save(run_t *r, bool final)
{
    errbuf_t e;
    const char *path = r->cfg->save_path;
    if (!path)
        return 0;
    if (save_checkpoint(r, &e) == 0) {
        r->saved_at_steps = r->n.env_steps;
        log_debug("checkpoint saved: %s at %" PRId64 " env steps", path, r->n.env_steps);
        return 0;
    }
    r->failed_saves++;
    snprintf(r->save_error, sizeof r->save_error, "%s", e.msg);
    if (!final) {
        log_warn("checkpoint at %" PRId64 " env steps not saved (training goes on): %s",
                 r->n.env_steps, e.msg);
    } else if (r->saved_at_steps >= 0) {
        log_error("final checkpoint not saved: %s; %s still holds the one saved at %" PRId64
                  " env steps", e.msg, path, r->saved_at_steps);
    } else {
        log_error("final checkpoint not saved: %s; this run wrote no checkpoint to %s", e.msg,
                  path);
    }
    return -1;
}

static int loop(run_t *r)
{
    const train_config_t *c = r->cfg;
    qnet_t *online = dqn_online(r->dqn);
    int64_t min_fill = c->learning_starts > c->dqn.batch ? c->learning_starts : c->dqn.batch;
    double no_server_since = -1.0;
    bool solved = false;
    r->line_t = r->row_t = clock_s();
    r->line_steps = r->row_steps = (double)r->n.env_steps;

    while (!*r->stop && r->n.env_steps < c->total_steps) {
        dns_refresh(r);
        fleet_poll(r->fleet);
        size_t n;
        const float *obs = fleet_obs(r->fleet, &n);
        if (n == 0) {
            double t = clock_s();
            if (no_server_since < 0)
                no_server_since = t;
            if (fleet_usable(r->fleet) == 0 || t - no_server_since > c->give_up_s) {
                log_error("no envd has answered for %.0f s: giving up", t - no_server_since);
                r->stop_reason = "no server";
                return TRAIN_EXIT_ERROR;
            }
            usleep(1000);
            continue;
        }
        no_server_since = -1.0;

        qnet_predict(online, obs, (int)n, r->q);
        dqn_select_actions(r->act, r->q, (int)n, r->A, epsilon(r), &r->explore_rng);
        fleet_send(r->fleet, r->act);

        /* The servers step while we learn: these updates use the replay
         * as it was before this tick, whatever the timing. */
        if (r->n.pending > 0) {
            double sum = 0.0;
            int64_t k = r->n.pending;
            for (; r->n.pending > 0; r->n.pending--)
                sum += dqn_train_step(r->dqn, r->replay, &r->replay_rng);
            r->loss_sum += sum;
            r->loss_count += k;
            r->last_loss = sum / (double)k;
        }

        fleet_batch_t b;
        fleet_collect(r->fleet, &b);
        replay_add_batch(r->replay, b.n, b.obs, b.act, b.rew, b.next, b.term, b.trunc);
        for (size_t i = 0; i < b.nepisodes; i++)
            r->returns[(r->n.returns_n++) % RET_WINDOW] = b.ep_return[i];
        int64_t before = r->n.env_steps;
        r->n.env_steps += (int64_t)b.n;
        r->n.episodes += (int64_t)b.nepisodes;
        if (!c->no_train && (int64_t)replay_size(r->replay) >= min_fill) {
            r->n.train_acc += (int64_t)b.n;
            r->n.pending += r->n.train_acc / c->train_freq * c->gradient_steps;
            r->n.train_acc %= c->train_freq;
        }

        bool evaluated = !c->no_train && r->n.env_steps >= c->eval_from &&
                         crossed(before, r->n.env_steps, c->eval_every);
        if (evaluated && eval_now(r)) {
            solved = true;
            r->solved_at_steps = r->n.env_steps;
            r->solved_at_s = clock_s() - r->t0;
            break;
        }
        double t = clock_s();
        if (!evaluated && crossed(before, r->n.env_steps, c->log_every))
            log_row(r, t, NULL);
        if (crossed(before, r->n.env_steps, c->save_every))
            do_save(r, false);
        if (c->progress_s > 0 && t - r->line_t >= c->progress_s)
            progress_line(r, t);
    }

    if (solved) {
        r->stop_reason = "solved";
        return TRAIN_EXIT_SOLVED;
    }
    if (*r->stop) {
        r->stop_reason = *r->stop == SIGTERM ? "SIGTERM" : "SIGINT";
        return *r->stop == SIGTERM ? TRAIN_EXIT_SIGTERM : TRAIN_EXIT_SIGINT;
    }
    r->stop_reason = "budget";
    if (c->no_train)
        return TRAIN_EXIT_SOLVED;
    /* The step budget is spent: a last evaluation unless one just ran. */
    if (!(r->last_eval.done && r->last_eval.at_steps == r->n.env_steps) && eval_now(r)) {
        r->solved_at_steps = r->n.env_steps;
        r->solved_at_s = clock_s() - r->t0;
        r->stop_reason = "solved";
        return TRAIN_EXIT_SOLVED;
    }
    return TRAIN_EXIT_BUDGET;
}

int train_run(const train_config_t *cfg, volatile sig_atomic_t *stop)
{
    run_t r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.stop = stop;
    r.t0 = clock_s();
    r.solved_at_steps = -1;
    r.saved_at_steps = -1;
    r.last_loss = NAN;
    r.stop_reason = "error";
    r.tty = isatty(STDERR_FILENO);
    progress_owner = &r;
    log_set_hook(clear_line);

    errbuf_t e;
    err_clear(&e);
    int status;
    if (setup(&r, &e) < 0) {
        log_error("%s", e.msg);
        status = *stop == SIGTERM ? TRAIN_EXIT_SIGTERM
                 : *stop          ? TRAIN_EXIT_SIGINT
                                  : TRAIN_EXIT_ERROR;
    } else if (cfg->eval_only) {
        if (eval_now(&r) || r.last_eval.done) {
            status = TRAIN_EXIT_SOLVED;
            summary(&r, status);
        } else {
            status = TRAIN_EXIT_ERROR;
        }
    } else {
        char net[128];
        shape_text(&r.shape, net, sizeof net);
        log_info("training %s: %zu endpoint(s) x %" PRId64 " sessions, net %s, seed %" PRIu64,
                 cfg->env_id, cfg->nendpoints, cfg->sessions, net, cfg->seed);
        int stale = cfg->save_path ? fsutil_remove_stale(cfg->save_path) : 0;
        if (stale > 0)
            log_info("removed %d temporary checkpoint file(s) left by killed saves of %s", stale,
                     cfg->save_path);
        status = loop(&r);
        if (cfg->progress_s > 0)
            progress_line(&r, clock_s());
        r.final_saved = do_save(&r, true) == 0;
        if (!r.final_saved && status != TRAIN_EXIT_ERROR)
            status = TRAIN_EXIT_UNSAVED;
        if (status != TRAIN_EXIT_ERROR || r.n.env_steps > 0)
            summary(&r, status);
    }
    log_set_hook(NULL);
    progress_owner = NULL;
    teardown(&r);
    return status;
}
