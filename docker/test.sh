#!/bin/bash
# docker/test.sh — check the deployment files offline, build both images,
# and train in containers: the compose stack and the Kubernetes pod specs.
# Run by `make test-docker` (and .ci/run).
#
#   1. docker/setup.sh: podman and friends from Debian, docker-compose,
#      kubectl when missing, the npm schema checkers of tests/manifests, and
#      the debian:bookworm(-slim) base images built with debootstrap when
#      podman's store lacks them (no registry is reachable);
#   2. offline checks, nothing fetched: `kubectl kustomize` renders
#      deploy/k8s/base and deploy/k8s/curve, and tests/manifests/validate.js
#      checks every object against the Kubernetes API schemas (strict: an
#      unknown field fails) and the --env-dns wiring; broken copies must be
#      refused. docker/compose.yaml must pass `docker-compose config`
#      (Debian 12's 1.29) and the Compose Specification schema (what Compose
#      v2 validates with), and 1.29 must refuse it with a top-level `name:`;
#   3. builds localhost/envd and localhost/agentd and reports their sizes;
#   4. `podman-compose up` of docker/compose.yaml with two envd replicas and
#      agentd, which finds both through --env-dns envd:5555;
#   5. checks envd's health (podman healthcheck run, then the status in
#      podman inspect), that its metrics port is published on loopback only,
#      that agentd exits 0 (target return reached), that every envd replica
#      served steps, and that the checkpoint is on the named volume;
#   6. checks graceful shutdown: an envd replica stopped with its
#      STOPSIGNAL exits 0, and an agentd stopped mid-training writes its
#      checkpoint and exits 143 (agentd's status for "stopped by SIGTERM,
#      checkpoint saved");
#   7. docker-compose 1.29 runs the same compose file through podman's
#      Docker-compatible API (`podman system service` on a socket in the
#      test's folder): two replicas, agentd solves on both;
#   8. `podman kube play` of the rendered deploy/k8s/base: the envd
#      Deployment (2 replicas) with the network alias `envd` standing in for
#      the headless Service, then the agentd Job's pod template as a Pod on
#      the PersistentVolumeClaim's volume. Checks each replica's /healthz, its
#      user, capabilities and read-only root, agentd's exit 0 with a fresh
#      start, steps served by both replicas; then the pod is played again on
#      the same claim, as a rescheduled Job pod is, and must resume from the
#      checkpoint (--load) and exit 0;
#   9. tears everything down — containers, pods, networks, volumes — on
#      every exit, failure and Ctrl-C included.
#
# DOCKER_TARGET_RETURN (default 475, CartPole-v1's bar) is the return agentd
# must reach in the compose run; with its defaults agentd gets there in
# seconds. The pods run the manifests' own settings (also 475).
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
KUBE=${PROJECT}k # prefix of every name podman kube play makes
service_pid=     # podman system service, for docker-compose 1.29
KUBENET=${PROJECT}_kube
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
    if [ -n "$service_pid" ]; then
        DOCKER_HOST=unix://$work/podman.sock timeout 90 docker-compose -p "${PROJECT}dc" -f docker/compose.yaml \
            down -v -t 30 >>"$work/down.log" 2>&1 || true
        kill "$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
    fi
    podman ps -aq --filter "label=com.docker.compose.project=${PROJECT}dc" | xargs -r podman rm -f -t 5 >/dev/null 2>&1 || true
    podman network rm -f "${PROJECT}dc_rollout" >/dev/null 2>&1 || true
    podman volume rm -f "${PROJECT}dc_agentd-data" >/dev/null 2>&1 || true
    # compose down leaves networks (podman-compose 1.0.3) and anything it
    # did not create itself; remove all that carries the project's label.
    local f
    for f in "$work"/kube-*.yaml; do
        [ ! -s "$f" ] || timeout 90 podman kube down "$f" >>"$work/down.log" 2>&1 || true
    done
    podman pod ls -q --filter "name=^$KUBE" | xargs -r podman pod rm -f -t 5 >/dev/null 2>&1 || true
    podman volume ls -q --filter "name=^$KUBE" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
    podman network rm -f "$KUBENET" "${KUBENET}c" >/dev/null 2>&1 || true
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

# -------------------------------------------------------------- manifests
# Offline: the schemas are npm packages setup.sh installed; nothing fetched.
validate() { node tests/manifests/validate.js "$@"; }
for k in base curve; do
    kubectl kustomize "deploy/k8s/$k" >"$work/k8s-$k.yaml" 2>"$work/kustomize-$k.log" ||
        { cat "$work/kustomize-$k.log"; fail "kubectl kustomize deploy/k8s/$k"; }
done
validate k8s "$work/k8s-base.yaml" "$work/k8s-curve.yaml" >"$work/validate.log" ||
    { cat "$work/validate.log"; fail "deploy/k8s does not validate against the Kubernetes API schemas"; }
say "$(tail -1 "$work/validate.log") — $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: /kustomize /p')"
# The checks bite: each broken copy of the base must be refused, for its
# own fault (all checked in one run: the TypeScript compile is the slow part).
broken=()
refused() { # WHAT SED-SCRIPT
    local f=$work/broken-${#broken[@]}.yaml
    sed "$2" "$work/k8s-base.yaml" >"$f"
    ! cmp -s "$work/k8s-base.yaml" "$f" || fail "breaking the base ($1) changed nothing"
    broken+=("$1")
}
refused "an unknown field" 's/readinessProbe:/readinessprobe:/'
refused "a port number given as a string" 's/containerPort: 9100/containerPort: "9100"/'
refused "a kind the API does not have" 's/^kind: Job$/kind: Jobs/'
refused "a Service that is not headless" 's/clusterIP: None/clusterIP: 10.96.0.10/'
refused "--env-dns on a port the Service lacks" 's/value: envd:5555/value: envd:5556/'
if validate k8s "$work"/broken-*.yaml >"$work/broken.log"; then
    fail "the validator accepted every broken copy of the base"
fi
for i in "${!broken[@]}"; do
    grep -q "^FAIL broken-$i.yaml " "$work/broken.log" || { cat "$work/broken.log"; fail "the validator accepted ${broken[$i]}"; }
done
say "manifest checks refuse an unknown field, a wrong type, an unknown kind, a non-headless Service, a wrong --env-dns port"

# One compose file for docker-compose 1.29, Compose v2 and podman-compose.
docker-compose -p "$PROJECT" -f docker/compose.yaml config -q 2>"$work/dc.log" ||
    { cat "$work/dc.log"; fail "docker-compose $(docker-compose version --short) refuses docker/compose.yaml"; }
validate compose docker/compose.yaml >"$work/validate-compose.log" ||
    { cat "$work/validate-compose.log"; fail "docker/compose.yaml does not validate against the Compose Specification schema"; }
{ echo "name: envd"; cat docker/compose.yaml; } >"$work/compose-named.yaml"
if docker-compose -f "$work/compose-named.yaml" config -q 2>"$work/dc-named.log"; then
    fail "docker-compose 1.29 accepted a top-level name: this check proves nothing"
fi
grep -q "'name' does not match any of the regexes" "$work/dc-named.log" ||
    { cat "$work/dc-named.log"; fail "docker-compose refused the named file for another reason"; }
say "docker/compose.yaml: accepted by docker-compose $(docker-compose version --short) and the Compose Specification schema (a top-level name: is refused by 1.29, as it should be)"

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

# ------------------------------------------------------ docker-compose 1.29
# The same file with Debian 12's docker-compose, talking to podman's
# Docker-compatible API on a socket of the test's own: deploy.replicas
# gives two replicas, the service name resolves to both, agentd solves.
podman system service --time=0 "unix://$work/podman.sock" >"$work/service.log" 2>&1 &
service_pid=$!
for ((i = 0; i < 100; i++)); do [ -S "$work/podman.sock" ] && break; sleep 0.1; done
[ -S "$work/podman.sock" ] || { cat "$work/service.log"; fail "podman system service did not start"; }
dc() { DOCKER_HOST=unix://$work/podman.sock docker-compose -p "${PROJECT}dc" -f docker/compose.yaml "$@"; }
s=$SECONDS
dc up -d --no-build >"$work/dc-up.log" 2>&1 || { tail -20 "$work/dc-up.log"; fail "docker-compose 1.29 up"; }
rc=$(timeout "$TRAIN_LIMIT" podman wait "${PROJECT}dc_agentd_1" 2>/dev/null) || fail "agentd (docker-compose 1.29) did not finish within $TRAIN_LIMIT s"
[ "$rc" = 0 ] || { podman logs --tail 15 "${PROJECT}dc_agentd_1"; fail "agentd (docker-compose 1.29) exited with status $rc"; }
for i in 1 2; do
    n=$(steps_of "${PROJECT}dc_envd_$i")
    [ -n "$n" ] && [ "$n" -gt 0 ] || fail "${PROJECT}dc_envd_$i (docker-compose 1.29) served no steps"
done
dc down -v -t 30 >"$work/dc-down.log" 2>&1 || { tail -20 "$work/dc-down.log"; fail "docker-compose 1.29 down"; }
kill "$service_pid" && wait "$service_pid" 2>/dev/null || true
service_pid=
say "docker-compose $(docker-compose version --short) ran docker/compose.yaml through podman's Docker API: 2 replicas (deploy.replicas), agentd solved on both in $((SECONDS - s)) s, down"

# -------------------------------------------------------------- kube play
# The rendered base, as podman plays it (tests/manifests/kube-pods.js): the
# Deployment as it is, the Job's pod template as a Pod, the claim as a
# volume; no Service in podman, so the envd pods get the network alias
# `envd`, which aardvark-dns answers with every replica, as the headless
# Service's DNS does; agentd's --env-dns envd:5555 is the manifest's own.
kubepods() { node tests/manifests/kube-pods.js "$work/k8s-base.yaml" "$KUBE" "$@" 2>>"$work/kube-pods.log"; }
kubepods envd >"$work/kube-envd.yaml"
kubepods agentd >"$work/kube-agentd.yaml"
kubepods agentd Pod >"$work/kube-agentd-pod.yaml"
podman network create --label "$label" "$KUBENET" >/dev/null
say "kube play: deploy/k8s/base's envd Deployment and agentd Job pod ($(sort -u "$work/kube-pods.log" | sed 's/^kube-pods: //' | paste -sd';' | sed 's/;/; /g'))"
podman kube play --network "$KUBENET:alias=envd" "$work/kube-envd.yaml" >"$work/kube-play.log" 2>&1 ||
    { cat "$work/kube-play.log"; fail "podman kube play of the envd Deployment"; }
replicas=$(awk '/^  replicas:/ { print $2 }' "$work/kube-envd.yaml")
[ "$replicas" -ge 2 ] || fail "the base's envd Deployment has $replicas replicas"
kenvds=()
for ((i = 0; i < replicas; i++)); do kenvds+=("$KUBE-envd-pod-$i-envd"); done
exec_metrics() { # CONTAINER PATH: GET PATH from envd's metrics port inside its own pod
    podman exec "$1" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100 && printf "GET %s HTTP/1.0\r\n\r\n" "$0" >&3 && cat <&3' "$2"
}
for c in "${kenvds[@]}"; do
    # The readiness probe's question (GET /healthz on the metrics port),
    # asked from inside the pod: podman runs no readiness probes.
    until podman exec "$c" /usr/local/bin/envd-healthcheck >/dev/null 2>&1; do
        [ $((SECONDS - t0)) -lt 900 ] || fail "time limit"
        [ "$(podman inspect --format '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || fail "$c is not running"
        sleep 0.5
    done
    # The securityContext, as podman applied it.
    [ "$(podman exec "$c" id -u)" = 10001 ] || fail "$c does not run as uid 10001"
    podman exec "$c" grep -qx 'CapEff:[[:space:]]*0000000000000000' /proc/1/status || fail "$c kept capabilities"
    podman exec "$c" grep -qx 'NoNewPrivs:[[:space:]]*1' /proc/1/status || fail "$c may gain privileges"
    ! podman exec "$c" touch /probe 2>/dev/null || fail "$c has a writable root filesystem"
done
say "${#kenvds[@]} envd pods ready (/healthz 200 inside each): uid 10001, no capabilities, no new privileges, read-only root"

summary_of() { cat "$(podman volume inspect --format '{{.Mountpoint}}' "$KUBE-agentd-data")/logs/summary.json"; }
run_agentd_pod() { # KUBEFILE WHAT
    local s=$SECONDS rc
    podman kube play --network "$KUBENET" "$1" >"$work/kube-play.log" 2>&1 ||
        { cat "$work/kube-play.log"; fail "podman kube play of the agentd pod ($2)"; }
    rc=$(timeout "$TRAIN_LIMIT" podman wait "$KUBE-agentd-agentd" 2>/dev/null) ||
        fail "agentd ($2) did not finish within $TRAIN_LIMIT s"
    [ "$rc" = 0 ] || { podman logs --tail 15 "$KUBE-agentd-agentd"; fail "agentd ($2) exited with status $rc"; }
    summary_of | grep -q '"solved": true' || fail "agentd ($2) exited 0 but its summary.json does not say solved"
    say "agentd pod ($2): exit 0, solved, in $((SECONDS - s)) s: $(podman logs "$KUBE-agentd-agentd" 2>&1 | grep -m1 '^agentd: solved')"
}
run_agentd_pod "$work/kube-agentd.yaml" "first run, empty claim"
summary_of | grep -q '"resumed_from": null' || fail "the first agentd pod did not start afresh: $(summary_of | grep resumed)"
for c in "${kenvds[@]}"; do
    n=$(exec_metrics "$c" /metrics | awk '$1 == "envd_env_steps_total" { print $2 }')
    if [ -z "$n" ] || [ "$n" -le 0 ]; then
        fail "$c served no steps: agentd did not follow --env-dns to every replica"
    fi
    say "$c served $n steps"
done
steps=$(summary_of | sed -n 's/^  "env_steps": \([0-9]*\),*$/\1/p')
[ -n "$steps" ] && [ "$steps" -gt 0 ] || fail "no env_steps in the first run's summary.json"

# A Job pod rescheduled: gone, and a new one on the same claim.
podman pod rm -f -t 5 "$KUBE-agentd" >/dev/null
run_agentd_pod "$work/kube-agentd-pod.yaml" "played again on the same claim"
summary_of | grep -q '"resumed_from": "/var/lib/agentd/checkpoint.bin"' ||
    fail "the second agentd pod did not resume from the claim's checkpoint: $(summary_of | grep resumed_from)"
summary_of | grep -q "\"resumed_at_env_steps\": $steps," ||
    fail "the second agentd pod resumed at $(summary_of | grep resumed_at), not at the first run's $steps env steps"
logs=$(podman volume inspect --format '{{.Mountpoint}}' "$KUBE-agentd-data")/logs
[ "$(grep -c '^env_steps,' "$logs/progress.csv")" = 1 ] && [ ! -e "$logs/agentd_2" ] ||
    fail "the resumed pod did not continue the first run's log folder: $(ls "$logs")"
say "the replayed agentd pod resumed from the checkpoint on the claim at $steps env steps (--load), continued its run's logs and exited 0"

# The curve overlay: the same, with CURVE keys from the Secret envd-curve.
# Its keys come from `envd --keygen` in the envd image; the secret volumes
# are played as hostPath volumes holding the same items (podman 4.3 panics
# on a secret volume), with the Secret's defaultMode and the pod's fsGroup.
podman kube down "$work/kube-envd.yaml" >/dev/null 2>&1
mkdir -p "$work/secrets/envd-curve"
for k in server agent; do
    podman run --rm --user 0 -v "$work/secrets/envd-curve:/keys" localhost/envd:latest --keygen "/keys/$k" \
        >/dev/null 2>&1 || fail "envd --keygen in the image"
done
export KUBE_SECRETS=$work/secrets
node tests/manifests/kube-pods.js "$work/k8s-curve.yaml" "${KUBE}c" envd >"$work/kube-curve-envd.yaml" 2>>"$work/kube-pods.log"
node tests/manifests/kube-pods.js "$work/k8s-curve.yaml" "${KUBE}c" agentd >"$work/kube-curve-agentd.yaml" 2>>"$work/kube-pods.log"
podman network create --label "$label" "${KUBENET}c" >/dev/null
podman kube play --network "${KUBENET}c:alias=envd" "$work/kube-curve-envd.yaml" >"$work/kube-play.log" 2>&1 ||
    { cat "$work/kube-play.log"; fail "podman kube play of the curve overlay's envd Deployment"; }
for ((i = 0; i < replicas; i++)); do
    c=${KUBE}c-envd-pod-$i-envd
    until podman exec "$c" /usr/local/bin/envd-healthcheck >/dev/null 2>&1; do
        [ $((SECONDS - t0)) -lt 900 ] || fail "time limit"
        [ "$(podman inspect --format '{{.State.Running}}' "$c" 2>/dev/null)" = true ] ||
            { podman logs --tail 5 "$c"; fail "$c (curve) is not running"; }
        sleep 0.5
    done
    podman logs "$c" 2>&1 | grep -q 'ready: .*CURVE (authenticated clients only)' || fail "$c does not serve CURVE"
    ! podman logs "$c" 2>&1 | grep -q INSECURE || fail "$c still has a plaintext endpoint"
done
podman kube play --network "${KUBENET}c" "$work/kube-curve-agentd.yaml" >"$work/kube-play.log" 2>&1 ||
    { cat "$work/kube-play.log"; fail "podman kube play of the curve overlay's agentd pod"; }
rc=$(timeout "$TRAIN_LIMIT" podman wait "${KUBE}c-agentd-agentd" 2>/dev/null) || fail "agentd (curve) did not finish within $TRAIN_LIMIT s"
[ "$rc" = 0 ] || { podman logs --tail 15 "${KUBE}c-agentd-agentd"; fail "agentd (curve) exited with status $rc"; }
for ((i = 0; i < replicas; i++)); do
    c=${KUBE}c-envd-pod-$i-envd
    m=$(exec_metrics "$c" /metrics)
    n=$(awk '$1 == "envd_env_steps_total" { print $2 }' <<<"$m")
    [ -n "$n" ] && [ "$n" -gt 0 ] || fail "$c (curve) served no steps"
    [ "$(awk '$1 == "envd_auth_failures_total" { print $2 }' <<<"$m")" = 0 ] || fail "$c (curve) refused a handshake of agentd's"
done
say "curve overlay: ${replicas} envd pods serving CURVE only, agentd with its key from the Secret solved and exited 0: $(podman logs "${KUBE}c-agentd-agentd" 2>&1 | grep -m1 '^agentd: solved')"

say "images: $(podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(localhost/(envd|agentd)|docker.io/library/debian):' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
echo "docker: 1 passed, 0 failed"
