/*
 * check_libzmq.c — the two fixes envd's libzmq carries (third_party/libzmq),
 * tested on a bare ROUTER in this process, as envd configures it.
 *
 * Routing ids: the test seeds rand() itself just before creating the
 * ROUTER, so it knows the counter libzmq will number anonymous peers with
 * (generate_random(): two rand() calls). Peers that chose exactly those
 * ids connect first; anonymous peers after them must get other ids and be
 * answered (stock libzmq 4.3.4 aborts on the first one).
 *
 * Multipart bound: a raw ZMTP 3.0 peer (NULL mechanism, over a plain TCP
 * socket) sends frames with the MORE flag. With ZMQ_MAXMSGSIZE = L, a
 * message is delivered while its payload plus 64 bytes (one msg_t) per
 * frame after the first is at most L; one byte more disconnects the peer
 * before the message is delivered. Every frame is below L by itself, which
 * stock libzmq checks alone.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define TIMEOUT_MS 5000
#define MSG_T_BYTES 64 /* sizeof (zmq::msg_t) in libzmq 4.3.4 */

typedef struct router {
    void *ctx, *sock;
    char endpoint[64];
    int port;
} router_t;

static void router_open(router_t *r, int64_t maxmsgsize)
{
    r->ctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(r->ctx);
    r->sock = zmq_socket(r->ctx, ZMQ_ROUTER);
    ck_assert_ptr_nonnull(r->sock);
    int one = 1, timeout = TIMEOUT_MS, linger = 0;
    ck_assert_int_eq(zmq_setsockopt(r->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one), 0);
    ck_assert_int_eq(zmq_setsockopt(r->sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
    ck_assert_int_eq(zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger), 0);
    ck_assert_int_eq(zmq_setsockopt(r->sock, ZMQ_MAXMSGSIZE, &maxmsgsize, sizeof maxmsgsize), 0);
    ck_assert_int_eq(zmq_bind(r->sock, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof r->endpoint;
    ck_assert_int_eq(zmq_getsockopt(r->sock, ZMQ_LAST_ENDPOINT, r->endpoint, &len), 0);
    r->port = atoi(strrchr(r->endpoint, ':') + 1);
}

static void router_close(router_t *r)
{
    zmq_close(r->sock);
    zmq_ctx_term(r->ctx);
}

static void *dealer_open(router_t *r, const void *routing_id, size_t len)
{
    void *d = zmq_socket(r->ctx, ZMQ_DEALER);
    int timeout = TIMEOUT_MS, linger = 0;
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    if (routing_id)
        ck_assert_int_eq(zmq_setsockopt(d, ZMQ_ROUTING_ID, routing_id, len), 0);
    ck_assert_int_eq(zmq_connect(d, r->endpoint), 0);
    return d;
}

/* The router receives one [id][body] message; its id is copied to id. */
static size_t router_recv(router_t *r, uint8_t *id, char *body, size_t cap)
{
    int n = zmq_recv(r->sock, id, 255, 0);
    ck_assert_msg(n > 0, "router recv: %s", zmq_strerror(errno));
    int more;
    size_t ml = sizeof more;
    zmq_getsockopt(r->sock, ZMQ_RCVMORE, &more, &ml);
    ck_assert(more);
    int b = zmq_recv(r->sock, body, cap, 0);
    ck_assert_int_ge(b, 0);
    return (size_t)n;
}

/* A round trip: the dealer sends text, the router echoes it back. */
static void echo(router_t *r, void *d, const char *text, uint8_t *id_out, size_t *idlen_out)
{
    ck_assert_int_eq(zmq_send(d, text, strlen(text), 0), (int)strlen(text));
    uint8_t id[256];
    char body[64] = {0};
    size_t idlen = router_recv(r, id, body, sizeof body - 1);
    ck_assert_str_eq(body, text);
    ck_assert_int_eq(zmq_send(r->sock, id, idlen, ZMQ_SNDMORE), (int)idlen);
    ck_assert_int_eq(zmq_send(r->sock, body, strlen(body), 0), (int)strlen(body));
    char back[64] = {0};
    ck_assert_int_eq(zmq_recv(d, back, sizeof back - 1, 0), (int)strlen(text));
    ck_assert_str_eq(back, text);
    if (id_out) {
        memcpy(id_out, id, idlen);
        *idlen_out = idlen;
    }
}

START_TEST(test_anonymous_peers_get_free_ids_when_peers_took_the_next_ones)
{
    enum { SQUAT = 8, ANON = 4 };
    srand(7777);
    uint32_t low = (uint32_t)rand(), high = (uint32_t)rand();
    uint32_t first = (high << 31) | low; /* libzmq's generate_random() */
    srand(7777);
    router_t r;
    router_open(&r, -1);
    void *squat[SQUAT], *anon[ANON];
    for (int k = 0; k < SQUAT; k++) {
        uint8_t rid[5] = {0};
        uint32_t v = htonl(first + (uint32_t)k);
        memcpy(rid + 1, &v, 4);
        squat[k] = dealer_open(&r, rid, sizeof rid);
        uint8_t got[256];
        size_t len;
        echo(&r, squat[k], "squat", got, &len); /* attached under the id it chose */
        ck_assert_uint_eq(len, sizeof rid);
        ck_assert_mem_eq(got, rid, sizeof rid);
    }
    for (int k = 0; k < ANON; k++) {
        anon[k] = dealer_open(&r, NULL, 0);
        uint8_t got[256];
        size_t len;
        echo(&r, anon[k], "anonymous", got, &len);
        uint32_t v;
        ck_assert_uint_eq(len, 5);
        ck_assert_uint_eq(got[0], 0);
        memcpy(&v, got + 1, 4);
        /* the counter skipped every id the squatters hold */
        ck_assert_uint_eq(ntohl(v), first + SQUAT + (uint32_t)k);
    }
    for (int k = 0; k < SQUAT; k++) {
        echo(&r, squat[k], "still here", NULL, NULL);
        zmq_close(squat[k]);
    }
    for (int k = 0; k < ANON; k++)
        zmq_close(anon[k]);
    router_close(&r);
}
END_TEST

/* ------------------------------------------------------- raw ZMTP peer */

static void write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static void read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        ck_assert_msg(n > 0, "recv during the handshake: %s", n ? strerror(errno) : "closed");
        p += n;
        len -= (size_t)n;
    }
}

/* A ZMTP 3.0 DEALER over TCP, past the handshake. */
static int zmtp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    uint8_t greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0, 'N', 'U', 'L', 'L'};
    write_all(fd, greeting, sizeof greeting);
    uint8_t theirs[64];
    read_all(fd, theirs, sizeof theirs);
    static const char ready[] = "\x05READY\x0bSocket-Type\x00\x00\x00\x06"
                                "DEALER";
    uint8_t cmd[2] = {0x04, sizeof ready - 1};
    write_all(fd, cmd, 2);
    write_all(fd, ready, sizeof ready - 1);
    read_all(fd, cmd, 2);
    ck_assert_uint_eq(cmd[0], 0x04);
    uint8_t skip[256];
    read_all(fd, skip, cmd[1]);
    return fd;
}

/* One frame: short or long form, MORE as asked. */
static void zmtp_frame(int fd, const void *data, size_t len, int more)
{
    uint8_t hdr[9];
    size_t n;
    if (len <= 255) {
        hdr[0] = more ? 0x01 : 0x00;
        hdr[1] = (uint8_t)len;
        n = 2;
    } else {
        hdr[0] = more ? 0x03 : 0x02;
        for (int i = 0; i < 8; i++)
            hdr[1 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        n = 9;
    }
    write_all(fd, hdr, n);
    if (len)
        write_all(fd, data, len);
}

/* True when the peer on fd was hung up on within TIMEOUT_MS. */
static int hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, TIMEOUT_MS) != 1)
        return 0;
    char c;
    return recv(fd, &c, 1, 0) <= 0;
}

/* Sends frames of the given sizes as one message (MORE on all but the last). */
static void send_parts(int fd, const size_t *sizes, int n)
{
    static uint8_t payload[1 << 16];
    memset(payload, 0xab, sizeof payload);
    for (int i = 0; i < n; i++)
        zmtp_frame(fd, payload, sizes[i], i + 1 < n);
}

enum { LIMIT = 100000 };

START_TEST(test_a_multipart_message_within_maxmsgsize_is_delivered_whole)
{
    router_t r;
    router_open(&r, LIMIT);
    int fd = zmtp_connect(r.port);
    /* payload 40000 + 59872 + 64 (the second frame's msg_t) = 99936; with
     * the empty third frame, + 64 = 100000 = LIMIT exactly. */
    size_t sizes[] = {40000, 59872, 0};
    send_parts(fd, sizes, 3);
    uint8_t id[256];
    static char body[LIMIT];
    router_recv(&r, id, body, sizeof body);
    for (int i = 1; i < 3; i++) {
        int more;
        size_t ml = sizeof more;
        zmq_getsockopt(r.sock, ZMQ_RCVMORE, &more, &ml);
        ck_assert(more);
        ck_assert_int_eq(zmq_recv(r.sock, body, sizeof body, 0), (int)sizes[i]);
    }
    close(fd);
    router_close(&r);
}
END_TEST

START_TEST(test_a_multipart_message_one_byte_over_maxmsgsize_disconnects_the_peer)
{
    router_t r;
    router_open(&r, LIMIT);
    int fd = zmtp_connect(r.port);
    size_t sizes[] = {40000, 59873, 0}; /* 100001: every frame alone is far below the limit */
    send_parts(fd, sizes, 3);
    ck_assert_msg(hung_up(fd), "the router kept a peer whose message passed ZMQ_MAXMSGSIZE");
    char buf[16];
    int timeout = 200;
    zmq_setsockopt(r.sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    ck_assert_int_eq(zmq_recv(r.sock, buf, sizeof buf, 0), -1); /* nothing was delivered */
    close(fd);
    /* the next peer is served as before */
    timeout = TIMEOUT_MS;
    zmq_setsockopt(r.sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    void *d = dealer_open(&r, NULL, 0);
    echo(&r, d, "next", NULL, NULL);
    zmq_close(d);
    router_close(&r);
}
END_TEST

START_TEST(test_empty_frames_with_more_are_charged_their_msg_t)
{
    router_t r;
    router_open(&r, LIMIT);
    int fd = zmtp_connect(r.port);
    /* 1 + LIMIT / 64 empty frames: no payload at all, yet over the bound */
    for (int i = 0; i <= LIMIT / MSG_T_BYTES + 1; i++)
        zmtp_frame(fd, NULL, 0, 1);
    ck_assert_msg(hung_up(fd), "empty frames with MORE were buffered without bound");
    close(fd);
    router_close(&r);
}
END_TEST

START_TEST(test_without_maxmsgsize_long_multipart_messages_still_arrive)
{
    router_t r;
    router_open(&r, -1);
    int fd = zmtp_connect(r.port);
    size_t sizes[64];
    for (int i = 0; i < 64; i++)
        sizes[i] = 1 << 16;
    send_parts(fd, sizes, 64);
    uint8_t id[256];
    static char body[1 << 16];
    router_recv(&r, id, body, sizeof body);
    for (int i = 1; i < 64; i++)
        ck_assert_int_eq(zmq_recv(r.sock, body, sizeof body, 0), 1 << 16);
    close(fd);
    router_close(&r);
}
END_TEST

Suite *libzmq_suite(void)
{
    Suite *s = suite_create("libzmq");
    TCase *tc = tcase_create("patches");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_anonymous_peers_get_free_ids_when_peers_took_the_next_ones);
    tcase_add_test(tc, test_a_multipart_message_within_maxmsgsize_is_delivered_whole);
    tcase_add_test(tc, test_a_multipart_message_one_byte_over_maxmsgsize_disconnects_the_peer);
    tcase_add_test(tc, test_empty_frames_with_more_are_charged_their_msg_t);
    tcase_add_test(tc, test_without_maxmsgsize_long_multipart_messages_still_arrive);
    suite_add_tcase(s, tc);
    return s;
}
