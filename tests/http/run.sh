#!/usr/bin/env bash
# tests/http/run.sh SERVER [stealing|central] — examples/http_server against
# real clients on 127.0.0.1: curl for every endpoint and every error, wrk at
# three concurrency levels (zero socket errors, every response 200 or 503,
# the rates and latencies printed), /health (HIGH) answered 200 while the
# queue is full, and a SIGTERM during load (the server
# must exit 0: every request it dispatched was answered).  Exits 1 on the
# first failure.
set -u
server=$1 sched=${2:-stealing}
dir=$(dirname "$0")
log=$(mktemp)
fail() { echo "FAIL: $*"; kill "$pid" 2>/dev/null; exit 1; }

start() { # start the server, set pid and base
    "$server" --workers 2 --queue 16 --sched "$sched" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do # up to 5 s for "listening on PORT"
        port=$(awk '/^listening on/ { print $3 }' "$log")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || fail "server exited: $(cat "$log")"
        sleep 0.05
    done
    [ -n "$port" ] || fail "server never printed its port"
    base=http://127.0.0.1:$port
}

expect() { # expect CODE BODY_SUBSTRING CURL_ARGS...
    local code=$1 want=$2 out
    shift 2
    out=$(curl -s --max-time 10 -w '\n%{http_code}' "$@") || fail "curl $* failed"
    [ "${out##*$'\n'}" = "$code" ] || fail "curl $*: status ${out##*$'\n'}, want $code"
    [[ $out == *"$want"* ]] || fail "curl $*: body lacks '$want'"
    local url=${*: -1}
    echo "ok: $code ${url:0:60}"
}

raw() { # raw REQUEST: the status line the server answers to raw bytes
    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect"
    printf '%b' "$1" >&3
    local line
    IFS= read -r -t 5 line <&3
    exec 3>&-
    echo "${line%$'\r'}"
}

start
expect 200 "ok" "$base/health"
expect 200 "fib(20) = 6765" "$base/fib?n=20"
expect 200 "slept 20 ms" "$base/sleep?ms=20"
expect 200 '"dispatched"' "$base/stats"
expect 404 "not found" "$base/nope"
expect 400 "n must be" "$base/fib?n=99"
expect 400 "ms must be" "$base/sleep?ms=-5"
expect 405 "GET only" -X POST "$base/health"
expect 413 "too large" --data-binary @<(head -c 100000 /dev/zero) "$base/health"
expect 413 "too large" "$base/$(head -c 3000 /dev/zero | tr '\0' a)"
line=$(raw 'GARBAGE\r\n\r\n'); [[ $line == "HTTP/1.1 400"* ]] || fail "garbage: '$line'"
echo "ok: 400 for garbage"
line=$(raw 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /fib?n=10 HTTP/1.1\r\nHost: x\r\n\r\n')
[[ $line == "HTTP/1.1 200"* ]] || fail "pipelined: '$line'"
echo "ok: keep-alive and pipelined requests"

for c in 4 64 256; do
    out=$(wrk -t2 -c$c -d2s -s "$dir/status.lua" "$base/fib?n=25" 2>&1 | grep '^wrk:')
    echo "$sched c=$c $out"
    [ -n "$out" ] || fail "wrk printed no result"
    v() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$out"; }
    [ "$(v socket_errors)" = 0 ] || fail "socket errors at c=$c"
    [ "$(v other)" = 0 ] || fail "responses other than 200/503 at c=$c"
    [ "$(v requests)" -gt 0 ] || fail "no requests at c=$c"
done
expect 200 "ok" "$base/health" # still answering after the load

# /health is HIGH: answered 200 while the NORMAL queue is full (503s).
wrk -t2 -c256 -d2s "$base/fib?n=25" >/dev/null 2>&1 &
load=$!
sleep 0.5 # let the load fill the queue first (a delay, not synchronisation)
for _ in 1 2 3; do expect 200 "ok" "$base/health"; done
wait "$load"

# SIGTERM under load: every dispatched request is answered, exit 0.
wrk -t2 -c32 -d3s -s "$dir/status.lua" "$base/sleep?ms=5" >/dev/null 2>&1 &
load=$!
sleep 1 # let the load run a while first (a delay, not synchronisation)
kill -TERM "$pid"
wait "$pid"
rc=$?
wait "$load"
tail -1 "$log"
[ $rc -eq 0 ] || fail "server exited $rc after SIGTERM under load"
echo "ok: SIGTERM under load drained and exited 0"
echo "http test ($sched): passed"
