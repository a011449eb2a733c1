// The request path: resolve the provider, send attempts upstream within the request's budget,
// retry what is worth retrying, and write the answer back (streams byte for byte).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher, Pool } from 'undici';
import { bodyLength, pacedBody, type BodyBytes } from './body.js';
import type { Config } from './config.js';
import { GatewayError, credentialOf, errorJson, normaliseProviderError, redactValue } from './errors.js';
import type { Logger } from './logger.js';
import { providerSpecs, type ProviderSpec } from './providers/index.js';
import { redactSecrets, registerSecret, safeEcho } from './redact.js';
import { sseErrorEvent, type UsageObserver } from './stream.js';
import { Attempt, describeNetworkError, headerRecord } from './attempt.js';
import { backoffMs, createPool, isRetryableStatus, retryAfterMs } from './upstream.js';

/** A provider ready to serve: its spec plus what start-up resolved (pool, paths, server key). */
export interface Provider {
  readonly name: string;
  readonly spec: ProviderSpec;
  readonly pool: Pool;
  /** Path prefix of the provider's API (`/inference/v1`); the client's path after `/v1` is appended. */
  readonly basePath: string;
  /** `Bearer <server key>`, when a server-side key is configured. */
  readonly serverAuthorization: string | undefined;
}

/** One client request as it travels through the gateway; also what its log line reports. */
export interface Exchange {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startedAt: number;
  /** The request's path without its query string. */
  readonly path: string;
  provider: Provider | undefined;
  method: string;
  /** Path and query to send upstream, after the provider's base path. */
  upstreamPath: string;
  /** The body to send: one buffer, or a large body's chunks (see BodyBytes). */
  body: BodyBytes | null;
  contentType: string | undefined;
  model: string | undefined;
  stream: boolean;
  maxRetries: number;
  timeoutMs: number;
  // Observed as the request runs.
  status: number;
  retries: number;
  firstByteMs: number | undefined;
  upstreamMs: number;
  waitedMs: number;
  usage: UsageObserver | undefined;
  errorMessage: string | undefined;
  clientGone: boolean;
  /** The gateway itself closed the connection mid-answer (a stalled client, a JSON answer cut short). */
  cutByGateway: boolean;
  /** What the request is waiting on (an attempt or a backoff), cancelled when the client leaves. */
  waiting: { cancel(): void } | undefined;
}

export class Gateway {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly defaultProvider: Provider;
  private readonly knownProviders: string;
  /** Decided once: building a debug record costs even when pino then drops it. */
  private readonly debug: boolean;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {
    const providers = new Map<string, Provider>();
    for (const spec of providerSpecs) {
      const settings = config.providers[spec.name]!;
      registerSecret(settings.apiKey);
      providers.set(spec.name, {
        name: spec.name,
        spec,
        pool: createPool(settings.baseUrl.origin, { connections: config.UPSTREAM_CONNECTIONS }),
        // A base URL without a path has pathname "/": routes then start at the root, not at "//".
        basePath: settings.baseUrl.pathname === '/' ? '' : settings.baseUrl.pathname,
        serverAuthorization: settings.apiKey ? `Bearer ${settings.apiKey}` : undefined,
      });
    }
    this.providers = providers;
    this.defaultProvider = providers.get(config.DEFAULT_PROVIDER)!;
    this.knownProviders = [...providers.keys()].join(', ');
    this.debug = logger.isLevelEnabled('debug');
  }

  /** The provider named by `x-provider` (any case), or the default one. */
  resolveProvider(header: string | string[] | undefined): Provider {
    if (header === undefined || header === '') return this.defaultProvider;
    // Clients nearly always send the name as registered; only other spellings pay for normalising.
    const exact = typeof header === 'string' ? this.providers.get(header) : undefined;
    if (exact !== undefined) return exact;
    const requested = (Array.isArray(header) ? header[0]! : header).trim();
    const provider = this.providers.get(requested.toLowerCase());
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

  /** The model name as the provider wants it (e.g. a short name expanded). */
  mapModel(provider: Provider, model: string): string {
    const mapModel = provider.spec.mapModel;
    return mapModel === undefined ? model : mapModel(model);
  }

  /** Sends the exchange upstream, retrying within its budget, and answers the client. */
  async forward(ex: Exchange): Promise<void> {
    const provider = ex.provider!;
    const authorization = clientAuthorization(ex.req.headers.authorization) ?? provider.serverAuthorization;
    if (!authorization) {
      throw new GatewayError(
        401,
        `No API key for provider "${provider.name}". Send "Authorization: Bearer <key>" (the OpenAI SDK's apiKey) ` +
          `or start the gateway with ${provider.spec.apiKeyEnv} set.`,
        'missing_api_key',
      );
    }
    const request: Dispatcher.DispatchOptions = {
      method: ex.method as Dispatcher.HttpMethod,
      path: provider.basePath + ex.upstreamPath,
      headers: this.upstreamHeaders(ex, authorization),
      // undici sends an iterable of chunks too, though its types name only single bodies.
      body: (Array.isArray(ex.body) ? pacedBody(ex.body) : ex.body) as Dispatcher.DispatchOptions['body'],
    };
    const deadline = ex.startedAt + ex.timeoutMs;
    const attempts = ex.maxRetries + 1;

    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw settled(ex, timeoutError(ex, attempt - 1));
      if (this.debug) {
        // Without the query string, as in the request line.
        const path = request.path.split('?', 1)[0];
        this.logger.debug({ reqId: ex.id, provider: provider.name, path, attempt }, 'upstream attempt');
      }
      const outcome = await Attempt.run(ex, this, request, remaining);

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
        case 'status': {
          const body = normaliseProviderError(outcome.status, outcome.body, credentialOf(authorization));
          retryAfter = retryAfterMs(outcome.headers.retryAfter, outcome.headers.retryAfterMs);
          failure = new GatewayError(
            outcome.status,
            body.message,
            body.code,
            body.param,
            body.type,
            headerRecord(outcome.headers),
          );
          if (!isRetryableStatus(outcome.status)) throw failure;
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
   * What the provider needs and nothing more: the credential, the body's type, and no compression
   * (bytes pass through untouched and usage is read from them). undici adds the provider's Host.
   */
  private upstreamHeaders(ex: Exchange, authorization: string): string[] {
    // A flat [name, value, ...] list: undici reads it without listing an object's keys.
    const headers =
      ex.contentType === undefined
        ? ['authorization', authorization, 'accept-encoding', 'identity']
        : ['authorization', authorization, 'accept-encoding', 'identity', 'content-type', ex.contentType];
    // undici measures a buffer itself; a list of chunks it would send chunked.
    if (Array.isArray(ex.body)) headers.push('content-length', String(bodyLength(ex.body)));
    return headers;
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((provider) => provider.pool.close()));
  }
}

/** Writes a gateway error as the answer: JSON when nothing was sent yet, else an SSE error event. */
export function sendError(ex: Exchange, error: GatewayError): void {
  const res = ex.res;
  // Whatever the message quotes (a header, a path, a provider's text), the client's own key is not in it.
  const authorization = ex.req.headers.authorization;
  if (authorization !== undefined && authorization.length > 0) {
    const redacted = redactValue(error.message, credentialOf(authorization));
    if (redacted !== error.message) error = error.withMessage(redacted);
  }
  ex.errorMessage = error.message;
  if (res.headersSent) {
    if (!res.writableEnded) res.end(sseErrorEvent(error.toBody()));
    return;
  }
  ex.status = error.status;
  const body = errorJson(error.toBody());
  res.writeHead(error.status, {
    ...error.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': ex.id,
  });
  res.end(body);
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
const BEARER_PLACEHOLDER = `${BEARER} ${SERVER_KEY_PLACEHOLDER}`;

/**
 * The client's own credential. An empty Bearer token, or the placeholder key, counts as none, so
 * that the server-side key applies; any other scheme is passed on for the provider to judge.
 */
function clientAuthorization(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (trimmed.length === BEARER.length || trimmed.length === BEARER_PLACEHOLDER.length) {
    const lower = trimmed.toLowerCase();
    if (lower === BEARER || lower === BEARER_PLACEHOLDER) return undefined;
  }
  return trimmed;
}
