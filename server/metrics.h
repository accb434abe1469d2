/*
 * metrics.h — what envd's HTTP listener answers: /healthz, and /metrics in
 * the Prometheus text format (0.0.4).
 *
 * The figures come from where they are counted: the service's request,
 * error, session and retry counters (service_stats), the transport's
 * dropped replies, refused handshakes and request-duration histogram, and
 * the HTTP listener's own series, the process's figures (procstat.h) and
 * the version (envd_build_info). This file only renders them; the
 * transport (server.c) records the histogram through metrics_latency_record
 * and hands everything over on each scrape.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "service.h"
#include "text.h"

#define METRICS_NBUCKETS 16

/* The request-duration histogram (envd_request_duration_seconds). */
typedef struct metrics_latency {
    uint64_t buckets[METRICS_NBUCKETS + 1]; /* last: +Inf */
    double sum;                             /* seconds */
    uint64_t count;
} metrics_latency_t;

/* Counts one request that took ns nanoseconds to handle and answer. */
void metrics_latency_record(metrics_latency_t *l, uint64_t ns);

/* The transport's figures at the time of a scrape; pointers borrowed. */
typedef struct metrics_transport {
    bool stopping;            /* /healthz answers 503 */
    uint64_t replies_dropped; /* peer gone or its queue full */
    uint64_t auth_failures;   /* CURVE handshakes refused */
    const metrics_latency_t *latency;
    const http_server_t *http; /* its own envd_http_* series */
} metrics_transport_t;

/* An http_handler_cb's work for path: fills body and *content_type and
 * returns the HTTP status (200; 503 from /healthz while stopping; 404). */
int metrics_render(const service_t *svc, const metrics_transport_t *t, const char *path,
                   text_t *body, const char **content_type);

#endif
