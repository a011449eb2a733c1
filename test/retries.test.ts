// Retries while nothing has reached the client, within one deadline for the whole request.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { backoffMs, retryAfterMs } from '../src/upstream.js';
import { MODEL, requestLogs, startStack, uniqueKey, until, withSim, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

const chat = { model: MODEL, messages: [{ role: 'user' as const, content: 'retry me' }] };

describe('retries', () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    test(`${status} is retried and the request succeeds`, async () => {
      const key = uniqueKey(`retry-${status}`);
      const completion = await stack.client().chat.completions.create(withSim(chat, { key, status, fail_first: 2, retry_after: '0' }));
      assert.equal(completion.object, 'chat.completion');
      assert.equal(stack.sim.requestsFor(key).length, 3);
    });
  }

  test('a persisting failure gives MAX_RETRIES + 1 attempts, then the provider status and message', async () => {
    const key = uniqueKey('persist');
    await assert.rejects(
      stack.client().chat.completions.create(withSim(chat, { key, status: 503, error_message: 'overloaded, try later' })),
      (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 503 && /overloaded/.test(err.message),
    );
    assert.equal(stack.sim.requestsFor(key).length, 3);
    const line = requestLogs(stack).find((l) => l.reqId && l.status === 503 && l.retries === 2);
    assert.ok(line, 'the log line counts the retries');
  });

  for (const status of [400, 401, 403, 404, 422]) {
    test(`${status} is not retried`, async () => {
      const key = uniqueKey(`noretry-${status}`);
      await assert.rejects(stack.client().chat.completions.create(withSim(chat, { key, status })));
      assert.equal(stack.sim.requestsFor(key).length, 1);
    });
  }

  test('a connection reset before any answer is retried', async () => {
    const key = uniqueKey('reset');
    const completion = await stack.client().chat.completions.create(withSim(chat, { key, reset: true, fail_first: 1 }));
    assert.equal(completion.object, 'chat.completion');
    assert.equal(stack.sim.requestsFor(key).length, 2);
  });

  test('a failure the gateway retried tells the SDK not to retry it again', async () => {
    const post = (key: string, headers: Record<string, string> = {}) =>
      fetch(`${stack.baseURL}chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer fw_test_key_0123456789', ...headers },
        body: JSON.stringify(withSim(chat, { key, status: 503 })),
      });
    const retried = await post(uniqueKey('should-retry'));
    assert.equal(retried.status, 503);
    assert.equal(retried.headers.get('x-should-retry'), 'false');
    // Without gateway retries, the SDK's own retries are left alone.
    const notRetried = await post(uniqueKey('should-retry-0'), { 'x-gateway-max-retries': '0' });
    assert.equal(notRetried.status, 503);
    assert.equal(notRetried.headers.get('x-should-retry'), null);

    // The SDK, left at its default of 2 retries, makes no attempt of its own.
    const key = uniqueKey('sdk-no-retry');
    await assert.rejects(
      stack.client({ maxRetries: 2 }).chat.completions.create(withSim(chat, { key, status: 503 })),
      OpenAI.InternalServerError,
    );
    assert.equal(stack.sim.requestsFor(key).length, 3, 'the gateway\'s 3 attempts, and no more');
  });

  test('x-gateway-max-retries lowers the retries for one request', async () => {
    const key = uniqueKey('override');
    await assert.rejects(
      stack.client().chat.completions.create(withSim(chat, { key, status: 500 }), {
        headers: { 'x-gateway-max-retries': '0' },
      }),
      OpenAI.InternalServerError,
    );
    assert.equal(stack.sim.requestsFor(key).length, 1);
  });

  test('x-gateway-max-retries cannot exceed the server limit', async () => {
    const key = uniqueKey('override-max');
    await assert.rejects(
      stack.client().chat.completions.create(withSim(chat, { key, status: 500 }), {
        headers: { 'x-gateway-max-retries': '9' },
      }),
    );
    assert.equal(stack.sim.requestsFor(key).length, 3);
  });

  test('retry-after is honoured when it fits, and kept on the final answer', async () => {
    const key = uniqueKey('retry-after');
    const started = Date.now();
    const completion = await stack.client().chat.completions.create(
      withSim(chat, { key, status: 429, fail_first: 1, retry_after: '1' }),
    );
    assert.equal(completion.object, 'chat.completion');
    const attempts = stack.sim.requestsFor(key);
    assert.equal(attempts.length, 2);
    assert.ok(Date.now() - started >= 950, 'waited about the second the provider asked for');

    const persistent = uniqueKey('retry-after-kept');
    const res = await fetch(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer fw_test_key_0123456789', 'x-gateway-max-retries': '0' },
      body: JSON.stringify(withSim(chat, { key: persistent, status: 429, retry_after: '7' })),
    });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '7');
    assert.ok(res.headers.get('x-ratelimit-limit-requests'), 'rate-limit headers pass through');
  });

  test('a retry-after longer than the time left is not waited for', async () => {
    const key = uniqueKey('retry-after-long');
    const started = Date.now();
    await assert.rejects(
      stack.client().chat.completions.create(withSim(chat, { key, status: 429, retry_after: '60' }), {
        headers: { 'x-gateway-timeout-ms': '2000' },
      }),
      (err: unknown) => err instanceof OpenAI.RateLimitError && err.headers?.get('retry-after') === '60',
    );
    assert.equal(stack.sim.requestsFor(key).length, 1);
    assert.ok(Date.now() - started < 1500);
  });
});

describe('deadlines', () => {
  test('a slow provider gives 504 in about REQUEST_TIMEOUT_MS, retries included', async () => {
    const slow = await startStack({ REQUEST_TIMEOUT_MS: '600' });
    try {
      const key = uniqueKey('slow');
      const started = Date.now();
      await assert.rejects(
        slow.client().chat.completions.create(withSim(chat, { key, delay_ms: 5_000 })),
        (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 504,
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 550 && elapsed < 2_000, `took ${elapsed} ms`);
      // The timed-out attempt was cancelled upstream.
      await slow.sim.waitFor(() => slow.sim.requestsFor(key).every((r) => r.aborted), 2_000);
    } finally {
      await slow.close();
    }
  });

  test('failing attempts and backoff count against the same budget', async () => {
    const tight = await startStack({ REQUEST_TIMEOUT_MS: '500', MAX_RETRIES: '5' });
    try {
      const key = uniqueKey('budget');
      const started = Date.now();
      await assert.rejects(
        tight.client().chat.completions.create(withSim(chat, { key, status: 503, delay_ms: 200 })),
        (err: unknown) => err instanceof OpenAI.APIError && (err.status === 504 || err.status === 503),
      );
      assert.ok(Date.now() - started < 1_500);
      assert.ok(tight.sim.requestsFor(key).length <= 3, 'no more attempts than fit in the budget');
    } finally {
      await tight.close();
    }
  });

  test('x-gateway-timeout-ms shortens the deadline for one request', async () => {
    const key = uniqueKey('short');
    const started = Date.now();
    await assert.rejects(
      stack.client().chat.completions.create(withSim(chat, { key, delay_ms: 3_000 }), {
        headers: { 'x-gateway-timeout-ms': '300' },
      }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 504,
    );
    assert.ok(Date.now() - started < 1_500);
  });

  test('a stream that stalls after its first byte ends with an error event after STREAM_IDLE_TIMEOUT_MS', async () => {
    const idle = await startStack({ STREAM_IDLE_TIMEOUT_MS: '300' });
    try {
      const key = uniqueKey('stall');
      const stream = await idle.client().chat.completions.create(
        withSim({ ...chat, stream: true as const }, { key, chunks: 5, stall_after: 2 }),
      );
      const received: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
        })(),
        (err: unknown) => err instanceof OpenAI.APIError && /sent nothing for 300 ms/.test(err.message),
      );
      assert.ok(received.length >= 2, 'chunks before the stall were delivered');
      await idle.sim.waitFor(() => idle.sim.requestsFor(key)[0]?.aborted === true, 2_000);
    } finally {
      await idle.close();
    }
  });

  test('a stream cut off mid-way raises in the SDK instead of hanging', async () => {
    const key = uniqueKey('cut');
    const stream = await stack.client().chat.completions.create(
      withSim({ ...chat, stream: true as const }, { key, chunks: 10, cut_after: 3 }),
    );
    let count = 0;
    await assert.rejects(
      (async () => {
        for await (const _chunk of stream) count++;
      })(),
      (err: unknown) => err instanceof OpenAI.APIError && /broke off/.test(err.message),
    );
    assert.ok(count >= 1);
    assert.equal(stack.sim.requestsFor(key).length, 1, 'a stream that has started is never retried');
    await until(() => requestLogs(stack).some((l) => typeof l.error === 'string' && /broke off/.test(l.error as string)));
  });
});

describe('backoff and retry-after parsing', () => {
  test('full jitter stays under the exponential ceiling and the maximum', () => {
    assert.equal(backoffMs(0, 100, 1_000, () => 0.999), 99);
    assert.equal(backoffMs(3, 100, 1_000, () => 0.999), 799);
    assert.equal(backoffMs(10, 100, 1_000, () => 0.999), 999);
    assert.equal(backoffMs(2, 100, 1_000, () => 0), 0);
  });
  test('retry-after in seconds, as an HTTP date, and retry-after-ms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterMs('2', undefined, now), 2_000);
    assert.equal(retryAfterMs('0.5', undefined, now), 500);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', undefined, now), 3_000);
    assert.equal(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', undefined, now), 0);
    assert.equal(retryAfterMs(undefined, '250', now), 250);
    assert.equal(retryAfterMs('soon', undefined, now), undefined);
    assert.equal(retryAfterMs(undefined, undefined, now), undefined);
  });
});
