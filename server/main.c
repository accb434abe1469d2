/*
 * main.c — envd's command line: options, then the server on a libuv loop.
 *
 * Every option is one row of the table below: its flag, its environment
 * twin (for containers), its bounds and default. Environment variables are
 * read first, flags override them. Exit status: 0 after a clean shutdown,
 * 1 on a start-up error, 2 on a usage error.
 *
 * Safe default: a plaintext endpoint must be local (ipc://, or tcp:// on a
 * loopback address). Anything reachable from another host needs CURVE
 * (--curve-secret, --curve-clients) or an explicit --insecure, which is
 * logged as a warning (docs/security.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curve.h"
#include "log.h"
#include "server.h"

typedef enum { OPT_UINT, OPT_SECONDS, OPT_STRING, OPT_LIST, OPT_LEVEL, OPT_FLAG } opt_kind_t;

typedef struct option_row {
    const char *name; /* long flag without -- */
    const char *env;  /* environment twin */
    opt_kind_t kind;
    double min, max;
    const char *def;  /* default, as text */
    const char *arg;  /* metavariable for --help */
    const char *help;
} option_row_t;

enum {
    O_BIND, O_METRICS, O_MAX_SESSIONS, O_SESSION_TTL, O_MAX_BATCH, O_MAX_MESSAGE, O_HWM,
    O_LOG_LEVEL, O_CURVE_SECRET, O_CURVE_CLIENTS, O_INSECURE, O_COUNT
};

static const option_row_t options[O_COUNT] = {
    [O_BIND] = {"bind", "ENVD_BIND", OPT_LIST, 0, 0, "tcp://127.0.0.1:5555", "ENDPOINT",
                "ZeroMQ endpoint to listen on; repeatable (env: comma-separated)"},
    [O_METRICS] = {"metrics", "ENVD_METRICS", OPT_STRING, 0, 0, NULL, "ADDR:PORT",
                   "serve /healthz and /metrics over HTTP (off by default), e.g. 127.0.0.1:9100"},
    [O_MAX_SESSIONS] = {"max-sessions", "ENVD_MAX_SESSIONS", OPT_UINT, 1, 100000000, "100000",
                        "N", "sessions open at once, over all clients"},
    [O_SESSION_TTL] = {"session-ttl", "ENVD_SESSION_TTL", OPT_SECONDS, 0.01, 86400 * 30, "300",
                       "SECONDS", "idle time after which a session is reclaimed"},
    [O_MAX_BATCH] = {"max-batch", "ENVD_MAX_BATCH", OPT_UINT, 1, 1 << 20, "8192", "N",
                     "sessions per batch request (and per make)"},
    [O_MAX_MESSAGE] = {"max-message-size", "ENVD_MAX_MESSAGE_SIZE", OPT_UINT, 1024,
                       1 << 30, "16777216", "BYTES", "largest request accepted"},
    [O_HWM] = {"hwm", "ENVD_HWM", OPT_UINT, 1, 1000000, "1000", "N",
               "ZeroMQ send/receive high-water mark, in messages"},
    [O_LOG_LEVEL] = {"log-level", "ENVD_LOG_LEVEL", OPT_LEVEL, 0, 0, "info", "LEVEL",
                     "error, warn, info or debug"},
    [O_CURVE_SECRET] = {"curve-secret", "ENVD_CURVE_SECRET", OPT_STRING, 0, 0, NULL, "FILE",
                        "encrypt every endpoint with CURVE, with the secret key in FILE "
                        "(from --keygen)"},
    [O_CURVE_CLIENTS] = {"curve-clients", "ENVD_CURVE_CLIENTS", OPT_STRING, 0, 0, NULL, "DIR",
                         "with --curve-secret: admit only clients whose public key is a *.pub "
                         "in DIR (reread on SIGHUP)"},
    [O_INSECURE] = {"insecure", "ENVD_INSECURE", OPT_FLAG, 0, 0, NULL, "",
                    "allow plaintext on endpoints reachable from other hosts (0.0.0.0, a "
                    "non-loopback address, a hostname or interface)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: envd [OPTION]...\n"
               "CartPole environment server: Gymnasium-exact sessions over ZeroMQ (protocol v%d.%d).\n\n",
            WIRE_MAJOR, WIRE_MINOR);
    for (int i = 0; i < O_COUNT; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s %s", options[i].name, options[i].arg);
        fprintf(f, "  %-30s %s\n  %-30s [env %s%s; default %s]\n", flag, options[i].help, "",
                options[i].env, options[i].kind == OPT_FLAG ? "=1" : "",
                options[i].def ? options[i].def : "off");
    }
    fprintf(f, "  %-30s %s\n  %-30s %s\n  %-30s %s\n", "--keygen PREFIX",
            "write a CURVE key pair to PREFIX.key (secret, 0600) and PREFIX.pub, then exit",
            "--help", "show this help", "--version", "print the version");
    fprintf(f, "\nPlaintext is allowed only on ipc:// and loopback tcp:// endpoints unless\n"
               "--insecure is given; see docs/security.md.\n");
}

typedef struct settings {
    server_config_t server;
    int log_level;
    const char *curve_secret_path;
    bool insecure;
    char curve_secret[CURVE_Z85_LEN + 1];
    char *bind_storage; /* the environment's comma-separated list, split in place */
} settings_t;

static int apply(settings_t *st, int which, const char *val, const char *origin)
{
    const option_row_t *o = &options[which];
    double num = 0;
    if (o->kind == OPT_UINT || o->kind == OPT_SECONDS) {
        char *end;
        errno = 0;
        num = strtod(val, &end);
        if (errno || end == val || *end || num < o->min || num > o->max ||
            (o->kind == OPT_UINT && num != (double)(uint64_t)num)) {
            fprintf(stderr, "envd: %s %s: '%s' is not %s between %g and %g\n", origin, o->name,
                    val, o->kind == OPT_UINT ? "a whole number" : "a number of seconds", o->min,
                    o->max);
            return -1;
        }
    }
    server_config_t *c = &st->server;
    switch (which) {
    case O_BIND:
        if (c->nbinds >= SERVER_MAX_BINDS) {
            fprintf(stderr, "envd: at most %d --bind endpoints\n", SERVER_MAX_BINDS);
            return -1;
        }
        c->binds[c->nbinds++] = val;
        break;
    case O_METRICS: c->metrics_addr = *val ? val : NULL; break;
    case O_MAX_SESSIONS: c->service.max_sessions = (size_t)num; break;
    case O_SESSION_TTL: c->service.session_ttl_ms = (uint64_t)(num * 1000.0); break;
    case O_MAX_BATCH: c->service.max_batch = (uint32_t)num; break;
    case O_MAX_MESSAGE: c->service.max_message_size = (uint64_t)num; break;
    case O_HWM: c->sndhwm = c->rcvhwm = (int)num; break;
    case O_CURVE_SECRET: st->curve_secret_path = *val ? val : NULL; break;
    case O_CURVE_CLIENTS: c->curve_clients = *val ? val : NULL; break;
    case O_INSECURE:
        if (strcmp(val, "1") && strcmp(val, "0") && strcmp(val, "true") && strcmp(val, "false")) {
            fprintf(stderr, "envd: %s insecure: '%s' is not 1 or 0\n", origin, val);
            return -1;
        }
        st->insecure = strcmp(val, "1") == 0 || strcmp(val, "true") == 0;
        break;
    case O_LOG_LEVEL:
        if ((st->log_level = log_level_parse(val)) < 0) {
            fprintf(stderr, "envd: %s log-level: '%s' is not error, warn, info or debug\n",
                    origin, val);
            return -1;
        }
        break;
    }
    return 0;
}

static int parse_env(settings_t *st)
{
    for (int i = 0; i < O_COUNT; i++) {
        const char *v = getenv(options[i].env);
        if (!v || !*v)
            continue;
        if (options[i].kind == OPT_LIST) {
            st->bind_storage = strdup(v);
            char *save = NULL;
            for (char *tok = strtok_r(st->bind_storage, ", ", &save); tok;
                 tok = strtok_r(NULL, ", ", &save))
                if (apply(st, i, tok, options[i].env) < 0)
                    return -1;
        } else if (apply(st, i, v, options[i].env) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Returns 0 to run, 1 when done (help/version), -1 on a usage error. */
static int parse_args(settings_t *st, int argc, char **argv)
{
    struct option longopts[O_COUNT + 4];
    for (int i = 0; i < O_COUNT; i++)
        longopts[i] = (struct option){options[i].name,
                                      options[i].kind == OPT_FLAG ? no_argument : required_argument,
                                      NULL, i};
    longopts[O_COUNT] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[O_COUNT + 1] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[O_COUNT + 2] = (struct option){"keygen", required_argument, NULL, 'k'};
    longopts[O_COUNT + 3] = (struct option){NULL, 0, NULL, 0};
    bool flag_binds = false;
    int c;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == 'V') {
            printf("envd %s (protocol %d.%d)\n", ENVD_VERSION, WIRE_MAJOR, WIRE_MINOR);
            return 1;
        }
        if (c == 'k') {
            errbuf_t e;
            if (curve_keygen(optarg, &e) < 0) {
                fprintf(stderr, "envd: --keygen: %s\n", e.msg);
                return -1;
            }
            printf("wrote %s.key (secret: keep it private) and %s.pub\n", optarg, optarg);
            return 1;
        }
        if (c < 0 || c >= O_COUNT) {
            fprintf(stderr, "Try 'envd --help'.\n");
            return -1;
        }
        if (c == O_BIND && !flag_binds) {
            st->server.nbinds = 0; /* flags replace the environment's list */
            flag_binds = true;
        }
        char origin[64];
        snprintf(origin, sizeof origin, "--%s", options[c].name);
        if (apply(st, c, optarg ? optarg : "1", origin) < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "envd: unexpected argument '%s'\nTry 'envd --help'.\n", argv[optind]);
        return -1;
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
        if (server_endpoint_is_local(c->binds[i]))
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

/* Says loudly what is exposed; after log_init. */
static void warn_exposure(const settings_t *st)
{
    const server_config_t *c = &st->server;
    for (size_t i = 0; !c->curve_secret && i < c->nbinds; i++)
        if (!server_endpoint_is_local(c->binds[i]))
            log_warn("INSECURE: plaintext, unauthenticated endpoint %s is reachable from other "
                     "hosts (--insecure); anyone who can reach it can use and read it",
                     c->binds[i]);
    if (c->metrics_addr && !server_addr_is_loopback(c->metrics_addr))
        log_warn("metrics listener %s is not on loopback: /healthz and /metrics are plaintext "
                 "HTTP, readable by anyone who can reach it",
                 c->metrics_addr);
}

int main(int argc, char **argv)
{
    settings_t st;
    memset(&st, 0, sizeof st);
    st.server.handle_signals = true;
    for (int i = 0; i < O_COUNT; i++)
        if (options[i].def && options[i].kind != OPT_LIST && apply(&st, i, options[i].def, "default") < 0)
            return 2;
    int rc = parse_env(&st);
    if (rc == 0)
        rc = parse_args(&st, argc, argv);
    if (rc != 0) {
        free(st.bind_storage);
        return rc > 0 ? 0 : 2;
    }
    if (st.server.nbinds == 0)
        st.server.binds[st.server.nbinds++] = options[O_BIND].def;
    if (check_security(&st) < 0) {
        free(st.bind_storage);
        return 2;
    }
    log_init("envd", st.log_level);
    warn_exposure(&st);

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
    free(st.bind_storage);
    return exit_code;
}
