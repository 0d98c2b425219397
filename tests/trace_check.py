#!/usr/bin/env python3
"""tests/trace_check.py — check a twill trace file (twill_config.trace_path).

  python3 tests/trace_check.py FILE [--expect KEY=N ...] [--name SYMBOL] [--thread TID ...]
                               [--exact | --live]

Checks that FILE parses as JSON (python's json module) in the Trace Event
Format's JSON Object Format, as Perfetto and chrome://tracing read it:
  - {"otherData": {...}, "traceEvents": [...]}, otherData first;
  - every event has ph X, i or M, integer pid and tid, and a ts; X events a
    dur >= 0, instants a thread scope; strings without \\u escapes or control
    characters (Perfetto's tokenizer rejects both);
  - a thread_name for every track; one track per worker plus the outside one;
  - per track, X events in file order sorted by start (longer first) and
    perfectly nested (Perfetto and chrome://tracing require it);
  - per worker, with nothing dropped, the events agree with the worker's
    counters in otherData: task runs (every kind but loop chunks and
    broadcast shares) = tasks_run, steal instants = steals, parks = parks.
--exact: also, per worker with nothing dropped, the time split of otherData
  equals the one computed from the spans to the nanosecond (run = exclusive
  time of task spans, wait = of helping waits, park = parks); only for a
  trace written after shutdown (a live trace has spans still open).
--live: a trace written while the pool ran: its counters were read at
  another moment than its events, so they are not compared.
--expect KEY=N: totals over the file: workers, tasks, steals, parks,
  outside (outside submissions), dropped (dropped_events), kept (events on
  worker tracks).
--name SYMBOL: some task event is named SYMBOL (dladdr found it); repeatable.
--thread TID: the outside submissions came from exactly the threads given
  (repeatable).
Exit status 0 when every check passes; otherwise each failure is printed.
"""
import argparse
import decimal
import json
import sys

TASK_CATS = {"submit", "spawn", "run", "join"}   # counted in tasks_run
ALL_TASK_CATS = TASK_CATS | {"broadcast", "chunk"}
OUTSIDE_TID = 1025                               # TWILL_MAX_WORKERS + 1


def ns(x):
    """A ts or dur in microseconds (exact Decimal) as integer nanoseconds."""
    return int(x * 1000)


def check_nesting(events, fail, tid):
    """events: the X events of one track in file order. Returns the exclusive
    time per category (ns) if they nest perfectly."""
    spans = [(ns(e["ts"]), ns(e["dur"]), e.get("cat")) for e in events]
    for a, b in zip(spans, spans[1:]):
        if (a[0], -a[1]) > (b[0], -b[1]):
            fail(f"tid {tid}: X events not sorted by start at ts {b[0]} ns")
            return {}
    excl = {}
    stack = []  # [end, category, exclusive time so far]
    def close(top):
        excl[top[1]] = excl.get(top[1], 0) + top[2]
    for start, dur, cat in spans:
        end = start + dur
        while stack and start >= stack[-1][0]:
            close(stack.pop())
        if stack:
            if end > stack[-1][0]:
                fail(f"tid {tid}: span [{start}, {end}) ns overlaps its parent "
                     f"ending at {stack[-1][0]} ns")
                return {}
            stack[-1][2] -= dur
        stack.append([end, cat, dur])
    while stack:
        close(stack.pop())
    return excl


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--expect", action="append", default=[], metavar="KEY=N")
    ap.add_argument("--name", action="append", default=[])
    ap.add_argument("--thread", type=int, action="append", default=[])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--exact", action="store_true")
    mode.add_argument("--live", action="store_true")
    args = ap.parse_args()
    failures = []
    fail = failures.append

    with open(args.file, encoding="utf-8") as f:
        text = f.read()
    if "\\u" in text:
        fail("a \\u escape (Perfetto's tokenizer rejects it)")
    doc = json.loads(text, parse_float=decimal.Decimal)
    if not isinstance(doc, dict) or list(doc)[:2] != ["otherData", "traceEvents"]:
        sys.exit("not {\"otherData\": ..., \"traceEvents\": [...]}")
    other, events = doc["otherData"], doc["traceEvents"]
    for key in ("twill_version", "pool", "topology", "clock", "dropped_events", "outside",
                "workers", "trace_events_per_track"):
        if key not in other:
            fail(f"otherData has no {key}")
    workers = other.get("workers", [])

    names, tracks = {}, {}
    for e in events:
        ph = e.get("ph")
        if ph not in ("X", "i", "M") or not isinstance(e.get("pid"), int) or \
                not isinstance(e.get("tid"), int) or "ts" not in e or \
                not isinstance(e.get("name"), str):
            fail(f"malformed event {e}")
            continue
        if ph == "M":
            if e["name"] == "thread_name":
                names[e["tid"]] = e["args"]["name"]
            continue
        if e["ts"] < 0 or (ph == "X" and not e.get("dur", -1) >= 0) or \
                (ph == "i" and e.get("s") != "t"):
            fail(f"bad ts, dur or scope: {e}")
        if any(isinstance(v, (list, dict)) for v in e.get("args", {}).values()):
            fail(f"nested args (Perfetto reads flat ones only): {e}")
        tracks.setdefault(e["tid"], []).append(e)
    for tid in tracks:
        if tid not in names:
            fail(f"tid {tid} has no thread_name")
    if OUTSIDE_TID not in names:
        fail("no outside track")
    for w in workers:
        if w["tid"] not in names or not names[w["tid"]].startswith(f"worker {w['id']}"):
            fail(f"worker {w['id']} has no track named 'worker {w['id']}...'")

    totals = {"workers": len(workers), "tasks": 0, "steals": 0, "parks": 0, "kept": 0,
              "outside": len(tracks.get(OUTSIDE_TID, [])),
              "dropped": other.get("dropped_events")}
    dropped = other.get("outside", {}).get("dropped", 0)
    for w in workers:
        evs = tracks.get(w["tid"], [])
        x = [e for e in evs if e["ph"] == "X"]
        tasks = sum(1 for e in x if e.get("cat") in TASK_CATS)
        steals = sum(1 for e in evs if e.get("cat") == "steal")
        parks = sum(1 for e in x if e.get("cat") == "park")
        totals["tasks"] += tasks
        totals["steals"] += steals
        totals["parks"] += parks
        totals["kept"] += len(evs)
        dropped += w["dropped"]
        if len(evs) != w["events"]:
            fail(f"worker {w['id']}: {len(evs)} events in the file, otherData says {w['events']}")
        excl = check_nesting(x, fail, w["tid"])
        if w["dropped"] != 0 or args.live:
            continue
        for what, got, want in (("tasks", tasks, w["tasks_run"]),
                                ("steals", steals, w["steals"]),
                                ("parks", parks, w["parks"])):
            if got != want:
                fail(f"worker {w['id']}: {got} {what} in the trace, its stats say {want}")
        if args.exact and excl:
            split = {"run_ns": sum(v for k, v in excl.items() if k in ALL_TASK_CATS),
                     "wait_ns": excl.get("wait", 0), "park_ns": excl.get("park", 0)}
            for k, v in split.items():
                if v != w[k]:
                    fail(f"worker {w['id']}: {k} is {w[k]}, its spans give {v}")
    if dropped != other.get("dropped_events"):
        fail(f"dropped_events {other.get('dropped_events')} is not the sum over tracks {dropped}")

    for kv in args.expect:
        key, _, val = kv.partition("=")
        if key not in totals:
            sys.exit(f"unknown --expect key {key}")
        if totals[key] != int(val):
            fail(f"{key}: {totals[key]} in the trace, expected {val}")
    for name in args.name:
        if not any(e.get("name") == name and e.get("cat") in ALL_TASK_CATS
                   for t in tracks.values() for e in t):
            fail(f"no task event named {name}")

    if args.thread:
        seen = {e["args"]["thread"] for e in tracks.get(OUTSIDE_TID, [])}
        if seen != set(args.thread):
            fail(f"outside submissions from threads {sorted(seen)}, not {sorted(args.thread)}")
    for msg in failures:
        print(f"{args.file}: {msg}")
    if not failures:
        print(f"{args.file}: ok ({len(events)} events; " +
              ", ".join(f"{k} {v}" for k, v in totals.items()) + ")")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
