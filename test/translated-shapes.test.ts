// A translated answer is read in the shape the client asked for. A provider that streams an answer
// nobody asked to stream, or answers a streamed request with a whole body, gets a clear 502 in the
// client's API, never its bytes relayed in a shape the client cannot read.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';

const CHAT_ANSWER = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});
const CHAT_STREAM =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}\n\n' +
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
  'data: [DONE]\n\n';
const ANTHROPIC_ANSWER = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-x',
  content: [{ type: 'text', text: 'ok' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
});
const ANTHROPIC_STREAM =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}\n\n' +
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

/** What the upstream answers: the shape the request asked for (`honest`), or the other one. */
let honest = false;
let upstream: Server;
let gateway: GatewayServer;
let origin: string;

before(async () => {
  upstream = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      const asked = (JSON.parse(text) as { stream?: boolean }).stream === true;
      const anthropic = req.url?.endsWith('/messages') === true;
      const streamed = honest ? asked : !asked;
      res.writeHead(200, { 'content-type': streamed ? 'text/event-stream' : 'application/json' });
      res.end(streamed ? (anthropic ? ANTHROPIC_STREAM : CHAT_STREAM) : anthropic ? ANTHROPIC_ANSWER : CHAT_ANSWER);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const started = await startGateway({
    FIREWORKS_BASE_URL: `${upstreamUrl}/v1`,
    FIREWORKS_API_KEY: 'fw-key',
    DEEPSEEK_BASE_URL: `${upstreamUrl}/v1`,
    DEEPSEEK_API_KEY: 'deepseek-key',
    ANTHROPIC_BASE_URL: upstreamUrl,
    ANTHROPIC_API_KEY: 'sk-ant-key',
    MAX_RETRIES: '0',
  });
  gateway = started.server;
  origin = started.url.slice(0, -3);
});

after(async () => {
  await gateway.shutdown(0);
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

const ROUTES = [
  { path: '/v1/messages', provider: 'fireworks', body: { model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } },
  { path: '/v1/responses', provider: 'deepseek', body: { model: 'm', input: 'hi' } },
  { path: '/v1/chat/completions', provider: 'anthropic', body: { model: 'claude-x', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } },
];

async function post(path: string, provider: string, body: object): Promise<{ status: number; type: string; text: string }> {
  const res = await request(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-provider': provider, authorization: 'Bearer use-server-key' },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

describe('translated answers take the shape the client asked for', () => {
  for (const { path, provider, body } of ROUTES) {
    test(`${path} via ${provider}: a stream answering a request that asked for none is a 502 in JSON`, async () => {
      honest = false;
      const answer = await post(path, provider, { ...body, stream: false });
      assert.equal(answer.status, 502, answer.text);
      assert.match(answer.type, /^application\/json/);
      assert.match(answer.text, /with a stream although none was asked for/);
    });

    test(`${path} via ${provider}: a whole body answering a streamed request is a 502, not JSON relayed to a stream reader`, async () => {
      honest = false;
      const answer = await post(path, provider, { ...body, stream: true });
      assert.equal(answer.status, 502, answer.text);
      assert.match(answer.text, /answered a streamed request with a whole body \(\\"application\/json\\"\), not a stream/);
    });

    test(`${path} via ${provider}: each shape, when asked for, is translated`, async () => {
      honest = true;
      const whole = await post(path, provider, { ...body, stream: false });
      assert.equal(whole.status, 200, whole.text);
      assert.match(whole.type, /^application\/json/);
      const streamed = await post(path, provider, { ...body, stream: true });
      assert.equal(streamed.status, 200, streamed.text);
      assert.match(streamed.type, /^text\/event-stream/);
      assert.match(streamed.text, /ok/);
    });
  }
});
