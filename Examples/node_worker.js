#!/usr/bin/env node
// node_worker.js — the control for threads in Node: two worker_threads, each computes a sum and
// posts it back. Workers are threads (clone with CLONE_THREAD), allowed under every profile.
//
// Expected (op `workers`), under every profile and without strictrun:
//   RESULT workers ok count=2
// or RESULT workers errno=<code> if a worker fails to start or throws.
// V8 asks for W+X memory at start-up; run `node --jitless node_worker.js` under every profile
// that denies W+X (microkernel, microkernel-strict, apple-jit) — workers inherit the flag.
// Exits 0 whenever it ran to the end.
'use strict';

const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const fs = require('fs');

function out(line) {
  fs.writeSync(1, line + '\n');
}

if (!isMainThread) {
  let sum = 0;
  for (let i = 1; i <= workerData.n; i++) sum += i;
  parentPort.postMessage({ n: workerData.n, sum });
} else {
  out('EXPECT workers microkernel=ok microkernel-strict=ok apple-jit=ok audit=ok');
  const inputs = [100000, 200000];
  let results = 0;
  let failed = false;
  const fail = (err) => {
    if (failed) return;
    failed = true;
    const code = (err && (err.code || err.name)) || 'UNKNOWN';
    out(`RESULT workers errno=${code}`);
    process.exitCode = 0;
  };
  for (const n of inputs) {
    let worker;
    try {
      worker = new Worker(__filename, { workerData: { n } });
    } catch (err) {
      fail(err);
      break;
    }
    worker.on('message', (msg) => {
      if (failed) return;
      if (msg.sum !== (msg.n * (msg.n + 1)) / 2) {
        // A wrong answer is a bug, not a policy outcome: no RESULT line, exit 1.
        failed = true;
        process.stderr.write(`node_worker: wrong sum from worker for n=${msg.n}\n`);
        process.exitCode = 1;
        return;
      }
      results++;
      if (results === inputs.length) out(`RESULT workers ok count=${results}`);
    });
    worker.on('error', fail);
  }
}
