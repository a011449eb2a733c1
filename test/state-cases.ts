// What every store does the same way, as one table run against each (state-memory.test.ts,
// state-redis.test.ts). The stores' own clocks run here (Redis's is its server's), so windows are
// an hour long: a test that crosses a sub-window's edge still sees the same whole counts.
import assert from 'node:assert/strict';
import type { Admission, Charge, Lease, OnStoreFailure, Reservation, Store } from '../src/state/store.js';

const HOUR = 3_600_000;

/** A charge with what a request reserves of it, as the tests write them. */
export type Metered = Charge & { readonly amount: number };

/** `store.reserve`, each charge's amount read from it. */
export function reserve(store: Store, id: string, charges: readonly Metered[], leases: readonly Lease[], onFailure: OnStoreFailure, settles?: boolean): Admission | Promise<Admission> {
  return store.reserve(id, charges, charges.map((charge) => charge.amount), leases, onFailure, settles);
}

let unique = 0;
/** A key no other case (nor an earlier run against the same Redis) uses. */
function key(name: string): string {
  return `${name}:${process.pid}:${Date.now()}:${++unique}`;
}

function rate(name: string, limit: number, amount: number): Metered {
  return { key: name, limit, amount, windowMs: HOUR };
}

function budget(name: string, limit: number, amount: number, endsAt = Date.now() + 30 * 24 * HOUR): Metered {
  return { key: name, limit, amount, period: { id: '2026-12', endsAt } };
}

function admitted(admission: Admission): Reservation {
  assert.ok(admission.ok, `admitted, got ${JSON.stringify(admission)}`);
  return admission.reservation;
}

function refused(admission: Admission): Extract<Admission, { retryAfterMs: number }> {
  assert.ok(!admission.ok && !('unavailable' in admission), `refused, got ${JSON.stringify(admission)}`);
  return admission;
}

async function remainingOf(store: Store, charge: Charge): Promise<number> {
  const [remaining] = await store.peek([charge]);
  assert.ok(remaining !== undefined, 'peek answers for the charge');
  return remaining.remaining;
}

export interface StoreCase {
  readonly name: string;
  readonly run: (store: Store) => Promise<void>;
}

export const storeCases: readonly StoreCase[] = [
  {
    name: 'a rate admits up to its limit, then refuses naming its key and limit, with a retry within two windows',
    async run(store) {
      const rpm = key('rpm');
      for (let i = 0; i < 5; i++) admitted(await reserve(store, `r${i}`, [rate(rpm, 5, 1)], [], 'closed'));
      const refusal = refused(await reserve(store, 'r5', [rate(rpm, 5, 1)], [], 'closed'));
      assert.equal(refusal.key, rpm);
      assert.equal(refusal.limit, 5);
      assert.ok(refusal.retryAfterMs > 0 && refusal.retryAfterMs <= 2 * HOUR, `retryAfterMs ${refusal.retryAfterMs}`);
      assert.equal(await remainingOf(store, rate(rpm, 5, 0)), 0);
    },
  },
  {
    name: 'remaining counts down with each reservation',
    async run(store) {
      const tpm = key('tpm');
      const admission = await reserve(store, 't1', [rate(tpm, 1000, 300)], [], 'closed');
      assert.ok(admission.ok);
      assert.equal(admission.remaining[0]!.remaining, 700);
      assert.ok(admission.remaining[0]!.resetMs > 0);
      assert.equal(await remainingOf(store, rate(tpm, 1000, 0)), 700);
    },
  },
  {
    name: 'a reserve is all or nothing: a refusal by the last charge or a lease leaves the others untouched',
    async run(store) {
      const a = key('a');
      const b = key('b');
      const lease = key('streams');
      admitted(await reserve(store, 'hold', [], [{ key: lease, limit: 1, ttlMs: HOUR }], 'closed'));
      const byCharge = refused(await reserve(store, 'x1', [rate(a, 10, 4), budget(b, 3, 5)], [], 'closed'));
      assert.equal(byCharge.key, b);
      assert.equal(byCharge.limit, 3);
      const byLease = refused(await reserve(store, 'x2', [rate(a, 10, 4), budget(b, 10, 1)], [{ key: lease, limit: 1, ttlMs: HOUR }], 'closed'));
      assert.equal(byLease.key, lease);
      assert.equal(byLease.retryAfterMs, -1);
      assert.equal(await remainingOf(store, rate(a, 10, 0)), 10);
      assert.equal(await remainingOf(store, budget(b, 10, 0)), 10);
    },
  },
  {
    name: 'a budget charged before a later charge refuses is left as it was, whether it existed or not',
    async run(store) {
      const spent = key('spent');
      const fresh = key('fresh');
      const full = key('full');
      admitted(await reserve(store, 's1', [budget(spent, 100, 30)], [], 'closed'));
      admitted(await reserve(store, 'f1', [rate(full, 1, 1)], [], 'closed'));
      const byRate = refused(await reserve(store, 's2', [budget(spent, 100, 20), budget(fresh, 100, 20), rate(full, 1, 1)], [], 'closed'));
      assert.equal(byRate.key, full);
      assert.equal(await remainingOf(store, budget(spent, 100, 0)), 70);
      assert.equal(await remainingOf(store, budget(fresh, 100, 0)), 100);
      // and it can be charged in full afterwards, as if the refused request had never come
      admitted(await reserve(store, 's3', [budget(fresh, 100, 100)], [], 'closed'));
    },
  },
  {
    name: 'an amount larger than the whole limit can never pass: retryAfterMs is -1',
    async run(store) {
      assert.equal(refused(await reserve(store, 'big', [rate(key('rate'), 10, 11)], [], 'closed')).retryAfterMs, -1);
      assert.equal(refused(await reserve(store, 'big2', [budget(key('budget'), 10, 11)], [], 'closed')).retryAfterMs, -1);
    },
  },
  {
    name: 'a budget refuses until its period ends',
    async run(store) {
      const month = key('month');
      const endsAt = Date.now() + 10 * HOUR;
      admitted(await reserve(store, 'b1', [budget(month, 100, 100, endsAt)], [], 'closed'));
      const refusal = refused(await reserve(store, 'b2', [budget(month, 100, 1, endsAt)], [], 'closed'));
      // Redis's clock and this one differ by the time a command takes.
      assert.ok(Math.abs(refusal.retryAfterMs - (endsAt - Date.now())) < 5_000, `retryAfterMs ${refusal.retryAfterMs}`);
    },
  },
  {
    name: 'settle replaces the estimate with what was used, for rates and budgets',
    async run(store) {
      const tpm = key('tpm');
      const spend = key('spend');
      const reservation = admitted(await reserve(store, 's1', [rate(tpm, 1000, 800), budget(spend, 5_000_000, 2_000_000)], [], 'closed'));
      await store.settle(reservation, [120, 350_000]);
      assert.equal(await remainingOf(store, rate(tpm, 1000, 0)), 880);
      assert.equal(await remainingOf(store, budget(spend, 5_000_000, 0)), 4_650_000);
      // more than estimated is charged too
      const second = admitted(await reserve(store, 's2', [rate(tpm, 1000, 10)], [], 'closed'));
      await store.settle(second, [100]);
      assert.equal(await remainingOf(store, rate(tpm, 1000, 0)), 780);
    },
  },
  {
    name: 'a second settle of the same reservation changes nothing',
    async run(store) {
      const spend = key('spend');
      const lease = key('streams');
      const reservation = admitted(await reserve(store, 'twice', [budget(spend, 1000, 500)], [{ key: lease, limit: 1, ttlMs: HOUR }], 'closed'));
      await store.settle(reservation, [100]);
      await store.settle(reservation, [100]);
      await store.settle({ ...reservation }, [400]);
      assert.equal(await remainingOf(store, budget(spend, 1000, 0)), 900);
      // the lease was freed once, and taken by another since: a repeated settle does not free it
      admitted(await reserve(store, 'other', [], [{ key: lease, limit: 1, ttlMs: HOUR }], 'closed'));
      await store.settle(reservation, [100]);
      refused(await reserve(store, 'third', [], [{ key: lease, limit: 1, ttlMs: HOUR }], 'closed'));
    },
  },
  {
    name: 'a lease holds a slot until settled, or until it expires',
    async run(store) {
      const streams = key('streams');
      const slot = (ttlMs: number): Lease => ({ key: streams, limit: 2, ttlMs });
      const first = admitted(await reserve(store, 'l1', [], [slot(HOUR)], 'closed'));
      admitted(await reserve(store, 'l2', [], [slot(300)], 'closed'));
      refused(await reserve(store, 'l3', [], [slot(HOUR)], 'closed'));
      await store.settle(first, []);
      admitted(await reserve(store, 'l4', [], [slot(HOUR)], 'closed'));
      refused(await reserve(store, 'l5', [], [slot(HOUR)], 'closed'));
      await new Promise((resolve) => setTimeout(resolve, 400));
      admitted(await reserve(store, 'l6', [], [slot(HOUR)], 'closed'));
    },
  },
  {
    name: 'bytes are kept for their TTL and deleted on demand',
    async run(store) {
      const long = key('entry');
      const short = key('short');
      await store.set(long, Buffer.from('answer'), HOUR);
      await store.set(short, Buffer.from([0, 255, 1]), 200);
      assert.deepEqual(await store.get(long), Buffer.from('answer'));
      assert.deepEqual(await store.get(short), Buffer.from([0, 255, 1]));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await store.get(short), undefined);
      await store.delete(long);
      assert.equal(await store.get(long), undefined);
    },
  },
];
