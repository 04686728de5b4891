'use strict';
// Sequential, and spawns a child (execFileSync → uv_spawn → fork(2)): a `process` failure
// under a target without fork. Takes the same lock as test-exclusive-port.
require('../common');
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const lock = path.join(process.env.NODE_TEST_DIR || __dirname, 'sequential.lock');
fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
process.on('exit', () => fs.rmSync(lock, { force: true }));

const out = execFileSync(process.execPath, ['-p', '6 * 7']);
assert.strictEqual(out.toString().trim(), '42');
const start = Date.now();
while (Date.now() - start < 300);  // hold the lock a moment
