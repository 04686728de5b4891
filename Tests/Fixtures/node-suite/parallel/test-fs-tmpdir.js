'use strict';
// Writes in its worker's own temp directory (NODE_TEST_DIR/.tmp.<TEST_THREAD_ID>).
const common = require('../common');
const assert = require('assert');
const fs = require('fs');

assert.match(process.env.TEST_THREAD_ID || '', /^\d+$/, 'the runner sets TEST_THREAD_ID per worker');
common.tmpdir.refresh();
const file = common.tmpdir.resolve('data.txt');
fs.writeFileSync(file, 'x'.repeat(1000));
assert.strictEqual(fs.readFileSync(file, 'utf8').length, 1000);
