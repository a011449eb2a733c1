// The request path: resolve the provider, send attempts upstream within the request's budget,
// retry what is worth retrying, and write the answer back (streams byte for byte).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher, Pool } from 'undici';
import type { Config } from './config.js';
import { GatewayError, errorJson, normaliseProviderError, type OpenAIErrorBody } from './errors.js';
import type { Logger } from './logger.js';
import { providerSpecs, type ProviderSpec } from './providers/index.js';
import { registerSecret } from './redact.js';
import { UsageObserver, sseErrorEvent } from './stream.js';
import { backoffMs, createPool, isRetryableStatus, retryAfterMs } from './upstream.js';
import { VERSION } from './version.js';

/** A provider ready to serve: its spec plus what start-up resolved (pool, paths, server key). */
export interface Provider {
  readonly name: string;
  readonly spec: ProviderSpec;
  readonly pool: Pool;
  readonly origin: string;
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
  provider: Provider | undefined;
  method: string;
  /** Path and query to send upstream, after the provider's base path. */
  upstreamPath: string;
  body: Buffer | null;
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
  /** Cancels whatever the request is waiting on (an attempt or a backoff) when the client leaves. */
  cancel: (() => void) | undefined;
}

/** How one attempt ended, when it did not write the final answer itself. */
type AttemptOutcome =
  | { kind: 'answered' }
  | { kind: 'cancelled' }
  | { kind: 'timeout' }
  | { kind: 'network'; error: Error }
  | { kind: 'status'; status: number; headers: Record<string, string | string[] | undefined>; body: string };

const SSE_CONTENT_TYPE = 'text/event-stream';
const MAX_ERROR_BODY_BYTES = 64 * 1024;

class TimeoutSignal extends Error {
  override name = 'TimeoutSignal';
}
class ClientGoneSignal extends Error {
  override name = 'ClientGoneSignal';
}

export class Gateway {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly defaultProvider: Provider;
  private readonly knownProviders: string;
  private readonly userAgent = `ai-gateway/${VERSION}`;

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
        origin: settings.baseUrl.origin,
        basePath: settings.baseUrl.pathname,
        serverAuthorization: settings.apiKey ? `Bearer ${settings.apiKey}` : undefined,
      });
    }
    this.providers = providers;
    this.defaultProvider = providers.get(config.DEFAULT_PROVIDER)!;
    this.knownProviders = [...providers.keys()].join(', ');
  }

  /** The provider named by `x-provider` (any case), or the default one. */
  resolveProvider(header: string | string[] | undefined): Provider {
    if (header === undefined || header === '') return this.defaultProvider;
    const name = (Array.isArray(header) ? header[0]! : header).trim().toLowerCase();
    const provider = this.providers.get(name);
    if (!provider) {
      throw new GatewayError(
        400,
        `Unknown provider "${name}" in the x-provider header. Known providers: ${this.knownProviders}.`,
        'unknown_provider',
        'x-provider',
      );
    }
    return provider;
  }

  /** Rewrites `model` the way the provider wants it; returns the body to send (the same bytes when unchanged). */
  prepareBody(provider: Provider, json: Record<string, unknown>, raw: Buffer): Buffer {
    const mapModel = provider.spec.mapModel;
    if (!mapModel || typeof json.model !== 'string') return raw;
    const model = mapModel(json.model);
    if (model === json.model) return raw;
    json.model = model;
    return Buffer.from(JSON.stringify(json));
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
    const headers = this.upstreamHeaders(ex, authorization);
    const deadline = ex.startedAt + ex.timeoutMs;
    const attempts = ex.maxRetries + 1;

    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw timeoutError(ex, attempt - 1);
      const outcome = await this.attempt(ex, headers, remaining);

      let failure: GatewayError;
      let retryAfter: number | undefined;
      switch (outcome.kind) {
        case 'answered':
        case 'cancelled':
          return;
        case 'timeout':
          throw timeoutError(ex, attempt);
        case 'network':
          failure = new GatewayError(
            502,
            `Provider "${provider.name}" is unreachable: ${networkReason(outcome.error)}.`,
            'upstream_unreachable',
          );
          break;
        case 'status': {
          const body = normaliseProviderError(outcome.status, outcome.body);
          retryAfter = retryAfterMs(header(outcome.headers['retry-after']), header(outcome.headers['retry-after-ms']));
          failure = new GatewayError(
            outcome.status,
            body.message,
            body.code,
            body.param,
            body.type,
            this.responseHeaders(ex, outcome.headers),
          );
          if (!isRetryableStatus(outcome.status)) throw failure;
          break;
        }
      }

      if (attempt >= attempts) throw failure;
      const wait = retryAfter ?? backoffMs(attempt - 1, this.config.RETRY_BASE_DELAY_MS, this.config.RETRY_MAX_DELAY_MS);
      // A wait that cannot fit in the budget is pointless: answer with the failure as it stands.
      if (performance.now() + wait >= deadline) throw failure;
      this.logger.debug(
        { reqId: ex.id, attempt, status: failure.status, code: failure.code, waitMs: wait },
        'upstream attempt failed, retrying',
      );
      ex.retries++;
      if (!(await sleep(ex, wait))) return;
    }
  }

  private upstreamHeaders(ex: Exchange, authorization: string): Record<string, string> {
    const clientHeaders = ex.req.headers;
    const headers: Record<string, string> = {
      authorization,
      accept: clientHeaders.accept ?? 'application/json',
      // Bytes pass through untouched and usage is read from them, so they must not be compressed.
      'accept-encoding': 'identity',
      'user-agent': clientHeaders['user-agent'] ?? this.userAgent,
    };
    if (ex.contentType !== undefined) headers['content-type'] = ex.contentType;
    return headers;
  }

  /** Provider response headers the client should see, plus our request id. */
  responseHeaders(ex: Exchange, upstream: Record<string, string | string[] | undefined>): Record<string, string> {
    const out: Record<string, string> = { 'x-request-id': ex.id };
    const requestIdHeader = ex.provider?.spec.requestIdHeader;
    for (const name in upstream) {
      const value = upstream[name];
      if (value === undefined) continue;
      if (
        name === 'content-type' ||
        name === 'retry-after' ||
        name === 'retry-after-ms' ||
        name === 'content-disposition' ||
        name.startsWith('x-ratelimit-')
      ) {
        out[name] = header(value)!;
      } else if (name === requestIdHeader) {
        out['x-upstream-request-id'] = header(value)!;
      }
    }
    return out;
  }

  /** One upstream request. Streams are written to the client as they arrive; other bodies are buffered. */
  private attempt(ex: Exchange, headers: Record<string, string>, budgetMs: number): Promise<AttemptOutcome> {
    const provider = ex.provider!;
    const sentAt = performance.now();
    return new Promise<AttemptOutcome>((resolve) => {
      let controller: Dispatcher.DispatchController | undefined;
      let settled = false;
      let status = 0;
      let upstreamHeaders: Record<string, string | string[] | undefined> = {};
      let mode: 'error' | 'buffer' | 'stream' = 'buffer';
      let chunks: Buffer[] = [];
      let size = 0;
      let streaming = false; // the client has been sent the stream's headers
      let abortReason: Error | undefined;

      const timer = setTimeout(() => abort(new TimeoutSignal()), budgetMs);
      let idleTimer: NodeJS.Timeout | undefined;

      const finish = (outcome: AttemptOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (idleTimer) clearTimeout(idleTimer);
        ex.cancel = undefined;
        ex.upstreamMs += performance.now() - sentAt;
        resolve(outcome);
      };
      const abort = (reason: Error) => {
        abortReason ??= reason;
        if (controller && !controller.aborted) controller.abort(reason);
        else if (!controller) finish(reason instanceof TimeoutSignal ? { kind: 'timeout' } : { kind: 'cancelled' });
      };
      ex.cancel = () => abort(new ClientGoneSignal());

      const res = ex.res;
      const onDrain = () => controller?.resume();

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(ctrl) {
          controller = ctrl;
          if (abortReason) ctrl.abort(abortReason);
        },
        onResponseStart: (_ctrl, statusCode, responseHeaders) => {
          status = statusCode;
          upstreamHeaders = responseHeaders;
          if (statusCode >= 400) mode = 'error';
          else mode = isEventStream(responseHeaders['content-type']) ? 'stream' : 'buffer';
        },
        onResponseData: (ctrl, chunk) => {
          if (mode === 'stream') {
            if (!streaming) {
              // First byte: from here the stream belongs to the client, bounded by the idle timer.
              streaming = true;
              clearTimeout(timer);
              ex.firstByteMs = performance.now() - ex.startedAt;
              ex.status = status;
              ex.usage = new UsageObserver();
              const outHeaders = this.responseHeaders(ex, upstreamHeaders);
              outHeaders['cache-control'] = 'no-cache';
              res.writeHead(status, outHeaders);
              res.on('drain', onDrain);
              idleTimer = setTimeout(() => abort(new TimeoutSignal()), this.config.STREAM_IDLE_TIMEOUT_MS);
            } else {
              idleTimer!.refresh();
            }
            ex.usage!.push(chunk);
            if (!res.write(chunk)) ctrl.pause();
            return;
          }
          if (mode === 'error' && size >= MAX_ERROR_BODY_BYTES) return;
          chunks.push(chunk);
          size += chunk.length;
        },
        onResponseEnd: () => {
          if (mode === 'stream') {
            if (!streaming) {
              // An empty stream: nothing was sent yet, so answer it like any other body.
              mode = 'buffer';
            } else {
              res.end();
              finish({ kind: 'answered' });
              return;
            }
          }
          const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
          chunks = [];
          if (mode === 'error') {
            finish({ kind: 'status', status, headers: upstreamHeaders, body: body.toString('utf8', 0, MAX_ERROR_BODY_BYTES) });
            return;
          }
          ex.status = status;
          ex.firstByteMs = performance.now() - ex.startedAt;
          const observer = new UsageObserver();
          observer.push(body);
          ex.usage = observer;
          const outHeaders = this.responseHeaders(ex, upstreamHeaders);
          outHeaders['content-length'] = String(body.length);
          res.writeHead(status, outHeaders);
          res.end(body);
          finish({ kind: 'answered' });
        },
        onResponseError: (_ctrl, error) => {
          const reason = abortReason ?? error;
          if (streaming) {
            // The client already has a 200 and part of the stream: end it with an error event.
            res.off('drain', onDrain);
            if (!(reason instanceof ClientGoneSignal)) {
              const timedOut = reason instanceof TimeoutSignal;
              const body: OpenAIErrorBody = timedOut
                ? {
                    message: `The provider sent nothing for ${this.config.STREAM_IDLE_TIMEOUT_MS} ms; the stream was closed.`,
                    type: 'timeout_error',
                    code: 'stream_idle_timeout',
                    param: null,
                  }
                : {
                    message: `The provider's stream broke off: ${networkReason(reason)}.`,
                    type: 'upstream_error',
                    code: 'stream_interrupted',
                    param: null,
                  };
              ex.errorMessage = body.message;
              res.end(sseErrorEvent(body));
            }
            finish({ kind: 'answered' });
            return;
          }
          if (reason instanceof TimeoutSignal) finish({ kind: 'timeout' });
          else if (reason instanceof ClientGoneSignal) finish({ kind: 'cancelled' });
          else finish({ kind: 'network', error: reason });
        },
      };

      this.logger.debug(
        { reqId: ex.id, provider: provider.name, method: ex.method, path: provider.basePath + ex.upstreamPath, attempt: ex.retries + 1 },
        'upstream attempt',
      );
      provider.pool.dispatch(
        {
          method: ex.method as Dispatcher.HttpMethod,
          path: provider.basePath + ex.upstreamPath,
          headers,
          body: ex.body,
        },
        handler,
      );
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((provider) => provider.pool.close()));
  }
}

/** Writes a gateway error as the answer: JSON when nothing was sent yet, else an SSE error event. */
export function sendError(ex: Exchange, error: GatewayError): void {
  const res = ex.res;
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
    const timer = setTimeout(() => {
      ex.cancel = undefined;
      ex.waitedMs += ms;
      resolve(true);
    }, ms);
    ex.cancel = () => {
      clearTimeout(timer);
      ex.cancel = undefined;
      resolve(false);
    };
  });
}

/** The client's own `Bearer` credential; an empty one (e.g. the SDK's `apiKey: ""`) counts as none. */
function clientAuthorization(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const token = value.startsWith('Bearer ') || value.startsWith('bearer ') ? value.slice(7).trim() : value.trim();
  if (token === '' || value.trim().toLowerCase() === 'bearer') return undefined;
  return `Bearer ${token}`;
}

function isEventStream(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith(SSE_CONTENT_TYPE);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function networkReason(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `${code} (${error.message})` : error.message;
}
