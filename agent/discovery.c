/*
 * discovery.c — DNS name to sorted envd endpoints, and the diff of two
 * lookups (see discovery.h).
 *
 * getaddrinfo returns addresses in the resolver's order (round-robin DNS
 * shuffles them on every query) and may repeat one per socket type. The
 * addresses are therefore copied out in binary form, sorted by family and
 * numeric value (so 10.0.0.9 comes before 10.0.0.10) and de-duplicated
 * before they are formatted: two lookups of an unchanged service give the
 * same list, element for element.
 */
#include "discovery.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct addr_key {
    int family;        /* AF_INET sorts before AF_INET6 */
    uint8_t bytes[16]; /* network order: memcmp is numeric order */
    uint32_t scope;    /* IPv6 scope id (link-local addresses) */
} addr_key_t;

static int addr_key_cmp(const void *a, const void *b)
{
    const addr_key_t *x = a, *y = b;
    if (x->family != y->family)
        return x->family == AF_INET ? -1 : 1;
    int c = memcmp(x->bytes, y->bytes, sizeof x->bytes);
    if (c)
        return c;
    return x->scope < y->scope ? -1 : x->scope > y->scope;
}

/* A port is 1 to 5 decimal digits with a value from 1 to 65535: no sign,
 * no spaces, nothing after it. Returns the value or -1. */
static long parse_port(const char *s)
{
    long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9' && i < 6; i++)
        v = v * 10 + (s[i] - '0');
    return i > 0 && !s[i] && v >= 1 && v <= 65535 ? v : -1;
}

int discovery_split(const char *hostport, char *host, size_t host_cap, char *port, size_t port_cap,
                    errbuf_t *e)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || !colon[1])
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': expected HOST:PORT", hostport);
    const char *h = hostport;
    size_t hlen = (size_t)(colon - hostport);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return err_set(e, ERR_INVALID_ARGUMENT, "'%s': expected [V6]:PORT", hostport);
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen)) {
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': write an IPv6 address as [V6]:PORT",
                       hostport);
    }
    long p = parse_port(colon + 1);
    if (p < 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': port must be a number from 1 to 65535",
                       hostport);
    if (hlen + 1 > host_cap)
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': host name too long", hostport);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if ((size_t)snprintf(port, port_cap, "%ld", p) >= port_cap)
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': port buffer too small", hostport);
    return 0;
}

static int format_endpoint(const addr_key_t *k, const char *port, discovery_endpoint_t out)
{
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(k->family, k->bytes, text, sizeof text))
        return -1;
    int n;
    if (k->family == AF_INET) {
        n = snprintf(out, DISCOVERY_ENDPOINT_MAX, "tcp://%s:%s", text, port);
    } else if (k->scope) {
        char ifname[IF_NAMESIZE] = "";
        if (!if_indextoname(k->scope, ifname))
            snprintf(ifname, sizeof ifname, "%u", k->scope);
        n = snprintf(out, DISCOVERY_ENDPOINT_MAX, "tcp://[%s%%%s]:%s", text, ifname, port);
    } else {
        n = snprintf(out, DISCOVERY_ENDPOINT_MAX, "tcp://[%s]:%s", text, port);
    }
    return n > 0 && n < DISCOVERY_ENDPOINT_MAX ? 0 : -1;
}

int discovery_resolve(const char *host, const char *port, discovery_endpoint_t *out, int max,
                      errbuf_t *e)
{
    if (parse_port(port) < 0)
        return err_set(e, ERR_INVALID_ARGUMENT, "port '%s' is not a number from 1 to 65535", port);
    if (!*host)
        return err_set(e, ERR_INVALID_ARGUMENT, "empty host name");

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM; /* one entry per address, not one per socket type */
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    switch (gai) {
    case 0: break;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return err_set(e, ERR_NOT_FOUND, "%s: no address (%s)", host, gai_strerror(gai));
    case EAI_AGAIN:
    case EAI_FAIL:
    case EAI_SYSTEM:
        return err_set(e, ERR_UNAVAILABLE, "%s: lookup failed for now (%s)", host,
                       gai_strerror(gai));
    case EAI_MEMORY:
        return err_set(e, ERR_NOMEM, "%s: %s", host, gai_strerror(gai));
    default:
        return err_set(e, ERR_INVALID_ARGUMENT, "%s: %s", host, gai_strerror(gai));
    }

    size_t count = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        count++;
    addr_key_t *keys = calloc(count ? count : 1, sizeof *keys);
    if (!keys) {
        freeaddrinfo(res);
        return err_set(e, ERR_NOMEM, "%s: out of memory for %zu addresses", host, count);
    }
    size_t n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        addr_key_t *k = &keys[n];
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *sa = (const struct sockaddr_in *)ai->ai_addr;
            k->family = AF_INET;
            memcpy(k->bytes, &sa->sin_addr, 4);
        } else if (ai->ai_family == AF_INET6) {
            const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)ai->ai_addr;
            k->family = AF_INET6;
            memcpy(k->bytes, &sa->sin6_addr, 16);
            k->scope = sa->sin6_scope_id;
        } else {
            continue;
        }
        n++;
    }
    freeaddrinfo(res);
    if (n == 0) {
        free(keys);
        return err_set(e, ERR_NOT_FOUND, "%s: no IPv4 or IPv6 address", host);
    }

    qsort(keys, n, sizeof *keys, addr_key_cmp);
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && addr_key_cmp(&keys[i - 1], &keys[i]) == 0)
            continue;
        if (distinct < max && format_endpoint(&keys[i], port, out[distinct]) < 0) {
            free(keys);
            return err_set(e, ERR_INTERNAL, "%s: cannot format address %zu", host, i);
        }
        distinct++;
    }
    free(keys);
    return distinct;
}

static int find(const discovery_endpoint_t *list, int n, const char *ep)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], ep) == 0)
            return i;
    return -1;
}

void discovery_diff(const discovery_endpoint_t *old, int nold, const discovery_endpoint_t *cur,
                    int ncur, int *added, int *nadded, int *removed, int *nremoved)
{
    /* Quadratic, and that is fine: a few dozen replicas, a lookup every few
     * seconds. It keeps the function free of any ordering precondition. */
    *nadded = *nremoved = 0;
    for (int i = 0; i < ncur; i++)
        if (find(old, nold, cur[i]) < 0)
            added[(*nadded)++] = i;
    for (int i = 0; i < nold; i++)
        if (find(cur, ncur, old[i]) < 0)
            removed[(*nremoved)++] = i;
}
