'use strict';
// Runs a shell command asynchronously (child_process.exec → /bin/sh → uv_spawn → fork(2)).
const common = require('../common');
const assert = require('assert');
const { exec } = require('child_process');

exec('echo hello', common.mustCall((error, stdout) => {
  assert.ifError(error);
  assert.strictEqual(stdout.trim(), 'hello');
}));
