// docs/observability.md and the Grafana dashboard against a live scrape: every metric the table
// lists is exposed with the type and labels it says, every gateway_* metric exposed is listed, and
// every metric and label the doc's examples and the dashboard's queries use exists. A metric
// renamed or relabelled in src/observe/metrics.ts fails here until the docs follow.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { parse as parseYaml } from 'yaml';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { FALLBACK_ROUTE, GROQ_MODEL, KEY, MODEL, startGateway } from './helpers.js';

const DOC = 'docs/observability.md';
const DASHBOARD = 'docs/grafana/ai-gateway.json';
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;
/** A metric name as the docs and queries write it. */
const METRIC_NAME = /\bgateway_[a-z0-9_]+/g;

/** What the scrape says of one metric: its declared type and the label names of its samples. */
interface Exposed {
  type: string;
  /** Each distinct set of label names its samples carry (le left out), as sorted, comma-joined text. */
  labelSets: Set<string>;
  /** Sample names seen: the name itself, or a histogram's _bucket, _sum and _count. */
  sampleNames: Set<string>;
}

/** The scrape's metrics by name, from its `# TYPE` lines and its samples. */
function exposition(text: string): Map<string, Exposed> {
  const metrics = new Map<string, Exposed>();
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (declared !== null) metrics.set(declared[1]!, { type: declared[2]!, labelSets: new Set(), sampleNames: new Set() });
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(sample, `a sample line: ${line}`);
    const name = sample[1]!;
    const base = metrics.has(name) ? name : HISTOGRAM_SUFFIXES.map((suffix) => (name.endsWith(suffix) ? name.slice(0, -suffix.length) : '')).find((b) => metrics.has(b));
    assert.ok(base !== undefined, `the sample ${name} follows its # TYPE line`);
    const labels = [...(sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)].map((m) => m[1]!).filter((l) => l !== 'le');
    const metric = metrics.get(base)!;
    metric.labelSets.add(labels.sort().join(','));
    metric.sampleNames.add(name);
  }
  return metrics;
}

/** A row of the doc's metric table. */
interface DocumentedMetric {
  name: string;
  type: string;
  labels: string[];
}

/** The rows of the first table under `## Metrics (Prometheus)` whose header starts `| metric | type | labels |`. */
function documentedMetrics(doc: string): DocumentedMetric[] {
  const section = doc.slice(doc.indexOf('## Metrics (Prometheus)'));
  const lines = section.split('\n');
  const header = lines.findIndex((l) => /^\| metric \| type \| labels \|/.test(l));
  assert.ok(header >= 0, `${DOC} has the metric table`);
  const rows: DocumentedMetric[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const name = /^`([a-z0-9_]+)`$/.exec(cells[0]!);
    assert.ok(name, `a metric name in backticks: ${line}`);
    rows.push({ name: name[1]!, type: cells[1]!, labels: [...cells[2]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!).sort() });
  }
  return rows;
}

/** The metric a name in a query stands for: itself, or the histogram whose sample it is. */
function metricOf(name: string, metrics: Map<string, Exposed>): string | undefined {
  if (metrics.has(name)) return name;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && metrics.get(base)?.type === 'histogram') return base;
  }
  return undefined;
}

const ROUTES = `
routes:${FALLBACK_ROUTE}  hedged:
    hedge:
      after_ms: 50
    targets:
      - provider: fireworks
        model: ${MODEL}
        id: slow
      - provider: groq
        model: ${GROQ_MODEL}
        id: fast
`;

function chat(url: string, model: string, extra: Record<string, unknown> = {}, signal?: AbortSignal) {
  return request(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
    signal,
  });
}

let fireworks: FireworksSim;
let groq: OpenAICompatibleSim;
let server: GatewayServer;
let metrics: Map<string, Exposed>;
let scrapeText: string;

before(async () => {
  fireworks = await startFireworksSim({ port: 0 });
  groq = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
  const file = join(mkdtempSync(join(tmpdir(), 'observability-docs-')), 'gateway.yaml');
  writeFileSync(file, ROUTES);
  const gateway = await startGateway({
    CONFIG_FILE: file,
    FIREWORKS_BASE_URL: fireworks.url,
    FIREWORKS_API_KEY: KEY,
    GROQ_BASE_URL: groq.url,
    GROQ_API_KEY: 'sim-groq-key',
  });
  server = gateway.server;
  const url = gateway.url;
  // Traffic that gives every series kind a sample: an answer, a stream, a retry, a route's
  // fallback, a hedge, a provider's 400, and a client that leaves.
  await (await chat(url, MODEL)).body.json();
  await (await chat(url, MODEL, { stream: true, stream_options: { include_usage: true } })).body.text();
  fireworks.queueFault({ status: 503 });
  await (await chat(url, MODEL)).body.json();
  fireworks.queueFault({ status: 400 });
  await (await chat(url, MODEL)).body.json();
  fireworks.queueFault({ status: 503 });
  await (await chat(url, 'team-chat')).body.json();
  fireworks.queueFault({ delay_ms: 1_000 });
  await (await chat(url, 'hedged', { stream: true })).body.text();
  fireworks.queueFault({ delay_ms: 1_000 });
  await chat(url, MODEL, {}, AbortSignal.timeout(100)).catch(() => undefined);
  // The left request's record is made when the slow answer's response closes.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  const res = await request(`${url.slice(0, -3)}/metrics`);
  assert.equal(res.statusCode, 200);
  scrapeText = await res.body.text();
  metrics = exposition(scrapeText);
});

after(async () => {
  await server?.shutdown(100);
  await fireworks?.close();
  await groq?.close();
});

describe('docs/observability.md', () => {
  test('every metric of the table is exposed, with the type the table gives', () => {
    const documented = documentedMetrics(readFileSync(DOC, 'utf8'));
    assert.ok(documented.length > 0);
    for (const { name, type } of documented) {
      const exposed = metrics.get(name);
      assert.ok(exposed, `${name} (in the table) is not in the scrape`);
      assert.equal(exposed.type, type, `${name}'s type`);
    }
  });

  test('every gateway_* metric exposed is in the table', () => {
    const documented = new Set(documentedMetrics(readFileSync(DOC, 'utf8')).map((m) => m.name));
    const missing = [...metrics.keys()].filter((name) => name.startsWith('gateway_') && !documented.has(name));
    assert.deepEqual(missing, [], 'metrics exposed but not documented');
  });

  test('each metric with samples carries the labels the table gives, a histogram its _bucket, _sum and _count', () => {
    let withSamples = 0;
    for (const { name, type, labels } of documentedMetrics(readFileSync(DOC, 'utf8'))) {
      const exposed = metrics.get(name)!;
      if (exposed.sampleNames.size === 0) continue;
      withSamples++;
      assert.deepEqual([...exposed.labelSets], [labels.join(',')], `${name}'s labels`);
      if (type === 'histogram') assert.deepEqual([...exposed.sampleNames].sort(), HISTOGRAM_SUFFIXES.map((s) => name + s).sort());
    }
    // The traffic above gives a sample to all but the cost metrics, which need a price table.
    assert.ok(withSamples >= 15, `${withSamples} documented metrics had samples`);
  });

  test('every gateway_* name the doc uses (examples, queries) is exposed', () => {
    const doc = readFileSync(DOC, 'utf8');
    const unknown = [...new Set(doc.match(METRIC_NAME) ?? [])].filter((name) => metricOf(name, metrics) === undefined);
    assert.deepEqual(unknown, []);
  });

  test('the scrape configs are YAML a Prometheus reads: jobs scraping /metrics', () => {
    const doc = readFileSync(DOC, 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes('scrape_configs'));
    assert.ok(blocks.length > 0, 'a scrape config example');
    for (const block of blocks) {
      const jobs = (parseYaml(block) as { scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] }).scrape_configs;
      assert.ok(jobs.length > 0);
      for (const job of jobs) {
        assert.equal(typeof job.job_name, 'string');
        assert.equal(job.metrics_path ?? '/metrics', '/metrics');
        assert.ok(job.static_configs[0]!.targets.length > 0);
      }
    }
  });
});

interface Panel {
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string }[];
  panels?: Panel[];
}

describe('docs/grafana/ai-gateway.json', () => {
  const dashboard = () =>
    JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      schemaVersion: number;
      __inputs: { name: string; type: string; pluginId: string }[];
      panels: Panel[];
      templating: { list: { name: string; query: string | { query: string }; datasource?: { uid?: string } }[] };
    };
  const panels = () => dashboard().panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  const queries = () => [
    ...panels().flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')),
    ...dashboard().templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query)),
  ];

  test('is an importable dashboard: schema 39 or later, a Prometheus data source input, every panel with a data source and a query', () => {
    const board = dashboard();
    assert.ok(board.schemaVersion >= 39, `schemaVersion ${board.schemaVersion}`);
    assert.ok(board.__inputs.some((input) => input.name === 'DS_PROMETHEUS' && input.type === 'datasource' && input.pluginId === 'prometheus'));
    assert.ok(panels().length >= 10);
    for (const panel of panels()) {
      assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', `${panel.title}'s data source`);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has a query`);
      for (const target of panel.targets!) assert.match(target.expr ?? '', new RegExp(METRIC_NAME.source), `${panel.title}: a query of the gateway's metrics`);
    }
    const variables = board.templating.list.map((v) => v.name);
    for (const name of ['provider', 'model', 'route']) assert.ok(variables.includes(name), `a ${name} variable`);
  });

  test('every gateway_* metric its queries use is exposed, and every label they select or group by is one it has', () => {
    const documented = new Map(documentedMetrics(readFileSync(DOC, 'utf8')).map((m) => [m.name, m.labels]));
    for (const expr of queries()) {
      const names = [...new Set(expr.match(METRIC_NAME) ?? [])];
      for (const name of names) assert.ok(metricOf(name, metrics) !== undefined, `${name} in ${expr}`);
      const labelsOf = (name: string) => {
        const metric = metricOf(name, metrics)!;
        const labels = documented.get(metric) ?? [];
        return metrics.get(metric)!.type === 'histogram' && name.endsWith('_bucket') ? [...labels, 'le'] : labels;
      };
      // A selector's labels belong to its metric.
      for (const selector of expr.matchAll(/\b(gateway_[a-z0-9_]+)\{([^}]*)\}/g)) {
        for (const label of selector[2]!.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)) {
          assert.ok(labelsOf(selector[1]!).includes(label[1]!), `${selector[1]} has no label ${label[1]}: ${expr}`);
        }
      }
      // A label grouped by belongs to every metric of the expression, or the groups do not match.
      for (const group of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const label of group[1]!.split(',').map((l) => l.trim()).filter((l) => l !== '')) {
          for (const name of names) assert.ok(labelsOf(name).includes(label), `${name} has no label ${label} to group by: ${expr}`);
        }
      }
    }
  });
});
