# envd.sh — start and stop a loopback envd from a shell script (sourced by
# agent/run.sh and bench/*.sh).
#
#   envd_start [PORT]   starts build/envd on tcp://127.0.0.1:PORT (default:
#                       an ephemeral port, read back from envd's log) and
#                       sets ENVD_PID and ENVD_ENDPOINT; returns 1 on failure
#   envd_stop           stops it (SIGTERM, then SIGKILL after 5 s); safe twice
#
# The caller installs `trap envd_stop EXIT` so envd never outlives it.

ENVD_BIN=${ENVD_BIN:-build/envd}

envd_start() {
    local port=${1:-0} bind
    if [ "$port" = 0 ]; then bind='tcp://127.0.0.1:*'; else bind="tcp://127.0.0.1:$port"; fi
    ENVD_LOG=$(mktemp "${TMPDIR:-/tmp}/envd.XXXXXX.log") || return 1
    "$ENVD_BIN" --bind "$bind" --log-level info 2>"$ENVD_LOG" &
    ENVD_PID=$!
    local i
    for i in $(seq 1 500); do   # up to 5 s
        ENVD_ENDPOINT=$(sed -n 's/.* listening on \(tcp:[^ ]*\).*/\1/p' "$ENVD_LOG" | head -n 1)
        [ -n "$ENVD_ENDPOINT" ] && return 0
        if ! kill -0 "$ENVD_PID" 2>/dev/null; then
            echo "envd failed to start:" >&2; cat "$ENVD_LOG" >&2
            ENVD_PID=; return 1
        fi
        sleep 0.01
    done
    echo "envd did not report its endpoint within 5 s" >&2
    envd_stop; return 1
}

envd_stop() {
    if [ -n "${ENVD_PID:-}" ] && kill -0 "$ENVD_PID" 2>/dev/null; then
        kill -TERM "$ENVD_PID" 2>/dev/null
        local i
        for i in $(seq 1 500); do
            kill -0 "$ENVD_PID" 2>/dev/null || break
            sleep 0.01
        done
        kill -KILL "$ENVD_PID" 2>/dev/null
        wait "$ENVD_PID" 2>/dev/null
    fi
    ENVD_PID=
    [ -n "${ENVD_LOG:-}" ] && rm -f "$ENVD_LOG"
    ENVD_LOG=
}
