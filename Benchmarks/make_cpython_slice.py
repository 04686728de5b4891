#!/usr/bin/env python3
"""Chooses the 100-module slice of CPython's regression suite that `make bench` times
(workload 7) and writes it to Benchmarks/cpython_slice.txt.

Every module of `python -m test --list-tests` is run natively on its own (per-module timeout
--timeout, default 20 s); a module qualifies when it passes and takes at most --max seconds
(default 1 s, interpreter start included). The slice is 100 qualifying modules spread evenly
over the alphabetical list, so it is not just the trivial ones. Only rerun this when the
interpreter changes: the benchmark compares runs of one fixed list.

    make_cpython_slice.py [--python PATH] [--jobs 2] [--max 1] [--count 100] [--timings FILE]

--timings FILE keeps the per-module times (JSON): reused when it exists, written otherwise.
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time


def real_python() -> str:
    # `python3` may be a pyenv shim (a shell script that forks): resolve the interpreter.
    return subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--max", type=float, default=1.0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--timings", default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "cpython_slice.txt"))
    args = parser.parse_args()
    python = args.python or real_python()
    tests = subprocess.run([python, "-m", "test", "--list-tests"], capture_output=True, text=True,
                           check=True).stdout.split()

    def run(name: str):
        start = time.monotonic()
        try:
            done = subprocess.run([python, "-m", "test", "-q", "--timeout", str(args.timeout), name],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=args.timeout + 10)
            status = done.returncode
        except subprocess.TimeoutExpired:
            status = -1
        return name, status, time.monotonic() - start

    results = {}
    if args.timings and os.path.exists(args.timings):
        with open(args.timings) as f:
            results = {name: tuple(value) for name, value in json.load(f).items() if name in tests}
    else:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for i, (name, status, seconds) in enumerate(pool.map(run, tests), 1):
                results[name] = (status, seconds)
                print(f"[{i}/{len(tests)}] {name}: status {status}, {seconds:.2f} s", file=sys.stderr)
        if args.timings:
            with open(args.timings, "w") as f:
                json.dump(results, f, indent=0)
    good = sorted(n for n, (status, seconds) in results.items() if status == 0 and seconds <= args.max)
    if len(good) < args.count:
        sys.exit(f"only {len(good)} modules pass in under {args.max} s")
    step = len(good) / args.count
    chosen = [good[int(i * step)] for i in range(args.count)]
    total = sum(results[n][1] for n in chosen)
    with open(args.out, "w") as out:
        out.write(f"# {args.count} modules of CPython's regression suite for `make bench` (workload 7),\n"
                  f"# written by Benchmarks/make_cpython_slice.py with {python}\n"
                  f"# ({sys.version.split()[0]}): of {len(tests)} modules, {len(good)} passed natively alone\n"
                  f"# in at most {args.max} s; these are spread evenly over them in alphabetical order.\n"
                  f"# Sum of their one-module run times when chosen: {total:.1f} s.\n")
        for name in chosen:
            out.write(f"{name}\n")
    print(f"wrote {args.out}: {args.count} of {len(good)} qualifying modules, {total:.1f} s alone",
          file=sys.stderr)


if __name__ == "__main__":
    main()
