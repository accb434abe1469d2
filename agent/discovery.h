/*
 * discovery.h — finding every envd behind one DNS name (agentd's --env-dns).
 *
 * A compose service scaled to N replicas, or a Kubernetes headless service,
 * answers one name with one address per replica. discovery_resolve() turns
 * that answer into the endpoint strings a ZeroMQ client connects to, sorted
 * and without duplicates, so two lookups can be compared; discovery_diff()
 * says which endpoints appeared and which vanished between two lookups.
 * discovery_plan() maps a lookup onto the fleet's fixed places. Nothing
 * here knows about sessions, sockets or learning: agentd's training loop
 * calls these every --env-dns-every seconds and fills or empties places itself.
 *
 * Every address is taken as one replica. A name that gives one host several
 * addresses (e.g. "localhost" with both 127.0.0.1 and ::1 on an IPv6 host)
 * makes several endpoints of the same server; use --env for such hosts.
 */
#ifndef DISCOVERY_H
#define DISCOVERY_H

#include <stddef.h>

#include "err.h"

/* Longest endpoint: "tcp://[" + 45-char IPv6 + "%" + interface + "]:65535". */
#define DISCOVERY_ENDPOINT_MAX 96

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

#endif
