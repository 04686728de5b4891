'use strict';
// A TLS server whose key is read from a file, as Node's own TLS tests do (fixtures/keys): on a
// target whose keys live in the trusted component, that read is what fails (tls/key-read).
const common = require('../common');
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const tls = require('tls');

const keys = path.join(__dirname, '..', 'fixtures', 'keys');
const key = fs.readFileSync(path.join(keys, 'agent-key.pem'));
const cert = fs.readFileSync(path.join(keys, 'agent.pem'));
const ca = fs.readFileSync(path.join(keys, 'ca.pem'));

const server = tls.createServer({ key, cert }, (socket) => socket.end('pong'));
server.listen(0, '127.0.0.1', common.mustCall(() => {
  const client = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', ca });
  let data = '';
  client.on('data', (chunk) => data += chunk);
  client.on('end', common.mustCall(() => {
    assert.strictEqual(data, 'pong');
    server.close();
  }));
}));
