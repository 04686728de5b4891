#!/usr/bin/env bash
# The sh_test of BUILD.bazel: one shard of a strictrun conformance run. strictrun itself reads
# Bazel's sharding variables (TEST_TOTAL_SHARDS, TEST_SHARD_INDEX, TEST_SHARD_STATUS_FILE) and
# writes XML_OUTPUT_FILE. Settings (from the sh_test's env or --test_env):
#   SUITE       the suite file, relative to the workspace (required)
#   PROFILE     the profile (default microkernel)
#   NODE_TESTS  the test tree (--root), when the suite's own root does not apply
#   JOBS        tests at once (default 2)
#   STRICTRUN   the strictrun executable (default: strictrun on PATH)
set -euo pipefail
suite="${TEST_SRCDIR:?run by bazel test}/${TEST_WORKSPACE:?run by bazel test}/${SUITE:?set SUITE in the sh_test env}"
out="${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:?run by bazel test}}/conformance"
args=(conformance run "$suite" --profile "${PROFILE:-microkernel}" --jobs "${JOBS:-2}" --out "$out" --quiet)
if [ -n "${NODE_TESTS:-}" ]; then args+=(--root "$NODE_TESTS"); fi
exec "${STRICTRUN:-strictrun}" "${args[@]}"
