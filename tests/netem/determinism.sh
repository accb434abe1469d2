#!/bin/bash
# tests/netem/determinism.sh — agentd --rollout sync gives the same
# checkpoint bytes whatever the network does; run by `make test-netem`
# (and `make test`), after tests/netem/run.sh has checked the rig itself.
#
# Three hosts in the topology of tests/netem/topology.sh: envd on e1 and
# e2, agentd on ag, every packet through build/netem. agentd trains a fixed
# budget (seed 1, two groups of 4 sessions on each server, an evaluation
# every 1000 env steps riding in the training rounds, the final one at the
# end) three times:
#
#   1. clean links;
#   2. 10 ms +- 2.5 ms each way on every host (a round trip of 20 ms +-
#      5 ms), jitter reordering packets as netem does;
#   3. 5% loss each way on every host (seeded): TCP retransmits the lost
#      segments, agentd resends the requests its RTO gives up on, and envd
#      answers those from its reply cache;
#
# and the three checkpoints must be the same bytes, while a fourth run with
# another seed must give other bytes (so the comparison can fail).
# --timeout-ms is long so that no server is dropped (a drop starts its
# sessions afresh: another run, as documented). The packets lost are
# counted from netem's log, and the test fails if the lossy run lost none.
#
# Where namespaces or /dev/net/tun are unavailable it fails, unless
# ALLOW_SKIP=1 (then "SKIP: ..." and exit 0). Everything is removed on
# every exit (NETEM_KEEP=1 keeps the folder with the logs). About a minute.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build}
PORT=5555
. tests/netem/topology.sh

start_time=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - start_time)) "$*"; }
fail() {
    say "FAIL: $*"
    exit 1
}

topo_test_begin "test-netem determinism" "$BUILD/envd" "$BUILD/agentd" "$BUILD/netem"

topo_up e1 e2 ag
E1=${TOPO_ADDR[e1]} E2=${TOPO_ADDR[e2]} AG=${TOPO_ADDR[ag]}
say "hosts up: envd $E1 and $E2, agentd $AG"

for n in 1 2; do
    addr=${TOPO_ADDR[e$n]}
    ip netns exec "$(topo_ns e$n)" "$BUILD/envd" --bind "tcp://$addr:$PORT" --insecure \
        >"$TOPO_DIR/envd$n.log" 2>&1 &
done

# run NAME SEED [NETEM RULE]...: one agentd run over the rules; its
# checkpoint is $TOPO_DIR/NAME.ckpt.
run() {
    local name=$1 seed=$2
    shift 2
    topo_netem --seed 7 "$@"
    local t0=$SECONDS rc=0
    ip netns exec "$(topo_ns ag)" "$BUILD/agentd" --env "tcp://$E1:$PORT" --env "tcp://$E2:$PORT" \
        --rollout sync --groups 2 --sessions 8 --seed "$seed" --target-return 1e9 \
        --total-steps 2000 --learning-starts 500 --eval-every 1000 --eval-episodes 20 \
        --timeout-ms 30000 --give-up 60 --progress 0 --log-level debug \
        --save "$TOPO_DIR/$name.ckpt" >"$TOPO_DIR/agentd-$name.log" 2>&1 || rc=$?
    topo_netem_stop
    [ "$rc" = 3 ] || fail "$name: agentd exited $rc, want 3 (budget spent)"
    ! grep -q "dropped tcp://" "$TOPO_DIR/agentd-$name.log" ||
        fail "$name: a server was dropped (a different run): $(grep -m1 dropped "$TOPO_DIR/agentd-$name.log")"
    grep -q "eval at 1000 env steps" "$TOPO_DIR/agentd-$name.log" ||
        fail "$name: no evaluation ran beside training"
    say "$name: $((SECONDS - t0)) s, checkpoint $(sha256sum "$TOPO_DIR/$name.ckpt" | cut -c1-16)"
}

# Lost: the sum of netem's per-rule lost counters in its last log.
lost() {
    grep '^netem: rule ' "$TOPO_NETEM_LOG" | tr ' ' '\n' | sed -n 's/^lost=//p' |
        awk '{ s += $1 } END { print s + 0 }'
}

run clean 1
jitter=()
loss=()
for h in e1 e2 ag; do
    a=${TOPO_ADDR[$h]}
    jitter+=(--from "$a" delay=10ms,jitter=2.5ms)
    loss+=(--from "$a" loss=5%)
done
run delay 1 "${jitter[@]}"
run loss 1 "${loss[@]}"
n_lost=$(lost)
[ "$n_lost" -gt 0 ] || fail "the lossy run lost no packet: nothing was tested"
run other 2

want=$(sha256sum <"$TOPO_DIR/clean.ckpt")
for name in delay loss; do
    [ "$(sha256sum <"$TOPO_DIR/$name.ckpt")" = "$want" ] ||
        fail "the $name run's checkpoint differs from the clean run's"
done
[ "$(sha256sum <"$TOPO_DIR/other.ckpt")" != "$want" ] ||
    fail "another seed gave the same checkpoint: the comparison cannot fail"
say "ok: the same checkpoint bytes clean, at 20 ms +- 5 ms and at 5% loss ($n_lost packets lost); seed 2 differs"
