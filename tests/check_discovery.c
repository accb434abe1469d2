/*
 * check_discovery.c — --env-dns resolution: lookups of numeric addresses and "localhost", sorting and de-duplication of a name
 * with many addresses, and the diff of two lookups.
 *
 * A name with several addresses needs a resolver the test controls. The
 * "hosts" cases run in a child process with its own mount namespace, where
 * a temporary hosts file and an nsswitch.conf that reads only files are
 * bind-mounted over /etc: glibc then answers from that file and sends
 * nothing on the network. Where namespaces are not permitted (not root)
 * those cases fail, unless the run allows skips (ALLOW_SKIP=1, skip.h).
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "discovery.h"
#include "skip.h"

/* ---------------------------------------------------------------- resolve */

START_TEST(test_resolve_numeric_addresses_gives_one_canonical_endpoint)
{
    static const struct { const char *host, *want; } cases[] = {
        {"10.1.2.3", "tcp://10.1.2.3:5555"},
        {"::1", "tcp://[::1]:5555"},
        {"2001:0db8:0:0::0001", "tcp://[2001:db8::1]:5555"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        discovery_endpoint_t out[4];
        errbuf_t e;
        int n = discovery_resolve(cases[i].host, "5555", out, 4, &e);
        ck_assert_msg(n == 1, "%s: %d (%s)", cases[i].host, n, e.msg);
        ck_assert_str_eq(out[0], cases[i].want);
    }
}
END_TEST

START_TEST(test_resolve_localhost_gives_loopback_sorted_without_duplicates)
{
    discovery_endpoint_t out[8];
    errbuf_t e;
    int n = discovery_resolve("localhost", "7001", out, 8, &e);
    ck_assert_msg(n >= 1 && n <= 2, "localhost: %d (%s)", n, e.msg);
    /* 127.0.0.1 always; ::1 too where the hosts file and AI_ADDRCONFIG allow. */
    ck_assert_str_eq(out[0], "tcp://127.0.0.1:7001");
    if (n == 2)
        ck_assert_str_eq(out[1], "tcp://[::1]:7001");
}
END_TEST

START_TEST(test_resolve_rejects_bad_port_and_empty_host)
{
    discovery_endpoint_t out[2];
    ck_assert_int_eq(discovery_resolve("127.0.0.1", "0", out, 2, NULL), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(discovery_resolve("127.0.0.1", "http", out, 2, NULL), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(discovery_resolve("127.0.0.1", "70000", out, 2, NULL), ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(discovery_resolve("", "5555", out, 2, NULL), ERR_INVALID_ARGUMENT);
}
END_TEST

/* Runs fn in a child with tmp hosts/nsswitch files mounted over /etc. The
 * child reports its verdict through its exit status: 0 passed, 1 failed
 * (after printing why), 77 could not set up the namespace, which fails the
 * test too unless skips are allowed. */
static void in_hosts_namespace(const char *hosts, void (*fn)(void), const char *name)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char hpath[] = "/tmp/check_discovery_hosts_XXXXXX";
        char npath[] = "/tmp/check_discovery_nss_XXXXXX";
        int hfd = mkstemp(hpath), nfd = mkstemp(npath);
        if (hfd < 0 || nfd < 0) {
            fprintf(stderr, "check_discovery: %s: mkstemp: %s\n", name, strerror(errno));
            _exit(1);
        }
        static const char nss[] = "hosts: files\n";
        int wrote = write(hfd, hosts, strlen(hosts)) == (ssize_t)strlen(hosts) &&
                    write(nfd, nss, sizeof nss - 1) == (ssize_t)(sizeof nss - 1);
        close(hfd);
        close(nfd);
        int ok = wrote && unshare(CLONE_NEWNS) == 0 &&
                 mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                 mount(hpath, "/etc/hosts", NULL, MS_BIND, NULL) == 0 &&
                 mount(npath, "/etc/nsswitch.conf", NULL, MS_BIND, NULL) == 0;
        int why = errno;
        unlink(hpath); /* the bind mounts keep the files alive */
        unlink(npath);
        if (!ok) {
            fprintf(stderr, "check_discovery: %s: no private mount namespace (%s)\n", name,
                    strerror(why));
            _exit(77);
        }
        fn(); /* ck_assert in the child exits non-zero on failure */
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "%s: child died with signal %d", name, WTERMSIG(status));
    if (WEXITSTATUS(status) == 77) {
        static const char why[] = "no private mount namespace (needs root or CAP_SYS_ADMIN)";
        if (skip_allowed(name, why))
            return;
        ck_abort_msg("%s cannot run here: %s; ALLOW_SKIP=1 lets it pass unchecked", name, why);
    }
    ck_assert_msg(WEXITSTATUS(status) == 0, "%s failed", name);
}

static void many_addresses_sorted_numerically_once_each(void)
{
    discovery_endpoint_t out[8];
    errbuf_t e;
    int n = discovery_resolve("envd", "5555", out, 8, &e);
    if (n != 3) {
        fprintf(stderr, "envd: %d (%s)\n", n, e.msg);
        _exit(1);
    }
    /* Numeric order, not text order: .9 before .10 before .100. */
    static const char *want[] = {"tcp://10.89.0.9:5555", "tcp://10.89.0.10:5555",
                                 "tcp://10.89.0.100:5555"};
    for (int i = 0; i < 3; i++)
        if (strcmp(out[i], want[i]) != 0) {
            fprintf(stderr, "envd[%d] = %s, want %s\n", i, out[i], want[i]);
            _exit(1);
        }
    /* More addresses than room: the count still says how many exist. */
    discovery_endpoint_t two[2];
    if (discovery_resolve("envd", "5555", two, 2, &e) != 3 || strcmp(two[1], want[1]) != 0) {
        fprintf(stderr, "truncated lookup wrong\n");
        _exit(1);
    }
    if (discovery_resolve("vanished", "5555", out, 8, &e) != ERR_NOT_FOUND) {
        fprintf(stderr, "a name with no address is not ERR_NOT_FOUND: %s\n", e.msg);
        _exit(1);
    }
}

START_TEST(test_resolve_name_with_many_addresses_is_sorted_and_deduplicated)
{
    in_hosts_namespace("127.0.0.1 localhost\n"
                       "10.89.0.100 envd\n"
                       "10.89.0.10 envd\n"
                       "10.89.0.9 envd\n"
                       "10.89.0.10 envd\n"
                       "10.89.0.100 envd\n"
                       "10.89.0.7 other\n",
                       many_addresses_sorted_numerically_once_each, "many-address lookup");
}
END_TEST

/* ------------------------------------------------------------------- diff */

START_TEST(test_diff_names_added_and_removed_endpoints)
{
    discovery_endpoint_t old[3] = {"tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555",
                                   "tcp://10.0.0.3:5555"};
    discovery_endpoint_t cur[4] = {"tcp://10.0.0.2:5555", "tcp://10.0.0.3:5555",
                                   "tcp://10.0.0.4:5555", "tcp://[::1]:5555"};
    int added[4], removed[3], na, nr;
    discovery_diff(old, 3, cur, 4, added, &na, removed, &nr);
    ck_assert_int_eq(na, 2);
    ck_assert_int_eq(added[0], 2);
    ck_assert_int_eq(added[1], 3);
    ck_assert_int_eq(nr, 1);
    ck_assert_int_eq(removed[0], 0);

    /* Unchanged, in another order: nothing to do. */
    discovery_endpoint_t shuffled[3] = {"tcp://10.0.0.3:5555", "tcp://10.0.0.1:5555",
                                        "tcp://10.0.0.2:5555"};
    discovery_diff(old, 3, shuffled, 3, added, &na, removed, &nr);
    ck_assert_int_eq(na, 0);
    ck_assert_int_eq(nr, 0);
}
END_TEST

START_TEST(test_diff_from_and_to_nothing)
{
    discovery_endpoint_t some[2] = {"tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555"};
    int added[2], removed[2], na = -1, nr = -1;
    discovery_diff(NULL, 0, some, 2, added, &na, removed, &nr);
    ck_assert_int_eq(na, 2);
    ck_assert_int_eq(nr, 0);
    ck_assert_int_eq(added[0], 0);
    ck_assert_int_eq(added[1], 1);
    discovery_diff(some, 2, NULL, 0, added, &na, removed, &nr);
    ck_assert_int_eq(na, 0);
    ck_assert_int_eq(nr, 2);
    ck_assert_int_eq(removed[1], 1);
}
END_TEST

/* ------------------------------------------------------------------- plan */

START_TEST(test_plan_empties_vanished_places_and_fills_vacant_ones_in_order)
{
    /* Places 0 and 2 hold replicas, 1 and 3 are vacant. The lookup keeps
     * .2, loses .1, adds .4 and .5 and .9 (one more than fits). */
    discovery_endpoint_t places[4] = {"tcp://10.0.0.1:5555", "", "tcp://10.0.0.2:5555", ""};
    discovery_endpoint_t found[4] = {"tcp://10.0.0.2:5555", "tcp://10.0.0.4:5555",
                                     "tcp://10.0.0.5:5555", "tcp://10.0.0.9:5555"};
    int empty[4], fp[4], fa[4], ne = -1, nf = -1;
    int lost = discovery_plan(places, 4, found, 4, NULL, 0, empty, &ne, fp, fa, &nf);
    ck_assert_int_eq(ne, 1);
    ck_assert_int_eq(empty[0], 0);
    /* The emptied place 0 is reused first, then the vacant 1 and 3. */
    ck_assert_int_eq(nf, 3);
    ck_assert_int_eq(fp[0], 0);
    ck_assert_int_eq(fa[0], 1);
    ck_assert_int_eq(fp[1], 1);
    ck_assert_int_eq(fa[1], 2);
    ck_assert_int_eq(fp[2], 3);
    ck_assert_int_eq(fa[2], 3);
    ck_assert_int_eq(lost, 0);

    /* Room for one new replica only: the second one is reported lost. */
    discovery_endpoint_t full[2] = {"tcp://10.0.0.1:5555", ""};
    discovery_endpoint_t two[3] = {"tcp://10.0.0.1:5555", "tcp://10.0.0.7:5555",
                                   "tcp://10.0.0.8:5555"};
    lost = discovery_plan(full, 2, two, 3, NULL, 0, empty, &ne, fp, fa, &nf);
    ck_assert_int_eq(ne, 0);
    ck_assert_int_eq(nf, 1);
    ck_assert_int_eq(fp[0], 1);
    ck_assert_int_eq(fa[0], 1);
    ck_assert_int_eq(lost, 1);
}
END_TEST

START_TEST(test_plan_changes_nothing_for_the_same_set_and_skips_fixed_endpoints)
{
    discovery_endpoint_t places[3] = {"", "tcp://10.0.0.2:5555", "tcp://10.0.0.1:5555"};
    discovery_endpoint_t same[2] = {"tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555"};
    int empty[3], fp[3], fa[3], ne = -1, nf = -1;
    ck_assert_int_eq(discovery_plan(places, 3, same, 2, NULL, 0, empty, &ne, fp, fa, &nf), 0);
    ck_assert_int_eq(ne, 0);
    ck_assert_int_eq(nf, 0);

    /* An address already given by --env takes no place. */
    const char *fixed[1] = {"tcp://10.0.0.3:5555"};
    discovery_endpoint_t more[3] = {"tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555",
                                    "tcp://10.0.0.3:5555"};
    ck_assert_int_eq(discovery_plan(places, 3, more, 3, fixed, 1, empty, &ne, fp, fa, &nf), 0);
    ck_assert_int_eq(ne, 0);
    ck_assert_int_eq(nf, 0);

    /* Everything vanished: every held place is emptied, none filled. */
    ck_assert_int_eq(discovery_plan(places, 3, NULL, 0, NULL, 0, empty, &ne, fp, fa, &nf), 0);
    ck_assert_int_eq(ne, 2);
    ck_assert_int_eq(empty[0], 1);
    ck_assert_int_eq(empty[1], 2);
    ck_assert_int_eq(nf, 0);
}
END_TEST

Suite *discovery_suite(void)
{
    Suite *s = suite_create("discovery");
    TCase *tc = tcase_create("resolve");
    tcase_add_test(tc, test_resolve_numeric_addresses_gives_one_canonical_endpoint);
    tcase_add_test(tc, test_resolve_localhost_gives_loopback_sorted_without_duplicates);
    tcase_add_test(tc, test_resolve_rejects_bad_port_and_empty_host);
    tcase_add_test(tc, test_resolve_name_with_many_addresses_is_sorted_and_deduplicated);
    suite_add_tcase(s, tc);
    tc = tcase_create("diff");
    tcase_add_test(tc, test_diff_names_added_and_removed_endpoints);
    tcase_add_test(tc, test_diff_from_and_to_nothing);
    suite_add_tcase(s, tc);
    tc = tcase_create("plan");
    tcase_add_test(tc, test_plan_empties_vanished_places_and_fills_vacant_ones_in_order);
    tcase_add_test(tc, test_plan_changes_nothing_for_the_same_set_and_skips_fixed_endpoints);
    suite_add_tcase(s, tc);
    return s;
}
