#!/bin/bash
# tests/distributed/run.sh — agentd training over two envd hosts, one of
# which dies and comes back; run by `make test-distributed` (and `make test`).
#
# The hosts are network namespaces this script creates and deletes:
#
#     <p>e1  10.250.77.11  envd            <p>ag  10.250.77.21  agentd
#     <p>e2  10.250.77.12  envd            <p>py  10.250.77.31  Python client
#
# each joined by a veth pair to a bridge inside a fifth namespace (<p>sw),
# so the /24 exists only inside them and nothing touches the host's own
# network. Every client runs inside a namespace (`ip netns exec`), never on
# the host. agentd finds the envd hosts through --env-dns envd:5555: the
# agentd namespace gets its own /etc/hosts (the addresses of "envd") and an
# nsswitch.conf that reads only files, which `ip netns exec` mounts from
# /etc/netns/<p>ag/. The test rewrites that file in place (same inode, so
# the bind mount shows the change) while agentd runs, as a DNS server would
# change its answer when a service is scaled. (DIST_DISCOVERY=env uses --env
# twice instead and skips the steps marked DNS.)
#
# What it checks:
#   0. DNS: agentd starts with only host 1 under "envd"; once host 2 is added
#      to the name, agentd starts stepping on it; once host 1 is taken out,
#      agentd stops stepping on it (its count stays still) and goes on with
#      host 2; once it is back in the name, agentd steps on it again — all
#      without a restart;
#   1. both envd hosts serve agentd's steps (envd_env_steps_total, read from
#      /metrics by curl inside the agentd namespace);
#   2. after envd on host 1 is killed with SIGKILL, agentd keeps training on
#      host 2 (its step count keeps rising; agentd still runs);
#   3. once envd on host 1 is started again, agentd brings it back: the new
#      process serves steps;
#   4. a Python client on the fourth host plays a seeded episode against the
#      restarted envd and gets Gymnasium's trajectory bit for bit;
#   5. agentd reaches the target return, exits 0 and leaves its checkpoint,
#      and its summary.json lists both hosts as its endpoints at the end.
#
# Where network namespaces cannot be made (not root, or a sandbox that
# forbids them) it fails, unless the run allows skips (ALLOW_SKIP=1): then
# it prints a "SKIP: ..." line and exits 0. Everything it started —
# processes, namespaces, /etc/netns files, the temporary folder — is removed
# on every exit, failure and Ctrl-C included (DIST_KEEP=1 keeps the
# temporary folder with the logs). Bounded: about a minute and a
# half, two and a half at most.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
GOLDEN=tests/data/cartpole_v1_public.jsonl
GOLDEN_CASE=public/balance/1           # 500 steps, truncated
TARGET=${DIST_TARGET_RETURN:-475}      # CartPole-v1's "solved" bar
SESSIONS=${DIST_SESSIONS:-8}
DISCOVERY=${DIST_DISCOVERY:-dns}
LIMIT=${DIST_TIME_LIMIT:-150}          # seconds for the whole test
# A dead server is dropped after 500 ms without a reply and probed at least
# every 500 ms, so the kill-and-restart fits well inside one training run.
# Training must outlast the name changes, the kill and the restart: with
# its defaults agentd solves CartPole-v1 here in 2-3 s (seed 7 at its first
# evaluation, 5000 steps). No evaluation before 60000 env steps means no
# exit before then, and a wider network than the default makes each of
# those steps slower (about 20 s of training on this 2-core VM). From then
# on it evaluates every 5000 steps: a DQN policy comes and goes, and one
# evaluation every 60000 steps could miss the good ones for minutes.
AGENTD_TEST_ARGS=${DIST_AGENTD_ARGS:---timeout-ms 500 --retry-max-ms 500 --hidden 256,256 --eval-from 60000 --eval-every 5000}

NET=10.250.77
E1=$NET.11 E2=$NET.12 AG=$NET.21 PY=$NET.31
P=envdt$$-                              # namespace prefix, unique per run
NS_ALL=("${P}sw" "${P}e1" "${P}e2" "${P}ag" "${P}py")

start_time=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - start_time)) "$*"; }
fail() {
    say "FAIL: $*"
    exit 1
}

# A test that cannot run here fails unless the run opted out (tests/skip.h).
cannot_run() {
    if [ "${ALLOW_SKIP:-}" = 1 ]; then
        echo "SKIP: test-distributed: $* (allowed by ALLOW_SKIP=1)"
        exit 0
    fi
    fail "test-distributed cannot run here: $*; ALLOW_SKIP=1 lets it pass unchecked"
}

for bin in "$BUILD/envd" "$BUILD/agentd"; do
    [ -x "$bin" ] || fail "$bin is not built (run make first)"
done
if [ "$(id -u)" != 0 ]; then
    cannot_run "it needs root to create network namespaces"
fi
if ! ip netns add "${P}probe" 2>/dev/null; then
    cannot_run "creating network namespaces is not permitted"
fi
ip netns del "${P}probe"

work=$(mktemp -d /tmp/envd-distributed.XXXXXX)
declare -A pid=()

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local name
    for name in "${!pid[@]}"; do
        kill -TERM "${pid[$name]}" 2>/dev/null || true
    done
    for name in "${!pid[@]}"; do
        # agentd writes its checkpoint on SIGTERM; give everything 5 s.
        timeout 5 tail --pid="${pid[$name]}" -f /dev/null 2>/dev/null || kill -KILL "${pid[$name]}" 2>/dev/null || true
    done
    local ns
    for ns in "${NS_ALL[@]}"; do
        # Anything still inside this run's namespaces was started by it.
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    done
    wait 2>/dev/null || true
    for ns in "${NS_ALL[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "/etc/netns/${P}ag"
    rmdir /etc/netns 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        local f
        for f in "$work"/*.log; do
            [ -e "$f" ] || continue
            echo "---- last lines of $(basename "$f")"
            tail -n 15 "$f"
        done
    fi
    [ -n "${DIST_KEEP:-}" ] || rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces left by a run that was killed with SIGKILL (its trap never ran).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^envdt[0-9]+-' || true); do
    owner=${ns#envdt}
    owner=${owner%%-*}
    kill -0 "$owner" 2>/dev/null || { ip netns del "$ns" 2>/dev/null || true; rm -rf "/etc/netns/$ns"; }
done

# ------------------------------------------------------------------ hosts
in_ns() {
    local ns=$1
    shift
    ip netns exec "$P$ns" "$@"
}

for ns in "${NS_ALL[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "${P}sw" link add br0 type bridge
ip -n "${P}sw" link set br0 up
for host in e1:$E1 e2:$E2 ag:$AG py:$PY; do
    name=${host%%:*} addr=${host#*:}
    ip -n "${P}sw" link add "p-$name" type veth peer name eth0 netns "$P$name"
    ip -n "${P}sw" link set "p-$name" master br0 up
    ip -n "$P$name" addr add "$addr/24" dev eth0
    ip -n "$P$name" link set eth0 up
done
mkdir -p "/etc/netns/${P}ag"
# names ADDR...: "envd" resolves to ADDR... inside the agentd namespace.
# Written in place: `ip netns exec` bind-mounts this very inode.
names() {
    { printf '127.0.0.1 localhost\n'; printf '%s envd\n' "$@"; } >"/etc/netns/${P}ag/hosts"
}
if [ "$DISCOVERY" = dns ]; then names "$E1"; else names "$E1" "$E2"; fi
printf 'hosts: files\n' >"/etc/netns/${P}ag/nsswitch.conf"
say "hosts up: envd $E1 and $E2, agentd $AG, client $PY (namespaces ${P}*)"

# ------------------------------------------------------------- helpers
start_envd() { # 1|2
    local n=$1 addr
    addr=$([ "$n" = 1 ] && echo "$E1" || echo "$E2")
    # Not through in_ns: $! must be envd itself (ip netns exec execs it),
    # not a subshell that would outlive a SIGKILL sent to it.
    # --insecure: plaintext on a namespace address, a private test network.
    ip netns exec "${P}e$n" "$BUILD/envd" --bind "tcp://$addr:5555" --metrics "$addr:9100" \
        --insecure >>"$work/envd$n.log" 2>&1 &
    pid[envd$n]=$!
}

# envd_env_steps_total of the envd at $1, read from inside the agentd
# namespace; empty when it does not answer.
steps_of() {
    in_ns ag curl -sf --max-time 2 "http://$1:9100/metrics" 2>/dev/null |
        awk '$1 == "envd_env_steps_total" { print $2 }' || true
}

agentd_alive() { kill -0 "${pid[agentd]}" 2>/dev/null; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local until=$((SECONDS + limit))
    while ! "$@"; do
        [ $SECONDS -lt $until ] || fail "$what: not within ${limit} s"
        [ $((SECONDS - start_time)) -lt "$LIMIT" ] || fail "$what: test time limit (${LIMIT} s) reached"
        sleep 0.2
    done
}

healthy() { in_ns ag curl -sf --max-time 2 "http://$1:9100/healthz" >/dev/null 2>&1; }
serving() { # ADDR [ABOVE]: envd at ADDR has served more than ABOVE steps
    local s
    s=$(steps_of "$1")
    [ -n "$s" ] && [ "$s" -gt "${2:-0}" ]
}
serving_while_agentd_runs() {
    agentd_alive || fail "agentd exited before the check"
    serving "$@"
}

# --------------------------------------------------------------- the run
start_envd 1
start_envd 2
both_healthy() { healthy "$E1" && healthy "$E2"; }
wait_for 10 "envd on both hosts healthy" both_healthy

case $DISCOVERY in
dns) envargs=(--env-dns envd:5555 --env-dns-every 0.5) ;;
env) envargs=(--env "tcp://$E1:5555" --env "tcp://$E2:5555") ;;
*) fail "DIST_DISCOVERY must be dns or env" ;;
esac
read -ra extra_args <<<"$AGENTD_TEST_ARGS"
ip netns exec "${P}ag" "$BUILD/agentd" "${envargs[@]}" --sessions "$SESSIONS" --target-return "$TARGET" \
    "${extra_args[@]}" --seed 7 --save "$work/agentd.ckpt" --logdir "$work/agentd-logs" >"$work/agentd.log" 2>&1 &
pid[agentd]=$!
say "agentd started: ${envargs[*]}, $SESSIONS sessions per envd, target return $TARGET"

if [ "$DISCOVERY" = dns ]; then
    wait_for 20 "host 1 serving agentd" serving_while_agentd_runs "$E1"
    serving "$E2" && fail "host 2 serves steps although \"envd\" does not name it yet"
    names "$E1" "$E2"
    say "host 1 serves $(steps_of "$E1") steps; host 2 added to the name \"envd\""
    wait_for 20 "agentd stepping on host 2 once the name lists it" serving_while_agentd_runs "$E2"
    grep -q "replica tcp://$E2:5555 added" "$work/agentd.log" || fail "agentd did not log host 2's arrival"
    grep -q "tcp://$E2:5555 joined" "$work/agentd.log" || fail "agentd did not log host 2 joining"

    names "$E2"
    say "host 1 taken out of the name \"envd\""
    # agentd says when it lets host 1 go; from then on host 1's count must
    # stay still while host 2's rises (a stall of agentd cannot fake that).
    host1_gone() {
        agentd_alive || fail "agentd exited before the check"
        grep -q "replica tcp://$E1:5555 vanished" "$work/agentd.log"
    }
    wait_for 20 "agentd leaving host 1 once the name drops it" host1_gone
    still=$(steps_of "$E1")
    before=$(steps_of "$E2")
    wait_for 20 "agentd training on host 2 after host 1 left the name" serving_while_agentd_runs "$E2" $((before + 2000))
    [ "$(steps_of "$E1")" = "$still" ] || fail "host 1 served steps after it left the name"
    say "agentd left host 1 (still at $still steps) and trains on host 2: $(steps_of "$E2") steps"

    names "$E1" "$E2"
    say "host 1 back in the name \"envd\""
    wait_for 20 "agentd stepping on host 1 again once the name lists it" serving_while_agentd_runs "$E1" "$still"
fi
both_serving() { serving_while_agentd_runs "$E1" && serving_while_agentd_runs "$E2"; }
wait_for 20 "both envd hosts serving agentd" both_serving
say "both hosts serve steps: host 1 $(steps_of "$E1"), host 2 $(steps_of "$E2")"

kill -KILL "${pid[envd1]}"
wait "${pid[envd1]}" 2>/dev/null || true
unset 'pid[envd1]'
before=$(steps_of "$E2")
say "envd on host 1 killed (SIGKILL); host 2 at $before steps"
# agentd drops host 1 once a request to it times out, then goes on with
# host 2 alone: 4000 more steps there are hundreds of ticks without host 1.
wait_for 30 "agentd training on the survivor" serving_while_agentd_runs "$E2" $((before + 4000))
serving "$E1" && fail "host 1 answers although its envd was killed"
say "agentd keeps training on host 2 alone: $(steps_of "$E2") steps"

start_envd 1
wait_for 10 "restarted envd on host 1 healthy" healthy "$E1"
say "envd on host 1 restarted (a new process, step count 0)"
wait_for 40 "agentd bringing host 1 back into the rotation" serving_while_agentd_runs "$E1"
say "host 1 is back in the rotation: $(steps_of "$E1") steps since its restart"

in_ns py "$PYTHON" tests/distributed/golden_episode.py "tcp://$E1:5555" "$GOLDEN" "$GOLDEN_CASE" \
    >"$work/golden.log" 2>&1 || fail "golden episode from the client host: $(cat "$work/golden.log")"
say "client host: $(cat "$work/golden.log")"


remaining=$((LIMIT - (SECONDS - start_time)))
[ $remaining -gt 0 ] || fail "no time left to wait for agentd"
say "waiting up to ${remaining} s for agentd to reach return $TARGET"
rc=0
timeout "$remaining" tail --pid="${pid[agentd]}" -f /dev/null || fail "agentd did not reach return $TARGET within the time limit"
wait "${pid[agentd]}" || rc=$?
unset 'pid[agentd]'
[ $rc = 0 ] || fail "agentd exited with status $rc"
[ -s "$work/agentd.ckpt" ] || fail "agentd left no checkpoint at --save"
endpoints=$(grep '"endpoints"' "$work/agentd-logs/summary.json" || true)
for addr in "$E1" "$E2"; do
    [[ $endpoints == *"tcp://$addr:5555"* ]] || fail "summary.json does not list tcp://$addr:5555 among the endpoints at the end: $endpoints"
done
say "agentd reached return $TARGET and exited 0; checkpoint $(stat -c %s "$work/agentd.ckpt") bytes"
say "host 1 served $(steps_of "$E1") steps after its restart, host 2 $(steps_of "$E2") in all"
echo "distributed: 1 passed, 0 failed"
