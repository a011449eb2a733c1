// Cost on the answer and in the request line: a whole answer carries x-gateway-cost-usd, a model
// without a price says so (never a silent 0), and a stream's cost is in its request line.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { KEY, MODEL, startStack, type Stack } from './helpers.js';

let stack: Stack;
before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cost-'));
  const file = join(dir, 'gateway.yaml');
  // USD per million tokens: 1 in, 3 out.
  writeFileSync(file, `prices:\n  - provider: fireworks\n    model: ${MODEL}\n    input: 1\n    output: 3\n`);
  stack = await startStack({ FIREWORKS_API_KEY: KEY, LOG_LEVEL: 'info', CONFIG_FILE: file });
});
after(() => stack.close());

function chat(model: string, extra: Record<string, unknown> = {}) {
  return request(`${stack.baseURL}chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

async function lastLine(): Promise<Record<string, unknown>> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return stack.logs.filter((l) => l.msg === 'request').at(-1)!;
}

test('a whole answer: the header and the line give its usage at the configured prices', async () => {
  const res = await chat(MODEL);
  const body = (await res.body.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
  const expected = (body.usage.prompt_tokens * 1 + body.usage.completion_tokens * 3) / 1e6;
  assert.ok(expected > 0);
  assert.equal(Number(res.headers['x-gateway-cost-usd']), Math.round(expected * 1e9) / 1e9);
  const line = await lastLine();
  assert.equal(line.costUsd, Math.round(expected * 1e9) / 1e9);
  assert.equal(line.priced, undefined);
});

test('a model without a price: "unknown" on the answer, priced:false in the line, never 0', async () => {
  const res = await chat('accounts/someone/models/private-tune');
  await res.body.json();
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-gateway-cost-usd'], 'unknown');
  const line = await lastLine();
  assert.equal(line.costUsd, null);
  assert.equal(line.priced, false);
});

test('a stream: no cost header (its usage comes last), its cost in the line', async () => {
  const res = await chat(MODEL, { stream: true, stream_options: { include_usage: true } });
  const text = await res.body.text();
  assert.equal(res.headers['x-gateway-cost-usd'], undefined);
  const usage = JSON.parse(/data: (\{.*"usage":\{"prompt_tokens".*\})\n/.exec(text)![1]!).usage as { prompt_tokens: number; completion_tokens: number };
  const line = await lastLine();
  assert.equal(line.costUsd, Math.round(((usage.prompt_tokens * 1 + usage.completion_tokens * 3) / 1e6) * 1e9) / 1e9);
});
