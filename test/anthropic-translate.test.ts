// The Anthropic provider's translation, as pure functions: requests out, answers, streams and errors
// back. Streams are replayed from recordings shaped as in Anthropic's streaming docs, through
// eventsource-parser as the core parses them, whole and split at every byte.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createParser } from 'eventsource-parser';
import { APIError } from 'openai';
import { ChatCompletionStream } from 'openai/lib/ChatCompletionStream';
import { Stream } from 'openai/streaming';
import { anthropic } from '../src/providers/anthropic/index.js';
import type { ChatTranslation } from '../src/providers/types.js';
import type { StreamTranslator } from '../src/translate/stream-contract.js';
import { assertBadRequest } from './helpers.js';

const adapter = anthropic.adapter;
const MODEL = 'claude-sonnet-4-5';
const NEW = '2026-10-21';
const OLD = '2023-06-01';

function translate(body: Record<string, unknown>, version?: string): ChatTranslation {
  return adapter.chat({ model: 'client-model', ...body }, { model: MODEL, headers: {}, options: version ? { anthropicVersion: version } : {} });
}

type Sent = Record<string, any>;

/** The Anthropic body a request becomes. */
function sent(body: Record<string, unknown>, version?: string): Sent {
  return JSON.parse(translate(body, version).body) as Sent;
}

const user = (content: unknown = 'Hello') => ({ role: 'user', content });

function rejects400(body: Record<string, unknown>, param: string | null, pattern?: RegExp, version?: string): void {
  assertBadRequest(() => translate(body, version), param, pattern);
}

describe('anthropic spec', () => {
  test('names, URLs, auth and headers', () => {
    assert.equal(anthropic.name, 'anthropic');
    assert.equal(anthropic.kind, 'translating');
    assert.equal(anthropic.defaultBaseUrl, 'https://api.anthropic.com');
    assert.equal(anthropic.baseUrlEnv, 'ANTHROPIC_BASE_URL');
    assert.equal(anthropic.apiKeyEnv, 'ANTHROPIC_API_KEY');
    assert.deepEqual(anthropic.auth, { header: 'x-api-key' });
    assert.equal(anthropic.requestIdHeader, 'request-id');
    assert.deepEqual(anthropic.forwardHeaders, ['anthropic-beta']);
    assert.match(anthropic.docs, /^https:\/\//);
    assert.equal(anthropic.options?.anthropicVersion?.default, NEW);
    assert.deepEqual(anthropic.options?.anthropicVersion?.values, [OLD, NEW]);
    assert.equal(adapter.framing, 'sse');
  });

  test('the path, the model, and the anthropic-version header (the newest by default)', () => {
    const t = translate({ messages: [user()] });
    assert.equal(t.path, '/v1/messages');
    // The version header is the provider's, set once at start-up for every request (models too).
    assert.deepEqual(t.headers, []);
    assert.deepEqual(adapter.headers!({}), [['anthropic-version', NEW]]);
    assert.deepEqual(adapter.headers!({ anthropicVersion: OLD }), [['anthropic-version', OLD]]);
    assert.equal(sent({ messages: [user()] }).model, MODEL);
  });
});

describe('request: messages', () => {
  test('every system and developer message, wherever it stands, in order, into system', () => {
    const body = sent({
      messages: [
        { role: 'system', content: 'one' },
        user('a'),
        { role: 'developer', content: [{ type: 'text', text: 'two' }, { type: 'text', text: 'three' }] },
        { role: 'assistant', content: 'b' },
        { role: 'system', content: 'four' },
        user('c'),
      ],
    });
    assert.deepEqual(body.system, ['one', 'two', 'three', 'four'].map((text) => ({ type: 'text', text })));
    assert.deepEqual(
      body.messages.map((m: Sent) => m.role),
      ['user', 'assistant', 'user'],
    );
  });

  test('no system field without system messages; empty texts are left out', () => {
    const body = sent({ messages: [{ role: 'system', content: '' }, user([{ type: 'text', text: '' }, { type: 'text', text: 'x' }])] });
    assert.equal('system' in body, false);
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'x' }] }]);
  });

  test('consecutive same-role messages become one turn', () => {
    const body = sent({ messages: [user('a'), user('b'), { role: 'assistant', content: 'c' }, { role: 'assistant', content: 'd' }, user('e')] });
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'c' }, { type: 'text', text: 'd' }] },
      { role: 'user', content: [{ type: 'text', text: 'e' }] },
    ]);
  });

  test('images: data: URLs as base64, http(s) URLs as url sources', () => {
    const body = sent({
      messages: [
        user([
          { type: 'text', text: 'What is in these?' },
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        ]),
      ],
    });
    assert.deepEqual(body.messages[0].content.slice(1), [
      { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
    ]);
  });

  test('a PDF file part as a document; cache_control passed on', () => {
    const body = sent({
      messages: [
        user([
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0x', filename: 'a.pdf' } },
          { type: 'text', text: 'Summarise', cache_control: { type: 'ephemeral' } },
        ]),
      ],
    });
    assert.deepEqual(body.messages[0].content, [
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' }, title: 'a.pdf' },
      { type: 'text', text: 'Summarise', cache_control: { type: 'ephemeral' } },
    ]);
  });

  test('a tool round trip: tool_calls as tool_use, tool messages as tool_result in a user turn', () => {
    const body = sent({
      messages: [
        user('Weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '12:00' }] },
        user('Thanks'),
      ],
    });
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '12:00' }] },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
  });

  test('tool results go before text in a user turn, as Anthropic requires', () => {
    const body = sent({
      messages: [
        user('go'),
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        user('also this'),
        { role: 'tool', tool_call_id: 't', content: 'done' },
      ],
    });
    assert.deepEqual(
      body.messages[2].content.map((b: Sent) => b.type),
      ['tool_result', 'text'],
    );
  });

  test('a last assistant message (a prefill) loses its trailing white space', () => {
    const body = sent({ messages: [user('Say hi'), { role: 'assistant', content: 'Hi there \n' }] });
    assert.deepEqual(body.messages[1], { role: 'assistant', content: [{ type: 'text', text: 'Hi there' }] });
  });

  test('malformed messages are 400s naming the parameter', () => {
    rejects400({ messages: 'hi' }, 'messages');
    rejects400({}, 'messages');
    rejects400({ messages: [] }, 'messages');
    rejects400({ messages: [user(), 'x'] }, 'messages[1]');
    rejects400({ messages: [user(), { content: 'x' }] }, 'messages[1].role', /no role/);
    rejects400({ messages: [user(), { role: 'robot', content: 'x' }] }, 'messages[1].role', /robot/);
    rejects400({ messages: [user(), { role: 'function', name: 'f', content: 'x' }] }, 'messages[1].role');
    rejects400({ messages: [user(42)] }, 'messages[0].content');
    rejects400({ messages: [user([{ type: 'input_audio', input_audio: {} }])] }, 'messages[0].content[0]', /audio/);
    rejects400({ messages: [user([{ type: 'video' }])] }, 'messages[0].content[0]');
    rejects400({ messages: [user([{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }])] }, 'messages[0].content[0].image_url.url');
    rejects400({ messages: [user([{ type: 'image_url', image_url: { url: 'data:image/png,abc' } }])] }, 'messages[0].content[0].image_url.url', /base64/);
    rejects400({ messages: [user([{ type: 'file', file: { file_id: 'file-1' } }])] }, 'messages[0].content[0].file.file_data');
    rejects400({ messages: [{ role: 'system', content: [{ type: 'image_url' }] }, user()] }, 'messages[0].content[0]');
    rejects400({ messages: [user(), { role: 'tool', content: 'x' }] }, 'messages[1].tool_call_id');
  });

  test('malformed tool calls are 400s naming the call', () => {
    const call = (fn: unknown, id: unknown = 'toolu_1') => ({
      messages: [user(), { role: 'assistant', tool_calls: [{ id, type: 'function', function: fn }] }],
    });
    rejects400(call({ arguments: '{}' }), 'messages[1].tool_calls[0].function.name', /no function name/);
    rejects400(call({ name: '', arguments: '{}' }), 'messages[1].tool_calls[0].function.name');
    rejects400(call({ name: 'f', arguments: '{"city": "Par' }), 'messages[1].tool_calls[0].function.arguments', /not valid JSON/);
    rejects400(call({ name: 'f', arguments: '[1,2]' }), 'messages[1].tool_calls[0].function.arguments', /JSON object/);
    rejects400(call({ name: 'f', arguments: '{}' }, null), 'messages[1].tool_calls[0].id');
  });
});

describe('request: tools and tool_choice', () => {
  const weather = {
    type: 'function',
    function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  };
  const clock = { type: 'function', function: { name: 'get_time' } };

  test('function tools as name, description, input_schema; none without parameters gets an object schema', () => {
    assert.deepEqual(sent({ messages: [user()], tools: [weather, clock] }).tools, [
      { name: 'get_weather', description: 'Weather by city', input_schema: weather.function.parameters },
      { name: 'get_time', input_schema: { type: 'object' } },
    ]);
  });

  test('tool_choice values', () => {
    const choice = (tool_choice: unknown) => sent({ messages: [user()], tools: [weather], tool_choice }).tool_choice;
    assert.deepEqual(choice('auto'), { type: 'auto' });
    assert.deepEqual(choice('none'), { type: 'none' });
    assert.deepEqual(choice('required'), { type: 'any' });
    assert.deepEqual(choice({ type: 'function', function: { name: 'get_weather' } }), { type: 'tool', name: 'get_weather' });
    assert.equal(choice(undefined), undefined);
    rejects400({ messages: [user()], tools: [weather], tool_choice: 'sometimes' }, 'tool_choice');
    rejects400({ messages: [user()], tools: [weather], tool_choice: { type: 'function', function: {} } }, 'tool_choice.function.name');
  });

  test('parallel_tool_calls: false disables parallel tool use, with auto when the client chose nothing', () => {
    const choice = (extra: Record<string, unknown>) => sent({ messages: [user()], tools: [weather], parallel_tool_calls: false, ...extra }).tool_choice;
    assert.deepEqual(choice({}), { type: 'auto', disable_parallel_tool_use: true });
    assert.deepEqual(choice({ tool_choice: 'required' }), { type: 'any', disable_parallel_tool_use: true });
    assert.deepEqual(choice({ tool_choice: { type: 'function', function: { name: 'get_weather' } } }), {
      type: 'tool',
      name: 'get_weather',
      disable_parallel_tool_use: true,
    });
    assert.deepEqual(choice({ tool_choice: 'none' }), { type: 'none' });
    assert.equal(sent({ messages: [user()], tools: [weather], parallel_tool_calls: true }).tool_choice, undefined);
  });

  test('tool_choice and parallel_tool_calls without tools are dropped', () => {
    const t = translate({ messages: [user()], tool_choice: 'auto', parallel_tool_calls: false });
    const body = JSON.parse(t.body) as Sent;
    assert.equal('tools' in body || 'tool_choice' in body, false);
    assert.deepEqual(t.dropped, ['tool_choice', 'parallel_tool_calls']);
  });

  test('malformed tools are 400s', () => {
    rejects400({ messages: [user()], tools: {} }, 'tools');
    rejects400({ messages: [user()], tools: [{ type: 'function', function: {} }] }, 'tools[0].function.name');
    rejects400({ messages: [user()], tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type');
    rejects400({ messages: [user()], tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] }, 'tools[0].function.parameters');
  });
});

describe('request: response_format', () => {
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };

  test('json_schema as a forced tool with the schema as its input_schema', () => {
    const t = translate({ messages: [user()], response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } } });
    const body = JSON.parse(t.body) as Sent;
    assert.equal(body.tools.length, 1);
    assert.equal(body.tools[0].name, 'answer');
    assert.deepEqual(body.tools[0].input_schema, schema);
    assert.equal(typeof body.tools[0].description, 'string');
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'answer' });
    assert.deepEqual(t.dropped, []);
  });

  test('json_object as a forced tool taking any object', () => {
    const body = sent({ messages: [user()], response_format: { type: 'json_object' } });
    assert.deepEqual(body.tools[0].input_schema, { type: 'object' });
    assert.deepEqual(body.tool_choice, { type: 'tool', name: body.tools[0].name });
  });

  test('text is plain text; with client tools the model must call one of them or the JSON tool', () => {
    assert.equal('tools' in sent({ messages: [user()], response_format: { type: 'text' } }), false);
    const body = sent({
      messages: [user()],
      tools: [{ type: 'function', function: { name: 'lookup' } }],
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } },
    });
    assert.deepEqual(
      body.tools.map((tool: Sent) => tool.name),
      ['lookup', 'answer'],
    );
    assert.deepEqual(body.tool_choice, { type: 'any' });
  });

  test('a schema name that is also a tool name, and unknown formats, are 400s', () => {
    rejects400(
      { messages: [user()], tools: [{ type: 'function', function: { name: 'answer' } }], response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } } },
      'response_format.json_schema.name',
    );
    rejects400({ messages: [user()], response_format: { type: 'yaml' } }, 'response_format.type');
    rejects400({ messages: [user()], response_format: { type: 'json_schema' } }, 'response_format.json_schema');
  });
});

describe('request: the renames table', () => {
  test('max_tokens and max_completion_tokens (the newer wins), and the 4096 default', () => {
    assert.equal(sent({ messages: [user()] }).max_tokens, 4096);
    assert.equal(sent({ messages: [user()], max_tokens: 100 }).max_tokens, 100);
    assert.equal(sent({ messages: [user()], max_completion_tokens: 200 }).max_tokens, 200);
    assert.equal(sent({ messages: [user()], max_tokens: 100, max_completion_tokens: 200 }).max_tokens, 200);
    assert.equal(sent({ messages: [user()], max_tokens: null }).max_tokens, 4096);
    rejects400({ messages: [user()], max_tokens: 0 }, 'max_tokens');
    rejects400({ messages: [user()], max_completion_tokens: 1.5 }, 'max_completion_tokens');
  });

  test('stop as stop_sequences, user as metadata.user_id, stream kept', () => {
    assert.deepEqual(sent({ messages: [user()], stop: 'END' }).stop_sequences, ['END']);
    assert.deepEqual(sent({ messages: [user()], stop: ['a', 'b'] }).stop_sequences, ['a', 'b']);
    assert.deepEqual(sent({ messages: [user()], user: 'user-42' }).metadata, { user_id: 'user-42' });
    assert.equal(sent({ messages: [user()], stream: true }).stream, true);
    assert.equal('stream' in sent({ messages: [user()] }), false);
    rejects400({ messages: [user()], stop: [1] }, 'stop');
    rejects400({ messages: [user()], user: 7 }, 'user');
  });

  test('2023-06-01 sends temperature (clamped to 1), top_p and top_k', () => {
    const body = sent({ messages: [user()], temperature: 0.7, top_p: 0.9, top_k: 40 }, OLD);
    assert.equal(body.temperature, 0.7);
    assert.equal(body.top_p, 0.9);
    assert.equal(body.top_k, 40);
    assert.equal(sent({ messages: [user()], temperature: 1.8 }, OLD).temperature, 1);
    rejects400({ messages: [user()], temperature: 2.5 }, 'temperature', undefined, OLD);
    rejects400({ messages: [user()], top_p: 1.5 }, 'top_p', undefined, OLD);
  });

  test('2026-10-21 refuses temperature, top_p and top_k: left out and named', () => {
    const t = translate({ messages: [user()], temperature: 0.7, top_p: 0.9, top_k: 40 }, NEW);
    const body = JSON.parse(t.body) as Sent;
    assert.equal('temperature' in body || 'top_p' in body || 'top_k' in body, false);
    assert.deepEqual(t.refused, ['temperature', 'top_p', 'top_k']);
    assert.deepEqual(translate({ messages: [user()] }, NEW).refused, []);
  });

  test('2026-10-21 refuses citations in user text and documents in assistant turns; 2023-06-01 sends them', () => {
    const citations = [{ type: 'char_location', cited_text: 'x', document_index: 0, start_char_index: 0, end_char_index: 1 }];
    const messages = [
      user([{ type: 'text', text: 'quoted', citations }]),
      { role: 'assistant', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE' } }, { type: 'text', text: 'ok' }] },
      user('next'),
    ];
    const strict = translate({ messages }, NEW);
    const strictBody = JSON.parse(strict.body) as Sent;
    assert.deepEqual(strict.refused, ['messages[0].content[0].citations', 'messages[1].content[0]']);
    assert.deepEqual(strictBody.messages[0].content, [{ type: 'text', text: 'quoted' }]);
    assert.deepEqual(strictBody.messages[1].content, [{ type: 'text', text: 'ok' }]);
    const legacy = translate({ messages }, OLD);
    const legacyBody = JSON.parse(legacy.body) as Sent;
    assert.deepEqual(legacy.refused, []);
    assert.deepEqual(legacyBody.messages[0].content[0].citations, citations);
    assert.equal(legacyBody.messages[1].content[0].type, 'document');
  });

  test('fields without an Anthropic equivalent are not sent, and listed as dropped', () => {
    const t = translate(
      {
        messages: [user()],
        n: 1,
        logprobs: true,
        top_logprobs: 2,
        presence_penalty: 0.5,
        frequency_penalty: 0.5,
        seed: 7,
        logit_bias: { 1: 2 },
        stream: true,
        stream_options: { include_usage: true },
        service_tier: 'auto',
        store: false,
        metadata: { a: 'b' },
        seed_null: null,
      },
      OLD,
    );
    const body = JSON.parse(t.body) as Sent;
    assert.deepEqual(t.dropped, [
      'logprobs',
      'top_logprobs',
      'presence_penalty',
      'frequency_penalty',
      'seed',
      'logit_bias',
      'stream_options',
      'service_tier',
      'store',
      'metadata',
    ]);
    for (const field of t.dropped) assert.equal(field in body, false, field);
    assert.deepEqual(Object.keys(body).sort(), ['max_tokens', 'messages', 'model', 'stream']);
  });

  test('n above 1 is a 400 rather than one silent choice', () => {
    rejects400({ messages: [user()], n: 2 }, 'n', /n must be 1/);
  });
});

describe('request: reasoning_effort', () => {
  test('each level as a thinking budget; none is no thinking', () => {
    for (const [effort, budget] of [
      ['minimal', 1024],
      ['low', 2048],
      ['medium', 8192],
      ['high', 16384],
    ] as const) {
      const body = sent({ messages: [user()], reasoning_effort: effort, max_tokens: 64000 });
      assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: budget });
      assert.equal(body.max_tokens, 64000);
    }
    assert.equal('thinking' in sent({ messages: [user()], reasoning_effort: 'none' }), false);
    rejects400({ messages: [user()], reasoning_effort: 'extreme' }, 'reasoning_effort');
  });

  test('max_tokens that does not exceed the budget is raised by the budget', () => {
    assert.equal(sent({ messages: [user()], reasoning_effort: 'high' }).max_tokens, 4096 + 16384);
    assert.equal(sent({ messages: [user()], reasoning_effort: 'medium', max_tokens: 8192 }).max_tokens, 8192 + 8192);
    assert.equal(sent({ messages: [user()], reasoning_effort: 'minimal' }).max_tokens, 4096);
  });

  test('thinking refuses temperature and top_k even under 2023-06-01', () => {
    const t = translate({ messages: [user()], reasoning_effort: 'low', temperature: 0.2, top_k: 5, top_p: 0.97 }, OLD);
    const body = JSON.parse(t.body) as Sent;
    assert.deepEqual(t.refused, ['temperature', 'top_k']);
    assert.equal(body.top_p, 0.97);
  });

  test('thinking with a forced tool is a 400 (Anthropic allows only auto and none)', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    rejects400({ messages: [user()], reasoning_effort: 'low', tools, tool_choice: 'required' }, 'reasoning_effort', /tool_choice/);
    rejects400({ messages: [user()], reasoning_effort: 'low', response_format: { type: 'json_object' } }, 'reasoning_effort', /response_format/);
    assert.deepEqual(sent({ messages: [user()], reasoning_effort: 'low', tools, tool_choice: 'auto' }).tool_choice, { type: 'auto' });
  });
});

// ------------------------------------------------------------------------------------------------
// Answers

function message(content: unknown[], stopReason: string, usage: Record<string, unknown> = { input_tokens: 10, output_tokens: 5 }) {
  return JSON.stringify({
    id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage,
  });
}

function answer(body: string, request: Record<string, unknown> = { messages: [user()] }) {
  const result = translate(request).answer(body);
  return { json: JSON.parse(result.json) as Sent, usage: result.usage };
}

describe('answer', () => {
  test('text, id, model, usage with cache tokens in prompt_tokens', () => {
    const { json, usage } = answer(
      message([{ type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }], 'end_turn', {
        input_tokens: 10,
        cache_creation_input_tokens: 20,
        cache_read_input_tokens: 30,
        output_tokens: 7,
      }),
    );
    assert.equal(json.id, 'msg_01XFDUDYJgAACzvnptvVoYEL');
    assert.equal(json.object, 'chat.completion');
    assert.equal(json.model, 'claude-sonnet-4-5-20250929');
    assert.ok(Math.abs(json.created - Date.now() / 1000) < 5);
    assert.deepEqual(json.choices, [
      { index: 0, message: { role: 'assistant', content: 'Hello there', refusal: null }, logprobs: null, finish_reason: 'stop' },
    ]);
    assert.deepEqual(json.usage, { prompt_tokens: 60, completion_tokens: 7, total_tokens: 67, prompt_tokens_details: { cached_tokens: 30 } });
    assert.deepEqual(usage, { promptTokens: 60, completionTokens: 7, cacheReadTokens: 30, cacheWriteTokens: 20 });
  });

  test('tool calls (content null when there is no text), reasoning_content from thinking', () => {
    const { json } = answer(
      message(
        [
          { type: 'thinking', thinking: 'Need the weather.', signature: 'sig' },
          { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_01B', name: 'get_time', input: {} },
        ],
        'tool_use',
      ),
    );
    const choice = json.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.reasoning_content, 'Need the weather.');
    assert.deepEqual(choice.message.tool_calls, [
      { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'toolu_01B', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
  });

  test('finish_reason for every stop reason', () => {
    const cases: [string, string][] = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['model_context_window_exceeded', 'length'],
      ['tool_use', 'stop'],
      ['refusal', 'content_filter'],
      ['pause_turn', 'stop'],
      ['something_new', 'stop'],
    ];
    for (const [stopReason, finish] of cases) {
      assert.equal(answer(message([{ type: 'text', text: 'x' }], stopReason)).json.choices[0].finish_reason, finish, stopReason);
    }
    // A tool call cut short by max_tokens is reported as length, as OpenAI does.
    const cut = answer(message([{ type: 'tool_use', id: 't', name: 'f', input: {} }], 'max_tokens'));
    assert.equal(cut.json.choices[0].finish_reason, 'length');
  });

  test('JSON mode: the forced tool input is the text content, finish_reason stop', () => {
    const request = { messages: [user()], response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } } };
    const { json } = answer(message([{ type: 'tool_use', id: 't', name: 'answer', input: { answer: 'Paris' } }], 'tool_use'), request);
    assert.deepEqual(json.choices[0].message, { role: 'assistant', content: '{"answer":"Paris"}', refusal: null });
    assert.equal(json.choices[0].finish_reason, 'stop');
  });

  test('a body that is not an Anthropic message throws', () => {
    const t = translate({ messages: [user()] });
    assert.throws(() => t.answer('not json'));
    assert.throws(() => t.answer('{"type":"error","error":{"type":"api_error","message":"x"}}'), /not a message/);
    assert.throws(() => t.answer('[]'), /not a message/);
  });
});

// ------------------------------------------------------------------------------------------------
// Errors

describe('errors', () => {
  const body = (type: string, msg = `a ${type}`) => JSON.stringify({ type: 'error', error: { type, message: msg }, request_id: 'req_1' });

  test('every documented type keeps its status, with Anthropic message and type', () => {
    const cases: [number, string, string][] = [
      [400, 'invalid_request_error', 'invalid_request_error'],
      [401, 'authentication_error', 'authentication_error'],
      [402, 'billing_error', 'insufficient_quota'],
      [403, 'permission_error', 'permission_error'],
      [404, 'not_found_error', 'not_found_error'],
      [413, 'request_too_large', 'invalid_request_error'],
      [429, 'rate_limit_error', 'rate_limit_error'],
      [500, 'api_error', 'server_error'],
      [504, 'timeout_error', 'timeout_error'],
    ];
    for (const [status, type, openAIType] of cases) {
      assert.deepEqual(adapter.error(status, body(type)), {
        status,
        error: { message: `a ${type}`, type: openAIType, code: type, param: null },
      });
    }
  });

  test('529 overloaded_error becomes 503 with Anthropic message', () => {
    assert.deepEqual(adapter.error(529, body('overloaded_error', 'Overloaded')), {
      status: 503,
      error: { message: 'Overloaded', type: 'server_error', code: 'overloaded_error', param: null },
    });
  });

  test('a body that is not JSON is quoted, clipped', () => {
    const html = `<html><body>${'Bad gateway '.repeat(100)}</body></html>`;
    const { status, error } = adapter.error(502, html);
    assert.equal(status, 502);
    assert.match(error.message, /HTTP 502 .*not JSON: "<html><body>Bad gateway/);
    assert.ok(error.message.length < 300);
    assert.match(adapter.error(500, '').error.message, /empty body/);
  });

  test('JSON of another shape is read by the shared normaliser', () => {
    assert.equal(adapter.error(503, '{"message":"upstream connect error"}').error.message, 'upstream connect error');
  });
});

describe('models', () => {
  test("Anthropic's list in OpenAI's shape", () => {
    assert.match(adapter.models!.path, /^\/v1\/models/);
    const list = JSON.parse(
      adapter.models!.answer(
        JSON.stringify({
          data: [
            { type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
            { type: 'model', id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-01T00:00:00Z' },
          ],
          has_more: false,
          first_id: 'claude-sonnet-4-5-20250929',
          last_id: 'claude-haiku-4-5-20251001',
        }),
      ),
    ) as Sent;
    assert.deepEqual(list, {
      object: 'list',
      data: [
        { id: 'claude-sonnet-4-5-20250929', object: 'model', created: 1759104000, owned_by: 'anthropic' },
        { id: 'claude-haiku-4-5-20251001', object: 'model', created: 1759276800, owned_by: 'anthropic' },
      ],
    });
    assert.throws(() => adapter.models!.answer('{"type":"error"}'));
  });
});

// ------------------------------------------------------------------------------------------------
// Streams

const start = (inputTokens = 25, cacheRead = 0) => ({
  type: 'message_start',
  message: {
    id: 'msg_01StreamAbc',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: cacheRead, output_tokens: 1 },
  },
});
const blockStart = (index: number, block: Record<string, unknown>) => ({ type: 'content_block_start', index, content_block: block });
const textStart = (index: number) => blockStart(index, { type: 'text', text: '' });
const toolStart = (index: number, id: string, name: string) => blockStart(index, { type: 'tool_use', id, name, input: {} });
const text = (index: number, t: string) => ({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: t } });
const json = (index: number, partial: string) => ({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } });
const blockStop = (index: number) => ({ type: 'content_block_stop', index });
const messageDelta = (stopReason: string, outputTokens: number, extra: Record<string, unknown> = {}) => ({
  type: 'message_delta',
  delta: { stop_reason: stopReason, stop_sequence: null },
  usage: { output_tokens: outputTokens, ...extra },
});
const ping = { type: 'ping' };
const stop = { type: 'message_stop' };
const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };

interface Recording {
  readonly events: readonly Record<string, unknown>[];
  readonly request?: Record<string, unknown>;
}

const recordings: Record<string, Recording> = {
  text: {
    events: [start(), textStart(0), ping, text(0, 'Hello'), text(0, '! "Quotes" and \\ and \n newlines'), text(0, ' — ünïcödé ✓'), blockStop(0), messageDelta('end_turn', 15), stop],
  },
  textThenTool: {
    events: [
      start(472, 100),
      textStart(0),
      text(0, "I'll check the weather"),
      text(0, ' for you.'),
      blockStop(0),
      toolStart(1, 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', 'get_weather'),
      json(1, ''),
      json(1, '{"location":'),
      json(1, ' "San Fra'),
      json(1, 'ncisco, CA"'),
      json(1, ', "unit": "fah'),
      json(1, 'renheit"}'),
      blockStop(1),
      messageDelta('tool_use', 89),
      stop,
    ],
  },
  parallelTools: {
    events: [
      start(),
      toolStart(0, 'toolu_A', 'get_weather'),
      json(0, '{"city": '),
      json(0, '"Paris"}'),
      blockStop(0),
      toolStart(1, 'toolu_B', 'get_time'),
      json(1, '{"zone":'),
      ping,
      json(1, ' "CET"}'),
      blockStop(1),
      messageDelta('tool_use', 60),
      stop,
    ],
  },
  toolWithoutArguments: {
    events: [
      start(565),
      textStart(0),
      text(0, "I'll update the issue list for you."),
      blockStop(0),
      toolStart(1, 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP', 'updateIssueList'),
      json(1, ''),
      blockStop(1),
      toolStart(2, 'toolu_01Second', 'refresh'),
      blockStop(2),
      messageDelta('tool_use', 48, { input_tokens: 565 }),
      stop,
    ],
  },
  thinking: {
    request: { reasoning_effort: 'low' },
    events: [
      start(),
      blockStart(0, { type: 'thinking', thinking: '' }),
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me work out 27 * 453.' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: ' That is 12231.' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3h' } },
      blockStop(0),
      blockStart(1, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }),
      blockStop(1),
      textStart(2),
      text(2, '27 * 453 = 12,231'),
      blockStop(2),
      messageDelta('end_turn', 120, { output_tokens_details: { thinking_tokens: 90 } }),
      stop,
    ],
  },
  errorAfterStart: { events: [start(), overloaded] },
  errorMidStream: { events: [start(), textStart(0), text(0, 'Partial'), text(0, ' answer'), { type: 'error', error: { type: 'api_error', message: 'Internal server error' } }] },
  cutShort: { events: [start(), textStart(0), text(0, 'Cut'), text(0, ' short')] },
  forcedJson: {
    request: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } } },
    events: [
      start(849),
      toolStart(0, 'toolu_01KFbKqPYSuAKujiL6mTfzYA', 'answer'),
      json(0, ''),
      ping,
      json(0, '{"elements": [{"location": "San Francisco", '),
      json(0, '"temperature": 58, "condition": "sunny"}]'),
      json(0, '}'),
      blockStop(0),
      messageDelta('tool_use', 47),
      stop,
    ],
  },
};

/** The recording as Anthropic sends it: named SSE events. */
function sseText(events: readonly Record<string, unknown>[]): string {
  return events.map((event) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}

function translator(recording: Recording, includeUsage: boolean): StreamTranslator {
  return translate({ messages: [user()], stream: true, ...(includeUsage && { stream_options: { include_usage: true } }), ...recording.request }).stream();
}

/** Feeds the pieces through eventsource-parser, as the core does, and the translator's output back. */
function replay(pieces: readonly string[], recording: Recording, includeUsage: boolean) {
  const t = translator(recording, includeUsage);
  let out = '';
  const parser = createParser({ onEvent: (event) => (out += t.push({ event: event.event ?? 'message', data: event.data })) });
  for (const piece of pieces) parser.feed(piece);
  out += t.end();
  return { out, translator: t };
}

const sameCreated = (sse: string) => sse.replace(/"created":\d+/g, '"created":0');

interface Reassembled {
  chunks: Sent[];
  content: string;
  reasoning: string;
  tools: { id: string; name: string; arguments: string }[];
  finish: string | null;
  usage: Sent | undefined;
  errors: Sent[];
  done: boolean;
}

/** Parses the output as an OpenAI client would and puts the answer back together. */
function reassemble(sse: string): Reassembled {
  assert.ok(sse === '' || sse.endsWith('\n\n'), 'every event is complete');
  const result: Reassembled = { chunks: [], content: '', reasoning: '', tools: [], finish: null, usage: undefined, errors: [], done: false };
  for (const event of sse.split('\n\n').slice(0, -1)) {
    assert.ok(event.startsWith('data: '), event);
    assert.equal(result.done, false, '[DONE] is last');
    const data = event.slice('data: '.length);
    if (data === '[DONE]') {
      result.done = true;
      continue;
    }
    const chunk = JSON.parse(data) as Sent;
    if (chunk.error) {
      result.errors.push(chunk.error);
      continue;
    }
    result.chunks.push(chunk);
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, 'msg_01StreamAbc');
    assert.equal(chunk.model, 'claude-sonnet-4-5-20250929');
    assert.equal(typeof chunk.created, 'number');
    if (chunk.usage) {
      assert.deepEqual(chunk.choices, []);
      result.usage = chunk.usage;
      continue;
    }
    assert.equal(result.usage, undefined, 'the usage chunk comes after every choice');
    const [choice] = chunk.choices as Sent[];
    assert.equal(choice!.index, 0);
    assert.equal(result.finish, null, 'nothing follows the finish chunk but usage');
    result.finish = choice!.finish_reason;
    const delta = choice!.delta as Sent;
    if (typeof delta.content === 'string') result.content += delta.content;
    if (typeof delta.reasoning_content === 'string') result.reasoning += delta.reasoning_content;
    for (const call of (delta.tool_calls ?? []) as Sent[]) {
      const known = result.tools[call.index];
      if (call.id) {
        assert.equal(known, undefined, 'a tool call starts once');
        assert.equal(call.index, result.tools.length, 'tool indices count tool calls from 0');
        assert.equal(call.type, 'function');
        result.tools[call.index] = { id: call.id, name: call.function.name, arguments: call.function.arguments };
      } else {
        assert.ok(known, 'arguments follow their call');
        known.arguments += call.function.arguments;
      }
    }
  }
  return result;
}

interface Expected {
  content?: string;
  reasoning?: string;
  tools?: { id: string; name: string; arguments: unknown }[];
  finish?: string;
  usage?: Sent;
  error?: { status: number; message: RegExp; code: string | null };
}

const expectations: Record<string, Expected> = {
  text: {
    content: 'Hello! "Quotes" and \\ and \n newlines — ünïcödé ✓',
    finish: 'stop',
    usage: { prompt_tokens: 25, completion_tokens: 15, total_tokens: 40, prompt_tokens_details: { cached_tokens: 0 } },
  },
  textThenTool: {
    content: "I'll check the weather for you.",
    tools: [{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: { location: 'San Francisco, CA', unit: 'fahrenheit' } }],
    finish: 'tool_calls',
    usage: { prompt_tokens: 572, completion_tokens: 89, total_tokens: 661, prompt_tokens_details: { cached_tokens: 100 } },
  },
  parallelTools: {
    content: '',
    tools: [
      { id: 'toolu_A', name: 'get_weather', arguments: { city: 'Paris' } },
      { id: 'toolu_B', name: 'get_time', arguments: { zone: 'CET' } },
    ],
    finish: 'tool_calls',
  },
  toolWithoutArguments: {
    content: "I'll update the issue list for you.",
    tools: [
      { id: 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP', name: 'updateIssueList', arguments: {} },
      { id: 'toolu_01Second', name: 'refresh', arguments: {} },
    ],
    finish: 'tool_calls',
    usage: { prompt_tokens: 565, completion_tokens: 48, total_tokens: 613, prompt_tokens_details: { cached_tokens: 0 } },
  },
  thinking: {
    content: '27 * 453 = 12,231',
    reasoning: 'Let me work out 27 * 453. That is 12231.',
    finish: 'stop',
    usage: {
      prompt_tokens: 25,
      completion_tokens: 120,
      total_tokens: 145,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 90 },
    },
  },
  errorAfterStart: { content: '', error: { status: 503, message: /^Overloaded$/, code: 'overloaded_error' } },
  errorMidStream: { content: 'Partial answer', error: { status: 500, message: /^Internal server error$/, code: 'api_error' } },
  cutShort: { content: 'Cut short', error: { status: 502, message: /ended before its message_stop/, code: 'stream_interrupted' } },
  forcedJson: {
    content: '{"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}',
    finish: 'stop',
  },
};

function check(name: string, output: Reassembled, t: StreamTranslator, includeUsage: boolean): void {
  const expected = expectations[name]!;
  // An error before any content leaves nothing sent (the core retries it); otherwise the role comes first.
  if (output.content === '' && expected.error) assert.equal(output.chunks.length, 0, 'nothing before the error');
  else assert.equal(output.chunks[0]?.choices[0].delta.role, 'assistant', 'the first chunk names the role');
  assert.equal(output.content, expected.content ?? '');
  assert.equal(output.reasoning, expected.reasoning ?? '');
  assert.deepEqual(
    output.tools.map((tool) => ({ ...tool, arguments: JSON.parse(tool.arguments) as unknown })),
    expected.tools ?? [],
  );
  if (expected.error) {
    assert.equal(output.done, false, 'no [DONE] after an error');
    assert.equal(output.finish, null);
    assert.equal(output.errors.length, 1);
    assert.match(output.errors[0]!.message, expected.error.message);
    assert.equal(output.errors[0]!.code, expected.error.code);
    assert.equal(t.failure?.status, expected.error.status);
    assert.deepEqual(t.failure?.error, output.errors[0]);
    return;
  }
  assert.equal(t.failure, undefined);
  assert.deepEqual(output.errors, []);
  assert.equal(output.done, true, '[DONE] last');
  assert.equal(output.finish, expected.finish);
  if (!includeUsage) assert.equal(output.usage, undefined, 'no usage chunk without include_usage');
  else if (expected.usage) assert.deepEqual(output.usage, expected.usage);
  else assert.ok(output.usage);
  if (output.usage) {
    assert.equal(t.usage?.promptTokens, output.usage.prompt_tokens);
    assert.equal(t.usage?.completionTokens, output.usage.completion_tokens);
    assert.equal(t.usage?.cacheReadTokens, output.usage.prompt_tokens_details.cached_tokens);
  }
}

describe('stream', () => {
  for (const [name, recording] of Object.entries(recordings)) {
    test(`${name}: whole, event by event, merged, and split at every byte`, () => {
      const wire = sseText(recording.events);
      for (const includeUsage of [true, false]) {
        const whole = replay([wire], recording, includeUsage);
        check(name, reassemble(whole.out), whole.translator, includeUsage);
        const reference = sameCreated(whole.out);
        const events = wire.split(/(?<=\n\n)/);
        assert.equal(sameCreated(replay(events, recording, includeUsage).out), reference, 'event by event');
        for (let i = 1; i + 1 < events.length; i++) {
          const merged = [events.slice(0, i).join(''), events.slice(i, i + 2).join(''), events.slice(i + 2).join('')];
          assert.equal(sameCreated(replay(merged, recording, includeUsage).out), reference, `events ${i} and ${i + 1} merged`);
        }
        // The translator sees parsed events, so the usage chunk's presence does not change where
        // a split can fall: every byte is tried once, with it.
        if (!includeUsage) continue;
        for (let at = 1; at < wire.length; at++) {
          const split = replay([wire.slice(0, at), wire.slice(at)], recording, includeUsage);
          assert.equal(sameCreated(split.out), reference, `split at ${at}`);
        }
      }
    });
  }

  test('each event is answered at once, not gathered; the role waits for the first content', () => {
    const t = translator(recordings.text!, false);
    // Held back: an overloaded_error right after message_start must still find nothing sent.
    assert.equal(t.push({ event: 'message_start', data: JSON.stringify(start()) }), '');
    assert.equal(t.push({ event: 'content_block_start', data: JSON.stringify(textStart(0)) }), '');
    assert.equal(t.push({ event: 'ping', data: '{"type":"ping"}' }), '');
    const head = 'data: {"id":"msg_01StreamAbc","object":"chat.completion.chunk","created":0,"model":"claude-sonnet-4-5-20250929","choices":[{"index":0,"delta":';
    const first = t.push({ event: 'content_block_delta', data: JSON.stringify(text(0, 'Hi "you"')) });
    assert.equal(
      sameCreated(first),
      `${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n` +
        `${head}{"content":"Hi \\"you\\""},"logprobs":null,"finish_reason":null}]}\n\n`,
    );
    const second = t.push({ event: 'content_block_delta', data: JSON.stringify(text(0, '!')) });
    assert.equal(sameCreated(second), `${head}{"content":"!"},"logprobs":null,"finish_reason":null}]}\n\n`);
  });

  test('message_delta usage replaces, never adds; input and cache tokens kept from message_start', () => {
    const t = translator(recordings.text!, true);
    t.push({ event: 'message_start', data: JSON.stringify(start(100, 50)) });
    assert.deepEqual(t.usage, { promptTokens: 150, completionTokens: 1, cacheReadTokens: 50, cacheWriteTokens: 0 });
    t.push({ event: 'message_delta', data: JSON.stringify(messageDelta('end_turn', 10)) });
    t.push({ event: 'message_delta', data: JSON.stringify(messageDelta('end_turn', 30)) });
    assert.deepEqual(t.usage, { promptTokens: 150, completionTokens: 30, cacheReadTokens: 50, cacheWriteTokens: 0 });
    t.push({ event: 'message_delta', data: JSON.stringify(messageDelta('end_turn', 31, { input_tokens: 120 })) });
    assert.deepEqual(t.usage, { promptTokens: 170, completionTokens: 31, cacheReadTokens: 50, cacheWriteTokens: 0 });
  });

  test('a stream that opens block after block without closing them is refused, not held', () => {
    const t = translator(recordings.text!, false);
    t.push({ event: 'message_start', data: JSON.stringify(start()) });
    for (let i = 0; i < 300 && t.failure === undefined; i++) t.push({ event: 'content_block_start', data: JSON.stringify(textStart(i)) });
    assert.equal(t.failure?.status, 502);
    assert.match(t.failure!.error.message, /more than 256 content blocks/);
  });

  test('a repeated message_start for the same message is ignored; another message is an error', () => {
    const t = translator(recordings.text!, false);
    t.push({ event: 'message_start', data: JSON.stringify(start()) });
    assert.equal(t.push({ event: 'message_start', data: JSON.stringify(start()) }), '');
    const other = start();
    other.message.id = 'msg_other';
    assert.match(t.push({ event: 'message_start', data: JSON.stringify(other) }), /^data: \{"error":/);
    assert.equal(t.failure?.status, 502);
  });

  test('unknown events and deltas are ignored; malformed ones fail the stream', () => {
    const t = translator(recordings.text!, false);
    t.push({ event: 'message_start', data: JSON.stringify(start()) });
    assert.equal(t.push({ event: 'future_event', data: '{"type":"future_event"}' }), '');
    t.push({ event: 'content_block_start', data: JSON.stringify(textStart(0)) });
    assert.equal(t.push({ event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'citations_delta', citation: {} } }) }), '');
    assert.match(t.push({ event: 'content_block_delta', data: '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta"}}' }), /"error"/);
    assert.equal(t.failure?.status, 502);
    assert.equal(t.push({ event: 'message_stop', data: '{"type":"message_stop"}' }), '', 'nothing after a failure');
    assert.equal(t.end(), '', 'no second error at the end');

    const bad = translator(recordings.text!, false);
    assert.match(bad.push({ event: 'message_start', data: '{not json' }), /not JSON/);
    const early = translator(recordings.text!, false);
    assert.match(early.push({ event: 'content_block_delta', data: JSON.stringify(text(0, 'x')) }), /before message_start/);
  });

  test('error event types map to statuses', () => {
    const cases: [string, number][] = [
      ['overloaded_error', 503],
      ['rate_limit_error', 429],
      ['api_error', 500],
      ['invalid_request_error', 400],
      ['authentication_error', 401],
      ['permission_error', 403],
      ['not_found_error', 404],
      ['request_too_large', 413],
      ['timeout_error', 504],
      ['brand_new_error', 502],
    ];
    for (const [type, status] of cases) {
      const t = translator(recordings.text!, false);
      t.push({ event: 'message_start', data: JSON.stringify(start()) });
      const out = t.push({ event: 'error', data: JSON.stringify({ type: 'error', error: { type, message: `m ${type}` } }) });
      assert.equal(t.failure?.status, status, type);
      assert.deepEqual(JSON.parse(out.slice('data: '.length)), { error: { message: `m ${type}`, type: t.failure?.error.type, code: type, param: null } });
    }
  });

  test("the openai SDK's own stream helper reads the translated stream", async () => {
    const { out } = replay([sseText(recordings.textThenTool!.events)], recordings.textThenTool!, true);
    const sdkStream = Stream.fromSSEResponse(new Response(out), new AbortController());
    const completion = await ChatCompletionStream.fromReadableStream(sdkStream.toReadableStream()).finalChatCompletion();
    assert.equal(completion.choices[0]?.message.content, "I'll check the weather for you.");
    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(completion.choices[0]?.message.tool_calls, [
      {
        id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"location": "San Francisco, CA", "unit": "fahrenheit"}' },
      },
    ]);

    const failed = replay([sseText(recordings.errorMidStream!.events)], recordings.errorMidStream!, false);
    const chunks: unknown[] = [];
    await assert.rejects(async () => {
      for await (const chunk of Stream.fromSSEResponse(new Response(failed.out), new AbortController())) chunks.push(chunk);
    }, APIError);
    assert.equal(chunks.length, 3);
  });
});
