'use strict';
// Sequential: holds a fixed port and a lock file, and fails if another sequential test runs at
// the same time — the runner must run sequential/ one test at a time.
const common = require('../common');
const assert = require('assert');
const fs = require('fs');
const net = require('net');
const path = require('path');

const lock = path.join(process.env.NODE_TEST_DIR || __dirname, 'sequential.lock');
fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });  // throws EEXIST when another holds it
process.on('exit', () => fs.rmSync(lock, { force: true }));

const server = net.createServer((socket) => socket.end('pong'));
server.listen(common.PORT, '127.0.0.1', common.mustCall(() => {
  const client = net.connect(common.PORT, '127.0.0.1');
  let data = '';
  client.on('data', (chunk) => data += chunk);
  client.on('end', common.mustCall(() => {
    assert.strictEqual(data, 'pong');
    setTimeout(() => server.close(), 300);
  }));
}));
