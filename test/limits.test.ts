// What a client controls is bounded: model names, body size and shape, bodies still arriving after
// a refusal. Each test is named after what it protects and fails without the limit it checks.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { JsonTextCache } from '../src/requestlog.js';
import { KEY, MODEL, requestLogs, startGatewayProcess, startStack, uniqueKey, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ LOG_LEVEL: 'info' });
});
after(() => stack.close());

async function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await request(`${stack.baseURL}chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

describe('model names', () => {
  test('a model name of megabytes is a 400, and neither the log line nor any cache keeps it', async () => {
    for (let i = 0; i < 5; i++) {
      const model = `${i}`.repeat(1_000_000);
      const { status, json } = await post(JSON.stringify({ model, messages: [] }));
      assert.equal(status, 400);
      assert.equal(json.error.param, 'model');
      assert.match(json.error.message, /at most 256 characters/);
    }
    const lines = requestLogs(stack).slice(-5);
    assert.ok(lines.every((line) => line.status === 400 && line.model === undefined));
    assert.ok(stack.rawLogs.every((line) => line.length < 2_000), 'no log line carries the name');
  });

  test('model names with quotes, spaces, control characters or non-ASCII are 400s; every real name passes', async () => {
    for (const model of ['a"b', 'a b', 'a\\b', 'a\nb', 'mödel', '\u0000', 'x'.repeat(257)]) {
      const { status, json } = await post(JSON.stringify({ model, messages: [] }));
      assert.equal(status, 400, model);
      assert.equal(json.error.param, 'model');
    }
    const sim = uniqueKey('names');
    for (const model of [
      MODEL,
      'accounts/me/models/ft-1#accounts/me/deployments/abc',
      'x'.repeat(256).replace(/^x{26}/, 'accounts/fireworks/models/'),
    ]) {
      const { status } = await post(JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], sim: { key: sim } }));
      assert.notEqual(status, 400, model);
    }
  });

  test('the path cache is bounded in characters', () => {
    const cache = new JsonTextCache(4_096, 64);
    for (let i = 0; i < 10_000; i++) cache.get(`/v1/${i}/${'p'.repeat(i % 60)}`);
    assert.ok(cache.size <= 4_096);
  });
});

describe('model rewrite', () => {
  test('expanding a short model name changes only the model: big numbers, 1e400, duplicate keys and spacing stay as sent', async () => {
    const key = uniqueKey('rewrite');
    const body =
      '{ "seed": 12345678901234567891, "big": 1e400, "dup": 1, "dup": 2,\n' +
      ` "model" : "llama-v3p1-8b-instruct", "messages": [{"role":"user","content":"caf\\u00e9"}], "sim": {"key": "${key}"} }`;
    const { status } = await post(body);
    assert.equal(status, 200);
    const seen = stack.sim.requestsFor(key)[0]!;
    assert.equal(seen.body, body.replace('"llama-v3p1-8b-instruct"', `"${MODEL}"`));
  });

  test('with duplicate model keys, the last one (the one parsers keep) is rewritten', async () => {
    const key = uniqueKey('dup-model');
    const body = `{"model":"first","model":"llama-v3p1-8b-instruct","messages":[{"role":"user","content":"x"}],"sim":{"key":"${key}"}}`;
    assert.equal((await post(body)).status, 200);
    assert.equal(stack.sim.requestsFor(key)[0]!.body, body.replace('"llama-v3p1-8b-instruct"', `"${MODEL}"`));
  });

  test('a deeply nested body with a short model name is a 400, not a 500', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const { status, json } = await post(`{"model":"llama-v3p1-8b-instruct","messages":[],"x":${deep}}`);
    assert.equal(status, 400);
    assert.equal(json.error.code, 'invalid_json');
  });
});

describe('large bodies', () => {
  test('a body that breaks JSON early is refused at once, not after all of it arrived', async () => {
    // 8 MiB declared, and the fault in the first bytes: the answer comes while the body is still
    // being sent, and the connection is drained, so the client reads it.
    const size = 8 * 1024 * 1024;
    const body = Buffer.alloc(size, 0x20);
    body.write('{"model": "m", "messages": [}');
    const { status, json } = await post(body);
    assert.equal(status, 400);
    assert.match(json.error.message, /expected a value at byte 28/);
  });
});

describe('refused bodies still arriving', () => {
  test('a client still sending a body over MAX_BODY_BYTES reads the 413, every time', async () => {
    // A gateway process of its own: in one process with the client the race never shows. Before
    // the fix, 8 MB over a 1 MiB limit gave EPIPE in most of these tries.
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: stack.sim.url, MAX_BODY_BYTES: String(1024 * 1024) });
    try {
      const size = 8 * 1000 * 1000;
      const body = Buffer.alloc(size, 0x20);
      body.write('{"model":"m","messages":[],"pad":"');
      body.write('"}', size - 2);
      const outcomes: string[] = [];
      for (let i = 0; i < 12; i++) {
        // Node's fetch, as in the report: once with a declared length, once streamed (chunked).
        const streamed = i % 2 === 1;
        const payload = streamed
          ? new ReadableStream({
              start(controller) {
                for (let at = 0; at < size; at += 65536) controller.enqueue(body.subarray(at, at + 65536));
                controller.close();
              },
            })
          : body;
        try {
          const res = await fetch(`${gw.origin}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
            body: payload,
            duplex: 'half',
          } as RequestInit);
          const json = (await res.json()) as any;
          outcomes.push(`${res.status} ${json.error?.code}`);
        } catch (err) {
          outcomes.push(String((err as { cause?: { code?: string } }).cause?.code ?? err));
        }
      }
      assert.deepEqual(outcomes, Array(12).fill('413 request_too_large'));
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });
});

describe('event loop', () => {
  let upstream: Server;
  let upstreamUrl: string;
  before(async () => {
    // An upstream that takes bodies without parsing them, so only the gateway's cost is measured.
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"object":"chat.completion","choices":[]}');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  });
  after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

  test('8 bodies of 19 MiB of tiny JSON objects do not stall /health', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: upstreamUrl, FIREWORKS_API_KEY: KEY, MAX_BODY_BYTES: String(32 * 1024 * 1024) });
    const agent = new Agent({ connections: 16 });
    try {
      const tiny = Buffer.from(`{"model":"${MODEL}","messages":[${Array(Math.floor((19 * 1024 * 1024) / 8)).fill('{"a":1}').join(',')}]}`);
      let sending = true;
      const latencies: number[] = [];
      const probe = (async () => {
        while (sending) {
          const started = performance.now();
          const res = await request(`${gw.origin}/health`, { dispatcher: agent });
          await res.body.text();
          latencies.push(performance.now() - started);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      const statuses = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const res = await request(`${gw.origin}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: tiny,
            dispatcher: agent,
          });
          await res.body.text();
          return res.statusCode;
        }),
      );
      sending = false;
      await probe;
      assert.deepEqual(statuses, Array(8).fill(200));
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
      // The target is 100 ms (before: 12.9 s); the bound here leaves room for a loaded CI
      // machine, and still fails by far when a body is parsed whole.
      assert.ok(p99 < 500, `/health p99 ${p99.toFixed(1)} ms over ${latencies.length} probes`);
    } finally {
      await agent.close();
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });
});
