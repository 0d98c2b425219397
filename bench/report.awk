# bench/report.awk — turn bench/run's raw results into the report: one table
# per workload, the sleeping-pool, per-join and per-group-task figures, and
# the targets of issues 5 and 10 marked met / not met.  Also writes the plot data (plot.gp).
#
# Usage: awk -F, -v dir=RESULTS -v idle=POLICY -f bench/report.awk RESULTS/raw.csv RESULTS/probes.csv
#   raw.csv:    bench,impl,workers,size,rep,time_s,checksum,ok,idle
#               (ok: 1, 0 for a wrong checksum, or a word: timeout, failed;
#               idle: bench/run's --idle, native without it)
#   probes.csv: probe,impl,workers,metric,value,idle
# Writes dir/speedup.dat (bench impl workers speedup) and dir/overhead.dat
# (T1/Ts, one row per workload, one column per runtime; "-": not run).
#
# Definitions, per workload, from medians over the repetitions:
#   Ts = serial time, Tp = time with p workers, T1/Ts = overhead at 1 worker,
#   speedup = Ts / Tp, vs-twill = Tp(runtime) / Tp(twill) (above 1: twill faster).

BEGIN {
    split("serial twill central omp-gcc omp-clang tbb mutexpool", order, " ")
    nimpl = 7
}

FNR == 1 { file++; next }

file == 1 {
    key = $1 SUBSEP $2 SUBSEP $3
    if (!($1 in seen)) { seen[$1] = 1; benches[++nbench] = $1 }
    size[$1] = $4
    run[$1, $2] = 1
    maxw = $3 > maxw ? $3 : maxw
    if ($8 == "1") times[key] = times[key] " " $6
    else status[key] = $8 == "0" ? "WRONG" : $8
    next
}

{ probe[$1, $2, $4] = $5; pimpl[$1, $2] = 1 }

function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    reps = n
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}

function med(b, impl, w) { return median(times[b, impl, w]) }

function ratio(x, y) {
    if (x == "" || y == "" || y == 0) return "-"
    return sprintf(x / y < 0.095 ? "%.4f" : "%.2f", x / y)
}

function table(b,    i, impl, w, t, ts, t1, tw, rate, st) {
    ts = med(b, "serial", 1)
    rate = b ~ /^submit/
    printf "\n%s: size %s, median of %d reps, Ts = %s s\n", b, size[b], reps, ts == "" ? "?" : ts
    printf "%-10s %7s %11s %7s %8s %9s%s\n", "runtime", "workers", "time_s", "T1/Ts", "speedup",
           "vs-twill", rate ? "   Mtasks/s" : ""
    for (i = 1; i <= nimpl; i++) {
        impl = order[i]
        if (!run[b, impl]) continue
        for (w = 1; w <= (impl == "serial" ? 1 : maxw); w++) {
            t = med(b, impl, w)
            st = status[b, impl, w]
            if (t == "") { printf "%-10s %7d %11s\n", impl, w, st == "" ? "-" : st; continue }
            t1 = w == 1 && impl != "serial" ? ratio(t, ts) : "-"
            tw = impl == "serial" ? "-" : ratio(t, med(b, "twill", w))
            printf "%-10s %7d %11.6f %7s %8s %9s", impl, w, t, t1, ratio(ts, t), tw
            if (rate) printf " %11.2f", size[b] / t / 1e6
            printf "%s\n", st == "" ? "" : "  (" st " in some reps)"
            if (impl != "serial" && ts != "")
                printf "%s %s %d %.4g\n", b, impl, w, ts / t > (dir "/speedup.dat")
        }
        if (impl != "serial") overhead[b, impl] = ratio(med(b, impl, 1), ts)
    }
}

function probes(    i, impl) {
    print "\nsleeping pool (2 workers): idle CPU over 1 s, submit->start latency"
    printf "%-10s %12s %14s %11s\n", "runtime", "idle_cpu_%", "wake_median_us", "wake_p99_us"
    for (i = 1; i <= nimpl; i++) {
        impl = order[i]
        if (!pimpl["idle", impl] && !pimpl["wake", impl]) continue
        printf "%-10s %12s %14s %11s\n", impl, probe["idle", impl, "cpu_pct"],
               probe["wake", impl, "median_us"], probe["wake", impl, "p99_us"]
    }
    print "\nwake-up median (us): producer blocks / keeps running / waits in run; twill also unpinned"
    printf "%-10s %10s %10s %10s %14s %14s\n", "runtime", "block", "spin", "run", "block_nopin",
           "spin_nopin"
    for (i = 1; i <= nimpl; i++) {
        impl = order[i]
        if (!pimpl["wake", impl]) continue
        printf "%-10s %10s %10s %10s %14s %14s\n", impl, probe["wake", impl, "median_us"],
               probe["wake-spin", impl, "median_us"], probe["wake-run", impl, "median_us"],
               probe["wake-nopin", impl, "median_us"], probe["wake-spin-nopin", impl, "median_us"]
    }
    print "\ninstructions at 1 worker (callgrind, minus the serial version)"
    printf "%-10s %12s %16s\n", "runtime", "per_join", "per_group_task"
    for (i = 1; i <= nimpl; i++)
        if (pimpl["join", order[i]] || pimpl["group", order[i]])
            printf "%-10s %12s %16s\n", order[i], probe["join", order[i], "ir_per_join"],
                   probe["group", order[i], "ir_per_task"]
}

function check(what, value, op, limit,    ok) {
    if (value == "" || value == "-") { printf "  %-44s %10s   no data\n", what, "-"; return }
    ok = op == "<=" ? value + 0 <= limit : op == "<" ? value + 0 < limit : value + 0 >= limit
    printf "  %-44s %10.2f   %s (target %s %s)\n", what, value, ok ? "met" : "NOT MET", op, limit
}

function targets(    b, t, tw2) {
    print "\ntargets (issue 5; per group task: issue 10) for twill"
    check("fib T1/Ts", overhead["fib", "twill"], "<=", 2.0)
    check("fib instructions per join", probe["join", "twill", "ir_per_join"], "<=", 17)
    check("nqueens instructions per group task", probe["group", "twill", "ir_per_task"], "<=", 40)
    split("nqueens uts-t1 uts-t3", t, " ")
    for (b = 1; b <= 3; b++) {
        check(t[b] " T1/Ts", overhead[t[b], "twill"], "<=", 1.05)
        tw2 = med(t[b], "twill", 2)
        check(t[b] " speedup at 2 workers", tw2 == "" ? "" : med(t[b], "serial", 1) / tw2, ">=", 1.9)
    }
    tw2 = med("submit-2", "twill", 2)
    check("submit-2 Mtasks/s at 2 workers", tw2 == "" ? "" : size["submit-2"] / tw2 / 1e6, ">=", 10)
    if (idle == "spin") # spinning workers use their cores by design
        printf "  %-44s %10s   not a target under --idle spin\n", "idle CPU % of a core", "-"
    else
        check("idle CPU % of a core", probe["idle", "twill", "cpu_pct"], "<", 1)
    check("wake median us", probe["wake", "twill", "median_us"], "<=", 20)
    print "targets (issue 10): wake-up median over the mutex pool's, pinned"
    check("producer blocks", ratio(probe["wake", "twill", "median_us"],
                                   probe["wake", "mutexpool", "median_us"]), "<=", 1.5)
    check("producer keeps running", ratio(probe["wake-spin", "twill", "median_us"],
                                          probe["wake-spin", "mutexpool", "median_us"]), "<=", 1.5)
}

function overhead_data(    b, i, line) {
    line = "workload"
    for (i = 2; i <= nimpl; i++) line = line " " order[i]
    print line > (dir "/overhead.dat")
    for (b = 1; b <= nbench; b++) {
        line = benches[b]
        for (i = 2; i <= nimpl; i++)
            line = line " " ((benches[b], order[i]) in overhead ? overhead[benches[b], order[i]] : "-")
        print line > (dir "/overhead.dat")
    }
}

END {
    printf "" > (dir "/speedup.dat")
    for (b = 1; b <= nbench; b++) table(benches[b])
    probes()
    targets()
    overhead_data()
}
