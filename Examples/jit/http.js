// An HTTP server and client on loopback: 300 sequential requests.
const http = require('http');
const server = http.createServer((req, res) => {
  const n = Number(new URL(req.url, 'http://x').searchParams.get('n'));
  res.end(String(n * n));
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  let total = 0;
  for (let i = 0; i < 300; i++) {
    const body = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: `/?n=${i}`, agent: false }, (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve(data));
      }).on('error', reject);
    });
    total += Number(body);
  }
  server.close();
  console.log(`http ${total}`);
});
