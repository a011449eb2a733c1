// The inbound translators against whatever a client or a provider sends: a request of any shape is
// translated or refused with a GatewayError (a 4xx naming the field), never another exception; a
// stream of any chunks is translated or ends in a reported failure, never an exception, and after
// a failure or the end nothing more is sent.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { GatewayError } from '../src/errors.js';
import { anthropicMessages } from '../src/inbound/anthropic-messages/index.js';
import { openAIResponses } from '../src/inbound/openai-responses/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { InboundApi } from '../src/inbound/types.js';
import { MAX_ANSWER_BYTES, MAX_TOOL_CALLS } from '../src/inbound/chat.js';
import { createEventDecoder } from '../src/framing.js';

const SEED = 20_251_125;
const RUNS = 400;
const CONTEXT = { model: 'm', client: () => 'fuzz', outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, thinking: 'effort' } as const;

/** JSON values biased towards the shapes the APIs use: objects with their field names and types. */
const KEYS = [
  'type', 'role', 'content', 'text', 'source', 'data', 'media_type', 'url', 'id', 'name', 'input', 'tool_use_id', 'is_error',
  'call_id', 'arguments', 'output', 'image_url', 'cache_control', 'thinking', 'signature', 'budget_tokens', 'effort', 'format',
  'schema', 'strict', 'parameters', 'input_schema', 'description', 'tools', 'tool_choice', 'detail', 'file_id', 'file_data',
] as const;
const TYPES = [
  'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', 'document', 'message', 'function_call',
  'function_call_output', 'input_text', 'output_text', 'input_image', 'input_file', 'reasoning', 'item_reference', 'function',
  'custom', 'auto', 'any', 'tool', 'none', 'required', 'json_schema', 'json_object', 'base64', 'url', 'enabled', 'adaptive',
  'web_search', 'user', 'assistant', 'system', 'developer',
] as const;
const { json } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...TYPES),
    fc.string({ maxLength: 8 }),
    fc.integer({ min: -5, max: 70_000 }),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('json'), { maxKeys: 5 }),
  ),
}));

const messagesBody = fc.record(
  {
    model: fc.oneof(fc.constant('m'), json),
    max_tokens: fc.oneof(fc.integer({ min: 1, max: 64_000 }), json),
    system: json,
    messages: fc.oneof(fc.array(fc.record({ role: fc.constantFrom('user', 'assistant', 'system'), content: json }), { maxLength: 4 }), json),
    tools: json,
    tool_choice: json,
    thinking: json,
    output_config: json,
    metadata: json,
    stop_sequences: json,
    temperature: json,
    stream: json,
  },
  { requiredKeys: ['model', 'max_tokens', 'messages'] },
);

const responsesBody = fc.record(
  {
    model: fc.oneof(fc.constant('m'), json),
    input: fc.oneof(fc.string(), fc.array(json, { maxLength: 4 }), json),
    instructions: json,
    tools: json,
    tool_choice: json,
    text: json,
    reasoning: json,
    max_output_tokens: json,
    temperature: json,
    stream: json,
    store: json,
  },
  { requiredKeys: ['model', 'input'] },
);

function translatedOrRefused(api: InboundApi, body: Record<string, unknown>): void {
  try {
    const translation = api.toChat(body, CONTEXT);
    // What is sent upstream must serialise.
    JSON.stringify(translation.chat);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    assert.ok(error.status >= 400 && error.status < 500, `status ${error.status}`);
    assert.ok(error.message.length > 0);
  }
}

/** Chat stream chunks as hosts send them, and as they should not. */
const delta = fc.record(
  {
    role: fc.constant('assistant'),
    content: fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null), fc.array(fc.record({ type: fc.constant('text'), text: fc.string({ maxLength: 4 }) }), { maxLength: 2 })),
    reasoning_content: fc.string({ maxLength: 6 }),
    tool_calls: fc.array(
      fc.record(
        {
          index: fc.integer({ min: 0, max: 2 }),
          id: fc.constantFrom('call_a', 'call_b', ''),
          function: fc.record({ name: fc.constantFrom('f', 'g'), arguments: fc.constantFrom('{"a":', '1}', '', '"x"', '{}') }, { requiredKeys: [] }),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);
const chunkData = fc.oneof(
  { weight: 6, arbitrary: fc.record({ choices: fc.array(fc.record({ index: fc.constant(0), delta, finish_reason: fc.constantFrom(null, 'stop', 'tool_calls', 'length', 'weird') }), { maxLength: 1 }), usage: fc.option(fc.record({ prompt_tokens: fc.nat(50), completion_tokens: fc.nat(50) })) }, { requiredKeys: ['choices'] }).map((chunk) => JSON.stringify(chunk)) },
  { weight: 1, arbitrary: fc.constant('[DONE]') },
  { weight: 1, arbitrary: fc.record({ error: fc.record({ message: fc.string(), type: fc.constantFrom('rate_limit_error', 'server_error', 'x'), code: fc.constantFrom(429, '503', null) }) }).map((chunk) => JSON.stringify(chunk)) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 10 }), json.map((value) => JSON.stringify(value) ?? 'null')) },
);

function streamsSafely(api: InboundApi, chunks: string[]): void {
  const translator = api.toChat(api === anthropicMessages ? { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: true } : { model: 'm', input: 'hi', stream: true }, CONTEXT).stream();
  let ended = false;
  for (const data of chunks) {
    const failedBefore = translator.failure !== undefined;
    const text = translator.push({ event: 'message', data });
    if (failedBefore) assert.equal(text, '', 'nothing after a failure');
    if (ended) assert.equal(text, '', 'nothing after the end');
    if (text.includes('message_stop') || text.includes('response.completed') || text.includes('response.incomplete')) ended = true;
  }
  const rest = translator.end();
  if (translator.failure !== undefined) assert.ok(translator.failure.status >= 400 && translator.failure.status <= 599);
  else assert.ok(ended || rest.includes('message_stop') || rest.includes('response.completed') || rest.includes('response.incomplete'), 'a stream that did not fail ends as its API ends one');
}

describe('inbound translators, fuzzed', () => {
  for (const [name, api, body] of [
    ['anthropic-messages', anthropicMessages, messagesBody],
    ['openai-responses', openAIResponses, responsesBody],
  ] as const) {
    test(`${name}: any request is translated or refused with a 4xx`, () => {
      fc.assert(fc.property(body as fc.Arbitrary<Record<string, unknown>>, (request) => translatedOrRefused(api, request)), { seed: SEED, numRuns: RUNS });
    });
    test(`${name}: any chat stream is translated or fails cleanly`, () => {
      fc.assert(fc.property(fc.array(chunkData, { maxLength: 12 }), (chunks) => streamsSafely(api, chunks)), { seed: SEED, numRuns: RUNS });
    });
  }
});

describe('inbound translators hold a bounded answer', () => {
  const streamOf = (api: InboundApi) =>
    api
      .toChat(api === anthropicMessages ? { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: true } : { model: 'm', input: 'hi', stream: true }, CONTEXT)
      .stream();
  const chunk = (delta: Record<string, unknown>) => JSON.stringify({ choices: [{ index: 0, delta, finish_reason: null }] });

  for (const [name, api] of [['anthropic-messages', anthropicMessages], ['openai-responses', openAIResponses]] as const) {
    test(`${name}: an answer past ${MAX_ANSWER_BYTES} bytes ends with an error event`, () => {
      const translator = streamOf(api);
      const piece = chunk({ content: 'x'.repeat(1024 * 1024) });
      let out = '';
      for (let i = 0; i <= MAX_ANSWER_BYTES / (1024 * 1024) && translator.failure === undefined; i++) out += translator.push({ event: 'message', data: piece });
      assert.equal(translator.failure?.status, 502);
      assert.match(translator.failure!.error.message, /larger than/);
      assert.match(out, /event: error/);
      assert.equal(translator.push({ event: 'message', data: piece }), '');
    });

    test(`${name}: more than ${MAX_TOOL_CALLS} tool calls end the stream`, () => {
      const translator = streamOf(api);
      let out = translator.push({ event: 'message', data: chunk({ content: 'Calling.' }) });
      for (let i = 0; i <= MAX_TOOL_CALLS && translator.failure === undefined; i++) {
        out += translator.push({ event: 'message', data: chunk({ tool_calls: [{ index: i, id: `call_${i}`, function: { name: 'f', arguments: '{}' } }] }) });
      }
      assert.equal(translator.failure?.status, 502);
      assert.match(translator.failure!.error.message, /more than 1024 tool calls/);
      assert.match(out, /event: error/);
    });
  }
});

describe('inbound translators over one-character deltas and SSE lines to ignore', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heapInUse = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  /** Characters that escape differently in JSON: plain, white space, control, quote, backslash, 2- and 3-byte UTF-8, a lone surrogate. */
  const ALPHABET = ['x', ' ', '\n', '\u0001', '"', '\\', 'é', '語', '\ud83d'];
  const KINDS = ['content', 'reasoning', 'call0', 'call1', 'call2'] as const;
  const IGNORED = ['x-custom-field: hello', 'retry: soon', 'retry', ': keep-alive', 'Data: not data', 'id'];
  const trickle = fc.record({
    kind: fc.constantFrom(...KINDS),
    char: fc.constantFrom(...ALPHABET),
    ignored: fc.option(fc.constantFrom(...IGNORED), { nil: undefined }),
  });
  type Trickle = { kind: (typeof KINDS)[number]; char: string; ignored: string | undefined };
  const jsonBytes = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;

  /** The delta a piece stands for, and the bytes of JSON it adds to the answer (a call's id and name count each time). */
  function deltaOf({ kind, char }: Trickle): { delta: Record<string, unknown>; bytes: number } {
    if (kind === 'content') return { delta: { content: char }, bytes: jsonBytes(char) };
    if (kind === 'reasoning') return { delta: { reasoning_content: char }, bytes: jsonBytes(char) };
    const index = Number(kind.slice(4));
    return { delta: { tool_calls: [{ index, id: `call_${index}`, function: { name: 'f', arguments: char } }] }, bytes: jsonBytes(char) + 7 };
  }

  function sseOf(pieces: readonly Trickle[]): string {
    let text = '';
    for (const piece of pieces) {
      if (piece.ignored !== undefined) text += `${piece.ignored}\n`;
      text += `data: ${JSON.stringify({ choices: [{ index: 0, delta: deltaOf(piece).delta, finish_reason: null }] })}\n\n`;
    }
    return text;
  }

  const streamOf = (api: InboundApi, maxAnswerBytes: number) =>
    api
      .toChat(api === anthropicMessages ? { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: true } : { model: 'm', input: 'hi', stream: true }, { ...CONTEXT, maxAnswerBytes })
      .stream();
  const FINISH = JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });

  /** The text of every text delta (Messages) or of output_text.done (Responses) in a translated stream. */
  function textOf(api: InboundApi, out: string): string {
    let text = '';
    for (const event of out.split('\n\n')) {
      const at = event.indexOf('data: ');
      if (at === -1) continue;
      const data = JSON.parse(event.slice(at + 6)) as { type: string; delta?: { type: string; text?: string }; text?: string };
      if (api === anthropicMessages && data.type === 'content_block_delta' && data.delta?.type === 'text_delta') text += data.delta.text;
      if (api === openAIResponses && data.type === 'response.output_text.done') text += data.text;
    }
    return text;
  }

  for (const [name, api] of [['anthropic-messages', anthropicMessages], ['openai-responses', openAIResponses]] as const) {
    test(`${name}: ignored SSE lines lose nothing, the bound counts JSON bytes, and no write passes four times the bound`, () => {
      const bound = 64;
      fc.assert(
        fc.property(fc.array(trickle, { maxLength: 100, size: 'medium' }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }), (pieces, cuts) => {
          const translator = streamOf(api, bound);
          const outputs: string[] = [];
          const broken: string[] = [];
          const decoder = createEventDecoder('sse', { onEvent: (event) => outputs.push(translator.push(event)), onBroken: (reason) => broken.push(reason) }, 1024 * 1024);
          const bytes = Buffer.from(sseOf(pieces));
          for (let at = 0, i = 0; at < bytes.length; at += cuts[i++ % cuts.length]!) decoder.feed(bytes.subarray(at, at + cuts[i % cuts.length]!));
          decoder.end();
          outputs.push(translator.push({ event: 'message', data: FINISH }), translator.push({ event: 'message', data: '[DONE]' }));
          assert.deepEqual(broken, []);
          let total = 0;
          for (const piece of pieces) total += deltaOf(piece).bytes;
          assert.equal(translator.failure !== undefined, total > bound, `${total} bytes of JSON`);
          for (const out of outputs) assert.ok(out.length <= 4 * bound + 4096, `a write of ${out.length} characters`);
          if (translator.failure === undefined) {
            const content = pieces.filter((piece) => piece.kind === 'content').map((piece) => piece.char).join('');
            assert.equal(textOf(api, outputs.join('')), content);
          } else assert.match(translator.failure.error.message, /larger than 64 bytes of JSON/);
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    test(`${name}: 250,000 one-character deltas among ignored SSE lines hold about their own size in memory`, () => {
      // A few runs of one kind each (an answer alternates kinds a few times, not per delta), each
      // a pattern of characters and ignored lines repeated.
      const segment = fc.record({ kind: fc.constantFrom(...KINDS), pattern: fc.array(trickle, { minLength: 20, maxLength: 20 }) });
      fc.assert(
        fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
          const translator = streamOf(api, MAX_ANSWER_BYTES);
          const decoder = createEventDecoder('sse', { onEvent: (event) => translator.push(event), onBroken: (reason) => assert.fail(reason) }, 1024 * 1024);
          const chunks = segments.map(({ kind, pattern }) => Buffer.from(sseOf(pattern.map((piece) => ({ ...piece, kind })))));
          const repeats = Math.ceil(250_000 / (20 * chunks.length));
          const before = heapInUse();
          for (const chunk of chunks) for (let i = 0; i < repeats; i++) decoder.feed(chunk);
          const held = heapInUse() - before;
          assert.equal(translator.failure, undefined);
          // One string node per delta would be 8 MB or more; the text is at most a few bytes a delta.
          assert.ok(held < 4 * 1024 * 1024, `${held} bytes held`);
        }),
        { seed: SEED, numRuns: 2, endOnFailure: true },
      );
    });
  }
});

describe('a provider translator and an inbound translator in series', () => {
  /** A provider translator that gives fixed chat SSE text per event, and a failure when told. */
  function provider(script: Record<string, string>, failOn?: string) {
    let failure: { status: number; error: { message: string; type: string; code: string | null; param: null } } | undefined;
    return {
      push: (event: { event: string; data: string }) => {
        if (event.event === failOn) failure = { status: 503, error: { message: 'overloaded', type: 'server_error', code: 'overloaded_error', param: null } };
        return script[event.event] ?? '';
      },
      end: () => '',
      get failure() {
        return failure;
      },
      usage: undefined,
    };
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const inbound = () => openAIResponses.toChat({ model: 'm', input: 'hi', stream: true }, CONTEXT).stream();

  test("each chat chunk the provider's translator gives reaches the inbound translator, several per event", async () => {
    const { ComposedTranslator } = await import('../src/inbound/compose.js');
    const composed = new ComposedTranslator(
      provider({ a: chunk({ role: 'assistant' }) + chunk({ content: 'Hel' }), b: chunk({ content: 'lo' }, 'stop') + 'data: [DONE]\n\n' }),
      inbound(),
    );
    const text = composed.push({ event: 'a', data: '' }) + composed.push({ event: 'b', data: '' }) + composed.end();
    assert.match(text, /"delta":"Hel"/);
    assert.match(text, /"delta":"lo"/);
    assert.match(text, /event: response\.completed\n/);
    assert.equal(composed.failure, undefined);
  });

  test("the provider's failure is the composed one, with the provider's status", async () => {
    const { ComposedTranslator } = await import('../src/inbound/compose.js');
    const composed = new ComposedTranslator(provider({ a: 'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n' }, 'a'), inbound());
    composed.push({ event: 'a', data: '' });
    assert.equal(composed.failure?.status, 503);
    assert.equal(composed.failure?.error.code, 'overloaded_error');
  });
});
