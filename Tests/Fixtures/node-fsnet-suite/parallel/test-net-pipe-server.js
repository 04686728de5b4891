'use strict';
// Listens on a UNIX socket file (socket(AF_UNIX)).
const net = require('net');
const path = require('path');
const os = require('os');
const file = path.join(os.tmpdir(), `fsnet-${process.pid}.sock`);
const server = net.createServer();
server.on('error', (e) => { throw e; });
server.listen(file, () => server.close());
