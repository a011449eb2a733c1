// Streams under load and when clients leave.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { KEY, MODEL, requestLogs, startStack, uniqueKey, until, withSim, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ LOG_LEVEL: 'info' });
});
after(() => stack.close());

describe('streams', () => {
  test('a client that disconnects cancels the upstream request at once', async () => {
    const key = uniqueKey('abort');
    const controller = new AbortController();
    const stream = await stack.client().chat.completions.create(
      withSim({ model: MODEL, messages: [{ role: 'user', content: 'long story' }], stream: true }, { key, chunks: 1000, chunk_delay_ms: 20 }),
      { signal: controller.signal },
    );
    let received = 0;
    // The SDK ends the iteration quietly (or with an AbortError) once aborted.
    try {
      for await (const _chunk of stream) {
        if (++received === 3) controller.abort();
      }
    } catch (err) {
      assert.equal((err as Error).name, 'APIUserAbortError');
    }
    assert.equal(received, 3);
    const abortedAt = Date.now();
    await stack.sim.waitFor(() => stack.sim.requestsFor(key)[0]?.aborted === true, 2_000);
    assert.ok(Date.now() - abortedAt < 1_000, 'upstream saw the cancel promptly');
    assert.equal(stack.sim.requestsFor(key)[0]!.completed, false);
    await until(() => requestLogs(stack).some((l) => l.status === 499 && l.stream === true));
  });

  test('a client that leaves during a non-streaming request cancels it upstream', async () => {
    const key = uniqueKey('abort-json');
    const { port } = stack.gateway.server.address() as { port: number };
    const body = JSON.stringify(withSim({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { key, delay_ms: 5_000 }));
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    });
    req.on('error', () => {});
    req.end(body);
    await stack.sim.waitFor(() => stack.sim.requestsFor(key).length === 1, 2_000);
    req.destroy();
    await stack.sim.waitFor(() => stack.sim.requestsFor(key)[0]?.aborted === true, 2_000);
  });

  test('a client that reads slowly is not mistaken for a silent provider', async () => {
    const slowReader = await startStack({ STREAM_IDLE_TIMEOUT_MS: '300', LOG_LEVEL: 'info' });
    try {
      const { port } = slowReader.gateway.server.address() as { port: number };
      // About 4 MB of stream: more than the socket buffers hold, so the gateway must hold the provider.
      const content = Array.from({ length: 4000 }, (_, i) => `word${i}`.padEnd(1000, '.')).join(' ');
      const body = JSON.stringify(
        withSim({ model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true }, { key: uniqueKey('slow-reader'), content, chunks: 4000 }),
      );
      const text = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/chat/completions',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
          },
          (res) => {
            const parts: Buffer[] = [];
            res.pause();
            // Read nothing for three idle periods, then everything.
            setTimeout(() => {
              res.on('data', (chunk: Buffer) => parts.push(chunk));
              res.resume();
            }, 1_000);
            res.on('end', () => resolve(Buffer.concat(parts).toString()));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.ok(text.endsWith('data: [DONE]\n\n'), 'the stream completed');
      assert.ok(!text.includes('"error"'), 'no error event');
    } finally {
      await slowReader.close();
    }
  });

  test('100 concurrent streams, each gets its own content and nothing else', async () => {
    const client = stack.client();
    const runs = Array.from({ length: 100 }, async (_, i) => {
      const content = Array.from({ length: 20 }, (_, w) => `s${i}w${w}`).join(' ');
      const stream = await client.chat.completions.create(
        withSim(
          { model: MODEL, messages: [{ role: 'user', content: `stream ${i}` }], stream: true as const },
          { key: uniqueKey(`many-${i}`), content, chunks: 10, chunk_delay_ms: 5 },
        ),
      );
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      return { content, text };
    });
    const results = await Promise.all(runs);
    for (const { content, text } of results) assert.equal(text, content);
  });
});
