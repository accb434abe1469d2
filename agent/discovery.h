/*
 * discovery.h — following the envd replicas behind one DNS name (agentd's
 * --env-dns), from the first lookup to the last.
 *
 * A compose service scaled to N replicas, or a Kubernetes headless service,
 * answers one name with one address per replica. discovery_resolve() turns
 * that answer into the endpoint strings a ZeroMQ client connects to, sorted
 * and without duplicates, so two lookups can be compared; discovery_diff()
 * says which endpoints appeared and which vanished between two lookups.
 * discovery_plan() maps a lookup onto the fleet's fixed places. These three
 * are pure of sessions and sockets.
 *
 * A follower (discovery_t) is the rest of --env-dns: discovery_first(),
 * before training, waits for the name to have addresses and adds them to
 * the endpoints; discovery_follow() binds it to the fleet, whose places
 * after the fixed endpoints are kept for the replicas; discovery_refresh(),
 * between ticks, looks the name up again every --env-dns-every seconds and
 * fills or empties those places.
 *
 * Every address is taken as one replica. A name that gives one host several
 * addresses (e.g. "localhost" with both 127.0.0.1 and ::1 on an IPv6 host)
 * makes several endpoints of the same server; use --env for such hosts.
 */
#ifndef DISCOVERY_H
#define DISCOVERY_H

#include <signal.h>
#include <stddef.h>

#include "err.h"
#include "fleet.h"

/* Longest endpoint: "tcp://[" + 45-char IPv6 + "%" + interface + "]:65535". */
#define DISCOVERY_ENDPOINT_MAX 96

/* Endpoints one lookup keeps, and places a follower may keep (agentd's
 * TRAIN_MAX_ENDPOINTS). */
#define DISCOVERY_MAX 64

typedef char discovery_endpoint_t[DISCOVERY_ENDPOINT_MAX];

/* Resolves host (a name or a numeric address) with getaddrinfo and writes
 * "tcp://A.B.C.D:PORT" / "tcp://[V6]:PORT" endpoints into out[0..max):
 * IPv4 before IPv6, each in numeric address order, duplicates removed.
 * Only address families configured on this machine are asked for
 * (AI_ADDRCONFIG). Blocks for as long as the resolver takes.
 *
 * Returns the number of distinct endpoints found, which may exceed max (as
 * snprintf does: only the first max are written, so a caller can warn), or:
 *   ERR_NOT_FOUND    the name has no address now (NXDOMAIN, no A/AAAA) —
 *                    for a scaled service, every replica is gone;
 *   ERR_UNAVAILABLE  the resolver failed for now (try again later and keep
 *                    the endpoints you have);
 *   ERR_INVALID_ARGUMENT  a bad port or host string. */
int discovery_resolve(const char *host, const char *port, discovery_endpoint_t *out, int max,
                      errbuf_t *e);

/* Compares two endpoint lists (each without duplicates; order does not
 * matter). Writes the indexes into cur of endpoints not in old to added
 * (room for ncur) and the indexes into old of endpoints not in cur to
 * removed (room for nold), in list order, and their counts. Pure: no I/O,
 * no allocation. */
void discovery_diff(const discovery_endpoint_t *old, int nold, const discovery_endpoint_t *cur,
                    int ncur, int *added, int *nadded, int *removed, int *nremoved);

/* Fits a lookup into a fixed set of places (agentd's fleet reserves
 * --env-dns-max of them). places[i] is the endpoint place i holds, "" when
 * vacant. Writes to empty (room for nplaces) the places whose endpoint is
 * not in found, and for each endpoint of found that no place holds and
 * that is not in fixed (endpoints given otherwise, e.g. --env) one place
 * to fill: fill_place[i] gets found[fill_addr[i]] (room for nplaces each).
 * Places are filled in index order, vacant ones and those emptied by this
 * plan alike, so a caller applies the emptying first. Returns how many
 * endpoints of found got no place (0 when all fit). Pure: no I/O, no
 * allocation. */
int discovery_plan(const discovery_endpoint_t *places, int nplaces,
                   const discovery_endpoint_t *found, int nfound, const char *const *fixed,
                   int nfixed, int *empty, int *nempty, int *fill_place, int *fill_addr,
                   int *nfill);

/* ------------------------------------------------------------ follower */

typedef struct discovery discovery_t;

/* A follower of name ("HOST:PORT", as --env-dns) keeping `places` places
 * (1..DISCOVERY_MAX) for its replicas, looked up again every `every`
 * seconds. ERR_INVALID_ARGUMENT with hostport_parse's message for a name
 * that is not HOST:PORT, or for places out of range; ERR_NOMEM. */
int discovery_new(const char *name, int places, double every, discovery_t **out, errbuf_t *e);
void discovery_destroy(discovery_t **self_p);

/* The first lookup. endpoints[0..*n) are the fixed ones (--env; borrowed
 * for the follower's life); each address of the name that is not among
 * them is appended, *n counting, up to `places` of them, and the strings
 * stay the follower's (endpoints has room for *n + places). Every address
 * is logged; those beyond `places` are left out with a warning. A name
 * with no address yet (the replicas of a scaled service may still be
 * starting) is retried every half second, with a warning every 20 tries,
 * for up to give_up_s seconds. Returns 0,
 * ERR_INVALID_ARGUMENT for a host or port the resolver refuses, ERR_TIMEOUT
 * when it gave up (logged), or ERR_UNAVAILABLE when *stop was set while
 * it waited. */
int discovery_first(discovery_t *d, const char **endpoints, size_t *n, double give_up_s,
                    volatile sig_atomic_t *stop, errbuf_t *e);

/* From now on, places nfixed .. nfixed + places - 1 of f (nfixed: the
 * fixed endpoints of discovery_first) follow the name; the next lookup is
 * `every` seconds away. f is borrowed. */
void discovery_follow(discovery_t *d, fleet_t *f);

/* Between ticks: once `every` seconds have passed since the last lookup,
 * looks the name up again; places whose replica is no longer listed are
 * emptied first, then new replicas fill vacant places. A failed lookup
 * keeps the current set, logged once per streak, as is a lookup with more
 * replicas than places. Blocks for as long as the resolver takes. */
void discovery_refresh(discovery_t *d);

#endif
