// The sliding window counter's arithmetic, shared by the memory store; the Redis store's Lua script
// (redis-scripts.ts) is the same arithmetic line for line. A rate keeps two fixed sub-windows of
// `windowMs`: the current one and the previous one, which counts for the share of it the sliding
// window still overlaps. Comparisons are multiplied through by the window so that they stay in whole
// numbers: `retryAfterMs` is then the exact first millisecond at which the amount fits.

/** The start of the fixed sub-window `now` falls in. */
export function windowStart(now: number, windowMs: number): number {
  return now - (now % windowMs);
}

/** Whether `amount` fits in `limit` with `prev` and `curr` counted, `elapsed` ms into the current sub-window. */
export function fits(prev: number, curr: number, elapsed: number, windowMs: number, limit: number, amount: number): boolean {
  return prev * (windowMs - elapsed) <= (limit - amount - curr) * windowMs;
}

/**
 * Ms from now until `amount` fits, for an amount that does not fit now; -1 when it never will
 * (more than the whole limit). While the current sub-window alone has room, the previous one must
 * slide out far enough; otherwise the current one becomes the previous and must slide out in turn.
 */
export function retryAfterMs(prev: number, curr: number, elapsed: number, windowMs: number, limit: number, amount: number): number {
  if (amount > limit) return -1;
  const room = limit - amount - curr;
  // smallest e with prev * (W - e) <= room * W, i.e. W - e <= floor(room * W / prev)
  if (room >= 0) return windowMs - Math.floor((room * windowMs) / prev) - elapsed;
  return windowMs - elapsed + windowMs - Math.floor(((limit - amount) * windowMs) / curr);
}

/** What is left of `limit`, in whole units. */
export function remaining(prev: number, curr: number, elapsed: number, windowMs: number, limit: number): number {
  return Math.max(0, Math.floor((limit * windowMs - prev * (windowMs - elapsed) - curr * windowMs) / windowMs));
}

/** Ms until the counter is back to zero: the current sub-window must slide out, or the previous one. */
export function resetMs(prev: number, curr: number, elapsed: number, windowMs: number): number {
  if (curr > 0) return 2 * windowMs - elapsed;
  return prev > 0 ? windowMs - elapsed : 0;
}
