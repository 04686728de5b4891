'use strict';
// Pure computation: passes everywhere.
const assert = require('assert');
assert.strictEqual([1, 2, 3].reduce((a, b) => a + b), 6);
