#!/bin/bash
# tests/netem/run.sh — the user-space network emulator checked end to end;
# run by `make test-netem` (and `make test`).
#
# Two hosts, cl (client) and sv (server), in the topology of
# tests/netem/topology.sh: every packet between them goes through
# build/netem in the router namespace. Each check restarts netem with other
# rules and compares what the client measures with what was configured:
#
#   1. loss: 2000 UDP echoes with 10% loss on sv's packets, seed 1: the
#      echoes that never came back are exactly the packets numpy's PCG64
#      stream for (seed 1, rule 0) loses, netem's counter agrees, and the
#      fraction is within 0.07-0.13; seed 2 loses another set;
#   2. delay: 10 ms on sv's packets plus 5 ms on those to it: UDP and TCP
#      round trips are never under 15 ms, and their median is under 20 ms
#      (a band for a busy machine: this checks the rig, it times nothing);
#   3. jitter: 10 ms +- 5 ms uniform: round trips from 5 ms on, median 7-15
#      ms, 10th to 90th percentile at least 5 ms apart (8 ms expected);
#      echoes 0.5 ms apart over 5 ms +- 5 ms overtake each other (at least
#      50 of 1000), and none does with --keep-order;
#   4. rate: 20 Mbit/s towards sv: 2.5 MB over TCP arrive at 70-100% of it;
#   5. a golden CartPole-v1 episode (500 steps) through envd on sv over
#      3 ms +- 1 ms with 5% loss one way, 2 ms with 5% loss the other, from
#      the client host: Gymnasium's trajectory bit for bit, with segments
#      lost on both rules along the way (the kernel's TCP recovered them).
#
# Where namespaces or /dev/net/tun are unavailable it fails, unless
# ALLOW_SKIP=1: then "SKIP: ..." and exit 0 (tests/skip.h). Everything it
# starts and every namespace is removed on every exit (NETEM_KEEP=1 keeps
# the temporary folder with the logs). About 30-40 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
GOLDEN=tests/data/cartpole_v1_public.jsonl
GOLDEN_CASE=public/balance/1
PORT=7000
. tests/netem/topology.sh

start_time=$SECONDS
passed=0
say() { printf '[%3ds] %s\n' $((SECONDS - start_time)) "$*"; }
fail() {
    say "FAIL: $*"
    exit 1
}
ok() {
    passed=$((passed + 1))
    say "ok: $*"
}

topo_test_begin "test-netem" "$BUILD/envd" "$BUILD/netem"

topo_up cl sv
SV=${TOPO_ADDR[sv]}
CL=${TOPO_ADDR[cl]}
say "hosts up: client $CL, server $SV, router $(topo_ns rt) with build/netem on nm0"

in_cl() { ip netns exec "$(topo_ns cl)" "$@"; }
probe() { in_cl "$PYTHON" tests/netem/probe.py "$@" "$SV" "$PORT" "${PROBE_N:?}"; }
field() { # KEY LINE: the value of KEY=... in LINE
    local kv
    for kv in $2; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done
    echo "?"
}
# ms_ok VALUE LOW HIGH: LOW <= VALUE <= HIGH
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
rule_counter() { # RULE KEY: a counter of netem's rule RULE, from its last log
    local line
    line=$(grep "^netem: rule $1 " "$TOPO_NETEM_LOG" | tail -n 1)
    field "$2" "$line"
}

ip netns exec "$(topo_ns sv)" "$PYTHON" tests/netem/probe.py serve "$SV" "$PORT" >"$TOPO_DIR/probe-server.log" 2>&1 &
for _ in $(seq 1 100); do
    grep -q serving "$TOPO_DIR/probe-server.log" && break
    sleep 0.05
done
grep -q serving "$TOPO_DIR/probe-server.log" || fail "the probe server did not start"

# ------------------------------------------------------------ 1. loss
# First, before any TCP: a segment retransmitted into a later netem run
# would take a place in its rule's stream.
N=2000
for seed in 1 2; do
    topo_netem --seed "$seed" --from "$SV" loss=10%
    got=$(PROBE_N=$N probe udp-loss)
    topo_netem_stop
    want=$("$PYTHON" tests/netem/probe.py expect-lost "$seed" 0 10 "$N")
    lost=$(field lost "$got")
    [ "$lost" = "$(field lost "$want")" ] ||
        fail "seed $seed: the lost echoes are not the ones numpy's stream loses: got $got; want $want"
    n_lost=$((N - $(field received "$got")))
    [ "$(rule_counter 0 lost)" = "$n_lost" ] && [ "$(rule_counter 0 packets)" = "$N" ] ||
        fail "seed $seed: netem counted $(rule_counter 0 packets) packets, $(rule_counter 0 lost) lost; the client saw $N sent, $n_lost lost"
    frac=$(awk -v l="$n_lost" -v n="$N" 'BEGIN { printf "%.4f", l / n }')
    within "$frac" 0.07 0.13 || fail "seed $seed: lost fraction $frac, configured 0.10"
    eval "lost_seed$seed=\$lost"
    ok "10% loss, seed $seed: $n_lost of $N lost ($frac), exactly numpy's PCG64 draws for the seed"
done
[ "$lost_seed1" != "$lost_seed2" ] || fail "seeds 1 and 2 lose the same packets"

# ----------------------------------------------------------- 2. delay
topo_netem --from "$SV" delay=10ms --to "$SV" delay=5ms
for kind in udp tcp; do
    got=$(PROBE_N=100 probe "$kind-rtt")
    within "$(field min_ms "$got")" 15 1000 || fail "$kind round trip under the configured 15 ms: $got"
    within "$(field p50_ms "$got")" 15 20 || fail "$kind median round trip not within 15-20 ms: $got"
    ok "delay 10 ms + 5 ms: $kind round trip min $(field min_ms "$got") ms, median $(field p50_ms "$got") ms"
done

# ---------------------------------------------------------- 3. jitter
topo_netem --from "$SV" delay=10ms,jitter=5ms
got=$(PROBE_N=200 probe udp-rtt)
within "$(field min_ms "$got")" 5 1000 || fail "jittered round trip under 5 ms: $got"
within "$(field p50_ms "$got")" 7 15 || fail "jittered median not within 7-15 ms: $got"
spread=$(awk -v a="$(field p10_ms "$got")" -v b="$(field p90_ms "$got")" 'BEGIN { printf "%.3f", b - a }')
within "$spread" 5 1000 || fail "10 ms +- 5 ms: p10-p90 spread only $spread ms: $got"
ok "delay 10 ms +- 5 ms: round trip min $(field min_ms "$got"), median $(field p50_ms "$got"), p10-p90 $spread ms"

# Order: probes 0.5 ms apart over 5 ms +- 5 ms overtake each other, as
# through netem; with --keep-order none does.
for order in reorder keep; do
    flag=(); [ $order = keep ] && flag=(--keep-order)
    topo_netem "${flag[@]}" --from "$SV" delay=5ms,jitter=5ms
    got=$(PROBE_N=1000 probe udp-loss)
    reordered=$(field reordered "$got")
    [ "$(field received "$got")" = 1000 ] || fail "$order: echoes lost on a path without loss: $got"
    if [ $order = keep ]; then
        [ "$reordered" = 0 ] || fail "--keep-order: $reordered of 1000 echoes overtaken"
    else
        [ "$reordered" -ge 50 ] || fail "5 ms +- 5 ms: only $reordered of 1000 echoes overtaken"
    fi
    ok "5 ms +- 5 ms, probes 0.5 ms apart: $reordered of 1000 overtaken (${flag[*]:-reordering, as netem})"
done

# ------------------------------------------------------------ 4. rate
topo_netem --to "$SV" rate=20mbit
got=$(PROBE_N=2500000 probe tcp-bulk)
share=$(awk -v g="$(field goodput_bps "$got")" 'BEGIN { printf "%.3f", g / 20e6 }')
within "$share" 0.70 1.0 || fail "20 Mbit/s: goodput $(field goodput_bps "$got") bit/s ($share of the rate)"
ok "rate 20 Mbit/s: TCP goodput $(field goodput_bps "$got") bit/s ($share of the rate)"

# --------------------------------------------------- 5. golden episode
ip netns exec "$(topo_ns sv)" "$BUILD/envd" --bind "tcp://$SV:5555" --insecure >"$TOPO_DIR/envd.log" 2>&1 &
envd_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$TOPO_DIR/envd.log" && break
    kill -0 "$envd_pid" 2>/dev/null || fail "envd did not start: $(cat "$TOPO_DIR/envd.log")"
    sleep 0.05
done
topo_netem --seed 1 --from "$SV" delay=3ms,jitter=1ms,loss=5% --to "$SV" delay=2ms,loss=5%
t0=$SECONDS
in_cl "$PYTHON" tests/distributed/golden_episode.py "tcp://$SV:5555" "$GOLDEN" "$GOLDEN_CASE" \
    >"$TOPO_DIR/golden.log" 2>&1 || fail "golden episode over the lossy link: $(cat "$TOPO_DIR/golden.log")"
topo_netem_stop
for rule in 0 1; do
    [ "$(rule_counter $rule lost)" -gt 0 ] ||
        fail "rule $rule lost nothing during the episode: $(grep "rule $rule " "$TOPO_NETEM_LOG")"
done
ok "$(cat "$TOPO_DIR/golden.log") over 3+-1 ms / 2 ms with 5% loss each way, $(rule_counter 0 lost)+$(rule_counter 1 lost) of $(rule_counter 0 packets)+$(rule_counter 1 packets) packets lost, $((SECONDS - t0)) s"

echo "netem: $passed passed, 0 failed"
