# bench/trace.gp — the trace pictures of bench/run, from one traced run of a
# fine-grained workload per scheduler (bench/trace-summary --timeline/--split):
#   timeline.png     per scheduler, one row per worker over time: running a
#                    task (green), in a helping wait between tasks (orange),
#                    parked (grey), looking for work (white: no span), and
#                    steals (red ticks above the row).  Nested spans are
#                    drawn over their parents, so the colour is what the
#                    worker was doing at that moment.
#   utilisation.png  per worker and scheduler, the share of its time
#                    running / searching / parked / waiting.
# Called by bench/run as  gnuplot -e "dir='bench/results'" bench/trace.gp
# Data: dir/timeline-{twill,central}.dat ("worker start_ms end_ms state",
# state 1 run, 2 wait, 3 park, 4 steal) and dir/split.dat ("label run%
# search% park% wait%", one line per worker and scheduler).

impls = "twill central"
label(i) = i eq 'twill' ? 'work stealing' : 'central queue'
colour(s) = s == 1 ? 0x2ca02c : s == 2 ? 0xff7f0e : 0x999999

set terminal pngcairo size 1600,900 font ",10"
set output dir.'/timeline.png'
set multiplot layout 2,1 title 'fib, one traced run per scheduler: what each worker does over time'
set xlabel 'ms since the first event'
set ylabel 'worker'
set ytics 1
set grid xtics
unset key
do for [i in impls] {
    f = dir.'/timeline-'.i.'.dat'
    stats f using 1 nooutput
    set yrange [STATS_min - 0.6 : STATS_max + 0.6]
    set title label(i).' (green: running, orange: helping wait, grey: parked, white: searching, red: steal)'
    plot f using 2:($4 < 4 ? $1 : NaN):($3 - $2):(0):(colour($4)) \
             with vectors nohead lw 14 lc rgb variable, \
         f using 2:($4 == 4 ? $1 + 0.35 : NaN) with points pt 7 ps 0.5 lc rgb 'red'
}
unset multiplot

set output dir.'/utilisation.png'
set terminal pngcairo size 1000,600 font ",10"
set title 'fib, one traced run: share of each worker''s time'
set ylabel '% of the worker''s lifetime'
set xlabel ''
set yrange [0:100]
set ytics 10
set key outside right top
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.7
set xtics rotate by -30 scale 0
set grid ytics
plot for [k = 2:5] dir.'/split.dat' using k:xtic(1) lc rgb word("#2ca02c #1f77b4 #999999 #ff7f0e", k - 1) \
     title word("running searching parked waiting", k - 1)
