/*
 * client.h — a protocol v1 client connection to one envd (DEALER socket).
 *
 * Used by agentd, the benchmarks and the tests. A client numbers its
 * requests, sends without waiting (so a caller can send to many servers
 * first and collect afterwards), and waits for the matching reply with a
 * timeout. A reply that does not arrive in time leaves the connection
 * usable: the socket is closed and reopened (the Lazy Pirate pattern), so a
 * late reply to the abandoned request can never be mistaken for the next
 * one's. Within the timeout the client resends: the timeout is cut into
 * CLIENT_ATTEMPTS slices, and when one passes without the reply the same
 * request (same id, same client_id) goes out again on a fresh socket; envd
 * recognizes the resend and answers it without acting twice (see
 * docs/protocol.md, "Retries"). Replies decode into the client's arena and
 * stay valid until the next receive.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include "wire.h"

typedef struct client client_t;

#define CLIENT_ATTEMPTS 3 /* sends per request within one timeout, by default */

/* zctx: a ZeroMQ context shared by the caller's clients. */
int client_new(void *zctx, const char *endpoint, int timeout_ms, client_t **out, errbuf_t *e);
void client_destroy(client_t **self_p);

const char *client_endpoint(const client_t *c);

/* Switches the connection to CURVE: server_pub is the server's public key,
 * pub/sec the client's own pair (Z85 text, 40 characters each). Call right
 * after client_new, before any request; the socket is reopened with the
 * keys, and every Lazy Pirate reset reapplies them. A server that does not
 * authorise pub never answers: requests time out. */
int client_set_curve(client_t *c, const char *server_pub, const char *pub, const char *sec,
                     errbuf_t *e);

/* The random nonzero id this client sends as Request.client_id. */
uint64_t client_id(const client_t *c);

/* Sends per request within the timeout (1: never resend). */
void client_set_attempts(client_t *c, int attempts);

/* The wait before the first resend, in ms, then doubling after each (as
 * TCP's retransmission timeout); 0 (the default) cuts the timeout into
 * equal slices instead. A caller sets it from the round trips it measures
 * (client_rtt_us), so that a reply that will never come costs about one
 * round trip, not a slice of the timeout. */
void client_set_rto(client_t *c, int rto_ms);

/* The round trip of the last reply received, in microseconds, when it
 * answered the request's first send; -1 after a resend (Karn's rule: that
 * reply may be the first send's or the resend's) or before any reply. */
int64_t client_rtt_us(const client_t *c);

/* The socket, for callers that poll many clients at once (zmq_poll on
 * ZMQ_POLLIN, then client_try_recv); NULL while it cannot be reopened.
 * Changes on every resend and reset. */
void *client_socket(const client_t *c);

/* Milliseconds until the request in flight is resent or times out (0 if
 * that is due now): how long a poller may sleep. */
int client_wait_ms(const client_t *c);

/* Sends req, filling in the protocol version, the client id and a fresh
 * request id. */
int client_send(client_t *c, wire_request_t *req, errbuf_t *e);

/* Waits for the reply to the last request sent, resending it on a fresh
 * socket at each slice of the timeout. ERR_TIMEOUT once the timeout has
 * passed since that request was first sent (the socket is then reset),
 * so a caller that sent to many servers and collects them one after
 * the other waits at most one timeout in all. A server error reply is
 * returned as rep with rep->code set; the return value is 0 whenever a
 * reply arrived. An error reply with id 0 (envd could not read the
 * request: oversized, multi-part or undecodable) is taken as the answer. */
int client_recv(client_t *c, wire_reply_t *rep, errbuf_t *e);

/* client_recv without waiting, for polling a server that may be down:
 * 1 with rep filled when the reply has arrived, 0 when it has not yet
 * (resending it when a slice of the timeout has passed), ERR_TIMEOUT
 * (socket reset) when it has not and the whole timeout has passed since
 * the first send. */
int client_try_recv(client_t *c, wire_reply_t *rep, errbuf_t *e);

/* Abandons any request in flight: the socket is closed and reopened, so no
 * reply to an earlier request can arrive any more (Lazy Pirate), and the
 * request is not resent. */
void client_reset(client_t *c);

/* client_send + client_recv; a server error becomes the return value, with
 * its message in e. */
int client_call(client_t *c, wire_request_t *req, wire_reply_t *rep, errbuf_t *e);

/* Sends raw bytes as one request frame (tests use it for malformed input);
 * never resent. */
int client_send_raw(client_t *c, const void *data, size_t len, errbuf_t *e);

#endif
