#!/bin/bash
# tests/hostile_flags.sh — the build stays bit-exact whatever flags a user
# passes; run by `make test-hostile-flags` (and `make test`).
#
# A user's CFLAGS are added to the build's own flags and the flags
# correctness needs come after them (Makefile header). This builds envd and
# the Check runner once in build-hostile/ with flags that break
# bit-exactness wherever they get the last word: -march=native gives the
# compiler FMA, -ffp-contract=fast lets it fuse every a + b*c, -ffast-math
# reassociates and drops signed zeros. Before the fix 84 of 84 golden cases
# differed. Then the public golden set is replayed twice through that
# build: in C through the environment code (check_cartpole.c) and through
# envd over a socket with the Python client (tests/python/test_golden.py).
#
# Cheap checks run first on `make -n` output (nothing is built for them):
# the hostile flags really reach the compiler, so the replay is not a test
# of the default flags; -Ofast is built as -O3; a user's CPPFLAGS and
# LDLIBS keep the project's include paths, -D_GNU_SOURCE and -lm.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${HOSTILE_BUILD:-build-hostile}
HOSTILE=${HOSTILE_CFLAGS:--O3 -march=native -ffp-contract=fast -ffast-math}

fail() {
    echo "test-hostile-flags: FAIL: $*" >&2
    exit 1
}

# The command `make` would run to make a target (-B: as if out of date),
# picked out of the commands for its prerequisites by a fixed string.
command_for() {
    local target=$1 pick=$2
    shift 2
    $MAKE -n -B --no-print-directory BUILD="$BUILD" "$@" "$target" 2>/dev/null |
        grep -F -- "$pick" | tail -n 1
}

has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

line=$(command_for "$BUILD/obj/server/cartpole.o" "-c server/cartpole.c" CFLAGS="$HOSTILE")
[ -n "$line" ] || fail "no compile command for server/cartpole.c"
for f in $HOSTILE; do
    has "$line" "$f" || fail "CFLAGS=\"$HOSTILE\" did not reach the compiler ($f missing): $line"
done

line=$(command_for "$BUILD/obj/server/cartpole.o" "-c server/cartpole.c" CFLAGS="-Ofast")
has "$line" -Ofast && fail "-Ofast reached the compiler: $line"
has "$line" -O3 || fail "-Ofast was not built as -O3: $line"

line=$(command_for "$BUILD/obj/server/cartpole.o" "-c server/cartpole.c" CPPFLAGS="-DUSER_FLAG -U_GNU_SOURCE")
for f in -DUSER_FLAG -Icommon -Iserver "-I$BUILD/gen" -D_GNU_SOURCE; do
    has "$line" "$f" || fail "CPPFLAGS=... lost $f: $line"
done
case "$line" in *-U_GNU_SOURCE*-D_GNU_SOURCE*) ;; *) fail "-D_GNU_SOURCE does not follow the user's -U: $line" ;; esac

line=$(command_for "$BUILD/envd" "-o $BUILD/envd " LDLIBS="-lz" LDFLAGS="-L/nonexistent")
for f in -lz -lm -L/nonexistent; do
    has "$line" "$f" || fail "LDLIBS/LDFLAGS=... lost $f: $line"
done

echo "test-hostile-flags: building envd and check_all in $BUILD/ with CFLAGS=\"$HOSTILE\""
# From scratch: objects left from other flags would not be rebuilt (make
# does not track flags), and the test would replay those.
rm -rf "$BUILD"
mkdir -p "$BUILD"
$MAKE --no-print-directory BUILD="$BUILD" CFLAGS="$HOSTILE" "$BUILD/envd" "$BUILD/check_all" >"$BUILD/build.log" 2>&1 ||
    { tail -n 30 "$BUILD/build.log" >&2; fail "the build failed (log: $BUILD/build.log)"; }

rc=0
CK_RUN_SUITE=cartpole "$BUILD/check_all" || rc=1
TEST_BUILD=$BUILD "$PYTHON" -m pytest -q -rs tests/python/test_golden.py || rc=1
[ "$rc" = 0 ] || fail "the golden set is not bit-exact under CFLAGS=\"$HOSTILE\""
echo "test-hostile-flags: golden set bit-exact under CFLAGS=\"$HOSTILE\""
