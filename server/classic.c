/*
 * classic.c — option reading shared by the classic-control environments,
 * as gymnasium/envs/classic_control/utils.py and numpy's uniform do it
 * (../shared/docs/cartpole-v1-semantics.md 5.4, the reset sections of the
 * acrobot, mountaincar and pendulum notes).
 */
#include "classic.h"

#include <math.h>
#include <string.h>

int classic_float_option(const option_t *o, const char *what, double *out, errbuf_t *e)
{
    switch (o->type) {
    case OPTION_DOUBLE: *out = o->v.d; return 0;
    case OPTION_INT: *out = (double)o->v.i; return 0;
    default:
        return err_set(e, ERR_INVALID_ARGUMENT, "%s %s must be a number, not %s", what, o->key,
                       option_type_name(o->type));
    }
}

int classic_uniform_range(double low, double high, double *range, errbuf_t *e)
{
    double r = high - low;
    if (!isfinite(r) || signbit(r))
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "reset range high - low = %.17g - %.17g is not finite and >= +0", high,
                       low);
    *range = r;
    return 0;
}

int classic_reset_bounds(const option_t *opts, size_t nopts, double *low, double *high,
                         errbuf_t *e)
{
    double lo = *low, hi = *high, range;

    for (size_t i = 0; i < nopts; i++) {
        int rc = 0;
        if (strcmp(opts[i].key, "low") == 0)
            rc = classic_float_option(&opts[i], "reset option", &lo, e);
        else if (strcmp(opts[i].key, "high") == 0)
            rc = classic_float_option(&opts[i], "reset option", &hi, e);
        if (rc < 0)
            return rc;
    }
    /* Gymnasium's own check (ValueError); NaN passes it and meets numpy's. */
    if (lo > hi)
        return err_set(e, ERR_INVALID_ARGUMENT, "reset option low (%.17g) > high (%.17g)", lo,
                       hi);
    int rc = classic_uniform_range(lo, hi, &range, e);
    if (rc < 0)
        return rc;
    *low = lo;
    *high = hi;
    return 0;
}
