// OpenTelemetry traces and GenAI metrics, named by the GenAI semantic conventions (v1.41): a SERVER
// span per request, a CLIENT span per attempt (its context sent to the provider in `traceparent`),
// and the conventions' histograms with their explicit buckets, all read from the attempt's and the
// request's records, never per chunk. Imported only when an OTLP endpoint is set (telemetry.ts).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { AttemptName } from '../attempt.js';
import { bodyLength } from '../body.js';
import type { Config } from '../config.js';
import type { Exchange, Provider } from '../exchange.js';
import type { Logger } from '../logger.js';
import { requestCredentials } from '../record.js';
import { redactCredentials } from '../redact.js';
import type { Usage } from '../stream.js';
import { VERSION } from '../version.js';
import type { AnswerFacts } from './facts.js';
import { outputMessages } from './output-messages.js';
import { GenAiHistogram, GenAiMetrics, SeriesTable, type Series } from './otel-metrics.js';
import { ModelLabels, apiLabel, type ApiLabel, type AttemptRecord, type RequestRecord } from './records.js';
import type { AttemptTrace, RequestTrace, Telemetry } from './telemetry.js';

const SCOPE = 'ai-gateway';
const DEFAULT_SERVICE_NAME = 'ai-gateway';

/** The conventions' explicit bucket boundaries (gen-ai-metrics), in their units: tokens and seconds. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const FIRST_TOKEN_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
const PER_TOKEN_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];

/** The most characters of captured content one span carries: a prompt can be megabytes. */
export const MAX_CAPTURED_CONTENT_CHARS = 16 * 1024;
/** A body larger than this is not parsed for its messages: the span says it was too large instead. */
export const MAX_CAPTURED_BODY_BYTES = 1024 * 1024;

/** gen_ai.operation.name per inbound API; the others (model lists, forwarded paths) are not GenAI operations. */
const OPERATIONS: Readonly<Partial<Record<ApiLabel, string>>> = {
  chat: 'chat',
  messages: 'chat',
  responses: 'chat',
  gemini: 'generate_content',
  embeddings: 'embeddings',
  completions: 'text_completion',
};

/** Our provider names as the conventions' well-known gen_ai.provider.name values; the others keep ours. */
const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  bedrock: 'aws.bedrock',
  gemini: 'gcp.gemini',
  azure: 'azure.ai.openai',
  groq: 'groq',
  mistral: 'mistral_ai',
  deepseek: 'deepseek',
  xai: 'x_ai',
  perplexity: 'perplexity',
};

/** Where the messages are in each inbound API's body. */
const CONTENT_MEMBERS = ['messages', 'input', 'contents', 'prompt'] as const;

interface ServerAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * The request's server span and the context its attempts' spans are children of; for a trace not
 * recorded, no span: only the headers every attempt sends on (none when the client sent none).
 */
class ServerTrace implements RequestTrace {
  constructor(
    readonly span: Span | undefined,
    readonly context: Context | undefined,
    readonly operation: string | undefined,
    readonly unrecordedHeaders: readonly string[],
  ) {}

  get recorded(): boolean {
    return this.span !== undefined;
  }
}

/** W3C traceparent: version 00, trace id, parent id, flags (bit 0: sampled). */
const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;
const INVALID_TRACE_ID = '0'.repeat(32);

/**
 * Which traces are recorded, decided by the gateway before any span exists, as the configured
 * sampler would: a trace not recorded then costs no SDK work at all. `parentbased_*` follows the
 * sampled flag of a valid incoming traceparent; a ratio keeps that share of traces.
 */
export class TraceDecision {
  private readonly parentBased: boolean;
  private readonly rootRatio: number;

  constructor(config: Config) {
    const name = config.OTEL_TRACES_SAMPLER;
    this.parentBased = name.startsWith('parentbased_');
    const root = this.parentBased ? name.slice('parentbased_'.length) : name;
    this.rootRatio = root === 'always_on' ? 1 : root === 'always_off' ? 0 : config.OTEL_TRACES_SAMPLER_ARG;
  }

  /** Whether to record this request's trace; `parentSampled` is the incoming flag, undefined without a valid traceparent. */
  record(parentSampled: boolean | undefined): boolean {
    if (this.parentBased && parentSampled !== undefined) return parentSampled;
    return this.rootRatio >= 1 || (this.rootRatio > 0 && Math.random() < this.rootRatio);
  }
}

/** The incoming traceparent's trace id and sampled flag, when it is valid. */
function incomingTrace(header: string | string[] | undefined): { traceId: string; sampled: boolean; header: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const trimmed = header.trim();
  const match = TRACEPARENT.exec(trimmed);
  if (match === null || match[1] === INVALID_TRACE_ID) return undefined;
  return { traceId: match[1]!, sampled: (parseInt(match[2]!, 16) & 1) === 1, header: trimmed };
}

/** W3C's bound on a `tracestate` a participant must pass on. */
const MAX_TRACESTATE_CHARS = 512;

/** The client's `traceparent` (valid, as `incoming` read it) and its `tracestate` when within bounds, [name, value, ...]. */
function clientContext(ex: Exchange, incoming: { readonly header: string }): string[] {
  const headers = ['traceparent', incoming.header];
  const state = ex.req.headers.tracestate;
  if (typeof state === 'string' && state.length <= MAX_TRACESTATE_CHARS && !/[^\x20-\x7e]/.test(state)) headers.push('tracestate', state);
  return headers;
}

/** 16 hex digits for a span id of the gateway's own, never all zeros. */
function spanIdHex(): string {
  return randomBytes(8).toString('hex').replace(/^0{16}$/, '0000000000000001');
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

interface Instruments {
  readonly tokenUsage: GenAiHistogram;
  readonly operationDuration: GenAiHistogram;
  readonly timeToFirstChunk: GenAiHistogram;
  readonly timePerOutputChunk: GenAiHistogram;
  readonly requestDuration: GenAiHistogram;
  readonly timeToFirstToken: GenAiHistogram;
  readonly timePerOutputToken: GenAiHistogram;
}

/** An attempt's series: one per client histogram (tokens twice: input and output). */
interface AttemptRow {
  readonly duration: Series;
  readonly input: Series;
  readonly output: Series;
  readonly firstChunk: Series;
  readonly perChunk: Series;
}

/** A request's series: one per server histogram. */
interface RequestRow {
  readonly duration: Series;
  readonly firstToken: Series;
  readonly perToken: Series;
}

function instruments(): Instruments {
  return {
    tokenUsage: new GenAiHistogram('gen_ai.client.token.usage', '{token}', 'Tokens in and out of one attempt at a provider.', TOKEN_BUCKETS),
    operationDuration: new GenAiHistogram('gen_ai.client.operation.duration', 's', 'Duration of one attempt at a provider.', DURATION_BUCKETS),
    timeToFirstChunk: new GenAiHistogram('gen_ai.client.operation.time_to_first_chunk', 's', "From an attempt's dispatch to its stream's first chunk.", FIRST_TOKEN_BUCKETS),
    timePerOutputChunk: new GenAiHistogram(
      'gen_ai.client.operation.time_per_output_chunk',
      's',
      "An attempt's stream time after its first chunk, per output token after the first.",
      PER_TOKEN_BUCKETS,
    ),
    requestDuration: new GenAiHistogram('gen_ai.server.request.duration', 's', 'Duration of one request to the gateway, from arrival to its last byte.', DURATION_BUCKETS),
    timeToFirstToken: new GenAiHistogram('gen_ai.server.time_to_first_token', 's', "From a streamed request's arrival to its first byte to the client.", FIRST_TOKEN_BUCKETS),
    timePerOutputToken: new GenAiHistogram(
      'gen_ai.server.time_per_output_token',
      's',
      "A streamed request's time after its first byte, per output token after the first.",
      PER_TOKEN_BUCKETS,
    ),
  };
}

/** A signal's URL: its own endpoint as given, else the shared one with the signal's path (the OTLP exporter rule). */
function signalUrl(own: string | undefined, shared: string | undefined, path: string): string | undefined {
  if (own !== undefined) return own;
  if (shared === undefined) return undefined;
  return `${shared.endsWith('/') ? shared.slice(0, -1) : shared}/${path}`;
}

/** The SDK set up from the configuration: traces, metrics or both, as their endpoints say. */
export async function createTelemetry(config: Config, logger: Logger): Promise<Telemetry | undefined> {
  const tracesUrl = signalUrl(config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, config.OTEL_EXPORTER_OTLP_ENDPOINT, 'v1/traces');
  const metricsUrl = signalUrl(config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, config.OTEL_EXPORTER_OTLP_ENDPOINT, 'v1/metrics');
  if (tracesUrl === undefined && metricsUrl === undefined) return undefined;
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the env detector) win over the defaults.
  const resource = resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME, 'service.version': VERSION }).merge(detectResources({ detectors: [envDetector] }));
  let tracerProvider: TracerProvider | undefined;
  if (tracesUrl !== undefined) {
    // OTEL_EXPORTER_OTLP_HEADERS (and the TRACES_ one) are read by the exporter itself.
    // The gateway decides which traces are recorded (TraceDecision) before it asks the SDK for a
    // span: the SDK records every span it is asked for.
    tracerProvider = new TracerProvider({ resource, sampler: new AlwaysOnSampler(), spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl }) })] });
  }
  const histograms = instruments();
  let meterProvider: MeterProvider | undefined;
  if (metricsUrl !== undefined) {
    const producer = new GenAiMetrics(resource, { name: SCOPE, version: VERSION }, Object.values(histograms));
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url: metricsUrl }),
      exportIntervalMillis: config.OTEL_METRIC_EXPORT_INTERVAL,
      metricProducers: [producer],
    });
    producer.readBy(reader);
    meterProvider = new MeterProvider({ resource, readers: [reader] });
  }
  logger.info({ traces: tracesUrl, metrics: metricsUrl }, 'OpenTelemetry on');
  return new OtelTelemetry(config, tracerProvider, meterProvider, metricsUrl === undefined ? undefined : histograms);
}

class OtelTelemetry implements Telemetry {
  private readonly tracer: Tracer;
  private readonly decision: TraceDecision;
  /** Which model names are metric attributes of their own (bounded: see ModelLabels). */
  private models: ModelLabels;
  /** The GenAI metrics' series, by the values of their attributes (when a metrics endpoint is set). */
  private readonly attemptRows: SeriesTable<AttemptRow> | undefined;
  private readonly requestRows: SeriesTable<RequestRow> | undefined;
  private readonly propagator = new W3CTraceContextPropagator();
  private readonly captureContent: boolean;
  readonly keepAnswerBytes: number;
  /** server.address and server.port per provider origin, parsed once. */
  private readonly addresses = new Map<string, ServerAddress>();

  constructor(
    config: Config,
    private readonly tracerProvider: TracerProvider | undefined,
    private readonly meterProvider: MeterProvider | undefined,
    /** The GenAI histograms, when a metrics endpoint is configured. */
    instruments: Instruments | undefined,
  ) {
    // Without a traces endpoint the API's no-op tracer still carries an incoming trace on to providers.
    this.tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE, VERSION);
    this.decision = new TraceDecision(config);
    this.models = new ModelLabels(config.METRICS_MAX_MODELS, []);
    if (instruments !== undefined) {
      this.attemptRows = new SeriesTable(([operation, provider, origin, model, error]) => {
        const server = this.addressOf(origin!);
        const attributes: Attributes = {
          'gen_ai.operation.name': operation,
          'gen_ai.provider.name': providerName(provider!),
          'server.address': server.address,
          'server.port': server.port,
        };
        if (model !== '') attributes['gen_ai.request.model'] = model;
        if (error !== '') attributes['error.type'] = error;
        return {
          duration: instruments.operationDuration.newSeries(attributes),
          input: instruments.tokenUsage.newSeries({ ...attributes, 'gen_ai.token.type': 'input' }),
          output: instruments.tokenUsage.newSeries({ ...attributes, 'gen_ai.token.type': 'output' }),
          firstChunk: instruments.timeToFirstChunk.newSeries(attributes),
          perChunk: instruments.timePerOutputChunk.newSeries(attributes),
        };
      });
      this.requestRows = new SeriesTable(([operation, provider, model, error]) => {
        const attributes: Attributes = { 'gen_ai.operation.name': operation };
        if (provider !== '') attributes['gen_ai.provider.name'] = providerName(provider!);
        if (model !== '') attributes['gen_ai.request.model'] = model;
        if (error !== '') attributes['error.type'] = error;
        return {
          duration: instruments.requestDuration.newSeries(attributes),
          firstToken: instruments.timeToFirstToken.newSeries(attributes),
          perToken: instruments.timePerOutputToken.newSeries(attributes),
        };
      });
    }
    this.captureContent = config.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
    this.keepAnswerBytes = this.captureContent ? MAX_CAPTURED_BODY_BYTES : 0;
  }

  useModelLabels(models: ModelLabels): void {
    this.models = models;
  }

  attemptStarted(ex: Exchange, name: AttemptName, provider: Provider, origin: string): AttemptTrace {
    let request = ex.trace as ServerTrace | undefined;
    if (request === undefined) ex.trace = request = this.serverTrace(ex);
    // A trace not recorded (sampled out, or no traces endpoint) gets no client spans: the provider
    // is sent the server span's context, and the attempt only its metrics.
    if (request.span === undefined) {
      return new ClientTrace(this, undefined, false, request.unrecordedHeaders, request.operation, provider.name, origin, name.model, ex.stream, performance.now());
    }
    const server = this.addressOf(origin);
    const spanName = request.operation === undefined ? ex.method : name.model === undefined ? request.operation : `${request.operation} ${name.model}`;
    // Attributes only for a span the sampler keeps (the samplers offered here do not read them).
    const span = this.tracer.startSpan(spanName, { kind: SpanKind.CLIENT }, request.context!);
    if (span.isRecording()) {
      const attributes: Attributes = {
        'gen_ai.provider.name': providerName(provider.name),
        'server.address': server.address,
        'server.port': server.port,
        'gateway.target': name.target,
        'gateway.attempt': (ex.attempts?.length ?? 0) + 1,
      };
      if (request.operation !== undefined) attributes['gen_ai.operation.name'] = request.operation;
      if (name.model !== undefined) attributes['gen_ai.request.model'] = name.model;
      if (ex.route !== undefined) attributes['gateway.route'] = ex.route.name;
      if (name.hedge) attributes['gateway.hedge'] = true;
      span.setAttributes(attributes);
    }
    const headers = this.contextHeaders(trace.setSpan(request.context!, span));
    return new ClientTrace(this, span, span.isRecording(), headers, request.operation, provider.name, origin, name.model, ex.stream, performance.now());
  }

  requestEnded(ex: Exchange, record: RequestRecord, secrets: readonly string[]): void {
    let request = ex.trace as ServerTrace | undefined;
    // A request refused before any attempt (a bad body, an unknown model) is still a GenAI request.
    if (request === undefined) {
      if (OPERATIONS[record.api] === undefined) return;
      request = this.serverTrace(ex);
    }
    const operation = request.operation;
    const span = request.span;
    const errorType = requestError(record);
    if (span !== undefined) {
      const attributes: Attributes = { 'http.response.status_code': record.status };
      if (record.provider !== undefined) attributes['gen_ai.provider.name'] = providerName(record.provider);
      if (record.route !== undefined) attributes['gateway.route'] = record.route;
      if (record.target !== undefined) attributes['gateway.target'] = record.target;
      attributes['gateway.attempts'] = Math.max(record.attempts.length, record.retries + 1);
      if (record.usage !== undefined) usageAttributes(attributes, record.usage);
      if (record.responseId !== undefined) attributes['gen_ai.response.id'] = record.responseId;
      if (record.responseModel !== undefined) attributes['gen_ai.response.model'] = record.responseModel;
      if (record.finishReasons !== undefined) attributes['gen_ai.response.finish_reasons'] = record.finishReasons as string[];
      if (errorType !== undefined) attributes['error.type'] = errorType;
      if (this.captureContent) {
        const content = capturedInput(ex, secrets);
        if (content !== undefined) attributes['gen_ai.input.messages'] = content;
        const output = ex.answerFacts?.body === undefined ? undefined : capturedOutput(ex, ex.answerFacts, secrets);
        if (output !== undefined) attributes['gen_ai.output.messages'] = output;
      }
      span.setAttributes(attributes);
      if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: record.error });
      // performance.now() times: the SDK reads a number this small as one and adds the time origin.
      // The answering attempt may read its provider's last events just after the response closed, so
      // its span can end a little after this one: each says when its own work ended.
      span.end(record.startedAt + record.durationMs);
    }
    if (operation === undefined || this.requestRows === undefined) return;
    const model = this.models.label(record.clientModel, record.status >= 200 && record.status < 300);
    const row = this.requestRows.get([operation, record.provider ?? '', model, errorType ?? '']);
    row.duration.record(record.durationMs / 1000);
    if (errorType !== undefined || !record.stream || record.ttfbMs === undefined) return;
    row.firstToken.record(record.ttfbMs / 1000);
    const output = record.usage?.completionTokens ?? 0;
    if (output > 1) row.perToken.record((record.durationMs - record.ttfbMs) / 1000 / (output - 1));
  }

  /** An attempt's GenAI metrics, in the row of its operation, provider, origin, model and error. */
  attemptMetrics(
    operation: string,
    provider: string,
    origin: string,
    requested: string | undefined,
    record: AttemptRecord | undefined,
    answered: boolean,
    errorType: string | undefined,
    usage: Usage | undefined,
    stream: boolean,
    ms: number,
  ): void {
    if (this.attemptRows === undefined) return;
    const model = this.models.label(requested, answered);
    const row = this.attemptRows.get([operation, provider, origin, model, errorType ?? '']);
    row.duration.record(ms / 1000);
    if (usage !== undefined) {
      row.input.record(usage.promptTokens);
      row.output.record(usage.completionTokens);
    }
    // The conventions record a value per chunk; the gateway does not observe chunks, so an attempt
    // records one: its stream time after the first chunk spread over the output tokens after the first.
    if (!answered || !stream || record?.ttfbMs === undefined || errorType !== undefined) return;
    row.firstChunk.record(record.ttfbMs / 1000);
    const output = usage?.completionTokens ?? 0;
    if (output > 1) row.perChunk.record((record.ms - record.ttfbMs) / 1000 / (output - 1));
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.tracerProvider?.shutdown(), this.meterProvider?.shutdown()]);
  }

  /**
   * The request's server span, begun at its arrival, child of the client's `traceparent` when it
   * sent a valid one; or, for a trace not recorded, none: its attempts then send the client's trace
   * on under a span id of the gateway's own, flags 00 (nothing, when the client sent no trace).
   * Without a traces endpoint the gateway takes no part in traces: the client's context goes on as
   * it came (its parent and its sampling decision, and its `tracestate`).
   */
  private serverTrace(ex: Exchange): ServerTrace {
    const operation = OPERATIONS[apiLabel(ex)];
    const incoming = incomingTrace(ex.req.headers.traceparent);
    if (this.tracerProvider === undefined) return new ServerTrace(undefined, undefined, operation, incoming === undefined ? NO_HEADERS : clientContext(ex, incoming));
    if (!this.decision.record(incoming?.sampled)) {
      const headers = incoming === undefined ? NO_HEADERS : ['traceparent', `00-${incoming.traceId}-${spanIdHex()}-00`];
      return new ServerTrace(undefined, undefined, operation, headers);
    }
    const parent = this.propagator.extract(ROOT_CONTEXT, ex.req.headers, defaultTextMapGetter);
    const model = ex.clientModel;
    const name = operation === undefined ? ex.method : model === undefined ? operation : `${operation} ${model}`;
    const span = this.tracer.startSpan(name, { kind: SpanKind.SERVER, startTime: ex.startedAt }, parent);
    const attributes: Attributes = { 'http.request.method': ex.method, 'url.path': ex.path };
    if (operation !== undefined) attributes['gen_ai.operation.name'] = operation;
    if (model !== undefined) attributes['gen_ai.request.model'] = model;
    span.setAttributes(attributes);
    return new ServerTrace(span, trace.setSpan(parent, span), operation, NO_HEADERS);
  }

  /** `traceparent` (and `tracestate`) for a context, [name, value, ...]. */
  private contextHeaders(context: Context): string[] {
    const carrier: Record<string, string> = {};
    this.propagator.inject(context, carrier, defaultTextMapSetter);
    const headers: string[] = [];
    for (const key in carrier) headers.push(key, carrier[key]!);
    return headers;
  }

  private addressOf(origin: string): ServerAddress {
    let server = this.addresses.get(origin);
    if (server === undefined) {
      const url = new URL(origin);
      server = { address: url.hostname, port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port) };
      this.addresses.set(origin, server);
    }
    return server;
  }
}

/** One attempt's client span and metrics, ended from its record. */
class ClientTrace implements AttemptTrace {
  constructor(
    private readonly telemetry: OtelTelemetry,
    private readonly span: Span | undefined,
    readonly recording: boolean,
    readonly headers: readonly string[],
    private readonly operation: string | undefined,
    private readonly provider: string,
    private readonly origin: string,
    private readonly model: string | undefined,
    private readonly stream: boolean,
    private readonly startedAt: number,
  ) {}

  end(ex: Exchange, record: AttemptRecord | undefined): void {
    const span = this.span;
    const answered = record !== undefined && (record.outcome === 'answered' || record.outcome === 'answered: broken');
    const usage = answered ? ex.usage?.usage : undefined;
    const errorType = record === undefined ? undefined : attemptError(record);
    if (span !== undefined) {
      const attributes: Attributes = {};
      if (record !== undefined) {
        attributes['gateway.outcome'] = record.outcome;
        if (record.status > 0) attributes['http.response.status_code'] = record.status;
      }
      if (usage !== undefined) usageAttributes(attributes, usage);
      if (answered && ex.answerFacts !== undefined) factsAttributes(attributes, ex.answerFacts);
      if (errorType !== undefined) attributes['error.type'] = errorType;
      span.setAttributes(attributes);
      if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    // Ended when the attempt did, which may be after the response closed and the server span ended.
    span?.end(record?.startedAt !== undefined ? record.startedAt + record.ms : performance.now());
    if (this.operation === undefined) return;
    const ms = record?.ms ?? performance.now() - this.startedAt;
    this.telemetry.attemptMetrics(this.operation, this.provider, this.origin, this.model, record, answered, errorType, usage, this.stream, ms);
  }
}

function providerName(name: string): string {
  return PROVIDER_NAMES[name] ?? name;
}

/** The usage attributes: input includes cache reads and writes (Usage.promptTokens), as the conventions say. */
export function usageAttributes(attributes: Attributes, usage: Usage): void {
  attributes['gen_ai.usage.input_tokens'] = usage.promptTokens;
  attributes['gen_ai.usage.output_tokens'] = usage.completionTokens;
  if (usage.cacheReadTokens !== undefined) attributes['gen_ai.usage.cache_read.input_tokens'] = usage.cacheReadTokens;
  if (usage.cacheWriteTokens !== undefined) attributes['gen_ai.usage.cache_creation.input_tokens'] = usage.cacheWriteTokens;
  if (usage.reasoningTokens !== undefined) attributes['gen_ai.usage.reasoning.output_tokens'] = usage.reasoningTokens;
}

/** gen_ai.response.id, .model and .finish_reasons, as far as the answer said them. */
function factsAttributes(attributes: Attributes, facts: AnswerFacts): void {
  if (facts.id !== undefined) attributes['gen_ai.response.id'] = facts.id;
  if (facts.model !== undefined) attributes['gen_ai.response.model'] = facts.model;
  if (facts.finishReasons.length > 0) attributes['gen_ai.response.finish_reasons'] = facts.finishReasons as string[];
}

/** error.type of a failed attempt: the provider's status, else how it failed (network, attempt-timeout, ...). */
function attemptError(record: AttemptRecord): string | undefined {
  const outcome = record.outcome;
  if (outcome === 'answered' || outcome === 'lost' || outcome === 'cancelled') return undefined;
  if (outcome === 'answered: broken') return 'broken_stream';
  if (record.status > 0) return String(record.status);
  const colon = outcome.indexOf(':');
  return colon === -1 ? outcome : outcome.slice(0, colon);
}

/** error.type of a request: the status the client got when it failed, or a stream cut short. */
function requestError(record: RequestRecord): string | undefined {
  if (record.status >= 400) return String(record.status);
  return record.broken ? 'broken_stream' : undefined;
}

/**
 * The request's messages as JSON text, redacted as the logs are (the client's credentials, the
 * gateway's secrets, credential patterns) and cut at MAX_CAPTURED_CONTENT_CHARS.
 */
function capturedInput(ex: Exchange, secrets: readonly string[]): string | undefined {
  const body = ex.body;
  if (body === null) return undefined;
  if (bodyLength(body) > MAX_CAPTURED_BODY_BYTES) return `[not captured: the body is larger than ${MAX_CAPTURED_BODY_BYTES} bytes]`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : Buffer.concat(body).toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const members = parsed as Record<string, unknown>;
  const member = CONTENT_MEMBERS.find((name) => members[name] !== undefined);
  if (member === undefined) return undefined;
  return capturedText(JSON.stringify(members[member]), ex, secrets);
}

/** A whole answer's messages (output-messages.ts) as JSON text, redacted and cut as the input is. */
function capturedOutput(ex: Exchange, facts: AnswerFacts, secrets: readonly string[]): string | undefined {
  const messages = outputMessages(facts.dialect, facts.body!.toString('utf8'));
  if (messages === undefined) return undefined;
  return capturedText(JSON.stringify(messages), ex, secrets);
}

/** Content redacted as the logs are (the client's credentials, the gateway's secrets, credential patterns) and cut at MAX_CAPTURED_CONTENT_CHARS. */
function capturedText(json: string, ex: Exchange, secrets: readonly string[]): string {
  const text = redactCredentials(json, requestCredentials(ex.req), secrets);
  return text.length > MAX_CAPTURED_CONTENT_CHARS ? `${text.slice(0, MAX_CAPTURED_CONTENT_CHARS)}...` : text;
}
