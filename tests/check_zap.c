/*
 * check_zap.c — CURVE encryption and client authentication
 * (server/zap.c): who is let in, who is not, and that the refused are
 * served nothing.
 *
 * In-process: a server thread (tests/fixture_server.h) runs envd's server
 * with a CURVE secret key and a directory of authorised client keys, all
 * made with curve_keygen() in a fresh temporary folder, bound to
 * tcp://127.0.0.1:*. An authorised client replays a Gymnasium golden
 * episode bit for bit; a client with an unknown key and a plaintext client
 * get no answer (their requests time out) and, as an authorised client's
 * stats show afterwards, were served nothing; the refusals are counted.
 * The binary's side (the plaintext rule, --curve-secret without
 * --curve-clients) is in check_envd.c; SIGHUP reloading the keys in
 * tests/python/test_security.py.
 */
#include <check.h>
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "curve.h"
#include "fixture_server.h"
#include "spawn.h"

#define REFUSED_MS 1000 /* how long a refused client waits before its request times out */

/* A CURVE server admitting k's client key; no default client. */
static harness_t *harness_curve(const keys_t *k)
{
    server_config_t cfg;
    harness_config(&cfg);
    cfg.curve_secret = k->server_sec;
    cfg.curve_clients = k->clients_dir;
    return harness_start_bare(&cfg);
}

static client_t *curve_client(harness_t *h, const keys_t *k, const char *pub, const char *sec,
                              int timeout_ms)
{
    client_t *c = NULL;
    errbuf_t e;
    ck_assert_msg(client_new(h->zctx, h->endpoint, timeout_ms, &c, &e) == 0, "%s", e.msg);
    if (pub)
        ck_assert_msg(client_set_curve(c, k->server_pub, pub, sec, &e) == 0, "%s", e.msg);
    return c;
}

/* A make request that must not be answered: ERR_TIMEOUT. */
static void ck_refused(client_t *c)
{
    wire_request_t req = {.op = WIRE_OP_MAKE, .make = {.env_id = "CartPole-v1", .count = 1}};
    wire_reply_t rep;
    errbuf_t e;
    int rc = client_call(c, &req, &rep, &e);
    ck_assert_msg(rc == ERR_TIMEOUT, "a refused client was answered: %s (%s)", err_name(rc), e.msg);
}

/* ------------------------------------------------------------- tests */

START_TEST(test_authorised_client_replays_golden_episode_bit_exact)
{
    keys_t k;
    keys_make(&k);
    harness_t *h = harness_curve(&k);
    client_t *c = curve_client(h, &k, k.client_pub, k.client_sec, TIMEOUT_MS);
    cJSON *cs = golden_case("public/random/0");
    replay_golden_case(c, cs);
    cJSON_Delete(cs);
    /* A Lazy Pirate reset reopens the socket: the keys must come with it. */
    client_reset(c);
    ck_assert_uint_eq(stats(c).sessions_created, 1);
    client_destroy(&c);
    ck_assert_uint_eq(harness_stop(&h), 0);
    spawn_rmdir(&k.dir);
}
END_TEST

START_TEST(test_unauthorised_key_is_refused_and_served_nothing)
{
    keys_t k;
    keys_make(&k);
    harness_t *h = harness_curve(&k);
    client_t *rogue = curve_client(h, &k, k.rogue_pub, k.rogue_sec, REFUSED_MS);
    ck_refused(rogue);
    client_destroy(&rogue);
    client_t *c = curve_client(h, &k, k.client_pub, k.client_sec, TIMEOUT_MS);
    wire_stats_t st = stats(c);
    ck_assert_uint_eq(st.sessions_created, 0);
    ck_assert_uint_eq(st.requests, 0); /* counted once answered: this one is not yet */
    client_destroy(&c);
    ck_assert_uint_ge(harness_stop(&h), 1);
    spawn_rmdir(&k.dir);
}
END_TEST

START_TEST(test_plaintext_client_cannot_talk_to_curve_server)
{
    keys_t k;
    keys_make(&k);
    harness_t *h = harness_curve(&k);
    client_t *plain = curve_client(h, &k, NULL, NULL, REFUSED_MS);
    ck_refused(plain);
    client_destroy(&plain);
    /* Nor with the right client keys but the wrong server key. */
    client_t *wrong = NULL;
    errbuf_t e;
    ck_assert_int_eq(client_new(h->zctx, h->endpoint, REFUSED_MS, &wrong, &e), 0);
    ck_assert_int_eq(client_set_curve(wrong, k.rogue_pub, k.client_pub, k.client_sec, &e), 0);
    ck_refused(wrong);
    client_destroy(&wrong);
    client_t *c = curve_client(h, &k, k.client_pub, k.client_sec, TIMEOUT_MS);
    wire_stats_t st = stats(c);
    ck_assert_uint_eq(st.sessions_created, 0);
    ck_assert_uint_eq(st.requests, 0);
    client_destroy(&c);
    harness_stop(&h);
    spawn_rmdir(&k.dir);
}
END_TEST

Suite *zap_suite(void)
{
    Suite *s = suite_create("zap");
    TCase *tc = tcase_create("curve");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_authorised_client_replays_golden_episode_bit_exact);
    tcase_add_test(tc, test_unauthorised_key_is_refused_and_served_nothing);
    tcase_add_test(tc, test_plaintext_client_cannot_talk_to_curve_server);
    suite_add_tcase(s, tc);
    return s;
}
