// Settings: environment variables, and one optional file (--config or CONFIG_FILE, YAML or JSON)
// that can set every setting, a built-in provider's base URL, key and options, and declare
// providers of the team's own. The environment wins over the file. Everything is validated once at
// start-up into a frozen Config; nothing on the request path reads the environment. Every problem
// is reported at once, each naming its variable or its place in the file.
import { BlockList, isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { z } from 'zod';
import { WILDCARD, isPattern, type DefaultModelApi } from './aliases.js';
import { CUSTOM_NAME, EMPTY_FILE, readConfigFile, type ConfigFile, type FileKey, type FileKeyGroup, type FileProvider } from './config-file.js';
import { DEFAULT_MAX_BYTES as DEFAULT_ITEMS_MAX_BYTES } from './inbound/openai-responses/memory.js';
import { DEFAULT_CACHE_MAX_BYTES, DEFAULT_CACHE_MAX_ENTRY_BYTES } from './cache/memory.js';
import { MAX_ANSWER_BYTES } from './inbound/chat.js';
import { providerSpecs } from './providers/index.js';
import { DEFAULT_BREAKER, type BreakerSettings } from './route/health.js';
import { MAX_ROUTE_TARGETS, type Strategy } from './route/strategy.js';
import { openAICompatible, type ProviderSpec } from './providers/types.js';
import { DEFAULT_MEMORY_MAX_BYTES, DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT_MS } from './state/defaults.js';

/** The most requests RECORD_REQUESTS may keep. */
export const MAX_RECORDED_REQUESTS = 1000;
/**
 * The most of one body RECORD_BODY_BYTES may keep: redaction then scans it, and the margin after it
 * (record.ts), whole (MAX_SCANNED_CHARS in redact.ts is 256 Ki characters), in a few ms.
 */
export const MAX_RECORD_BODY_BYTES = 128 * 1024;
/**
 * RECORD_REQUESTS x RECORD_BODY_BYTES at most: each record holds two bodies (request and answer),
 * so the record holds about twice this, plus headers.
 */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/** Node keeps a timer's delay in a signed 32-bit int; a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** OTEL_TRACES_SAMPLER's values, as the OpenTelemetry SDK environment specification names them. */
export const OTEL_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

/** An OTLP/HTTP endpoint: an http(s) URL, or unset. */
function otlpEndpoint() {
  const error = 'must be an http:// or https:// URL';
  return z
    .string()
    .trim()
    .refine((value) => {
      try {
        const url = new URL(value);
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    }, { error })
    .optional();
}

/** Whether `value` is a URL ioredis connects to. */
function redisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** A number given as a number or as text; blank text is not a number (Number('') would be 0). */
function numeric(error: string) {
  return z.preprocess((value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value), z.number({ error }));
}

function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be an integer, at least ${min}` : `must be an integer from ${min} to ${max}`;
  return numeric(error).pipe(z.number().int({ error }).min(min, { error }).max(max, { error }));
}

/** Every *_MS setting: it ends up as a timer's delay, so it must fit in one. */
function duration(min: number) {
  return numeric('must be a whole number of milliseconds').pipe(
    z
      .number()
      .int({ error: 'must be a whole number of milliseconds' })
      .min(min, { error: `must be at least ${min} ms` })
      .max(MAX_TIMER_MS, { error: `must be at most ${MAX_TIMER_MS} ms (about 24.8 days)` }),
  );
}

/** A comma-separated list (or, in CONFIG_FILE, an array), trimmed, without empty items; `check` names a bad item. */
function list(normalise: (item: string) => string, check: (item: string) => string | undefined) {
  return z.union([z.string(), z.array(z.string())], { error: 'must be a comma-separated list' }).transform((value, ctx) => {
    const items = (typeof value === 'string' ? value.split(',') : value).map((item) => item.trim()).filter((item) => item !== '');
    let ok = true;
    for (const item of items) {
      const problem = check(item);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        ok = false;
      }
    }
    return ok ? (Object.freeze([...new Set(items.map(normalise))]) as readonly string[]) : z.NEVER;
  });
}

/** The most model names metrics label one by one: each is a series per label set. */
const MAX_METRICS_MODELS = 10_000;
/** ADMIN_KEYS_REFRESH_MS's default: how late a key created or revoked on another instance may take effect here. */
export const DEFAULT_ADMIN_KEYS_REFRESH_MS = 2_000;
/** Each refresh is one small read of the store; more often than this is load without a purpose. */
const MIN_ADMIN_KEYS_REFRESH_MS = 100;
/** Well within Prometheus's default scrape timeout (10 s), so that a 503 reaches it rather than its own timeout. */
const DEFAULT_METRICS_WORKER_TIMEOUT_MS = 2_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// RFC 9110 token characters (less *), for method names; a header pattern may end in * (any suffix).
const METHOD = /^[!#$%&'+.^_`|~0-9A-Za-z-]+$/;
const HEADER_PATTERN = /^[!#$%&'+.^_`|~0-9A-Za-z-]*\*?$/;
// scheme://host[:port] and nothing after it: what a browser sends as Origin.
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]+$/i;

function originProblem(item: string): string | undefined {
  if (item === '*') return undefined;
  const bad = `"${item}" is not an origin (scheme://host[:port], no path, e.g. https://app.example.com) or *`;
  if (!ORIGIN.test(item)) return bad;
  try {
    return new URL(item).host === '' ? bad : undefined;
  } catch {
    return bad;
  }
}

/** As browsers send it: lower-case scheme and host, no default port. */
function normaliseOrigin(item: string): string {
  if (item === '*') return item;
  const url = new URL(item);
  return `${url.protocol}//${url.host}`;
}

const CLIENT_SDK_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'content-type',
  'x-provider',
  'x-request-id',
  'x-gateway-max-retries',
  'x-gateway-timeout-ms',
  'x-api-key',
  'anthropic-version',
  'anthropic-beta',
  'openai-organization',
  'openai-project',
  // The openai and anthropic SDKs describe themselves in x-stainless-* headers (os, lang, arch,
  // runtime, package-version, retry-count, timeout, helper-method, ...).
  'x-stainless-*',
  // The SDKs set user-agent too; Firefox and Safari then list it in the preflight.
  'user-agent',
]);

const settingsSchema = z
  .object({
    HOST: z.string().min(1, { error: 'must not be empty' }).default('127.0.0.1'),
    PORT: int(0, 65535).default(3000),
    LOG_LEVEL: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }))
      .default('info'),
    // Checked against the providers (built-in and custom) once they are known.
    DEFAULT_PROVIDER: z.string().trim().toLowerCase().min(1, { error: 'must not be empty' }).default('fireworks'),
    MAX_RETRIES: int(0, 10).default(2),
    REQUEST_TIMEOUT_MS: duration(1).default(300_000),
    STREAM_IDLE_TIMEOUT_MS: duration(1).default(60_000),
    CLIENT_STALL_TIMEOUT_MS: duration(1).default(120_000),
    RETRY_BASE_DELAY_MS: duration(0).default(250),
    RETRY_MAX_DELAY_MS: duration(0).default(8_000),
    MAX_BODY_BYTES: int(1).default(20 * 1024 * 1024),
    MAX_BUFFERED_RESPONSE_BYTES: int(0).default(8 * 1024 * 1024),
    MAX_TRANSLATED_VALUES: int(1).default(200_000),
    MAX_TRANSLATED_ANSWER_BYTES: int(1).default(MAX_ANSWER_BYTES),
    HEADERS_TIMEOUT_MS: duration(1).default(30_000),
    BODY_TIMEOUT_MS: duration(1).default(60_000),
    KEEP_ALIVE_TIMEOUT_MS: duration(0).default(65_000),
    SHUTDOWN_GRACE_MS: duration(0).default(10_000),
    // Connections per provider origin; 0 = no cap (long-lived streams each hold one).
    UPSTREAM_CONNECTIONS: int(0).default(0),
    WORKERS: z.union([z.literal('auto'), int(1, 256)], { error: 'must be "auto" or an integer from 1 to 256' }).default(1),
    CORS_ORIGINS: list(normaliseOrigin, originProblem).default(Object.freeze([])),
    CORS_ALLOW_HEADERS: list(
      (item) => item.toLowerCase(),
      (item) => (HEADER_PATTERN.test(item) ? undefined : `"${item}" is not a header name (or a name ending in *)`),
    ).default(CLIENT_SDK_HEADERS),
    CORS_ALLOW_METHODS: list(
      (item) => item.toUpperCase(),
      (item) => (METHOD.test(item) ? undefined : `"${item}" is not a method name`),
    ).default(Object.freeze(['GET', 'POST', 'OPTIONS'])),
    CORS_MAX_AGE_S: int(0).default(600),
    FETCH_IMAGE_URLS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['off', 'public', 'any'], { error: 'must be off, public or any' }))
      .default('off'),
    FETCH_IMAGE_MAX_BYTES: int(1).default(3_932_160),
    FETCH_IMAGE_TIMEOUT_MS: duration(1).default(5_000),
    RESPONSES_ITEMS_MAX_BYTES: int(1).default(DEFAULT_ITEMS_MAX_BYTES),
    CACHE_MAX_BYTES: int(1).default(DEFAULT_CACHE_MAX_BYTES),
    CACHE_MAX_ENTRY_BYTES: int(1).default(DEFAULT_CACHE_MAX_ENTRY_BYTES),
    FETCH_IMAGE_TOTAL_BYTES: int(1).default(64 * 1024 * 1024),
    MESSAGES_THINKING: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['drop', 'effort'], { error: 'must be drop or effort' }))
      .default('drop'),
    RESPONSES_HOSTED_TOOLS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['drop', 'refuse'], { error: 'must be drop or refuse' }))
      .default('drop'),
    RECORD_REQUESTS: int(0, MAX_RECORDED_REQUESTS).default(0),
    RECORD_BODY_BYTES: int(0, MAX_RECORD_BODY_BYTES).default(16 * 1024),
    RECORD_READERS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['loopback', 'any'], { error: 'must be loopback or any' }))
      .default('loopback'),
    STATUS_READERS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['loopback', 'any'], { error: 'must be loopback or any' }))
      .default('loopback'),
    METRICS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['on', 'off'], { error: 'must be on or off' }))
      .default('on'),
    METRICS_MAX_MODELS: int(1, MAX_METRICS_MODELS).default(100),
    DASHBOARD: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['on', 'off'], { error: 'must be on or off' }))
      .default('on'),
    DASHBOARD_READERS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['loopback', 'any'], { error: 'must be loopback or any' }))
      .default('loopback'),
    KEYS_DEFAULT_MAX_TOKENS: int(1, 10_000_000).default(4096),
    // The admin API's key by its hash alone; a custom issue, so that a wrong value is not echoed.
    ADMIN_KEY_SHA256: z
      .string()
      .trim()
      .toLowerCase()
      .refine((value) => value === '' || /^[0-9a-f]{64}$/.test(value), { error: 'must be the 64 hex digits of the admin key\'s SHA-256 (printf %s "$ADMIN_KEY" | sha256sum)' })
      .default(''),
    ADMIN_KEYS_REFRESH_MS: duration(MIN_ADMIN_KEYS_REFRESH_MS).default(DEFAULT_ADMIN_KEYS_REFRESH_MS),
    METRICS_READERS: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['loopback', 'any'], { error: 'must be loopback or any' }))
      .default('loopback'),
    METRICS_TOKEN: z.string().default(''),
    METRICS_PORT: int(0, 65535).default(0),
    METRICS_WORKER_TIMEOUT_MS: duration(1).default(DEFAULT_METRICS_WORKER_TIMEOUT_MS),
    LOG_FORMAT: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['auto', 'json', 'pretty'], { error: 'must be auto, json or pretty' }))
      .default('auto'),
    CONFIG_WATCH: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['on', 'off'], { error: 'must be on or off' }))
      .default('off'),
    // OpenTelemetry, by the names of its SDK environment specification: traces and GenAI metrics go
    // to an OTLP/HTTP receiver only when an endpoint is set; unset, no OpenTelemetry code is loaded.
    OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint(),
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: otlpEndpoint(),
    OTEL_METRIC_EXPORT_INTERVAL: duration(1).default(60_000),
    OTEL_TRACES_SAMPLER: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(OTEL_SAMPLERS, { error: `must be one of ${OTEL_SAMPLERS.join(', ')}` }))
      .default('parentbased_always_on'),
    OTEL_TRACES_SAMPLER_ARG: numeric('must be a number from 0 to 1')
      .pipe(z.number().min(0, { error: 'must be a number from 0 to 1' }).max(1, { error: 'must be a number from 0 to 1' }))
      .default(1),
    // Shared state (src/state/): in this process unless REDIS_URL is set.
    REDIS_URL: z
      .string()
      .trim()
      // A custom issue, so that the message never quotes the value: it may hold a password.
      .refine((value) => value === '' || redisUrl(value), { error: 'must be a redis:// or rediss:// URL (redis://[:password@]host[:port][/db])' })
      .default(''),
    REDIS_PREFIX: z.string().default(DEFAULT_REDIS_PREFIX),
    REDIS_TIMEOUT_MS: duration(1).default(DEFAULT_REDIS_TIMEOUT_MS),
    REDIS_FAIL_OPEN_SHARE: numeric('must be a number above 0, at most 1').pipe(
      z.number().gt(0, { error: 'must be a number above 0, at most 1' }).max(1, { error: 'must be a number above 0, at most 1' }),
    ).default(1),
    STATE_MEMORY_MAX_BYTES: int(1).default(DEFAULT_MEMORY_MAX_BYTES),
    STATE_FILE: z.string().trim().default(''),
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['true', 'false'], { error: 'must be true or false' }))
      .transform((value) => value === 'true')
      .default(false),
  });

export type Settings = z.infer<typeof settingsSchema>;

/**
 * One line per setting for --help. A Record over every setting, so a setting without its line
 * does not compile.
 */
export const settingDescriptions: Readonly<Record<keyof Settings, string>> = {
  HOST: 'Address to listen on (127.0.0.1 is this machine only; 0.0.0.0 every interface).',
  PORT: 'Port to listen on (0-65535; 0 picks a free one).',
  LOG_LEVEL: `Log level, any case: ${LOG_LEVELS.join(', ')}.`,
  DEFAULT_PROVIDER: 'Provider for requests without an x-provider header.',
  MAX_RETRIES: 'Retries after the first attempt (0-10); x-gateway-max-retries can lower it per request.',
  REQUEST_TIMEOUT_MS:
    'Budget of one request, retries included, until the whole answer (or a stream\'s first byte); then 504.',
  STREAM_IDLE_TIMEOUT_MS: 'Longest gap between two chunks of a stream from the provider.',
  CLIENT_STALL_TIMEOUT_MS:
    'How long a client that stopped reading a streamed answer may hold it before the gateway cancels upstream and closes.',
  RETRY_BASE_DELAY_MS: 'Backoff base: retry n waits a random time below base * 2^(n-1).',
  RETRY_MAX_DELAY_MS: 'Backoff ceiling; at least RETRY_BASE_DELAY_MS.',
  MAX_BODY_BYTES: 'Largest request body; larger is 413.',
  MAX_TRANSLATED_VALUES:
    'Most JSON values (objects, arrays, strings, numbers, literals) in a request body the gateway translates for another API; more is 413. Parsing and rebuilding a body holds the event loop in proportion to its values.',
  MAX_BUFFERED_RESPONSE_BYTES:
    'Non-streamed answers are buffered (so they can be retried) up to this size; a larger one is passed through as it arrives.',
  MAX_TRANSLATED_ANSWER_BYTES:
    'Most answer (text, reasoning, tool calls, in bytes of JSON) one translated stream carries; the gateway holds it for the closing events that repeat it. Past it the stream ends with an error event.',
  HEADERS_TIMEOUT_MS: 'Time a client has to send its request headers; then 408.',
  BODY_TIMEOUT_MS: 'Time a client has to send the whole request; then 408.',
  KEEP_ALIVE_TIMEOUT_MS: 'How long an idle client connection is kept open for the next request.',
  SHUTDOWN_GRACE_MS: 'On SIGTERM/SIGINT, how long in-flight requests may run before they are cut.',
  UPSTREAM_CONNECTIONS: 'Most connections open to each provider origin; 0 = no cap.',
  WORKERS: 'Processes serving the port: 1-256, or auto for one per core.',
  CORS_ORIGINS:
    'Browser origins allowed to call the gateway, comma-separated (https://app.example.com), or *; empty = CORS off.',
  CORS_ALLOW_HEADERS: 'Request headers a browser may send (a trailing * matches a prefix, as in x-stainless-*).',
  CORS_ALLOW_METHODS: 'Methods a browser may use.',
  CORS_MAX_AGE_S: 'How long a browser may cache a preflight answer, in seconds.',
  FETCH_IMAGE_URLS:
    'For providers that take only image bytes (Bedrock): off (an image URL is a 400), public (the gateway fetches it, public addresses only) or any (internal hosts too).',
  FETCH_IMAGE_MAX_BYTES: 'Largest image the gateway fetches (Bedrock takes up to 3.75 MB).',
  RESPONSES_ITEMS_MAX_BYTES:
    "Most bytes of output items kept, across all clients, for the Responses API's item references on translated providers (each client keeps at most 10,000 items and 32 MiB); past it, the client answered longest ago loses its oldest items first.",
  CACHE_MAX_BYTES:
    "Most bytes the in-memory response cache holds (routes with cache: { ttl }); past it, the entry used longest ago goes first.",
  CACHE_MAX_ENTRY_BYTES: 'Largest answer the response cache keeps; a larger one is served and not kept.',
  FETCH_IMAGE_TIMEOUT_MS: "How long a request's image fetches (in parallel) may take.",
  FETCH_IMAGE_TOTAL_BYTES:
    'Fetched image bytes (as base64) all requests together may hold at once; a request that would pass it is a 503 with Retry-After.',
  MESSAGES_THINKING:
    "On /v1/messages served by a non-Anthropic provider: drop leaves Anthropic's thinking and output_config.effort out (models that do not reason refuse reasoning_effort); effort sends them as reasoning_effort. The same for the Gemini API's generationConfig.thinkingConfig.",
  RESPONSES_HOSTED_TOOLS:
    "On /v1/responses translated to chat: drop leaves OpenAI's built-in tools (web_search, file_search, code_interpreter, ...) out and names them in x-gateway-dropped-params; refuse answers 400.",
  RECORD_REQUESTS: `How many of the last requests GET /debug/requests shows, redacted (0-${MAX_RECORDED_REQUESTS}); 0 = off, and the route does not exist.`,
  RECORD_BODY_BYTES: `How much of each recorded request body and answer is kept (0-${MAX_RECORD_BODY_BYTES}); RECORD_REQUESTS times this is at most ${MAX_RECORD_BYTES}.`,
  RECORD_READERS: 'Who may read GET /debug/requests: loopback (clients on this machine, not relayed by a proxy) or any.',
  METRICS: 'Prometheus metrics at GET /metrics: on or off (off costs nothing per request).',
  ADMIN_KEY_SHA256:
    'Hex SHA-256 of the admin key (never the key itself); when set, /admin/keys creates, lists and revokes gateway keys kept in the shared state. Unset, the admin API does not exist.',
  ADMIN_KEYS_REFRESH_MS: 'How often each gateway reads the admin API\'s keys from the shared state: a key created or revoked on another instance takes effect here within this.',
  KEYS_DEFAULT_MAX_TOKENS: 'With gateway keys that have token or USD limits: the output tokens a request that declares no max_tokens is reserved for, until its real usage settles it.',
  DASHBOARD:
    'The dashboard at /ui (live traffic, latency, tokens and cost, recent requests and errors, targets, limits): on or off (off: /ui does not exist and requests pay nothing for it).',
  DASHBOARD_READERS:
    "Who may read the dashboard's data (/ui/api/snapshot) when ADMIN_KEY_SHA256 is unset: loopback (clients on this machine, not relayed by a proxy) or any. With ADMIN_KEY_SHA256 set, the admin key is needed instead.",
  METRICS_MAX_MODELS: `Model names given a metrics label of their own, beyond the configured ones; any more are "other" (1-${MAX_METRICS_MODELS}).`,
  METRICS_READERS: 'Who may read GET /metrics without METRICS_TOKEN: loopback (clients on this machine, not relayed by a proxy) or any.',
  METRICS_TOKEN: 'When set, GET /metrics asks for "Authorization: Bearer <token>" from any address.',
  METRICS_PORT: 'When set (not 0), /metrics is served on this port (on HOST) instead of the main one.',
  METRICS_WORKER_TIMEOUT_MS: "With WORKERS > 1: how long a scrape waits for each worker's numbers before answering 503.",
  CONFIG_WATCH: 'on: the config file is reloaded when it changes, as on SIGHUP (a file that fails validation is not used); off: on SIGHUP only.',
  LOG_FORMAT: 'json (one JSON object a line), pretty (one readable line a request, for a terminal), or auto: pretty when stdout is a terminal.',
  STATUS_READERS: "Who may read GET /status/targets (each route target's breaker, key and latency): loopback or any.",
  OTEL_EXPORTER_OTLP_ENDPOINT:
    'OTLP/HTTP receiver for traces and GenAI metrics (/v1/traces and /v1/metrics are appended); unset = OpenTelemetry off and not loaded.',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'OTLP/HTTP URL for traces alone, used as is; overrides OTEL_EXPORTER_OTLP_ENDPOINT for traces.',
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'OTLP/HTTP URL for metrics alone, used as is; overrides OTEL_EXPORTER_OTLP_ENDPOINT for metrics.',
  OTEL_METRIC_EXPORT_INTERVAL: 'How often the GenAI metrics are sent, in milliseconds.',
  OTEL_TRACES_SAMPLER: `Which requests are traced: ${OTEL_SAMPLERS.join(', ')} (parentbased_*: as the incoming traceparent says, else the named sampler).`,
  OTEL_TRACES_SAMPLER_ARG: 'The share of traces kept by the traceidratio samplers (0-1).',
  REDIS_URL:
    'Redis shared by every gateway instance for limits, budgets, the cache and item memory (redis:// or rediss://); unset = state in this process. Redacted wherever it could appear.',
  REDIS_PREFIX: 'Prefix of every Redis key the gateway writes.',
  REDIS_TIMEOUT_MS: 'Most time one Redis command may take; then the limit fails open or closed as it says.',
  REDIS_FAIL_OPEN_SHARE:
    'While Redis is unreachable, a limit that fails open is enforced in each instance on this share of it (1/N with N instances).',
  STATE_MEMORY_MAX_BYTES: 'Most bytes (keys and values) the in-process store keeps for the cache and item memory; least recently used go first.',
  STATE_FILE: 'Without Redis: file the budgets are written to (every 5 s and at shutdown) and read from at start; unset, a restart resets budgets.',
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT:
    "true: traces carry the request's messages (redacted as the logs are, bounded); false: no prompt or answer content leaves the gateway.",
};

export interface ProviderSettings {
  readonly baseUrl: URL;
  /** Server-side key, used when the client sends none. */
  readonly apiKey: string | undefined;
  /** The spec's provider-specific options (ProviderSpec.options), each resolved to a value. */
  readonly options: Readonly<Record<string, string>>;
  /** The base URL was set by the operator (env or file), not taken from the spec's default. */
  readonly baseUrlConfigured: boolean;
}

export interface Config extends Settings {
  /** The built-in providers (`providerSpecs`), then the config file's custom ones, in its order. */
  readonly providerSpecs: readonly ProviderSpec[];
  /**
   * Each provider of `providerSpecs` that has a base URL, by name; a built-in one without a default
   * (Azure) and none configured is absent.
   */
  readonly providers: Readonly<Record<string, ProviderSettings>>;
  /**
   * `model_aliases` from the config file, in its order: a model name a client sends (Claude Code's
   * `claude-sonnet-4-5`), or a pattern of them with `*` (`claude-*`), and the model that serves it,
   * `provider/model` or a bare model name.
   */
  readonly modelAliases: ReadonlyMap<string, string>;
  /**
   * `default_models` from the config file: per inbound API, the model that serves a request that
   * names no provider and matched no alias.
   */
  readonly defaultModels: Readonly<Partial<Record<DefaultModelApi, string>>>;
  /** `routes` from the config file, in its order, each target's keys resolved and expanded. */
  readonly routes: readonly RouteConfig[];
  /** `prices` from the config file, in its order: they win over the price table (observe/prices.ts). */
  readonly prices: readonly PriceOverride[];
  /** `keys`, `key_groups` and `anonymous_routes` from the config file (governance/keys.ts). */
  readonly gatewayKeys: readonly FileKey[];
  readonly keyGroups: readonly FileKeyGroup[];
  readonly anonymousRoutes: readonly string[];
}

/** A model's price from the config file, in USD per million tokens. */
export interface PriceOverride {
  /** A provider of `providerSpecs`. */
  readonly provider: string;
  /** A model name as the provider is asked for it, or a pattern of them with `*`. */
  readonly model: string;
  readonly input: number;
  readonly output: number;
  /** Absent: cache reads cost `input`. */
  readonly cacheRead: number | undefined;
  /** Absent: cache writes cost `input`. */
  readonly cacheWrite: number | undefined;
  /** Absent: reasoning tokens cost `output`. */
  readonly reasoning: number | undefined;
}

/** One target of a route, one per key: a provider, a model, a key, and its overrides. */
export interface RouteTargetConfig {
  /** Its name in headers, logs and x-gateway-target: the file's `id`, else `provider/model`; `#2` for its second key. */
  readonly id: string;
  readonly provider: string;
  readonly model: string;
  /** The key's value, read from its variable at start-up; undefined: the provider's own (or the client's). */
  readonly key: string | undefined;
  readonly weight: number;
  readonly timeoutMs: number | undefined;
  readonly maxRetries: number;
  /** [name, value, ...]. */
  readonly headers: readonly string[];
}

export interface RouteConfig {
  /** A model name clients send, or a pattern of them with `*`. */
  readonly name: string;
  readonly strategy: Strategy;
  /** One deadline for the whole route (default REQUEST_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** One attempt budget for the whole route (default: every target once, plus its retries). */
  readonly maxAttempts: number;
  /** Statuses besides 429, 5xx and 529 that move on to the next target. */
  readonly failOverOn: ReadonlySet<number>;
  /** A request may pick one of the targets with `x-gateway-target`. */
  readonly allowTargetOverride: boolean;
  readonly hedge: { readonly afterMs: number; readonly maxInFlight: number } | undefined;
  readonly breaker: Readonly<BreakerSettings>;
  /** The response cache's time to live for the route's answers; undefined: the route caches nothing. */
  readonly cacheTtlMs: number | undefined;
  readonly targets: readonly RouteTargetConfig[];
}

/** Hedges one route may have in flight at once unless its config says otherwise. */
export const DEFAULT_HEDGES_IN_FLIGHT = 16;

export interface LoadOptions {
  /** The path given with --config; it wins over CONFIG_FILE. */
  readonly configFile?: string | undefined;
  /** The built-in providers: the registry's unless given (tests, and embedders, pass others). */
  readonly providerSpecs?: readonly ProviderSpec[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** One line per problem, each naming its setting; `message` is these joined by newlines. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Every variable the gateway reads besides the providers' and CONFIG_FILE. */
export const settingNames = Object.keys(settingsSchema.shape) as (keyof Settings)[];

function parseBaseUrl(value: string): URL | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an absolute http(s) URL, got "${value}"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https, got "${url.protocol}"`;
  // Paths are joined as base + route suffix, so keep the base without its trailing slash.
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

const shape: Readonly<Record<string, z.ZodType>> = settingsSchema.shape;

/** The settings as they are when nothing is set, for --help. */
export function defaultSettings(): Settings {
  const defaults: Record<string, unknown> = {};
  for (const name of settingNames) defaults[name] = shape[name]!.parse(undefined);
  return defaults as Settings;
}

/** A custom provider's variables, from its name: vllm-a reads VLLM_A_BASE_URL and VLLM_A_API_KEY. */
export function customProviderEnv(name: string): { readonly baseUrlEnv: string; readonly apiKeyEnv: string } {
  const prefix = name.toUpperCase().replace(/[.-]/g, '_');
  return { baseUrlEnv: `${prefix}_BASE_URL`, apiKeyEnv: `${prefix}_API_KEY` };
}

/** Variables the gateway reads already (a custom provider may not read one of them), and what each is. */
function variablesInUse(builtIns: readonly ProviderSpec[]): ReadonlyMap<string, string> {
  const taken = new Map<string, string>([['CONFIG_FILE', 'the config file\'s path']]);
  for (const name of settingNames) taken.set(name, 'a setting');
  for (const spec of builtIns) {
    taken.set(spec.baseUrlEnv, `${spec.name}'s base URL`);
    taken.set(spec.apiKeyEnv, `${spec.name}'s key`);
    for (const [name, option] of Object.entries(spec.options ?? {})) taken.set(option.env, `${spec.name}'s option ${name}`);
  }
  return taken;
}

/**
 * Whether a base URL would send requests back to this gateway: the same port, and a host that is
 * this machine (loopback, any-address, HOST, its hostname or an interface address). Names that
 * only DNS could tell are not resolved: start-up stays synchronous and offline.
 */
function selfAddress(host: string, port: number): (url: URL) => boolean {
  const addresses = new BlockList();
  addresses.addSubnet('127.0.0.0', 8, 'ipv4');
  addresses.addAddress('::1', 'ipv6');
  addresses.addAddress('0.0.0.0', 'ipv4');
  addresses.addAddress('::', 'ipv6');
  const names = new Set(['localhost', hostname().toLowerCase()]);
  const own = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address));
  for (const address of [...own, host]) {
    const family = isIP(address);
    // An address with a zone (fe80::1%eth0) is not one BlockList takes; no URL can name it either.
    if (family !== 0 && !address.includes('%')) addresses.addAddress(address, family === 6 ? 'ipv6' : 'ipv4');
    else if (family === 0) names.add(address.toLowerCase().replace(/\.$/, ''));
  }
  return (url) => {
    const urlPort = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    if (urlPort !== port) return false;
    const urlHost = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    const family = isIP(urlHost);
    if (family !== 0) return addresses.check(urlHost, family === 6 ? 'ipv6' : 'ipv4');
    return names.has(urlHost) || urlHost.endsWith('.localhost');
  };
}

/** Each setting from the environment, else the file, else its default; `labels` says where each came from. */
function readSettings(env: NodeJS.ProcessEnv, file: ConfigFile, problems: string[]) {
  const inFile = new Map<string, ConfigFile['settings'][number]>();
  for (const entry of file.settings) {
    // Names as the environment's (PORT), in any case (port): YAML files tend to be lower case.
    const name = entry.key.toUpperCase();
    const first = inFile.get(name);
    if (!Object.hasOwn(shape, name)) problems.push(`${entry.at}: unknown setting; known: ${settingNames.join(', ')}`);
    else if (first !== undefined) problems.push(`${entry.at}: set twice (first as ${first.key} at line ${first.line})`);
    else inFile.set(name, entry);
  }

  // Each setting on its own, so that one bad value hides neither the others nor the checks across them.
  const values: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const valid = new Set<string>();
  for (const name of settingNames) {
    const fromEnv = env[name] !== undefined && env[name] !== '';
    const entry = fromEnv ? undefined : inFile.get(name);
    const input = fromEnv ? env[name] : entry?.value;
    labels[name] = entry?.at ?? name;
    const parsed = shape[name]!.safeParse(input);
    if (parsed.success) {
      // zod hands out a copy of an array default; the Config is frozen all the way down.
      values[name] = Array.isArray(parsed.data) ? Object.freeze(parsed.data) : parsed.data;
      valid.add(name);
      continue;
    }
    for (const issue of parsed.error.issues) {
      // A custom issue quotes the bad item itself; the others say what they got.
      const got = issue.code === 'custom' ? '' : `, got ${JSON.stringify(input)}`;
      problems.push(`${labels[name]}: ${issue.message}${got}`);
    }
  }
  const base = values.RETRY_BASE_DELAY_MS as number;
  const ceiling = values.RETRY_MAX_DELAY_MS as number;
  if (valid.has('RETRY_BASE_DELAY_MS') && valid.has('RETRY_MAX_DELAY_MS') && ceiling < base) {
    problems.push(`${labels.RETRY_MAX_DELAY_MS}: must be at least RETRY_BASE_DELAY_MS (${base}), got ${ceiling}`);
  }
  const recorded = values.RECORD_REQUESTS as number;
  const bodyBytes = values.RECORD_BODY_BYTES as number;
  if (valid.has('RECORD_REQUESTS') && valid.has('RECORD_BODY_BYTES') && recorded * bodyBytes > MAX_RECORD_BYTES) {
    problems.push(
      `${labels.RECORD_BODY_BYTES}: RECORD_REQUESTS (${recorded}) times RECORD_BODY_BYTES must be at most ${MAX_RECORD_BYTES}, got ${bodyBytes} (at most ${Math.floor(MAX_RECORD_BYTES / recorded)} with ${recorded} requests)`,
    );
  }
  // Each worker has its own in-process store: a key made through one would work on its share of requests only.
  if (valid.has('ADMIN_KEY_SHA256') && valid.has('WORKERS') && values.ADMIN_KEY_SHA256 !== '' && values.WORKERS !== 1 && values.REDIS_URL === '') {
    problems.push(`${labels.ADMIN_KEY_SHA256}: with WORKERS above 1 the admin API's keys need REDIS_URL, which every worker shares; set it, or WORKERS=1`);
  }
  // Each worker would write its own budgets over the others' in the one file, and read back one worker's at start.
  if (valid.has('STATE_FILE') && valid.has('WORKERS') && values.STATE_FILE !== '' && values.WORKERS !== 1 && values.REDIS_URL === '') {
    problems.push(`${labels.STATE_FILE}: with WORKERS above 1 each worker keeps its own budgets and would overwrite the others' in one file; share them with REDIS_URL, or set WORKERS=1`);
  }
  return { values, labels, valid };
}

/** The file's custom providers as specs; one whose name or variables clash is left out, with its problem. */
function customSpecs(
  builtIns: readonly ProviderSpec[],
  file: ConfigFile,
  env: NodeJS.ProcessEnv,
  problems: string[],
): { readonly spec: ProviderSpec; readonly entry: FileProvider }[] {
  const builtIn = new Set(builtIns.map((spec) => spec.name));
  const taken = variablesInUse(builtIns);
  const declared = new Map<string, number>();
  const byVariable = new Map<string, string>();
  const specs: { spec: ProviderSpec; entry: FileProvider }[] = [];
  for (const custom of file.customProviders) {
    const { value: name, at, line } = custom.name;
    const { baseUrlEnv, apiKeyEnv } = customProviderEnv(name);
    const clash = [baseUrlEnv, apiKeyEnv].find((variable) => taken.has(variable));
    const first = declared.get(name);
    const sharing = byVariable.get(baseUrlEnv);
    if (first === undefined) declared.set(name, line);
    if (sharing === undefined) byVariable.set(baseUrlEnv, name);
    const problem = builtIn.has(name)
      ? `"${name}" is a built-in provider; set its base_url, key or options under providers.${name}`
      : first !== undefined
        ? `"${name}" is declared twice (first at line ${first})`
        : sharing !== undefined
          ? `"${name}" and "${sharing}" would both read ${baseUrlEnv} and ${apiKeyEnv}; rename one`
          : clash !== undefined
            ? `"${name}" would read ${clash}, which is already ${taken.get(clash)}; rename it`
            : custom.baseUrl === undefined && !env[baseUrlEnv]
              ? `"${name}" needs a base_url (or ${baseUrlEnv} in the environment)`
              : undefined;
    if (problem !== undefined) {
      problems.push(`${at}: ${problem}`);
      continue;
    }
    specs.push({
      entry: custom,
      spec: openAICompatible({
        name,
        defaultBaseUrl: custom.baseUrl?.value,
        baseUrlEnv,
        apiKeyEnv,
        keyOptional: custom.keyOptional,
        requestIdHeader: custom.requestIdHeader,
        headers: Object.freeze(custom.headers.map((pair) => Object.freeze(pair))),
        // Declared by the operator (responses_api: true): the server serves OpenAI's Responses API.
        responsesApi: custom.responsesApi ? 'https://platform.openai.com/docs/api-reference/responses' : undefined,
        // A server of the team's own that speaks OpenAI's API: that API is its reference.
        docs: 'https://platform.openai.com/docs/api-reference',
      }),
    });
  }
  return specs;
}

/**
 * One provider's base URL, key and options: the environment's, else the file's (`entry`), else the
 * spec's defaults. Undefined when it has no base URL, or a problem.
 */
function resolveProvider(
  spec: ProviderSpec,
  entry: FileProvider | undefined,
  env: NodeJS.ProcessEnv,
  loops: ((url: URL) => boolean) | undefined,
  port: number,
  problems: string[],
): ProviderSettings | undefined {
  const fromEnv = Boolean(env[spec.baseUrlEnv]);
  const chosen = env[spec.baseUrlEnv] || entry?.baseUrl?.value || spec.defaultBaseUrl;
  if (chosen === undefined) return undefined;
  const fromFile = !fromEnv && entry?.baseUrl !== undefined;
  const label = fromFile ? entry.baseUrl!.at : spec.baseUrlEnv;
  const baseUrl = parseBaseUrl(chosen);
  let ok = true;
  if (typeof baseUrl === 'string') {
    problems.push(`${label}: ${baseUrl}`);
    ok = false;
  } else if (loops?.(baseUrl)) {
    const fix = fromFile ? 'Point it at the provider' : 'Unset it for the gateway, or point it at the provider';
    problems.push(`${label}: ${baseUrl.protocol}//${baseUrl.host}${baseUrl.pathname} points at this gateway (PORT ${port}); requests would loop. ${fix}`);
    ok = false;
  }

  let apiKey = env[spec.apiKeyEnv] || undefined;
  if (apiKey === undefined && entry?.apiKeyEnv !== undefined) {
    const variable = entry.apiKeyEnv.value;
    apiKey = env[variable] || undefined;
    if (apiKey === undefined) {
      problems.push(`${entry.apiKeyEnv.at}: the environment variable ${variable} is not set (or is empty)`);
      ok = false;
    }
  }
  apiKey ??= entry?.apiKey?.value;

  const specOptions = spec.options ?? {};
  const options: Record<string, string> = {};
  for (const [name, option] of Object.entries(specOptions)) {
    const fromEnv = env[option.env] || (option.fallbackEnv === undefined ? undefined : env[option.fallbackEnv]) || undefined;
    const inFile = fromEnv ? undefined : entry?.options.find((given) => given.name === name);
    const value = fromEnv || inFile?.value || option.default;
    if (option.values !== undefined && !option.values.includes(value)) {
      problems.push(`${inFile?.at ?? option.env}: must be one of ${option.values.join(', ')}, got ${JSON.stringify(value)}`);
      ok = false;
    }
    if (option.url === true && value !== '') {
      const url = parseBaseUrl(value);
      if (typeof url === 'string') {
        problems.push(`${inFile?.at ?? option.env}: ${url}`);
        ok = false;
      } else {
        options[name] = url.href.replace(/\/+$/, '');
        continue;
      }
    }
    options[name] = value;
  }
  const known = Object.keys(specOptions);
  for (const given of entry?.options ?? []) {
    if (Object.hasOwn(specOptions, given.name)) continue;
    problems.push(`${given.at}: unknown option; ${known.length > 0 ? `known: ${known.join(', ')}` : `${spec.name} has none`}`);
    ok = false;
  }
  if (!ok || typeof baseUrl === 'string') return undefined;
  return Object.freeze({ baseUrl, apiKey, options: Object.freeze(options), baseUrlConfigured: fromEnv || fromFile });
}

/** The problems with the environment's first, as found, then the file's by line. */
function inFileOrder(problems: readonly string[], path: string): string[] {
  const lineOf = (problem: string): number => {
    if (!problem.startsWith(`${path}:`)) return 0;
    return Number.parseInt(problem.slice(path.length + 1), 10) || 0;
  };
  return problems.map((problem, index) => ({ problem, index, line: lineOf(problem) }))
    .sort((a, b) => a.line - b.line || a.index - b.index)
    .map(({ problem }) => problem);
}

/** Visible ASCII without quotes or backslashes: what the server accepts as a model name. */
const MODEL_NAME = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;

/** Why a model an alias or a default names cannot serve, or undefined: a model name, a prefix a provider that can serve. */
function targetProblem(target: string, specs: readonly ProviderSpec[], providers: Readonly<Record<string, ProviderSettings>>): string | undefined {
  if (!MODEL_NAME.test(target)) return `must be a model name (visible ASCII, no spaces, quotes or backslashes), got ${JSON.stringify(target)}`;
  if (isPattern(target)) return `must name one model, got ${JSON.stringify(target)}: "*" is a pattern only in the alias's name`;
  const slash = target.indexOf('/');
  const prefix = slash > 0 ? target.slice(0, slash).toLowerCase() : undefined;
  if (prefix !== undefined && specs.some((spec) => spec.name === prefix) && providers[prefix] === undefined) {
    return `provider "${prefix}" has no base URL configured`;
  }
  return undefined;
}

/** Why an alias's name cannot be used, or undefined: a model name, or a pattern with `*` between text. */
function aliasNameProblem(name: string): string | undefined {
  if (!MODEL_NAME.test(name)) return 'an alias must be a model name (visible ASCII, no spaces, quotes or backslashes)';
  if (name.includes(`${WILDCARD}${WILDCARD}`)) return `"${WILDCARD}${WILDCARD}" matches what "${WILDCARD}" does; write one`;
  if (name.replaceAll(WILDCARD, '') === '') {
    return `a pattern of "${WILDCARD}" alone would take every model on every route; set default_models for an API instead`;
  }
  return undefined;
}

/**
 * Builds the Config from the environment and the config file (`options.configFile`, else
 * CONFIG_FILE); throws one ConfigError listing every problem.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): Config {
  const problems: string[] = [];
  const path = options.configFile ?? (env.CONFIG_FILE || undefined);
  const file = path === undefined ? EMPTY_FILE : readConfigFile(path, options.configFile !== undefined ? '--config' : 'CONFIG_FILE', problems);
  const { values, labels, valid } = readSettings(env, file, problems);

  const builtIns = options.providerSpecs ?? providerSpecs;
  const custom = customSpecs(builtIns, file, env, problems);
  const specs = [...builtIns, ...custom.map(({ spec }) => spec)];
  const entries = new Map<string, FileProvider>(custom.map(({ spec, entry }) => [spec.name, entry]));
  const declared = new Set(file.customProviders.map((entry) => entry.name.value));
  for (const entry of file.providers) {
    const name = entry.name.value;
    if (builtIns.some((spec) => spec.name === name)) entries.set(name, entry);
    else if (declared.has(name)) problems.push(`${entry.name.at}: "${name}" is declared under custom_providers; set its base_url and key there`);
    else {
      problems.push(
        `${entry.name.at}: unknown provider; built-in: ${builtIns.map((spec) => spec.name).join(', ')} (a provider of your own goes under custom_providers)`,
      );
    }
  }

  const port = values.PORT as number;
  const loops = valid.has('PORT') && valid.has('HOST') && port !== 0 ? selfAddress(values.HOST as string, port) : undefined;
  const providers: Record<string, ProviderSettings> = {};
  const absent = new Set<string>();
  for (const spec of specs) {
    const entry = entries.get(spec.name);
    if (!env[spec.baseUrlEnv] && entry?.baseUrl === undefined && spec.defaultBaseUrl === undefined) absent.add(spec.name);
    const settings = resolveProvider(spec, entry, env, loops, port, problems);
    if (settings !== undefined) providers[spec.name] = settings;
  }

  const defaultProvider = values.DEFAULT_PROVIDER as string;
  const defaultSpec = specs.find((spec) => spec.name === defaultProvider);
  if (valid.has('DEFAULT_PROVIDER') && defaultSpec === undefined) {
    problems.push(`${labels.DEFAULT_PROVIDER}: unknown provider "${defaultProvider}"; known: ${specs.map((spec) => spec.name).join(', ')}`);
  } else if (defaultSpec !== undefined && absent.has(defaultProvider)) {
    problems.push(
      `${labels.DEFAULT_PROVIDER}: "${defaultProvider}" has no base URL; set ${defaultSpec.baseUrlEnv} (or providers.${defaultProvider}.base_url in the config file)`,
    );
  }

  const modelAliases = new Map<string, string>();
  for (const alias of file.modelAliases) {
    const problem = aliasNameProblem(alias.name) ?? targetProblem(alias.value, specs, providers);
    if (problem !== undefined) problems.push(`${alias.at}: ${problem}`);
    else modelAliases.set(alias.name, alias.value);
  }
  const defaultModels: Partial<Record<DefaultModelApi, string>> = {};
  for (const entry of file.defaultModels) {
    const problem = targetProblem(entry.value, specs, providers);
    if (problem !== undefined) problems.push(`${entry.at}: ${problem}`);
    else defaultModels[entry.api] = entry.value;
  }

  const routes = resolveRoutes(file, env, values as Settings, specs, providers, modelAliases, problems);
  const prices = resolvePrices(file, specs, problems);
  checkKeys(file, routes, specs, problems);

  if (problems.length > 0) throw new ConfigError(path === undefined ? problems : inFileOrder(problems, path));
  return Object.freeze({
    ...(values as Settings),
    providerSpecs: Object.freeze(specs),
    providers: Object.freeze(providers),
    modelAliases,
    defaultModels: Object.freeze(defaultModels),
    routes,
    prices,
    gatewayKeys: Object.freeze(file.keys),
    keyGroups: Object.freeze(file.keyGroups),
    anonymousRoutes: Object.freeze(file.anonymousRoutes),
  });
}

/** Each key's routes and providers name ones the configuration has, as do the anonymous routes. */
function checkKeys(file: ConfigFile, routes: readonly RouteConfig[], specs: readonly ProviderSpec[], problems: string[]): void {
  const routeNames = new Set(routes.map((route) => route.name));
  const providerNames = new Set(specs.map((spec) => spec.name));
  for (const key of file.keys) {
    for (const route of key.routes ?? []) {
      if (!routeNames.has(route)) problems.push(`${key.name.at}: key ${JSON.stringify(key.name.value)} names the route ${JSON.stringify(route)}, which routes does not declare`);
    }
    for (const provider of key.providers ?? []) {
      if (!providerNames.has(provider)) problems.push(`${key.name.at}: key ${JSON.stringify(key.name.value)} names the provider ${JSON.stringify(provider)}, which the gateway does not know`);
    }
  }
  for (const route of file.anonymousRoutes) {
    if (!routeNames.has(route)) problems.push(`anonymous_routes: ${JSON.stringify(route)} is not a route that routes declares`);
  }
}

/** The file's prices, each for a provider the gateway knows and a model name (or a pattern), given once. */
function resolvePrices(file: ConfigFile, specs: readonly ProviderSpec[], problems: string[]): readonly PriceOverride[] {
  const prices: PriceOverride[] = [];
  const seen = new Set<string>();
  for (const entry of file.prices) {
    const provider = entry.provider.value;
    const model = entry.model.value;
    if (!specs.some((spec) => spec.name === provider)) {
      problems.push(`${entry.provider.at}: unknown provider "${provider}"; known: ${specs.map((spec) => spec.name).join(', ')}`);
      continue;
    }
    if (!MODEL_NAME.test(model)) {
      problems.push(`${entry.model.at}: must be a model name (visible ASCII, no spaces, quotes or backslashes), or a pattern of them with "*"`);
      continue;
    }
    const key = `${provider}/${model}`;
    if (seen.has(key)) {
      problems.push(`${entry.model.at}: ${provider} "${model}" is priced twice`);
      continue;
    }
    seen.add(key);
    prices.push(Object.freeze({ provider, model, input: entry.input, output: entry.output, cacheRead: entry.cacheRead, cacheWrite: entry.cacheWrite, reasoning: entry.reasoning }));
  }
  return Object.freeze(prices);
}

/**
 * The file's routes with their targets checked (a configured provider, keys whose variables are
 * set, ids unique) and expanded, one target per key.
 */
function resolveRoutes(
  file: ConfigFile,
  env: NodeJS.ProcessEnv,
  settings: Settings,
  specs: readonly ProviderSpec[],
  providers: Readonly<Record<string, ProviderSettings>>,
  aliases: ReadonlyMap<string, string>,
  problems: string[],
): RouteConfig[] {
  const defaults: BreakerSettings = { ...DEFAULT_BREAKER, ...file.breaker };
  const routes: RouteConfig[] = [];
  for (const route of file.routes) {
    const name = route.name.value;
    const nameProblem = aliasNameProblem(name)?.replace('an alias', 'a route name');
    if (nameProblem !== undefined) {
      problems.push(`${route.name.at}: ${nameProblem}`);
      continue;
    }
    if (aliases.has(name)) {
      problems.push(`${route.name.at}: is also a model alias; a name is served by one or the other`);
      continue;
    }
    const targets: RouteTargetConfig[] = [];
    let ok = true;
    for (const target of route.targets) {
      const provider = target.provider.value.toLowerCase();
      if (!specs.some((spec) => spec.name === provider)) {
        problems.push(`${target.provider.at}: unknown provider "${target.provider.value}"; known: ${specs.map((spec) => spec.name).join(', ')}`);
        ok = false;
        continue;
      }
      if (providers[provider] === undefined) {
        problems.push(`${target.provider.at}: provider "${provider}" has no base URL configured`);
        ok = false;
        continue;
      }
      const modelProblem = targetProblem(target.model, specs, providers);
      if (modelProblem !== undefined) {
        problems.push(`${target.at}.model: ${modelProblem}`);
        ok = false;
        continue;
      }
      const id = target.id ?? `${provider}/${target.model}`;
      const keys = target.keys.length === 0 ? [undefined] : target.keys.map((key) => {
        const value = env[key.value];
        if (!value) {
          problems.push(`${key.at}: the environment variable ${key.value} is not set (or is empty)`);
          ok = false;
        }
        return value;
      });
      const maxRetries = target.maxRetries ?? (route.targets.length === 1 && keys.length === 1 ? settings.MAX_RETRIES : 0);
      for (const [index, key] of keys.entries()) {
        targets.push({
          id: index === 0 ? id : `${id}#${index + 1}`,
          provider,
          model: target.model,
          key,
          weight: target.weight,
          timeoutMs: target.timeoutMs,
          maxRetries,
          headers: Object.freeze(target.headers.flat()),
        });
      }
    }
    if (!ok) continue;
    const ids = new Set<string>();
    for (const target of targets) {
      if (ids.has(target.id)) problems.push(`${route.name.at}: two targets are named "${target.id}"; give one an id`);
      ids.add(target.id);
    }
    if (targets.length > MAX_ROUTE_TARGETS) {
      problems.push(`${route.name.at}: ${targets.length} targets with their keys; a route may have at most ${MAX_ROUTE_TARGETS}`);
      continue;
    }
    const everyAttempt = targets.reduce((sum, target) => sum + target.maxRetries + 1, 0);
    routes.push(
      Object.freeze({
        name,
        strategy: route.strategy,
        timeoutMs: route.timeoutMs ?? settings.REQUEST_TIMEOUT_MS,
        maxAttempts: route.maxAttempts ?? Math.min(everyAttempt, MAX_ROUTE_ATTEMPTS),
        failOverOn: new Set(route.failOverOn),
        allowTargetOverride: route.allowTargetOverride,
        hedge: route.hedge === undefined ? undefined : { afterMs: route.hedge.afterMs, maxInFlight: route.hedge.maxInFlight ?? DEFAULT_HEDGES_IN_FLIGHT },
        breaker: Object.freeze({ ...defaults, ...route.breaker }),
        cacheTtlMs: route.cacheTtlS === undefined ? undefined : route.cacheTtlS * 1000,
        targets: Object.freeze(targets),
      }),
    );
  }
  return routes;
}

/** The attempt budget of a route that sets none is every target once with its retries, at most this. */
const MAX_ROUTE_ATTEMPTS = 100;
