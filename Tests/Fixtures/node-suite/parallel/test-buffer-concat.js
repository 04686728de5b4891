'use strict';
// Plain: buffers and strings.
require('../common');
const assert = require('assert');

const joined = Buffer.concat([Buffer.from('strict'), Buffer.from('run')]);
assert.strictEqual(joined.toString(), 'strictrun');
assert.strictEqual(joined.toString('base64'), 'c3RyaWN0cnVu');
