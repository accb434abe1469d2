/*
 * fixture_server.h — the fixtures envd's server-side suites share, in one
 * place: the service driven in-process, the server on a loop thread, the
 * calls a client makes, local environments to mirror sessions with, the
 * golden trajectories, an HTTP exchange, and CURVE keys in a fresh folder.
 *
 * In-process (svc_fixture_t): requests are encoded and handed to
 * service_handle() as the transport would, and the reply decoded; no
 * socket, no thread, a clock the test sets (check_retry.c,
 * check_service_batch.c).
 *
 * Over a socket (harness_t): a thread runs a private uv_loop with
 * server_new() bound to tcp://127.0.0.1:* (or what the config says), and
 * clients talk to it through common/client.h or raw ZeroMQ sockets, so
 * every request crosses the real codec and the real transport. The
 * harness stops the server through a uv_async_t and then proves that
 * uv_loop_close() succeeds: no handle is left open (check_service.c,
 * check_server.c, check_metrics.c, check_zap.c).
 *
 * Every helper that checks something fails the test with ck_assert, and
 * every wait is bounded (TIMEOUT_MS): a reply that does not come fails the
 * test, never hangs it. Compiled once beside the suites (the Makefile's
 * tests/fixture_*.c); it has no suite of its own.
 */
#ifndef FIXTURE_SERVER_H
#define FIXTURE_SERVER_H

#include <cJSON.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "client.h"
#include "env.h"
#include "server.h"
#include "service.h"
#include "wire.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT_MS 5000 /* a reply that does not come fails the test, never hangs it */
#define GOLDEN_PATH "tests/data/cartpole_v1_public.jsonl"

/* ---------------------------------------------------- the service in-process */

typedef struct svc_fixture {
    service_t *svc;
    arena_t *arena;    /* the replies' decoding */
    wire_buf_t in, out; /* the last request's bytes, and its reply's */
    const service_peer_t *peer; /* who sends: NULL (one unknown connection) unless set */
    uint64_t now;      /* the service's clock, ms */
} svc_fixture_t;

/* A service with cfg; now starts at 1000. */
void svc_fixture_init(svc_fixture_t *f, const service_config_t *cfg);
void svc_fixture_deinit(svc_fixture_t *f);

/* Hands the bytes in f->in to the service as f->peer at f->now; the reply
 * is in f->out and decoded into rep (valid until the next call). */
void svc_fixture_send(svc_fixture_t *f, wire_reply_t *rep);

/* Encodes req as this protocol version (its id and client_id as they are)
 * into f->in and sends it. */
void svc_fixture_call(svc_fixture_t *f, wire_request_t *req, wire_reply_t *rep);

/* ------------------------------------------------- the server on a thread */

typedef struct harness {
    uv_loop_t loop;
    uv_async_t stop;
    server_t *server;
    pthread_t thread;
    int loop_close_rc;
    bool stop_sent;
    bool pause_on_stop;      /* on_stop waits for `resume` before stopping */
    sem_t paused, resume;
    const char *endpoint;    /* binds[0] as bound */
    int metrics_port;
    void *zctx;
    client_t *c;             /* the default client; NULL from harness_start_bare */
} harness_t;

/* tcp://127.0.0.1:*, 64 sessions, batches of 16, a 60 s TTL, 64 KiB
 * messages, a high-water mark of 1000; no metrics, no CURVE. */
void harness_config(server_config_t *cfg);

/* Starts the server (cfg NULL: harness_config's) and a default client h->c. */
harness_t *harness_start(const server_config_t *cfg);

/* The same without the default client (a CURVE server would count its
 * handshake as a refusal). */
harness_t *harness_start_bare(const server_config_t *cfg);

/* Asks the loop thread to stop the server (once). */
void harness_send_stop(harness_t *h);

/* Stops the server and checks that its loop closed with no handle open;
 * returns the CURVE handshakes it refused, read once the loop has ended.
 * Every other client of h->zctx must be destroyed first. */
uint64_t harness_stop(harness_t **hp);

/* A client of h's context for endpoint. */
client_t *client_open(harness_t *h, const char *endpoint, int timeout_ms);

/* ------------------------------------------------------------------ calls */

/* A success reply to req, of its operation. */
void call_ok(client_t *c, wire_request_t *req, wire_reply_t *rep);

/* Expects an error reply with this code; returns its message (valid until
 * the client's next receive). */
const char *call_err(client_t *c, wire_request_t *req, int code);

/* Sends bytes that the client does not encode; returns the reply. */
void call_raw(client_t *c, const void *data, size_t len, wire_reply_t *rep);

void ck_message_has(const char *msg, const char *word);

/* Makes count sessions (0 means 1) of env_id; their ids into ids. */
void make_n(client_t *c, const char *env_id, const option_t *opts, size_t nopts, uint32_t count,
            uint64_t *ids);
uint64_t make_one(client_t *c); /* one CartPole-v1 */
wire_stats_t stats(client_t *c);
void close_ids(client_t *c, const uint64_t *ids, size_t n, uint32_t want_closed);

typedef struct step_result {
    float obs[4];
    double reward;
    bool terminated, truncated;
} step_result_t;

/* A CartPole observation (4 floats) from a reset or a step of session id. */
void remote_reset(client_t *c, uint64_t id, const uint64_t *seed, float *obs);
void remote_step(client_t *c, uint64_t id, int64_t action, step_result_t *r);

/* A FLOAT32 tensor of shape [rows, 4], or [4] when rows is 0. */
void ck_obs_shape(const wire_tensor_t *got, uint32_t rows);
void ck_obs_shape_dim(const wire_tensor_t *got, uint32_t rows, uint32_t dim);

/* The tensor holds exactly `want`, bit for bit. */
void ck_obs_eq(const float *want, const wire_tensor_t *got, uint32_t rows, const char *what);
/* The same for observations of dim values (ck_obs_eq: CartPole's 4). */
void ck_obs_eq_dim(const float *want, const wire_tensor_t *got, uint32_t rows, uint32_t dim,
                   const char *what);

/* ---------------------------------------------------------------- mirrors */

/* A local environment (calloc'ed: free it) made as a session would be. */
env_t *local_env(const char *id, const option_t *opts, size_t nopts);
void local_reset(env_t *env, const uint64_t *seed, float *obs);
void local_step(env_t *env, int64_t action, step_result_t *r);

/* want and got agree bit for bit. */
void ck_step_eq(const step_result_t *want, const step_result_t *got, const char *what);

/* What step_batch must do to one row whose session env mirrors, in
 * autoreset mode `mode` (docs/protocol.md, Gymnasium's vector autoreset
 * modes): NEXT_STEP resets a finished row instead of stepping it (reward
 * 0, flags false), SAME_STEP resets a row that ends and keeps the last
 * observation as final_obs, DISABLED only steps. Moves env accordingly. */
typedef struct batch_row {
    float obs[4], final_obs[4]; /* final_obs: zeros unless reset in the same step */
    double reward;
    bool terminated, truncated;
    uint8_t autoreset;
} batch_row_t;

void mirror_batch_row(env_t *env, int mode, int64_t action, batch_row_t *x);

/* The golden files' balance policy: long episodes from few lines. */
int64_t balance(const float *obs);

/* A bystander: a session on the server and a local twin. After any bad
 * request, stepping both must still give identical results. */
typedef struct witness {
    uint64_t id;
    env_t *env;
    float obs[4];
} witness_t;

void witness_start(client_t *c, witness_t *w, uint64_t seed);
void witness_check(client_t *c, witness_t *w, int steps);
void witness_end(client_t *c, witness_t *w);

/* ----------------------------------------------------------------- golden */

/* The Gymnasium recording case_id from GOLDEN_PATH (cJSON_Delete it);
 * fails the test if it is not there. */
cJSON *golden_case(const char *case_id);

/* Replays a recorded CartPole case through c on a session of its own,
 * every observation bit for bit, rewards and flags exactly; then closes
 * the session. */
void replay_golden_case(client_t *c, const cJSON *cs);

/* ------------------------------------------------------------------- HTTP */

/* One HTTP exchange with 127.0.0.1:port; the whole response into out. */
void http_exchange(int port, const char *request, char *out, size_t cap);

/* -------------------------------------------------------------------- keys */

typedef struct keys {
    char *dir;
    char server_pub[41], server_sec[41];
    char client_pub[41], client_sec[41]; /* authorised */
    char rogue_pub[41], rogue_sec[41];   /* not authorised */
    char clients_dir[512];               /* holds client.pub only */
} keys_t;

/* Three CURVE key pairs made with curve_keygen() in a fresh folder
 * (spawn_rmdir(&k->dir) removes it). */
void keys_make(keys_t *k);

#endif
