'use strict';
// child_process.spawnSync → libuv uv_spawn → fork(2), which the target refuses. An errno (ENOSYS)
// does not help: the child must exist. Explore finds "needs the call: only allowing it passes".
const assert = require('assert');
const { spawnSync } = require('child_process');
const result = spawnSync(process.execPath, ['--jitless', '-e', 'process.stdout.write("child")']);
assert.ifError(result.error);
assert.strictEqual(result.stdout.toString(), 'child');
