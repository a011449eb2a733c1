// A fast upstream for benchmarks that speaks Fireworks' inference API (under /inference/v1),
// Anthropic's Messages API (POST /v1/messages) and Bedrock's Converse API (POST /model/<id>/converse
// and /converse-stream, signature not checked: the bench measures the gateway). Answers are built
// once; streams write one SSE event (or one binary event-stream frame) per write (as a real
// provider's tokens arrive), yielding between events so that each can travel on its own.
//   model "bench-stream-<N>"   N content chunks (stream: true, or Bedrock's converse-stream)
//   model "bench-slow-<N>-<ms>" N chunks, <ms> apart (long-lived streams)
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

// The root package's copies (bench/ has its own node_modules): the codec the gateway decodes with.
const requireFromRoot = createRequire(new URL('../package.json', import.meta.url));
const { EventStreamCodec } = requireFromRoot('@smithy/eventstream-codec');
const { fromUtf8, toUtf8 } = requireFromRoot('@smithy/util-utf8');

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
// Fireworks' own rate-limit headers (../docs/providers or FIREWORKS.md): a gateway passes them on to a
// client that sent its own key, and sends its own in their place to one that sent a gateway key.
const HEADERS = {
  'x-ratelimit-limit-requests': '6000',
  'x-ratelimit-remaining-requests': '5999',
  'x-ratelimit-limit-tokens-prompt': '2000000',
  'x-ratelimit-remaining-tokens-prompt': '1999988',
  'x-ratelimit-limit-tokens-generated': '200000',
  'x-ratelimit-remaining-tokens-generated': '199994',
  'x-request-id': 'bench',
};
const OPENAI_STREAM = { headers: HEADERS, head: [], chunk: CHUNK, tail: [LAST] };

// Anthropic's Messages API: the answer, and the event sequence of a streamed answer (message_start,
// content_block_start, ping, N content_block_delta, content_block_stop, message_delta, message_stop).
const ANTHROPIC_MODEL = 'claude-bench';
const MESSAGE = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: ANTHROPIC_MODEL,
  content: [{ type: 'text', text: 'Hello from the benchmark upstream.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 6 },
});
const event = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const ANTHROPIC_HEADERS = {
  'anthropic-ratelimit-requests-limit': '4000',
  'anthropic-ratelimit-requests-remaining': '3999',
  'request-id': 'req_bench',
};
const ANTHROPIC_STREAM = {
  headers: ANTHROPIC_HEADERS,
  head: [
    event('message_start', {
      message: { id: 'msg_bench', type: 'message', role: 'assistant', model: ANTHROPIC_MODEL, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } },
    }),
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', {}),
  ],
  chunk: event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' token' } }),
  tail: [
    event('content_block_stop', { index: 0 }),
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 100 } }),
    event('message_stop', {}),
  ],
};
// Bedrock's Converse API: the answer, and the frames of a streamed answer (messageStart, N
// contentBlockDelta, contentBlockStop, messageStop, metadata), as sim/bedrock.ts sends them.
const CONVERSE = JSON.stringify({
  metrics: { latencyMs: 100 },
  output: { message: { content: [{ text: 'Hello from the benchmark upstream.' }], role: 'assistant' } },
  stopReason: 'end_turn',
  usage: { inputTokens: 12, outputTokens: 6, totalTokens: 18 },
});
const codec = new EventStreamCodec(toUtf8, fromUtf8);
const frame = (type, data) => {
  const bytes = codec.encode({
    headers: {
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify(data)),
  });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};
const BEDROCK_HEADERS = { 'x-amzn-requestid': '00000000-0000-4000-8000-000000000000' };
const BEDROCK_STREAM = {
  contentType: 'application/vnd.amazon.eventstream',
  headers: BEDROCK_HEADERS,
  head: [frame('messageStart', { role: 'assistant' })],
  chunk: frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' token' } }),
  tail: [
    frame('contentBlockStop', { contentBlockIndex: 0 }),
    frame('messageStop', { stopReason: 'end_turn' }),
    frame('metadata', { usage: { inputTokens: 12, outputTokens: 100, totalTokens: 112 }, metrics: { latencyMs: 100 } }),
  ],
};
const BEDROCK_PATH = /^\/model\/([^/]+)\/(converse|converse-stream)$/;
const anthropicError = (type, message) => JSON.stringify({ type: 'error', error: { type, message } });
const NO_KEY = anthropicError('authentication_error', 'x-api-key header is required');
const NO_VERSION = anthropicError('invalid_request_error', 'anthropic-version: header is required');
const STREAM_MODEL = /bench-(stream|slow)-(\d+)(?:-(\d+))?/;

/** Writes `shape`'s head events, `chunks` content events and its tail events, one per write. */
function stream(res, shape, chunks, delayMs) {
  res.writeHead(200, { 'content-type': shape.contentType ?? 'text/event-stream', 'cache-control': 'no-cache', ...shape.headers });
  const { head, chunk, tail } = shape;
  const total = head.length + chunks + tail.length;
  let sent = 0;
  const next = () => {
    if (res.destroyed) return;
    const i = sent++;
    const data = i < head.length ? head[i] : i < head.length + chunks ? chunk : tail[i - head.length - chunks];
    if (sent === total) return void res.end(data);
    res.write(data);
    // The pause models the time between tokens: only between content events.
    if (delayMs > 0 && i >= head.length && i < head.length + chunks) setTimeout(next, delayMs);
    else setImmediate(next);
  };
  next();
}

function json(res, status, body, headers) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function startUpstream(port = 0) {
  const server = createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      if (req.url.endsWith('/embeddings')) return json(res, 200, EMBEDDING, HEADERS);
      const bedrock = BEDROCK_PATH.exec(req.url);
      if (bedrock) {
        if (bedrock[2] === 'converse') return json(res, 200, CONVERSE, BEDROCK_HEADERS);
        const match = STREAM_MODEL.exec(decodeURIComponent(bedrock[1]));
        return stream(res, BEDROCK_STREAM, match ? Number(match[2]) : 1, Number(match?.[3] ?? 0));
      }
      const anthropic = req.url.startsWith('/v1/messages');
      // Anthropic refuses a request without its key or API version: so does this upstream, so that
      // a target that does not send them fails here too.
      if (anthropic && !req.headers['x-api-key']) return json(res, 401, NO_KEY, ANTHROPIC_HEADERS);
      if (anthropic && !req.headers['anthropic-version']) return json(res, 400, NO_VERSION, ANTHROPIC_HEADERS);
      const body = Buffer.concat(parts).toString();
      const match = STREAM_MODEL.exec(body);
      if (match && body.includes('"stream":true')) {
        return stream(res, anthropic ? ANTHROPIC_STREAM : OPENAI_STREAM, Number(match[2]), Number(match[3] ?? 0));
      }
      if (anthropic) return json(res, 200, MESSAGE, ANTHROPIC_HEADERS);
      json(res, 200, CHAT, HEADERS);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startUpstream(Number(process.env.PORT ?? 0));
  process.stdout.write(`listening ${server.address().port}\n`);
}
