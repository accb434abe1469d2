/*
 * check_evaluator.c — greedy evaluation on a real envd against episodes
 * played one by one on a plain session: same seeds, same greedy actions,
 * so the returns, their mean and their std must agree exactly — played in
 * blocking batches, and riding in a fleet's rounds as agentd plays it.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "dqn.h"
#include "evaluator.h"
#include "fleet.h"
#include "log.h"
#include "envds.h"

/* Plays one greedy episode of net from seed on session sid; returns its return. */
static double play_one(client_t *c, uint64_t sid, qnet_t *net, uint64_t seed)
{
    errbuf_t e;
    wire_reply_t rep;
    wire_request_t req = {.op = WIRE_OP_RESET};
    req.reset.session = sid;
    req.reset.has_seed = true;
    req.reset.seed = seed;
    ck_assert_int_eq(client_call(c, &req, &rep, &e), 0);
    float obs[4], q[2];
    memcpy(obs, rep.reset.obs.data, sizeof obs);
    double ret = 0.0;
    for (;;) {
        qnet_predict(net, obs, 1, q);
        req = (wire_request_t){.op = WIRE_OP_STEP};
        req.step.session = sid;
        req.step.action = dqn_argmax(q, 2);
        ck_assert_int_eq(client_call(c, &req, &rep, &e), 0);
        ret += rep.step.reward;
        memcpy(obs, rep.step.obs.data, sizeof obs);
        if (rep.step.terminated || rep.step.truncated)
            return ret;
    }
}

START_TEST(test_batched_greedy_evaluation_equals_episodes_played_one_by_one)
{
    envds_t t;
    envds_start(&t, 1);
    client_t *c = NULL;
    errbuf_t e;
    ck_assert_int_eq(client_new(t.zctx, t.ep[0], 5000, &c, &e), 0);

    /* A hand-made controller, Q(right) - Q(left) = theta with no damping:
     * it keeps the pole up for some tens of steps, a different number
     * for each seed. */
    int hidden[1] = {2};
    qnet_t *net = NULL;
    ck_assert_msg(qnet_new(4, hidden, 1, 2, 1, &net, &e) == 0, "%s", e.msg);
    float *w0 = qnet_weight(net, 0), *w1 = qnet_weight(net, 1);
    float feat[4] = {0.0f, 0.0f, 1.0f, 0.0f};
    for (int i = 0; i < 4; i++) {
        w0[i * 2 + 0] = feat[i];  /* hidden 0 = relu(+f) */
        w0[i * 2 + 1] = -feat[i]; /* hidden 1 = relu(-f) */
    }
    w1[0 * 2 + 1] = 1.0f;  /* Q(right) = relu(f) */
    w1[1 * 2 + 0] = 1.0f;  /* Q(left) = relu(-f) */

    enum { E = 12 };
    evaluator_t *ev = NULL;
    ck_assert_int_eq(evaluator_new(E, 4, 2, &ev, &e), 0);
    evaluator_result_t res;
    ck_assert_msg(evaluator_run(ev, c, "CartPole-v1", net, 1000, &res, &e) == 0, "%s", e.msg);

    wire_request_t req = {.op = WIRE_OP_MAKE};
    req.make.env_id = "CartPole-v1";
    wire_reply_t rep;
    ck_assert_int_eq(client_call(c, &req, &rep, &e), 0);
    uint64_t sid = rep.make.sessions[0];
    double want[E], sum = 0.0, steps = 0.0;
    for (int i = 0; i < E; i++) {
        want[i] = play_one(c, sid, net, 1000 + (uint64_t)i);
        ck_assert_double_eq(evaluator_returns(ev)[i], want[i]);
        sum += want[i];
        steps += want[i]; /* reward 1 per step */
    }
    double mean = sum / E, var = 0.0;
    for (int i = 0; i < E; i++)
        var += (want[i] - mean) * (want[i] - mean);
    ck_assert_double_eq_tol(res.mean, mean, 1e-9);
    ck_assert_double_eq_tol(res.std, sqrt(var / E), 1e-9);
    ck_assert_int_eq(res.steps, (int64_t)steps);
    ck_assert_int_eq(res.episodes, E);
    ck_assert_double_gt(res.max, res.min); /* the controller is neither hopeless nor perfect */

    /* The same evaluation riding in a fleet's rounds as agentd plays it:
     * three groups in flight, episode i in group i % 3's requests beside
     * the training sessions (SAME_STEP autoreset), same returns. */
    log_init("check", LOG_WARN); /* no join lines */
    const char *eps[1] = {t.ep[0]};
    fleet_config_t fc = {.endpoints = eps, .nendpoints = 1, .sessions = 6, .groups = 3,
                         .guests = E, .env_id = "CartPole-v1", .timeout_ms = 30000,
                         .backoff_min_ms = 20, .backoff_max_ms = 200, .seed = 5};
    fleet_t *f = NULL;
    ck_assert_msg(fleet_new(t.zctx, &fc, &f, &e) == 0 && fleet_start(f, &e) == 0, "%s", e.msg);
    evaluator_t *ev2 = NULL;
    ck_assert_int_eq(evaluator_new(E, 4, 2, &ev2, &e), 0);
    ck_assert_msg(evaluator_begin(ev2, c, "CartPole-v1", 1000, &e) == 0, "%s", e.msg);
    int32_t act[6] = {0};
    size_t rode = 0;
    for (int round = 0, p = 0; !evaluator_done(ev2) && round < 20000; round++, p = (p + 1) % 3) {
        size_t n;
        fleet_obs(f, p, &n);
        for (int g = 0; g < 3; g++) {
            if (!fleet_chosen(f, 0, g))
                continue;
            const uint64_t *ids;
            const int32_t *acts;
            size_t m = evaluator_rows(ev2, g, 3, fleet_guest_room(f, 0, g), net, &ids, &acts);
            ck_assert_int_eq(fleet_add_guests(f, 0, g, ids, acts, m, 7, &e), 0);
        }
        fleet_send(f, act);
        fleet_batch_t b;
        fleet_collect(f, (p + 1) % 3, &b);
        ck_assert_uint_eq(b.dropped, 0);
        for (size_t i = 0; i < b.nguests; i++)
            ck_assert_int_eq(b.guest_tag[i], 7);
        rode += b.nguests;
        evaluator_take(ev2, b.nguests, b.guest_ids, b.guest_rew, b.guest_term, b.guest_trunc,
                       b.guest_obs);
    }
    evaluator_result_t res2;
    ck_assert_msg(evaluator_end(ev2, c, &res2, &e) == 0, "%s", e.msg);
    for (int i = 0; i < E; i++)
        ck_assert_double_eq(evaluator_returns(ev2)[i], want[i]);
    ck_assert_int_eq(res2.steps, res.steps);
    ck_assert_uint_eq(rode, (size_t)res.steps);
    ck_assert_double_eq(res2.mean, res.mean);
    evaluator_destroy(&ev2);
    fleet_destroy(&f);

    evaluator_destroy(&ev);
    qnet_destroy(&net);
    client_destroy(&c);
    envds_stop(&t);
}
END_TEST

Suite *evaluator_suite(void)
{
    Suite *s = suite_create("evaluator");
    TCase *tc = tcase_create("envd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_batched_greedy_evaluation_equals_episodes_played_one_by_one);
    suite_add_tcase(s, tc);
    return s;
}
