'use strict';
// Spawns a child with inherited stdio (no pipes: uv_spawn forks).
const assert = require('assert');
const { spawnSync } = require('child_process');
const r = spawnSync(process.execPath, ['-e', '0'], { stdio: 'inherit' });
assert.ifError(r.error);
assert.strictEqual(r.status, 0);
