// Running a plan: its targets in order, each prepared from the client's request, each tried in
// attempts that write through the request's one sink; one deadline and one attempt budget for the
// whole plan. The first attempt to commit answers; a failure before that is retried on the same
// target or moves on to the next (route/retry.ts), and the last one is the answer.
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { Attempt, describeNetworkError, headerRecord, type AttemptOutcome } from '../attempt.js';
import type { Config } from '../config.js';
import { GatewayError, normaliseProviderError } from '../errors.js';
import type { Exchange, Provider } from '../exchange.js';
import type { Logger } from '../logger.js';
import { redactSecrets } from '../redact.js';
import { ClientSink } from '../sink.js';
import type { Plan } from './plan.js';
import { redactorOf, type Prepared, type Preparer } from './prepare.js';
import { backoffMs, retryAfterMs, verdictFor, type FailureKind, type Verdict } from './retry.js';
import type { Target } from './target.js';

export interface RouterServices {
  readonly config: Config;
  readonly logger: Logger;
  readonly debug: boolean;
  readonly preparer: Preparer;
  /** The pool for an origin a signing adapter chose (a region's endpoint). */
  poolFor(provider: Provider, origin: string): Dispatcher;
  /** What a provider's 404 adds for a model name no alias matched, when that is worth saying. */
  aliasMiss(ex: Exchange, target: Target): string | undefined;
}

/** A failed attempt: what the client would be told, and what to do next. */
interface Failure {
  readonly error: GatewayError;
  readonly verdict: Verdict;
  readonly retryAfterMs: number | undefined;
}

const NO_CLIENT_RETRY = Object.freeze({ 'x-should-retry': 'false' });

export class Router {
  constructor(private readonly services: RouterServices) {}

  /** Answers the request from the plan's targets, or throws the failure to answer with. */
  async run(ex: Exchange, plan: Plan): Promise<void> {
    const { config, logger, debug } = this.services;
    const sink = new ClientSink(ex);
    const deadline = ex.startedAt + plan.timeoutMs;
    const targets = plan.targets;
    let attempts = 0;
    let last: GatewayError | undefined;
    for (let t = 0; t < targets.length; t++) {
      const target = targets[t]!;
      const lastTarget = t === targets.length - 1;
      // The request's record names the target being tried, and in the end the one that answered.
      ex.provider = target.provider;
      ex.model = target.model;
      ex.unaliased = target.unaliased;
      let prepared: Prepared;
      try {
        prepared = await this.services.preparer.prepare(ex, target);
      } catch (err) {
        // A target that cannot take this request (no key, a field its API lacks) leaves it to the next.
        if (lastTarget || !(err instanceof GatewayError) || ex.clientGone) throw err;
        last = err;
        continue;
      }
      const provider = target.provider;
      const request: Dispatcher.DispatchOptions = { method: prepared.method, path: prepared.path, headers: prepared.headers, body: prepared.body };
      let pool = prepared.pool;
      for (let tries = 0; ; tries++) {
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw this.settled(plan, timeoutError(plan, attempts));
        if (attempts >= plan.maxAttempts) throw this.settled(plan, last ?? timeoutError(plan, attempts));
        attempts++;
        if (attempts > 1) ex.retries++;
        if (debug) {
          // Without the query string, as in the request line.
          logger.debug({ reqId: ex.id, provider: provider.name, path: prepared.path.split('?', 1)[0], attempt: attempts }, 'upstream attempt');
        }
        if (prepared.authorize !== undefined) {
          // Signed per attempt: a signature carries its time, and AWS refuses one minutes old.
          const authorized = await prepared.authorize(
            { method: ex.method, path: prepared.path, headers: headerObject(prepared.headers), body: typeof prepared.body === 'string' ? prepared.body : '' },
            { headers: ex.req.headers, options: provider.options, serverKey: target.key ?? provider.serverKey, configuredBaseUrl: provider.configuredBaseUrl },
          );
          const base = authorized.baseUrl.pathname === '/' ? '' : authorized.baseUrl.pathname;
          request.path = base + prepared.path;
          request.headers = [...prepared.headers, ...authorized.headers];
          pool = this.services.poolFor(provider, authorized.baseUrl.origin);
          prepared.signingSecrets = authorized.secrets;
        }
        const cap = target.attemptTimeoutMs;
        const budget = cap !== undefined && cap < remaining ? cap : remaining;
        const attempt = new Attempt(sink, provider.spec, config, prepared.translation);
        ex.waiting = attempt;
        const outcome = await attempt.run(pool, request, budget);
        ex.waiting = undefined;

        const failure = this.failureOf(ex, plan, prepared, outcome, attempts, budget < remaining);
        if (failure === undefined) return;
        last = failure.error;
        if (failure.verdict === 'stop') throw failure.error;
        if (failure.verdict === 'next' || tries >= target.maxRetries) break;
        const wait = failure.retryAfterMs ?? backoffMs(tries, config.RETRY_BASE_DELAY_MS, config.RETRY_MAX_DELAY_MS);
        // A wait that cannot fit in the deadline is pointless: the next target, or the failure as it stands.
        if (performance.now() + wait >= deadline) break;
        if (debug) {
          logger.debug({ reqId: ex.id, attempt: attempts, status: failure.error.status, code: failure.error.code, waitMs: wait }, 'upstream attempt failed, retrying');
        }
        if (!(await sleep(ex, wait))) return;
      }
    }
    throw this.settled(plan, last!);
  }

  /** undefined when the attempt answered (or the client left); else the failure and the verdict on it. */
  private failureOf(ex: Exchange, plan: Plan, prepared: Prepared, outcome: AttemptOutcome, attempts: number, capped: boolean): Failure | undefined {
    const provider = prepared.provider;
    const spec = provider.spec;
    let kind: FailureKind;
    let error: GatewayError;
    let retryAfter: number | undefined;
    switch (outcome.kind) {
      case 'answered':
      case 'cancelled':
      case 'lost':
        return undefined;
      case 'timeout':
        if (!capped) throw this.settled(plan, timeoutError(plan, attempts));
        kind = 'attempt-timeout';
        error = new GatewayError(504, `Provider "${provider.name}" did not answer within ${prepared.target.attemptTimeoutMs} ms.`, 'gateway_timeout');
        break;
      case 'unsendable':
        throw new GatewayError(400, `The request cannot be sent to the provider: ${outcome.error.message}.`, 'invalid_request');
      case 'unreadable':
        if (outcome.excerpt !== undefined) {
          this.services.logger.warn({ reqId: ex.id, provider: provider.name, excerpt: redactorOf(ex, prepared)(outcome.excerpt) }, 'provider answer unreadable');
        }
        kind = 'unreadable';
        error = new GatewayError(502, `Provider "${provider.name}" sent an answer the gateway could not read: ${outcome.message}.`, 'upstream_unreadable');
        break;
      case 'network':
        // The details (addresses, library messages) are for the operator, not the client.
        this.services.logger.warn(
          { reqId: ex.id, provider: provider.name, attempt: attempts, code: (outcome.error as { code?: string }).code, err: redactSecrets(outcome.error.message) },
          'upstream connection failed',
        );
        kind = 'network';
        error = new GatewayError(502, `Provider "${provider.name}" is unreachable: ${describeNetworkError(outcome.error)}.`, 'upstream_unreachable');
        break;
      case 'status':
      case 'failed': {
        const translated =
          outcome.kind === 'failed'
            ? outcome.failure
            : spec.kind === 'translating'
              ? spec.adapter.error(outcome.status, outcome.body, outcome.headers.errorType)
              : { status: outcome.status, error: normaliseProviderError(outcome.status, outcome.body, prepared.secret) };
        const body = translated.error;
        const redact = redactorOf(ex, prepared);
        retryAfter = retryAfterMs(outcome.headers.retryAfter, outcome.headers.retryAfterMs);
        error = new GatewayError(translated.status, redact(body.message), body.code, body.param, body.type, headerRecord(outcome.headers));
        // A client of the provider's own API gets the provider's error as it was sent (529 included).
        if (prepared.native && spec.kind === 'translating' && outcome.kind === 'status') error = error.asSent(outcome.status, redact(outcome.body));
        else if (error.status === 404) {
          const miss = this.services.aliasMiss(ex, prepared.target);
          if (miss !== undefined) error = error.withMessage(`${sentence(error.message)} ${miss}`);
        }
        kind = 'status';
        break;
      }
    }
    return { error, verdict: verdictFor(kind, error.status), retryAfterMs: retryAfter };
  }

  /**
   * A failure the gateway already retried or failed over (or ran out of time for): `x-should-retry:
   * false` tells OpenAI SDKs not to retry it once more, which would multiply attempts and deadlines.
   */
  private settled(plan: Plan, failure: GatewayError): GatewayError {
    return plan.maxAttempts > 1 ? failure.withHeaders(NO_CLIENT_RETRY) : failure;
  }
}

function timeoutError(plan: Plan, attempts: number): GatewayError {
  return new GatewayError(504, `The provider did not answer within ${plan.timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}).`, 'gateway_timeout');
}

/** A provider's message as a sentence, so that another can follow it. */
function sentence(message: string): string {
  return /[.!?]$/.test(message) || message === '' ? message : `${message}.`;
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
function sleep(ex: Exchange, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const done = (slept: boolean): void => {
      clearTimeout(timer);
      ex.waiting = undefined;
      ex.waitedMs += performance.now() - startedAt;
      resolve(slept);
    };
    const timer = setTimeout(done, ms, true);
    ex.waiting = { cancel: () => done(false) };
  });
}

/** A flat [name, value, ...] list as an object, for an adapter to sign. */
function headerObject(flat: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) headers[flat[i]!] = flat[i + 1]!;
  return headers;
}
