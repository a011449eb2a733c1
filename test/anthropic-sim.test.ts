/**
 * The Anthropic simulator, checked against the official SDK (`@anthropic-ai/sdk`, which parses
 * answers, streams and errors as it does against api.anthropic.com) and, for framing and headers
 * the SDK hides, over plain HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, {
  APIError,
  AuthenticationError,
  BadRequestError,
  ContentTooLargeError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  PermissionDeniedError,
  RateLimitError,
} from '@anthropic-ai/sdk';
import { ANTHROPIC_SIM_API_KEY, ANTHROPIC_SIM_MODELS, startAnthropicSim } from '../sim/anthropic.js';
import type { AnthropicSim, AnthropicSimFault } from '../sim/anthropic.js';

const MODEL = 'claude-haiku-4-5';
const MODEL_ID = 'claude-haiku-4-5-20251001';
const DEFAULT_TEXT = 'Hello from the Anthropic simulator.';
const HELLO = [{ role: 'user' as const, content: 'Say hello' }];
const HEADERS = { 'x-api-key': ANTHROPIC_SIM_API_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const WEATHER: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Weather for a place',
  input_schema: {
    type: 'object',
    properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1 } },
    required: ['location'],
  },
};
const TIME: Anthropic.Tool = { name: 'get_time', input_schema: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] } };
// A model fills the required properties; the optional ones (unit, days) are left out.
const WEATHER_INPUT = { location: 'sim' };

async function withSim(fn: (sim: AnthropicSim, client: Anthropic) => Promise<void>): Promise<void> {
  const sim = await startAnthropicSim({ port: 0 });
  try {
    await fn(sim, new Anthropic({ apiKey: ANTHROPIC_SIM_API_KEY, baseURL: sim.url, maxRetries: 0 }));
  } finally {
    await sim.close();
  }
}

/** Body fields the SDK's types do not know (the simulator's `sim`, removed sampling parameters). */
function extra<T>(params: T, fields: Record<string, unknown>): T {
  return { ...params, ...fields };
}

function post(sim: AnthropicSim, path: string, body: unknown, headers: Record<string, string> = HEADERS): Promise<Response> {
  return fetch(sim.url + path, { method: 'POST', headers, body: JSON.stringify(body) });
}

/** An SSE body as `[event, data]` pairs, checking that every frame is `event:` then `data:`. */
function frames(text: string): [string, any][] {
  assert.ok(text.endsWith('\n\n'), 'the stream ends with a blank line');
  return text.slice(0, -2).split('\n\n').map((frame) => {
    const m = /^event: ([a-z_]+)\ndata: (.*)$/.exec(frame);
    assert.ok(m, `frame is one event line and one data line: ${JSON.stringify(frame)}`);
    const data = JSON.parse(m[2]!);
    assert.equal(data.type, m[1], 'data.type names the event');
    return [m[1]!, data];
  });
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail');
}

test('messages.create: a Message with text, resolved model, usage; the SDK sends 2026-10-21 and a Bearer key', async () => {
  await withSim(async (sim, client) => {
    const { data: message, response } = await client.messages.create({ model: MODEL, max_tokens: 256, system: 'Be brief', messages: HELLO }).withResponse();
    assert.match(message.id, /^msg_01\w{22}$/);
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.equal(message.model, MODEL_ID);
    assert.deepEqual(message.content, [{ type: 'text', text: DEFAULT_TEXT }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.stop_sequence, null);
    assert.deepEqual(message.usage, { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 });
    assert.match(response.headers.get('request-id') ?? '', /^req_011C\w{20}$/);
    for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
      assert.match(response.headers.get(`anthropic-ratelimit-${kind}-limit`) ?? '', /^\d+$/);
      assert.match(response.headers.get(`anthropic-ratelimit-${kind}-remaining`) ?? '', /^\d+$/);
      assert.match(response.headers.get(`anthropic-ratelimit-${kind}-reset`) ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    const sent = sim.requests[0]!;
    assert.equal(sent.headers['anthropic-version'], '2026-10-21');
    assert.equal(sent.headers.authorization, `Bearer ${ANTHROPIC_SIM_API_KEY}`);
    assert.equal(sent.headers['x-api-key'], undefined);
  });
});

test('x-api-key and 2023-06-01 work too; a missing or wrong key is 401, a missing version 400, all with request_id', async () => {
  await withSim(async (sim) => {
    const ok = await post(sim, '/v1/messages', { model: 'claude-3-5-haiku-latest', max_tokens: 50, messages: HELLO, temperature: 0.2, top_k: 5 });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as any).model, 'claude-3-5-haiku-20241022');

    const cases: [Record<string, string>, number, string, string][] = [
      [{ 'anthropic-version': '2023-06-01' }, 401, 'authentication_error', 'x-api-key header is required'],
      [{ 'x-api-key': 'sk-wrong', 'anthropic-version': '2023-06-01' }, 401, 'authentication_error', 'invalid x-api-key'],
      [{ authorization: 'Bearer nope', 'anthropic-version': '2023-06-01' }, 401, 'authentication_error', 'invalid x-api-key'],
      [{ 'x-api-key': ANTHROPIC_SIM_API_KEY }, 400, 'invalid_request_error', 'anthropic-version: header is required'],
    ];
    for (const [headers, status, type, message] of cases) {
      const res = await post(sim, '/v1/messages', { model: MODEL, max_tokens: 5, messages: HELLO }, { ...headers, 'content-type': 'application/json' });
      assert.equal(res.status, status);
      const requestId = res.headers.get('request-id');
      assert.match(requestId ?? '', /^req_/);
      assert.deepEqual(await res.json(), { type: 'error', error: { type, message }, request_id: requestId });
    }
    const badVersion = await post(sim, '/v1/messages', { model: MODEL, max_tokens: 5, messages: HELLO }, { ...HEADERS, 'anthropic-version': '2024-01-01' });
    assert.equal(badVersion.status, 400);

    const unknown = await fetch(sim.url + '/v1/nope', { headers: HEADERS });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as any).error.type, 'not_found_error');
    const wrongMethod = await fetch(sim.url + '/v1/messages', { headers: HEADERS });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
  });
});

test('a stream is the documented event sequence, each frame an event line and a data line', async () => {
  await withSim(async (sim) => {
    const res = await post(sim, '/v1/messages', { model: MODEL, max_tokens: 100, messages: HELLO, stream: true });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const events = frames(await res.text());
    assert.deepEqual(events.map(([name]) => name), [
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop',
    ]);
    const start = events[0]![1].message;
    assert.deepEqual({ ...start, id: 'x' }, {
      id: 'x', type: 'message', role: 'assistant', model: MODEL_ID, content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    });
    assert.deepEqual(events[1]![1], { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    assert.equal(events.slice(3, 6).map(([, d]) => d.delta.text).join(''), DEFAULT_TEXT);
    assert.deepEqual(events[7]![1], {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { input_tokens: 2, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 },
    });
  });
});

test('messages.stream: finalMessage() and text events assemble the reply; chunks and content shape it', async () => {
  await withSim(async (sim, client) => {
    const stream = client.messages.stream(extra({ model: MODEL, max_tokens: 100, messages: HELLO }, { sim: { chunks: 7, content: 'one two three four five six seven eight' } }));
    const pieces: string[] = [];
    stream.on('text', (delta) => pieces.push(delta));
    const message = await stream.finalMessage();
    assert.equal(pieces.length, 7);
    assert.deepEqual(message.content, [{ type: 'text', text: 'one two three four five six seven eight' }]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.usage.output_tokens, 8);
    assert.equal(sim.requests[0]!.json.stream, true);
  });
});

test('tool use: input_json_delta fragments reassemble into the schema sample; create gives the same tool_use', async () => {
  await withSim(async (_sim, client) => {
    const stream = client.messages.stream(extra({ model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER, TIME] }, { sim: { tool_fragments: 12 } }));
    const fragments: string[] = [];
    stream.on('inputJson', (partial) => fragments.push(partial));
    const message = await stream.finalMessage();
    assert.equal(fragments.length, 12);
    assert.equal(fragments.join(''), JSON.stringify(WEATHER_INPUT));
    assert.equal(message.stop_reason, 'tool_use');
    assert.equal(message.content.length, 1);
    const call = message.content[0] as Anthropic.ToolUseBlock;
    assert.equal(call.type, 'tool_use');
    assert.match(call.id, /^toolu_01\w{22}$/);
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.input, WEATHER_INPUT);

    const named = await client.messages.create({ model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER, TIME], tool_choice: { type: 'tool', name: 'get_time' } });
    assert.equal(named.stop_reason, 'tool_use');
    assert.deepEqual(named.content.map((b) => [b.type, (b as Anthropic.ToolUseBlock).name, (b as Anthropic.ToolUseBlock).input]), [['tool_use', 'get_time', { zone: 'sim' }]]);

    const none = await client.messages.create({ model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER], tool_choice: { type: 'none' } });
    assert.equal(none.stop_reason, 'end_turn');
  });
});

test('after a tool_result the answer is text naming the result; any/tool call again; orphans are refused', async () => {
  await withSim(async (_sim, client) => {
    const first = await client.messages.create({ model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER] });
    const call = first.content[0] as Anthropic.ToolUseBlock;
    const history: Anthropic.MessageParam[] = [
      ...HELLO,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '15 degrees and sunny' }] },
    ];
    const reply = await client.messages.create({ model: MODEL, max_tokens: 200, messages: history, tools: [WEATHER] });
    assert.equal(reply.stop_reason, 'end_turn');
    assert.deepEqual(reply.content, [{ type: 'text', text: 'Tool result received: 15 degrees and sunny' }]);

    const again = await client.messages.create({ model: MODEL, max_tokens: 200, messages: history, tools: [WEATHER], tool_choice: { type: 'any' } });
    assert.equal(again.stop_reason, 'tool_use');

    const orphan: Anthropic.MessageParam[] = [
      ...HELLO,
      { role: 'assistant', content: 'No tool here.' },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01nope', content: 'x' }] },
    ];
    const err = await rejection(client.messages.create({ model: MODEL, max_tokens: 200, messages: orphan, tools: [WEATHER] }));
    assert.ok(err instanceof BadRequestError);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /messages\.2\.content\.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01nope/);

    const unanswered = await rejection(client.messages.create({ model: MODEL, max_tokens: 200, tools: [WEATHER], messages: [...HELLO, { role: 'assistant', content: first.content }, { role: 'user', content: 'and?' }] }));
    assert.ok(unanswered instanceof BadRequestError);
    assert.match(unanswered.message, /`tool_use` ids were found without `tool_result` blocks immediately after/);
  });
});

test('parallel tool calls (fault, through metadata.user_id) unless disable_parallel_tool_use; text before a tool', async () => {
  await withSim(async (sim, client) => {
    const fault = (f: AnthropicSimFault): Anthropic.Metadata => ({ user_id: `sim:${JSON.stringify(f)}` });
    const stream = client.messages.stream({ model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER, TIME], metadata: fault({ parallel_tools: true }) });
    const message = await stream.finalMessage();
    const calls = message.content as Anthropic.ToolUseBlock[];
    assert.deepEqual(calls.map((c) => [c.type, c.name, c.input]), [['tool_use', 'get_weather', WEATHER_INPUT], ['tool_use', 'get_time', { zone: 'sim' }]]);
    assert.notEqual(calls[0]!.id, calls[1]!.id);
    assert.equal(sim.requests[0]!.json.metadata.user_id, 'sim:{"parallel_tools":true}');

    const single = await client.messages.create({
      model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER, TIME],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true }, metadata: fault({ parallel_tools: true }),
    });
    assert.equal(single.content.length, 1);

    const chatty = await client.messages.stream({ model: MODEL, max_tokens: 200, messages: HELLO, tools: [WEATHER], metadata: fault({ text_before_tool: true }) }).finalMessage();
    assert.deepEqual(chatty.content.map((b) => b.type), ['text', 'tool_use']);
    assert.equal((chatty.content[0] as Anthropic.TextBlock).text, "I'll use the get_weather tool.");
  });
});

test('thinking: a signed thinking block before the text, streamed as thinking_delta and signature_delta', async () => {
  await withSim(async (sim, client) => {
    const params = { model: MODEL, max_tokens: 2048, messages: HELLO, thinking: { type: 'enabled' as const, budget_tokens: 1024 } };
    const created = await client.messages.create(params);
    assert.deepEqual(created.content.map((b) => b.type), ['thinking', 'text']);
    const thinking = created.content[0] as Anthropic.ThinkingBlock;
    assert.ok(thinking.thinking.length > 0);
    assert.ok(thinking.signature.length > 0);

    const deltas: string[] = [];
    const stream = client.messages.stream(params);
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta') deltas.push(event.delta.type);
    });
    const streamed = await stream.finalMessage();
    assert.deepEqual(streamed.content, created.content);
    assert.deepEqual(deltas, ['thinking_delta', 'thinking_delta', 'signature_delta', 'text_delta', 'text_delta', 'text_delta']);

    const forced = await rejection(client.messages.create({ ...params, tools: [WEATHER], tool_choice: { type: 'any' } }));
    assert.ok(forced instanceof BadRequestError);
    const budget = await rejection(client.messages.create({ ...params, max_tokens: 1024 }));
    assert.ok(budget instanceof BadRequestError);
    assert.match(budget.message, /max_tokens/);
    assert.equal(sim.requests.length, 4);
  });
});

test('stop_sequences and a small max_tokens cut the text with the matching stop_reason', async () => {
  await withSim(async (_sim, client) => {
    const stopped = await client.messages.create({ model: MODEL, max_tokens: 100, messages: HELLO, stop_sequences: ['Anthropic', 'simulator'] });
    assert.deepEqual(stopped.content, [{ type: 'text', text: 'Hello from the ' }]);
    assert.equal(stopped.stop_reason, 'stop_sequence');
    assert.equal(stopped.stop_sequence, 'Anthropic');

    const short = await client.messages.stream({ model: MODEL, max_tokens: 2, messages: HELLO }).finalMessage();
    assert.deepEqual(short.content, [{ type: 'text', text: 'Hello from' }]);
    assert.equal(short.stop_reason, 'max_tokens');
    assert.equal(short.usage.output_tokens, 2);
  });
});

test('images (base64 and url) are accepted and counted; countTokens counts what create would', async () => {
  await withSim(async (_sim, client) => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
    const messages: Anthropic.MessageParam[] = [{
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/ant.jpg' } },
        { type: 'text', text: 'Describe these two' },
      ],
    }];
    const counted = await client.messages.countTokens({ model: MODEL, messages, system: 'Be brief' });
    assert.deepEqual(counted, { input_tokens: 2 * 1600 + 3 + 2 });
    const answer = await client.messages.create({ model: MODEL, max_tokens: 100, messages, system: 'Be brief' });
    assert.equal(answer.usage.input_tokens, counted.input_tokens);

    const gif = await rejection(client.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp' as 'image/png', data: png } }] }] }));
    assert.ok(gif instanceof BadRequestError);
    const extraField = await rejection(client.messages.countTokens(extra({ model: MODEL, messages }, { max_tokens: 10 })));
    assert.ok(extraField instanceof BadRequestError);
    assert.match(extraField.message, /max_tokens: Extra inputs are not permitted/);
  });
});

test('models.list pages the catalogue newest first; retrieve resolves aliases; unknown models are 404', async () => {
  await withSim(async (_sim, client) => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      assert.equal(model.type, 'model');
      assert.match(model.created_at, /^\d{4}-\d\d-\d\dT/);
      assert.ok(model.display_name.startsWith('Claude '));
      ids.push(model.id);
    }
    assert.deepEqual(ids, ANTHROPIC_SIM_MODELS.map((m) => m.id));
    assert.ok(ids.includes('claude-3-5-haiku-20241022'));

    const paged: string[] = [];
    for await (const model of client.models.list({ limit: 2 })) paged.push(model.id);
    assert.deepEqual(paged, ids);
    const page = await client.models.list({ limit: 3 });
    assert.equal(page.has_more, true);
    assert.equal(page.first_id, ids[0]);
    assert.equal(page.last_id, ids[2]);

    const alias = await client.models.retrieve('claude-haiku-4-5');
    assert.equal(alias.id, 'claude-haiku-4-5-20251001');
    assert.equal(alias.max_tokens, 64_000);
    const missing = await rejection(client.models.retrieve('claude-nope'));
    assert.ok(missing instanceof NotFoundError);

    const unknown = await rejection(client.messages.create({ model: 'claude-nope-1', max_tokens: 10, messages: HELLO }));
    assert.ok(unknown instanceof NotFoundError);
    assert.equal(unknown.type, 'not_found_error');
    assert.equal(unknown.apiMessage, 'model: claude-nope-1');
  });
});

test('each error status raises its SDK error class with the Anthropic type, request id and retry-after', async () => {
  await withSim(async (_sim, client) => {
    const cases: [number, Function, string][] = [
      [400, BadRequestError, 'invalid_request_error'],
      [401, AuthenticationError, 'authentication_error'],
      [403, PermissionDeniedError, 'permission_error'],
      [404, NotFoundError, 'not_found_error'],
      [413, ContentTooLargeError, 'request_too_large'],
      [429, RateLimitError, 'rate_limit_error'],
      [500, InternalServerError, 'api_error'],
      [529, OverloadedError, 'overloaded_error'],
    ];
    for (const [status, cls, type] of cases) {
      const err = await rejection(client.messages.create(extra({ model: MODEL, max_tokens: 10, messages: HELLO }, { sim: { status } })));
      assert.ok(err instanceof cls, `${status} raises ${cls.name}, got ${err?.constructor?.name}`);
      assert.ok(err instanceof APIError);
      assert.equal(err.status, status);
      assert.equal(err.type, type);
      assert.match(err.requestID ?? '', /^req_/);
      assert.equal((err.error as { request_id?: string }).request_id, err.requestID);
      assert.equal(err.headers.get('retry-after'), status === 429 ? '1' : null);
    }
    const overloaded = await rejection(client.messages.create(extra({ model: MODEL, max_tokens: 10, messages: HELLO }, { sim: { status: 529, retry_after: '3', error_message: 'busy' } })));
    assert.equal(overloaded.apiMessage, 'busy');
    assert.equal(overloaded.headers.get('retry-after'), '3');
  });
});

test('fail_first with a key fails the first attempts only, so retries can be tested', async () => {
  await withSim(async (sim) => {
    const client = new Anthropic({ apiKey: ANTHROPIC_SIM_API_KEY, baseURL: sim.url, maxRetries: 2 });
    const user_id = 'sim:{"status":529,"fail_first":2,"key":"k1","retry_after":"0"}';
    const message = await client.messages.create({ model: MODEL, max_tokens: 10, messages: HELLO, metadata: { user_id } });
    assert.equal(message.stop_reason, 'end_turn');
    assert.deepEqual(sim.requestsFor('k1').map((r) => r.attempt), [1, 2, 3]);

    const reset = await rejection(new Anthropic({ apiKey: ANTHROPIC_SIM_API_KEY, baseURL: sim.url, maxRetries: 0 }).messages.create(extra({ model: MODEL, max_tokens: 10, messages: HELLO }, { sim: { reset: true } })));
    assert.equal(reset.constructor.name, 'APIConnectionError');
  });
});

test('a mid-stream error event makes the SDK throw, after N deltas or right after message_start', async () => {
  await withSim(async (sim, client) => {
    for (const after of [0, 2]) {
      const texts: string[] = [];
      const stream = client.messages.stream(extra({ model: MODEL, max_tokens: 100, messages: HELLO }, { sim: { stream_error: { after } } }));
      stream.on('text', (t) => texts.push(t));
      const err = await rejection(stream.finalMessage());
      assert.ok(err instanceof APIError);
      assert.equal(err.type, 'overloaded_error');
      assert.match(err.message, /Overloaded/);
      assert.equal(texts.length, after);
    }
    const raw = await post(sim, '/v1/messages', { model: MODEL, max_tokens: 100, messages: HELLO, stream: true, sim: { stream_error: { after: 1, type: 'api_error', message: 'boom' } } });
    const events = frames(await raw.text());
    assert.deepEqual(events.map(([name]) => name), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'error']);
    assert.deepEqual(events.at(-1)![1], { type: 'error', error: { type: 'api_error', message: 'boom' } });
  });
});

test('cut_after drops the connection and stall_after goes quiet after N deltas; delay_ms holds the headers', async () => {
  await withSim(async (sim, client) => {
    const texts: string[] = [];
    const cut = client.messages.stream(extra({ model: MODEL, max_tokens: 100, messages: HELLO }, { sim: { cut_after: 2 } }));
    cut.on('text', (t) => texts.push(t));
    const err = await rejection(cut.finalMessage());
    assert.ok(err instanceof Error);
    assert.deepEqual(texts, ['Hello ', 'from the ']);

    const controller = new AbortController();
    const stalled = await post(sim, '/v1/messages', { model: MODEL, max_tokens: 100, messages: HELLO, stream: true, sim: { stall_after: 1, key: 'stall' } });
    const reader = stalled.body!.getReader();
    let text = '';
    const started = Date.now();
    while (!text.includes('"text_delta"')) text += new TextDecoder().decode((await reader.read()).value);
    const next = await Promise.race([reader.read().then(() => 'more'), new Promise((r) => setTimeout(() => r('quiet'), 150))]);
    assert.equal(next, 'quiet');
    await reader.cancel();
    controller.abort();
    assert.ok(Date.now() - started < 2000);

    const before = Date.now();
    await client.messages.create(extra({ model: MODEL, max_tokens: 10, messages: HELLO }, { sim: { delay_ms: 120 } }));
    assert.ok(Date.now() - before >= 110);
  });
});

test('API version 2026-10-21 refuses temperature/top_p/top_k, assistant documents and user citations; 2023-06-01 keeps them', async () => {
  await withSim(async (_sim, client) => {
    for (const field of ['temperature', 'top_p', 'top_k']) {
      const err = await rejection(client.messages.create(extra({ model: MODEL, max_tokens: 10, messages: HELLO }, { [field]: field === 'top_k' ? 5 : 0.5 })));
      assert.ok(err instanceof BadRequestError);
      assert.equal(err.apiMessage, `${field}: Extra inputs are not permitted`);
    }
    const document: Anthropic.DocumentBlockParam = { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'a note' } };
    const inAssistant: Anthropic.MessageParam[] = [...HELLO, { role: 'assistant', content: [document] }, { role: 'user', content: 'go on' }];
    const citation = { type: 'char_location' as const, cited_text: 'x', document_index: 0, document_title: null, start_char_index: 0, end_char_index: 1 };
    const cited: Anthropic.MessageParam[] = [{ role: 'user', content: [{ type: 'text', text: 'quoted', citations: [citation] }] }];
    for (const messages of [inAssistant, cited]) {
      const err = await rejection(client.messages.create({ model: MODEL, max_tokens: 10, messages }));
      assert.ok(err instanceof BadRequestError);
    }

    const legacy = new Anthropic({ apiKey: ANTHROPIC_SIM_API_KEY, baseURL: _sim.url, maxRetries: 0, defaultHeaders: { 'anthropic-version': '2023-06-01' } });
    for (const messages of [inAssistant, cited]) {
      const ok = await legacy.messages.create(extra({ model: MODEL, max_tokens: 10, messages }, { temperature: 0.5, top_p: 0.9, top_k: 5 }));
      assert.equal(ok.stop_reason, 'end_turn');
    }
    const hot = await rejection(legacy.messages.create(extra({ model: MODEL, max_tokens: 10, messages: HELLO }, { temperature: 1.5 })));
    assert.ok(hot instanceof BadRequestError);
  });
});

test('validation refuses what the API refuses, with its messages', async () => {
  await withSim(async (sim) => {
    const base = { model: MODEL, max_tokens: 10, messages: HELLO };
    const cases: [Record<string, unknown>, string][] = [
      [{ model: MODEL, messages: HELLO }, 'max_tokens: Field required'],
      [{ max_tokens: 10, messages: HELLO }, 'model: Field required'],
      [{ model: MODEL, max_tokens: 10 }, 'messages: Field required'],
      [{ ...base, max_tokens: 0 }, 'max_tokens: Input should be greater than or equal to 1'],
      [{ ...base, max_tokens: 100_000 }, `max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for ${MODEL_ID}`],
      [{ ...base, frequency_penalty: 1 }, 'frequency_penalty: Extra inputs are not permitted'],
      [{ ...base, messages: [] }, 'messages: at least one message is required'],
      [{ ...base, messages: [{ role: 'assistant', content: 'hi' }] }, 'messages: first message must use the "user" role'],
      [{ ...base, messages: [...HELLO, { role: 'user', content: 'again' }] }, 'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row'],
      [{ ...base, messages: [{ role: 'system', content: 'x' }, ...HELLO] }, "messages.0.role: Input should be 'user' or 'assistant'"],
      [{ ...base, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }, 'messages: text content blocks must be non-empty'],
      [{ ...base, system: [{ type: 'image' }] }, "system.0: Input should be a text block with a string 'text'"],
      [{ ...base, tools: [{ name: 'f' }] }, 'tools.0.custom.input_schema: Field required'],
      [{ ...base, tools: [{ name: 'f', input_schema: { type: 'array' } }] }, "tools.0.custom.input_schema.type: Input should be 'object'"],
      [{ ...base, tool_choice: { type: 'any' } }, 'tool_choice may only be specified while providing tools.'],
      [{ ...base, metadata: { user: 'x' } }, 'metadata.user: Extra inputs are not permitted'],
    ];
    for (const [body, message] of cases) {
      const res = await post(sim, '/v1/messages', body);
      assert.equal(res.status, 400, message);
      const error = ((await res.json()) as any).error;
      assert.deepEqual(error, { type: 'invalid_request_error', message });
    }
    const notJson = await fetch(sim.url + '/v1/messages', { method: 'POST', headers: HEADERS, body: '{"model":' });
    assert.equal(notJson.status, 400);
    // The `sim` field is the simulator's own; it is never refused.
    const withSimField = await post(sim, '/v1/messages', { ...base, sim: {} });
    assert.equal(withSimField.status, 200);
  });
});
