#!/usr/bin/env python3
"""The driver of `make bench` (called by Benchmarks/run.sh, which builds what it needs).

Each workload runs as several variants — bare, the two floors (strictrun's filter alone, a
minimal C tracer with the same filter), strictrun, strace — in ALTERNATION: round r runs every
variant once, in an order rotated by r, each timed by hyperfine (`--runs 1`, no shell). Drift
of a noisy machine then hits all variants alike; ratios are medians of per-round ratios.
Before round 1, every variant runs once untimed: a warm-up that also checks its output and,
for strictrun, takes strictrun's own peak RSS (Benchmarks/rsspeek.c).

Environment: ROUNDS (rounds for every workload; default: per workload), ONLY (comma-separated
workload keys; a filtered run merges into the last results), OUT (default BENCHMARKS.md),
REPORT_ONLY=1 (rewrite the report from Benchmarks/last-run.json and Benchmarks/NOTES.md, run
nothing), plus the paths run.sh exports (STRICTRUN, FLOOR_TRACER, RSSPEEK, BENCH_WORK).
"""
import datetime
import json
import os
import sys

from harness import HERE, ROOT, WORK, log, run_workload
from report import machine, markdown, targets
from workloads import workloads

RESULTS = os.path.join(HERE, "last-run.json")
OUT = os.environ.get("OUT", os.path.join(ROOT, "BENCHMARKS.md"))


def main() -> None:
    if os.environ.get("REPORT_ONLY"):
        # Rewrite the report from the last results (after editing Benchmarks/NOTES.md).
        with open(RESULTS) as f:
            data = json.load(f)
        with open(OUT, "w") as f:
            f.write(markdown(data))
        log(f"bench: wrote {OUT} from {RESULTS}")
        return
    os.makedirs(WORK, exist_ok=True)
    only = {k.strip() for k in os.environ.get("ONLY", "").split(",") if k.strip()}
    rounds_env = os.environ.get("ROUNDS")
    load_start = open("/proc/loadavg").read().split()[:3]
    previous = {}
    if only and os.path.exists(RESULTS):
        with open(RESULTS) as f:
            previous = {w["title"]: w for w in json.load(f)["workloads"]}
    chosen = workloads()
    keys = {w.key for w in chosen}
    if only - keys:
        sys.exit(f"bench: unknown workload(s) {', '.join(sorted(only - keys))}; known: {', '.join(sorted(keys))}")
    results = []
    for w in chosen:
        if only and w.key not in only:
            if w.title in previous:
                results.append(previous[w.title])
            continue
        rounds = int(rounds_env) if rounds_env else w.rounds
        log(f"== [{w.key}] {w.title}: {len(w.variants) or 'suite'} variants × {rounds} rounds")
        results.append(w.runner(w, rounds) if w.runner else run_workload(w, rounds))
    data = {"finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "load_start": load_start, "workloads": results}
    data["targets"] = targets(results)
    with open(RESULTS, "w") as f:
        json.dump(data, f, indent=1)
    with open(OUT, "w") as f:
        f.write(markdown(data))
    log(f"bench: wrote {OUT} and {RESULTS}")
    for t in data["targets"]:
        met = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        log(f"  {met:6} {t['target']}: {t['value']} (limit {t['limit']})")


if __name__ == "__main__":
    main()
