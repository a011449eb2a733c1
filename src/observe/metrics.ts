// Prometheus metrics, read from the request records: one registry per gateway (never prom-client's
// global one), exposed at GET /metrics.
//
// The request path pays for metrics once per finished request, not per chunk, and not through
// prom-client: its label-object calls cost about 0.8 µs a counter and 1.2 µs a histogram here
// (hashing and validating the label object each time), ten of them a request being a few percent
// of a small request's cost. Each request instead adds to the plain numbers of its series, found
// by one string key; prom-client formats those series only when scraped, through metric objects
// whose get() reads them.
//
// Cardinality is bounded whatever the traffic: every label value is from the operator's
// configuration (providers, routes, targets), a fixed set (API, status class, token type,
// outcome), or a model name among the first METRICS_MAX_MODELS to be answered with a 2xx; any
// other model is `other`. Nothing a client sends becomes a label otherwise.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import client from 'prom-client';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import { operatorRefusal } from '../operator.js';
import type { Usage } from '../stream.js';
import { clusterWorkerScrape, type Scrape } from './cluster-metrics.js';
import type { AttemptRecord, Observer, RequestRecord } from './records.js';
import { ModelLabels, OTHER_MODEL } from './records.js';

export const METRICS_PATH = '/metrics';
const HEALTH_PATH = '/health';

/**
 * Why a scraper may not read /metrics (401 or 403), or undefined when it may: with METRICS_TOKEN,
 * the token from any address; without, a client on this machine unless METRICS_READERS=any.
 */
export function metricsRefusal(req: IncomingMessage, config: Pick<Config, 'METRICS_TOKEN' | 'METRICS_READERS'>): GatewayError | undefined {
  const token = config.METRICS_TOKEN;
  if (token === '') return operatorRefusal(req.socket.remoteAddress, req.headers, config.METRICS_READERS, METRICS_PATH, 'METRICS_READERS');
  const sent = req.headers.authorization;
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(typeof sent === 'string' ? sent : '');
  // Compared in constant time: the token is a secret.
  if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  return new GatewayError(401, `${METRICS_PATH} needs the metrics token: send "Authorization: Bearer <METRICS_TOKEN>".`, 'invalid_metrics_token', null, 'authentication_error');
}

/** Seconds: from a millisecond to the longest a stream may reasonably run. */
const DURATION_BUCKETS = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]);
/** Seconds of the gateway's own time: from 50 µs up. */
const OVERHEAD_BUCKETS = Object.freeze([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]);
const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Token types, each apart from the others: their sum is every token, counted once. */
const TOKEN_TYPES = ['input', 'cache_read', 'cache_write', 'output', 'reasoning'] as const;

/** Plain cumulative histogram counts, as Prometheus wants them. */
class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    // Counts per bucket, not cumulative: made cumulative when scraped.
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/** A status class's numbers within a series. */
class ClassStats {
  requests = 0;
  readonly duration = new Histogram(DURATION_BUCKETS);
  readonly ttfb = new Histogram(DURATION_BUCKETS);
}

/** The numbers of one label set: API, provider, model, route and target. */
class Series {
  readonly classes: (ClassStats | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  /** Indexed as TOKEN_TYPES. */
  readonly tokens = new Float64Array(TOKEN_TYPES.length);
  costUsd = 0;
  unpriced = 0;
  clientGone = 0;
  /** The gateway's overhead for this series' API and provider: found once, kept here. */
  overhead: Histogram | undefined = undefined;
  /** The attempts of a request without a route (provider only): found once, kept here. */
  attempts: AttemptSeries | undefined = undefined;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

/** The labels of the gateway's own overhead and of attempts: fewer than a request's. */
class AttemptSeries {
  /** Attempts answered: nearly all, counted apart from the map. */
  answered = 0;
  /** By outcome label, the others. */
  readonly outcomes = new Map<string, number>();

  count(outcome: string): void {
    if (outcome === 'answered') this.answered++;
    else this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }
  retries = 0;
  fallbacks = 0;
  hedges = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

export interface MetricsOptions {
  /** Model names given a label of their own; any more are `other`. */
  readonly maxModels: number;
  /** Model names the configuration holds (route targets, aliases): labelled whatever the count. */
  readonly knownModels?: Iterable<string>;
  /**
   * This process is one worker of a cluster whose primary runs serveClusterScrapes: a scrape then
   * answers the sum over all workers, waiting at most this many ms for each. Unset: this process's own.
   */
  readonly clusterTimeoutMs?: number;
}

/** What a scrape reads of the gateway's state beyond the records. */
export interface MetricsSources {
  /** Requests in progress, and those among them streaming an answer. */
  inFlight(): { requests: number; streams: number };
  /** Each route target's breaker state and whether its key rests. */
  targets(): Iterable<{ route: string; target: string; breaker: string; resting: boolean }>;
}

const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;
/** A response cache's results, in the order of a route's counts. */
const CACHE_RESULTS = ['hit', 'miss', 'bypass'] as const;

export class Metrics implements Observer {
  readonly registry = new client.Registry();
  /** Every series, for a scrape; found per request through `index`: API, provider, model, then route and target. */
  private readonly series: Series[] = [];
  private readonly index = new Map<string, Map<string, Map<string, Map<string, Series>>>>();
  private readonly attemptSeries = new Map<string, AttemptSeries>();
  private readonly overhead = new Map<string, { labels: Readonly<Record<string, string>>; histogram: Histogram }>();
  /** By route (a name from the config), its response cache's hits, misses and bypasses, indexed as CACHE_RESULTS. */
  private readonly cacheResults = new Map<string, Float64Array>();
  /** Which model names get a label of their own. */
  readonly models: ModelLabels;
  private sources: MetricsSources | undefined;
  /** How a scrape gathers its text: this registry's, or the cluster's sum. */
  private readonly gather: () => Promise<Scrape>;

  constructor(options: MetricsOptions) {
    this.models = new ModelLabels(options.maxModels, options.knownModels ?? []);
    const registry = this.registry;
    const series = () => this.series;
    register(registry, 'gateway_requests_total', 'Requests answered, by inbound API, provider, model, route, target and status class (499: the client left).', 'counter', () =>
      flatMap(series(), (s) => s.classes.flatMap((c, i) => (c === undefined ? [] : [{ labels: { ...s.labels, status_class: STATUS_CLASSES[i]! }, value: c.requests }]))),
    );
    registerHistogram(registry, 'gateway_request_duration_seconds', 'From a request\'s arrival to the end of its answer.', () =>
      flatMap(series(), (s) => s.classes.flatMap((c, i) => (c === undefined ? [] : [{ labels: { ...s.labels, status_class: STATUS_CLASSES[i]! }, histogram: c.duration }]))),
    );
    registerHistogram(registry, 'gateway_time_to_first_byte_seconds', 'From a request\'s arrival to its answer\'s first byte.', () =>
      flatMap(series(), (s) => s.classes.flatMap((c, i) => (c === undefined || c.ttfb.count === 0 ? [] : [{ labels: { ...s.labels, status_class: STATUS_CLASSES[i]! }, histogram: c.ttfb }]))),
    );
    registerHistogram(registry, 'gateway_overhead_seconds', 'The time the gateway itself spent on a request: its duration less the time waiting on providers and in backoff.', () =>
      [...this.overhead.values()].map((o) => ({ labels: o.labels, histogram: o.histogram })),
    );
    register(
      registry,
      'gateway_tokens_total',
      'Tokens by type, each apart from the others (input is uncached input, output excludes reasoning): their sum counts every token once.',
      'counter',
      () => flatMap(series(), (s) => TOKEN_TYPES.flatMap((type, i) => (s.tokens[i] === 0 ? [] : [{ labels: { ...s.labels, type }, value: s.tokens[i]! }]))),
    );
    register(registry, 'gateway_cost_usd_total', 'What answers cost, in USD, from the price table.', 'counter', () =>
      flatMap(series(), (s) => (s.costUsd === 0 ? [] : [{ labels: s.labels, value: s.costUsd }])),
    );
    register(registry, 'gateway_unpriced_requests_total', 'Answers with usage but no price for their model: their cost is unknown, not 0.', 'counter', () =>
      flatMap(series(), (s) => (s.unpriced === 0 ? [] : [{ labels: s.labels, value: s.unpriced }])),
    );
    register(registry, 'gateway_client_disconnects_total', 'Requests whose client left before the answer was complete.', 'counter', () =>
      flatMap(series(), (s) => (s.clientGone === 0 ? [] : [{ labels: s.labels, value: s.clientGone }])),
    );
    const attempts = () => this.attemptSeries.values();
    register(registry, 'gateway_attempts_total', 'Attempts and targets passed over, by provider, route, target and outcome.', 'counter', () =>
      flatMap(attempts(), (a) => [...(a.answered === 0 ? [] : [['answered', a.answered] as const]), ...a.outcomes].map(([outcome, value]) => ({ labels: { ...a.labels, outcome }, value }))),
    );
    register(registry, 'gateway_retries_total', 'Attempts that tried the same target again.', 'counter', () =>
      flatMap(attempts(), (a) => (a.retries === 0 ? [] : [{ labels: a.labels, value: a.retries }])),
    );
    register(registry, 'gateway_fallbacks_total', 'Attempts that moved on to another target after one failed or was passed over.', 'counter', () =>
      flatMap(attempts(), (a) => (a.fallbacks === 0 ? [] : [{ labels: a.labels, value: a.fallbacks }])),
    );
    register(registry, 'gateway_hedges_total', 'Attempts started beside one still running (a hedged route).', 'counter', () =>
      flatMap(attempts(), (a) => (a.hedges === 0 ? [] : [{ labels: a.labels, value: a.hedges }])),
    );
    register(registry, 'gateway_cache_requests_total', 'Requests of routes with a response cache, by route and result: hit (served from it), miss (answered and offered to it), bypass (Cache-Control or an unreadable body kept it apart).', 'counter', () =>
      flatMap(this.cacheResults, ([route, counts]) => CACHE_RESULTS.flatMap((result, i) => (counts[i] === 0 ? [] : [{ labels: { route, result }, value: counts[i]! }]))),
    );
    register(registry, 'gateway_requests_in_flight', 'Requests in progress.', 'gauge', () => [{ labels: {}, value: this.sources?.inFlight().requests ?? 0 }]);
    register(registry, 'gateway_open_streams', 'Streamed answers in progress.', 'gauge', () => [{ labels: {}, value: this.sources?.inFlight().streams ?? 0 }]);
    register(registry, 'gateway_breaker_state', 'Each route target\'s circuit breaker: 1 for its current state.', 'gauge', () =>
      flatMap(this.sources?.targets() ?? [], (t) => BREAKER_STATES.map((state) => ({ labels: { route: t.route, target: t.target, state }, value: t.breaker === state ? 1 : 0 }))),
    );
    register(registry, 'gateway_key_resting', 'Each route target\'s key: 1 while it rests (after a 429, or refused with 401/403).', 'gauge', () =>
      flatMap(this.sources?.targets() ?? [], (t) => [{ labels: { route: t.route, target: t.target }, value: t.resting ? 1 : 0 }]),
    );
    // Each worker of a cluster labels its own first models: the most any has says whether the bound is reached.
    register(
      registry,
      'gateway_model_labels',
      `Model names with a label of their own (at most ${options.maxModels} beyond the configured ones; the rest are "${OTHER_MODEL}").`,
      'gauge',
      () => [{ labels: {}, value: this.models.labelled }],
      'max',
    );
    client.collectDefaultMetrics({ register: registry });
    this.gather =
      options.clusterTimeoutMs === undefined
        ? async () => ({ text: await registry.metrics(), contentType: registry.contentType })
        : clusterWorkerScrape(registry, options.clusterTimeoutMs);
  }

  /** Where a scrape reads the in-flight counts and the route targets' health. */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  finished(record: RequestRecord): void {
    // Scrapes and health checks are the operator's, not traffic.
    if (record.provider === undefined && (record.path === METRICS_PATH || record.path === HEALTH_PATH)) return;
    const status = record.status;
    const provider = record.provider ?? '';
    const route = record.route ?? '';
    // A route's target ids are the operator's; a request without a route names none (its model has its own label).
    const target = record.route !== undefined ? (record.target ?? '') : '';
    const model = this.models.label(record.model, status >= 200 && status < 300);
    // Nested maps rather than one joined key: the API and provider names are the gateway's own
    // strings, whose hashes V8 keeps; only the model's is computed, and nothing is concatenated
    // for a request without a route.
    let byProvider = this.index.get(record.api);
    if (byProvider === undefined) this.index.set(record.api, (byProvider = new Map()));
    let byModel = byProvider.get(provider);
    if (byModel === undefined) byProvider.set(provider, (byModel = new Map()));
    let byRoute = byModel.get(model);
    if (byRoute === undefined) byModel.set(model, (byRoute = new Map()));
    const routeKey = route === '' ? '' : `${route}\u0000${target}`;
    let series = byRoute.get(routeKey);
    if (series === undefined) {
      series = new Series({ api: record.api, provider, model, route, target });
      byRoute.set(routeKey, series);
      this.series.push(series);
    }
    const classIndex = status >= 100 && status < 600 ? Math.floor(status / 100) : 5;
    const stats = (series.classes[classIndex] ??= new ClassStats());
    stats.requests++;
    stats.duration.observe(record.durationMs / 1000);
    if (record.ttfbMs !== undefined) stats.ttfb.observe(record.ttfbMs / 1000);
    if (record.clientGone) series.clientGone++;
    const usage = record.usage;
    if (usage !== undefined) addTokens(series.tokens, usage);
    if (record.costUsd !== undefined) series.costUsd += record.costUsd;
    else if (record.priced === false) series.unpriced++;
    if (record.cache !== undefined) this.countCache(route, record.cache);
    if (record.overheadMs !== undefined) (series.overhead ??= this.overheadOf(record.api, provider)).observe(record.overheadMs / 1000);
    const attempts = record.attempts;
    // A request without a route answered by its one attempt (nearly all) counts that attempt alone.
    if (attempts.length === 1 && route === '' && attempts[0]!.provider === provider) {
      const counts = (series.attempts ??= this.attemptOf(attempts[0]!, ''));
      if (attempts[0]!.outcome === 'answered') counts.answered++;
      else counts.count(outcomeLabel(attempts[0]!.outcome));
    } else if (attempts.length > 0) this.countAttempts(attempts, route);
  }

  private countCache(route: string, result: (typeof CACHE_RESULTS)[number]): void {
    let counts = this.cacheResults.get(route);
    if (counts === undefined) this.cacheResults.set(route, (counts = new Float64Array(CACHE_RESULTS.length)));
    counts[CACHE_RESULTS.indexOf(result)]!++;
  }

  private overheadOf(api: string, provider: string): Histogram {
    const key = `${api}\u0000${provider}`;
    let overhead = this.overhead.get(key);
    if (overhead === undefined) {
      overhead = { labels: { api, provider }, histogram: new Histogram(OVERHEAD_BUCKETS) };
      this.overhead.set(key, overhead);
    }
    return overhead.histogram;
  }

  private attemptOf(attempt: AttemptRecord, route: string): AttemptSeries {
    const target = route === '' ? '' : attempt.target;
    const key = `${attempt.provider}\u0000${route}\u0000${target}`;
    let series = this.attemptSeries.get(key);
    if (series === undefined) {
      series = new AttemptSeries({ provider: attempt.provider, route, target });
      this.attemptSeries.set(key, series);
    }
    return series;
  }

  /** Each attempt's outcome; a retry, a fallback or a hedge, by what came before it. */
  private countAttempts(attempts: readonly AttemptRecord[], route: string): void {
    let previous: string | undefined;
    for (const attempt of attempts) {
      const series = this.attemptOf(attempt, route);
      series.count(outcomeLabel(attempt.outcome));
      if (attempt.hedge === true) series.hedges++;
      else if (previous !== undefined) {
        if (attempt.startedAt !== undefined && previous === attempt.target) series.retries++;
        else if (attempt.startedAt !== undefined) series.fallbacks++;
      }
      previous = attempt.target;
    }
  }

  /** The exposition text, and its content type. */
  scrape(): Promise<Scrape> {
    return this.gather();
  }
}

/** Adds a usage's tokens by type, each apart: uncached input, cache reads, cache writes, output less reasoning, reasoning. */
function addTokens(tokens: Float64Array, usage: Usage): void {
  const cacheRead = usage.cacheReadTokens ?? 0;
  const cacheWrite = usage.cacheWriteTokens ?? 0;
  const reasoning = usage.reasoningTokens ?? 0;
  tokens[0]! += Math.max(0, usage.promptTokens - cacheRead - cacheWrite);
  tokens[1]! += cacheRead;
  tokens[2]! += cacheWrite;
  tokens[3]! += Math.max(0, usage.completionTokens - reasoning);
  tokens[4]! += reasoning;
}

/** An attempt's outcome as a label from a fixed set. */
function outcomeLabel(outcome: string): string {
  switch (outcome) {
    case 'answered':
    case 'lost':
    case 'cancelled':
    case 'network':
    case 'unreadable':
    case 'status':
      return outcome;
    case 'answered: broken':
      return 'broken';
    case 'attempt-timeout':
      return 'timeout';
    case 'skipped: breaker open':
      return 'skipped_breaker_open';
    case 'skipped: key resting':
      return 'skipped_key_resting';
    default:
      return outcome.startsWith('refused') ? 'refused' : 'other';
  }
}

function flatMap<T, U>(items: Iterable<T>, f: (item: T) => U[]): U[] {
  const out: U[] = [];
  for (const item of items) for (const value of f(item)) out.push(value);
  return out;
}

interface Value {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName?: string;
}

/**
 * A metric prom-client formats from values read when scraped: the registry takes any object with
 * a name and a get() in its metric shape.
 */
function register(
  registry: client.Registry,
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  values: () => Value[],
  aggregator: client.Aggregator = 'sum',
): void {
  // `aggregator`: how a cluster's primary combines the workers' values (cluster-metrics.ts).
  registry.registerMetric({ name, help, type, get: () => ({ name, help, type, values: values(), aggregator }) } as unknown as client.Metric);
}

/** A histogram as prom-client formats one: cumulative buckets with `le`, then `_sum` and `_count`. */
function registerHistogram(registry: client.Registry, name: string, help: string, series: () => { labels: Readonly<Record<string, string>>; histogram: Histogram }[]): void {
  register(registry, name, help, 'histogram', () => {
    const values: Value[] = [];
    for (const { labels, histogram } of series()) {
      let cumulative = 0;
      for (let i = 0; i < histogram.bounds.length; i++) {
        cumulative += histogram.counts[i]!;
        values.push({ labels: { ...labels, le: String(histogram.bounds[i]) }, value: cumulative, metricName: `${name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: histogram.count, metricName: `${name}_bucket` });
      values.push({ labels, value: histogram.sum, metricName: `${name}_sum` });
      values.push({ labels, value: histogram.count, metricName: `${name}_count` });
    }
    return values;
  });
}
