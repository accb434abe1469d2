/*
 * check_main.c — the one Check runner.
 *
 * Every tests/check_<module>.c exports `Suite *<module>_suite(void)`; the
 * Makefile lists them in suites.inc. CK_RUN_SUITE / CK_RUN_CASE (Check's
 * own variables) select a subset. Tests find their data relative to the
 * repository root, where `make check` runs them.
 */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.inc"
#undef SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.inc"
#undef SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
