// The gateway: the providers as configured, and the request's path through them. `forward` reads
// the request's steps in order; the router (route/router.ts) runs the plan's targets, each prepared
// from the client's request (route/prepare.ts), in attempts that write through one sink (sink.ts).
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { OVERHEAD_HEADER } from './attempt.js';
import { formatMs } from './requestlog.js';
import type { Config } from './config.js';
import { DEFAULT_AUTH, SERVER_KEY_PLACEHOLDER, clientName, requestCredentials } from './credentials.js';
import { GatewayError, errorJson } from './errors.js';
import type { Exchange, Provider } from './exchange.js';
import type { Logger } from './logger.js';
import type { ProviderSpec } from './providers/index.js';
import { GEMINI_API_OPTION, NATIVE_BASE_URL_OPTION, RESPONSES_API_OPTION } from './providers/types.js';
import { GEMINI_API, RESPONSES_API } from './inbound/index.js';
import { configuredSecrets, redactValue, safeEcho, urlSecrets } from './redact.js';
import { streamErrorEvent } from './sink.js';
import { ItemMemory } from './inbound/openai-responses/memory.js';
import { SharedItemMemory } from './inbound/openai-responses/shared-memory.js';
import { createPool } from './upstream.js';
import { ImageFetcher } from './images.js';
import { ModelLists } from './models.js';
import { DEFAULT_MODEL_APIS, ModelAliases, type DefaultModelApi } from './aliases.js';
import type { Telemetry } from './observe/telemetry.js';
import type { Store } from './state/store.js';
import { singleTarget } from './route/plan.js';
import { Preparer } from './route/prepare.js';
import { Router } from './route/router.js';
import { MemoryCacheStore } from './cache/memory.js';
import { ResponseCache } from './cache/response-cache.js';
import { createPricing } from './observe/prices.js';
import type { Pricing } from './observe/records.js';
import { Routes, TARGET_HEADER } from './route/routes.js';
import type { Target } from './route/target.js';

export { SERVER_KEY_PLACEHOLDER };
export { MAX_DROPPED_PARAMS_CHARS, droppedParams } from './route/prepare.js';
export type { Exchange, Provider } from './exchange.js';

const NO_HEADERS: readonly string[] = Object.freeze([]);
/** The most of a client's model name a message quotes. */
const MAX_MODEL_ECHO_CHARS = 256;
/** Regions a provider may be sent to at once, each with its pool. */
const MAX_ORIGIN_POOLS = 16;

export interface GatewayOptions {
  /**
   * This gateway's name in `via` headers, to recognise a request that comes back through it (a
   * loop). Workers of one cluster share it.
   */
  readonly instanceId?: string;
  /** OpenTelemetry (observe/telemetry.ts startTelemetry), when an OTLP endpoint is configured; the server's shutdown flushes it. */
  readonly telemetry?: Telemetry;
  /**
   * This process is a worker of main.ts's cluster, whose primary sums the workers' metrics: a
   * scrape then answers that sum rather than this worker's own.
   */
  readonly clusterWorker?: boolean;
  /**
   * Where limits, budgets and leases live (state/): made by the server when the configuration needs
   * one (gateway keys, REDIS_URL), or given by a caller that shares one between gateways (tests).
   */
  readonly store?: Store;
}

export class Gateway {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly defaultProvider: Provider;
  /** Known providers that cannot serve: no base URL configured (Azure has no public default). */
  private readonly unconfigured: ReadonlyMap<string, ProviderSpec>;
  private readonly knownProviders: string;
  /** Decided once: building a debug record costs even when pino then drops it. */
  private readonly debug: boolean;
  /** `1.1 ai-gateway-<id>`: what this gateway adds to `via`, and finds there when a request loops. */
  private readonly via: string;
  readonly models: ModelLists;
  /** The config file's model aliases and default models, patterns compiled. */
  readonly modelAliases: ModelAliases;
  private readonly images: ImageFetcher;
  /** The Responses API's output items this gateway answered with, for clients' item references. */
  private readonly outputItems: ItemMemory;
  private readonly router: Router;
  /** Its configured secrets (provider keys and secret options, routes' keys): redacted by value wherever it tells of something. */
  readonly secrets: readonly string[];
  /** The config file's routes, their targets' health kept here. */
  readonly routes: Routes;
  /** Prices answers (the price table under the config file's prices), for records and the cost header. */
  readonly pricing: Pricing;
  /** The routes' response cache, when a route has one. */
  private readonly cache: ResponseCache | undefined;
  /** Where limits, budgets and leases (and, with Redis, the cache and the item memory) live; the server's, kept across reloads. */
  readonly store: Store | undefined;
  /** Requests begun on this gateway and not yet closed: one a reload replaced closes after its last (server.ts). */
  inFlight = 0;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
    options: GatewayOptions = {},
  ) {
    const providers = new Map<string, Provider>();
    const secrets: (string | undefined)[] = [];
    const unconfigured = new Map<string, ProviderSpec>();
    for (const spec of config.providerSpecs) {
      const settings = config.providers[spec.name];
      if (settings === undefined) {
        unconfigured.set(spec.name, spec);
        continue;
      }
      secrets.push(settings.apiKey);
      const auth = spec.auth ?? DEFAULT_AUTH;
      const pool = createPool(settings.baseUrl.origin, { connections: config.UPSTREAM_CONNECTIONS });
      const nativeUrl = nativeBaseUrl(spec, settings.baseUrl, settings.options);
      providers.set(spec.name, {
        name: spec.name,
        spec,
        pool,
        origin: settings.baseUrl.origin,
        // A base URL without a path has pathname "/": routes then start at the root, not at "//".
        basePath: settings.baseUrl.pathname === '/' ? '' : settings.baseUrl.pathname,
        serverCredential: settings.apiKey ? [auth.header, auth.scheme ? `${auth.scheme} ${settings.apiKey}` : settings.apiKey] : undefined,
        headers: providerHeaders(spec, settings.options),
        options: settings.options,
        serverKey: settings.apiKey,
        configuredBaseUrl: settings.baseUrlConfigured ? settings.baseUrl : undefined,
        pools: new Map(),
        nativeApis: nativeApis(spec, settings.options, nativeUrl),
        nativeBase:
          nativeUrl === undefined
            ? undefined
            : {
                pool: nativeUrl.origin === settings.baseUrl.origin ? pool : createPool(nativeUrl.origin, { connections: config.UPSTREAM_CONNECTIONS }),
                basePath: nativeUrl.pathname === '/' ? '' : nativeUrl.pathname,
              },
      });
      for (const [name, option] of Object.entries(spec.options ?? {})) if (option.secret) secrets.push(settings.options[name]);
    }
    this.providers = providers;
    this.unconfigured = unconfigured;
    const fallback = providers.get(config.DEFAULT_PROVIDER) ?? providers.values().next().value;
    if (fallback === undefined) throw new Error('no provider is configured');
    this.defaultProvider = fallback;
    this.knownProviders = [...providers.keys(), ...unconfigured.keys()].join(', ');
    this.debug = logger.isLevelEnabled('debug');
    this.via = `1.1 ai-gateway-${options.instanceId ?? Math.random().toString(36).slice(2, 10)}`;
    this.modelAliases = new ModelAliases(config.modelAliases, config.defaultModels);
    this.images = new ImageFetcher(config.FETCH_IMAGE_URLS, {
      maxBytes: config.FETCH_IMAGE_MAX_BYTES,
      timeoutMs: config.FETCH_IMAGE_TIMEOUT_MS,
      totalBytes: config.FETCH_IMAGE_TOTAL_BYTES,
    });

    for (const route of config.routes) for (const target of route.targets) secrets.push(target.key);
    if (config.METRICS_TOKEN !== '') secrets.push(config.METRICS_TOKEN);
    if (config.REDIS_URL !== '') secrets.push(...urlSecrets(config.REDIS_URL));
    this.secrets = configuredSecrets(secrets);
    this.routes = new Routes(config.routes, (name) => providers.get(name)!);
    // Lists the aliases and the routes: made after them.
    this.models = new ModelLists(this, logger);
    this.pricing = createPricing(config);
    const cached = config.routes.some((route) => route.cacheTtlMs !== undefined);
    this.store = options.store;
    // In Redis the cache is shared by every gateway; in this process it has its own byte bound.
    const cacheStore = this.store !== undefined && this.store.kind === 'redis' ? this.store : new MemoryCacheStore(config.CACHE_MAX_BYTES);
    // With Redis the Responses API's items are kept there too, so that item_reference works behind several gateways.
    this.outputItems =
      this.store?.kind === 'redis' ? new SharedItemMemory(this.store, { maxBytes: config.RESPONSES_ITEMS_MAX_BYTES }) : new ItemMemory({ maxBytes: config.RESPONSES_ITEMS_MAX_BYTES });
    this.cache = cached ? new ResponseCache(cacheStore, { maxEntryBytes: config.CACHE_MAX_ENTRY_BYTES, maxRecordingBytes: config.CACHE_MAX_BYTES }, this.pricing, logger) : undefined;
    const preparer = new Preparer({ config, logger, debug: this.debug, via: this.via, images: this.images, outputItems: this.outputItems, secrets: this.secrets });
    this.router = new Router({
      config,
      logger,
      debug: this.debug,
      preparer,
      poolFor: (provider, origin) => this.poolFor(provider, origin),
      aliasMiss: (ex, target) => this.aliasMiss(ex, target),
      secrets: this.secrets,
      telemetry: options.telemetry,
      pricing: this.pricing,
    });
  }

  /** The model names the configuration holds (aliases' and default models' targets, route targets' models). */
  knownModels(): Set<string> {
    const models = new Set<string>();
    for (const [, target] of this.modelAliases.entries) models.add(target);
    for (const route of this.config.routes) for (const target of route.targets) models.add(target.model);
    return models;
  }

  /** The provider named by `x-provider` (any case), or the default one. */
  resolveProvider(header: string | string[] | undefined): Provider {
    if (header === undefined || header === '') return this.defaultProvider;
    // Clients nearly always send the name as registered; only other spellings pay for normalising.
    const exact = typeof header === 'string' ? this.providers.get(header) : undefined;
    if (exact !== undefined) return exact;
    const requested = (Array.isArray(header) ? header[0]! : header).trim();
    const provider = this.byName(requested.toLowerCase());
    if (!provider) {
      throw new GatewayError(
        400,
        `Unknown provider ${safeEcho(requested)} in the x-provider header. Known providers: ${this.knownProviders}.`,
        'unknown_provider',
        'x-provider',
      );
    }
    return provider;
  }

  /**
   * For a model written `provider/model` and a request without `x-provider`: the provider its first
   * segment names, when that is a known provider name (so `accounts/fireworks/models/...` stays
   * Fireworks'), and the rest of the name.
   */
  providerOfModel(model: string): { provider: Provider; model: string } | undefined {
    const slash = model.indexOf('/');
    if (slash <= 0 || slash === model.length - 1) return undefined;
    const provider = this.byName(model.slice(0, slash).toLowerCase());
    return provider === undefined ? undefined : { provider, model: model.slice(slash + 1) };
  }

  /** A configured provider by its lower-case name; a known one without a base URL is a 400. */
  private byName(name: string): Provider | undefined {
    const provider = this.providers.get(name);
    if (provider !== undefined) return provider;
    const spec = this.unconfigured.get(name);
    if (spec === undefined) return undefined;
    throw new GatewayError(
      400,
      `Provider "${spec.name}" has no base URL configured: start the gateway with ${spec.baseUrlEnv} set ` +
        `(or providers.${spec.name}.base_url in the config file).`,
      'provider_not_configured',
      'x-provider',
    );
  }

  /** The model name as the provider wants it (e.g. a short name expanded). */
  mapModel(provider: Provider, model: string): string {
    const mapModel = provider.spec.mapModel;
    return mapModel === undefined ? model : mapModel(model);
  }

  /** Whether a request came back through this gateway (a loop through a proxy or a base URL). */
  private looped(ex: Exchange): boolean {
    const via = ex.req.headers.via;
    return via !== undefined && via.includes(this.via);
  }

  /**
   * The request's steps after the transport read it, in order: a request that came back through
   * this gateway is a loop; the plan names the targets that may answer; the router tries them,
   * each prepared from the client's request, and the attempt that commits writes the answer.
   */
  forward(ex: Exchange): Promise<void> {
    if (this.looped(ex)) {
      throw new GatewayError(
        508,
        'The request came back through this gateway (its via header names this gateway): a provider base URL or a proxy points back here.',
        'loop_detected',
      );
    }
    const route = ex.route;
    const plan = route !== undefined ? route.plan(ex.req.headers[TARGET_HEADER]) : singleTarget(ex.provider!, ex.model, ex.unaliased, ex.maxRetries, ex.timeoutMs, ex.gatewayKey !== undefined);
    if (route?.cacheTtlMs !== undefined) {
      // The tenant is who the answer belongs to: the gateway key's name, else a hash of the client's credentials.
      const tenant = ex.gatewayKey !== undefined ? `key:${ex.gatewayKey.name}` : clientName(ex.req.headers);
      return this.cache!.serve(ex, plan, route.cacheTtlMs, tenant, (sink) => this.router.run(ex, plan, sink));
    }
    return this.router.run(ex, plan);
  }

  /**
   * What a provider's 404 adds for a model name no alias matched (which aliases exist, and where to
   * add one), when the client's model name reached it unchanged, and aliases are configured or the
   * client speaks an API whose clients (Claude Code, Codex) send model names they do not let a user
   * change.
   */
  private aliasMiss(ex: Exchange, target: Target): string | undefined {
    if (!target.unaliased || (ex.api === undefined && !this.modelAliases.configured)) return undefined;
    const name = ex.api !== undefined ? ex.api.name : ex.path === DEFAULT_MODEL_APIS.chat ? 'chat' : undefined;
    const api = name !== undefined && Object.hasOwn(DEFAULT_MODEL_APIS, name) ? (name as DefaultModelApi) : undefined;
    return this.modelAliases.missMessage(safeEcho(ex.clientModel!, MAX_MODEL_ECHO_CHARS), api);
  }

  /**
   * The pool for an origin an adapter chose (a region's endpoint): the provider's own for its
   * base URL, else one made on first use and kept, up to MAX_ORIGIN_POOLS per provider.
   */
  private poolFor(provider: Provider, origin: string): Dispatcher {
    if (origin === provider.origin) return provider.pool;
    let pool = provider.pools.get(origin);
    if (pool === undefined) {
      if (provider.pools.size >= MAX_ORIGIN_POOLS) {
        // The oldest goes; its requests in flight finish first.
        const [oldest, oldPool] = provider.pools.entries().next().value!;
        provider.pools.delete(oldest);
        void oldPool.close();
      }
      pool = createPool(origin, { connections: this.config.UPSTREAM_CONNECTIONS });
      provider.pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = new Set([...this.providers.values()].flatMap((provider) => [provider.pool, ...provider.pools.values(), ...(provider.nativeBase ? [provider.nativeBase.pool] : [])]));
    await Promise.all([...[...pools].map((pool) => pool.close()), this.images.close()]);
  }
}

/**
 * Writes a gateway error as the answer, shaped for the API the client speaks: JSON when nothing
 * was sent yet, else an SSE error event.
 */
export function sendError(ex: Exchange, error: GatewayError): void {
  const res = ex.res;
  // Whatever the message quotes (a header, a path, a provider's text), the client's own credentials are not in it.
  for (const secret of requestCredentials(ex.req.headers, undefined, NO_HEADERS)) {
    const redacted = redactValue(error.message, secret);
    if (redacted !== error.message) error = error.withMessage(redacted);
    if (error.sentBody !== undefined) error = error.asSent(error.status, redactValue(error.sentBody, secret));
  }
  ex.errorMessage = error.message;
  const api = ex.api;
  if (res.headersSent) {
    if (!res.writableEnded) res.end(streamErrorEvent(ex, error.status, error.toBody()));
    return;
  }
  const status = error.sentBody !== undefined || api === undefined ? error.status : api.errorStatus(error.status, error.toBody());
  ex.status = status;
  const overhead = performance.now() - ex.startedAt - ex.upstreamMs - ex.waitedMs;
  const body = error.sentBody ?? (api === undefined ? errorJson(error.toBody()) : api.errorBody(error.status, error.toBody()));
  res.writeHead(status, {
    // Anthropic's SDKs read the request id from `request-id`; a provider's own (passed through) stands.
    ...(api?.requestIdHeader !== undefined && { [api.requestIdHeader]: ex.id }),
    ...error.headers,
    ...(ex.limitHeaders !== undefined && pairsOf(ex.limitHeaders)),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': ex.id,
    [OVERHEAD_HEADER]: formatMs(overhead > 0 ? overhead : 0),
  });
  res.end(body);
}

/** [name, value, ...] as an object of headers. */
function pairsOf(flat: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) headers[flat[i]!] = flat[i + 1]!;
  return headers;
}

/**
 * The inbound APIs a provider serves itself: the Responses API and the Gemini API (where it has a
 * native base URL) unless the operator turned them off.
 */
function nativeApis(spec: ProviderSpec, options: Readonly<Record<string, string>>, nativeUrl: URL | undefined): ReadonlySet<string> {
  if (spec.kind === 'translating') return new Set(spec.nativeApi === undefined ? [] : [spec.nativeApi]);
  const apis: string[] = [];
  if (spec.responsesApi !== undefined && options[RESPONSES_API_OPTION] !== 'translate') apis.push(RESPONSES_API);
  if (nativeUrl !== undefined) apis.push(GEMINI_API);
  return new Set(apis);
}

/**
 * Where a provider's Gemini API lives, when it serves one and the operator left it on: the
 * `nativeBaseUrl` option, else the base URL without its OpenAI-compatible end; a base URL that
 * does not end so (a proxy of the compatible layer alone) has none, and the API is translated.
 */
function nativeBaseUrl(spec: ProviderSpec, baseUrl: URL, options: Readonly<Record<string, string>>): URL | undefined {
  if (spec.kind !== 'pass-through' || spec.geminiApi === undefined || options[GEMINI_API_OPTION] === 'translate') return undefined;
  const configured = options[NATIVE_BASE_URL_OPTION];
  if (configured !== undefined && configured !== '') return new URL(configured);
  const compat = spec.geminiApi.compatPath;
  if (!baseUrl.pathname.endsWith(compat)) return undefined;
  const url = new URL(baseUrl.href);
  url.pathname = baseUrl.pathname.slice(0, -compat.length) || '/';
  return url;
}

/** The headers a provider's every request carries, flat: the spec's own, then its adapter's. */
function providerHeaders(spec: ProviderSpec, options: Readonly<Record<string, string>>): readonly string[] {
  const pairs = [...(spec.headers ?? []), ...(spec.kind === 'translating' ? (spec.adapter.headers?.(options) ?? []) : [])];
  return Object.freeze(pairs.flat());
}
