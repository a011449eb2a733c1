// HTTP transport: limits, parse, route, write. It knows routes and HTTP, not providers: the
// request path itself is Gateway.forward.
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Config } from './config.js';
import { DEFAULT_MODEL_APIS, type DefaultModelApi } from './aliases.js';
import { createCors } from './cors.js';
import { GatewayError, errorJson, typeForStatus } from './errors.js';
import type { Exchange, Provider } from './exchange.js';
import { Gateway, sendError, type GatewayOptions } from './gateway.js';
import { InFlight } from './inflight.js';
import { lingeringEnd, readBody, readJsonBody, type BodyBytes } from './body.js';
import type { BodyFacts } from './jsonbody.js';
import type { Logger } from './logger.js';
import { redactCredentials, safeEcho } from './redact.js';
import { newRequestId } from './requestid.js';
import { logRequest, requestLineWriters } from './requestlog.js';
import { ModelLabels, requestRecord } from './observe/records.js';
import { AdminApi, ADMIN_PREFIX } from './admin/api.js';
import { keyEntry, StoredKeys } from './admin/stored-keys.js';
import { Dashboard } from './admin/dashboard/dashboard.js';
import { Governance, GovernanceCounts } from './governance/admission.js';
import { fileKeyEntry } from './governance/keys.js';
import { createStore } from './state/index.js';
import type { StoreHealth } from './state/store.js';
import { Metrics, METRICS_PATH, metricsRefusal } from './observe/metrics.js';
import { operatorRefusal } from './operator.js';
import { RECORD_PATH, RequestRecorder } from './record.js';
import { VERSION } from './version.js';
import {
  ANTHROPIC_MESSAGES,
  COUNT_TOKENS_PATH,
  GEMINI_API,
  GEMINI_COUNT_TOKENS,
  GEMINI_GENERATE,
  GEMINI_MODELS_PATH,
  GEMINI_STREAM,
  MESSAGES_PATH,
  RESPONSES_PATH,
  geminiArrayRoute,
  geminiSseRoute,
  geminiWholeRoute,
  messagesRoute,
  responsesRoute,
} from './inbound/index.js';
import { estimateTokens } from './inbound/gemini/count.js';
import type { InboundRoute } from './inbound/types.js';

interface Route {
  readonly method: 'GET' | 'POST';
  /** The key of `default_models` whose model serves a request here that names none the gateway knows. */
  readonly defaultModel?: DefaultModelApi;
  /** The API the route speaks, when it is not OpenAI's chat completions. */
  readonly api?: InboundRoute;
  /** For JSON routes: the field besides `model` that a request must carry... */
  readonly required?: string;
  /** ...as bytes, for the body scanner. */
  readonly requiredBytes?: Buffer;
}

/**
 * What a model name may be: visible ASCII without quotes or backslashes (so it never needs
 * escaping in a log line or a body), up to MAX_MODEL_CHARS. Every provider's names fit: resource
 * paths, `name:tag`, `org/model`, ARNs, `#` deployment suffixes.
 */
const MAX_MODEL_CHARS = 256;
const MODEL_NAME = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

const MODELS_ROUTE: Route = { method: 'GET' };

// First-class routes are validated; any other /v1/* path is forwarded to the provider unchanged.
const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  [DEFAULT_MODEL_APIS.chat, jsonRoute('messages', undefined, 'chat')],
  ['/v1/completions', jsonRoute('prompt')],
  ['/v1/embeddings', jsonRoute('input')],
  ['/v1/models', MODELS_ROUTE],
  [MESSAGES_PATH, jsonRoute('messages', messagesRoute, 'anthropic-messages')],
  [COUNT_TOKENS_PATH, jsonRoute('messages', messagesRoute, 'anthropic-messages')],
  [RESPONSES_PATH, jsonRoute('input', responsesRoute, 'openai-responses')],
]);

function jsonRoute(required: string, api?: InboundRoute, defaultModel?: DefaultModelApi): Route {
  return { method: 'POST', required, requiredBytes: Buffer.from(required), api, defaultModel };
}

/** The API of a path under an inbound API's routes that is not a route of its own (`/v1/responses/<id>`). */
function apiOfPath(path: string): InboundRoute | undefined {
  if (path.startsWith(RESPONSES_PATH) && path.charCodeAt(RESPONSES_PATH.length) === SLASH) return responsesRoute;
  if (path.startsWith(MESSAGES_PATH) && path.charCodeAt(MESSAGES_PATH.length) === SLASH) return messagesRoute;
  return undefined;
}
const SLASH = 0x2f;

/** Gemini's model routes: `/v1beta/models/{model}:{method}`; the model may hold slashes (`provider/model`). */
const GEMINI_MODEL_PREFIX = `${GEMINI_MODELS_PATH}/`;
const GEMINI_CONTENTS = 'contents';
const GEMINI_CONTENTS_BYTES = Buffer.from(GEMINI_CONTENTS);
/** The query parameter in which Google's clients may send their key. */
const GEMINI_KEY_PARAM = 'key';
const GEMINI_KEY_HEADER = 'x-goog-api-key';
/** How the Gemini API names a model as a resource (`models/gemini-2.5-flash`). */
const GEMINI_RESOURCE_PREFIX = 'models/';

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** Each route target's health, for an operator. */
const STATUS_PATH = '/status/targets';
/** How long start-up waits for a remote state store (Redis) to connect before listening anyway. */
const STORE_READY_TIMEOUT_MS = 5_000;
const JSON_CONTENT_TYPE = 'application/json';

export interface GatewayServer {
  readonly server: Server;
  readonly gateway: Gateway;
  /** The dashboard at /ui, when DASHBOARD is on. */
  readonly dashboard: Dashboard | undefined;
  /** Starts listening on HOST:PORT (or the given port); resolves with the bound address. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish within `graceMs`, then closes everything. */
  shutdown(graceMs?: number): Promise<void>;
  /**
   * Serves new requests with `next` (a configuration loadConfig checked): keys, routes, aliases,
   * prices and per-request settings. Requests in flight finish on what they started with; the
   * replaced gateway's connections close once the last of them has. Returns the settings that
   * differ but only a restart applies (the listener's, the store's, telemetry's).
   */
  reload(next: Config): string[];
}

/** Settings the process or its listener read once at start: a reload that changes them says a restart is needed. */
const RESTART_SETTINGS = [
  'PORT',
  'HOST',
  'WORKERS',
  'HEADERS_TIMEOUT_MS',
  'BODY_TIMEOUT_MS',
  'KEEP_ALIVE_TIMEOUT_MS',
  'RECORD_REQUESTS',
  'RECORD_BODY_BYTES',
  'METRICS',
  'METRICS_PORT',
  'METRICS_MAX_MODELS',
  'DASHBOARD',
  'REDIS_URL',
  'REDIS_PREFIX',
  'REDIS_TIMEOUT_MS',
  'REDIS_FAIL_OPEN_SHARE',
  'STATE_FILE',
  'STATE_MEMORY_MAX_BYTES',
  'ADMIN_KEY_SHA256',
  'ADMIN_KEYS_REFRESH_MS',
  'LOG_LEVEL',
  'LOG_FORMAT',
  // Telemetry is set up once, at start (observe/telemetry.ts).
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT',
] as const satisfies readonly (keyof Config)[];

/** Whether a configuration needs the shared store: gateway keys (the file's or the admin API's), or Redis for the cache and the item memory. */
function needsStore(config: Config): boolean {
  return config.gatewayKeys.length > 0 || config.ADMIN_KEY_SHA256 !== '' || config.REDIS_URL !== '';
}

export function createGatewayServer(config: Config, logger: Logger, options: GatewayOptions = {}): GatewayServer {
  /** Where limits, budgets and (with Redis) the cache and the item memory live; kept across reloads. */
  let store = options.store ?? (needsStore(config) ? createStore(config, logger) : undefined);
  const ownsStore = options.store === undefined;
  // config, gateway, governance, cors and requestLines are replaced together by reload(); a request
  // reads them as it goes, and the gateway it started on stays open until it ends.
  let gateway = new Gateway(config, logger, { ...options, store });
  const telemetry = options.telemetry;
  let cors = createCors(config);
  let requestLines = requestLineWriters(logger, gateway.secrets);
  /** The record of the last requests (RECORD_REQUESTS), when it is on; off, nothing below calls it. */
  const recorder = config.RECORD_REQUESTS > 0 ? new RequestRecorder(config.RECORD_REQUESTS, config.RECORD_BODY_BYTES, gateway.secrets) : undefined;
  /** Prometheus metrics (METRICS=on), fed each finished request's record; off, nothing below calls it. */
  const metrics =
    config.METRICS === 'on'
      ? new Metrics({
          maxModels: config.METRICS_MAX_MODELS,
          knownModels: gateway.knownModels(),
          // A worker of main.ts's cluster answers a scrape with the sum its primary gathers.
          clusterTimeoutMs: options.clusterWorker === true ? config.METRICS_WORKER_TIMEOUT_MS : undefined,
        })
      : undefined;
  /**
   * Gateway keys, their limits and budgets (config file `keys`, and the admin API's when
   * ADMIN_KEY_SHA256 is set, even with no file keys); absent, no request pays for them.
   */
  const adminOn = config.ADMIN_KEY_SHA256 !== '';
  const governanceCounts = new GovernanceCounts();
  const governanceOf = (c: Config, g: Gateway): Governance | undefined =>
    c.gatewayKeys.length > 0 || adminOn ? new Governance(c, store!, g.pricing, c.KEYS_DEFAULT_MAX_TOKENS, governanceCounts) : undefined;
  let governance = governanceOf(config, gateway);
  /** The admin API's keys, read from the store in the background (never by a request) into governance's table. */
  const storedKeys = adminOn ? new StoredKeys(store!, (keys) => governance!.useApiKeys(keys), config.ADMIN_KEYS_REFRESH_MS, logger) : undefined;
  let admin = storedKeys !== undefined ? new AdminApi(config, config.gatewayKeys.map(fileKeyEntry), storedKeys) : undefined;
  /** Gateways a reload replaced that still serve requests begun on them; each closes after its last. */
  const retiring = new Set<Gateway>();
  const retire = (old: Gateway) => {
    retiring.delete(old);
    old.close().catch((err: unknown) => logger.warn({ err: String(err) }, 'closing the replaced configuration failed'));
  };
  // OpenTelemetry's metrics name the models Prometheus's do, within the same bound.
  const modelLabels = metrics?.models ?? new ModelLabels(config.METRICS_MAX_MODELS, gateway.knownModels());
  telemetry?.useModelLabels(modelLabels);
  const startedAt = Date.now();
  let draining = false;
  /** Requests in progress, so that a shutdown can end them cleanly when its grace runs out. */
  const inFlight = new InFlight<Exchange>();
  metrics?.attach({
    inFlight: () => {
      let streams = 0;
      for (const ex of inFlight.values()) if (ex.stream && ex.res.headersSent) streams++;
      return { requests: inFlight.size, streams };
    },
    governance: () => governance?.figures(),
    targets: () =>
      gateway.routes.all.flatMap((route) =>
        route.targets.map((target) => ({ route: route.name, target: target.id, breaker: target.breaker.state, resting: !target.cooldown.available() })),
      ),
  });
  /** The dashboard (DASHBOARD=on), fed each finished request's record; off, nothing below calls it and /ui does not exist. */
  const dashboard =
    config.DASHBOARD === 'on'
      ? new Dashboard(
          {
            routes: () => gateway.routes.all.map((route) => route.status()),
            limits: (maxKeys) => governance?.limitUse(maxKeys),
            secrets: () => gateway.secrets,
          },
          VERSION,
          undefined, // the page as built
          modelLabels,
        )
      : undefined;
  /** The listener of METRICS_PORT, when metrics have a port of their own. */
  let metricsServer: Server | undefined;
  let drained: (() => void) | undefined;

  const server = createServer(
    {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      requestTimeout: Math.max(config.BODY_TIMEOUT_MS, config.HEADERS_TIMEOUT_MS),
      keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
      // How often slow-client timeouts are checked; the default (30 s) is too coarse.
      connectionsCheckingInterval: Math.min(1_000, config.HEADERS_TIMEOUT_MS),
      // The gateway routes by path alone; an HTTP/1.1 request without Host gets a JSON answer like any other.
      requireHostHeader: false,
      // Recording, a response that keeps its first bytes; otherwise Node's own, untouched.
      ...(recorder !== undefined && { ServerResponse: recorder.responseClass }),
    },
    (req, res) => {
      // Preflights are answered here, without a provider and without a request line.
      if (cors?.handle(req, res)) return;
      const ex = newExchange(req, res);
      const entry = inFlight.add(ex);
      const startedOn = gateway;
      startedOn.inFlight++;
      res.on('close', () => {
        inFlight.delete(entry);
        if (--startedOn.inFlight === 0 && startedOn !== gateway) retire(startedOn);
        if (!res.writableFinished && !ex.cutByGateway) {
          ex.clientGone = true;
          ex.waiting?.cancel();
        }
        const record = requestRecord(ex, gateway.pricing);
        governance?.settle(ex, record);
        logRequest(requestLines, record);
        metrics?.finished(record);
        dashboard?.finished(record);
        telemetry?.requestEnded(ex, record, gateway.secrets);
        // Operator routes are not recorded (record.ts): an admin answer may carry a key just made.
        recorder?.add(ex);
        if (draining) {
          server.closeIdleConnections();
          if (inFlight.size === 0) drained?.();
        }
      });
      if (draining) res.setHeader('connection', 'close');
      handle(ex).catch((err: unknown) => fail(ex, err));
    },
  );

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A response already started on this connection (a stream, with garbage after its request):
    // an answer written here would land inside it, so the connection is closed, as Node does.
    const response = (socket as { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    if (err.code === 'ECONNRESET' || !socket.writable || response?.headersSent === true) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const message =
      status === 408
        ? 'The request was not received in time.'
        : status === 431
          ? 'Request headers are too large.'
          : 'Malformed HTTP request.';
    // A client still sending (a malformed body, say) must be able to read the answer before the
    // connection closes: what it sends on is read and dropped for a while, as after a 413.
    if (status === 408) socket.end(rawError(status, message));
    // A request on this connection still awaits its answer: that answer is the last one, then
    // the connection closes (what follows the request is not HTTP).
    else if (response !== undefined && !response.writableEnded) {
      socket.removeAllListeners('data');
      response.shouldKeepAlive = false;
    }
    else lingeringEnd(socket, rawError(status, message));
  });

  // Expect values other than 100-continue, and CONNECT: Node's own answers have no JSON body.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const ex = newExchange(req, res);
    ex.status = 417;
    sendError(ex, new GatewayError(417, 'Only "Expect: 100-continue" is supported.', 'expectation_failed'));
  });
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(rawError(405, 'CONNECT is not supported: this is an HTTP API, not a proxy.'));
  });

  async function handle(ex: Exchange): Promise<void> {
    const { req, res } = ex;
    const url = req.url ?? '/';
    const path = ex.path;

    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method, 'GET');
      const body = JSON.stringify({
        status: draining ? 'draining' : 'ok',
        version: VERSION,
        uptime_s: Math.round((Date.now() - startedAt) / 1000),
        // Where limits and budgets live, and whether it answers: limits that fail open serve on local counts meanwhile.
        ...(store !== undefined && { state: stateHealth(store.health()) }),
      });
      ex.status = draining ? 503 : 200;
      res.writeHead(ex.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (path === GEMINI_MODELS_PATH || path.startsWith(GEMINI_MODEL_PREFIX)) return handleGemini(ex);
    if (!path.startsWith('/v1/')) {
      if (admin !== undefined && path.startsWith(ADMIN_PREFIX)) return admin.handle(ex);
      if (path === RECORD_PATH && recorder !== undefined) return answerRecord(ex, recorder);
      if (path === STATUS_PATH) return answerStatus(ex);
      if (dashboard !== undefined && Dashboard.owns(path)) return dashboard.handle(ex, config);
      if (path === METRICS_PATH && metrics !== undefined && config.METRICS_PORT === 0) return answerMetrics(ex, metrics);
      throw new GatewayError(
        404,
        `Unknown route ${req.method} ${safeEcho(path, 200)}. The API lives under /v1/ (and Gemini's under ${GEMINI_MODELS_PATH}/).`,
        'unknown_route',
      );
    }
    const route = ROUTES.get(path);
    ex.api = route !== undefined ? route.api : apiOfPath(path);
    if (route && req.method !== route.method) throw methodNotAllowed(req.method, route.method);
    // Who is asking, from the headers alone: a refused key waits for no body.
    governance?.authenticate(ex);
    if (!route && hasDotSegment(path)) {
      // Forwarded paths must stay under the provider's API root.
      throw new GatewayError(400, `Path ${path} may not contain "." or ".." segments.`, 'invalid_path');
    }

    const providerHeader = req.headers['x-provider'];
    if (route === MODELS_ROUTE && req.headers['anthropic-version'] !== undefined) {
      // A client of Anthropic's API (Claude Code's model discovery): Anthropic's own list from a
      // provider that speaks the API, else the model aliases in Anthropic's shape.
      const provider = providerHeader === undefined || providerHeader === '' ? undefined : gateway.resolveProvider(providerHeader);
      if (provider === undefined || !provider.nativeApis.has(ANTHROPIC_MESSAGES)) {
        gateway.models.answerAliases(ex);
        return;
      }
      ex.api = messagesRoute;
    } else if (route === MODELS_ROUTE && (providerHeader === undefined || providerHeader === '')) {
      await gateway.models.answerUnion(ex);
      return;
    }
    ex.provider = gateway.resolveProvider(providerHeader);
    ex.method = req.method ?? 'GET';
    ex.upstreamPath = url.slice(3);
    ex.maxRetries = headerInt(req, 'x-gateway-max-retries', 0, config.MAX_RETRIES) ?? config.MAX_RETRIES;
    ex.timeoutMs = headerInt(req, 'x-gateway-timeout-ms', 1, config.REQUEST_TIMEOUT_MS) ?? config.REQUEST_TIMEOUT_MS;

    if (route?.method === 'POST') {
      if (!isJson(req.headers['content-type'])) {
        throw new GatewayError(
          415,
          `Content-Type must be application/json, got ${safeEcho(req.headers['content-type'])}.`,
          'unsupported_media_type',
        );
      }
      const { raw, facts } = await readJsonBody(req, config.MAX_BODY_BYTES, route.required!, route.requiredBytes!);
      readJsonRequest(ex, route, raw, facts);
      ex.contentType = JSON_CONTENT_TYPE;
    } else if (!route && ex.method !== 'GET' && ex.method !== 'HEAD' && ex.method !== 'DELETE') {
      ex.body = await readBody(req, config.MAX_BODY_BYTES);
      ex.contentType = req.headers['content-type'];
    }
    const admitting = governance?.admit(ex);
    if (admitting !== undefined) await admitting;
    await gateway.forward(ex);
  }

  /** Checks the fields the gateway relies on, and keeps what the request path needs. */
  function readJsonRequest(ex: Exchange, route: Route, raw: BodyBytes, facts: BodyFacts): void {
    const required = route.required!;
    if (facts.modelType !== 'string') {
      throw new GatewayError(
        400,
        facts.modelType === undefined ? 'Missing required parameter: model.' : 'Parameter model must be a non-empty string.',
        facts.modelType === undefined ? 'missing_required_parameter' : 'invalid_type',
        'model',
      );
    }
    const model = facts.model;
    if (model === undefined || model.length > MAX_MODEL_CHARS) {
      throw new GatewayError(400, `Parameter model must be at most ${MAX_MODEL_CHARS} characters.`, 'invalid_value', 'model');
    }
    if (!MODEL_NAME.test(model)) {
      throw model === ''
        ? new GatewayError(400, 'Parameter model must be a non-empty string.', 'invalid_type', 'model')
        : new GatewayError(
            400,
            'Parameter model may hold only visible ASCII characters (no spaces, quotes or backslashes).',
            'invalid_value',
            'model',
          );
    }
    if (facts.requiredType === undefined || facts.requiredType === 'null') {
      throw new GatewayError(400, `Missing required parameter: ${required}.`, 'missing_required_parameter', required);
    }
    if (required === 'messages' && facts.requiredType !== 'array') {
      throw new GatewayError(400, 'Parameter messages must be an array.', 'invalid_type', 'messages');
    }
    ex.stream = facts.stream;
    ex.bodyValues = facts.values;
    ex.facts = facts;
    ex.body = raw;
    routeModel(ex, model, route.defaultModel);
  }

  /** The model a client named: its alias, its `provider/` prefix, the provider's own spelling. */
  function routeModel(ex: Exchange, model: string, defaultModel: DefaultModelApi | undefined): void {
    ex.clientModel = model;
    // A route (config file `routes`) serves the name with its own targets, whatever else the request says.
    const route = gateway.routes.match(model);
    if (route !== undefined) {
      const first = route.targets[0]!;
      ex.route = route;
      ex.provider = first.provider;
      ex.model = first.model;
      ex.unaliased = false;
      return;
    }
    // An alias from the config file names the model, and its provider when it has a prefix; a
    // request that names no provider (no header, no `provider/` prefix) gets its API's default.
    const header = ex.req.headers['x-provider'];
    const noHeader = header === undefined || header === '';
    const aliases = gateway.modelAliases;
    let alias = aliases.resolve(model);
    let routed = alias === undefined && noHeader ? gateway.providerOfModel(model) : undefined;
    if (alias === undefined && routed === undefined && noHeader && defaultModel !== undefined) {
      alias = aliases.defaultFor(defaultModel);
    }
    let requested = model;
    if (alias !== undefined) {
      requested = alias;
      // An alias's `provider/model` picks the provider, over x-provider too.
      routed = alias.includes('/') ? gateway.providerOfModel(alias) : undefined;
    }
    if (routed !== undefined) {
      ex.provider = routed.provider;
      requested = routed.model;
    }
    ex.unaliased = alias === undefined && routed === undefined;
    ex.model = gateway.mapModel(ex.provider!, requested);
  }

  /**
   * The Gemini API: `GET /v1beta/models`, and `POST /v1beta/models/{model}:generateContent`,
   * `:streamGenerateContent` (SSE with `?alt=sse`, else one JSON array) and `:countTokens`. The
   * model is the path's, routed as a body's model is; the body is sent as it came (it names no model).
   */
  async function handleGemini(ex: Exchange): Promise<void> {
    const { req } = ex;
    const path = ex.path;
    // Errors in Google's shape from here on.
    ex.api = geminiWholeRoute;
    const query = queryOf(req.url);
    takeQueryKey(req, query);
    governance?.authenticate(ex);
    // A provider named by x-provider that serves the API itself answers for its models.
    const providerHeader = req.headers['x-provider'];
    const named = providerHeader === undefined || providerHeader === '' ? undefined : gateway.resolveProvider(providerHeader);
    const listedNatively = named !== undefined && named.nativeApis.has(GEMINI_API);
    if (path === GEMINI_MODELS_PATH || path === GEMINI_MODEL_PREFIX) {
      if (req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
      if (listedNatively) return forwardGeminiModels(ex, named, GEMINI_MODELS_PATH, query);
      gateway.models.answerGeminiAliases(ex);
      return;
    }
    const name = path.slice(GEMINI_MODEL_PREFIX.length);
    const colon = name.lastIndexOf(':');
    const method = colon === -1 ? '' : name.slice(colon + 1);
    const model = geminiModel(colon === -1 ? name : name.slice(0, colon));
    if (colon === -1) {
      if (req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
      if (listedNatively) return forwardGeminiModels(ex, named, `${GEMINI_MODEL_PREFIX}${encodeModel(model)}`, query);
      gateway.models.answerGeminiModel(ex, model, gateway.modelAliases.resolve(model));
      return;
    }
    if (method !== GEMINI_GENERATE && method !== GEMINI_STREAM && method !== GEMINI_COUNT_TOKENS) {
      throw new GatewayError(
        404,
        `Unknown Gemini method ${safeEcho(method, 60)}; the gateway serves :${GEMINI_GENERATE}, :${GEMINI_STREAM} and :${GEMINI_COUNT_TOKENS}.`,
        'unknown_route',
      );
    }
    if (req.method !== 'POST') throw methodNotAllowed(req.method, 'POST');
    if (method === GEMINI_STREAM) {
      ex.stream = true;
      ex.api = query?.get('alt') === 'sse' ? geminiSseRoute : geminiArrayRoute;
    }
    ex.provider = named ?? gateway.resolveProvider(undefined);
    ex.method = 'POST';
    ex.maxRetries = headerInt(req, 'x-gateway-max-retries', 0, config.MAX_RETRIES) ?? config.MAX_RETRIES;
    ex.timeoutMs = headerInt(req, 'x-gateway-timeout-ms', 1, config.REQUEST_TIMEOUT_MS) ?? config.REQUEST_TIMEOUT_MS;
    if (!isJson(req.headers['content-type'])) {
      throw new GatewayError(415, `Content-Type must be application/json, got ${safeEcho(req.headers['content-type'])}.`, 'unsupported_media_type');
    }
    const { raw, facts } = await readJsonBody(req, config.MAX_BODY_BYTES, GEMINI_CONTENTS, GEMINI_CONTENTS_BYTES);
    ex.bodyValues = facts.values;
    ex.contentType = JSON_CONTENT_TYPE;
    ex.body = raw;
    routeModel(ex, model, 'gemini');
    // For Google's API itself: after the model, the method and the client's query without its key (now a header).
    ex.modelInPath = `:${method}${upstreamQuery(query)}`;
    if (method === GEMINI_COUNT_TOKENS && !ex.provider!.nativeApis.has(GEMINI_API)) {
      answerTokenEstimate(ex, raw, facts);
      return;
    }
    if (facts.requiredType !== 'array') {
      throw new GatewayError(400, 'contents: required, a non-empty list of Content objects.', 'missing_required_parameter', GEMINI_CONTENTS);
    }
    const admitting = governance?.admit(ex);
    if (admitting !== undefined) await admitting;
    await gateway.forward(ex);
  }

  /** `GET /v1beta/models[/{model}]` from a provider that serves the Gemini API: its own answer, passed through. */
  async function forwardGeminiModels(ex: Exchange, provider: Provider, path: string, query: URLSearchParams | undefined): Promise<void> {
    ex.provider = provider;
    ex.method = 'GET';
    ex.upstreamPath = path + upstreamQuery(query);
    ex.maxRetries = headerInt(ex.req, 'x-gateway-max-retries', 0, config.MAX_RETRIES) ?? config.MAX_RETRIES;
    ex.timeoutMs = headerInt(ex.req, 'x-gateway-timeout-ms', 1, config.REQUEST_TIMEOUT_MS) ?? config.REQUEST_TIMEOUT_MS;
    await gateway.forward(ex);
  }

  /** `GET /status/targets`: each route's targets with their breaker, key and latency, for an operator. */
  function answerStatus(ex: Exchange): void {
    const { req, res } = ex;
    const refusal = operatorRefusal(req.socket.remoteAddress, req.headers, config.STATUS_READERS, STATUS_PATH, 'STATUS_READERS');
    if (refusal !== undefined) throw refusal;
    if (req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
    const body = gateway.routes.status();
    ex.status = 200;
    res.writeHead(200, { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-request-id': ex.id });
    res.end(body);
  }

  /** `GET /metrics`: the Prometheus exposition, for a scraper on this machine or one with METRICS_TOKEN. */
  async function answerMetrics(ex: Exchange, metrics: Metrics): Promise<void> {
    const { req, res } = ex;
    const refusal = metricsRefusal(req, config);
    if (refusal !== undefined) throw refusal;
    if (req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
    const { text, contentType } = await metrics.scrape();
    ex.status = 200;
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-request-id': ex.id });
    res.end(text);
  }

  /** `GET /debug/requests[?limit=N]`: the record of the last requests, newest first, for an operator. */
  function answerRecord(ex: Exchange, recorder: RequestRecorder): void {
    const { req, res } = ex;
    const refusal = operatorRefusal(req.socket.remoteAddress, req.headers, config.RECORD_READERS, RECORD_PATH, 'RECORD_READERS');
    if (refusal !== undefined) throw refusal;
    if (req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
    const limitText = queryOf(req.url)?.get('limit');
    const limit = limitText === undefined || limitText === null ? recorder.capacity : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new GatewayError(400, `limit must be a whole number, at least 1, got ${safeEcho(limitText ?? undefined)}.`, 'invalid_value', 'limit');
    }
    const body = recorder.json(limit);
    ex.status = 200;
    res.writeHead(200, {
      'content-type': JSON_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-request-id': ex.id,
    });
    res.end(body);
  }

  /** countTokens served by a provider that cannot count: the gateway's estimate (inbound/gemini/count.ts). */
  function answerTokenEstimate(ex: Exchange, raw: BodyBytes, facts: BodyFacts): void {
    if (facts.values > config.MAX_TRANSLATED_VALUES) {
      throw new GatewayError(413, `The request body holds ${facts.values} JSON values; at most ${config.MAX_TRANSLATED_VALUES} (MAX_TRANSLATED_VALUES) are counted.`, 'request_too_large');
    }
    const body = JSON.parse((Array.isArray(raw) ? Buffer.concat(raw) : raw).toString('utf8')) as unknown;
    const answer = JSON.stringify({ totalTokens: estimateTokens(body) });
    ex.status = 200;
    ex.res.writeHead(200, {
      'content-type': JSON_CONTENT_TYPE,
      'content-length': Buffer.byteLength(answer),
      'x-request-id': ex.id,
      'x-gateway-token-count': 'estimate',
    });
    ex.res.end(answer);
  }

  function fail(ex: Exchange, err: unknown): void {
    if (ex.clientGone) return;
    if (err instanceof GatewayError) {
      sendError(ex, err);
      return;
    }
    logger.error({ reqId: ex.id, err: redactCredentials(String((err as Error)?.stack ?? err), [], gateway.secrets) }, 'unexpected error');
    sendError(ex, new GatewayError(500, 'Internal gateway error.', 'internal_error', null, 'server_error'));
  }

  /** Ends a request at shutdown: a stream with an SSE error event, a request still waiting with a 503. */
  function cutOff(ex: Exchange): void {
    ex.waiting?.cancel();
    if (!ex.res.headersSent) ex.res.setHeader('connection', 'close');
    const error = new GatewayError(503, 'The gateway is shutting down; the request was cut off. Retry it.', 'shutting_down');
    if (!ex.res.writableEnded) sendError(ex, error);
  }

  return {
    server,
    dashboard,
    get gateway() {
      return gateway;
    },
    reload(next: Config): string[] {
      const restart = RESTART_SETTINGS.filter((name) => JSON.stringify(next[name]) !== JSON.stringify(config[name]));
      // A store appears with the first keys; one that exists stays (REDIS_URL is a restart setting).
      store ??= needsStore(next) ? createStore(next, logger) : undefined;
      const old = gateway;
      const replacement = new Gateway(next, logger, { ...options, store });
      config = next;
      gateway = replacement;
      governance = governanceOf(next, replacement);
      // The admin API's keys as last read, beside the new file keys; its names and checks from the new file.
      if (storedKeys !== undefined) {
        governance!.useApiKeys(storedKeys.keys.map(keyEntry));
        admin = new AdminApi(next, next.gatewayKeys.map(fileKeyEntry), storedKeys);
      }
      cors = createCors(next);
      requestLines = requestLineWriters(logger, replacement.secrets);
      recorder?.useSecrets(replacement.secrets);
      if (old.inFlight === 0) retire(old);
      else retiring.add(old);
      return restart;
    },
    async listen(port = config.PORT, host = config.HOST) {
      // Limits shared through a remote store are enforced from the first request, not served on
      // local counts while it connects; a store still unreachable then is a warning, and each
      // limit fails open or closed as configured.
      if (store?.ready !== undefined) {
        await store.ready(STORE_READY_TIMEOUT_MS).catch((err: Error) => logger.warn({ err: err.message }, 'state store not reachable at start-up: limits fail open or closed as configured until it is'));
      }
      // The admin API's keys are served from the first request; the store unreachable, from the next refresh that reads them.
      if (storedKeys !== undefined) {
        await storedKeys.refresh();
        storedKeys.start();
      }
      if (metrics !== undefined && config.METRICS_PORT !== 0) {
        metricsServer = createMetricsServer(metrics, config, () => config, logger);
        await listenOn(metricsServer, config.METRICS_PORT, host);
      }
      return listenOn(server, port, host);
    },
    async shutdown(graceMs = config.SHUTDOWN_GRACE_MS) {
      draining = true;
      storedKeys?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const allDone = () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      if (inFlight.size > 0) await allDone();
      if (inFlight.size > 0) {
        // The grace is over: end what is left with an answer the client's SDK understands,
        // and give those last bytes a moment to leave.
        for (const ex of inFlight.values()) cutOff(ex);
        graceMs = 1_000;
        await allDone();
      }
      server.closeAllConnections();
      metricsServer?.closeAllConnections();
      metricsServer?.close();
      await closed;
      await Promise.all([gateway, ...retiring].map((open) => open.close()));
      if (ownsStore) await store?.close();
      // The last requests' spans and metrics are sent before the process may exit.
      await telemetry?.shutdown();
    },
  };
}

function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * METRICS_PORT's listener: GET /metrics and nothing else. Its timeouts are the configuration's at
 * start; who may read is the current one's (a reload that rotates METRICS_TOKEN applies here too).
 */
function createMetricsServer(metrics: Metrics, config: Config, current: () => Config, logger: Logger): Server {
  return createServer({ headersTimeout: config.HEADERS_TIMEOUT_MS, requestTimeout: config.HEADERS_TIMEOUT_MS }, (req, res) => {
    const answer = (status: number, body: string, contentType = JSON_CONTENT_TYPE): void => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
    };
    const refusal =
      pathOf(req.url) !== METRICS_PATH
        ? new GatewayError(404, `This port serves ${METRICS_PATH} alone.`, 'unknown_route')
        : req.method !== 'GET'
          ? methodNotAllowed(req.method, 'GET')
          : metricsRefusal(req, current());
    if (refusal !== undefined) return answer(refusal.status, errorJson(refusal.toBody()));
    metrics.scrape().then(
      ({ text, contentType }) => answer(200, text, contentType),
      (err: unknown) => {
        logger.error({ err: String(err) }, 'metrics scrape failed');
        // A cluster's scrape says why (a worker too slow to answer: 503); anything else is ours.
        if (err instanceof GatewayError) return answer(err.status, errorJson(err.toBody()));
        answer(500, errorJson({ message: 'The metrics could not be gathered.', type: 'server_error', code: 'internal_error', param: null }));
      },
    );
  });
}

function newExchange(req: IncomingMessage, res: ServerResponse): Exchange {
  const incoming = req.headers['x-request-id'];
  return {
    id: typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId(),
    req,
    res,
    startedAt: performance.now(),
    path: pathOf(req.url),
    provider: undefined,
    method: req.method ?? 'GET',
    upstreamPath: '',
    body: null,
    bodyValues: 0,
    facts: undefined,
    modelInPath: undefined,
    attempts: undefined,
    route: undefined,
    contentType: undefined,
    model: undefined,
    clientModel: undefined,
    unaliased: false,
    api: undefined,
    stream: false,
    maxRetries: 0,
    timeoutMs: 0,
    status: 0,
    upstreamStatus: 0,
    retries: 0,
    firstByteMs: undefined,
    upstreamMs: 0,
    waitedMs: 0,
    usage: undefined,
    errorMessage: undefined,
    clientGone: false,
    cutByGateway: false,
    waiting: undefined,
    trace: undefined,
    gatewayKey: undefined,
    admitted: undefined,
    limitHeaders: undefined,
  };
}

/** The store's health for /health: its kind, whether it answers, since when it has not. */
function stateHealth(health: StoreHealth): Record<string, unknown> {
  return {
    store: health.kind,
    up: health.up,
    ...(health.downSince !== undefined && { down_since: new Date(health.downSince).toISOString() }),
    ...(health.lastError !== undefined && { last_error: health.lastError }),
  };
}

/** A whole HTTP answer, for a socket that has no ServerResponse; the connection then closes. */
function rawError(status: number, message: string): string {
  const body = errorJson({ message, type: typeForStatus(status), code: null, param: null });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

/** The query string's parameters, when the URL has any. */
function queryOf(url: string | undefined): URLSearchParams | undefined {
  const queryAt = url?.indexOf('?') ?? -1;
  return queryAt === -1 ? undefined : new URLSearchParams(url!.slice(queryAt + 1));
}

/**
 * A Gemini client's `?key=` is its credential: it becomes the x-goog-api-key header (unless one
 * was sent), so that it is sent on, and redacted from messages, as every header key is; the query
 * itself is never logged (the request line has the path alone) nor quoted.
 */
function takeQueryKey(req: IncomingMessage, query: URLSearchParams | undefined): void {
  const key = query?.get(GEMINI_KEY_PARAM);
  if (key === undefined || key === null || key === '' || req.headers[GEMINI_KEY_HEADER] !== undefined) return;
  req.headers[GEMINI_KEY_HEADER] = key;
}

/**
 * A model as a Gemini path names it: without the resource prefix (`models/gemini-2.5-flash` is
 * `gemini-2.5-flash`), escaped where a URL path needs it (slashes stay: tuned models hold them).
 */
function encodeModel(model: string): string {
  const name = model.startsWith(GEMINI_RESOURCE_PREFIX) ? model.slice(GEMINI_RESOURCE_PREFIX.length) : model;
  return encodeURIComponent(name).replaceAll('%2F', '/');
}

/** The client's query as sent upstream: its key taken out (it goes as a header), the rest as it came. */
function upstreamQuery(query: URLSearchParams | undefined): string {
  if (query === undefined) return '';
  query.delete(GEMINI_KEY_PARAM);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

/** The model of a Gemini path, percent-decoded (the SDKs escape nothing, but a client may), and checked as a body's model is. */
function geminiModel(encoded: string): string {
  let model: string;
  try {
    model = decodeURIComponent(encoded);
  } catch {
    throw new GatewayError(400, 'The model in the path is not valid percent-encoding.', 'invalid_value', 'model');
  }
  if (model === '') throw new GatewayError(400, 'The path names no model: use /v1beta/models/{model}:generateContent.', 'missing_required_parameter', 'model');
  if (model.length > MAX_MODEL_CHARS) throw new GatewayError(400, `The model must be at most ${MAX_MODEL_CHARS} characters.`, 'invalid_value', 'model');
  if (!MODEL_NAME.test(model)) throw new GatewayError(400, 'The model may hold only visible ASCII characters (no spaces, quotes or backslashes).', 'invalid_value', 'model');
  return model;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}

function methodNotAllowed(method: string | undefined, allowed: string): GatewayError {
  return new GatewayError(405, `Method ${method} is not allowed here; use ${allowed}.`, 'method_not_allowed', null, undefined, {
    allow: allowed,
  });
}

const DOT_SEGMENT = /(?:^|\/)\.{1,2}(?:\/|$)/;

function hasDotSegment(path: string): boolean {
  if (DOT_SEGMENT.test(path)) return true;
  try {
    return path.includes('%') && DOT_SEGMENT.test(decodeURIComponent(path));
  } catch {
    return true; // undecodable escapes: refuse rather than guess how the provider reads them
  }
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(';');
  const mime = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return mime === JSON_CONTENT_TYPE || mime.endsWith('+json');
}

/** A per-request override header, clamped to the server's limits; 400 when it is not an integer. */
function headerInt(req: IncomingMessage, name: string, min: number, max: number): number | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isInteger(n)) {
    throw new GatewayError(400, `Header ${name} must be an integer.`, 'invalid_header', name);
  }
  return Math.min(max, Math.max(min, n));
}
