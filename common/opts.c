/*
 * opts.c — the command line of envd and agentd (see opts.h): each value,
 * from a default, the environment or a flag, is checked against its row
 * with the same messages, then handed to the program's set(). getopt_long
 * sees the rows as long options (val OPT_FIRST + row) beside --help and
 * --version, and reports unknown options and missing values itself.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "opts.h"

enum { OPT_FIRST = 256 }; /* above any short option */

struct opts_copy {
    struct opts_copy *next;
    char text[];
};

static int refuse(const opts_t *o, const char *origin, const char *text, const char *what)
{
    fprintf(stderr, "%s: %s: '%s' is not %s\n", o->prog, origin, text, what);
    return -1;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const words[] = {"0", "1", "false", "true", "no", "yes", "off", "on"};
    for (int i = 0; i < 8; i++)
        if (strcasecmp(text, words[i]) == 0)
            return *out = i % 2, 0;
    return -1;
}

/* Checks text against rows[which] and passes it on to set(). */
static int apply(opts_t *o, int which, const char *text, const char *origin)
{
    const opts_row_t *r = &o->rows[which];
    opts_value_t v = {.str = text};
    char *end;
    errno = 0;
    switch (r->kind) {
    case OPTS_INT:
    case OPTS_I64:
    case OPTS_F64: {
        bool whole = r->kind != OPTS_F64;
        v.num = strtod(text, &end);
        if (errno || end == text || *end || !(v.num >= r->min && v.num <= r->max) ||
            (whole && v.num != floor(v.num))) {
            char what[96];
            snprintf(what, sizeof what, "%s between %.15g and %.15g",
                     whole ? "a whole number" : "a number", r->min, r->max);
            return refuse(o, origin, text, what);
        }
        break;
    }
    case OPTS_U64:
        v.u64 = strtoull(text, &end, 0);
        if (errno || end == text || *end || *text == '-')
            return refuse(o, origin, text, "an unsigned 64-bit integer");
        break;
    case OPTS_BOOL:
    case OPTS_FLAG:
        if (parse_bool(text, &v.on) < 0)
            return refuse(o, origin, text, "a boolean (true/false)");
        break;
    case OPTS_STR: v.str = *text ? text : NULL; break;
    case OPTS_LEVEL:
        if ((v.level = log_level_parse(text)) < 0)
            return refuse(o, origin, text, "error, warn, info or debug");
        break;
    case OPTS_LIST:
        if (!*text)
            return refuse(o, origin, text, "an endpoint");
        break;
    case OPTS_TEXT: break;
    }
    return o->set(o->ctx, which, &v, origin);
}

/* An environment list: a copy split in place at commas and spaces. */
static int apply_list(opts_t *o, int which, const char *list, const char *origin)
{
    struct opts_copy *c = malloc(sizeof *c + strlen(list) + 1);
    if (!c) {
        fprintf(stderr, "%s: %s: out of memory\n", o->prog, origin);
        return -1;
    }
    c->next = o->copies;
    o->copies = c;
    char *save = NULL;
    strcpy(c->text, list);
    for (char *item = strtok_r(c->text, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        int rc = apply(o, which, item, origin);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_env(opts_t *o)
{
    for (int i = 0; i < o->nrows; i++) {
        const char *env = o->rows[i].env, *v = env ? getenv(env) : NULL;
        if (!v || !*v)
            continue;
        int rc = o->rows[i].kind == OPTS_LIST ? apply_list(o, i, v, env) : apply(o, i, v, env);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_args(opts_t *o, int argc, char **argv)
{
    struct option longopts[o->nrows + 3];
    bool replaced[o->nrows]; /* the first flag of a list replaces the environment's */
    for (int i = 0; i < o->nrows; i++) {
        opts_kind_t k = o->rows[i].kind;
        int has = k == OPTS_FLAG   ? no_argument
                  : k == OPTS_BOOL ? optional_argument
                                   : required_argument;
        longopts[i] = (struct option){o->rows[i].name, has, NULL, OPT_FIRST + i};
        replaced[i] = false;
    }
    longopts[o->nrows] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[o->nrows + 1] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[o->nrows + 2] = (struct option){NULL, 0, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            o->usage(o, stdout);
            return 1;
        }
        if (c == 'V') {
            printf("%s\n", o->version);
            return 1;
        }
        int i = c - OPT_FIRST, rc = 0;
        if (i < 0 || i >= o->nrows) {
            fprintf(stderr, "Try '%s --help'.\n", o->prog);
            return -1;
        }
        char origin[64];
        snprintf(origin, sizeof origin, "--%s", o->rows[i].name);
        if (o->rows[i].kind == OPTS_LIST && !replaced[i]) {
            replaced[i] = true;
            rc = o->set(o->ctx, i, NULL, origin);
        }
        if (rc == 0)
            rc = apply(o, i, optarg ? optarg : "true", origin);
        if (rc != 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", o->prog,
                argv[optind], o->prog);
        return -1;
    }
    return 0;
}

int opts_parse(opts_t *o, int argc, char **argv)
{
    for (int i = 0; i < o->nrows; i++)
        if (o->rows[i].def && o->rows[i].kind != OPTS_LIST &&
            apply(o, i, o->rows[i].def, "default") != 0)
            return -1;
    int rc = parse_env(o);
    return rc != 0 ? rc : parse_args(o, argc, argv);
}

void opts_usage(const opts_t *o, FILE *f)
{
    for (const opts_row_t *r = o->rows; r < o->rows + o->nrows; r++) {
        char flag[64];
        snprintf(flag, sizeof flag,
                 r->kind == OPTS_BOOL ? "--%s[=%s]" : r->kind == OPTS_FLAG ? "--%s" : "--%s %s",
                 r->name, r->arg);
        if (r->group)
            fprintf(f, "\n%s:\n", r->group);
        fprintf(f, "  %-*s %s\n", o->width, flag, r->help);
        if (r->env)
            fprintf(f, "  %-*s [env %s%s; default %s]\n", o->width, "", r->env,
                    r->kind == OPTS_FLAG ? "=1" : "", r->def ? r->def : o->unset);
    }
}

void opts_deinit(opts_t *o)
{
    while (o->copies) {
        struct opts_copy *next = o->copies->next;
        free(o->copies);
        o->copies = next;
    }
}
