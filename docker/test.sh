#!/bin/bash
# docker/test.sh — build both images and train in containers; run by
# `make test-docker` (and .ci/run).
#
#   1. docker/setup.sh: podman and friends from Debian, and the
#      debian:bookworm(-slim) base images built with debootstrap when
#      podman's store lacks them (no registry is reachable);
#   2. builds localhost/envd and localhost/agentd and reports their sizes;
#   3. `podman-compose up` of docker/compose.yaml with two envd replicas and
#      agentd, which finds both through --env-dns envd:5555;
#   4. checks envd's health (podman healthcheck run, then the status in
#      podman inspect), that its metrics port is published on loopback only,
#      that agentd exits 0 (target return reached), that every envd replica
#      served steps, and that the checkpoint is on the named volume;
#   5. checks graceful shutdown: an envd replica stopped with its
#      STOPSIGNAL exits 0, and an agentd stopped mid-training writes its
#      checkpoint and exits 143 (agentd's status for "stopped by SIGTERM,
#      checkpoint saved");
#   6. tears everything down — containers, network, volumes — on every
#      exit, failure and Ctrl-C included.
#
# DOCKER_TARGET_RETURN (default 475, CartPole-v1's bar) is the return agentd
# must reach; with its defaults agentd gets there in seconds.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=docker/env.sh
. docker/env.sh

TARGET=${DOCKER_TARGET_RETURN:-475}
TRAIN_LIMIT=${DOCKER_TRAIN_LIMIT:-300} # seconds agentd may take to reach TARGET
PROJECT=envdtest$$
NET=${PROJECT}_rollout
VOLUME=${PROJECT}_agentd-data
export ENVD_REPLICAS=2 AGENTD_TARGET_RETURN=$TARGET AGENTD_SESSIONS=${DOCKER_SESSIONS:-8}

t0=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - t0)) "$*"; }
fail() {
    say "FAIL: $*"
    exit 1
}
compose() { podman-compose -p "$PROJECT" -f docker/compose.yaml "$@"; }
label=io.podman.compose.project=$PROJECT

work=$(mktemp -d /tmp/envd-docker-test.XXXXXX)
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" != 0 ]; then
        local c
        for c in $(podman ps -a --filter "label=$label" --format '{{.Names}}' 2>/dev/null); do
            echo "---- last lines of $c's log"
            podman logs --tail 15 "$c" 2>&1 | grep -v 'systemd connection' || true
        done
    fi
    say "tearing down $PROJECT"
    timeout 90 compose down -t 30 >"$work/down.log" 2>&1 || true
    # compose down leaves networks (podman-compose 1.0.3) and anything it
    # did not create itself; remove all that carries the project's label.
    podman ps -aq --filter "label=$label" | xargs -r podman rm -f -t 5 >/dev/null 2>&1 || true
    podman network ls -q --filter "label=$label" | xargs -r podman network rm -f >/dev/null 2>&1 || true
    podman volume ls -q --filter "label=$label" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ setup
docker/setup.sh
say "podman $(podman version --format '{{.Client.Version}}'), $(podman-compose version 2>/dev/null | grep -m1 -o 'podman-composer* version *[0-9.]*')"

# ------------------------------------------------------------------ build
# The build stage is tagged too (localhost/NAME-build): an untagged stage
# would be pruned below, and with it the cached layer of -dev packages.
build() { # NAME
    local s=$SECONDS stage
    for stage in build runtime; do
        local target=() tag=localhost/$1:latest
        [ $stage = runtime ] || { target=(--target build); tag=localhost/$1-build:latest; }
        podman build --network=host --format docker "${target[@]}" -f "docker/$1.Dockerfile" -t "$tag" . \
            >>"$work/build-$1.log" 2>&1 || { tail -30 "$work/build-$1.log"; fail "building the $1 image"; }
    done
    say "built localhost/$1 in $((SECONDS - s)) s: $(podman image inspect --format '{{.Size}}' "localhost/$1:latest" |
        awk '{printf "%.1f MB", $1 / 1e6}')"
}
build envd
build agentd
# Earlier builds of both images, now untagged, are only taking room.
podman image prune -f --filter label=org.envd.project=envd >/dev/null
podman image inspect --format '{{.Config.User}} {{json .Config.Healthcheck.Test}} {{.Config.StopSignal}}' \
    localhost/envd:latest | grep -q '^envd:envd \["CMD","/usr/local/bin/envd-healthcheck"\] SIGTERM$' ||
    fail "envd image lacks its user, HEALTHCHECK or STOPSIGNAL: $(podman image inspect --format '{{.Config.User}} {{json .Config.Healthcheck}} {{.Config.StopSignal}}' localhost/envd:latest)"

# --------------------------------------------------------------------- up
say "compose up: $ENVD_REPLICAS envd replicas, agentd with --env-dns envd:5555, target return $TARGET"
compose up -d --no-build >"$work/up.log" 2>&1 || { tail -30 "$work/up.log"; fail "compose up"; }
envds=("${PROJECT}_envd_1" "${PROJECT}_envd_2")
agentd=${PROJECT}_agentd_1

for c in "${envds[@]}"; do
    until podman healthcheck run "$c" >/dev/null 2>&1; do
        [ $((SECONDS - t0)) -lt 900 ] || fail "time limit"
        [ "$(podman inspect --format '{{.State.Running}}' "$c")" = true ] || fail "$c is not running"
        sleep 0.5
    done
    status=$(podman inspect --format '{{.State.Health.Status}}' "$c")
    [ "$status" = healthy ] || fail "$c: health status '$status' after a passing healthcheck"
    hostport=$(podman port "$c" 9100)
    case $hostport in
    127.0.0.1:*) ;;
    *) fail "$c: metrics port published on '$hostport', not on loopback only" ;;
    esac
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$hostport/healthz" || true)
    [ "$code" = 200 ] || fail "$c: /healthz through $hostport gave '$code'"
done
say "both envd replicas healthy (healthcheck, inspect, /healthz on loopback)"

# ------------------------------------------------------------------- train
steps_of() { # CONTAINER: envd_env_steps_total through the loopback-published port
    curl -sf --max-time 3 "http://$(podman port "$1" 9100)/metrics" |
        awk '$1 == "envd_env_steps_total" { print $2 }'
}
s=$SECONDS
rc=$(timeout "$TRAIN_LIMIT" podman wait "$agentd" 2>/dev/null) ||
    fail "agentd did not finish within $TRAIN_LIMIT s"
[ "$rc" = 0 ] || fail "agentd exited with status $rc"
say "agentd reached return $TARGET and exited 0 after $((SECONDS - s)) s"
for c in "${envds[@]}"; do
    n=$(steps_of "$c")
    if [ -z "$n" ] || [ "$n" -le 0 ]; then
        fail "$c served no steps: agentd did not train on every replica"
    fi
    say "$c served $n steps"
done

mnt=$(podman volume inspect --format '{{.Mountpoint}}' "$VOLUME")
[ -s "$mnt/checkpoint.bin" ] || fail "no checkpoint on the volume $VOLUME"
say "checkpoint on volume $VOLUME: $(stat -c %s "$mnt/checkpoint.bin") bytes, logs: $(cd "$mnt/logs" && echo *)"

# ---------------------------------------------------------------- shutdown
# agentd stopped mid-training: it must write its checkpoint and exit 143.
# A wide network and an unreachable target keep it training until stopped.
podman volume create --label "$label" "${PROJECT}_sigterm-data" >/dev/null
podman run -d --name "${PROJECT}_sigterm" --label "$label" --network "$NET" \
    -v "${PROJECT}_sigterm-data:/var/lib/agentd" \
    -e AGENTD_ENV_DNS=envd:5555 -e AGENTD_TARGET_RETURN=1000 -e AGENTD_SESSIONS=4 \
    -e AGENTD_HIDDEN=256,256 -e AGENTD_PROGRESS=0 \
    localhost/agentd:latest >/dev/null
sleep 5
[ "$(podman inspect --format '{{.State.Running}}' "${PROJECT}_sigterm")" = true ] ||
    fail "the second agentd stopped by itself"
s=$SECONDS
podman stop -t 30 "${PROJECT}_sigterm" >/dev/null
rc=$(podman inspect --format '{{.State.ExitCode}}' "${PROJECT}_sigterm")
[ "$rc" = 143 ] || fail "agentd stopped with SIGTERM exited with status $rc, not 143"
mnt=$(podman volume inspect --format '{{.Mountpoint}}' "${PROJECT}_sigterm-data")
[ -s "$mnt/checkpoint.bin" ] || fail "agentd stopped with SIGTERM wrote no checkpoint"
say "agentd stopped mid-training: exit 143 in $((SECONDS - s)) s, checkpoint $(stat -c %s "$mnt/checkpoint.bin") bytes"

podman stop -t 10 "${envds[0]}" >/dev/null
rc=$(podman inspect --format '{{.State.ExitCode}}' "${envds[0]}")
[ "$rc" = 0 ] || fail "envd stopped with its STOPSIGNAL exited with status $rc"
podman logs --tail 3 "${envds[0]}" 2>&1 | grep -q 'stopped cleanly' || fail "envd did not log a clean stop"
say "envd stopped with SIGTERM: exit 0, stopped cleanly"

say "images: $(podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(localhost/(envd|agentd)|docker.io/library/debian):' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
echo "docker: 1 passed, 0 failed"
