'use strict';
// Sets a file's mode to what it already is (a tool normalizing permissions) and goes on: chmod(2)
// must not fail, and nothing depends on its effect. ENOSYS or EPERM throw; a target that accepts
// chmod and does nothing (noop) passes: explore finds "a no-op is enough".
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const dir = fs.mkdtempSync(path.join(process.env.NODE_TEST_DIR || require('os').tmpdir(), 'chmod-'));
const file = path.join(dir, 'data.txt');
fs.writeFileSync(file, 'data\n', { mode: 0o644 });
fs.chmodSync(file, fs.statSync(file).mode & 0o777);
assert.strictEqual(fs.readFileSync(file, 'utf8'), 'data\n');
fs.rmSync(dir, { recursive: true });
