// Target health: a circuit breaker per target and a cooldown per key, fed the outcome of each
// attempt. Pure state machines with the clock injected, so that tests drive time by hand.
//
// The contract with the router: every attempt admitted by `Breaker.tryAcquire` is recorded exactly
// once with `Breaker.record`, passing `probe: true` when tryAcquire answered 'probe' (a cancelled
// attempt is recorded as 'neutral'); an attempt never recorded would hold its probe slot forever.
import { performance } from 'node:perf_hooks';
import { retryAfterMs } from '../upstream.js';

/** A clock in milliseconds; only differences are read, except by `cooldownMs` (wall clock). */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/** Runs `fn` once, `ms` from now. */
export type Schedule = (ms: number, fn: () => void) => void;

// setTimeout fires at once past this (with a warning), so longer waits are cut to it (24 days).
const MAX_TIMER_MS = 2 ** 31 - 1;

const unrefTimer: Schedule = (ms, fn) => {
  setTimeout(fn, Math.min(ms, MAX_TIMER_MS)).unref();
};

export interface BreakerSettings {
  /** Open after this many failures in a row. */
  consecutiveFailures: number;
  /** Open when failures / attempts in the window reach this ratio ... */
  errorRatio: number;
  /** ... over the last windowMs ... */
  windowMs: number;
  /** ... once the window holds at least this many attempts. */
  minRequests: number;
  /** Stay open this long, then half-open. */
  openMs: number;
  /** Attempts let through at once while half-open. */
  halfOpenProbes: number;
}

export const DEFAULT_BREAKER: Readonly<BreakerSettings> = Object.freeze({
  consecutiveFailures: 5,
  errorRatio: 0.5,
  windowMs: 30_000,
  minRequests: 20,
  openMs: 30_000,
  halfOpenProbes: 1,
});

/**
 * The window is this many fixed time buckets, so that a breaker's memory is the same whatever the
 * traffic; the window slides a bucket at a time (3 s with the default 30 s window).
 */
export const BREAKER_BUCKETS = 10;

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * What an attempt says about its target: 'neutral' is an outcome that says nothing about it (a
 * client error the next target would refuse too, a cancelled attempt, a lost hedge).
 */
export type AttemptHealth = 'success' | 'failure' | 'neutral';

/** 'closed': go ahead; 'probe': go ahead as a half-open probe (record it with probe: true); false: skip the target. */
export type Admission = 'closed' | 'probe' | false;

export interface BreakerSnapshot {
  state: BreakerState;
  /** Attempts and failures recorded in the current window. */
  requests: number;
  failures: number;
  consecutiveFailures: number;
  probesInFlight: number;
  /** Open: milliseconds until it turns half-open (0 when the next tryAcquire will). */
  halfOpenInMs?: number;
}

export interface BreakerOptions {
  now?: Clock;
  /**
   * Ends the open time (default: an unref'd setTimeout). A timer, not a clock read in tryAcquire:
   * reading a clock allocates (performance.now and Date.now return boxed numbers here), and an
   * open breaker must cost nothing.
   */
  schedule?: Schedule;
  /** Called on every change of state, e.g. to count transitions in metrics. */
  onChange?: (from: BreakerState, to: BreakerState) => void;
}

export class Breaker {
  private readonly settings: Readonly<BreakerSettings>;
  private readonly now: Clock;
  private readonly schedule: Schedule;
  private readonly onChange: ((from: BreakerState, to: BreakerState) => void) | undefined;
  private readonly bucketMs: number;
  /** Per bucket: which bucket number (time / bucketMs) it holds now, and its counts. */
  private readonly bucketIds = new Float64Array(BREAKER_BUCKETS).fill(-Infinity);
  private readonly bucketRequests = new Float64Array(BREAKER_BUCKETS);
  private readonly bucketFailures = new Float64Array(BREAKER_BUCKETS);
  private current: BreakerState = 'closed';
  private consecutive = 0;
  private probes = 0;
  private halfOpenAt = 0;
  /** The open time has run out: the next tryAcquire turns the breaker half-open. */
  private openElapsed = false;
  /** Counts openings, so that the timer of an earlier one does not end a later one early. */
  private openings = 0;

  constructor(settings: Readonly<BreakerSettings> = DEFAULT_BREAKER, options: BreakerOptions = {}) {
    this.settings = settings;
    this.now = options.now ?? monotonic;
    this.schedule = options.schedule ?? unrefTimer;
    this.onChange = options.onChange;
    this.bucketMs = settings.windowMs / BREAKER_BUCKETS;
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Whether an attempt may go to this target now; an open breaker answers false and allocates nothing. */
  tryAcquire(): Admission {
    if (this.current === 'closed') return 'closed';
    if (this.current === 'open') {
      if (!this.openElapsed) return false;
      this.moveTo('half-open');
    }
    if (this.probes >= this.settings.halfOpenProbes) return false;
    this.probes++;
    return 'probe';
  }

  /** The outcome of an attempt that tryAcquire admitted; `probe` says it was admitted as one. */
  record(outcome: AttemptHealth, probe: boolean): void {
    if (probe && this.probes > 0) this.probes--;
    if (outcome === 'neutral') return;
    const failed = outcome === 'failure';
    this.count(failed);
    if (this.current === 'half-open') {
      // Only probes decide a half-open breaker: an attempt admitted before it opened reports on
      // the target as it was then.
      if (!probe) return;
      if (failed) this.open();
      else this.close();
      return;
    }
    if (this.current === 'open') return;
    if (!failed) {
      this.consecutive = 0;
      return;
    }
    this.consecutive++;
    if (this.consecutive >= this.settings.consecutiveFailures) return this.open();
    const requests = this.windowSum(this.bucketRequests);
    if (requests >= this.settings.minRequests && this.windowSum(this.bucketFailures) >= this.settings.errorRatio * requests) {
      this.open();
    }
  }

  snapshot(): BreakerSnapshot {
    const snapshot: BreakerSnapshot = {
      state: this.current,
      requests: this.windowSum(this.bucketRequests),
      failures: this.windowSum(this.bucketFailures),
      consecutiveFailures: this.consecutive,
      probesInFlight: this.probes,
    };
    if (this.current === 'open') snapshot.halfOpenInMs = this.openElapsed ? 0 : Math.max(0, this.halfOpenAt - this.now());
    return snapshot;
  }

  private open(): void {
    this.halfOpenAt = this.now() + this.settings.openMs;
    this.openElapsed = false;
    const opening = ++this.openings;
    this.schedule(this.settings.openMs, () => {
      if (this.openings === opening) this.openElapsed = true;
    });
    this.moveTo('open');
  }

  /** A target back to health starts a new window: the failures that opened it are history. */
  private close(): void {
    this.consecutive = 0;
    this.bucketIds.fill(-Infinity);
    this.bucketRequests.fill(0);
    this.bucketFailures.fill(0);
    this.moveTo('closed');
  }

  private moveTo(state: BreakerState): void {
    const from = this.current;
    if (from === state) return;
    this.current = state;
    this.onChange?.(from, state);
  }

  private count(failed: boolean): void {
    const id = Math.floor(this.now() / this.bucketMs);
    const slot = ((id % BREAKER_BUCKETS) + BREAKER_BUCKETS) % BREAKER_BUCKETS;
    if (this.bucketIds[slot] !== id) {
      this.bucketIds[slot] = id;
      this.bucketRequests[slot] = 0;
      this.bucketFailures[slot] = 0;
    }
    this.bucketRequests[slot]!++;
    if (failed) this.bucketFailures[slot]!++;
  }

  /** The sum of `counts` over the buckets still inside the window. */
  private windowSum(counts: Float64Array): number {
    const oldest = Math.floor(this.now() / this.bucketMs) - BREAKER_BUCKETS;
    let sum = 0;
    for (let i = 0; i < BREAKER_BUCKETS; i++) if (this.bucketIds[i]! > oldest) sum += counts[i]!;
    return sum;
  }
}

/** 401/403: how long a key is left alone (KEY_BAD_MS). */
export const DEFAULT_KEY_BAD_MS = 60_000;
/** The longest a 429 cools a key, whatever the provider asks (MAX_COOLDOWN_MS). */
export const DEFAULT_MAX_COOLDOWN_MS = 60_000;
/** A 429 that names no reset cools its key this long. */
export const DEFAULT_RATE_LIMIT_COOLDOWN_MS = 1_000;

export interface KeyCooldownSnapshot {
  available: boolean;
  /** Why the key is not available: rate-limited (429) or bad (401/403). */
  reason?: 'rate-limited' | 'bad';
  /** Milliseconds until it is available again. */
  availableInMs?: number;
}

export interface KeyCooldownOptions {
  now?: Clock;
  /** Ends a rest (default: an unref'd setTimeout), so that `available` reads no clock. */
  schedule?: Schedule;
}

/** One key's rest after a 429 or a refusal; other keys of the same provider are unaffected. */
export class KeyCooldown {
  private readonly now: Clock;
  private readonly schedule: Schedule;
  private coolUntilAt = -Infinity;
  private badUntilAt = -Infinity;
  private resting = false;
  /** Counts rests set, so that the timer of a rest a later one outlasts does not end it early. */
  private rests = 0;

  constructor(options: KeyCooldownOptions = {}) {
    this.now = options.now ?? monotonic;
    this.schedule = options.schedule ?? unrefTimer;
  }

  /** A 429: rest for `ms` (see cooldownMs), never shortening a longer rest already set. */
  coolFor(ms: number): void {
    const until = this.now() + ms;
    if (until <= this.coolUntilAt) return;
    this.coolUntilAt = until;
    this.restUntil(until);
  }

  /** A 401/403: the key is refused for `ms`. */
  markBad(ms: number): void {
    const until = this.now() + ms;
    if (until <= this.badUntilAt) return;
    this.badUntilAt = until;
    this.restUntil(until);
  }

  /** Whether the key may be used; a flag, so that a healthy key costs nothing. */
  available(): boolean {
    return !this.resting;
  }

  snapshot(): KeyCooldownSnapshot {
    if (!this.resting) return { available: true };
    const now = this.now();
    // A bad key is reported as bad even while a shorter rate-limit rest also runs.
    const bad = now < this.badUntilAt;
    return {
      available: false,
      reason: bad ? 'bad' : 'rate-limited',
      availableInMs: Math.max(0, Math.max(this.coolUntilAt, this.badUntilAt) - now),
    };
  }

  private restUntil(until: number): void {
    const end = Math.max(this.coolUntilAt, this.badUntilAt);
    if (until < end) return;
    this.resting = true;
    const rest = ++this.rests;
    this.schedule(until - this.now(), () => {
      if (this.rests === rest) this.resting = false;
    });
  }
}

/** Response headers by lower-case name, as node:http and undici's headers objects hold them. */
export type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;

const OPENAI_RESET = 'x-ratelimit-reset-';
const OPENAI_REMAINING = 'x-ratelimit-remaining-';
const ANTHROPIC_PREFIX = 'anthropic-ratelimit-';
const RESET_SUFFIX = '-reset';
const REMAINING_SUFFIX = '-remaining';

/**
 * How long a rate-limited key should rest, from the answer's headers: `retry-after-ms`,
 * `retry-after` (seconds or an HTTP date), OpenAI's `x-ratelimit-reset-<limit>` (a duration such
 * as `6m0s`, `20ms`, `1h2m3.5s`) and Anthropic's `anthropic-ratelimit-<limit>-reset` (an RFC 3339
 * time). The longest wait found, at most `maxMs`; undefined when none is readable.
 *
 * A limit's reset is sent on every answer, exhausted or not: one whose `remaining` header says
 * there is room left is ignored, unless no limit says it is exhausted (then all of them count).
 * `now` is the wall clock, since the dates are absolute.
 */
export function cooldownMs(headers: HeaderRecord, maxMs: number, now = Date.now()): number | undefined {
  let longest = retryAfterMs(first(headers['retry-after']), first(headers['retry-after-ms']), now);
  let exhausted: number | undefined;
  let unknown: number | undefined;
  for (const name in headers) {
    let wait: number | undefined;
    let remainingName: string;
    if (name.startsWith(OPENAI_RESET)) {
      wait = durationMs(first(headers[name]));
      remainingName = OPENAI_REMAINING + name.slice(OPENAI_RESET.length);
    } else if (name.startsWith(ANTHROPIC_PREFIX) && name.endsWith(RESET_SUFFIX)) {
      wait = untilMs(first(headers[name]), now);
      remainingName = name.slice(0, -RESET_SUFFIX.length) + REMAINING_SUFFIX;
    } else {
      continue;
    }
    if (wait === undefined) continue;
    const remaining = Number(first(headers[remainingName]));
    if (Number.isFinite(remaining) && remaining > 0) unknown = Math.max(unknown ?? 0, wait);
    else exhausted = Math.max(exhausted ?? 0, wait);
  }
  const reset = exhausted ?? unknown;
  if (reset !== undefined) longest = Math.max(longest ?? 0, reset);
  return longest === undefined ? undefined : Math.min(longest, maxMs);
}

function first(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}

// Go's time.Duration text (OpenAI's servers are written in Go): numbers with units, largest first.
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)/y;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };

/** `1h2m3.5s`, `6m0s`, `20ms` in milliseconds; a bare number is seconds. Undefined when unreadable. */
export function durationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const seconds = Number(trimmed);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < trimmed.length) {
    const part = DURATION_PART.exec(trimmed);
    if (part === null) return undefined;
    total += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  return total;
}

/** Milliseconds from `now` until an RFC 3339 time (0 when it has passed). */
function untilMs(text: string | undefined, now: number): number | undefined {
  if (text === undefined) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
