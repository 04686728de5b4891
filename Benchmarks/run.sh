#!/usr/bin/env bash
# make bench: what strictrun costs, measured side by side with a bare run, strace and two
# floors (strictrun's filter alone; a minimal C tracer with the same filter). Writes
# BENCHMARKS.md and Benchmarks/last-run.json. See "How to rerun" in BENCHMARKS.md.
#
#   ROUNDS=N        timed rounds for every workload (default: per workload; ~8–10 min in all,
#                   plus the release build)
#   ONLY=a,b        only these workloads (launcher node connect jit wxemu fsnet dd storm threads tls conformance);
#                   the others keep their last results in the report
#   OUT=FILE        the report (default BENCHMARKS.md)
#   SKIP_BUILD=1    reuse .build-bench as it is (while iterating on the script)
#   REPORT_ONLY=1   rewrite BENCHMARKS.md from Benchmarks/last-run.json and Benchmarks/NOTES.md
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${REPORT_ONLY:-}" ]; then PYTHONDONTWRITEBYTECODE=1 exec python3 Benchmarks/bench.py; fi
ROOT=$PWD
B=$ROOT/.build-bench

need() { # command package
  command -v "$1" >/dev/null && return
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$2"
}
need hyperfine hyperfine
need strace strace
need cc gcc
dpkg -s libseccomp-dev >/dev/null 2>&1 || need /nonexistent libseccomp-dev

# A release build with the Swift runtime linked statically: start-up is part of the cost.
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "bench: building strictrun (release, -static-stdlib) in .build-bench ..." >&2
  # The dependencies' generic types by direct metadata accessors, as the Makefile's release builds (Package.swift).
  swift build -c release --product strictrun -Xswiftc -static-stdlib \
    -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors --scratch-path "$B" >&2
  make -s -C Examples >&2
fi
mkdir -p "$B"
cc -O2 -Wall -Wextra -o "$B/floor_tracer" Benchmarks/floor_tracer.c -lseccomp
cc -O2 -Wall -Wextra -shared -fPIC -o "$B/librsspeek.so" Benchmarks/rsspeek.c
# The Swift runtime's floor under the launcher rows: a static Swift program that does nothing, without
# and with Foundation (rebuilt only when its source changed).
if [ ! "$B/swift_floor" -nt Benchmarks/swift_floor.swift ] || [ ! "$B/swift_floor_foundation" -nt Benchmarks/swift_floor.swift ]; then
  swiftc -O -static-stdlib -o "$B/swift_floor" Benchmarks/swift_floor.swift 2>/dev/null
  swiftc -O -static-stdlib -D FOUNDATION -o "$B/swift_floor_foundation" Benchmarks/swift_floor.swift 2>/dev/null
fi

export STRICTRUN=$B/release/strictrun FLOOR_TRACER=$B/floor_tracer RSSPEEK=$B/librsspeek.so SWIFT_FLOOR=$B/swift_floor
work=$(mktemp -d /tmp/strictrun-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export BENCH_WORK=$work

# The floor tracer measures with strictrun's own compiled program (bench.py feeds it the
# disassembly of `strictrun profile bpf --raw`); say whether its built-in libseccomp rules
# still produce the same program for microkernel.
"$FLOOR_TRACER" --print > "$work/builtin.bpf"
PYTHONDONTWRITEBYTECODE=1 python3 - "$work/builtin.bpf" <<'EOF' >&2
import sys
sys.path.insert(0, "Benchmarks")
import harness, subprocess
mine = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
theirs = harness.parse_disassembly(subprocess.run([harness.S, "profile", "bpf", "--raw", "microkernel"],
                                                capture_output=True, text=True, check=True).stdout)
print("bench: floor_tracer's built-in rules " + ("compile to the same program as strictrun's microkernel"
      if mine == theirs else f"differ from strictrun's microkernel ({len(mine)} vs {len(theirs)} "
      "instructions); the benchmark uses strictrun's program"))
EOF

PYTHONDONTWRITEBYTECODE=1 python3 Benchmarks/bench.py
