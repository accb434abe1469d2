/*
 * run_ckpt.c — the checkpoint schema of an agentd run (see run_ckpt.h):
 * the header, saving a run's state into sections, and checking and
 * loading them on resume, the replay resized to another --buffer-size and
 * the saved sessions handed to the fleet.
 *
 * Every length is checked against what the header (or the file itself)
 * says before a byte is copied, and sizes that decide an allocation come
 * from the file's sections, not from a header field: a damaged or forged
 * file is refused with a message, never read out of bounds, and never
 * makes agentd allocate more than the file could describe.
 */
#include "run_ckpt.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

_Static_assert(sizeof(run_ckpt_header_t) == 4 + 4 + sizeof(qnet_shape_t) + 4 + 4 + 4 + 8 + 8 + 32,
               "run_ckpt_header_t must have no padding");

typedef struct replay_meta {
    uint64_t added, cap, size;
} replay_meta_t;

/* ----------------------------------------------------------------- save */

int run_ckpt_save(const train_config_t *c, const run_state_t *s, errbuf_t *e)
{
    qnet_t *on = dqn_online(s->dqn), *tg = dqn_target(s->dqn);
    uint64_t pbytes = qnet_nparams(on) * sizeof(float);
    run_ckpt_header_t h;
    memset(&h, 0, sizeof h);
    h.format = RUN_CKPT_FORMAT;
    h.has_replay = c->save_replay;
    h.shape = s->shape;
    h.nslots = (uint32_t)fleet_nslots(s->fleet);
    h.max_steps = fleet_slot_actions(s->fleet) ? fleet_max_episode_steps(s->fleet) : 0;
    h.replay_cap = replay_capacity(s->replay);
    h.seed = c->seed;
    snprintf(h.env_id, sizeof h.env_id, "%s", c->env_id);
    int64_t adam_t = qnet_adam_t(on), updates = dqn_updates(s->dqn);
    rng_t rngs[2] = {s->explore_rng, s->replay_rng};

    ckpt_section_t sec[24];
    size_t n = 0;
    sec[n++] = (ckpt_section_t){"header", &h, sizeof h};
    sec[n++] = (ckpt_section_t){"online", qnet_params(on), pbytes};
    sec[n++] = (ckpt_section_t){"target", qnet_params(tg), pbytes};
    sec[n++] = (ckpt_section_t){"adam_m", qnet_adam_m(on), pbytes};
    sec[n++] = (ckpt_section_t){"adam_v", qnet_adam_v(on), pbytes};
    sec[n++] = (ckpt_section_t){"adam_t", &adam_t, sizeof adam_t};
    sec[n++] = (ckpt_section_t){"updates", &updates, sizeof updates};
    sec[n++] = (ckpt_section_t){"counters", &s->n, sizeof s->n};
    sec[n++] = (ckpt_section_t){"rngs", rngs, sizeof rngs};
    sec[n++] = (ckpt_section_t){"returns", s->returns, sizeof s->returns};
    sec[n++] = (ckpt_section_t){"slots", fleet_slot_states(s->fleet),
                                h.nslots * sizeof(fleet_slot_state_t)};
    if (h.max_steps)
        sec[n++] = (ckpt_section_t){"slotacts", fleet_slot_actions(s->fleet),
                                    (uint64_t)h.nslots * h.max_steps};
    if (s->run_id[0])
        sec[n++] = (ckpt_section_t){"runid", s->run_id, RUNLOG_ID_LEN};
    run_pipeline_t pipe = {fleet_groups(s->fleet), s->phase};
    if (pipe.groups > 1) {
        sec[n++] = (ckpt_section_t){"pipeline", &pipe, sizeof pipe};
        sec[n++] = (ckpt_section_t){"inflight", fleet_inflight(s->fleet), h.nslots};
        sec[n++] = (ckpt_section_t){"sentacts", fleet_sent_actions(s->fleet),
                                    h.nslots * sizeof(int32_t)};
    }
    replay_t *rp = s->replay;
    replay_meta_t meta = {replay_added(rp), replay_capacity(rp), replay_size(rp)};
    if (c->save_replay) {
        uint64_t rows = meta.size, od = (uint64_t)replay_obs_dim(rp);
        sec[n++] = (ckpt_section_t){"rp_meta", &meta, sizeof meta};
        sec[n++] = (ckpt_section_t){"rp_obs", replay_obs(rp), rows * od * sizeof(float)};
        sec[n++] = (ckpt_section_t){"rp_act", replay_action(rp), rows * sizeof(int32_t)};
        sec[n++] = (ckpt_section_t){"rp_rew", replay_reward(rp), rows * sizeof(float)};
        sec[n++] = (ckpt_section_t){"rp_next", replay_next_obs(rp), rows * od * sizeof(float)};
        sec[n++] = (ckpt_section_t){"rp_term", replay_terminated(rp), rows};
        sec[n++] = (ckpt_section_t){"rp_trunc", replay_truncated(rp), rows};
    }
    assert(n <= sizeof sec / sizeof sec[0]);
    return ckpt_save(c->save_path, sec, n, e);
}

/* --------------------------------------------------------------- header */

/* Checks the checkpoint's header against the options; path names the file
 * in messages. */
static int check_header(const train_config_t *c, const ckpt_t *ck, const char *path,
                        run_ckpt_header_t *h, errbuf_t *e)
{
    int rc;
    if ((rc = ckpt_get_exact(ck, "header", h, sizeof *h, e)) < 0)
        return err_set(e, rc, "%s: %s", path, e->msg);
    if (h->format != RUN_CKPT_FORMAT)
        return err_set(e, ERR_CORRUPT, "%s: checkpoint format %u, this agentd reads %u",
                       path, h->format, RUN_CKPT_FORMAT);
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
        if (l < h->shape.nhidden && (nout < 1 || nout > RUN_CKPT_MAX_WIDTH))
            return err_set(e, ERR_CORRUPT, "%s: hidden layer %d has width %d, not 1..%d", path,
                           l + 1, nout, RUN_CKPT_MAX_WIDTH);
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
        qnet_shape_text(&h->shape, file, sizeof file);
        qnet_shape_text(&w, want, sizeof want);
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s holds a %s network; --hidden asks for %s (pass the checkpoint's "
                       "--hidden to resume it)",
                       path, file, want);
    }
    return 0;
}

int run_ckpt_open(const train_config_t *c, ckpt_t **ck, run_ckpt_header_t *h, errbuf_t *e)
{
    int rc = ckpt_load(c->load_path, ck, e);
    if (rc < 0)
        return rc;
    return check_header(c, *ck, c->load_path, h, e);
}

int64_t run_ckpt_env_steps(const ckpt_t *ck)
{
    run_counters_t n;
    errbuf_t ignored;
    return ckpt_get_exact(ck, "counters", &n, sizeof n, &ignored) == 0 ? n.env_steps : 0;
}

static int check_net_io(const run_ckpt_header_t *h, const char *path, const char *env_id, int D,
                        int A, errbuf_t *e)
{
    if (h->shape.in != D || h->shape.out != A)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "%s holds a net for %d observations and %d actions; %s has %d and %d",
                       path, h->shape.in, h->shape.out, env_id, D, A);
    return 0;
}

int run_ckpt_check_io(const train_config_t *c, const run_ckpt_header_t *h, int D, int A,
                      errbuf_t *e)
{
    return check_net_io(h, c->load_path, c->env_id, D, A, e);
}

/* -------------------------------------------------------------- loading */

/* The saved replay rows, when the header says there are some: as they were
 * when the capacity is the same (same rows, same ring position), else
 * re-added oldest first so that the newest ones that fit stay. */
static int load_replay(const ckpt_t *ck, const char *path, replay_t *rp, errbuf_t *e)
{
    replay_meta_t m;
    int rc;
    if ((rc = ckpt_get_exact(ck, "rp_meta", &m, sizeof m, e)) < 0)
        return err_set(e, rc, "%s: %s", path, e->msg);
    if (m.size > m.cap || m.size != (m.added < m.cap ? m.added : m.cap))
        return err_set(e, ERR_CORRUPT, "%s: replay sizes do not add up", path);
    uint64_t od = (uint64_t)replay_obs_dim(rp), rows = m.size;
    const char *tags[6] = {"rp_obs", "rp_act", "rp_rew", "rp_next", "rp_term", "rp_trunc"};
    uint64_t lens[6] = {rows * od * 4, rows * 4, rows * 4, rows * od * 4, rows, rows};
    const void *src[6];
    for (int i = 0; i < 6; i++) {
        uint64_t len;
        src[i] = ckpt_get(ck, tags[i], &len);
        if (!src[i] || len != lens[i])
            return err_set(e, ERR_CORRUPT, "%s: replay section %s is missing or has %" PRIu64
                                           " bytes for %" PRIu64 " rows",
                           path, tags[i], src[i] ? len : 0, rows);
    }
    if (m.cap == replay_capacity(rp)) {
        memcpy(replay_obs(rp), src[0], lens[0]);
        memcpy(replay_action(rp), src[1], lens[1]);
        memcpy(replay_reward(rp), src[2], lens[2]);
        memcpy(replay_next_obs(rp), src[3], lens[3]);
        memcpy(replay_terminated(rp), src[4], lens[4]);
        memcpy(replay_truncated(rp), src[5], lens[5]);
        replay_set_added(rp, m.added);
        return 0;
    }
    /* Another --buffer-size. Unaligned section data: copy per field. */
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

int run_ckpt_load(const train_config_t *c, const ckpt_t *ck, const run_ckpt_header_t *h,
                  run_state_t *s, errbuf_t *e)
{
    const char *path = c->load_path;
    qnet_t *on = dqn_online(s->dqn), *tg = dqn_target(s->dqn);
    uint64_t pbytes = qnet_nparams(on) * sizeof(float);
    int rc = ckpt_get_exact(ck, "online", qnet_params(on), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "counters", &s->n, sizeof s->n, e);
    if (rc == 0 && c->eval_only)
        return 0;
    int64_t adam_t = 0, updates = 0;
    rng_t rngs[2];
    if (rc == 0)
        rc = ckpt_get_exact(ck, "target", qnet_params(tg), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "adam_m", qnet_adam_m(on), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "adam_v", qnet_adam_v(on), pbytes, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "adam_t", &adam_t, sizeof adam_t, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "updates", &updates, sizeof updates, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "rngs", rngs, sizeof rngs, e);
    if (rc == 0)
        rc = ckpt_get_exact(ck, "returns", s->returns, sizeof s->returns, e);
    uint64_t idlen = 0;
    const char *id = ckpt_get(ck, "runid", &idlen);
    s->run_id[0] = '\0';
    if (rc == 0 && id) {
        if (idlen != RUNLOG_ID_LEN)
            return err_set(e, ERR_CORRUPT, "%s: section runid has %" PRIu64 " bytes, not %d", path,
                           idlen, RUNLOG_ID_LEN);
        memcpy(s->run_id, id, RUNLOG_ID_LEN);
        s->run_id[RUNLOG_ID_LEN] = '\0';
        if (!runlog_id_valid(s->run_id))
            return err_set(e, ERR_CORRUPT, "%s: section runid is not a run id", path);
    }
    if (rc < 0)
        return err_set(e, rc, "%s: %s", path, e->msg);
    if (s->n.env_steps < 0 || s->n.episodes < 0 || s->n.pending < 0 || s->n.train_acc < 0 ||
        s->n.returns_n < 0 || adam_t < 0 || updates < 0)
        return err_set(e, ERR_CORRUPT, "%s: negative counters", path);
    run_pipeline_t pipe;
    uint64_t plen = 0;
    const void *p = ckpt_get(ck, "pipeline", &plen);
    if (p && plen == sizeof pipe) {
        memcpy(&pipe, p, sizeof pipe);
        if (pipe.groups == c->groups && pipe.phase >= 0 && pipe.phase < pipe.groups)
            s->phase = pipe.phase;
    }
    qnet_set_adam_t(on, adam_t);
    dqn_set_updates(s->dqn, updates);
    s->explore_rng = rngs[0];
    s->replay_rng = rngs[1];
    return h->has_replay ? load_replay(ck, path, s->replay, e) : 0;
}

/* ------------------------------------------------------------- sessions */

/* The saved session sections against the header and this run's nslots:
 * 1 with *st and *acts set when they apply, 0 when the sessions start
 * afresh (another number of them), or an error. */
static int check_slots(const ckpt_t *ck, const run_ckpt_header_t *h, const char *path,
                       size_t nslots, const void **st, const void **acts, errbuf_t *e)
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

int run_ckpt_restore_slots(const train_config_t *c, const ckpt_t *ck, const run_ckpt_header_t *h,
                           fleet_t *f, errbuf_t *e)
{
    const void *st, *acts;
    size_t nslots = fleet_nslots(f);
    int rc = check_slots(ck, h, c->load_path, nslots, &st, &acts, e);
    if (rc <= 0)
        return rc;
    size_t len = nslots * sizeof(fleet_slot_state_t);
    fleet_slot_state_t *copy = malloc(len);
    if (!copy)
        return err_set(e, ERR_NOMEM, "out of memory");
    memcpy(copy, st, len); /* section data is unaligned */
    rc = fleet_set_restore(f, copy, acts, h->max_steps, e);
    free(copy);
    /* The steps in flight, for the same --groups only: another cut of the
     * sessions into groups starts the pipeline afresh. */
    run_pipeline_t pipe;
    uint64_t plen = 0, ilen = 0, alen = 0;
    const void *p = ckpt_get(ck, "pipeline", &plen);
    const void *inflight = ckpt_get(ck, "inflight", &ilen);
    const void *sent = ckpt_get(ck, "sentacts", &alen);
    if (rc < 0 || !p || plen != sizeof pipe)
        return rc;
    memcpy(&pipe, p, sizeof pipe);
    if (pipe.groups != fleet_groups(f)) {
        log_info("%s saved %" PRId64 " groups, this run has %d: the steps it had in flight are "
                 "not sent again", c->load_path, pipe.groups, fleet_groups(f));
        return 0;
    }
    if (!inflight || !sent || ilen != nslots || alen != nslots * sizeof(int32_t))
        return err_set(e, ERR_CORRUPT, "%s: the steps in flight do not match the header",
                       c->load_path);
    int32_t *acts_copy = malloc(nslots * sizeof(int32_t));
    if (!acts_copy)
        return err_set(e, ERR_NOMEM, "out of memory");
    memcpy(acts_copy, sent, nslots * sizeof(int32_t));
    rc = fleet_set_restore_inflight(f, inflight, acts_copy, e);
    free(acts_copy);
    return rc;
}

/* ------------------------------------------------------ without servers */

int run_ckpt_check(const train_config_t *c, const ckpt_t *ck, int obs_dim, int n_actions,
                   size_t nslots, errbuf_t *e)
{
    const char *path = c->load_path ? c->load_path : "checkpoint";
    run_state_t s;
    memset(&s, 0, sizeof s);
    run_ckpt_header_t h;
    const void *st, *acts;
    int rc = check_header(c, ck, path, &h, e);
    if (rc == 0)
        rc = check_net_io(&h, path, c->env_id, obs_dim, n_actions, e);
    if (rc == 0 && !c->eval_only && (rc = check_slots(ck, &h, path, nslots, &st, &acts, e)) > 0)
        rc = 0;
    if (rc == 0)
        rc = dqn_new(&c->dqn, &h.shape, &s.dqn, e);
    if (rc == 0)
        rc = replay_new(c->eval_only ? 1 : (size_t)c->buffer_size, obs_dim, &s.replay, e);
    if (rc == 0)
        rc = run_ckpt_load(c, ck, &h, &s, e);
    replay_destroy(&s.replay);
    dqn_destroy(&s.dqn);
    return rc;
}
