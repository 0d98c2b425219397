# bench/sweep.gp — the pool-size comparison of bench/run --sweep: for the
# CPU-bound and the blocking workload, throughput and p99 latency against the
# worker count (log scales), one line per queue capacity.
# Called by bench/run as  gnuplot -e "dir='bench/results'" bench/sweep.gp
set terminal pngcairo size 1400,900 font ",10"
set output dir.'/sweep.png'
set multiplot layout 2,2 title 'pool size: undersized and oversized pools (cpu: 50 us of CPU per task; io: 1 ms asleep per task)'
set logscale x 2
set xlabel 'workers'
set key top left
set grid
f = dir.'/sweep.dat'
do for [k in "cpu io"] {
    set title k.': throughput (higher is better)'
    set ylabel 'tasks/s'
    unset logscale y
    plot for [q in "16 256 4096"] f using (strcol(1) eq k && strcol(3) eq q ? $2 : 1/0):4 \
         with linespoints title 'queue '.q
    set title k.': p99 latency, submit to finish (lower is better)'
    set ylabel 'us'
    set logscale y
    plot for [q in "16 256 4096"] f using (strcol(1) eq k && strcol(3) eq q ? $2 : 1/0):6 \
         with linespoints title 'queue '.q
}
unset multiplot
