// The in-process store: the shared behaviour table, then the sliding window's arithmetic on an
// injected clock, settlement into the window a reservation landed in, the byte bound, and budgets
// kept across a restart in STATE_FILE.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { createStore } from '../src/state/index.js';
import { MemoryStore, RESERVATION_TTL_MS } from '../src/state/memory.js';
import type { Admission, Reservation } from '../src/state/store.js';
import { reserve, storeCases, type Metered } from './state-cases.js';

const MINUTE = 60_000;
/** A sub-window's start, far from the epoch as a real clock is. */
const T0 = 29_000_000 * MINUTE;

class Clock {
  constructor(public ms = T0) {}
  readonly now = () => this.ms;
}

function rpm(limit: number, amount: number): Metered {
  return { key: 'rpm', limit, amount, windowMs: MINUTE };
}

function reservationOf(admission: Admission): Reservation {
  assert.ok(admission.ok, `admitted, got ${JSON.stringify(admission)}`);
  return admission.reservation;
}

function retryOf(admission: Admission): number {
  assert.ok(!admission.ok && 'retryAfterMs' in admission, `refused, got ${JSON.stringify(admission)}`);
  return admission.retryAfterMs;
}

describe('MemoryStore: the behaviour every store shares', () => {
  const store = new MemoryStore();
  after(() => store.close());
  for (const { name, run } of storeCases) test(name, () => run(store));
});

describe('MemoryStore: the sliding window counter', () => {
  test('the previous sub-window counts for the share of it still in the window', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    reservationOf(await reserve(store, 'a', [rpm(100, 60)], [], 'closed'));
    clock.ms = T0 + MINUTE + 15_000;
    // 60 * 0.75 = 45 still counted: 55 fit, one more does not
    const admission = await reserve(store, 'b', [rpm(100, 55)], [], 'closed');
    assert.ok(admission.ok);
    assert.deepEqual(admission.remaining, [{ key: 'rpm', limit: 100, remaining: 0, resetMs: 2 * MINUTE - 15_000 }]);
    // room for 1 needs 60 * (1 - e) <= 44: e >= 16 s into the sub-window, 1 s from now
    assert.equal(retryOf(await reserve(store, 'c', [rpm(100, 1)], [], 'closed')), 1_000);
    clock.ms += 999;
    assert.equal(retryOf(await reserve(store, 'd', [rpm(100, 1)], [], 'closed')), 1);
    clock.ms += 1;
    reservationOf(await reserve(store, 'e', [rpm(100, 1)], [], 'closed'));
    await store.close();
  });

  test('when the current sub-window alone is full, the retry waits for it to slide out in turn', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    reservationOf(await reserve(store, 'a', [rpm(100, 100)], [], 'closed'));
    clock.ms = T0 + 30_000;
    // 30 s to the next sub-window, then 100 * (1 - e) <= 90: e >= 6 s
    assert.equal(retryOf(await reserve(store, 'b', [rpm(100, 10)], [], 'closed')), 36_000);
    clock.ms += 35_999;
    assert.equal(retryOf(await reserve(store, 'c', [rpm(100, 10)], [], 'closed')), 1);
    clock.ms += 1;
    reservationOf(await reserve(store, 'd', [rpm(100, 10)], [], 'closed'));
    await store.close();
  });

  test('a sub-window two windows old counts for nothing', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    reservationOf(await reserve(store, 'a', [rpm(10, 10)], [], 'closed'));
    clock.ms = T0 + 2 * MINUTE;
    reservationOf(await reserve(store, 'b', [rpm(10, 10)], [], 'closed'));
    await store.close();
  });

  test('a settle lands in the sub-window its reservation did, even after the window moved on', async () => {
    const clock = new Clock(T0 + 59_000);
    const store = new MemoryStore({ now: clock.now });
    const reservation = reservationOf(await reserve(store, 'a', [rpm(100, 50)], [], 'closed'));
    assert.deepEqual(reservation.windows, [T0]);
    clock.ms = T0 + MINUTE + 30_000;
    await store.settle(reservation, [10]);
    // the previous sub-window now holds 10, half of it in the window: 5 used
    const [remaining] = await store.peek([rpm(100, 0)]);
    assert.equal(remaining!.remaining, 95);
    await store.close();
  });

  test('a settle whose sub-window slid out of the window changes nothing', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    const old = reservationOf(await reserve(store, 'a', [rpm(100, 50)], [], 'closed'));
    clock.ms = T0 + 2 * MINUTE;
    reservationOf(await reserve(store, 'b', [rpm(100, 30)], [], 'closed'));
    await store.settle(old, [90]);
    assert.equal((await store.peek([rpm(100, 0)]))[0]!.remaining, 70);
    await store.close();
  });

  test('a reservation settles once; one that waited past RESERVATION_TTL_MS keeps its estimate', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    const budget: Metered = { key: 'usd', limit: 1000, amount: 100, period: { id: '2026-12', endsAt: T0 + 40 * 24 * 60 * MINUTE } };
    const reservation = reservationOf(await reserve(store, 'once', [budget], [], 'closed'));
    await store.settle(reservation, [50]);
    await store.settle(reservation, [0]);
    assert.equal((await store.peek([budget]))[0]!.remaining, 950);
    const late = reservationOf(await reserve(store, 'late', [budget], [], 'closed'));
    clock.ms += RESERVATION_TTL_MS;
    await store.sweep();
    await store.settle(late, [0]);
    assert.equal((await store.peek([budget]))[0]!.remaining, 850);
    await store.close();
  });

  test('a lease expires on the store clock', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    const lease = { key: 'streams', limit: 1, ttlMs: 30_000 };
    reservationOf(await reserve(store, 'a', [], [lease], 'closed'));
    clock.ms += 29_999;
    assert.equal(retryOf(await reserve(store, 'b', [], [lease], 'closed')), -1);
    clock.ms += 1;
    reservationOf(await reserve(store, 'c', [], [lease], 'closed'));
    await store.close();
  });

  test('a budget of a new period starts from zero', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    const december: Metered = { key: 'usd', limit: 100, amount: 100, period: { id: '2026-12', endsAt: T0 + MINUTE } };
    reservationOf(await reserve(store, 'a', [december], [], 'closed'));
    assert.equal(retryOf(await reserve(store, 'b', [{ ...december, amount: 1 }], [], 'closed')), MINUTE);
    clock.ms = T0 + MINUTE;
    reservationOf(await reserve(store, 'c', [{ key: 'usd', limit: 100, amount: 100, period: { id: '2027-01', endsAt: T0 + 2 * MINUTE } }], [], 'closed'));
    await store.close();
  });
});

describe('MemoryStore: budget periods', () => {
  test("a settle of an ended period's reservation leaves the new period's counter alone", async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    const december = { id: '2026-12', endsAt: T0 + MINUTE };
    const january = { id: '2027-01', endsAt: T0 + 2 * MINUTE };
    const late = reservationOf(await reserve(store, 'a', [{ key: 'usd', limit: 100, amount: 60, period: december }], [], 'closed'));
    clock.ms = T0 + MINUTE;
    reservationOf(await reserve(store, 'b', [{ key: 'usd', limit: 100, amount: 60, period: january }], [], 'closed'));
    // December's request used 10 more than it reserved: had that landed in January, 40 + 1 would not fit.
    await store.settle(late, [70]);
    reservationOf(await reserve(store, 'c', [{ key: 'usd', limit: 100, amount: 40, period: january }], [], 'closed'));
    assert.equal(retryOf(await reserve(store, 'd', [{ key: 'usd', limit: 100, amount: 1, period: january }], [], 'closed')), MINUTE);
    // A charge for December now (a clock behind) keeps nothing, and January's counter is untouched.
    await reserve(store, 'e', [{ key: 'usd', limit: 100, amount: 50, period: december }], [], 'closed');
    assert.equal((await store.peek([{ key: 'usd', limit: 100, period: january }]))[0]!.remaining, 0);
    await store.close();
  });
});

describe('MemoryStore: bytes', () => {
  test('held bytes stay within the bound, least recently used dropped first', async () => {
    const store = new MemoryStore({ maxBytes: 100 });
    const value = Buffer.alloc(30);
    await store.set('k1', value, MINUTE);
    await store.set('k2', value, MINUTE);
    await store.set('k3', value, MINUTE);
    assert.equal(store.heldBytes, 96);
    // reading k1 makes k2 the least recently used
    assert.ok(await store.get('k1'));
    await store.set('k4', value, MINUTE);
    assert.ok(store.heldBytes <= 100);
    assert.equal(await store.get('k2'), undefined);
    assert.ok(await store.get('k1'));
    assert.ok(await store.get('k3'));
    assert.ok(await store.get('k4'));
    // a value larger than the whole bound is not kept, and replaces nothing it would evict
    await store.set('huge', Buffer.alloc(200), MINUTE);
    assert.equal(await store.get('huge'), undefined);
    assert.ok(await store.get('k4'));
    // replacing a key counts its bytes once
    await store.set('k4', Buffer.alloc(10), MINUTE);
    assert.equal(store.heldBytes, 3 * 32 - 30 + 10);
    await store.close();
  });

  test('an expired entry is gone on the store clock', async () => {
    const clock = new Clock();
    const store = new MemoryStore({ now: clock.now });
    await store.set('k', Buffer.from('v'), 1_000);
    clock.ms += 999;
    assert.deepEqual(await store.get('k'), Buffer.from('v'));
    clock.ms += 1;
    assert.equal(await store.get('k'), undefined);
    assert.equal(store.heldBytes, 0);
    await store.close();
  });

  test('STATE_MEMORY_MAX_BYTES bounds the store createStore makes', async () => {
    const store = createStore(loadConfig({ STATE_MEMORY_MAX_BYTES: '64' }));
    assert.equal(store.kind, 'memory');
    await store.set('a', Buffer.alloc(40), MINUTE);
    await store.set('b', Buffer.alloc(40), MINUTE);
    assert.equal(await store.get('a'), undefined);
    assert.ok(await store.get('b'));
    await store.close();
  });
});

describe('MemoryStore: STATE_FILE', () => {
  test('refused with WORKERS above 1 and no Redis: the workers would overwrite each other in one file', () => {
    assert.throws(() => loadConfig({ STATE_FILE: '/tmp/budgets.json', WORKERS: '2' }), /STATE_FILE: with WORKERS above 1 each worker keeps its own budgets .*REDIS_URL, or set WORKERS=1/);
    assert.throws(() => loadConfig({ STATE_FILE: '/tmp/budgets.json', WORKERS: 'auto' }), /STATE_FILE: with WORKERS above 1/);
    assert.doesNotThrow(() => loadConfig({ STATE_FILE: '/tmp/budgets.json', WORKERS: '1' }));
    assert.doesNotThrow(() => loadConfig({ STATE_FILE: '/tmp/budgets.json', WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379' }));
  });

  const dir = mkdtempSync(join(tmpdir(), 'gateway-state-'));
  const month = (amount: number): Metered => ({ key: 'team:usd', limit: 10_000_000, amount, period: { id: '2026-12', endsAt: Date.now() + 30 * 24 * 60 * MINUTE } });

  test('budgets survive close() and a new store on the same file', async () => {
    const file = join(dir, 'budgets.json');
    const first = createStore(loadConfig({ STATE_FILE: file }));
    const reservation = reservationOf(await reserve(first, 'r1', [month(3_000_000)], [], 'closed'));
    await first.settle(reservation, [1_250_000]);
    await first.close();
    assert.deepEqual(readdirSync(dir), ['budgets.json'], 'no temporary file left behind');
    const second = createStore(loadConfig({ STATE_FILE: file }));
    assert.equal((await second.peek([month(0)]))[0]!.remaining, 8_750_000);
    await second.close();
  });

  test('budgets are written by the periodic sweep, not only at close()', async () => {
    const file = join(dir, 'periodic.json');
    const store = new MemoryStore({ stateFile: file });
    reservationOf(await reserve(store, 'r1', [month(42)], [], 'closed'));
    assert.equal(existsSync(file), false);
    // what the SNAPSHOT_INTERVAL_MS timer calls
    await store.sweep();
    assert.match(readFileSync(file, 'utf8'), /"team:usd","2026-12",\d+,42\]/);
    await store.close();
  });

  test('a corrupt file stops the start with an error naming it, not a silent zero', () => {
    const file = join(dir, 'corrupt.json');
    writeFileSync(file, '{"version":1,"budgets":[["team:usd","2026-12",');
    assert.throws(() => new MemoryStore({ stateFile: file }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`^STATE_FILE: ${file} is not a budget snapshot \\(not JSON`));
      return true;
    });
    writeFileSync(file, '{"version":1,"budgets":[["team:usd","2026-12","soon",5]]}');
    assert.throws(() => new MemoryStore({ stateFile: file }), /budgets\[0\] is not \[key, period, endsAt, used\]/);
  });
});
