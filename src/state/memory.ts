// The store in this process: the default, and the Redis store's local fallback while Redis cannot
// be reached. Everything runs on the event loop with no await between a check and its reservation,
// so each reserve is atomic as the Redis script is. Without STATE_FILE a restart resets budgets.
import type { Logger } from 'pino';
import { DEFAULT_MEMORY_MAX_BYTES } from './defaults.js';
import { readSnapshot, writeSnapshot, type BudgetEntry } from './snapshot.js';
import type { Admission, Charge, Lease, OnStoreFailure, Remaining, Reservation, Store, StoreHealth, Versioned } from './store.js';
import { fits, remaining, resetMs, retryAfterMs, windowStart } from './window.js';

/**
 * How long a reservation waits for its settlement. A settle applies only to a reservation still
 * waiting, and ends the wait: so a second settle changes nothing. The wait is the reservation's own
 * (its copies share it), so the store remembers nothing per request. Longer than any stream
 * plausibly lasts; one settled later leaves its estimate charged.
 */
export const RESERVATION_TTL_MS = 24 * 60 * 60_000;
/** How often expired entries are swept and, with STATE_FILE, budgets written: a crash loses at most this much spend. */
export const SNAPSHOT_INTERVAL_MS = 5_000;

export interface MemoryStoreOptions {
  /** The clock (epoch ms); tests inject one. */
  readonly now?: () => number;
  readonly maxBytes?: number;
  /** STATE_FILE: budgets are loaded from it at start and written to it periodically and at close(). */
  readonly stateFile?: string;
  /** Its reservations are marked `local` (the Redis store's fallback). */
  readonly local?: boolean;
  readonly logger?: Logger;
}

interface RateCounter {
  windowMs: number;
  /** The current sub-window's start. */
  start: number;
  prev: number;
  curr: number;
}

interface Entry {
  readonly value: Buffer;
  readonly expiresAt: number;
}

const HEALTH: StoreHealth = Object.freeze({ kind: 'memory', up: true });

export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly now: () => number;
  private readonly maxBytes: number;
  private readonly local: boolean;
  private readonly stateFile: string | undefined;
  private readonly logger: Logger | undefined;
  private readonly rates = new Map<string, RateCounter>();
  /**
   * By key, its current period's counter: a charge for a later period replaces it (the earlier one
   * ended and bounds nothing any more), and one for an earlier period finds nothing to change.
   */
  private readonly budgets = new Map<string, BudgetEntry>();
  /** Each lease key's holders (reservation ids) and when each one's slot expires. */
  private readonly leases = new Map<string, Map<string, number>>();
  /** Least recently used first: a Map iterates in insertion order, and a read re-inserts. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Versioned values, apart from the LRU entries: their writers bound them, and none is evicted for room. */
  private readonly versioned = new Map<string, Versioned & { readonly expiresAt: number }>();
  private budgetsChanged = false;
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxBytes = options.maxBytes ?? DEFAULT_MEMORY_MAX_BYTES;
    this.local = options.local ?? false;
    this.stateFile = options.stateFile || undefined;
    this.logger = options.logger;
    if (this.stateFile !== undefined) {
      for (const entry of readSnapshot(this.stateFile, this.now())) {
        const held = this.budgets.get(entry.key);
        if (held === undefined || held.endsAt < entry.endsAt) this.budgets.set(entry.key, entry);
      }
    }
    this.timer = setInterval(() => void this.sweep(), SNAPSHOT_INTERVAL_MS).unref();
  }

  /** Answered at once, without a promise: the request path awaits only a store that must wait. */
  reserve(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], _onFailure?: OnStoreFailure, settles = true): Admission {
    return this.reserveNow(id, charges, amounts, leases, settles);
  }

  /** reserve() without the promise: the Redis store's fallback calls it in the same tick as its decision. */
  reserveNow(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], settles = true): Admission {
    const now = this.now();
    const n = charges.length;
    // Each charge's counter, looked up once: read by the checks, charged, kept for the settlement.
    const cells: Cell[] = new Array<Cell>(n);
    // Every check before any change: a refusal reserves nothing.
    for (let i = 0; i < n; i++) {
      const charge = charges[i]!;
      const cell = charge.period !== undefined ? this.heldBudget(charge) : this.rolled(charge, now);
      cells[i] = cell;
      const retryAfter = refusal(charge, amounts[i]!, cell, now);
      if (retryAfter !== undefined) {
        return { ok: false, key: charge.key, limit: charge.limit, retryAfterMs: retryAfter, remaining: this.remainingOf(charges, now) };
      }
    }
    for (let i = 0; i < leases.length; i++) {
      const lease = leases[i]!;
      if (this.holders(lease.key, now).size >= lease.limit) {
        return { ok: false, key: lease.key, limit: lease.limit, retryAfterMs: -1, remaining: this.remainingOf(charges, now) };
      }
    }
    // Where each rate landed, in the charges' order (a budget's place is left at 0).
    const windows: number[] = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      const charge = charges[i]!;
      if (charge.period !== undefined) {
        const entry = (cells[i] as BudgetEntry | undefined) ?? this.budget(charge);
        entry.used += amounts[i]!;
        cells[i] = entry;
        this.budgetsChanged = true;
      } else {
        const counter = (cells[i] as RateCounter | undefined) ?? this.rate(charge, now);
        counter.curr += amounts[i]!;
        cells[i] = counter;
        windows[i] = counter.start;
      }
    }
    for (let i = 0; i < leases.length; i++) this.holders(leases[i]!.key, now).set(id, now + leases[i]!.ttlMs);
    const reservation: HeldReservation = { id, charges, amounts, leases, windows, local: this.local, cells, wait: settles ? { until: now + RESERVATION_TTL_MS } : undefined };
    return { ok: true, reservation, remaining: ratesRemaining(charges, cells, now) };
  }

  settle(reservation: Reservation, used: readonly number[]): void {
    this.settleNow(reservation, used);
  }

  settleNow(reservation: Reservation, used: readonly number[]): void {
    // Freeing a holder is idempotent by itself; the counters move only for a reservation still waiting.
    const leases = reservation.leases;
    for (let i = 0; i < leases.length; i++) this.leases.get(leases[i]!.key)?.delete(reservation.id);
    const wait = (reservation as HeldReservation).wait;
    const now = this.now();
    if (wait === undefined || wait.until <= now) return;
    wait.until = 0;
    const charges = reservation.charges;
    const amounts = reservation.amounts;
    // The counters the reservation charged: one that ended since (a period replaced, a rate swept)
    // is no longer kept, so correcting it changes nothing, as finding none would.
    const cells = reservation.cells as readonly Cell[] | undefined;
    for (let index = 0; index < charges.length; index++) {
      const charge = charges[index]!;
      const delta = (used[index] ?? amounts[index]!) - amounts[index]!;
      if (charge.period !== undefined) {
        const entry = (cells?.[index] as BudgetEntry | undefined) ?? this.budgets.get(charge.key);
        if (entry !== undefined && entry.periodId === charge.period.id && delta !== 0) {
          entry.used = Math.max(0, entry.used + delta);
          this.budgetsChanged = true;
        }
        continue;
      }
      const landed = reservation.windows[index]!;
      const counter = (cells?.[index] as RateCounter | undefined) ?? this.rates.get(charge.key);
      if (counter === undefined || delta === 0) continue;
      roll(counter, now);
      // The window the reservation landed in, if it still counts; one that slid out counts for nothing.
      if (landed === counter.start) counter.curr = Math.max(0, counter.curr + delta);
      else if (landed === counter.start - counter.windowMs) counter.prev = Math.max(0, counter.prev + delta);
    }
  }

  async peek(charges: readonly Charge[]): Promise<readonly Remaining[]> {
    return this.remainingOf(charges, this.now());
  }

  async get(key: string): Promise<Buffer | undefined> {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) {
      this.bytes -= entrySize(key, entry.value);
      return undefined;
    }
    this.entries.set(key, entry);
    return entry.value;
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    this.remove(key);
    const size = entrySize(key, value);
    // An entry larger than the whole bound is not kept: it would evict everything and then itself.
    if (size > this.maxBytes) return;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    this.bytes += size;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entrySize(oldest, entry.value);
    }
  }

  async delete(key: string): Promise<void> {
    this.remove(key);
  }

  async versionOf(key: string): Promise<number> {
    return this.liveVersioned(key)?.version ?? 0;
  }

  async readVersioned(key: string): Promise<Versioned | undefined> {
    const entry = this.liveVersioned(key);
    return entry === undefined ? undefined : { version: entry.version, value: entry.value };
  }

  async compareAndSet(key: string, expected: number, value: Buffer, ttlMs: number): Promise<boolean> {
    // One synchronous step: no other write can come between the check and the set.
    if ((this.liveVersioned(key)?.version ?? 0) !== expected) return false;
    this.versioned.set(key, { version: expected + 1, value, expiresAt: this.now() + ttlMs });
    return true;
  }

  /** Bytes held by get/set, keys included. */
  get heldBytes(): number {
    return this.bytes;
  }

  health(): StoreHealth {
    return HEALTH;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    if (this.stateFile !== undefined) await writeSnapshot(this.stateFile, this.budgets.values());
  }

  /** A rate's counter for the charge's window, rolled forward to `now`; undefined while nothing was charged to it (in that window). */
  private rolled(charge: Charge, now: number): RateCounter | undefined {
    const counter = this.rates.get(charge.key);
    if (counter === undefined || counter.windowMs !== charge.windowMs) return undefined;
    roll(counter, now);
    return counter;
  }

  /** The counter of the charge's period; undefined for a period nothing was charged to yet. */
  private heldBudget(charge: Charge): BudgetEntry | undefined {
    const entry = this.budgets.get(charge.key);
    return entry !== undefined && entry.periodId === charge.period!.id ? entry : undefined;
  }

  private remainingOf(charges: readonly Charge[], now: number): Remaining[] {
    const out: Remaining[] = new Array<Remaining>(charges.length);
    for (let i = 0; i < charges.length; i++) {
      const charge = charges[i]!;
      out[i] = charge.period !== undefined ? budgetRemaining(charge, this.heldBudget(charge), now) : rateRemaining(charge, this.rolled(charge, now), now);
    }
    return out;
  }

  private rate(charge: Charge, now: number): RateCounter {
    let counter = this.rates.get(charge.key);
    if (counter === undefined || counter.windowMs !== charge.windowMs) {
      counter = { windowMs: charge.windowMs!, start: windowStart(now, charge.windowMs!), prev: 0, curr: 0 };
      this.rates.set(charge.key, counter);
    }
    return counter;
  }

  /**
   * The counter of the charge's period, made when the period is new: it replaces an ended one's. A
   * charge for a period older than the one held (a clock behind the store's) counts in a counter
   * nothing keeps, as a charge to an ended period would.
   */
  private budget(charge: Charge): BudgetEntry {
    const period = charge.period!;
    const held = this.budgets.get(charge.key);
    if (held !== undefined && held.periodId === period.id) return held;
    const entry = { key: charge.key, periodId: period.id, endsAt: period.endsAt, used: 0 };
    if (held === undefined || held.endsAt < period.endsAt) this.budgets.set(charge.key, entry);
    return entry;
  }

  /** A lease key's live holders, expired ones dropped. */
  private holders(key: string, now: number): Map<string, number> {
    let holders = this.leases.get(key);
    if (holders === undefined) {
      holders = new Map();
      this.leases.set(key, holders);
    }
    for (const [holder, expiresAt] of holders) if (expiresAt <= now) holders.delete(holder);
    return holders;
  }

  private liveVersioned(key: string): (Versioned & { readonly expiresAt: number }) | undefined {
    const entry = this.versioned.get(key);
    if (entry === undefined || entry.expiresAt > this.now()) return entry;
    this.versioned.delete(key);
    return undefined;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entrySize(key, entry.value);
  }

  /** Drops what expired, and writes the budgets when they changed (a timer calls it; resolves once written). */
  sweep(): Promise<void> {
    const now = this.now();
    for (const [id, entry] of this.budgets) {
      if (entry.endsAt > now) continue;
      this.budgets.delete(id);
      this.budgetsChanged = true;
    }
    for (const [key, counter] of this.rates) if (counter.start + 2 * counter.windowMs <= now) this.rates.delete(key);
    for (const key of this.leases.keys()) if (this.holders(key, now).size === 0) this.leases.delete(key);
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.remove(key);
    if (this.stateFile !== undefined && this.budgetsChanged && this.writing === undefined) {
      this.budgetsChanged = false;
      // writeSnapshot copies the counters before its first await, so later charges are the next write's.
      this.writing = writeSnapshot(this.stateFile, this.budgets.values())
        .catch((err: Error) => {
          this.budgetsChanged = true;
          this.logger?.error({ err: err.message }, `cannot write STATE_FILE ${this.stateFile}; budgets kept in memory only until it works`);
        })
        .finally(() => {
          this.writing = undefined;
        });
    }
    return this.writing ?? Promise.resolve();
  }
}

/**
 * A reservation of this store, with its wait for a settlement: an object of its own, which a copy of
 * the reservation shares, ended by the first settle. Kept by the request, not by the store: a
 * table of waiting ids, changed twice per request, kept making garbage for the old generation.
 */
interface HeldReservation extends Reservation {
  readonly wait: { until: number } | undefined;
}

/** A charge's counter in this store: a rate's or a budget's; undefined where none is kept yet. */
type Cell = RateCounter | BudgetEntry | undefined;

/** Undefined when `amount` of `charge` fits now in its counter, else when it could. */
function refusal(charge: Charge, amount: number, cell: Cell, now: number): number | undefined {
  if (charge.period !== undefined) {
    const used = cell === undefined ? 0 : (cell as BudgetEntry).used;
    if (used + amount <= charge.limit) return undefined;
    return amount > charge.limit ? -1 : Math.max(0, charge.period.endsAt - now);
  }
  const windowMs = charge.windowMs!;
  const counter = cell as RateCounter | undefined;
  const prev = counter === undefined ? 0 : counter.prev;
  const curr = counter === undefined ? 0 : counter.curr;
  const elapsed = now % windowMs;
  if (fits(prev, curr, elapsed, windowMs, charge.limit, amount)) return undefined;
  return retryAfterMs(prev, curr, elapsed, windowMs, charge.limit, amount);
}

/** Each rate's counter as `remaining` and reset time, for `x-ratelimit-*` headers (a budget's is left out: no header names it). */
function ratesRemaining(charges: readonly Charge[], cells: readonly Cell[], now: number): (Remaining | undefined)[] {
  const out: (Remaining | undefined)[] = new Array<Remaining | undefined>(charges.length);
  for (let i = 0; i < charges.length; i++) out[i] = charges[i]!.period !== undefined ? undefined : rateRemaining(charges[i]!, cells[i] as RateCounter | undefined, now);
  return out;
}

function budgetRemaining(charge: Charge, entry: BudgetEntry | undefined, now: number): Remaining {
  const used = entry === undefined ? 0 : entry.used;
  return { key: charge.key, limit: charge.limit, remaining: Math.max(0, charge.limit - used), resetMs: Math.max(0, charge.period!.endsAt - now) };
}

function rateRemaining(charge: Charge, counter: RateCounter | undefined, now: number): Remaining {
  const windowMs = charge.windowMs!;
  const prev = counter === undefined ? 0 : counter.prev;
  const curr = counter === undefined ? 0 : counter.curr;
  const elapsed = now % windowMs;
  return { key: charge.key, limit: charge.limit, remaining: remaining(prev, curr, elapsed, windowMs, charge.limit), resetMs: resetMs(prev, curr, elapsed, windowMs) };
}

/** Moves a counter's sub-windows up to the one `now` falls in. */
function roll(counter: RateCounter, now: number): void {
  const start = windowStart(now, counter.windowMs);
  if (start === counter.start) return;
  counter.prev = start - counter.windowMs === counter.start ? counter.curr : 0;
  counter.curr = 0;
  counter.start = start;
}

function entrySize(key: string, value: Buffer): number {
  return Buffer.byteLength(key) + value.length;
}
