'use strict';
// Two refused calls at two call sites, each needed: chmod(2) (a no-op would do) and then
// fork(2) under spawnSync (only allowing it does). No single site's answer fixes the test;
// answering both at once does: explore says "needs several sites".
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const dir = fs.mkdtempSync(path.join(process.env.NODE_TEST_DIR || require('os').tmpdir(), 'both-'));
const script = path.join(dir, 'child.js');
fs.writeFileSync(script, 'process.stdout.write("ran")\n');
fs.chmodSync(script, 0o755);
const result = spawnSync(process.execPath, ['--jitless', script]);
assert.ifError(result.error);
assert.strictEqual(result.stdout.toString(), 'ran');
fs.rmSync(dir, { recursive: true });
