#!/usr/bin/env python3
"""Two builds of strictrun side by side: each row run A B A B …, whole-process wall time, and the
median of the per-pair ratios A/B (above 1: B is faster). Pairs keep the comparison honest when the
machine's speed drifts (BENCHMARKS.md, "Builds side by side").

    Benchmarks/ab.py OLD_STRICTRUN NEW_STRICTRUN [--pairs 12] [--only SUBSTRING]

Rows are (name, profile, argv); `{tmp}` in an argument becomes a fresh directory per run.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EX = os.path.join(ROOT, "Examples", "bin")


def python() -> str:
    return subprocess.run(["python3", "-c", "import sys; print(sys.executable)"], capture_output=True,
                          text=True, check=True).stdout.strip()


def rows() -> list:
    py = python()
    return [
        ("run /bin/true", "microkernel", ["/bin/true"]),
        ("node --jitless -e 0", "microkernel", ["node", "--jitless", "-e", "0"]),
        ("node --jitless -e 0", "genode", ["node", "--jitless", "-e", "0"]),
        ("dd bs=1 count=2,000,000", "microkernel",
         ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=2000000", "status=none"]),
        ("storm: 20,000 denied mmap(RWX)", "microkernel", [os.path.join(EX, "storm"), "20000"]),
        ("python: 2,000 write opens with O_TRUNC", "microkernel",
         [py, "-c", "import sys\nfor i in range(2000): open(sys.argv[1] + '/f', 'w').close()", "{tmp}"]),
        ("python: 2,000 renames", "microkernel",
         [py, "-c", "import os, sys\nd = sys.argv[1]\nopen(d + '/a', 'w').close()\n"
                    "for i in range(1000): os.rename(d + '/a', d + '/b'); os.rename(d + '/b', d + '/a')", "{tmp}"]),
        ("python: 20 × subprocess.run(/bin/true)", "microkernel",
         [py, "-c", "import subprocess\nfor i in range(20): subprocess.run(['/bin/true'])"]),
        # Opens that can read reach the tracer for tls/key-read (issue 19): start-up, then per open
        # (alone: entry stop only; with a second thread: an exit stop too), and a 209 KB PEM bundle
        # scanned whole at each open.
        ("python -c pass", "microkernel", [py, "-c", "pass"]),
        ("python: 2,000 read opens", "microkernel",
         [py, "-c", "import sys\nf = sys.argv[1] + '/f'\nopen(f, 'w').write('x' * 100)\n"
                    "for i in range(2000): open(f).read()", "{tmp}"]),
        ("python: 2,000 read opens, 2 threads", "microkernel",
         [py, "-c", "import sys, threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                    "f = sys.argv[1] + '/f'\nopen(f, 'w').write('x' * 100)\nfor i in range(2000): open(f).read()", "{tmp}"]),
        ("python: 200 reads of the CA bundle", "microkernel",
         [py, "-c", "for i in range(200): open('/etc/ssl/certs/ca-certificates.crt').read()"]),
    ]


def once(strictrun: str, profile: str, argv: list) -> float:
    tmp = tempfile.mkdtemp(prefix="strictrun-ab-")
    try:
        args = [a.replace("{tmp}", tmp) for a in argv]
        start = time.perf_counter()
        profile_file = os.path.join(ROOT, "Profiles", profile + ".yaml")
        subprocess.run([strictrun, "run", "-q", "-p", profile_file, "-t", os.path.join(tmp, "t.jsonl"), "--", *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--only", default="")
    options = parser.parse_args()
    print(f"| row | profile | old ms (median) | new ms (median) | old/new (median of {options.pairs} pairs) |")
    print("|---|---|---|---|---|")
    for name, profile, argv in rows():
        if options.only not in name:
            continue
        once(options.old, profile, argv)  # warm-up, each
        once(options.new, profile, argv)
        olds, news, ratios = [], [], []
        for _ in range(options.pairs):
            a = once(options.old, profile, argv)
            b = once(options.new, profile, argv)
            olds.append(a)
            news.append(b)
            ratios.append(a / b)
        print(f"| {name} | {profile} | {statistics.median(olds) * 1e3:.1f} | {statistics.median(news) * 1e3:.1f} "
              f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
