// The admin API (ADMIN_KEY_SHA256): gateway keys created, listed and revoked at run time, kept in
// the shared state. A created key works with the real openai SDK and is answered once (never in a
// list, a log line, /health or the request record); the admin key is checked first; a file key
// cannot be deleted; an API key's limits hold. Against a real redis-server with two gateway
// processes: a key created or revoked on one takes effect on the other within the refresh
// interval, and concurrent creations on both instances all survive.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { MAX_ADMIN_BODY_BYTES } from '../src/admin/api.js';
import { ConfigError, loadConfig } from '../src/config.js';
import type { GatewayServer } from '../src/server.js';
import { MemoryStore, RedisStore, type Store } from '../src/state/index.js';
import { collectLines, KEY, MODEL, startGateway, startGatewayProcess } from './helpers.js';
import { configFileWith, sha256, sharedGatewayEnv } from './keys-helpers.js';
import { RedisServer, skipRedis } from './redis-server.js';

const ADMIN_KEY = 'admin-0123456789abcdef0123456789';
const FILE_KEY = 'gk-file-0123456789abcdef';
const HOUR_MS = 3_600_000;

function configFile(): string {
  return configFileWith(
    `
routes:
  team-chat:
    targets:
      - {provider: fireworks, model: ${MODEL}}
key_groups:
  team: {limits: {rpm: 1000}}
keys:
  - {name: from-file, sha256: ${sha256(FILE_KEY)}, limits: {rpm: 100}}
`,
    'admin-keys-',
  );
}

interface Created {
  name: string;
  key: string;
  source: string;
  limits: Record<string, unknown>;
}

/** One admin API call: its status and its JSON body (undefined for a 204). */
async function admin(origin: string, method: string, path: string, body?: unknown, adminKey = ADMIN_KEY): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), text };
}

/** A chat completion with `key` against `origin`: its status. */
async function chat(origin: string, key: string): Promise<number> {
  const res = await fetch(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-provider': 'fireworks' },
    body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Say hello' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('versioned values in the store (the admin API table)', () => {
  const check = async (store: Store) => {
    assert.equal(await store.versionOf('t'), 0);
    assert.equal(await store.readVersioned('t'), undefined);
    // Two writers that both read version 0: one write lands, the other is told so.
    const [first, second] = await Promise.all([store.compareAndSet('t', 0, Buffer.from('a'), HOUR_MS), store.compareAndSet('t', 0, Buffer.from('b'), HOUR_MS)]);
    assert.deepEqual([first, second].sort(), [false, true]);
    const read = await store.readVersioned('t');
    assert.equal(read?.version, 1);
    assert.equal(read?.value.toString(), first ? 'a' : 'b');
    assert.equal(await store.compareAndSet('t', 0, Buffer.from('c'), HOUR_MS), false, 'a stale version is refused');
    assert.equal(await store.compareAndSet('t', 1, Buffer.from('c'), HOUR_MS), true);
    assert.equal(await store.versionOf('t'), 2);
  };

  test('MemoryStore: one of two writers at the same version wins, and a versioned value is not evicted for room', async () => {
    const store = new MemoryStore({ maxBytes: 64 });
    try {
      await check(store);
      await store.set('filler', Buffer.alloc(60), HOUR_MS);
      assert.equal((await store.readVersioned('t'))?.value.toString(), 'c');
    } finally {
      await store.close();
    }
  });

  test('RedisStore: the same, and an unreachable Redis rejects rather than reading "absent"', { skip: skipRedis }, async () => {
    const redis = await RedisServer.start();
    const store = new RedisStore({ url: redis.url, timeoutMs: 1_000 });
    try {
      await store.ready(5_000);
      await check(store);
      await redis.stop();
      await assert.rejects(store.versionOf('t'), /Redis did not answer/);
      await assert.rejects(store.readVersioned('t'), /Redis did not answer/);
    } finally {
      await store.close();
      await redis.close();
    }
  });
});

describe('admin API: gateway keys at run time', () => {
  let sim: FireworksSim;
  let server: GatewayServer;
  let origin: string;
  let baseURL: string;
  const lines: string[] = [];
  const openai = (apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0, defaultHeaders: { 'x-provider': 'fireworks' } });

  before(async () => {
    sim = await startFireworksSim({ port: 0 });
    const started = await startGateway(
      { CONFIG_FILE: configFile(), FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, LOG_LEVEL: 'info', ADMIN_KEY_SHA256: sha256(ADMIN_KEY), RECORD_REQUESTS: '50' },
      collectLines(lines),
    );
    server = started.server;
    baseURL = started.url;
    origin = baseURL.slice(0, -'/v1'.length);
  });
  after(async () => {
    await server.shutdown(0);
    await sim.close();
  });

  test('a missing or wrong admin key is a 401 that says nothing of which keys exist', async () => {
    const answers = await Promise.all([
      fetch(`${origin}/admin/keys`),
      admin(origin, 'GET', '/admin/keys', undefined, 'wrong'),
      admin(origin, 'GET', '/admin/keys', undefined, FILE_KEY),
      admin(origin, 'DELETE', '/admin/keys/from-file', undefined, 'wrong'),
      admin(origin, 'DELETE', '/admin/keys/no-such-key', undefined, 'wrong'),
      admin(origin, 'POST', '/admin/keys', { name: 'sneaky' }, 'wrong'),
    ]);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [401, 401, 401, 401, 401, 401],
    );
    const [, wrong, ...others] = answers as { body: unknown }[];
    for (const other of others) assert.deepEqual(other.body, wrong!.body, 'the same answer whatever the path names');
    assert.equal((await admin(origin, 'GET', '/admin/keys')).body.keys.some((key: { name: string }) => key.name === 'sneaky'), false);
  });

  test('a created key works with the openai SDK, is answered once, and is never listed, logged or recorded; revoked, it is refused', async () => {
    const created = await admin(origin, 'POST', '/admin/keys', { name: 'app-one', models: ['accounts/fireworks/*'] });
    assert.equal(created.status, 201);
    const { key, name, source } = created.body as Created;
    assert.match(key, /^gk-[A-Za-z0-9_-]{43}$/);
    assert.deepEqual([name, source], ['app-one', 'api']);

    const answer = await openai(key).chat.completions.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Say hello' }] });
    assert.equal(answer.object, 'chat.completion');
    const forwarded = sim.requests.at(-1)!;
    assert.equal(forwarded.headers.authorization, `Bearer ${KEY}`, 'the provider gets the gateway key for it, not the client');

    const listed = await admin(origin, 'GET', '/admin/keys');
    assert.equal(listed.status, 200);
    const names = listed.body.keys.map((entry: { name: string; source: string }) => `${entry.source}:${entry.name}`);
    assert.ok(names.includes('file:from-file') && names.includes('api:app-one'), names.join(', '));
    const entry = listed.body.keys.find((listedKey: { name: string }) => listedKey.name === 'app-one');
    assert.deepEqual(entry.models, ['accounts/fireworks/*']);
    assert.match(entry.created, /^\d{4}-\d\d-\d\dT/);
    assert.ok(!listed.text.includes(key) && !listed.text.includes(sha256(key)) && !listed.text.includes(sha256(FILE_KEY)), 'no key and no hash in a list');

    const health = await (await fetch(`${origin}/health`)).text();
    const record = await (await fetch(`${origin}/debug/requests`)).text();
    assert.ok(record.includes('/admin/keys') === false, 'admin calls are not recorded');
    for (const [where, text] of [['the log', lines.join('')], ['/health', health], ['/debug/requests', record]] as const) {
      assert.ok(!text.includes(key), `the key is not in ${where}`);
    }

    assert.equal((await admin(origin, 'POST', '/admin/keys', { name: 'app-one' })).status, 409, 'a name taken by an API key');
    const clash = await admin(origin, 'POST', '/admin/keys', { name: 'from-file' });
    assert.equal(clash.status, 409, 'a name taken by a file key');
    assert.equal(clash.body.error.code, 'key_exists');

    assert.equal((await admin(origin, 'DELETE', '/admin/keys/app-one')).status, 204);
    await assert.rejects(openai(key).chat.completions.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Say hello' }] }), OpenAI.AuthenticationError);
    assert.equal((await admin(origin, 'DELETE', '/admin/keys/app-one')).status, 404);
    assert.equal((await admin(origin, 'GET', '/admin/keys')).body.keys.some((listedKey: { name: string }) => listedKey.name === 'app-one'), false);
  });

  test('a file key cannot be deleted through the API, and still works', async () => {
    const refused = await admin(origin, 'DELETE', '/admin/keys/from-file');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'file_key');
    assert.match(refused.body.error.message, /config file/);
    assert.equal(await chat(origin, FILE_KEY), 200);
  });

  test("an API key's limits and allow lists are enforced", async () => {
    const created = await admin(origin, 'POST', '/admin/keys', { name: 'rated', group: 'team', limits: { rpm: 2 } });
    assert.equal(created.status, 201);
    const { key } = created.body as Created;
    assert.deepEqual([await chat(origin, key), await chat(origin, key)], [200, 200]);
    await assert.rejects(openai(key).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.match(err.message, /gateway key "rated".*2 requests per minute/);
      return true;
    });

    const narrow = (await admin(origin, 'POST', '/admin/keys', { name: 'narrow', routes: ['team-chat'] })).body as Created;
    await assert.rejects(openai(narrow.key).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), OpenAI.PermissionDeniedError);
    const routed = await openai(narrow.key).chat.completions.create({ model: 'team-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(routed.object, 'chat.completion');
  });

  test("a key is checked by the config file's rules and this gateway's routes, providers and groups", async () => {
    const cases: [unknown, RegExp][] = [
      [{ name: 'bad name!' }, /name: must be 1-64 letters/],
      [{ name: 'x', limits: { rpm: 0 } }, /limits\.rpm/],
      [{ name: 'x', limits: { rpm: 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789' } }, /limits\.rpm/],
      [{ name: 'x', secret: true }, /unknown key/],
      [{ name: 'x', routes: ['nowhere'] }, /routes: "nowhere" is not a route/],
      [{ name: 'x', providers: ['nobody'] }, /providers: "nobody" is not a provider/],
      [{ name: 'x', group: 'ghosts' }, /group: "ghosts" is not in the config file's key_groups/],
      [['x'], /body/],
    ];
    for (const [body, message] of cases) {
      const refused = await admin(origin, 'POST', '/admin/keys', body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.match(refused.body.error.message, message);
      assert.ok(!refused.text.includes('sk-proj-'), 'a credential-like value is not echoed');
    }
    assert.equal((await admin(origin, 'POST', '/admin/keys', '{"name": ')).status, 400);
    const big = await admin(origin, 'POST', '/admin/keys', { name: 'big', models: ['m'.repeat(MAX_ADMIN_BODY_BYTES)] });
    assert.equal(big.status, 413);
    assert.equal((await admin(origin, 'PUT', '/admin/keys')).status, 405);
    assert.equal((await admin(origin, 'GET', '/admin/other')).status, 404);
  });
});

describe('admin API: settings', () => {
  test('ADMIN_KEY_SHA256 is a SHA-256 (never echoed), needs REDIS_URL with several workers; ADMIN_KEYS_REFRESH_MS is bounded', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
    };
    const wrong = problems({ ADMIN_KEY_SHA256: ADMIN_KEY });
    assert.match(wrong, /ADMIN_KEY_SHA256: must be the 64 hex digits/);
    assert.ok(!wrong.includes(ADMIN_KEY), 'the value is not echoed');
    assert.match(problems({ ADMIN_KEY_SHA256: sha256(ADMIN_KEY), WORKERS: '2' }), /ADMIN_KEY_SHA256: with WORKERS above 1 .* need REDIS_URL/);
    assert.equal(problems({ ADMIN_KEY_SHA256: sha256(ADMIN_KEY).toUpperCase(), WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379' }), '');
    assert.match(problems({ ADMIN_KEYS_REFRESH_MS: '10' }), /ADMIN_KEYS_REFRESH_MS: must be at least 100 ms/);
    assert.equal(loadConfig({}).ADMIN_KEYS_REFRESH_MS, 2_000);
  });

  test('without ADMIN_KEY_SHA256 the admin paths are 404s; with it alone, every request needs a key made through it', async () => {
    const sim = await startFireworksSim({ port: 0 });
    const plain = await startGateway({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY });
    const managed = await startGateway({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, ADMIN_KEY_SHA256: sha256(ADMIN_KEY) });
    try {
      const plainOrigin = plain.url.slice(0, -'/v1'.length);
      const managedOrigin = managed.url.slice(0, -'/v1'.length);
      assert.equal((await admin(plainOrigin, 'GET', '/admin/keys')).status, 404);
      assert.equal((await admin(plainOrigin, 'POST', '/admin/keys', { name: 'x' })).status, 404);
      assert.equal(await chat(plainOrigin, KEY), 200, 'no gateway keys: the client provider key passes');

      assert.equal(await chat(managedOrigin, 'anything'), 401);
      const { key } = (await admin(managedOrigin, 'POST', '/admin/keys', { name: 'only' })).body as Created;
      assert.equal(await chat(managedOrigin, key), 200);
    } finally {
      await plain.server.shutdown(0);
      await managed.server.shutdown(0);
      await sim.close();
    }
  });
});

describe('admin API: keys shared by two gateway processes through Redis', { skip: skipRedis }, () => {
  const REFRESH_MS = 500;
  /** The refresh interval, plus what a loaded 2-core machine may add to a poll and a request. */
  const WITHIN_MS = REFRESH_MS + 1_500;
  let redis: RedisServer;
  let sim: FireworksSim;
  const gateways: { child: ChildProcess; origin: string; output: () => string }[] = [];

  before(async () => {
    redis = await RedisServer.start();
    sim = await startFireworksSim({ port: 0 });
    const env = sharedGatewayEnv(configFile(), sim.url, redis.url, {
      ADMIN_KEY_SHA256: sha256(ADMIN_KEY),
      ADMIN_KEYS_REFRESH_MS: String(REFRESH_MS),
      LOG_FORMAT: 'json',
    });
    gateways.push(...(await Promise.all([startGatewayProcess(env), startGatewayProcess(env)])));
  });
  after(async () => {
    for (const gateway of gateways) gateway.child.kill('SIGTERM');
    await Promise.all(gateways.map((gateway) => new Promise((resolve) => (gateway.child.exitCode !== null ? resolve(null) : gateway.child.once('exit', resolve)))));
    await sim.close();
    await redis.close();
  });

  /** Polls `origin` with `key` until it answers `status`; the time that took. */
  async function waitFor(origin: string, key: string, status: number): Promise<number> {
    const started = performance.now();
    for (;;) {
      const elapsed = performance.now() - started;
      if ((await chat(origin, key)) === status) return elapsed;
      if (elapsed > WITHIN_MS * 2) assert.fail(`${origin} did not answer ${status} within ${Math.round(elapsed)} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  test('a key created on one instance works on the other within the refresh interval; revoked on one, it is refused on the other', async (t) => {
    const [one, two] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const created = await admin(one.origin, 'POST', '/admin/keys', { name: 'shared' });
    assert.equal(created.status, 201);
    const { key } = created.body as Created;
    assert.equal(await chat(one.origin, key), 200, 'at once on the instance that made it');
    const appeared = await waitFor(two.origin, key, 200);
    assert.ok(appeared <= WITHIN_MS, `usable on the other instance after ${Math.round(appeared)} ms`);

    assert.equal((await admin(two.origin, 'DELETE', '/admin/keys/shared')).status, 204);
    assert.equal(await chat(two.origin, key), 401, 'at once on the instance that revoked it');
    const vanished = await waitFor(one.origin, key, 401);
    assert.ok(vanished <= WITHIN_MS, `refused on the other instance after ${Math.round(vanished)} ms`);
    t.diagnostic(`refresh every ${REFRESH_MS} ms: created, usable on the other instance after ${Math.round(appeared)} ms; revoked, refused there after ${Math.round(vanished)} ms`);
    for (const gateway of gateways) assert.ok(!gateway.output().includes(key), 'the key is in no log line');
  });

  test('concurrent creations on both instances all survive', async () => {
    // More than a change's attempts: the writers of one instance must queue, not race each other.
    const PER_INSTANCE = 30;
    const results = await Promise.all(
      gateways.flatMap((gateway, instance) =>
        Array.from({ length: PER_INSTANCE }, (_, index) => admin(gateway.origin, 'POST', '/admin/keys', { name: `race-${instance}-${index}` })),
      ),
    );
    assert.deepEqual(new Set(results.map((result) => result.status)), new Set([201]));
    for (const gateway of gateways) {
      const names = (await admin(gateway.origin, 'GET', '/admin/keys')).body.keys.map((entry: { name: string }) => entry.name).filter((name: string) => name.startsWith('race-'));
      assert.equal(names.length, 2 * PER_INSTANCE, `${gateway.origin} lists every key: ${names.join(', ')}`);
    }
    // Each key works on the instance that did not make it, once its refresh has read the table.
    const keys = results.map((result) => (result.body as Created).key);
    await waitFor(gateways[1]!.origin, keys[0]!, 200);
    await waitFor(gateways[0]!.origin, keys.at(-1)!, 200);
    const statuses = await Promise.all(keys.map((key, index) => chat(gateways[index < PER_INSTANCE ? 1 : 0]!.origin, key)));
    assert.deepEqual(new Set(statuses), new Set([200]));
  });
});
