/*
 * check_fleet.c — agentd's sessions over real envd processes: transitions
 * carry the true final observation (checked against a reference session
 * replayed with the same seed and actions), a server killed with SIGKILL
 * is dropped and rejoins when it is back, a fleet rebuilt from saved
 * slot states continues exactly where the first one was, and step_batch
 * replies lost on the way back are recovered by resending (the fleet's
 * transitions are those of a fleet that lost nothing), and with one attempt
 * per request the same loss drops the server instead. Places: a vacant
 * place filled with a server joins and steps, an emptied one leaves the
 * rotation (closing its sessions) while the others go on.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "log.h"
#include "lossy_proxy.h"
#include "envds.h"

/* Quiet: drops and failures are expected here. */
static void start_quiet(envds_t *t, int n)
{
    log_init("check", LOG_ERROR - 1);
    envds_start(t, n);
}

/* CartPole-v1 on eps[0..n), `sessions` each, probes after 20-200 ms.
 * timeout_ms: long wherever the test needs every reply (a loaded machine
 * must not make a server look dead), short where a server is killed. */
static fleet_config_t test_config(const char *const *eps, size_t n, int sessions, int timeout_ms,
                                  uint64_t seed)
{
    return (fleet_config_t){.endpoints = eps, .nendpoints = n, .sessions = sessions,
                            .env_id = "CartPole-v1", .timeout_ms = timeout_ms,
                            .backoff_min_ms = 20, .backoff_max_ms = 200, .seed = seed};
}

/* fleet_new and fleet_start; either failing fails the test with its message. */
static fleet_t *open_fleet(void *zctx, const fleet_config_t *cfg)
{
    fleet_t *f = NULL;
    errbuf_t e;
    ck_assert_msg(fleet_new(zctx, cfg, &f, &e) == 0, "%s", e.msg);
    ck_assert_msg(fleet_start(f, &e) == 0, "%s", e.msg);
    return f;
}

static fleet_t *make_fleet(envds_t *t, int nep, int sessions, uint64_t seed, int timeout_ms)
{
    const char *eps[2] = {t->ep[0], t->ep[1]};
    fleet_config_t cfg = test_config(eps, (size_t)nep, sessions, timeout_ms, seed);
    return open_fleet(t->zctx, &cfg);
}

/* Ticks with action 0 until `live` endpoints are live (at most 20 s). */
static void tick_until_live(fleet_t *f, size_t live)
{
    int32_t act[64] = {0};
    size_t n;
    fleet_batch_t b;
    double until = spawn_now() + 20.0;
    while (fleet_live(f) != live && spawn_now() < until) {
        fleet_poll(f);
        fleet_obs(f, 0, &n);
        fleet_send(f, act);
        fleet_collect(f, 0, &b);
        usleep(2000);
    }
    ck_assert_uint_eq(fleet_live(f), live);
}

/* A policy that balances for a while: push towards where the pole falls. */
static int32_t balance(const float *o) { return o[2] + 0.5f * o[3] > 0 ? 1 : 0; }

START_TEST(test_transitions_end_in_the_true_final_observation)
{
    envds_t t;
    start_quiet(&t, 2);
    fleet_t *f = make_fleet(&t, 2, 3, 11, 30000);
    ck_assert_int_eq(fleet_live(f), 2);
    ck_assert_int_eq(fleet_obs_dim(f), 4);
    ck_assert_int_eq(fleet_num_actions(f), 2);
    ck_assert_uint_eq(fleet_max_episode_steps(f), 500);

    /* Reference: slot 4 (endpoint 1, session 1) replayed on a session of our own. */
    const size_t slot = 4;
    client_t *ref = NULL;
    errbuf_t e;
    ck_assert_int_eq(client_new(t.zctx, t.ep[0], 2000, &ref, &e), 0);
    wire_request_t req = {.op = WIRE_OP_MAKE};
    req.make.env_id = "CartPole-v1";
    wire_reply_t rep;
    ck_assert_int_eq(client_call(ref, &req, &rep, &e), 0);
    uint64_t sid = rep.make.sessions[0];
    req = (wire_request_t){.op = WIRE_OP_RESET};
    req.reset.session = sid;
    req.reset.has_seed = true;
    req.reset.seed = fleet_slot_states(f)[slot].seed;
    ck_assert_int_eq(client_call(ref, &req, &rep, &e), 0);

    /* Slots 0-2 always push left and terminate; the others balance and
     * run into the 500-step limit, after which slot 4 pushes left too. */
    int terminated = 0, truncated = 0;
    int32_t act[6];
    for (int tick = 0; tick < 1200 && !(terminated && truncated); tick++) {
        size_t n;
        const float *obs = fleet_obs(f, 0, &n);
        ck_assert_uint_eq(n, 6);
        for (size_t i = 0; i < n; i++)
            act[i] = i < 3 || (i == slot && truncated) ? 0 : balance(obs + 4 * i);
        float before[4];
        memcpy(before, obs + 4 * slot, sizeof before);
        fleet_send(f, act);
        fleet_batch_t b;
        fleet_collect(f, 0, &b);
        ck_assert_uint_eq(b.n, 6);
        ck_assert_int_eq(memcmp(b.obs + 4 * slot, before, sizeof before), 0);
        ck_assert_int_eq(b.act[slot], act[slot]);

        req = (wire_request_t){.op = WIRE_OP_STEP};
        req.step.session = sid;
        req.step.action = act[slot];
        ck_assert_int_eq(client_call(ref, &req, &rep, &e), 0);
        ck_assert_int_eq(memcmp(b.next + 4 * slot, rep.step.obs.data, 16), 0);
        ck_assert_int_eq(b.term[slot], rep.step.terminated);
        ck_assert_int_eq(b.trunc[slot], rep.step.truncated);
        if (rep.step.terminated || rep.step.truncated) {
            terminated |= rep.step.terminated;
            truncated |= rep.step.truncated;
            /* The slot now holds the new episode's first observation. */
            const float *now = fleet_obs(f, 0, &n) + 4 * slot;
            for (int j = 0; j < 4; j++)
                ck_assert(fabsf(now[j]) <= 0.05f);
            req = (wire_request_t){.op = WIRE_OP_RESET}; /* the stream continues, as autoreset */
            req.reset.session = sid;
            ck_assert_int_eq(client_call(ref, &req, &rep, &e), 0);
            ck_assert_int_eq(memcmp(now, rep.reset.obs.data, 16), 0);
        }
        for (size_t i = 0; i < b.n; i++) /* an always-left cart never truncates */
            ck_assert(!(i < 3 && b.trunc[i]));
    }
    ck_assert_msg(terminated && truncated, "slot %zu: terminated %d truncated %d", slot,
                  terminated, truncated);
    client_destroy(&ref);
    fleet_destroy(&f);
    envds_stop(&t);
}
END_TEST

START_TEST(test_killed_server_is_dropped_and_rejoins_when_back)
{
    envds_t t;
    start_quiet(&t, 2);
    fleet_t *f = make_fleet(&t, 2, 4, 5, 1000);
    int32_t act[8] = {0};
    size_t n;
    fleet_obs(f, 0, &n);
    ck_assert_uint_eq(n, 8);

    spawn_kill(&t.pid[1], SIGKILL);
    fleet_batch_t b;
    fleet_obs(f, 0, &n);
    fleet_send(f, act);
    fleet_collect(f, 0, &b);
    ck_assert_uint_eq(b.dropped, 1);
    ck_assert_uint_eq(b.n, 4); /* endpoint 0's rows only */
    ck_assert_int_eq(fleet_live(f), 1);
    ck_assert(!fleet_is_live(f, 1));

    /* Training goes on with the other server while this one is away. */
    for (int i = 0; i < 20; i++) {
        fleet_poll(f);
        fleet_obs(f, 0, &n);
        ck_assert_uint_eq(n, 4);
        fleet_send(f, act);
        fleet_collect(f, 0, &b);
        ck_assert_uint_eq(b.n, 4);
    }
    t.pid[1] = spawn_envd(t.ep[1], NULL);
    ck_assert_int_gt(t.pid[1], 0);
    tick_until_live(f, 2);
    fleet_obs(f, 0, &n);
    ck_assert_uint_eq(n, 8);
    fleet_send(f, act);
    fleet_collect(f, 0, &b);
    ck_assert_uint_eq(b.n, 8);
    ck_assert_uint_eq(b.dropped, 0);
    fleet_destroy(&f);
    envds_stop(&t);
}
END_TEST

START_TEST(test_rebuilt_fleet_continues_exactly)
{
    envds_t t;
    start_quiet(&t, 1);
    const int S = 5;
    fleet_t *f = make_fleet(&t, 1, S, 99, 30000);
    int32_t act[5];
    fleet_batch_t b;
    size_t n;
    for (int tick = 0; tick < 137; tick++) { /* several episodes per slot */
        const float *obs = fleet_obs(f, 0, &n);
        for (int i = 0; i < S; i++)
            act[i] = (tick * 7 + i * 3) % 5 < 2 ? 0 : balance(obs + 4 * i);
        fleet_send(f, act);
        fleet_collect(f, 0, &b);
    }
    int any_reset = 0;
    for (int i = 0; i < S; i++)
        any_reset |= fleet_slot_states(f)[i].resets > 0 && fleet_slot_states(f)[i].len > 0;
    ck_assert(any_reset);

    fleet_t *g = NULL;
    const char *eps[1] = {t.ep[0]};
    fleet_config_t cfg = test_config(eps, 1, S, 30000, 99);
    cfg.salt = 1;
    errbuf_t e;
    ck_assert_int_eq(fleet_new(t.zctx, &cfg, &g, &e), 0);
    ck_assert_int_eq(fleet_set_restore(g, fleet_slot_states(f), fleet_slot_actions(f),
                                       fleet_max_episode_steps(f), &e),
                     0);
    ck_assert_int_eq(fleet_start(g, &e), 0);
    size_t m;
    ck_assert_int_eq(memcmp(fleet_obs(f, 0, &n), fleet_obs(g, 0, &m), (size_t)S * 4 * sizeof(float)), 0);
    for (int tick = 0; tick < 300; tick++) {
        const float *obs = fleet_obs(f, 0, &n);
        for (int i = 0; i < S; i++)
            act[i] = (tick * 5 + i) % 4 == 0 ? 1 : balance(obs + 4 * i);
        fleet_send(f, act);
        fleet_obs(g, 0, &m); /* chooses the units to send */
        fleet_send(g, act);
        fleet_batch_t bg;
        fleet_collect(f, 0, &b);
        fleet_collect(g, 0, &bg);
        ck_assert_uint_eq(b.n, bg.n);
        ck_assert_int_eq(memcmp(b.next, bg.next, b.n * 4 * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(b.term, bg.term, b.n), 0);
        ck_assert_int_eq(memcmp(b.trunc, bg.trunc, b.n), 0);
        ck_assert_uint_eq(b.nepisodes, bg.nepisodes);
        for (size_t k = 0; k < b.nepisodes; k++) {
            ck_assert_double_eq(b.ep_return[k], bg.ep_return[k]);
            ck_assert_int_eq(b.ep_length[k], bg.ep_length[k]);
        }
    }
    fleet_destroy(&g);
    fleet_destroy(&f);
    envds_stop(&t);
}
END_TEST

START_TEST(test_unknown_env_fails_with_a_clear_error)
{
    envds_t t;
    start_quiet(&t, 1);
    const char *eps[1] = {t.ep[0]};
    fleet_config_t cfg = test_config(eps, 1, 2, 2000, 1);
    cfg.env_id = "LunarLander-v3";
    fleet_t *f = NULL;
    errbuf_t e;
    ck_assert_int_eq(fleet_new(t.zctx, &cfg, &f, &e), 0);
    ck_assert_int_eq(fleet_start(f, &e), ERR_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(e.msg, "LunarLander-v3"));
    fleet_destroy(&f);
    envds_stop(&t);
}
END_TEST

/* Runs `ticks` steps of a one-endpoint fleet at endpoint ep with a fixed
 * policy; stores every transition's next observation, reward and flags. */
static void run_one_endpoint(void *zctx, const char *ep, int ticks, float *next, float *rew,
                             uint8_t *done, size_t *dropped)
{
    const char *eps[1] = {ep};
    fleet_config_t cfg = test_config(eps, 1, 3, 3000, 77);
    fleet_t *f = open_fleet(zctx, &cfg);
    *dropped = 0;
    for (int tick = 0; tick < ticks; tick++) {
        size_t n;
        const float *obs = fleet_obs(f, 0, &n);
        ck_assert_uint_eq(n, 3);
        int32_t act[3];
        for (size_t i = 0; i < n; i++)
            act[i] = balance(obs + 4 * i);
        fleet_send(f, act);
        fleet_batch_t b;
        fleet_collect(f, 0, &b);
        *dropped += b.dropped;
        ck_assert_uint_eq(b.n, 3);
        memcpy(next + (size_t)tick * 12, b.next, 12 * sizeof *next);
        for (int i = 0; i < 3; i++) {
            rew[tick * 3 + i] = b.rew[i];
            done[tick * 3 + i] = (uint8_t)(b.term[i] | b.trunc[i] << 1);
        }
    }
    fleet_destroy(&f);
}

/* A proxy loses step_batch replies (numbers 1-3 are hello, make and
 * reset_batch): fleet_collect's client resends the step_batch with the same
 * id within its timeout, envd answers from its reply cache, and the
 * transitions equal those of an identical fleet that lost nothing; no
 * endpoint is dropped. Executed twice, a step_batch would shift them. */
START_TEST(test_lost_step_batch_replies_are_resent_not_stepped_twice)
{
    enum { TICKS = 60 };
    static const int drop[] = {5, 6, 20, 0};
    static float want_next[TICKS * 12], got_next[TICKS * 12], want_rew[TICKS * 3],
        got_rew[TICKS * 3];
    static uint8_t want_done[TICKS * 3], got_done[TICKS * 3];
    envds_t t;
    start_quiet(&t, 1);
    size_t dropped;
    run_one_endpoint(t.zctx, t.ep[0], TICKS, want_next, want_rew, want_done, &dropped);
    ck_assert_uint_eq(dropped, 0);
    proxy_t p;
    proxy_start(&p, t.zctx, t.ep[0], drop);
    run_one_endpoint(t.zctx, p.endpoint, TICKS, got_next, got_rew, got_done, &dropped);
    proxy_stop(&p);
    ck_assert_int_eq(p.dropped, 3);
    ck_assert_int_ge(p.requests - (p.replies - p.dropped), 3); /* the resends */
    ck_assert_uint_eq(dropped, 0);
    ck_assert_int_eq(memcmp(got_next, want_next, sizeof got_next), 0);
    ck_assert_int_eq(memcmp(got_rew, want_rew, sizeof got_rew), 0);
    ck_assert_int_eq(memcmp(got_done, want_done, sizeof got_done), 0);
    envds_stop(&t);
}
END_TEST

/* The same lost reply with one attempt per request: nothing is resent, and
 * once the timeout has passed the endpoint is dropped. */
START_TEST(test_one_attempt_drops_the_server_on_a_lost_reply)
{
    static const int drop[] = {5, 0}; /* the second step_batch's reply */
    envds_t t;
    start_quiet(&t, 1);
    proxy_t p;
    proxy_start(&p, t.zctx, t.ep[0], drop);
    const char *eps[1] = {p.endpoint};
    fleet_config_t cfg = test_config(eps, 1, 3, 600, 77);
    cfg.attempts = 1;
    cfg.backoff_min_ms = cfg.backoff_max_ms = 60000; /* no probe within the test */
    fleet_t *f = open_fleet(t.zctx, &cfg);
    size_t dropped[2];
    for (int tick = 0; tick < 2; tick++) {
        size_t n;
        fleet_obs(f, 0, &n);
        int32_t act[3] = {0, 1, 0};
        fleet_send(f, act);
        fleet_batch_t b;
        fleet_collect(f, 0, &b);
        dropped[tick] = b.dropped;
    }
    ck_assert_uint_eq(dropped[0], 0);
    ck_assert_uint_eq(dropped[1], 1);
    ck_assert_uint_eq(fleet_live(f), 0);
    fleet_destroy(&f); /* the dropped endpoint is not asked to close */
    proxy_stop(&p);
    ck_assert_int_eq(p.dropped, 1);
    ck_assert_int_eq(p.requests, 5); /* hello, make, reset_batch, 2 step_batch: no resend */
    envds_stop(&t);
}
END_TEST

/* Ticks `ticks` times with action 0, each stepping `slots` slots and
 * dropping no endpoint. */
static void tick_steadily(fleet_t *f, int ticks, size_t slots)
{
    int32_t act[64] = {0};
    for (int i = 0; i < ticks; i++) {
        size_t n;
        fleet_batch_t b;
        fleet_poll(f);
        fleet_obs(f, 0, &n);
        ck_assert_uint_eq(n, slots);
        fleet_send(f, act);
        fleet_collect(f, 0, &b);
        ck_assert_uint_eq(b.n, slots);
        ck_assert_uint_eq(b.dropped, 0);
    }
}

START_TEST(test_vacant_place_filled_joins_and_emptied_place_leaves)
{
    envds_t t;
    start_quiet(&t, 2);
    /* Three places of 2 sessions: server 0, then two vacant ones. */
    const char *eps[3] = {t.ep[0], NULL, NULL};
    fleet_config_t cfg = test_config(eps, 3, 2, 300, 3);
    fleet_t *f = open_fleet(t.zctx, &cfg);
    errbuf_t e;
    ck_assert_uint_eq(fleet_nslots(f), 6);
    ck_assert_uint_eq(fleet_live(f), 1);
    ck_assert_uint_eq(fleet_occupied(f), 1);
    ck_assert_ptr_null(fleet_endpoint(f, 1));
    for (size_t s = 2; s < 6; s++)
        ck_assert_uint_eq(fleet_slot_states(f)[s].resets, FLEET_NO_STATE);
    int32_t act[6] = {0};
    size_t n;
    fleet_batch_t b;
    tick_steadily(f, 10, 2); /* vacant places are never probed nor stepped */

    /* Fill place 1 with server 1: it joins and its sessions step. */
    ck_assert_int_eq(fleet_set_endpoint(f, 1, t.ep[1], &e), 0);
    ck_assert_str_eq(fleet_endpoint(f, 1), t.ep[1]);
    ck_assert_int_eq(fleet_set_endpoint(f, 1, t.ep[0], &e), ERR_FAILED_PRECONDITION);
    tick_until_live(f, 2);
    ck_assert(fleet_is_live(f, 1));
    fleet_slot_state_t was = fleet_slot_states(f)[2];
    fleet_obs(f, 0, &n);
    ck_assert_uint_eq(n, 4);
    fleet_send(f, act);
    fleet_collect(f, 0, &b);
    ck_assert_uint_eq(b.n, 4);
    ck_assert_uint_eq(b.dropped, 0);
    fleet_slot_state_t now = fleet_slot_states(f)[2];
    ck_assert_uint_ne(now.resets, FLEET_NO_STATE);
    ck_assert(now.len == was.len + 1 || (now.len == 0 && now.resets == was.resets + 1));

    /* Empty place 0 while it is live: its slots leave, place 1 goes on. */
    ck_assert_int_eq(fleet_set_endpoint(f, 0, NULL, &e), 0);
    ck_assert_ptr_null(fleet_endpoint(f, 0));
    ck_assert_uint_eq(fleet_live(f), 1);
    ck_assert_uint_eq(fleet_occupied(f), 1);
    ck_assert_uint_eq(fleet_slot_states(f)[0].resets, FLEET_NO_STATE);
    ck_assert_uint_eq(fleet_slot_states(f)[1].resets, FLEET_NO_STATE);
    tick_steadily(f, 10, 2);
    ck_assert(fleet_is_live(f, 1));
    ck_assert_int_eq(fleet_set_endpoint(f, 0, NULL, &e), 0); /* already vacant: no-op */

    /* The emptied place takes a server again. */
    ck_assert_int_eq(fleet_set_endpoint(f, 2, t.ep[0], &e), 0);
    tick_until_live(f, 2);
    ck_assert(fleet_is_live(f, 2));
    ck_assert(!fleet_is_live(f, 0));
    fleet_obs(f, 0, &n);
    ck_assert_uint_eq(n, 4);
    fleet_destroy(&f);
    envds_stop(&t);
}
END_TEST

START_TEST(test_emptied_place_closes_its_sessions_on_the_server)
{
    envds_t t;
    start_quiet(&t, 1);
    const char *eps[2] = {t.ep[0], NULL};
    fleet_config_t cfg = test_config(eps, 2, 3, 300, 4);
    fleet_t *f = open_fleet(t.zctx, &cfg);
    errbuf_t e;
    ck_assert_uint_eq(fleet_live(f), 1);
    client_t *c = NULL;
    ck_assert_int_eq(client_new(t.zctx, t.ep[0], 2000, &c, &e), 0);
    wire_request_t req = {.op = WIRE_OP_STATS};
    wire_reply_t rep;
    ck_assert_int_eq(client_call(c, &req, &rep, &e), 0);
    ck_assert_uint_eq(rep.stats.active_sessions, 3);
    ck_assert_int_eq(fleet_set_endpoint(f, 0, NULL, &e), 0);
    ck_assert_int_eq(client_call(c, &req, &rep, &e), 0);
    ck_assert_uint_eq(rep.stats.active_sessions, 0);
    client_destroy(&c);
    fleet_destroy(&f);
    envds_stop(&t);
}
END_TEST

/* Steps fleet f until every one of its nslots slots has made T steps, each
 * slot's action a function of the slot and its own step count only; in
 * sync mode acting on group p and collecting p+1 as agentd does, in async
 * mode on whatever has replied. Records each slot's rewards, end flags and
 * next observations' first component, by step. */
#define TRAJ_T 60
typedef struct traj {
    float x[12][TRAJ_T];
    float rew[12][TRAJ_T];
    uint8_t done[12][TRAJ_T];
    int n[12];
} traj_t;

static int32_t slot_action(size_t slot, int n) { return (int32_t)((slot * 7 + (size_t)n * 3) % 5 < 2); }

static void record(fleet_t *f, int G, int async, traj_t *t)
{
    size_t nslots = fleet_nslots(f);
    memset(t, 0, sizeof *t);
    int32_t act[12];
    int sent_n[12] = {0}; /* steps sent per slot */
    for (int round = 0, p = 0, full = 0; !full && round < 5000; round++, p = (p + 1) % G) {
        size_t n;
        fleet_obs(f, async ? FLEET_ANY : p, &n);
        const uint32_t *slots = fleet_obs_slots(f);
        for (size_t i = 0; i < n; i++)
            act[i] = slot_action(slots[i], sent_n[slots[i]]++);
        if (n > 0)
            fleet_send(f, act);
        fleet_batch_t b;
        fleet_collect(f, async ? FLEET_ANY : (p + 1) % G, &b);
        ck_assert_uint_eq(b.dropped, 0);
        for (size_t i = 0; i < b.n; i++) {
            uint32_t s = b.slot[i];
            int k = t->n[s]++;
            ck_assert_int_eq(b.act[i], slot_action(s, k)); /* in order, per session */
            if (k < TRAJ_T) {
                t->x[s][k] = b.next[i * 4];
                t->rew[s][k] = b.rew[i];
                t->done[s][k] = b.term[i] | (b.trunc[i] << 1);
            }
        }
        full = 1;
        for (size_t s = 0; s < nslots; s++)
            full &= t->n[s] >= TRAJ_T;
    }
    for (size_t s = 0; s < nslots; s++)
        ck_assert_int_ge(t->n[s], TRAJ_T);
}

/* Groups and async change when a session steps, never what it does: with
 * the same seeds every session's trajectory is the same in lock-step,
 * with three groups in flight and asynchronously. */
START_TEST(test_groups_and_async_give_every_session_the_same_trajectory)
{
    envds_t t;
    start_quiet(&t, 2);
    const char *eps[2] = {t.ep[0], t.ep[1]};
    traj_t *ref = malloc(sizeof *ref), *got = malloc(sizeof *got);
    ck_assert(ref && got);
    struct { int G, async; } runs[] = {{1, 0}, {3, 0}, {2, 1}, {6, 1}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        fleet_config_t cfg = test_config(eps, 2, 6, 30000, 42);
        cfg.groups = runs[r].G;
        fleet_t *f = open_fleet(t.zctx, &cfg);
        ck_assert_int_eq(fleet_groups(f), runs[r].G);
        record(f, runs[r].G, runs[r].async, r == 0 ? ref : got);
        if (r > 0) {
            for (int s = 0; s < 12; s++) {
                ck_assert_int_eq(memcmp(ref->x[s], got->x[s], sizeof ref->x[s]), 0);
                ck_assert_int_eq(memcmp(ref->rew[s], got->rew[s], sizeof ref->rew[s]), 0);
                ck_assert_int_eq(memcmp(ref->done[s], got->done[s], sizeof ref->done[s]), 0);
            }
        }
        int any_done = 0;
        for (int s = 0; s < 12; s++)
            for (int k = 0; k < TRAJ_T; k++)
                any_done |= ref->done[s][k];
        ck_assert(any_done); /* episodes ended (and autoreset) along the way */
        ck_assert_int_gt(fleet_rto_ms(f, 0), 0); /* round trips were measured */
        fleet_destroy(&f);
    }
    free(ref);
    free(got);
    envds_stop(&t);
}
END_TEST

Suite *fleet_suite(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("envd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_transitions_end_in_the_true_final_observation);
    tcase_add_test(tc, test_killed_server_is_dropped_and_rejoins_when_back);
    tcase_add_test(tc, test_rebuilt_fleet_continues_exactly);
    tcase_add_test(tc, test_unknown_env_fails_with_a_clear_error);
    tcase_add_test(tc, test_lost_step_batch_replies_are_resent_not_stepped_twice);
    tcase_add_test(tc, test_one_attempt_drops_the_server_on_a_lost_reply);
    tcase_add_test(tc, test_vacant_place_filled_joins_and_emptied_place_leaves);
    tcase_add_test(tc, test_emptied_place_closes_its_sessions_on_the_server);
    tcase_add_test(tc, test_groups_and_async_give_every_session_the_same_trajectory);
    suite_add_tcase(s, tc);
    return s;
}
