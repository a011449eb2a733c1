// Upstream HTTP: one keep-alive undici Pool per provider origin, created at start-up, and the
// retry policy (which failures are retried, how long to wait).
import { Pool } from 'undici';

export interface PoolOptions {
  /** 0 means no cap. */
  connections: number;
}

export function createPool(origin: string, options: PoolOptions): Pool {
  return new Pool(origin, {
    connections: options.connections === 0 ? null : options.connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    // The gateway owns deadlines (REQUEST_TIMEOUT_MS, STREAM_IDLE_TIMEOUT_MS); undici's own
    // timers would cut long generations short.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: 10_000 },
  });
}

/** Statuses worth another attempt: the provider may well answer the same request next time. */
// 529: Anthropic's "overloaded", passed through as it is to clients of its own API.
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504, 529]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

/**
 * Milliseconds a provider asks us to wait, from `retry-after-ms`, or `retry-after` in seconds or
 * as an HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterMs(
  retryAfter: string | undefined,
  retryAfterMsHeader: string | undefined,
  now = Date.now(),
): number | undefined {
  if (retryAfterMsHeader !== undefined) {
    const ms = Number(retryAfterMsHeader);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  if (retryAfter === undefined) return undefined;
  const trimmed = retryAfter.trim();
  if (trimmed === '') return undefined;
  const seconds = Number(trimmed);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with full jitter: a random wait in [0, min(max, base * 2^retry)). */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}
