/*
 * main.c — envd's command line: options, then the server on a libuv loop.
 *
 * Every option is one row of the table below: its flag, its environment
 * twin (for containers), its bounds and default; common/opts.c reads them,
 * the environment first, and flags override it. Exit status: 0 after a
 * clean shutdown, 1 on a start-up error, 2 on a usage error.
 *
 * Safe default: a plaintext endpoint must be local (ipc://, or tcp:// on a
 * loopback address). Anything reachable from another host needs CURVE
 * (--curve-secret, --curve-clients) or an explicit --insecure, which is
 * logged as a warning (docs/security.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "curve.h"
#include "hostport.h"
#include "http.h"
#include "log.h"
#include "opts.h"
#include "server.h"

enum {
    O_BIND, O_METRICS, O_METRICS_MAX_CONNS, O_METRICS_HEADER_TIMEOUT, O_METRICS_IDLE_TIMEOUT,
    O_MAX_SESSIONS, O_SESSION_TTL, O_MAX_BATCH, O_MAX_MESSAGE, O_HWM,
    O_RETRY_CLIENTS, O_RETRY_BYTES, O_RETRY_TTL, O_LOG_LEVEL, O_CURVE_SECRET, O_CURVE_CLIENTS, O_INSECURE, O_KEYGEN, O_COUNT
};

static const opts_row_t options[O_COUNT] = {
    [O_BIND] = {NULL, "bind", "ENVD_BIND", OPTS_LIST, 0, 0, "tcp://127.0.0.1:5555", "ENDPOINT",
                "ZeroMQ endpoint to listen on; repeatable (env: comma-separated)"},
    [O_METRICS] = {NULL, "metrics", "ENVD_METRICS", OPTS_STR, 0, 0, NULL, "[ADDR:]PORT",
                   "serve /healthz and /metrics over HTTP (off by default): 9100 or :9100 is "
                   "127.0.0.1:9100; 0.0.0.0:9100 for every interface"},
    [O_METRICS_MAX_CONNS] = {NULL, "metrics-max-connections", "ENVD_METRICS_MAX_CONNECTIONS",
                             OPTS_INT, 1, 100000, "64", "N",
                             "HTTP connections open at once (at most a quarter of the free "
                             "descriptors); more are closed at once"},
    [O_METRICS_HEADER_TIMEOUT] = {NULL, "metrics-header-timeout", "ENVD_METRICS_HEADER_TIMEOUT",
                                  OPTS_F64, 0.001, 3600, "5", "SECONDS",
                                  "an HTTP request must be complete this long after connecting"},
    [O_METRICS_IDLE_TIMEOUT] = {NULL, "metrics-idle-timeout", "ENVD_METRICS_IDLE_TIMEOUT",
                                OPTS_F64, 0.001, 3600, "2", "SECONDS",
                                "an HTTP connection silent this long is closed (and a reply "
                                "not taken this long)"},
    [O_MAX_SESSIONS] = {NULL, "max-sessions", "ENVD_MAX_SESSIONS", OPTS_I64, 1, 100000000,
                        "100000", "N", "sessions open at once, over all clients"},
    [O_SESSION_TTL] = {NULL, "session-ttl", "ENVD_SESSION_TTL", OPTS_F64, 0.01, 86400 * 30,
                       "300", "SECONDS", "idle time after which a session is reclaimed"},
    [O_MAX_BATCH] = {NULL, "max-batch", "ENVD_MAX_BATCH", OPTS_INT, 1, 1 << 20, "8192", "N",
                     "sessions per batch request (and per make)"},
    [O_MAX_MESSAGE] = {NULL, "max-message-size", "ENVD_MAX_MESSAGE_SIZE", OPTS_I64, 1024,
                       1 << 30, "1048576", "BYTES", "largest request accepted"},
    [O_HWM] = {NULL, "hwm", "ENVD_HWM", OPTS_INT, 1, 1000000, "1000", "N",
               "replies queued per client before envd drops them"},
    [O_RETRY_CLIENTS] = {NULL, "retry-clients", "ENVD_RETRY_CLIENTS", OPTS_I64, 1, 1000000,
                         "4096", "N",
                         "clients whose last reply is kept for resent requests (a connection, or a "
                         "CURVE key, holds 1/64 of them)"},
    [O_RETRY_BYTES] = {NULL, "retry-bytes", "ENVD_RETRY_BYTES", OPTS_I64, 65536, 1LL << 40,
                       "33554432", "BYTES",
                       "memory for those kept replies, in all (a connection or key: 1/64 beyond its newest)"},
    [O_RETRY_TTL] = {NULL, "retry-ttl", "ENVD_RETRY_TTL", OPTS_F64, 0.01, 86400, "60", "SECONDS",
                     "how long a kept reply answers a resend"},
    [O_LOG_LEVEL] = {NULL, "log-level", "ENVD_LOG_LEVEL", OPTS_LEVEL, 0, 0, "info", "LEVEL",
                     "error, warn, info or debug"},
    [O_CURVE_SECRET] = {NULL, "curve-secret", "ENVD_CURVE_SECRET", OPTS_STR, 0, 0, NULL, "FILE",
                        "encrypt every endpoint with CURVE, with the secret key in FILE "
                        "(from --keygen)"},
    [O_CURVE_CLIENTS] = {NULL, "curve-clients", "ENVD_CURVE_CLIENTS", OPTS_STR, 0, 0, NULL, "DIR",
                         "with --curve-secret: admit only clients whose public key is a *.pub "
                         "in DIR (reread on SIGHUP)"},
    [O_INSECURE] = {NULL, "insecure", "ENVD_INSECURE", OPTS_FLAG, 0, 0, NULL, NULL,
                    "allow plaintext on endpoints reachable from other hosts (0.0.0.0, a "
                    "non-loopback address, a hostname or interface)"},
    [O_KEYGEN] = {NULL, "keygen", NULL, OPTS_TEXT, 0, 0, NULL, "PREFIX",
                  "write a CURVE key pair to PREFIX.key (secret, 0600) and PREFIX.pub, then exit"},
};

static void usage(const opts_t *o, FILE *f)
{
    fprintf(f, "usage: envd [OPTION]...\n"
               "classic-control environment server: Gymnasium-exact sessions over ZeroMQ (protocol v%d.%d).\n\n",
            WIRE_MAJOR, WIRE_MINOR);
    opts_usage(o, f);
    fprintf(f, "  %-32s %s\n  %-32s %s\n", "--help", "show this help", "--version",
            "print the version");
    fprintf(f, "\nPlaintext is allowed only on ipc:// and loopback tcp:// endpoints unless\n"
               "--insecure is given; see docs/security.md.\n");
}

typedef struct settings {
    server_config_t server;
    int log_level;
    const char *curve_secret_path;
    bool insecure;
    char curve_secret[CURVE_Z85_LEN + 1];
    char metrics_addr[HOSTPORT_HOST_MAX + 10]; /* --metrics as HOST:PORT */
} settings_t;

/* --keygen PREFIX: writes the pair, then envd is done (1). */
static int keygen(const char *prefix)
{
    errbuf_t e;
    if (curve_keygen(prefix, &e) < 0) {
        fprintf(stderr, "envd: --keygen: %s\n", e.msg);
        return -1;
    }
    printf("wrote %s.key (secret: keep it private) and %s.pub\n", prefix, prefix);
    return 1;
}

/* --bind ENDPOINT: its syntax now, so that a typo is a usage error (2)
 * and not a start-up one; ZeroMQ still decides whether it binds. */
static int set_bind(server_config_t *c, const char *endpoint, const char *origin)
{
    errbuf_t e;
    if (hostport_endpoint_check(endpoint, HOSTPORT_PORT_ZERO, &e) < 0) {
        fprintf(stderr, "envd: %s: %s\n", origin, e.msg);
        return -1;
    }
    if (c->nbinds >= SERVER_MAX_BINDS) {
        fprintf(stderr, "envd: at most %d --bind endpoints\n", SERVER_MAX_BINDS);
        return -1;
    }
    c->binds[c->nbinds++] = endpoint;
    return 0;
}

/* --metrics [ADDR:]PORT, checked as the listener will read it and handed
 * on as HOST:PORT, so that the logs name the address bound. */
static int set_metrics(settings_t *st, const char *addr, const char *origin)
{
    st->server.metrics_addr = NULL;
    if (!addr)
        return 0; /* "": off */
    struct sockaddr_storage sa;
    hostport_t hp;
    errbuf_t e;
    if (http_parse_address(addr, &sa, &e) < 0 ||
        hostport_parse(addr, HOSTPORT_PORT_ZERO | HOSTPORT_HOST_OPTIONAL, &hp, &e) < 0) {
        fprintf(stderr, "envd: %s: %s\n", origin, e.msg);
        return -1;
    }
    st->server.metrics_addr = hostport_format(&hp, st->metrics_addr, sizeof st->metrics_addr);
    return 0;
}

/* opts_set_fn: stores a checked value where the server wants it. */
static int set(void *ctx, int which, const opts_value_t *v, const char *origin)
{
    settings_t *st = ctx;
    server_config_t *c = &st->server;
    switch (which) {
    case O_BIND:
        if (!v) {
            c->nbinds = 0; /* flags replace the environment's list */
            break;
        }
        return set_bind(c, v->str, origin);
    case O_METRICS: return set_metrics(st, v->str, origin);
    case O_METRICS_MAX_CONNS: c->metrics_limits.max_conns = (int)v->num; break;
    case O_METRICS_HEADER_TIMEOUT:
        c->metrics_limits.header_timeout_ms = (uint64_t)ceil(v->num * 1000.0);
        break;
    case O_METRICS_IDLE_TIMEOUT:
        c->metrics_limits.idle_timeout_ms = (uint64_t)ceil(v->num * 1000.0);
        break;
    case O_MAX_SESSIONS: c->service.max_sessions = (size_t)v->num; break;
    case O_SESSION_TTL: c->service.session_ttl_ms = (uint64_t)(v->num * 1000.0); break;
    case O_MAX_BATCH: c->service.max_batch = (uint32_t)v->num; break;
    case O_MAX_MESSAGE: c->service.max_message_size = (uint64_t)v->num; break;
    case O_HWM: c->sndhwm = (int)v->num; break;
    case O_RETRY_CLIENTS: c->service.retry_clients = (size_t)v->num; break;
    case O_RETRY_BYTES: c->service.retry_bytes = (size_t)v->num; break;
    case O_RETRY_TTL: c->service.retry_ttl_ms = (uint64_t)(v->num * 1000.0); break;
    case O_LOG_LEVEL: st->log_level = v->level; break;
    case O_CURVE_SECRET: st->curve_secret_path = v->str; break;
    case O_CURVE_CLIENTS: c->curve_clients = v->str; break;
    case O_INSECURE: st->insecure = v->on; break;
    case O_KEYGEN: return keygen(v->str);
    }
    return 0;
}

/* The security checks between options; -1 on a usage error. */
static int check_security(settings_t *st)
{
    server_config_t *c = &st->server;
    if (!st->curve_secret_path != !c->curve_clients) {
        fprintf(stderr, "envd: --curve-secret and --curve-clients go together: CURVE without "
                        "a list of authorised clients would admit anyone\n");
        return -1;
    }
    if (st->curve_secret_path) {
        errbuf_t e;
        if (!curve_available()) {
            fprintf(stderr, "envd: --curve-secret: this libzmq was built without CURVE\n");
            return -1;
        }
        if (curve_read_key(st->curve_secret_path, st->curve_secret, &e) < 0) {
            fprintf(stderr, "envd: --curve-secret: %s\n", e.msg);
            return -1;
        }
        c->curve_secret = st->curve_secret;
        return 0;
    }
    for (size_t i = 0; i < c->nbinds; i++) {
        if (hostport_endpoint_is_local(c->binds[i]))
            continue;
        if (!st->insecure) {
            fprintf(stderr,
                    "envd: refusing to serve plaintext on %s, which other hosts can reach.\n"
                    "  Either encrypt and authenticate clients: --curve-secret FILE "
                    "--curve-clients DIR (see envd --keygen),\n"
                    "  or accept plaintext on a network you trust: --insecure "
                    "(ENVD_INSECURE=1).\n",
                    c->binds[i]);
            return -1;
        }
    }
    return 0;
}

/* ZeroMQ needs a descriptor per client connection and HTTP takes a share
 * of what is free (http.c), so envd starts with all the descriptors it may
 * have: the soft limit raised to the hard one, before anything is bound. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("RLIMIT_NOFILE: %s", strerror(errno));
        return;
    }
    rlim_t soft = rl.rlim_cur;
    if (soft == rl.rlim_max) {
        log_debug("descriptors: RLIMIT_NOFILE %llu (soft = hard)", (unsigned long long)soft);
        return;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("descriptors: cannot raise RLIMIT_NOFILE from %llu to %llu: %s",
                 (unsigned long long)soft, (unsigned long long)rl.rlim_max, strerror(errno));
    else
        log_info("descriptors: RLIMIT_NOFILE raised from %llu to the hard limit %llu",
                 (unsigned long long)soft, (unsigned long long)rl.rlim_max);
}

/* Says loudly what is exposed; after log_init. */
static void warn_exposure(const settings_t *st)
{
    const server_config_t *c = &st->server;
    for (size_t i = 0; !c->curve_secret && i < c->nbinds; i++)
        if (!hostport_endpoint_is_local(c->binds[i]))
            log_warn("INSECURE: plaintext, unauthenticated endpoint %s is reachable from other "
                     "hosts (--insecure); anyone who can reach it can use and read it",
                     c->binds[i]);
    hostport_t hp;
    if (c->metrics_addr && hostport_parse(c->metrics_addr, HOSTPORT_PORT_ZERO, &hp, NULL) == 0 &&
        !hostport_is_loopback(hp.host))
        log_warn("metrics listener %s is not on loopback: /healthz and /metrics are plaintext "
                 "HTTP, readable by anyone who can reach it",
                 c->metrics_addr);
}

int main(int argc, char **argv)
{
    settings_t st;
    memset(&st, 0, sizeof st);
    st.server.handle_signals = true;
    char version[64];
    snprintf(version, sizeof version, "envd %s (protocol %d.%d)", ENVD_VERSION, WIRE_MAJOR,
             WIRE_MINOR);
    opts_t o = {.prog = "envd", .version = version, .rows = options, .nrows = O_COUNT,
                .set = set, .ctx = &st, .usage = usage, .width = 32, .unset = "off"};
    int rc = opts_parse(&o, argc, argv);
    if (rc == 0 && st.server.nbinds == 0)
        st.server.binds[st.server.nbinds++] = options[O_BIND].def;
    if (rc == 0)
        rc = check_security(&st);
    if (rc != 0) {
        opts_deinit(&o);
        return rc > 0 ? 0 : 2;
    }
    log_init("envd", st.log_level);
    warn_exposure(&st);
    raise_nofile();

    uv_loop_t loop;
    uv_loop_init(&loop);
    server_t *server = NULL;
    errbuf_t e;
    err_clear(&e);
    int exit_code = 0;
    if (server_new(&loop, &st.server, &server, &e) < 0) {
        log_error("%s", e.msg);
        exit_code = 1;
    } else {
        log_info("envd %s ready: max %zu sessions, batch %u, ttl %.3g s, %s", ENVD_VERSION,
                 st.server.service.max_sessions, st.server.service.max_batch,
                 (double)st.server.service.session_ttl_ms / 1000.0,
                 st.server.curve_secret ? "CURVE (authenticated clients only)" : "plaintext");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    server_destroy(&server);
    if (uv_loop_close(&loop) != 0) {
        log_error("event loop closed with handles still open");
        exit_code = 1;
    } else if (exit_code == 0) {
        log_info("stopped cleanly");
    }
    memset(st.curve_secret, 0, sizeof st.curve_secret);
    opts_deinit(&o);
    return exit_code;
}
