/*
 * fleet.h — agentd's training sessions on many envd servers, and what
 * happens when a server stops answering.
 *
 * A fleet holds `sessions` sessions on each endpoint. Every slot
 * (endpoint k, session i) has a fixed index k * sessions + i. Each
 * endpoint's sessions are cut into `groups` groups (group g holds sessions
 * [g*S/G, (g+1)*S/G)), a *unit* each, with a connection of its own, so
 * that every unit can have one step_batch in flight while the caller acts
 * on the others. One round is fleet_obs(group) -> the caller picks one
 * action per row -> fleet_send() (one step_batch per chosen unit, all sent
 * before any is awaited) -> the caller may do other work (train) ->
 * fleet_collect(group), which yields the transitions and finished
 * episodes of the units it read.
 *
 * Lock-step ("sync", a group number): fleet_obs(g) picks group g of every
 * live endpoint, fleet_collect(g) waits for every unit of group g in
 * endpoint order, so a seeded run is reproducible whatever the timing; a
 * caller that sends group p and then collects group p+1 (mod G) keeps G-1
 * groups in flight while it acts (G = 1 is plain lock-step). Asynchronous
 * (FLEET_ANY): fleet_obs picks every unit with nothing in flight,
 * fleet_collect returns as soon as at least one reply has come and takes
 * every reply that has, so no unit waits for another server.
 *
 * Guests: fleet_set_guests() adds foreign rows (an evaluation's sessions on
 * the same server) to a chosen unit's next request; their outcome comes
 * back beside the transitions (fleet_batch_t.guest_*), never mixed in.
 *
 * Round trips: per endpoint the fleet keeps a smoothed round trip of its
 * step_batch replies and its variance (as TCP's SRTT and RTTVAR, RFC 6298)
 * and sets each unit's retransmission timeout to srtt + 4 rttvar, between
 * FLEET_RTO_MIN_MS and half the timeout: a reply that will never come
 * costs about one round trip before the request is resent.
 *
 * Steps use SAME_STEP autoreset: a finished session is reset inside the
 * same call, and the transition's next observation is the true terminal
 * observation (final_observations), so a truncated episode can be
 * bootstrapped correctly.
 *
 * Failure: an endpoint whose reply does not come within timeout_ms (or
 * that answers with an error) is dropped: its slots leave the rotation and
 * the others go on. It is then probed with a hello, sent without waiting
 * and checked on each fleet_poll(), with exponential backoff between
 * probes; when it answers, its sessions are made anew and reset, and it
 * rejoins. Each drop and rejoin is logged.
 *
 * Reproducible resume: per slot the fleet keeps the seed of the session's
 * last seeded reset, the number of autoresets since, and the actions of
 * the current episode. A checkpoint saves that (fleet_slot_states,
 * fleet_slot_actions); fleet_set_restore() before fleet_start() replays it
 * on the new sessions (seeded reset, as many unseeded resets, the same
 * actions), which puts every session in the exact state it had, so a
 * resumed run continues as if it had never stopped.
 *
 * Places: endpoint k is a place, and its slots keep their indexes for the
 * whole run. A place may be VACANT (a NULL endpoint in the config): no
 * connection, never probed, no live slots, FLEET_NO_STATE in checkpoints.
 * fleet_set_endpoint() fills a vacant place with a new server or empties
 * one whose server is gone, between ticks, without stopping the others —
 * how agentd follows the replicas behind --env-dns. The number of places,
 * and so of slots, is fixed at fleet_new().
 *
 * A checkpoint of a run with groups also saves the steps in flight
 * (fleet_inflight, fleet_sent_actions); a resume sends them again once the
 * sessions are rebuilt, so the pipeline continues where it was.
 *
 * Nothing allocates in the tick (fleet_obs/send/collect). Not thread-safe.
 */
#ifndef FLEET_H
#define FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "curve.h"
#include "err.h"

typedef struct fleet_config {
    const char *const *endpoints; /* (nendpoints) ZeroMQ endpoints of envd servers; NULL: a vacant place */
    size_t nendpoints;
    int sessions;                 /* sessions per endpoint */
    int groups;                   /* units per endpoint, 1..sessions; 0: 1 */
    int guests;                   /* guest rows a unit's request may carry */
    int eval_sessions;            /* sessions an evaluation makes at once (a server's batch
                                     limit must allow them); 0: none */
    const char *env_id;           /* e.g. "CartPole-v1" */
    int timeout_ms;               /* a request not answered in this is a failure */
    int attempts;                 /* sends per request within timeout_ms; 0: CLIENT_ATTEMPTS */
    int backoff_min_ms;           /* first retry after a drop */
    int backoff_max_ms;           /* longest wait between probes */
    uint64_t seed;                /* session seeds derive from it */
    uint64_t salt;                /* mixed into seeds of sessions made fresh (resume: env steps) */
    const curve_client_keys_t *curve; /* CURVE keys for every endpoint; NULL: plaintext */
} fleet_config_t;

/* The transitions and finished episodes of one tick, in slot order.
 * Borrowed from the fleet until the next fleet_collect(). */
typedef struct fleet_batch {
    size_t n;                  /* transitions */
    const float *obs;          /* (n, obs_dim) */
    const int32_t *act;        /* (n) */
    const float *rew;          /* (n) */
    const uint32_t *slot;      /* (n) the slot of each transition */
    const float *next;         /* (n, obs_dim): final observation where the episode ended */
    const uint8_t *term;       /* (n) */
    const uint8_t *trunc;      /* (n) */
    size_t nepisodes;          /* episodes that ended */
    const double *ep_return;   /* (nepisodes) */
    const int32_t *ep_length;  /* (nepisodes) */
    size_t dropped;            /* endpoints dropped while collecting */
    size_t units;              /* replies read */
    size_t nguests;            /* guest rows answered */
    const uint64_t *guest_ids; /* (nguests) their sessions */
    const int *guest_tag;      /* (nguests) as given to fleet_add_guests */
    const float *guest_obs;    /* (nguests, obs_dim) after the step (a reset one where it ended) */
    const double *guest_rew;   /* (nguests) */
    const uint8_t *guest_term, *guest_trunc; /* (nguests) */
} fleet_batch_t;

#define FLEET_ANY (-1)      /* fleet_obs / fleet_collect: any group (asynchronous) */
#define FLEET_RTO_MIN_MS 10 /* floor of the retransmission timeout */

/* What a checkpoint saves per slot to rebuild the session's state. */
typedef struct fleet_slot_state {
    uint64_t seed;   /* seed of the last seeded reset */
    uint32_t resets; /* autoresets since; FLEET_NO_STATE: nothing to rebuild */
    uint32_t len;    /* steps taken in the current episode */
} fleet_slot_state_t;

#define FLEET_NO_STATE UINT32_MAX

typedef struct fleet fleet_t;

/* Connects (without any I/O yet) to every endpoint. zctx is borrowed and
 * must outlive the fleet (places filled later connect with it). */
int fleet_new(void *zctx, const fleet_config_t *cfg, fleet_t **out, errbuf_t *e);

/* Closes the sessions of live endpoints (best effort) and frees *self_p. */
void fleet_destroy(fleet_t **self_p);

/* Says hello to every endpoint at once, then joins each one that answered
 * within the timeout, in endpoint order; the others are dropped and will
 * be probed. Errors only for what no retry can fix: no endpoint offers the
 * env id, spaces that agentd cannot learn (not a 1-D float box and a
 * discrete action space), or servers that disagree on them. */
int fleet_start(fleet_t *f, errbuf_t *e);

/* Probes dropped endpoints without blocking and joins those that answer.
 * Call it once per tick, and in a loop while no endpoint is live. */
void fleet_poll(fleet_t *f);

/* Live endpoints. */
size_t fleet_live(const fleet_t *f);

/* Places that may still serve (not failed for good); vacant places count,
 * as they may be filled. */
size_t fleet_usable(const fleet_t *f);

/* Places that hold a server (not vacant). */
size_t fleet_occupied(const fleet_t *f);

/* Spaces and spec, known once any endpoint has joined (0 before). */
int fleet_obs_dim(const fleet_t *f);
int fleet_num_actions(const fleet_t *f);
uint32_t fleet_max_episode_steps(const fleet_t *f);

/* Chooses the units to act on: group g (0..G-1) of every live endpoint,
 * or with FLEET_ANY every unit of a live endpoint with nothing in flight;
 * returns their current observations, (n, obs_dim) by endpoint, then
 * group, then session. Valid until the next fleet call. */
const float *fleet_obs(fleet_t *f, int group, size_t *n);

/* The slots of the rows the last fleet_obs() returned, (n). */
const uint32_t *fleet_obs_slots(const fleet_t *f);

/* Whether unit (k, g) is among those fleet_obs() chose. */
int fleet_chosen(const fleet_t *f, size_t k, int g);

/* How many more guest rows chosen unit (k, g)'s request can carry: within
 * cfg.guests in all and within the server's batch limit (its hello's
 * max_batch) with the unit's own sessions; 0 for a unit not chosen. */
size_t fleet_guest_room(const fleet_t *f, size_t k, int g);

/* Adds n guest rows (sessions ids on endpoint k, actions act), marked
 * with tag, to chosen unit (k, g)'s request, at most cfg.guests in all;
 * call between fleet_obs() and fleet_send(). The step uses the unit's
 * autoreset (SAME_STEP). */
int fleet_add_guests(fleet_t *f, size_t k, int g, const uint64_t *ids, const int32_t *act,
                     size_t n, int tag, errbuf_t *e);

/* Sends one step_batch per chosen unit: act (n) as from fleet_obs().
 * An endpoint whose send fails is dropped. */
void fleet_send(fleet_t *f, const int32_t *act);

/* group g: waits for the reply of every unit of group g in flight, in
 * endpoint order (at most timeout_ms after each send). FLEET_ANY: waits
 * until at least one unit has replied (or nothing is in flight) and reads
 * every reply there is. Fills out. */
void fleet_collect(fleet_t *f, int group, fleet_batch_t *out);

/* Units with a step_batch in flight. */
size_t fleet_in_flight(const fleet_t *f);

/* Units per endpoint. */
int fleet_groups(const fleet_t *f);

/* The retransmission timeout of endpoint k's units in ms; 0 before any
 * round trip has been measured. */
int fleet_rto_ms(const fleet_t *f, size_t k);

/* ------------------------------------------------------ per endpoint */

/* Places, vacant ones included; the endpoint of place k, NULL if vacant. */
size_t fleet_nendpoints(const fleet_t *f);
const char *fleet_endpoint(const fleet_t *f, size_t k);
int fleet_is_live(const fleet_t *f, size_t k);

/* The control connection to endpoint k (never used by a step_batch in
 * flight), for blocking requests between rounds (evaluation). Borrowed. */
client_t *fleet_client(fleet_t *f, size_t k);

/* Drops endpoint k (say after a failed evaluation) with a reason for the log. */
void fleet_drop(fleet_t *f, size_t k, const char *why);

/* Between ticks. endpoint NULL empties place k: its sessions are closed if
 * it is live (one try, so a server already gone costs at most timeout_ms),
 * its slots leave the rotation and save FLEET_NO_STATE, its connection is
 * closed ("replica X vanished" in the log); a vacant place stays vacant.
 * Otherwise place k must be vacant (else ERR_FAILED_PRECONDITION): it
 * connects to endpoint and probes it at once, like a dropped endpoint; the
 * server joins on the fleet_poll() that sees its answer ("replica X added",
 * then "X joined"). Connecting allocates; the tick still does not. */
int fleet_set_endpoint(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e);

/* ------------------------------------------------------ checkpoints */

size_t fleet_nslots(const fleet_t *f);

/* Per slot (nslots); slots of endpoints that are not live say FLEET_NO_STATE. */
const fleet_slot_state_t *fleet_slot_states(const fleet_t *f);

/* The current episode's actions per slot, (nslots, fleet_max_episode_steps())
 * bytes; NULL when episodes have no step limit or actions exceed a byte. */
const uint8_t *fleet_slot_actions(const fleet_t *f);

/* Per slot (nslots): 1 where a step is in flight, and the actions sent
 * (valid where in flight). */
const uint8_t *fleet_inflight(fleet_t *f);
const int32_t *fleet_sent_actions(const fleet_t *f);

/* Before fleet_start(), after fleet_set_restore(): the steps in flight when
 * the checkpoint was saved, sent again on each endpoint whose sessions are
 * rebuilt (copied). */
int fleet_set_restore_inflight(fleet_t *f, const uint8_t *inflight, const int32_t *act,
                               errbuf_t *e);

/* Before fleet_start(): rebuild the sessions from saved states (nslots of
 * them, actions (nslots, max_steps)), copied. Slots saying FLEET_NO_STATE,
 * or all of them if the spec differs from max_steps, start afresh. */
int fleet_set_restore(fleet_t *f, const fleet_slot_state_t *states, const uint8_t *actions,
                      uint32_t max_steps, errbuf_t *e);

#endif
