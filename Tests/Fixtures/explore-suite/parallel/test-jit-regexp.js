'use strict';
// Flags: --no-jitless
// With V8's JIT on, Node maps W+X memory at start-up; a strict W^X target refuses it and V8
// aborts (a crash). Under microkernel-jit (W^X emulated) it passes: the JIT section counts it.
const assert = require('assert');
let matches = 0;
for (let i = 0; i < 2000; i++) if (/^(a+)+b$/.test('a'.repeat(i % 12) + 'b')) matches++;
assert.strictEqual(matches, 2000 - Math.ceil(2000 / 12));
