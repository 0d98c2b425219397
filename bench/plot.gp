# bench/plot.gp — the PNG of bench/run: one panel per workload with the
# speedup Ts/Tp of every runtime against the worker count (log scale, so that
# speedups far below 1 stay readable; the dashed line is linear speedup), and
# a last panel with each runtime's overhead T1/Ts per workload (log scale;
# 1 = as fast as the serial code).
# Data from bench/report.awk.  Called by bench/run as
#   gnuplot -e "dir='bench/results'; benches='fib ...'; impls='twill ...';
#               present=' fib/twill fib/tbb ... '; maxw=2" bench/plot.gp
# impls must be the runtime columns of overhead.dat, in order; present lists
# the workload/runtime pairs that ran, so that only those get a key entry.

set terminal pngcairo size 1800,1100 font ",10"
set output dir.'/speedup.png'
set datafile missing '-'
panels = words(benches) + 1
cols = 4
set multiplot layout ceil(panels / real(cols)), cols \
    title 'twill and peers: speedup Ts/Tp per workload (higher is better); last panel: overhead T1/Ts (lower is better)'

set key top left font ",8"
set xlabel 'workers'
set ylabel 'speedup'
set xrange [0.8:maxw + 0.2]
set xtics 1
set logscale y
ran(b, i) = strstrt(present, ' '.b.'/'.i.' ') > 0
do for [b in benches] {
    set title b
    plot x with lines dashtype 2 lc 'gray' notitle, \
         for [k = 1:words(impls)] dir.'/speedup.dat' \
             using (strcol(1) eq b && strcol(2) eq word(impls, k) ? $3 : NaN):4 \
             with linespoints lt k title (ran(b, word(impls, k)) ? word(impls, k) : '')
}

set title 'overhead T1/Ts at 1 worker'
set xlabel ''
set ylabel 'T1/Ts'
set key top right
stats dir.'/overhead.dat' using 0 nooutput
set xrange [-0.5:STATS_records - 0.5]
set xtics rotate by -45 scale 0
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
plot for [k = 1:words(impls)] dir.'/overhead.dat' using k + 1:xtic(1) lt k title word(impls, k)
unset multiplot
