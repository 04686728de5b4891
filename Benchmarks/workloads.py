"""The workloads of `make bench` (see BENCHMARKS.md for what each measures)."""
import datetime
import json
import os
import re
import subprocess

from harness import (EXAMPLES, HERE, ROOT, S, SWIFT_FLOOR, WORK, Variant, Workload, bare, filter_only, floor, hyperfine_once,
                     extra_per_unit, log, real_python, slope_derive, stats, strace, strictrun)
from tls_bench import routing_available, tls_workload

# V8 flags that keep Node 20 within W^X (README): no Sparkplug, no TurboFan, no Maglev, regexps
# interpreted — V8 then never allocates code after start-up.
WX_FLAGS = ["--write-protect-code-memory", "--no-write-code-using-rwx", "--no-sparkplug",
            "--no-maglev", "--no-opt", "--regexp-interpret-all"]


def workloads() -> list:
    node = ["node"]
    dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=2000000", "status=none"]
    dd_small = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=100000", "status=none"]
    jit_heavy = os.path.join(HERE, "jit_heavy.js")
    jit_ok = os.path.join(HERE, "profiles", "jit-allowed.yaml")
    storm = os.path.join(EXAMPLES, "storm")
    threads = os.path.join(EXAMPLES, "thread_storm")
    python = real_python()
    slice_file = os.path.join(HERE, "cpython_slice.txt")
    slice_tests = []
    if os.path.exists(slice_file):
        with open(slice_file) as f:
            slice_tests = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    conformance = [python, "-m", "test", "--timeout", "120", *slice_tests]
    mk = "microkernel"

    out = []
    jitless = node + ["--jitless", "-e", "0"]
    out.append(Workload("launcher", "/bin/true — strictrun's fixed cost", [
        bare("bare", ["/bin/true"]),
        bare("static Swift program, no Foundation (runtime floor)", [SWIFT_FLOOR]),
        bare("static Swift program with Foundation", [SWIFT_FLOOR + "_foundation"]),
        Variant("strictrun --version (launcher only)", [S, "--version"], "strictrun"),
        filter_only(mk, ["/bin/true"]),
        floor(mk, ["/bin/true"]),
        strictrun(mk, ["/bin/true"]),
        strace(["/bin/true"]),
    ], rounds=20, note="Start-up and exit of the launcher itself; no rule can trip."))
    # microkernel routes TLS, so strictrun sets the trust variables: NODE_EXTRA_CA_CERTS naming one
    # P-256 CA certificate (its per-run CA) makes Node 20 start ~20 ms faster here (fewer start-up
    # reads; a 140-root bundle does not). The fair reference has the same variables.
    os.makedirs(WORK, exist_ok=True)
    one_ca = os.path.join(WORK, "trust-env-ca.pem")
    if not os.path.exists(one_ca):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", one_ca + ".key", "-out", one_ca, "-days", "2", "-subj", "/CN=bench per-run CA"],
                       check=True, capture_output=True)
    system = "/etc/ssl/certs/ca-certificates.crt"
    trust_env = {"NODE_EXTRA_CA_CERTS": one_ca, "SSL_CERT_FILE": system, "REQUESTS_CA_BUNDLE": system,
                 "CURL_CA_BUNDLE": system}
    out.append(Workload("node", "`node --jitless -e 0` — start-up, no rule tripped", [
        bare("bare", jitless),
        bare("bare + trust env", jitless, env=trust_env, key="bare-trust-env"),
        floor(mk, jitless, label="floor tracer + trust env (microkernel)", env=trust_env, key="floor-trust-env"),
        filter_only(mk, jitless),
        floor(mk, jitless),
        strictrun(mk, jitless),
        strace(jitless),
    ], rounds=20, note="With its JIT on, Node 20 asks for RWX memory at start-up, which microkernel "
                       "denies (V8 aborts): the untripped start-up row uses `--jitless`."))
    connect = [os.path.join(EXAMPLES, "connect_loop"), "1000"]
    ports = os.path.join(HERE, "profiles", "microkernel-ports.yaml")
    out.append(Workload("connect", "`connect_loop 1000` — 1,000 non-TLS loopback connects under microkernel", [
        bare("bare", connect, expect=r"connect-loop ok 1000"),
        floor(mk, connect, expect=r"connect-loop ok 1000"),
        strictrun(ports, connect, expect=r"connect-loop ok 1000", key="strictrun"),
        strictrun(mk, connect, expect=r"connect-loop ok 1000", label="strictrun microkernel (every stream mediated)",
                  key="mediated"),
    ], rounds=10, note="`microkernel-ports` (Benchmarks/profiles) routes TLS ports only: every connect() "
                       "reaches the tracer (BPF cannot read a sockaddr), which reads the address, sees a "
                       "non-TLS port and lets the call run; the floor tracer stops at the same connects and "
                       "only resumes them. Under `microkernel` itself (issue 19) every TCP stream is "
                       "mediated: each of the 1,000 connections goes through the broker (routed, accepted, "
                       "connected upstream, closed), and the first of them starts the broker."))
    stream = [os.path.join(EXAMPLES, "stream_bench"), "2048"]
    out.append(Workload("relay", "`stream_bench 2048` — 2 GiB over one loopback TCP stream", [
        bare("bare", stream, expect=r"stream-bench ok 2048"),
        strictrun(ports, stream, expect=r"stream-bench ok 2048", key="ports"),
        strictrun(mk, stream, expect=r"stream-bench ok 2048", label="strictrun microkernel (relayed by the broker)",
                  key="strictrun"),
    ], rounds=5, note="Under `microkernel` the stream goes through the broker, whose front sees a first byte "
                      "that is not a TLS record and splices the stream through in the kernel (splice(2), a "
                      "pipe per direction, one thread); under `microkernel-ports` it is the program's own "
                      "loopback connection. Target (issue 19): the relayed stream at ≥ 80 % of direct "
                      "throughput, i.e. a wall-time ratio ≤ 1.25."))
    wx_startup = node + WX_FLAGS + ["-e", "0"]
    out.append(Workload("node", "`node <W^X flags> -e 0` under apple-jit — start-up, no rule tripped", [
        bare("bare", wx_startup),
        filter_only("apple-jit", wx_startup),
        floor("apple-jit", wx_startup),
        strictrun("apple-jit", wx_startup),
        strace(wx_startup),
    ], rounds=20, note="W^X flags: `" + " ".join(WX_FLAGS) + "` (see workload 2 for what they cost)."))
    jit_startup = node + ["-e", "0"]
    out.append(Workload("node", "`node -e 0` (JIT on) under audit — one W+X call logged, with a stack", [
        bare("bare", jit_startup),
        strictrun("audit", jit_startup, expect="", key="audit"),
        strictrun("audit", jit_startup, extra=["--no-stacks"], key="audit-nostacks"),
        strace(jit_startup),
    ], rounds=20, note="The one RWX mprotect is logged: the difference between the two strictrun rows "
                       "is the cost of the first stack on Node (libdw session, symbol index of node's "
                       "~107,000 symbols, unwind)."))

    wx_heavy = node + WX_FLAGS + [jit_heavy, "0.2"]
    ok = r"RESULT jit-heavy ok"
    out.append(Workload("jit", "`jit_heavy.js` with the W^X flags under apple-jit (no JIT tier runs)", [
        bare("bare", wx_heavy, expect=ok),
        filter_only("apple-jit", wx_heavy, expect=ok),
        floor("apple-jit", wx_heavy, expect=ok),
        strictrun("apple-jit", wx_heavy, expect=ok),
        strace(wx_heavy, expect=ok, rounds=3),
    ], rounds=5, note="On Node 20.20.2 (V8 11.3) no flag set keeps an optimizing tier on within W^X: "
                      "with `--no-write-code-using-rwx`, V8's first run-time code allocation calls "
                      "mprotect(RW) on an address that is not page-aligned, gets EINVAL and aborts "
                      "(bare too, no strictrun involved). The legal set therefore disables every "
                      "tier; the script runs in the Ignition interpreter (scale 0.2)."))
    full_jit = node + [jit_heavy, "6"]
    out.append(Workload("jit", "`jit_heavy.js` with the full JIT (RWX) — untripped and under audit", [
        bare("bare", full_jit, expect=ok),
        strictrun(jit_ok, full_jit, expect=ok, label="strictrun jit-allowed (nothing trips)", key="jit-allowed"),
        strictrun("audit", full_jit, expect=ok, key="audit"),
        strictrun("audit", full_jit, extra=["--no-stacks"], expect=ok, key="audit-nostacks"),
        strace(full_jit, expect=ok, rounds=3),
    ], rounds=5, note="`Benchmarks/profiles/jit-allowed.yaml` is apple-jit with `wx: level: off`: the "
                      "same launcher, tracer and foreign-ABI check, and a JIT that runs untouched. "
                      "Under audit V8's RWX calls are logged (2 events, with stacks) and allowed."))

    # W^X emulation (issue 9): unmodified node, JIT on, under microkernel-jit.
    jit_dir = os.path.join(ROOT, "Examples", "jit")
    for script, expect, rounds in (("loop.js", r"loop 79275", 5), ("functions.js", r"functions \d+", 5),
                                   ("http.js", r"http 8955050", 5), ("regexps.js", r"regexps 15000", 5)):
        cmd = node + [os.path.join(jit_dir, script)]
        out.append(Workload("wxemu", f"W^X emulation: `node Examples/jit/{script}` (JIT on) under microkernel-jit", [
            bare("bare", cmd, expect=expect),
            strictrun("microkernel-jit", cmd, expect=expect),
            strictrun("microkernel-jit", cmd, extra=["--no-stacks"], expect=expect, key="nostacks"),
        ], rounds=rounds, note="Every W+X request is granted RW and logged with its stack; each flip is a fault "
                               "stop (plus a seccomp stop to check an RX flip). The events and flips are in the "
                               "notes: tracer CPU per flip is measured by strictrun itself (thread CPU time "
                               "around each fault's handling)."))
    java = ["java", os.path.join(jit_dir, "Hello.java")]
    out.append(Workload("wxemu", "W^X emulation: `java Examples/jit/Hello.java` (HotSpot) under microkernel-jit", [
        bare("bare", java, expect=r"hello 79275"),
        strictrun("microkernel-jit", java, expect=r"hello 79275"),
    ], rounds=3, note="HotSpot's code cache is mapped W+X; emulated, it runs unmodified."))

    # fs/net presets (issue 10): the namespaces, Landlock and the traced path calls at start-up.
    fsnet_variants = [bare("bare", jitless), strictrun(mk, jitless)]
    for preset in ("genode", "fuchsia", "kasperskyos"):
        fsnet_variants.append(strictrun(preset, jitless))
    out.append(Workload("fsnet", "`node --jitless -e 0` under the fs/net presets — start-up with namespaces",
                        fsnet_variants, rounds=20,
                        note="genode and fuchsia build user+mount+network namespaces (kasperskyos: user+mount), "
                             "mount the image read-only and hide /proc and /sys; every path call runs to its "
                             "exit stop so that a denial the view caused can be logged."))

    out.append(Workload("dd", "`dd if=/dev/zero of=/dev/null bs=1 count=2000000` — 4 M untraced syscalls", [
        bare("bare", dd),
        filter_only(mk, dd),
        floor(mk, dd),
        strictrun(mk, dd),
        strace(dd_small, label="strace -f (count=100000, ×20)", scale=20, rounds=3, warm=False),
    ], rounds=5, note="strace on the full count takes ~100 s: it runs count=100000 in 3 of the rounds and "
                      "its time is multiplied by 20 (its own start-up, a few ms, is multiplied too)."))

    storm_variants = []
    for n, tag in ((1000, "1000"), (10000, "10000")):
        cmd = [storm, str(n)]
        storm_variants += [
            bare(f"bare N={n}", cmd, expect=r"denied=0", key=f"bare-{tag}", ref=f"bare-{tag}"),
            filter_only(mk, cmd, label=f"filter only (microkernel) N={n}", expect=r"denied=0",
                        key=f"filter-{tag}", ref=f"bare-{tag}"),
            floor(mk, cmd, label=f"floor tracer (microkernel) N={n}", expect=r"denied=0", key=f"floor-{tag}",
                  ref=f"bare-{tag}"),
            strictrun(mk, cmd, extra=["--no-stacks"], label=f"strictrun microkernel --no-stacks N={n}",
                      expect=rf"denied={n}", key=f"nostacks-{tag}", ref=f"bare-{tag}"),
            strictrun(mk, cmd, label=f"strictrun microkernel (stacks, site cap 20) N={n}",
                      expect=rf"denied={n}", key=f"cap20-{tag}", ref=f"bare-{tag}"),
            strictrun(mk, cmd, extra=["--site-cap", "1000000"],
                      label=f"strictrun microkernel (a stack every event) N={n}", expect=rf"denied={n}",
                      key=f"stacks-{tag}", ref=f"bare-{tag}"),
            strace(cmd, label=f"strace -f N={n}", expect=r"denied=0", key=f"strace-{tag}", ref=f"bare-{tag}"),
        ]
    out.append(Workload("storm", "event storm: `Examples/bin/storm N` — N denied mmap(RWX)", storm_variants,
                        rounds=5,
                        derive=slope_derive(1000, 10000, ["bare", "filter", "floor", "nostacks", "cap20", "stacks",
                                                          "strace"]),
                        note="Each event is one seccomp stop. bare: the mmaps succeed (and are unmapped); "
                             "filter only: the filter's TRACE returns made ALLOW, so the mmaps run as bare; floor tracer: "
                             "PTRACE_CONT only, so the mmap runs; strictrun: denied EACCES, one trace line "
                             "each. Per event = (T(10000) − T(1000)) / 9000, paired by round."))

    node_storm = os.path.join(ROOT, "Examples", "node_storm.js")
    node_variants = []
    for n in (200, 2000):
        cmd = node + ["--jitless", node_storm, str(n)]
        node_variants += [
            strictrun(mk, cmd, extra=["--no-stacks"], label=f"strictrun microkernel --no-stacks N={n}",
                      expect=rf"denied={n}", key=f"nostacks-{n}", ref=f"nostacks-{n}"),
            strictrun(mk, cmd, label=f"strictrun microkernel (stacks, site cap 20) N={n}",
                      expect=rf"denied={n}", key=f"cap20-{n}", ref=f"nostacks-{n}"),
            strictrun(mk, cmd, extra=["--site-cap", "1000000"],
                      label=f"strictrun microkernel (a stack every event) N={n}", expect=rf"denied={n}",
                      key=f"stacks-{n}", ref=f"nostacks-{n}"),
        ]
    out.append(Workload("storm", "event storm from Node: `node --jitless Examples/node_storm.js N` — N denied "
                                 "fork (spawnSync)", node_variants, rounds=5,
                        derive=slope_derive(200, 2000, ["nostacks", "cap20", "stacks"], floor_key="nostacks"),
                        note="A stack on Node walks V8 and libuv frames and symbolizes them against node's "
                             "~107,000 symbols. Bare and floor rows would spawn real processes (a different "
                             "workload), so the reference here is strictrun without stacks; per event = "
                             "(T(2000) − T(200)) / 1800, which includes Node's own spawnSync work."))

    tcount = r"count=5000"
    thread_variants = [
        bare("bare", [threads], expect=tcount),
        filter_only(mk, [threads], expect=tcount),
        floor(mk, [threads], expect=tcount),
        strictrun(mk, [threads], expect=tcount),
        strace([threads], expect=tcount),
    ]
    for v in thread_variants:
        v.key = v.kind
    out.append(Workload("threads", "thread storm: `Examples/bin/thread_storm` — 5,000 threads created and joined",
                        thread_variants, rounds=10, derive=extra_per_unit(5000, "bare", "thread"),
                        note="Threads trip no rule, but a tracer must follow each one (PTRACE_O_TRACECLONE: a "
                             "clone event, the new thread's first stop, its exit)."))

    tls_missing = routing_available()
    out.append(tls_workload() if not tls_missing else
               Workload("tls", "TLS: handshakes/s and MB/s through the broker vs direct", [], rounds=0,
                        pending=tls_missing))

    suite, suite_problem = conformance_suite()
    if suite:
        out.append(Workload("conformance", f"conformance: CPython's regression suite through `strictrun conformance "
                                           f"run {os.path.relpath(suite, ROOT)}`, native vs microkernel", [],
                            rounds=3, runner=lambda w, rounds: run_conformance_suite(w, rounds, suite, slice_tests),
                            note="Each round is one `strictrun conformance run --jobs 1 --retries 0` invocation: "
                                 "its native pass, then its pass under microkernel, every module its own "
                                 "process; the times are the wall_seconds of its results.json. The modules "
                                 "are those of `Benchmarks/cpython_slice.txt` the suite has (else its first "
                                 "100)."))
        return out
    conf_state = conformance_status(suite_problem)
    if not slice_tests:
        out.append(Workload("conformance", "conformance: CPython's regression suite, native vs microkernel", [],
                            rounds=0, pending="pending: no Benchmarks/cpython_slice.txt "
                                              "(run Benchmarks/make_cpython_slice.py)"))
        return out
    counts = r"tests? OK|tests? failed"
    out.append(Workload("conformance", f"conformance: {len(slice_tests)} modules of CPython's regression suite "
                                       f"(`Benchmarks/cpython_slice.txt`), native vs microkernel", [
        bare("native", conformance, expect=counts, codes=(0, 1, 2, 3, 4)),
        floor(mk, conformance, expect=counts, codes=(0, 1, 2, 3, 4)),
        strictrun(mk, conformance, expect=counts, codes=(0, 1, 2, 3, 4)),
        strace(conformance, codes=(0, 1, 2, 3, 4), rounds=1, warm=False),
    ], rounds=3, note=conf_state + " One `python -m test --timeout 120` process runs the modules in "
                      "sequence (its own children: subprocess tests, spawned with vfork-style clone, "
                      "which microkernel allows). strictrun denies what the profile denies (see its "
                      "events); the floor tracer lets everything through."))
    return out


def conformance_suite():
    """(suite path, None) when `strictrun conformance run` can list a CPython suite's tests
    (Suites/cpython-all.yaml first: the slice's fast modules are in it), else (None, why not)."""
    directory = os.path.join(ROOT, "Suites")
    names = [n for n in ("cpython-all.yaml", "cpython.yaml") if os.path.exists(os.path.join(directory, n))]
    if not names:
        return None, "no Suites/cpython*.yaml"
    why = ""
    for name in names:
        suite = os.path.join(directory, name)
        listed = subprocess.run([S, "conformance", "run", suite, "--set", f"python={real_python()}", "--list"],
                                capture_output=True, text=True)
        if listed.returncode == 0 and listed.stdout.strip():
            return suite, ""
        why = (listed.stderr.strip().splitlines() or [f"exit status {listed.returncode}"])[0]
    return None, f"`strictrun conformance run Suites/{names[-1]} --list` failed ({why})"


def run_conformance_suite(w: Workload, rounds: int, suite: str, slice_tests: list) -> dict:
    """Workload 7 through `strictrun conformance run`: one invocation per round, timed by
    hyperfine; its results.json splits the time into the native and the microkernel pass."""
    python = real_python()
    base = [S, "conformance", "run", suite, "--profile", "microkernel", "--jobs", "1", "--retries", "0", "-q",
            "--set", f"python={python}"]
    listed = subprocess.run(base + ["--list"], capture_output=True, text=True)
    ids = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    if listed.returncode != 0 or not ids:
        listed = subprocess.run(base[:-2] + ["--list"], capture_output=True, text=True)  # no 'python' variable
        ids = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
        base = base[:-2]
    wanted = set(slice_tests)
    chosen = [i for i in ids if i in wanted or i.removeprefix("test.") in wanted or i.split("/")[-1] in wanted]
    selection = (["--filter", "^(" + "|".join(re.escape(i) for i in chosen) + ")$"] if len(chosen) >= 50
                 else ["--limit", "100"])
    result = {"key": w.key, "title": w.title, "rounds": rounds, "pending": "", "variants": [],
              "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "note": w.note + f" This run: {len(chosen) if len(chosen) >= 50 else min(100, len(ids))} modules."}
    runs = {k: {"label": label, "kind": kind, "scale": 1, "note": "", "times": [], "user": [], "system": [],
                "rounds": [], "codes": [], "check": {"problems": []}}
            for k, label, kind in (("native", "native (conformance pass)", "bare"),
                                   ("profile", "strictrun microkernel (conformance pass)", "strictrun"),
                                   ("whole", "the whole invocation (both passes)", "strictrun"))}
    for r in range(rounds):
        out = os.path.join(WORK, f"conformance-{r}")
        argv = base + selection + ["--out", out]
        wall, user, system, code = hyperfine_once(argv, WORK)
        try:
            with open(os.path.join(out, "results.json")) as f:
                data = json.load(f)
        except (OSError, ValueError) as error:
            runs["whole"]["check"]["problems"].append(f"no results.json ({error}), exit status {code}")
            continue
        for key, seconds in (("native", data["wall_seconds"]["native"]), ("profile", data["wall_seconds"]["profile"]),
                             ("whole", wall)):
            runs[key]["times"].append(seconds)
            runs[key]["rounds"].append(r)
            runs[key]["codes"].append(code)
        totals = data.get("totals", {})
        runs["profile"]["check"]["tests"] = {"passed natively": totals.get("native_pass", 0),
                                             "passed under microkernel": totals.get("pass", 0),
                                             "new failures": totals.get("new_failure", 0)}
        log(f"[{w.key} {r + 1}/{rounds}] native {data['wall_seconds']['native']:.1f} s, microkernel "
            f"{data['wall_seconds']['profile']:.1f} s")
    for key in ("native", "profile", "whole"):
        e = runs[key]
        e["ref"] = "native"
        e["stats"] = stats(e, runs["native"])
        result["variants"].append({"key": key, **e})
    return result


def conformance_status(suite_problem: str) -> str:
    done = subprocess.run([S, "conformance", "--help"], capture_output=True, text=True)
    text = done.stdout + done.stderr
    if done.returncode != 0 or "not yet available" in text or "OVERVIEW" not in text:
        return ("`strictrun conformance` is not available yet (its help says so): the slice is timed "
                "as `python -m test <modules>` bare and under `strictrun run` directly.")
    return (f"`strictrun conformance` exists, but {suite_problem}: the slice is timed as "
            "`python -m test <modules>` bare and under `strictrun run` directly.")