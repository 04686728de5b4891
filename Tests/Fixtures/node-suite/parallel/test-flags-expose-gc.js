// Flags: --expose-gc
'use strict';
// Fails unless the runner passes the file's `// Flags:` to node.
require('../common');
const assert = require('assert');

assert.strictEqual(typeof globalThis.gc, 'function', 'gc() is exposed only with --expose-gc');
globalThis.gc();
