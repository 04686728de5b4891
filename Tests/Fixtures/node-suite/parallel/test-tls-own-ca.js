'use strict';
// A TLS client that trusts its own test CA (the `ca` option) talking to a server of the same
// test, whose key the program holds in memory (no key file is read). On the target the trusted
// component verifies the server against its own store, which has no test CA: the handshake fails
// as a certificate error (tls/verification-failed).
const common = require('../common');
const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const tls = require('tls');

const keys = path.join(__dirname, '..', 'fixtures', 'keys');
// agent-key.pem as PKCS#8 DER, base64: a key in the program's memory, not in a file it reads.
const key = crypto.createPrivateKey({ key: Buffer.from('MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgq6d0WZ5UXoQbRn3Ml/AYbad/ASvKc0kKQlqUitR7couhRANCAAT60VJ7ELPqi2HUr+7sMeQh88f020j1ltzwUTCBkm6b3YIJTGzMjcSx7VFHfaPOsKAjVrDxTAeA+JKdllWGJqk+', 'base64'), format: 'der', type: 'pkcs8' })
  .export({ format: 'pem', type: 'pkcs8' });
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
