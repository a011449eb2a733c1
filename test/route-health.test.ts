// Breakers and key cooldowns (src/route/health.ts), driven by a hand-held clock.
import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, test } from 'node:test';
import {
  Breaker,
  BREAKER_BUCKETS,
  cooldownMs,
  DEFAULT_BREAKER,
  durationMs,
  KeyCooldown,
  type BreakerSettings,
  type BreakerState,
} from '../src/route/health.js';

/** A hand-held clock and the timers it fires as it is moved on. */
function clock(start = 1_000) {
  const timers: { at: number; fn: () => void }[] = [];
  const c = {
    t: start,
    now: () => c.t,
    schedule: (ms: number, fn: () => void) => {
      timers.push({ at: c.t + ms, fn });
    },
    advance(ms: number) {
      c.t += ms;
      for (const timer of timers.filter((timer) => timer.at <= c.t)) {
        timers.splice(timers.indexOf(timer), 1);
        timer.fn();
      }
    },
  };
  return c;
}

const settings = (overrides: Partial<BreakerSettings> = {}): BreakerSettings => ({ ...DEFAULT_BREAKER, ...overrides });

/** An attempt through the breaker: admitted or not, then recorded. */
function attempt(breaker: Breaker, outcome: 'success' | 'failure' | 'neutral'): ReturnType<Breaker['tryAcquire']> {
  const admission = breaker.tryAcquire();
  if (admission !== false) breaker.record(outcome, admission === 'probe');
  return admission;
}

describe('breaker', () => {
  test('the defaults are those the routes config documents', () => {
    assert.deepEqual({ ...DEFAULT_BREAKER }, {
      consecutiveFailures: 5, errorRatio: 0.5, windowMs: 30_000, minRequests: 20, openMs: 30_000, halfOpenProbes: 1,
    });
  });

  test('opens after consecutiveFailures failures in a row, and not before', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 3 }), { now: c.now, schedule: c.schedule });
    attempt(breaker, 'failure');
    attempt(breaker, 'failure');
    attempt(breaker, 'success');
    attempt(breaker, 'failure');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'closed', 'a success in between starts the count again');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.tryAcquire(), false);
    assert.equal(breaker.snapshot().halfOpenInMs, DEFAULT_BREAKER.openMs);
  });

  test('opens on the error ratio only once the window holds minRequests', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 100, errorRatio: 0.5, minRequests: 10 }), { now: c.now, schedule: c.schedule });
    // Alternating: a ratio of 0.5 from the start, but under minRequests until the tenth.
    for (let i = 0; i < 9; i++) {
      attempt(breaker, i % 2 === 0 ? 'failure' : 'success');
      assert.equal(breaker.state, 'closed', `after ${i + 1} attempts`);
    }
    attempt(breaker, 'success');
    assert.equal(breaker.state, 'closed', 'a success does not open it');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'open', '6 failures of 11');
  });

  test('the ratio is over the window: old failures slide out of it', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 100, errorRatio: 0.5, minRequests: 10, windowMs: 10_000 }), { now: c.now, schedule: c.schedule });
    for (let i = 0; i < 9; i++) attempt(breaker, 'failure');
    assert.equal(breaker.snapshot().failures, 9);
    c.advance(10_000);
    assert.equal(breaker.snapshot().requests, 0, 'a window later, nothing is left');
    for (let i = 0; i < 10; i++) attempt(breaker, 'success');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'closed', '1 failure of 11 in the window');
    assert.deepEqual({ requests: breaker.snapshot().requests, failures: breaker.snapshot().failures }, { requests: 11, failures: 1 });
  });

  test('half-open after openMs lets exactly halfOpenProbes attempts through', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 1, openMs: 5_000, halfOpenProbes: 2 }), { now: c.now, schedule: c.schedule });
    attempt(breaker, 'failure');
    c.advance(4_999);
    assert.equal(breaker.tryAcquire(), false, 'still open');
    c.advance(1);
    assert.equal(breaker.tryAcquire(), 'probe');
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.tryAcquire(), 'probe');
    for (let i = 0; i < 5; i++) assert.equal(breaker.tryAcquire(), false, 'no third probe while two are out');
    assert.equal(breaker.snapshot().probesInFlight, 2);
  });

  test('a probe that succeeds closes the breaker with a fresh window', () => {
    const c = clock();
    const changes: string[] = [];
    const breaker = new Breaker(settings({ consecutiveFailures: 2, openMs: 1_000 }), {
      now: c.now,
      schedule: c.schedule,
      onChange: (from: BreakerState, to: BreakerState) => changes.push(`${from}->${to}`),
    });
    attempt(breaker, 'failure');
    attempt(breaker, 'failure');
    c.advance(1_000);
    assert.equal(attempt(breaker, 'success'), 'probe');
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(changes, ['closed->open', 'open->half-open', 'half-open->closed']);
    const snapshot = breaker.snapshot();
    assert.deepEqual({ requests: snapshot.requests, failures: snapshot.failures, consecutive: snapshot.consecutiveFailures }, { requests: 0, failures: 0, consecutive: 0 });
    assert.equal(breaker.tryAcquire(), 'closed');
  });

  test('a probe that fails opens it again for openMs', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 1, openMs: 1_000 }), { now: c.now, schedule: c.schedule });
    attempt(breaker, 'failure');
    c.advance(1_000);
    assert.equal(attempt(breaker, 'failure'), 'probe');
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.snapshot().halfOpenInMs, 1_000);
    c.advance(999);
    assert.equal(breaker.tryAcquire(), false);
    c.advance(1);
    assert.equal(breaker.tryAcquire(), 'probe');
  });

  test('neutral outcomes neither open nor close it; a neutral probe frees its slot', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 2, minRequests: 1, errorRatio: 0.1, openMs: 1_000 }), { now: c.now, schedule: c.schedule });
    for (let i = 0; i < 50; i++) attempt(breaker, 'neutral');
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().requests, 0, 'neutral outcomes are not counted');
    attempt(breaker, 'failure');
    attempt(breaker, 'neutral');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'open', 'a neutral outcome does not break a run of failures');
    c.advance(1_000);
    for (let i = 0; i < 5; i++) {
      assert.equal(attempt(breaker, 'neutral'), 'probe', 'a cancelled probe gives its slot back');
      assert.equal(breaker.state, 'half-open');
    }
  });

  test('only probes decide a half-open breaker', () => {
    const c = clock();
    const breaker = new Breaker(settings({ consecutiveFailures: 1, openMs: 1_000 }), { now: c.now, schedule: c.schedule });
    assert.equal(breaker.tryAcquire(), 'closed');
    attempt(breaker, 'failure');
    c.advance(1_000);
    assert.equal(breaker.tryAcquire(), 'probe');
    // The attempt admitted before it opened comes back now.
    breaker.record('success', false);
    assert.equal(breaker.state, 'half-open');
    breaker.record('success', true);
    assert.equal(breaker.state, 'closed');
  });

  test(`memory stays constant under 1e6 records: ${BREAKER_BUCKETS} buckets whatever the traffic`, () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const c = clock(0);
    const breaker = new Breaker(settings({ consecutiveFailures: 1e9, errorRatio: 1.1 }), { now: c.now, schedule: c.schedule });
    for (let i = 0; i < 1_000; i++) attempt(breaker, 'success');
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) {
      c.t += 0.05;
      breaker.record(i % 3 === 0 ? 'failure' : 'success', false);
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // Holding even 8 bytes per record would be 8 MB.
    assert.ok(grown < 1_000_000, `heap grew ${grown} bytes over 1e6 records`);
    const snapshot = breaker.snapshot();
    // 50 s of records at 20 per ms: the window holds its last 30 s, within a bucket.
    const perWindow = DEFAULT_BREAKER.windowMs / 0.05;
    assert.ok(snapshot.requests <= perWindow && snapshot.requests > perWindow * (1 - 1 / BREAKER_BUCKETS) - 1, `${snapshot.requests} in the window`);
    assert.ok(Math.abs(snapshot.failures / snapshot.requests - 1 / 3) < 0.01);
  });

  test('an open breaker answers false without allocating, on the real clock and timers', async () => {
    const breaker = new Breaker(settings({ consecutiveFailures: 1, openMs: 1e9 }));
    breaker.record('failure', false);
    const loops = 5_000_000;
    // Scavenges seen during a loop: a loop that allocates even a small object per call sets off
    // many of them (the control below proves the probe sees them), one that allocates nothing none.
    async function scavengesDuring(loop: () => void): Promise<number> {
      const entries: number[] = [];
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) entries.push(entry.startTime);
      });
      observer.observe({ entryTypes: ['gc'] });
      const start = performance.now();
      loop();
      const end = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 50));
      observer.disconnect();
      return entries.filter((t) => t >= start && t <= end).length;
    }
    let open = 0;
    for (let i = 0; i < 100_000; i++) if (breaker.tryAcquire() === false) open++;
    const sink: object[] = [];
    const allocating = await scavengesDuring(() => {
      for (let i = 0; i < loops; i++) sink[i & 1] = { admitted: breaker.tryAcquire() };
    });
    const breakerOnly = await scavengesDuring(() => {
      for (let i = 0; i < loops; i++) if (breaker.tryAcquire() === false) open++;
    });
    assert.equal(open, 100_000 + loops);
    assert.ok(allocating >= 3, `the control loop set off ${allocating} collections`);
    assert.ok(breakerOnly <= 1, `${breakerOnly} collections during ${loops} refusals`);
  });

  test('the default timer ends the open time', async () => {
    const breaker = new Breaker(settings({ consecutiveFailures: 1, openMs: 20 }));
    breaker.record('failure', false);
    assert.equal(breaker.tryAcquire(), false);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(breaker.snapshot().halfOpenInMs, 0);
    assert.equal(breaker.tryAcquire(), 'probe');
  });
});

describe('key cooldown', () => {
  test('a 429 cools the key for the time given, never shortened by a shorter one', () => {
    const c = clock();
    const key = new KeyCooldown({ now: c.now, schedule: c.schedule });
    assert.equal(key.available(), true);
    key.coolFor(2_000);
    key.coolFor(500);
    assert.equal(key.available(), false);
    assert.deepEqual(key.snapshot(), { available: false, reason: 'rate-limited', availableInMs: 2_000 });
    c.advance(1_999);
    assert.equal(key.available(), false);
    c.advance(1);
    assert.equal(key.available(), true);
    assert.deepEqual(key.snapshot(), { available: true });
  });

  test('a longer rest set during a shorter one ends at its own time; available() reads no clock', () => {
    const c = clock();
    let reads = 0;
    const key = new KeyCooldown({ now: () => (reads++, c.t), schedule: c.schedule });
    key.coolFor(500);
    key.coolFor(2_000);
    c.advance(500);
    reads = 0;
    for (let i = 0; i < 1_000; i++) assert.equal(key.available(), false);
    assert.equal(reads, 0);
    c.advance(1_500);
    assert.equal(key.available(), true);
  });

  test('a bad key (401/403) is reported as bad for its whole time', () => {
    const c = clock();
    const key = new KeyCooldown({ now: c.now, schedule: c.schedule });
    key.markBad(60_000);
    key.coolFor(1_000);
    assert.deepEqual(key.snapshot(), { available: false, reason: 'bad', availableInMs: 60_000 });
    c.advance(59_999);
    assert.equal(key.available(), false);
    c.advance(1);
    assert.equal(key.available(), true);
  });
});

describe('cooldownMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const max = 60_000;

  test('retry-after in seconds, as an HTTP date, and retry-after-ms, through retryAfterMs', () => {
    assert.equal(cooldownMs({ 'retry-after': '7' }, max, now), 7_000);
    assert.equal(cooldownMs({ 'retry-after': new Date(now + 12_000).toUTCString() }, max, now), 12_000);
    assert.equal(cooldownMs({ 'retry-after-ms': '250' }, max, now), 250);
  });

  test("OpenAI's durations", () => {
    for (const [text, ms] of [['1s', 1_000], ['6m0s', 360_000], ['20ms', 20], ['1h2m3.5s', 3_723_500], ['0.5s', 500], ['2', 2_000], ['1m30s', 90_000]] as const) {
      assert.equal(durationMs(text), ms, text);
    }
    for (const text of ['', 'soon', '1x', '1s2', '-1s', '-3']) assert.equal(durationMs(text), undefined, text);
  });

  test('the longest wait among the exhausted limits, bounded by the max', () => {
    assert.equal(cooldownMs({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }, 600_000, now), 360_000);
    assert.equal(cooldownMs({ 'x-ratelimit-reset-tokens': '6m0s', 'retry-after': '2' }, max, now), max);
    // Requests are exhausted, tokens are not: the tokens' later reset says nothing.
    assert.equal(cooldownMs({
      'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20ms',
      'x-ratelimit-remaining-tokens': '15000', 'x-ratelimit-reset-tokens': '30s',
    }, max, now), 20);
    assert.equal(cooldownMs({ 'retry-after': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1s' }, max, now), 3_000);
  });

  test("Anthropic's RFC 3339 resets", () => {
    const at = (ms: number) => new Date(now + ms).toISOString();
    assert.equal(cooldownMs({
      'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': at(4_000),
      'anthropic-ratelimit-output-tokens-remaining': '900', 'anthropic-ratelimit-output-tokens-reset': at(40_000),
    }, max, now), 4_000);
    // No limit says it is exhausted: every reset counts.
    assert.equal(cooldownMs({ 'anthropic-ratelimit-tokens-reset': at(9_000), 'anthropic-ratelimit-input-tokens-reset': at(5_000) }, max, now), 9_000);
    assert.equal(cooldownMs({ 'anthropic-ratelimit-tokens-reset': at(-5_000) }, max, now), 0, 'a reset in the past waits for nothing');
  });

  test('undefined when nothing is readable; header arrays read their first value', () => {
    assert.equal(cooldownMs({}, max, now), undefined);
    assert.equal(cooldownMs({ 'retry-after': 'later', 'x-ratelimit-reset-requests': 'soon', 'anthropic-ratelimit-tokens-reset': 'tomorrow' }, max, now), undefined);
    assert.equal(cooldownMs({ 'retry-after': ['5', '9'] }, max, now), 5_000);
  });
});
