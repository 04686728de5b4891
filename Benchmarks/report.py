"""The report of `make bench`: targets met or missed, the machine, BENCHMARKS.md."""
import os
import re
import statistics
import subprocess

from harness import HERE, ROOT, S, real_python


# ---- targets ----------------------------------------------------------------------------

def paired(results: dict, title_part: str, num: str, den: str):
    """Median of per-round ratios num/den within the workload whose title contains title_part."""
    for w in results.values() if isinstance(results, dict) else results:
        if title_part not in w["title"]:
            continue
        vs = {v["key"]: v for v in w["variants"]}
        if num not in vs or den not in vs:
            return None
        a = dict(zip(vs[num]["rounds"], vs[num]["times"]))
        b = dict(zip(vs[den]["rounds"], vs[den]["times"]))
        ratios = [a[r] / b[r] for r in a if r in b and b[r] > 0]
        return (statistics.median(ratios), min(ratios), max(ratios)) if ratios else None
    return None


def key_of(label_start: str, w: dict):
    for v in w["variants"]:
        if v["label"].startswith(label_start):
            return v["key"]
    return None


def targets(all_results: list) -> list:
    rows = []

    def ratio_row(name, title_part, num_label, den_label, limit, unit_note):
        for w in all_results:
            if title_part in w["title"] and not w.get("pending"):
                num, den = key_of(num_label, w), key_of(den_label, w)
                p = paired([w], title_part, num, den) if num and den else None
                if p:
                    rows.append({"target": name, "limit": f"≤ {limit}× {unit_note}",
                                 "value": f"{p[0]:.3f}× ({p[1]:.3f}–{p[2]:.3f})", "met": p[0] <= limit})
                return
        rows.append({"target": name, "limit": f"≤ {limit}× {unit_note}", "value": "not measured", "met": None})

    ratio_row("(1) node --jitless -e 0, microkernel", "`node --jitless -e 0`", "strictrun", "bare", 1.02, "bare")
    # issue 17: the launcher's fixed cost, TLS routed by default in microkernel.
    ratio_row("(17) run /bin/true, microkernel", "strictrun's fixed cost", "strictrun microkernel", "floor tracer", 1.5,
              "floor tracer")
    ratio_row("(17) node --jitless -e 0, microkernel (TLS routed)", "`node --jitless -e 0`", "strictrun",
              "bare + trust env", 1.03, "bare with the same trust variables")
    ratio_row("(17) 1,000 non-TLS loopback connects, microkernel-ports", "`connect_loop 1000`",
              "strictrun microkernel-ports", "bare", 1.10, "bare")
    # issue 19: every TCP stream mediated in microkernel.
    ratio_row("(19) 2 GiB plain stream relayed by the broker, microkernel", "`stream_bench 2048`",
              "strictrun microkernel (relayed", "bare", 1.25, "bare (≥ 80 % of direct throughput)")
    ratio_row("(17) node --jitless -e 0, genode", "under the fs/net presets", "strictrun genode", "bare", 1.08, "bare")
    ratio_row("(1) node (W^X flags) -e 0, apple-jit", "`node <W^X flags> -e 0`", "strictrun", "bare", 1.02, "bare")
    ratio_row("(2) jit_heavy.js, W^X flags, apple-jit", "with the W^X flags", "strictrun", "bare", 1.02, "bare")
    ratio_row("(2) jit_heavy.js, full JIT, nothing trips", "with the full JIT", "strictrun jit-allowed", "bare",
              1.02, "bare")
    ratio_row("(3) dd bs=1, microkernel", "`dd ", "strictrun", "filter only", 1.03, "plain filter")
    for script, limit in (("loop.js", 1.3), ("functions.js", 1.3), ("http.js", 1.3), ("regexps.js", 5.0)):
        ratio_row(f"(9) {script} under microkernel-jit", f"Examples/jit/{script}`", "strictrun", "bare", limit, "bare")
    ratio_row("(10) node --jitless -e 0, genode", "under the fs/net presets", "strictrun genode", "bare", 1.10, "bare")
    flips = [v.get("wx_emulation") for w in all_results if w.get("key") == "wxemu" for v in w["variants"]
             if v.get("wx_emulation", {}).get("flips", 0) >= 1000]
    if flips:
        worst = max(x["handler_us_per_flip"] for x in flips)
        rows.append({"target": "(9) tracer CPU per flip (workloads with ≥ 1,000 flips)", "limit": "≤ 15 µs",
                     "value": f"{worst:.1f} µs (worst)", "met": worst <= 15})
    storm = next((w for w in all_results if "`Examples/bin/storm N`" in w["title"] and w.get("derived")), None)
    d = {r["key"]: r for r in (storm or {}).get("derived", [])}
    if "nostacks" in d and d["nostacks"].get("x_floor"):
        x = d["nostacks"]["x_floor"]
        rows.append({"target": "(4) storm, per event, no stack", "limit": "≤ 1.2× minimal tracer",
                     "value": f"{x:.2f}× ({d['nostacks']['per_event_us']:.1f} µs vs "
                              f"{d['floor']['per_event_us']:.1f} µs)", "met": x <= 1.2})
    else:
        rows.append({"target": "(4) storm, per event, no stack", "limit": "≤ 1.2× minimal tracer",
                     "value": "not measured", "met": None})
    if "stacks" in d:
        us = d["stacks"]["per_event_us"]
        rows.append({"target": "(4) storm, per event, a stack each (after warm-up)", "limit": "≤ 300 µs",
                     "value": f"{us:.0f} µs", "met": us <= 300})
    else:
        rows.append({"target": "(4) storm, per event with a stack", "limit": "≤ 300 µs", "value": "not measured",
                     "met": None})
    nstorm = next((w for w in all_results if "node_storm.js" in w["title"] and w.get("derived")), None)
    nd = {r["key"]: r for r in (nstorm or {}).get("derived", [])}
    if "stacks" in nd and "nostacks" in nd:
        us = nd["stacks"]["per_event_us"] - nd["nostacks"]["per_event_us"]
        rows.append({"target": "(4) Node storm, added cost of a stack per event (after warm-up)",
                     "limit": "≤ 300 µs", "value": f"{us:.0f} µs ({nd['stacks']['per_event_us']:.0f} vs "
                                                 f"{nd['nostacks']['per_event_us']:.0f} µs per event)",
                     "met": us <= 300})
    ratio_row("(5) thread storm, microkernel", "thread storm", "strictrun", "bare", 1.02, "bare")
    rows += tls_targets(next((w for w in all_results if w["key"] == "tls"), None))
    ratio_row("(7) CPython slice, microkernel", "conformance", "strictrun", "native", 1.15, "native")
    return rows


def metric_pairs(w: dict, num: str, den: str) -> list:
    """(num, den) metric values of the same rounds."""
    vs = {v["key"]: v for v in w["variants"]}
    if num not in vs or den not in vs:
        return []
    a = dict(zip(vs[num].get("metric_rounds", []), vs[num].get("metric", [])))
    b = dict(zip(vs[den].get("metric_rounds", []), vs[den].get("metric", [])))
    return [(a[r], b[r]) for r in a if r in b]


def tls_targets(w) -> list:
    if not w or w.get("pending"):
        value = (w or {}).get("pending") or "not measured"
        return [{"target": "(6) TLS", "limit": "≤ +2 ms per handshake, ≥ 60 % of direct MB/s", "value": value,
                 "met": None}]
    rows = []
    for num, den, what, limit in (("hs-broker", "hs-direct", "small bundle", 2),
                                  ("hs-broker-launched", "hs-direct-launched", "as launched", 2),
                                  ("first-broker", "first-direct", "first request, broker started by it", 5)):
        pairs = metric_pairs(w, num, den)
        if pairs:
            extra = [a - b for a, b in pairs]
            d = statistics.median(extra)
            name = ("(17) first HTTPS request through the lazily started broker" if num == "first-broker"
                    else f"(6) TLS handshake through the broker ({what})")
            rows.append({"target": name, "limit": f"≤ +{limit} ms",
                         "value": f"{d:+.2f} ms ({min(extra):+.2f} – {max(extra):+.2f}; "
                                  f"{statistics.median(a for a, _ in pairs):.2f} vs "
                                  f"{statistics.median(b for _, b in pairs):.2f} ms)", "met": d <= limit})
    pairs = metric_pairs(w, "bulk-broker", "bulk-direct")
    if pairs:
        ratios = [a / b for a, b in pairs if b > 0]
        r = statistics.median(ratios)
        rows.append({"target": "(6) TLS throughput through the broker", "limit": "≥ 60 % of direct",
                     "value": f"{100 * r:.0f} % ({100 * min(ratios):.0f} – {100 * max(ratios):.0f} %; "
                              f"{statistics.median(a for a, _ in pairs):.0f} vs "
                              f"{statistics.median(b for _, b in pairs):.0f} MB/s)", "met": r >= 0.6})
    return rows or [{"target": "(6) TLS", "limit": "≤ +2 ms per handshake, ≥ 60 % of direct MB/s",
                     "value": "not measured", "met": None}]


# ---- the report -------------------------------------------------------------------------

def fmt_time(s: float) -> str:
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.1f} ms"


def machine() -> dict:
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    commit = first(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "kernel": os.uname().release,
        "load": open("/proc/loadavg").read().split()[:3],
        "node": first(["node", "--version"]), "python": first([real_python(), "--version"]),
        "swift": first(["swift", "--version"]), "strace": first(["strace", "-V"]),
        "hyperfine": first(["hyperfine", "--version"]),
        "libseccomp": first(["dpkg-query", "-W", "-f", "${Version}", "libseccomp2"]),
        "strictrun": f"{first([S, '--version'])} at {commit}{' (uncommitted changes)' if dirty else ''}",
    }


def markdown(data: dict) -> str:
    m = data["machine"]
    lines = ["# strictrun benchmarks", "",
             "What strictrun costs against a bare run, against strace, and against two floors, measured "
             "side by side by `make bench` (`Benchmarks/run.sh` → `Benchmarks/bench.py`). Rerun it: the "
             "numbers below are from one noisy 2-core VM.", "",
             f"Last run: {data['finished']} · {m['cores']} × {m['cpu']}, {m['memory_mb']} MB, Linux {m['kernel']} "
             f"(load at start {' '.join(data.get('load_start', m['load']))}) · Node {m['node']} · {m['python']} · "
             f"{m['swift']} · {m['strace']} · {m['hyperfine']} · libseccomp {m['libseccomp']} · "
             f"strictrun {m['strictrun']} (release, `-static-stdlib`).", ""]
    lines += ["## Targets", "", "| target | limit | this run | met |", "|---|---|---|---|"]
    for t in data["targets"]:
        met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
        lines.append(f"| {t['target']} | {t['limit']} | {t['value']} | {met} |")
    lines += ["", "Ratios are medians of per-round ratios (each round runs every variant once, back to "
              "back), with their range over the rounds in parentheses.", ""]
    lines += ["## Results", ""]
    for w in data["workloads"]:
        lines += [f"### {w['title']}", ""]
        if w.get("pending"):
            lines += ["| how | result |", "|---|---|", f"| strictrun (broker) vs direct | **{w['pending']}** |", ""]
            continue
        lines += [f"Measured {w['measured']}, {w['rounds']} rounds." + (f" {w['note']}" if w["note"] else ""), ""]
        refs = {v.get("ref") for v in w["variants"]}
        by_key = {v["key"]: v for v in w["variants"]}
        first_ref = by_key.get(w["variants"][0].get("ref"), w["variants"][0])
        ref_label = w.get("ref_label") or (first_ref["label"] if len(refs) == 1
                                           else re.sub(r" N=\d+$", "", first_ref["label"]) + " (same N)")
        lines += ["| how | runs | median | min – max | × " + ref_label +
                  " | strictrun peak RSS | notes |", "|---|---|---|---|---|---|---|"]
        for v in w["variants"]:
            st = v.get("stats") or {}
            check = v.get("check", {})
            notes = []
            if check.get("problems"):
                notes.append("check failed: " + "; ".join(check["problems"]))
            if v.get("counts"):
                notes.append("events: " + ", ".join(f"{k} {n}" for k, n in v["counts"].items()))
            if v.get("stacks"):
                s = v["stacks"]
                if s.get("unwinds"):
                    notes.append(f"{s['unwinds']} stacks, {s['unwind_ms'] / s['unwinds']:.2f} ms each to unwind, "
                                 f"{s['symbol_index_ms']:.0f} ms symbol index")
            if v.get("wx_emulation"):
                x = v["wx_emulation"]
                notes.append(f"{x['rewritten']} W+X granted RW, {x['flips']} flips ({x['exec_faults']} exec, "
                             f"{x['write_faults']} write), {x['lease_waits']} lease waits, "
                             f"tracer CPU {x['handler_us_per_flip']:.1f} µs per flip")
            if st.get("metric"):
                mt = st["metric"]
                notes.append(f"{v['metric_name']} {mt['median']:.2f} {v['metric_unit']} "
                             f"({mt['min']:.2f} – {mt['max']:.2f})")
            if check.get("floor_stops"):
                notes.append(f"{check['floor_stops'][0]} seccomp stops, {check['floor_stops'][1]} tasks")
            if check.get("tests"):
                notes.append(", ".join(f"{n} {k}" for k, n in check["tests"].items()))
            rss = f"{check['rss_kb'] / 1024:.1f} MB" if check.get("rss_kb") else "—"
            if not st:
                lines.append(f"| {v['label']} | 0 | — | — | — | {rss} | {'; '.join(notes)} |")
                continue
            ratio = f"{st['ratio']:.3f}×" if "ratio" in st else "—"
            lines.append(f"| {v['label']} | {st['n']} | {fmt_time(st['median'])} | {fmt_time(st['min'])} – "
                         f"{fmt_time(st['max'])} | {ratio} | {rss} | {'; '.join(notes)} |")
        if w.get("derived"):
            unit = w["derived"][0].get("unit", "event")
            lines += ["", f"Per {unit}" + (" (after start-up and warm-up):" if unit == "event"
                                          else ", over bare ((T − T(bare)) / count):"), "",
                      f"| how | µs per {unit} | min – max |" + (" events/s |" if unit == "event" else "")
                      + f" × {w['derived'][0].get('x_label') or 'floor tracer'} |",
                      "|---|---|---|---|" + ("---|" if unit == "event" else "")]
            for d in w["derived"]:
                eps = (f" {d['events_per_s']:,.0f} |" if d.get("events_per_s") else " — |") if unit == "event" else ""
                xf = f"{d['x_floor']:.2f}×" if d.get("x_floor") else "—"
                lines.append(f"| {d['label']} | {d['per_event_us']:.1f} | {d['spread_us'][0]:.1f} – "
                             f"{d['spread_us'][1]:.1f} |{eps} {xf} |")
        lines.append("")
    notes = os.path.join(HERE, "NOTES.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines.append(f.read().rstrip())
        lines.append("")
    return "\n".join(lines)
