// HTTPS with node's own TLS (OpenSSL behind node's memory BIOs: node does the socket I/O itself).
//
//   node node_https.js server PORT CERT KEY   answers every request on 127.0.0.1:PORT: 200, or 404 if the path says "missing"
//   node node_https.js get PORT PATH SECRET   one GET, on a connection of its own, with Authorization: SECRET; prints the status
const fs = require('fs');
const https = require('https');

const [mode, port, a, b] = process.argv.slice(2);
if (mode === 'server') {
  https.createServer({cert: fs.readFileSync(a), key: fs.readFileSync(b)}, (request, response) => {
    request.resume();
    request.on('end', () => {
      const missing = request.url.includes('missing');
      response.writeHead(missing ? 404 : 200, {'Content-Type': 'text/plain'});
      response.end(missing ? 'not here\n' : 'hello from node\n');
    });
  }).listen(Number(port), '127.0.0.1', () => console.log('serving'));
} else if (mode === 'get') {
  const options = {host: '127.0.0.1', port: Number(port), path: a, agent: false, rejectUnauthorized: false,
    headers: {Authorization: b}};
  https.get(options, (response) => {
    response.resume();
    response.on('end', () => console.log(response.statusCode));
  }).on('error', (error) => {
    console.error(error.message);
    process.exit(1);
  });
} else {
  console.error('usage: node_https.js server PORT CERT KEY | get PORT PATH SECRET');
  process.exit(2);
}
