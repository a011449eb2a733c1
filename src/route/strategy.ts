// The order in which one request tries its route's targets: declared (fallback), weighted random,
// or least latency by power of two choices over a moving average of time to first byte.
//
// The contract with the router: `order` ranks every target it is given and skips none. Health is
// asked afterwards, target by target (an open breaker or a cooling key is passed over at no cost),
// so that a route whose preferred target is down still tries the others in the strategy's order.
// The router calls `begin`/`end` around each attempt and `observe` with its time to first byte.
import { performance } from 'node:perf_hooks';
import type { Clock } from './health.js';

/** The most targets a route may declare: orders are computed per request in fixed scratch space. */
export const MAX_ROUTE_TARGETS = 16;

export type Strategy = 'fallback' | 'weighted' | 'least-latency';

/** The EWMA's weight of a new sample. */
export const DEFAULT_LATENCY_ALPHA = 0.3;
/**
 * An average not refreshed for this long has shrunk to 1/e of itself: a target that lost every
 * comparison looks faster as time passes, gets a request again and so a fresh sample; without it a
 * region that was slow once would never be measured again.
 */
export const DEFAULT_LATENCY_DECAY_MS = 10_000;

export interface LatencyOptions {
  alpha?: number;
  decayMs?: number;
  now?: Clock;
}

export interface LatencySnapshot {
  /** The average time to first byte as last sampled, before decay; undefined before any sample. */
  ewmaMs?: number;
  inFlight: number;
  samples: number;
}

/** One target's time to first byte (an EWMA that decays while idle) and its attempts in flight. */
export class LatencyStats {
  private readonly alpha: number;
  private readonly decayMs: number;
  private readonly now: Clock;
  private ewma = 0;
  private sampledAt = 0;
  private samples = 0;
  private inFlight = 0;

  constructor(options: LatencyOptions = {}) {
    this.alpha = options.alpha ?? DEFAULT_LATENCY_ALPHA;
    this.decayMs = options.decayMs ?? DEFAULT_LATENCY_DECAY_MS;
    this.now = options.now ?? (() => performance.now());
  }

  begin(): void {
    this.inFlight++;
  }

  end(): void {
    if (this.inFlight > 0) this.inFlight--;
  }

  /** The time to first byte of an attempt that got one. */
  observe(ttfbMs: number): void {
    const now = this.now();
    this.ewma = this.samples === 0 ? ttfbMs : this.alpha * ttfbMs + (1 - this.alpha) * this.decayed(now);
    this.sampledAt = now;
    this.samples++;
  }

  /**
   * What choosing this target is expected to cost: the decayed average times the attempts it
   * would queue behind, plus one (Envoy's and tower's PeakEwma load). 0 before any sample, so a
   * new target is tried first.
   */
  cost(): number {
    return this.samples === 0 ? 0 : this.decayed(this.now()) * (this.inFlight + 1);
  }

  get active(): number {
    return this.inFlight;
  }

  snapshot(): LatencySnapshot {
    const snapshot: LatencySnapshot = { inFlight: this.inFlight, samples: this.samples };
    if (this.samples > 0) snapshot.ewmaMs = this.ewma;
    return snapshot;
  }

  private decayed(now: number): number {
    const idle = now - this.sampledAt;
    return idle <= 0 ? this.ewma : this.ewma * Math.exp(-idle / this.decayMs);
  }
}

export interface OrderTarget {
  /** Relative share of first picks (weighted, least-latency's random pairs); 0: only when no other is left. */
  readonly weight: number;
  /** Read by least-latency only. */
  readonly latency: LatencyStats;
}

// Scratch space for one call: order() runs to its end without yielding, so one buffer serves all.
const weights = new Float64Array(MAX_ROUTE_TARGETS);
const taken = new Uint8Array(MAX_ROUTE_TARGETS);

/**
 * The order in which to try `targets` for one request. `fallback` answers `targets` itself (no
 * copy); the others a new array holding every target once.
 */
export function order<T extends OrderTarget>(strategy: Strategy, targets: readonly T[], random: () => number = Math.random): readonly T[] {
  const n = targets.length;
  if (n > MAX_ROUTE_TARGETS) throw new RangeError(`a route has at most ${MAX_ROUTE_TARGETS} targets, got ${n}`);
  if (strategy === 'fallback' || n < 2) return targets;
  for (let i = 0; i < n; i++) {
    const weight = targets[i]!.weight;
    weights[i] = weight > 0 && Number.isFinite(weight) ? weight : 0;
    taken[i] = 0;
  }
  const ordered: T[] = [];
  for (let left = n; left > 0; left--) {
    let pick = pickWeighted(n, random, true);
    if (strategy === 'least-latency' && left > 1) {
      // Power of two choices: a second, different candidate of the same standing (a target of
      // weight 0 meets only others of weight 0); the cheaper of the two goes first.
      taken[pick] = 1;
      const other = pickWeighted(n, random, weights[pick] === 0);
      taken[pick] = 0;
      if (other !== -1 && cheaper(targets[other]!.latency, targets[pick]!.latency)) pick = other;
    }
    taken[pick] = 1;
    ordered.push(targets[pick]!);
  }
  return ordered;
}

/** Whether `a` should go before `b`: a lower cost, or the same cost with fewer attempts in flight. */
function cheaper(a: LatencyStats, b: LatencyStats): boolean {
  const ca = a.cost();
  const cb = b.cost();
  return ca < cb || (ca === cb && a.active < b.active);
}

/**
 * A random index among the first `n` not yet taken, in proportion to its weight; when every
 * weight left is 0, the first declared, or -1 unless `zeroWeights` allows it.
 */
function pickWeighted(n: number, random: () => number, zeroWeights: boolean): number {
  let total = 0;
  let firstLeft = -1;
  for (let i = 0; i < n; i++) {
    if (taken[i] === 1) continue;
    if (firstLeft === -1) firstLeft = i;
    total += weights[i]!;
  }
  if (total === 0) return zeroWeights ? firstLeft : -1;
  let point = random() * total;
  let lastPositive = firstLeft;
  for (let i = 0; i < n; i++) {
    if (taken[i] === 1 || weights[i] === 0) continue;
    lastPositive = i;
    point -= weights[i]!;
    if (point < 0) return i;
  }
  // Rounding can leave a hair of `point`: it belongs to the last target with a weight.
  return lastPositive;
}
