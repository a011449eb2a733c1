// `/v1/responses` through the gateway, with the `openai` SDK (6.49.0) and the Vercel AI SDK's default
// `openai(model)` (@ai-sdk/openai 3.0.139, which speaks the Responses API): passed through to a
// provider that serves it (OpenAI's simulator flavour), translated to chat completions for one that
// does not (DeepSeek's flavour), and on to Anthropic's Messages API and Bedrock's Converse.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import OpenAI, { BadRequestError, RateLimitError } from 'openai';
import type { ResponseInputItem, Tool } from 'openai/resources/responses/responses';
import { request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY, startBedrockSim, type BedrockSim } from '../sim/bedrock.js';
import { FAMILY_SIM_API_KEY, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { simFault, startGateway } from './helpers.js';

let openai: OpenAICompatibleSim;
let deepseek: OpenAICompatibleSim;
let anthropic: AnthropicSim;
let bedrock: BedrockSim;
let gateway: GatewayServer;
let translating: GatewayServer;
let baseURL: string;
let translatingURL: string;

interface Backend {
  readonly provider: string;
  readonly model: string;
}

const TRANSLATED: readonly Backend[] = [
  { provider: 'deepseek', model: 'deepseek-chat' },
  { provider: 'anthropic', model: 'claude-haiku-4-5' },
  { provider: 'bedrock', model: 'anthropic.claude-3-5-haiku-20241022-v1:0' },
];

before(async () => {
  openai = await startOpenAICompatibleSim({ flavour: 'openai', port: 0 });
  deepseek = await startOpenAICompatibleSim({ flavour: 'deepseek', port: 0 });
  anthropic = await startAnthropicSim({ port: 0 });
  bedrock = await startBedrockSim({ port: 0 });
  const env = {
    OPENAI_BASE_URL: openai.url,
    OPENAI_API_KEY: FAMILY_SIM_API_KEY,
    DEEPSEEK_BASE_URL: deepseek.url,
    DEEPSEEK_API_KEY: FAMILY_SIM_API_KEY,
    ANTHROPIC_BASE_URL: anthropic.url,
    ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
    BEDROCK_BASE_URL: bedrock.url,
    AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-west-2',
  };
  ({ server: gateway, url: baseURL } = await startGateway(env));
  // The operator turned OpenAI's own Responses API off: the gateway translates for it too.
  ({ server: translating, url: translatingURL } = await startGateway({ ...env, OPENAI_RESPONSES_API: 'translate' }));
});
after(async () => {
  await gateway.shutdown(0);
  await translating.shutdown(0);
  await Promise.all([openai.close(), deepseek.close(), anthropic.close(), bedrock.close()]);
});

function client(provider: string, options: ConstructorParameters<typeof OpenAI>[0] = {}): OpenAI {
  return new OpenAI({ baseURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': provider }, maxRetries: 0, ...options });
}

const WEATHER: Tool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

describe('a provider that serves the Responses API itself', () => {
  test('responses.create and responses.stream pass through to its /responses', async () => {
    const from = openai.requests.length;
    const created = await client('openai').responses.create({ model: 'gpt-4o-mini', input: 'Say hello', instructions: 'Be brief.' });
    assert.equal(created.status, 'completed');
    assert.ok(created.output_text.length > 0);
    const stream = client('openai').responses.stream({ model: 'gpt-4o-mini', input: 'Say hello' });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, created.output_text);
    const paths = openai.requests.slice(from).map((r) => r.path);
    assert.deepEqual(paths, ['/v1/responses', '/v1/responses']);
  });

  test('turned off in the configuration, the gateway translates it to chat completions instead, with max_completion_tokens', async () => {
    const from = openai.requests.length;
    const created = await new OpenAI({ baseURL: translatingURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'openai' }, maxRetries: 0 })
      .responses.create({ model: 'gpt-4o-mini', input: 'Say hello', max_output_tokens: 64 });
    assert.ok(created.output_text.length > 0);
    assert.deepEqual(openai.requests.slice(from).map((r) => r.path), ['/v1/chat/completions']);
    // OpenAI's name for the limit: its reasoning models refuse max_tokens.
    const sent = openai.requests[from]!.json;
    assert.equal(sent.max_completion_tokens, 64);
    assert.equal(sent.max_tokens, undefined);
  });
});

test('a custom provider declared with responses_api: true gets /v1/responses passed through; without it, translated', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'gateway-responses-')), 'gateway.yaml');
  writeFileSync(
    path,
    [
      'custom_providers:',
      `  - {name: vllm-a, base_url: "${openai.url}", responses_api: true, key_optional: true}`,
      `  - {name: vllm-b, base_url: "${openai.url}", key_optional: true}`,
    ].join('\n'),
  );
  const { server, url } = await startGateway({ CONFIG_FILE: path });
  try {
    for (const [name, expected] of [['vllm-a', '/v1/responses'], ['vllm-b', '/v1/chat/completions']] as const) {
      const from = openai.requests.length;
      const custom = new OpenAI({ baseURL: url, apiKey: FAMILY_SIM_API_KEY, defaultHeaders: { 'x-provider': name }, maxRetries: 0 });
      const response = await custom.responses.create({ model: 'gpt-4o-mini', input: 'Say hello' });
      assert.ok(response.output_text.length > 0);
      assert.deepEqual(openai.requests.slice(from).map((r) => r.path), [expected], name);
    }
  } finally {
    await server.shutdown(0);
  }
});

for (const backend of TRANSLATED) {
  describe(`the Responses API translated for ${backend.provider}`, () => {
    test('responses.create: text, status, usage, the model as the client named it', async () => {
      const response = await client(backend.provider).responses.create({ model: backend.model, input: 'Say hello', instructions: 'Be brief.', max_output_tokens: 64 });
      assert.equal(response.object, 'response');
      assert.equal(response.status, 'completed');
      assert.equal(response.model, backend.model);
      assert.ok(response.output_text.length > 0);
      assert.equal(response.output[0]!.type, 'message');
      assert.ok(response.usage!.input_tokens > 0);
      assert.ok(response.usage!.output_tokens > 0);
    });

    test('a request of several hundred KB is translated whole', async () => {
      const response = await client(backend.provider).responses.create({
        model: backend.model,
        instructions: 'You are a careful coding agent. '.repeat(12_000),
        input: 'Say hello',
        max_output_tokens: 64,
      });
      assert.equal(response.status, 'completed');
      assert.ok(response.usage!.input_tokens > 60_000);
    });

    test('responses.stream: typed events in order, finalResponse() equal to the text streamed', async () => {
      const stream = client(backend.provider).responses.stream({ model: backend.model, input: 'Say hello', max_output_tokens: 64 });
      const types: string[] = [];
      let text = '';
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
      }
      const final = await stream.finalResponse();
      assert.equal(final.output_text, text);
      assert.ok(text.length > 0);
      const distinct = types.filter((type, i) => type !== types[i - 1]);
      assert.deepEqual(distinct, [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
    });

    test('a function call round trip: the call, its output sent back, then text', async () => {
      const first = await client(backend.provider).responses.create({
        model: backend.model,
        input: 'Weather in Paris?',
        tools: [WEATHER],
        tool_choice: 'required',
        max_output_tokens: 256,
      });
      const call = first.output.find((item) => item.type === 'function_call');
      assert.ok(call && call.type === 'function_call', JSON.stringify(first.output));
      assert.equal(call.name, 'get_weather');
      assert.equal(typeof JSON.parse(call.arguments).city, 'string');
      const input: ResponseInputItem[] = [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '18 C and sunny' },
      ];
      const second = await client(backend.provider).responses.create({ model: backend.model, input, tools: [WEATHER], max_output_tokens: 256 });
      assert.equal(second.status, 'completed');
      assert.ok(second.output_text.length > 0);
      assert.equal(second.output.some((item) => item.type === 'function_call'), false);
    });

    test('a streamed function call: its arguments in deltas, whole in finalResponse()', async () => {
      const stream = client(backend.provider).responses.stream({ model: backend.model, input: 'Weather?', tools: [WEATHER], tool_choice: 'required', max_output_tokens: 256 });
      let args = '';
      stream.on('response.function_call_arguments.delta', (event) => (args += event.delta));
      const final = await stream.finalResponse();
      const call = final.output.find((item) => item.type === 'function_call');
      assert.ok(call && call.type === 'function_call');
      assert.equal(call.arguments, args);
      assert.equal(typeof JSON.parse(args).city, 'string');
    });

    test('text.format with a JSON schema gives JSON of that schema', async () => {
      const response = await client(backend.provider).responses.create({
        model: backend.model,
        input: 'A city and its country',
        max_output_tokens: 256,
        text: {
          format: {
            type: 'json_schema',
            name: 'place',
            strict: true,
            schema: { type: 'object', properties: { city: { type: 'string' }, country: { type: 'string' } }, required: ['city', 'country'], additionalProperties: false },
          },
        },
      });
      const place = JSON.parse(response.output_text) as { city?: unknown; country?: unknown };
      assert.equal(typeof place.city, 'string');
      assert.equal(typeof place.country, 'string');
    });

    test('a stream the provider breaks off ends with an error event, which the SDK raises', async () => {
      const stream = client(backend.provider).responses.stream(
        { model: backend.model, input: 'Say hello', max_output_tokens: 64, user: simFault({ cut_after: 3 }) },
        { headers: { 'x-gateway-max-retries': '0' } },
      );
      const types: string[] = [];
      const error = await (async () => {
        for await (const event of stream) types.push(event.type);
      })().catch((err: unknown) => err);
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.match(String((error as Error).message), /broke off/);
      assert.equal(types[0], 'response.created');
      assert.ok(!types.includes('response.completed'));
    });

    test("errors as the SDK's classes; stateful features are a 400 that names them; built-in tools are left out and named", async () => {
      await assert.rejects(
        client(backend.provider).responses.create({ model: backend.model, input: 'hi', user: simFault({ status: 429 }) }, { headers: { 'x-gateway-max-retries': '0' } }),
        RateLimitError,
      );
      const stateful = await client(backend.provider).responses.create({ model: backend.model, input: 'hi', previous_response_id: 'resp_123' }).catch((err: unknown) => err);
      assert.ok(stateful instanceof BadRequestError, String(stateful));
      assert.equal(stateful.param, 'previous_response_id');
      const builtIn = await client(backend.provider)
        .responses.create({ model: backend.model, input: 'hi', tools: [{ type: 'web_search_preview' }] })
        .withResponse();
      assert.equal(builtIn.data.status, 'completed');
      assert.equal(builtIn.response.headers.get('x-gateway-dropped-params'), 'tools[web_search_preview]');
      const retrieve = await client(backend.provider).responses.retrieve('resp_123').catch((err: unknown) => err);
      assert.ok(retrieve instanceof BadRequestError, String(retrieve));
      assert.match(retrieve.message, /stores nothing/);
    });
  });
}

describe('the Vercel AI SDK default openai(model), served by DeepSeek through the gateway', () => {
  // Made once the gateway listens: without a baseURL the SDK would call api.openai.com.
  const ai = () => createOpenAI({ baseURL, apiKey: 'use-server-key', headers: { 'x-provider': 'deepseek' } });

  test('generateText and streamText', async () => {
    const provider = ai();
    const generated = await generateText({ model: provider('deepseek-chat'), prompt: 'Say hello' });
    assert.ok(generated.text.length > 0);
    assert.ok((generated.usage.inputTokens ?? 0) > 0);
    const streamed = streamText({ model: provider('deepseek-chat'), prompt: 'Say hello' });
    assert.equal(await streamed.text, generated.text);
    assert.equal(await streamed.finishReason, 'stop');
  });

  test('a tool loop with its default settings (earlier turns sent as item references)', async () => {
    let calls = 0;
    const result = await generateText({
      model: ai()('deepseek-chat'),
      prompt: 'Weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'The weather in a city',
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: async () => {
            calls++;
            return '18 C and sunny';
          },
        }),
      },
      stopWhen: stepCountIs(3),
    });
    assert.equal(calls, 1);
    assert.equal(result.steps.length, 2);
    assert.ok(result.text.length > 0);
  });
});

test("an item_reference resolves for the API key that was answered with the item, and for no other", async () => {
  const keyed = (key: string) => new OpenAI({ baseURL, apiKey: key, defaultHeaders: { 'x-provider': 'deepseek' }, maxRetries: 0 });
  const first = await keyed('sim-alice').responses.create({ model: 'deepseek-chat', input: 'Say hello' });
  const id = first.output[0]!.id!;
  const input: ResponseInputItem[] = [
    { role: 'user', content: 'Say hello' },
    { type: 'item_reference', id },
    { role: 'user', content: 'Again' },
  ];
  const again = await keyed('sim-alice').responses.create({ model: 'deepseek-chat', input });
  assert.equal(again.status, 'completed');
  const from = deepseek.requests.length;
  await keyed('sim-alice').responses.create({ model: 'deepseek-chat', input });
  assert.equal(deepseek.requests[from]!.json.messages[1].content, first.output_text);
  const other = await keyed('sim-bob').responses.create({ model: 'deepseek-chat', input }).catch((err: unknown) => err);
  assert.ok(other instanceof BadRequestError, String(other));
  assert.equal(other.param, 'input[1].id');
});

test("LangChain's ChatOpenAI with useResponsesApi, served by DeepSeek: invoke, stream, a tool call", async () => {
  const paths: string[] = [];
  const model = new ChatOpenAI({
    model: 'deepseek-chat',
    apiKey: 'use-server-key',
    useResponsesApi: true,
    maxRetries: 0,
    configuration: {
      baseURL,
      defaultHeaders: { 'x-provider': 'deepseek' },
      fetch: (url: string | URL | Request, init?: RequestInit) => {
        paths.push(new URL(url instanceof Request ? url.url : url).pathname);
        return fetch(url, init);
      },
    },
  });
  const answer = await model.invoke('Say hello');
  assert.ok(String(answer.content).length > 0 || (Array.isArray(answer.content) && answer.content.length > 0));
  let streamed = '';
  for await (const chunk of await model.stream('Say hello')) streamed += typeof chunk.content === 'string' ? chunk.content : chunk.text;
  assert.ok(streamed.length > 0);
  const withTools = model.bindTools([{ type: 'function', function: { name: 'get_weather', description: 'The weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }], { tool_choice: 'required' });
  const called = await withTools.invoke('Weather in Paris?');
  assert.equal(called.tool_calls?.[0]?.name, 'get_weather');
  assert.equal(typeof called.tool_calls?.[0]?.args.city, 'string');
  assert.deepEqual([...new Set(paths)], ['/v1/responses']);
});

test('GET /v1/responses/<id> on a provider that does not serve the Responses API: a 400 in OpenAI shape', async () => {
  const res = await request(`${baseURL}/responses/resp_abc`, { headers: { 'x-provider': 'deepseek', authorization: 'Bearer use-server-key' } });
  assert.equal(res.statusCode, 400);
  const body = (await res.body.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'unsupported_route');
  assert.match(body.error.message, /GET "\/v1\/responses\/resp_abc"/);
});
