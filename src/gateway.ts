// The request path: resolve the provider, translate the request when the provider speaks another
// API, send attempts upstream within the request's budget, retry what is worth retrying, and write
// the answer back (pass-through streams byte for byte, translated ones event by event).
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { bodyLength, pacedBody } from './body.js';
import type { Config } from './config.js';
import { GatewayError, credentialOf, errorJson, normaliseProviderError } from './errors.js';
import type { Exchange, Provider } from './exchange.js';
import type { Logger } from './logger.js';
import type { ProviderSpec } from './providers/index.js';
import { RESPONSES_API_OPTION, type ChatTranslation } from './providers/types.js';
import { OPENAI_KEY_HINT, RESPONSES_API } from './inbound/index.js';
import { redactCredentials, redactSecrets, redactValue, registerSecret, safeEcho, type Redactor } from './redact.js';
import { Attempt, describeNetworkError, headerRecord, streamErrorEvent, type AnswerTranslation } from './attempt.js';
import { ComposedTranslator } from './inbound/compose.js';
import { ItemMemory } from './inbound/openai-responses/memory.js';
import type { InboundRoute, InboundTranslation } from './inbound/types.js';
import { backoffMs, createPool, isRetryableStatus, retryAfterMs } from './upstream.js';
import { ImageFetcher } from './images.js';
import { ModelLists } from './models.js';
import { DEFAULT_MODEL_APIS, ModelAliases, type DefaultModelApi } from './aliases.js';

export type { Exchange, Provider } from './exchange.js';

const CHAT_PATH = '/v1/chat/completions';
/** Where a translated inbound request goes on an OpenAI-compatible host, after its base path. */
const CHAT_UPSTREAM_PATH = '/chat/completions';
const MODELS_PATH = '/v1/models';
const DROPPED_PARAMS_HEADER = 'x-gateway-dropped-params';
/**
 * The longest x-gateway-dropped-params value before the rest is counted: Node's HTTP clients refuse
 * an answer whose headers pass 16 KiB (HPE_HEADER_OVERFLOW), and a header names a few fields.
 */
export const MAX_DROPPED_PARAMS_CHARS = 512;
/** A position in a field's path (`[3]`), left out so that a field refused in every part is named once. */
const ARRAY_POSITION = /\[\d+\]/g;
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

  constructor(
    readonly config: Config,
    readonly logger: Logger,
    options: GatewayOptions = {},
  ) {
    const providers = new Map<string, Provider>();
    const unconfigured = new Map<string, ProviderSpec>();
    for (const spec of config.providerSpecs) {
      const settings = config.providers[spec.name];
      if (settings === undefined) {
        unconfigured.set(spec.name, spec);
        continue;
      }
      registerSecret(settings.apiKey);
      const auth = spec.auth ?? DEFAULT_AUTH;
      providers.set(spec.name, {
        name: spec.name,
        spec,
        pool: createPool(settings.baseUrl.origin, { connections: config.UPSTREAM_CONNECTIONS }),
        origin: settings.baseUrl.origin,
        // A base URL without a path has pathname "/": routes then start at the root, not at "//".
        basePath: settings.baseUrl.pathname === '/' ? '' : settings.baseUrl.pathname,
        serverCredential: settings.apiKey ? [auth.header, auth.scheme ? `${auth.scheme} ${settings.apiKey}` : settings.apiKey] : undefined,
        headers: providerHeaders(spec, settings.options),
        options: settings.options,
        serverKey: settings.apiKey,
        configuredBaseUrl: settings.baseUrlConfigured ? settings.baseUrl : undefined,
        pools: new Map(),
        nativeApis: nativeApis(spec, settings.options),
      });
      for (const [name, option] of Object.entries(spec.options ?? {})) if (option.secret) registerSecret(settings.options[name]);
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
    // Reads the aliases: made after them.
    this.models = new ModelLists(this, logger);
    this.images = new ImageFetcher(config.FETCH_IMAGE_URLS, {
      maxBytes: config.FETCH_IMAGE_MAX_BYTES,
      timeoutMs: config.FETCH_IMAGE_TIMEOUT_MS,
      totalBytes: config.FETCH_IMAGE_TOTAL_BYTES,
    });
    this.outputItems = new ItemMemory({ maxBytes: config.RESPONSES_ITEMS_MAX_BYTES });
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

  /** Sends the exchange upstream, retrying within its budget, and answers the client. */
  async forward(ex: Exchange): Promise<void> {
    if (this.looped(ex)) {
      throw new GatewayError(
        508,
        'The request came back through this gateway (its via header names this gateway): a provider base URL or a proxy points back here.',
        'loop_detected',
      );
    }
    const provider = ex.provider!;
    const spec = provider.spec;
    // A provider that signs its own requests (AWS SigV4) is given none of the core's key handling.
    const authorize = spec.kind === 'translating' ? spec.adapter.authorize : undefined;
    const credential = authorize !== undefined ? undefined : (clientCredential(ex.req.headers, provider) ?? provider.serverCredential);
    if (credential === undefined && !spec.keyOptional && authorize === undefined) {
      throw new GatewayError(
        401,
        `No API key for provider "${provider.name}". Send ${ex.api?.keyHint ?? OPENAI_KEY_HINT} ` +
          `or start the gateway with ${spec.apiKeyEnv} set.`,
        'missing_api_key',
      );
    }
    const secret = credential === undefined ? undefined : credentialOf(credential[1]);
    // Set by `authorize` on every attempt: the credentials the request was signed with.
    let signingSecrets: readonly string[] = NO_HEADERS;
    const api = ex.api;
    // The client speaks the provider's own API: its bytes pass through, nothing is translated.
    const native = api !== undefined && provider.nativeApis.has(api.name);
    // The client's body goes as it is to a pass-through provider, and to one that speaks its API.
    const clientBody = native || (api === undefined && spec.kind !== 'translating');
    const headers = this.upstreamHeaders(ex, provider, native && spec.kind === 'translating' ? nativeCredential(ex.req.headers, credential) : credential, native, clientBody);
    let path: string;
    let body: Dispatcher.DispatchOptions['body'] = (Array.isArray(ex.body) ? pacedBody(ex.body) : ex.body) as Dispatcher.DispatchOptions['body'];
    let translation: AnswerTranslation | undefined;
    if (api !== undefined && !native) {
      const inbound = await this.translateInbound(ex, provider, api);
      if (spec.kind === 'translating') {
        const chat = await this.translateChat(ex, provider, inbound.chat);
        path = authorize !== undefined ? chat.path : provider.basePath + chat.path;
        body = chat.body;
        for (const header of chat.headers) headers.push(header);
        translation = {
          answer: (text) => inbound.answer(chat.answer(text).json),
          stream: () => {
            const redact = failureRedactor(ex.req.headers, secret, signingSecrets);
            return new ComposedTranslator(chat.stream(redact), inbound.stream(redact));
          },
          framing: spec.adapter.framing,
          clientHeaders: inboundHeaders(ex, droppedHeader(inbound.refused.length === 0 ? chat.refused : [...inbound.refused, ...chat.refused])),
          streamContentType: inbound.streamContentType,
        };
      } else {
        path = provider.basePath + (spec.upstreamPath === undefined ? CHAT_UPSTREAM_PATH : spec.upstreamPath(CHAT_UPSTREAM_PATH, ex.model, provider));
        const chat = inbound.chat;
        if (spec.maxTokensParam === 'max_completion_tokens' && chat.max_tokens !== undefined) {
          chat.max_completion_tokens = chat.max_tokens;
          delete chat.max_tokens;
        }
        body = serialised(chat);
        translation = {
          answer: (text) => inbound.answer(text),
          stream: () => inbound.stream(failureRedactor(ex.req.headers, secret, signingSecrets)),
          framing: 'sse',
          clientHeaders: inboundHeaders(ex, droppedHeader(inbound.refused)),
          streamContentType: inbound.streamContentType,
        };
      }
      headers.push('content-length', String(Buffer.byteLength(body as string)));
    } else if (native && spec.kind === 'translating') {
      // The provider's API under its base URL, at the client's own path (`/v1/messages`).
      path = provider.basePath + ex.path + (ex.upstreamPath.includes('?') ? ex.upstreamPath.slice(ex.upstreamPath.indexOf('?')) : '');
    } else if (spec.kind === 'translating') {
      if (ex.path === CHAT_PATH && ex.method === 'POST') {
        const chat = await this.translateChat(ex, provider, await this.parseTranslated(ex, provider));
        path = authorize !== undefined ? chat.path : provider.basePath + chat.path;
        body = chat.body;
        headers.push('content-length', String(Buffer.byteLength(chat.body)));
        for (const header of chat.headers) headers.push(header);
        translation = {
          answer: (text) => chat.answer(text),
          stream: () => chat.stream(failureRedactor(ex.req.headers, secret, signingSecrets)),
          framing: spec.adapter.framing,
          clientHeaders: droppedHeader(chat.refused),
        };
      } else if (ex.path === MODELS_PATH && ex.method === 'GET' && spec.adapter.models !== undefined) {
        const models = spec.adapter.models;
        path = provider.basePath + models.path;
        translation = { answer: (text) => ({ json: models.answer(text), usage: undefined }), framing: spec.adapter.framing, clientHeaders: NO_HEADERS };
      } else {
        throw new GatewayError(
          400,
          `Provider "${provider.name}" does not offer ${ex.method} ${safeEcho(ex.path, 200)}; it serves POST ${CHAT_PATH}` +
            `${spec.adapter.models !== undefined ? ` and GET ${MODELS_PATH}` : ''}${inboundRoutes(spec)}.`,
          'unsupported_route',
        );
      }
    } else {
      path = provider.basePath + (spec.upstreamPath === undefined ? ex.upstreamPath : spec.upstreamPath(ex.upstreamPath, ex.model, provider));
      const modelsAnswer = spec.modelsAnswer;
      if (modelsAnswer !== undefined && ex.path === MODELS_PATH && ex.method === 'GET') {
        translation = { answer: (text) => ({ json: modelsAnswer(text), usage: undefined }), framing: 'sse', clientHeaders: NO_HEADERS };
      }
    }
    const request: Dispatcher.DispatchOptions = { method: ex.method as Dispatcher.HttpMethod, path, headers, body };
    const deadline = ex.startedAt + ex.timeoutMs;
    const attempts = ex.maxRetries + 1;
    let pool: Dispatcher = provider.pool;

    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw settled(ex, timeoutError(ex, attempt - 1));
      if (this.debug) {
        // Without the query string, as in the request line.
        const loggedPath = path.split('?', 1)[0];
        this.logger.debug({ reqId: ex.id, provider: provider.name, path: loggedPath, attempt }, 'upstream attempt');
      }
      if (authorize !== undefined) {
        // Signed per attempt: a signature carries its time, and AWS refuses one minutes old.
        const authorized = await authorize(
          { method: ex.method, path, headers: headerObject(headers), body: typeof body === 'string' ? body : '' },
          { headers: ex.req.headers, options: provider.options, serverKey: provider.serverKey, configuredBaseUrl: provider.configuredBaseUrl },
        );
        const base = authorized.baseUrl.pathname === '/' ? '' : authorized.baseUrl.pathname;
        request.path = base + path;
        request.headers = [...headers, ...authorized.headers];
        pool = this.poolFor(provider, authorized.baseUrl.origin);
        signingSecrets = authorized.secrets;
      }
      const outcome = await Attempt.run(ex, this.config, translation, pool, request, remaining);

      let failure: GatewayError;
      let retryAfter: number | undefined;
      switch (outcome.kind) {
        case 'answered':
        case 'cancelled':
          return;
        case 'timeout':
          throw settled(ex, timeoutError(ex, attempt));
        case 'unsendable':
          throw new GatewayError(400, `The request cannot be sent to the provider: ${outcome.error.message}.`, 'invalid_request');
        case 'unreadable':
          if (outcome.excerpt !== undefined) {
            this.logger.warn(
              { reqId: ex.id, provider: provider.name, excerpt: failureRedactor(ex.req.headers, secret, signingSecrets)(outcome.excerpt) },
              'provider answer unreadable',
            );
          }
          throw new GatewayError(502, `Provider "${provider.name}" sent an answer the gateway could not read: ${outcome.message}.`, 'upstream_unreadable');
        case 'network':
          // The details (addresses, library messages) are for the operator, not the client.
          this.logger.warn(
            { reqId: ex.id, provider: provider.name, attempt, code: (outcome.error as { code?: string }).code, err: redactSecrets(outcome.error.message) },
            'upstream connection failed',
          );
          failure = new GatewayError(
            502,
            `Provider "${provider.name}" is unreachable: ${describeNetworkError(outcome.error)}.`,
            'upstream_unreachable',
          );
          break;
        case 'status':
        case 'failed': {
          const translated =
            outcome.kind === 'failed'
              ? outcome.failure
              : spec.kind === 'translating'
                ? spec.adapter.error(outcome.status, outcome.body, outcome.headers.errorType)
                : { status: outcome.status, error: normaliseProviderError(outcome.status, outcome.body, secret) };
          const error = translated.error;
          const redact = failureRedactor(ex.req.headers, secret, signingSecrets);
          retryAfter = retryAfterMs(outcome.headers.retryAfter, outcome.headers.retryAfterMs);
          failure = new GatewayError(translated.status, redact(error.message), error.code, error.param, error.type, headerRecord(outcome.headers));
          // A client of the provider's own API gets the provider's error as it was sent (529 included).
          if (native && spec.kind === 'translating' && outcome.kind === 'status') failure = failure.asSent(outcome.status, redact(outcome.body));
          else if (failure.status === 404 && this.aliasHinted(ex)) failure = failure.withMessage(`${sentence(failure.message)} ${this.aliasMiss(ex)}`);
          if (!isRetryableStatus(failure.status)) throw failure;
          break;
        }
      }

      if (attempt >= attempts) throw settled(ex, failure);
      const wait = retryAfter ?? backoffMs(attempt - 1, this.config.RETRY_BASE_DELAY_MS, this.config.RETRY_MAX_DELAY_MS);
      // A wait that cannot fit in the budget is pointless: answer with the failure as it stands.
      if (performance.now() + wait >= deadline) throw settled(ex, failure);
      if (this.debug) this.logger.debug(
        { reqId: ex.id, attempt, status: failure.status, code: failure.code, waitMs: wait },
        'upstream attempt failed, retrying',
      );
      ex.retries++;
      if (!(await sleep(ex, wait))) return;
    }
  }

  /**
   * Whether a provider's 404 is worth explaining with the aliases: the client's model name reached
   * it unchanged, and aliases are configured or the client speaks an API whose clients (Claude Code,
   * Codex) send model names they do not let a user change.
   */
  private aliasHinted(ex: Exchange): boolean {
    return ex.unaliased && (ex.api !== undefined || this.modelAliases.configured);
  }

  /** What a 404 adds for a model name no alias matched: which aliases exist, and where to add one. */
  private aliasMiss(ex: Exchange): string {
    const name = ex.api !== undefined ? ex.api.name : ex.path === DEFAULT_MODEL_APIS.chat ? 'chat' : undefined;
    const api = name !== undefined && Object.hasOwn(DEFAULT_MODEL_APIS, name) ? (name as DefaultModelApi) : undefined;
    return this.modelAliases.missMessage(safeEcho(ex.clientModel!, MAX_MODEL_ECHO_CHARS), api);
  }

  /**
   * The request of a client that speaks another API (Anthropic's Messages, the Responses API) as a
   * chat request for the provider; only the main route of that API can be translated.
   */
  private async translateInbound(ex: Exchange, provider: Provider, api: InboundRoute): Promise<InboundTranslation> {
    if (ex.method !== 'POST' || !(api.translates?.(ex.path) ?? ex.path === api.path)) {
      throw new GatewayError(400, api.notTranslated(ex.method, ex.path, provider.name), 'unsupported_route');
    }
    const inbound = api.toChat(await this.parseTranslated(ex, provider), {
      model: ex.clientModel ?? ex.model!,
      client: () => clientName(ex.req.headers),
      outputItems: this.outputItems,
      bodyBytes: bodyLength(ex.body!),
      maxBodyBytes: this.config.MAX_BODY_BYTES,
      thinking: this.config.MESSAGES_THINKING,
      maxAnswerBytes: this.config.MAX_TRANSLATED_ANSWER_BYTES,
      hostedTools: this.config.RESPONSES_HOSTED_TOOLS,
      thoughtSignatures: provider.spec.kind === 'pass-through' && provider.spec.thoughtSignatures === true,
    });
    inbound.chat.model = ex.model;
    if (this.debug && inbound.dropped.length > 0) {
      this.logger.debug({ reqId: ex.id, api: api.name, dropped: inbound.dropped }, 'request fields not translated');
    }
    if (Array.isArray(ex.body)) await yieldTurn(ex);
    return inbound;
  }

  /**
   * A body to translate, parsed. A large one (kept as chunks) is refused past
   * MAX_TRANSLATED_VALUES, and is decoded, parsed and translated each in a turn of the event loop
   * of its own, so that other clients are served in between: building the tree of a body of tiny
   * values is what holds the loop (the pass-through path never builds it).
   */
  private async parseTranslated(ex: Exchange, provider: Provider): Promise<Record<string, unknown>> {
    const body = ex.body!;
    if (!Array.isArray(body)) return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const max = this.config.MAX_TRANSLATED_VALUES;
    if (ex.bodyValues > max) {
      throw new GatewayError(
        413,
        `The request body holds ${ex.bodyValues} JSON values; a request the gateway translates for provider "${provider.name}" ` +
          `may hold at most ${max} (MAX_TRANSLATED_VALUES). Send fewer messages or content parts.`,
        'request_too_large',
      );
    }
    const text = Buffer.concat(body).toString('utf8');
    await yieldTurn(ex);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    await yieldTurn(ex);
    return parsed;
  }

  /** A chat request in the provider's API. */
  private async translateChat(ex: Exchange, provider: Provider, body: Record<string, unknown>): Promise<ChatTranslation> {
    const spec = provider.spec;
    if (spec.kind !== 'translating') throw new Error('not a translating provider');
    if (spec.adapter.imageUrls === 'bytes' && this.images.enabled) await this.inlineImages(ex, body);
    let chat: ChatTranslation;
    try {
      chat = spec.adapter.chat(body, { model: ex.model!, headers: ex.req.headers, options: provider.options });
    } catch (err) {
      throw tooLongToSend(err);
    }
    if (this.debug && (chat.dropped.length > 0 || chat.refused.length > 0)) {
      this.logger.debug({ reqId: ex.id, provider: provider.name, dropped: chat.dropped, refused: chat.refused }, 'request fields not sent');
    }
    return chat;
  }

  /**
   * The chat body's image URLs as the images' bytes, which count toward the body limit. The request
   * holds them (in the gateway's FETCH_IMAGE_TOTAL_BYTES) until its answer is written or its client
   * leaves: until then the body sent upstream is kept for a retry.
   */
  private async inlineImages(ex: Exchange, body: Record<string, unknown>): Promise<void> {
    const found = this.images.findUrls(body);
    if (found.length === 0) return;
    const limit = this.config.MAX_BODY_BYTES;
    const fetching = new AbortController();
    ex.waiting = { cancel: () => fetching.abort(new GatewayError(400, 'The client closed the connection while its images were fetched.', 'client_closed')) };
    let held: number;
    try {
      held = await this.images.inline(found, limit - bodyLength(ex.body!), limit, fetching);
    } finally {
      ex.waiting = undefined;
    }
    // A response that closed already (the client left as the last image arrived) emits no more 'close'.
    if (ex.clientGone) this.images.release(held);
    else ex.res.once('close', () => this.images.release(held));
  }

  /**
   * What the provider needs and nothing more: the credential, the body's type, the provider's own
   * headers, and no compression (bytes pass through untouched and usage is read from them). undici
   * adds the provider's Host.
   */
  private upstreamHeaders(
    ex: Exchange,
    provider: Provider,
    credential: readonly [string, string] | undefined,
    native: boolean,
    clientBody: boolean,
  ): string[] {
    // A flat [name, value, ...] list: undici reads it without listing an object's keys.
    const incomingVia = ex.req.headers.via;
    const headers = ['accept-encoding', 'identity', 'via', incomingVia === undefined ? this.via : `${incomingVia}, ${this.via}`];
    if (credential !== undefined) headers.push(credential[0], credential[1]);
    if (ex.contentType !== undefined) headers.push('content-type', ex.contentType);
    // undici measures a buffer itself; a list of chunks it would send chunked.
    // A translated body is a string, measured where it is made.
    if (clientBody && Array.isArray(ex.body)) headers.push('content-length', String(bodyLength(ex.body)));
    const fixed = provider.headers;
    for (let i = 0; i < fixed.length; i += 2) {
      // A client of the provider's own API keeps its own value (its anthropic-version).
      const own = native ? ex.req.headers[fixed[i]!] : undefined;
      headers.push(fixed[i]!, typeof own === 'string' && own !== '' ? own : fixed[i + 1]!);
    }
    const spec = provider.spec;
    if (spec.forwardHeaders !== undefined) {
      for (const name of spec.forwardHeaders) {
        const value = ex.req.headers[name];
        if (typeof value === 'string') headers.push(name, value);
        else if (Array.isArray(value)) headers.push(name, value.join(', '));
      }
    }
    return headers;
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
    const pools = [...this.providers.values()].flatMap((provider) => [provider.pool, ...provider.pools.values()]);
    await Promise.all([...pools.map((pool) => pool.close()), this.images.close()]);
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
  const body = error.sentBody ?? (api === undefined ? errorJson(error.toBody()) : api.errorBody(error.status, error.toBody()));
  res.writeHead(status, {
    // Anthropic's SDKs read the request id from `request-id`; a provider's own (passed through) stands.
    ...(api?.requestIdHeader !== undefined && { [api.requestIdHeader]: ex.id }),
    ...error.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': ex.id,
  });
  res.end(body);
}

/** A provider's message as a sentence, so that another can follow it. */
function sentence(message: string): string {
  return /[.!?]$/.test(message) || message === '' ? message : `${message}.`;
}

const NO_CLIENT_RETRY = Object.freeze({ 'x-should-retry': 'false' });

/**
 * A failure the gateway already retried (or ran out of time for): `x-should-retry: false` tells
 * OpenAI SDKs not to retry it once more, which would multiply attempts and deadlines.
 */
function settled(ex: Exchange, failure: GatewayError): GatewayError {
  return ex.maxRetries > 0 ? failure.withHeaders(NO_CLIENT_RETRY) : failure;
}

function timeoutError(ex: Exchange, attempts: number): GatewayError {
  return new GatewayError(
    504,
    `The provider did not answer within ${ex.timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}).`,
    'gateway_timeout',
  );
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
function sleep(ex: Exchange, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const done = (slept: boolean) => {
      clearTimeout(timer);
      ex.waiting = undefined;
      ex.waitedMs += performance.now() - startedAt;
      resolve(slept);
    };
    const timer = setTimeout(done, ms, true);
    ex.waiting = { cancel: () => done(false) };
  });
}

/**
 * The API key a client sends to say "use the gateway's own key for this provider". Current `openai`
 * and LangChain releases refuse an empty `apiKey`, so an empty Bearer token no longer serves.
 */
export const SERVER_KEY_PLACEHOLDER = 'use-server-key';
const BEARER = 'bearer';
const BEARER_PREFIX = 'bearer ';
const DEFAULT_AUTH = Object.freeze({ header: 'authorization', scheme: 'Bearer' });
/**
 * Headers in which clients send a key: OpenAI SDKs `authorization`, Anthropic's `x-api-key`, Azure's
 * `api-key`, Google's `x-goog-api-key` (where the server also puts a Gemini client's `?key=`).
 */
const KEY_HEADERS = ['x-api-key', 'api-key', 'x-goog-api-key'] as const;

/**
 * The client's own credential, as the provider wants it ([header, value]). An empty Bearer token, or
 * the placeholder key, counts as none, so that the server-side key applies. A Bearer key (or a key
 * in `x-api-key` / `api-key`) is re-sent in the provider's header; another Authorization scheme is
 * passed on as it is for the provider to judge.
 */
function clientCredential(headers: IncomingHttpHeaders, provider: Provider): readonly [string, string] | undefined {
  const auth = provider.spec.auth ?? DEFAULT_AUTH;
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const trimmed = authorization.trim();
    if (auth === DEFAULT_AUTH && trimmed !== '' && !isPlaceholder(trimmed)) return ['authorization', trimmed];
    if (trimmed.length > BEARER_PREFIX.length && trimmed.slice(0, BEARER_PREFIX.length).toLowerCase() === BEARER_PREFIX) {
      const key = trimmed.slice(BEARER_PREFIX.length).trim();
      if (key !== SERVER_KEY_PLACEHOLDER && key !== '') return [auth.header, auth.scheme ? `${auth.scheme} ${key}` : key];
    } else if (trimmed !== '' && trimmed.toLowerCase() !== BEARER) return ['authorization', trimmed];
  }
  for (const name of KEY_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    const key = value.trim();
    if (key !== '' && key !== SERVER_KEY_PLACEHOLDER) return [auth.header, auth.scheme ? `${auth.scheme} ${key}` : key];
  }
  return undefined;
}

function isPlaceholder(authorization: string): boolean {
  if (authorization.length !== BEARER.length && authorization.length !== BEARER_PREFIX.length + SERVER_KEY_PLACEHOLDER.length) return false;
  const lower = authorization.toLowerCase();
  return lower === BEARER || lower === `${BEARER_PREFIX}${SERVER_KEY_PLACEHOLDER}`;
}

/**
 * The headers that say who a client is: its key, or its AWS credentials (Bedrock's x-aws-* headers,
 * which an OpenAI SDK sends beside a placeholder Bearer key).
 */
const IDENTITY_HEADERS = ['authorization', ...KEY_HEADERS, 'x-aws-access-key-id', 'x-aws-secret-access-key'] as const;

/**
 * An opaque name for the client, from every credential it sent ('' with none, or the placeholder
 * alone): a hash, so that what is kept per client does not hold its key, and only a client that
 * holds all of those credentials shares the name.
 */
function clientName(headers: IncomingHttpHeaders): string {
  let hash: ReturnType<typeof createHash> | undefined;
  for (const name of IDENTITY_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    const credential = name === 'authorization' ? credentialOf(value.trim()) : value.trim();
    if (credential === '' || credential === SERVER_KEY_PLACEHOLDER || credential.toLowerCase() === BEARER) continue;
    hash ??= createHash('sha256');
    // The header's name keeps a key sent in one header apart from the same text sent in another.
    hash.update(`${name}\n${credential}\n`);
  }
  return hash === undefined ? '' : hash.digest('base64url').slice(0, 22);
}

/** Headers whose values are credentials besides the key headers: AWS's, which Bedrock signs with. */
const AWS_CREDENTIAL_HEADERS = ['x-aws-access-key-id', 'x-aws-secret-access-key', 'x-aws-session-token'] as const;

/** Every credential value a request carried: the client's headers, and what the gateway sent or signed with for it. */
function requestCredentials(headers: IncomingHttpHeaders, sent: string | undefined, signing: readonly string[]): (string | undefined)[] {
  const credentials: (string | undefined)[] = clientSecrets(headers);
  for (const name of AWS_CREDENTIAL_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.trim().length > 0) credentials.push(value.trim());
  }
  credentials.push(sent, ...signing);
  return credentials;
}

/**
 * The redaction of one request's failures, for its messages, error events and log lines: every
 * credential it carried by value, then every configured secret and credential pattern. Made only
 * where a failure is told or a translated stream begins: a pass-through answer never pays for it.
 */
function failureRedactor(headers: IncomingHttpHeaders, sent: string | undefined, signing: readonly string[]): Redactor {
  return (text) => redactCredentials(text, requestCredentials(headers, sent, signing));
}

/** Every credential value the client sent, to keep out of what the gateway answers. */
function clientSecrets(headers: IncomingHttpHeaders): string[] {
  const secrets: string[] = [];
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization.length > 0) secrets.push(credentialOf(authorization));
  for (const name of KEY_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.length > 0) secrets.push(value.trim());
  }
  return secrets;
}

/**
 * The credential for a client of the provider's own API: sent in the header the client used (an
 * Anthropic client's `Authorization: Bearer` stays one), else as the core decided.
 */
function nativeCredential(headers: IncomingHttpHeaders, decided: readonly [string, string] | undefined): readonly [string, string] | undefined {
  const authorization = headers.authorization?.trim();
  if (authorization === undefined || authorization === '' || isPlaceholder(authorization)) return decided;
  return ['authorization', authorization];
}

/**
 * The headers of a translated answer for a client of another API: the gateway's request id also
 * where that API's SDKs read it (Anthropic's `request-id`).
 */
function inboundHeaders(ex: Exchange, headers: readonly string[]): readonly string[] {
  const name = ex.api?.requestIdHeader;
  return name === undefined ? headers : [...headers, name, ex.id];
}

/** x-gateway-dropped-params for the fields the client sent and the provider will not get, if any. */
function droppedHeader(refused: readonly string[]): readonly string[] {
  return refused.length > 0 ? [DROPPED_PARAMS_HEADER, droppedParams(refused)] : NO_HEADERS;
}

/**
 * The refused fields for x-gateway-dropped-params: each once, its positions written `[*]`
 * (`messages[*].content[*].citations`), within MAX_DROPPED_PARAMS_CHARS and then a count of the
 * rest, however many parts the request refused them in.
 */
export function droppedParams(refused: readonly string[]): string {
  const fields = new Set<string>();
  for (const path of refused) fields.add(path.replace(ARRAY_POSITION, '[*]'));
  let list = '';
  let named = 0;
  for (const field of fields) {
    const longer = list === '' ? field : `${list}, ${field}`;
    if (longer.length > MAX_DROPPED_PARAMS_CHARS) break;
    list = longer;
    named++;
  }
  const rest = fields.size - named;
  return rest === 0 ? list : `${list}${list === '' ? '' : ', '}and ${rest} more`;
}

/** For an unsupported-route message: the inbound API a translating provider serves itself. */
function inboundRoutes(spec: ProviderSpec): string {
  return spec.kind === 'translating' && spec.nativeApi !== undefined ? `, and the ${spec.nativeApi} API` : '';
}

/** The inbound APIs a provider serves itself: the Responses API unless the operator turned it off. */
function nativeApis(spec: ProviderSpec, options: Readonly<Record<string, string>>): ReadonlySet<string> {
  if (spec.kind === 'translating') return new Set(spec.nativeApi === undefined ? [] : [spec.nativeApi]);
  return new Set(spec.responsesApi !== undefined && options[RESPONSES_API_OPTION] !== 'translate' ? [RESPONSES_API] : []);
}

/** The headers a provider's every request carries, flat: the spec's own, then its adapter's. */
function providerHeaders(spec: ProviderSpec, options: Readonly<Record<string, string>>): readonly string[] {
  const pairs = [...(spec.headers ?? []), ...(spec.kind === 'translating' ? (spec.adapter.headers?.(options) ?? []) : [])];
  return Object.freeze(pairs.flat());
}

/** A flat [name, value, ...] list as an object, for an adapter to sign. */
function headerObject(flat: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) headers[flat[i]!] = flat[i + 1]!;
  return headers;
}

/**
 * A translated request as JSON text. A translation can make a request larger than the client sent
 * it; past the longest string V8 can hold (about 512 MiB) that is the client's to shorten, a 413.
 */
function serialised(request: Record<string, unknown>): string {
  try {
    return JSON.stringify(request);
  } catch (err) {
    throw tooLongToSend(err);
  }
}

/** A RangeError from building a string past V8's length limit, as a 413; anything else as it was. */
function tooLongToSend(err: unknown): unknown {
  if (!(err instanceof RangeError) || !err.message.includes('string length')) return err;
  return new GatewayError(
    413,
    'The request, as translated for the provider, is larger than the gateway can build (a string of about 512 MiB). Send a shorter conversation.',
    'request_too_large',
  );
}

/** Lets other clients' callbacks run; a client that left meanwhile ends the request here. */
async function yieldTurn(ex: Exchange): Promise<void> {
  await nextTurn();
  if (ex.clientGone) throw CLIENT_LEFT;
}

/** Never written: the answer of a client that left is not sent (server.ts `fail`). */
const CLIENT_LEFT = new GatewayError(499, 'The client closed the connection.', 'client_closed_request');
