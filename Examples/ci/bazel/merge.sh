#!/usr/bin/env bash
# After `bazel test //:node_conformance`: merge the shards' result directories (each in its
# shard's undeclared outputs, zipped by default) into ./conformance-merged, with an HTML report.
set -euo pipefail
testlogs="$(bazel info bazel-testlogs)/node_conformance"
work="$(mktemp -d)"
inputs=()
for shard in "$testlogs"/shard_*_of_*; do
  name="$(basename "$shard")"
  if [ -f "$shard/test.outputs/outputs.zip" ]; then
    unzip -q "$shard/test.outputs/outputs.zip" -d "$work/$name"
  else
    cp -r "$shard/test.outputs" "$work/$name"
  fi
  inputs+=("$work/$name/conformance")
done
strictrun conformance merge "${inputs[@]}" --out conformance-merged
strictrun report conformance-merged --format html --out conformance-merged/report.html
