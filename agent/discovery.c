/*
 * discovery.c — agentd's --env-dns: a DNS name to sorted envd endpoints,
 * the diff and the plan of two lookups, and the follower that applies
 * them to the fleet (see discovery.h).
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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "hostport.h"
#include "log.h"

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

/* ------------------------------------------------------------ follower */

struct discovery {
    char *name;           /* HOST:PORT as given, for messages */
    hostport_t hp;
    int places;
    double every;
    const char *const *fixed; /* endpoints given otherwise (--env), borrowed */
    size_t nfixed;        /* ... and the fleet's first place kept for replicas */
    fleet_t *fleet;       /* borrowed, from discovery_follow() on */
    double next;          /* time of the next lookup */
    bool failing;         /* the last lookup failed (logged once per streak) */
    bool full;            /* the last lookup had more replicas than places (likewise) */
    discovery_endpoint_t first[DISCOVERY_MAX];  /* the first lookup, which endpoints borrow */
    discovery_endpoint_t found[DISCOVERY_MAX];
    discovery_endpoint_t held[DISCOVERY_MAX];   /* (places) "" when vacant */
};

int discovery_new(const char *name, int places, double every, discovery_t **out, errbuf_t *e)
{
    *out = NULL;
    if (places < 1 || places > DISCOVERY_MAX)
        return err_set(e, ERR_INVALID_ARGUMENT, "%d places for replicas, not 1 to %d", places,
                       DISCOVERY_MAX);
    discovery_t *d = calloc(1, sizeof *d);
    if (!d)
        return err_set(e, ERR_NOMEM, "out of memory");
    int rc = hostport_parse(name, 0, &d->hp, e);
    if (rc == 0 && !(d->name = strdup(name)))
        rc = err_set(e, ERR_NOMEM, "out of memory");
    if (rc < 0) {
        discovery_destroy(&d);
        return rc;
    }
    d->places = places;
    d->every = every;
    *out = d;
    return 0;
}

void discovery_destroy(discovery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->name);
    free(*self_p);
    *self_p = NULL;
}

int discovery_first(discovery_t *d, const char **endpoints, size_t *n, double give_up_s,
                    volatile sig_atomic_t *stop, errbuf_t *e)
{
    d->fixed = endpoints;
    d->nfixed = *n;
    double t0 = clock_s();
    for (int attempt = 0;; attempt++) {
        int found = discovery_resolve(d->hp.host, d->hp.port, d->first, DISCOVERY_MAX, e);
        if (found == ERR_INVALID_ARGUMENT)
            return found;
        if (found > 0) {
            int used = 0;
            for (int i = 0; i < found && i < DISCOVERY_MAX; i++) {
                bool dup = false;
                for (size_t k = 0; k < d->nfixed && !dup; k++)
                    dup = strcmp(endpoints[k], d->first[i]) == 0;
                if (!dup && used == d->places) {
                    log_warn("--env-dns %s: %d addresses, --env-dns-max is %d: %s and later "
                             "ones left out", d->name, found, d->places, d->first[i]);
                    break;
                }
                if (!dup) {
                    endpoints[(*n)++] = d->first[i];
                    used++;
                }
                log_info("--env-dns %s: %s%s", d->name, d->first[i],
                         dup ? " (already given by --env)" : "");
            }
            return 0;
        }
        double waited = clock_s() - t0;
        if (waited >= give_up_s) {
            log_error("--env-dns %s: %s; gave up after %.0f s", d->name, e->msg, waited);
            return err_set(e, ERR_TIMEOUT, "--env-dns %s: no address after %.0f s", d->name,
                           waited);
        }
        if (attempt % 20 == 0)
            log_warn("--env-dns %s: %s; retrying", d->name, e->msg);
        nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL);
        if (*stop)
            return err_set(e, ERR_UNAVAILABLE, "--env-dns %s: stopped while waiting", d->name);
    }
}

void discovery_follow(discovery_t *d, fleet_t *f)
{
    d->fleet = f;
    d->next = clock_s() + d->every;
}

/* A failed lookup keeps the current set — a resolver that is down for a
 * moment (ERR_UNAVAILABLE), and also a name with no address at all
 * (ERR_NOT_FOUND): a service scaled to zero, or a hosts file caught while
 * being rewritten, must not throw away sessions that may still answer;
 * servers that are really gone are dropped by the fleet's timeout anyway.
 * The lookup blocks the loop: instant from a hosts file, one local round
 * trip to the Docker or cluster DNS; a resolver that does not answer costs
 * its own timeout at most once per period, while no request is in flight. */
void discovery_refresh(discovery_t *d)
{
    double t = clock_s();
    if (!d->fleet || t < d->next)
        return;
    d->next = t + d->every;
    errbuf_t e;
    int n = discovery_resolve(d->hp.host, d->hp.port, d->found, DISCOVERY_MAX, &e);
    if (n < 0) {
        if (!d->failing)
            log_warn("--env-dns %s: %s; keeping the %zu endpoints in use", d->name, e.msg,
                     fleet_occupied(d->fleet));
        d->failing = true;
        return;
    }
    if (d->failing)
        log_info("--env-dns %s resolves again: %d addresses", d->name, n);
    d->failing = false;
    if (n > DISCOVERY_MAX)
        n = DISCOVERY_MAX;
    int np = d->places;
    for (int i = 0; i < np; i++) {
        const char *ep = fleet_endpoint(d->fleet, d->nfixed + (size_t)i);
        snprintf(d->held[i], sizeof d->held[i], "%s", ep ? ep : "");
    }
    int empty[DISCOVERY_MAX], fill_place[DISCOVERY_MAX], fill_addr[DISCOVERY_MAX];
    int nempty, nfill;
    int lost = discovery_plan(d->held, np, d->found, n, d->fixed, (int)d->nfixed, empty, &nempty,
                              fill_place, fill_addr, &nfill);
    for (int i = 0; i < nempty; i++)
        fleet_set_endpoint(d->fleet, d->nfixed + (size_t)empty[i], NULL, &e);
    for (int i = 0; i < nfill; i++)
        if (fleet_set_endpoint(d->fleet, d->nfixed + (size_t)fill_place[i],
                               d->found[fill_addr[i]], &e) < 0)
            log_warn("--env-dns %s: %s: %s", d->name, d->found[fill_addr[i]], e.msg);
    if (lost > 0 && !d->full)
        log_warn("--env-dns %s: %d addresses, --env-dns-max is %d: %d replica(s) left out",
                 d->name, n, np, lost);
    d->full = lost > 0;
}
