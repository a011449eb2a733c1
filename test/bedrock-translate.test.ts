// The Bedrock provider's translation, as pure functions: the Converse request out; answers, streams
// and errors back. Streams are replayed from event sequences shaped as in the ConverseStream
// reference (each frame's :event-type or :exception-type and its JSON payload), whole and one by one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { translateAnswer } from '../src/providers/bedrock/answer.js';
import { httpError } from '../src/providers/bedrock/errors.js';
import { translateRequest } from '../src/providers/bedrock/request.js';
import { BedrockStreamTranslator } from '../src/providers/bedrock/stream.js';
import type { UpstreamEvent } from '../src/translate/stream-contract.js';
import { assertBadRequest } from './helpers.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';

type Sent = Record<string, any>;

function sent(body: Record<string, unknown>, model = MODEL): Sent {
  return JSON.parse(translateRequest({ model: 'client-model', ...body }, model).body) as Sent;
}

const user = (content: unknown = 'Hello') => ({ role: 'user', content });
const PNG = 'iVBORw0KGgo=';

function rejects400(body: Record<string, unknown>, param: string | null, pattern?: RegExp): void {
  assertBadRequest(() => translateRequest({ model: 'm', ...body }, MODEL), param, pattern);
}

describe('request: path and model ids', () => {
  test('converse, or converse-stream for stream: true', () => {
    const plain = translateRequest({ messages: [user()] }, 'amazon.nova-lite-v1:0');
    assert.equal(plain.path, '/model/amazon.nova-lite-v1%3A0/converse');
    assert.equal(plain.stream, false);
    const streamed = translateRequest({ messages: [user()], stream: true, stream_options: { include_usage: true } }, 'amazon.nova-lite-v1:0');
    assert.equal(streamed.path, '/model/amazon.nova-lite-v1%3A0/converse-stream');
    assert.equal(streamed.stream, true);
    assert.equal(streamed.includeUsage, true);
    assert.deepEqual(streamed.dropped, ['stream_options']);
    assert.equal(translateRequest({ messages: [user()], stream_options: { include_usage: true } }, 'm').includeUsage, false);
  });

  test('inference profiles and ARNs are percent-encoded once', () => {
    assert.equal(translateRequest({ messages: [user()] }, MODEL).path, '/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse');
    assert.equal(
      translateRequest({ messages: [user()] }, 'us.anthropic.claude-3-5-haiku-20241022-v1:0').path,
      '/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse',
    );
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0';
    const path = translateRequest({ messages: [user()] }, arn).path;
    assert.equal(path, '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse');
    assert.doesNotMatch(path, /%25/);
    assert.equal(decodeURIComponent(path.split('/')[2]!), arn);
  });

  test('nothing the client did not send is added; no model in the body', () => {
    assert.deepEqual(sent({ messages: [user()] }), { messages: [{ role: 'user', content: [{ text: 'Hello' }] }] });
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
    assert.deepEqual(body.system, [{ text: 'one' }, { text: 'two' }, { text: 'three' }, { text: 'four' }]);
    assert.deepEqual(
      body.messages.map((m: Sent) => m.role),
      ['user', 'assistant', 'user'],
    );
    assert.ok(body.messages.every((m: Sent) => m.role !== 'system'));
  });

  test('consecutive same-role messages become one turn', () => {
    const body = sent({ messages: [user('a'), user([{ type: 'text', text: 'b' }]), { role: 'assistant', content: 'c' }, { role: 'assistant', content: 'd' }] });
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ text: 'a' }, { text: 'b' }] },
      { role: 'assistant', content: [{ text: 'c' }, { text: 'd' }] },
    ]);
  });

  test('images: data: URLs as bytes (base64) with their format; http(s) URLs are 400s', () => {
    const formats = ['png', 'jpeg', 'gif', 'webp'].map((format) => ({ type: 'image_url', image_url: { url: `data:image/${format};base64,${PNG}` } }));
    const body = sent({ messages: [user([{ type: 'text', text: 'look' }, ...formats, { type: 'image_url', image_url: { url: `data:image/jpg;base64,${PNG}` } }])] });
    assert.deepEqual(body.messages[0].content, [
      { text: 'look' },
      { image: { format: 'png', source: { bytes: PNG } } },
      { image: { format: 'jpeg', source: { bytes: PNG } } },
      { image: { format: 'gif', source: { bytes: PNG } } },
      { image: { format: 'webp', source: { bytes: PNG } } },
      { image: { format: 'jpeg', source: { bytes: PNG } } },
    ]);
    rejects400(
      { messages: [user([{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }])] },
      'messages[0].content[0].image_url.url',
      /Bedrock takes no image URLs; send the image as a base64 data: URL, or start the gateway with FETCH_IMAGE_URLS=public/,
    );
    rejects400({ messages: [user([{ type: 'image_url', image_url: { url: `data:image/bmp;base64,${PNG}` } }])] }, 'messages', /png, jpeg, gif and webp/);
    rejects400({ messages: [user([{ type: 'input_audio', input_audio: {} }])] }, 'messages[0].content[0]', /Bedrock does not take audio/);
  });

  test('a PDF file part as a named document; cache_control as a cache point after its block', () => {
    const body = sent({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }] },
        user([{ type: 'file', file: { file_data: `data:application/pdf;base64,${PNG}`, filename: 'report q1.pdf' } }]),
      ],
    });
    assert.deepEqual(body.system, [{ text: 'sys' }, { cachePoint: { type: 'default' } }]);
    assert.deepEqual(body.messages[0].content, [{ document: { format: 'pdf', name: 'report q1-pdf', source: { bytes: PNG } } }]);
  });

  test('a tool round trip: tool_calls as toolUse, tool messages as toolResult in one user turn', () => {
    const body = sent({
      messages: [
        user('weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'tooluse_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'tooluse_2', type: 'function', function: { name: 'weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'tooluse_1', content: '{"temp":21}' },
        { role: 'tool', tool_call_id: 'tooluse_2', content: [{ type: 'text', text: 'sunny' }] },
        { role: 'tool', tool_call_id: 'tooluse_3', content: '' },
      ],
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    assert.deepEqual(body.messages[1], {
      role: 'assistant',
      content: [
        { toolUse: { toolUseId: 'tooluse_1', name: 'weather', input: { city: 'Paris' } } },
        { toolUse: { toolUseId: 'tooluse_2', name: 'weather', input: {} } },
      ],
    });
    assert.deepEqual(body.messages[2], {
      role: 'user',
      content: [
        { toolResult: { toolUseId: 'tooluse_1', content: [{ text: '{"temp":21}' }] } },
        { toolResult: { toolUseId: 'tooluse_2', content: [{ text: 'sunny' }] } },
        { toolResult: { toolUseId: 'tooluse_3', content: [{ text: '' }] } },
      ],
    });
    rejects400(
      { messages: [user(), { role: 'assistant', tool_calls: [{ id: 'x', type: 'function', function: { name: 'f', arguments: '{' } }] }] },
      'messages[1].tool_calls[0].function.arguments',
      /Bedrock/,
    );
  });
});

describe('request: tools and tool_choice', () => {
  const tools = [
    { type: 'function', function: { name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    { type: 'function', function: { name: 'time' } },
  ];

  test('function tools as toolSpec; none without parameters gets an object schema', () => {
    assert.deepEqual(sent({ messages: [user()], tools }).toolConfig, {
      tools: [
        { toolSpec: { name: 'weather', description: 'Weather now', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } } } },
        { toolSpec: { name: 'time', inputSchema: { json: { type: 'object' } } } },
      ],
    });
  });

  test('tool_choice auto, required and a named function', () => {
    assert.deepEqual(sent({ messages: [user()], tools, tool_choice: 'auto' }).toolConfig.toolChoice, { auto: {} });
    assert.deepEqual(sent({ messages: [user()], tools, tool_choice: 'required' }).toolConfig.toolChoice, { any: {} });
    const named = { type: 'function', function: { name: 'time' } };
    assert.deepEqual(sent({ messages: [user()], tools, tool_choice: named }).toolConfig.toolChoice, { tool: { name: 'time' } });
    assert.equal(sent({ messages: [user()], tools }).toolConfig.toolChoice, undefined);
    rejects400({ messages: [user()], tools, tool_choice: 'sometimes' }, 'tool_choice', /no Bedrock equivalent/);
  });

  test('tool_choice none leaves the tools out, unless the conversation holds tool calls', () => {
    const none = translateRequest({ messages: [user()], tools, tool_choice: 'none' }, MODEL);
    assert.equal(JSON.parse(none.body).toolConfig, undefined);
    assert.deepEqual(none.dropped, ['tool_choice']);
    const history = [
      user(),
      { role: 'assistant', tool_calls: [{ id: 't1', type: 'function', function: { name: 'time', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 't1', content: 'noon' },
    ];
    const withHistory = translateRequest({ messages: history, tools, tool_choice: 'none' }, MODEL);
    assert.equal(JSON.parse(withHistory.body).toolConfig.tools.length, 2);
    assert.equal(JSON.parse(withHistory.body).toolConfig.toolChoice, undefined);
    assert.deepEqual(withHistory.dropped, ['tool_choice']);
  });

  test('parallel_tool_calls false, and tool_choice without tools, are dropped and named', () => {
    const parallel = translateRequest({ messages: [user()], tools, parallel_tool_calls: false }, MODEL);
    assert.equal(JSON.parse(parallel.body).toolConfig.toolChoice, undefined);
    assert.deepEqual(parallel.dropped, ['parallel_tool_calls']);
    assert.deepEqual(translateRequest({ messages: [user()], tools, parallel_tool_calls: true }, MODEL).dropped, []);
    const bare = translateRequest({ messages: [user()], tool_choice: 'auto', parallel_tool_calls: false }, MODEL);
    assert.deepEqual(bare.dropped.sort(), ['parallel_tool_calls', 'tool_choice']);
    assert.equal(JSON.parse(bare.body).toolConfig, undefined);
    rejects400({ messages: [user()], tools: [{ type: 'custom', custom: {} }] }, 'tools[0].type', /Bedrock takes function tools/);
  });
});

describe('request: the renames table and the rest', () => {
  test('max_tokens, max_completion_tokens (newer wins), temperature (clamped to 1), top_p, stop', () => {
    assert.deepEqual(sent({ messages: [user()], max_tokens: 100, temperature: 0.5, top_p: 0.9, stop: 'END' }).inferenceConfig, {
      maxTokens: 100,
      temperature: 0.5,
      topP: 0.9,
      stopSequences: ['END'],
    });
    assert.deepEqual(sent({ messages: [user()], max_tokens: 100, max_completion_tokens: 200, temperature: 1.5, stop: ['a', 'b'] }).inferenceConfig, {
      maxTokens: 200,
      temperature: 1,
      stopSequences: ['a', 'b'],
    });
    rejects400({ messages: [user()], max_tokens: 0 }, 'max_tokens');
    rejects400({ messages: [user()], top_p: 2 }, 'top_p');
    rejects400({ messages: [user()], stop: 5 }, 'stop');
  });

  test('top_k to additionalModelRequestFields; user to requestMetadata, sim: values verbatim', () => {
    const body = sent({ messages: [user()], top_k: 40, user: 'sim:{"fault":"throttle","after":2}' });
    assert.deepEqual(body.additionalModelRequestFields, { top_k: 40 });
    assert.deepEqual(body.requestMetadata, { user: 'sim:{"fault":"throttle","after":2}' });
  });

  test('fields without a Converse equivalent are not sent, and named as dropped', () => {
    const t = translateRequest(
      {
        model: 'x',
        messages: [user()],
        n: 1,
        seed: 7,
        logprobs: true,
        top_logprobs: 2,
        frequency_penalty: 0.1,
        presence_penalty: 0.1,
        logit_bias: { 1: 1 },
        reasoning_effort: 'low',
        metadata: { a: 'b' },
        store: true,
        service_tier: 'auto',
        stream_options: { include_usage: true },
        temperature: null,
      },
      MODEL,
    );
    assert.deepEqual(t.dropped, [
      'seed',
      'logprobs',
      'top_logprobs',
      'frequency_penalty',
      'presence_penalty',
      'logit_bias',
      'reasoning_effort',
      'metadata',
      'store',
      'service_tier',
      'stream_options',
    ]);
    assert.deepEqual(Object.keys(JSON.parse(t.body)), ['messages']);
  });

  test('n above 1 is a 400; malformed messages are 400s naming the parameter', () => {
    rejects400({ messages: [user()], n: 2 }, 'n', /one choice/);
    rejects400({ messages: 'hi' }, 'messages');
    rejects400({ messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role', /Bedrock takes system/);
    rejects400({ messages: [user()], stream: 'yes' }, 'stream');
  });
});

function converse(content: unknown[], stopReason: string, usage: Record<string, unknown> = { inputTokens: 10, outputTokens: 5, totalTokens: 15 }) {
  return JSON.stringify({ output: { message: { role: 'assistant', content } }, stopReason, usage, metrics: { latencyMs: 120 } });
}

describe('answer', () => {
  test('text blocks joined; a made id, the request model; usage with cache reads and writes in prompt_tokens', () => {
    const usage = { inputTokens: 10, outputTokens: 5, totalTokens: 45, cacheReadInputTokens: 20, cacheWriteInputTokens: 10 };
    const { json, usage: observed } = translateAnswer(converse([{ text: 'Hel' }, { text: 'lo' }], 'end_turn', usage), MODEL);
    const completion = JSON.parse(json);
    assert.match(completion.id, /^chatcmpl-[0-9a-f]{32}$/);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, MODEL);
    assert.equal(typeof completion.created, 'number');
    assert.deepEqual(completion.choices, [
      { index: 0, message: { role: 'assistant', content: 'Hello', refusal: null }, logprobs: null, finish_reason: 'stop' },
    ]);
    assert.deepEqual(completion.usage, { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: { cached_tokens: 20 } });
    assert.deepEqual(observed, { promptTokens: 40, completionTokens: 5, cacheReadTokens: 20, cacheWriteTokens: 10 });
    assert.notEqual(JSON.parse(translateAnswer(converse([{ text: 'x' }], 'end_turn'), MODEL).json).id, completion.id);
  });

  test('toolUse as tool_calls (ids kept, content null without text); reasoning as reasoning_content', () => {
    const body = converse(
      [
        { reasoningContent: { reasoningText: { text: 'think', signature: 'sig' } } },
        { toolUse: { toolUseId: 'tooluse_a', name: 'weather', input: { city: 'Paris' } } },
        { toolUse: { toolUseId: 'tooluse_b', name: 'time', input: {} } },
      ],
      'tool_use',
    );
    const message = JSON.parse(translateAnswer(body, MODEL).json).choices[0].message;
    assert.equal(message.content, null);
    assert.equal(message.reasoning_content, 'think');
    assert.deepEqual(message.tool_calls, [
      { id: 'tooluse_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
      { id: 'tooluse_b', type: 'function', function: { name: 'time', arguments: '{}' } },
    ]);
    assert.equal(JSON.parse(translateAnswer(body, MODEL).json).choices[0].finish_reason, 'tool_calls');
  });

  test('finish_reason for every stop reason', () => {
    const table: [string, string][] = [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['model_context_window_exceeded', 'length'],
      ['tool_use', 'stop'],
      ['guardrail_intervened', 'content_filter'],
      ['content_filtered', 'content_filter'],
      ['malformed_model_output', 'stop'],
      ['something_new', 'stop'],
    ];
    for (const [stopReason, finish] of table) {
      assert.equal(JSON.parse(translateAnswer(converse([{ text: 'x' }], stopReason), MODEL).json).choices[0].finish_reason, finish, stopReason);
    }
  });

  test('a body that is not a Converse answer throws', () => {
    assert.throws(() => translateAnswer('{"message":"hi"}', MODEL), /not a Converse answer/);
    assert.throws(() => translateAnswer('nope', MODEL));
  });
});

describe('errors', () => {
  test('each AWS type, from the x-amzn-errortype header, sets the status; the type is the code', () => {
    const table: [string, number][] = [
      ['ValidationException', 400],
      ['ServiceQuotaExceededException', 400],
      ['AccessDeniedException', 403],
      ['ResourceNotFoundException', 404],
      ['ModelTimeoutException', 408],
      ['ThrottlingException', 429],
      ['ModelNotReadyException', 429],
      ['InternalServerException', 500],
      ['ModelErrorException', 502],
      ['ServiceUnavailableException', 503],
    ];
    for (const [type, status] of table) {
      const translated = httpError(418, '{"message":"what happened"}', `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`);
      assert.equal(translated.status, status, type);
      assert.equal(translated.error.code, type);
      assert.equal(translated.error.message, 'what happened');
      assert.equal(translated.error.param, null);
    }
    assert.equal(httpError(429, '{}', 'ThrottlingException').error.type, 'rate_limit_error');
  });

  test('the type from the body __type, the message from Message; unknown types keep the status', () => {
    const fromBody = httpError(400, '{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad input"}');
    assert.deepEqual(fromBody, { status: 400, error: { message: 'bad input', type: 'invalid_request_error', code: 'ValidationException', param: null } });
    const unknown = httpError(403, '{"message":"The security token included in the request is invalid."}', 'UnrecognizedClientException:http://x');
    assert.equal(unknown.status, 403);
    assert.equal(unknown.error.code, 'UnrecognizedClientException');
    assert.equal(httpError(424, '{"message":"model failed"}').status, 502);
    assert.match(httpError(503, '', 'ServiceUnavailableException').error.message, /Bedrock answered HTTP 503 with an empty body/);
    assert.equal(httpError(503, '', 'ServiceUnavailableException').error.code, 'ServiceUnavailableException');
  });

  test('a body that is not JSON is quoted, clipped; JSON of another shape goes to the shared normaliser', () => {
    const html = httpError(502, '<html>' + 'x'.repeat(400) + '</html>');
    assert.equal(html.status, 502);
    assert.match(html.error.message, /not JSON: "<html>x+\.\.\."/);
    const other = httpError(500, '{"error":{"message":"proxy says no"}}');
    assert.equal(other.status, 500);
    assert.match(other.error.message, /proxy says no/);
  });
});

// ---------------------------------------------------------------------------------------------
// Streams: recorded frame sequences (event type and JSON payload, as the core decodes them).

const ev = (event: string, data: Record<string, unknown>): UpstreamEvent => ({ event, data: JSON.stringify(data) });
const start = ev('messageStart', { role: 'assistant' });
const textDelta = (index: number, text: string) => ev('contentBlockDelta', { contentBlockIndex: index, delta: { text } });
const toolStart = (index: number, id: string, name: string) => ev('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId: id, name } } });
const toolDelta = (index: number, input: string) => ev('contentBlockDelta', { contentBlockIndex: index, delta: { toolUse: { input } } });
const stop = (index: number) => ev('contentBlockStop', { contentBlockIndex: index });
const messageStop = (stopReason: string) => ev('messageStop', { stopReason });
const metadata = ev('metadata', { usage: { inputTokens: 12, outputTokens: 7, totalTokens: 22, cacheReadInputTokens: 3 }, metrics: { latencyMs: 300 } });

interface Replay {
  readonly text: string;
  readonly chunks: Sent[];
  readonly done: boolean;
  readonly error: Sent | undefined;
  readonly translator: BedrockStreamTranslator;
}

/** Feeds the events one by one (the output of each push kept apart) and ends the stream. */
function replay(events: readonly UpstreamEvent[], includeUsage = false, jsonTool?: string): Replay {
  const translator = new BedrockStreamTranslator({ model: MODEL, includeUsage, jsonTool });
  let text = '';
  for (const event of events) text += translator.push(event);
  text += translator.end();
  const chunks: Sent[] = [];
  let done = false;
  let error: Sent | undefined;
  for (const piece of text.split('\n\n')) {
    if (!piece) continue;
    assert.match(piece, /^data: /);
    const data = piece.slice('data: '.length);
    if (data === '[DONE]') done = true;
    else {
      const parsed = JSON.parse(data) as Sent;
      if (parsed.error) error = parsed.error;
      else chunks.push(parsed);
    }
  }
  return { text, chunks, done, error, translator };
}

/** The message the chunks add up to, as an OpenAI client assembles it. */
function assemble(chunks: Sent[]) {
  let content = '';
  let role: string | undefined;
  let finish: string | undefined;
  let usage: Sent | undefined;
  const tools: { id: string; name: string; arguments: string }[] = [];
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, MODEL);
    assert.equal(chunk.id, chunks[0]!.id);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      const delta = choice.delta;
      if (delta.role) role = delta.role;
      if (delta.content) content += delta.content;
      for (const call of delta.tool_calls ?? []) {
        if (call.id) tools[call.index] = { id: call.id, name: call.function.name, arguments: call.function.arguments ?? '' };
        else tools[call.index]!.arguments += call.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { role, content, tools, finish, usage };
}

describe('stream', () => {
  const textStream = [start, textDelta(0, 'Hel'), textDelta(0, 'lo'), stop(0), messageStop('end_turn'), metadata];

  test('text: role held to the first content, deltas, finish, [DONE] at metadata', () => {
    const { chunks, done, error, translator } = replay(textStream);
    assert.equal(error, undefined);
    assert.ok(done);
    assert.deepEqual(chunks[0]!.choices[0].delta, { role: 'assistant', content: '' });
    assert.match(chunks[0]!.id, /^chatcmpl-/);
    assert.deepEqual(assemble(chunks), { role: 'assistant', content: 'Hello', tools: [], finish: 'stop', usage: undefined });
    assert.deepEqual(translator.usage, { promptTokens: 15, completionTokens: 7, cacheReadTokens: 3, cacheWriteTokens: 0 });
    assert.equal(translator.failure, undefined);
  });

  test('event by event: nothing before the first content; the end comes with metadata, after messageStop', () => {
    const translator = new BedrockStreamTranslator({ model: MODEL, includeUsage: true });
    assert.equal(translator.push(start), '');
    const first = translator.push(textDelta(0, 'Hi'));
    assert.equal(first.split('\n\n').filter(Boolean).length, 2);
    assert.equal(translator.push(stop(0)), '');
    assert.equal(translator.push(messageStop('max_tokens')), '');
    assert.equal(translator.usage, undefined);
    const last = translator.push(metadata);
    assert.match(last, /"finish_reason":"length"/);
    assert.match(last, /"choices":\[\],"usage":\{"prompt_tokens":15,"completion_tokens":7,"total_tokens":22,"prompt_tokens_details":\{"cached_tokens":3\}\}/);
    assert.ok(last.endsWith('data: [DONE]\n\n'));
    assert.equal(translator.push(textDelta(0, 'late')), '');
    assert.equal(translator.end(), '');
  });

  test('include_usage: the usage chunk before [DONE]', () => {
    const { chunks, done } = replay(textStream, true);
    assert.ok(done);
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.deepEqual(assemble(chunks).usage, { prompt_tokens: 15, completion_tokens: 7, total_tokens: 22, prompt_tokens_details: { cached_tokens: 3 } });
  });

  test('messageStop without metadata: end() finishes, with no usage chunk', () => {
    const { chunks, done, error, translator } = replay([start, textDelta(0, 'Hi'), stop(0), messageStop('end_turn')], true);
    assert.equal(error, undefined);
    assert.ok(done);
    assert.equal(assemble(chunks).finish, 'stop');
    assert.equal(assemble(chunks).usage, undefined);
    assert.equal(translator.usage, undefined);
  });

  test('text then a tool whose input comes in many fragments', () => {
    const input = JSON.stringify({ city: 'Paris', units: 'celsius', days: [1, 2, 3] });
    const fragments = input.match(/.{1,3}/g)!.map((piece) => toolDelta(1, piece));
    const events = [start, textDelta(0, 'Checking.'), stop(0), toolStart(1, 'tooluse_abc', 'weather'), ...fragments, stop(1), messageStop('tool_use'), metadata];
    const { chunks } = replay(events);
    assert.deepEqual(assemble(chunks), {
      role: 'assistant',
      content: 'Checking.',
      tools: [{ id: 'tooluse_abc', name: 'weather', arguments: input }],
      finish: 'tool_calls',
      usage: undefined,
    });
  });

  test('two parallel tools get indices 0 and 1 (tool blocks counted, not content blocks); a tool without input gets "{}"', () => {
    const events = [
      start,
      textDelta(0, 'Two calls.'),
      stop(0),
      toolStart(1, 'tooluse_1', 'weather'),
      toolDelta(1, '{"city":'),
      toolDelta(1, '"Rome"}'),
      stop(1),
      toolStart(2, 'tooluse_2', 'time'),
      toolDelta(2, ''),
      stop(2),
      messageStop('tool_use'),
      metadata,
    ];
    const { chunks } = replay(events);
    const calls = chunks.flatMap((chunk) => chunk.choices.flatMap((choice: Sent) => choice.delta.tool_calls ?? []));
    assert.deepEqual(
      calls.filter((call: Sent) => call.id).map((call: Sent) => call.index),
      [0, 1],
    );
    assert.deepEqual(assemble(chunks).tools, [
      { id: 'tooluse_1', name: 'weather', arguments: '{"city":"Rome"}' },
      { id: 'tooluse_2', name: 'time', arguments: '{}' },
    ]);
  });

  test('reasoning deltas as reasoning_content; unknown deltas and events ignored', () => {
    const events = [
      start,
      ev('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { text: 'hmm' } } }),
      ev('contentBlockDelta', { contentBlockIndex: 0, delta: { reasoningContent: { signature: 'sig' } } }),
      stop(0),
      ev('somethingNew', { x: 1 }),
      textDelta(1, 'Answer'),
      stop(1),
      messageStop('end_turn'),
      metadata,
    ];
    const { chunks, error } = replay(events);
    assert.equal(error, undefined);
    const reasoning = chunks.map((chunk) => chunk.choices[0]?.delta.reasoning_content ?? '').join('');
    assert.equal(reasoning, 'hmm');
    assert.equal(assemble(chunks).content, 'Answer');
  });

  test('an exception right after messageStart: failure set before anything was sent, so it can be retried', () => {
    const translator = new BedrockStreamTranslator({ model: MODEL, includeUsage: false });
    assert.equal(translator.push(start), '');
    const out = translator.push({ event: 'throttlingException', data: '{"message":"Too many requests, please wait before trying again."}' });
    assert.deepEqual(translator.failure, {
      status: 429,
      error: { message: 'Too many requests, please wait before trying again.', type: 'rate_limit_error', code: 'ThrottlingException', param: null },
    });
    assert.match(out, /^data: \{"error":/);
    assert.equal(translator.push(textDelta(0, 'x')), '');
    assert.equal(translator.end(), '');
  });

  test('each stream exception type and its status', () => {
    const table: [string, number][] = [
      ['throttlingException', 429],
      ['serviceUnavailableException', 503],
      ['internalServerException', 500],
      ['modelStreamErrorException', 502],
      ['validationException', 400],
      ['brandNewException', 502],
    ];
    for (const [event, status] of table) {
      const { error, translator } = replay([start, { event, data: '{"message":"m"}' }]);
      assert.equal(translator.failure?.status, status, event);
      assert.equal(error?.message, 'm');
    }
  });

  test('an exception mid-stream: the text so far, then the error event and no [DONE]', () => {
    const { chunks, done, error, translator } = replay([start, textDelta(0, 'Partial'), { event: 'modelStreamErrorException', data: '{"message":"Model stream broke","originalStatusCode":500}' }]);
    assert.equal(assemble(chunks).content, 'Partial');
    assert.equal(done, false);
    assert.equal(error?.code, 'ModelStreamErrorException');
    assert.equal(translator.failure?.status, 502);
  });

  test('a stream cut before messageStop: 502 stream_interrupted', () => {
    const { done, error, translator } = replay([start, textDelta(0, 'Hal')]);
    assert.equal(done, false);
    assert.equal(error?.code, 'stream_interrupted');
    assert.equal(translator.failure?.status, 502);
    assert.equal(replay([]).translator.failure?.status, 502);
  });

  test('broken frames fail the stream with 502', () => {
    assert.equal(replay([start, { event: 'contentBlockDelta', data: 'not json' }]).translator.failure?.status, 502);
    assert.equal(replay([textDelta(0, 'before start')]).translator.failure?.status, 502);
    assert.equal(replay([start, ev('contentBlockDelta', { delta: { text: 'x' } })]).translator.failure?.status, 502);
  });

  test('a stream that opens block after block without closing them is refused, not held', () => {
    const opened = [start, ...Array.from({ length: 300 }, (_, i) => toolStart(i, `t${i}`, 'f'))];
    const { translator } = replay(opened);
    assert.equal(translator.failure?.status, 502);
    assert.match(translator.failure!.error.message, /more than 256 content blocks/);
  });

  test('fed whole or event by event, the same chunks (but for created and id)', () => {
    const events = [start, textDelta(0, 'A'), stop(0), toolStart(1, 't', 'f'), toolDelta(1, '{}'), stop(1), messageStop('tool_use'), metadata];
    const normalise = (text: string) => text.replace(/"id":"chatcmpl-[0-9a-f]+","object":"chat.completion.chunk","created":\d+/g, '');
    const one = replay(events, true).text;
    const translator = new BedrockStreamTranslator({ model: MODEL, includeUsage: true });
    const pieces = events.map((event) => translator.push(event));
    assert.equal(normalise(pieces.join('') + translator.end()), normalise(one));
    // Nothing is sent before the first content, so a failure up to there can still be retried.
    assert.equal(pieces[0], '');
  });
});

describe('JSON mode: response_format as a forced tool', () => {
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

  test('a JSON schema becomes the one tool Bedrock must call; json_object an object tool', () => {
    const t = translateRequest({ model: 'x', messages: [user()], response_format: { type: 'json_schema', json_schema: { name: 'place', schema } } }, MODEL);
    assert.equal(t.jsonTool, 'place');
    assert.deepEqual(t.dropped, []);
    assert.deepEqual(JSON.parse(t.body).toolConfig, {
      tools: [{ toolSpec: { name: 'place', description: 'Answer with this tool: its input is the answer, as JSON that matches the input schema.', inputSchema: { json: schema } } }],
      toolChoice: { tool: { name: 'place' } },
    });
    const object = translateRequest({ model: 'x', messages: [user()], response_format: { type: 'json_object' } }, MODEL);
    assert.equal(object.jsonTool, 'json');
    assert.deepEqual(JSON.parse(object.body).toolConfig.toolChoice, { tool: { name: 'json' } });
    // With the client's own tools, the model must call one of them or the JSON tool.
    const withTools = translateRequest(
      { model: 'x', messages: [user()], tools: [{ type: 'function', function: { name: 'get_weather' } }], response_format: { type: 'json_object' } },
      MODEL,
    );
    assert.deepEqual(JSON.parse(withTools.body).toolConfig.toolChoice, { any: {} });
    assert.equal(translateRequest({ model: 'x', messages: [user()], response_format: { type: 'text' } }, MODEL).jsonTool, undefined);
  });

  test("the forced tool's input is the answer's text, with finish stop", () => {
    const answer = JSON.parse(
      translateAnswer(converse([{ text: 'ignored' }, { toolUse: { toolUseId: 't1', name: 'place', input: { city: 'Paris' } } }], 'tool_use'), MODEL, 'place').json,
    ) as Sent;
    assert.equal(answer.choices[0].message.content, '{"city":"Paris"}');
    assert.equal(answer.choices[0].message.tool_calls, undefined);
    assert.equal(answer.choices[0].finish_reason, 'stop');
  });

  test("streamed, the forced tool's input fragments are content deltas", () => {
    const { chunks, done } = replay(
      [start, textDelta(0, 'ignored'), stop(0), toolStart(1, 't1', 'place'), toolDelta(1, '{"city":'), toolDelta(1, '"Paris"}'), stop(1), messageStop('tool_use'), metadata],
      false,
      'place',
    );
    const content = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, '{"city":"Paris"}');
    assert.ok(chunks.every((chunk) => chunk.choices[0]?.delta?.tool_calls === undefined));
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'stop');
    assert.ok(done);
  });
});
