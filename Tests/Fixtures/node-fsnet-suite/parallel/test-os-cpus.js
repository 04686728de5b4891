'use strict';
// Counts the CPUs (libuv reads /proc/stat).
const assert = require('assert');
assert.ok(require('os').cpus().length > 0);
