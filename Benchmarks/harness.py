"""Running variants for `make bench`: the variants, the alternating rounds (hyperfine, one run
at a time), the untimed check run (output, strictrun's peak RSS), statistics."""
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
S = os.environ.get("STRICTRUN", os.path.join(ROOT, ".build-bench/release/strictrun"))
FLOOR = os.environ.get("FLOOR_TRACER", os.path.join(ROOT, ".build-bench/floor_tracer"))
RSSPEEK = os.environ.get("RSSPEEK", os.path.join(ROOT, ".build-bench/librsspeek.so"))
SWIFT_FLOOR = os.environ.get("SWIFT_FLOOR", os.path.join(ROOT, ".build-bench/swift_floor"))
WORK = os.environ.get("BENCH_WORK", "/tmp/strictrun-bench")
EXAMPLES = os.path.join(ROOT, "Examples", "bin")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- variants ---------------------------------------------------------------------------

@dataclass
class Variant:
    label: str
    argv: list
    kind: str                 # bare | filter | floor | strictrun | strace
    rounds: int = 0           # at most this many timed rounds (0: all)
    scale: float = 1.0        # times are multiplied by this (a smaller run standing for a bigger one)
    expect: str = ""          # regex the check run's stdout+stderr must match
    codes: tuple = (0,)       # exit statuses the check run may have
    note: str = ""
    key: str = ""             # short id for derived figures (default: label)
    ref: str = ""             # key of the variant its ratio is taken against (default: the first)
    warm: bool = True         # run the untimed check run first (False: only the timed runs' exit status)
    env: dict = None          # extra environment of the command
    metric: tuple = None      # (name, unit, parse(output) -> float): a figure the command prints

    def __post_init__(self):
        self.key = self.key or self.label


def trace_path(tag: str) -> str:
    return os.path.join(WORK, f"trace-{re.sub(r'[^A-Za-z0-9]+', '-', tag)}.jsonl")


def bpf_file(profile: str) -> str:
    """strictrun's compiled program for `profile`, as "code jt jf k" lines for floor_tracer."""
    path = os.path.join(WORK, f"{os.path.basename(profile)}.bpf")
    if not os.path.exists(path):
        text = subprocess.run([S, "profile", "bpf", "--raw", profile], capture_output=True, text=True,
                              check=True).stdout
        insns = parse_disassembly(text)
        with open(path, "w") as out:
            out.write(f"# strictrun profile bpf --raw {profile}\n")
            out.writelines(f"{c} {jt} {jf} {k}\n" for c, jt, jf, k in insns)
    return path


def parse_disassembly(text: str) -> list:
    """Inverts BPFDisassembler.text (Sources/StrictrunSandbox/BPFDisassembler.swift)."""
    fields = {"nr": 0, "arch": 4, "instruction_pointer": 8, "instruction_pointer+4": 12}
    actions = {"ALLOW": 0x7FFF0000, "TRACE": 0x7FF00000, "ERRNO": 0x00050000, "TRAP": 0x00030000,
               "LOG": 0x7FFC0000, "USER_NOTIF": 0x7FC00000, "KILL_PROCESS": 0x80000000, "KILL_THREAD": 0}
    jumps = {"jeq": 0x15, "jgt": 0x25, "jge": 0x35, "jset": 0x45}
    alu = {"add": 0x04, "sub": 0x14, "mul": 0x24, "div": 0x34, "or": 0x44, "and": 0x54, "lsh": 0x64,
           "rsh": 0x74, "neg": 0x84, "xor": 0xA4}
    insns = []
    body = text.split("# BPF program:", 1)
    if len(body) != 2:
        raise ValueError("no '# BPF program:' section")
    for line in body[1].splitlines():
        m = re.match(r"\s*(\d+): (\S+)\s*(.*)$", line)
        if not m:
            continue
        index, op, rest = int(m.group(1)), m.group(2), m.group(3).strip()
        if index != len(insns):
            raise ValueError(f"instruction {index} out of order")
        if op == "ld" and rest.startswith("#"):
            insns.append((0x00, 0, 0, int(rest[1:], 16)))
        elif op == "ld":
            a = re.match(r"args\[(\d)\]\.(lo|hi)$", rest)
            d = re.match(r"data\[(\d+)\]$", rest)
            k = fields.get(rest, 16 + 8 * int(a.group(1)) + (4 if a.group(2) == "hi" else 0) if a else
                           int(d.group(1)) if d else None)
            if k is None:
                raise ValueError(f"cannot parse: {line}")
            insns.append((0x20, 0, 0, k))
        elif op in jumps:
            j = re.match(r"#(0x[0-9a-f]+) \? (\d+) : (\d+)$", rest)
            insns.append((jumps[op], int(j.group(2)) - index - 1, int(j.group(3)) - index - 1,
                          int(j.group(1), 16)))
        elif op == "ja":
            insns.append((0x05, 0, 0, int(rest) - index - 1))
        elif op in alu:
            insns.append((alu[op], 0, 0, int(rest[1:], 16)))
        elif op == "ret":
            a = re.match(r"([A-Z_]+)(?:\((\d+)\))?$", rest)
            k = actions[a.group(1)] | int(a.group(2) or 0) if a else int(rest, 16)
            insns.append((0x06, 0, 0, k))
        elif op in ("tax", "txa"):
            insns.append((0x07 if op == "tax" else 0x87, 0, 0, 0))
        elif op in ("st", "stx"):
            insns.append((0x02 if op == "st" else 0x03, 0, 0, int(rest[2:-1])))
        else:
            raise ValueError(f"cannot parse: {line}")
    if not insns:
        raise ValueError("empty program")
    return insns


def bare(label, cmd, **kw):
    return Variant(label, list(cmd), "bare", **kw)


def filter_only(profile, cmd, label=None, **kw):
    return Variant(label or f"filter only ({profile})",
                   [S, "run", "-q", "--filter-only", "-p", profile, "-t", trace_path(f"filter-{profile}"), "--"]
                   + list(cmd), "filter", **kw)


def floor(profile, cmd, label=None, **kw):
    return Variant(label or f"floor tracer ({profile})", [FLOOR, "-v", "--bpf", bpf_file(profile), "--"] + list(cmd),
                   "floor", **kw)


def strictrun(profile, cmd, extra=(), label=None, **kw):
    name = label or f"strictrun {os.path.basename(profile).removesuffix('.yaml')}" + \
        ("" if not extra else " " + " ".join(extra))
    return Variant(name, [S, "run", "-q", "-p", profile, "-t", trace_path(name)] + list(extra) + ["--"]
                   + list(cmd), "strictrun", **kw)


def strace(cmd, label="strace -f", **kw):
    return Variant(label, ["strace", "-f", "-qq", "-o", "/dev/null"] + list(cmd), "strace", **kw)


@dataclass
class Workload:
    key: str
    title: str
    variants: list
    rounds: int
    note: str = ""
    derive: object = None     # function(results) -> list of (name, value, unit) rows
    pending: str = ""         # a row that cannot be measured yet, and why
    runner: object = None     # function(workload, rounds) -> result dict, instead of run_workload
    setup: object = None      # function() -> cleanup function, around the workload's runs
    ref_label: str = ""       # the header of the ratio column (default: from the reference rows)


def real_python() -> str:
    return subprocess.run(["python3", "-c", "import sys; print(sys.executable)"], capture_output=True,
                          text=True, check=True).stdout.strip()


def slope_derive(small_n: int, big_n: int, keys: list, floor_key: str = "floor"):
    """Per-event cost: (T(big) − T(small)) / (big − small), paired by round, so start-up, exit and
    one-time warm-up (the first stack's symbol index) cancel out."""
    def derive(results: dict) -> list:
        rows = []
        for key in keys:
            small, big = results.get(f"{key}-{small_n}"), results.get(f"{key}-{big_n}")
            if not small or not big:
                continue
            b = dict(zip(big["rounds"], big["times"]))
            per = [(b[r] - t) / (big_n - small_n) for r, t in zip(small["rounds"], small["times"]) if r in b]
            if not per:
                continue
            cost = statistics.median(per)
            rows.append({"key": key, "label": big["label"].removesuffix(f" N={big_n}"), "per_event_us": cost * 1e6,
                         "spread_us": [min(per) * 1e6, max(per) * 1e6],
                         "events_per_s": 1 / cost if cost > 0 else None})
        floor_row = next((r for r in rows if r["key"] == floor_key), None)
        for row in rows:
            row["x_floor"] = row["per_event_us"] / floor_row["per_event_us"] if floor_row else None
            row["x_label"] = floor_row["label"] if floor_row else ""
        return rows
    return derive


def extra_per_unit(units: int, ref_key: str, unit: str):
    """(T(variant) − T(reference)) / units, paired by round: e.g. what one thread costs a tracer."""
    def derive(results: dict) -> list:
        ref = dict(zip(results[ref_key]["rounds"], results[ref_key]["times"]))
        rows = []
        for key, e in results.items():
            if key == ref_key:
                continue
            per = [(t - ref[r]) / units for r, t in zip(e["rounds"], e["times"]) if r in ref]
            if per:
                rows.append({"key": key, "label": e["label"], "unit": unit,
                             "per_event_us": statistics.median(per) * 1e6,
                             "spread_us": [min(per) * 1e6, max(per) * 1e6], "events_per_s": None})
        floor_cost = next((r["per_event_us"] for r in rows if r["key"] == "floor"), None)
        for row in rows:
            row["x_floor"] = row["per_event_us"] / floor_cost if floor_cost and floor_cost > 0 else None
        return rows
    return derive


# ---- running ----------------------------------------------------------------------------

def hyperfine_once(argv: list, cwd: str, env: dict = None, output: str = None) -> tuple:
    """One timed run through hyperfine: (wall s, user s, system s, exit status). `output`: a file
    that receives the command's stdout (hyperfine discards it otherwise)."""
    out = os.path.join(WORK, "hyperfine.json")
    cmd = ["hyperfine", "-N", "--runs", "1", "--style", "none", "-i", "--export-json", out]
    if output:
        cmd += ["--output", output]
    cmd += ["--", shlex.join(argv)]
    done = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"hyperfine failed: {done.stderr.strip()}")
    with open(out) as f:
        r = json.load(f)["results"][0]
    return r["times"][0], r["user"], r["system"], r["exit_codes"][0]


def check_run(v: Variant, cwd: str) -> dict:
    """The untimed first run: warm-up, output check, strictrun's own peak RSS."""
    env = {**os.environ, **(v.env or {})}
    rss_file = os.path.join(WORK, "rss.txt")
    if os.path.exists(rss_file):
        os.remove(rss_file)
    if v.kind in ("strictrun", "filter"):
        env["LD_PRELOAD"] = RSSPEEK
        env["RSSPEEK_OUT"] = rss_file
    start = time.monotonic()
    try:
        done = subprocess.run(v.argv, cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                              timeout=3600)
        status, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        status, text = None, "timed out after 3600 s"
    seconds = time.monotonic() - start
    problems = []
    if status not in v.codes:
        problems.append(f"exit status {status}")
    if v.expect and not re.search(v.expect, text):
        problems.append(f"output lacks /{v.expect}/")
    if v.metric and status == 0 and v.metric[2](done.stdout) is None:
        problems.append(f"no {v.metric[0]} in its output")
    rss = None
    if os.path.exists(rss_file):
        with open(rss_file) as f:
            values = [int(x) for x in f.read().split() if x.strip().lstrip("-").isdigit()]
        rss = max(values) if values else None
    summary = {}
    stops = re.search(r"floor_tracer: (\d+) seccomp stops, (\d+) tasks", text)
    m = re.findall(r"(\d+) tests? (OK|failed|skipped)", text)
    for n, what in m:
        summary[what] = int(n)
    log_path = os.path.join(WORK, f"check-{re.sub(r'[^A-Za-z0-9]+', '-', v.key)}.log")
    with open(log_path, "w") as f:
        f.write(text)
    return {"status": status, "seconds": seconds, "problems": problems, "rss_kb": rss, "log": log_path,
            "floor_stops": [int(stops.group(1)), int(stops.group(2))] if stops else None,
            "tests": summary, "tail": text.strip().splitlines()[-3:] if problems else []}


def trace_stats(v: Variant) -> dict:
    """The stack statistics strictrun writes into the trace's final line."""
    if v.kind != "strictrun" or "-t" not in v.argv:
        return {}
    path = v.argv[v.argv.index("-t") + 1]
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 65536))
            last = f.read().splitlines()[-1]
        final = json.loads(last)
    except (OSError, IndexError, ValueError):
        return {}
    stats = {"counts": {c["rule"]: c["count"] for c in final.get("counts", [])}}
    if "stacks" in final:
        stats["stacks"] = final["stacks"]
    if "wx_emulation_total" in final:
        stats["wx_emulation"] = final["wx_emulation_total"]
    return stats


def run_workload(w: Workload, rounds: int) -> dict:
    cwd = WORK
    result = {"key": w.key, "title": w.title, "note": w.note, "rounds": rounds, "pending": w.pending,
              "ref_label": w.ref_label,
              "variants": [], "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if w.pending:
        log(f"[{w.key}] {w.pending}")
        return result
    cleanup = w.setup() if w.setup else None
    try:
        return run_rounds(w, rounds, cwd, result)
    finally:
        if cleanup:
            cleanup()


def run_rounds(w: Workload, rounds: int, cwd: str, result: dict) -> dict:
    runs = {v.key: {"label": v.label, "kind": v.kind, "scale": v.scale, "note": v.note, "times": [], "user": [],
                    "system": [], "rounds": [], "codes": [], "metric": [],
                    "metric_name": v.metric[0] if v.metric else None,
                    "metric_unit": v.metric[1] if v.metric else None} for v in w.variants}
    usable = []
    for v in w.variants:
        if not v.warm:
            runs[v.key]["check"] = {"problems": [], "skipped": True}
            usable.append(v)
            continue
        log(f"[{w.key}] check: {v.label}")
        check = run_workload_check(v, cwd)
        runs[v.key]["check"] = check
        if check["problems"]:
            log(f"[{w.key}]   FAILED check ({'; '.join(check['problems'])}): {shlex.join(v.argv)}")
            for line in check["tail"]:
                log(f"[{w.key}]   | {line}")
        else:
            usable.append(v)
    started = time.monotonic()
    for r in range(rounds):
        shift = r % max(1, len(usable))
        for v in usable[shift:] + usable[:shift]:
            if v.rounds and len(runs[v.key]["times"]) >= v.rounds:
                continue
            output = os.path.join(WORK, "output.txt") if v.metric else None
            wall, user, system, code = hyperfine_once(v.argv, cwd, v.env, output)
            entry = runs[v.key]
            if v.metric:
                with open(output, errors="replace") as f:
                    value = v.metric[2](f.read())
                if value is not None:
                    entry["metric"].append(value)
                    entry.setdefault("metric_rounds", []).append(r)
            entry["times"].append(wall * v.scale)
            entry["user"].append(user * v.scale)
            entry["system"].append(system * v.scale)
            entry["rounds"].append(r)
            entry["codes"].append(code)
            if code not in v.codes and f"exit status {code}" not in entry["check"]["problems"]:
                entry["check"]["problems"].append(f"exit status {code}")
            figure = f", {v.metric[0]} {entry['metric'][-1]:.2f} {v.metric[1]}" if v.metric and entry["metric"] else ""
            log(f"[{w.key} {r + 1}/{rounds}] {v.label}: {wall * v.scale:.3f} s{figure}")
        if r == 0 and rounds > 1:
            log(f"[{w.key}] about {(time.monotonic() - started) * (rounds - 1):.0f} s to go")
    for v in w.variants:
        e = runs[v.key]
        e["ref"] = v.ref or w.variants[0].key
        e["stats"] = stats(e, runs[e["ref"]])
        e.update(trace_stats(v))
        result["variants"].append({"key": v.key, **e})
    if w.derive:
        result["derived"] = w.derive(runs)
    return result


def run_workload_check(v: Variant, cwd: str) -> dict:
    check = check_run(v, cwd)
    check.update(trace_stats(v))
    return check


def stats(e: dict, ref: dict) -> dict:
    t = e["times"]
    if not t:
        return {}
    out = {"median": statistics.median(t), "min": min(t), "max": max(t), "n": len(t)}
    m = e.get("metric") or []
    if m:
        out["metric"] = {"median": statistics.median(m), "min": min(m), "max": max(m)}
    if len(t) >= 4:
        q = statistics.quantiles(t, n=4)
        out["iqr"] = [q[0], q[2]]
    by_round = dict(zip(ref["rounds"], ref["times"]))
    ratios = [x / by_round[r] for r, x in zip(e["rounds"], t) if by_round.get(r)]
    if ratios:
        out["ratio"] = statistics.median(ratios)
        out["ratio_range"] = [min(ratios), max(ratios)]
    return out
