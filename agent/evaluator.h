/*
 * evaluator.h — greedy evaluation of a Q-network on fresh envd sessions.
 *
 * One evaluation plays E episodes at once: it makes E sessions, resets
 * session i with seed seed0 + i (the same episodes every time, so
 * evaluations along a run and across runs compare like with like), then
 * steps all still-running sessions together — one qnet_predict and one
 * step_batch (autoreset DISABLED) per step — dropping each session from the
 * batch when its episode ends, and finally closes the sessions. The mean
 * and standard deviation (population, as numpy's std) of the E returns are
 * what Gymnasium's reward_threshold is compared with.
 *
 * evaluator_run() does all of it in blocking calls. The same evaluation
 * can also be played a piece at a time inside someone else's requests
 * (agentd's training rounds carry it, so that it never pauses training):
 * evaluator_begin() makes and seeds the sessions, evaluator_rows() gives
 * the greedy actions of the running episodes of one group, whose answers
 * evaluator_take() reads back, and evaluator_end() closes the sessions and
 * says the result once evaluator_done().
 *
 * Nothing allocates after evaluator_new(). The client and net are
 * borrowed for the call; the net is only read (qnet_predict).
 */
#ifndef EVALUATOR_H
#define EVALUATOR_H

#include <stdint.h>

#include "client.h"
#include "err.h"
#include "qnet.h"

typedef struct evaluator_result {
    double mean, std;   /* of the episode returns */
    double min, max;
    int episodes;
    int64_t steps;      /* env steps the evaluation took */
    double seconds;     /* wall-clock time it took */
    int64_t at_steps;   /* training env steps of the net evaluated (set by the caller) */
} evaluator_result_t;

typedef struct evaluator evaluator_t;

/* An evaluator of `episodes` episodes for observations of obs_dim floats
 * and num_actions actions. */
int evaluator_new(int episodes, int obs_dim, int num_actions, evaluator_t **out, errbuf_t *e);
void evaluator_destroy(evaluator_t **self_p);

/* Plays the episodes of env_id on c's server with the greedy policy of
 * net. A failed request (ERR_TIMEOUT, a server error) ends the evaluation
 * with that error; the sessions are then left to the server's TTL. */
int evaluator_run(evaluator_t *ev, client_t *c, const char *env_id, qnet_t *net, uint64_t seed0,
                  evaluator_result_t *res, errbuf_t *e);

/* Makes the sessions on c's server and resets episode i with seed0 + i. */
int evaluator_begin(evaluator_t *ev, client_t *c, const char *env_id, uint64_t seed0,
                    errbuf_t *e);

/* The running episodes i with i % ngroups == group that await no answer,
 * at most max of them: their sessions (*ids) and net's greedy actions
 * (*act), both borrowed until the next call; they then await
 * evaluator_take(). Returns how many. */
size_t evaluator_rows(evaluator_t *ev, int group, int ngroups, size_t max, qnet_t *net,
                      const uint64_t **ids, const int32_t **act);

/* The answers for n of those sessions: reward, end flags, observation
 * after the step (ignored where the episode ended). Unknown ids are
 * ignored. */
void evaluator_take(evaluator_t *ev, size_t n, const uint64_t *ids, const double *rew,
                    const uint8_t *term, const uint8_t *trunc, const float *obs);

/* Every episode has ended. */
int evaluator_done(const evaluator_t *ev);

/* Once done: closes the sessions on c's server and fills res. */
int evaluator_end(evaluator_t *ev, client_t *c, evaluator_result_t *res, errbuf_t *e);

/* The returns of the last run, (episodes), in seed order. Borrowed. */
const double *evaluator_returns(const evaluator_t *ev);

#endif
