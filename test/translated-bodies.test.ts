// Large request bodies on the translated routes: translating builds the body's whole tree, which
// the pass-through path never does, so what is translated is bounded (MAX_TRANSLATED_VALUES) and
// its work is spread over turns of the event loop. The upstream here is a plain HTTP server that
// counts the bytes it receives without parsing them, so that the event loop measured is the
// gateway's own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startGateway } from './helpers.js';
import { ANTHROPIC_ANSWER, CHAT_ANSWER, answerJson, isAnthropic, startRawStack, type RawStack } from './raw-upstream.js';

interface Received {
  path: string;
  bytes: number;
  body: Buffer;
}

const received: Received[] = [];
let stack: RawStack;
let origin: string;

before(async () => {
  stack = await startRawStack((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ path: req.url ?? '', bytes: body.length, body });
      answerJson(res, isAnthropic(req) ? ANTHROPIC_ANSWER : CHAT_ANSWER);
    });
  });
  origin = stack.origin;
});

after(() => stack.close());

/** `count` tiny messages, alternating roles: about 31 bytes and 3 JSON values each. */
function tinyMessages(count: number): { role: string; content: string }[] {
  const messages = new Array<{ role: string; content: string }>(count);
  for (let i = 0; i < count; i++) messages[i] = { role: i % 2 === 0 ? 'user' : 'assistant', content: 'x' };
  return messages;
}

async function post(path: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await request(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer use-server-key', ...headers },
    body,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/** The CPU time this process spent while `run` ran, in ms. */
async function cpuMs(run: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

describe('translated request bodies', () => {
  // 620,000 tiny messages, 19 MiB: parsed, translated and serialised in one turn this held the
  // event loop 357-525 ms per request (four at once, 1.17 s), where the pass-through path scans it in 24 ms.
  const hugeBody = Buffer.from(JSON.stringify({ model: 'claude-x', max_tokens: 16, messages: tinyMessages(620_000) }));

  test('a translated body of more JSON values than MAX_TRANSLATED_VALUES is a 413 naming the setting, refused without parsing it', async () => {
    const before = received.length;
    const answers = await Promise.all([
      post('/v1/messages', hugeBody, { 'x-provider': 'fireworks' }),
      post('/v1/chat/completions', hugeBody, { 'x-provider': 'anthropic' }),
    ]);
    for (const answer of answers) {
      assert.equal(answer.status, 413, answer.text);
      assert.match(answer.text, /MAX_TRANSLATED_VALUES/);
      assert.match(answer.text, /1860\d{3} JSON values/);
    }
    assert.equal(received.length, before, 'nothing is sent upstream');
  });

  test('the bound is on translation only: the same body passes through to a provider that speaks chat completions', async () => {
    const { status, text } = await post('/v1/chat/completions', hugeBody, { 'x-provider': 'fireworks' });
    assert.equal(status, 200, text);
    const last = received.at(-1)!;
    assert.equal(last.path, '/v1/chat/completions');
    // The client's bytes, but for the model's name, which Fireworks' short names expand.
    assert.equal(last.bytes, hugeBody.length + 'accounts/fireworks/models/'.length);
  });

  test('refusing a body past the bound costs no more CPU than passing it through: it is scanned, never built', async () => {
    // CPU time, not wall time: a loaded machine stretches a stall but not the work done. The client
    // runs in this process for both, with the same body; building its tree alone costs several
    // times what scanning it does.
    const refused: number[] = [];
    const passed: number[] = [];
    for (let round = 0; round < 3; round++) {
      refused.push(await cpuMs(() => post('/v1/messages', hugeBody, { 'x-provider': 'fireworks' })));
      passed.push(await cpuMs(() => post('/v1/chat/completions', hugeBody, { 'x-provider': 'fireworks' })));
    }
    const [refusedMs, passedMs] = [Math.min(...refused), Math.min(...passed)];
    assert.ok(refusedMs < passedMs * 1.5, `refused in ${refusedMs.toFixed(0)} ms of CPU, passed through in ${passedMs.toFixed(0)} ms`);
  });

  test('a large body under the bound is translated and served on every translated route', async () => {
    // 60,000 messages: 180,003 values (under the default 200,000), 1.8 MiB.
    const messages = tinyMessages(60_000);
    const cases = [
      { path: '/v1/messages', provider: 'fireworks', body: { model: 'claude-x', max_tokens: 16, messages }, upstream: '/v1/chat/completions' },
      // Fireworks serves the Responses API itself; DeepSeek's is translated.
      { path: '/v1/responses', provider: 'deepseek', body: { model: 'm', input: messages }, upstream: '/v1/chat/completions' },
      { path: '/v1/chat/completions', provider: 'anthropic', body: { model: 'claude-x', max_tokens: 16, messages }, upstream: '/v1/messages' },
      { path: '/v1/messages', provider: 'fireworks', body: { model: 'claude-x', max_tokens: 16, messages, stream: false }, upstream: '/v1/chat/completions' },
    ];
    for (const { path, provider, body, upstream } of cases) {
      const { status, text } = await post(path, Buffer.from(JSON.stringify(body)), { 'x-provider': provider });
      assert.equal(status, 200, `${path} via ${provider}: ${text.slice(0, 300)}`);
      const last = received.at(-1)!;
      assert.equal(last.path, upstream);
      const sent = JSON.parse(last.body.toString('utf8')) as { messages: unknown[] };
      // Anthropic's API merges consecutive turns of one role; these alternate, so every message arrives.
      assert.equal(sent.messages.length, messages.length, `${path} via ${provider}`);
    }
  });

  test('MAX_TRANSLATED_VALUES is a setting: a lower bound refuses a body the default takes', async () => {
    const { server, url } = await startGateway({ FIREWORKS_BASE_URL: `${stack.upstreamUrl}/v1`, FIREWORKS_API_KEY: 'fw-key', MAX_TRANSLATED_VALUES: '50000' });
    try {
      const body = Buffer.from(JSON.stringify({ model: 'claude-x', max_tokens: 16, messages: tinyMessages(20_000) }));
      const res = await request(`${url}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await res.body.text();
      assert.equal(res.statusCode, 413, text);
      assert.match(text, /at most 50000 \(MAX_TRANSLATED_VALUES\)/);
      // Anthropic's error shape, as the Anthropic SDK reads it.
      assert.equal((JSON.parse(text) as { type: string }).type, 'error');
    } finally {
      await server.shutdown(0);
    }
  });
});
