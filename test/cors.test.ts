// CORS: allowed and other origins, preflights, x-stainless-* patterns, exposed headers. Drives
// Cors.handle from a plain node:http server, as server.ts calls it: first, for every request.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { loadConfig } from '../src/config.js';
import { createCors, type Cors } from '../src/cors.js';

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.com';
const EXPOSED = [
  'x-request-id',
  'x-upstream-request-id',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-limit-tokens-prompt',
  'x-ratelimit-remaining-tokens-prompt',
  'x-ratelimit-limit-tokens-generated',
  'x-ratelimit-remaining-tokens-generated',
];
// What the openai SDK sends from a browser (chat.completions.create, then its stream helper).
const SDK_HEADERS =
  'authorization,content-type,user-agent,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,' +
  'x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout,x-stainless-helper-method';

interface Served {
  origin: string;
  /** Requests that got past the CORS handler, i.e. that would have gone on to a provider. */
  passed: number;
  close(): Promise<void>;
}

async function serve(cors: Cors): Promise<Served> {
  const served = { passed: 0 } as Served;
  const server: Server = createServer((req, res) => {
    if (!cors.handle(req, res)) {
      served.passed++;
      res.end('ok');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  served.close = () => new Promise((resolve) => server.close(() => resolve()));
  return served;
}

function corsFor(env: Record<string, string>): Cors {
  const cors = createCors(loadConfig(env));
  assert.ok(cors, 'CORS on');
  return cors;
}

function preflight(origin: string, method: string, headers?: string): Record<string, string> {
  return {
    origin,
    'access-control-request-method': method,
    ...(headers === undefined ? {} : { 'access-control-request-headers': headers }),
  };
}

const ALLOW_HEADERS = ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age'];

test('CORS is off by default', () => {
  assert.equal(createCors(loadConfig({})), undefined);
});

describe('one allowed origin', () => {
  let served: Served;
  before(async () => {
    served = await serve(corsFor({ CORS_ORIGINS: `${APP},http://localhost:5173` }));
  });
  after(() => served.close());

  test('a request from it carries allow-origin, vary and the exposed headers, and goes on', async () => {
    const before = served.passed;
    const res = await fetch(served.origin, { method: 'POST', headers: { origin: APP }, body: '{}' });
    assert.equal(await res.text(), 'ok');
    assert.equal(served.passed, before + 1);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('vary'), 'origin');
    assert.deepEqual(res.headers.get('access-control-expose-headers')!.split(', '), EXPOSED);
  });

  test('a request from another origin goes on without allow headers', async () => {
    const res = await fetch(served.origin, { headers: { origin: OTHER } });
    assert.equal(await res.text(), 'ok');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-expose-headers'), null);
    assert.equal(res.headers.get('vary'), 'origin');
  });

  test('a request without Origin (not from a browser) goes on untouched but for vary', async () => {
    const res = await fetch(served.origin);
    assert.equal(await res.text(), 'ok');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('vary'), 'origin');
  });

  test('a preflight for the openai SDK\'s headers is answered 204 with every allow header', async () => {
    const before = served.passed;
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(APP, 'POST', SDK_HEADERS) });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.equal(served.passed, before, 'a preflight never goes on to a provider');
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST, OPTIONS');
    assert.deepEqual(res.headers.get('access-control-allow-headers')!.split(', '), SDK_HEADERS.split(','));
    assert.equal(res.headers.get('access-control-max-age'), '600');
    assert.equal(res.headers.get('vary'), 'origin, access-control-request-method, access-control-request-headers');
  });

  test('the default headers allow every header the openai SDK sends', async () => {
    let sent: string[] = [];
    const client = new OpenAI({
      apiKey: 'k',
      baseURL: `${served.origin}/v1`,
      maxRetries: 0,
      fetch: async (_url, init) => {
        sent = [...new Headers(init?.headers).keys()];
        throw new Error('captured');
      },
    });
    await assert.rejects(client.chat.completions.create({ model: 'm', messages: [] }));
    const requested = sent.filter((name) => name !== 'accept'); // accept is CORS-safelisted
    assert.ok(requested.some((name) => name.startsWith('x-stainless-')), sent.join());
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(APP, 'POST', requested.join(',')) });
    assert.deepEqual(res.headers.get('access-control-allow-headers')!.split(', ').sort(), requested.sort());
  });

  test('requested headers are matched in any case and spacing', async () => {
    const res = await fetch(served.origin, {
      method: 'OPTIONS',
      headers: preflight('http://localhost:5173', 'POST', 'Content-Type ,  X-Stainless-OS,x-provider'),
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.equal(res.headers.get('access-control-allow-headers'), 'content-type, x-stainless-os, x-provider');
  });

  test('a preflight without requested headers gets no allow-headers', async () => {
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(APP, 'GET') });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('access-control-allow-headers'), null);
  });

  test('a header not allowed is left out of allow-headers, so the browser refuses and names it', async () => {
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(APP, 'POST', 'content-type,x-secret-thing') });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('access-control-allow-headers'), 'content-type');
  });

  test('a preflight from another origin gets 204 without any allow header', async () => {
    const before = served.passed;
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(OTHER, 'POST', 'content-type') });
    assert.equal(res.status, 204);
    assert.equal(served.passed, before);
    for (const name of ALLOW_HEADERS) assert.equal(res.headers.get(name), null, name);
  });

  test('a preflight for a method not allowed gets no allow header', async () => {
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(APP, 'DELETE', 'content-type') });
    assert.equal(res.status, 204);
    for (const name of ALLOW_HEADERS) assert.equal(res.headers.get(name), null, name);
  });

  test('another scheme, port or host is another origin', async () => {
    for (const origin of [`${APP}:8443`, 'http://app.example.com', 'https://app.example.com.evil.com', 'null']) {
      const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(origin, 'POST') });
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  test('an OPTIONS with an Origin but no requested method is answered here, never passed on', async () => {
    const before = served.passed;
    for (const origin of [APP, OTHER]) {
      const res = await fetch(served.origin, { method: 'OPTIONS', headers: { origin } });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-methods'), null);
    }
    assert.equal(served.passed, before);
  });

  test('an OPTIONS without Origin is not CORS: it goes on', async () => {
    const before = served.passed;
    const res = await fetch(served.origin, { method: 'OPTIONS' });
    assert.equal(await res.text(), 'ok');
    assert.equal(served.passed, before + 1);
  });
});

describe('CORS_ORIGINS=*', () => {
  let served: Served;
  before(async () => {
    served = await serve(corsFor({ CORS_ORIGINS: '*' }));
  });
  after(() => served.close());

  test('any origin is allowed, and echoed', async () => {
    const res = await fetch(served.origin, { headers: { origin: OTHER } });
    assert.equal(res.headers.get('access-control-allow-origin'), OTHER);
    const pre = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(OTHER, 'POST', 'authorization') });
    assert.equal(pre.headers.get('access-control-allow-origin'), OTHER);
    assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization');
  });
});

describe('configured lists', () => {
  let served: Served;
  before(async () => {
    served = await serve(
      corsFor({
        CORS_ORIGINS: APP,
        CORS_ALLOW_HEADERS: 'content-type,x-stainless-*,x-team-*',
        CORS_ALLOW_METHODS: 'post',
        CORS_MAX_AGE_S: '86400',
      }),
    );
  });
  after(() => served.close());

  test('patterns match by prefix, exact names exactly', async () => {
    const res = await fetch(served.origin, {
      method: 'OPTIONS',
      headers: preflight(APP, 'POST', 'x-stainless-helper-method,x-team-id,x-stainless,authorization,content-type-x'),
    });
    assert.equal(res.headers.get('access-control-allow-headers'), 'x-stainless-helper-method, x-team-id');
    assert.equal(res.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(res.headers.get('access-control-max-age'), '86400');
  });

  test('GET is refused when only POST is allowed', async () => {
    const res = await fetch(served.origin, { method: 'OPTIONS', headers: preflight(APP, 'GET', 'content-type') });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });
});

describe('CORS in the gateway', () => {
  test('a preflight is answered without a provider; the request itself carries the allow and expose headers', async () => {
    const { startStack, KEY, MODEL, uniqueKey } = await import('./helpers.js');
    const stack = await startStack({ CORS_ORIGINS: APP, LOG_LEVEL: 'silent' });
    try {
      const before = stack.sim.requests.length;
      const pre = await fetch(`${stack.baseURL}chat/completions`, { method: 'OPTIONS', headers: preflight(APP, 'POST', SDK_HEADERS) });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), APP);
      assert.equal(stack.sim.requests.length, before, 'no provider request for a preflight');

      const key = uniqueKey('cors');
      const res = await fetch(`${stack.baseURL}chat/completions`, {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], sim: { key } }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), APP);
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/);

      // Errors too: a browser can read why it failed.
      const bad = await fetch(`${stack.baseURL}chat/completions`, {
        method: 'POST',
        headers: { origin: APP, 'content-type': 'application/json' },
        body: '{',
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.headers.get('access-control-allow-origin'), APP);

      const other = await fetch(`${stack.baseURL}models`, { headers: { origin: OTHER, authorization: `Bearer ${KEY}` } });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    } finally {
      await stack.close();
    }
  });

  test('off by default: a preflight gets no allow headers', async () => {
    const { startStack } = await import('./helpers.js');
    const stack = await startStack({ LOG_LEVEL: 'silent' });
    try {
      const pre = await fetch(`${stack.baseURL}chat/completions`, { method: 'OPTIONS', headers: preflight(APP, 'POST', 'content-type') });
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
      await pre.text();
    } finally {
      await stack.close();
    }
  });
});
