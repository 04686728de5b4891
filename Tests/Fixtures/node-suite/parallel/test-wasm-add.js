// Flags: --no-jitless
'use strict';
// WebAssembly needs V8's compilers, which --jitless turns off: this test turns them back on
// (--no-jitless wins over NODE_OPTIONS=--jitless), as a test of a JIT-only feature would.
// V8 then maps its code space writable and executable at once: a target with W^X refuses
// (EACCES) and V8 aborts — a `wx` failure.
require('../common');
const assert = require('assert');

// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1,
                              3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11]);
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
assert.strictEqual(instance.exports.add(2, 3), 5);
