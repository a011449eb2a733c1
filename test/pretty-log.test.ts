// LOG_FORMAT: one readable line a request for a person at a terminal; JSON otherwise (the default
// when stdout is not a terminal, as under a process manager or in a container).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { PrettyLines, requestText } from '../src/pretty.js';
import { KEY, MODEL, startGatewayProcess, until } from './helpers.js';

let sim: FireworksSim;
before(async () => {
  sim = await startFireworksSim({ port: 0 });
});
after(() => sim.close());

async function oneChat(origin: string): Promise<void> {
  const res = await request(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.statusCode, 200);
  await res.body.json();
}

test('LOG_FORMAT=pretty: a request is one readable line with status, target, time and tokens', async () => {
  const gateway = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, LOG_FORMAT: 'pretty' });
  try {
    await oneChat(gateway.origin);
    await until(() => /\b200 POST \/v1\/chat\/completions/.test(gateway.output()), 5_000);
    const line = gateway.output().split('\n').find((l) => l.includes(' 200 POST /v1/chat/completions'))!;
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} 200 POST \/v1\/chat\/completions fireworks\/accounts\/fireworks\/models\/llama-v3p1-8b-instruct \d+ms \(first byte \d+ms\) \d+→\d+ tokens/);
    assert.ok(!line.startsWith('{'));
    assert.ok(!gateway.output().includes(KEY));
  } finally {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
  }
});

test('without a terminal, auto writes JSON lines', async () => {
  const gateway = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY });
  try {
    await oneChat(gateway.origin);
    await until(() => gateway.output().includes('"msg":"request"'), 5_000);
    const line = gateway.output().split('\n').find((l) => l.includes('"msg":"request"'))!;
    assert.equal(JSON.parse(line).status, 200);
  } finally {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
  }
});

test('a failed routed request reads as such: attempts, the error, and a model without a price', () => {
  const text = requestText({
    status: 502, method: 'POST', path: '/v1/chat/completions', provider: 'groq', model: 'm', route: 'team', durationMs: 12.4,
    attempts: [{ target: 'primary', outcome: 'network' }, { target: 'backup', outcome: 'status' }], priced: false, promptTokens: 3, completionTokens: 0, error: 'Provider "groq" is unreachable',
  });
  assert.equal(text, '502 POST /v1/chat/completions groq/m route=team attempts=primary:network,backup:status 12ms 3→0 tokens (no price) error: Provider "groq" is unreachable');
});

test('other records keep their fields, and a line that is not JSON passes as it is', () => {
  const out: string[] = [];
  const pretty = new PrettyLines({ write: (text: string) => void out.push(text) }, false);
  pretty.write('{"level":"warn","time":"2026-12-07T10:11:12.345Z","pid":1,"provider":"groq","msg":"upstream connection failed"}\nnot json\n');
  assert.equal(out.join(''), '10:11:12.345 WARN  upstream connection failed provider=groq\nnot json\n');
});
