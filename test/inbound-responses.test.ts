// The OpenAI Responses API translator, as pure functions: Responses requests as chat requests,
// chat answers as Response objects, chat chunk streams (replayed from recordings shaped as hosts
// send them) as the Responses API's typed events. Then both SDKs read what it writes: the `openai`
// SDK's responses.create/stream and the Vercel AI SDK's Responses model, each given a fetch that
// translates its request and answers with the translation of a scripted chat answer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import type { LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { APICallError, generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { createParser } from 'eventsource-parser';
import OpenAI, { APIError } from 'openai';
import { GatewayError } from '../src/errors.js';
import { openAIResponses } from '../src/inbound/openai-responses/index.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { InboundTranslation } from '../src/inbound/types.js';
import type { StreamTranslator } from '../src/translate/stream-contract.js';
import { assertBadRequest } from './helpers.js';

const MODEL = 'client-model';

type Sent = Record<string, any>;

/** What the gateway gives every translation besides the model and the client. */
const KEPT = { outputItems: new ItemMemory(), bodyBytes: 0, maxBodyBytes: Infinity };

/** Built-in tools refused by default here, so that the cases below see every tool they send; responses-codex.test.ts drops them. */
function translate(body: Record<string, unknown>, hostedTools: 'drop' | 'refuse' = 'refuse'): InboundTranslation {
  return openAIResponses.toChat({ model: MODEL, ...body }, { model: MODEL, client: () => '', ...KEPT, thinking: 'effort', hostedTools });
}

/** The chat request a Responses request becomes. */
function chat(body: Record<string, unknown>): Sent {
  return translate(body).chat as Sent;
}

function rejects400(body: Record<string, unknown>, param: string | null, pattern?: RegExp, code?: string): void {
  const error = assertBadRequest(() => translate(body), param, pattern);
  if (code) assert.equal(error.code, code);
}

describe('request: input', () => {
  test('a string input is one user message; instructions lead as a system message', () => {
    assert.deepEqual(chat({ input: 'Hello' }), { model: MODEL, messages: [{ role: 'user', content: 'Hello' }] });
    assert.deepEqual(chat({ input: 'Hello', instructions: 'Be brief.' }).messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello' },
    ]);
  });

  test('messages with and without type; developer becomes system; parts as text or chat parts', () => {
    const messages = chat({
      input: [
        { role: 'developer', content: 'Rules.' },
        { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'More ' }, { type: 'input_text', text: 'rules.' }] },
        { role: 'user', content: [{ type: 'input_text', text: 'Hi' }] },
        { type: 'message', role: 'assistant', id: 'msg_1', status: 'completed', content: [{ type: 'output_text', text: 'Hello!', annotations: [] }] },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low' },
            { type: 'input_file', filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
          ],
        },
      ],
    }).messages;
    assert.deepEqual(messages, [
      { role: 'system', content: 'Rules.' },
      { role: 'system', content: 'More rules.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
        ],
      },
    ]);
  });

  test('a function call round trip: calls after assistant text join it, outputs become tool messages', () => {
    const translation = translate({
      input: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { role: 'assistant', content: 'Let me look.' },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}', status: 'completed' },
        { type: 'function_call', call_id: 'call_2', name: 'weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'Sunny' },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'Rain' }] },
        { type: 'function_call', call_id: 'call_3', name: 'weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_3', output: 'Snow' },
      ],
    });
    assert.deepEqual(translation.chat.messages, [
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Let me look.',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
      { role: 'tool', tool_call_id: 'call_2', content: 'Rain' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_3', content: 'Snow' },
    ]);
    assert.deepEqual(translation.dropped, ['input[2] (reasoning)']);
  });

  test('what needs storage or cannot be a chat message is a 400 naming it', () => {
    rejects400({ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].id', /item "msg_1", which this gateway does not know.*store = false/, 'unknown_item');
    rejects400({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] }, 'input[0].content[0].file_id', /file stored at OpenAI/);
    rejects400({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] }, 'input[0].content[0].file_id');
    rejects400({ input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://x/a.pdf' }] }] }, 'input[0].content[0].file_url');
    rejects400({ input: [{ type: 'web_search_call', id: 'ws_1' }] }, 'input[0].type', /"web_search_call" item/);
    rejects400({ input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_image', image_url: 'https://x/a.png' }] }] }, 'input[0].output[0].type', /text only/);
    rejects400({ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id');
    rejects400({ input: [{ role: 'tool', content: 'x' }] }, 'input[0].role');
    rejects400({ input: [{ content: 'x' }] }, 'input[0].type');
    rejects400({}, 'input', /input is required/);
    rejects400({ input: 42 }, 'input');
  });
});

describe('request: settings', () => {
  test('function tools flat to nested; tool_choice values; parallel_tool_calls', () => {
    const tools = [
      { type: 'function', name: 'weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true },
      { type: 'function', name: 'time', parameters: null },
    ];
    const sent = chat({ input: 'x', tools, tool_choice: 'required', parallel_tool_calls: false });
    assert.deepEqual(sent.tools, [
      { type: 'function', function: { name: 'weather', description: 'Weather for a city', parameters: tools[0]!.parameters, strict: true } },
      { type: 'function', function: { name: 'time' } },
    ]);
    assert.equal(sent.tool_choice, 'required');
    assert.equal(sent.parallel_tool_calls, false);
    assert.equal(chat({ input: 'x', tools, tool_choice: 'none' }).tool_choice, 'none');
    assert.deepEqual(chat({ input: 'x', tools, tool_choice: { type: 'function', name: 'time' } }).tool_choice, { type: 'function', function: { name: 'time' } });
    assert.equal(chat({ input: 'x', tools }).tool_choice, undefined);
  });

  test('allowed_tools: the chat request carries only those tools, with the mode as tool_choice', () => {
    const tools = [
      { type: 'function', name: 'a', parameters: { type: 'object' } },
      { type: 'function', name: 'b', parameters: { type: 'object' } },
    ];
    const sent = chat({ input: 'x', tools, tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'b' }] } });
    assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'b', parameters: { type: 'object' } } }]);
    assert.equal(sent.tool_choice, 'required');
  });

  test('tool_choice and parallel_tool_calls without tools are dropped (chat hosts refuse them)', () => {
    const translation = translate({ input: 'x', tool_choice: 'auto', parallel_tool_calls: true });
    assert.equal(translation.chat.tool_choice, undefined);
    assert.equal(translation.chat.parallel_tool_calls, undefined);
    assert.deepEqual(translation.dropped, ['tool_choice', 'parallel_tool_calls']);
  });

  test('with RESPONSES_HOSTED_TOOLS=refuse, built-in tools and tool choices are 400s naming the tool type', () => {
    for (const type of ['web_search', 'web_search_preview', 'file_search', 'code_interpreter', 'computer_use_preview', 'image_generation', 'mcp', 'local_shell']) {
      rejects400({ input: 'x', tools: [{ type: 'function', name: 'f' }, { type }] }, 'tools[1].type', new RegExp(`"${type}" tool`), 'unsupported_value');
    }
    rejects400({ input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'web_search_preview' } }, 'tool_choice.type', /"web_search_preview"/);
    rejects400({ input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'function', name: 'g' } }, 'tool_choice.name', /not among tools/);
    rejects400({ input: 'x', tools: [{ type: 'function' }] }, 'tools[0].name');
  });

  test('sampling, limits, user, text.format and reasoning', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const sent = chat({
      input: 'x',
      max_output_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      user: 'u-1',
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: true, description: 'The answer' } },
      reasoning: { effort: 'low' },
    });
    assert.equal(sent.max_tokens, 256);
    assert.equal(sent.max_completion_tokens, undefined);
    assert.equal(sent.temperature, 0.2);
    assert.equal(sent.top_p, 0.9);
    assert.equal(sent.user, 'u-1');
    assert.deepEqual(sent.response_format, { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true, description: 'The answer' } });
    assert.equal(sent.reasoning_effort, 'low');
    assert.deepEqual(chat({ input: 'x', text: { format: { type: 'json_object' } } }).response_format, { type: 'json_object' });
    assert.equal(chat({ input: 'x', text: { format: { type: 'text' } } }).response_format, undefined);
    assert.equal(chat({ input: 'x', safety_identifier: 'hashed' }).user, 'hashed');
    rejects400({ input: 'x', max_output_tokens: 0 }, 'max_output_tokens');
    rejects400({ input: 'x', temperature: 'hot' }, 'temperature');
    rejects400({ input: 'x', text: { format: { type: 'json_schema', name: 'a' } } }, 'text.format.schema');
  });

  test('stream: true asks for usage in the stream', () => {
    const sent = chat({ input: 'x', stream: true, stream_options: { include_obfuscation: false } });
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.stream_options, { include_usage: true });
  });

  test('stateful fields are 400s naming them; store, include and other settings are dropped and named', () => {
    rejects400({ input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id', /keeps no responses/, 'unsupported_parameter');
    rejects400({ input: 'x', conversation: 'conv_1' }, 'conversation', undefined, 'unsupported_parameter');
    rejects400({ input: 'x', background: true }, 'background', undefined, 'unsupported_parameter');
    rejects400({ input: 'x', prompt: { id: 'pmpt_1' } }, 'prompt', undefined, 'unsupported_parameter');
    const translation = translate({
      input: 'x',
      store: true,
      background: false,
      previous_response_id: null,
      include: ['reasoning.encrypted_content'],
      metadata: { a: '1' },
      truncation: 'auto',
      service_tier: 'auto',
      prompt_cache_key: 'k',
      text: { verbosity: 'low' },
      reasoning: { effort: 'high', summary: 'auto' },
    });
    assert.deepEqual(translation.chat, { model: MODEL, messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'high' });
    assert.deepEqual(new Set(translation.dropped), new Set(['store', 'include', 'metadata', 'truncation', 'service_tier', 'prompt_cache_key', 'text.verbosity', 'reasoning.summary']));
    assert.deepEqual(translate({ input: 'x', store: false }).dropped, []);
  });
});

// ---------------------------------------------------------------------------------------------
// Answers

interface Script {
  readonly reasoning?: string;
  readonly content?: string;
  readonly toolCalls?: readonly { id: string; name: string; arguments: string }[];
  readonly finish?: string;
  readonly usage?: Record<string, unknown> | null;
}

const USAGE = { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 3 } };

function completion(script: Script): string {
  const message: Record<string, unknown> = { role: 'assistant', content: script.content ?? null };
  if (script.reasoning) message.reasoning_content = script.reasoning;
  if (script.toolCalls) message.tool_calls = script.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
  const body: Record<string, unknown> = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'provider-model',
    choices: [{ index: 0, message, finish_reason: script.finish ?? (script.toolCalls ? 'tool_calls' : 'stop') }],
  };
  if (script.usage !== null) body.usage = script.usage ?? USAGE;
  return JSON.stringify(body);
}

function answer(script: Script, request: Record<string, unknown> = { input: 'x' }): { response: Sent; usage: unknown } {
  const result = translate(request).answer(completion(script));
  return { response: JSON.parse(result.json) as Sent, usage: result.usage };
}

describe('answer', () => {
  test('text: a completed response with a message item, usage and the echoed settings', () => {
    const { response, usage } = answer({ content: 'Hello!' }, { input: 'x', instructions: 'Be kind.', max_output_tokens: 100, temperature: 0.5, metadata: { a: '1' }, store: true });
    assert.match(response.id, /^resp_[0-9a-f]{32}$/);
    assert.equal(response.object, 'response');
    assert.equal(typeof response.created_at, 'number');
    assert.equal(response.status, 'completed');
    assert.equal(response.error, null);
    assert.equal(response.incomplete_details, null);
    assert.equal(response.model, MODEL);
    assert.equal(response.instructions, 'Be kind.');
    assert.equal(response.max_output_tokens, 100);
    assert.equal(response.temperature, 0.5);
    assert.equal(response.top_p, null);
    assert.equal(response.store, false);
    assert.equal(response.parallel_tool_calls, true);
    assert.equal(response.tool_choice, 'auto');
    assert.deepEqual(response.tools, []);
    assert.deepEqual(response.text, { format: { type: 'text' } });
    assert.deepEqual(response.metadata, { a: '1' });
    assert.equal(response.output_text, undefined, 'output_text is the SDK’s sum, not a wire field');
    assert.equal(response.output.length, 1);
    const [message] = response.output;
    assert.match(message.id, /^msg_/);
    assert.deepEqual({ ...message, id: '' }, {
      id: '',
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Hello!' }],
    });
    assert.deepEqual(response.usage, {
      input_tokens: 12,
      input_tokens_details: { cached_tokens: 4 },
      output_tokens: 8,
      output_tokens_details: { reasoning_tokens: 3 },
      total_tokens: 20,
    });
    assert.deepEqual(usage, { promptTokens: 12, completionTokens: 8, cacheReadTokens: 4, reasoningTokens: 3 });
  });

  test('function calls as function_call items after the text; reasoning first, as a summary', () => {
    const { response } = answer({
      reasoning: 'The user wants weather.',
      content: 'Checking.',
      toolCalls: [
        { id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
        { id: 'call_2', name: 'weather', arguments: '{"city":"Rome"}' },
      ],
    });
    assert.deepEqual(
      response.output.map((item: Sent) => item.type),
      ['reasoning', 'message', 'function_call', 'function_call'],
    );
    const [reasoning, , first, second] = response.output;
    assert.match(reasoning.id, /^rs_/);
    assert.deepEqual(reasoning.summary, [{ type: 'summary_text', text: 'The user wants weather.' }]);
    assert.match(first.id, /^fc_/);
    assert.deepEqual({ ...first, id: '' }, { id: '', type: 'function_call', status: 'completed', arguments: '{"city":"Paris"}', call_id: 'call_1', name: 'weather' });
    assert.equal(second.call_id, 'call_2');
    assert.equal(new Set(response.output.map((item: Sent) => item.id)).size, 4, 'item ids are unique');
  });

  test('length: incomplete, max_output_tokens; content_filter: incomplete, content_filter', () => {
    const length = answer({ content: 'Once upon a', finish: 'length' }).response;
    assert.equal(length.status, 'incomplete');
    assert.deepEqual(length.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(length.output[0].status, 'incomplete');
    const filtered = answer({ content: '', finish: 'content_filter' }).response;
    assert.equal(filtered.status, 'incomplete');
    assert.deepEqual(filtered.incomplete_details, { reason: 'content_filter' });
  });

  test('no usage reported: usage null, none for the logs; an empty answer still has a message', () => {
    const { response, usage } = answer({ content: '', usage: null });
    assert.equal(response.usage, null);
    assert.equal(usage, undefined);
    assert.equal(response.output.length, 1);
    assert.equal(response.output[0].content[0].text, '');
  });

  test('a body that is not a chat completion throws', () => {
    assert.throws(() => translate({ input: 'x' }).answer('not json'), /not JSON/);
    assert.throws(() => translate({ input: 'x' }).answer('{"object":"list"}'), /no choices/);
  });
});

// ---------------------------------------------------------------------------------------------
// Streams

/** A chat chunk's data, its delta and finish as hosts send them. */
function chunk(delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'provider-model', choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
}

const usageChunk = (usage: Record<string, unknown> = USAGE) => JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage });
const ROLE = chunk({ role: 'assistant', content: '' });
const DONE = '[DONE]';

interface Event {
  readonly event: string;
  readonly data: Sent;
}

function events(sse: string): Event[] {
  const out: Event[] = [];
  const parser = createParser({ onEvent: (event) => out.push({ event: event.event ?? 'message', data: JSON.parse(event.data) as Sent }) });
  parser.feed(sse);
  return out;
}

interface Replay {
  readonly sse: string;
  readonly events: Event[];
  readonly translator: StreamTranslator;
  /** What each push returned, in order (the last is end()'s). */
  readonly pieces: string[];
}

function replay(recording: readonly string[], request: Record<string, unknown> = { input: 'x', stream: true }): Replay {
  const translator = translate(request).stream();
  const pieces = recording.map((data) => translator.push({ event: 'message', data }));
  pieces.push(translator.end());
  const sse = pieces.join('');
  const parsed = events(sse);
  // Every event: its SSE name is its type; sequence numbers count from 0 without a gap.
  parsed.forEach((event, i) => {
    assert.equal(event.event, event.data.type);
    assert.equal(event.data.sequence_number, i, `sequence_number of event ${i} (${event.event})`);
  });
  return { sse, events: parsed, translator, pieces };
}

const types = (replayed: Replay) => replayed.events.map((event) => event.event);
const last = (replayed: Replay) => replayed.events.at(-1)!.data;

const TEXT_EVENTS = [
  'response.output_item.added',
  'response.content_part.added',
  'response.output_text.delta',
  'response.output_text.delta',
  'response.output_text.done',
  'response.content_part.done',
  'response.output_item.done',
];

describe('stream', () => {
  test('text: the events in OpenAI’s order, each delta located by item, output and content index', () => {
    const replayed = replay([ROLE, chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), usageChunk(), DONE]);
    assert.deepEqual(types(replayed), ['response.created', 'response.in_progress', ...TEXT_EVENTS, 'response.completed']);
    const [created, inProgress, added, partAdded, delta] = replayed.events.map((event) => event.data);
    assert.equal(created!.response.status, 'in_progress');
    assert.deepEqual(created!.response.output, []);
    assert.equal(created!.response.model, MODEL);
    assert.match(created!.response.id, /^resp_/);
    assert.deepEqual(inProgress!.response, created!.response);
    const id = added!.item.id as string;
    assert.deepEqual(added!.item, { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] });
    assert.deepEqual(partAdded, { type: 'response.content_part.added', sequence_number: 3, item_id: id, output_index: 0, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
    assert.deepEqual(delta, { type: 'response.output_text.delta', sequence_number: 4, item_id: id, output_index: 0, content_index: 0, delta: 'Hel', logprobs: [] });
    const textDone = replayed.events[6]!.data;
    assert.equal(textDone.text, 'Hello');
    const completed = last(replayed).response;
    assert.equal(completed.status, 'completed');
    assert.equal(completed.id, created!.response.id);
    assert.deepEqual(completed.output, [{ id, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], logprobs: [], text: 'Hello' }] }]);
    assert.deepEqual(completed.usage, { input_tokens: 12, input_tokens_details: { cached_tokens: 4 }, output_tokens: 8, output_tokens_details: { reasoning_tokens: 3 }, total_tokens: 20 });
    assert.deepEqual(replayed.translator.usage, { promptTokens: 12, completionTokens: 8, cacheReadTokens: 4, reasoningTokens: 3 });
    assert.equal(replayed.translator.failure, undefined);
  });

  test('nothing is returned before the first content; created and in_progress come with it', () => {
    const replayed = replay([ROLE, chunk({ content: '' }), chunk({ content: 'Hi' }), chunk({}, 'stop'), DONE]);
    assert.equal(replayed.pieces[0], '');
    assert.equal(replayed.pieces[1], '');
    assert.deepEqual(events(replayed.pieces[2]!).map((event) => event.event), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta']);
    // The finish closes the items; response.completed waits for [DONE] (usage may come between).
    assert.deepEqual(events(replayed.pieces[3]!).map((event) => event.event), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done']);
    assert.deepEqual(events(replayed.pieces[4]!).map((event) => event.event), ['response.completed']);
    assert.equal(replayed.pieces[5], '', 'end() after [DONE] sends nothing');
  });

  test('reasoning as a summary item, closed before the message opens', () => {
    const replayed = replay([ROLE, chunk({ reasoning_content: 'Think' }), chunk({ reasoning: 'ing.' }), chunk({ content: 'Answer.' }), chunk({}, 'stop', { usage: USAGE }), DONE]);
    assert.deepEqual(types(replayed), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const reasoningDelta = replayed.events[4]!.data;
    assert.deepEqual(Object.keys(reasoningDelta), ['type', 'sequence_number', 'item_id', 'output_index', 'summary_index', 'delta']);
    const output = last(replayed).response.output;
    assert.deepEqual(output[0].summary, [{ type: 'summary_text', text: 'Thinking.' }]);
    assert.equal(output[1].output_index, undefined);
    assert.equal(replayed.events[9]!.data.output_index, 1);
    assert.equal(last(replayed).response.usage.output_tokens, 8, 'usage with the finish chunk');
  });

  test('parallel tool calls with index, their fragments interleaved, each to its own item', () => {
    const replayed = replay([
      ROLE,
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":"CET"}' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({}, 'tool_calls'),
      usageChunk(),
      DONE,
    ]);
    assert.deepEqual(types(replayed), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const data = replayed.events.map((event) => event.data);
    const [a, b] = [data[2]!.item, data[3]!.item];
    assert.deepEqual({ ...a, id: '' }, { id: '', type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_a', name: 'weather' });
    assert.equal(b.call_id, 'call_b');
    assert.deepEqual([data[4]!.item_id, data[4]!.output_index, data[4]!.delta], [a.id, 0, '{"city":']);
    assert.deepEqual([data[5]!.item_id, data[5]!.output_index], [b.id, 1]);
    assert.deepEqual([data[6]!.item_id, data[6]!.delta], [a.id, '"Paris"}']);
    assert.deepEqual(data[7], { type: 'response.function_call_arguments.done', sequence_number: 7, item_id: a.id, output_index: 0, name: 'weather', arguments: '{"city":"Paris"}' });
    assert.deepEqual(
      last(replayed).response.output.map((item: Sent) => [item.type, item.status, item.call_id, item.name, item.arguments]),
      [
        ['function_call', 'completed', 'call_a', 'weather', '{"city":"Paris"}'],
        ['function_call', 'completed', 'call_b', 'time', '{"tz":"CET"}'],
      ],
    );
  });

  test('tool calls without index: a new id opens a call, fragments without one go to the last', () => {
    const replayed = replay([
      ROLE,
      chunk({ content: 'Checking.' }),
      chunk({ tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city"' } }] }),
      chunk({ tool_calls: [{ function: { arguments: ':"Paris"}' } }] }),
      chunk({ tool_calls: [{ id: 'call_b', type: 'function', function: { name: 'weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ function: { arguments: '{"city":"Rome"}' } }] }),
      chunk({}, 'tool_calls'),
      DONE,
    ]);
    const output = last(replayed).response.output;
    assert.deepEqual(
      output.map((item: Sent) => [item.type, item.call_id, item.arguments ?? item.content[0].text]),
      [
        ['message', undefined, 'Checking.'],
        ['function_call', 'call_a', '{"city":"Paris"}'],
        ['function_call', 'call_b', '{"city":"Rome"}'],
      ],
    );
    // The message closes when the first call opens.
    assert.deepEqual(types(replayed).slice(2, 10), [...TEXT_EVENTS.slice(0, 3), ...TEXT_EVENTS.slice(4), 'response.output_item.added', 'response.function_call_arguments.delta']);
  });

  test('a call announced once its name comes; a call without an id gets one; text after calls is a new message', () => {
    const replayed = replay([
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '1}' } }] }),
      chunk({ content: 'Done.' }),
      chunk({}, 'tool_calls'),
      DONE,
    ]);
    assert.equal(replayed.pieces[0], '', 'nothing before the call has a name');
    const data = replayed.events.map((event) => event.data);
    assert.equal(data[2]!.type, 'response.output_item.added');
    assert.match(data[2]!.item.call_id, /^call_[0-9a-f]{16}_0$/);
    // The held fragment and the one that named the call, as one delta.
    assert.deepEqual([data[3]!.type, data[3]!.delta, data[4]!.type], ['response.function_call_arguments.delta', '{"a":1}', 'response.output_item.added']);
    const output = last(replayed).response.output;
    assert.deepEqual(output.map((item: Sent) => item.type), ['function_call', 'message']);
    assert.equal(output[0].arguments, '{"a":1}');
    assert.equal(output[1].content[0].text, 'Done.');
  });

  test('content as a list of parts', () => {
    const replayed = replay([chunk({ role: 'assistant', content: [{ type: 'text', text: 'Hi ' }] }), chunk({ content: [{ type: 'text', text: 'there' }] }), chunk({}, 'stop'), DONE]);
    assert.equal(last(replayed).response.output[0].content[0].text, 'Hi there');
  });

  test('usage: the last one reported wins; none at all is null', () => {
    const every = replay([chunk({ content: 'a' }, null, { usage: { prompt_tokens: 5, completion_tokens: 1 } }), chunk({ content: 'b' }, 'stop', { usage: { prompt_tokens: 5, completion_tokens: 2 } }), DONE]);
    assert.equal(last(every).response.usage.output_tokens, 2);
    assert.deepEqual(every.translator.usage, { promptTokens: 5, completionTokens: 2 });
    const none = replay([chunk({ content: 'a' }), chunk({}, 'stop'), DONE]);
    assert.equal(last(none).response.usage, null);
    assert.equal(none.translator.usage, undefined);
  });

  test('a finish without [DONE]: end() completes the response', () => {
    const replayed = replay([chunk({ content: 'Hi' }), chunk({}, 'stop'), usageChunk()]);
    assert.equal(last(replayed).type, 'response.completed');
    assert.equal(last(replayed).response.usage.input_tokens, 12);
    assert.equal(replayed.translator.failure, undefined);
  });

  test('length: the message incomplete, and response.incomplete with max_output_tokens', () => {
    const replayed = replay([chunk({ content: 'Once upon' }), chunk({}, 'length'), usageChunk(), DONE]);
    assert.equal(last(replayed).type, 'response.incomplete');
    assert.equal(last(replayed).response.status, 'incomplete');
    assert.deepEqual(last(replayed).response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(last(replayed).response.output[0].status, 'incomplete');
  });

  test('an error chunk before content: the failure, with its status, and nothing started', () => {
    const replayed = replay([ROLE, JSON.stringify({ error: { message: 'Overloaded', type: 'overloaded_error' } })]);
    assert.deepEqual(replayed.translator.failure, { status: 503, error: { message: 'Overloaded', type: 'overloaded_error', code: null, param: null } });
    assert.deepEqual(types(replayed), ['error'], 'only the error event, which the gateway does not send: it retries or answers 503');
    assert.equal(replayed.pieces.at(-1), '', 'end() after a failure sends nothing');
  });

  test('an error chunk after content: the error event, in both shapes; later chunks give nothing', () => {
    const replayed = replay([chunk({ content: 'Hi' }), JSON.stringify({ error: { message: 'Rate limited', type: 'rate_limit_error', code: 'rate_limit_exceeded' } }), chunk({ content: 'more' }), DONE]);
    assert.deepEqual(types(replayed), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'error']);
    assert.deepEqual(last(replayed), {
      type: 'error',
      sequence_number: 5,
      code: 'rate_limit_exceeded',
      message: 'Rate limited',
      param: null,
      error: { type: 'rate_limit_error', code: 'rate_limit_exceeded', message: 'Rate limited', param: null },
    });
    assert.equal(replayed.translator.failure?.status, 429);
    assert.deepEqual(replayed.pieces.slice(2), ['', '', '']);
  });

  test('a stream that ends without a finish fails as stream_interrupted, 502', () => {
    const started = replay([chunk({ content: 'Hi' })]);
    assert.equal(last(started).type, 'error');
    assert.equal(last(started).code, 'stream_interrupted');
    assert.deepEqual(started.translator.failure?.status, 502);
    assert.equal(started.translator.failure?.error.type, 'upstream_error');
    const empty = replay([ROLE]);
    assert.equal(empty.translator.failure?.error.code, 'stream_interrupted');
  });

  test('a chunk that is not JSON fails as upstream_unreadable, 502', () => {
    const replayed = replay([chunk({ content: 'Hi' }), '{"choices":[{"delta":']);
    assert.equal(replayed.translator.failure?.status, 502);
    assert.equal(replayed.translator.failure?.error.code, 'upstream_unreadable');
    assert.equal(last(replayed).type, 'error');
  });

  test('the echoed settings are in every Response of the stream', () => {
    const tools = [{ type: 'function', name: 'f', parameters: { type: 'object' } }];
    const replayed = replay([chunk({ content: 'x' }), chunk({}, 'stop'), DONE], { input: 'x', stream: true, tools, tool_choice: 'required', instructions: 'I', top_p: 0.5 });
    for (const event of [replayed.events[0]!, replayed.events.at(-1)!]) {
      assert.deepEqual(event.data.response.tools, tools);
      assert.equal(event.data.response.tool_choice, 'required');
      assert.equal(event.data.response.instructions, 'I');
      assert.equal(event.data.response.top_p, 0.5);
      assert.equal(event.data.response.store, false);
    }
  });
});

describe('errors', () => {
  test('an error sent as `event: error` with the bare error object: the failure, with its message', () => {
    const translator = translate({ input: 'hi', stream: true }).stream();
    translator.push({ event: 'message', data: chunk({ role: 'assistant', content: 'a' }) });
    const out = translator.push({ event: 'error', data: '{"message":"boom","type":"server_error"}' });
    assert.equal(translator.failure?.error.message, 'boom');
    assert.equal(events(out).at(-1)?.event, 'error');
  });

  const error = { message: 'Slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null };
  test('status unchanged, OpenAI’s error body, and the error event', () => {
    assert.equal(openAIResponses.errorStatus(429, error), 429);
    assert.deepEqual(JSON.parse(openAIResponses.errorBody(429, error)), { error });
    const [event] = events(openAIResponses.errorEvent(429, error));
    assert.equal(event!.event, 'error');
    assert.deepEqual(event!.data, { type: 'error', sequence_number: 0, code: 'rate_limit_exceeded', message: 'Slow down', param: null, error });
  });
});

// ---------------------------------------------------------------------------------------------
// The SDKs read it

/** A scripted chat answer as chunks, the way an OpenAI-compatible host streams it. */
function chunksOf(script: Script): string[] {
  const out = [ROLE];
  if (script.reasoning) out.push(chunk({ reasoning_content: script.reasoning }));
  if (script.content) for (const word of script.content.split(/(?<= )/)) out.push(chunk({ content: word }));
  script.toolCalls?.forEach((call, index) => {
    out.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }));
    out.push(chunk({ tool_calls: [{ index, function: { arguments: call.arguments } }] }));
  });
  out.push(chunk({}, script.finish ?? (script.toolCalls ? 'tool_calls' : 'stop')));
  if (script.usage !== null) out.push(usageChunk(script.usage ?? USAGE));
  out.push(DONE);
  return out;
}

interface Exchange {
  readonly body: Sent;
  readonly chat: Sent;
}

/**
 * A fetch that stands for the gateway: the Responses request translated (a 400 as the gateway
 * answers it), the chat answer scripted for it translated back, JSON or SSE.
 */
function gatewayFetch(script: (chat: Sent, call: number) => Script | string[], exchanges: Exchange[] = []) {
  return async (_url: unknown, init?: { body?: unknown }): Promise<Response> => {
    const body = JSON.parse(String(init?.body)) as Sent;
    let translation: InboundTranslation;
    try {
      translation = openAIResponses.toChat(body, { model: String(body.model), client: () => '', ...KEPT, thinking: 'effort' });
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      return new Response(openAIResponses.errorBody(error.status, error.toBody()), { status: error.status, headers: { 'content-type': 'application/json' } });
    }
    const chatRequest = translation.chat as Sent;
    exchanges.push({ body, chat: chatRequest });
    const scripted = script(chatRequest, exchanges.length - 1);
    if (chatRequest.stream === true) {
      const translator = translation.stream();
      let sse = '';
      for (const data of Array.isArray(scripted) ? scripted : chunksOf(scripted)) sse += translator.push({ event: 'message', data });
      sse += translator.end();
      return new Response(sse, { headers: { 'content-type': 'text/event-stream' } });
    }
    assert.ok(!Array.isArray(scripted));
    return new Response(translation.answer(completion(scripted)).json, { headers: { 'content-type': 'application/json' } });
  };
}

const WEATHER_TOOL = { type: 'function' as const, name: 'weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: true };

function openaiClient(fetch: ReturnType<typeof gatewayFetch>): OpenAI {
  return new OpenAI({ apiKey: 'test-key', baseURL: 'http://gateway.invalid/v1', fetch: fetch as never, maxRetries: 0 });
}

describe('the openai SDK reads it', () => {
  test('responses.create: output_text, function calls and usage', async () => {
    const client = openaiClient(gatewayFetch(() => ({ content: 'Let me check.', toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }] })));
    const response = await client.responses.create({ model: MODEL, input: 'Weather in Paris?', tools: [WEATHER_TOOL] });
    assert.equal(response.output_text, 'Let me check.');
    const call = response.output.find((item) => item.type === 'function_call');
    assert.ok(call?.type === 'function_call');
    assert.deepEqual([call.call_id, call.name, call.arguments], ['call_1', 'weather', '{"city":"Paris"}']);
    assert.equal(response.usage?.total_tokens, 20);
  });

  test('responses.stream: events, the final response, and a tool round trip in the next request', async () => {
    const exchanges: Exchange[] = [];
    const client = openaiClient(
      gatewayFetch(
        (_chat, call) =>
          call === 0
            ? { reasoning: 'Need the weather.', content: 'Checking the weather.', toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }, { id: 'call_2', name: 'weather', arguments: '{"city":"Rome"}' }] }
            : { content: 'Sunny in Paris, rain in Rome.' },
        exchanges,
      ),
    );
    const stream = client.responses.stream({ model: MODEL, input: 'Weather in Paris and Rome?', tools: [WEATHER_TOOL] });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    assert.equal(deltas.join(''), 'Checking the weather.');
    assert.equal(final.output_text, 'Checking the weather.');
    assert.equal(final.status, 'completed');
    assert.deepEqual(final.usage, { input_tokens: 12, input_tokens_details: { cached_tokens: 4 }, output_tokens: 8, output_tokens_details: { reasoning_tokens: 3 }, total_tokens: 20 });
    const calls = final.output.filter((item) => item.type === 'function_call');
    assert.deepEqual(calls.map((call) => [call.call_id, call.arguments]), [['call_1', '{"city":"Paris"}'], ['call_2', '{"city":"Rome"}']]);
    const reasoning = final.output.find((item) => item.type === 'reasoning');
    assert.ok(reasoning?.type === 'reasoning');
    assert.equal(reasoning.summary[0]?.text, 'Need the weather.');

    // The usual next turn: the previous output as input, with the tool results.
    const next = await client.responses.create({
      model: MODEL,
      tools: [WEATHER_TOOL],
      input: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        ...(final.output as OpenAI.Responses.ResponseInputItem[]),
        { type: 'function_call_output', call_id: 'call_1', output: 'Sunny' },
        { type: 'function_call_output', call_id: 'call_2', output: 'Rain' },
      ],
    });
    assert.equal(next.output_text, 'Sunny in Paris, rain in Rome.');
    assert.deepEqual(
      exchanges[1]!.chat.messages.map((message: Sent) => [message.role, message.content, message.tool_calls?.length]),
      [
        ['user', 'Weather in Paris and Rome?', undefined],
        ['assistant', 'Checking the weather.', 2],
        ['tool', 'Sunny', undefined],
        ['tool', 'Rain', undefined],
      ],
    );
  });

  test('an error event raises an APIError, from responses.stream and from for await over create', async () => {
    const failing = [chunk({ content: 'Hel' }), JSON.stringify({ error: { message: 'Upstream broke', type: 'server_error', code: 'boom' } })];
    const client = openaiClient(gatewayFetch(() => failing));
    await assert.rejects(client.responses.stream({ model: MODEL, input: 'x' }).finalResponse(), (error: unknown) => {
      assert.ok(error instanceof APIError);
      assert.match(error.message, /Upstream broke/);
      return true;
    });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of await client.responses.create({ model: MODEL, input: 'x', stream: true })) seen.push(event.type);
      })(),
      (error: unknown) => error instanceof APIError && /Upstream broke/.test(error.message),
    );
    assert.deepEqual(seen, ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta']);
  });

  test('a 400 for what needs storage is a BadRequestError naming the parameter', async () => {
    const client = openaiClient(gatewayFetch(() => ({ content: 'x' })));
    await assert.rejects(client.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_1' }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.param, 'previous_response_id');
      assert.equal(error.code, 'unsupported_parameter');
      return true;
    });
  });
});

describe('the AI SDK (OpenAI Responses model) reads it', () => {
  const weather = {
    type: 'function' as const,
    name: 'weather',
    description: 'Weather for a city',
    inputSchema: { type: 'object' as const, properties: { city: { type: 'string' as const } }, required: ['city'] },
  };

  async function parts(stream: ReadableStream<LanguageModelV3StreamPart>): Promise<LanguageModelV3StreamPart[]> {
    const out: LanguageModelV3StreamPart[] = [];
    for await (const part of stream as unknown as AsyncIterable<LanguageModelV3StreamPart>) out.push(part);
    return out;
  }

  test('doStream: reasoning, text and tool-call parts, and the finish with usage, without errors', async () => {
    const exchanges: Exchange[] = [];
    const provider = createOpenAI({ apiKey: 'test-key', baseURL: 'http://gateway.invalid/v1', fetch: gatewayFetch(() => ({ reasoning: 'Hmm.', content: 'Checking.', toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }] }), exchanges) });
    const model = provider.responses(MODEL);
    const { stream } = await model.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] }], tools: [weather] });
    const got = await parts(stream);
    assert.deepEqual(got.filter((part) => part.type === 'error'), []);
    const text = got.flatMap((part) => (part.type === 'text-delta' ? [part.delta] : [])).join('');
    assert.equal(text, 'Checking.');
    const reasoning = got.flatMap((part) => (part.type === 'reasoning-delta' ? [part.delta] : [])).join('');
    assert.equal(reasoning, 'Hmm.');
    const call = got.find((part) => part.type === 'tool-call');
    assert.ok(call?.type === 'tool-call');
    assert.deepEqual([call.toolCallId, call.toolName, call.input], ['call_1', 'weather', '{"city":"Paris"}']);
    const finish = got.find((part) => part.type === 'finish');
    assert.ok(finish?.type === 'finish');
    assert.equal(finish.finishReason.unified, 'tool-calls');
    assert.equal(finish.usage.inputTokens.total, 12);
    assert.equal(finish.usage.inputTokens.cacheRead, 4);
    assert.equal(finish.usage.outputTokens.total, 8);
    assert.equal(finish.usage.outputTokens.reasoning, 3);
    const metadata = got.find((part) => part.type === 'response-metadata');
    assert.ok(metadata?.type === 'response-metadata');
    assert.equal(metadata.modelId, MODEL);
    // What the AI SDK sends by default translates (store is left unset; it sends no store field).
    assert.equal(exchanges[0]!.body.store, undefined);
    assert.deepEqual(exchanges[0]!.chat.tools, [{ type: 'function', function: { name: 'weather', description: 'Weather for a city', parameters: weather.inputSchema } }]);
  });

  test('doStream: an error event after output is an error part; no usage is an unknown count', async () => {
    const provider = createOpenAI({ apiKey: 'test-key', baseURL: 'http://gateway.invalid/v1', fetch: gatewayFetch(() => [chunk({ content: 'Hi' }), JSON.stringify({ error: { message: 'Upstream broke', type: 'server_error' } })]) });
    const { stream } = await provider.responses(MODEL).doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] });
    const got = await parts(stream);
    const error = got.find((part) => part.type === 'error');
    assert.ok(error?.type === 'error');
    assert.match(JSON.stringify(error.error), /Upstream broke/);
    const finish = got.find((part) => part.type === 'finish');
    assert.ok(finish?.type === 'finish');
    assert.equal(finish.finishReason.unified, 'error');

    const quiet = createOpenAI({ apiKey: 'test-key', baseURL: 'http://gateway.invalid/v1', fetch: gatewayFetch(() => ({ content: 'Hi', usage: null })) });
    const quietParts = await parts((await quiet.responses(MODEL).doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] })).stream);
    assert.deepEqual(quietParts.filter((part) => part.type === 'error'), []);
    const quietFinish = quietParts.find((part) => part.type === 'finish');
    assert.ok(quietFinish?.type === 'finish');
    assert.equal(quietFinish.finishReason.unified, 'stop');
    assert.equal(quietFinish.usage.inputTokens.total, undefined);
  });

  test('generateText with a tool loop: with store: false the items come back whole; by default as references to items the gateway kept', async () => {
    const script = (_chat: Sent, call: number): Script =>
      call % 2 === 0 ? { content: 'Let me check. ', toolCalls: [{ id: `call_${call}`, name: 'weather', arguments: '{"city":"Paris"}' }] } : { content: 'Sunny in Paris.' };
    const tools = { weather: tool({ description: 'Weather for a city', inputSchema: jsonSchema<{ city: string }>(weather.inputSchema), execute: async () => 'Sunny' }) };

    for (const store of [false, undefined]) {
      const exchanges: Exchange[] = [];
      const provider = createOpenAI({ apiKey: 'test-key', baseURL: 'http://gateway.invalid/v1', fetch: gatewayFetch(script, exchanges) });
      const providerOptions = store === undefined ? undefined : { openai: { store } };
      const result = await generateText({ model: provider.responses(MODEL), prompt: 'Weather in Paris?', tools, stopWhen: stepCountIs(3), providerOptions });
      assert.equal(result.text, 'Sunny in Paris.', `store: ${store}`);
      assert.equal(result.totalUsage.inputTokens, 24);
      // Left to its default (store unset, taken as true), the AI SDK sends the assistant's earlier
      // turn as item_references to the ids the gateway gave; the gateway kept those items.
      if (store === undefined) assert.match(JSON.stringify(exchanges[1]!.body.input), /item_reference/);
      assert.deepEqual(
        exchanges[1]!.chat.messages.map((message: Sent) => message.role),
        ['user', 'assistant', 'tool'],
      );
      assert.equal(exchanges[1]!.chat.messages[1].content, 'Let me check. ');
      assert.equal(exchanges[1]!.chat.messages[1].tool_calls[0].function.name, 'weather');
    }
  });

  test('streamText: the text and the finish usage', async () => {
    const provider = createOpenAI({ apiKey: 'test-key', baseURL: 'http://gateway.invalid/v1', fetch: gatewayFetch(() => ({ content: 'Hello there, friend.' })) });
    const result = streamText({ model: provider.responses(MODEL), prompt: 'Hi' });
    assert.equal(await result.text, 'Hello there, friend.');
    assert.equal((await result.usage).outputTokens, 8);
    assert.equal(await result.finishReason, 'stop');
  });
});

describe('the memory of output items', () => {
  test('kept per client, for a while, within a count and a size', () => {
    let now = 0;
    const memory = new ItemMemory({ maxItemsPerClient: 3, maxBytesPerClient: 10_000, ttlMs: 1_000 }, () => now);
    const item = (id: string, text = 'x') => ({ id, type: 'message', content: [{ type: 'output_text', text }] });
    memory.remember('a', [item('m1'), item('m2')]);
    assert.deepEqual(memory.recall('a', 'm1')?.item, item('m1'));
    // Another client's id is not this client's.
    assert.equal(memory.recall('b', 'm1'), undefined);
    // The oldest goes first past the count.
    memory.remember('a', [item('m3'), item('m4')]);
    assert.equal(memory.recall('a', 'm1'), undefined);
    assert.deepEqual(memory.recall('a', 'm4')?.item, item('m4'));
    // Past the size, too; an item larger than the whole memory is not kept at all.
    memory.remember('a', [item('big', 'y'.repeat(9_000))]);
    assert.equal(memory.recall('a', 'm2'), undefined);
    memory.remember('a', [item('huge', 'z'.repeat(20_000))]);
    assert.equal(memory.recall('a', 'huge'), undefined);
    // And each for its time only.
    now = 1_000;
    assert.equal(memory.recall('a', 'big'), undefined);
  });
});

test('values a client sent are quoted in errors only when short, and never whole', () => {
  const long = 'x'.repeat(10_000);
  rejects400({ input: [{ type: long }] }, 'input[0].type', /^input\[0\] is a \(a value of 10000 characters, not shown\) item/);
  rejects400({ input: [{ type: 'item_reference', id: { nested: long } }] }, 'input[0].id', /\(an object\)/);
  rejects400({ input: 'hi', tools: [{ type: 'web_search_preview' }] }, 'tools[0].type', /"web_search_preview"/);
});
