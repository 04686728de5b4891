// tls_upstream.js — the loopback TLS server of the TLS benchmark (workload 6): HTTPS on
// 127.0.0.1:PORT with the given certificate. GET /small answers 2 bytes; GET /bulk?mb=N streams
// N MiB of zeros. Prints "ready PORT" once it listens; runs until killed.
//   node tls_upstream.js PORT CERT.pem KEY.pem
'use strict';
const https = require('https');
const fs = require('fs');
const [port, certPath, keyPath] = process.argv.slice(2);
const chunk = Buffer.alloc(1 << 20);

const server = https.createServer({ cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) }, (req, res) => {
  const url = new URL(req.url, 'https://localhost');
  if (url.pathname === '/bulk') {
    const mb = Number(url.searchParams.get('mb') || 256);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mb * chunk.length });
    let sent = 0;
    const pump = () => {
      while (sent < mb) {
        sent++;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  } else {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  }
});
server.keepAliveTimeout = 1000;
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${server.address().port}`));
