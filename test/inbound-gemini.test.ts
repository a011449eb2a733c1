// The inbound Gemini API translation, as pure functions: Gemini requests as chat requests, chat
// answers and chunk streams back as GenerateContentResponses (SSE events or one JSON array),
// failures as Google's errors. Streams are replayed from recorded chat chunk sequences.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { estimateTokens } from '../src/inbound/gemini/count.js';
import { errorBody, statusName } from '../src/inbound/gemini/errors.js';
import { geminiApi, type GeminiAnswer } from '../src/inbound/gemini/index.js';
import { toJsonSchema } from '../src/inbound/gemini/schema.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { InboundTranslation } from '../src/inbound/types.js';
import { assertBadRequest } from './helpers.js';

const MODEL = 'gemini-2.5-pro';
type Json = Record<string, any>;
const KEPT = { outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity, client: () => '' };
const HELLO = [{ role: 'user', parts: [{ text: 'Hello' }] }];

function translate(body: Json, answer: GeminiAnswer = 'whole', thinking: 'drop' | 'effort' = 'effort'): InboundTranslation {
  return geminiApi(answer).toChat({ contents: HELLO, ...body }, { model: MODEL, ...KEPT, thinking });
}
const chat = (body: Json): Json => translate(body).chat;

function rejects400(body: Json, param: string, pattern?: RegExp): void {
  assertBadRequest(() => translate(body), param, pattern);
}

describe('request', () => {
  test('the smallest request: contents of one user text; nothing dropped', () => {
    const t = translate({});
    assert.deepEqual(t.chat, { model: MODEL, messages: [{ role: 'user', content: 'Hello' }] });
    assert.deepEqual(t.dropped, []);
  });

  test('a stream asks for chat chunks with usage', () => {
    const t = translate({}, 'sse');
    assert.equal(t.chat.stream, true);
    assert.deepEqual(t.chat.stream_options, { include_usage: true });
    assert.equal(translate({}, 'array').streamContentType, 'application/json');
  });

  test('systemInstruction in either spelling becomes the leading system message', () => {
    for (const key of ['systemInstruction', 'system_instruction']) {
      const messages = chat({ [key]: { parts: [{ text: 'Be brief.' }, { text: 'Be kind.' }] } }).messages;
      assert.deepEqual(messages[0], { role: 'system', content: 'Be brief.\n\nBe kind.' });
    }
  });

  test('inline images (camel or snake case) become image_url parts; other data is refused', () => {
    const messages = chat({ contents: [{ role: 'user', parts: [{ text: 'What is it?' }, { inline_data: { mime_type: 'image/png', data: 'AAAA' } }] }] }).messages;
    assert.deepEqual(messages[0].content, [
      { type: 'text', text: 'What is it?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
    ]);
    rejects400({ contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'audio/wav', data: 'AAAA' } }] }] }, 'contents.0.parts.0.inlineData.mimeType');
  });

  test('a function call round trip without ids: calls get ids, responses take them by name in order', () => {
    const messages = chat({
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } }, thoughtSignature: 'sig' }, { functionCall: { name: 'weather', args: { city: 'Rome' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { temp: 20 } } }, { functionResponse: { name: 'weather', response: { temp: 25 } } }] },
      ],
    }).messages;
    assert.deepEqual(messages[1], {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1_0', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_1_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
      ],
    });
    assert.deepEqual(messages[2], { role: 'tool', tool_call_id: 'call_1_0', content: '{"temp":20}' });
    assert.deepEqual(messages[3], { role: 'tool', tool_call_id: 'call_1_1', content: '{"temp":25}' });
  });

  test('a function call round trip with ids keeps them; a response to no call is refused', () => {
    const messages = chat({
      contents: [
        { role: 'user', parts: [{ text: 'Go' }] },
        { role: 'model', parts: [{ text: 'Looking.' }, { functionCall: { id: 'call_abc', name: 'ls', args: {} } }] },
        { role: 'user', parts: [{ functionResponse: { id: 'call_abc', name: 'ls', response: { output: 'a b' } } }, { text: 'and then?' }] },
      ],
    }).messages;
    assert.equal(messages[1].content, 'Looking.');
    assert.equal(messages[1].tool_calls[0].id, 'call_abc');
    assert.deepEqual(messages[2], { role: 'tool', tool_call_id: 'call_abc', content: '{"output":"a b"}' });
    assert.deepEqual(messages[3], { role: 'user', content: 'and then?' });
    rejects400({ contents: [{ role: 'user', parts: [{ functionResponse: { name: 'ls', response: {} } }] }] }, 'contents.0.parts.0.functionResponse.name');
  });

  test("thought parts of model turns are left out and named", () => {
    const t = translate({ contents: [...HELLO, { role: 'model', parts: [{ text: 'hmm', thought: true }, { text: 'Hi!' }] }, ...HELLO] });
    assert.deepEqual((t.chat.messages as Json[])[1], { role: 'assistant', content: 'Hi!' });
    assert.ok(t.dropped.includes('contents.parts.thought'));
  });

  test('function declarations: OpenAPI-subset schemas become JSON Schema; parametersJsonSchema goes as it is', () => {
    const tools = chat({
      tools: [
        {
          functionDeclarations: [
            {
              name: 'search',
              description: 'Search files',
              parameters: {
                type: 'OBJECT',
                properties: {
                  query: { type: 'STRING', description: 'what', format: 'enum', enum: ['a', 'b'] },
                  limit: { type: 'INTEGER', format: 'int32', nullable: true, minimum: '1' },
                  paths: { type: 'ARRAY', items: { type: 'STRING' }, minItems: '1', propertyOrdering: ['x'] },
                },
                required: ['query'],
              },
            },
            { name: 'raw', parametersJsonSchema: { type: 'object', properties: { x: { type: ['string', 'null'] } } } },
            { name: 'bare' },
          ],
        },
        { googleSearch: {} },
      ],
    }).tools;
    assert.deepEqual(tools[0], {
      type: 'function',
      function: {
        name: 'search',
        description: 'Search files',
        parameters: {
          type: 'object',
          properties: {
            query: { type: 'string', description: 'what', enum: ['a', 'b'] },
            limit: { type: ['integer', 'null'], minimum: 1 },
            paths: { type: 'array', items: { type: 'string' }, minItems: 1 },
          },
          required: ['query'],
        },
      },
    });
    assert.deepEqual(tools[1].function.parameters, { type: 'object', properties: { x: { type: ['string', 'null'] } } });
    assert.deepEqual(tools[2].function.parameters, { type: 'object', properties: {} });
    assert.ok(translate({ tools: [{ googleSearch: {} }] }).dropped.includes('tools.googleSearch'));
  });

  test('a schema type that is not one is refused, naming its place', () => {
    assert.throws(() => toJsonSchema({ type: 'OBJECT', properties: { a: { type: 'TEXT' } } }, 'p'), /p\.properties\.a\.type/);
    assert.deepEqual(toJsonSchema({ type: 'TYPE_UNSPECIFIED', anyOf: [{ type: 'STRING' }, { type: 'NUMBER', format: 'double' }] }, 'p'), {
      anyOf: [{ type: 'string' }, { type: 'number' }],
    });
  });

  test('toolConfig: AUTO, NONE, ANY (one allowed name is that function; several restrict the tools)', () => {
    const tools = [{ functionDeclarations: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }];
    const config = (mode: string, allowedFunctionNames?: string[]) => chat({ tools, toolConfig: { functionCallingConfig: { mode, allowedFunctionNames } } });
    assert.equal(config('AUTO').tool_choice, 'auto');
    assert.equal(config('NONE').tool_choice, 'none');
    assert.equal(config('ANY').tool_choice, 'required');
    assert.deepEqual(config('ANY', ['b']).tool_choice, { type: 'function', function: { name: 'b' } });
    const restricted = config('ANY', ['a', 'c']);
    assert.equal(restricted.tool_choice, 'required');
    assert.deepEqual(restricted.tools.map((tool: Json) => tool.function.name), ['a', 'c']);
    rejects400({ tools, toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['zz'] } } }, 'toolConfig.functionCallingConfig.allowedFunctionNames');
    rejects400({ tools, toolConfig: { functionCallingConfig: { mode: 'SOMETIMES' } } }, 'toolConfig.functionCallingConfig.mode');
  });

  test('generationConfig: sampling, length and stops carried; topK and safetySettings left out and named', () => {
    const t = translate({
      generationConfig: { temperature: 0.5, topP: 0.9, topK: 40, maxOutputTokens: 100, stopSequences: ['END'], candidateCount: 1, seed: 7, presencePenalty: 0.1, frequencyPenalty: 0.2 },
      safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
    });
    assert.deepEqual(t.chat, {
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
      temperature: 0.5,
      top_p: 0.9,
      max_tokens: 100,
      stop: ['END'],
      seed: 7,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
    });
    assert.deepEqual([...t.dropped].sort(), ['generationConfig.topK', 'safetySettings']);
  });

  test('candidateCount above 1, cachedContent and a response schema without JSON are refused', () => {
    rejects400({ generationConfig: { candidateCount: 2 } }, 'generationConfig.candidateCount');
    rejects400({ cachedContent: 'cachedContents/abc' }, 'cachedContent');
    rejects400({ generationConfig: { responseSchema: { type: 'STRING' } } }, 'generationConfig.responseMimeType');
  });

  test('responseMimeType with responseSchema, responseJsonSchema or neither as response_format', () => {
    assert.deepEqual(chat({ generationConfig: { responseMimeType: 'application/json', responseSchema: { type: 'OBJECT', properties: { n: { type: 'NUMBER' } } } } }).response_format, {
      type: 'json_schema',
      json_schema: { name: 'response', schema: { type: 'object', properties: { n: { type: 'number' } } } },
    });
    const schema = { type: 'object', properties: { n: { type: 'number' } }, additionalProperties: false };
    assert.deepEqual(chat({ generationConfig: { responseMimeType: 'application/json', responseJsonSchema: schema } }).response_format.json_schema.schema, schema);
    assert.deepEqual(chat({ generationConfig: { responseMimeType: 'application/json' } }).response_format, { type: 'json_object' });
  });

  test('thinkingConfig becomes reasoning_effort under effort, and is left out and named under drop', () => {
    const effort = (thinkingConfig: Json) => translate({ generationConfig: { thinkingConfig } }).chat.reasoning_effort;
    assert.equal(effort({ thinkingBudget: 1024 }), 'low');
    assert.equal(effort({ thinkingBudget: 8192 }), 'medium');
    assert.equal(effort({ thinkingBudget: 32768 }), 'high');
    assert.equal(effort({ thinkingBudget: -1 }), 'medium');
    assert.equal(effort({ thinkingBudget: 0 }), undefined);
    assert.equal(effort({ thinkingLevel: 'HIGH' }), 'high');
    const dropped = translate({ generationConfig: { thinkingConfig: { thinkingBudget: 8192, includeThoughts: true } } }, 'whole', 'drop');
    assert.equal(dropped.chat.reasoning_effort, undefined);
    assert.ok(dropped.dropped.includes('generationConfig.thinkingConfig'));
  });

  test('contents are required; roles are user and model', () => {
    rejects400({ contents: [] }, 'contents');
    rejects400({ contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] }, 'contents.0.role');
  });
});

const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'm',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Calling.', reasoning_content: 'I should call.', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'ls', arguments: '{"path":"."}' } }] },
      finish_reason: 'tool_calls',
    },
  ],
  usage: { prompt_tokens: 10, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 3 } },
};

describe('answer', () => {
  test('a chat completion as a GenerateContentResponse: text, functionCall with args and id, STOP, usageMetadata', () => {
    const { json, usage } = translate({}).answer(JSON.stringify(COMPLETION));
    assert.deepEqual(JSON.parse(json), {
      candidates: [{ content: { parts: [{ text: 'Calling.' }, { functionCall: { id: 'call_9', name: 'ls', args: { path: '.' } } }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, totalTokenCount: 17, thoughtsTokenCount: 3, cachedContentTokenCount: 4 },
      modelVersion: MODEL,
      responseId: 'chatcmpl-1',
    });
    assert.deepEqual(usage, { promptTokens: 10, completionTokens: 7, cacheReadTokens: 4, reasoningTokens: 3 });
  });

  test('reasoning is a thought part only when includeThoughts asked for it; length is MAX_TOKENS', () => {
    const t = translate({ generationConfig: { thinkingConfig: { includeThoughts: true } } });
    const answer = JSON.parse(t.answer(JSON.stringify({ ...COMPLETION, choices: [{ index: 0, message: { role: 'assistant', content: 'A', reasoning_content: 'R' }, finish_reason: 'length' }] })).json);
    assert.deepEqual(answer.candidates[0].content.parts, [{ text: 'R', thought: true }, { text: 'A' }]);
    assert.equal(answer.candidates[0].finishReason, 'MAX_TOKENS');
  });

  test('arguments that are not a JSON object travel wrapped, and come back unwrapped', () => {
    const broken = { ...COMPLETION, choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }, finish_reason: 'tool_calls' }] };
    const part = JSON.parse(translate({}).answer(JSON.stringify(broken)).json).candidates[0].content.parts[0];
    assert.deepEqual(part.functionCall.args, { INVALID_JSON: '{"a":' });
    const back = chat({ contents: [...HELLO, { role: 'model', parts: [part] }] }).messages[1];
    assert.equal(back.tool_calls[0].function.arguments, '{"a":');
  });
});

const chunk = (delta: Json, finish: string | null = null) => JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
const USAGE = JSON.stringify({ id: 'chatcmpl-s', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } });
const TEXT_STREAM = [chunk({ role: 'assistant', content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), USAGE, '[DONE]'];
const TOOL_STREAM = [
  chunk({ role: 'assistant', content: 'Let me look.' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'ls', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"path":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"."}' } }] }),
  chunk({}, 'tool_calls'),
  USAGE,
  '[DONE]',
];

function run(answer: GeminiAnswer, events: string[]): { text: string; failure: unknown } {
  const translator = translate({}, answer).stream();
  let text = '';
  for (const data of events) text += translator.push({ event: 'message', data });
  text += translator.end();
  return { text, failure: translator.failure };
}

function sseChunks(text: string): Json[] {
  assert.ok(text.endsWith('\r\n\r\n'), JSON.stringify(text.slice(-20)));
  return text
    .split('\r\n\r\n')
    .filter((event) => event !== '')
    .map((event) => {
      assert.ok(event.startsWith('data: '), event);
      return JSON.parse(event.slice('data: '.length));
    });
}

describe('stream', () => {
  test('SSE: one chunk per text delta, the finish and usage in the last', () => {
    const chunks = sseChunks(run('sse', TEXT_STREAM).text);
    assert.deepEqual(chunks.map((c) => c.candidates[0].content.parts), [[{ text: 'Hel' }], [{ text: 'lo' }], [{ text: '' }]]);
    assert.equal(chunks.at(-1)!.candidates[0].finishReason, 'STOP');
    assert.deepEqual(chunks.at(-1)!.usageMetadata, { promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7 });
    assert.ok(chunks.every((c) => c.responseId === 'chatcmpl-s' && c.modelVersion === MODEL));
  });

  test('SSE: a tool call is held and sent whole, args an object, in the last chunk', () => {
    const chunks = sseChunks(run('sse', TOOL_STREAM).text);
    assert.equal(chunks.length, 2);
    assert.deepEqual(chunks[0]!.candidates[0].content.parts, [{ text: 'Let me look.' }]);
    assert.deepEqual(chunks[1]!.candidates[0].content.parts, [{ functionCall: { id: 'call_1', name: 'ls', args: { path: '.' } } }]);
    assert.equal(chunks[1]!.candidates[0].finishReason, 'STOP');
  });

  test('JSON array: the whole stream is one JSON array of the same chunks', () => {
    for (const events of [TEXT_STREAM, TOOL_STREAM]) {
      const array = JSON.parse(run('array', events).text) as Json[];
      assert.deepEqual(array, sseChunks(run('sse', events).text).map((c) => ({ ...c, responseId: 'chatcmpl-s' })));
    }
  });

  test('a tool-call-only stream sends nothing until its end, so a failure before then is the attempt\'s', () => {
    const error = JSON.stringify({ error: { message: 'overloaded', type: 'server_error', code: 503 } });
    const { text, failure } = run('sse', [TOOL_STREAM[1]!, error]);
    assert.equal(text, '');
    assert.equal((failure as Json).status, 503);
  });

  test('an error after content ends the stream with Google\'s error object (bare after SSE, the last element of an array)', () => {
    const error = JSON.stringify({ error: { message: 'overloaded', type: 'server_error', code: 503 } });
    const sse = run('sse', [TEXT_STREAM[0]!, error]);
    const [first, rest] = [sse.text.slice(0, sse.text.indexOf('\r\n\r\n') + 4), sse.text.slice(sse.text.indexOf('\r\n\r\n') + 4)];
    assert.equal(sseChunks(first)[0]!.candidates[0].content.parts[0].text, 'Hel');
    assert.deepEqual(JSON.parse(rest), { error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } });
    const array = JSON.parse(run('array', [TEXT_STREAM[0]!, error]).text) as Json[];
    assert.equal(array.length, 2);
    assert.deepEqual(array[1], { error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } });
  });

  test('a stream that stops before its finish is a 502 failure', () => {
    const { text, failure } = run('array', [TEXT_STREAM[0]!]);
    assert.equal((failure as Json).status, 502);
    const array = JSON.parse(text) as Json[];
    assert.equal(array.at(-1)!.error.status, 'UNAVAILABLE');
  });
});

describe('errors and counts', () => {
  test("errors in Google's shape, status named after the HTTP status", () => {
    assert.deepEqual(JSON.parse(errorBody(429, { message: 'slow down', type: 'rate_limit_error', code: null, param: null })), {
      error: { code: 429, message: 'slow down', status: 'RESOURCE_EXHAUSTED' },
    });
    const names = [400, 401, 403, 404, 413, 429, 500, 502, 503, 504].map(statusName);
    assert.deepEqual(names, ['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED', 'INTERNAL', 'UNAVAILABLE', 'UNAVAILABLE', 'DEADLINE_EXCEEDED']);
  });

  test('countTokens estimate: a token per 4 characters of text, 258 per inline image', () => {
    assert.equal(estimateTokens({ contents: [{ role: 'user', parts: [{ text: 'a'.repeat(40) }, { inlineData: { mimeType: 'image/png', data: 'x'.repeat(1000) } }] }] }), Math.ceil((40 + 4) / 4) + 258);
  });
});
