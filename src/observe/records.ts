// What the request path tells of a request: one record per attempt and one per request. The log
// line, the metrics, the traces and the cost read these records and nothing else; the request
// path makes them once (the attempt's when it ends, the request's when its response closes), and
// nothing observes a request chunk by chunk beyond what counting its usage needs.
import { performance } from 'node:perf_hooks';
import type { Exchange } from '../exchange.js';
import type { Usage } from '../stream.js';
import type { CacheResult } from '../cache/response-cache.js';

/** One attempt: a dispatch to a target, or a target passed over without one. */
export interface AttemptRecord {
  /** The route's target id, or `provider/model`. */
  readonly target: string;
  /** The provider's name (one the gateway configured). */
  readonly provider: string;
  /** The model the provider was asked for. */
  readonly model: string | undefined;
  /** The provider's status; 0 when none came (a connection that failed, a timeout, a target passed over). */
  readonly status: number;
  /**
   * `answered`, `answered: broken` (cut after its commit point), `lost` (a hedge that did not commit
   * first), `cancelled` (the client left), `skipped: ...` (breaker open, key resting, passed over
   * without a dispatch), `refused: <code>` (the target cannot take the request), or the failure's
   * kind (`status`, `network`, `attempt-timeout`, `unreadable`).
   */
  readonly outcome: string;
  /** From the attempt's dispatch to the answer's first byte, when it committed. */
  readonly ttfbMs: number | undefined;
  readonly ms: number;
  /** performance.now() at dispatch; undefined for a target passed over. */
  readonly startedAt?: number;
  /** Started beside another attempt still running (a hedge), not after one ended. */
  readonly hedge?: boolean;
}

/** The inbound APIs as labels: a fixed set. */
export type ApiLabel = 'chat' | 'completions' | 'embeddings' | 'messages' | 'responses' | 'gemini' | 'models' | 'other';

/** One request, from its arrival to its response's close. */
export interface RequestRecord {
  readonly id: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** Wall-clock milliseconds at arrival (for traces). */
  readonly startTime: number;
  readonly durationMs: number;
  readonly api: ApiLabel;
  readonly method: string;
  /** The path, without its query string. */
  readonly path: string;
  /** The provider that answered (or the last one tried). */
  readonly provider: string | undefined;
  /** The model that provider was asked for. */
  readonly model: string | undefined;
  /** The model as the client named it. */
  readonly clientModel: string | undefined;
  /** The route the client's model matched. */
  readonly route: string | undefined;
  /** The name of the gateway key the request presented, when it presented one the gateway knows. */
  readonly key: string | undefined;
  /** The target that answered (or the last tried): the route's target id, or `provider/model`. */
  readonly target: string | undefined;
  /** What the client got: 499 when it left before the answer was complete. */
  readonly status: number;
  readonly stream: boolean;
  /** From arrival to the answer's first byte. */
  readonly ttfbMs: number | undefined;
  /** The time the gateway itself spent: the duration less the time waiting on providers and in backoff. */
  readonly overheadMs: number | undefined;
  /** Every attempt, in the order they ended. */
  readonly attempts: readonly AttemptRecord[];
  /** Attempts after the first at any target. */
  readonly retries: number;
  readonly usage: Usage | undefined;
  /** The answer's cost in USD; undefined when there is no usage or no price (`priced` tells which). */
  readonly costUsd: number | undefined;
  /** Whether a price was found for the model that answered; undefined when there was no usage to price. */
  readonly priced: boolean | undefined;
  /** The message of the error the client was told, if any. */
  readonly error: string | undefined;
  /** The client closed the connection before the answer was complete. */
  readonly clientGone: boolean;
  /** The gateway closed the connection mid-answer. */
  readonly cutByGateway: boolean;
  /** An answer begun and then ended with the API's error event (a stream cut short). */
  readonly broken: boolean;
  /** The provider's id of its answer; this and the two below are read only while OpenTelemetry is on (facts.ts). */
  readonly responseId?: string;
  /** The model the provider says answered. */
  readonly responseModel?: string;
  /** Why the answer stopped, one per choice, in the provider's words. */
  readonly finishReasons?: readonly string[];
  /** On a route with a response cache: whether the answer came from it (hit), was offered to it (miss), or neither (bypass). */
  readonly cache?: CacheResult;
}

/** What reads finished requests: the log line, metrics, traces. */
export interface Observer {
  finished(record: RequestRecord): void;
}

/** The price of an answer: USD for the usage, or undefined when the model has no price. */
export interface Pricing {
  cost(provider: string, model: string, usage: Usage): number | undefined;
}

const API_BY_INBOUND: Readonly<Record<string, ApiLabel>> = {
  'anthropic-messages': 'messages',
  'openai-responses': 'responses',
  gemini: 'gemini',
};

/** The inbound API a request spoke, as a label from a fixed set. */
export function apiLabel(ex: Exchange): ApiLabel {
  const api = ex.api;
  if (api !== undefined) return API_BY_INBOUND[api.name] ?? 'other';
  const path = ex.path;
  if (path.endsWith('/chat/completions')) return 'chat';
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/completions')) return 'completions';
  if (path.endsWith('/models') || path.includes('/models/')) return 'models';
  return 'other';
}

const NO_ATTEMPTS: readonly AttemptRecord[] = Object.freeze([]);

/** The record of a finished exchange, made once when its response closes. */
export function requestRecord(ex: Exchange, pricing: Pricing | undefined): RequestRecord {
  const now = performance.now();
  const durationMs = now - ex.startedAt;
  const attempts = ex.attempts ?? NO_ATTEMPTS;
  const last = attempts.length > 0 ? attempts[attempts.length - 1]! : undefined;
  const answered = attempts.find((a) => a.outcome === 'answered' || a.outcome === 'answered: broken') ?? last;
  const usage = ex.usage?.usage;
  let costUsd: number | undefined;
  let priced: boolean | undefined;
  // A hit asked nothing of a provider: its price is known, and it is nothing.
  if (ex.cache === 'hit') {
    costUsd = 0;
    priced = true;
  } else if (usage !== undefined && ex.provider !== undefined && ex.model !== undefined && pricing !== undefined) {
    costUsd = pricing.cost(ex.provider.name, ex.model, usage);
    priced = costUsd !== undefined;
  }
  const status = ex.clientGone ? 499 : ex.status;
  const facts = ex.answerFacts;
  return {
    id: ex.id,
    startedAt: ex.startedAt,
    startTime: Date.now() - durationMs,
    durationMs,
    api: apiLabel(ex),
    method: ex.method,
    path: ex.path,
    provider: ex.provider?.name,
    model: ex.model,
    clientModel: ex.clientModel,
    route: ex.route?.name,
    key: ex.gatewayKey?.name,
    target: answered?.target ?? (ex.provider === undefined ? undefined : ex.model === undefined ? ex.provider.name : `${ex.provider.name}/${ex.model}`),
    status,
    stream: ex.stream,
    ttfbMs: ex.firstByteMs,
    overheadMs: ex.upstreamMs > 0 ? durationMs - ex.upstreamMs - ex.waitedMs : undefined,
    attempts,
    retries: ex.retries,
    usage,
    costUsd,
    priced,
    error: ex.errorMessage,
    clientGone: ex.clientGone,
    cutByGateway: ex.cutByGateway,
    broken: ex.errorMessage !== undefined && status < 400,
    responseId: facts?.id,
    responseModel: facts?.model,
    finishReasons: facts === undefined || facts.finishReasons.length === 0 ? undefined : facts.finishReasons,
    cache: ex.cache,
  };
}

/** The label a model gets once the bound's names have theirs. */
export const OTHER_MODEL = 'other';

/**
 * Which model names become a metric label (Prometheus's and OpenTelemetry's): those the
 * configuration holds, and the first `max` others answered with success; any other is `other`. A
 * client can send any model name, so nothing beyond this bound ever becomes a series.
 */
export class ModelLabels {
  private readonly known: ReadonlySet<string>;
  private readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    known: Iterable<string>,
  ) {
    this.known = new Set(known);
  }

  /** How many names beyond the configured ones have a label of their own. */
  get labelled(): number {
    return this.seen.size;
  }

  /** The label of a model: its name when configured or among the first answered; else `other` ('' for none). */
  label(model: string | undefined, answered: boolean): string {
    if (model === undefined) return '';
    if (this.known.has(model) || this.seen.has(model)) return model;
    if (answered && this.seen.size < this.max) {
      this.seen.add(model);
      return model;
    }
    return OTHER_MODEL;
  }
}
