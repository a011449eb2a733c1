// Translated streams against a provider that misbehaves (issue 16): SSE fields the specification
// says to ignore (item 8), an Anthropic delta for a block never started (item 13), and answers
// built to cost memory: millions of one-character deltas, control characters that grow six-fold
// when escaped (item 3). A raw HTTP server plays the provider, so each test sends exactly the bytes
// it names.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../src/config.js';
import { createEventDecoder } from '../src/framing.js';
import { anthropicMessages } from '../src/inbound/anthropic-messages/index.js';
import { MAX_ANSWER_BYTES } from '../src/inbound/chat.js';
import { openAIResponses } from '../src/inbound/openai-responses/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import { MAX_TEXT_ITEMS } from '../src/inbound/openai-responses/stream.js';
import type { InboundApi } from '../src/inbound/types.js';
import { AnthropicStreamTranslator } from '../src/providers/anthropic/stream.js';
import type { UpstreamEvent } from '../src/translate/stream-contract.js';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

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

describe('a translated stream holds a bounded answer (issue 16, item 3)', () => {
  const CONTEXT = { model: 'm', client: () => 'hardening', outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, thinking: 'effort' } as const;
  const streamOf = (api: InboundApi, maxAnswerBytes?: number) =>
    api.toChat(api === anthropicMessages ? { ...MESSAGES, stream: true } : { ...RESPONSES, stream: true }, { ...CONTEXT, maxAnswerBytes }).stream();
  const data = (delta: Record<string, unknown>, finish: string | null = null) => JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] });

  /** Heap bytes still in use after a full collection. */
  const heapInUse = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };

  // The Responses API holds text for its closing events; the Messages API holds the arguments of a
  // call that did not start as a JSON object, to send them whole at the end.
  const HELD = [
    ['openai-responses', openAIResponses, (piece: string) => data({ content: piece })],
    ['anthropic-messages', anthropicMessages, (piece: string) => data({ tool_calls: [{ index: 0, function: { arguments: piece } }] })],
  ] as const;

  for (const [name, api, delta] of HELD) {
    test(`${name}: 400,000 one-character deltas are held in about their own size, not one string node each`, () => {
      const deltas = 400_000;
      const translator = streamOf(api);
      if (api === anthropicMessages) translator.push({ event: 'message', data: data({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '' } }] }) });
      // Parsed once: the deltas' own strings are not what is measured.
      const event = { event: 'message', data: delta('x') };
      const before = heapInUse();
      for (let i = 0; i < deltas; i++) translator.push(event);
      const held = heapInUse() - before;
      // A rope node per delta is 32 bytes or more (12.8 MB here); the text itself is 400 KB.
      assert.ok(held < 4 * 1024 * 1024, `${held} bytes held for ${deltas} characters`);
      const end = translator.push({ event: 'message', data: data({}, api === anthropicMessages ? 'tool_calls' : 'stop') }) + translator.push({ event: 'message', data: '[DONE]' });
      assert.equal(translator.failure, undefined);
      assert.ok(end.includes('x'.repeat(deltas)), 'the whole text is in the closing events');
    });
  }

  for (const [name, api] of [['openai-responses', openAIResponses], ['anthropic-messages', anthropicMessages]] as const) {
    test(`${name}: a tool call whose every fragment carries a new id is tracked in constant memory`, () => {
      const fragments = 200_000;
      const translator = streamOf(api);
      translator.push({ event: 'message', data: data({ tool_calls: [{ index: 0, id: 'call_first', function: { name: 'f', arguments: '' } }] }) });
      const before = heapInUse();
      for (let i = 0; i < fragments; i++) translator.push({ event: 'message', data: `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_${i}","function":{"arguments":" "}}]}}]}` });
      const held = heapInUse() - before;
      // One map entry per fragment's id is about 9 MB here; the arguments themselves are 200 KB.
      assert.ok(held < 4 * 1024 * 1024, `${held} bytes held for ${fragments} fragments`);
      assert.equal(translator.failure, undefined);
    });
  }

  test(`openai-responses: reasoning and text alternating one character at a time open at most ${MAX_TEXT_ITEMS} items`, () => {
    const translator = streamOf(openAIResponses);
    const reasoning = { event: 'message', data: data({ reasoning_content: 'r' }) };
    const text = { event: 'message', data: data({ content: 't' }) };
    let out = '';
    for (let i = 0; i < 100_000 && translator.failure === undefined; i++) out = translator.push(i % 2 === 0 ? reasoning : text);
    assert.equal(translator.failure?.status, 502);
    assert.match(translator.failure!.error.message, /more than 1024 reasoning and message items/);
    assert.match(out, /^event: error\n/m);
  });

  test('anthropic-messages: arguments that stay white space for 200,000 fragments cost linear time, not a search of all of them per fragment', () => {
    const fragments = 200_000;
    const translator = streamOf(anthropicMessages);
    translator.push({ event: 'message', data: data({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '' } }] }) });
    const space = { event: 'message', data: data({ tool_calls: [{ index: 0, function: { arguments: ' ' } }] }) };
    const cpu = process.cpuUsage();
    for (let i = 0; i < fragments; i++) translator.push(space);
    const out = translator.push({ event: 'message', data: data({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }) });
    const { user, system } = process.cpuUsage(cpu);
    // Searching everything held at each fragment is 2e10 characters (many seconds); once each, well under one.
    assert.ok(user + system < 5_000_000, `${(user + system) / 1000} ms of CPU`);
    assert.match(out, /input_json_delta/);
  });

  for (const [name, api] of [['openai-responses', openAIResponses], ['anthropic-messages', anthropicMessages]] as const) {
    test(`${name}: the bound counts the answer's JSON bytes, so control characters count six each`, () => {
      const bound = 64 * 1024;
      const translator = streamOf(api, bound);
      const piece = data({ content: '\u0001'.repeat(100) });
      let pushed = 0;
      let largest = 0;
      while (translator.failure === undefined && pushed < 10_000) {
        largest = Math.max(largest, translator.push({ event: 'message', data: piece }).length);
        pushed++;
      }
      // 600 bytes of JSON per delta: the 110th passes 64 KiB.
      assert.equal(pushed, Math.floor(bound / 600) + 1);
      assert.match(translator.failure!.error.message, /larger than 65536 bytes of JSON/);
      assert.ok(largest < 4096, `an event of ${largest} characters`);
    });
  }

  test(`the default bound is ${MAX_ANSWER_BYTES} bytes`, () => {
    const translator = streamOf(openAIResponses);
    const piece = data({ content: '\u0001'.repeat(64 * 1024) });
    let pushed = 0;
    while (translator.failure === undefined && pushed < 1000) {
      translator.push({ event: 'message', data: piece });
      pushed++;
    }
    assert.equal(pushed, Math.floor(MAX_ANSWER_BYTES / (6 * 64 * 1024)) + 1);
  });

  test('MAX_TRANSLATED_ANSWER_BYTES ends a stream of control characters with an error event, and no event carries more than the bound', async () => {
    const bound = 256 * 1024;
    const url = await gateway({ MAX_TRANSLATED_ANSWER_BYTES: String(bound) });
    // 2 Mi control characters: 12 MiB once escaped, and the Responses API's closing events would
    // repeat them four times.
    const deltas = 2048;
    const chunk = chatChunk({ content: '\u0001'.repeat(1024) });
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let sent = 0;
      const pump = (): void => {
        while (sent < deltas) {
          sent += 64;
          if (!res.write(chunk.repeat(64))) return void res.once('drain', pump);
        }
        res.end(chatChunk({}, 'stop') + 'data: [DONE]\n\n');
      };
      res.on('close', () => (sent = deltas));
      pump();
    };
    for (const [path, body] of [['/responses', RESPONSES], ['/messages', MESSAGES]] as const) {
      const streamed = await stream(url, path, 'deepseek', body);
      assert.equal(streamed.status, 200, path);
      const last = streamed.events.at(-1)!;
      assert.match(last, /^event: error\n/, path);
      assert.match(last, /larger than 262144 bytes of JSON/, path);
      assert.ok(streamed.largestEvent < bound, `${path}: an event of ${streamed.largestEvent} bytes`);
    }
  });
});

test('MAX_TRANSLATED_ANSWER_BYTES must be a positive integer', () => {
  assert.throws(() => loadConfig({ MAX_TRANSLATED_ANSWER_BYTES: '0' }), /MAX_TRANSLATED_ANSWER_BYTES: must be an integer, at least 1/);
  assert.equal(loadConfig({}).MAX_TRANSLATED_ANSWER_BYTES, MAX_ANSWER_BYTES);
});
