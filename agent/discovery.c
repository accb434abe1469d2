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
#include "hostport.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdbool.h>
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
    if (hostport_port(port, 0) < 0)
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

int discovery_plan(const discovery_endpoint_t *places, int nplaces,
                   const discovery_endpoint_t *found, int nfound, const char *const *fixed,
                   int nfixed, int *empty, int *nempty, int *fill_place, int *fill_addr,
                   int *nfill)
{
    *nempty = *nfill = 0;
    for (int i = 0; i < nplaces; i++)
        if (places[i][0] && find(found, nfound, places[i]) < 0)
            empty[(*nempty)++] = i;
    int next = 0, lost = 0; /* the next place that may be free */
    for (int j = 0; j < nfound; j++) {
        if (find(places, nplaces, found[j]) >= 0)
            continue;
        bool given = false;
        for (int i = 0; i < nfixed && !given; i++)
            given = strcmp(fixed[i], found[j]) == 0;
        if (given)
            continue;
        for (; next < nplaces; next++) {
            bool emptied = false;
            for (int i = 0; i < *nempty && !emptied; i++)
                emptied = empty[i] == next;
            if (!places[next][0] || emptied)
                break;
        }
        if (next == nplaces) {
            lost++;
            continue;
        }
        fill_place[*nfill] = next++;
        fill_addr[(*nfill)++] = j;
    }
    return lost;
}
