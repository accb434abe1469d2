#!/bin/bash
# bench_rollout.sh — agentd's rollouts over slow, jittery, lossy links and a
# slow server, sync against async, and its acting rate against Python's;
# run by `make bench-rollout` (issue 12's figures, from one run).
#
#   bench/bench_rollout.sh [AGENTD OPTION]...     (make bench-rollout [QUICK=1] [ARGS=...])
#
# 1. Links. agentd --env-id CartPole-v1, 16 sessions per server, seed 1,
#    agentd's default evaluation schedule, over HOSTS envd hosts (2 and 4),
#    for each link and --rollout sync|async: wall seconds and env steps to
#    solve (the first evaluation mean >= 475), and acting env steps/s
#    (agentd --no-train for a fixed count of ticks' worth of steps, about
#    a second's: 1500 on loopback, 500 at 1 ms, 100 on the others; times
#    ACT_SCALE, 2 by default). The links:
#      loopback      every envd on 127.0.0.1, agentd on the host (no rig)
#      1ms           1 ms on every envd host's packets
#      20+-5ms       20 ms +- 5 ms (uniform, reordering as netem does)
#      loss5%        5% of every envd host's packets lost
#      slow-e1       one server 10x slower: +10 ms on envd host 1's
#                    packets only, the others clean
#    Every impairment is on what each envd host sends, as `tc qdisc add dev
#    eth0 root netem ...` on that host would be (one way: it adds its delay
#    once per round trip). Kernels here have no sch_netem, so the hosts are
#    network namespaces routed through build/netem in a router namespace
#    (tests/netem/topology.sh). "10x slower" is a delay, not a CPU limit:
#    envd spends about a microsecond per step of 16 sessions, so the cost a
#    slow or distant server imposes on agentd is the wait for its reply,
#    and a cgroup CPU quota would make it bursty (runs of 100 ms periods)
#    rather than slower; 10 ms is the issue's own "one server at 10 ms".
#    Ratios are against loopback sync on as many hosts. rig_late: how
#    late, on average, build/netem let packets go past their release time
#    in that cell's runs (its own wake-ups on a busy machine): well under a
#    millisecond means the links were what they were configured to be.
# 2. Acting at 1024 sessions on one loopback envd, agentd --no-train with
#    --groups 1 and with its default, beside the Python baseline
#    (bench/rollout_baseline.py: EnvdVectorEnv stepped with a numpy 64-64
#    MLP's greedy actions), alternated REPS times; medians and ratios.
# 3. Evaluation off the critical path: 20 ms +- 5 ms, sync, 2 hosts, a
#    fixed budget of EVAL_BUDGET env steps (no early stop) with the default
#    evaluation schedule against --eval-every 0 (evaluation at the end only).
# 4. A fixed budget (EVAL_BUDGET env steps, 2 hosts) with one server 10x
#    slower and with 5% loss, sync and async, against clean sync through
#    the rig (namespaces, netem without rules).
#
# agentd's --groups and --rollout are used only where `agentd --help` lists
# them; otherwise those cells print n/a (and --rollout sync is simply the
# default run). Parts 1 and 3 need root for the namespaces; without it they
# print n/a rows, part 2 still runs. Each agentd run is cut at RUN_LIMIT
# seconds (printed as ">N"). QUICK=1: 2 hosts only, one repetition, smaller
# budgets (~4 min against ~11). Options given are passed to every
# agentd. It prints figures; it is never a timed test.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    HOSTS_LIST=${HOSTS_LIST:-2} REPS=${REPS:-1} RUN_LIMIT=${RUN_LIMIT:-40}
    ACT_STEPS=${ACT_STEPS:-1000000} EVAL_BUDGET=${EVAL_BUDGET:-10000} ACT_SCALE=${ACT_SCALE:-1}
else
    HOSTS_LIST=${HOSTS_LIST:-"2 4"} REPS=${REPS:-3} RUN_LIMIT=${RUN_LIMIT:-90}
    ACT_STEPS=${ACT_STEPS:-3000000} EVAL_BUDGET=${EVAL_BUDGET:-20000} ACT_SCALE=${ACT_SCALE:-2}
fi
SESSIONS=16
SEED=${SEED:-1}
BUDGET=${BUDGET:-150000}
LINKS=(loopback 1ms 20+-5ms loss5% slow-e1)
EXTRA=("$@")
AGENTD_COMMON=(--env-id CartPole-v1 --progress 0 --log-level warn)

OUT=$(mktemp -d "${TMPDIR:-/tmp}/bench_rollout.XXXXXX") || exit 1
for bin in "$BUILD/envd" "$BUILD/agentd" "$BUILD/netem"; do
    [ -x "$bin" ] || { echo "bench-rollout: $bin is not built" >&2; exit 1; }
done

# ---------------------------------------------------------------- agentd
has_flag() { "$BUILD/agentd" --help 2>&1 | grep -q -- "^  --$1 "; }
HAS_GROUPS=0 HAS_ROLLOUT=0
has_flag groups && HAS_GROUPS=1
has_flag rollout && HAS_ROLLOUT=1
# mode_args MODE: agentd's options for MODE, or status 1 when it has none.
mode_args() {
    MODE_ARGS=()
    if [ "$HAS_ROLLOUT" = 1 ]; then
        MODE_ARGS=(--rollout "$1")
    elif [ "$1" = async ]; then
        return 1
    fi
}

# --------------------------------------------------------------- cleanup
. tests/netem/topology.sh
LOOP_PIDS=()
cleanup() {
    trap - EXIT INT TERM
    local p
    for p in "${LOOP_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    topo_down
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

MAX_HOSTS=2 # part 3 runs on two
for h in $HOSTS_LIST; do [ "$h" -gt $MAX_HOSTS ] && MAX_HOSTS=$h; done

# Loopback envds: LOOP_EP[i], on ephemeral ports of 127.0.0.1.
LOOP_EP=()
for i in $(seq 1 "$MAX_HOSTS"); do
    log=$OUT/envd-loop$i.log
    "$BUILD/envd" --bind 'tcp://127.0.0.1:*' --log-level info 2>"$log" &
    LOOP_PIDS+=($!)
    for _ in $(seq 1 500); do
        ep=$(sed -n 's/.* listening on \(tcp:[^ ]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$ep" ] && break
        sleep 0.01
    done
    [ -n "$ep" ] || { echo "bench-rollout: loopback envd $i did not start: $(cat "$log")" >&2; exit 1; }
    LOOP_EP+=("$ep")
done

# Namespace hosts ag, e1..eN, each envd on its own address.
NS_OK=0
if topo_check; then
    hosts=(ag)
    for i in $(seq 1 "$MAX_HOSTS"); do hosts+=("e$i"); done
    topo_up "${hosts[@]}" || exit 1
    for i in $(seq 1 "$MAX_HOSTS"); do
        ip netns exec "$(topo_ns "e$i")" "$BUILD/envd" --bind "tcp://${TOPO_ADDR[e$i]}:5555" --insecure \
            --log-level error >"$OUT/envd-e$i.log" 2>&1 &
    done
    NS_OK=1
else
    NS_WHY=$TOPO_WHY
fi

# netem_for LINK HOSTS: (re)starts build/netem with LINK's rules.
netem_for() {
    local link=$1 n=$2 rules=() i spec
    case $link in
    clean) ;;
    1ms) spec=delay=1ms ;;
    20+-5ms) spec=delay=20ms,jitter=5ms ;;
    loss5%) spec=loss=5% ;;
    slow-e1) rules=(--from "${TOPO_ADDR[e1]}" delay=10ms) ;;
    esac
    if [ -n "${spec:-}" ]; then
        for i in $(seq 1 "$n"); do rules+=(--from "${TOPO_ADDR[e$i]}" "$spec"); done
    fi
    topo_netem --seed "$SEED" "${rules[@]}" >/dev/null
}

# endpoints LINK HOSTS: ENDPOINTS=(--env E ...) and RUNNER=(prefix to run agentd);
# every LINK but loopback is through the namespaces.
endpoints() {
    local i
    ENDPOINTS=()
    if [ "$1" = loopback ]; then
        for i in $(seq 1 "$2"); do ENDPOINTS+=(--env "${LOOP_EP[$((i - 1))]}"); done
        RUNNER=()
    else
        for i in $(seq 1 "$2"); do ENDPOINTS+=(--env "tcp://${TOPO_ADDR[e$i]}:5555"); done
        RUNNER=(ip netns exec "$(topo_ns ag)")
    fi
}

# agentd_run DIR ARGS...: agentd with a time limit; its stdout in DIR.out.
agentd_run() {
    local dir=$1
    shift
    # A subshell, so that bash's "Killed" for a run past -k goes to /dev/null.
    (
        timeout -k 5 "$RUN_LIMIT" "${RUNNER[@]}" "$BUILD/agentd" "${AGENTD_COMMON[@]}" "$@" "${EXTRA[@]}" \
            >"$dir.out" 2>"$dir.err"
        echo $? >"$dir.rc"
    ) 2>/dev/null
}
summary() { # DIR KEY
    sed -n "s/^  \"$2\": \\([^,]*\\),\$/\\1/p" "$1/summary.json" 2>/dev/null | head -n 1
}
acted_rate() { # FILE: steps/s from agentd's or the baseline's "acted ..." line
    sed -n 's/^[a-z]*: acted .* \([0-9.]*\) steps\/s on .*/\1/p' "$1" | tail -n 1
}
ratio() { # A B: A/B to two decimals, ">A/B" when A is ">N" (a run cut at its limit), or n/a
    local gt=
    case $1 in ">"*) gt=">" ;; esac
    awk -v a="${1#>}" -v b="$2" -v gt="$gt" \
        'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%s%.2f", gt, a / b; else print "n/a" }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fmt_rate() { awk -v r="$1" 'BEGIN { if (r == "" || r == "n/a") print "n/a"; else if (r >= 1e6) printf "%.2fM", r / 1e6; else if (r >= 1e3) printf "%.1fk", r / 1e3; else printf "%.0f", r }'; }

echo "rollout bench: agentd --env-id CartPole-v1, $SESSIONS sessions per server, seed $SEED, default evaluation schedule; $(nproc) cpus"
echo "agentd flags: --groups $([ $HAS_GROUPS = 1 ] && echo yes || echo 'not yet (n/a)'), --rollout $([ $HAS_ROLLOUT = 1 ] && echo yes || echo 'not yet (sync = the default run; async n/a)')"
echo "links: impairment on every envd host's packets through build/netem (tests/netem/); slow-e1: +10 ms on host 1 only"
[ "$NS_OK" = 1 ] || echo "links other than loopback: n/a ($NS_WHY)"

# ------------------------------------------------------------- 1. links
for hosts in $HOSTS_LIST; do
    echo
    echo "== $hosts envd hosts x $SESSIONS sessions: solve (eval mean >= 475) and act (--no-train)"
    printf '%-9s %-5s %9s %9s %9s %11s %10s %9s %8s\n' link mode wall_s steps status act_steps/s wall_vs_lo act_vs_lo \
        rig_late
    base_wall= base_act=
    for link in "${LINKS[@]}"; do
        for mode in sync async; do
            if ! mode_args "$mode"; then
                printf '%-9s %-5s %9s %9s %9s %11s %10s %9s %8s\n' "$link" "$mode" n/a n/a n/a n/a n/a n/a n/a
                continue
            fi
            if [ "$link" != loopback ] && [ "$NS_OK" != 1 ]; then
                printf '%-9s %-5s %9s %9s %9s %11s %10s %9s %8s\n' "$link" "$mode" n/a n/a n/a n/a n/a n/a n/a
                continue
            fi
            endpoints "$link" "$hosts"
            [ "$link" = loopback ] || netem_for "$link" "$hosts"
            dir=$OUT/h$hosts-$link-$mode
            agentd_run "$dir" "${ENDPOINTS[@]}" "${MODE_ARGS[@]}" --sessions $SESSIONS --seed "$SEED" \
                --total-steps "$BUDGET" --logdir "$dir"
            rc=$(cat "$dir.rc")
            steps=$(summary "$dir" env_steps_to_target)
            wall=$(summary "$dir" wall_seconds_to_target)
            if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                wall=">$RUN_LIMIT" steps="-" status=timeout
            elif [ -z "$steps" ] || [ "$steps" = null ]; then
                wall="-" steps="-" status="rc=$rc"
            else
                wall=$(printf '%.2f' "$wall") status=solved
            fi
            case $link in loopback) ticks=1500 ;; 1ms) ticks=500 ;; *) ticks=100 ;; esac
            agentd_run "$dir-act" "${ENDPOINTS[@]}" "${MODE_ARGS[@]}" --sessions $SESSIONS --seed "$SEED" \
                --no-train --total-steps $((ticks * ACT_SCALE * SESSIONS * hosts))
            act=$(acted_rate "$dir-act.out")
            late=-
            if [ "$link" != loopback ]; then
                topo_netem_stop
                late=$(sed -n 's/.* late_mean_ms=\([0-9.]*\) .*/\1/p' "$TOPO_NETEM_LOG" | tail -n 1)ms
            fi
            if [ "$link $mode" = "loopback sync" ]; then base_wall=$wall base_act=$act; fi
            printf '%-9s %-5s %9s %9s %9s %11s %10s %9s %8s\n' "$link" "$mode" "$wall" "$steps" "$status" \
                "$(fmt_rate "${act:-n/a}")" "$(ratio "$wall" "$base_wall")" "$(ratio "$act" "$base_act")" "$late"
        done
    done
done
topo_netem_stop

# ------------------------------------------------------------ 2. acting
echo
echo "== acting at 1024 sessions on one loopback envd: agentd --no-train ($ACT_STEPS env steps) vs Python; median of $REPS"
endpoints loopback 1
g1=() gd=() py=()
for rep in $(seq 1 "$REPS"); do
    if [ "$HAS_GROUPS" = 1 ]; then
        agentd_run "$OUT/act1024-g1-$rep" "${ENDPOINTS[@]}" --no-train --sessions 1024 --total-steps "$ACT_STEPS" --groups 1
        g1+=("$(acted_rate "$OUT/act1024-g1-$rep.out")")
    fi
    agentd_run "$OUT/act1024-def-$rep" "${ENDPOINTS[@]}" --no-train --sessions 1024 --total-steps "$ACT_STEPS"
    gd+=("$(acted_rate "$OUT/act1024-def-$rep.out")")
    "$PYTHON" bench/rollout_baseline.py --endpoint "${LOOP_EP[0]}" --num-envs 1024 --seconds 3 \
        >"$OUT/act1024-py-$rep.out" 2>&1
    py+=("$(acted_rate "$OUT/act1024-py-$rep.out")")
done
m_g1=n/a
[ "$HAS_GROUPS" = 1 ] && m_g1=$(median "${g1[@]}")
m_gd=$(median "${gd[@]}")
m_py=$(median "${py[@]}")
printf '%-28s %12s %14s   %s\n' run steps/s vs_python "all runs"
printf '%-28s %12s %14s   %s\n' "agentd --groups 1" "$(fmt_rate "$m_g1")" "$(ratio "$m_g1" "$m_py")" "${g1[*]:-n/a}"
printf '%-28s %12s %14s   %s\n' "agentd (default groups)" "$(fmt_rate "$m_gd")" "$(ratio "$m_gd" "$m_py")" "${gd[*]}"
printf '%-28s %12s %14s   %s\n' "python EnvdVectorEnv + MLP" "$(fmt_rate "$m_py")" 1.00 "${py[*]}"
echo "default / --groups 1: $(ratio "$m_gd" "$m_g1")   (goals: >= 1.5 over --groups 1, >= 2 over python)"

# ---------------------------------------------------- 3. evaluation cost
echo
echo "== evaluation off the critical path: 20 ms +- 5 ms, sync, 2 hosts, $EVAL_BUDGET env steps (no early stop)"
if [ "$NS_OK" != 1 ]; then
    echo "n/a ($NS_WHY)"
else
    mode_args sync
    endpoints 20+-5ms 2
    netem_for 20+-5ms 2
    printf '%-30s %9s %12s %11s\n' schedule wall_s evaluations eval_s
    walls=()
    for sched in default end; do
        sargs=()
        [ $sched = end ] && sargs=(--eval-every 0)
        dir=$OUT/eval-$sched
        # --target-return above CartPole's 500: the whole budget is spent (status 3).
        RUN_LIMIT=$((RUN_LIMIT * 2)) agentd_run "$dir" "${ENDPOINTS[@]}" "${MODE_ARGS[@]}" --sessions $SESSIONS \
            --seed "$SEED" --total-steps "$EVAL_BUDGET" --target-return 1e9 "${sargs[@]}" --logdir "$dir"
        rc=$(cat "$dir.rc")
        wall=$(summary "$dir" wall_seconds)
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then wall=">$((RUN_LIMIT * 2))"; else wall=$(printf '%.2f' "$wall"); fi
        walls+=("$wall")
        label=$([ $sched = default ] && echo "default (--eval-every 2500)" || echo "--eval-every 0 (end only)")
        printf '%-30s %9s %12s %11s\n' "$label" "$wall" "$(summary "$dir" evaluations)" \
            "$(printf '%.2f' "$(summary "$dir" eval_seconds)" 2>/dev/null)"
    done
    topo_netem_stop
    echo "default / end only: $(ratio "${walls[0]}" "${walls[1]#>}")   (goal: <= 1.3)"
fi

# ----------------------------------------------- 4. a fixed budget, async
echo
echo "== a fixed budget under a slow server and loss: 2 hosts, $EVAL_BUDGET env steps (no early stop), vs clean sync through the rig"
if [ "$NS_OK" != 1 ]; then
    echo "n/a ($NS_WHY)"
else
    endpoints clean 2
    printf '%-16s %9s %14s   %s\n' run wall_s vs_clean_sync goal
    clean=
    for cell in "clean sync" "slow-e1 sync" "slow-e1 async" "loss5% sync" "loss5% async"; do
        link=${cell% *} mode=${cell#* }
        if ! mode_args "$mode"; then
            printf '%-16s %9s %14s\n' "$cell" n/a n/a
            continue
        fi
        netem_for "$link" 2
        dir=$OUT/budget-$link-$mode
        RUN_LIMIT=$((RUN_LIMIT * 2)) agentd_run "$dir" "${ENDPOINTS[@]}" "${MODE_ARGS[@]}" --sessions $SESSIONS \
            --seed "$SEED" --total-steps "$EVAL_BUDGET" --target-return 1e9 --logdir "$dir"
        rc=$(cat "$dir.rc")
        wall=$(summary "$dir" wall_seconds)
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then wall=">$((RUN_LIMIT * 2))"; else wall=$(printf '%.2f' "$wall"); fi
        [ "$cell" = "clean sync" ] && clean=$wall
        goal=
        case $cell in "slow-e1 async") goal="<= 1.5" ;; "loss5% async") goal="<= 3" ;; esac
        printf '%-16s %9s %14s   %s\n' "$cell" "$wall" "$(ratio "$wall" "$clean")" "$goal"
    done
    topo_netem_stop
fi
