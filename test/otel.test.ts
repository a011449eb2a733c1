// OpenTelemetry: a real OTLP/HTTP receiver decodes what the SDK sends for a routed, retried,
// translated stream (a Fireworks primary answering 503 twice, then Anthropic's API translated to
// chat): one SERVER span child of the client's traceparent, a CLIENT span per attempt, each
// attempt's context in the traceparent its provider received, the GenAI attributes, and the GenAI
// metrics with the conventions' buckets. Without an endpoint, no @opentelemetry module is loaded.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { usageAttributes } from '../src/observe/otel.js';
import { startTelemetry } from '../src/observe/telemetry.js';
import { createGatewayServer, type GatewayServer } from '../src/server.js';
import { LOADED_MARK } from './otel-load-probe.js';
import { KEY, MODEL, startGatewayProcess } from './helpers.js';

const CLAUDE = 'claude-sonnet-4-5';
const ROUTE = 'team-chat';
/** The client's own trace: the gateway's server span must be its child. */
const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface OtlpHistogramPoint {
  attributes: { key: string; value: OtlpValue }[];
  count: number | string;
  sum?: number;
  explicitBounds: number[];
}
interface OtlpMetric {
  name: string;
  unit?: string;
  histogram?: { dataPoints: OtlpHistogramPoint[] };
}

/** An OTLP/HTTP receiver on 127.0.0.1: every JSON body posted to /v1/traces and /v1/metrics. */
interface Receiver {
  server: Server;
  url: string;
  traces: any[];
  metrics: any[];
  contentTypes: Set<string>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = { server: undefined as unknown as Server, url: '', traces: [], metrics: [], contentTypes: new Set() };
  receiver.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.contentTypes.add(String(req.headers['content-type']));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (req.url === '/v1/traces') receiver.traces.push(body);
      else if (req.url === '/v1/metrics') receiver.metrics.push(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as { port: number }).port}`;
  return receiver;
}

function spansOf(receiver: Receiver): OtlpSpan[] {
  return receiver.traces.flatMap((body) => body.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans as OtlpSpan[])));
}

function metricsOf(receiver: Receiver): Map<string, OtlpMetric> {
  const metrics = new Map<string, OtlpMetric>();
  for (const body of receiver.metrics) {
    for (const r of body.resourceMetrics) for (const s of r.scopeMetrics) for (const m of s.metrics as OtlpMetric[]) metrics.set(m.name, m);
  }
  return metrics;
}

function valueOf(value: OtlpValue | undefined): string | number | boolean | undefined {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue;
}

function attrs(item: { attributes: { key: string; value: OtlpValue }[] }): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries(item.attributes.map((a) => [a.key, valueOf(a.value)]));
}

function resourceAttrs(receiver: Receiver): Record<string, unknown> {
  return attrs(receiver.traces[0].resourceSpans[0].resource);
}

/** A gateway with OpenTelemetry set up from `env` (Fireworks at the simulator), listening on loopback; and an OpenAI client of it. */
async function otelGateway(fireworksUrl: string, env: Record<string, string>, headers: Record<string, string> = {}): Promise<{ gateway: GatewayServer; client: OpenAI }> {
  const config = loadConfig({ LOG_LEVEL: 'silent', FIREWORKS_BASE_URL: fireworksUrl, FIREWORKS_API_KEY: KEY, ...env });
  const logger = createLogger(config.LOG_LEVEL);
  const gateway = createGatewayServer(config, logger, { telemetry: await startTelemetry(config, logger) });
  const address = await gateway.listen(0, '127.0.0.1');
  return { gateway, client: new OpenAI({ baseURL: `http://127.0.0.1:${address.port}/v1`, apiKey: KEY, maxRetries: 0, defaultHeaders: headers }) };
}

describe('OpenTelemetry', () => {
  let receiver: Receiver;
  let fireworks: FireworksSim;
  let claude: AnthropicSim;

  before(async () => {
    receiver = await startReceiver();
    fireworks = await startFireworksSim({ port: 0 });
    claude = await startAnthropicSim({ port: 0 });
  });
  after(async () => {
    await Promise.all([fireworks.close(), claude.close(), new Promise((resolve) => receiver.server.close(resolve))]);
  });

  test('a routed, retried, translated stream: its span tree, its attributes and the GenAI metrics reach an OTLP/HTTP receiver', async () => {
    // The primary answers 503 to every attempt: its first try and its one retry fail, then Anthropic answers.
    fireworks.setDefaultFault({ status: 503 });
    const dir = mkdtempSync(join(tmpdir(), 'otel-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      `routes:\n  ${ROUTE}:\n    targets:\n      - {provider: fireworks, model: ${MODEL}, id: primary, max_retries: 1}\n      - {provider: anthropic, model: ${CLAUDE}, id: backup}\n`,
    );
    const config = loadConfig({
      CONFIG_FILE: file,
      LOG_LEVEL: 'silent',
      RETRY_BASE_DELAY_MS: '1',
      RETRY_MAX_DELAY_MS: '5',
      FIREWORKS_BASE_URL: fireworks.url,
      FIREWORKS_API_KEY: KEY,
      ANTHROPIC_BASE_URL: claude.url,
      ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // Sent once, at shutdown: the test reads one complete export.
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    const logger = createLogger(config.LOG_LEVEL);
    const telemetry = await startTelemetry(config, logger);
    assert.ok(telemetry !== undefined, 'an OTLP endpoint turns telemetry on');
    const gateway = createGatewayServer(config, logger, { telemetry });
    const address = await gateway.listen(0, '127.0.0.1');
    const client = new OpenAI({
      baseURL: `http://127.0.0.1:${address.port}/v1`,
      apiKey: 'unused',
      maxRetries: 0,
      defaultHeaders: { traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01` },
    });
    let text = '';
    try {
      const stream = await client.chat.completions.create({
        model: ROUTE,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Say hello' }],
      });
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    } finally {
      // The gateway's shutdown flushes its telemetry: every span and metric is sent by the time it resolves.
      await gateway.shutdown(1_000);
      fireworks.setDefaultFault(undefined);
    }
    assert.ok(text.length > 0, 'the stream carried the answer');
    assert.deepEqual([...receiver.contentTypes], ['application/json']);

    // The resource names the service.
    assert.equal(resourceAttrs(receiver)['service.name'], 'ai-gateway');

    const spans = spansOf(receiver);
    const servers = spans.filter((span) => span.kind === SPAN_KIND_SERVER);
    const clients = spans.filter((span) => span.kind === SPAN_KIND_CLIENT).sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    assert.equal(servers.length, 1, 'one server span for the request');
    assert.equal(clients.length, 3, 'a client span per attempt: two at the primary, one at the backup');
    const server = servers[0]!;
    assert.equal(server.traceId, CLIENT_TRACE_ID, "the request's trace is the client's");
    assert.equal(server.parentSpanId, CLIENT_SPAN_ID, "the server span is the child of the client's span");
    assert.equal(server.name, `chat ${ROUTE}`);
    for (const span of clients) {
      assert.equal(span.traceId, CLIENT_TRACE_ID);
      assert.equal(span.parentSpanId, server.spanId, 'each attempt is a child of the server span');
    }

    // Each provider received its own attempt's span as the parent in traceparent.
    const received = [...fireworks.requests, ...claude.requests].map((request) => {
      const match = TRACEPARENT.exec(String(request.headers.traceparent));
      assert.ok(match, `a traceparent reached the provider: ${String(request.headers.traceparent)}`);
      return { traceId: match[1], spanId: match[2] };
    });
    assert.deepEqual(
      received,
      clients.map((span) => ({ traceId: CLIENT_TRACE_ID, spanId: span.spanId })),
    );

    const [first, retry, backup] = clients.map(attrs);
    for (const [i, failed] of [first, retry].entries()) {
      assert.equal(clients[i]!.name, `chat ${MODEL}`);
      assert.equal(clients[i]!.status?.code, STATUS_ERROR);
      assert.equal(failed!['gen_ai.operation.name'], 'chat');
      assert.equal(failed!['gen_ai.provider.name'], 'fireworks');
      assert.equal(failed!['gen_ai.request.model'], MODEL);
      assert.equal(failed!['error.type'], '503');
      assert.equal(failed!['server.address'], '127.0.0.1');
      assert.equal(failed!['server.port'], Number(new URL(fireworks.url).port));
      assert.equal(failed!['gateway.route'], ROUTE);
      assert.equal(failed!['gateway.target'], 'primary');
      assert.equal(failed!['gateway.attempt'], i + 1);
      assert.equal(failed!['gen_ai.usage.input_tokens'], undefined);
    }
    assert.equal(clients[2]!.name, `chat ${CLAUDE}`);
    assert.notEqual(clients[2]!.status?.code, STATUS_ERROR);
    assert.equal(backup!['gen_ai.provider.name'], 'anthropic');
    assert.equal(backup!['gen_ai.request.model'], CLAUDE);
    assert.equal(backup!['server.port'], Number(new URL(claude.url).port));
    assert.equal(backup!['gateway.target'], 'backup');
    assert.equal(backup!['gateway.attempt'], 3);
    assert.equal(backup!['error.type'], undefined);
    assert.equal(backup!['gen_ai.system'], undefined, 'the deprecated attribute is not used');
    const input = backup!['gen_ai.usage.input_tokens'];
    const output = backup!['gen_ai.usage.output_tokens'];
    assert.ok(typeof input === 'number' && input > 0, `input tokens: ${String(input)}`);
    assert.ok(typeof output === 'number' && output > 1, `output tokens: ${String(output)}`);

    const request = attrs(server);
    assert.equal(request['gen_ai.operation.name'], 'chat');
    assert.equal(request['gen_ai.request.model'], ROUTE);
    assert.equal(request['gen_ai.provider.name'], 'anthropic');
    assert.equal(request['gateway.route'], ROUTE);
    assert.equal(request['gateway.target'], 'backup');
    assert.equal(request['gen_ai.usage.input_tokens'], input);
    assert.equal(request['gen_ai.usage.output_tokens'], output);
    assert.equal(request['http.response.status_code'], 200);
    assert.equal(request['error.type'], undefined);
    assert.equal(request['gen_ai.input.messages'], undefined, 'no content unless the operator opts in');
    // The server span starts at the request's arrival, before its first attempt, and ends after the answer's first byte.
    assert.ok(BigInt(server.startTimeUnixNano) <= BigInt(clients[0]!.startTimeUnixNano));
    assert.ok(BigInt(server.endTimeUnixNano) > BigInt(clients[2]!.startTimeUnixNano));

    const metrics = metricsOf(receiver);
    const points = (name: string): OtlpHistogramPoint[] => {
      const metric = metrics.get(name);
      assert.ok(metric?.histogram !== undefined, `${name} was exported as a histogram`);
      return metric.histogram.dataPoints;
    };
    const total = (list: OtlpHistogramPoint[]): number => list.reduce((sum, point) => sum + Number(point.count), 0);

    const durations = points('gen_ai.client.operation.duration');
    assert.equal(total(durations), 3, 'one duration per attempt');
    const failedDurations = durations.filter((point) => attrs(point)['error.type'] === '503');
    assert.equal(total(failedDurations), 2);
    assert.equal(attrs(failedDurations[0]!)['gen_ai.provider.name'], 'fireworks');
    assert.deepEqual(durations[0]!.explicitBounds, [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]);

    const tokens = points('gen_ai.client.token.usage');
    const byType = new Map(tokens.map((point) => [attrs(point)['gen_ai.token.type'], point]));
    assert.deepEqual([...byType.keys()].sort(), ['input', 'output'], 'input and output, never a total');
    assert.equal(byType.get('input')!.sum, input);
    assert.equal(byType.get('output')!.sum, output);
    assert.equal(attrs(byType.get('output')!)['gen_ai.provider.name'], 'anthropic');
    assert.deepEqual(tokens[0]!.explicitBounds, [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]);

    const firstChunk = points('gen_ai.client.operation.time_to_first_chunk');
    assert.equal(total(firstChunk), 1, 'the answering stream alone has a first chunk');
    assert.deepEqual(firstChunk[0]!.explicitBounds, [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]);
    const perChunk = points('gen_ai.client.operation.time_per_output_chunk');
    assert.equal(total(perChunk), 1);
    assert.deepEqual(perChunk[0]!.explicitBounds, [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]);

    const requestDuration = points('gen_ai.server.request.duration');
    assert.equal(total(requestDuration), 1);
    assert.equal(attrs(requestDuration[0]!)['gen_ai.request.model'], ROUTE);
    assert.equal(total(points('gen_ai.server.time_to_first_token')), 1);
    assert.equal(total(points('gen_ai.server.time_per_output_token')), 1);
  });

  test('content only when the operator opts in, redacted as the logs are; a request refused before any attempt still has its server span', async () => {
    receiver.traces.length = 0;
    receiver.metrics.length = 0;
    const { gateway, client } = await otelGateway(fireworks.url, {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
    });
    try {
      // The gateway's own key pasted into a prompt: content is captured, the key is not.
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `Say hello; my key is ${KEY}` }] });
      await assert.rejects(client.chat.completions.create({ model: MODEL } as never), { status: 400 });
    } finally {
      await gateway.shutdown(1_000);
    }
    assert.equal(receiver.metrics.length, 0, 'a traces endpoint alone sends no metrics');
    const servers = spansOf(receiver).filter((span) => span.kind === SPAN_KIND_SERVER);
    assert.equal(servers.length, 2);
    const answered = servers.map(attrs).find((span) => span['http.response.status_code'] === 200)!;
    const captured = String(answered['gen_ai.input.messages']);
    assert.match(captured, /Say hello; my key is/);
    assert.ok(!captured.includes(KEY), `the key is redacted: ${captured}`);
    const refused = servers.find((span) => attrs(span)['http.response.status_code'] === 400)!;
    assert.equal(attrs(refused)['error.type'], '400');
    assert.equal(refused.status?.code, STATUS_ERROR);
    assert.match(refused.name, /^chat\b/);
    assert.equal(refused.parentSpanId, undefined, 'without an incoming traceparent the request starts its trace');
    const children = spansOf(receiver).filter((span) => span.parentSpanId === refused.spanId);
    assert.equal(children.length, 0, 'no attempt, no client span');
  });

  test('a trace the client did not sample: no span is exported, the provider gets the trace with its flag off, and the GenAI metrics still count', async () => {
    receiver.traces.length = 0;
    receiver.metrics.length = 0;
    fireworks.requests.length = 0;
    // Flags 00: the client's trace is not sampled, and the default sampler follows its parent.
    const { gateway, client } = await otelGateway(fireworks.url, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    }, { traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-00` });
    try {
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello' }] });
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello again' }] });
    } finally {
      await gateway.shutdown(1_000);
    }
    assert.equal(spansOf(receiver).length, 0, 'nothing recorded');
    assert.equal(fireworks.requests.length, 2);
    for (const request of fireworks.requests) {
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(request.headers.traceparent));
      assert.ok(match, `a traceparent reached the provider: ${String(request.headers.traceparent)}`);
      assert.equal(match[1], CLIENT_TRACE_ID, "the client's trace goes on");
      assert.notEqual(match[2], CLIENT_SPAN_ID, "the gateway's own (unrecorded) span is the parent");
      assert.equal(match[3], '00', 'still not sampled');
    }
    const durations = metricsOf(receiver).get('gen_ai.client.operation.duration')?.histogram?.dataPoints ?? [];
    assert.equal(
      durations.reduce((sum, point) => sum + Number(point.count), 0),
      2,
      'an attempt of an unrecorded trace still has its metrics',
    );
  });

  test("metrics alone (no traces endpoint): the client's trace context reaches the provider as the client sent it", async () => {
    receiver.traces.length = 0;
    receiver.metrics.length = 0;
    fireworks.requests.length = 0;
    const traceparent = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;
    const { gateway, client } = await otelGateway(fireworks.url, {
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/v1/metrics`,
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    }, { traceparent, tracestate: 'vendor=abc' });
    try {
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello' }] });
    } finally {
      await gateway.shutdown(1_000);
    }
    assert.equal(fireworks.requests.length, 1);
    // The gateway records no span, so it names none as the parent, and leaves the sampling decision to the client's.
    assert.equal(String(fireworks.requests[0]!.headers.traceparent), traceparent);
    assert.equal(String(fireworks.requests[0]!.headers.tracestate), 'vendor=abc');
  });
});

test('usage attributes: input tokens include cache reads and writes; cache and reasoning tokens are named apart', () => {
  const attributes: Record<string, unknown> = {};
  // Anthropic's 100 new input tokens, 2,000 read from its cache and 300 written to it; 50 of 80 output tokens reasoning.
  usageAttributes(attributes as never, { promptTokens: 2_400, completionTokens: 80, cacheReadTokens: 2_000, cacheWriteTokens: 300, reasoningTokens: 50 });
  assert.deepEqual(attributes, {
    'gen_ai.usage.input_tokens': 2_400,
    'gen_ai.usage.output_tokens': 80,
    'gen_ai.usage.cache_read.input_tokens': 2_000,
    'gen_ai.usage.cache_creation.input_tokens': 300,
    'gen_ai.usage.reasoning.output_tokens': 50,
  });
});

describe('OpenTelemetry off', () => {
  /** Runs a gateway process under the load probe (with an OTLP receiver when `otel`), sends it one chat request, and returns what it printed. */
  async function probe(otel: boolean): Promise<string> {
    const sim = await startFireworksSim({ port: 0 });
    const receiver = await startReceiver();
    const gateway = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, NODE_OPTIONS: '--import ./dist/test/otel-load-probe.js', ...(otel && { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }) });
    try {
      const client = new OpenAI({ baseURL: `${gateway.origin}/v1`, apiKey: KEY, maxRetries: 0 });
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      await sim.close();
      await new Promise((resolve) => receiver.server.close(resolve));
    }
    return gateway.output();
  }

  test('without an OTLP endpoint, no @opentelemetry module is loaded (and with one, the probe sees them)', async () => {
    const off = await probe(false);
    assert.ok(!off.includes(LOADED_MARK), `no OpenTelemetry module loaded:\n${off}`);
    // The probe's control: the same gateway with an endpoint loads the SDK.
    const on = await probe(true);
    assert.ok(on.includes(`${LOADED_MARK}`) && on.includes('/@opentelemetry/sdk-trace/'), `the SDK is loaded with an endpoint:\n${on.slice(0, 2000)}`);
  });
});
