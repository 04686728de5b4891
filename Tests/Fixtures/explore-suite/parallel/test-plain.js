'use strict';
// Nothing the target refuses: passes in both modes (explore never re-runs it).
const assert = require('assert');
assert.strictEqual([1, 2, 3].map((x) => x * 2).join(','), '2,4,6');
