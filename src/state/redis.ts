// The store in Redis (REDIS_URL): what several gateways behind a load balancer share. Each reserve
// and each settle is one Lua script (redis-scripts.ts), one round trip. Redis must never hang a
// request: every command has REDIS_TIMEOUT_MS, nothing is queued while disconnected, and a command
// that fails is not retried on the request's time. Then a limit that fails closed refuses (503),
// and one that fails open reserves in this process's MemoryStore, on REDIS_FAIL_OPEN_SHARE of its
// limit. ioredis reconnects in the background; the first reserve after it is back uses Redis again.
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { memo } from '../memo.js';
import { redactValue, urlSecrets } from '../redact.js';
import { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT_MS } from './defaults.js';
import { MemoryStore, RESERVATION_TTL_MS } from './memory.js';
import { BATCH_SCRIPT, COMPARE_AND_SET_SCRIPT } from './redis-scripts.js';
import type { Admission, Charge, Lease, OnStoreFailure, Remaining, Reservation, Store, StoreHealth, Versioned } from './store.js';

const require = createRequire(import.meta.url);

/** Reconnection waits 50 ms, then twice as long each time, up to this: Redis back is seen within it. */
export const RECONNECT_MAX_MS = 2_000;
const RECONNECT_FIRST_MS = 50;
/** A connection attempt may take longer than a command (TLS, a remote host); it runs in the background. */
const CONNECT_TIMEOUT_MS = 2_000;
/** Settles that could not reach Redis, kept to retry once it is back; beyond this the oldest is dropped (its estimate stays charged). */
export const MAX_PENDING_SETTLES = 10_000;
/** Settlements one script call carries at most. */
const MAX_SETTLE_BATCH = 128;
/** Reservations one script call carries at most: Redis runs a script alone, and a long one would hold every other gateway's. */
const MAX_RESERVE_BATCH = 64;
/** How long close() waits for Redis to acknowledge QUIT before it drops the connection. */
const QUIT_TIMEOUT_MS = 1_000;

/** The reserve script reads the counters and writes nothing for this id (a request's id is never empty). */
const PEEK_ID = '';

export interface RedisStoreOptions {
  readonly url: string;
  readonly prefix?: string;
  readonly timeoutMs?: number;
  /** The share of each limit the local fallback enforces while Redis cannot be reached (failing open). */
  readonly failOpenShare?: number;
  /** The local fallback's bound for get/set (unused while Redis is up). */
  readonly memoryMaxBytes?: number;
  readonly logger?: Logger;
}

interface Settlement {
  readonly reservation: Reservation;
  readonly used: readonly number[];
}

/** A reserve waiting for the end of this turn of the event loop, when its batch goes to Redis. */
interface PendingReserve {
  readonly id: string;
  readonly charges: readonly Charge[];
  readonly amounts: readonly number[];
  readonly leases: readonly Lease[];
  readonly onFailure: OnStoreFailure;
  readonly settles: boolean;
  readonly resolve: (admission: Admission) => void;
}

interface SettleBatch {
  readonly settlements: Settlement[];
  /** Resolves once the batch was sent (and, failing, kept to retry). */
  readonly sent: Promise<void>;
  readonly resolve: () => void;
}

interface Scripts {
  /** 0 keys, the counters, the settlements and the reserves as JSON, the prefix: the reserves' answers, comma-separated. */
  aigwBatch(numKeys: 0, counters: string, settlements: string, reserves: string, prefix: string): Promise<string>;
  aigwCompareAndSet(numKeys: number, ...args: (string | number | Buffer)[]): Promise<number>;
}

export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly redis: Redis & Scripts;
  private readonly local: MemoryStore;
  private readonly share: number;
  private readonly logger: Logger | undefined;
  private readonly secrets: readonly string[];
  /** REDIS_PREFIX: the reserve and settle scripts get their keys whole, inside their batch. */
  private readonly prefix: string;
  private up = false;
  private downSince: number | undefined = Date.now();
  private lastError: string | undefined = 'not connected yet';
  private pending: Settlement[] = [];
  /** The reserves of this turn of the event loop, in batches of MAX_RESERVE_BATCH, sent at its end. */
  private reserveBatches: PendingReserve[][] = [];
  /** The settlements of this turn of the event loop, in batches of MAX_SETTLE_BATCH, sent at its end. */
  private settleBatches: SettleBatch[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Counters' keys in Redis, by their names: a rate's, and a budget's with the period it was made for. */
  private readonly rateKeys = new Map<string, string>();
  private readonly budgetKeys = new Map<string, { readonly period: string; readonly key: string }>();

  constructor(options: RedisStoreOptions) {
    this.share = options.failOpenShare ?? 1;
    this.logger = options.logger;
    this.local = new MemoryStore({ local: true, maxBytes: options.memoryMaxBytes, logger: options.logger });
    this.secrets = urlSecrets(options.url);
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    // Loaded with the first Redis store: a gateway without REDIS_URL never loads the client.
    const { Redis: RedisClient } = require('ioredis') as typeof import('ioredis');
    this.redis = new RedisClient(options.url, {
      keyPrefix: this.prefix,
      commandTimeout: options.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      enableOfflineQueue: false,
      // Off: the store sends one batch call per turn of the event loop itself, and auto-pipelining
      // would cost each call another turn and a pipeline of its own (measured: a GET at 59 µs of
      // CPU with it, 33 without).
      enableAutoPipelining: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(RECONNECT_FIRST_MS * 2 ** Math.min(times - 1, 16), RECONNECT_MAX_MS),
    }) as Redis & Scripts;
    this.redis.defineCommand('aigwBatch', { lua: BATCH_SCRIPT });
    this.redis.defineCommand('aigwCompareAndSet', { lua: COMPARE_AND_SET_SCRIPT });
    this.redis.on('ready', () => {
      this.markUp();
      // Loaded at each connection (a restarted Redis has lost its script cache). ioredis sends its
      // first call on a connection as EVAL, then EVALSHA, and EVAL again after a NOSCRIPT.
      this.redis.script('LOAD', BATCH_SCRIPT).catch((err: Error) => this.markDown(err));
    });
    this.redis.on('error', (err: Error) => this.markDown(err));
    this.redis.on('close', () => this.markDown(new Error('connection closed')));
  }

  /** Resolves once connected; rejects after `timeoutMs` (start-up and tests wait on it, requests never do). */
  ready(timeoutMs: number): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(new Error(`Redis not ready after ${timeoutMs} ms: ${this.lastError ?? 'no error'}`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.redis.once('ready', onReady);
    });
  }

  reserve(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], onFailure: OnStoreFailure, settles = true): Promise<Admission> {
    if (id === PEEK_ID) throw new TypeError('a reservation needs a non-empty id');
    // Not connected: failing at once costs the request nothing (ioredis would refuse the command anyway).
    if (this.redis.status !== 'ready') return Promise.resolve(this.unreachable(id, charges, amounts, leases, onFailure, settles));
    return new Promise((resolve) => {
      // The requests admitted in one turn of the event loop go together, in one script call: the
      // client's work per call, which costs more than the script's, is then shared by all of them.
      let batch = this.reserveBatches.at(-1);
      if (batch === undefined || batch.length >= MAX_RESERVE_BATCH) {
        batch = [];
        this.reserveBatches.push(batch);
        this.scheduleFlush();
      }
      batch.push({ id, charges, amounts, leases, onFailure, settles, resolve });
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /** This turn's batches: each call carries a batch of settlements and one of reserves. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const settles = this.settleBatches;
    const reserves = this.reserveBatches;
    this.settleBatches = [];
    this.reserveBatches = [];
    for (let i = 0; i < settles.length || i < reserves.length; i++) void this.send(settles[i], reserves[i] ?? NO_RESERVES);
  };

  /** One batch call; the settlements go first, so that what they give back is there for the reserves behind them. */
  private async send(settle: SettleBatch | undefined, batch: readonly PendingReserve[]): Promise<void> {
    const counters = new CallCounters(this);
    const settlements = settle === undefined ? '[]' : this.settlementsJson(settle.settlements, counters);
    const requests: unknown[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) requests[i] = this.reserveEntry(batch[i]!.id, batch[i]!.charges, batch[i]!.amounts, batch[i]!.leases, batch[i]!.settles, counters);
    let reply: number[];
    try {
      reply = answers(await this.redis.aigwBatch(0, counters.json(), settlements, JSON.stringify(requests), this.prefix));
      this.markUp();
    } catch (err) {
      this.markDown(err as Error);
      if (settle !== undefined) {
        // Idempotent by id: a settle that did land before its reply timed out changes nothing again.
        for (const settlement of settle.settlements) this.keep(settlement);
        settle.resolve();
      }
      // The call may have run after its reply timed out: a stream slot it took would stay held until
      // it expires (the request's timeout and a minute). Its request reserves elsewhere (locally, or
      // not at all), so the slot is released once Redis answers; releasing one never taken changes nothing.
      for (const { id, leases } of batch) {
        if (leases.length > 0) this.keep({ reservation: { id, charges: NO_CHARGES, amounts: NO_NUMBERS, leases, windows: NO_NUMBERS, local: false }, used: NO_NUMBERS });
      }
      for (const { id, charges, amounts, leases, onFailure, settles, resolve } of batch) resolve(this.unreachable(id, charges, amounts, leases, onFailure, settles));
      return;
    }
    settle?.resolve();
    let at = 0;
    for (const { id, charges, amounts, leases, resolve } of batch) {
      resolve(admission(id, charges, amounts, leases, reply, at));
      at += 3 + 3 * charges.length;
    }
  }

  /** Redis did not answer: a limit that fails closed refuses, one that fails open reserves locally on its share. */
  private unreachable(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], onFailure: OnStoreFailure, settles: boolean): Admission {
    if (onFailure === 'closed') return { ok: false, unavailable: true, key: charges[0]?.key ?? leases[0]?.key ?? '' };
    return this.local.reserveNow(
      id,
      charges.map((charge) => ({ ...charge, limit: this.shareOf(charge.limit) })),
      amounts,
      leases.map((lease) => ({ ...lease, limit: this.shareOf(lease.limit) })),
      settles,
    );
  }

  settle(reservation: Reservation, used: readonly number[]): Promise<void> {
    if (reservation.local) {
      this.local.settleNow(reservation, used);
      return Promise.resolve();
    }
    // The settlements of one turn of the event loop go together, in one script call (a bounded one:
    // Redis runs a script alone, and a long one would hold every other gateway's reserve).
    let batch = this.settleBatches.at(-1);
    if (batch === undefined || batch.settlements.length >= MAX_SETTLE_BATCH) {
      let resolve!: () => void;
      const sent = new Promise<void>((done) => (resolve = done));
      batch = { settlements: [], sent, resolve };
      this.settleBatches.push(batch);
      this.scheduleFlush();
    }
    batch.settlements.push({ reservation, used });
    return batch.sent;
  }

  async peek(charges: readonly Charge[]): Promise<readonly Remaining[]> {
    if (this.redis.status !== 'ready') return [];
    try {
      const counters = new CallCounters(this);
      const request = JSON.stringify([this.reserveEntry(PEEK_ID, charges, new Array<number>(charges.length).fill(0), [], false, counters)]);
      const reply = answers(await this.redis.aigwBatch(0, counters.json(), '[]', request, this.prefix));
      this.markUp();
      return remainingOf(charges, reply, 0);
    } catch (err) {
      this.markDown(err as Error);
      return [];
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const value = await this.redis.getBuffer(`k:${key}`);
      this.markUp();
      return value ?? undefined;
    } catch (err) {
      this.markDown(err as Error);
      return undefined;
    }
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    try {
      await this.redis.set(`k:${key}`, value, 'PX', ttlMs);
      this.markUp();
    } catch (err) {
      this.markDown(err as Error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.redis.del(`k:${key}`);
      this.markUp();
    } catch (err) {
      this.markDown(err as Error);
    }
  }

  async versionOf(key: string): Promise<number> {
    return Number((await this.versionedCommand(() => this.redis.get(`v:${key}`))) ?? 0);
  }

  async readVersioned(key: string): Promise<Versioned | undefined> {
    // One MGET reads both at one instant: a value is never paired with another write's version.
    const [version, value] = await this.versionedCommand(() => this.redis.mgetBuffer(`v:${key}`, `d:${key}`));
    if (version == null || value == null) return undefined;
    return { version: Number(version.toString()), value };
  }

  async compareAndSet(key: string, expected: number, value: Buffer, ttlMs: number): Promise<boolean> {
    return (await this.versionedCommand(() => this.redis.aigwCompareAndSet(2, `v:${key}`, `d:${key}`, expected, value, ttlMs))) === 1;
  }

  health(): StoreHealth {
    if (this.up) return { kind: 'redis', up: true };
    return { kind: 'redis', up: false, downSince: this.downSince, lastError: this.lastError };
  }

  async close(): Promise<void> {
    this.closed = true;
    const quit = this.redis.quit().catch(() => undefined);
    const timer = new Promise<void>((resolve) => setTimeout(resolve, QUIT_TIMEOUT_MS).unref());
    await Promise.race([quit, timer]);
    this.redis.disconnect();
    await this.local.close();
  }

  /** A command whose failure the caller must see (versioned values): recorded in health, then rethrown. */
  private async versionedCommand<T>(command: () => Promise<T>): Promise<T> {
    try {
      const reply = await command();
      this.markUp();
      return reply;
    } catch (err) {
      this.markDown(err as Error);
      throw new Error(`Redis did not answer: ${this.redact((err as Error).message)}`);
    }
  }

  /** A batch of settlements, as BATCH_SCRIPT reads them: a charge whose amount was exact (a request) has nothing to settle. */
  private settlementsJson(batch: readonly Settlement[], counters: CallCounters): string {
    const settlements: unknown[] = new Array(batch.length);
    for (let b = 0; b < batch.length; b++) {
      const { reservation, used } = batch[b]!;
      const { id, charges, amounts, leases, windows } = reservation;
      const entries: number[] = [];
      for (let index = 0; index < charges.length; index++) {
        const delta = (used[index] ?? amounts[index]!) - amounts[index]!;
        if (delta !== 0) entries.push(counters.of(charges[index]!), delta, windows[index]!);
      }
      settlements[b] = [id, entries, leases.length === 0 ? NO_LEASES : leases.map((lease) => this.leaseKey(lease))];
    }
    return JSON.stringify(settlements);
  }

  /** A counter's key in Redis: a rate's, or a budget's for its period. Made once per counter (and period). */
  counterKey(charge: Charge): string {
    const period = charge.period;
    if (period === undefined) return this.rateKeys.get(charge.key) ?? memo(this.rateKeys, charge.key, `${this.prefix}r:${charge.key}`, MAX_REMEMBERED_KEYS);
    const known = this.budgetKeys.get(charge.key);
    if (known !== undefined && known.period === period.id) return known.key;
    return memo(this.budgetKeys, charge.key, { period: period.id, key: `${this.prefix}b:${charge.key}:${period.id}` }, MAX_REMEMBERED_KEYS).key;
  }

  private leaseKey(lease: Lease): string {
    return `${this.prefix}l:${lease.key}`;
  }

  /** One request of a reserve batch, as BATCH_SCRIPT reads it. */
  private reserveEntry(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], settles: boolean, counters: CallCounters): unknown {
    const entries: number[] = new Array(2 * charges.length);
    for (let i = 0; i < charges.length; i++) {
      entries[2 * i] = counters.of(charges[i]!);
      entries[2 * i + 1] = amounts[i]!;
    }
    let slots: readonly unknown[] = NO_LEASES;
    if (leases.length > 0) {
      const held: unknown[] = [];
      for (const lease of leases) held.push(this.leaseKey(lease), lease.limit, lease.ttlMs);
      slots = held;
    }
    // 0: the script keeps no marker for a reservation that will not be settled.
    return [id, settles ? RESERVATION_TTL_MS : 0, entries, slots];
  }

  /** A settlement to send once Redis answers again; beyond MAX_PENDING_SETTLES the oldest is dropped. */
  private keep(settlement: Settlement): void {
    if (this.pending.length >= MAX_PENDING_SETTLES) this.pending.shift();
    this.pending.push(settlement);
  }

  private retryPending(): void {
    const pending = this.pending;
    this.pending = [];
    for (const { reservation, used } of pending) void this.settle(reservation, used);
  }

  private shareOf(limit: number): number {
    // A limit above zero keeps at least one unit, so a small limit split N ways still serves.
    return limit > 0 ? Math.max(1, Math.floor(limit * this.share)) : 0;
  }

  private markUp(): void {
    if (this.up) return;
    this.up = true;
    this.downSince = undefined;
    this.lastError = undefined;
    this.logger?.info('state store: Redis answers; limits are shared');
    this.retryPending();
  }

  private markDown(err: Error): void {
    const message = this.redact(err.message);
    this.lastError = message;
    if (!this.up || this.closed) return;
    this.up = false;
    this.downSince = Date.now();
    this.logger?.warn({ err: message }, 'state store: Redis unreachable; limits fail open (local share) or closed (503) as each says');
  }

  private redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = redactValue(out, secret);
    return out;
  }
}

const NO_RESERVES: readonly PendingReserve[] = [];
const NO_LEASES: readonly never[] = [];
const NO_CHARGES: readonly Charge[] = [];
const NO_NUMBERS: readonly number[] = [];

/** Counter names come from the configuration and the admin API, both bounded; a table past this starts over. */
const MAX_REMEMBERED_KEYS = 25_000;

/**
 * The counters one script call names, each once, with what the script needs of each (its kind,
 * limit, and window or period end): the call's charges name them by their place (from 1).
 */
class CallCounters {
  private readonly entries: unknown[] = [];
  /** By the counter's key, the place of the first entry made for it. */
  private readonly places = new Map<string, number>();

  constructor(private readonly store: RedisStore) {}

  of(charge: Charge): number {
    const key = this.store.counterKey(charge);
    const span = charge.period !== undefined ? charge.period.endsAt : charge.windowMs!;
    const place = this.places.get(key);
    if (place !== undefined) {
      const entry = this.entries[place - 1] as [string, string, number, number];
      if (entry[2] === charge.limit && entry[3] === span) return place;
    }
    // A counter named with another limit (a reload between two requests of the call) gets a place of its own.
    this.entries.push([charge.period !== undefined ? 'b' : 'r', key, charge.limit, span]);
    if (place === undefined) this.places.set(key, this.entries.length);
    return this.entries.length;
  }

  json(): string {
    return JSON.stringify(this.entries);
  }
}

/** A script's comma-separated whole numbers. */
function answers(reply: string): number[] {
  return JSON.parse(`[${reply}]`) as number[];
}

/** One request's counters, read from a batch's reply at `at`. */
function remainingOf(charges: readonly Charge[], reply: readonly number[], at: number): Remaining[] {
  const n = charges.length;
  const remaining: Remaining[] = new Array<Remaining>(n);
  for (let i = 0; i < n; i++) {
    const charge = charges[i]!;
    remaining[i] = { key: charge.key, limit: charge.limit, remaining: reply[at + 3 + n + 2 * i]!, resetMs: reply[at + 4 + n + 2 * i]! };
  }
  return remaining;
}

/** One request's answer, read from a batch's reply at `at`. */
function admission(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], reply: readonly number[], at: number): Exclude<Admission, { unavailable: true }> {
  const n = charges.length;
  const remaining = remainingOf(charges, reply, at);
  if (reply[at] !== 1) {
    const index = reply[at + 1]! - 1;
    const refused = index < n ? charges[index]! : leases[index - n]!;
    return { ok: false, key: refused.key, limit: refused.limit, retryAfterMs: reply[at + 2]!, remaining };
  }
  // Where each rate landed, in the charges' order (a budget's place is 0).
  const windows: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) windows[i] = charges[i]!.period === undefined ? reply[at + 3 + i]! : 0;
  return { ok: true, reservation: { id, charges, amounts, leases, windows, local: false }, remaining };
}
