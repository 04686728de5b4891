// node_storm.js — an event storm from Node: N child_process.spawnSync calls (default 10000).
// libuv forks for each; a fork-deny profile denies every one (EPERM, reported in result.error).
// Used by the benchmarks to measure the cost of one event with a symbolized stack on Node.
// Expected: microkernel / microkernel-strict: RESULT storm ok denied=N; apple-jit / audit: spawned=N.
'use strict';
const cp = require('child_process');
const n = Number(process.argv[2] || 10000);
let denied = 0, spawned = 0;
function spawnOnce() {
  const r = cp.spawnSync('/bin/true');
  if (r.error) denied++; else spawned++;
}
for (let i = 0; i < n; i++) spawnOnce();
console.log(`RESULT storm ok denied=${denied} spawned=${spawned}`);
