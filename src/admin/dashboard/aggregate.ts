// What the dashboard shows of finished requests, kept in fixed-size structures: a ring of
// per-second buckets (counts, tokens, cost, latency and time-to-first-token histograms), totals by
// gateway key, route, provider and model under a bound on labels, and rings of the last requests
// and the last errors. A request writes numbers and references into preallocated slots; nothing
// here grows with traffic. The heavy work (percentiles, sorting, redaction) is done when someone
// reads, by snapshot().
import { ModelLabels, type RequestRecord } from '../../observe/records.js';
import { HISTOGRAM_BUCKETS, bucketOf, quantileOf } from './histogram.js';

/** Seconds of per-second history: the charts' span. */
export const WINDOW_SECONDS = 300;
/** The span the headline percentiles are read over. */
export const RECENT_SECONDS = 60;
/** Labels per dimension (keys, routes, providers, models) with a row of their own; any further one counts as `other`. */
export const MAX_LABELS = 100;
/** Requests kept in the recent-requests ring. */
export const RECENT_REQUESTS = 200;
/** Errors kept, with their messages, in the recent-errors ring. */
export const RECENT_ERRORS = 50;
/** The row every label past MAX_LABELS counts in. */
export const OTHER_LABEL = 'other';
/** The longest error message a snapshot carries (a provider's may run to kilobytes, and 250 of them are shown). */
export const MAX_MESSAGE_CHARS = 500;
/** The label of a request without a key, route, provider or model. */
export const NO_LABEL = '-';

const QUANTILES = [0.5, 0.9, 0.99] as const;

/** What a totals row counts. */
export interface Totals {
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

function emptyTotals(): Totals {
  return { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
}

/** Totals by one dimension's label: at most MAX_LABELS rows of their own, then `other`. */
class LabelTotals {
  readonly rows = new Map<string, Totals>();
  readonly other = emptyTotals();

  constructor(private readonly max: number) {}

  /** The row a label counts in; a new row only while fewer than `max` exist. */
  rowOf(label: string): Totals {
    const row = this.rows.get(label);
    if (row !== undefined) return row;
    if (this.rows.size >= this.max) return this.other;
    const created = emptyTotals();
    this.rows.set(label, created);
    return created;
  }

  /** Rows by requests, most first, `other` last when anything counted there. */
  list(): Array<Totals & { label: string }> {
    const rows = [...this.rows].map(([label, totals]) => ({ label, ...totals })).sort((a, b) => b.requests - a.requests);
    if (this.other.requests > 0) rows.push({ label: OTHER_LABEL, ...this.other });
    return rows;
  }
}

/** One slot of the recent-requests ring: fields that are numbers, names from the configuration, or strings redacted when read. */
interface RecentSlot {
  time: number;
  id: string;
  api: string;
  method: string;
  path: string;
  status: number;
  stream: boolean;
  durationMs: number;
  ttfbMs: number | undefined;
  key: string | undefined;
  route: string | undefined;
  provider: string | undefined;
  model: string | undefined;
  target: string | undefined;
  retries: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number | undefined;
  /** The error's message, kept by reference; redacted and cut when read. */
  error: string | undefined;
}

function emptySlot(): RecentSlot {
  return {
    time: 0,
    id: '',
    api: '',
    method: '',
    path: '',
    status: 0,
    stream: false,
    durationMs: 0,
    ttfbMs: undefined,
    key: undefined,
    route: undefined,
    provider: undefined,
    model: undefined,
    target: undefined,
    retries: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: undefined,
    error: undefined,
  };
}

/** The recent requests a reader asks for: by status class (`2xx`, `4xx`, `5xx`, ...), key and route. */
export interface RecentFilter {
  readonly statusClass?: number;
  readonly key?: string;
  readonly route?: string;
}

/** A request of the rings, as a reader sees it: its strings redacted. */
export interface RecentRequest {
  readonly time: string;
  readonly id: string;
  readonly api: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly stream: boolean;
  readonly duration_ms: number;
  readonly ttfb_ms: number | null;
  readonly key: string | null;
  readonly route: string | null;
  readonly provider: string | null;
  readonly model: string | null;
  readonly target: string | null;
  readonly retries: number;
  readonly tokens: { readonly prompt: number; readonly completion: number };
  readonly cost_usd: number | null;
  readonly error: string | null;
}

/** Percentiles of one span, in ms (upper bucket edges), null where nothing was counted. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
}

/** Whether a request counts as an error: the client was told one, or its answer was cut short. */
function isError(record: RequestRecord): boolean {
  return record.status >= 400 || record.broken;
}

export class DashboardAggregate {
  /**
   * Which model names get a row: the configured ones and the first that answered, as the metrics
   * label them (shared with them in a gateway). Any client can send any model name: names that only
   * failed would otherwise take every row before the models in use had one.
   */
  constructor(private readonly models: ModelLabels = new ModelLabels(MAX_LABELS, [])) {}

  /** The epoch second each slot of the per-second ring holds; -1 for none yet. */
  private readonly seconds = new Float64Array(WINDOW_SECONDS).fill(-1);
  private readonly requests = new Uint32Array(WINDOW_SECONDS);
  private readonly errors = new Uint32Array(WINDOW_SECONDS);
  private readonly promptTokens = new Float64Array(WINDOW_SECONDS);
  private readonly completionTokens = new Float64Array(WINDOW_SECONDS);
  private readonly costUsd = new Float64Array(WINDOW_SECONDS);
  /** Per second, HISTOGRAM_BUCKETS counts of request durations, and of times to first byte. */
  private readonly latency = new Uint32Array(WINDOW_SECONDS * HISTOGRAM_BUCKETS);
  private readonly ttfb = new Uint32Array(WINDOW_SECONDS * HISTOGRAM_BUCKETS);
  private readonly ttfbCounts = new Uint32Array(WINDOW_SECONDS);

  readonly total = emptyTotals();
  readonly byKey = new LabelTotals(MAX_LABELS);
  readonly byRoute = new LabelTotals(MAX_LABELS);
  readonly byProvider = new LabelTotals(MAX_LABELS);
  readonly byModel = new LabelTotals(MAX_LABELS);

  private readonly recent: RecentSlot[] = Array.from({ length: RECENT_REQUESTS }, emptySlot);
  private recentNext = 0;
  private recentHeld = 0;
  private readonly recentErrors: RecentSlot[] = Array.from({ length: RECENT_ERRORS }, emptySlot);
  private errorsNext = 0;
  private errorsHeld = 0;

  /** Counts one finished request: O(1), into the arrays above. */
  add(record: RequestRecord): void {
    const endMs = record.startTime + record.durationMs;
    const second = Math.floor(endMs / 1000);
    const slot = second % WINDOW_SECONDS;
    if (this.seconds[slot] !== second) this.resetSecond(slot, second);
    const failed = isError(record);
    const usage = record.usage;
    const prompt = usage === undefined ? 0 : usage.promptTokens;
    const completion = usage === undefined ? 0 : usage.completionTokens;
    const cost = record.costUsd ?? 0;
    this.requests[slot]!++;
    if (failed) this.errors[slot]!++;
    this.promptTokens[slot]! += prompt;
    this.completionTokens[slot]! += completion;
    this.costUsd[slot]! += cost;
    this.latency[slot * HISTOGRAM_BUCKETS + bucketOf(record.durationMs)]!++;
    if (record.ttfbMs !== undefined) {
      this.ttfb[slot * HISTOGRAM_BUCKETS + bucketOf(record.ttfbMs)]!++;
      this.ttfbCounts[slot]!++;
    }
    count(this.total, failed, prompt, completion, cost);
    count(this.byKey.rowOf(record.key ?? NO_LABEL), failed, prompt, completion, cost);
    count(this.byRoute.rowOf(record.route ?? NO_LABEL), failed, prompt, completion, cost);
    count(this.byProvider.rowOf(record.provider ?? NO_LABEL), failed, prompt, completion, cost);
    count(this.byModel.rowOf(this.models.label(record.model, record.status >= 200 && record.status < 300) || NO_LABEL), failed, prompt, completion, cost);

    fill(this.recent[this.recentNext]!, record, prompt, completion);
    this.recentNext = (this.recentNext + 1) % RECENT_REQUESTS;
    if (this.recentHeld < RECENT_REQUESTS) this.recentHeld++;
    if (failed) {
      fill(this.recentErrors[this.errorsNext]!, record, prompt, completion);
      this.errorsNext = (this.errorsNext + 1) % RECENT_ERRORS;
      if (this.errorsHeld < RECENT_ERRORS) this.errorsHeld++;
    }
  }

  private resetSecond(slot: number, second: number): void {
    this.seconds[slot] = second;
    this.requests[slot] = 0;
    this.errors[slot] = 0;
    this.promptTokens[slot] = 0;
    this.completionTokens[slot] = 0;
    this.costUsd[slot] = 0;
    this.ttfbCounts[slot] = 0;
    this.latency.fill(0, slot * HISTOGRAM_BUCKETS, (slot + 1) * HISTOGRAM_BUCKETS);
    this.ttfb.fill(0, slot * HISTOGRAM_BUCKETS, (slot + 1) * HISTOGRAM_BUCKETS);
  }

  /**
   * The last WINDOW_SECONDS seconds up to `nowMs`, oldest first, one entry per second (zeros for
   * seconds nobody finished a request in), with each second's latency and TTFB percentiles.
   */
  series(nowMs: number): Record<string, Array<number | null>> {
    const now = Math.floor(nowMs / 1000);
    const out: Record<string, Array<number | null>> = { t: [], requests: [], errors: [], tokens: [], cost_usd: [] };
    for (const name of ['latency', 'ttfb']) for (const q of QUANTILES) out[`${name}_p${q * 100}`] = [];
    for (let second = now - WINDOW_SECONDS + 1; second <= now; second++) {
      const slot = second % WINDOW_SECONDS;
      const held = this.seconds[slot] === second;
      out.t!.push(second);
      out.requests!.push(held ? this.requests[slot]! : 0);
      out.errors!.push(held ? this.errors[slot]! : 0);
      out.tokens!.push(held ? this.promptTokens[slot]! + this.completionTokens[slot]! : 0);
      out.cost_usd!.push(held ? this.costUsd[slot]! : 0);
      for (const q of QUANTILES) {
        out[`latency_p${q * 100}`]!.push(held ? (quantileOf(this.latency, slot * HISTOGRAM_BUCKETS, this.requests[slot]!, q) ?? null) : null);
        out[`ttfb_p${q * 100}`]!.push(held ? (quantileOf(this.ttfb, slot * HISTOGRAM_BUCKETS, this.ttfbCounts[slot]!, q) ?? null) : null);
      }
    }
    return out;
  }

  /** Latency and TTFB percentiles over the last `seconds` seconds up to `nowMs`, from the summed buckets. */
  percentiles(nowMs: number, seconds: number): { latency: Percentiles; ttfb: Percentiles } {
    const now = Math.floor(nowMs / 1000);
    const latency = new Float64Array(HISTOGRAM_BUCKETS);
    const ttfb = new Float64Array(HISTOGRAM_BUCKETS);
    let requests = 0;
    let firstBytes = 0;
    for (let second = now - Math.min(seconds, WINDOW_SECONDS) + 1; second <= now; second++) {
      const slot = second % WINDOW_SECONDS;
      if (this.seconds[slot] !== second) continue;
      requests += this.requests[slot]!;
      firstBytes += this.ttfbCounts[slot]!;
      for (let bucket = 0; bucket < HISTOGRAM_BUCKETS; bucket++) {
        latency[bucket]! += this.latency[slot * HISTOGRAM_BUCKETS + bucket]!;
        ttfb[bucket]! += this.ttfb[slot * HISTOGRAM_BUCKETS + bucket]!;
      }
    }
    const read = (counts: Float64Array, total: number): Percentiles => ({
      count: total,
      p50: quantileOf(counts, 0, total, 0.5) ?? null,
      p90: quantileOf(counts, 0, total, 0.9) ?? null,
      p99: quantileOf(counts, 0, total, 0.99) ?? null,
    });
    return { latency: read(latency, requests), ttfb: read(ttfb, firstBytes) };
  }

  /** The recent requests that pass `filter`, newest first, their strings given to `redact`. */
  recentRequests(filter: RecentFilter, redact: (text: string) => string): RecentRequest[] {
    return readRing(this.recent, this.recentNext, this.recentHeld, RECENT_REQUESTS, filter, redact);
  }

  /** The recent errors, newest first, with their messages redacted. */
  recentErrorList(redact: (text: string) => string): RecentRequest[] {
    return readRing(this.recentErrors, this.errorsNext, this.errorsHeld, RECENT_ERRORS, {}, redact);
  }
}

function count(row: Totals, failed: boolean, prompt: number, completion: number, cost: number): void {
  row.requests++;
  if (failed) row.errors++;
  row.promptTokens += prompt;
  row.completionTokens += completion;
  row.costUsd += cost;
}

/** Copies a record's fields into a ring slot: numbers, and references to strings the record holds. */
function fill(slot: RecentSlot, record: RequestRecord, prompt: number, completion: number): void {
  slot.time = record.startTime;
  slot.id = record.id;
  slot.api = record.api;
  slot.method = record.method;
  slot.path = record.path;
  slot.status = record.status;
  slot.stream = record.stream;
  slot.durationMs = record.durationMs;
  slot.ttfbMs = record.ttfbMs;
  slot.key = record.key;
  slot.route = record.route;
  slot.provider = record.provider;
  slot.model = record.model;
  slot.target = record.target;
  slot.retries = record.retries;
  slot.promptTokens = prompt;
  slot.completionTokens = completion;
  slot.costUsd = record.costUsd;
  slot.error = record.error;
}

/** Milliseconds to three decimals: what a reader needs, in a shorter body. */
function ms(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function readRing(slots: readonly RecentSlot[], next: number, held: number, size: number, filter: RecentFilter, redact: (text: string) => string): RecentRequest[] {
  const out: RecentRequest[] = [];
  for (let i = 1; i <= held; i++) {
    const slot = slots[(next - i + size) % size]!;
    if (filter.statusClass !== undefined && Math.floor(slot.status / 100) !== filter.statusClass) continue;
    if (filter.key !== undefined && (slot.key ?? NO_LABEL) !== filter.key) continue;
    if (filter.route !== undefined && (slot.route ?? NO_LABEL) !== filter.route) continue;
    out.push({
      time: new Date(slot.time).toISOString(),
      // The id, path and model came from the client: redacted as any text a client sent.
      id: redact(slot.id),
      api: slot.api,
      method: slot.method,
      path: redact(slot.path),
      status: slot.status,
      stream: slot.stream,
      duration_ms: ms(slot.durationMs),
      ttfb_ms: slot.ttfbMs === undefined ? null : ms(slot.ttfbMs),
      key: slot.key ?? null,
      route: slot.route ?? null,
      provider: slot.provider ?? null,
      model: slot.model === undefined ? null : redact(slot.model),
      target: slot.target === undefined ? null : redact(slot.target),
      retries: slot.retries,
      tokens: { prompt: slot.promptTokens, completion: slot.completionTokens },
      cost_usd: slot.costUsd ?? null,
      error: slot.error === undefined ? null : cut(redact(slot.error)),
    });
  }
  return out;
}

/** A message cut to MAX_MESSAGE_CHARS, after redaction (so that no secret is cut into a piece that escapes it). */
function cut(text: string): string {
  return text.length <= MAX_MESSAGE_CHARS ? text : `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}
