// The record of the last requests (RECORD_REQUESTS, GET /debug/requests): off by default and then
// absent; on, every credential kept out of it (headers, a Gemini `?key=`, keys in bodies and
// answers, the server's key), bodies cut at RECORD_BODY_BYTES, only the last N kept, failures with
// their error, and only clients on this machine served unless RECORD_READERS=any.
import assert from 'node:assert/strict';
import { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { operatorRefusal } from '../src/operator.js';
import { MODEL, startStack, unreachableProviders, withSim, type Stack } from './helpers.js';

/**
 * Keys the simulator accepts (it takes any `fw_` key) that match no key shape the redaction knows:
 * only redaction by value can take them out.
 */
const CLIENT_KEY = 'fw_rec.key.by.value.7Q';
const GEMINI_KEY = 'fw_gem.query.key.4Z';
const SERVER_KEY = 'fw_srv.conf.key.9X';
/** A key a user pasted in a prompt, of a shape the redaction knows (Anthropic's). */
const PASTED_KEY = 'sk-ant-api03-pastedKeyValue0123456789';

interface Recorded {
  id: string;
  method: string;
  path: string;
  api: string;
  provider?: string;
  model?: { asked: string; sent: string };
  status: number;
  upstreamStatus?: number;
  stream: boolean;
  retries: number;
  headers: Record<string, string>;
  body?: { bytes: number; text: string; truncated: boolean };
  answer?: { bytes: number; text: string; truncated: boolean };
  error?: string;
}

async function chat(stack: Stack, body: object, headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(`${stack.baseURL}chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'x-provider': 'fireworks', ...headers },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res;
}

/** The record as the endpoint serves it, and its text; waits for the requests of these ids to be in it. */
async function readRecord(stack: Stack, ids: readonly string[], query = ''): Promise<{ text: string; requests: Recorded[] }> {
  for (let tries = 0; ; tries++) {
    const res = await fetch(`${stack.origin}/debug/requests${query}`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const requests = (JSON.parse(text) as { requests: Recorded[] }).requests;
    // A request is recorded when its response closes, just after the client has read it.
    if (ids.every((id) => requests.some((request) => request.id === id)) || tries === 50) return { text, requests };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function find(requests: Recorded[], id: string): Recorded {
  const found = requests.find((request) => request.id === id);
  assert.ok(found, `request ${id} in the record`);
  return found;
}

describe('off by default', () => {
  let stack: Stack;
  const responses: ServerResponse[] = [];
  before(async () => {
    stack = await startStack({ FIREWORKS_API_KEY: SERVER_KEY });
    stack.gateway.server.on('request', (_req, res: ServerResponse) => responses.push(res));
  });
  after(() => stack.close());

  test('GET /debug/requests is an unknown route, and answers are written by Node\'s own ServerResponse', async () => {
    const res = await chat(stack, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 200);
    const record = await fetch(`${stack.origin}/debug/requests`);
    const body = (await record.json()) as { error: { code: string } };
    assert.equal(record.status, 404);
    assert.equal(body.error.code, 'unknown_route');
    assert.ok(responses.length >= 2);
    for (const response of responses) assert.equal(Object.getPrototypeOf(response), ServerResponse.prototype);
  });
});

describe('on: what is recorded, and no credential in it', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ RECORD_REQUESTS: '20', FIREWORKS_API_KEY: SERVER_KEY, LOG_LEVEL: 'silent' });
  });
  after(() => stack.close());

  test('a chat request: its facts, its headers and body and answer redacted; no key anywhere in the record', async () => {
    const prompt = `My keys: ${CLIENT_KEY}, ${PASTED_KEY}, ${SERVER_KEY}. Photo: https://img.example.com/a.png?token=${CLIENT_KEY}`;
    const res = await chat(
      stack,
      withSim({ model: MODEL, messages: [{ role: 'user', content: prompt }] }, { content: `You sent ${CLIENT_KEY} and ${SERVER_KEY}.` }),
      { 'x-request-id': 'rec-chat-1', 'x-api-key': CLIENT_KEY, cookie: `session=${CLIENT_KEY}`, 'x-aws-secret-access-key': 'awsSecretValue/abc' },
    );
    assert.equal(res.status, 200);
    const { text, requests } = await readRecord(stack, ['rec-chat-1']);
    const recorded = find(requests, 'rec-chat-1');
    assert.equal(recorded.method, 'POST');
    assert.equal(recorded.path, '/v1/chat/completions');
    assert.equal(recorded.api, 'openai');
    assert.equal(recorded.provider, 'fireworks');
    assert.deepEqual(recorded.model, { asked: MODEL, sent: MODEL });
    assert.equal(recorded.status, 200);
    assert.equal(recorded.upstreamStatus, 200);
    assert.equal(recorded.stream, false);
    for (const name of ['authorization', 'x-api-key', 'cookie', 'x-aws-secret-access-key']) assert.equal(recorded.headers[name], '[REDACTED]', name);
    assert.equal(recorded.headers['x-provider'], 'fireworks');
    assert.match(recorded.body!.text, /My keys: \[REDACTED\], \[REDACTED\], \[REDACTED\]\./);
    assert.match(recorded.answer!.text, /You sent \[REDACTED\] and \[REDACTED\]\./);
    assert.equal(recorded.answer!.truncated, false);
    for (const secret of [CLIENT_KEY, PASTED_KEY, SERVER_KEY, 'awsSecretValue']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
  });

  test('a Gemini request with ?key=: the path without its query, and the key nowhere in the record', async () => {
    const url = `${stack.origin}/v1beta/models/fireworks/${MODEL}:streamGenerateContent?alt=sse&key=${GEMINI_KEY}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'rec-gemini-1' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: `the key is ${GEMINI_KEY}` }] }] }),
    });
    const answer = await res.text();
    assert.equal(res.status, 200, answer);
    const { text, requests } = await readRecord(stack, ['rec-gemini-1']);
    const recorded = find(requests, 'rec-gemini-1');
    assert.equal(recorded.path, `/v1beta/models/fireworks/${MODEL}:streamGenerateContent`);
    assert.equal(recorded.api, 'gemini');
    assert.equal(recorded.stream, true);
    assert.equal(recorded.headers['x-goog-api-key'], '[REDACTED]');
    assert.match(recorded.body!.text, /the key is \[REDACTED\]/);
    // The answer as the client got it: Gemini's SSE events.
    assert.ok(recorded.answer!.text.startsWith('data: {'), recorded.answer!.text);
    assert.equal(recorded.answer!.bytes, Buffer.byteLength(answer));
    assert.ok(!text.includes(GEMINI_KEY), text);
  });

  test('a failing request records its error and the provider\'s status; one that never reached a provider, no upstream status', async () => {
    const res = await chat(stack, withSim({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, { status: 503, error_message: `overloaded for ${CLIENT_KEY}` }), {
      'x-request-id': 'rec-fail-1',
      'x-gateway-max-retries': '1',
    });
    assert.equal(res.status, 503);
    const refused = await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      // Values too short to redact by value (a word would go with them): their header's name takes them out.
      headers: { 'content-type': 'text/plain', 'x-request-id': 'rec-fail-2', cookie: 'a=1', 'x-aws-session-token': 'tk' },
      body: 'not json',
    });
    assert.equal(refused.status, 415);
    await refused.arrayBuffer();
    const { text, requests } = await readRecord(stack, ['rec-fail-1', 'rec-fail-2']);
    const failed = find(requests, 'rec-fail-1');
    assert.equal(failed.status, 503);
    assert.equal(failed.upstreamStatus, 503);
    assert.equal(failed.retries, 1);
    assert.match(failed.error!, /overloaded for \[REDACTED\]/);
    assert.match(failed.answer!.text, /overloaded for \[REDACTED\]/);
    const unsent = find(requests, 'rec-fail-2');
    assert.equal(unsent.status, 415);
    assert.equal(unsent.upstreamStatus, undefined);
    assert.match(unsent.error!, /Content-Type must be application\/json/);
    assert.equal(unsent.headers.cookie, '[REDACTED]');
    assert.equal(unsent.headers['x-aws-session-token'], '[REDACTED]');
    assert.ok(!text.includes(CLIENT_KEY), text);
  });

  test('neither health checks nor reads of the record are recorded', async () => {
    await (await fetch(`${stack.origin}/health`, { headers: { 'x-request-id': 'rec-health' } })).arrayBuffer();
    await readRecord(stack, []);
    await chat(stack, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, { 'x-request-id': 'rec-after-health' });
    const { requests } = await readRecord(stack, ['rec-after-health']);
    find(requests, 'rec-after-health');
    assert.ok(requests.every((request) => request.id !== 'rec-health' && request.path !== '/debug/requests'));
  });
});

describe('bounds', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ RECORD_REQUESTS: '3', RECORD_BODY_BYTES: '512', LOG_LEVEL: 'silent' });
  });
  after(() => stack.close());

  test('a body and an answer are cut at RECORD_BODY_BYTES, their whole length kept', async () => {
    const content = 'x'.repeat(10_000);
    const res = await chat(stack, withSim({ model: MODEL, stream: true, messages: [{ role: 'user', content }] }, { chunks: 40 }), { 'x-request-id': 'rec-long' });
    assert.equal(res.status, 200);
    const recorded = find((await readRecord(stack, ['rec-long'])).requests, 'rec-long');
    assert.equal(recorded.body!.truncated, true);
    assert.ok(recorded.body!.bytes > 10_000);
    assert.equal(Buffer.byteLength(recorded.body!.text), 512);
    assert.equal(recorded.answer!.truncated, true);
    assert.ok(recorded.answer!.bytes > 2_000, String(recorded.answer!.bytes));
    assert.equal(Buffer.byteLength(recorded.answer!.text), 512);
    assert.ok(recorded.answer!.text.startsWith('data: {'));
  });

  test('a key that straddles the cut is redacted whole before the body is cut', async () => {
    const prefix = '{"model":"' + MODEL + '","messages":[{"role":"user","content":"';
    const content = 'y'.repeat(512 - 6 - prefix.length) + CLIENT_KEY;
    const res = await chat(stack, { model: MODEL, messages: [{ role: 'user', content }] }, { 'x-request-id': 'rec-straddle' });
    assert.equal(res.status, 200);
    const recorded = find((await readRecord(stack, ['rec-straddle'])).requests, 'rec-straddle');
    // The key starts 6 bytes before the cut: without redaction first, "fw_rec" would be kept.
    assert.ok(recorded.body!.text.endsWith('[REDAC'), recorded.body!.text.slice(-20));
    assert.ok(!recorded.body!.text.includes(CLIENT_KEY.slice(0, 6)));
  });

  test('only the last RECORD_REQUESTS are kept, newest first; ?limit= gives fewer', async () => {
    for (let i = 1; i <= 5; i++) {
      await chat(stack, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, { 'x-request-id': `rec-ring-${i}` });
    }
    const ids = (await readRecord(stack, ['rec-ring-5'])).requests.map((request) => request.id);
    assert.deepEqual(ids, ['rec-ring-5', 'rec-ring-4', 'rec-ring-3']);
    assert.deepEqual((await readRecord(stack, [], '?limit=2')).requests.map((request) => request.id), ['rec-ring-5', 'rec-ring-4']);
    const bad = await fetch(`${stack.origin}/debug/requests?limit=0`);
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
  });

  test('settings past their bounds stop start-up', () => {
    const problems = (env: Record<string, string>): string => {
      try {
        loadConfig(env);
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.message;
      }
      return '';
    };
    assert.match(problems({ RECORD_REQUESTS: '1001' }), /RECORD_REQUESTS: must be an integer from 0 to 1000/);
    assert.match(problems({ RECORD_BODY_BYTES: String(1024 * 1024) }), /RECORD_BODY_BYTES: must be an integer from 0 to 131072/);
    assert.match(problems({ RECORD_REQUESTS: '1000', RECORD_BODY_BYTES: String(128 * 1024) }), /RECORD_REQUESTS \(1000\) times RECORD_BODY_BYTES must be at most 33554432/);
    assert.match(problems({ RECORD_READERS: 'everyone' }), /RECORD_READERS: must be loopback or any/);
    assert.equal(problems({ RECORD_REQUESTS: '1000' }), '');
  });
});

describe('who may read it', () => {
  test('clients on this machine only, not through a proxy, unless RECORD_READERS=any', () => {
    const refused = (address: string | undefined, headers = {}, readers: 'loopback' | 'any' = 'loopback') =>
      operatorRefusal(address, headers, readers, '/debug/requests', 'RECORD_READERS')?.status;
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(refused(address), undefined, address);
    for (const address of ['10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', 'fe80::1', '2001:db8::1', undefined]) assert.equal(refused(address), 403, address);
    assert.equal(refused('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }), 403);
    assert.equal(refused('127.0.0.1', { forwarded: 'for=203.0.113.9' }), 403);
    assert.equal(refused('203.0.113.9', {}, 'any'), undefined);
  });

  test('over HTTP: a relayed request is refused with a 403 that names the setting; RECORD_READERS=any serves it', async () => {
    const closed = await startStack({ RECORD_REQUESTS: '2', LOG_LEVEL: 'silent' });
    const open = await startStack({ RECORD_REQUESTS: '2', RECORD_READERS: 'any', LOG_LEVEL: 'silent', ...unreachableProviders() });
    try {
      const relayed = { 'x-forwarded-for': '203.0.113.9' };
      const res = await fetch(`${closed.origin}/debug/requests`, { headers: relayed });
      const body = (await res.json()) as { error: { message: string; code: string } };
      assert.equal(res.status, 403);
      assert.equal(body.error.code, 'operator_only');
      assert.match(body.error.message, /RECORD_READERS=any/);
      const served = await fetch(`${open.origin}/debug/requests`, { headers: relayed });
      assert.equal(served.status, 200);
      await served.arrayBuffer();
    } finally {
      await closed.close();
      await open.close();
    }
  });
});

describe('recording changes no answer', () => {
  test('the same requests answer the same bytes with the record on and off', async () => {
    const off = await startStack({ LOG_LEVEL: 'silent' });
    const on = await startStack({ RECORD_REQUESTS: '5', RECORD_BODY_BYTES: '64', LOG_LEVEL: 'silent' });
    try {
      const ask = async (stack: Stack, body: object): Promise<string> => {
        const res = await fetch(`${stack.baseURL}chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'x-provider': 'fireworks', 'x-request-id': 'same' },
          body: JSON.stringify(body),
        });
        const text = await res.text();
        return `${res.status} ${res.headers.get('content-length')} ${text.replace(/"(id|created)":("[^"]*"|\d+)/g, '"$1":_')}`;
      };
      const bodies = [
        { model: MODEL, messages: [{ role: 'user', content: 'hi' }] },
        withSim({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, { content: 'é'.repeat(40_000) }),
        withSim({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] }, { chunks: 20 }),
        withSim({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, { status: 400 }),
      ];
      for (const body of bodies) assert.equal(await ask(on, body), await ask(off, body));
    } finally {
      await off.close();
      await on.close();
    }
  });
});
