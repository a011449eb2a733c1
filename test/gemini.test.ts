// The Gemini API on /v1beta/models, driven by Google's own SDK (@google/genai) and by plain HTTP,
// against the Fireworks simulator (translated to chat) and a bare upstream: answers, streams (SSE
// and the JSON array), a function call round trip, errors in Google's shape and as the SDK's
// ApiError, the model routed from the path, and a `?key=` that never shows.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ApiError, FunctionCallingConfigMode, GoogleGenAI, Type } from '@google/genai';
import { Agent, request } from 'undici';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import type { GatewayServer } from '../src/server.js';
import { KEY, MODEL, collectLines, startGateway, startStack, until, type Stack } from './helpers.js';

const ALIAS = 'gemini-2.5-pro';
const SIM_TEXT = 'Hello from the Fireworks simulator.';

let stack: Stack;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gemini-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `model_aliases:\n  ${ALIAS}: fireworks/${MODEL}\n`);
  stack = await startStack({ CONFIG_FILE: file });
});
after(() => stack.close());

function genai(apiKey = KEY): GoogleGenAI {
  return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: stack.origin } });
}

function lastChatRequest(): Record<string, any> {
  return stack.sim.requests.at(-1)!.json as Record<string, any>;
}

describe('@google/genai against a translated provider', () => {
  test('generateContent: text, finishReason, usageMetadata; the model from the path, through its alias', async () => {
    const response = await genai().models.generateContent({ model: ALIAS, contents: 'Say hello', config: { maxOutputTokens: 64, topK: 5 } });
    assert.equal(response.text, SIM_TEXT);
    assert.equal(response.candidates?.[0]?.finishReason, 'STOP');
    assert.ok((response.usageMetadata?.promptTokenCount ?? 0) > 0);
    assert.equal(response.usageMetadata?.totalTokenCount, response.usageMetadata!.promptTokenCount! + response.usageMetadata!.candidatesTokenCount!);
    assert.equal(response.modelVersion, ALIAS);
    const sent = lastChatRequest();
    assert.equal(sent.model, MODEL);
    assert.equal(sent.max_tokens, 64);
    assert.equal(sent.top_k, undefined);
  });

  test('generateContentStream: the text in pieces, the finish and usage in the last chunk', async () => {
    const stream = await genai().models.generateContentStream({ model: `fireworks/${MODEL}`, contents: 'Say hello' });
    let text = '';
    let chunks = 0;
    let last;
    for await (const chunk of stream) {
      text += chunk.text ?? '';
      chunks++;
      last = chunk;
    }
    assert.equal(text, SIM_TEXT);
    assert.ok(chunks > 1, `${chunks} chunks`);
    assert.equal(last?.candidates?.[0]?.finishReason, 'STOP');
    assert.ok((last?.usageMetadata?.totalTokenCount ?? 0) > 0);
    assert.equal(lastChatRequest().stream, true);
  });

  test('a function call round trip: the call with its id and args, and the response sent back as its tool message', async () => {
    const ai = genai();
    const tools = [
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'The weather in a city',
            parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
          },
        ],
      },
    ];
    const config = { tools, toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } } };
    const question = { role: 'user', parts: [{ text: 'What is the weather in Paris?' }] };
    const first = await ai.models.generateContent({ model: ALIAS, contents: [question], config });
    const call = first.functionCalls?.[0];
    assert.ok(call !== undefined, JSON.stringify(first));
    assert.equal(call.name, 'get_weather');
    assert.equal(typeof call.args?.city, 'string');
    assert.ok(typeof call.id === 'string' && call.id !== '');
    assert.deepEqual(lastChatRequest().tools[0].function.parameters, { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] });
    assert.equal(lastChatRequest().tool_choice, 'required');

    const second = await ai.models.generateContent({
      model: ALIAS,
      contents: [question, first.candidates![0]!.content!, { role: 'user', parts: [{ functionResponse: { id: call.id, name: call.name!, response: { temp: 21 } } }] }],
      config: { tools },
    });
    // The simulator answers a tool result by quoting it.
    assert.equal(second.text, 'Tool result received: {"temp":21}');
    const messages = lastChatRequest().messages as Record<string, any>[];
    assert.equal(messages[1]!.tool_calls[0].id, call.id);
    assert.deepEqual(messages[2], { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' });
  });

  test('a key the provider refuses is an ApiError with the status, in Google\'s shape', async () => {
    await assert.rejects(genai('wrong-key').models.generateContent({ model: ALIAS, contents: 'hi' }), (error: unknown) => {
      assert.ok(error instanceof ApiError, String(error));
      assert.equal(error.status, 401);
      assert.equal(JSON.parse(error.message).error.status, 'UNAUTHENTICATED');
      return true;
    });
  });

  test('countTokens is an estimate, said so in a header', async () => {
    const counted = await genai().models.countTokens({ model: ALIAS, contents: 'a'.repeat(400) });
    assert.ok(counted.totalTokens! >= 100 && counted.totalTokens! < 110, String(counted.totalTokens));
    const res = await fetch(`${stack.origin}/v1beta/models/${ALIAS}:countTokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"contents":[]}' });
    assert.equal(res.headers.get('x-gateway-token-count'), 'estimate');
  });
});

describe('@google/genai against Anthropic (Gemini to chat to Messages)', () => {
  let sim: AnthropicSim;
  let server: GatewayServer;
  let ai: GoogleGenAI;
  before(async () => {
    sim = await startAnthropicSim({ port: 0 });
    const started = await startGateway({ ANTHROPIC_BASE_URL: sim.url, ANTHROPIC_API_KEY: 'sk-ant-test', FIREWORKS_API_KEY: 'unused' });
    server = started.server;
    ai = new GoogleGenAI({ apiKey: 'use-server-key', httpOptions: { baseUrl: started.url.slice(0, -'/v1'.length) } });
  });
  after(async () => {
    await server.shutdown(0);
    await sim.close();
  });

  test('generateContent and a streamed function call', async () => {
    const model = 'anthropic/claude-sonnet-4-5';
    const answer = await ai.models.generateContent({ model, contents: 'hi', config: { maxOutputTokens: 100 } });
    assert.equal(answer.text, 'Hello from the Anthropic simulator.');
    const tools = [{ functionDeclarations: [{ name: 'ls', parametersJsonSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } }] }];
    const calls = [];
    for await (const chunk of await ai.models.generateContentStream({ model, contents: 'list', config: { maxOutputTokens: 100, tools, toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } } } })) {
      calls.push(...(chunk.functionCalls ?? []));
    }
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.name, 'ls');
    assert.match(calls[0]!.id!, /^toolu_/);
    assert.equal(typeof calls[0]!.args!.path, 'string');
  });
});

describe('the Gemini routes over HTTP', () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${stack.origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': KEY, ...headers }, body: JSON.stringify(body) });
  const HELLO = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

  test('streamGenerateContent without alt=sse is one JSON array of chunks', async () => {
    const res = await post(`/v1beta/models/${ALIAS}:streamGenerateContent`, HELLO);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    const chunks = JSON.parse(await res.text()) as Record<string, any>[];
    assert.ok(chunks.length > 1);
    assert.equal(chunks.map((chunk) => chunk.candidates[0].content.parts[0].text ?? '').join(''), SIM_TEXT);
    assert.equal(chunks.at(-1)!.candidates[0].finishReason, 'STOP');
  });

  test('GET /v1beta/models lists the aliases in Google\'s shape', async () => {
    const res = await fetch(`${stack.origin}/v1beta/models`);
    const list = (await res.json()) as { models: Record<string, any>[] };
    assert.deepEqual(list.models.map((model) => model.name), [`models/${ALIAS}`]);
    assert.ok(list.models[0]!.supportedGenerationMethods.includes('streamGenerateContent'));
  });

  test('unknown methods and paths are 404s in Google\'s shape; other /v1beta paths too', async () => {
    const res = await post(`/v1beta/models/${ALIAS}:embedContent`, HELLO);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as any).error.status, 'NOT_FOUND');
    const other = await fetch(`${stack.origin}/v1beta/files`);
    assert.equal(other.status, 404);
    const wrongMethod = await fetch(`${stack.origin}/v1beta/models/${ALIAS}:generateContent`);
    assert.equal(wrongMethod.status, 405);
  });

  test('a request the translation refuses is a 400 INVALID_ARGUMENT naming the field', async () => {
    const res = await post(`/v1beta/models/${ALIAS}:generateContent`, { ...HELLO, generationConfig: { candidateCount: 2 } });
    assert.equal(res.status, 400);
    const body = (await res.json()) as any;
    assert.equal(body.error.status, 'INVALID_ARGUMENT');
    assert.match(body.error.message, /generationConfig\.candidateCount/);
  });
});

describe('a bare upstream', () => {
  const SECRET = 'AIzaQueryKey0123456789abcdefghij';
  const CHAT_STREAM =
    'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}\n\n' +
    'data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","code":null}}\n\n';
  /** What the upstream does: quote the key it got in a 401, or write CHAT_STREAM split at `split`. */
  let mode: 'quote-key' | 'stream' = 'quote-key';
  let split = 0;
  let upstream: Server;
  let gateway: GatewayServer;
  let origin: string;
  const lines: string[] = [];
  const agent = new Agent({ connections: 4 });

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (mode === 'quote-key') {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: `Invalid key ${String(req.headers.authorization)}`, type: 'invalid_request_error' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.socket?.setNoDelay(true);
        if (split === 0) {
          res.end(CHAT_STREAM);
          return;
        }
        res.write(CHAT_STREAM.slice(0, split));
        void sleep(2).then(() => res.end(CHAT_STREAM.slice(split)));
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const started = await startGateway({ FIREWORKS_BASE_URL: `${upstreamUrl}/v1`, MAX_RETRIES: '0', LOG_LEVEL: 'debug' }, collectLines(lines));
    gateway = started.server;
    origin = started.url.slice(0, -'/v1'.length);
  });
  after(async () => {
    await agent.close();
    await gateway.shutdown(0);
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  test('?key= is sent on as the provider\'s key, and is never in the answer, the log or an error message', async () => {
    mode = 'quote-key';
    const res = await request(`${origin}/v1beta/models/fireworks/${MODEL}:generateContent?alt=json&key=${SECRET}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 401, text);
    // The upstream got the key (it quoted it), and the gateway took it out of what it answered.
    assert.match(text, /Invalid key/);
    assert.ok(!text.includes(SECRET), text);
    await until(() => lines.some((line) => line.includes('"msg":"request"')));
    const logged = lines.join('\n');
    assert.ok(!logged.includes(SECRET), logged);
    assert.match(logged, /"path":"\/v1beta\/models\/fireworks\/[^"?]+:generateContent"/);
  });

  test('content then a provider error, in one read or split at any byte, is the content and then Google\'s error object', async () => {
    mode = 'stream';
    const ask = async (alt: string) => {
      const res = await request(`${origin}/v1beta/models/fireworks/m:streamGenerateContent${alt}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
      });
      return `${res.statusCode} ${(await res.body.text()).replace(/"responseId":"[^"]*"/g, '"responseId":"_"')}`;
    };
    for (const alt of ['?alt=sse', '']) {
      split = 0;
      const whole = await ask(alt);
      assert.match(whole, /^200 /, whole);
      assert.match(whole, /"text":"Hello"/, whole);
      assert.match(whole, /\{"error":\{"code":502,"message":"The server had an error while processing your request\.","status":"UNAVAILABLE"\}\}/, whole);
      if (alt === '') assert.equal((JSON.parse(whole.slice(4)) as unknown[]).length, 2);
      for (split = 1; split < CHAT_STREAM.length; split++) assert.equal(await ask(alt), whole, `split at byte ${split}`);
    }
  });

  test('the SDK reads the content, then fails the stream at the error', async () => {
    mode = 'stream';
    split = 0;
    const ai = new GoogleGenAI({ apiKey: 'k', httpOptions: { baseUrl: origin } });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of await ai.models.generateContentStream({ model: 'fireworks/m', contents: 'hi' })) text += chunk.text ?? '';
    });
    assert.equal(text, 'Hello');
  });
});
