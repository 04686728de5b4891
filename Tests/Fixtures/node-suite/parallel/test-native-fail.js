'use strict';
// Fails natively too (a bug of the runtime under test, not a constraint): baseline-fail.
require('../common');
const assert = require('assert');

assert.strictEqual([1, 2, 3].length, 4, 'this test fails everywhere');
