'use strict';
// Plain: no process, no JIT-only feature. Passes everywhere.
require('../common');
const assert = require('assert');

assert.strictEqual(1 + 1, 2);
assert.deepStrictEqual({ a: [1, 2] }, { a: [1, 2] });
assert.throws(() => { throw new TypeError('x'); }, TypeError);
