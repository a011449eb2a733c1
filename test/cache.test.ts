// The response cache of routes with `cache: { ttl }`, driven through the gateway against the
// simulators: a hit replays the miss's bytes (SDKs read a well-formed stream), identical misses in
// flight make one upstream call, nothing crosses tenants, a fallback's answer is never served for
// the primary's key, Cache-Control no-cache/no-store, the TTL, and answers that must not be kept
// (a stream cut short, an error inside a 200 stream).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { ConfigError, loadConfig } from '../src/config.js';
import type { GatewayServer } from '../src/server.js';
import { collectLines, FALLBACK_ROUTE, KEY, MODEL, requestLines, startGateway, until } from './helpers.js';

const CLAUDE = 'claude-haiku-4-5';
const CONFIG = `
routes:${FALLBACK_ROUTE}
    cache:
      ttl: 60
  claude-cached:
    cache: { ttl: 60 }
    targets:
      - provider: anthropic
        model: ${CLAUDE}
  short-lived:
    cache: { ttl: 1 }
    targets:
      - provider: fireworks
        model: ${MODEL}
  uncached:
    targets:
      - provider: fireworks
        model: ${MODEL}
`;

let primary: FireworksSim;
let backup: OpenAICompatibleSim;
let anthropic: AnthropicSim;
let gateway: GatewayServer;
let baseURL: string;
let origin: string;
const lines: string[] = [];

before(async () => {
  primary = await startFireworksSim({ port: 0 });
  backup = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
  anthropic = await startAnthropicSim({ port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'cache-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, CONFIG);
  const started = await startGateway(
    {
      CONFIG_FILE: file,
      LOG_LEVEL: 'info',
      FIREWORKS_BASE_URL: primary.url,
      FIREWORKS_API_KEY: KEY,
      GROQ_BASE_URL: backup.url,
      GROQ_API_KEY: 'sim-groq-key',
      ANTHROPIC_BASE_URL: anthropic.url,
      ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
    },
    collectLines(lines),
  );
  gateway = started.server;
  baseURL = started.url;
  origin = baseURL.slice(0, -'/v1'.length);
});
after(async () => {
  await gateway.shutdown(100);
  await primary.close();
  await backup.close();
  await anthropic.close();
});

let counter = 0;
/** A question no other test asks: each test starts with nothing kept. */
function question(): string {
  return `question ${process.pid}-${++counter}`;
}

/** POSTs `body` as it is written (key order, whitespace) to the chat route; the answer's bytes. */
async function postRaw(body: string, headers: Record<string, string> = {}) {
  const res = await request(`${baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-a', ...headers }, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

function chatBody(content: string, extra: Record<string, unknown> = {}, model = 'team-chat'): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra });
}

describe('response cache', () => {
  test('the same request, keys reordered and spaced, is a hit: the miss\'s bytes, no upstream call, cost 0', async () => {
    const q = question();
    const from = primary.requests.length;
    const miss = await postRaw(chatBody(q, { temperature: 0 }));
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['x-gateway-cache'], 'miss');
    const spelledOtherwise = `{ "temperature" : 0.0,\n  "messages": [ { "content": ${JSON.stringify(q)}, "role": "user" } ], "model": "team-chat", "user": "someone-else" }`;
    const hit = await postRaw(spelledOtherwise);
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-gateway-cache'], 'hit');
    assert.equal(hit.text, miss.text);
    assert.equal(hit.headers['content-type'], miss.headers['content-type']);
    assert.equal(hit.headers['x-gateway-cost-usd'], '0');
    assert.equal(hit.headers['x-gateway-target'], 'primary');
    assert.notEqual(hit.headers['x-request-id'], miss.headers['x-request-id']);
    assert.equal(primary.requests.length - from, 1);
    await until(() => requestLines(lines).some((line) => line.reqId === hit.headers['x-request-id']));
    const line = requestLines(lines).find((l) => l.reqId === hit.headers['x-request-id'])!;
    assert.equal(line.costUsd, 0);
  });

  test('a route without cache: no header, every request upstream', async () => {
    const q = question();
    const from = primary.requests.length;
    const first = await postRaw(chatBody(q, {}, 'uncached'));
    const second = await postRaw(chatBody(q, {}, 'uncached'));
    assert.equal(first.headers['x-gateway-cache'], undefined);
    assert.equal(second.headers['x-gateway-cache'], undefined);
    assert.equal(primary.requests.length - from, 2);
  });

  test('tenants: another client\'s identical request is a miss, each then hits its own', async () => {
    const body = chatBody(question());
    const from = primary.requests.length;
    assert.equal((await postRaw(body, { authorization: 'Bearer client-a' })).headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(body, { authorization: 'Bearer client-b' })).headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(body, { 'x-api-key': 'client-c', authorization: '' })).headers['x-gateway-cache'], 'miss');
    assert.equal(primary.requests.length - from, 3);
    assert.equal((await postRaw(body, { authorization: 'Bearer client-b' })).headers['x-gateway-cache'], 'hit');
    assert.equal((await postRaw(body, { authorization: 'Bearer client-a' })).headers['x-gateway-cache'], 'hit');
    assert.equal(primary.requests.length - from, 3);
  });

  test('single flight: 10 concurrent identical requests make one upstream call, and all get its answer', async () => {
    const body = chatBody(question());
    const from = primary.requests.length;
    // The first call is slow, so that the others arrive while it is in flight.
    primary.queueFault({ delay_ms: 300 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => postRaw(body)));
    assert.equal(primary.requests.length - from, 1);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.text, answers[0]!.text);
    }
    assert.deepEqual(answers.map((a) => a.headers['x-gateway-cache']).sort(), ['hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'miss']);
  });

  test('single flight: when the first answer fails, each waiting request goes upstream itself', async () => {
    const body = chatBody(question());
    const from = primary.requests.length;
    const backupFrom = backup.requests.length;
    // The first call fails slowly (400: no fallback); the others, waiting for it, then each call.
    primary.queueFault({ delay_ms: 300, status: 400 });
    const answers = await Promise.all(Array.from({ length: 4 }, () => postRaw(body)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 400]);
    assert.equal(backup.requests.length - backupFrom, 0);
    // The three that waited went upstream, and they may have waited once more on one another.
    assert.ok(primary.requests.length - from >= 2 && primary.requests.length - from <= 4);
  });

  test('a chat stream replayed is a well-formed stream the OpenAI SDK reads: the same text and id', async () => {
    const client = new OpenAI({ apiKey: 'client-a', baseURL, maxRetries: 0 });
    const params = { model: 'team-chat', messages: [{ role: 'user' as const, content: question() }], stream: true as const };
    const read = async () => {
      const { data, response } = await client.chat.completions.create(params).withResponse();
      let text = '';
      let id = '';
      let finish: string | null = null;
      for await (const chunk of data) {
        id = chunk.id;
        text += chunk.choices[0]?.delta?.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { text, id, finish, cache: response.headers.get('x-gateway-cache'), type: response.headers.get('content-type') };
    };
    const from = primary.requests.length;
    const miss = await read();
    const hit = await read();
    assert.equal(miss.cache, 'miss');
    assert.equal(hit.cache, 'hit');
    assert.ok(miss.text.length > 0);
    assert.equal(hit.text, miss.text);
    assert.equal(hit.id, miss.id);
    assert.equal(hit.finish, 'stop');
    assert.match(hit.type ?? '', /^text\/event-stream/);
    assert.equal(primary.requests.length - from, 1);
  });

  test('a Messages stream replayed is a well-formed stream the Anthropic SDK reads: the same text, message_stop last', async () => {
    const client = new Anthropic({ baseURL: origin, apiKey: 'client-a', maxRetries: 0 });
    const params = { model: 'claude-cached', max_tokens: 64, messages: [{ role: 'user' as const, content: question() }], stream: true as const };
    const read = async () => {
      const { data, response } = await client.messages.create(params).withResponse();
      let text = '';
      const types: string[] = [];
      for await (const event of data) {
        types.push(event.type);
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      }
      return { text, types, cache: response.headers.get('x-gateway-cache') };
    };
    const from = anthropic.requests.length;
    const miss = await read();
    const hit = await read();
    assert.equal(miss.cache, 'miss');
    assert.equal(hit.cache, 'hit');
    assert.ok(miss.text.length > 0);
    assert.equal(hit.text, miss.text);
    assert.deepEqual(hit.types, miss.types);
    assert.equal(hit.types[0], 'message_start');
    assert.equal(hit.types.at(-1), 'message_stop');
    assert.equal(anthropic.requests.length - from, 1);
    // The SDK's whole-message helper reads the same replay.
    const final = await client.messages.stream({ model: 'claude-cached', max_tokens: 64, messages: params.messages }).finalMessage();
    assert.equal(final.content[0]!.type === 'text' ? final.content[0]!.text : '', miss.text);
  });

  test("a fallback's answer is never served for the primary's key: the next identical request is a miss", async () => {
    const body = chatBody(question());
    const from = primary.requests.length;
    const backupFrom = backup.requests.length;
    primary.queueFault({ status: 503 });
    const fallback = await postRaw(body);
    assert.equal(fallback.status, 200);
    assert.equal(fallback.headers['x-gateway-target'], 'backup');
    assert.equal(backup.requests.length - backupFrom, 1);
    const next = await postRaw(body);
    assert.equal(next.headers['x-gateway-cache'], 'miss');
    assert.equal(next.headers['x-gateway-target'], 'primary');
    assert.equal(primary.requests.length - from, 2);
    const third = await postRaw(body);
    assert.equal(third.headers['x-gateway-cache'], 'hit');
    assert.equal(third.text, next.text);
    assert.equal(backup.requests.length - backupFrom, 1);
  });

  test('Cache-Control: no-cache skips the lookup and keeps the answer; no-store skips both', async () => {
    const body = chatBody(question());
    const from = primary.requests.length;
    const fresh = await postRaw(body, { 'cache-control': 'no-cache' });
    assert.equal(fresh.headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(body)).headers['x-gateway-cache'], 'hit');
    assert.equal((await postRaw(body, { 'cache-control': 'max-age=0, No-Cache' })).headers['x-gateway-cache'], 'miss');
    assert.equal(primary.requests.length - from, 2);

    const other = chatBody(question());
    assert.equal((await postRaw(other, { 'cache-control': 'no-store' })).headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(other)).headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(other, { 'cache-control': 'no-cache, no-store' })).headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(other)).headers['x-gateway-cache'], 'hit');
    assert.equal(primary.requests.length - from, 5);
  });

  test('an entry expires after the route\'s ttl', async () => {
    const body = chatBody(question(), {}, 'short-lived');
    const from = primary.requests.length;
    assert.equal((await postRaw(body)).headers['x-gateway-cache'], 'miss');
    assert.equal((await postRaw(body)).headers['x-gateway-cache'], 'hit');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal((await postRaw(body)).headers['x-gateway-cache'], 'miss');
    assert.equal(primary.requests.length - from, 2);
  });

  test('a stream cut short is not kept: the next identical request goes upstream', async () => {
    // The fault rides in the body: every identical request gets it, and each must go upstream.
    const body = chatBody(question(), { stream: true, sim: { cut_after: 1 } });
    const from = primary.requests.length;
    const cut = await postRaw(body);
    assert.equal(cut.status, 200);
    assert.match(cut.text, /stream_interrupted/);
    const again = await postRaw(body);
    assert.equal(again.headers['x-gateway-cache'], 'miss');
    assert.match(again.text, /stream_interrupted/);
    assert.equal(primary.requests.length - from, 2);
  });

  test('a stream with an error event inside its 200 is not kept', async () => {
    const body = chatBody(question(), { stream: true, sim: { stream_error: { after: 1 } } });
    const from = primary.requests.length;
    const first = await postRaw(body);
    assert.equal(first.status, 200);
    assert.match(first.text, /"error"/);
    assert.equal((await postRaw(body)).headers['x-gateway-cache'], 'miss');
    assert.equal(primary.requests.length - from, 2);
  });

  test('metrics count hits, misses and bypasses by route', async () => {
    const body = chatBody(question(), {}, 'short-lived');
    await postRaw(body);
    await postRaw(body);
    await postRaw(body, { 'cache-control': 'no-store' });
    const res = await request(`${origin}/metrics`);
    const text = await res.body.text();
    const value = (result: string) => Number(new RegExp(`^gateway_cache_requests_total\\{route="short-lived",result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1]);
    assert.ok(value('miss') >= 1);
    assert.ok(value('hit') >= 1);
    assert.equal(value('bypass'), 1);
    assert.doesNotMatch(text, /gateway_cache_requests_total\{route="uncached"/);
  });
});

describe('cache config', () => {
  test('a ttl past 7 days, of 0, or a field the cache does not know is refused, naming its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cache-bad-'));
    const file = join(dir, 'gateway.yaml');
    const target = `    targets:\n      - {provider: fireworks, model: ${MODEL}}\n`;
    writeFileSync(file, `routes:\n  week:\n    cache: {ttl: 604801}\n${target}  zero:\n    cache: {ttl: 0}\n${target}  typo:\n    cache: {tll: 60}\n${target}  fine:\n    cache: {ttl: 604800}\n${target}`);
    let error: unknown;
    try {
      loadConfig({ CONFIG_FILE: file, FIREWORKS_API_KEY: KEY });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /routes\.week\.cache\.ttl.*at most 604800/);
    assert.match(error.message, /routes\.zero\.cache\.ttl/);
    assert.match(error.message, /routes\.typo\.cache/);
    assert.doesNotMatch(error.message, /routes\.fine/);
  });
});

describe('response cache: copies in flight', () => {
  test("the answers being copied at once hold at most CACHE_MAX_BYTES: past it one is served and not kept, and the bytes come back when the copies end", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cache-bound-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, `routes:\n  bounded:\n    cache: { ttl: 60 }\n    targets:\n      - provider: fireworks\n        model: ${MODEL}\n`);
    const started = await startGateway({ CONFIG_FILE: file, FIREWORKS_BASE_URL: primary.url, FIREWORKS_API_KEY: KEY, CACHE_MAX_BYTES: '100000', CACHE_MAX_ENTRY_BYTES: '60000' });
    const post = (body: unknown, signal?: AbortSignal) =>
      request(`${started.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-a' }, body: JSON.stringify(body), signal });
    const words = (n: number) => 'word '.repeat(n);
    try {
      // Two streams of about 45 KB that stall after four of their five chunks: about 36 KB each held in their copies.
      const stalls = [new AbortController(), new AbortController()];
      const held = await Promise.all(
        stalls.map(async (stall, i) => {
          const res = await post({ model: 'bounded', stream: true, messages: [{ role: 'user', content: `${question()} stall ${i}` }], sim: { content: words(9_000), chunks: 5, stall_after: 4 } }, stall.signal);
          let received = 0;
          const body = res.body[Symbol.asyncIterator]();
          while (received < 36_000) received += ((await body.next()).value as Buffer).length;
          return res;
        }),
      );
      // A 30 KB answer fits its entry's bound, but not what the two copies leave of the 100 KB.
      const big = { model: 'bounded', messages: [{ role: 'user', content: question() }], sim: { content: words(6_000) } };
      const first = await post(big);
      assert.equal(first.headers['x-gateway-cache'], 'miss');
      await first.body.text();
      const again = await post(big);
      await again.body.text();
      assert.equal(again.headers['x-gateway-cache'], 'miss', 'not kept while the copies in flight held the rest');
      // The stalled streams end (their clients leave): their copies are dropped and their bytes given back.
      for (const stall of stalls) stall.abort();
      for (const res of held) await res.body.text().catch(() => undefined);
      // The gateway sees its clients leave a moment later: an answer is kept again once it has.
      let cache: unknown;
      for (const deadline = Date.now() + 5_000; cache !== 'hit' && Date.now() < deadline; ) {
        const answer = await post(big);
        await answer.body.text();
        cache = answer.headers['x-gateway-cache'];
        if (cache !== 'hit') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(cache, 'hit', 'kept once nothing else held the bytes');
    } finally {
      await started.server.shutdown(100);
    }
  });
});
