// Google's own Gemini API, passed through: the `gemini` provider serves Gemini API clients at
// Google's native routes (beside its OpenAI-compatible layer), bytes untouched, with the model as
// routed and the key in `x-goog-api-key`. Checked first against the simulator's native routes with
// `@google/genai` itself (so the simulator is what the SDK expects), then through the gateway.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiError, GoogleGenAI, Type, type Content } from '@google/genai';
import { request } from 'undici';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { loadConfig } from '../src/config.js';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';

const KEY = 'sim-gemini-key';
const SIGNED_MODEL = 'gemini-3-pro-preview';
const ALIAS = 'team-pro';
// The key a client sends to have the gateway use its own.
const PLACEHOLDER = 'use-server-key';

let sim: OpenAICompatibleSim;
let gateway: GatewayServer;
let origin: string;

before(async () => {
  sim = await startOpenAICompatibleSim({ flavour: 'gemini', port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'gemini-native-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `model_aliases:\n  ${ALIAS}: gemini/${SIGNED_MODEL}\n`);
  const started = await startGateway({ GEMINI_BASE_URL: sim.url, GEMINI_API_KEY: KEY, DEFAULT_PROVIDER: 'gemini', CONFIG_FILE: file });
  gateway = started.server;
  origin = started.url.slice(0, -'/v1'.length);
});
after(async () => {
  await gateway.shutdown(100);
  await sim.close();
});

const WEATHER = {
  functionDeclarations: [
    {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING }, metric: { type: Type.BOOLEAN } }, required: ['city'] },
    },
  ],
};

/** A function call conversation of two turns: the call, then its response sent back with the model's turn as it came. */
async function roundTrip(ai: GoogleGenAI, model: string): Promise<{ first: Content; answer: string | undefined }> {
  const contents: Content[] = [{ role: 'user', parts: [{ text: 'Weather in Paris?' }] }];
  const first = await ai.models.generateContent({ model, contents, config: { tools: [WEATHER] } });
  const turn = first.candidates![0]!.content!;
  const call = turn.parts!.find((part) => part.functionCall !== undefined)!.functionCall!;
  contents.push(turn, { role: 'user', parts: [{ functionResponse: { name: call.name!, id: call.id, response: { temp: 20 } } }] });
  const second = await ai.models.generateContent({ model, contents, config: { tools: [WEATHER] } });
  return { first: turn, answer: second.text };
}

describe('the simulator\'s native routes, read by @google/genai', () => {
  const direct = (apiKey = KEY): GoogleGenAI => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: sim.origin } });

  test('generateContent and generateContentStream: text, finishReason, usageMetadata', async () => {
    const answer = await direct().models.generateContent({ model: 'gemini-2.0-flash', contents: 'Say hello' });
    assert.equal(answer.text, 'Hello from the Gemini simulator.');
    assert.equal(answer.candidates![0]!.finishReason, 'STOP');
    assert.ok(answer.usageMetadata!.totalTokenCount! > 0);
    let text = '';
    let finish: string | undefined;
    for await (const chunk of await direct().models.generateContentStream({ model: 'gemini-2.0-flash', contents: 'Say hello' })) {
      text += chunk.text ?? '';
      finish ??= chunk.candidates?.[0]?.finishReason;
    }
    assert.equal(text, 'Hello from the Gemini simulator.');
    assert.equal(finish, 'STOP');
  });

  test('a gemini-3 model signs its function call, and refuses the call sent back without its signature', async () => {
    const { first, answer } = await roundTrip(direct(), SIGNED_MODEL);
    const part = first.parts!.find((p) => p.functionCall !== undefined)!;
    assert.match(part.thoughtSignature ?? '', /^[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(Object.keys(part.functionCall!.args!), ['city'], 'required properties only');
    assert.equal(answer, 'The tool ran; here is what it returned.');

    const unsigned = { ...part, thoughtSignature: undefined };
    await assert.rejects(
      direct().models.generateContent({
        model: SIGNED_MODEL,
        contents: [
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          { role: 'model', parts: [unsigned] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 20 } } }] },
        ],
        config: { tools: [WEATHER] },
      }),
      (error: unknown) => error instanceof ApiError && error.status === 400 && /missing a thought_signature/.test(error.message),
    );
  });

  test('keys: none is a 403, a wrong one a 400 API_KEY_INVALID', async () => {
    await assert.rejects(direct('wrong').models.generateContent({ model: 'gemini-2.0-flash', contents: 'hi' }), (error: unknown) => error instanceof ApiError && error.status === 400 && /API key not valid/.test(error.message));
    const none = await request(`${sim.origin}/v1beta/models/gemini-2.0-flash:generateContent`, { method: 'POST', body: '{"contents":[{"parts":[{"text":"hi"}]}]}' });
    assert.equal(none.statusCode, 403);
    assert.equal(((await none.body.json()) as any).error.status, 'PERMISSION_DENIED');
  });
});

describe('through the gateway to the gemini provider', () => {
  const ai = (options: { apiKey?: string; headers?: Record<string, string> } = {}): GoogleGenAI =>
    new GoogleGenAI({ apiKey: options.apiKey ?? PLACEHOLDER, httpOptions: { baseUrl: origin, headers: options.headers } });

  test('the request reaches Google\'s native route with the model as routed, its body byte for byte, the server key in x-goog-api-key', async () => {
    sim.clear();
    const body = '{"contents":[{"role":"user","parts":[{"text":"Say hello"}]}],  "generationConfig":{"maxOutputTokens":32}}';
    const res = await request(`${origin}/v1beta/models/${ALIAS}:streamGenerateContent?alt=sse`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.match(text, /Hello/);
    // Google's own framing reaches the client as it was sent: CRLF pairs between events.
    assert.match(text, /\r\n\r\n/);
    const seen = sim.requests.at(-1)!;
    assert.equal(seen.path, `/v1beta/models/${SIGNED_MODEL}:streamGenerateContent?alt=sse`);
    assert.equal(seen.body, body);
    assert.equal(seen.headers['x-goog-api-key'], KEY);
    assert.equal(seen.headers.authorization, undefined);
  });

  test('a gemini-3 function call round trip through @google/genai: the thought signature comes back untouched', async () => {
    sim.clear();
    const { first, answer } = await roundTrip(ai(), ALIAS);
    assert.equal(answer, 'The tool ran; here is what it returned.');
    const signature = first.parts!.find((p) => p.functionCall !== undefined)!.thoughtSignature;
    const sent = sim.requests.at(-1)!.json as any;
    assert.equal(sent.contents[1].parts[0].thoughtSignature, signature);
  });

  test('a client\'s ?key= goes on as x-goog-api-key and never in the query', async () => {
    sim.clear();
    const clientKey = 'sim-client-own-key';
    const res = await request(`${origin}/v1beta/models/gemini-2.0-flash:generateContent?key=${clientKey}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"contents":[{"parts":[{"text":"hi"}]}]}',
    });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const seen = sim.requests.at(-1)!;
    assert.equal(seen.path, '/v1beta/models/gemini-2.0-flash:generateContent');
    assert.equal(seen.headers['x-goog-api-key'], clientKey);
  });

  test('countTokens is Google\'s count, not the gateway\'s estimate', async () => {
    const res = await request(`${origin}/v1beta/models/gemini-2.0-flash:countTokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"contents":[{"parts":[{"text":"hello there"}]}]}',
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-gateway-token-count'], undefined);
    const counted = (await res.body.json()) as any;
    assert.equal(counted.promptTokensDetails[0].modality, 'TEXT');
  });

  test('GET /v1beta/models with x-provider: gemini is Google\'s own list; without it, the aliases', async () => {
    const own = await ai({ headers: { 'x-provider': 'gemini' } }).models.list();
    const names: string[] = [];
    for await (const model of own) names.push(model.name!);
    assert.ok(names.includes('models/gemini-2.0-flash'), names.join());
    const aliases = await request(`${origin}/v1beta/models`);
    assert.deepEqual(((await aliases.body.json()) as any).models.map((m: any) => m.name), [`models/${ALIAS}`]);
  });

  test('Google\'s errors pass through in its shape and status', async () => {
    await assert.rejects(
      ai({ apiKey: 'wrong-key' }).models.generateContent({ model: 'gemini-2.0-flash', contents: 'hi' }),
      (error: unknown) => error instanceof ApiError && error.status === 400 && /API key not valid/.test(error.message),
    );
  });

  test('a stream cut after its first event ends with Google\'s error object, not a clean finish', async () => {
    const body = JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }], sim: { cut_after: 1, chunks: 3 } });
    const res = await request(`${origin}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200);
    // Google ends a stream it cannot finish with its error object, bare, after the last event.
    const lines = text.split(/\r?\n/).filter((line) => line !== '');
    assert.ok(JSON.parse(lines[0]!.slice('data: '.length)).candidates, text);
    assert.equal(JSON.parse(lines.at(-1)!).error.status, 'UNAVAILABLE', text);
  });
});

describe('settings', () => {
  test('GEMINI_NATIVE_API=translate serves the Gemini API through the compatible layer\'s chat completions', async () => {
    const { server, url } = await startGateway({ GEMINI_BASE_URL: sim.url, GEMINI_API_KEY: KEY, DEFAULT_PROVIDER: 'gemini', GEMINI_NATIVE_API: 'translate' });
    try {
      sim.clear();
      const ai = new GoogleGenAI({ apiKey: PLACEHOLDER, httpOptions: { baseUrl: url.slice(0, -3) } });
      const answer = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'hi' });
      assert.match(answer.text ?? '', /simulator/);
      assert.equal(sim.requests.at(-1)!.path, '/v1beta/openai/chat/completions');
    } finally {
      await server.shutdown(100);
    }
  });

  test('GEMINI_NATIVE_BASE_URL sends the native API elsewhere; a base URL without /v1beta/openai has no native API unless it is set', async () => {
    const other = await startOpenAICompatibleSim({ flavour: 'gemini', port: 0 });
    const { server, url } = await startGateway({ GEMINI_BASE_URL: sim.url, GEMINI_API_KEY: KEY, DEFAULT_PROVIDER: 'gemini', GEMINI_NATIVE_BASE_URL: `${other.origin}/` });
    try {
      sim.clear();
      const ai = new GoogleGenAI({ apiKey: PLACEHOLDER, httpOptions: { baseUrl: url.slice(0, -3) } });
      await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'hi' });
      assert.equal(sim.requests.length, 0);
      assert.equal(other.requests.at(-1)!.path, '/v1beta/models/gemini-2.0-flash:generateContent');
    } finally {
      await server.shutdown(100);
      await other.close();
    }
    const proxied = loadConfig({ GEMINI_BASE_URL: 'http://127.0.0.1:9/compat', GEMINI_API_KEY: KEY });
    assert.equal(proxied.providers.gemini!.options.nativeBaseUrl, '');
  });

  test('a GEMINI_NATIVE_BASE_URL that is no http(s) URL stops start-up with a precise message', () => {
    assert.throws(() => loadConfig({ GEMINI_NATIVE_BASE_URL: 'ftp://example' }), /GEMINI_NATIVE_BASE_URL: must use http or https/);
  });
});
