/*
 * skip.h — what a C test does when it cannot run here.
 *
 * A test that lacks a capability (root, a mount namespace, ...) must not
 * pass without checking anything: a run on a machine without it would look
 * like a run that checked. skip_allowed() says whether this run opted out
 * with ALLOW_SKIP=1 in the environment; if so it prints a SKIP line and the
 * caller returns (the test passes, visibly unchecked); if not the caller
 * fails with the reason. The pytest suites (tests/skip_policy.py) and
 * tests/distributed/run.sh follow the same rule.
 */
#ifndef SKIP_H
#define SKIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int skip_allowed(const char *test, const char *why)
{
    const char *v = getenv("ALLOW_SKIP");
    if (v == NULL || strcmp(v, "1") != 0)
        return 0;
    fprintf(stderr, "SKIP: %s: %s (allowed by ALLOW_SKIP=1)\n", test, why);
    return 1;
}

#endif
