/*
 * metrics.c — /healthz and the Prometheus exposition of /metrics (see
 * metrics.h). Series names and histogram bounds are an interface
 * (README, "envd"): the dashboards and alerts of whoever scrapes envd
 * depend on them. The process_* series are the Prometheus client
 * libraries' own (names, help, types), so the dashboards made for any
 * exporter read envd's too.
 */
#include "metrics.h"

#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "procstat.h"
#include "wire.h"

static const double latency_bounds[METRICS_NBUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   1.0};

void metrics_latency_record(metrics_latency_t *l, uint64_t ns)
{
    double sec = (double)ns * 1e-9;
    int b = 0;
    while (b < METRICS_NBUCKETS && sec > latency_bounds[b])
        b++;
    l->buckets[b]++;
    l->sum += sec;
    l->count++;
}

/* The series every Prometheus client library exports about its process,
 * with their names, help and types; a figure that cannot be read is left
 * out (logged once), as those libraries do. */
static void render_process(text_t *b)
{
    static bool warned;
    procstat_t ps;
    errbuf_t e;
    if (procstat_read(&ps, &e) == 0) {
        text_printf(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                       "# TYPE process_cpu_seconds_total counter\n"
                       "process_cpu_seconds_total %.15g\n",
                    ps.cpu_seconds);
        text_printf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                       "# TYPE process_resident_memory_bytes gauge\n"
                       "process_resident_memory_bytes %" PRIu64 "\n",
                    ps.resident_bytes);
        text_printf(b, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                       "# TYPE process_virtual_memory_bytes gauge\n"
                       "process_virtual_memory_bytes %" PRIu64 "\n",
                    ps.virtual_bytes);
        text_printf(b, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                       "# TYPE process_start_time_seconds gauge\n"
                       "process_start_time_seconds %.15g\n",
                    ps.start_time);
    } else if (!warned) {
        warned = true;
        log_warn("/metrics: no process_cpu_seconds_total, memory or start time: %s", e.msg);
    }
    double max = procstat_max_fds();
    long open = procstat_open_fds(max < 0 || max > 1e9 ? -1 : (long)max);
    if (open >= 0)
        text_printf(b, "# HELP process_open_fds Number of open file descriptors.\n"
                       "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
                    open);
    if (max >= 0)
        text_printf(b, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                       "# TYPE process_max_fds gauge\nprocess_max_fds %.17g\n",
                    max);
}

int metrics_render(const service_t *svc, const metrics_transport_t *t, const char *path,
                   text_t *b, const char **ctype)
{
    if (strcmp(path, "/healthz") == 0) {
        if (t->stopping) {
            text_printf(b, "shutting down\n");
            return 503;
        }
        text_printf(b, "ok\n");
        return 200;
    }
    if (strcmp(path, "/metrics") != 0) {
        text_printf(b, "not found; try /healthz or /metrics\n");
        return 404;
    }
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    const service_stats_t *st = service_stats(svc);
    text_printf(b, "# HELP envd_sessions_active Sessions currently open.\n"
                   "# TYPE envd_sessions_active gauge\nenvd_sessions_active %zu\n",
                service_active_sessions(svc));
    text_printf(b, "# HELP envd_sessions_created_total Sessions created.\n"
                   "# TYPE envd_sessions_created_total counter\n"
                   "envd_sessions_created_total %" PRIu64 "\n",
                st->sessions_created);
    text_printf(b, "# HELP envd_sessions_reclaimed_total Sessions reclaimed after the idle TTL.\n"
                   "# TYPE envd_sessions_reclaimed_total counter\n"
                   "envd_sessions_reclaimed_total %" PRIu64 "\n",
                st->sessions_reclaimed);
    text_printf(b, "# HELP envd_env_steps_total Environment steps taken.\n"
                   "# TYPE envd_env_steps_total counter\nenvd_env_steps_total %" PRIu64 "\n",
                st->env_steps);
    text_printf(b, "# HELP envd_retries_replayed_total Resent requests answered from the reply cache.\n"
                   "# TYPE envd_retries_replayed_total counter\n"
                   "envd_retries_replayed_total %" PRIu64 "\n",
                st->retries_replayed);
    text_printf(b, "# HELP envd_retries_refused_total Resent requests refused: reply no longer cached, or stale.\n"
                   "# TYPE envd_retries_refused_total counter\n"
                   "envd_retries_refused_total %" PRIu64 "\n",
                st->retries_refused);
    text_printf(b, "# HELP envd_retries_not_kept_total Replies the retry cache had no room for: their client's connection (key) had nothing to give up.\n"
                   "# TYPE envd_retries_not_kept_total counter\n"
                   "envd_retries_not_kept_total %" PRIu64 "\n",
                st->retries_not_kept);
    text_printf(b, "# HELP envd_requests_total Requests by operation.\n"
                   "# TYPE envd_requests_total counter\n");
    text_printf(b, "envd_requests_total{op=\"invalid\"} %" PRIu64 "\n", st->requests_by_op[0]);
    for (int op = WIRE_OP_FIRST; op <= WIRE_OP_LAST; op++)
        text_printf(b, "envd_requests_total{op=\"%s\"} %" PRIu64 "\n", wire_op_name(op),
                    st->requests_by_op[op]);
    text_printf(b, "# HELP envd_errors_total Error replies by status code.\n"
                   "# TYPE envd_errors_total counter\n");
    for (int c = 1; c < SERVICE_NCODES; c++)
        text_printf(b, "envd_errors_total{code=\"%s\"} %" PRIu64 "\n", err_name(-c),
                    st->errors_by_code[c]);
    text_printf(b, "# HELP envd_replies_dropped_total Replies dropped: peer gone or its queue full.\n"
                   "# TYPE envd_replies_dropped_total counter\n"
                   "envd_replies_dropped_total %" PRIu64 "\n",
                t->replies_dropped);
    text_printf(b, "# HELP envd_auth_failures_total Client handshakes refused by CURVE authentication.\n"
                   "# TYPE envd_auth_failures_total counter\n"
                   "envd_auth_failures_total %" PRIu64 "\n",
                t->auth_failures);
    text_printf(b, "# HELP envd_request_duration_seconds Time to handle and answer one request.\n"
                   "# TYPE envd_request_duration_seconds histogram\n");
    const metrics_latency_t *l = t->latency;
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += l->buckets[i];
        text_printf(b, "envd_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                    latency_bounds[i], cum);
    }
    cum += l->buckets[METRICS_NBUCKETS];
    text_printf(b, "envd_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    text_printf(b, "envd_request_duration_seconds_sum %.9f\n", l->sum);
    text_printf(b, "envd_request_duration_seconds_count %" PRIu64 "\n", l->count);
    http_server_write_metrics(t->http, b);
    text_printf(b, "# HELP envd_build_info envd's version and protocol version; always 1.\n"
                   "# TYPE envd_build_info gauge\n"
                   "envd_build_info{version=\"%s\",protocol=\"%d.%d\"} 1\n",
                ENVD_VERSION, WIRE_MAJOR, WIRE_MINOR);
    render_process(b);
    return 200;
}
