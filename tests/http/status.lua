-- tests/http/status.lua — wrk script: count responses by status code, and
-- print one machine-readable line at the end (threads' counts summed).
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok, busy, other = 0, 0, 0
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
    elseif status == 503 then
        busy = busy + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local o, b, x = 0, 0, 0
    for _, t in ipairs(threads) do
        o = o + t:get("ok")
        b = b + t:get("busy")
        x = x + t:get("other")
    end
    local e = summary.errors
    io.write(string.format(
        "wrk: requests=%d ok=%d busy503=%d other=%d socket_errors=%d rps=%.0f p50_us=%d p99_us=%d\n",
        summary.requests, o, b, x, e.connect + e.read + e.write + e.timeout,
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99)))
end
