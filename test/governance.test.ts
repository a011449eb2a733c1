// Gateway keys and their limits, through the real SDKs: a request needs a key the config file
// holds by hash (refused from its headers, before its body); the key never reaches the provider;
// allow lists; requests per minute with x-ratelimit-* headers and a 429 in the client's API's
// shape; a USD budget that concurrent requests cannot overshoot; concurrent streams; anonymous routes.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { loadConfig } from '../src/config.js';
import type { Exchange } from '../src/exchange.js';
import { GatewayError } from '../src/errors.js';
import { Governance, wholeText } from '../src/governance/admission.js';
import { createPricing } from '../src/observe/prices.js';
import { parseBodyFacts } from '../src/jsonbody.js';
import { MemoryStore } from '../src/state/memory.js';
import type { GatewayServer } from '../src/server.js';
import { collectLines, KEY, MODEL, requestLines, startGateway } from './helpers.js';
import { configFileWith, sha256 } from './keys-helpers.js';
import { CHAT_ANSWER, startRawStack, type RawStack } from './raw-upstream.js';

const ALPHA = 'gk-alpha-0123456789abcdef';
const RATED = 'gk-rated-0123456789abcdef';
const SPENDER = 'gk-spender-0123456789abcdef';
const STREAMER = 'gk-streamer-0123456789abcdef';
const ROUTED = 'gk-routed-0123456789abcdef';
const NARROW = 'gk-narrow-0123456789abcdef';
const WIDE = 'gk-wide-0123456789abcdef';
/** USD per million tokens for MODEL here: a few requests spend a cent. */
const PRICE = 1_000;
const BUDGET_USD = 0.2;

function configFile(): string {
  return configFileWith(
    `
routes:
  team-chat:
    targets:
      - {provider: fireworks, model: ${MODEL}}
  public-chat:
    targets:
      - {provider: fireworks, model: ${MODEL}}
prices:
  - {provider: fireworks, model: ${MODEL}, input: ${PRICE}, output: ${PRICE}}
anonymous_routes: [public-chat]
keys:
  - {name: alpha, sha256: ${sha256(ALPHA)}}
  - {name: rated, sha256: ${sha256(RATED)}, limits: {rpm: 3}}
  - {name: spender, sha256: ${sha256(SPENDER)}, limits: {usd_per_day: ${BUDGET_USD}}}
  - {name: streamer, sha256: ${sha256(STREAMER)}, limits: {streams: 1}}
  - {name: routed, sha256: ${sha256(ROUTED)}, routes: [team-chat], models: ['accounts/fireworks/*']}
  - {name: narrow, sha256: ${sha256(NARROW)}, limits: {tpm: 100}}
  - {name: wide, sha256: ${sha256(WIDE)}, limits: {tpm: 500000}}
`,
    'governance-',
  );
}

describe('gateway keys', () => {
  let sim: FireworksSim;
  let server: GatewayServer;
  let origin: string;
  let baseURL: string;
  const lines: string[] = [];
  const openai = (apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0, defaultHeaders: { 'x-provider': 'fireworks' } });

  before(async () => {
    sim = await startFireworksSim({ port: 0 });
    const started = await startGateway({ CONFIG_FILE: configFile(), FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, LOG_LEVEL: 'info', KEYS_DEFAULT_MAX_TOKENS: '16' }, collectLines(lines));
    server = started.server;
    baseURL = started.url;
    origin = baseURL.slice(0, -'/v1'.length);
  });
  after(async () => {
    await server.shutdown(0);
    await sim.close();
  });

  test('a request without a key, or with an unknown one, is a 401 in the shape of its API', async () => {
    await assert.rejects(openai('not-a-gateway-key').chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal((err.error as { code?: string }).code, 'invalid_api_key');
      return true;
    });
    const anthropic = new Anthropic({ baseURL: origin, apiKey: 'not-a-gateway-key', maxRetries: 0, defaultHeaders: { 'x-provider': 'fireworks' } });
    await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.AuthenticationError);
      assert.equal((err.error as { type?: string; error?: { type?: string } }).error?.type, 'authentication_error');
      return true;
    });
    const missing = await fetch(`${baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-provider': 'fireworks' }, body: JSON.stringify({ model: MODEL, messages: [] }) });
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'missing_api_key');
    assert.equal(sim.requests.length, 0, 'nothing reached the provider');
  });

  test('the 401 does not wait for the body: headers announcing 64 MiB, no body sent', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024), authorization: 'Bearer not-a-gateway-key' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
        req.destroy();
      });
      req.on('error', reject);
      req.flushHeaders();
      setTimeout(() => reject(new Error('no answer within 5 s: the gateway waited for the body')), 5_000).unref();
    });
    assert.equal(status, 401);
  });

  test('a valid key is served by every SDK where it puts its key; the provider gets the gateway key, never the client key', async () => {
    sim.requests.length = 0;
    const chat = await openai(ALPHA).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(chat.choices[0]?.message.content);
    const anthropic = new Anthropic({ baseURL: origin, apiKey: ALPHA, maxRetries: 0, defaultHeaders: { 'x-provider': 'fireworks' } });
    const message = await anthropic.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(message.type, 'message');
    const gemini = new GoogleGenAI({ apiKey: ALPHA, httpOptions: { baseUrl: origin, headers: { 'x-provider': 'fireworks' } } });
    const generated = await gemini.models.generateContent({ model: MODEL, contents: 'hi' });
    assert.ok(generated.text);
    assert.equal(sim.requests.length, 3);
    for (const recorded of sim.requests) {
      assert.equal(recorded.headers.authorization, `Bearer ${KEY}`, "the gateway's own provider key");
      assert.ok(!JSON.stringify(recorded.headers).includes(ALPHA), 'the gateway key stays at the gateway');
    }
    assert.ok(!lines.join('').includes(ALPHA), 'nor is it logged');
  });

  test("allow lists: a key limited to a route and a model pattern is refused elsewhere with a 403", async () => {
    const routed = openai(ROUTED);
    const served = await routed.chat.completions.create({ model: 'team-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(served.choices[0]?.message.content);
    await assert.rejects(routed.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError);
      assert.equal((err.error as { code?: string }).code, 'route_not_allowed');
      return true;
    });
  });

  test('anonymous routes: no key serves the routes named there and no other', async () => {
    const anonymous = openai('use-server-key');
    const served = await anonymous.chat.completions.create({ model: 'public-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(served.choices[0]?.message.content);
    await assert.rejects(anonymous.chat.completions.create({ model: 'team-chat', messages: [{ role: 'user', content: 'hi' }] }), { status: 401 });
  });

  test('requests per minute: x-ratelimit-* count down, then a 429 with retry-after, in the shape of the client API', async () => {
    const rated = openai(RATED);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await rated.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '3');
      remaining.push(response.headers.get('x-ratelimit-remaining-requests')!);
      assert.match(response.headers.get('x-ratelimit-reset-requests')!, /^\d+s$/);
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    await assert.rejects(rated.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal((err.error as { code?: string }).code, 'rate_limit_exceeded');
      const retryAfter = Number(err.headers?.get('retry-after'));
      // A sliding minute: what counted in this minute fades out over the next one, so a retry may wait past 60 s.
      assert.ok(retryAfter >= 1 && retryAfter <= 120, `retry-after ${retryAfter}`);
      return true;
    });
    const anthropic = new Anthropic({ baseURL: origin, apiKey: RATED, maxRetries: 0, defaultHeaders: { 'x-provider': 'fireworks' } });
    await assert.rejects(anthropic.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.RateLimitError);
      return true;
    });
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    assert.match(metrics, /^gateway_limit_refusals_total\{owner="key:rated",limit="rpm"\} 2$/m, 'both refusals counted, by key and limit');
    assert.match(metrics, /^gateway_state_store_up\{store="memory"\} 1$/m);
  });

  test('a request larger than the whole limit is told so, without a retry time that would never come', async () => {
    const narrow = openai(NARROW);
    // 16 (KEYS_DEFAULT_MAX_TOKENS) and a short input fit in 100 tokens a minute; 500 never will.
    await narrow.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(narrow.chat.completions.create({ model: MODEL, max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.match(err.message, /This request alone needs more than the whole limit of gateway key "narrow" \(100 tokens per minute\).*retrying will not help/);
      assert.equal(err.headers?.get('retry-after'), null);
      return true;
    });
  });

  test("a large body's estimate counts its own max_tokens, not one nested in it or named in a message", async () => {
    // Over 64 KiB, so scanned as it arrives rather than parsed whole; nested bounds come first.
    const body = JSON.stringify({
      model: MODEL,
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object' }, max_tokens: 900000 } },
      messages: [{ role: 'user', content: `"max_tokens": 900000 ${'x'.repeat(70_000)}` }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { max_tokens: { type: 'integer' } } } } }],
      max_tokens: 64,
    });
    const answer = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WIDE}`, 'x-provider': 'fireworks' },
      body,
    });
    assert.equal(answer.status, 200, await answer.clone().text());
    await answer.text();
    // The first request of the key: what is left is the limit less its estimate (input from its size, and its 64).
    const estimate = Math.ceil(Buffer.byteLength(body) / 4) + 64;
    assert.equal(answer.headers.get('x-ratelimit-remaining-tokens'), String(500_000 - estimate));
  });

  test('a daily budget: concurrent requests stop at it, the refusal names it and when it resets, and the spend stays within it', async () => {
    const spender = openai(SPENDER);
    const ask = () => spender.chat.completions.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Say hello' }] });
    let refusal: InstanceType<typeof OpenAI.APIError> | undefined;
    let answered = 0;
    for (let round = 0; round < 40 && refusal === undefined; round++) {
      const results = await Promise.allSettled(Array.from({ length: 5 }, ask));
      for (const result of results) {
        if (result.status === 'fulfilled') answered++;
        else refusal ??= result.reason as InstanceType<typeof OpenAI.APIError>;
      }
    }
    assert.ok(answered > 0, 'the budget served some requests first');
    assert.ok(refusal instanceof OpenAI.RateLimitError, `refused with a 429: ${String(refusal)}`);
    assert.equal((refusal.error as { code?: string }).code, 'budget_exceeded');
    assert.match(refusal.message, /budget of gateway key "spender" \(\$0\.20 per day\) is spent; it resets at \d{4}-\d{2}-\d{2}T00:00:00\.000Z/);
    // Settlement runs as each response closes: by now every answered request is settled.
    const spent = requestLines(lines)
      .filter((line) => line.status === 200 && line.costUsd !== undefined && line.model === MODEL)
      .reduce((sum, line) => sum + (line.costUsd as number), 0);
    assert.ok(spent <= BUDGET_USD + 1e-9, `spent $${spent} of a $${BUDGET_USD} budget`);
  });

  test('concurrent streams: a second stream while the first is open is a 429; once it ends, another may start', async () => {
    const streamer = openai(STREAMER);
    const slow = { model: MODEL, stream: true as const, messages: [{ role: 'user' as const, content: 'hi' }], sim: { chunks: 4, chunk_delay_ms: 150 } };
    const first = await streamer.chat.completions.create(slow as never);
    const iterator = (first as unknown as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    await iterator.next();
    await assert.rejects(streamer.chat.completions.create(slow as never), (err: unknown) => err instanceof OpenAI.RateLimitError);
    while (!(await iterator.next()).done);
    // The first stream's slot is freed as its response closes, which the client may see after its last chunk.
    let third: unknown;
    const deadline = Date.now() + 5_000;
    while (third === undefined) {
      try {
        third = await streamer.chat.completions.create({ ...slow, sim: { chunks: 1 } } as never);
      } catch (err) {
        if (!(err instanceof OpenAI.RateLimitError) || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    for await (const _ of third as AsyncIterable<unknown>);
  });
});

test("a budget's refusal names the end of its period, whatever clock the store measured the wait on", () => {
  const config = loadConfig({ CONFIG_FILE: configFile(), FIREWORKS_API_KEY: KEY });
  // A store whose clock is 2 s behind this process's (a Redis server's clock, say).
  const store = new MemoryStore({ now: () => Date.now() - 2_000 });
  const governance = new Governance(config, store, createPricing(config), config.KEYS_DEFAULT_MAX_TOKENS);
  const body = Buffer.from(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }));
  const exchange = (id: string) =>
    ({ id, req: { headers: { authorization: `Bearer ${SPENDER}` } }, route: undefined, body, facts: parseBodyFacts(body, 'messages'), stream: false, provider: { name: 'fireworks' }, model: MODEL, clientModel: MODEL, timeoutMs: 60_000 }) as unknown as Exchange;
  let refused: unknown;
  try {
    for (let i = 0; i < 1_000; i++) {
      const ex = exchange(`budget-${i}`);
      governance.authenticate(ex);
      governance.admit(ex);
    }
  } catch (err) {
    refused = err;
  }
  assert.ok(refused instanceof GatewayError && refused.status === 429, String(refused));
  const now = new Date();
  const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
  assert.ok(refused.message.endsWith(`it resets at ${midnight}.`), refused.message);
  void store.close();
});

test('wholeText writes every whole number as String does, small, in groups of three digits, and past a billion', () => {
  const numbers = [0, 7, 999, 1000, 1001, 10_010, 100_000, 1_000_000, 1_001_000, 99_999_992, 999_999_999, 1e9, 1_000_000_001, 1_000_000_000_007, 999_999_123_456, 123_456_789_000_000_009, 2 ** 53, 1e18, 1e21];
  for (let n = 1; n < 1e18; n = n * 7 + 3) numbers.push(n);
  for (const n of numbers) assert.equal(wholeText(n), String(n), `${n}`);
});


describe("the provider's own rate-limit headers with a gateway key", () => {
  const KEYED = 'gk-keyed-0123456789abcdef';
  const PROVIDER_LIMITS = ['x-ratelimit-limit-tokens-prompt', '1000', 'x-ratelimit-remaining-tokens-prompt', '990', 'anthropic-ratelimit-requests-remaining', '7'];
  let stack: RawStack;

  before(async () => {
    const file = configFileWith(
      `
routes:
  keyed:
    targets:
      - provider: fireworks
        model: m
        keys: [FW_KEY_A, FW_KEY_B]
keys:
  - {name: keyed, sha256: ${sha256(KEYED)}, limits: {rpm: 100}}
`,
      'provider-limits-',
    );
    stack = await startRawStack(
      (req, res) => {
        req.resume();
        req.on('end', () => {
          if (req.headers.authorization === 'Bearer fw_key_a') {
            // Rate-limited: how long for is in the OpenAI-style reset header alone (no retry-after).
            res.writeHead(429, ['content-type', 'application/json', 'x-ratelimit-remaining-requests', '0', 'x-ratelimit-reset-requests', '45s']);
            res.end(JSON.stringify({ error: { message: 'rate limited', type: 'rate_limit_error' } }));
            return;
          }
          res.writeHead(200, ['content-type', 'application/json', ...PROVIDER_LIMITS]);
          res.end(CHAT_ANSWER);
        });
      },
      { CONFIG_FILE: file, FW_KEY_A: 'fw_key_a', FW_KEY_B: 'fw_key_b' },
    );
  });
  after(() => stack.close());

  test("the client is told its key's limits, never the provider account's; a provider's 429 still rests its key for as long as its reset header says", async () => {
    const answer = await fetch(`${stack.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYED}` },
      body: JSON.stringify({ model: 'keyed', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(answer.status, 200, await answer.clone().text());
    await answer.text();
    assert.equal(answer.headers.get('x-ratelimit-limit-requests'), '100');
    for (let i = 0; i < PROVIDER_LIMITS.length; i += 2) assert.equal(answer.headers.get(PROVIDER_LIMITS[i]!), null, PROVIDER_LIMITS[i]);
    const status = (await (await fetch(`${stack.origin}/status/targets`)).json()) as { routes: { targets: { key: { reason?: string; availableInMs?: number } }[] }[] };
    const rested = status.routes[0]!.targets[0]!.key;
    assert.equal(rested.reason, 'rate-limited');
    assert.ok(rested.availableInMs! > 30_000, `key A rests ${rested.availableInMs} ms, not the 45 s its provider named`);
  });
});
