// Hostile or odd input never crashes or hangs the gateway: each gets a clear answer.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { KEY, MODEL, startStack, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  stack = await startStack({ LOG_LEVEL: 'silent' });
});
after(() => stack.close());

/** Sends raw bytes and returns the status line of the answer. */
function raw(payload: Buffer | string): Promise<string> {
  const { port } = stack.gateway.server.address() as { port: number };
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(5_000, () => reject(new Error('no answer within 5 s')));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(data.slice(0, data.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data.slice(0, data.indexOf('\r\n'))));
    socket.write(payload);
  });
}

function post(body: Buffer | string, headers: Record<string, string> = {}, path = '/v1/chat/completions'): Promise<string> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head = Object.entries({ 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return raw(Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\n${head}content-length: ${bytes.length}\r\n\r\n`), bytes]));
}

describe('odd input', () => {
  const bodies: [string, Buffer | string, RegExp][] = [
    ['empty body', '', / 400 /],
    ['null', 'null', / 400 /],
    ['a string', '"hello"', / 400 /],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), / 400 /],
    ['deep nesting', '['.repeat(100_000) + ']'.repeat(100_000), / 400 /],
    ['model as list', JSON.stringify({ model: [MODEL], messages: [] }), / 400 /],
    ['messages null', JSON.stringify({ model: MODEL, messages: null }), / 400 /],
    ['model empty', JSON.stringify({ model: '', messages: [] }), / 400 /],
    ['__proto__ key', `{"__proto__": {"model": "x"}, "messages": []}`, / 400 /],
    ['unicode everywhere', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: '\u0000\ud83d\ude00\u2028' }] }), / 200 /],
  ];
  for (const [name, body, expected] of bodies) {
    test(`${name}`, async () => {
      assert.match(await post(body), expected);
    });
  }

  test('dot segments in forwarded paths are refused', async () => {
    assert.match(await raw('GET /v1/../../admin HTTP/1.1\r\nhost: x\r\n\r\n'), / 400 /);
    assert.match(await raw('GET /v1/%2e%2e/admin HTTP/1.1\r\nhost: x\r\n\r\n'), / 400 /);
    assert.match(await raw('GET /v1/%E0%A4%A HTTP/1.1\r\nhost: x\r\n\r\n'), / 400 /);
  });

  test('odd methods and headers', async () => {
    assert.match(await raw('DELETE /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n'), / 405 /);
    assert.match(await raw('POST /health HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n'), / 405 /);
    assert.match(await raw(`GET /v1/models HTTP/1.1\r\nhost: x\r\nx-provider: ${'a'.repeat(70_000)}\r\n\r\n`), / 431 /);
    assert.match(await post('{}', { 'x-gateway-max-retries': '1e400' }), / 400 /);
    assert.match(await post('{}', { 'content-type': 'text/plain' }), / 415 /);
  });

  test('the gateway still serves after all of that', async () => {
    const res = await fetch(`${stack.origin}/health`);
    assert.equal(res.status, 200);
    const completion = await stack.client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'still alive' }] });
    assert.equal(completion.object, 'chat.completion');
  });
});
