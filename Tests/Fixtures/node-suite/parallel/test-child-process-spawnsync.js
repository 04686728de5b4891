'use strict';
// Spawns a child synchronously: libuv's uv_spawn creates it with fork(2), which a target
// without fork refuses (EPERM) — a `process` failure.
require('../common');
const assert = require('assert');
const { spawnSync } = require('child_process');

const result = spawnSync(process.execPath, ['-e', 'process.stdout.write("child")']);
assert.ifError(result.error);
assert.strictEqual(result.status, 0);
assert.strictEqual(result.stdout.toString(), 'child');
