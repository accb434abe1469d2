#!/bin/bash
# run.sh — `make run`: train agentd on a loopback envd until its
# environment (CartPole-v1, or `make run ENV=Acrobot-v1`) is solved, then
# show where everything is.
#
#   agent/run.sh [AGENTD OPTION]...
#
# Starts build/envd on 127.0.0.1 (ENVD_PORT, default an ephemeral port),
# runs build/agentd against it with --logdir RUN_DIR (default
# runs/<timestamp>, and runs/latest points there) and --save
# RUN_DIR/agentd.ckpt, draws the learning curve with `make plot` when
# gnuplot is installed, and stops envd whatever happens (EXIT trap).
# SIGINT/SIGTERM reach agentd, which saves its checkpoint and stops.
# The exit status is agentd's: 0 solved, 1 error, 2 usage, 3 budget spent,
# 4 final checkpoint not saved, 130/143 interrupted.
set -u
cd "$(dirname "$0")/.."
. agent/envd.sh

stamp=$(date +%Y%m%d-%H%M%S)
RUN_DIR=${RUN_DIR:-runs/$stamp}
mkdir -p "$RUN_DIR" || exit 1
ln -sfn "$(basename "$RUN_DIR")" "$(dirname "$RUN_DIR")/latest" 2>/dev/null

trap envd_stop EXIT
envd_start "${ENVD_PORT:-0}" || exit 1
echo "run: envd $ENVD_ENDPOINT (pid $ENVD_PID); logs in $RUN_DIR"

build/agentd --env "$ENVD_ENDPOINT" --logdir "$RUN_DIR" --save "$RUN_DIR/agentd.ckpt" "$@" &
agentd_pid=$!
trap 'kill -INT $agentd_pid 2>/dev/null' INT
trap 'kill -TERM $agentd_pid 2>/dev/null' TERM
status=0
while :; do
    wait "$agentd_pid"
    status=$?
    kill -0 "$agentd_pid" 2>/dev/null || break   # a trapped signal interrupted wait
done
trap - INT TERM

echo "run: agentd exited with status $status"
if [ -f "$RUN_DIR/summary.json" ]; then
    echo "run: summary $RUN_DIR/summary.json"
fi
if [ -f "$RUN_DIR/progress.csv" ]; then
    if command -v gnuplot >/dev/null 2>&1; then
        make --no-print-directory plot RUN="$RUN_DIR" >/dev/null 2>&1 &&
            echo "run: learning curve $RUN_DIR/learning_curve.png" ||
            echo "run: make plot RUN=$RUN_DIR failed"
    else
        echo "run: install gnuplot and run 'make plot RUN=$RUN_DIR' for the learning curve"
    fi
    echo "run: TensorBoard: tensorboard --logdir $RUN_DIR"
fi
exit "$status"
