/*
 * hostport.h — HOST:PORT addresses, and whether one is on loopback.
 *
 * One parser for every address a user gives either program: envd's
 * --metrics, the locality rule for envd's --bind endpoints (plaintext only
 * on loopback), agentd's --env-dns. "HOST:PORT", or "[V6]:PORT" for an
 * IPv6 address; the port is decimal, 1 to 65535, with no sign or spaces.
 * Flags widen that where a caller means more: port 0 (the OS picks one,
 * for a listener whose port is reported back), ZeroMQ's tcp:// syntax,
 * which also takes "*" for any port and splits an unbracketed IPv6 address
 * at its last colon, as libzmq does, and a host left out ("9100" or
 * ":9100", as Prometheus exporters are often given), which then means
 * loopback, 127.0.0.1: not every interface, as ":9100" does for a Go
 * exporter, since a listener other hosts can reach must be asked for.
 */
#ifndef HOSTPORT_H
#define HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define HOSTPORT_HOST_MAX 256

enum {
    HOSTPORT_PORT_ZERO = 1 << 0, /* port 0 allowed */
    HOSTPORT_ZMQ = 1 << 1,       /* ZeroMQ tcp:// syntax: port "*", bare IPv6 */
    HOSTPORT_HOST_OPTIONAL = 1 << 2, /* "PORT" and ":PORT" too: host HOSTPORT_DEFAULT_HOST */
};

#define HOSTPORT_DEFAULT_HOST "127.0.0.1"


typedef struct hostport {
    char host[HOSTPORT_HOST_MAX]; /* brackets dropped */
    char port[6];                 /* decimal, as given ("*" for ZeroMQ's any port) */
    unsigned port_num;            /* 0 for "*" */
} hostport_t;

/* Parses s; 0 or ERR_INVALID_ARGUMENT with a message that quotes s. */
int hostport_parse(const char *s, unsigned flags, hostport_t *out, errbuf_t *e);

/* hp as "HOST:PORT", or "[V6]:PORT" for a host with a colon; the text is
 * cut to fit len (HOSTPORT_HOST_MAX + 10 always fits). Returns buf. */
char *hostport_format(const hostport_t *hp, char *buf, size_t len);

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

/* Checks the syntax of a ZeroMQ endpoint a user gives: tcp://HOST:PORT
 * (ZeroMQ's syntax, HOST a name, an address or an interface), ipc://PATH
 * or inproc://NAME with something after the "//". flags HOSTPORT_PORT_ZERO
 * is for a bind: port 0 or "*" (any port) allowed. 0, or
 * ERR_INVALID_ARGUMENT with a message that quotes the endpoint. Whether
 * the host resolves or the interface exists is left to ZeroMQ. */
int hostport_endpoint_check(const char *endpoint, unsigned flags, errbuf_t *e);

#endif
