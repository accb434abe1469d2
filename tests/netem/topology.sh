# tests/netem/topology.sh — hosts as network namespaces whose every packet
# goes through build/netem (tests/netem/netem.c) in a router namespace.
# Sourced by tests/netem/run.sh and bench/bench_rollout.sh (bash).
#
#     <p>HOST1 10.251.1.2 --veth-- 10.251.1.1 r-HOST1 \
#     <p>HOST2 10.251.2.2 --veth-- 10.251.2.1 r-HOST2  }  <p>rt: ip rule iif r-* -> table 100:
#     ...                                              /    default dev nm0 (TUN) <-> build/netem
#
# Each host is a namespace with one veth to the router namespace and a
# default route through it. In the router, policy routing sends whatever
# arrives on a host's veth into the TUN device nm0; build/netem reads it,
# applies its rules (delay, jitter, loss, rate, per host and direction) and
# writes it back into nm0, where the main table routes it to the
# destination host's veth. Nothing touches the machine's own network: the
# addresses exist only inside these namespaces.
#
#   topo_check                 0, or 1 with the reason in TOPO_WHY (not root,
#                              no namespaces, no /dev/net/tun)
#   topo_up HOST...            makes the namespaces; TOPO_ADDR[HOST] is its address
#   topo_netem [NETEM ARG]...  (re)starts build/netem in the router with these
#                              rules (--from/--to ADDR SPEC, --seed, --keep-order);
#                              its output goes to TOPO_NETEM_LOG
#   topo_netem_stop            stops it (its counters land in TOPO_NETEM_LOG);
#                              no packet passes until the next topo_netem
#   topo_ns HOST               the namespace name of HOST (for ip netns exec)
#   topo_down                  stops netem and everything started in the
#                              namespaces, deletes them; safe twice
#   topo_test_begin NAME BIN...  for test scripts: fails unless every BIN is
#                              built and the topology can be made (with
#                              ALLOW_SKIP=1: "SKIP: NAME: why", exit 0), then
#                              traps EXIT (the logs of a failed run, topo_down)
#
# The caller traps EXIT to topo_down. Namespaces are named envdn<pid>-*;
# topo_up first deletes those of runs whose process is gone (a run killed
# with SIGKILL never ran its trap).

TOPO_BUILD=${BUILD:-build}
TOPO_NET=10.251
TOPO_P=envdn$$-
declare -gA TOPO_ADDR=()
TOPO_HOSTS=()
TOPO_NETEM_PID=
TOPO_NETEM_LOG=
TOPO_DIR=

topo_check() {
    TOPO_WHY=
    if [ "$(id -u)" != 0 ]; then
        TOPO_WHY="it needs root to create network namespaces"
    elif ! ip netns add "${TOPO_P}probe" 2>/dev/null; then
        TOPO_WHY="creating network namespaces is not permitted"
    else
        ip netns del "${TOPO_P}probe"
        [ -c /dev/net/tun ] || TOPO_WHY="there is no /dev/net/tun"
    fi
    [ -z "$TOPO_WHY" ]
}

topo_ns() { echo "$TOPO_P$1"; }

topo_up() {
    local ns owner
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^envdn[0-9]+-' || true); do
        owner=${ns#envdn}
        owner=${owner%%-*}
        kill -0 "$owner" 2>/dev/null || ip netns del "$ns" 2>/dev/null || true
    done
    TOPO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/envd-netem.XXXXXX") || return 1
    local rt=${TOPO_P}rt
    ip netns add "$rt" || return 1
    TOPO_HOSTS=(rt)
    ip -n "$rt" link set lo up
    # Forward between the veths and the TUN; a packet from the TUN arrives
    # on another interface than its source's route: no reverse-path filter.
    ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.default.send_redirects=0 >/dev/null || return 1
    ip -n "$rt" tuntap add dev nm0 mode tun || return 1
    ip -n "$rt" link set nm0 up
    ip -n "$rt" route add default dev nm0 table 100
    local i=0 host addr
    for host in "$@"; do
        i=$((i + 1))
        addr=$TOPO_NET.$i.2
        ns=$TOPO_P$host
        ip netns add "$ns" || return 1
        TOPO_HOSTS+=("$host")
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
        ip -n "$rt" link add "r-$host" type veth peer name eth0 netns "$ns" || return 1
        ip -n "$rt" addr add "$TOPO_NET.$i.1/24" dev "r-$host"
        ip -n "$rt" link set "r-$host" up
        ip netns exec "$rt" sysctl -qw "net.ipv4.conf.r-$host.rp_filter=0" >/dev/null
        ip -n "$rt" rule add iif "r-$host" lookup 100
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$TOPO_NET.$i.1"
        TOPO_ADDR[$host]=$addr
    done
}

topo_netem() {
    topo_netem_stop
    TOPO_NETEM_LOG=$TOPO_DIR/netem.$((${TOPO_NETEM_RUNS:-0} + 1)).log
    TOPO_NETEM_RUNS=$((${TOPO_NETEM_RUNS:-0} + 1))
    ip netns exec "${TOPO_P}rt" "$TOPO_BUILD/netem" --tun nm0 "$@" >"$TOPO_NETEM_LOG" 2>&1 &
    TOPO_NETEM_PID=$!
    local i
    for i in $(seq 1 300); do   # up to 3 s
        grep -q '^netem: attached' "$TOPO_NETEM_LOG" 2>/dev/null && return 0
        if ! kill -0 "$TOPO_NETEM_PID" 2>/dev/null; then
            echo "netem did not start: $(cat "$TOPO_NETEM_LOG")" >&2
            TOPO_NETEM_PID=
            return 1
        fi
        sleep 0.01
    done
    echo "netem did not attach to nm0 within 3 s" >&2
    return 1
}

topo_netem_stop() {
    [ -n "$TOPO_NETEM_PID" ] || return 0
    kill -TERM "$TOPO_NETEM_PID" 2>/dev/null || true
    wait "$TOPO_NETEM_PID" 2>/dev/null || true
    TOPO_NETEM_PID=
}

topo_down() {
    topo_netem_stop
    local host pids=() pid i
    for host in "${TOPO_HOSTS[@]}"; do
        pids+=($(ip netns pids "$TOPO_P$host" 2>/dev/null || true))
    done
    # Whatever runs inside these namespaces was started by this run.
    if [ ${#pids[@]} -gt 0 ]; then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "${pids[@]}" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
        for pid in "${pids[@]}"; do
            wait "$pid" 2>/dev/null || true
        done
    fi
    for host in "${TOPO_HOSTS[@]}"; do
        ip netns del "$TOPO_P$host" 2>/dev/null || true
    done
    TOPO_HOSTS=()
    [ -z "$TOPO_DIR" ] || [ -n "${NETEM_KEEP:-}" ] || rm -rf "$TOPO_DIR"
    TOPO_DIR=
}

# The shared start of a test script (tests/netem/*.sh): see the header.
topo_test_begin() {
    local name=$1 bin
    shift
    for bin in "$@"; do
        [ -x "$bin" ] || { echo "FAIL: $bin is not built (make $bin)"; exit 1; }
    done
    if ! topo_check; then
        if [ "${ALLOW_SKIP:-}" = 1 ]; then
            echo "SKIP: $name: $TOPO_WHY (allowed by ALLOW_SKIP=1)"
            exit 0
        fi
        echo "FAIL: $name cannot run here: $TOPO_WHY; ALLOW_SKIP=1 lets it pass unchecked"
        exit 1
    fi
    trap topo__test_end EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

topo__test_end() {
    local rc=$? f
    trap - EXIT INT TERM
    if [ "$rc" != 0 ] && [ -n "$TOPO_DIR" ]; then
        for f in "$TOPO_DIR"/*.log; do
            [ -e "$f" ] || continue
            echo "---- last lines of $(basename "$f")"
            tail -n 8 "$f"
        done
    fi
    topo_down
    exit "$rc"
}
