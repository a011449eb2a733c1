// Routes: a model name served by several targets. Fallback past a failing, dead or slow primary;
// breakers that keep traffic off a failing target until their probe; keys that rest after a 429;
// weights; hedging that cancels the slower target at the provider; what the answer and the request
// line say of it all; the config's checks. Driven through the gateway and the simulators.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { ConfigError, loadConfig } from '../src/config.js';
import type { GatewayServer } from '../src/server.js';
import { closedPort, collectLines, FALLBACK_ROUTE, GROQ_MODEL, KEY, MODEL, requestLines, startGateway } from './helpers.js';

const GROQ_KEY = 'sim-groq-key';
const CLAUDE = 'claude-sonnet-4-5';

interface Setup {
  gateway: GatewayServer;
  baseURL: string;
  origin: string;
  lines: string[];
  close(): Promise<void>;
}

async function gatewayWith(yaml: string, env: Record<string, string>): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'routes-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml);
  const lines: string[] = [];
  const { server, url } = await startGateway({ CONFIG_FILE: file, LOG_LEVEL: 'info', ...env }, collectLines(lines));
  return { gateway: server, baseURL: url, origin: url.slice(0, -3), lines, close: () => server.shutdown(100) };
}

/** POSTs a chat request for `model` to the gateway (the body's other fields from `extra`). */
function postChat(setup: Setup, model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return request(`${setup.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
    signal,
  });
}

let primary: FireworksSim;
let secondary: OpenAICompatibleSim;
let anthropic: AnthropicSim;

before(async () => {
  primary = await startFireworksSim({ port: 0 });
  secondary = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
  anthropic = await startAnthropicSim({ port: 0 });
});
after(async () => {
  await primary.close();
  await secondary.close();
  await anthropic.close();
});

const baseEnv = (): Record<string, string> => ({
  FIREWORKS_BASE_URL: primary.url,
  FIREWORKS_API_KEY: KEY,
  GROQ_BASE_URL: secondary.url,
  GROQ_API_KEY: GROQ_KEY,
  ANTHROPIC_BASE_URL: anthropic.url,
  ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
});

const FALLBACK = `
routes:${FALLBACK_ROUTE}`;

describe('fallback', () => {
  let setup: Setup;
  before(async () => {
    setup = await gatewayWith(FALLBACK, baseEnv());
  });
  after(() => setup.close());

  test('a healthy primary answers; the answer names the route, provider, model, target and attempts', async () => {
    primary.clear();
    secondary.clear();
    const res = await postChat(setup, 'team-chat');
    assert.equal(res.statusCode, 200);
    await res.body.json();
    assert.equal(res.headers['x-gateway-route'], 'team-chat');
    assert.equal(res.headers['x-gateway-provider'], 'fireworks');
    assert.equal(res.headers['x-gateway-model'], MODEL);
    assert.equal(res.headers['x-gateway-target'], 'primary');
    assert.equal(res.headers['x-gateway-attempts'], '1');
    // The primary got its own model name, in the client's body otherwise untouched.
    assert.equal(primary.requests.at(-1)!.json.model, MODEL);
    assert.equal(secondary.requests.length, 0);
  });

  test('a primary answering 503 fails over: the backup answers with its own model, and the line lists both attempts', async () => {
    primary.clear();
    secondary.clear();
    const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
    // The fault is the primary's alone: a body's fault would reach the backup too.
    primary.queueFault({ status: 503 });
    const completion = await client.chat.completions.create({ model: 'team-chat', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(completion.response.headers.get('x-gateway-target'), 'backup');
    assert.equal(completion.response.headers.get('x-gateway-attempts'), '2');
    assert.equal(secondary.requests.at(-1)!.json.model, GROQ_MODEL);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const line = requestLines(setup.lines).at(-1)!;
    assert.equal(line.route, 'team-chat');
    assert.deepEqual(line.attempts.map((a: any) => [a.target, a.status, a.outcome]), [['primary', 503, 'status'], ['backup', 200, 'answered']]);
  });

  test('a stream whose primary fails before its first byte fails over unseen', async () => {
    const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
    primary.queueFault({ reset: true });
    const stream = await client.chat.completions.create({ model: 'team-chat', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
  });

  test('a 400 the next target would refuse too is answered, not failed over', async () => {
    secondary.clear();
    const res = await postChat(setup, 'team-chat', { sim: { status: 400 } });
    assert.equal(res.statusCode, 400);
    await res.body.dump();
    assert.equal(secondary.requests.length, 0);
  });
});

describe('a primary that is down', () => {
  test('every request is answered by the backup; the breaker opens and the dead target then costs no attempt', async () => {
    const dead = await closedPort();
    const setup = await gatewayWith(`${FALLBACK}    breaker:\n      consecutive_failures: 3\n      open_ms: 60000\n`, { ...baseEnv(), FIREWORKS_BASE_URL: `http://127.0.0.1:${dead}/inference/v1` });
    try {
      const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
      for (let i = 0; i < 10; i++) {
        const answer = await client.chat.completions.create({ model: 'team-chat', messages: [{ role: 'user', content: 'hi' }] });
        assert.ok(answer.choices[0]!.message.content);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      const attempts = requestLines(setup.lines).map((line) => line.attempts.map((a: any) => a.outcome));
      assert.deepEqual(attempts.slice(0, 3), [['network', 'answered'], ['network', 'answered'], ['network', 'answered']]);
      for (const later of attempts.slice(3)) assert.deepEqual(later, ['skipped: breaker open', 'answered']);
      const status = await request(`${setup.origin}/status/targets`);
      const body = (await status.body.json()) as any;
      const [first, second] = body.routes[0].targets;
      assert.equal(first.breaker.state, 'open');
      assert.equal(second.breaker.state, 'closed');
    } finally {
      await setup.close();
    }
  });
});

describe('a target that fails inside 200 streams', () => {
  test('a translated stream that errs after its first event fails over unseen; once it errs after content, the client sees the error event and the breaker counts it', async () => {
    const setup = await gatewayWith(
      `
routes:
  claude-route:
    breaker:
      consecutive_failures: 3
      open_ms: 60000
    targets:
      - provider: anthropic
        model: ${CLAUDE}
        id: claude
      - provider: groq
        model: ${GROQ_MODEL}
        id: backup
`,
      baseEnv(),
    );
    try {
      // Chat in, Anthropic's Messages out: the stream is translated, and commits at its first content event.
      const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
      // An error event right after message_start: nothing was committed, the backup answers.
      anthropic.queueFault({ stream_error: { after: 0 } });
      const before = await client.chat.completions.create({ model: 'claude-route', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      for await (const chunk of before) text += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(text.length > 0, 'the backup answered');
      // An error event after content: the client has the answer's start, then the error event, never a clean end.
      anthropic.queueFault({ stream_error: { after: 1 } }, 2);
      for (let i = 0; i < 2; i++) {
        const after = await client.chat.completions.create({ model: 'claude-route', stream: true, messages: [{ role: 'user', content: 'hi' }] });
        await assert.rejects(async () => {
          for await (const chunk of after) void chunk;
        }, /overloaded/i);
      }
      // Three failures in a row, two of them inside 200 streams, opened the breaker: the next request goes to the backup without trying Claude.
      anthropic.clear();
      const next = await client.chat.completions.create({ model: 'claude-route', messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(next.choices[0]!.message.content);
      assert.equal(anthropic.requests.length, 0);
    } finally {
      await setup.close();
    }
  });
});

describe('keys', () => {
  test('two keys of one provider, one rate-limited: traffic moves to the other until the reset', async () => {
    const setup = await gatewayWith(
      `
routes:
  keyed:
    targets:
      - provider: fireworks
        model: ${MODEL}
        keys: [FW_KEY_A, FW_KEY_B]
`,
      { ...baseEnv(), FW_KEY_A: 'fw_key_a', FW_KEY_B: 'fw_key_b' },
    );
    try {
      primary.clear();
      primary.setDefaultFault({ status: 429, retry_after: '30', when_key: 'fw_key_a' });
      const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
      for (let i = 0; i < 6; i++) await client.chat.completions.create({ model: 'keyed', messages: [{ role: 'user', content: 'hi' }] });
      const keys = primary.requests.map((r) => r.headers.authorization);
      // One 429 on key A, then key B alone while A rests.
      assert.deepEqual(keys, ['Bearer fw_key_a', ...Array(6).fill('Bearer fw_key_b')]);
      const status = (await (await request(`${setup.origin}/status/targets`)).body.json()) as any;
      assert.equal(status.routes[0].targets[0].key.reason, 'rate-limited');
      assert.ok(status.routes[0].targets[0].key.availableInMs > 20_000);
    } finally {
      primary.setDefaultFault(undefined);
      await setup.close();
    }
  });
});

describe('weighted', () => {
  test('weights 3:1 split first picks about 3:1', async () => {
    const setup = await gatewayWith(
      `
routes:
  split:
    strategy: weighted
    targets:
      - provider: fireworks
        model: ${MODEL}
        weight: 3
      - provider: groq
        model: ${GROQ_MODEL}
        weight: 1
`,
      baseEnv(),
    );
    try {
      primary.clear();
      secondary.clear();
      const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
      for (let i = 0; i < 200; i++) await client.chat.completions.create({ model: 'split', messages: [{ role: 'user', content: 'hi' }] });
      const share = primary.requests.length / 200;
      assert.ok(share > 0.62 && share < 0.88, `fireworks took ${share}`);
      assert.equal(primary.requests.length + secondary.requests.length, 200);
    } finally {
      await setup.close();
    }
  });
});

describe('hedging', () => {
  test('a primary slow to its first byte is hedged: the backup answers, and the primary is cancelled at the provider', async () => {
    const setup = await gatewayWith(
      `
routes:
  hedged:
    hedge:
      after_ms: 100
    targets:
      - provider: fireworks
        model: ${MODEL}
        id: slow
      - provider: groq
        model: ${GROQ_MODEL}
        id: fast
`,
      baseEnv(),
    );
    try {
      primary.clear();
      primary.setDefaultFault({ delay_ms: 3_000 });
      const started = Date.now();
      const res = await postChat(setup, 'hedged', { stream: true });
      const text = await res.body.text();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-gateway-target'], 'fast');
      assert.match(text, /\[DONE\]/);
      assert.ok(Date.now() - started < 2_000, 'answered long before the slow target would have');
      await primary.waitFor(() => primary.requests.length === 1 && primary.requests[0]!.aborted, 2_000);
      // The hedge that lost ran beside the winner: the gateway's own overhead is not negative for it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const line = requestLines(setup.lines).at(-1)!;
      assert.ok(line.overheadMs >= 0, `overheadMs ${line.overheadMs}`);
      assert.deepEqual(line.attempts.map((a: any) => [a.target, a.outcome]).sort(), [['fast', 'answered'], ['slow', 'lost']]);
    } finally {
      primary.setDefaultFault(undefined);
      await setup.close();
    }
  });
});

describe('overrides and config', () => {
  test('x-gateway-target picks a declared target where the route allows it, and is refused elsewhere', async () => {
    const setup = await gatewayWith(`${FALLBACK}    allow_target_override: true\n  closed:\n    targets:\n      - provider: fireworks\n        model: ${MODEL}\n`, baseEnv());
    try {
      const picked = await postChat(setup, 'team-chat', {}, { 'x-gateway-target': 'backup' });
      await picked.body.dump();
      assert.equal(picked.headers['x-gateway-target'], 'backup');
      const unknown = await postChat(setup, 'team-chat', {}, { 'x-gateway-target': 'http://evil.example' });
      assert.equal(unknown.statusCode, 400);
      assert.equal(((await unknown.body.json()) as any).error.code, 'unknown_target');
      const refused = await postChat(setup, 'closed', {}, { 'x-gateway-target': 'fireworks/x' });
      assert.equal(refused.statusCode, 400);
      assert.equal(((await refused.body.json()) as any).error.code, 'target_override_refused');
    } finally {
      await setup.close();
    }
  });

  test('the config names each problem: an unknown provider, a key variable that is not set, a route that is also an alias', () => {
    const dir = mkdtempSync(join(tmpdir(), 'routes-bad-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      `model_aliases:\n  dup: fireworks/x\nroutes:\n  dup:\n    targets:\n      - {provider: fireworks, model: x}\n  r1:\n    targets:\n      - {provider: nosuch, model: x}\n      - {provider: fireworks, model: y, keys: [UNSET_KEY_VAR]}\n  r2:\n    strategy: random\n    targets: []\n`,
    );
    let error: unknown;
    try {
      loadConfig({ CONFIG_FILE: file, FIREWORKS_API_KEY: KEY });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    const message = error.message;
    assert.match(message, /routes\.dup: is also a model alias/);
    assert.match(message, /routes\.r1\.targets\[0\]\.provider: unknown provider "nosuch"/);
    assert.match(message, /routes\.r1\.targets\[1\]\.keys\[0\]: the environment variable UNSET_KEY_VAR is not set/);
    assert.match(message, /routes\.r2\.strategy: must be fallback, weighted or least-latency/);
    assert.match(message, /routes\.r2\.targets: must list at least one target/);
  });
});

describe('pass-through streams commit at their first content while a fallback remains', () => {
  test('chat to an OpenAI-compatible primary whose stream errs right after its role chunk fails over unseen', async () => {
    const setup = await gatewayWith(FALLBACK, baseEnv());
    try {
      primary.queueFault({ stream_error: { after: 0 } });
      const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
      const stream = await client.chat.completions.create({ model: 'team-chat', stream: true, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      assert.equal(stream.response.headers.get('x-gateway-target'), 'backup');
      let text = '';
      for await (const chunk of stream.data) text += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(text.length > 0);
    } finally {
      await setup.close();
    }
  });

  test('the Messages API passed through to anthropic, erring after message_start, fails over; erring after content, the client sees the error', async () => {
    const setup = await gatewayWith(
      `
routes:
  claude-native:
    targets:
      - provider: anthropic
        model: ${CLAUDE}
      - provider: groq
        model: ${GROQ_MODEL}
`,
      baseEnv(),
    );
    try {
      const { default: Anthropic } = await import('@anthropic-ai/sdk');
      const client = new Anthropic({ apiKey: 'use-server-key', baseURL: setup.origin, maxRetries: 0 });
      anthropic.queueFault({ stream_error: { after: 0 } });
      const failedOver = client.messages.stream({ model: 'claude-native', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      const message = await failedOver.finalMessage();
      assert.equal(message.content[0]!.type, 'text');
      anthropic.queueFault({ stream_error: { after: 1 } });
      const cut = client.messages.stream({ model: 'claude-native', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      await assert.rejects(cut.finalMessage(), /overloaded/i);
    } finally {
      await setup.close();
    }
  });
});

describe('a route never sends the client\'s own key, and says its name on every answer', () => {
  test('a client\'s key goes to no target: each gets the gateway\'s key for its provider, so one client cannot rest a target for all', async () => {
    const setup = await gatewayWith(FALLBACK, baseEnv());
    try {
      primary.clear();
      secondary.clear();
      primary.queueFault({ status: 503 });
      const res = await postChat(setup, 'team-chat', {}, { authorization: 'Bearer fw_the_clients_own_key' });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.equal(primary.requests.at(-1)!.headers.authorization, `Bearer ${KEY}`);
      assert.equal(secondary.requests.at(-1)!.headers.authorization, `Bearer ${GROQ_KEY}`);
      for (const seen of [...primary.requests, ...secondary.requests]) assert.ok(!JSON.stringify(seen.headers).includes('the_clients_own_key'));
    } finally {
      await setup.close();
    }
  });

  test('a failure the route answers at once (a 400) names the route and its attempts too', async () => {
    const setup = await gatewayWith(FALLBACK, baseEnv());
    try {
      primary.queueFault({ status: 400 });
      const res = await postChat(setup, 'team-chat');
      assert.equal(res.statusCode, 400);
      await res.body.dump();
      assert.equal(res.headers['x-gateway-route'], 'team-chat');
      assert.equal(res.headers['x-gateway-attempts'], '1');
    } finally {
      await setup.close();
    }
  });

  test('a key that answered 429 is not retried while it rests: the retry goes to the next key', async () => {
    const setup = await gatewayWith(
      `
routes:
  keyed-retry:
    targets:
      - provider: fireworks
        model: ${MODEL}
        keys: [FW_KEY_A, FW_KEY_B]
        max_retries: 1
`,
      { ...baseEnv(), FW_KEY_A: 'fw_key_a', FW_KEY_B: 'fw_key_b' },
    );
    try {
      primary.clear();
      primary.setDefaultFault({ status: 429, retry_after: '1', when_key: 'fw_key_a' });
      const res = await postChat(setup, 'keyed-retry');
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.deepEqual(primary.requests.map((r) => r.headers.authorization), ['Bearer fw_key_a', 'Bearer fw_key_b']);
    } finally {
      primary.setDefaultFault(undefined);
      await setup.close();
    }
  });
});

describe('model lists', () => {
  test('GET /v1/models lists each route by name (not its patterns), owned by the gateway', async () => {
    const setup = await gatewayWith(`${FALLBACK}  "claude-*":\n    targets:\n      - provider: anthropic\n        model: ${CLAUDE}\n`, baseEnv());
    try {
      const client = new OpenAI({ apiKey: 'use-server-key', baseURL: setup.baseURL, maxRetries: 0 });
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      assert.ok(ids.includes('team-chat'), ids.join());
      assert.ok(!ids.includes('claude-*'));
    } finally {
      await setup.close();
    }
  });
});

describe('hedging and a client that leaves', () => {
  test('a lane that waited out its retry while the hedge answered leaves the answer to it: the client leaving then stops the hedge at its provider', async () => {
    const setup = await gatewayWith(
      `
routes:
  hedged-retry:
    hedge:
      after_ms: 50
    targets:
      - provider: fireworks
        model: ${MODEL}
        max_retries: 1
      - provider: groq
        model: ${GROQ_MODEL}
`,
      baseEnv(),
    );
    try {
      primary.clear();
      secondary.clear();
      // The primary fails once and asks for a 1 s wait; meanwhile the hedge streams slowly.
      primary.queueFault({ status: 503, retry_after: '1' });
      secondary.setDefaultFault({ chunks: 40, chunk_delay_ms: 100 });
      const controller = new AbortController();
      const res = await postChat(setup, 'hedged-retry', { stream: true }, {}, controller.signal);
      assert.equal(res.statusCode, 200);
      res.body.on('error', () => {});
      // Past the primary's wait (it wakes to find the answer taken), then the client leaves.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      controller.abort();
      await secondary.waitFor(() => secondary.requests.length === 1 && secondary.requests[0]!.aborted, 1_500);
    } finally {
      secondary.setDefaultFault(undefined);
      await setup.close();
    }
  });
});

describe('per-target overrides', () => {
  test('a target\'s headers reach its provider alone, and its timeout_ms caps its attempt: a slow primary gives way to the next target', async () => {
    const setup = await gatewayWith(
      `
routes:
  capped:
    targets:
      - provider: fireworks
        model: ${MODEL}
        timeout_ms: 200
        headers: {x-team: search}
      - provider: groq
        model: ${GROQ_MODEL}
`,
      baseEnv(),
    );
    try {
      primary.clear();
      secondary.clear();
      primary.queueFault({ delay_ms: 2_000 });
      const started = Date.now();
      const res = await postChat(setup, 'capped');
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.equal(res.headers['x-gateway-provider'], 'groq');
      assert.ok(Date.now() - started < 1_500, 'the primary was given up after its own 200 ms');
      assert.equal(primary.requests[0]!.headers['x-team'], 'search');
      assert.equal(secondary.requests[0]!.headers['x-team'], undefined);
    } finally {
      await setup.close();
    }
  });
});

describe('a primary stream that goes silent before its first content', () => {
  test('moves on to the next target when the idle timer fires, within the route\'s deadline', async () => {
    const setup = await gatewayWith(FALLBACK, { ...baseEnv(), STREAM_IDLE_TIMEOUT_MS: '300' });
    try {
      secondary.clear();
      // The role chunk, then silence: nothing the client could use was sent.
      primary.queueFault({ stall_after: 0 });
      const res = await postChat(setup, 'team-chat', { stream: true });
      const text = await res.body.text();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-gateway-target'], 'backup');
      assert.match(text, /\[DONE\]/);
      assert.equal(secondary.requests.length, 1);
    } finally {
      await setup.close();
    }
  });
});
