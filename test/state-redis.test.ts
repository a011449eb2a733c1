// The Redis store against a real redis-server on a loopback port: the shared behaviour table, one
// limit enforced exactly by two processes at once, Redis hung or stopped mid-run (fail closed, fail
// open on a local share, never a hang, and back to Redis when it returns), and budgets that survive
// a new store and a Redis restart with its append-only file.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { createStore } from '../src/state/index.js';
import { RedisStore } from '../src/state/redis.js';
import type { Admission } from '../src/state/store.js';
import { RedisServer, skipRedis } from './redis-server.js';
import { reserve, storeCases, type Metered } from './state-cases.js';

const HOUR = 3_600_000;
const TIMEOUT_MS = 50;
/** How long a store may take to see Redis again after it returns (reconnection backs off to 2 s). */
const RECOVERY_MS = 8_000;

/** Calls of each command Redis ran, by name: those a script runs count, and the script call itself. */
async function commandCounts(raw: Redis): Promise<Map<string, number>> {
  const stats = await raw.info('commandstats');
  const counts = new Map<string, number>();
  for (const match of stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

function month(key: string, amount: number): Metered {
  return { key, limit: 10_000_000, amount, period: { id: '2026-12', endsAt: Date.now() + 30 * 24 * HOUR } };
}

async function until(what: string, check: () => boolean | Promise<boolean>, withinMs: number): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > withinMs) assert.fail(`${what} within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - start;
}

function isUnavailable(admission: Admission): boolean {
  return !admission.ok && 'unavailable' in admission;
}

describe('RedisStore', { skip: skipRedis }, () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(() => server?.close());

  describe('the behaviour every store shares', () => {
    let store: RedisStore;
    before(async () => {
      store = new RedisStore({ url: server.url });
      await store.ready(5_000);
    });
    after(() => store.close());
    for (const { name, run } of storeCases) test(name, () => run(store));
  });

  test('createStore makes a RedisStore when REDIS_URL is set; every key it writes has REDIS_PREFIX, and a settle leaves none behind', async () => {
    const store = createStore(loadConfig({ REDIS_URL: server.url, REDIS_PREFIX: 'team-a:' }));
    assert.equal(store.kind, 'redis');
    await (store as RedisStore).ready(5_000);
    const admission = await reserve(store, 'p1', [{ key: 'rpm', limit: 5, amount: 1, windowMs: HOUR }], [], 'closed');
    assert.ok(admission.ok);
    await store.set('cached', Buffer.from('x'), HOUR);
    const raw = new Redis(server.url);
    try {
      // the reservations waiting for their settlement: one sorted set, scored by when each stops waiting
      assert.deepEqual((await raw.keys('team-a:*')).sort(), ['team-a:k:cached', 'team-a:o', 'team-a:r:rpm']);
      assert.ok(Number(await raw.zscore('team-a:o', 'p1')) > Date.now());
      // a settled reservation leaves nothing behind: what Redis holds grows with requests in flight, not with the rate
      await store.settle(admission.reservation, [1]);
      assert.deepEqual((await raw.keys('team-a:*')).sort(), ['team-a:k:cached', 'team-a:r:rpm']);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('a reservation that will not be settled (settles: false) leaves no marker behind, yet counts', async () => {
    const store = createStore(loadConfig({ REDIS_URL: server.url, REDIS_PREFIX: 'exact:' }));
    await (store as RedisStore).ready(5_000);
    const raw = new Redis(server.url);
    try {
      const first = await reserve(store, 'e1', [{ key: 'rpm', limit: 1, amount: 1, windowMs: HOUR }], [], 'closed', false);
      assert.ok(first.ok);
      assert.deepEqual((await raw.keys('exact:*')).sort(), ['exact:r:rpm'], 'no o:e1 waits for a settlement');
      const second = await reserve(store, 'e2', [{ key: 'rpm', limit: 1, amount: 1, windowMs: HOUR }], [], 'closed', false);
      assert.equal(second.ok, false, 'the first still counts');
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('the reserves of one turn of the event loop go to Redis as one script call, each answered as if alone', async () => {
    const store = new RedisStore({ url: server.url, prefix: 'batch:' });
    await store.ready(5_000);
    const raw = new Redis(server.url);
    try {
      const scriptCalls = async () => {
        const counts = await commandCounts(raw);
        return (counts.get('evalsha') ?? 0) + (counts.get('eval') ?? 0);
      };
      await reserve(store, 'warm', [{ key: 'warm', limit: 1, amount: 1, windowMs: HOUR }], [], 'closed');
      const before = await scriptCalls();
      // 50 requests against 20: the first 20 in the batch pass, in order, and each later one is refused by that limit.
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          reserve(store, `b${i}`, [{ key: 'rpm', limit: 20, amount: 1, windowMs: HOUR }, month('usd', 1)], i % 2 === 0 ? [{ key: 'streams', limit: 100, ttlMs: HOUR }] : [], 'closed'),
        ),
      );
      const calls = (await scriptCalls()) - before;
      assert.equal(calls, 1, 'one script call carried the 50 reserves');
      assert.deepEqual(answers.map((answer) => answer.ok), Array.from({ length: 50 }, (_, i) => i < 20));
      const last = answers[19]!;
      assert.ok(last.ok);
      assert.equal(last.remaining[0]!.remaining, 0, 'the 20th saw the 19 before it');
      const refused = answers[20]!;
      assert.ok(!refused.ok && !('unavailable' in refused));
      assert.equal(refused.key, 'rpm');
      assert.equal(refused.limit, 20);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test("a script call reads and writes each counter once, whatever its number of requests; a reload's other limit on one counter is still exact", async () => {
    const store = new RedisStore({ url: server.url, prefix: 'once:' });
    await store.ready(5_000);
    const raw = new Redis(server.url);
    try {
      const commands = () => commandCounts(raw);
      const ran = (before: Map<string, number>, after: Map<string, number>) => {
        let total = 0;
        for (const [name, calls] of after) if (!['evalsha', 'eval', 'info', 'script'].includes(name)) total += calls - (before.get(name) ?? 0);
        return total;
      };
      const charges = (): Metered[] => [
        { key: 'rpm', limit: 1_000, amount: 1, windowMs: HOUR },
        { key: 'tpm', limit: 1_000_000, amount: 300, windowMs: HOUR },
        { key: 'usd-day', limit: 1_000_000, amount: 30, period: { id: '2026-12-07', endsAt: Date.now() + HOUR } },
        { key: 'usd-month', limit: 10_000_000, amount: 30, period: { id: '2026-12', endsAt: Date.now() + 30 * 24 * HOUR } },
      ];
      await reserve(store, 'warm', charges(), [], 'closed');
      let before = await commands();
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => reserve(store, `o${i}`, charges(), [], 'closed')));
      assert.ok(answers.every((answer) => answer.ok));
      // TIME; a read of each of the 4 counters; a write of each; the waiting set's trim, add, expiry and its check.
      const reserving = ran(before, await commands());
      assert.ok(reserving <= 14, `50 reserves ran ${reserving} commands`);
      before = await commands();
      await Promise.all(answers.map((answer) => (answer.ok ? store.settle(answer.reservation, [1, 100, 10, 10]) : undefined)));
      const settling = ran(before, await commands());
      assert.ok(settling <= 14, `50 settlements ran ${settling} commands`);
      const [tpm] = await store.peek([charges()[1]!]);
      assert.equal(tpm!.remaining, 1_000_000 - 300 - 50 * 100, 'each settlement corrected its own estimate');

      // Two requests of one call name one counter with two limits (a reload came between them): each is checked against its own.
      const both = await Promise.all([
        reserve(store, 'l1', [{ key: 'reloaded', limit: 1, amount: 1, windowMs: HOUR }], [], 'closed'),
        reserve(store, 'l2', [{ key: 'reloaded', limit: 2, amount: 1, windowMs: HOUR }], [], 'closed'),
        reserve(store, 'l3', [{ key: 'reloaded', limit: 2, amount: 1, windowMs: HOUR }], [], 'closed'),
      ]);
      assert.deepEqual(both.map((answer) => answer.ok), [true, true, false]);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('a settle that moves a rate into a new sub-window gives it the lifetime of one, so the window keeps its counts', async () => {
    const store = new RedisStore({ url: server.url, prefix: 'roll:' });
    await store.ready(5_000);
    const raw = new Redis(server.url);
    const windowMs = 1_000;
    try {
      // Early in a sub-window, so that the next one is reached by waiting, not by chance.
      await until('the start of a sub-window', () => Date.now() % windowMs < 300, 5_000);
      const tokens = (amount: number): Metered => ({ key: 'tpm', limit: 1_000, amount, windowMs });
      const first = await reserve(store, 'r1', [tokens(10)], [], 'closed');
      assert.ok(first.ok);
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      // The settle comes first in the new sub-window (as a batch's settlements do), then a reserve.
      await store.settle(first.reservation, [20]);
      assert.ok((await reserve(store, 'r2', [tokens(10)], [], 'closed')).ok);
      const ttl = await raw.pttl('roll:r:tpm');
      assert.ok(ttl > windowMs, `the counter outlives the sub-window after this one (${ttl} ms left)`);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test("a settle after its budget's period ended leaves no counter behind", async () => {
    const store = new RedisStore({ url: server.url, prefix: 'ended:' });
    await store.ready(5_000);
    const raw = new Redis(server.url);
    try {
      const period = { id: 'p', endsAt: Date.now() + 300 };
      const admission = await reserve(store, 'e1', [{ key: 'usd', limit: 100, amount: 10, period }], [], 'closed');
      assert.ok(admission.ok);
      assert.ok((await raw.pttl('ended:b:usd:p')) > 0, 'the counter lives until its period ends');
      await until('the period ended and its counter expired', async () => (await raw.exists('ended:b:usd:p')) === 0, 5_000);
      await store.settle(admission.reservation, [25]);
      assert.equal(await raw.exists('ended:b:usd:p'), 0, 'no counter without an expiry was made');
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test('two processes firing 300 concurrent reserves each at one limit of 100 get exactly 100 in total', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/reserve-flood.js', import.meta.url));
    const key = `flood:${Date.now()}`;
    const children = [0, 1].map(() => fork(fixture, [server.url, key, '300', '100'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const nextMessage = (child: (typeof children)[number]) =>
      new Promise<Record<string, number>>((resolve, reject) => {
        child.once('message', (message) => resolve(message as Record<string, number>));
        child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
      });
    await Promise.all(children.map(nextMessage));
    const results = children.map(nextMessage);
    for (const child of children) child.send('go');
    const counts = await Promise.all(results);
    const total = counts.reduce((sum, count) => sum + count.admitted!, 0);
    assert.equal(total, 100, JSON.stringify(counts));
    assert.equal(counts.reduce((sum, count) => sum + count.refused!, 0), 500, JSON.stringify(counts));
    await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
  });

  test('a budget survives a new store on the same Redis', async () => {
    const first = new RedisStore({ url: server.url });
    await first.ready(5_000);
    const admission = await reserve(first, 'budget-1', [month('team:usd', 3_000_000)], [], 'closed');
    assert.ok(admission.ok);
    await first.settle(admission.reservation, [1_250_000]);
    await first.close();
    const second = new RedisStore({ url: server.url });
    await second.ready(5_000);
    assert.equal((await second.peek([month('team:usd', 0)]))[0]!.remaining, 8_750_000);
    await second.close();
  });

  test('the settle script runs once per id, whichever store sends it', async () => {
    const a = new RedisStore({ url: server.url });
    const b = new RedisStore({ url: server.url });
    await Promise.all([a.ready(5_000), b.ready(5_000)]);
    const admission = await reserve(a, 'shared-settle', [month('team:once', 500)], [], 'closed');
    assert.ok(admission.ok);
    await Promise.all([a.settle(admission.reservation, [100]), b.settle(admission.reservation, [100]), b.settle(admission.reservation, [300])]);
    assert.equal((await a.peek([month('team:once', 0)]))[0]!.remaining, 10_000_000 - 100);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('RedisStore when Redis fails', { skip: skipRedis }, () => {
  let server: RedisServer;
  let store: RedisStore;
  before(async () => {
    server = await RedisServer.start();
    store = new RedisStore({ url: server.url, timeoutMs: TIMEOUT_MS, failOpenShare: 0.5 });
    await store.ready(5_000);
  });
  after(async () => {
    await store?.close();
    await server?.close();
  });

  const rpm = (limit: number): Metered => ({ key: 'outage:rpm', limit, amount: 1, windowMs: HOUR });

  test('hung (SIGSTOP): closed answers unavailable and open reserves locally, each within its timeout', async () => {
    assert.equal((await reserve(store, 'up', [rpm(10)], [], 'open')).ok, true);
    server.pause();
    try {
      let started = performance.now();
      const closed = await reserve(store, 'hung-closed', [rpm(10)], [], 'closed');
      const closedMs = performance.now() - started;
      assert.ok(isUnavailable(closed), JSON.stringify(closed));
      started = performance.now();
      const open = await reserve(store, 'hung-open', [rpm(10)], [], 'open');
      const openMs = performance.now() - started;
      assert.ok(open.ok && open.reservation.local, JSON.stringify(open));
      // a timeout, not a hang: generous for a loaded machine, far below any request's own timeout
      assert.ok(closedMs < 10 * TIMEOUT_MS && openMs < 10 * TIMEOUT_MS, `closed ${closedMs} ms, open ${openMs} ms`);
      const health = store.health();
      assert.equal(health.up, false);
      assert.ok(health.downSince !== undefined && health.lastError !== undefined, JSON.stringify(health));
    } finally {
      server.resume();
    }
    await until('Redis answers again after SIGCONT', async () => (await reserve(store, 'resumed', [rpm(1000)], [], 'closed')).ok, RECOVERY_MS);
    assert.equal(store.health().up, true);
  });

  test('a stream slot reserved by a call whose answer timed out is freed once Redis answers again', async () => {
    const slot = { key: 'outage:streams', limit: 1, ttlMs: HOUR };
    server.pause();
    let held: Admission;
    try {
      // The call waits in Redis's socket and times out here; Redis runs it once it wakes, holding the slot.
      held = await reserve(store, 'timed-out', [rpm(1000)], [slot], 'open');
      assert.ok(held.ok && held.reservation.local, JSON.stringify(held));
    } finally {
      server.resume();
    }
    // The request ran on a local reservation, and settles it.
    await store.settle(held.reservation, [1]);
    // The slot in Redis is freed by the release the failed call left behind, not after its hour.
    await until('the slot is free in Redis', async () => {
      const next = await reserve(store, `after-${Date.now()}`, [rpm(1000)], [slot], 'closed');
      if (next.ok) await store.settle(next.reservation, [1]);
      return next.ok && !next.reservation.local;
    }, RECOVERY_MS);
  });

  test('stopped: fail open enforces REDIS_FAIL_OPEN_SHARE of the limit locally; started again: back on Redis', async () => {
    await server.stop('SIGKILL');
    const started = performance.now();
    const answers: Admission[] = [];
    for (let i = 0; i < 8; i++) answers.push(await reserve(store, `down-${i}`, [{ key: 'down:rpm', limit: 10, amount: 1, windowMs: HOUR }], [], 'open'));
    const closed = await reserve(store, 'down-closed', [rpm(10)], [], 'closed');
    const elapsedMs = performance.now() - started;
    // half of 10, in this process alone
    assert.deepEqual(answers.map((answer) => answer.ok), [true, true, true, true, true, false, false, false]);
    assert.ok(answers.every((answer) => !answer.ok || answer.reservation.local));
    assert.ok(isUnavailable(closed));
    assert.ok(elapsedMs < 10 * TIMEOUT_MS, `${elapsedMs} ms for 9 reserves while Redis is down`);
    // a local reservation settles locally
    const local = answers[0]!;
    assert.ok(local.ok);
    await store.settle(local.reservation, [1]);

    await server.restart();
    const recoveredMs = await until('reserves go to Redis again', async () => {
      const answer = await reserve(store, `back-${Date.now()}`, [rpm(1000)], [], 'closed');
      return answer.ok && !answer.reservation.local;
    }, RECOVERY_MS);
    assert.ok(recoveredMs < RECOVERY_MS);
    assert.deepEqual(store.health(), { kind: 'redis', up: true });
  });
});

describe('RedisStore: budgets across a Redis restart', { skip: skipRedis }, () => {
  test('a settle sent while Redis is down is applied once it is back', async () => {
    const server = await RedisServer.start({ appendonly: true });
    const store = new RedisStore({ url: server.url, timeoutMs: TIMEOUT_MS });
    try {
      await store.ready(5_000);
      const admission = await reserve(store, 'late-settle', [month('team:late', 5_000_000)], [], 'closed');
      assert.ok(admission.ok);
      await server.stop('SIGKILL');
      await store.settle(admission.reservation, [1_000_000]);
      await server.restart({ appendonly: true });
      // the estimate (5,000,000) until the settle lands, then what was used
      await until('the settle lands after Redis returns', async () => (await store.peek([month('team:late', 0)]))[0]?.remaining === 9_000_000, RECOVERY_MS);
    } finally {
      await store.close();
      await server.close();
    }
  });

  test('with appendonly yes, a monthly budget is still there after Redis restarts', async () => {
    const server = await RedisServer.start({ appendonly: true });
    try {
      let store = new RedisStore({ url: server.url });
      await store.ready(5_000);
      const admission = await reserve(store, 'aof-1', [month('team:aof', 2_000_000)], [], 'closed');
      assert.ok(admission.ok);
      await store.settle(admission.reservation, [700_000]);
      await store.close();
      await server.stop('SIGKILL');
      await server.restart({ appendonly: true });
      store = new RedisStore({ url: server.url });
      await store.ready(5_000);
      assert.equal((await store.peek([month('team:aof', 0)]))[0]!.remaining, 10_000_000 - 700_000);
      // and a settle repeated after the restart still counts once
      await store.settle(admission.reservation, [0]);
      assert.equal((await store.peek([month('team:aof', 0)]))[0]!.remaining, 10_000_000 - 700_000);
      await store.close();
    } finally {
      await server.close();
    }
  });
});
