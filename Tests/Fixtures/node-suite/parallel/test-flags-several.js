// Flags: --expose-gc --no-warnings
// Flags: --stack-trace-limit=7
'use strict';
// Several flags, on two `// Flags:` lines: all of them reach node, in order.
require('../common');
const assert = require('assert');

assert.ok(process.execArgv.includes('--expose-gc'), `execArgv: ${process.execArgv}`);
assert.ok(process.execArgv.includes('--no-warnings'), `execArgv: ${process.execArgv}`);
assert.strictEqual(Error.stackTraceLimit, 7);
