// Prometheus metrics: names, labels and values after a known set of requests (answers, failures, a
// retry, a fallback, a stream cut short, a client that left), the cardinality bound under a flood
// of model names, and who may scrape. Driven through the gateway and the simulators.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { closedPort, FALLBACK_ROUTE, GROQ_MODEL, KEY, MODEL, startGateway } from './helpers.js';


/** One sample of the exposition: its metric name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the gateway's label values hold no escaped quotes). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

async function scrape(origin: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; contentType: string }> {
  const res = await request(`${origin}/metrics`, { headers });
  return { status: res.statusCode, text: await res.body.text(), contentType: String(res.headers['content-type']) };
}

function chat(url: string, model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return request(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

const ROUTES = `
routes:${FALLBACK_ROUTE}`;

let fireworks: FireworksSim;
let groq: OpenAICompatibleSim;

before(async () => {
  fireworks = await startFireworksSim({ port: 0 });
  groq = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
});
after(async () => {
  await fireworks.close();
  await groq.close();
});

async function gatewayWith(env: Record<string, string>, yaml = ROUTES): Promise<{ server: GatewayServer; url: string; origin: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml);
  const { server, url } = await startGateway({
    CONFIG_FILE: file,
    FIREWORKS_BASE_URL: fireworks.url,
    GROQ_BASE_URL: groq.url,
    GROQ_API_KEY: 'sim-groq-key',
    ...env,
  });
  return { server, url, origin: url.slice(0, -3) };
}

describe('metrics after a known set of requests', () => {
  let gateway: Awaited<ReturnType<typeof gatewayWith>>;
  let samples: Sample[];

  before(async () => {
    gateway = await gatewayWith({ FIREWORKS_API_KEY: KEY, MAX_RETRIES: '2' });
    const { url } = gateway;
    // Two answers, a 400 the provider sends back, a retry that then answers.
    for (let i = 0; i < 2; i++) await (await chat(url, MODEL)).body.json();
    fireworks.queueFault({ status: 400 });
    await (await chat(url, MODEL)).body.json();
    fireworks.queueFault({ status: 503 });
    assert.equal((await chat(url, MODEL)).statusCode, 200);
    // A route whose primary fails over to the backup.
    fireworks.queueFault({ status: 503 });
    const routed = await chat(url, 'team-chat');
    await routed.body.json();
    assert.equal(routed.headers['x-gateway-target'], 'backup');
    // A stream cut after its first chunks: ended with an error event, not a clean finish.
    fireworks.queueFault({ cut_after: 1, chunks: 4 });
    const cut = await chat(url, MODEL, { stream: true });
    await cut.body.text();
    // A client that leaves a slow answer.
    fireworks.queueFault({ delay_ms: 2_000 });
    await request(`${url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      signal: AbortSignal.timeout(200),
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 2_300));
    const scraped = await scrape(gateway.origin);
    assert.equal(scraped.status, 200);
    assert.match(scraped.contentType, /^text\/plain; version=0\.0\.4/);
    samples = parse(scraped.text);
  });
  after(() => gateway.server.shutdown(100));

  test('requests are counted by API, provider, model and status class', () => {
    const labels = { api: 'chat', provider: 'fireworks', model: MODEL, route: '', target: '' };
    // 2 answers + the retried one + the cut stream (a 200 whose end was an error event) + the slow one that answered after its client left (499).
    assert.equal(total(samples, 'gateway_requests_total', { ...labels, status_class: '2xx' }), 4);
    assert.equal(total(samples, 'gateway_requests_total', { ...labels, status_class: '4xx' }), 2);
    assert.equal(total(samples, 'gateway_client_disconnects_total', labels), 1);
  });

  test('the route names its target, and its attempts show the fallback', () => {
    assert.equal(total(samples, 'gateway_requests_total', { route: 'team-chat', target: 'backup', provider: 'groq', model: GROQ_MODEL, status_class: '2xx' }), 1);
    assert.equal(total(samples, 'gateway_attempts_total', { route: 'team-chat', target: 'primary', outcome: 'status' }), 1);
    assert.equal(total(samples, 'gateway_attempts_total', { route: 'team-chat', target: 'backup', outcome: 'answered' }), 1);
    assert.equal(total(samples, 'gateway_fallbacks_total', { route: 'team-chat', target: 'backup' }), 1);
  });

  test('the retry is counted as a retry, its failed attempt by outcome', () => {
    assert.equal(total(samples, 'gateway_retries_total', { provider: 'fireworks', route: '' }), 1);
    // The retried 503, and the 400 the provider answered (passed on, not retried).
    assert.equal(total(samples, 'gateway_attempts_total', { provider: 'fireworks', route: '', outcome: 'status' }), 2);
    assert.equal(total(samples, 'gateway_attempts_total', { provider: 'fireworks', route: '', outcome: 'broken' }), 1);
  });

  test('histograms hold every request, with cumulative buckets', () => {
    const count = total(samples, 'gateway_request_duration_seconds_count', { provider: 'fireworks', route: '' });
    assert.equal(count, 6);
    const buckets = samples.filter((s) => s.name === 'gateway_request_duration_seconds_bucket' && s.labels.provider === 'fireworks' && s.labels.status_class === '2xx' && s.labels.route === '');
    const values = buckets.map((b) => b.value);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), 'cumulative');
    assert.equal(buckets.at(-1)!.labels.le, '+Inf');
    assert.ok(total(samples, 'gateway_overhead_seconds_count', { api: 'chat', provider: 'fireworks' }) >= 5);
    assert.ok(total(samples, 'gateway_time_to_first_byte_seconds_count', { provider: 'fireworks' }) >= 4);
  });

  test('tokens are counted by type, apart, with no total that double-counts', () => {
    const types = new Set(samples.filter((s) => s.name === 'gateway_tokens_total').map((s) => s.labels.type));
    assert.ok(types.has('input') && types.has('output'), [...types].join());
    assert.ok(!types.has('total'));
    assert.ok(total(samples, 'gateway_tokens_total', { provider: 'fireworks', type: 'input' }) > 0);
  });

  test('breaker state and key rests are read per route target', () => {
    assert.equal(total(samples, 'gateway_breaker_state', { route: 'team-chat', target: 'primary', state: 'closed' }), 1);
    assert.equal(total(samples, 'gateway_key_resting', { route: 'team-chat', target: 'backup' }), 0);
    assert.equal(total(samples, 'gateway_open_streams'), 0);
  });

  test('no label value is a key, and every metric has help and type', async () => {
    const { text } = await scrape(gateway.origin);
    assert.ok(!text.includes(KEY));
    assert.ok(!text.includes('sim-groq-key'));
    for (const name of ['gateway_requests_total', 'gateway_request_duration_seconds', 'gateway_tokens_total', 'gateway_cost_usd_total', 'gateway_attempts_total']) {
      assert.match(text, new RegExp(`# HELP ${name} `));
      assert.match(text, new RegExp(`# TYPE ${name} (counter|histogram|gauge)`));
    }
  });
});

describe('cardinality', () => {
  test('a flood of distinct model names leaves the series count bounded: beyond METRICS_MAX_MODELS they are "other"', async () => {
    const gateway = await gatewayWith({ FIREWORKS_API_KEY: KEY, METRICS_MAX_MODELS: '5' });
    try {
      // The simulator answers any user's model (accounts/<account>/models/<name>) with a 2xx.
      for (let i = 0; i < 60; i++) await (await chat(gateway.url, `accounts/flood/models/m-${i}`)).body.json();
      const samples = parse((await scrape(gateway.origin)).text);
      const models = new Set(samples.filter((s) => s.name === 'gateway_requests_total').map((s) => s.labels.model));
      // The route's configured models have a label without counting against the bound.
      assert.ok(models.size <= 5 + 1, [...models].join());
      assert.ok(models.has('other'));
      assert.equal(total(samples, 'gateway_requests_total', { model: 'other' }), 55);
      assert.equal(total(samples, 'gateway_model_labels'), 5);
      const before = samples.length;
      for (let i = 60; i < 200; i++) await (await chat(gateway.url, `accounts/flood/models/m-${i}`)).body.json();
      const later = parse((await scrape(gateway.origin)).text).filter((s) => !s.name.startsWith('process_') && !s.name.startsWith('nodejs_'));
      const earlier = samples.filter((s) => !s.name.startsWith('process_') && !s.name.startsWith('nodejs_'));
      const key = (s: Sample) => `${s.name}${JSON.stringify(s.labels)}`;
      const grown = later.map(key).filter((k) => !earlier.some((e) => key(e) === k));
      assert.deepEqual(grown, [], `series grew from ${earlier.length} to ${later.length} (of ${before} samples)`);
    } finally {
      await gateway.server.shutdown(100);
    }
  });

  test('a model the provider refuses gets no label of its own', async () => {
    const gateway = await gatewayWith({ FIREWORKS_API_KEY: KEY, METRICS_MAX_MODELS: '5' });
    try {
      fireworks.setDefaultFault({ status: 404 });
      for (let i = 0; i < 10; i++) await (await chat(gateway.url, `missing-model-${i}`)).body.json();
      fireworks.setDefaultFault(undefined);
      const samples = parse((await scrape(gateway.origin)).text);
      assert.equal(total(samples, 'gateway_requests_total', { model: 'other', status_class: '4xx' }), 10);
      assert.equal(total(samples, 'gateway_model_labels'), 0);
    } finally {
      fireworks.setDefaultFault(undefined);
      await gateway.server.shutdown(100);
    }
  });
});

describe('who may scrape', () => {
  test('with METRICS_TOKEN, /metrics asks for it', async () => {
    const gateway = await gatewayWith({ METRICS_TOKEN: 'scrape-secret-123' });
    try {
      const refused = await scrape(gateway.origin);
      assert.equal(refused.status, 401);
      assert.ok(!refused.text.includes('scrape-secret-123'));
      assert.equal((await scrape(gateway.origin, { authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await scrape(gateway.origin, { authorization: 'Bearer scrape-secret-123' })).status, 200);
    } finally {
      await gateway.server.shutdown(100);
    }
  });

  test('without a token, a request relayed by a proxy is refused (loopback readers)', async () => {
    const gateway = await gatewayWith({});
    try {
      const relayed = await scrape(gateway.origin, { 'x-forwarded-for': '203.0.113.9' });
      assert.equal(relayed.status, 403);
      assert.match(relayed.text, /METRICS_READERS=any/);
      assert.equal((await scrape(gateway.origin)).status, 200);
    } finally {
      await gateway.server.shutdown(100);
    }
  });

  test('METRICS_PORT serves /metrics on a port of its own, and the main port no longer does', async () => {
    const port = await closedPort();
    const gateway = await gatewayWith({ FIREWORKS_API_KEY: KEY, METRICS_PORT: String(port) });
    try {
      await (await chat(gateway.url, MODEL)).body.json();
      const own = await scrape(`http://127.0.0.1:${port}`);
      assert.equal(own.status, 200);
      assert.equal(total(parse(own.text), 'gateway_requests_total', { status_class: '2xx' }), 1);
      assert.equal((await scrape(gateway.origin)).status, 404);
    } finally {
      await gateway.server.shutdown(100);
    }
  });

  test('a reload that rotates METRICS_TOKEN applies on METRICS_PORT too, and one that changes telemetry says it needs a restart', async () => {
    const port = await closedPort();
    const before = 'metrics-token-before-0123456789';
    const rotated = 'metrics-token-after-0123456789';
    const gateway = await gatewayWith({ FIREWORKS_API_KEY: KEY, METRICS_PORT: String(port), METRICS_TOKEN: before });
    try {
      const own = `http://127.0.0.1:${port}`;
      assert.equal((await scrape(own, { authorization: `Bearer ${before}` })).status, 200);
      const config = gateway.server.gateway.config;
      const restart = gateway.server.reload({ ...config, METRICS_TOKEN: rotated, OTEL_METRIC_EXPORT_INTERVAL: 5_000, OTEL_TRACES_SAMPLER_ARG: 0.5 });
      assert.equal((await scrape(own, { authorization: `Bearer ${rotated}` })).status, 200, 'the new token opens it');
      assert.equal((await scrape(own, { authorization: `Bearer ${before}` })).status, 401, 'the old one no longer does');
      // Telemetry is set up once at start: the reload says so rather than seeming to apply it.
      assert.ok(restart.includes('OTEL_METRIC_EXPORT_INTERVAL') && restart.includes('OTEL_TRACES_SAMPLER_ARG'), restart.join(', '));
      assert.ok(!restart.includes('METRICS_TOKEN'));
    } finally {
      await gateway.server.shutdown(100);
    }
  });

  test('METRICS=off: no /metrics', async () => {
    const gateway = await gatewayWith({ METRICS: 'off' });
    try {
      assert.equal((await scrape(gateway.origin)).status, 404);
    } finally {
      await gateway.server.shutdown(100);
    }
  });
});
