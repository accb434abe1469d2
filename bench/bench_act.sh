#!/bin/bash
# bench_act.sh — acting throughput: agentd --no-train with the real network
# on SESSIONS sessions (default 1024) against one loopback envd.
#
#   bench/bench_act.sh [AGENTD OPTION]...       (make bench-act)
#
# Every tick is the real acting path: one qnet_predict over all sessions,
# epsilon-greedy, one step_batch, the transitions into the replay buffer;
# no gradient steps, no evaluation. Goal: >= 500k env steps/s at 1024
# sessions. It prints figures; it is never a timed test.
set -u
cd "$(dirname "$0")/.."
. agent/envd.sh

STEPS=${STEPS:-5000000}
trap envd_stop EXIT
trap 'exit 130' INT TERM
envd_start || exit 1
for sessions in ${SESSIONS:-256 1024 4096}; do
    build/agentd --env "$ENVD_ENDPOINT" --no-train --sessions "$sessions" --total-steps "$STEPS" \
        --progress 0 --log-level warn "$@" | sed 's/^agentd: //'
done
