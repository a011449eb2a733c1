// A fast upstream that speaks Fireworks' inference API, for benchmarks: answers are built once,
// streams write one SSE event per write (as a real provider's tokens arrive), yielding between
// events so that each can travel on its own.
//   model "bench-stream-<N>"   N content chunks (stream: true)
//   model "bench-slow-<N>-<ms>" N chunks, <ms> apart (long-lived streams)
import { createServer } from 'node:http';

const CHAT = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1700000000,
  model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the benchmark upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 },
});
const EMBEDDING = JSON.stringify({
  object: 'list',
  model: 'nomic-ai/nomic-embed-text-v1.5',
  data: [{ object: 'embedding', index: 0, embedding: Array.from({ length: 768 }, (_, i) => Math.sin(i) / 10) }],
  usage: { prompt_tokens: 8, total_tokens: 8 },
});
const CHUNK = `data: ${JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
  choices: [{ index: 0, delta: { content: ' token' }, finish_reason: null }],
})}\n\n`;
const LAST = `data: ${JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'accounts/fireworks/models/llama-v3p1-8b-instruct',
  choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 100, total_tokens: 112 },
})}\n\ndata: [DONE]\n\n`;
const HEADERS = { 'x-ratelimit-limit-requests': '6000', 'x-ratelimit-remaining-requests': '5999', 'x-request-id': 'bench' };
const STREAM_MODEL = /bench-(stream|slow)-(\d+)(?:-(\d+))?/;

function stream(res, chunks, delayMs) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...HEADERS });
  let sent = 0;
  const next = () => {
    if (res.destroyed) return;
    if (sent === chunks) return void res.end(LAST);
    sent++;
    res.write(CHUNK);
    if (delayMs > 0) setTimeout(next, delayMs);
    else setImmediate(next);
  };
  next();
}

export function startUpstream(port = 0) {
  const server = createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      if (req.url.endsWith('/embeddings')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(EMBEDDING), ...HEADERS });
        return void res.end(EMBEDDING);
      }
      const body = Buffer.concat(parts).toString();
      const match = STREAM_MODEL.exec(body);
      if (match && body.includes('"stream":true')) return stream(res, Number(match[2]), Number(match[3] ?? 0));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(CHAT), ...HEADERS });
      res.end(CHAT);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startUpstream(Number(process.env.PORT ?? 0));
  process.stdout.write(`listening ${server.address().port}\n`);
}
