// The inbound translators against whatever a client or a provider sends: a request of any shape is
// translated or refused with a GatewayError (a 4xx naming the field), never another exception; a
// stream of any chunks is translated or ends in a reported failure, never an exception, and after
// a failure or the end nothing more is sent. The Gemini API's routes are fuzzed over HTTP too:
// hostile bodies and odd paths at a gateway in front of the simulator answer a 200 or a 4xx in
// Google's error shape, never a 5xx, a hang or a crash.
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
import { geminiApi } from '../src/inbound/gemini/index.js';
import { Pool } from 'undici';
import { after, before } from 'node:test';
import { KEY, MODEL, startStack, unreachableProviders, type Stack } from './helpers.js';

const SEED = 20_251_125;
const RUNS = 400;
const CONTEXT = { model: 'm', client: () => 'fuzz', outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, thinking: 'effort' } as const;

/** JSON values biased towards the shapes the APIs use: objects with their field names and types. */
const KEYS = [
  'type', 'role', 'content', 'text', 'source', 'data', 'media_type', 'url', 'id', 'name', 'input', 'tool_use_id', 'is_error',
  'call_id', 'arguments', 'output', 'image_url', 'cache_control', 'thinking', 'signature', 'budget_tokens', 'effort', 'format',
  'schema', 'strict', 'parameters', 'input_schema', 'description', 'tools', 'tool_choice', 'detail', 'file_id', 'file_data',
  'parts', 'functionCall', 'functionResponse', 'thoughtSignature', 'thought', 'inlineData', 'fileData', 'mimeType', 'fileUri',
  'args', 'response', 'functionDeclarations', 'parametersJsonSchema', 'properties', 'items', 'required', 'enum', 'nullable',
  'anyOf', 'format', 'mode', 'allowedFunctionNames',
] as const;
const TYPES = [
  'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', 'document', 'message', 'function_call',
  'function_call_output', 'input_text', 'output_text', 'input_image', 'input_file', 'reasoning', 'item_reference', 'function',
  'custom', 'auto', 'any', 'tool', 'none', 'required', 'json_schema', 'json_object', 'base64', 'url', 'enabled', 'adaptive',
  'web_search', 'user', 'assistant', 'system', 'developer', 'model', 'function', 'OBJECT', 'STRING', 'ARRAY', 'INTEGER', 'AUTO',
  'ANY', 'NONE', 'image/png', 'application/json',
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

/** Gemini parts: mostly of the kinds the API has, with fields of any type. */
const geminiPart = fc.oneof(
  fc.record({ text: fc.oneof(fc.string({ maxLength: 8 }), json), thought: fc.oneof(fc.boolean(), json) }, { requiredKeys: ['text'] }),
  fc.record(
    { functionCall: fc.record({ id: fc.oneof(fc.constantFrom('c1', 'c2', ''), json), name: fc.oneof(fc.constantFrom('f', 'g'), json), args: json }, { requiredKeys: ['name'] }), thoughtSignature: fc.oneof(fc.string({ maxLength: 12 }), json) },
    { requiredKeys: ['functionCall'] },
  ),
  fc.record({ functionResponse: fc.record({ id: fc.oneof(fc.constantFrom('c1', 'c2'), json), name: fc.oneof(fc.constantFrom('f', 'g'), json), response: json }, { requiredKeys: ['name'] }) }),
  fc.record({ inlineData: fc.record({ mimeType: fc.oneof(fc.constantFrom('image/png', 'audio/wav'), json), data: fc.oneof(fc.constant('AAAA'), json) }) }),
  json,
);
/** A field a request mostly leaves out. */
const rarely = <T>(value: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: value });

const geminiBody = fc.record(
  {
    contents: fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.record({ role: fc.constantFrom('user', 'model', 'function', 'x'), parts: fc.oneof(fc.array(geminiPart, { maxLength: 3 }), json) }, { requiredKeys: ['parts'] }), { minLength: 1, maxLength: 4 }) },
      { weight: 1, arbitrary: json },
    ),
    systemInstruction: rarely(json),
    system_instruction: rarely(json),
    tools: fc.oneof(fc.array(fc.record({ functionDeclarations: json, googleSearch: json }, { requiredKeys: [] }), { maxLength: 2 }), json),
    toolConfig: rarely(json),
    generationConfig: fc.oneof(
      fc.record({ temperature: json, maxOutputTokens: json, stopSequences: json, candidateCount: json, responseMimeType: json, responseSchema: json, thinkingConfig: json }, { requiredKeys: [] }),
      json,
    ),
    safetySettings: json,
    cachedContent: rarely(json),
  },
  { requiredKeys: ['contents'] },
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
          // Google's thought signature, as its endpoint sends it and as it should not.
          extra_content: fc.oneof(fc.record({ google: fc.record({ thought_signature: fc.oneof(fc.string({ maxLength: 12 }), json) }) }), json),
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

/** A streamed request each API's translator takes. */
function streamedRequest(api: InboundApi): Record<string, unknown> {
  if (api === anthropicMessages) return { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: true };
  if (api === openAIResponses) return { model: 'm', input: 'hi', stream: true };
  return { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
}

/** The event that ends a stream on each API: Gemini's last chunk is the one with the finish. */
const ENDED = /message_stop|response\.completed|response\.incomplete|"finishReason"/;

function streamsSafely(api: InboundApi, chunks: string[]): void {
  const translator = api.toChat(streamedRequest(api), CONTEXT).stream();
  let ended = false;
  for (const data of chunks) {
    const failedBefore = translator.failure !== undefined;
    const text = translator.push({ event: 'message', data });
    if (failedBefore) assert.equal(text, '', 'nothing after a failure');
    if (ended) assert.equal(text, '', 'nothing after the end');
    if (ENDED.test(text)) ended = true;
  }
  const rest = translator.end();
  if (translator.failure !== undefined) assert.ok(translator.failure.status >= 400 && translator.failure.status <= 599);
  else assert.ok(ended || ENDED.test(rest), 'a stream that did not fail ends as its API ends one');
}

describe('inbound translators, fuzzed', () => {
  for (const [name, api, body] of [
    ['anthropic-messages', anthropicMessages, messagesBody],
    ['openai-responses', openAIResponses, responsesBody],
    ['gemini (sse)', geminiApi('sse'), geminiBody],
    ['gemini (array)', geminiApi('array'), geminiBody],
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

describe('the Gemini API over HTTP, fuzzed', () => {
  // A gateway in front of the simulator, with small limits so that 413 is reachable.
  const MAX_BODY_BYTES = 256 * 1024;
  const ANSWER_TIMEOUT_MS = 10_000;
  let stack: Stack;
  // A pool sends the path as written: a URL would resolve its dot segments first.
  let pool: Pool;
  before(async () => {
    stack = await startStack({ ...unreachableProviders(), LOG_LEVEL: 'silent', MAX_BODY_BYTES: String(MAX_BODY_BYTES), MAX_RETRIES: '0' });
    pool = new Pool(stack.origin, { connections: 2 });
  });
  after(async () => {
    await pool.close();
    await stack.close();
  });

  const MODELS = [
    `fireworks/${MODEL}`,
    encodeURIComponent(`fireworks/${MODEL}`),
    MODEL,
    'gemini-2.5-pro',
    'fireworks%2F' + encodeURIComponent(MODEL),
    '%',
    '%zz',
    '%00',
    '%20',
    '%E2%82',
    '%C3%A9',
    '%F0%9F%98%80',
    '%2F',
    'fireworks%2Faccounts%2Ffireworks%2Fmodels%2F',
    'a%22b',
    'a\\b',
    '',
    ':',
    'x'.repeat(300),
    'unknown/model',
    'fireworks/',
    '..',
    '%2E%2E',
    'models/x',
  ];
  const METHODS = ['generateContent', 'streamGenerateContent', 'countTokens', 'embedContent', '', 'GENERATECONTENT', 'generateContent:x'];
  const QUERIES = ['', '?alt=sse', '?alt=json', '?alt=', `?key=${KEY}`, `?alt=sse&key=${KEY}`, '?key=', '?%zz', '?alt=sse&alt=x'];
  const HTTP_METHODS = ['POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH'];

  /** Hostile bodies: generated Gemini requests, wrong top-level types, big and deep values, text that is not JSON. */
  const deep = fc.integer({ min: 30, max: 700 }).map((depth) => `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":${'{"type":"OBJECT","properties":{"a":'.repeat(depth)}{"type":"STRING"}${'}}'.repeat(depth)}}]}]}`);
  const deepArgs = fc.integer({ min: 30, max: 700 }).map((depth) => `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}}]}]}`);
  const deepContents = fc.integer({ min: 30, max: 700 }).map((depth) => `{"contents":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  const big = fc.integer({ min: 1, max: 300 }).map((kib) => JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x'.repeat(kib * 1024) }] }] }));
  const many = fc.integer({ min: 1_000, max: 20_000 }).map((count) => JSON.stringify({ contents: [{ role: 'user', parts: Array.from({ length: count }, () => ({ text: 'a' })) }] }));
  const body = fc.oneof(
    { weight: 8, arbitrary: geminiBody.map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: json.map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: deepArgs },
    { weight: 1, arbitrary: deepContents },
    { weight: 1, arbitrary: big },
    { weight: 1, arbitrary: many },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"contents":', 'null', '[]', '"contents"', '{"contents":[]}', '{"contents":{}}', '\u0000') },
  );
  /** Mostly a served route, so that most bodies reach the translation; the odd paths besides. */
  const often = <T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: odd });
  const exchange = fc.record({
    model: often(fc.constant(`fireworks/${MODEL}`), fc.constantFrom(...MODELS)),
    method: often(fc.constantFrom('generateContent', 'streamGenerateContent', 'countTokens'), fc.constantFrom(...METHODS)),
    query: fc.constantFrom(...QUERIES),
    httpMethod: often(fc.constant('POST'), fc.constantFrom(...HTTP_METHODS)),
    body,
    contentType: often(fc.constant('application/json'), fc.constantFrom('text/plain', undefined)),
  });

  type Exchange = { model: string; method: string; query: string; httpMethod: string; body: string; contentType: string | undefined };

  async function send(exchange: Exchange): Promise<{ status: number; contentType: string; text: string }> {
    const path = `/v1beta/models/${exchange.model}${exchange.method === '' ? '' : `:${exchange.method}`}${exchange.query}`;
    const headers: Record<string, string> = { 'x-goog-api-key': KEY };
    if (exchange.contentType !== undefined) headers['content-type'] = exchange.contentType;
    const withBody = exchange.httpMethod !== 'GET';
    const answer = await pool.request({
      path,
      method: exchange.httpMethod as 'POST',
      headers,
      body: withBody ? exchange.body : undefined,
      headersTimeout: ANSWER_TIMEOUT_MS,
      bodyTimeout: ANSWER_TIMEOUT_MS,
    });
    return { status: answer.statusCode, contentType: String(answer.headers['content-type'] ?? ''), text: await answer.body.text() };
  }

  /** A 200, or a 4xx in Google's error shape: `{"error":{"code","message","status"}}`, the code the HTTP status. */
  function answeredAsGoogle(exchange: Exchange, answer: { status: number; contentType: string; text: string }): void {
    const said = `${exchange.httpMethod} ${exchange.model}:${exchange.method}${exchange.query} -> ${answer.status} ${answer.text.slice(0, 300)}`;
    assert.ok(answer.status === 200 || (answer.status >= 400 && answer.status < 500), said);
    if (answer.status === 200) return;
    const error = (JSON.parse(answer.text) as { error: Record<string, unknown> }).error;
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'status'], said);
    assert.equal(error.code, answer.status, said);
    assert.ok(typeof error.message === 'string' && error.message.length > 0, said);
    assert.match(String(error.status), /^[A-Z_]+$/, said);
  }

  test('any path, method and body on /v1beta/models answers a 200 or a 4xx in Google\'s shape', async () => {
    await fc.assert(
      fc.asyncProperty(exchange, async (given) => answeredAsGoogle(given, await send(given))),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('the gateway still answers afterwards', async () => {
    const answer = await send({ model: `fireworks/${MODEL}`, method: 'generateContent', query: '', httpMethod: 'POST', body: '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}', contentType: 'application/json' });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(JSON.parse(answer.text).candidates[0].finishReason, 'STOP');
  });
});
