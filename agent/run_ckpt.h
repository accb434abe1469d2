/*
 * run_ckpt.h — the checkpoint schema of an agentd run: which sections a
 * checkpoint holds, how a run is saved into them, and how a resume checks
 * and loads them. checkpoint.c is the container (tagged sections, CRC,
 * atomic replacement); this file says what goes in it.
 *
 * Sections (docs/agentd.md, Checkpoint sections): header, online, target,
 * adam_m, adam_v, adam_t, updates, counters, rngs, returns, slots, slotacts
 * (when episodes have a step limit and actions fit a byte), runid (the
 * --logdir run's id, runlog.h: how a resume finds its run's folder; none
 * for a run without --logdir), with --groups above 1 pipeline, inflight
 * and sentacts (the steps in flight, sent again on resume), and with
 * --save-replay rp_meta and the six replay fields.
 *
 * A resume goes in the order the run needs: run_ckpt_open() reads the file
 * and checks its header against the options (before anything is sized from
 * it), run_ckpt_env_steps() gives the step count that salts fresh session
 * seeds, run_ckpt_restore_slots() hands the saved sessions to the fleet,
 * run_ckpt_check_io() holds the saved net against the environment's spaces
 * once a server has said what they are, and run_ckpt_load() fills the
 * learner, the counters, the RNGs and the replay (re-adding the saved rows
 * when --buffer-size changed). run_ckpt_check() is all of that without a
 * server, for the checkpoint fuzz target.
 */
#ifndef RUN_CKPT_H
#define RUN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "dqn.h"
#include "fleet.h"
#include "qnet.h"
#include "replay.h"
#include "rng.h"
#include "runlog.h"
#include "train.h"

#define RUN_RET_WINDOW 100 /* training returns averaged, as SB3's ep_info_buffer */

/* What survives a checkpoint, besides nets, replay and sessions. Only
 * int64 fields: no padding, so the saved bytes are the same every run. */
typedef struct run_counters {
    int64_t env_steps;    /* training transitions collected */
    int64_t episodes;     /* training episodes finished */
    int64_t train_acc;    /* env steps towards the next train_freq */
    int64_t pending;      /* gradient steps due, run during the next tick */
    int64_t returns_n;    /* returns ever pushed into the window */
} run_counters_t;

/* The state of a run that a checkpoint holds. The run loop owns the
 * objects; the report reads the counters and the returns. */
typedef struct run_state {
    dqn_t *dqn;
    replay_t *replay;
    fleet_t *fleet;
    qnet_shape_t shape;   /* the net's, as the header saves it */
    run_counters_t n;
    rng_t explore_rng, replay_rng;
    double returns[RUN_RET_WINDOW]; /* ring: the next return goes to returns_n % RUN_RET_WINDOW */
    char run_id[RUNLOG_ID_LEN + 1]; /* the --logdir run's id; "": none (no --logdir yet) */
    int64_t phase;        /* --rollout sync: the group sent next (0 with one group) */
} run_state_t;

/* The "pipeline" section, saved with --groups above 1. */
typedef struct run_pipeline {
    int64_t groups;
    int64_t phase;
} run_pipeline_t;

#define RUN_CKPT_FORMAT 1
#define RUN_CKPT_MAX_WIDTH 4096 /* a hidden layer's width, as agentd --hidden allows */

/* The "header" section. Fixed-width fields laid out without padding, so
 * a file is the same bytes on every run. */
typedef struct run_ckpt_header {
    uint32_t format;      /* RUN_CKPT_FORMAT */
    uint32_t has_replay;
    qnet_shape_t shape;   /* the net: a different --hidden is refused by name */
    uint32_t nslots;      /* endpoints x sessions of the saved sessions */
    uint32_t max_steps;   /* per-slot action history length */
    uint32_t reserved;    /* 0; keeps the next field 8-aligned without padding */
    uint64_t replay_cap;
    uint64_t seed;
    char env_id[32];
} run_ckpt_header_t;

/* Saves s to c->save_path (every section above; the replay with
 * c->save_replay). 0, or why not. */
int run_ckpt_save(const train_config_t *c, const run_state_t *s, errbuf_t *e);

/* Loads c->load_path into *ck and checks its header against the options
 * (format, env id, a valid network shape whose size the online section
 * matches, --hidden unless c->eval_only) into *h. Messages name the file. */
int run_ckpt_open(const train_config_t *c, ckpt_t **ck, run_ckpt_header_t *h, errbuf_t *e);

/* The env steps the checkpoint's counters hold; 0 if it has none. */
int64_t run_ckpt_env_steps(const ckpt_t *ck);

/* Hands the saved session states to f (before fleet_start) if they fit its
 * number of sessions; another number is logged and the sessions start
 * afresh. ERR_CORRUPT for session sections that contradict the header. */
int run_ckpt_restore_slots(const train_config_t *c, const ckpt_t *ck, const run_ckpt_header_t *h,
                           fleet_t *f, errbuf_t *e);

/* The saved net's inputs and outputs against the environment's D and A. */
int run_ckpt_check_io(const train_config_t *c, const run_ckpt_header_t *h, int D, int A,
                      errbuf_t *e);

/* Copies the rest of the checkpoint into s: the online net and counters,
 * and unless c->eval_only the target, Adam, updates, RNGs, returns, the
 * run id (left "" when the checkpoint has none) and the replay. s->dqn and s->replay are made for the header's shape. */
int run_ckpt_load(const train_config_t *c, const ckpt_t *ck, const run_ckpt_header_t *h,
                  run_state_t *s, errbuf_t *e);

/* Checks a checkpoint the way resuming it with c would, without any
 * server: the header against c, the net's inputs and outputs against
 * obs_dim and n_actions, the session sections against nslots (unless
 * eval_only), then loads the learner and replay sections into a scratch
 * learner and a replay of c->buffer_size. 0, or the error resuming would
 * stop with. For the checkpoint fuzz target. */
int run_ckpt_check(const train_config_t *c, const ckpt_t *ck, int obs_dim, int n_actions,
                   size_t nslots, errbuf_t *e);

#endif
