// Translated streams against a provider that misbehaves (issue 16): SSE fields the specification
// says to ignore (item 8), an Anthropic delta for a block never started (item 13), and answers
// built to cost memory: millions of one-character deltas, control characters that grow six-fold
// when escaped (item 3). A raw HTTP server plays the provider, so each test sends exactly the bytes
// it names.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createEventDecoder } from '../src/framing.js';
import { AnthropicStreamTranslator } from '../src/providers/anthropic/stream.js';
import type { UpstreamEvent } from '../src/providers/types.js';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';

/** The provider's answer to the next request. */
let answer: (res: ServerResponse) => void = (res) => res.writeHead(500).end();
let upstream: Server;
let upstreamUrl: string;
const gateways: GatewayServer[] = [];

before(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(async () => {
  for (const gateway of gateways) await gateway.shutdown(0);
  upstream.close();
});

/** A gateway whose DeepSeek (chat) and Anthropic providers are the raw server above. */
async function gateway(env: Record<string, string> = {}): Promise<string> {
  const { server, url } = await startGateway({
    DEEPSEEK_BASE_URL: upstreamUrl,
    DEEPSEEK_API_KEY: 'deepseek-server-key',
    ANTHROPIC_BASE_URL: upstreamUrl,
    ANTHROPIC_API_KEY: 'anthropic-server-key',
    ...env,
  });
  gateways.push(server);
  return url;
}

/** An SSE answer written in one go. */
function sse(text: string): (res: ServerResponse) => void {
  return (res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(text);
}

const chatChunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c1', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const anthropicEvent = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
const MESSAGE_START = anthropicEvent({ type: 'message_start', message: { id: 'msg_1', model: 'claude', usage: { input_tokens: 3, output_tokens: 0 } } });
const MESSAGE_END =
  anthropicEvent({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }) + anthropicEvent({ type: 'message_stop' });

interface Streamed {
  status: number;
  /** Each SSE event's text, in order. */
  events: string[];
  /** The most bytes one event had. */
  largestEvent: number;
}

/** POSTs a streamed request and reads every event of the answer. */
async function stream(url: string, path: string, provider: string, body: Record<string, unknown>): Promise<Streamed> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-provider': provider, 'x-gateway-max-retries': '0' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  const events = text.split('\n\n').filter((event) => event !== '');
  return { status: res.status, events, largestEvent: Math.max(0, ...events.map((event) => Buffer.byteLength(event))) };
}

const RESPONSES = { model: 'm', input: 'hi' };
const MESSAGES = { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
const CHAT = { model: 'claude', messages: [{ role: 'user', content: 'hi' }] };

/** The data of the events named `type`. */
function dataOf(events: string[], type: string): Record<string, unknown>[] {
  return events
    .filter((event) => event.startsWith(`event: ${type}\n`))
    .map((event) => JSON.parse(event.slice(event.indexOf('\ndata: ') + 7)) as Record<string, unknown>);
}

describe('SSE lines the specification says to ignore (issue 16, item 8)', () => {
  const IGNORED = 'x-custom-field: hello\nretry: soon\nretry\n: a comment\n';

  test('an unknown field and a retry that is not a number leave a translated stream whole (chat provider, Responses API)', async () => {
    const url = await gateway();
    answer = sse(IGNORED + chatChunk({ role: 'assistant', content: 'Hel' }) + IGNORED + chatChunk({ content: 'lo' }) + chatChunk({}, 'stop') + IGNORED + 'data: [DONE]\n\n');
    const streamed = await stream(url, '/responses', 'deepseek', RESPONSES);
    assert.equal(streamed.status, 200);
    assert.deepEqual(dataOf(streamed.events, 'error'), []);
    const [done] = dataOf(streamed.events, 'response.output_text.done');
    assert.equal(done?.text, 'Hello');
    assert.equal(dataOf(streamed.events, 'response.completed').length, 1);
  });

  test("an unknown field and a retry that is not a number leave a translated stream whole (Anthropic's stream, chat client)", async () => {
    const url = await gateway();
    answer = sse(
      MESSAGE_START +
        IGNORED +
        anthropicEvent({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
        `x-custom-field: hello\n${anthropicEvent({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } })}` +
        anthropicEvent({ type: 'content_block_stop', index: 0 }) +
        IGNORED +
        MESSAGE_END,
    );
    const streamed = await stream(url, '/chat/completions', 'anthropic', CHAT);
    assert.equal(streamed.status, 200);
    const chunks = streamed.events.filter((event) => event !== 'data: [DONE]').map((event) => JSON.parse(event.slice(6)) as { choices: { delta: { content?: string }; finish_reason: string | null }[] });
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), 'Hello');
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
    assert.equal(streamed.events.at(-1), 'data: [DONE]');
  });

  test('an event past the bound still ends the stream', async () => {
    const url = await gateway();
    answer = sse(chatChunk({ content: 'x'.repeat(2 * 1024 * 1024) }) + chatChunk({}, 'stop') + 'data: [DONE]\n\n');
    const res = await fetch(`${url}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'deepseek', 'x-gateway-max-retries': '0' },
      body: JSON.stringify({ ...RESPONSES, stream: true }),
    });
    assert.equal(res.status, 502);
    assert.match(await res.text(), /an event longer than 1048576 characters/);
  });

  test('the SSE decoder gives the same events whatever ignored lines are mixed in', () => {
    const decode = (text: string) => {
      const events: UpstreamEvent[] = [];
      const broken: string[] = [];
      const decoder = createEventDecoder('sse', { onEvent: (event) => events.push(event), onBroken: (reason) => broken.push(reason) }, 1024);
      decoder.feed(Buffer.from(text));
      decoder.end();
      return { events, broken };
    };
    const plain = 'event: a\ndata: 1\n\ndata: 2\n\n';
    const lines = ['x-custom-field: hello', 'retry: soon', 'retry: -1', 'retry', 'id', ':', 'Data: 3', 'x'.repeat(500)];
    for (const line of lines) {
      const mixed = `${line}\nevent: a\n${line}\ndata: 1\n${line}\n\n${line}\ndata: 2\n\n${line}\n`;
      assert.deepEqual(decode(mixed), decode(plain), line);
    }
    assert.deepEqual(decode(plain).broken, []);
  });
});

describe("an Anthropic delta for a block that was never started (issue 16, item 13)", () => {
  // Chosen: the stream fails with the client API's error event. An implicit start would have to
  // guess the block's type, and for a tool call its id and name, which only the start carries.
  const start = (index: number) => anthropicEvent({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
  const text = (index: number, piece: string) => anthropicEvent({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });

  test('after text was sent, the stream ends with an error event naming the block, not with the text dropped', async () => {
    const url = await gateway();
    // The stray delta comes in a later network chunk, once "Hello" has gone out.
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(MESSAGE_START + start(0) + text(0, 'Hello'));
      setTimeout(() => res.end(text(1, ' world') + anthropicEvent({ type: 'content_block_stop', index: 0 }) + MESSAGE_END), 50);
    };
    const streamed = await stream(url, '/chat/completions', 'anthropic', CHAT);
    assert.equal(streamed.status, 200);
    const last = JSON.parse(streamed.events.at(-1)!.slice(6)) as { error?: { message: string } };
    assert.match(last.error?.message ?? '', /content_block_delta for block 1, which is not open/);
    assert.ok(!streamed.events.includes('data: [DONE]'));
  });

  test('before anything was sent, the request fails with a 502 (which the gateway may retry)', async () => {
    const url = await gateway();
    answer = sse(MESSAGE_START + text(0, 'Hello') + start(0) + MESSAGE_END);
    const res = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'anthropic', 'x-gateway-max-retries': '0' },
      body: JSON.stringify({ ...CHAT, stream: true }),
    });
    assert.equal(res.status, 502);
    assert.match(await res.text(), /content_block_delta for block 0, which is not open/);
  });

  test('a delta after its block stopped is refused the same way', () => {
    const translator = new AnthropicStreamTranslator({ includeUsage: false, jsonTool: undefined });
    const events = (MESSAGE_START + start(0) + text(0, 'a') + anthropicEvent({ type: 'content_block_stop', index: 0 }) + text(0, 'b'))
      .split('\n\n')
      .filter((event) => event !== '')
      .map((event) => ({ event: 'message', data: event.slice(event.indexOf('data: ') + 6) }));
    let out = '';
    for (const event of events) out += translator.push(event);
    assert.equal(translator.failure?.status, 502);
    assert.match(out, /which is not open/);
  });
});
