// The commit point of a translated stream is an event, not a network read: content followed by a
// provider's error gives the client the content and then its API's error event, whether the two
// arrive in one read or split at any byte. The upstream writes each recorded stream in two parts,
// split at every byte boundary, through the whole request path.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { isAnthropic, startRawStack, type RawStack } from './raw-upstream.js';

const CHAT_STREAM =
  'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}\n\n' +
  'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","code":null}}\n\n';
const ANTHROPIC_STREAM =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}\n\n' +
  'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n';

/** Where the next answer is split: [0, split) first, the rest a moment later. */
let split = 0;
let stack: RawStack;
let origin: string;
const agent = new Agent({ connections: 4 });

before(async () => {
  stack = await startRawStack(
    (req, res) => {
      req.resume();
      req.on('end', () => {
        const stream = isAnthropic(req) ? ANTHROPIC_STREAM : CHAT_STREAM;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // No Nagle delay: each write leaves as its own segment.
        res.socket?.setNoDelay(true);
        if (split === 0) {
          res.end(stream);
          return;
        }
        res.write(stream.slice(0, split));
        void sleep(2).then(() => res.end(stream.slice(split)));
      });
    },
    { MAX_RETRIES: '0' },
  );
  origin = stack.origin;
});

after(async () => {
  await agent.close();
  await stack.close();
});

async function ask(path: string, provider: string, body: object): Promise<string> {
  const res = await request(`${origin}${path}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'x-provider': provider, authorization: 'Bearer use-server-key' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  // Ids and timestamps differ per request; what the client is told must not.
  return `${res.statusCode} ${text.replace(/"(id|created|created_at|sequence_number)":("[^"]*"|\d+)/g, '"$1":_').replace(/(msg|resp|chatcmpl|msg)_[\w-]+/g, '_')}`;
}

const CASES = [
  { name: 'Anthropic Messages from a chat provider', path: '/v1/messages', provider: 'fireworks', stream: CHAT_STREAM, error: /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/ },
  { name: 'chat completions from Anthropic', path: '/v1/chat/completions', provider: 'anthropic', stream: ANTHROPIC_STREAM, error: /data: \{"error":\{"message":"Overloaded"/ },
];

describe('a translated stream commits at its first content event, however the bytes are split', () => {
  for (const { name, path, provider, stream, error } of CASES) {
    test(`${name}: content then an error, in one read or split at any byte, is the content and the error event`, async () => {
      const body = { model: 'claude-x', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'hi' }] };
      split = 0;
      const whole = await ask(path, provider, body);
      assert.match(whole, /^200 /, whole);
      assert.match(whole, /Hello/, whole);
      assert.match(whole, error, whole);
      for (split = 1; split < stream.length; split++) {
        assert.equal(await ask(path, provider, body), whole, `split at byte ${split}`);
      }
    });
  }
});
