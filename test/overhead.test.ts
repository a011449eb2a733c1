// x-gateway-overhead-ms: the time the gateway itself spent, on every answer, excluding the time
// the provider took and the backoff between attempts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { KEY, MODEL, startStack, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ FIREWORKS_API_KEY: KEY, LOG_LEVEL: 'info' });
});
after(() => stack.close());

function chat(extra: Record<string, unknown> = {}, body?: string) {
  return request(`${stack.baseURL}chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body ?? JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

function overheadOf(headers: Record<string, string | string[] | undefined>): number {
  const value = headers['x-gateway-overhead-ms'];
  assert.equal(typeof value, 'string', 'the answer carries x-gateway-overhead-ms');
  assert.match(value as string, /^\d+(\.\d{1,3})?$/);
  return Number(value);
}

test('a whole answer from a slow provider: the overhead leaves out the provider\'s 400 ms', async () => {
  stack.sim.queueFault({ delay_ms: 400 });
  const started = performance.now();
  const res = await chat();
  await res.body.json();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 400);
  const overhead = overheadOf(res.headers);
  assert.ok(overhead < elapsed - 350, `overhead ${overhead} ms of ${elapsed} ms`);
});

test('a stream carries it in its headers', async () => {
  stack.sim.queueFault({ delay_ms: 300 });
  const res = await chat({ stream: true });
  await res.body.text();
  assert.ok(overheadOf(res.headers) < 250);
});

test('a retried request: the backoff between attempts is not the gateway\'s time', async () => {
  // Retry-After fixes the wait (the gateway's own backoff is random).
  stack.sim.queueFault({ status: 503, retry_after: '0.4' });
  const started = performance.now();
  const res = await chat();
  await res.body.json();
  assert.equal(res.statusCode, 200);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 400, `the retry waited (${elapsed} ms)`);
  assert.ok(overheadOf(res.headers) < elapsed - 350, `overhead ${overheadOf(res.headers)} of ${elapsed} ms`);
});

test('an error the gateway answers itself carries it too', async () => {
  const res = await chat({}, '{"model": 1}');
  await res.body.json();
  assert.equal(res.statusCode, 400);
  overheadOf(res.headers);
});

test('the request line holds the overhead the header gave, or a little more', async () => {
  const res = await chat();
  await res.body.json();
  const header = overheadOf(res.headers);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const line = stack.logs.filter((l) => l.msg === 'request').at(-1)!;
  assert.equal(typeof line.overheadMs, 'number');
  assert.ok((line.overheadMs as number) + 0.001 >= header - 5, `line ${line.overheadMs} vs header ${header}`);
});
