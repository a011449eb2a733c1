// The practical limit for a Node proxy: node:http in, undici out, bytes streamed straight back.
// No validation, retries, deadlines or logs: the floor that a real gateway is measured against.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = new URL(process.env.UPSTREAM);
const pool = new Pool(upstream.origin, { connections: null, pipelining: 1, keepAliveTimeout: 30_000 });

const server = createServer((req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    pool.stream(
      {
        method: req.method,
        path: upstream.pathname + req.url.slice(3),
        headers: { authorization: req.headers.authorization, 'content-type': 'application/json' },
        body: parts.length ? Buffer.concat(parts) : null,
      },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, { 'content-type': headers['content-type'] });
        return res;
      },
      (err) => {
        if (err && !res.headersSent) {
          res.writeHead(502);
          res.end();
        }
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
