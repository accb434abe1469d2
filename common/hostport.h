/*
 * hostport.h — HOST:PORT addresses, and whether one is on loopback.
 *
 * One parser for every address a user gives either program: envd's
 * --metrics, the locality rule for envd's --bind endpoints (plaintext only
 * on loopback), agentd's --env-dns. "HOST:PORT", or "[V6]:PORT" for an
 * IPv6 address; the port is decimal, 1 to 65535, with no sign or spaces.
 * Flags widen that where a caller means more: port 0 (the OS picks one,
 * for a listener whose port is reported back), and ZeroMQ's tcp:// syntax,
 * which also takes "*" for any port and splits an unbracketed IPv6 address
 * at its last colon, as libzmq does.
 */
#ifndef HOSTPORT_H
#define HOSTPORT_H

#include <stdbool.h>

#include "err.h"

#define HOSTPORT_HOST_MAX 256

enum {
    HOSTPORT_PORT_ZERO = 1 << 0, /* port 0 allowed */
    HOSTPORT_ZMQ = 1 << 1,       /* ZeroMQ tcp:// syntax: port "*", bare IPv6 */
};

typedef struct hostport {
    char host[HOSTPORT_HOST_MAX]; /* brackets dropped */
    char port[6];                 /* decimal, as given ("*" for ZeroMQ's any port) */
    unsigned port_num;            /* 0 for "*" */
} hostport_t;

/* Parses s; 0 or ERR_INVALID_ARGUMENT with a message that quotes s. */
int hostport_parse(const char *s, unsigned flags, hostport_t *out, errbuf_t *e);

/* A port by hostport_parse's rules (HOSTPORT_PORT_ZERO allows 0): its
 * value, or -1. */
long hostport_port(const char *s, unsigned flags);

/* True for a literal loopback address: 127.0.0.0/8, ::1 or ::ffff:127.x.
 * Names (localhost included: it is only a name), "*" and interface names
 * are not: what they reach is not known from the text. */
bool hostport_is_loopback(const char *host);

/* True for a ZeroMQ endpoint that other hosts cannot reach: ipc://,
 * inproc://, or tcp:// on a literal loopback address. */
bool hostport_endpoint_is_local(const char *endpoint);

#endif
