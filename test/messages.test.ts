// `/v1/messages` served by providers that do not speak Anthropic's Messages API: the Anthropic SDK
// (1.14.0) talks to the gateway, which translates to chat completions (the Fireworks simulator, the
// OpenAI-compatible simulator as Groq) or on to Bedrock's Converse (the Bedrock simulator), and
// back: messages, streams with their exact event sequence, tool use, errors as the SDK's classes.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic, { AuthenticationError, BadRequestError, OverloadedError, RateLimitError } from '@anthropic-ai/sdk';
import { request } from 'undici';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY, startBedrockSim, type BedrockSim } from '../sim/bedrock.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { FAMILY_SIM_API_KEY, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { KEY, MODEL, simFault, startGateway } from './helpers.js';

let fireworks: FireworksSim;
let groq: OpenAICompatibleSim;
let bedrock: BedrockSim;
let gateway: GatewayServer;
let origin: string;

interface Backend {
  readonly provider: string;
  readonly model: string;
  /** The key the client sends (the server's is used for Bedrock). */
  readonly key: string;
  /** Whether a wrong client key reaches the provider (Bedrock signs with the server's credentials). */
  readonly keyChecked: boolean;
}

const BACKENDS: readonly Backend[] = [
  { provider: 'fireworks', model: MODEL, key: KEY, keyChecked: true },
  { provider: 'groq', model: 'llama-3.1-8b-instant', key: FAMILY_SIM_API_KEY, keyChecked: true },
  { provider: 'bedrock', model: 'anthropic.claude-3-5-haiku-20241022-v1:0', key: 'use-server-key', keyChecked: false },
];

/** A config file that maps Claude Code's model names to the Fireworks simulator's model. */
function aliasFile(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gateway-aliases-')), 'gateway.yaml');
  writeFileSync(path, `model_aliases:\n  claude-sonnet-4-5-20250929: fireworks/${MODEL}\n  claude-haiku-4-5-20251001: fireworks/${MODEL}\n`);
  return path;
}

before(async () => {
  fireworks = await startFireworksSim({ port: 0 });
  groq = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
  bedrock = await startBedrockSim({ port: 0 });
  const started = await startGateway({
    FIREWORKS_BASE_URL: fireworks.url,
    FIREWORKS_API_KEY: KEY,
    GROQ_BASE_URL: groq.url,
    BEDROCK_BASE_URL: bedrock.url,
    AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-west-2',
    CONFIG_FILE: aliasFile(),
  });
  gateway = started.server;
  origin = started.url.slice(0, -'/v1'.length);
});
after(async () => {
  await gateway.shutdown(0);
  await Promise.all([fireworks.close(), groq.close(), bedrock.close()]);
});

function client(backend: Backend, options: ConstructorParameters<typeof Anthropic>[0] = {}): Anthropic {
  return new Anthropic({ baseURL: origin, apiKey: backend.key, defaultHeaders: { 'x-provider': backend.provider }, maxRetries: 0, ...options });
}

const WEATHER: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Weather for a place',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

/** The event types of a stream, with each run of deltas as one `content_block_delta*`. */
function shape(types: string[]): string[] {
  const out: string[] = [];
  for (const type of types) {
    if (type === 'content_block_delta' && out[out.length - 1] === 'content_block_delta*') continue;
    out.push(type === 'content_block_delta' ? 'content_block_delta*' : type);
  }
  return out;
}

for (const backend of BACKENDS) {
  describe(`the Anthropic SDK, served by ${backend.provider}`, () => {
    test('messages.create: a text answer, its stop reason and usage, the model as the client named it', async () => {
      const message = await client(backend).messages.create({
        model: backend.model,
        max_tokens: 64,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Say hello' }],
      });
      assert.equal(message.type, 'message');
      assert.equal(message.role, 'assistant');
      assert.match(message.id, /^msg_/);
      assert.equal(message.model, backend.model);
      assert.equal(message.content.length, 1);
      assert.equal(message.content[0]!.type, 'text');
      assert.ok((message.content[0] as Anthropic.TextBlock).text.length > 0);
      assert.equal(message.stop_reason, 'end_turn');
      assert.ok(message.usage.input_tokens > 0);
      assert.ok(message.usage.output_tokens > 0);
      // The SDK's request id is the gateway's, as in its logs.
      assert.match(message._request_id ?? '', /^[0-9a-f-]{36}$/);
    });

    test('a request of several hundred KB (a coding agent\'s prompt) is translated whole', async () => {
      const system = 'You are a careful coding agent. '.repeat(12_000);
      const message = await client(backend).messages.create({
        model: backend.model,
        max_tokens: 64,
        system,
        messages: [{ role: 'user', content: 'Say hello' }],
      });
      assert.equal(message.stop_reason, 'end_turn');
      assert.ok(message.usage.input_tokens > 60_000);
    });

    test('messages.stream with text: the exact event sequence, and finalMessage()', async () => {
      const stream = client(backend).messages.stream({ model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
      const types: string[] = [];
      stream.on('streamEvent', (event) => types.push(event.type));
      let text = '';
      stream.on('text', (delta) => (text += delta));
      const final = await stream.finalMessage();
      assert.deepEqual(shape(types), ['message_start', 'content_block_start', 'content_block_delta*', 'content_block_stop', 'message_delta', 'message_stop']);
      assert.equal(final.content.length, 1);
      assert.equal((final.content[0] as Anthropic.TextBlock).text, text);
      assert.ok(text.length > 0);
      assert.equal(final.stop_reason, 'end_turn');
      assert.ok(final.usage.output_tokens > 0);
    });

    test('messages.stream with a tool: finalMessage() holds the tool_use block with its input', async () => {
      const stream = client(backend).messages.stream({
        model: backend.model,
        max_tokens: 256,
        tools: [WEATHER],
        tool_choice: { type: 'tool', name: 'get_weather' },
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
      });
      const final = await stream.finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      const toolUse = final.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use');
      assert.ok(toolUse, JSON.stringify(final.content));
      assert.equal(toolUse.name, 'get_weather');
      assert.match(toolUse.id, /\S/);
      assert.equal(typeof (toolUse.input as { location?: unknown }).location, 'string');
    });

    test('a tool result round trip ends with text', async () => {
      const first = await client(backend).messages.create({
        model: backend.model,
        max_tokens: 256,
        tools: [WEATHER],
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
      });
      const toolUse = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use');
      assert.ok(toolUse, JSON.stringify(first.content));
      const second = await client(backend).messages.create({
        model: backend.model,
        max_tokens: 256,
        tools: [WEATHER],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '18 C and sunny' }] },
        ],
      });
      assert.equal(second.stop_reason, 'end_turn');
      assert.equal(second.content[0]!.type, 'text');
    });

    test("errors in Anthropic's shape, as the SDK's classes", async () => {
      const missing = await client(backend)
        .messages.create({ model: backend.model, messages: [{ role: 'user', content: 'hi' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming)
        .catch((err: unknown) => err);
      assert.ok(missing instanceof BadRequestError, String(missing));
      assert.match(missing.requestID ?? '', /^[0-9a-f-]{36}$/);
      assert.equal((missing.error as { type?: string }).type, 'error');
      assert.equal((missing.error as { error?: { type?: string } }).error?.type, 'invalid_request_error');
      const busy = { model: backend.model, max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };
      await assert.rejects(
        client(backend).messages.create({ ...busy, metadata: { user_id: simFault({ status: 429 }) } }, { headers: { 'x-gateway-max-retries': '0' } }),
        RateLimitError,
      );
      const overloaded = await client(backend)
        .messages.create({ ...busy, metadata: { user_id: simFault({ status: 503 }) } }, { headers: { 'x-gateway-max-retries': '0' } })
        .catch((err: unknown) => err);
      assert.ok(overloaded instanceof OverloadedError, String(overloaded));
      assert.equal(overloaded.status, 529);
      assert.equal((overloaded.error as { error?: { type?: string } }).error?.type, 'overloaded_error');
      if (backend.keyChecked) await assert.rejects(client(backend, { apiKey: 'bad-key' }).messages.create(busy), AuthenticationError);
    });

    test("a stream the provider breaks off ends with Anthropic's error event, which the SDK raises", async () => {
      const stream = client(backend).messages.stream(
        { model: backend.model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }], metadata: { user_id: simFault({ cut_after: 3 }) } },
        { headers: { 'x-gateway-max-retries': '0' } },
      );
      const types: string[] = [];
      stream.on('streamEvent', (event) => types.push(event.type));
      const error = await stream.finalMessage().catch((err: unknown) => err);
      assert.ok(error instanceof Anthropic.APIError, String(error));
      assert.match(String((error as Error).message), /broke off/);
      assert.equal(types[0], 'message_start');
      assert.ok(!types.includes('message_stop'));
    });

    test('count_tokens is a clear 400: only Anthropic counts tokens', async () => {
      const error = await client(backend)
        .messages.countTokens({ model: backend.model, messages: [{ role: 'user', content: 'hi' }] })
        .catch((err: unknown) => err);
      assert.ok(error instanceof BadRequestError, String(error));
      assert.match(error.message, /count tokens/);
    });
  });
}

describe("Claude Code's request shape", () => {
  // Headers and body as Claude Code sends them with ANTHROPIC_BASE_URL pointing at the gateway,
  // ANTHROPIC_AUTH_TOKEN set (a Bearer token) and its model mapped by the gateway's model_aliases.
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json',
    authorization: 'Bearer use-server-key',
    'anthropic-version': '2023-06-01',
    'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
    'anthropic-dangerous-direct-browser-access': 'true',
    'x-app': 'cli',
    'user-agent': 'claude-cli/2.1.37 (external, cli)',
    'x-stainless-lang': 'js',
    'x-stainless-retry-count': '0',
  };
  const body = {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 32000,
    stream: true,
    temperature: 1,
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.37.0d9; cc_entrypoint=cli; cch=fa690;' },
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'You are an interactive CLI tool that helps users with software engineering tasks.', cache_control: { type: 'ephemeral' } },
    ],
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: '<system-reminder>As you answer the user\'s questions, you can use the following context.</system-reminder>' },
          { type: 'text', text: 'List the files here.', cache_control: { type: 'ephemeral' } },
        ],
      },
    ],
    tools: [
      {
        name: 'Bash',
        description: 'Executes a given bash command in a persistent shell session.',
        input_schema: {
          type: 'object',
          properties: { command: { type: 'string', description: 'The command to execute' }, timeout: { type: 'number' } },
          required: ['command'],
          additionalProperties: false,
          $schema: 'http://json-schema.org/draft-07/schema#',
        },
      },
      {
        name: 'Read',
        description: 'Reads a file from the local filesystem.',
        input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'], additionalProperties: false, $schema: 'http://json-schema.org/draft-07/schema#' },
      },
    ],
    tool_choice: { type: 'auto' },
    metadata: { user_id: 'user_2f1e0a_account__session_6b7c5d2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f' },
    thinking: { type: 'enabled', budget_tokens: 4000 },
  };

  test('streamed from a Fireworks model named by model_aliases: the events Claude Code reads, a Bash call', async () => {
    const from = fireworks.requests.length;
    const res = await request(`${origin}/v1/messages?beta=true`, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, text);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    const events = [...text.matchAll(/^event: (\S+)\ndata: (.*)$/gm)].map((m) => ({ type: m[1]!, data: JSON.parse(m[2]!) as Record<string, any> }));
    for (const event of events) assert.equal(event.data.type, event.type);
    assert.deepEqual(shape(events.map((e) => e.type)), [
      'message_start',
      'content_block_start',
      'content_block_delta*',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    assert.equal(events[0]!.data.message.model, 'claude-sonnet-4-5-20250929');
    assert.equal(events[1]!.data.content_block.type, 'tool_use');
    assert.equal(events[1]!.data.content_block.name, 'Bash');
    const input = events.filter((e) => e.type === 'content_block_delta').map((e) => e.data.delta.partial_json as string).join('');
    assert.equal(typeof JSON.parse(input).command, 'string');
    assert.equal(events.at(-2)!.data.delta.stop_reason, 'tool_use');
    // What went to Fireworks: its own model, the system prompt without the per-request billing line.
    const sent = fireworks.requests.slice(from).find((r) => r.path.endsWith('/chat/completions'));
    assert.ok(sent, 'the request reached the Fireworks simulator');
    assert.equal(sent.json.model, MODEL);
    assert.equal(sent.json.stream, true);
    assert.equal(sent.json.messages[0].role, 'system');
    assert.doesNotMatch(JSON.stringify(sent.json.messages[0]), /x-anthropic-billing-header/);
    assert.match(JSON.stringify(sent.json.messages[0]), /You are Claude Code/);
    assert.equal(sent.json.tools[0].function.name, 'Bash');
    // Claude Code's thinking is left out by default (MESSAGES_THINKING=drop): many models refuse reasoning_effort.
    assert.equal(sent.json.reasoning_effort, undefined);
  });

  test('with MESSAGES_THINKING=effort, its thinking goes to the provider as reasoning_effort', async () => {
    const started = await startGateway({ FIREWORKS_BASE_URL: fireworks.url, FIREWORKS_API_KEY: KEY, MESSAGES_THINKING: 'effort' });
    try {
      const from = fireworks.requests.length;
      const res = await request(`${started.url}/messages`, {
        method: 'POST',
        headers: { ...headers, 'x-provider': 'fireworks' },
        body: JSON.stringify({ ...body, model: MODEL, stream: false }),
      });
      assert.equal(res.statusCode, 200, await res.body.text());
      const sent = fireworks.requests.slice(from).find((r) => r.path.endsWith('/chat/completions'));
      assert.equal(sent?.json.reasoning_effort, 'low');
    } finally {
      await started.server.shutdown(0);
    }
  });
});

test("Claude Code's model discovery (GET /v1/models with anthropic-version) lists the model aliases in Anthropic's shape", async () => {
  const anthropic = new Anthropic({ baseURL: origin, apiKey: 'use-server-key', maxRetries: 0 });
  const models: Anthropic.ModelInfo[] = [];
  for await (const model of anthropic.models.list({ limit: 1000 })) models.push(model);
  assert.deepEqual(models.map((model) => model.id), ['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001']);
  assert.equal(models[0]!.type, 'model');
  assert.equal(models[0]!.display_name, `claude-sonnet-4-5-20250929 (fireworks/${MODEL})`);
  assert.match(models[0]!.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // An OpenAI client (no anthropic-version) still gets OpenAI's list.
  const res = await request(`${origin}/v1/models`, { headers: { 'x-provider': 'fireworks', authorization: `Bearer ${KEY}` } });
  assert.equal(((await res.body.json()) as { object?: string }).object, 'list');
});

describe("the gateway's own refusals on /v1/messages are in Anthropic's shape", () => {
  const refusals: { name: string; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; status: number; type: string }[] = [
    { name: 'an unknown provider', headers: { 'x-provider': 'nosuch' }, status: 400, type: 'invalid_request_error' },
    { name: 'a body that is not JSON', body: '{"model":', status: 400, type: 'invalid_request_error' },
    { name: 'no messages', body: '{"model":"m","max_tokens":5}', status: 400, type: 'invalid_request_error' },
    { name: 'the wrong method', method: 'GET', body: '', status: 405, type: 'invalid_request_error' },
    { name: 'no key for a provider that needs one', headers: { 'x-provider': 'groq', 'x-api-key': 'use-server-key' }, status: 401, type: 'authentication_error' },
  ];
  for (const refusal of refusals) {
    test(refusal.name, async () => {
      const res = await request(`${origin}/v1/messages`, {
        method: refusal.method ?? 'POST',
        headers: { 'content-type': 'application/json', 'x-provider': 'fireworks', ...refusal.headers },
        body: refusal.method === 'GET' ? undefined : (refusal.body ?? JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })),
      });
      const body = (await res.body.json()) as { type?: string; error?: { type?: string; message?: string } };
      assert.equal(res.statusCode, refusal.status);
      assert.equal(body.type, 'error');
      assert.equal(body.error?.type, refusal.type);
      assert.equal(typeof body.error?.message, 'string');
      if (refusal.status === 401) assert.match(body.error!.message!, /x-api-key/);
    });
  }
});
