// What a provider controls is bounded too, and odd answers reach the client in a shape it reads:
// endless bodies, clients that stop reading, compressed answers, 204s, 1xx, unreachable hosts.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { KEY, MODEL, requestLogs, startStack, uniqueKey, until, withSim, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack({
    LOG_LEVEL: 'info',
    MAX_BUFFERED_RESPONSE_BYTES: String(256 * 1024),
    REQUEST_TIMEOUT_MS: '1500',
    CLIENT_STALL_TIMEOUT_MS: '300',
    UPSTREAM_CONNECTIONS: '1',
  });
});
after(() => stack.close());

function chat(sim: object, extra: object = {}): string {
  return JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], sim, ...extra });
}

async function post(body: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(`${stack.baseURL}chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('answers that do not end', () => {
  test('a never-ending JSON body is passed through past MAX_BUFFERED_RESPONSE_BYTES and cut at the deadline, not buffered', async () => {
    const res = await request(`${stack.baseURL}chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: chat({ key: uniqueKey('endless'), endless: true }),
    });
    assert.equal(res.statusCode, 200);
    let received = 0;
    await assert.rejects(async () => {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    assert.ok(received > 256 * 1024, `received ${received} bytes`);
    await until(() => requestLogs(stack).some((line) => String(line.error).includes('did not complete within 1500 ms')));
    const line = requestLogs(stack).find((l) => String(l.error).includes('did not complete within 1500 ms'))!;
    assert.equal(line.level, 'warn');
    assert.equal(line.status, 200);
  });

  test('a large answer passed through arrives whole, with its usage read', async () => {
    const key = uniqueKey('large');
    const { status, text } = await post(chat({ key, body_bytes: 3 * 1024 * 1024 }));
    assert.equal(status, 200);
    assert.ok(text.length >= 3 * 1024 * 1024 - 100);
    const completion = JSON.parse(text);
    assert.equal(completion.object, 'chat.completion');
    await until(() => requestLogs(stack).some((line) => line.promptTokens !== undefined && Number(line.ttfbMs) >= 0 && line.status === 200));
  });

  test('a client that stops reading is cut after CLIENT_STALL_TIMEOUT_MS, freeing the upstream connection', async () => {
    // One upstream connection (UPSTREAM_CONNECTIONS=1): while a stalled client held it, every
    // other request waited.
    const { port } = stack.gateway.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    const body = chat({ key: uniqueKey('stall'), endless: true });
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${KEY}\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause(); // and never read (so it does not see the close either)
    socket.on('error', () => {});
    try {
      await until(() => requestLogs(stack).some((line) => String(line.error).includes('read nothing for 300 ms')));
      const next = await post(chat({ key: uniqueKey('after-stall') }));
      assert.equal(next.status, 200);
    } finally {
      socket.destroy();
    }
  });

  test('a streaming client that stops reading is cut too', async () => {
    const { port } = stack.gateway.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    const body = chat({ key: uniqueKey('stall-sse'), chunks: 20_000, content: 'x'.repeat(2_000) }, { stream: true });
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${KEY}\r\n` +
        `x-gateway-timeout-ms: 60000\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause();
    socket.on('error', () => {});
    try {
      await until(() => requestLogs(stack).some((l) => l.stream === true && String(l.error).includes('read nothing')));
    } finally {
      socket.destroy();
    }
  });
});

describe('odd answers', () => {
  test('a gzip answer sent despite accept-encoding: identity is decoded, and its usage read', async () => {
    const { status, headers, text } = await post(chat({ key: uniqueKey('gzip'), gzip: true }));
    assert.equal(status, 200);
    assert.equal(headers['content-encoding'], undefined);
    assert.equal(JSON.parse(text).object, 'chat.completion');
    assert.equal(Number(headers['content-length']), Buffer.byteLength(text));
  });

  test('a gzip stream is passed on with its content-encoding, so the client can read it', async () => {
    const stream = await stack.client().chat.completions.create(
      withSim({ model: MODEL, messages: [{ role: 'user' as const, content: 'x' }], stream: true as const }, { key: uniqueKey('gzip-sse'), gzip: true }),
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
  });

  test('204 and 304 answers carry no content-length', async () => {
    for (const status of [204, 304]) {
      const res = await request(`${stack.baseURL}models?sim=${encodeURIComponent(JSON.stringify({ status }))}`, {
        headers: { authorization: `Bearer ${KEY}`, 'x-provider': 'fireworks' },
      });
      await res.body.text();
      assert.equal(res.statusCode, status);
      assert.equal(res.headers['content-length'], undefined);
    }
  });

  test('an informational 103 before the answer is skipped', async () => {
    const { status, text } = await post(chat({ key: uniqueKey('103'), informational: 103 }));
    assert.equal(status, 200);
    assert.equal(JSON.parse(text).object, 'chat.completion');
  });
});

describe('upstream addresses', () => {
  test('an unreachable provider is a 502 that names no address; the log keeps the details at warn', async () => {
    const down = await startStack({ FIREWORKS_BASE_URL: 'http://127.0.0.1:9/inference/v1', MAX_RETRIES: '0', LOG_LEVEL: 'info' });
    try {
      const res = await request(`${down.baseURL}chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: chat({}),
      });
      const body = (await res.body.json()) as { error: { message: string } };
      assert.equal(res.statusCode, 502);
      assert.match(body.error.message, /unreachable: the connection was refused \(ECONNREFUSED\)/);
      assert.doesNotMatch(body.error.message, /127\.0\.0\.1|:9\b/);
      const detail = down.logs.find((line) => line.msg === 'upstream connection failed');
      assert.equal(detail?.level, 'warn');
      assert.match(String(detail?.err), /127\.0\.0\.1:9/);
      assert.equal(requestLogs(down).at(-1)!.level, 'error');
    } finally {
      await down.close();
    }
  });

  test('a base URL without a path sends requests to /chat/completions, not //chat/completions', async () => {
    const paths: string[] = [];
    const upstream = createServer((req, res) => {
      paths.push(req.url!);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"chat.completion","choices":[]}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const bare = await startStack({ FIREWORKS_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, LOG_LEVEL: 'silent' });
    try {
      await bare.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
      assert.deepEqual(paths, ['/chat/completions']);
    } finally {
      await bare.close();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

describe('log levels', () => {
  test('with LOG_LEVEL=warn, failures are still logged and successes are not', async () => {
    const quiet = await startStack({ LOG_LEVEL: 'warn', MAX_RETRIES: '0' });
    try {
      await quiet.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'ok' }] });
      await assert.rejects(quiet.client().chat.completions.create(withSim({ model: MODEL, messages: [] }, { status: 503 })));
      await assert.rejects(quiet.client().chat.completions.create(withSim({ model: MODEL, messages: [] }, { status: 429 })));
      await assert.rejects(quiet.client().chat.completions.create(withSim({ model: MODEL, messages: [] }, { status: 400 })));
      const lines = requestLogs(quiet);
      assert.deepEqual(
        lines.map((line) => [line.status, line.level]),
        [
          [503, 'error'],
          [429, 'warn'],
        ],
      );
    } finally {
      await quiet.close();
    }
  });
});
