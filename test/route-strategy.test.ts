// The order of a route's targets (src/route/strategy.ts), with a seeded random source and a
// hand-held clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LATENCY_DECAY_MS, LatencyStats, MAX_ROUTE_TARGETS, order, type Strategy } from '../src/route/strategy.js';

/** mulberry32: a small seeded PRNG, so that the distributions below are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

interface Target {
  name: string;
  weight: number;
  latency: LatencyStats;
}

function targets(specs: [name: string, weight: number][], now: () => number = () => 0): Target[] {
  return specs.map(([name, weight]) => ({ name, weight, latency: new LatencyStats({ now }) }));
}

/** How often each target comes first over `runs` orders. */
function firstPicks(strategy: Strategy, list: Target[], runs: number, random: () => number): Map<string, number> {
  const counts = new Map(list.map((t) => [t.name, 0]));
  for (let i = 0; i < runs; i++) {
    const ordered = order(strategy, list, random);
    assert.equal(new Set(ordered).size, list.length, 'every target once');
    counts.set(ordered[0]!.name, counts.get(ordered[0]!.name)! + 1);
  }
  return counts;
}

describe('order: fallback and weighted', () => {
  test('fallback keeps the declared order and copies nothing', () => {
    const list = targets([['a', 1], ['b', 5], ['c', 1]]);
    assert.equal(order('fallback', list, seeded(1)), list);
  });

  test('weighted 3:1 puts the heavier target first in about 75% of orders', () => {
    const list = targets([['a', 3], ['b', 1]]);
    const picks = firstPicks('weighted', list, 10_000, seeded(7));
    const share = picks.get('a')! / 10_000;
    assert.ok(Math.abs(share - 0.75) < 0.02, `a first in ${share}`);
  });

  test('weighted: the rest are weighted among the remaining', () => {
    const list = targets([['a', 1], ['b', 2], ['c', 7]]);
    const random = seeded(11);
    let cFirst = 0;
    let bSecondAfterC = 0;
    for (let i = 0; i < 20_000; i++) {
      const ordered = order('weighted', list, random);
      if (ordered[0]!.name !== 'c') continue;
      cFirst++;
      if (ordered[1]!.name === 'b') bSecondAfterC++;
    }
    assert.ok(Math.abs(cFirst / 20_000 - 0.7) < 0.02, `c first in ${cFirst / 20_000}`);
    // After c, b holds 2 of the 3 weights left.
    assert.ok(Math.abs(bSecondAfterC / cFirst - 2 / 3) < 0.02, `b second after c in ${bSecondAfterC / cFirst}`);
  });

  test('a target of weight 0 goes only after every weighted one', () => {
    const list = targets([['spare', 0], ['a', 1], ['b', 1]]);
    const random = seeded(3);
    for (let i = 0; i < 1_000; i++) {
      assert.equal(order('weighted', list, random)[2]!.name, 'spare');
      assert.equal(order('least-latency', list, random)[2]!.name, 'spare');
    }
  });

  test(`at most ${MAX_ROUTE_TARGETS} targets`, () => {
    const many = targets(Array.from({ length: MAX_ROUTE_TARGETS }, (_, i): [string, number] => [`t${i}`, i + 1]));
    assert.equal(order('weighted', many, seeded(5)).length, MAX_ROUTE_TARGETS);
    assert.throws(() => order('weighted', [...many, many[0]!], seeded(5)), RangeError);
  });
});

describe('LatencyStats', () => {
  test('an EWMA of time to first byte that decays while no sample comes', () => {
    const c = clock();
    const stats = new LatencyStats({ alpha: 0.3, now: c.now });
    assert.equal(stats.cost(), 0, 'no sample yet: as fast as can be');
    stats.observe(100);
    stats.observe(200);
    assert.equal(stats.snapshot().ewmaMs, 130);
    assert.equal(stats.cost(), 130);
    c.t += DEFAULT_LATENCY_DECAY_MS;
    assert.ok(Math.abs(stats.cost() - 130 / Math.E) < 1e-9);
  });

  test('attempts in flight multiply the cost', () => {
    const stats = new LatencyStats({ now: () => 0 });
    stats.observe(50);
    stats.begin();
    stats.begin();
    assert.equal(stats.cost(), 150);
    stats.end();
    stats.end();
    stats.end();
    assert.deepEqual(stats.snapshot(), { ewmaMs: 50, inFlight: 0, samples: 1 });
  });
});

describe('order: least-latency (power of two choices)', () => {
  test('of two targets, the faster goes first', () => {
    const [fast, slow] = targets([['fast', 1], ['slow', 1]]) as [Target, Target];
    fast.latency.observe(50);
    slow.latency.observe(500);
    const picks = firstPicks('least-latency', [slow, fast], 1_000, seeded(2));
    assert.equal(picks.get('fast'), 1_000);
  });

  test('a target with no sample yet is tried first', () => {
    const [known, fresh] = targets([['known', 1], ['fresh', 1]]) as [Target, Target];
    known.latency.observe(50);
    assert.equal(firstPicks('least-latency', [known, fresh], 100, seeded(4)).get('fresh'), 100);
    fresh.latency.observe(500);
    assert.equal(firstPicks('least-latency', [known, fresh], 100, seeded(4)).get('known'), 100);
  });

  test('a fast target loaded with attempts in flight yields to an idle slower one', () => {
    const [fast, slow] = targets([['fast', 1], ['slow', 1]]) as [Target, Target];
    fast.latency.observe(50);
    slow.latency.observe(200);
    for (let i = 0; i < 5; i++) fast.latency.begin();
    assert.equal(firstPicks('least-latency', [fast, slow], 100, seeded(6)).get('slow'), 100);
  });

  /**
   * Requests one after another, 10 ms apart: each goes to the first target of its order, which
   * answers after `latencyOf(name, request)`. Returns which target served each request.
   */
  function serve(list: Target[], c: { t: number }, requests: number, latencyOf: (name: string, request: number) => number): string[] {
    const random = seeded(9);
    const served: string[] = [];
    for (let i = 0; i < requests; i++) {
      const first = order('least-latency', list, random)[0]!;
      first.latency.begin();
      first.latency.observe(latencyOf(first.name, i));
      first.latency.end();
      served.push(first.name);
      c.t += 10;
    }
    return served;
  }

  test('most traffic goes to the fast targets, but a slow one is never starved to zero', () => {
    const c = clock();
    const list = targets([['a', 1], ['b', 1], ['slow', 1]], c.now);
    const ms: Record<string, number> = { a: 50, b: 60, slow: 500 };
    const served = serve(list, c, 10_000, (name) => ms[name]!);
    const slow = served.filter((name) => name === 'slow').length;
    const later = served.slice(1_000).filter((name) => name === 'slow').length;
    assert.ok(later >= 2, `the slow target served ${later} requests after its first second: it is measured again now and then`);
    assert.ok(slow < 100, `the slow target served ${slow} of 10000`);
  });

  test('a target whose latency recovers gets its traffic back', () => {
    const c = clock();
    const list = targets([['a', 1], ['b', 1], ['region', 1]], c.now);
    const ms: Record<string, number> = { a: 50, b: 60 };
    const served = serve(list, c, 8_000, (name, request) => ms[name] ?? (request < 4_000 ? 500 : 30));
    const share = (from: number, to: number) => served.slice(from, to).filter((name) => name === 'region').length / (to - from);
    assert.ok(share(2_000, 4_000) < 0.02, `slow: ${share(2_000, 4_000)}`);
    assert.ok(share(6_000, 8_000) > 0.5, `recovered: ${share(6_000, 8_000)}`);
  });

  test('weights choose the pairs: a lighter target of the same speed is first less often', () => {
    const list = targets([['heavy', 3], ['light', 1], ['other', 1]]);
    for (const t of list) t.latency.observe(100);
    // Equal costs: the first of each random pair wins, so first picks follow the weights.
    const picks = firstPicks('least-latency', list, 10_000, seeded(8));
    assert.ok(Math.abs(picks.get('heavy')! / 10_000 - 0.6) < 0.02, `heavy first in ${picks.get('heavy')! / 10_000}`);
  });
});
