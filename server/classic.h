/*
 * classic.h — what Gymnasium's classic-control environments share when they
 * read options: Python's float() of a number, utils.maybe_parse_reset_bounds
 * and the checks numpy's Generator.uniform makes before it draws.
 *
 * Every environment (cartpole.c, acrobot.c, mountaincar.c,
 * mountaincar_continuous.c, pendulum.c) reads its numeric make and reset
 * options through these, so all refuse the same inputs with the same words.
 */
#ifndef CLASSIC_H
#define CLASSIC_H

#include <stddef.h>

#include "env.h"

/* float(o): an int or a double option as a double (an int rounds to the
 * nearest double, as Python's float() does). A bool, a string or no value
 * is INVALID_ARGUMENT naming what ("make option", "reset option"), o->key
 * and the type: Python would take True or "1.5" too, but a client that
 * sends them has made a mistake. */
int classic_float_option(const option_t *o, const char *what, double *out, errbuf_t *e);

/* utils.maybe_parse_reset_bounds: *low and *high hold the defaults on entry
 * and are replaced by options "low" and "high" (through
 * classic_float_option); other keys are ignored, as Gymnasium ignores them.
 * low > high is INVALID_ARGUMENT, and so is what uniform(low, high) would
 * refuse (classic_uniform_range). On failure *low and *high are unchanged. */
int classic_reset_bounds(const option_t *opts, size_t nopts, double *low, double *high,
                         errbuf_t *e);

/* numpy's uniform(low, high): range = high - low, which must be finite and
 * not negative (-0.0 included: numpy tests the sign bit). Gymnasium passes
 * NaN or infinite bounds through to it, so this is where they are refused. */
int classic_uniform_range(double low, double high, double *range, errbuf_t *e);

#endif
