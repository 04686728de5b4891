// Flags: --no-jitless
'use strict';
// WebAssembly.instantiate (the promise API); needs V8's compilers, as test-wasm-add does.
const common = require('../common');
const assert = require('assert');

// (module (func (export "answer") (result i32) i32.const 42))
const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 10, 1, 6, 97,
                              110, 115, 119, 101, 114, 0, 0, 10, 6, 1, 4, 0, 65, 42, 11]);
WebAssembly.instantiate(bytes).then(common.mustCall(({ instance }) => {
  assert.strictEqual(instance.exports.answer(), 42);
}));
