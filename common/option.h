/*
 * option.h — one make or reset option, as the wire carries it and the
 * environments read it.
 *
 * The codec (wire.c) decodes options into these and encodes them from
 * these; the environments (server/env.h) take the same array, so a request's
 * options reach an environment without a copy. OPTION_NONE is a key sent
 * with no value (what a Python None maps to): whether a key may go without
 * one is the environment's to say, as Gymnasium ignores unknown reset
 * options whatever they hold and refuses a known one of the wrong type.
 */
#ifndef OPTION_H
#define OPTION_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { OPTION_BOOL, OPTION_INT, OPTION_DOUBLE, OPTION_STRING, OPTION_NONE } option_type_t;

typedef struct {
    const char *key;
    option_type_t type;
    union {
        bool b;
        int64_t i;
        double d;
        const char *s;
    } v;
} option_t;

/* The most options one request (make, reset, reset_batch) may carry. */
#define OPTIONS_MAX 16

/* "bool", "int", "double", "string" or "none", for error messages. */
const char *option_type_name(option_type_t t);

#endif
