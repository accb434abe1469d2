/*
 * netem.c — a user-space network emulator: delay, jitter, loss and rate on
 * IPv4 packets, for tests and benchmarks on kernels without sch_netem.
 *
 * It attaches to a TUN device in a "router" network namespace
 * (tests/netem/topology.sh builds it): the router's policy routing sends
 * every packet that arrives from a host's veth into the TUN; this program
 * reads it, decides whether it is lost and when it may leave, and writes it
 * back into the TUN, where the kernel routes it on to the destination
 * host's veth. The packets are real IP packets of the hosts' real TCP
 * stacks, so a lost segment is recovered by the kernel's own retransmission
 * (RTO, tail loss probe, fast retransmit), as on a real lossy path; nothing
 * here looks at ports or payloads.
 *
 * Rules: `--from ADDR SPEC` applies to packets whose source is ADDR (what
 * that host sends: `tc qdisc add dev eth0 root netem SPEC` on that host),
 * `--to ADDR SPEC` to packets whose destination is ADDR. A packet from A to
 * B goes through A's from-rule and then B's to-rule, as through two links
 * in series: delays add up, losses are independent. SPEC is a comma list:
 *
 *     delay=20ms      fixed delay (units us, ms, s; default ms)
 *     jitter=5ms      added random delay: uniform in [-J, +J] (netem's
 *                     default), or with dist=normal a normal deviate of
 *                     standard deviation J; a negative total is 0
 *     loss=5%         each packet independently lost with this probability
 *     rate=10mbit     serialisation at this rate (bit, kbit, mbit, gbit),
 *                     before the delay; packets queue behind each other
 *
 * Order: as with netem, each packet's delay is drawn on its own, so with
 * jitter a later packet can leave before an earlier one (reordering; TCP
 * copes with it as on a real path). --keep-order makes a packet never leave
 * before the one that went through the same rule before it.
 *
 * Reproducible: rule k (0-based, in command-line order) draws its losses
 * from np.random.Generator(PCG64(SeedSequence([seed, k, 0]))).random() (the
 * project's numpy-exact common/rng.c) and its jitter from [seed, k, 1], one
 * draw per packet, so the n-th packet through a rule is lost or kept the
 * same way in every run with the same seed (tests/netem/run.sh checks the
 * lost set against numpy).
 *
 * Counters per rule (packets, lost, bytes, mean delay) and how late this
 * process wrote packets past their release time (a busy machine delays its
 * wake-ups) are printed on stdout at exit (SIGTERM, SIGINT) and on SIGUSR1.
 * Packets queue up to --limit (beyond it they are dropped and counted as
 * "overflow").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "clock.h"
#include "rng.h"

#define NETEM_MAX_RULES 64
#define NETEM_SLOT 2048        /* bytes per queued packet; the TUN's MTU is 1500 */
#define NETEM_READ_BURST 256   /* packets read before due ones are written again */

typedef struct netem_rule {
    int from;                  /* 1: matches the source address; 0: the destination */
    uint32_t addr;             /* network byte order */
    char addr_text[INET_ADDRSTRLEN];
    uint64_t delay_ns;
    uint64_t jitter_ns;
    int normal;                /* jitter distribution: 0 uniform, 1 normal */
    double loss;               /* probability */
    uint64_t rate_bps;         /* 0: no rate limit */
    rng_t loss_rng;
    rng_t jitter_rng;
    uint64_t busy_until_ns;    /* rate: when the link is free again */
    uint64_t last_release_ns;  /* --keep-order */
    uint64_t packets, lost, bytes;
    double delay_sum_ns;       /* over the packets kept */
} netem_rule_t;

typedef struct netem_pkt {
    uint64_t release_ns;
    uint64_t seq;              /* FIFO among equal release times */
    uint32_t slot;
    uint32_t len;
} netem_pkt_t;

typedef struct netem {
    int fd;
    const char *tun;
    uint64_t seed;
    int keep_order;
    size_t limit;
    netem_rule_t rules[NETEM_MAX_RULES];
    size_t n_rules;
    netem_pkt_t *heap;         /* (limit) min-heap on (release_ns, seq) */
    size_t n_heap;
    uint8_t *slots;            /* (limit, NETEM_SLOT) */
    uint32_t *free_slots;      /* (limit) stack */
    size_t n_free;
    uint64_t seq;
    uint64_t other, overflow, oversize, write_errors;
    uint64_t written;
    double late_sum_ns;        /* written after their release time by this much */
    uint64_t late_max_ns;
} netem_t;

static volatile sig_atomic_t netem_stop, netem_dump;

static void netem_on_signal(int sig)
{
    if (sig == SIGUSR1)
        netem_dump = 1;
    else
        netem_stop = 1;
}

/* ------------------------------------------------------------ parsing */

static const char netem_usage[] =
    "usage: netem --tun NAME [--seed S] [--limit N] [--keep-order]\n"
    "             [--from ADDR SPEC]... [--to ADDR SPEC]...\n"
    "SPEC: comma list of delay=T, jitter=T, dist=uniform|normal, loss=P%, rate=R\n"
    "      (T in us, ms or s, default ms; R in bit, kbit, mbit or gbit)\n";

/* "20ms", "500us", "1.5s", "3" (ms) -> ns; -1 on a bad value. */
static int64_t netem_parse_time(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    double scale = 1e6;
    if (end == s || !(v >= 0) || v > 1e6)
        return -1;
    if (strcmp(end, "us") == 0)
        scale = 1e3;
    else if (strcmp(end, "ms") == 0 || *end == '\0')
        scale = 1e6;
    else if (strcmp(end, "s") == 0)
        scale = 1e9;
    else
        return -1;
    return (int64_t)llround(v * scale);
}

static int netem_parse_rate(const char *s, uint64_t *bps)
{
    static const struct { const char *unit; double scale; } units[] = {
        {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9},
    };
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0))
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(end, units[i].unit) == 0 && v * units[i].scale >= 1 &&
            v * units[i].scale < 1e12) {
            *bps = (uint64_t)llround(v * units[i].scale);
            return 0;
        }
    return -1;
}

/* Fills r from "delay=20ms,jitter=5ms,loss=5%,..."; 0 or -1 (message in err). */
static int netem_parse_spec(netem_rule_t *r, const char *spec, char *err, size_t errlen)
{
    char buf[256];
    if (strlen(spec) >= sizeof buf) {
        snprintf(err, errlen, "SPEC too long: %s", spec);
        return -1;
    }
    strcpy(buf, spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "'%s' in SPEC is not KEY=VALUE", tok);
            return -1;
        }
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        int64_t t;
        if (strcmp(key, "delay") == 0 || strcmp(key, "jitter") == 0) {
            if ((t = netem_parse_time(val)) < 0) {
                snprintf(err, errlen, "%s=%s: a time like 20ms, 500us or 1s", key, val);
                return -1;
            }
            *(key[0] == 'd' ? &r->delay_ns : &r->jitter_ns) = (uint64_t)t;
        } else if (strcmp(key, "dist") == 0) {
            if (strcmp(val, "uniform") != 0 && strcmp(val, "normal") != 0) {
                snprintf(err, errlen, "dist=%s: uniform or normal", val);
                return -1;
            }
            r->normal = strcmp(val, "normal") == 0;
        } else if (strcmp(key, "loss") == 0) {
            char *end;
            double p = strtod(val, &end);
            if (end == val || strcmp(end, "%") != 0 || !(p >= 0 && p <= 100)) {
                snprintf(err, errlen, "loss=%s: a percentage like 5%%", val);
                return -1;
            }
            r->loss = p / 100;
        } else if (strcmp(key, "rate") == 0) {
            if (netem_parse_rate(val, &r->rate_bps) < 0) {
                snprintf(err, errlen, "rate=%s: a rate like 100kbit or 10mbit", val);
                return -1;
            }
        } else {
            snprintf(err, errlen, "unknown SPEC key '%s' (delay, jitter, dist, loss, rate)", key);
            return -1;
        }
    }
    return 0;
}

static int netem_parse_args(netem_t *n, int argc, char **argv)
{
    char err[320];
    n->seed = 1;
    n->limit = 10000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has1 = i + 1 < argc, has2 = i + 2 < argc;
        if (strcmp(a, "--help") == 0) {
            fputs(netem_usage, stdout);
            exit(0);
        } else if (strcmp(a, "--keep-order") == 0) {
            n->keep_order = 1;
        } else if (strcmp(a, "--tun") == 0 && has1) {
            n->tun = argv[++i];
        } else if ((strcmp(a, "--seed") == 0 || strcmp(a, "--limit") == 0) && has1) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || argv[i][0] == '-' ||
                (a[2] == 's' && v > UINT32_MAX) || (a[2] == 'l' && (v < 1 || v > 1000000))) {
                fprintf(stderr, "netem: %s %s: %s\n", a, argv[i],
                        a[2] == 's' ? "an integer in [0, 2^32)" : "an integer in [1, 1000000]");
                return -1;
            }
            if (a[2] == 's')
                n->seed = v;
            else
                n->limit = (size_t)v;
        } else if ((strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0) && has2) {
            if (n->n_rules == NETEM_MAX_RULES) {
                fprintf(stderr, "netem: more than %d rules\n", NETEM_MAX_RULES);
                return -1;
            }
            netem_rule_t *r = &n->rules[n->n_rules];
            memset(r, 0, sizeof *r);
            r->from = a[2] == 'f';
            struct in_addr in;
            if (inet_pton(AF_INET, argv[i + 1], &in) != 1) {
                fprintf(stderr, "netem: %s %s: not an IPv4 address\n", a, argv[i + 1]);
                return -1;
            }
            r->addr = in.s_addr;
            for (size_t k = 0; k < n->n_rules; k++)
                if (n->rules[k].from == r->from && n->rules[k].addr == r->addr) {
                    fprintf(stderr, "netem: %s %s given twice (one rule per address and direction)\n",
                            a, argv[i + 1]);
                    return -1;
                }
            snprintf(r->addr_text, sizeof r->addr_text, "%s", argv[i + 1]);
            if (netem_parse_spec(r, argv[i + 2], err, sizeof err) < 0) {
                fprintf(stderr, "netem: %s %s %s: %s\n", a, argv[i + 1], argv[i + 2], err);
                return -1;
            }
            n->n_rules++;
            i += 2;
        } else {
            fprintf(stderr, "netem: unknown or incomplete option '%s'\n%s", a, netem_usage);
            return -1;
        }
    }
    if (n->tun == NULL) {
        fprintf(stderr, "netem: --tun NAME is required\n%s", netem_usage);
        return -1;
    }
    for (size_t k = 0; k < n->n_rules; k++) {
        uint32_t w_loss[3] = {(uint32_t)n->seed, (uint32_t)k, 0};
        uint32_t w_jit[3] = {(uint32_t)n->seed, (uint32_t)k, 1};
        rng_seed_words(&n->rules[k].loss_rng, w_loss, 3);
        rng_seed_words(&n->rules[k].jitter_rng, w_jit, 3);
    }
    return 0;
}

/* --------------------------------------------------------------- queue */

static int netem_before(const netem_pkt_t *a, const netem_pkt_t *b)
{
    return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->seq < b->seq);
}

static void netem_push(netem_t *n, netem_pkt_t p)
{
    size_t i = n->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!netem_before(&p, &n->heap[up]))
            break;
        n->heap[i] = n->heap[up];
        i = up;
    }
    n->heap[i] = p;
}

static netem_pkt_t netem_pop(netem_t *n)
{
    netem_pkt_t top = n->heap[0], last = n->heap[--n->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n->n_heap)
            break;
        if (c + 1 < n->n_heap && netem_before(&n->heap[c + 1], &n->heap[c]))
            c++;
        if (!netem_before(&n->heap[c], &last))
            break;
        n->heap[i] = n->heap[c];
        i = c;
    }
    if (n->n_heap > 0)
        n->heap[i] = last;
    return top;
}

/* ----------------------------------------------------------- the rules */

static netem_rule_t *netem_match(netem_t *n, int from, uint32_t addr)
{
    for (size_t k = 0; k < n->n_rules; k++)
        if (n->rules[k].from == from && n->rules[k].addr == addr)
            return &n->rules[k];
    return NULL;
}

static uint64_t netem_jitter(netem_rule_t *r)
{
    double d = (double)r->delay_ns, j = (double)r->jitter_ns;
    if (j > 0) {
        double u = rng_next_double(&r->jitter_rng);
        if (r->normal) {
            /* Box-Muller; 1 - u is in (0, 1], so the log is finite. */
            double v = rng_next_double(&r->jitter_rng);
            d += j * sqrt(-2 * log(1 - u)) * cos(2 * M_PI * v);
        } else {
            d += j * (2 * u - 1);
        }
    }
    return d > 0 ? (uint64_t)d : 0;
}

/* The time at which a packet of len bytes that reached rule r at t leaves
 * it, or UINT64_MAX when r loses it. Every packet draws from the loss
 * stream, lost or not, so the n-th packet's fate depends on n only. */
static uint64_t netem_through(netem_t *n, netem_rule_t *r, uint64_t t, uint32_t len)
{
    r->packets++;
    r->bytes += len;
    double u = rng_next_double(&r->loss_rng);
    if (u < r->loss) {
        r->lost++;
        return UINT64_MAX;
    }
    uint64_t start = t;
    if (r->rate_bps) {
        if (r->busy_until_ns > start)
            start = r->busy_until_ns;
        start += (uint64_t)len * 8 * 1000000000ull / r->rate_bps;
        r->busy_until_ns = start;
    }
    uint64_t out = start + netem_jitter(r);
    if (n->keep_order && out < r->last_release_ns)
        out = r->last_release_ns;
    r->last_release_ns = out;
    r->delay_sum_ns += (double)(out - t);
    return out;
}

static void netem_packet(netem_t *n, const uint8_t *pkt, uint32_t len, uint64_t now)
{
    uint64_t release = now;
    if (len >= 20 && (pkt[0] >> 4) == 4) {
        uint32_t src, dst;
        memcpy(&src, pkt + 12, 4);
        memcpy(&dst, pkt + 16, 4);
        netem_rule_t *rs = netem_match(n, 1, src), *rd = netem_match(n, 0, dst);
        if (rs == NULL && rd == NULL)
            n->other++;
        if (rs && (release = netem_through(n, rs, release, len)) == UINT64_MAX)
            return;
        if (rd && (release = netem_through(n, rd, release, len)) == UINT64_MAX)
            return;
    } else {
        n->other++;
    }
    if (len > NETEM_SLOT) {
        n->oversize++;
        return;
    }
    if (n->n_free == 0) {
        n->overflow++;
        return;
    }
    uint32_t slot = n->free_slots[--n->n_free];
    memcpy(n->slots + (size_t)slot * NETEM_SLOT, pkt, len);
    netem_push(n, (netem_pkt_t){.release_ns = release, .seq = n->seq++, .slot = slot, .len = len});
}

static void netem_print_stats(const netem_t *n)
{
    for (size_t k = 0; k < n->n_rules; k++) {
        const netem_rule_t *r = &n->rules[k];
        uint64_t kept = r->packets - r->lost;
        printf("netem: rule %zu %s %s packets=%" PRIu64 " lost=%" PRIu64 " bytes=%" PRIu64
               " mean_delay_ms=%.3f\n",
               k, r->from ? "from" : "to", r->addr_text, r->packets, r->lost, r->bytes,
               kept ? r->delay_sum_ns / (double)kept / 1e6 : 0.0);
    }
    printf("netem: unmatched=%" PRIu64 " overflow=%" PRIu64 " oversize=%" PRIu64
           " write_errors=%" PRIu64 " queued=%zu late_mean_ms=%.3f late_max_ms=%.3f\n",
           n->other, n->overflow, n->oversize, n->write_errors, n->n_heap,
           n->written ? n->late_sum_ns / (double)n->written / 1e6 : 0.0, (double)n->late_max_ns / 1e6);
    fflush(stdout);
}

/* ---------------------------------------------------------------- main */

static int netem_open_tun(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "netem: /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (strlen(name) >= IFNAMSIZ) {
        fprintf(stderr, "netem: --tun %s: longer than %d characters\n", name, IFNAMSIZ - 1);
        close(fd);
        return -1;
    }
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "netem: TUNSETIFF %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    static netem_t n;
    if (netem_parse_args(&n, argc, argv) < 0)
        return 2;
    n.heap = calloc(n.limit, sizeof *n.heap);
    n.slots = malloc(n.limit * NETEM_SLOT);
    n.free_slots = malloc(n.limit * sizeof *n.free_slots);
    if (!n.heap || !n.slots || !n.free_slots) {
        fprintf(stderr, "netem: out of memory for --limit %zu\n", n.limit);
        return 1;
    }
    for (size_t i = 0; i < n.limit; i++)
        n.free_slots[i] = (uint32_t)(n.limit - 1 - i);
    n.n_free = n.limit;
    if ((n.fd = netem_open_tun(n.tun)) < 0)
        return 1;
    /* Sleep to the microsecond, not to the default 50 us timer slack. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &none);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = netem_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigdelset(&none, SIGTERM);
    sigdelset(&none, SIGINT);
    sigdelset(&none, SIGUSR1);

    printf("netem: attached to %s: %zu rules, seed %" PRIu64 ", %s\n", n.tun, n.n_rules, n.seed,
           n.keep_order ? "order kept" : "reordering with jitter");
    fflush(stdout);

    static uint8_t buf[65536];
    while (!netem_stop) {
        if (netem_dump) {
            netem_dump = 0;
            netem_print_stats(&n);
        }
        uint64_t now = clock_ns();
        struct timespec ts, *tsp = NULL;
        if (n.n_heap > 0) {
            uint64_t wait = n.heap[0].release_ns > now ? n.heap[0].release_ns - now : 0;
            ts.tv_sec = (time_t)(wait / 1000000000ull);
            ts.tv_nsec = (long)(wait % 1000000000ull);
            tsp = &ts;
        }
        struct pollfd pfd = {.fd = n.fd, .events = POLLIN};
        int rc = ppoll(&pfd, 1, tsp, &none);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "netem: poll: %s\n", strerror(errno));
            break;
        }
        if (rc > 0 && (pfd.revents & POLLIN)) {
            for (int i = 0; i < NETEM_READ_BURST; i++) {
                ssize_t len = read(n.fd, buf, sizeof buf);
                if (len <= 0)
                    break;
                netem_packet(&n, buf, (uint32_t)len, clock_ns());
            }
        }
        now = clock_ns();
        while (n.n_heap > 0 && n.heap[0].release_ns <= now) {
            netem_pkt_t p = netem_pop(&n);
            if (write(n.fd, n.slots + (size_t)p.slot * NETEM_SLOT, p.len) != (ssize_t)p.len)
                n.write_errors++;
            n.free_slots[n.n_free++] = p.slot;
            /* How late the rig itself was (a busy machine delays this
             * process's wake-ups): what a benchmark must read its delays by. */
            uint64_t late = now - p.release_ns;
            n.written++;
            n.late_sum_ns += (double)late;
            if (late > n.late_max_ns)
                n.late_max_ns = late;
        }
    }
    netem_print_stats(&n);
    close(n.fd);
    free(n.heap);
    free(n.slots);
    free(n.free_slots);
    return 0;
}
