/*
 * fleet_int.h — the fleet's own pieces, shared by its four files and by no
 * one else: fleet.c (the object: lifetime, accessors, the requests every
 * part makes), fleet_endpoint.c (each server's state machine: join, drop,
 * probe with backoff, rejoin, places filled and emptied), fleet_resume.c
 * (sessions rebuilt from a checkpoint by replaying their episodes) and
 * fleet_tick.c (one tick's observations, step_batch requests and
 * transitions).
 */
#ifndef FLEET_INT_H
#define FLEET_INT_H

#include <stdbool.h>
#include <zmq.h>

#include "fleet.h"

typedef enum { EP_DOWN, EP_LIVE, EP_FAILED, EP_VACANT } ep_state_t;

/* One of an endpoint's G groups: sessions ids[lo..hi) on a connection of
 * their own, so each group can have its step_batch in flight while the
 * others are being acted on. Guest rows (an evaluation's sessions) ride at
 * the end of its requests. */
typedef struct unit {
    client_t *c;
    bool sent;            /* a step_batch is in flight */
    bool selected;        /* picked by the last fleet_obs() */
    int lo, hi;
    size_t nguests;       /* guest rows of the next (or the in-flight) request */
    uint64_t *rq_ids;     /* (hi - lo + guests) the request's sessions */
    int32_t *rq_act;      /* (hi - lo + guests) its actions */
    int *rq_tag;          /* (guests) the guest rows' tags */
} unit_t;

typedef struct endpoint {
    client_t *c;          /* control: hello, make, resets, close, evaluations */
    unit_t *u;            /* (G) the step_batch connections */
    double srtt_ms, rttvar_ms; /* smoothed round trip of step_batch replies; srtt < 0: none yet */
    ep_state_t state;
    bool probing;         /* a hello is in flight */
    bool restore;         /* rebuild the saved sessions on the next join */
    bool has_ids;         /* ids[] hold sessions made on this server */
    bool added;           /* filled by fleet_set_endpoint, not joined yet */
    int backoff_ms;
    uint32_t max_batch;   /* rows per batch request, from its hello */
    int64_t next_probe_ms;
    uint32_t gen;         /* joins so far; fresh seeds depend on it */
    uint64_t *ids;        /* (S) session ids */
} endpoint_t;

struct fleet {
    fleet_config_t cfg;
    char *env_id;
    void *zctx;           /* borrowed, for clients of places filled later */
    curve_client_keys_t curve; /* copied: places filled later connect with them */
    endpoint_t *eps;      /* (E) */
    size_t E, nslots;
    int S, G;
    int D, A;             /* observation size, actions; 0 until the first join */
    uint32_t max_steps;   /* episode step limit (spec), 0: none */
    size_t hist_len;      /* bytes of action history per slot (max_steps, or 0) */
    char failure[ERR_MSG_MAX]; /* why the last endpoint failed for good */

    /* Per slot, allocated at the first join (sizes need the spaces). */
    float *slot_obs;      /* (nslots, D) current observation */
    float *live_obs;      /* (nslots, D) live slots, compacted */
    uint32_t *obs_slot;   /* (nslots) the slots of fleet_obs()'s rows */
    int32_t *sent_act;    /* (nslots) action sent this tick */
    double *ep_ret;       /* (nslots) return of the current episode */
    fleet_slot_state_t *st; /* (nslots) */
    uint8_t *hist;        /* (nslots, hist_len) current episode's actions */

    /* The tick's output (see fleet_batch_t). */
    float *b_obs, *b_next, *b_rew; /* (nslots, D), (nslots, D), (nslots) */
    int32_t *b_act;       /* (nslots) */
    uint32_t *b_slot;     /* (nslots) */
    uint8_t *b_term, *b_trunc; /* (nslots) */
    double *b_ep_ret;     /* (nslots) */
    int32_t *b_ep_len;    /* (nslots) */

    /* Join scratch, (S) each. */
    uint64_t *j_ids, *j_seeds;
    int32_t *j_act;
    size_t *j_slot;

    /* Guest rows of the last fleet_collect(), (cfg.guests) each. */
    uint64_t *g_ids;
    int *g_tag;
    float *g_obs;          /* (guests, D) */
    double *g_rew;         /* (guests) */
    uint8_t *g_term, *g_trunc;
    uint8_t *inflight;    /* (nslots) for checkpoints: 1 where the slot's step is in flight */
    zmq_pollitem_t *poll; /* (E * G) the units in flight, for fleet_collect(FLEET_ANY) */

    /* Saved states to rebuild (fleet_set_restore). */
    fleet_slot_state_t *r_st; /* (nslots) */
    uint8_t *r_hist;          /* (nslots, r_hist_len) */
    uint32_t r_max_steps;
    uint8_t *r_inflight;      /* (nslots) steps in flight when saved, to send again */
    int32_t *r_act;           /* (nslots) their actions */
};

/* fleet.c */
int fleet__open_client(fleet_t *f, size_t k, const char *endpoint, errbuf_t *e);
void fleet__close_clients(endpoint_t *ep, int G);
void fleet__close_sessions(fleet_t *f, endpoint_t *ep);
int fleet__alloc_slots(fleet_t *f, errbuf_t *e);
int fleet__check_obs(const fleet_t *f, const wire_tensor_t *t, size_t n, const char *what,
                     errbuf_t *e);
int fleet__reset_some(fleet_t *f, endpoint_t *ep, size_t n, bool seeded, errbuf_t *e);

/* fleet_tick.c */
int fleet__send_unit(fleet_t *f, size_t k, int g, errbuf_t *e);

/* fleet_resume.c */
bool fleet__can_rebuild(const fleet_t *f, size_t k);
int fleet__rebuild(fleet_t *f, size_t k, errbuf_t *e);
void fleet__resend_saved(fleet_t *f, size_t k);

#endif
