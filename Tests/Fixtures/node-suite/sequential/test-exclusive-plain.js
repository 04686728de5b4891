'use strict';
// Sequential and plain: takes the lock, holds it, passes.
require('../common');
const fs = require('fs');
const path = require('path');

const lock = path.join(process.env.NODE_TEST_DIR || __dirname, 'sequential.lock');
fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
process.on('exit', () => fs.rmSync(lock, { force: true }));
setTimeout(() => {}, 300);
