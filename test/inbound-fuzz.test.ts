// The inbound translators against whatever a client or a provider sends: a request of any shape is
// translated or refused with a GatewayError (a 4xx naming the field), never another exception; a
// stream of any chunks is translated or ends in a reported failure, never an exception, and after
// a failure or the end nothing more is sent.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { GatewayError } from '../src/errors.js';
import { anthropicMessages } from '../src/inbound/anthropic-messages/index.js';
import { openAIResponses } from '../src/inbound/openai-responses/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { InboundApi } from '../src/inbound/types.js';
import { MAX_ANSWER_CHARS, MAX_TOOL_CALLS } from '../src/inbound/chat.js';

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
    test(`${name}: an answer past ${MAX_ANSWER_CHARS} characters ends with an error event`, () => {
      const translator = streamOf(api);
      const piece = chunk({ content: 'x'.repeat(1024 * 1024) });
      let out = '';
      for (let i = 0; i <= MAX_ANSWER_CHARS / (1024 * 1024) && translator.failure === undefined; i++) out += translator.push({ event: 'message', data: piece });
      assert.equal(translator.failure?.status, 502);
      assert.match(translator.failure!.error.message, /longer than/);
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
