// The inbound Messages API translation, as pure functions: Anthropic requests as chat requests,
// chat answers and chunk streams back as Messages and their events, failures as Anthropic errors.
// Streams are replayed from recorded chunk sequences and their output read back by the Anthropic
// SDK's own SSE parser and MessageStream, which is what a client does with it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic, { APIError, OverloadedError } from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/core/streaming';
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { createParser } from 'eventsource-parser';
import { type OpenAIErrorBody } from '../src/errors.js';
import { anthropicMessages } from '../src/inbound/anthropic-messages/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { InboundTranslation } from '../src/inbound/types.js';
import type { StreamTranslator } from '../src/translate/stream-contract.js';
import { assertBadRequest } from './helpers.js';

const MODEL = 'claude-sonnet-4-5';

type Json = Record<string, any>;

/** What the gateway gives every translation besides the model and the client. */
const KEPT = { outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity };

function translate(body: Record<string, unknown>): InboundTranslation {
  return anthropicMessages.toChat({ model: MODEL, max_tokens: 1024, messages: [{ role: 'user', content: 'Hello' }], ...body }, { model: MODEL, client: () => '', ...KEPT, thinking: 'effort' });
}

const chat = (body: Record<string, unknown>): Json => translate(body).chat;
const messagesOf = (body: Record<string, unknown>): Json[] => chat(body).messages as Json[];

function rejects400(body: Record<string, unknown>, param: string, pattern?: RegExp): void {
  const error = assertBadRequest(() => translate(body), param, pattern);
  assert.equal(error.code, 'invalid_request');
  assert.ok(error.message.startsWith(`${param}: `), error.message);
}

describe('request', () => {
  test('the smallest request: the model, max_tokens and a user message; nothing dropped', () => {
    const t = translate({ model: 'client-name' });
    assert.deepEqual(t.chat, { model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1024 });
    assert.deepEqual(t.dropped, []);
  });

  test('max_tokens is required, an integer of at least 1', () => {
    assert.throws(() => anthropicMessages.toChat({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { model: MODEL, client: () => '', ...KEPT, thinking: 'effort' }), /max_tokens: required/);
    for (const value of [null, 0, -1, 1.5, '100']) rejects400({ max_tokens: value }, 'max_tokens');
  });

  test('model and messages are required', () => {
    rejects400({ model: 7 }, 'model');
    rejects400({ messages: [] }, 'messages');
    rejects400({ messages: 'Hello' }, 'messages');
    rejects400({ messages: [{ role: 'tool', content: 'x' }] }, 'messages.0.role', /"tool" is not a role/);
    rejects400({ messages: [{ role: 'user', content: 'a' }, { role: 'user' }] }, 'messages.1.content');
  });

  test('system as a string, or text blocks (cache_control left out) joined, leads; system messages among the turns join it', () => {
    assert.deepEqual(messagesOf({ system: 'Be brief.' })[0], { role: 'system', content: 'Be brief.' });
    const messages = messagesOf({
      system: [
        { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Answer in English.', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ],
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'system', content: [{ type: 'text', text: 'Now in French.' }] },
        { role: 'user', content: 'c' },
      ],
    });
    assert.deepEqual(messages, [
      { role: 'system', content: 'You are Claude Code.\n\nAnswer in English.\n\nNow in French.' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' },
    ]);
    assert.equal(messagesOf({ system: [] })[0]!.role, 'user');
    rejects400({ system: [{ type: 'image' }] }, 'system.0');
  });

  test('user text blocks as one string; with images, as parts (base64 as a data: URL, url as it is)', () => {
    const content = [
      { type: 'text', text: '<system-reminder>x</system-reminder>' },
      { type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } },
    ];
    assert.deepEqual(messagesOf({ messages: [{ role: 'user', content }] }), [{ role: 'user', content: '<system-reminder>x</system-reminder>\n\nHi' }]);
    const withImages = messagesOf({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0K' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    assert.deepEqual(withImages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
    rejects400({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] }] }, 'messages.0.content.0.source.type', /Files API/);
    rejects400({ messages: [{ role: 'assistant', content: [{ type: 'image', source: { type: 'url', url: 'https://x' } }] }] }, 'messages.0.content.0.type');
  });

  test('documents with their text are text; PDFs and files are refused, named', () => {
    const messages = messagesOf({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'The grass is green.' }, title: 'Facts' },
            { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'Sky: blue.' }] } },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
    });
    assert.deepEqual(messages, [{ role: 'user', content: 'Facts\n\nThe grass is green.\n\nSky: blue.\n\nSummarise.' }]);
    const pdf = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' } };
    rejects400({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, pdf] }] }, 'messages.0.content.1.source.type', /"base64"/);
  });

  test('a tool round trip: tool_use as tool_calls, each tool_result a tool message before the turn\'s other content', () => {
    const messages = messagesOf({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Two calls.', signature: 'c2ln' },
            { type: 'text', text: 'Checking both.' },
            { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'weather', input: { city: 'Rome' }, cache_control: { type: 'ephemeral' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Here you are.' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '24C' }, { type: 'text', text: 'sunny' }] },
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'no data', is_error: true },
          ],
        },
      ],
    });
    assert.deepEqual(messages, [
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking both.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_2', content: '24C\n\nsunny' },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: no data' },
      { role: 'user', content: 'Here you are.' },
    ]);
  });

  test('an assistant turn of tool calls only has null content; one of thinking only is left out, and named', () => {
    const t = translate({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'ZW5j' }] },
        { role: 'user', content: 'b' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'ls', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't' }] },
      ],
    });
    assert.deepEqual(t.chat.messages, [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'ls', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 't', content: '' },
    ]);
    assert.deepEqual(t.dropped, ['messages.*.content.*(redacted_thinking)']);
  });

  test("a tool result's images follow the tool messages in a user message, and its text says so", () => {
    const png = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } };
    const messages = messagesOf({
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'read', input: { path: 'a.png' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [png] }, { type: 'text', text: 'And?' }] },
      ],
    });
    assert.deepEqual(messages.slice(1), [
      { role: 'tool', tool_call_id: 't', content: '[The image of this result follows in the next user message.]' },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
          { type: 'text', text: 'And?' },
        ],
      },
    ]);
  });

  test('blocks in the wrong turn, of unknown types, or from server tools are refused, named', () => {
    const turn = (role: string, block: unknown) => ({ messages: [{ role, content: [{ type: 'text', text: 'x' }, block] }] });
    rejects400(turn('user', { type: 'tool_use', id: 'a', name: 'b', input: {} }), 'messages.0.content.1.type', /tool_use blocks cannot stand in user messages/);
    rejects400(turn('assistant', { type: 'tool_result', tool_use_id: 'a' }), 'messages.0.content.1.type');
    rejects400(turn('user', { type: 'thinking', thinking: 'x', signature: '' }), 'messages.0.content.1.type');
    rejects400(turn('user', { type: 'video' }), 'messages.0.content.1.type', /"video"/);
    rejects400(turn('assistant', { type: 'server_tool_use', id: 'a', name: 'web_search', input: {} }), 'messages.0.content.1.type', /server tools/);
    rejects400(turn('user', { type: 'web_search_tool_result', tool_use_id: 'a', content: [] }), 'messages.0.content.1.type', /server tools/);
    rejects400(turn('assistant', { type: 'tool_use', id: 'a', name: 'b', input: 'x' }), 'messages.0.content.1.input');
    rejects400(turn('user', { type: 'text' }), 'messages.0.content.1.text');
  });

  test('custom tools as function tools; server tools refused, naming their type', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const t = translate({
      tools: [
        { name: 'weather', description: 'Weather for a city', input_schema: schema, cache_control: { type: 'ephemeral' } },
        { type: 'custom', name: 'ls', input_schema: { type: 'object' }, strict: true, input_examples: [{}] },
      ],
    });
    assert.deepEqual(t.chat.tools, [
      { type: 'function', function: { name: 'weather', description: 'Weather for a city', parameters: schema } },
      { type: 'function', function: { name: 'ls', parameters: { type: 'object' }, strict: true } },
    ]);
    assert.deepEqual(t.dropped, ['tools.*.input_examples']);
    const ok = { name: 'weather', input_schema: schema };
    rejects400({ tools: [ok, { type: 'web_search_20250305', name: 'web_search', max_uses: 5 }] }, 'tools.1.type', /"web_search_20250305" is one of Anthropic's server tools/);
    rejects400({ tools: [{ type: 'bash_20250124', name: 'bash' }] }, 'tools.0.type', /bash_20250124/);
    rejects400({ tools: [{ type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' }] }, 'tools.0.type');
    rejects400({ tools: [{ name: 'x' }] }, 'tools.0.input_schema');
    rejects400({ tools: [{ name: '', input_schema: {} }] }, 'tools.0.name');
  });

  test('tool_choice: auto, any, tool and none; disable_parallel_tool_use', () => {
    const tools = [{ name: 'weather', input_schema: { type: 'object' } }];
    const choice = (tool_choice: unknown) => {
      const c = chat({ tools, tool_choice });
      return [c.tool_choice, c.parallel_tool_calls];
    };
    assert.deepEqual(choice({ type: 'auto' }), ['auto', undefined]);
    assert.deepEqual(choice({ type: 'any' }), ['required', undefined]);
    assert.deepEqual(choice({ type: 'none' }), ['none', undefined]);
    assert.deepEqual(choice({ type: 'tool', name: 'weather' }), [{ type: 'function', function: { name: 'weather' } }, undefined]);
    assert.deepEqual(choice({ type: 'auto', disable_parallel_tool_use: true }), ['auto', false]);
    assert.deepEqual(choice({ type: 'tool', name: 'weather', disable_parallel_tool_use: true }), [{ type: 'function', function: { name: 'weather' } }, false]);
    rejects400({ tools, tool_choice: { type: 'tool', name: 'other' } }, 'tool_choice.name');
    rejects400({ tools, tool_choice: { type: 'required' } }, 'tool_choice.type');
    rejects400({ tool_choice: { type: 'auto' } }, 'tool_choice');
  });

  test('thinking as reasoning_effort: the budget by its size, adaptive as medium, disabled as none', () => {
    const effort = (thinking: unknown, extra: Record<string, unknown> = {}) => chat({ max_tokens: 64000, thinking, ...extra }).reasoning_effort;
    assert.equal(effort({ type: 'enabled', budget_tokens: 1024 }), 'low');
    assert.equal(effort({ type: 'enabled', budget_tokens: 4095 }), 'low');
    assert.equal(effort({ type: 'enabled', budget_tokens: 4096 }), 'medium');
    assert.equal(effort({ type: 'enabled', budget_tokens: 16383 }), 'medium');
    assert.equal(effort({ type: 'enabled', budget_tokens: 16384 }), 'high');
    assert.equal(effort({ type: 'enabled', budget_tokens: 31999 }), 'high');
    assert.equal(effort({ type: 'adaptive', display: 'summarized' }), 'medium');
    assert.equal(effort({ type: 'disabled' }), undefined);
    assert.equal(effort(undefined), undefined);
    // output_config.effort says how much effort outright.
    assert.equal(effort({ type: 'adaptive' }, { output_config: { effort: 'low' } }), 'low');
    assert.equal(effort(undefined, { output_config: { effort: 'max' } }), 'high');
    rejects400({ thinking: { type: 'enabled' } }, 'thinking.budget_tokens');
    rejects400({ thinking: { type: 'enabled', budget_tokens: 500 } }, 'thinking.budget_tokens');
    rejects400({ thinking: { type: 'sometimes' } }, 'thinking.type');
    rejects400({ output_config: { effort: 'extreme' } }, 'output_config.effort');
  });

  test("with thinking: 'drop' (the gateway's default), thinking and output_config.effort are left out, and named", () => {
    const dropping = (body: Record<string, unknown>) =>
      anthropicMessages.toChat({ model: MODEL, max_tokens: 64000, messages: [{ role: 'user', content: 'Hello' }], ...body }, { model: MODEL, client: () => '', ...KEPT, thinking: 'drop' });
    const withThinking = dropping({ thinking: { type: 'enabled', budget_tokens: 4096 } });
    assert.equal(withThinking.chat.reasoning_effort, undefined);
    assert.ok(withThinking.dropped.includes('thinking'));
    const withEffort = dropping({ output_config: { effort: 'high' } });
    assert.equal(withEffort.chat.reasoning_effort, undefined);
    assert.ok(withEffort.dropped.includes('output_config.effort'));
    // Still checked: a malformed one is a 400 either way.
    assert.throws(() => dropping({ thinking: { type: 'enabled', budget_tokens: 500 } }), /thinking.budget_tokens/);
  });

  test('the renamed fields, and stream with usage', () => {
    const c = chat({
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['\n\nHuman:', ''],
      metadata: { user_id: 'user-42' },
      stream: true,
      output_config: { format: { type: 'json_schema', schema: { type: 'object' } } },
    });
    assert.equal(c.temperature, 0.2);
    assert.equal(c.top_p, 0.9);
    assert.deepEqual(c.stop, ['\n\nHuman:']);
    assert.equal(c.user, 'user-42');
    assert.equal(c.stream, true);
    assert.deepEqual(c.stream_options, { include_usage: true });
    assert.deepEqual(c.response_format, { type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object' }, strict: true } });
    const plain = chat({ stream: false, metadata: { user_id: null } });
    assert.equal('stream' in plain || 'stream_options' in plain || 'user' in plain, false);
    rejects400({ temperature: 1.5 }, 'temperature');
    rejects400({ stop_sequences: 'STOP' }, 'stop_sequences');
    rejects400({ stream: 'yes' }, 'stream');
  });

  test('fields that steer only Anthropic are dropped and named; those the answer depends on are refused', () => {
    const t = translate({
      top_k: 40,
      service_tier: 'auto',
      speed: 'fast',
      inference_geo: 'us',
      cache_control: { type: 'ephemeral' },
      context_management: { edits: [] },
      future_field: 1,
      metadata: { user_id: 'u', session: 's' },
      container: null,
      mcp_servers: [],
    });
    assert.deepEqual([...t.dropped].sort(), ['cache_control', 'context_management', 'future_field', 'inference_geo', 'metadata.session', 'service_tier', 'speed', 'top_k']);
    for (const key of ['top_k', 'service_tier', 'container', 'mcp_servers']) assert.equal(key in t.chat, false);
    rejects400({ mcp_servers: [{ type: 'url', url: 'https://mcp.example.com', name: 'x' }] }, 'mcp_servers', /MCP/);
    rejects400({ container: 'container_1' }, 'container');
  });

  test('tool input that was not a JSON object goes back to the provider as it wrote it', () => {
    const messages = messagesOf({
      messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'x', input: { INVALID_JSON: '{"a":' } }] }],
    });
    assert.equal(messages[0]!.tool_calls[0].function.arguments, '{"a":');
  });

  test('a long conversation is translated in one pass', () => {
    const turns = Array.from({ length: 20_000 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: [{ type: 'text', text: `turn ${i}` }] }));
    const started = performance.now();
    assert.equal(messagesOf({ messages: turns }).length, turns.length);
    assert.ok(performance.now() - started < 2_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Answers

/** A chat.completion JSON text; a null id is left out. */
function completion(message: Json, finish: string | null = 'stop', usage?: Json, id: string | null = 'chatcmpl-abc'): string {
  return JSON.stringify({ id: id ?? undefined, object: 'chat.completion', created: 1, model: 'upstream-model', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }], usage });
}

function answer(json: string): { message: Json; usage: unknown } {
  const { json: out, usage } = translate({}).answer(json);
  return { message: JSON.parse(out) as Json, usage };
}

describe('answer', () => {
  test('text, with usage: cached tokens apart from input, as Anthropic counts them', () => {
    const { message, usage } = answer(completion({ content: 'Hi there.' }, 'stop', { prompt_tokens: 100, completion_tokens: 7, total_tokens: 107, prompt_tokens_details: { cached_tokens: 40 } }));
    assert.deepEqual(message, {
      id: 'msg_chatcmpl-abc',
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [{ type: 'text', text: 'Hi there.' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 60, cache_creation_input_tokens: 0, cache_read_input_tokens: 40, output_tokens: 7 },
    });
    assert.deepEqual(usage, { promptTokens: 100, completionTokens: 7, cacheReadTokens: 40 });
  });

  test('tool calls as tool_use blocks with their input parsed; no empty text beside them', () => {
    const { message } = answer(
      completion(
        {
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'ls', arguments: '' } },
            { id: 'call_3', type: 'function', function: { name: 'bad', arguments: '{"city": Par' } },
          ],
        },
        'tool_calls',
      ),
    );
    assert.deepEqual(message.content, [
      { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'ls', input: {} },
      { type: 'tool_use', id: 'call_3', name: 'bad', input: { INVALID_JSON: '{"city": Par' } },
    ]);
    assert.equal(message.stop_reason, 'tool_use');
  });

  test('reasoning as a thinking block first, then text', () => {
    for (const field of ['reasoning_content', 'reasoning']) {
      const { message } = answer(completion({ content: 'Four.', [field]: 'Two and two.' }));
      assert.deepEqual(message.content, [
        { type: 'thinking', thinking: 'Two and two.', signature: '' },
        { type: 'text', text: 'Four.' },
      ]);
    }
  });

  test('finish reasons as stop reasons', () => {
    const call = { id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } };
    const reason = (finish: string | null, message: Json = { content: 'x' }) => answer(completion(message, finish)).message.stop_reason;
    assert.equal(reason('stop'), 'end_turn');
    assert.equal(reason('length'), 'max_tokens');
    assert.equal(reason('content_filter'), 'refusal');
    assert.equal(reason('tool_calls', { content: 'x', tool_calls: [call] }), 'tool_use');
    assert.equal(reason('stop', { content: null, tool_calls: [call] }), 'tool_use', 'a host that says stop after tool calls');
    assert.equal(reason('length', { content: null, tool_calls: [call] }), 'max_tokens');
    assert.equal(reason('tool_calls'), 'end_turn', 'no call came');
    assert.equal(reason('something_new'), 'end_turn');
    assert.equal(reason(null), 'end_turn');
  });

  test('no usage reported: zero counts, and no usage for the log; an id of its own', () => {
    const { message, usage } = answer(completion({ content: '' }, 'stop', undefined, null));
    assert.match(message.id, /^msg_[0-9a-f]{32}$/);
    assert.deepEqual(message.content, [{ type: 'text', text: '' }]);
    assert.deepEqual(message.usage, { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
    assert.equal(usage, undefined);
  });

  test('a body that is not a chat completion throws', () => {
    assert.throws(() => translate({}).answer('{"object":"list"}'));
    assert.throws(() => translate({}).answer('not json'));
  });
});

// ---------------------------------------------------------------------------------------------
// Streams

type Chunk = Json | string;

const ID = 'chatcmpl-9z';
/** A chunk whose first choice carries `delta`, as OpenAI-compatible hosts send them. */
function chunk(delta: Json, finish: string | null = null, extra: Json = {}): Json {
  return { id: ID, object: 'chat.completion.chunk', created: 1, model: 'upstream', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra };
}
const usageChunk = (prompt: number, completion: number, cached = 0): Json => ({
  id: ID,
  object: 'chat.completion.chunk',
  created: 1,
  model: 'upstream',
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } },
});
const ROLE = chunk({ role: 'assistant', content: '' });
const DONE = '[DONE]';

/** Each chunk pushed (an object as its JSON), then end(): every push's output, and the translator. */
function replay(chunks: Chunk[]): { outputs: string[]; out: string; translator: StreamTranslator } {
  const translator = translate({ stream: true }).stream();
  const outputs = chunks.map((c) => translator.push({ event: 'message', data: typeof c === 'string' ? c : JSON.stringify(c) }));
  outputs.push(translator.end());
  return { outputs, out: outputs.join(''), translator };
}

/** An SSE text as [event, data] pairs, checking each frame is `event:` then `data:` of the same type. */
function frames(text: string): [string, Json][] {
  if (text === '') return [];
  assert.ok(text.endsWith('\n\n'), 'every event is complete');
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      const match = /^event: (\w+)\ndata: (.*)$/.exec(frame);
      assert.ok(match, `a frame of event: and data: lines: ${JSON.stringify(frame)}`);
      const data = JSON.parse(match[2]!) as Json;
      assert.equal(data.type, match[1], 'the data carries its event type');
      return [match[1]!, data];
    });
}

const names = (text: string): string[] => frames(text).map(([name]) => name);

/** The events as the Anthropic SDK reads them, accumulated by its MessageStream into the final message. */
async function sdkMessage(sse: string): Promise<Anthropic.Message> {
  const events = Stream.fromSSEResponse(new Response(sse), new AbortController());
  return MessageStream.fromReadableStream(events.toReadableStream()).finalMessage();
}

const startEvent = (usage: Json = { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }): [string, Json] => [
  'message_start',
  { type: 'message_start', message: { id: `msg_${ID}`, type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, stop_sequence: null, usage } },
];
const blockStart = (index: number, content_block: Json): [string, Json] => ['content_block_start', { type: 'content_block_start', index, content_block }];
const blockDelta = (index: number, delta: Json): [string, Json] => ['content_block_delta', { type: 'content_block_delta', index, delta }];
const blockStop = (index: number): [string, Json] => ['content_block_stop', { type: 'content_block_stop', index }];
const textDelta = (index: number, text: string) => blockDelta(index, { type: 'text_delta', text });
const jsonDelta = (index: number, partial_json: string) => blockDelta(index, { type: 'input_json_delta', partial_json });
const messageEnd = (stop_reason: string, usage: Json = { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }): [string, Json][] => [
  ['message_delta', { type: 'message_delta', delta: { stop_reason, stop_sequence: null }, usage }],
  ['message_stop', { type: 'message_stop' }],
];
const TEXT = { type: 'text', text: '' };

const TEXT_STREAM: Chunk[] = [ROLE, chunk({ content: 'Hello' }), chunk({ content: ', world.' }), chunk({}, 'stop'), usageChunk(12, 4, 2), DONE];

describe('stream', () => {
  test('text only: the exact events, and the SDK accumulates them', async () => {
    const { outputs, out, translator } = replay(TEXT_STREAM);
    assert.equal(outputs[0], '', 'nothing before the first content');
    assert.deepEqual(frames(out), [
      startEvent(),
      blockStart(0, TEXT),
      textDelta(0, 'Hello'),
      textDelta(0, ', world.'),
      blockStop(0),
      ...messageEnd('end_turn', { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 2, output_tokens: 4 }),
    ]);
    assert.equal(translator.failure, undefined);
    assert.deepEqual(translator.usage, { promptTokens: 12, completionTokens: 4, cacheReadTokens: 2 });
    const message = await sdkMessage(out);
    assert.deepEqual(message.content, [{ type: 'text', text: 'Hello, world.' }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.stop_sequence, null);
    assert.equal(message.id, `msg_${ID}`);
    assert.deepEqual(message.usage, { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 2, output_tokens: 4 });
  });

  test('the same output when the chat SSE text is split at every position', () => {
    const sse = TEXT_STREAM.map((c) => `data: ${typeof c === 'string' ? c : JSON.stringify(c)}\n\n`).join('');
    const whole = replay(TEXT_STREAM).out;
    for (let at = 1; at < sse.length; at++) {
      const translator = translate({ stream: true }).stream();
      let out = '';
      const parser = createParser({ onEvent: (event) => (out += translator.push({ event: event.event ?? 'message', data: event.data })) });
      parser.feed(sse.slice(0, at));
      parser.feed(sse.slice(at));
      out += translator.end();
      assert.equal(out, whole, `split at ${at}`);
    }
  });

  test('reasoning (either field) then text: a thinking block, then a text block', async () => {
    const { out } = replay([
      ROLE,
      chunk({ reasoning_content: 'The user greets; ' }),
      chunk({ reasoning: 'greet back.' }),
      chunk({ content: 'Hi!' }),
      chunk({}, 'stop', { usage: { prompt_tokens: 5, completion_tokens: 9 } }),
      DONE,
    ]);
    assert.deepEqual(frames(out), [
      startEvent(),
      blockStart(0, { type: 'thinking', thinking: '', signature: '' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'The user greets; ' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'greet back.' }),
      blockStop(0),
      blockStart(1, TEXT),
      textDelta(1, 'Hi!'),
      blockStop(1),
      ...messageEnd('end_turn', { input_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 9 }),
    ]);
    const message = await sdkMessage(out);
    assert.deepEqual(message.content, [
      { type: 'thinking', thinking: 'The user greets; greet back.', signature: '' },
      { type: 'text', text: 'Hi!' },
    ]);
  });

  test('content as parts', () => {
    const { out } = replay([chunk({ role: 'assistant', content: [{ type: 'text', text: 'A' }] }), chunk({ content: [{ type: 'text', text: 'B' }] }), chunk({}, 'stop'), DONE]);
    assert.deepEqual(frames(out).filter(([name]) => name === 'content_block_delta'), [textDelta(0, 'A'), textDelta(0, 'B')]);
  });

  const weather = (city: string) => `{"city":"${city}"}`;
  /** Two parallel calls, one after the other, with index (OpenAI's shape). */
  const SEQUENTIAL: Chunk[] = [
    ROLE,
    chunk({ content: 'Checking.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }),
    chunk({}, 'tool_calls'),
    usageChunk(30, 20),
    DONE,
  ];
  const SEQUENTIAL_EVENTS: [string, Json][] = [
    startEvent(),
    blockStart(0, TEXT),
    textDelta(0, 'Checking.'),
    blockStop(0),
    blockStart(1, { type: 'tool_use', id: 'call_a', name: 'weather', input: {} }),
    jsonDelta(1, '{"city":'),
    jsonDelta(1, '"Paris"}'),
    blockStop(1),
    blockStart(2, { type: 'tool_use', id: 'call_b', name: 'weather', input: {} }),
    jsonDelta(2, weather('Rome')),
    blockStop(2),
    ...messageEnd('tool_use', { input_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 20 }),
  ];
  const TOOL_CONTENT = [
    { type: 'text', text: 'Checking.' },
    { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Paris' } },
    { type: 'tool_use', id: 'call_b', name: 'weather', input: { city: 'Rome' } },
  ];

  test('parallel tool calls with index: the first streams, the next is sent whole at the finish', async () => {
    const { outputs, out } = replay(SEQUENTIAL);
    assert.deepEqual(frames(out), SEQUENTIAL_EVENTS);
    assert.deepEqual(names(outputs[3]!), ['content_block_delta'], "the first call's arguments stream as they come");
    assert.equal(outputs[6], '', 'the second call is held');
    const message = await sdkMessage(out);
    assert.deepEqual(message.content, TOOL_CONTENT);
    assert.equal(message.stop_reason, 'tool_use');
  });

  test('parallel tool calls without index (an id opens a call, fragments go to the last one)', async () => {
    const strip = (c: Chunk): Chunk => {
      if (typeof c === 'string' || !c.choices?.[0]?.delta?.tool_calls) return c;
      const calls = (c.choices[0].delta.tool_calls as Json[]).map(({ index: _index, ...call }) => call);
      return chunk({ tool_calls: calls }, c.choices[0].finish_reason);
    };
    const { out } = replay(SEQUENTIAL.map(strip));
    assert.deepEqual(frames(out), SEQUENTIAL_EVENTS);
    assert.deepEqual((await sdkMessage(out)).content, TOOL_CONTENT);
  });

  test('interleaved tool calls: the first still streams, the second is put together whole', async () => {
    const { out } = replay([
      ROLE,
      chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'weather', arguments: '{"ci' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', function: { name: 'weather', arguments: '{"city"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
      chunk({ content: 'Late text.' }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: ':"Rome"}' } }] }),
      chunk({}, 'tool_calls'),
      DONE,
    ]);
    assert.deepEqual(frames(out), [
      startEvent(),
      blockStart(0, { type: 'tool_use', id: 'call_a', name: 'weather', input: {} }),
      jsonDelta(0, '{"ci'),
      jsonDelta(0, 'ty":"Paris"}'),
      blockStop(0),
      blockStart(1, TEXT),
      textDelta(1, 'Late text.'),
      blockStop(1),
      blockStart(2, { type: 'tool_use', id: 'call_b', name: 'weather', input: {} }),
      jsonDelta(2, weather('Rome')),
      blockStop(2),
      ...messageEnd('tool_use'),
    ]);
    assert.deepEqual((await sdkMessage(out)).content, [
      { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Paris' } },
      { type: 'text', text: 'Late text.' },
      { type: 'tool_use', id: 'call_b', name: 'weather', input: { city: 'Rome' } },
    ]);
  });

  test('several whole calls in one chunk, one without arguments, one without an id, and a host that says stop', async () => {
    const { out } = replay([
      chunk({
        tool_calls: [
          { index: 0, id: 'call_a', function: { name: 'ls', arguments: '' } },
          { index: 1, function: { name: 'weather', arguments: weather('Oslo') } },
        ],
      }),
      chunk({}, 'stop'),
    ]);
    const message = await sdkMessage(out);
    assert.equal(message.content.length, 2);
    assert.deepEqual(message.content[0], { type: 'tool_use', id: 'call_a', name: 'ls', input: {} });
    const second = message.content[1] as Json;
    assert.match(second.id, /^toolu_[0-9a-f]{32}$/);
    assert.deepEqual(second.input, { city: 'Oslo' });
    assert.equal(message.stop_reason, 'tool_use');
  });

  test('tool arguments that are not a JSON object are held and sent whole, wrapped', async () => {
    const { out } = replay([
      chunk({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'run', arguments: ' ' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ls -la' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', function: { name: 'run', arguments: '[1]' } }] }),
      chunk({}, 'tool_calls'),
      DONE,
    ]);
    assert.deepEqual((await sdkMessage(out)).content, [
      { type: 'tool_use', id: 'call_a', name: 'run', input: { INVALID_JSON: ' ls -la' } },
      { type: 'tool_use', id: 'call_b', name: 'run', input: { INVALID_JSON: '[1]' } },
    ]);
  });

  test('usage in every chunk, in the finish chunk, after it, or nowhere', () => {
    const withUsage = (prompt: number, completion: number) => ({ usage: { prompt_tokens: prompt, completion_tokens: completion } });
    const everyChunk = replay([chunk({ content: 'a' }, null, withUsage(7, 1)), chunk({ content: 'b' }, null, withUsage(7, 2)), chunk({}, 'length', withUsage(7, 3)), DONE]);
    const all = frames(everyChunk.out);
    assert.deepEqual(all[0], startEvent({ input_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }), 'the input is known at the start');
    assert.deepEqual(all.slice(-2), messageEnd('max_tokens', { input_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 3 }));
    assert.deepEqual(everyChunk.translator.usage, { promptTokens: 7, completionTokens: 3 });

    const nowhere = replay([chunk({ content: 'a' }), chunk({}, 'stop'), DONE]);
    assert.deepEqual(frames(nowhere.out).slice(-2), messageEnd('end_turn'));
    assert.equal(nowhere.translator.usage, undefined);
  });

  test('a finish without [DONE] completes at the end; [DONE] without a finish is a complete answer', () => {
    const noDone = replay([chunk({ content: 'a' }), chunk({}, 'stop'), usageChunk(3, 1)]);
    assert.deepEqual(names(noDone.outputs.at(-1)!), ['message_delta', 'message_stop']);
    assert.equal(noDone.translator.failure, undefined);
    assert.equal(frames(noDone.out).at(-2)![1].usage.output_tokens, 1);

    const noFinish = replay([chunk({ content: 'a' }), DONE]);
    assert.deepEqual(names(noFinish.out), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    assert.equal(noFinish.outputs.at(-1), '', 'nothing after the end');
    assert.equal(noFinish.translator.failure, undefined);
  });

  test('content after the finish is not part of the message', () => {
    const { out } = replay([chunk({ content: 'a' }), chunk({}, 'stop'), chunk({ content: 'b' }), DONE]);
    assert.deepEqual(
      frames(out).filter(([name]) => name === 'content_block_delta'),
      [textDelta(0, 'a')],
    );
  });

  test('an error chunk before any content: a failure for the attempt, nothing sent', () => {
    const { outputs, translator } = replay([ROLE, { error: { message: 'Overloaded', type: 'overloaded_error', code: 503 } }, chunk({ content: 'late' })]);
    assert.deepEqual(outputs, ['', '', '', '']);
    assert.deepEqual(translator.failure, { status: 503, error: { message: 'Overloaded', type: 'overloaded_error', code: '503', param: null } });
  });

  test('an error chunk after content: the error event, which the SDK raises', async () => {
    const { outputs, out, translator } = replay([chunk({ content: 'Partial' }), { error: { message: 'Rate limited upstream', type: 'rate_limit_error' } }, chunk({ content: 'more' }), DONE]);
    assert.deepEqual(frames(outputs[1]!), [['error', { type: 'error', error: { type: 'rate_limit_error', message: 'Rate limited upstream' } }]]);
    assert.deepEqual(outputs.slice(2), ['', '', '']);
    assert.equal(translator.failure?.status, 429);
    await assert.rejects(sdkMessage(out), (error: unknown) => {
      assert.ok(error instanceof APIError);
      assert.equal(error.type, 'rate_limit_error');
      return true;
    });
  });

  test('an error sent as `event: error` with the bare error object', () => {
    const translator = translate({ stream: true }).stream();
    translator.push({ event: 'message', data: JSON.stringify(chunk({ content: 'a' })) });
    const out = translator.push({ event: 'error', data: '{"message":"boom","type":"server_error"}' });
    assert.equal(translator.failure?.error.message, 'boom');
    assert.equal(frames(out)[0]![1].error.type, 'api_error');
  });

  test('an end without a finish: interrupted (502), an error event only if something was sent', async () => {
    const early = replay([ROLE]);
    assert.equal(early.out, '');
    assert.deepEqual(early.translator.failure, {
      status: 502,
      error: { message: 'The provider ended the stream before the answer was complete', type: 'upstream_error', code: 'stream_interrupted', param: null },
    });
    const late = replay([chunk({ content: 'Half an ans' })]);
    assert.deepEqual(frames(late.outputs.at(-1)!), [['error', { type: 'error', error: { type: 'api_error', message: 'The provider ended the stream before the answer was complete' } }]]);
    assert.equal(late.translator.failure?.error.code, 'stream_interrupted');
    await assert.rejects(sdkMessage(late.out), APIError);
  });

  test('a chunk that cannot be read: 502 upstream_unreadable', () => {
    const early = replay(['{"choices": [']);
    assert.equal(early.out, '');
    assert.equal(early.translator.failure?.status, 502);
    assert.equal(early.translator.failure?.error.code, 'upstream_unreadable');
    const late = replay([chunk({ content: 'a' }), '[1,2]']);
    assert.deepEqual(names(late.outputs[1]!), ['error']);
    assert.equal(late.outputs[2], '', 'end() after a failure gives nothing');
  });

  test('a finish alone starts the stream: an empty message', async () => {
    const { outputs, out } = replay([ROLE, chunk({}, 'stop'), DONE]);
    assert.deepEqual(names(outputs[1]!), ['message_start']);
    const message = await sdkMessage(out);
    assert.deepEqual(message.content, []);
    assert.equal(message.stop_reason, 'end_turn');
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

describe('errors', () => {
  const error = (message: string): OpenAIErrorBody => ({ message, type: 'whatever', code: null, param: null });

  test('each status as its documented error type; 503 answered as 529', () => {
    const expected: [number, string, number][] = [
      [400, 'invalid_request_error', 400],
      [401, 'authentication_error', 401],
      [402, 'billing_error', 402],
      [403, 'permission_error', 403],
      [404, 'not_found_error', 404],
      [408, 'timeout_error', 408],
      [409, 'conflict_error', 409],
      [413, 'request_too_large', 413],
      [415, 'invalid_request_error', 415],
      [429, 'rate_limit_error', 429],
      [500, 'api_error', 500],
      [502, 'api_error', 502],
      [503, 'overloaded_error', 529],
      [504, 'timeout_error', 504],
      [508, 'api_error', 508],
      [529, 'overloaded_error', 529],
    ];
    for (const [status, type, answered] of expected) {
      assert.equal(anthropicMessages.errorStatus(status, error('x')), answered, String(status));
      assert.deepEqual(JSON.parse(anthropicMessages.errorBody(status, error(`status ${status}`))), { type: 'error', error: { type, message: `status ${status}` } });
    }
  });

  test('the SDK reads the body as its error class, and the event as an error', () => {
    const status = anthropicMessages.errorStatus(503, error('Overloaded'));
    const body: unknown = JSON.parse(anthropicMessages.errorBody(503, error('Overloaded')));
    const sdkError = APIError.generate(status, body as object, undefined, new Headers());
    assert.ok(sdkError instanceof OverloadedError);
    assert.equal(sdkError.type, 'overloaded_error');
    assert.equal(anthropicMessages.errorEvent(429, error('Slow down')), 'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}\n\n');
  });
});

test('values a client sent are quoted in errors only when short, and never whole', () => {
  const long = 'x'.repeat(10_000);
  const tools = [{ name: 'f', input_schema: { type: 'object' } }];
  rejects400({ tools, tool_choice: { type: long } }, 'tool_choice.type', /\(a value of 10000 characters, not shown\)/);
  rejects400({ tools, tool_choice: { type: ['a', long] } }, 'tool_choice.type', /\(a list\)/);
  rejects400({ thinking: { type: 'sometimes' } }, 'thinking.type', /"sometimes"/);
});
