/**
 * OpenAI's Responses API in the simulators, driven with the openai SDK: the `response` object,
 * a function-call round trip, structured output, the typed stream, errors and faults, and which
 * flavours serve it (the hosts that document it) and where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Response, ResponseInputItem, ResponseStreamEvent, Tool } from 'openai/resources/responses/responses';
import { SIM_API_KEY, startFireworksSim } from '../sim/fireworks.js';
import type { FireworksSim } from '../sim/fireworks.js';
import { FAMILY_SIM_API_KEY, SIM_FLAVOURS, simApiKey, startOpenAICompatibleSim } from '../sim/openai-compatible.js';
import { simFault, withSim } from './helpers.js';

const MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
const DEFAULT_TEXT = 'Hello from the Fireworks simulator.';

const WEATHER: Tool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'days'],
    additionalProperties: false,
  },
  strict: true,
};

async function withFireworksSim(fn: (sim: FireworksSim, client: OpenAI) => Promise<void>): Promise<void> {
  const sim = await startFireworksSim({ port: 0 });
  try {
    await fn(sim, new OpenAI({ baseURL: sim.url, apiKey: SIM_API_KEY, maxRetries: 0 }));
  } finally {
    await sim.close();
  }
}

/** The frames of a raw Responses stream: each an `event:` line and a `data:` line of the same type. */
function eventFrames(text: string): { event: string; data: Record<string, any> }[] {
  assert.ok(text.endsWith('\n\n'), 'the stream ends with a blank line');
  return text.split('\n\n').filter((f) => f.length > 0).map((frame) => {
    const [eventLine, dataLine, ...rest] = frame.split('\n');
    assert.equal(rest.length, 0, `one event and one data line: ${frame}`);
    assert.ok(eventLine!.startsWith('event: ') && dataLine!.startsWith('data: '), frame);
    const event = eventLine!.slice('event: '.length);
    const data = JSON.parse(dataLine!.slice('data: '.length)) as Record<string, any>;
    assert.equal(data.type, event, 'data.type repeats the event name');
    return { event, data };
  });
}

const TEXT_EVENTS = [
  'response.created',
  'response.in_progress',
  'response.output_item.added',
  'response.content_part.added',
  'response.output_text.delta',
  'response.output_text.delta',
  'response.output_text.delta',
  'response.output_text.done',
  'response.content_part.done',
  'response.output_item.done',
  'response.completed',
];

test('a text answer is a response object in the reference\'s shape, saying what chat says', async () => {
  await withFireworksSim(async (_sim, client) => {
    const response = await client.responses.create({
      model: MODEL,
      input: 'Say hello',
      instructions: 'Be brief.',
      metadata: { team: 'sim' },
      temperature: 0.5,
      store: false,
    });
    assert.match(response.id, /^resp_[0-9a-f]{32}$/);
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.equal(response.model, MODEL);
    assert.ok(Math.abs(response.created_at - Date.now() / 1000) < 60);
    assert.equal(response.error, null);
    assert.equal(response.incomplete_details, null);
    assert.equal(response.instructions, 'Be brief.');
    assert.deepEqual(response.metadata, { team: 'sim' });
    assert.equal(response.temperature, 0.5);
    assert.equal(response.top_p, 1);
    assert.equal((response as unknown as { store: boolean }).store, false);
    assert.equal(response.parallel_tool_calls, true);
    assert.equal(response.tool_choice, 'auto');
    assert.deepEqual(response.tools, []);
    assert.deepEqual(response.text, { format: { type: 'text' } });
    assert.equal(response.max_output_tokens, null);
    assert.equal(response.previous_response_id, null);
    assert.equal(response.output.length, 1);
    const message = response.output[0]!;
    assert.match(message.id!, /^msg_/);
    assert.deepEqual(message, {
      type: 'message', id: message.id, status: 'completed', role: 'assistant',
      content: [{ type: 'output_text', text: DEFAULT_TEXT, annotations: [] }],
    });
    assert.equal(response.output_text, DEFAULT_TEXT);
    // Input tokens: the instructions' and the input's words, as chat counts its messages'.
    assert.deepEqual(response.usage, {
      input_tokens: 4, input_tokens_details: { cached_tokens: 0 },
      output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 9,
    });

    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }],
    });
    assert.equal(response.output_text, chat.choices[0]!.message.content);
    assert.equal(response.usage!.input_tokens, chat.usage!.prompt_tokens);
    assert.equal(response.usage!.output_tokens, chat.usage!.completion_tokens);
  });
});

test('a function-call round trip: the model calls the tool, is given its output, and answers in text', async () => {
  await withFireworksSim(async (_sim, client) => {
    const input: ResponseInputItem[] = [{ role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris this week?' }] }];
    const first = await client.responses.create({ model: MODEL, input, tools: [WEATHER] });
    assert.equal(first.status, 'completed');
    assert.equal(first.output.length, 1);
    const call = first.output[0]!;
    assert.equal(call.type, 'function_call');
    if (call.type !== 'function_call') return;
    assert.match(call.id!, /^fc_/);
    assert.match(call.call_id, /^call_/);
    assert.equal(call.name, 'get_weather');
    assert.equal(call.status, 'completed');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'sim', days: 1 });
    assert.equal(first.output_text, '');
    assert.deepEqual(first.tools, [{ ...WEATHER }]);

    // The agent loop: the call and its output go back (the SDK's item as it came), and the model answers.
    const second = await client.responses.create({
      model: MODEL,
      tools: [WEATHER],
      input: [...input, call, { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' }],
    });
    assert.equal(second.output[0]!.type, 'message');
    assert.equal(second.output_text, 'Tool result received: {"temp_c":21}');

    // Chat decides the same way: a tool when the user spoke last, none when told so.
    const none = await client.responses.create({ model: MODEL, input, tools: [WEATHER], tool_choice: 'none' });
    assert.equal(none.output_text, DEFAULT_TEXT);
    const named = await client.responses.create({
      model: MODEL,
      input: [...input, call, { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
      tools: [{ type: 'function', name: 'other', parameters: null, strict: false }, WEATHER],
      tool_choice: { type: 'function', name: 'get_weather' },
    });
    const forced = named.output[0]!;
    assert.ok(forced.type === 'function_call' && forced.name === 'get_weather', 'a named tool is always called');
  });
});

test('text.format json_schema answers a value of the schema, as chat\'s response_format does', async () => {
  await withFireworksSim(async (_sim, client) => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string', enum: ['a', 'b'] }, minItems: 2 } },
      required: ['name', 'tags'],
      additionalProperties: false,
    };
    const response = await client.responses.create({
      model: MODEL,
      input: 'A record, please',
      text: { format: { type: 'json_schema', name: 'record', schema, strict: true } },
    });
    assert.deepEqual(JSON.parse(response.output_text), { name: 'sim', tags: ['a', 'b'] });
    assert.deepEqual(response.text, { format: { type: 'json_schema', name: 'record', schema, strict: true } });
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'A record, please' }],
      response_format: { type: 'json_schema', json_schema: { name: 'record', schema, strict: true } },
    });
    assert.equal(response.output_text, chat.choices[0]!.message.content);

    const object = await client.responses.create({ model: MODEL, input: 'Answer in JSON', text: { format: { type: 'json_object' } } });
    assert.deepEqual(JSON.parse(object.output_text), { result: DEFAULT_TEXT });
  });
});

test('a stream is OpenAI\'s typed events in order, and the SDK\'s stream helper builds the same response', async () => {
  await withFireworksSim(async (sim, client) => {
    const res = await fetch(`${sim.url}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SIM_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: 'Say hello', stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const frames = eventFrames(await res.text());
    assert.deepEqual(frames.map((f) => f.event), TEXT_EVENTS);
    assert.deepEqual(frames.map((f) => f.data.sequence_number), frames.map((_f, i) => i));
    assert.ok(!frames.some((f) => JSON.stringify(f.data).includes('[DONE]')), 'no [DONE]: the Responses API ends with response.completed');

    const [created, inProgress, added, partAdded] = frames.map((f) => f.data);
    assert.equal(created!.response.status, 'in_progress');
    assert.deepEqual(created!.response.output, []);
    assert.equal(created!.response.usage, null);
    assert.deepEqual(inProgress!.response, created!.response);
    const itemId = added!.item.id as string;
    assert.deepEqual(added, {
      type: 'response.output_item.added', output_index: 0,
      item: { type: 'message', id: itemId, status: 'in_progress', role: 'assistant', content: [] }, sequence_number: 2,
    });
    assert.deepEqual(partAdded, {
      type: 'response.content_part.added', item_id: itemId, output_index: 0, content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] }, sequence_number: 3,
    });
    const deltas = frames.filter((f) => f.event === 'response.output_text.delta').map((f) => f.data);
    for (const delta of deltas) {
      assert.deepEqual(Object.keys(delta).sort(), ['content_index', 'delta', 'item_id', 'logprobs', 'output_index', 'sequence_number', 'type']);
      assert.equal(delta.item_id, itemId);
    }
    assert.equal(deltas.map((d) => d.delta).join(''), DEFAULT_TEXT);
    const done = frames.find((f) => f.event === 'response.output_text.done')!.data;
    assert.equal(done.text, DEFAULT_TEXT);
    const completed = frames.at(-1)!.data.response;
    assert.equal(completed.status, 'completed');
    assert.equal(completed.output[0].content[0].text, DEFAULT_TEXT);
    assert.deepEqual(completed.usage, { input_tokens: 2, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 7 });

    // The SDK's helper accepts the stream and builds the final response from it.
    const stream = client.responses.stream({ model: MODEL, input: 'Say hello' });
    const seen: ResponseStreamEvent[] = [];
    stream.on('event', (event) => seen.push(event));
    const final = await stream.finalResponse();
    assert.deepEqual(seen.map((e) => e.type), TEXT_EVENTS);
    assert.equal(final.output_text, DEFAULT_TEXT);
    assert.equal(final.status, 'completed');
    assert.deepEqual(final.usage, completed.usage);

    // The stream's last response is the whole answer's, but for ids and time.
    const whole = await fetch(`${sim.url}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SIM_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: 'Say hello' }),
    }).then((r) => r.json() as Promise<Response>);
    const strip = (r: Response) => ({ ...r, id: '', created_at: 0, output: r.output.map((o) => ({ ...o, id: '' })) });
    assert.deepEqual(strip(completed), strip(whole));
  });
});

test('a streamed function call: the item, its argument deltas, their done event with the name, the item done', async () => {
  await withFireworksSim(async (_sim, client) => {
    const stream = client.responses.stream({ model: MODEL, input: 'Weather in Paris?', tools: [WEATHER] });
    const seen: ResponseStreamEvent[] = [];
    stream.on('event', (event) => seen.push(event));
    const final = await stream.finalResponse();
    assert.deepEqual(seen.map((e) => e.type), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const added = seen[2]!;
    assert.ok(added.type === 'response.output_item.added' && added.item.type === 'function_call');
    assert.equal(added.item.status, 'in_progress');
    assert.equal(added.item.arguments, '');
    const argsDone = seen[6]!;
    assert.ok(argsDone.type === 'response.function_call_arguments.done');
    assert.equal(argsDone.name, 'get_weather');
    assert.equal(argsDone.item_id, added.item.id);
    const call = final.output[0]!;
    assert.ok(call.type === 'function_call');
    assert.equal(call.arguments, argsDone.arguments);
    assert.deepEqual(JSON.parse(call.arguments), { city: 'sim', days: 1 });
  });
});

test('max_output_tokens cuts the text: status incomplete, and a stream ends with response.incomplete', async () => {
  await withFireworksSim(async (_sim, client) => {
    const content = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    const response = await client.responses.create(withSim({ model: MODEL, input: 'Talk', max_output_tokens: 16 }, { content }));
    assert.equal(response.status, 'incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(response.output[0]!.type === 'message' && response.output[0]!.status, 'incomplete');
    assert.equal(response.output_text.split(' ').length, 16);
    assert.equal(response.usage!.output_tokens, 16);

    const stream = client.responses.stream(withSim({ model: MODEL, input: 'Talk', max_output_tokens: 16 }, { content }));
    const seen: string[] = [];
    stream.on('event', (event) => seen.push(event.type));
    const final = await stream.finalResponse();
    assert.equal(seen.at(-1), 'response.incomplete');
    assert.equal(final.status, 'incomplete');
  });
});

test('requests OpenAI refuses are 400s naming the parameter, thrown as the SDK\'s BadRequestError', async () => {
  await withFireworksSim(async (_sim, client) => {
    const refused = async (params: Record<string, unknown>, message: RegExp, param: string | undefined): Promise<void> => {
      const err = await client.responses.create({ model: MODEL, ...params } as any).then(
        () => assert.fail(`accepted: ${JSON.stringify(params)}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.match(err.message, message);
      assert.equal((err.error as { param?: string }).param, param);
    };
    await refused({}, /Missing required parameter: 'input'/, 'input');
    await refused({ input: 42 }, /Invalid type for 'input'/, 'input');
    await refused({ messages: [{ role: 'user', content: 'hi' }] }, /moved to 'input'/, 'messages');
    await refused({ input: 'hi', max_tokens: 20 }, /moved to 'max_output_tokens'/, 'max_tokens');
    await refused({ input: 'hi', response_format: { type: 'json_object' } }, /moved to 'text.format'/, 'response_format');
    await refused({ input: [{ role: 'robot', content: 'hi' }] }, /Invalid value: 'robot'/, 'input[0].role');
    await refused({ input: [{ role: 'user', content: [{ type: 'output_text', text: 'x' }] }] }, /Invalid value: 'output_text'/, 'input[0].content[0].type');
    await refused({ input: [{ type: 'function_call_output', call_id: 'call_x', output: 'x' }] }, /No tool call found for function call output with call_id call_x/, 'input');
    // Chat's nested tool shape is not the Responses API's flat one.
    await refused({ input: 'hi', tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }, /Missing required parameter: 'tools\[0\]\.name'/, 'tools[0].name');
    await refused({ input: 'hi', tools: [WEATHER], tool_choice: { type: 'function', name: 'nope' } }, /Tool choice 'nope' not found/, 'tool_choice');
    await refused({ input: 'hi', text: { format: { type: 'json_schema', schema: {} } } }, /Missing required parameter: 'text.format.name'/, 'text.format.name');
    await refused({ input: 'hi', text: { format: { type: 'json_object' } } }, /must contain the word 'json'/, 'input');
    await refused({ input: 'hi', max_output_tokens: 5 }, /Expected a value >= 16/, 'max_output_tokens');
    await refused({ input: 'hi', temperature: 3 }, /Expected a value <= 2/, 'temperature');
    // Nothing is stored, so no earlier response can be continued.
    await refused({ input: 'hi', previous_response_id: 'resp_abc' }, /Previous response with id 'resp_abc' not found/, 'previous_response_id');
  });
});

test('faults: an error status from `sim` or from `user` (simFault), a 429 with retry-after, a stream cut short', async () => {
  await withFireworksSim(async (sim, client) => {
    await assert.rejects(
      client.responses.create(withSim({ model: MODEL, input: 'hi' }, { status: 500 })),
      (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 500,
    );
    const limited = await client.responses.create({ model: MODEL, input: 'hi', user: simFault({ status: 429, key: 'rl' }) }).then(
      () => assert.fail('a 429 was asked for'),
      (e: unknown) => e,
    );
    assert.ok(limited instanceof OpenAI.RateLimitError);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(sim.requestsFor('rl').length, 1);
    // fail_first: the retry of the same logical request succeeds.
    const retrying = new OpenAI({ baseURL: sim.url, apiKey: SIM_API_KEY, maxRetries: 1, timeout: 5_000 });
    const recovered = await retrying.responses.create({ model: MODEL, input: 'hi', user: simFault({ status: 503, fail_first: 1, key: 'ff', retry_after: '0' }) });
    assert.equal(recovered.output_text, DEFAULT_TEXT);
    assert.deepEqual(sim.requestsFor('ff').map((r) => r.attempt), [1, 2]);

    const cut = client.responses.stream(withSim({ model: MODEL, input: 'hi' }, { cut_after: 1 }));
    cut.on('error', () => {});
    await assert.rejects(cut.finalResponse());
  });
});

test('a host that documents no Responses API answers 404 there, as it would; chat still works', async () => {
  for (const name of ['deepseek', 'cerebras', 'deepinfra', 'gemini']) {
    assert.equal(SIM_FLAVOURS[name]!.responsesPath, undefined, `${name} serves no Responses API`);
  }
  const sim = await startOpenAICompatibleSim({ flavour: 'deepseek', port: 0 });
  try {
    const client = new OpenAI({ baseURL: sim.url, apiKey: FAMILY_SIM_API_KEY, maxRetries: 0 });
    await assert.rejects(
      client.responses.create({ model: 'deepseek-chat', input: 'hi' }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && err.status === 404,
    );
    const chat = await client.chat.completions.create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.choices[0]!.message.content, DEFAULT_TEXT);
  } finally {
    await sim.close();
  }
});

test('every flavour that serves the Responses API does so at its host\'s path, with its key', async () => {
  const native = Object.values(SIM_FLAVOURS).filter((f) => f.responsesPath !== undefined).map((f) => f.name).sort();
  assert.deepEqual(native, ['azure', 'fireworks', 'groq', 'mistral', 'ollama', 'openai', 'openrouter', 'perplexity', 'together', 'vllm', 'xai']);
  for (const name of native) {
    const flavour = SIM_FLAVOURS[name]!;
    const sim = await startOpenAICompatibleSim({ flavour: name, port: 0 });
    try {
      const headers: Record<string, string> = flavour.auth === 'api-key' ? { 'api-key': simApiKey(name) } : {};
      const client = new OpenAI({
        baseURL: sim.url + flavour.responsesPath!.slice(0, -'/responses'.length),
        apiKey: simApiKey(name),
        defaultHeaders: headers,
        maxRetries: 0,
      });
      const model = flavour.models.find((m) => m.kind === 'chat')!.id;
      const response = await client.responses.create({ model, input: 'hi' });
      assert.equal(response.output_text, DEFAULT_TEXT, name);
      assert.equal(response.model, model, name);
      const last = sim.requests.at(-1)!;
      assert.equal(last.path, flavour.basePath + flavour.responsesPath, `${name}: path`);
      await assert.rejects(
        new OpenAI({ baseURL: client.baseURL, apiKey: 'wrong', defaultHeaders: flavour.auth === 'api-key' ? { 'api-key': 'wrong' } : {}, maxRetries: 0 })
          .responses.create({ model, input: 'hi' }),
        (err: unknown) => err instanceof OpenAI.AuthenticationError,
        `${name}: a wrong key`,
      );
    } finally {
      await sim.close();
    }
  }
});

test('Azure: the Responses API is the v1 API, with no deployment and no dated api-version', async () => {
  const sim = await startOpenAICompatibleSim({ flavour: 'azure', port: 0 });
  try {
    const post = (path: string) => fetch(sim.origin + path, {
      method: 'POST',
      headers: { 'api-key': FAMILY_SIM_API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', input: 'hi' }),
    });
    assert.equal((await post('/openai/v1/responses')).status, 200);
    assert.equal((await post('/openai/v1/responses?api-version=preview')).status, 200);
    const dated = await post('/openai/v1/responses?api-version=2024-10-21');
    assert.equal(dated.status, 400);
    assert.deepEqual(await dated.json(), { error: { code: 'BadRequest', message: 'API version not supported' } });
    assert.equal((await post('/openai/responses?api-version=2024-10-21')).status, 404);
    assert.equal((await post('/openai/deployments/gpt-4o/responses?api-version=2024-10-21')).status, 404);
  } finally {
    await sim.close();
  }
});
