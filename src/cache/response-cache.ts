// The response cache of routes with `cache: { ttl }`: exact match on a canonical form of the
// request (key.ts), answers kept through the store's bytes (get/set/delete), so that with a shared
// store every gateway serves every other's entries.
//
// A miss runs the route through a sink that keeps a copy (recording-sink.ts); a hit is a replay of
// the kept bytes into the client's sink, with no target tried. Only the route's first target is
// looked up, and only its answers are kept: a fallback's answer is never served for the primary's
// key. Concurrent identical misses in this process wait for the first one's answer (single flight),
// within their own deadline; if it is not kept, each goes upstream itself.
import { performance } from 'node:perf_hooks';
import { COST_HEADER, OVERHEAD_HEADER } from '../attempt.js';
import { GatewayError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Logger } from '../logger.js';
import { apiLabel, type Pricing } from '../observe/records.js';
import type { Plan } from '../route/plan.js';
import { formatMs } from '../requestlog.js';
import { ClientSink } from '../sink.js';
import { decodeAnswer, encodeAnswer, type CachedAnswer } from './entry.js';
import { cacheKey } from './key.js';
import type { CacheStore } from './memory.js';
import { CACHE_HEADER, RecordingBudget, RecordingSink } from './recording-sink.js';

/** How a request met the cache: served from it, answered and offered to it, or kept apart from it. */
export type CacheResult = 'hit' | 'miss' | 'bypass';

/** The store's keys for cache entries start so, apart from the other state it keeps. */
const KEY_PREFIX = 'cache:';
/** A hit's cost: nothing was asked of a provider. */
const NO_COST = '0';

export interface CacheLimits {
  /** The largest answer kept (CACHE_MAX_ENTRY_BYTES). */
  readonly maxEntryBytes: number;
  /** The most bytes of answers copied for the cache at once, across requests (CACHE_MAX_BYTES). */
  readonly maxRecordingBytes: number;
}

/** What a request's Cache-Control asks of the cache: nothing, no lookup (no-cache), or neither lookup nor keeping (no-store). */
type Directive = 'no-cache' | 'no-store' | undefined;

export class ResponseCache {
  /** Misses in flight in this process, by key: each resolves with the answer's bytes if kept, else undefined. */
  private readonly flights = new Map<string, Promise<Buffer | undefined>>();
  /** What the misses in flight hold of their answers' copies. */
  private readonly recording: RecordingBudget;

  constructor(
    private readonly store: CacheStore,
    private readonly limits: CacheLimits,
    private readonly pricing: Pricing | undefined,
    private readonly logger: Logger,
  ) {
    this.recording = new RecordingBudget(limits.maxRecordingBytes);
  }

  /**
   * Answers a request of a route with a cache: from an entry, from an identical request in flight,
   * or through `run` (the router) with a sink that keeps the answer for `ttlMs`.
   */
  async serve(ex: Exchange, plan: Plan, ttlMs: number, tenant: string, run: (sink: ClientSink) => Promise<void>): Promise<void> {
    const directive = cacheDirective(ex.req.headers['cache-control']);
    const first = plan.targets[0]!;
    const key =
      directive === 'no-store'
        ? undefined
        : cacheKey({ api: apiLabel(ex), path: ex.path, stream: ex.stream, route: plan.route!.name, target: first.id!, tenant }, ex.body);
    if (key === undefined) {
      ex.cache = 'bypass';
      return run(new RecordingSink(ex, this.pricing, 0));
    }
    const storeKey = KEY_PREFIX + key;
    if (directive === undefined) {
      const kept = await this.lookup(ex, storeKey);
      if (kept !== undefined) return this.replay(ex, plan, kept);
      const flight = this.flights.get(storeKey);
      if (flight !== undefined) {
        const bytes = await waitFor(ex, plan, flight);
        const answer = bytes === undefined ? undefined : decodeAnswer(bytes);
        if (answer !== undefined) return this.replay(ex, plan, answer);
        // The client left while waiting: there is no one to answer.
        if (ex.clientGone) return;
      }
    }
    ex.cache = directive === undefined ? 'miss' : 'bypass';
    const sink = new RecordingSink(ex, this.pricing, this.limits.maxEntryBytes, this.recording);
    // A no-cache request keeps its answer but leads no flight: it did not look, so none waits on it.
    let settle: ((bytes: Buffer | undefined) => void) | undefined;
    if (directive === undefined && !this.flights.has(storeKey)) {
      this.flights.set(storeKey, new Promise((resolve) => (settle = resolve)));
    }
    let bytes: Buffer | undefined;
    try {
      await run(sink);
      bytes = keepable(ex, sink, first.id!) ? encodeAnswer({ status: sink.status, headers: sink.headers, body: sink.body() }) : undefined;
    } finally {
      sink.release();
      if (settle !== undefined) {
        this.flights.delete(storeKey);
        settle(bytes);
      }
    }
    if (bytes !== undefined) {
      this.store.set(storeKey, bytes, ttlMs).catch((err: unknown) => this.logger.warn({ reqId: ex.id, err: (err as Error).message }, 'response cache: an answer could not be kept'));
    }
  }

  /** The entry under `storeKey`, or undefined when there is none or the store failed (a miss, logged). */
  private async lookup(ex: Exchange, storeKey: string): Promise<CachedAnswer | undefined> {
    let bytes: Buffer | undefined;
    try {
      bytes = await this.store.get(storeKey);
    } catch (err) {
      this.logger.warn({ reqId: ex.id, err: (err as Error).message }, 'response cache: lookup failed; the request goes upstream');
      return undefined;
    }
    return bytes === undefined ? undefined : decodeAnswer(bytes);
  }

  /** A hit: the kept answer written into the client's sink, named as the route's first target's answer. */
  private replay(ex: Exchange, plan: Plan, answer: CachedAnswer): void {
    const first = plan.targets[0]!;
    ex.cache = 'hit';
    ex.provider = first.provider;
    ex.model = first.model;
    ex.unaliased = first.unaliased;
    ex.status = answer.status;
    const sink = new ClientSink(ex, this.pricing);
    if (!sink.claim(this)) return;
    const headers = [...answer.headers, 'x-request-id', ex.id];
    const requestIdHeader = ex.api?.requestIdHeader;
    if (requestIdHeader !== undefined) headers.push(requestIdHeader, ex.id);
    const routeHeaders = first.answerHeaders;
    if (routeHeaders !== undefined) for (let i = 0; i < routeHeaders.length; i++) headers.push(routeHeaders[i]!);
    headers.push(CACHE_HEADER, 'hit');
    // A stream's cost is in the request line alone, as for any stream.
    if (!ex.stream) headers.push('content-length', String(answer.body.length), COST_HEADER, NO_COST);
    const now = performance.now();
    ex.firstByteMs = now - ex.startedAt;
    headers.push(OVERHEAD_HEADER, formatMs(now - ex.startedAt - ex.waitedMs));
    sink.head(answer.status, headers);
    sink.end(answer.body);
  }
}

/**
 * Whether an answer may be kept: a 2xx that ended whole, within the bound, uncompressed, its client
 * still there, answered by the route's first target with no error inside (a stream's error event
 * marks its attempt broken).
 */
function keepable(ex: Exchange, sink: RecordingSink, firstTarget: string): boolean {
  if (!sink.complete || sink.spoiled || ex.clientGone || sink.status < 200 || sink.status >= 300) return false;
  const attempts = ex.attempts;
  if (attempts === undefined) return false;
  for (let i = attempts.length - 1; i >= 0; i--) {
    const attempt = attempts[i]!;
    if (attempt.outcome === 'answered') return attempt.target === firstTarget;
    if (attempt.outcome === 'answered: broken') return false;
  }
  return false;
}

/**
 * The identical request's answer, waited for until this request's deadline (then a 504) or until
 * its client leaves (undefined).
 */
function waitFor(ex: Exchange, plan: Plan, flight: Promise<Buffer | undefined>): Promise<Buffer | undefined> {
  const startedAt = performance.now();
  const remaining = ex.startedAt + plan.timeoutMs - startedAt;
  return new Promise((resolve, reject) => {
    let waiting = true;
    // The first of the answer, the deadline and the client's leaving settles the wait; the others find it over.
    const done = (): boolean => {
      if (!waiting) return false;
      waiting = false;
      clearTimeout(timer);
      ex.waiting = undefined;
      ex.waitedMs += performance.now() - startedAt;
      return true;
    };
    const timer = setTimeout(() => {
      if (done()) reject(new GatewayError(504, `An identical request was being answered and did not finish within this request's ${plan.timeoutMs} ms.`, 'gateway_timeout'));
    }, Math.max(0, Math.ceil(remaining)));
    ex.waiting = { cancel: () => done() && resolve(undefined) };
    void flight.then((bytes) => done() && resolve(bytes));
  });
}

/** The request's Cache-Control directive for the cache: no-store wins over no-cache. */
function cacheDirective(header: string | undefined): Directive {
  if (header === undefined) return undefined;
  let directive: Directive;
  for (const part of header.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === 'no-store') return 'no-store';
    if (token === 'no-cache') directive = 'no-cache';
  }
  return directive;
}
