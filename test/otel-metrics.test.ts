// The GenAI histograms aggregated by the gateway (otel-metrics.ts) and handed to the SDK's reader:
// their buckets as the SDK's (inclusive upper bounds), cumulative and delta collections, and the
// model bound that keeps a flood of client-chosen model names to a fixed number of series.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { loadConfig } from '../src/config.js';
import { TraceDecision } from '../src/observe/otel.js';
import { GenAiHistogram, GenAiMetrics, SeriesTable, type Series } from '../src/observe/otel-metrics.js';
import { ModelLabels, OTHER_MODEL } from '../src/observe/records.js';

const SCOPE = { name: 'ai-gateway', version: 'test' };

async function collected(temporality: AggregationTemporality, histogram: GenAiHistogram, rounds: ((h: GenAiHistogram) => void)[]): Promise<HistogramMetricData[]> {
  const resource = resourceFromAttributes({ 'service.name': 'test' });
  const producer = new GenAiMetrics(resource, SCOPE, [histogram]);
  const exporter = new InMemoryMetricExporter(temporality);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000, metricProducers: [producer] });
  producer.readBy(reader);
  const provider = new MeterProvider({ resource, readers: [reader] });
  const out: HistogramMetricData[] = [];
  for (const round of rounds) {
    round(histogram);
    const { resourceMetrics } = await reader.collect();
    assert.equal(resourceMetrics.resource.attributes['service.name'], 'test', "the SDK's resource");
    const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === SCOPE.name);
    out.push(scope?.metrics[0] as HistogramMetricData);
  }
  await provider.shutdown();
  return out;
}

describe('GenAI histograms', () => {
  test('a value on a boundary counts in that bucket (inclusive upper bounds); beyond the last, in the overflow bucket', async () => {
    const histogram = new GenAiHistogram('h', 's', 'd', [1, 4, 16]);
    const series = histogram.newSeries({ 'gen_ai.operation.name': 'chat' });
    histogram.newSeries({ 'gen_ai.operation.name': 'unused' });
    const [data] = await collected(AggregationTemporality.CUMULATIVE, histogram, [
      () => {
        for (const value of [0.5, 1, 1.5, 4, 16, 17, 1000]) series.record(value);
      },
    ]);
    assert.equal(data!.dataPoints.length, 1, 'a series with no recording is not exported');
    const point = data!.dataPoints[0]!;
    assert.deepEqual(point.value.buckets, { boundaries: [1, 4, 16], counts: [2, 2, 1, 2] });
    assert.equal(point.value.count, 7);
    assert.equal(point.value.sum, 0.5 + 1 + 1.5 + 4 + 16 + 17 + 1000);
    assert.equal(point.value.min, 0.5);
    assert.equal(point.value.max, 1000);
    assert.deepEqual(point.attributes, { 'gen_ai.operation.name': 'chat' });
  });

  test('one series per row of values, its attributes made once; cumulative collections keep counting, delta ones start again', async () => {
    let made = 0;
    const table = (h: GenAiHistogram) =>
      new SeriesTable(([operation, model]) => {
        made++;
        return h.newSeries({ 'gen_ai.operation.name': operation, 'gen_ai.request.model': model });
      });
    let rows: SeriesTable<Series> | undefined;
    const record = (h: GenAiHistogram) => {
      rows ??= table(h);
      rows.get(['chat', 'a']).record(1);
      rows.get(['chat', 'a']).record(2);
      rows.get(['chat', 'b']).record(3);
    };
    const cumulative = await collected(AggregationTemporality.CUMULATIVE, new GenAiHistogram('h', 's', 'd', [10]), [record, record]);
    assert.equal(made, 2, 'attributes built once per series');
    rows = undefined;
    assert.equal(cumulative[1]!.aggregationTemporality, AggregationTemporality.CUMULATIVE);
    assert.deepEqual(
      cumulative[1]!.dataPoints.map((p) => [p.attributes['gen_ai.request.model'], p.value.count, p.value.sum]),
      [
        ['a', 4, 6],
        ['b', 2, 6],
      ],
    );
    assert.deepEqual(cumulative[0]!.dataPoints[0]!.startTime, cumulative[1]!.dataPoints[0]!.startTime, 'a cumulative series keeps its start');

    const delta = await collected(AggregationTemporality.DELTA, new GenAiHistogram('h', 's', 'd', [10]), [record, () => {}, record]);
    assert.equal(delta[0]!.aggregationTemporality, AggregationTemporality.DELTA);
    assert.deepEqual(
      delta[0]!.dataPoints.map((p) => p.value.count),
      [2, 1],
    );
    assert.equal(delta[1], undefined, 'nothing recorded since the last collection: no data');
    assert.deepEqual(
      delta[2]!.dataPoints.map((p) => p.value.count),
      [2, 1],
      'each delta counts its own interval',
    );
  });

  test('model names: the configured ones and the first N answered keep their own; a flood of others is one series', () => {
    const models = new ModelLabels(3, ['configured']);
    assert.equal(models.label('configured', false), 'configured');
    assert.equal(models.label('refused-model', false), OTHER_MODEL, 'a model never answered takes no place in the bound');
    const histogram = new GenAiHistogram('h', 's', 'd', [1]);
    const rows = new SeriesTable(([model]) => histogram.newSeries({ 'gen_ai.request.model': model }));
    for (let i = 0; i < 10_000; i++) rows.get([models.label(`client-model-${i}`, true)]).record(1);
    assert.equal(models.labelled, 3);
    assert.equal(models.label('client-model-1', true), 'client-model-1', 'a labelled model keeps its label');
    const data = histogram.collect([0, 0], [0, 0], AggregationTemporality.CUMULATIVE, false)!;
    assert.deepEqual(
      data.dataPoints.map((p) => [p.attributes['gen_ai.request.model'], p.value.count]),
      [
        ['client-model-0', 1],
        ['client-model-1', 1],
        ['client-model-2', 1],
        [OTHER_MODEL, 9_997],
      ],
    );
  });
});

describe('which traces are recorded (TraceDecision)', () => {
  const decide = (sampler: string, ratio: string, parent: boolean | undefined, times = 2_000) => {
    const decision = new TraceDecision(loadConfig({ OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: ratio }));
    let recorded = 0;
    for (let i = 0; i < times; i++) if (decision.record(parent)) recorded++;
    return recorded / times;
  };

  test('parent-based samplers follow the incoming flag; the others decide alone', () => {
    assert.equal(decide('parentbased_always_on', '1', undefined), 1);
    assert.equal(decide('parentbased_always_on', '1', false), 0, 'a client that did not sample is followed');
    assert.equal(decide('parentbased_always_off', '1', undefined), 0);
    assert.equal(decide('parentbased_always_off', '1', true), 1, 'a client that sampled is followed');
    assert.equal(decide('parentbased_traceidratio', '0', true), 1);
    assert.equal(decide('parentbased_traceidratio', '0', undefined), 0);
    assert.equal(decide('always_on', '1', false), 1, 'always_on ignores the parent');
    assert.equal(decide('always_off', '1', true), 0, 'always_off ignores the parent');
  });

  test('a ratio keeps about that share of traces', () => {
    const share = decide('traceidratio', '0.25', undefined, 20_000);
    assert.ok(share > 0.22 && share < 0.28, `kept ${share}`);
    assert.equal(decide('traceidratio', '1', false), 1);
  });
});
