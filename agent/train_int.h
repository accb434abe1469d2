/*
 * train_int.h — the run's own pieces, shared by train.c (setup, the loop,
 * teardown) and train_eval.c (the evaluations: blocking ones, and those
 * that ride in the training rounds), and by no one else.
 */
#ifndef TRAIN_INT_H
#define TRAIN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "evaluator.h"
#include "fleet.h"
#include "report.h"
#include "run_ckpt.h"
#include "train.h"

/* Evaluations that may run at once, each on its own snapshot and sessions
 * (one lasts as long as its longest episode: up to 500 rounds on
 * CartPole-v1, while one starts every --eval-every env steps). */
#define TRAIN_LIVE_EVALS 8

typedef struct live_eval {
    evaluator_t *ev;
    qnet_t *snap;         /* the net it plays: the online net when it started */
    bool active;
    size_t k;             /* the endpoint whose sessions play it */
    int64_t at_steps;     /* env steps of the snapshot */
    double at_s;          /* run seconds of the snapshot */
} live_eval_t;

typedef struct run {
    const train_config_t *cfg;
    volatile sig_atomic_t *stop;
    void *zctx;
    run_state_t s;        /* learner, replay, fleet, counters: what a checkpoint holds */
    evaluator_t *ev;      /* the blocking evaluations: --eval-only, the last one */
    live_eval_t le[TRAIN_LIVE_EVALS]; /* evaluations riding in the rounds */
    ckpt_t *ck;           /* the checkpoint being resumed, until setup ends */
    int D, A;
    float *q;             /* (nslots, A) */
    int32_t *act;         /* (nslots) */
    report_t rep;
    /* The fleet's places: endpoints[0..nendpoints) and, with --env-dns,
     * vacant ones up to nfixed + env_dns_max for the replicas to come. */
    const char *places[TRAIN_MAX_ENDPOINTS];
} run_t;

/* train_eval.c */

/* Runs a blocking evaluation of the online net and reports it (with a
 * progress.csv row); true if it reached the target. */
bool train__eval_now(run_t *r);

/* An evaluation is due: snapshot the online net and start its episodes. */
void train__live_eval_start(run_t *r);

/* Between fleet_obs() and fleet_send(): the running evaluations' rows of
 * the chosen units into their requests. */
void train__live_eval_ride(run_t *r);

/* After a round: the evaluations' answers; true when one reached the
 * target (its snapshot is then the run's net, *won says which). */
bool train__live_eval_after(run_t *r, const fleet_batch_t *b, live_eval_t **won);

/* Gives up the evaluations still running (the run ends). */
void train__live_eval_stop(run_t *r);

#endif
