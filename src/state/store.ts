// The state that gateways share: rate limits, budgets, concurrent streams, the response cache and
// the Responses API's item memory. One interface, two homes: this process (the default), or Redis
// (REDIS_URL), where several gateway processes behind a load balancer read and write the same
// counters. Each check-and-reserve is one atomic step (one Lua script in Redis), so that concurrent
// requests cannot all pass a limit that only one of them fits under.

/**
 * One counter a request is charged to: a rate (a sliding window of `windowMs`) or a budget (a
 * calendar period, `period` set). What a request charges to it is given beside it (`amounts`), so
 * that a key's charges are made once and shared by its requests.
 */
export interface Charge {
  /** The counter's name, e.g. `key:<id>:rpm`; the store adds its own prefix. */
  readonly key: string;
  /** The most the counter may hold within its window. */
  readonly limit: number;
  /** A sliding window this long (rates). */
  readonly windowMs?: number;
  /** A calendar period instead (budgets): its id (`2026-12-07`, `2026-12`) and when it ends (epoch ms). */
  readonly period?: { readonly id: string; readonly endsAt: number };
}

/** A concurrency slot (a stream in progress), held until released or until it expires. */
export interface Lease {
  readonly key: string;
  readonly limit: number;
  /** A slot whose holder vanished (a process that died) frees itself after this long. */
  readonly ttlMs: number;
}

/** What a request reserved, to be settled (or released) once: the store's own record of it. */
export interface Reservation {
  /** The request's id: a settlement seen twice counts once. */
  readonly id: string;
  readonly charges: readonly Charge[];
  /** What it reserved of each charge (its estimate), in their order: a settlement corrects each by what was really used. */
  readonly amounts: readonly number[];
  readonly leases: readonly Lease[];
  /** Where each rate charge landed (its window's start), so that its settlement adjusts the same window; in the charges' order, a budget's place unused. */
  readonly windows: readonly number[];
  /** Reserved by the local fallback while the shared store was unreachable (failing open). */
  readonly local: boolean;
  /** The store's own handles on the counters it charged, in the charges' order (the store in this process keeps them, to settle without looking them up). */
  readonly cells?: readonly unknown[];
}

/** A counter's state after a reservation, for `x-ratelimit-*` headers (which name rates alone). */
export interface Remaining {
  readonly key: string;
  readonly limit: number;
  readonly remaining: number;
  /** When the counter has room again for what it refused, or is fully reset (ms from now). */
  readonly resetMs: number;
}

export type Admission =
  /** `remaining`: each charge's counter in the charges' order; a budget's may be left out (undefined). */
  | { readonly ok: true; readonly reservation: Reservation; readonly remaining: readonly (Remaining | undefined)[] }
  | {
      readonly ok: false;
      /** The charge or lease key that refused. */
      readonly key: string;
      readonly limit: number;
      /** When a retry could pass (ms from now): a window's slide, a period's end, or unknown (-1) for a lease. */
      readonly retryAfterMs: number;
      readonly remaining: readonly (Remaining | undefined)[];
    }
  /** The shared store could not answer and a limit fails closed: the request is refused (503). */
  | { readonly ok: false; readonly unavailable: true; readonly key: string };

/** How a limit behaves while the shared store cannot be reached. */
export type OnStoreFailure = 'open' | 'closed';

export interface StoreHealth {
  readonly kind: 'memory' | 'redis';
  /** Whether the shared store answered its last command in time. */
  readonly up: boolean;
  /** Since when (epoch ms) it has not been, while it is down. */
  readonly downSince?: number;
  /** The last error, without credentials. */
  readonly lastError?: string;
}

/** A value every gateway must agree on (the admin API's key table) and its version, which only compareAndSet advances. */
export interface Versioned {
  readonly version: number;
  readonly value: Buffer;
}

export interface Store {
  readonly kind: 'memory' | 'redis';
  /**
   * Reserves `amounts[i]` of each `charges[i]` (whole numbers: requests, tokens, or micro-dollars)
   * and every lease, or none: the first that does not fit refuses the whole request. `onFailure`
   * says what a limit does when the store cannot be reached in time.
   * `settles: false` (a reservation whose amounts are already exact, and holds no lease): it will
   * not be settled, and the store keeps nothing to wait for its settlement.
   */
  reserve(id: string, charges: readonly Charge[], amounts: readonly number[], leases: readonly Lease[], onFailure: OnStoreFailure, settles?: boolean): Admission | Promise<Admission>;
  /**
   * Settles a reservation with what the request really used (one amount per charge, in order),
   * and frees its leases. Idempotent: a reservation (or a copy of it) settles once; Redis keeps the
   * waiting ones by id, this process on the reservation itself. A store in this process settles at
   * once and returns nothing (no promise for a caller that never waits); a remote one returns its send.
   */
  settle(reservation: Reservation, used: readonly number[]): void | Promise<void>;
  /** Reads counters without charging them (a budget's use for /health or the dashboard). */
  peek(charges: readonly Charge[]): Promise<readonly Remaining[]>;

  /** Bytes kept under a key for `ttlMs` (cache entries, item memory); undefined when absent or expired. */
  get(key: string): Promise<Buffer | undefined>;
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;

  // Versioned values: never evicted for room, and written only if unchanged since read, so that
  // two gateways changing one value at once cannot lose either change. Unlike get(), these reject
  // when the store cannot answer, so that a caller keeps what it has rather than reading "absent".
  /** The value's version: 0 while it was never written. A poll reads this small number, not the value. */
  versionOf(key: string): Promise<number>;
  /** The value and its version, read together. */
  readVersioned(key: string): Promise<Versioned | undefined>;
  /** Writes `value` as version `expected + 1` if the version is still `expected`; false when another write came first. */
  compareAndSet(key: string, expected: number, value: Buffer, ttlMs: number): Promise<boolean>;

  health(): StoreHealth;
  /** Resolves once the store answers (a remote one is connected); rejects after `timeoutMs`. Start-up waits on it, requests never do. */
  ready?(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}
