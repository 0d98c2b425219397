#!/usr/bin/env bash
# check.sh -- model-check twill's idle protocol (spinning + parking,
# park.pml) with spin.
#
# Runs two searches on the correct model and on each seeded-bug variant:
#   safety    spin -a park.pml; cc -DSAFETY pan.c; ./pan        (assert !LOST)
#   liveness  spin -DLIVENESS -a park.pml; cc pan.c; ./pan -a   (ltl drain)
# at the default size (2 workers), plus, with 3 workers (a smaller
# configuration, safety only: liveness there costs ~13 s), the correct model
# and SLEPT_TAKES_DIRECTLY, which needs a third worker to go wrong (see
# park.pml), and with 3 workers and a spawn (size "3s"), the correct model
# and HANDOVER_INJECTOR_ONLY, which needs both.  Prints one line per search.
# Exits 0 only if the correct model passes every search AND every bug
# variant is rejected by every search, with the expected kind of error (an
# assertion for safety, an acceptance cycle for liveness): a bug variant
# that "fails" for some other reason (depth limit, out of memory, invalid
# end state) does not count as caught.
#
# Why liveness runs without -f (weak fairness): every run of the model is
# finite (see park.pml), so a lost wake-up shows up as a terminal state with
# work queued, which spin reports as an acceptance cycle through its stutter
# extension.  Spin 6.5.2's -f construction does not report that stutter, so
# with -f every bug variant passes; without -f the correct model passes even
# with unfair schedules allowed, which is the stronger statement.
#
# Environment:
#   SPIN         spin binary (default: spin)
#   CC           C compiler for pan.c (default: cc)
#   MODEL_FLAGS  extra -D flags for spin for the 2-worker runs, e.g.
#                "-DTRIES=2" (bigger; the default size keeps the whole script
#                to about half a minute)
#   MODEL3_FLAGS the -D flags of the 3-worker runs (default: $flags3 below)
#   MODEL3S_FLAGS the same for the 3-worker runs with a spawn ($flags3s)
#   MODEL_KEEP   a directory: keep each rejected variant's trail and its
#                replay (spin -t -p) there
#   VERBOSE=1    print the tail of each replayed trail
set -u

here=$(cd "$(dirname "$0")" && pwd)
spin=${SPIN:-spin}
cc=${CC:-cc}
read -ra flags2 <<<"${MODEL_FLAGS:-}"  # lists of -D words
read -ra flags3 <<<"${MODEL3_FLAGS:--DNW=3 -DNP=1 -DK=3 -DSPAWN=0 -DSPURIOUS=0}"
read -ra flags3s <<<"${MODEL3S_FLAGS:--DNW=3 -DNP=1 -DK=2 -DSPAWN=1 -DSPURIOUS=0}"
keep=${MODEL_KEEP:-}
maxdepth=10000          # the correct model's depth is ~160 (safety) and ~280
                        # (liveness); a hit means trouble

command -v "$spin" >/dev/null || { echo "model: spin not found ($spin)"; exit 2; }
command -v "$cc" >/dev/null || { echo "model: C compiler not found ($cc)"; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twill-model.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
[ -n "$keep" ] && mkdir -p "$keep"

now() { date +%s.%N; }

# check VARIANT MODE WORKERS: VARIANT is "correct" or a bug macro; MODE
# safety|liveness; WORKERS 2 (default size, MODEL_FLAGS) or 3 (MODEL3_FLAGS).
# Prints one line; returns 0 if the outcome is the expected one.
status=0
check() {
    local variant=$1 mode=$2 nw=$3 dir="$tmp/$1-$2-$3" defs=() ccdefs=() panargs=()
    local want err out t0 t1 rc opt=-O1 flags=()
    case $nw in
        3) flags=("${flags3[@]}") ;;
        3s) flags=("${flags3s[@]}") ;;
        *) flags=("${flags2[@]}") ;;
    esac
    # -O0 for the bug variants: their searches stop early, and compiling
    # pan.c costs more than searching.  -DREVERSE (pan tries the processes
    # in the other order) only changes the search order; it reaches every
    # counterexample here sooner (WOKEN_TAKES_DIRECTLY: 0.5 M states instead
    # of 3 M).
    [ "$variant" != correct ] && { defs+=("-D$variant"); opt="-O0 -DREVERSE"; }
    if [ "$mode" = safety ]; then
        ccdefs=(-DSAFETY); panargs=(); err='assertion violated'
    else
        defs+=(-DLIVENESS); ccdefs=(); panargs=(-a); err='acceptance cycle'
    fi
    mkdir -p "$dir" && cp "$here/park.pml" "$dir/" || return 1
    t0=$(now)
    out=$(cd "$dir" && "$spin" "${defs[@]}" "${flags[@]}" -a park.pml 2>&1 &&
          "$cc" $opt -w "${ccdefs[@]}" -DMEMLIM=1024 -o pan pan.c 2>&1 &&
          ./pan -m$maxdepth "${panargs[@]}" 2>&1)
    rc=$?
    t1=$(now)
    local states errors secs
    states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | head -1)
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local what
    if [ "$rc" -ne 0 ] || [ -z "$errors" ]; then
        what="ERROR (spin/cc/pan failed, rc=$rc)"; want=no
    elif grep -q 'max search depth too small\|out of memory' <<<"$out"; then
        what="INCOMPLETE (depth or memory limit)"; want=no
    elif [ "$variant" = correct ]; then
        if [ "$errors" = 0 ]; then what="no lost wake-up"; want=yes
        else what="VIOLATION: $(grep -m1 '^pan:1:' <<<"$out")"; want=no; fi
    else
        if [ "$errors" != 0 ] && grep -q "^pan:1: $err" <<<"$out"; then
            what="rejected as expected ($(grep -m1 '^pan:1:' <<<"$out" |
                   sed 's/^pan:1: //; s/  *!(.*) / /; s/ (at depth \([0-9]*\))/ at depth \1/'))"
            want=yes
            if [ -n "$keep" ]; then
                cp "$dir/park.pml.trail" "$keep/$variant-$mode-${nw}w.trail"
                (cd "$dir" && "$spin" "${defs[@]}" "${flags[@]}" -t -p -g park.pml) \
                    >"$keep/$variant-$mode-${nw}w.replay" 2>&1
            fi
            if [ "${VERBOSE:-0}" = 1 ]; then
                (cd "$dir" && "$spin" "${defs[@]}" "${flags[@]}" -t -p -g park.pml) 2>&1 |
                    tail -25 | sed 's/^/    /'
            fi
        elif [ "$errors" = 0 ]; then
            what="NOT CAUGHT: spin found no violation"; want=no
        else
            what="WRONG ERROR: $(grep -m1 '^pan:1:' <<<"$out")"; want=no
        fi
    fi
    printf '%-4s  %-23s %-8s %sw  %s  [%s states, %ss]\n' \
        "$([ $want = yes ] && echo ok || echo FAIL)" "$variant" "$mode" "$nw" \
        "$what" "${states:-?}" "$secs"
    if [ $want != yes ]; then
        grep -E 'error|Error|pan:' <<<"$out" | head -5 | sed 's/^/    /'
        status=1
    fi
}

echo "model: park.pml with spin $("$spin" -V | awk '{print $3}')${MODEL_FLAGS:+, $MODEL_FLAGS}; 3 workers: ${flags3[*]}; 3s: ${flags3s[*]}"
for variant in correct NO_RECHECK LATE_PUBLISH ARM_AFTER_RECHECK NO_CLAIM \
               NO_HANDOVER HANDOVER_BEFORE_SPIN_END SPIN_END_AFTER_ANNOUNCE \
               WOKEN_TAKES_DIRECTLY; do
    for mode in safety liveness; do
        check "$variant" "$mode" 2
    done
done
for variant in correct SLEPT_TAKES_DIRECTLY; do
    check "$variant" safety 3
done
for variant in correct HANDOVER_INJECTOR_ONLY; do
    check "$variant" safety 3s
done
if [ $status = 0 ]; then
    echo "model: PASS (correct protocol verified; every seeded bug rejected)"
else
    echo "model: FAIL"
fi
exit $status
