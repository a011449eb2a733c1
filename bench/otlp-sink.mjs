// An OTLP/HTTP receiver for the bench: takes every export (traces, metrics) and answers 200, as a
// collector does, so that the gateway's exporters run as they would in production.
import { createServer } from 'node:http';

let exports = 0;
let bytes = 0;
const server = createServer((req, res) => {
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => {
  console.error(`otlp-sink: ${exports} exports, ${bytes} bytes`);
  process.exit(0);
});
