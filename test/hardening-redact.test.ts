// Issue 16, items 5, 10 and 12: a provider that quotes the credential it was sent in a mid-stream
// error reaches neither the client nor the log with it, on every translated route; values a client
// sent are quoted bounded; x-gateway-dropped-params names each field once, within a bound.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startAnthropicSim, type AnthropicSim, type AnthropicSimFault } from '../sim/anthropic.js';
import {
  BEDROCK_SIM_ACCESS_KEY_ID,
  BEDROCK_SIM_SECRET_ACCESS_KEY,
  BEDROCK_SIM_SESSION_TOKEN,
  BEDROCK_SIM_TEMP_ACCESS_KEY_ID,
  BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY,
  startBedrockSim,
  type BedrockSim,
  type BedrockSimFault,
} from '../sim/bedrock.js';
import type { SimFault } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { MAX_DROPPED_PARAMS_CHARS, droppedParams } from '../src/gateway.js';
import type { GatewayServer } from '../src/server.js';
import { collectLines, simFault, startGateway } from './helpers.js';

// Keys of shapes no pattern knows (the sims take any key with their prefix): only redaction by
// value finds them. Anthropic's sim takes only `sk-ant-` keys, which a pattern finds too.
const SERVER_DEEPSEEK_KEY = 'sim-operator-deepseek-7Qx2';
const SERVER_ANTHROPIC_KEY = 'sk-ant-operator-anthropic-4Rw9';
const CLIENT_DEEPSEEK_KEY = 'sim-client-own-deepseek-3Kp8';
const CLIENT_ANTHROPIC_KEY = 'sk-ant-client-own-anthropic-6Tz1';

const ANTHROPIC_MODEL = 'claude-sonnet-4-6';
const BEDROCK_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const DEEPSEEK_MODEL = 'deepseek-chat';

let deepseek: OpenAICompatibleSim;
let anthropic: AnthropicSim;
let bedrock: BedrockSim;

interface Logged {
  server: GatewayServer;
  url: string;
  logs: string[];
}

/** A gateway in front of the three simulators whose every log line is kept. */
async function loggedGateway(env: Record<string, string>): Promise<Logged> {
  const logs: string[] = [];
  const sink = collectLines(logs);
  const { server, url } = await startGateway(
    { DEEPSEEK_BASE_URL: deepseek.url, ANTHROPIC_BASE_URL: anthropic.url, BEDROCK_BASE_URL: bedrock.url, LOG_LEVEL: 'info', ...env },
    sink,
  );
  return { server, url, logs };
}

/** With the operator's keys; clients send `use-server-key`. */
let serverKeys: Logged;
/** With no keys; clients send their own. */
let clientKeys: Logged;

before(async () => {
  [deepseek, anthropic, bedrock] = await Promise.all([
    startOpenAICompatibleSim({ port: 0, flavour: 'deepseek' }),
    startAnthropicSim({ port: 0 }),
    startBedrockSim({ port: 0 }),
  ]);
  serverKeys = await loggedGateway({
    DEEPSEEK_API_KEY: SERVER_DEEPSEEK_KEY,
    ANTHROPIC_API_KEY: SERVER_ANTHROPIC_KEY,
    ANTHROPIC_VERSION: '2026-10-21',
    // Long-term credentials: a configured secret is redacted in every gateway of the process, and
    // the session token must stay the client's own for the other gateway.
    AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
  });
  clientKeys = await loggedGateway({});
});
after(async () => {
  await Promise.all([serverKeys.server.shutdown(0), clientKeys.server.shutdown(0)]);
  await Promise.all([deepseek.close(), anthropic.close(), bedrock.close()]);
});

type Provider = 'deepseek' | 'anthropic' | 'bedrock';
type Route = 'chat' | 'messages' | 'responses';

/** The fault that makes each provider's simulator quote the credential it got, after `after` content deltas. */
function echoFault(provider: Provider, after: number): string {
  switch (provider) {
    case 'deepseek':
      return simFault({ stream_error: { after, echo_key: true } } satisfies SimFault);
    case 'anthropic':
      return simFault({ stream_error: { after, type: 'api_error', echo_key: true } } satisfies AnthropicSimFault);
    case 'bedrock':
      return simFault({ stream_exception: { after, type: 'internalServerException', echo_key: true } } satisfies BedrockSimFault);
  }
}

const MODELS: Record<Provider, string> = { deepseek: DEEPSEEK_MODEL, anthropic: ANTHROPIC_MODEL, bedrock: BEDROCK_MODEL };

/** A streamed request on `route` that carries the fault where that API carries a user id. */
function streamedBody(route: Route, provider: Provider, fault: string): { path: string; body: unknown } {
  const model = MODELS[provider];
  switch (route) {
    case 'chat':
      return { path: '/chat/completions', body: { model, stream: true, user: fault, messages: [{ role: 'user', content: 'hi' }] } };
    case 'messages':
      return { path: '/messages', body: { model, stream: true, max_tokens: 64, metadata: { user_id: fault }, messages: [{ role: 'user', content: 'hi' }] } };
    case 'responses':
      return { path: '/responses', body: { model, stream: true, user: fault, input: 'hi' } };
  }
}

/** What the client sends to authenticate, and what must appear nowhere. */
function credentials(provider: Provider, own: boolean): { headers: Record<string, string>; secrets: string[] } {
  if (!own) {
    const secret = { deepseek: SERVER_DEEPSEEK_KEY, anthropic: SERVER_ANTHROPIC_KEY, bedrock: BEDROCK_SIM_ACCESS_KEY_ID }[provider];
    return { headers: { authorization: 'Bearer use-server-key' }, secrets: [secret] };
  }
  switch (provider) {
    case 'deepseek':
      return { headers: { authorization: `Bearer ${CLIENT_DEEPSEEK_KEY}` }, secrets: [CLIENT_DEEPSEEK_KEY] };
    case 'anthropic':
      return { headers: { 'x-api-key': CLIENT_ANTHROPIC_KEY }, secrets: [CLIENT_ANTHROPIC_KEY] };
    case 'bedrock':
      return {
        headers: {
          'x-aws-access-key-id': BEDROCK_SIM_TEMP_ACCESS_KEY_ID,
          'x-aws-secret-access-key': BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY,
          'x-aws-session-token': BEDROCK_SIM_SESSION_TOKEN,
        },
        secrets: [BEDROCK_SIM_SESSION_TOKEN, BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY],
      };
  }
}

// Every translated route and provider (a client of Anthropic's own API on /v1/messages, and chat on
// an OpenAI-compatible host, are passed through byte for byte, not translated).
const TRANSLATED: readonly [Route, Provider][] = [
  ['chat', 'anthropic'],
  ['chat', 'bedrock'],
  ['messages', 'deepseek'],
  ['messages', 'bedrock'],
  ['responses', 'deepseek'],
  ['responses', 'anthropic'],
  ['responses', 'bedrock'],
];

let requestCount = 0;

/** A piece of `secret` that `text` holds: any 12 characters of it, for a credential cut in two is still one leaked. */
function leakedPiece(text: string, secret: string): string | undefined {
  for (let at = 0; at + 12 <= secret.length; at++) {
    const piece = secret.slice(at, at + 12);
    if (text.includes(piece)) return piece;
  }
  return undefined;
}

describe('a credential a provider quotes in a failure reaches neither the client nor the log', () => {
  for (const own of [false, true]) {
    for (const [route, provider] of TRANSLATED) {
      // after 2 deltas: an error event in a stream already begun; after 0: an error answer before the first byte.
      for (const after of [2, 0]) {
        const whose = own ? "the client's own credential" : "the operator's key (use-server-key)";
        test(`${route} -> ${provider}, ${after > 0 ? 'mid-stream' : 'before the first byte'}, ${whose}`, async () => {
          const gateway = own ? clientKeys : serverKeys;
          const { headers, secrets } = credentials(provider, own);
          const { path, body } = streamedBody(route, provider, echoFault(provider, after));
          const requestId = `redact-${process.pid}-${++requestCount}`;
          const res = await fetch(gateway.url + path, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-provider': provider,
              'x-request-id': requestId,
              'x-gateway-max-retries': '0',
              ...headers,
            },
            body: JSON.stringify(body),
          });
          const text = await res.text();
          if (after > 0) assert.equal(res.status, 200, text);
          else assert.ok(res.status >= 500, `${res.status} ${text}`);
          // The provider's message, with the credential it quoted taken out.
          assert.match(text, /request made with \[REDACTED\]/);
          for (const secret of secrets) assert.equal(leakedPiece(text, secret), undefined, `the client was sent a piece of ${secret}: ${text}`);

          const line = gateway.logs.find((entry) => entry.includes(`"reqId":"${requestId}"`) && entry.includes('"msg":"request"'));
          assert.ok(line !== undefined, 'the request was logged');
          assert.match(line, /request made with \[REDACTED\]/);
          const logged = gateway.logs.join('');
          for (const secret of secrets) assert.equal(leakedPiece(logged, secret), undefined, `the log holds a piece of ${secret}: ${line}`);
        });
      }
    }
  }
});

/** Past this an error body quotes a value whole: every message the gateway writes is far shorter. */
const SMALL_ERROR_BYTES = 2048;

describe('a value a client sent is quoted bounded, never whole', () => {
  const huge = 'r'.repeat(5 * 1024 * 1024);
  const user = { role: 'user', content: 'hi' };
  const cases: readonly [what: string, provider: Provider, body: Record<string, unknown>][] = [
    ['a role', 'anthropic', { messages: [{ role: huge, content: 'hi' }] }],
    ['a tool type', 'anthropic', { messages: [user], tools: [{ type: huge, function: { name: 'f' } }] }],
    ['a tool_choice', 'anthropic', { messages: [user], tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: huge }],
    ['a tool_choice object', 'anthropic', { messages: [user], tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: huge } }],
    ['a response_format type', 'anthropic', { messages: [user], response_format: { type: huge } }],
    ['a schema name that is also a tool name', 'anthropic', {
      messages: [user],
      tools: [{ type: 'function', function: { name: huge } }],
      response_format: { type: 'json_schema', json_schema: { name: huge, schema: { type: 'object' } } },
    }],
    ['a tool call type', 'anthropic', { messages: [user, { role: 'assistant', tool_calls: [{ type: huge, id: 'c', function: { name: 'f', arguments: '{}' } }] }] }],
    ['a content part type', 'anthropic', { messages: [{ role: 'user', content: [{ type: huge }] }] }],
    ['a document media type', 'anthropic', { messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: `data:${huge};base64,AAAA` } }] }] }],
    ['an image media type', 'bedrock', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/${huge};base64,AAAA` } }] }] }],
    ['a role, to Bedrock', 'bedrock', { messages: [{ role: huge, content: 'hi' }] }],
  ];
  for (const [what, provider, body] of cases) {
    test(`${what} (5 MiB) gives a small 400, and a small log line`, async () => {
      const requestId = `echo-${process.pid}-${++requestCount}`;
      const res = await fetch(`${clientKeys.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-provider': provider, 'x-request-id': requestId, ...credentials(provider, true).headers },
        body: JSON.stringify({ model: MODELS[provider], ...body }),
      });
      const text = await res.text();
      assert.equal(res.status, 400, text.slice(0, 300));
      assert.ok(Buffer.byteLength(text) < SMALL_ERROR_BYTES, `a ${Buffer.byteLength(text)}-byte error body: ${text.slice(0, 300)}`);
      assert.match(text, /a value of 52428\d\d characters, not shown/);
      const line = clientKeys.logs.find((entry) => entry.includes(`"reqId":"${requestId}"`));
      assert.ok(line !== undefined && line.length < SMALL_ERROR_BYTES, `the log line: ${line?.slice(0, 300)}`);
    });
  }

  test('an x-aws-region that is not a region is quoted bounded, and not if it looks like a credential', async () => {
    for (const region of ['r'.repeat(8000), 'sk-proj-0123456789abcdefghij', `us-east-1 ${BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY}`]) {
      const res = await fetch(`${clientKeys.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-provider': 'bedrock', 'x-aws-region': region, ...credentials('bedrock', true).headers },
        body: JSON.stringify({ model: BEDROCK_MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const text = await res.text();
      assert.equal(res.status, 400, text);
      assert.match(text, /not an AWS region name/);
      assert.match(text, /a value of \d+ characters?, not shown/);
      assert.equal(leakedPiece(text, region), undefined, text);
    }
  });
});

test('a path an inbound API does not translate is quoted bounded', async () => {
  const id = `resp_${'x'.repeat(6000)}`;
  for (const path of [`/responses/${id}`, `/messages/${id}`]) {
    const res = await fetch(`${clientKeys.url}${path}`, { headers: { 'x-provider': 'deepseek', ...credentials('deepseek', true).headers } });
    const text = await res.text();
    assert.equal(res.status, 400, text.slice(0, 300));
    assert.ok(Buffer.byteLength(text) < SMALL_ERROR_BYTES, `a ${Buffer.byteLength(text)}-byte error body: ${text.slice(0, 300)}`);
    assert.match(text, /a value of \d+ characters, not shown/);
  }
});

/** POSTs with node:http (whose header limit is Node's default, as every Node client's is). */
function postWithNode(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('x-gateway-dropped-params names each field once, within a bound', () => {
  test('3,000 user parts with citations under 2026-10-21: one name, and a Node client reads the 200', async () => {
    const citation = { type: 'char_location', cited_text: 'x', document_index: 0, start_char_index: 0, end_char_index: 1 };
    const content = Array.from({ length: 3000 }, () => ({ type: 'text', text: 'quoted', citations: [citation] }));
    const body = JSON.stringify({ model: ANTHROPIC_MODEL, messages: [{ role: 'user', content }], temperature: 0.5 });
    const res = await postWithNode(`${serverKeys.url}/chat/completions`, { 'x-provider': 'anthropic', authorization: 'Bearer use-server-key' }, body);
    assert.equal(res.status, 200, res.body.slice(0, 300));
    assert.equal(res.headers['x-gateway-dropped-params'], 'messages[*].content[*].citations, temperature');
    assert.equal(JSON.parse(res.body).object, 'chat.completion');
  });

  test('past its bound the header ends with a count of the fields not named', () => {
    const refused = Array.from({ length: 200 }, (_, i) => `field_${i}[${i}].name`);
    const header = droppedParams([...refused, ...refused]);
    const named = header.split(', ').filter((field) => field.startsWith('field_'));
    assert.ok(header.length <= MAX_DROPPED_PARAMS_CHARS + ', and 200 more'.length, `${header.length} characters`);
    assert.equal(new Set(named).size, named.length, 'each field once');
    assert.ok(named.every((field) => /^field_\d+\[\*\]\.name$/.test(field)), header);
    assert.ok(header.endsWith(`, and ${200 - named.length} more`), header);
    assert.equal(droppedParams(['temperature', 'top_p']), 'temperature, top_p');
  });
});
