# plot.gp — the learning curve of an agentd run, from its progress.csv.
#
#   make plot RUN=DIR     (or: gnuplot -e "run='DIR'" agent/plot.gp)
#
# Reads DIR/progress.csv (written by runlog.c) and writes
# DIR/learning_curve.png: x = env_steps; the training return averaged over
# the last 100 episodes (train_return_mean100); the evaluation mean
# (eval_mean), with eval_std as error bars when that column exists; and
# CartPole-v1's solved threshold, 475. Columns are found by name, so any
# others in the file are ignored. Empty cells (NaN, e.g. eval_mean on rows
# without an evaluation) are skipped, and the evaluation points are joined
# across them.

if (!exists("run")) {
    print "usage: gnuplot -e \"run='DIR'\" agent/plot.gp"
    exit status 2
}
csv = run . "/progress.csv"
png = run . "/learning_curve.png"

header = system("head -n 1 '" . csv . "'")
has(col) = strstrt("," . header . ",", "," . col . ",") > 0
if (!has("env_steps")) {
    print csv . ": no env_steps column"
    exit status 1
}
if (int(system("wc -l < '" . csv . "'")) < 2) {
    print csv . ": no rows yet"
    exit status 1
}

set datafile separator comma
set terminal pngcairo size 1000,600 font ",11" noenhanced
set output png
set title "CartPole-v1 learning curve: " . run
set xlabel "environment steps"
set ylabel "episode return"
set xrange [0:*]
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0
set grid
set key top left opaque box samplen 3 width -4
set format x "%.0s%c"

curves = ""
if (has("train_return_mean100")) {
    curves = curves . "csv using 'env_steps':'train_return_mean100' with lines lw 2 lc rgb '#1f77b4' " \
                    . "title 'training return, mean of last 100 episodes', "
}
if (has("eval_mean") && has("eval_std")) {
    curves = curves . "csv using 'env_steps':'eval_mean':'eval_std' with yerrorlines lw 1.5 pt 7 ps 0.7 " \
                    . "lc rgb '#ff7f0e' title 'evaluation return, mean +- std', "
}
if (has("eval_mean") && !has("eval_std")) {
    curves = curves . "csv using 'env_steps':'eval_mean' with linespoints lw 1.5 pt 7 ps 0.7 " \
                    . "lc rgb '#ff7f0e' title 'evaluation return, mean', "
}
eval "plot " . curves . "475 with lines dt 2 lw 2 lc rgb '#2ca02c' title 'solved (475)'"
