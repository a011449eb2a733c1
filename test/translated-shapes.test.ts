// A translated answer is read in the shape the client asked for. A provider that streams an answer
// nobody asked to stream, or answers a streamed request with a whole body, gets a clear 502 in the
// client's API, never its bytes relayed in a shape the client cannot read.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { ANTHROPIC_ANSWER, CHAT_ANSWER, isAnthropic, startRawStack, type RawStack } from './raw-upstream.js';

const CHAT_STREAM =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}\n\n' +
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
  'data: [DONE]\n\n';
const ANTHROPIC_STREAM =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}\n\n' +
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

/** What the upstream answers: the shape the request asked for (`honest`), or the other one. */
let honest = false;
let stack: RawStack;
let origin: string;

before(async () => {
  stack = await startRawStack(
    (req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        const asked = (JSON.parse(text) as { stream?: boolean }).stream === true;
        const anthropic = isAnthropic(req);
        const streamed = honest ? asked : !asked;
        res.writeHead(200, { 'content-type': streamed ? 'text/event-stream' : 'application/json' });
        res.end(streamed ? (anthropic ? ANTHROPIC_STREAM : CHAT_STREAM) : anthropic ? ANTHROPIC_ANSWER : CHAT_ANSWER);
      });
    },
    { MAX_RETRIES: '0' },
  );
  origin = stack.origin;
});

after(() => stack.close());

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
