#!/usr/bin/env bash
# check.sh -- model-check twill's parking protocol (park.pml) with spin.
#
# Runs two searches on the correct model and on each seeded-bug variant:
#   safety    spin -a park.pml; cc -DSAFETY pan.c; ./pan        (assert !LOST)
#   liveness  spin -DLIVENESS -a park.pml; cc pan.c; ./pan -a   (ltl drain)
# and prints one line per search.  Exits 0 only if the correct model passes
# both AND every bug variant is rejected by both, with the expected kind of
# error (an assertion for safety, an acceptance cycle for liveness): a bug
# variant that "fails" for some other reason (depth limit, out of memory,
# invalid end state) does not count as caught.
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
#   MODEL_FLAGS  extra -D flags for spin, e.g. "-DNP=2 -DK=2" (bigger; the
#                default size keeps the whole script to a few seconds)
#   MODEL_KEEP   a directory: keep each rejected variant's trail and its
#                replay (spin -t -p) there
#   VERBOSE=1    print the tail of each replayed trail
set -u

here=$(cd "$(dirname "$0")" && pwd)
spin=${SPIN:-spin}
cc=${CC:-cc}
read -ra flags <<<"${MODEL_FLAGS:-}"   # a list of -D words
keep=${MODEL_KEEP:-}
maxdepth=10000          # depth of the correct model is ~110; a hit means trouble

command -v "$spin" >/dev/null || { echo "model: spin not found ($spin)"; exit 2; }
command -v "$cc" >/dev/null || { echo "model: C compiler not found ($cc)"; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twill-model.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
[ -n "$keep" ] && mkdir -p "$keep"

now() { date +%s.%N; }

# check VARIANT MODE: VARIANT is "correct" or a bug macro; MODE safety|liveness.
# Prints one line; returns 0 if the outcome is the expected one.
status=0
check() {
    local variant=$1 mode=$2 dir="$tmp/$1-$2" defs=() ccdefs=() panargs=()
    local want err out t0 t1 rc opt=-O1
    # -O0 for the bug variants: their searches stop early, and compiling
    # pan.c costs more than searching.
    [ "$variant" != correct ] && { defs+=("-D$variant"); opt=-O0; }
    if [ "$mode" = safety ]; then
        ccdefs=(-DSAFETY); panargs=(); err='assertion violated'
    else
        defs+=(-DLIVENESS); ccdefs=(); panargs=(-a); err='acceptance cycle'
    fi
    mkdir -p "$dir" && cp "$here/park.pml" "$dir/" || return 1
    t0=$(now)
    out=$(cd "$dir" && "$spin" "${defs[@]}" "${flags[@]}" -a park.pml 2>&1 &&
          "$cc" "$opt" -w "${ccdefs[@]}" -DMEMLIM=1024 -o pan pan.c 2>&1 &&
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
                cp "$dir/park.pml.trail" "$keep/$variant-$mode.trail"
                (cd "$dir" && "$spin" "${defs[@]}" "${flags[@]}" -t -p -g park.pml) \
                    >"$keep/$variant-$mode.replay" 2>&1
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
    printf '%-4s  %-17s %-8s  %s  [%s states, %ss]\n' \
        "$([ $want = yes ] && echo ok || echo FAIL)" "$variant" "$mode" \
        "$what" "${states:-?}" "$secs"
    if [ $want != yes ]; then
        grep -E 'error|Error|pan:' <<<"$out" | head -5 | sed 's/^/    /'
        status=1
    fi
}

echo "model: park.pml with spin $("$spin" -V | awk '{print $3}')${MODEL_FLAGS:+, $MODEL_FLAGS}"
for variant in correct NO_RECHECK LATE_PUBLISH KEY_AFTER_RECHECK NO_EPOCH_BUMP; do
    for mode in safety liveness; do
        check "$variant" "$mode"
    done
done
if [ $status = 0 ]; then
    echo "model: PASS (correct protocol verified; every seeded bug rejected)"
else
    echo "model: FAIL"
fi
exit $status
