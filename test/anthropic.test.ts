// The Anthropic provider end to end: the `openai` client (6.49.0) speaks chat completions to the
// gateway, which translates to the Anthropic simulator's Messages API and back. Faults reach the
// simulator through OpenAI's `user` field, which the translation sends as `metadata.user_id`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim, type AnthropicSimFault } from '../sim/anthropic.js';
import type { GatewayServer } from '../src/server.js';
import { simFault, startGateway, uniqueKey } from './helpers.js';

const MODEL = 'claude-haiku-4-5';
let sim: AnthropicSim;
let gateway: GatewayServer;
let legacy: GatewayServer;
let baseURL: string;
let legacyURL: string;

/** A gateway in front of the Anthropic simulator, with its server key. */
function startAnthropicGateway(env: Record<string, string>) {
  return startGateway({ ANTHROPIC_BASE_URL: sim.url, ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY, ...env });
}

before(async () => {
  sim = await startAnthropicSim({ port: 0 });
  ({ server: gateway, url: baseURL } = await startAnthropicGateway({}));
  ({ server: legacy, url: legacyURL } = await startAnthropicGateway({ ANTHROPIC_VERSION: '2023-06-01' }));
});
after(async () => {
  await gateway.shutdown(0);
  await legacy.shutdown(0);
  await sim.close();
});

function client(options: ConstructorParameters<typeof OpenAI>[0] = {}): OpenAI {
  return new OpenAI({ baseURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'anthropic' }, maxRetries: 0, ...options });
}

/** Faults for the simulator, carried by `user`. */
const fault = (spec: AnthropicSimFault): string => simFault(spec);

/** The requests the simulator saw for a fault key, or since `from`. */
function seen(from: number) {
  return sim.requests.slice(from).filter((r) => r.path.startsWith('/v1/messages'));
}

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city', 'unit'] },
  },
};
const time = { type: 'function' as const, function: { name: 'get_time', description: 'The time now' } };

describe('chat', () => {
  test('a plain answer: text, stop, usage; the request goes out as Anthropic wants it', async () => {
    const from = sim.requests.length;
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
        { role: 'developer', content: 'Answer in English.' },
        { role: 'user', content: 'there' },
      ],
      stop: ['STOP'],
      user: 'user-42',
    });
    assert.equal(completion.object, 'chat.completion');
    assert.ok(completion.choices[0]!.message.content!.length > 0);
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.ok(completion.usage!.prompt_tokens > 0 && completion.usage!.completion_tokens > 0);
    assert.equal(completion.usage!.total_tokens, completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    const [sent] = seen(from);
    assert.equal(sent!.path, '/v1/messages');
    assert.equal(sent!.headers['x-api-key'], ANTHROPIC_SIM_API_KEY);
    assert.equal(sent!.headers.authorization, undefined);
    assert.equal(sent!.headers['anthropic-version'], '2026-10-21');
    // Every system and developer message, in order, into `system`; the two user turns merged.
    assert.deepEqual(
      sent!.json.system.map((block: { text: string }) => block.text),
      ['Be brief.', 'Answer in English.'],
    );
    assert.equal(sent!.json.messages.length, 1);
    assert.equal(sent!.json.messages[0].role, 'user');
    assert.equal(sent!.json.max_tokens, 4096);
    assert.deepEqual(sent!.json.stop_sequences, ['STOP']);
    assert.equal(sent!.json.metadata.user_id, 'user-42');
  });

  test("the client's own key goes out as x-api-key, and anthropic-beta is passed on", async () => {
    const from = sim.requests.length;
    await client({ apiKey: 'sk-ant-client-own-key' }).chat.completions.create(
      { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 },
      { headers: { 'anthropic-beta': 'fine-grained-tool-streaming-2025-05-14' } },
    );
    const [sent] = seen(from);
    assert.equal(sent!.headers['x-api-key'], 'sk-ant-client-own-key');
    assert.equal(sent!.headers['anthropic-beta'], 'fine-grained-tool-streaming-2025-05-14');
    assert.equal(sent!.json.max_tokens, 50);
  });

  test('images: a data URL becomes a base64 block, an http URL a url source', async () => {
    const from = sim.requests.length;
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    await client().chat.completions.create({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What are these?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    const blocks = seen(from)[0]!.json.messages[0].content;
    assert.deepEqual(blocks[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } });
    assert.deepEqual(blocks[2], { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } });
  });

  test('under 2026-10-21 temperature is left out and named; under 2023-06-01 it is sent', async () => {
    let from = sim.requests.length;
    const { data, response } = await client()
      .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: 0.2, top_p: 0.9 })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(response.headers.get('x-gateway-dropped-params'), 'temperature, top_p');
    assert.equal(seen(from)[0]!.json.temperature, undefined);

    from = sim.requests.length;
    await client({ baseURL: legacyURL }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: 0.2 });
    const sent = seen(from)[0]!;
    assert.equal(sent.headers['anthropic-version'], '2023-06-01');
    assert.equal(sent.json.temperature, 0.2);
  });

  test('response_format with a JSON schema answers JSON text', async () => {
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'A city and its population' }],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'city', schema: { type: 'object', properties: { name: { type: 'string' }, population: { type: 'integer' } }, required: ['name', 'population'] } },
      },
    });
    const parsed = JSON.parse(completion.choices[0]!.message.content!) as { name: unknown; population: unknown };
    assert.equal(typeof parsed.name, 'string');
    assert.equal(typeof parsed.population, 'number');
    assert.equal(completion.choices[0]!.message.tool_calls, undefined);
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
  });

  test('reasoning_effort turns on extended thinking, which comes back as reasoning_content', async () => {
    const from = sim.requests.length;
    const completion = await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Think.' }], reasoning_effort: 'low' });
    const sent = seen(from)[0]!.json;
    assert.equal(sent.thinking.type, 'enabled');
    assert.ok(sent.max_tokens > sent.thinking.budget_tokens);
    const message = completion.choices[0]!.message as { reasoning_content?: string; content: string | null };
    assert.ok(message.reasoning_content!.length > 0);
    assert.ok(message.content!.length > 0);
  });
});

describe('tools', () => {
  test('a tool call: id kept, arguments as JSON, finish_reason tool_calls; then the tool result round trip', async () => {
    const from = sim.requests.length;
    const first = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weather, time],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    const sent = seen(from)[0]!.json;
    assert.deepEqual(sent.tool_choice, { type: 'any', disable_parallel_tool_use: true });
    assert.deepEqual(sent.tools[1].input_schema, { type: 'object' }, 'a tool without parameters still gets an object schema');
    const call = first.choices[0]!.message.tool_calls![0]!;
    assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.match(call.id, /^toolu_/);
    const args = JSON.parse(call.function.arguments) as { city: unknown; unit: unknown };
    assert.equal(typeof args.city, 'string');

    const second = await client().chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        first.choices[0]!.message,
        { role: 'tool', tool_call_id: call.id, content: '18 degrees and sunny' },
      ],
      tools: [weather, time],
    });
    assert.match(second.choices[0]!.message.content!, /18 degrees and sunny/);
    const replay = seen(from)[1]!.json.messages;
    assert.equal(replay[1].content[0].type, 'tool_use');
    assert.equal(replay[1].content[0].id, call.id);
    assert.deepEqual(replay[2].content[0], { type: 'tool_result', tool_use_id: call.id, content: '18 degrees and sunny' });
  });

  test('a streamed tool call whose arguments arrive in many fragments is reassembled', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [weather],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
      user: fault({ tool_fragments: 30, text_before_tool: true }),
    });
    const calls = new Map<number, { id?: string; name?: string; arguments: string; deltas: number }>();
    let finish: string | null = null;
    let role: string | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      role ??= choice.delta.role;
      finish = choice.finish_reason ?? finish;
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = calls.get(delta.index) ?? { arguments: '', deltas: 0 };
        call.id ??= delta.id;
        call.name ??= delta.function?.name;
        call.arguments += delta.function?.arguments ?? '';
        call.deltas++;
        calls.set(delta.index, call);
      }
    }
    assert.equal(role, 'assistant');
    assert.equal(finish, 'tool_calls');
    assert.deepEqual([...calls.keys()], [0]);
    const call = calls.get(0)!;
    assert.equal(call.name, 'get_weather');
    assert.match(call.id!, /^toolu_/);
    assert.ok(call.deltas >= 10, `arguments came in ${call.deltas} deltas`);
    assert.equal(typeof (JSON.parse(call.arguments) as { city: unknown }).city, 'string');
  });

  test('two parallel tool calls get indices 0 and 1, streamed and not', async () => {
    const params = { model: MODEL, messages: [{ role: 'user' as const, content: 'Weather and time?' }], tools: [weather, time], tool_choice: 'required' as const };
    const whole = await client().chat.completions.create({ ...params, user: fault({ parallel_tools: true }) });
    const calls = whole.choices[0]!.message.tool_calls!;
    assert.equal(calls.length, 2);
    assert.notEqual(calls[0]!.id, calls[1]!.id);

    const stream = await client().chat.completions.create({ ...params, stream: true, user: fault({ parallel_tools: true, tool_fragments: 5 }) });
    const streamed = new Map<number, { id?: string; name?: string; arguments: string }>();
    for await (const chunk of stream) {
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
        const call = streamed.get(delta.index) ?? { arguments: '' };
        call.id ??= delta.id;
        call.name ??= delta.function?.name;
        call.arguments += delta.function?.arguments ?? '';
        streamed.set(delta.index, call);
      }
    }
    assert.deepEqual([...streamed.keys()], [0, 1]);
    for (const call of streamed.values()) {
      assert.match(call.id!, /^toolu_/);
      JSON.parse(call.arguments);
    }
    assert.notEqual(streamed.get(0)!.id, streamed.get(1)!.id);
  });
});

describe('streams', () => {
  test('text streams chunk by chunk, with a usage chunk after the finish when asked', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      user: fault({ chunks: 6 }),
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.ok(text.length > 0);
    assert.ok(chunks.filter((c) => c.choices[0]?.delta?.content).length >= 6);
    const finishAt = chunks.findIndex((c) => c.choices[0]?.finish_reason === 'stop');
    const last = chunks.at(-1)!;
    assert.equal(finishAt, chunks.length - 2);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage!.prompt_tokens > 0 && last.usage!.completion_tokens > 0);
  });

  test('an overloaded_error right after message_start is retried; the client sees one clean stream', async () => {
    const key = uniqueKey('early');
    const from = sim.requests.length;
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      user: fault({ key, fail_first: 1, stream_error: { after: 0, type: 'overloaded_error' } }),
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    assert.equal(seen(from).length, 2);
  });

  test('an error mid-stream reaches the SDK as an error', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      user: fault({ chunks: 5, stream_error: { after: 2, type: 'api_error', message: 'Internal server error' } }),
    });
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
      /Internal server error/,
    );
    assert.ok(text.length > 0);
  });
});

describe('errors', () => {
  const cases: [number, string, new (...args: never[]) => Error][] = [
    [400, 'invalid_request_error', OpenAI.BadRequestError],
    [401, 'authentication_error', OpenAI.AuthenticationError],
    [403, 'permission_error', OpenAI.PermissionDeniedError],
    [404, 'not_found_error', OpenAI.NotFoundError],
    [413, 'request_too_large', OpenAI.APIError],
    [429, 'rate_limit_error', OpenAI.RateLimitError],
    [500, 'api_error', OpenAI.InternalServerError],
  ];
  for (const [status, type, errorClass] of cases) {
    test(`${status} ${type} keeps its status and raises ${errorClass.name}`, async () => {
      const attempt = client().chat.completions.create(
        { model: MODEL, messages: [{ role: 'user', content: 'hi' }], user: fault({ status, error_message: `simulated ${type}` }) },
        { headers: { 'x-gateway-max-retries': '0' } },
      );
      await assert.rejects(attempt, (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.ok(err instanceof errorClass, `${err.constructor.name} is a ${errorClass.name}`);
        assert.equal(err.status, status);
        assert.match(err.message, new RegExp(`simulated ${type}`));
        if (status === 429) assert.ok(err.headers?.get('retry-after'));
        return true;
      });
    });
  }

  test('529 overloaded is retried like a 503, and answers 503 when it persists', async () => {
    const key = uniqueKey('529');
    const from = sim.requests.length;
    const ok = await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], user: fault({ key, status: 529, fail_first: 1 }) });
    assert.equal(ok.object, 'chat.completion');
    assert.equal(seen(from).length, 2);
    await assert.rejects(
      client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], user: fault({ status: 529 }) }),
      (err: InstanceType<typeof OpenAI.APIError>) => err instanceof OpenAI.InternalServerError && err.status === 503 && /Overloaded/.test(err.message),
    );
  });

  test('an unknown model is a 404 from Anthropic; a route Anthropic does not offer is a 400 naming it', async () => {
    await assert.rejects(
      client().chat.completions.create({ model: 'claude-no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
      (err: InstanceType<typeof OpenAI.APIError>) => err instanceof OpenAI.NotFoundError,
    );
    await assert.rejects(
      client().embeddings.create({ model: MODEL, input: 'x' }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && /"anthropic" does not offer POST "\/v1\/embeddings"/.test(err.message),
    );
  });
});

describe('models and routing', () => {
  test('the model list is translated into the OpenAI shape', async () => {
    const page = await client().models.list();
    const ids = page.data.map((model) => model.id);
    assert.ok(ids.includes('claude-haiku-4-5-20251001'), ids.join(', '));
    for (const model of page.data) assert.equal(model.object, 'model');
  });

  test('anthropic/<model> without x-provider goes to Anthropic without its prefix', async () => {
    const from = sim.requests.length;
    const plain = new OpenAI({ baseURL, apiKey: 'use-server-key', maxRetries: 0 });
    const completion = await plain.chat.completions.create({ model: `anthropic/${MODEL}`, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(seen(from)[0]!.json.model, MODEL);
  });

  test('without include_usage a raw stream has no usage chunk and ends with [DONE]', async () => {
    const res = await request(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'anthropic', authorization: 'Bearer use-server-key' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const text = await res.body.text();
    assert.equal(res.headers['content-type'], 'text/event-stream');
    assert.match(text, /data: \[DONE\]\n\n$/);
    assert.equal(text.includes('"usage"'), false, 'no usage chunk unless asked');
  });
});
