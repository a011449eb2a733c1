// The per-request record, in its own module so that the request path (gateway.ts), one upstream
// attempt (attempt.ts), the transport (server.ts) and the request log read the same type without
// importing each other.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'undici';
import type { BodyBytes } from './body.js';
import type { BodyFacts } from './jsonbody.js';
import type { Route } from './route/routes.js';
import type { InboundRoute } from './inbound/types.js';
import type { ProviderSpec } from './providers/types.js';
import type { Usage } from './stream.js';
import type { AttemptRecord } from './observe/records.js';
import type { Reservation } from './state/store.js';
import type { GatewayKey } from './governance/keys.js';
import type { RequestTrace } from './observe/telemetry.js';
import type { AnswerFacts } from './observe/facts.js';
import type { CacheResult } from './cache/response-cache.js';

export type { AttemptRecord } from './observe/records.js';

/** A provider ready to serve: its spec plus what start-up resolved (pool, paths, server key). */
export interface Provider {
  readonly name: string;
  readonly spec: ProviderSpec;
  readonly pool: Pool;
  /** The origin of the base URL, which `pool` serves. */
  readonly origin: string;
  /** Pools for other origins an adapter sends to (AWS regions), made on first use. */
  readonly pools: Map<string, Pool>;
  /** The server-side key as configured, for adapters that authorise requests themselves. */
  readonly serverKey: string | undefined;
  /** The base URL when the operator set one (env or config file), not the spec's default. */
  readonly configuredBaseUrl: URL | undefined;
  /** Path prefix of the provider's API (`/inference/v1`); the route's path is appended. */
  readonly basePath: string;
  /** The server-side key as the provider wants it ([header, value]), when one is configured. */
  readonly serverCredential: readonly [string, string] | undefined;
  /** Headers every request carries (the spec's, an adapter's), [name, value, ...], built at start-up. */
  readonly headers: readonly string[];
  /** Provider-specific options, resolved at start-up. */
  readonly options: Readonly<Record<string, string>>;
  /** The inbound APIs (`InboundApi.name`) the provider serves itself, as configured. */
  readonly nativeApis: ReadonlySet<string>;
  /**
   * Where the provider's own API lives when that is not under the base URL (Gemini's beside its
   * OpenAI-compatible layer): its pool (the provider's own for the same origin) and base path.
   */
  readonly nativeBase: { readonly pool: Pool; readonly basePath: string } | undefined;
}

/** Where usage is read from: the observer of a pass-through answer, or a translator. */
export interface UsageSource {
  readonly usage: Usage | undefined;
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
  /** The JSON values a large body holds (BodyFacts.values): what translating it would cost. */
  bodyValues: number;
  /** What the body scanner found in a JSON body (where its model is), for a target to replace the model. */
  facts: BodyFacts | undefined;
  /**
   * Where a route names the model in its path (Gemini's `/v1beta/models/{model}:{method}`): the
   * rest of the path after the model, query included, for each target to put its own model before.
   */
  modelInPath: string | undefined;
  contentType: string | undefined;
  /** The model the provider is asked for (after aliases, prefixes and mapModel). */
  model: string | undefined;
  /** The model as the client named it, echoed in translated answers. */
  clientModel: string | undefined;
  /**
   * The client's model name went to the provider as it was (no alias, default or `provider/`
   * prefix changed it): a 404 then says which aliases exist.
   */
  unaliased: boolean;
  /** The route (config file `routes`) the client's model name matched, if any. */
  route: Route | undefined;
  /** The API the client speaks when it is not OpenAI's chat completions (its errors are shaped for it). */
  api: InboundRoute | undefined;
  stream: boolean;
  maxRetries: number;
  timeoutMs: number;
  // Observed as the request runs.
  status: number;
  /** The status the provider last answered with (0 before any); `status` is what the client got. */
  upstreamStatus: number;
  retries: number;
  firstByteMs: number | undefined;
  upstreamMs: number;
  waitedMs: number;
  usage: UsageSource | undefined;
  errorMessage: string | undefined;
  clientGone: boolean;
  /** The gateway itself closed the connection mid-answer (a stalled client, a JSON answer cut short). */
  cutByGateway: boolean;
  /**
   * Each attempt of a routed request, or of one tried more than once, in order: what the request
   * line lists. Undefined for a request answered by its first attempt at its one target.
   */
  attempts: AttemptRecord[] | undefined;
  /** What the request is waiting on (an attempt or a backoff), cancelled when the client leaves. */
  waiting: { cancel(): void } | undefined;
  /** The request's server span, when OpenTelemetry is on and an attempt has started. */
  trace?: RequestTrace;
  /** The answer's id, model and finish reasons, read by the answering attempt while OpenTelemetry is on. */
  answerFacts?: AnswerFacts;
  /** The gateway key the request presented, when gateway keys are configured (governance/keys.ts). */
  gatewayKey: GatewayKey | undefined;
  /** What its admission reserved against the key's limits, settled when the response closes. */
  admitted: Reservation | undefined;
  /** The key's `x-ratelimit-*` headers from its admission, [name, value, ...], written with the answer's head. */
  limitHeaders: string[] | undefined;
  /** How a request of a route with a response cache met it; undefined on every other route. */
  cache?: CacheResult;
}

/** What an attempt needs of the gateway's settings; given to it, rather than the whole Gateway. */
export interface AttemptLimits {
  readonly STREAM_IDLE_TIMEOUT_MS: number;
  readonly CLIENT_STALL_TIMEOUT_MS: number;
  readonly MAX_BUFFERED_RESPONSE_BYTES: number;
}
