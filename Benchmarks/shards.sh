#!/usr/bin/env bash
# Sharding costs on the Node fixture suite (issue 18): wall time unsharded vs 4 shards run as 4
# processes at once (--jobs 1 each), and the balance of the shards (slowest shard ÷ mean) with and
# without --balance-from. Usage: Benchmarks/shards.sh [REPS] (default 3); prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/${CONFIG:-debug}/strictrun
reps=${1:-3}
work=$(mktemp -d)
export NODE_OPTIONS=--jitless
now() { date +%s.%N; }
run() { "$bin" conformance run Suites/node-fixtures.yaml --profile microkernel --quiet "$@" >/dev/null; }

for rep in $(seq "$reps"); do
  for jobs in 1 2; do
    start=$(now); run --jobs "$jobs" --out "$work/whole-$jobs-$rep"; end=$(now)
    echo "unsharded --jobs $jobs: $(echo "$end - $start" | bc) s"
  done
  for mode in round-robin balanced; do
    balance=()
    if [ "$mode" = balanced ]; then balance=(--balance-from "$work/whole-1-$rep"); fi
    start=$(now)
    pids=()
    for index in 0 1 2 3; do
      ( s=$(now); JOB_COMPLETION_INDEX=$index STRICTRUN_SHARD_COUNT=4 run --jobs 1 "${balance[@]}" \
          --out "$work/$mode-$rep-$index"; e=$(now); echo "$e - $s" | bc > "$work/$mode-$rep-$index.time" ) &
      pids+=($!)
    done
    wait "${pids[@]}"
    end=$(now)
    times=$(cat "$work/$mode-$rep"-?.time | tr '\n' ' ')
    ratio=$(echo "$times" | awk '{m=0; s=0; for (i=1;i<=NF;i++) {s+=$i; if ($i>m) m=$i}; printf "%.2f", m/(s/NF)}')
    echo "4 shards ($mode), 4 processes x --jobs 1: $(echo "$end - $start" | bc) s; per shard: $times; max/mean $ratio"
  done
done
rm -rf "$work"
