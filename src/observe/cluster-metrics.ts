// Metrics of a cluster (WORKERS > 1): whichever worker takes a scrape asks the primary, which asks
// every worker for its registry's series, sums them and answers the exposition text. A scrape thus
// reads one consistent number per gateway, not the numbers of the worker that took the connection.
//
// prom-client's AggregatorRegistry does the summing (each metric's own aggregator: sums, and the
// default metrics' averages, maxima and omissions). Its transport (clusterMetrics) is not used: it
// waits a fixed 5 s, then fails the whole scrape, and forgets a worker that died. Ours is bounded by
// METRICS_WORKER_TIMEOUT_MS, and keeps the counters a dead worker last reported, so that a sum never
// goes down when a worker is replaced (Prometheus would read a counter reset, and rate() a spike).
import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';
import { GatewayError } from '../errors.js';

type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;

export interface Scrape {
  readonly text: string;
  readonly contentType: string;
}

/** A worker asks the primary for a scrape of the whole cluster. */
interface ScrapeRequest {
  readonly type: 'ai-gateway:scrape';
  readonly id: number;
}
/** The primary's answer: the exposition text, or why there is none. */
interface ScrapeAnswer {
  readonly type: 'ai-gateway:scraped';
  readonly id: number;
  readonly text?: string;
  readonly contentType?: string;
  readonly error?: string;
}
/** A worker says it answers SeriesRequests: one just forked has no series yet, and no one to answer. */
interface SeriesReady {
  readonly type: 'ai-gateway:series-ready';
}
/** The primary asks each worker for its own series. */
interface SeriesRequest {
  readonly type: 'ai-gateway:series';
  readonly id: number;
}
interface SeriesAnswer {
  readonly type: 'ai-gateway:series-of';
  readonly id: number;
  readonly metrics?: MetricsJson;
  readonly error?: string;
}

/** Types whose values only grow: what a dead worker's last report keeps adding to the sum. */
const CUMULATIVE_TYPES: ReadonlySet<string> = new Set(['counter', 'histogram']);

/**
 * A worker's side: answers the primary's requests for this registry's series, and returns the
 * scrape to use for /metrics, which asks the primary for the sum over all workers. The wait is
 * bounded here too, beyond the primary's own bound, in case the primary's answer is lost.
 */
export function clusterWorkerScrape(registry: client.Registry, timeoutMs: number): () => Promise<Scrape> {
  process.on('message', (message: SeriesRequest) => {
    if (message?.type !== 'ai-gateway:series') return;
    registry.getMetricsAsJSON().then(
      (metrics) => tellPrimary({ type: 'ai-gateway:series-of', id: message.id, metrics } satisfies SeriesAnswer),
      (err: unknown) => tellPrimary({ type: 'ai-gateway:series-of', id: message.id, error: String(err) } satisfies SeriesAnswer),
    );
  });
  tellPrimary({ type: 'ai-gateway:series-ready' } satisfies SeriesReady);
  const pending = new Map<number, (answer: ScrapeAnswer) => void>();
  let nextId = 0;
  process.on('message', (message: ScrapeAnswer) => {
    if (message?.type !== 'ai-gateway:scraped') return;
    pending.get(message.id)?.(message);
  });
  // Twice the primary's bound: the primary answers by then unless it is itself stuck or gone.
  const waitMs = 2 * timeoutMs;
  return () =>
    new Promise<Scrape>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => settle({ type: 'ai-gateway:scraped', id, error: `the cluster primary did not answer within ${waitMs} ms` }), waitMs);
      const settle = (answer: ScrapeAnswer): void => {
        clearTimeout(timer);
        pending.delete(id);
        if (answer.text !== undefined && answer.contentType !== undefined) resolve({ text: answer.text, contentType: answer.contentType });
        else reject(new GatewayError(503, `The metrics could not be gathered: ${answer.error ?? 'no answer'}. Try again; if it persists, check the gateway's workers.`, 'metrics_unavailable', null, 'server_error'));
      };
      pending.set(id, settle);
      if (!tellPrimary({ type: 'ai-gateway:scrape', id } satisfies ScrapeRequest)) settle({ type: 'ai-gateway:scraped', id, error: 'this worker has lost its cluster primary' });
    });
}

/** Sends to the primary while the channel is open (a send on a closed one is an 'error' event, which would end the worker). */
function tellPrimary(message: SeriesAnswer | SeriesReady | ScrapeRequest): boolean {
  if (process.send === undefined || !process.connected) return false;
  process.send(message);
  return true;
}

/** One gathering of every worker's series, for one scrape. */
interface Gathering {
  readonly asker: Worker;
  readonly askerId: number;
  /** Workers (by cluster id) yet to answer. */
  readonly waiting: Set<number>;
  /** Each worker's answer, by cluster id. */
  readonly answers: Map<number, MetricsJson>;
  readonly timer: NodeJS.Timeout;
}

/**
 * The primary's side: gathers every worker's series for each scrape a worker asks for, within
 * `timeoutMs`, and answers the sum. A worker that does not answer in time fails the scrape (a 503)
 * rather than making the sums drop; a worker that exits meanwhile is not waited for, and what it
 * last reported of its counters and histograms stays in every later sum.
 */
export function serveClusterScrapes(timeoutMs: number): void {
  const gatherings = new Map<number, Gathering>();
  /** The workers (by cluster id) that answer for their series. */
  const ready = new Set<number>();
  /** Each live worker's last report, kept until it exits. */
  const lastReport = new Map<number, MetricsJson>();
  /** The counters and histograms of the workers that exited, summed (a promise: prom-client reads a registry asynchronously). */
  let retired: Promise<MetricsJson> = Promise.resolve([]);
  let nextId = 0;

  const finish = (id: number, error?: string): void => {
    const gathering = gatherings.get(id);
    if (gathering === undefined) return;
    gatherings.delete(id);
    clearTimeout(gathering.timer);
    const { asker, askerId } = gathering;
    if (error !== undefined) return send(asker, { type: 'ai-gateway:scraped', id: askerId, error });
    retired
      .then((exited) => {
        const registry = client.AggregatorRegistry.aggregate([...gathering.answers.values(), exited]);
        return registry.metrics().then((text) => send(asker, { type: 'ai-gateway:scraped', id: askerId, text, contentType: registry.contentType }));
      })
      .catch((err: unknown) => send(asker, { type: 'ai-gateway:scraped', id: askerId, error: String(err) }));
  };

  cluster.on('message', (worker: Worker, message: ScrapeRequest | SeriesAnswer | SeriesReady) => {
    if (message?.type === 'ai-gateway:series-ready') {
      ready.add(worker.id);
      return;
    }
    if (message?.type === 'ai-gateway:scrape') {
      const id = nextId++;
      const waiting = new Set<number>();
      const timer = setTimeout(() => {
        const late = [...waiting].map((workerId) => cluster.workers?.[workerId]?.process.pid ?? `#${workerId}`);
        finish(id, `worker${late.length === 1 ? '' : 's'} ${late.join(', ')} did not answer within ${timeoutMs} ms (METRICS_WORKER_TIMEOUT_MS)`);
      }, timeoutMs);
      gatherings.set(id, { asker: worker, askerId: message.id, waiting, answers: new Map(), timer });
      for (const each of Object.values(cluster.workers ?? {})) {
        if (each === undefined || !ready.has(each.id) || !each.isConnected()) continue;
        waiting.add(each.id);
        each.send({ type: 'ai-gateway:series', id } satisfies SeriesRequest);
      }
      return;
    }
    if (message?.type !== 'ai-gateway:series-of') return;
    const gathering = gatherings.get(message.id);
    if (gathering === undefined || !gathering.waiting.delete(worker.id)) return;
    if (message.metrics === undefined) return finish(message.id, `worker ${worker.process.pid} could not read its metrics: ${message.error ?? 'no answer'}`);
    gathering.answers.set(worker.id, message.metrics);
    lastReport.set(worker.id, message.metrics);
    if (gathering.waiting.size === 0) finish(message.id);
  });

  cluster.on('exit', (worker: Worker) => {
    const report = lastReport.get(worker.id);
    lastReport.delete(worker.id);
    ready.delete(worker.id);
    if (report !== undefined) {
      const cumulative = report.filter((metric) => CUMULATIVE_TYPES.has(metric.type as unknown as string));
      retired = retired.then(
        (exited) => client.AggregatorRegistry.aggregate([exited, cumulative]).getMetricsAsJSON(),
        () => cumulative,
      );
    }
    for (const [id, gathering] of gatherings) {
      // Its counters are in `retired` now: its answer to this scrape would count them twice.
      gathering.answers.delete(worker.id);
      if (gathering.waiting.delete(worker.id) && gathering.waiting.size === 0) finish(id);
    }
  });
}

function send(worker: Worker, message: ScrapeAnswer): void {
  // The asker may have exited meanwhile: nobody is left to answer.
  if (worker.isConnected()) worker.send(message);
}
