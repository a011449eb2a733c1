// What crosses the gateway: the upstream sees only what it needs, the client gets the provider's
// useful headers and our request id.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SERVER_KEY_PLACEHOLDER } from '../src/gateway.js';
import { KEY, MODEL, startStack, uniqueKey, withSim, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

const body = (key: string) => JSON.stringify(withSim({ model: MODEL, messages: [{ role: 'user', content: 'h' }] }, { key }));

describe('request headers sent upstream', () => {
  test('no x-provider, cookies, hop-by-hop or client host; the host is the upstream one', async () => {
    const key = uniqueKey('hygiene');
    const res = await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${KEY}`,
        'x-provider': 'FireWorks',
        cookie: 'session=secret',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
        'x-forwarded-for': '10.0.0.1',
        'x-custom-thing': '1',
        'openai-organization': 'org-1',
      },
      body: body(key),
    });
    assert.equal(res.status, 200, 'x-provider is case-insensitive');
    await res.text();
    const seen = stack.sim.requestsFor(key)[0]!;
    const names = Object.keys(seen.headers);
    for (const banned of ['x-provider', 'cookie', 'proxy-authorization', 'te', 'x-forwarded-for', 'x-custom-thing', 'openai-organization']) {
      assert.ok(!names.includes(banned), `${banned} must not reach the provider`);
    }
    assert.equal(seen.headers.host, new URL(stack.sim.origin).host);
    assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['accept-encoding'], 'identity');
  });

  test('the server-side key is used when the client sends none', async () => {
    const withKey = await startStack({ FIREWORKS_API_KEY: 'fw_server_side_key_42' });
    try {
      const key = uniqueKey('server-key');
      const completion = await withKey.client({ apiKey: SERVER_KEY_PLACEHOLDER }).chat.completions.create(
        withSim({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { key }),
      );
      assert.equal(completion.object, 'chat.completion');
      assert.equal(withKey.sim.requestsFor(key)[0]!.headers.authorization, 'Bearer fw_server_side_key_42');

      // An empty Bearer token (curl with an unset variable) also means the server's key.
      const key3 = uniqueKey('empty-bearer');
      const res = await fetch(`${withKey.baseURL}chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer ' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }], sim: { key: key3 } }),
      });
      assert.equal(res.status, 200);
      assert.equal(withKey.sim.requestsFor(key3)[0]!.headers.authorization, 'Bearer fw_server_side_key_42');

      // A client key wins over the server's.
      const key2 = uniqueKey('client-key');
      await withKey.client().chat.completions.create(withSim({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { key: key2 }));
      assert.equal(withKey.sim.requestsFor(key2)[0]!.headers.authorization, `Bearer ${KEY}`);
    } finally {
      await withKey.close();
    }
  });

  test('with no key anywhere: a 401 that says how to fix it, and nothing sent upstream', async () => {
    const before = stack.sim.requests.length;
    const res = await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(uniqueKey('nokey')),
    });
    assert.equal(res.status, 401);
    const json = (await res.json()) as { error: { message: string; type: string } };
    assert.match(json.error.message, /FIREWORKS_API_KEY/);
    assert.match(json.error.message, /Authorization: Bearer/);
    assert.equal(json.error.type, 'authentication_error');
    assert.equal(stack.sim.requests.length, before);
  });
});

describe('response headers', () => {
  test('rate-limit headers, content type, the provider request id and ours', async () => {
    const res = await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: body(uniqueKey('resp')),
    });
    await res.text();
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(res.headers.get('x-upstream-request-id'));
    assert.notEqual(res.headers.get('x-upstream-request-id'), res.headers.get('x-request-id'));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    for (const name of [
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-limit-tokens-prompt',
      'x-ratelimit-remaining-tokens-prompt',
      'x-ratelimit-limit-tokens-generated',
      'x-ratelimit-remaining-tokens-generated',
    ]) {
      assert.ok(res.headers.get(name) !== null, `${name} passes through`);
    }
  });

  test('a sane incoming x-request-id is kept; the SDK sees it as _request_id', async () => {
    const completion = await stack
      .client({ defaultHeaders: { 'x-provider': 'fireworks', 'x-request-id': 'trace-abc-123' } })
      .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(completion._request_id, 'trace-abc-123');
  });

  test('other /v1 paths are forwarded unchanged, query included', async () => {
    const key = uniqueKey('passthrough');
    const res = await fetch(`${stack.baseURL}models?sim=${encodeURIComponent(JSON.stringify({ key }))}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(res.status, 200);
    await res.text();
    const unknown = await fetch(`${stack.baseURL}no/such/endpoint?x=1`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(unknown.status, 404);
    const seen = stack.sim.requests.find((r) => r.path.includes('/no/such/endpoint'));
    assert.equal(seen?.path, '/inference/v1/no/such/endpoint?x=1');
    const json = (await unknown.json()) as { error: { message: string } };
    assert.ok(json.error.message.length > 0);
  });
});
