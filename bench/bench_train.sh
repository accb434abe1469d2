#!/bin/bash
# bench_train.sh — steps and wall-clock to solve an environment, over seeds.
#
#   bench/bench_train.sh [AGENTD OPTION]...     (make bench-train [ENV=Acrobot-v1])
#
# Starts one envd on a loopback ephemeral port, runs build/agentd with its
# default hyperparameters (plus any options given) once per seed in SEEDS
# (default 1..10) with a budget of BUDGET env steps (default 150000), and
# prints one row per seed — env steps and wall seconds to the target
# (greedy 100-episode mean >= --target-return, by default Gymnasium's
# threshold for --env-id), the final evaluation, exit status — then the
# median and the worst. CartPole-v1's goals: median steps <= 50k, worst
# <= 150k, median wall <= 10 s; Acrobot-v1's median <= 50k and
# MountainCar-v0's median <= 150k (BUDGET=450000 for it), each with every
# seed within 3x the median (docs/agentd.md). It prints figures; it is
# never a timed test.
set -u
cd "$(dirname "$0")/.."
. agent/envd.sh

SEEDS=${SEEDS:-"1 2 3 4 5 6 7 8 9 10"}
BUDGET=${BUDGET:-150000}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench_train.XXXXXX")}
mkdir -p "$OUT" || exit 1

trap envd_stop EXIT
trap 'exit 130' INT TERM
envd_start || exit 1

printf '%-6s %10s %9s %11s %9s %6s\n' seed env_steps wall_s eval_mean eval_std status
rows=()
for seed in $SEEDS; do
    dir="$OUT/seed$seed"
    build/agentd --env "$ENVD_ENDPOINT" --seed "$seed" --total-steps "$BUDGET" \
        --progress 0 --log-level warn --logdir "$dir" "$@" >"$dir.out" 2>"$dir.err"
    status=$?
    get() { sed -n "s/^  \"$1\": \\([^,]*\\),\$/\\1/p" "$dir/summary.json" 2>/dev/null | head -n 1; }
    steps=$(get env_steps_to_target); wall=$(get wall_seconds_to_target)
    [ -n "$wall" ] && [ "$wall" != null ] && wall=$(printf "%.2f" "$wall")
    [ "$steps" = null ] || [ -z "$steps" ] && steps="-" && wall="-"
    em=$(tr -d '\n' <"$dir/summary.json" 2>/dev/null |
         sed -n 's/.*"final_eval": {"mean": \([^,]*\), "std": \([^,]*\),.*/\1 \2/p')
    if [ -n "$em" ]; then em=$(printf '%.2f %.2f' $em); else em="- -"; fi
    printf '%-6s %10s %9s %11s %9s %6s\n' "$seed" "$steps" "$wall" ${em% *} ${em#* } "$status"
    rows+=("$seed $steps $wall $status")
done

printf '%s\n' "${rows[@]}" | awk -v budget="$BUDGET" -v out="$OUT" '
    { n++; s[n] = ($2 == "-") ? budget + 1 : $2; w[n] = ($3 == "-") ? 1e9 : $3; if ($4 != 0) failed++ }
    function median(a, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        ms = median(s, n); mw = median(w, n); worst = s[n]; wworst = w[n]
        printf "median %10s %9s\n", (ms > budget ? "unsolved" : ms), (mw >= 1e9 ? "-" : sprintf("%.2f", mw))
        printf "worst  %10s %9s\n", (worst > budget ? "unsolved" : worst), (wworst >= 1e9 ? "-" : sprintf("%.2f", wworst))
        printf "solved %d of %d within %d env steps; logs in %s\n", n - failed, n, budget, out
    }'
