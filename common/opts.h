/*
 * opts.h — the command line of envd and agentd: one table row per option.
 *
 * A program lists its options as rows and gives a set() callback that
 * stores a value once it has been checked against its row. Defaults come
 * first, then the environment twins, then the flags, which override them;
 * the first flag of a list replaces the environment's list. A refused value
 * is reported as "PROG: ORIGIN: 'VALUE' is not ...", ORIGIN being the flag
 * (--lr) or the variable (AGENTD_LR).
 */
#ifndef OPTS_H
#define OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    OPTS_INT,   /* a whole number within [min, max], for an int */
    OPTS_I64,   /* a whole number within [min, max], for an int64_t or wider */
    OPTS_F64,   /* a number within [min, max] */
    OPTS_U64,   /* any unsigned 64-bit integer (0x... too) */
    OPTS_BOOL,  /* --name or --name=BOOL: 1/0, true/false, yes/no, on/off */
    OPTS_FLAG,  /* --name takes no value; its environment twin is a BOOL */
    OPTS_STR,   /* text; "" means unset (NULL) */
    OPTS_LIST,  /* repeatable; the environment twin is comma-separated */
    OPTS_LEVEL, /* log level: error, warn, info or debug */
    OPTS_TEXT,  /* the program checks the text itself */
} opts_kind_t;

typedef struct opts_row {
    const char *group; /* --help: a heading where a new group starts */
    const char *name;  /* long flag without -- */
    const char *env;   /* environment twin; NULL: a flag only */
    opts_kind_t kind;
    double min, max;
    const char *def;   /* default, as text; NULL: unset */
    const char *arg;   /* metavariable for --help */
    const char *help;
    size_t off;        /* the program's own, e.g. the field the value goes to */
} opts_row_t;

/* A checked value; str is the text (for OPTS_STR, NULL when empty). */
typedef struct opts_value {
    const char *str;
    double num;   /* OPTS_INT, OPTS_I64, OPTS_F64 */
    uint64_t u64; /* OPTS_U64 */
    bool on;      /* OPTS_BOOL, OPTS_FLAG */
    int level;    /* OPTS_LEVEL: LOG_ERROR ... LOG_DEBUG */
} opts_value_t;

typedef struct opts opts_t;

/* Stores rows[which]'s value; for a list, v NULL means "forget the items
 * so far". Returns 0, 1 when the program is done (exit 0), or -1 after
 * printing why the value is refused. */
typedef int opts_set_fn(void *ctx, int which, const opts_value_t *v, const char *origin);

struct opts {
    const char *prog;    /* "envd": starts every message */
    const char *version; /* the line --version prints */
    const opts_row_t *rows;
    int nrows;
    opts_set_fn *set;
    void *ctx;           /* set()'s first argument */
    void (*usage)(const opts_t *o, FILE *f); /* --help */
    int width;           /* --help: width of the flags' column */
    const char *unset;   /* --help: the default shown for a row without one */
    struct opts_copy *copies; /* the environment's lists, which set() points into */
};

/* Returns 0 to run, 1 when done (--help, --version: exit 0), -1 on a
 * usage error (exit 2), already reported. */
int opts_parse(opts_t *o, int argc, char **argv);

/* The rows for --help: each flag and its help, then its twin and default. */
void opts_usage(const opts_t *o, FILE *f);

/* Frees the environment's lists once set()'s pointers into them are unused. */
void opts_deinit(opts_t *o);

#endif
