// The OpenAI-compatible family through the real openai client: every provider's chat, stream and
// an error against the simulator in that provider's flavour, with what reached the "provider"
// (path, credential header, api-version, body bytes) checked; provider/model routing; model lists.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { SIM_FLAVOURS, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { RecordedRequest } from '../sim/fireworks.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { providerSpecs } from '../src/providers/index.js';
import type { PassThroughSpec } from '../src/providers/types.js';
import { createGatewayServer } from '../src/server.js';
import { withSim } from './helpers.js';

const FAMILY = [
  'openai', 'azure', 'groq', 'together', 'mistral', 'deepseek', 'openrouter',
  'xai', 'cerebras', 'deepinfra', 'perplexity', 'gemini', 'ollama', 'vllm',
] as const;
type Member = (typeof FAMILY)[number];

const CLIENT_KEY = 'sim-key-client';
const SERVER_KEY = 'sim-key-server';
const AZURE_API_VERSION = '2024-10-21';

const specs = new Map(providerSpecs.map((spec) => [spec.name, spec]));
const sims = new Map<string, OpenAICompatibleSim>();
const gateways: { close(): Promise<void> }[] = [];

function spec(name: string): PassThroughSpec {
  const found = specs.get(name);
  assert.ok(found && found.kind === 'pass-through', `${name} is a registered pass-through provider`);
  return found;
}

function sim(name: string): OpenAICompatibleSim {
  return sims.get(name)!;
}

/** The first chat model of the flavour's catalogue (on Azure, the deployment). */
function chatModel(name: string): string {
  return SIM_FLAVOURS[name]!.models.find((m) => m.kind === 'chat')!.id;
}

/** Every provider's base URL on its simulator, so that no request can leave this machine. */
function localBaseUrls(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, s] of sims) env[spec(name).baseUrlEnv] = s.url;
  return env;
}

/** An in-process gateway on 127.0.0.1; `env` adds to the simulators' base URLs. */
async function startGateway(env: Record<string, string>): Promise<string> {
  const config = loadConfig({ ...localBaseUrls(), LOG_LEVEL: 'silent', MAX_RETRIES: '0', ...env });
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const gateway = createGatewayServer(config, createLogger(config.LOG_LEVEL, discard));
  const address = await gateway.listen(0, '127.0.0.1');
  gateways.push({ close: () => gateway.shutdown(0) });
  return `http://127.0.0.1:${address.port}`;
}

/** Server keys for every provider of the family (and Fireworks). */
function serverKeys(): Record<string, string> {
  const env: Record<string, string> = { FIREWORKS_API_KEY: 'fw_server_key' };
  for (const name of FAMILY) env[spec(name).apiKeyEnv] = SERVER_KEY;
  return env;
}

/** An openai client on the gateway; `sent` collects the request bodies it wrote. */
function clientFor(origin: string, options: { provider?: string; apiKey?: string; sent?: string[] } = {}): OpenAI {
  const headers: Record<string, string> = {};
  if (options.provider !== undefined) headers['x-provider'] = options.provider;
  const sent = options.sent;
  return new OpenAI({
    baseURL: `${origin}/v1`,
    apiKey: options.apiKey ?? CLIENT_KEY,
    defaultHeaders: headers,
    maxRetries: 0,
    fetch: async (url, init) => {
      if (sent && typeof init?.body === 'string') sent.push(init.body);
      return fetch(url, init);
    },
  });
}

/** The path (with query) the provider's host receives for a client path after /v1. */
function expectedPath(name: string, route: string, model: string): string {
  const base = SIM_FLAVOURS[name]!.basePath;
  if (name !== 'azure') return base + route;
  return `${base}/deployments/${encodeURIComponent(model)}${route}?api-version=${AZURE_API_VERSION}`;
}

/** The credential headers the host received: the key in its header, and nothing in the other. */
function assertCredential(name: string, record: RecordedRequest, key: string | undefined): void {
  const auth = spec(name).auth;
  if (key === undefined) {
    assert.equal(record.headers.authorization, undefined, `${name}: no authorization header`);
    assert.equal(record.headers['api-key'], undefined, `${name}: no api-key header`);
    return;
  }
  if (auth?.header === 'api-key') {
    assert.equal(record.headers['api-key'], key, `${name}: api-key header`);
    assert.equal(record.headers.authorization, undefined, `${name}: never an authorization header`);
  } else {
    assert.equal(record.headers.authorization, `Bearer ${key}`, `${name}: bearer key`);
    assert.equal(record.headers['api-key'], undefined, `${name}: no api-key header`);
  }
}

function lastRequest(name: string): RecordedRequest {
  const requests = sim(name).requests;
  assert.ok(requests.length > 0, `${name}: the simulator saw a request`);
  return requests[requests.length - 1]!;
}

before(async () => {
  for (const name of ['fireworks', ...FAMILY]) sims.set(name, await startOpenAICompatibleSim({ flavour: name, port: 0 }));
});

after(async () => {
  await Promise.all(gateways.map((gateway) => gateway.close()));
  await Promise.all([...sims.values()].map((s) => s.close()));
});

describe('the registry and the simulator agree on each host', () => {
  test('every member is registered with its own variables, and its default base URL has the path its host serves', () => {
    for (const name of FAMILY) {
      const member = spec(name);
      const upper = name.toUpperCase();
      assert.equal(member.baseUrlEnv, `${upper}_BASE_URL`);
      assert.equal(member.apiKeyEnv, `${upper}_API_KEY`);
      assert.match(member.docs, /^https:\/\//, `${name} cites its docs`);
      const flavour = SIM_FLAVOURS[name]!;
      assert.equal(member.requestIdHeader, flavour.requestIdHeader, `${name}: request-id header`);
      if (name === 'azure') {
        assert.equal(member.defaultBaseUrl, undefined, 'Azure has no public host');
        continue;
      }
      const pathname = new URL(member.defaultBaseUrl!).pathname.replace(/\/$/, '');
      assert.equal(pathname, flavour.basePath, `${name}: base path`);
    }
    assert.equal(spec('ollama').keyOptional, true);
    assert.equal(spec('vllm').keyOptional, true);
    assert.deepEqual(spec('azure').auth, { header: 'api-key' });
  });

  test('Azure paths name the deployment (percent-encoded), keep the query and add api-version once', () => {
    const upstreamPath = spec('azure').upstreamPath!;
    const settings = { options: { apiVersion: AZURE_API_VERSION } };
    const v = `api-version=${AZURE_API_VERSION}`;
    assert.equal(upstreamPath('/chat/completions', 'gpt-4o', settings), `/deployments/gpt-4o/chat/completions?${v}`);
    assert.equal(upstreamPath('/completions', 'my model/1', settings), `/deployments/my%20model%2F1/completions?${v}`);
    assert.equal(upstreamPath('/embeddings?x=1', 'emb', settings), `/deployments/emb/embeddings?${v}&x=1`);
    assert.equal(upstreamPath('/models', undefined, settings), `/models?${v}`);
    assert.equal(upstreamPath('/models/gpt-4o', undefined, settings), `/models/gpt-4o?${v}`);
    assert.equal(upstreamPath('/chat/completions?api-version=2025-01-01-preview', 'd', settings), '/deployments/d/chat/completions?api-version=2025-01-01-preview');
    assert.equal(upstreamPath('/files', undefined, { options: { apiVersion: '2024 10' } }), '/files?api-version=2024%2010');
  });

  test('Azure\'s Responses API is its v1 API: no deployment in the path, no dated api-version', () => {
    const upstreamPath = spec('azure').upstreamPath!;
    const settings = { options: { apiVersion: AZURE_API_VERSION } };
    assert.equal(upstreamPath('/responses', 'gpt-4o', settings), '/v1/responses');
    assert.equal(upstreamPath('/responses?x=1', 'gpt-4o', settings), '/v1/responses?x=1');
    assert.equal(upstreamPath('/responses/resp_1/input_items', undefined, settings), '/v1/responses/resp_1/input_items');
    // Look-alikes stay deployment or api-version paths.
    assert.equal(upstreamPath('/responsesx', 'gpt-4o', settings), `/responsesx?api-version=${AZURE_API_VERSION}`);
    assert.equal(upstreamPath('/chat/completions', 'gpt-4o', settings), `/deployments/gpt-4o/chat/completions?api-version=${AZURE_API_VERSION}`);
  });

  test('Perplexity\'s Responses API lives under /v1, its chat at the root', () => {
    const upstreamPath = spec('perplexity').upstreamPath!;
    const settings = { options: {} };
    assert.equal(upstreamPath('/responses', 'sonar', settings), '/v1/responses');
    assert.equal(upstreamPath('/responses?x=1', 'sonar', settings), '/v1/responses?x=1');
    assert.equal(upstreamPath('/chat/completions', 'sonar', settings), '/chat/completions');
  });

  test('a provider cites a Responses API page exactly when its simulator serves one, at the path the gateway sends to', () => {
    for (const name of ['fireworks', ...FAMILY]) {
      const member = spec(name);
      const served = SIM_FLAVOURS[name]!.responsesPath;
      if (member.responsesApi === undefined) {
        assert.equal(served, undefined, `${name}: no Responses API documented, none simulated`);
        continue;
      }
      assert.match(member.responsesApi, /^https:\/\//, `${name} cites its Responses API page`);
      const settings = { options: { apiVersion: AZURE_API_VERSION } };
      const path = member.upstreamPath ? member.upstreamPath('/responses', 'm', settings) : '/responses';
      assert.equal(path, served, `${name}: the gateway's path is the simulator's`);
    }
  });

  test('Together\'s bare model array becomes OpenAI\'s list, its items untouched', () => {
    const modelsAnswer = spec('together').modelsAnswer!;
    assert.equal(modelsAnswer('[{"id":"a","object":"model"}]'), '{"object":"list","data":[{"id":"a","object":"model"}]}');
    assert.equal(modelsAnswer('{"object":"list","data":[]}'), '{"object":"list","data":[]}');
  });
});

describe('each member through the openai client', () => {
  let origin: string;
  before(async () => {
    origin = await startGateway(serverKeys());
  });

  for (const name of FAMILY) {
    test(`${name}: chat, stream and a wrong key, with the path, credential and body the host received`, async () => {
      const model = chatModel(name);
      const sent: string[] = [];
      const client = clientFor(origin, { provider: name, sent });
      const messages = [{ role: 'user' as const, content: `Hello ${name}, say something.` }];

      const { data, response } = await client.chat.completions.create({ model, messages, temperature: 0.5 }).withResponse();
      const text = data.choices[0]!.message.content;
      assert.ok(text && text.length > 0, `${name}: an answer`);
      let record = lastRequest(name);
      assert.equal(record.method, 'POST');
      assert.equal(record.path, expectedPath(name, '/chat/completions', model));
      assertCredential(name, record, CLIENT_KEY);
      assert.equal(record.body, sent.at(-1), `${name}: body bytes unchanged`);
      const requestIdHeader = spec(name).requestIdHeader;
      if (requestIdHeader !== undefined) {
        // The host's id comes back as x-upstream-request-id; the simulator also puts it in the answer's id.
        assert.equal(`chatcmpl-${response.headers.get('x-upstream-request-id')}`, data.id, `${name}: upstream request id`);
      }

      const stream = await client.chat.completions.create({ model, messages, stream: true });
      let streamed = '';
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(streamed, text, `${name}: the stream assembles the same answer`);
      record = lastRequest(name);
      assert.equal(record.path, expectedPath(name, '/chat/completions', model));
      assert.equal(record.json.stream, true);
      assertCredential(name, record, CLIENT_KEY);
      // Hosts that take stream_options.include_usage are asked for usage the client did not ask for;
      // the rest of the body goes byte for byte. Mistral (which refuses the field) and Fireworks (whose
      // streams carry usage unasked) get it unchanged.
      const asked = spec(name).streamUsage === true ? `{"stream_options":{"include_usage":true},${sent.at(-1)!.slice(1)}` : sent.at(-1);
      assert.equal(record.body, asked, `${name}: stream body bytes unchanged but for the usage asked for`);
      assert.equal(spec(name).streamUsage === true, !['mistral', 'cerebras', 'perplexity', 'fireworks'].includes(name));

      const wrong = clientFor(origin, { provider: name, apiKey: 'wrong-key' });
      await assert.rejects(wrong.chat.completions.create({ model, messages }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `${name}: ${String(err)}`);
        assert.equal(err.status, 401);
        return true;
      });
      assertCredential(name, lastRequest(name), 'wrong-key');
    });
  }

  test('a provider fault comes back as the client\'s error class (429 from groq, 404 from azure)', async () => {
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const groq = clientFor(origin, { provider: 'groq' });
    await assert.rejects(
      groq.chat.completions.create(withSim({ model: chatModel('groq'), messages }, { status: 429, retry_after: '0' })),
      (err: unknown) => err instanceof OpenAI.RateLimitError && err.status === 429,
    );
    const azure = clientFor(origin, { provider: 'azure' });
    await assert.rejects(
      azure.chat.completions.create(withSim({ model: 'missing-deployment', messages }, { status: 404 })),
      (err: unknown) => err instanceof OpenAI.NotFoundError && /deployment/i.test(err.message),
    );
  });

  test('embeddings on Azure go to the embedding deployment, with api-version', async () => {
    const client = clientFor(origin, { provider: 'azure' });
    const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    assert.equal(result.data[0]!.embedding.length, 1536);
    const record = lastRequest('azure');
    assert.equal(record.path, expectedPath('azure', '/embeddings', 'text-embedding-3-small'));
    assertCredential('azure', record, CLIENT_KEY);
  });

  test('OpenRouter\'s attribution headers are passed on; other client headers are not', async () => {
    const client = new OpenAI({
      baseURL: `${origin}/v1`,
      apiKey: CLIENT_KEY,
      maxRetries: 0,
      defaultHeaders: { 'x-provider': 'openrouter', 'HTTP-Referer': 'https://app.example.com', 'X-Title': 'Example App', 'x-other': 'kept back' },
    });
    await client.chat.completions.create({ model: chatModel('openrouter'), messages: [{ role: 'user', content: 'hi' }] });
    const record = lastRequest('openrouter');
    assert.equal(record.headers['http-referer'], 'https://app.example.com');
    assert.equal(record.headers['x-title'], 'Example App');
    assert.equal(record.headers['x-other'], undefined);
  });

  test('without a client key the server key is sent, in the provider\'s header', async () => {
    for (const name of ['azure', 'groq'] as Member[]) {
      const client = clientFor(origin, { provider: name, apiKey: 'use-server-key' });
      await client.chat.completions.create({ model: chatModel(name), messages: [{ role: 'user', content: 'hi' }] });
      assertCredential(name, lastRequest(name), SERVER_KEY);
    }
  });
});

describe('keyless local servers', () => {
  test('ollama and vllm without a key anywhere are sent no credential at all', async () => {
    const origin = await startGateway({});
    for (const name of ['ollama', 'vllm'] as Member[]) {
      const client = clientFor(origin, { provider: name, apiKey: 'use-server-key' });
      const answer = await client.chat.completions.create({ model: chatModel(name), messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(answer.choices[0]!.message.content);
      const record = lastRequest(name);
      assert.equal(record.path, expectedPath(name, '/chat/completions', chatModel(name)));
      assertCredential(name, record, undefined);
    }
  });

  test('a keyed provider without any key is refused by the gateway, before the host', async () => {
    const origin = await startGateway({});
    const before = sim('mistral').requests.length;
    const client = clientFor(origin, { provider: 'mistral', apiKey: 'use-server-key' });
    await assert.rejects(
      client.chat.completions.create({ model: chatModel('mistral'), messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => err instanceof OpenAI.AuthenticationError,
    );
    assert.equal(sim('mistral').requests.length, before);
  });
});

describe('provider/model routing', () => {
  let origin: string;
  before(async () => {
    origin = await startGateway(serverKeys());
  });

  test('groq/llama-3.1-8b-instant without x-provider goes to groq as llama-3.1-8b-instant', async () => {
    const sent: string[] = [];
    const client = clientFor(origin, { sent });
    await client.chat.completions.create({ model: 'groq/llama-3.1-8b-instant', messages: [{ role: 'user', content: 'hi' }] });
    const record = lastRequest('groq');
    assert.equal(record.path, '/openai/v1/chat/completions');
    assert.equal(record.json.model, 'llama-3.1-8b-instant');
    // Only the model string changed, in place.
    assert.equal(record.body, sent.at(-1)!.replace('"groq/llama-3.1-8b-instant"', '"llama-3.1-8b-instant"'));
  });

  test('the prefix is taken once: openrouter/openai/gpt-4o-mini reaches OpenRouter as openai/gpt-4o-mini', async () => {
    const client = clientFor(origin);
    await client.chat.completions.create({ model: 'openrouter/openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(lastRequest('openrouter').json.model, 'openai/gpt-4o-mini');
  });

  test('accounts/fireworks/models/... is no provider prefix: it still goes to Fireworks', async () => {
    const model = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
    const client = clientFor(origin, { apiKey: 'fw_client_key' });
    const answer = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.model, model);
    const record = lastRequest('fireworks');
    assert.equal(record.path, '/inference/v1/chat/completions');
    assert.equal(record.json.model, model);
  });

  test('a prefixed model on Azure names the deployment without the prefix', async () => {
    const client = clientFor(origin);
    await client.chat.completions.create({ model: 'azure/gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(lastRequest('azure').path, expectedPath('azure', '/chat/completions', 'gpt-4o'));
  });
});

describe('GET /v1/models', () => {
  test('with x-provider: together, its bare array arrives as OpenAI\'s list', async () => {
    const origin = await startGateway(serverKeys());
    const response = await fetch(`${origin}/v1/models`, { headers: { 'x-provider': 'together', authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { object: string; data: { id: string }[] };
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data.map((m) => m.id), SIM_FLAVOURS.together!.models.map((m) => m.id));
    const page = await clientFor(origin, { provider: 'together' }).models.list();
    assert.deepEqual(page.data.map((m) => m.id), SIM_FLAVOURS.together!.models.map((m) => m.id));
    assert.equal(lastRequest('together').path, '/v1/models');
  });

  test('with x-provider: azure, the list is asked with api-version and api-key', async () => {
    const origin = await startGateway(serverKeys());
    const page = await clientFor(origin, { provider: 'azure' }).models.list();
    assert.deepEqual(page.data.map((m) => m.id), SIM_FLAVOURS.azure!.models.map((m) => m.id));
    const record = lastRequest('azure');
    assert.equal(record.path, `/openai/models?api-version=${AZURE_API_VERSION}`);
    assertCredential('azure', record, CLIENT_KEY);
  });

  test('without x-provider: the providers with a server key, ids prefixed, a failing one left out', async () => {
    const origin = await startGateway({
      FIREWORKS_API_KEY: 'fw_server_key',
      GROQ_API_KEY: SERVER_KEY,
      TOGETHER_API_KEY: SERVER_KEY,
      AZURE_API_KEY: SERVER_KEY,
      // Refused by its host (401): left out, not a failure of the whole list.
      XAI_API_KEY: 'not-a-sim-key',
    });
    const response = await fetch(`${origin}/v1/models`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { object: string; data: { id: string }[] };
    assert.equal(body.object, 'list');
    const ids = new Set(body.data.map((m) => m.id));
    for (const name of ['fireworks', 'groq', 'together', 'azure']) {
      for (const model of SIM_FLAVOURS[name]!.models) assert.ok(ids.has(`${name}/${model.id}`), `${name}/${model.id} listed`);
    }
    for (const id of ids) {
      const prefix = id.slice(0, id.indexOf('/'));
      assert.ok(specs.has(prefix), `${id} names its provider`);
      assert.notEqual(prefix, 'xai', 'the failing provider is left out');
      // Providers without a server key (here all keyed others) are not asked.
      assert.ok(['fireworks', 'groq', 'together', 'azure', 'ollama', 'vllm'].includes(prefix), `${id}: only providers with a key (or none needed)`);
    }
  });
});
