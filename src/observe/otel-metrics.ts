// The GenAI histograms, aggregated here and handed to the OpenTelemetry SDK at each collection as a
// MetricProducer. The SDK's own instruments hash every recording's attributes (sorted, as JSON) to
// find its series: several microseconds a request. Here a recording finds its series by a key the
// caller joins from values it already holds, and builds the attributes object once per series.
// Imported only with the rest of otel.ts, when an OTLP endpoint is configured.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  type CollectionResult,
  type HistogramMetricData,
  type MetricProducer,
  type MetricReader,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';

/** One series of a histogram: the counts per bucket and the summary of its recordings. */
export class Series {
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    readonly attributes: Attributes,
    private readonly boundaries: readonly number[],
  ) {
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
  }

  record(value: number): void {
    const boundaries = this.boundaries;
    let bucket = 0;
    while (bucket < boundaries.length && value > boundaries[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.sum += value;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** Starts again (delta temporality), keeping its place. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }
}

/** A histogram with explicit bucket boundaries (inclusive upper bounds, as the SDK's). */
export class GenAiHistogram {
  private readonly series: Series[] = [];

  constructor(
    readonly name: string,
    readonly unit: string,
    readonly description: string,
    readonly boundaries: readonly number[],
  ) {}

  /** A new series with these attributes; the caller keeps it and finds it again (SeriesTable). */
  newSeries(attributes: Attributes): Series {
    const series = new Series(attributes, this.boundaries);
    this.series.push(series);
    return series;
  }

  /** The series with recordings as the SDK's data; with `reset`, they start again (delta temporality). */
  collect(startTime: HrTime, endTime: HrTime, temporality: AggregationTemporality, reset: boolean): HistogramMetricData | undefined {
    const dataPoints = [];
    for (const s of this.series) {
      if (s.count === 0) continue;
      dataPoints.push({
        startTime,
        endTime,
        attributes: s.attributes,
        value: { buckets: { boundaries: [...this.boundaries], counts: [...s.counts] }, sum: s.sum, count: s.count, min: s.min, max: s.max },
      });
      if (reset) s.reset();
    }
    if (dataPoints.length === 0) return undefined;
    return {
      descriptor: { name: this.name, description: this.description, unit: this.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

/**
 * Rows of series found by the values their attributes are made of, one nested map per value: a
 * lookup hashes no joined key and builds no attributes (those are made once, with the row).
 */
export class SeriesTable<Row> {
  private readonly root = new Map<string, unknown>();

  constructor(private readonly make: (values: readonly string[]) => Row) {}

  get(values: readonly string[]): Row {
    let map = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = map.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) map.set(values[i]!, (next = new Map()));
      map = next;
    }
    let row = map.get(values[last]!) as Row | undefined;
    if (row === undefined) map.set(values[last]!, (row = this.make(values)));
    return row;
  }
}

/**
 * The histograms as one scope's metrics, for a MetricReader's `metricProducers`. Cumulative unless
 * the reader's exporter prefers delta (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
 */
export class GenAiMetrics implements MetricProducer {
  private reader: MetricReader | undefined;
  private startedAt: number = Date.now();

  constructor(
    private readonly resource: Resource,
    private readonly scope: InstrumentationScope,
    readonly histograms: readonly GenAiHistogram[],
  ) {}

  /** The reader whose exporter says which temporality it wants. */
  readBy(reader: MetricReader): void {
    this.reader = reader;
  }

  async collect(): Promise<CollectionResult> {
    const temporality = this.reader?.selectAggregationTemporality(InstrumentType.HISTOGRAM) ?? AggregationTemporality.CUMULATIVE;
    const delta = temporality === AggregationTemporality.DELTA;
    const now = Date.now();
    const startTime = millisToHrTime(this.startedAt);
    const endTime = millisToHrTime(now);
    if (delta) this.startedAt = now;
    const metrics = [];
    for (const histogram of this.histograms) {
      const data = histogram.collect(startTime, endTime, temporality, delta);
      if (data !== undefined) metrics.push(data);
    }
    const scopeMetrics: ScopeMetrics[] = metrics.length === 0 ? [] : [{ scope: this.scope, metrics }];
    // The reader keeps only the scopes of its producers' results (under the SDK's resource, this one).
    return { resourceMetrics: { resource: this.resource, scopeMetrics }, errors: [] };
  }
}
