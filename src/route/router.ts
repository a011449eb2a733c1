// Running a plan: its targets in order, each prepared from the client's request, each tried in
// attempts that write through the request's one sink; one deadline and one attempt budget for the
// whole plan. The first attempt to commit answers; a failure before that is retried on the same
// target or moves on to the next (route/retry.ts), and the last one is the answer.
//
// A route's targets have health: an open breaker or a resting key is passed over without a
// dispatch, and every attempt's outcome feeds them (an error inside a 200 stream too). A route with
// `hedge` starts the next target when the first has not committed after `after_ms`; the first to
// commit wins, and the sink's claim cancels the others at the provider.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { Attempt, describeNetworkError, headerRecord, limitRecord, type AttemptName, type AttemptOutcome } from '../attempt.js';
import type { Config } from '../config.js';
import { GatewayError, normaliseProviderError } from '../errors.js';
import type { AttemptRecord, Exchange, Provider } from '../exchange.js';
import type { Logger } from '../logger.js';
import { redactCredentials } from '../redact.js';
import { ClientSink } from '../sink.js';
import { DEFAULT_KEY_BAD_MS, DEFAULT_MAX_COOLDOWN_MS, DEFAULT_RATE_LIMIT_COOLDOWN_MS, cooldownMs, type Admission, type AttemptHealth } from './health.js';
import type { Authorized } from '../providers/types.js';
import type { Plan } from './plan.js';
import { redactorOf, type Prepared, type Preparer } from './prepare.js';
import { backoffMs, retryAfterMs, targetFailed, verdictFor, type FailureKind, type Verdict } from './retry.js';
import type { RouteTarget } from './routes.js';
import type { Target } from './target.js';
import type { Pricing } from '../observe/records.js';
import type { AttemptTrace, Telemetry } from '../observe/telemetry.js';

export interface RouterServices {
  readonly config: Config;
  readonly logger: Logger;
  readonly debug: boolean;
  readonly preparer: Preparer;
  /** The pool for an origin a signing adapter chose (a region's endpoint). */
  poolFor(provider: Provider, origin: string): Dispatcher;
  /** What a provider's 404 adds for a model name no alias matched, when that is worth saying. */
  aliasMiss(ex: Exchange, target: Target): string | undefined;
  /** The gateway's configured secrets, kept out of its log lines. */
  readonly secrets: readonly string[];
  /** The price table, for a whole answer's cost header. */
  readonly pricing?: Pricing;
  /** OpenTelemetry, when an OTLP endpoint is configured: a span per attempt. */
  readonly telemetry: Telemetry | undefined;
}

/** A failed attempt: what the client would be told, and what to do next. */
interface Failure {
  readonly kind: FailureKind;
  readonly error: GatewayError;
  readonly verdict: Verdict;
  readonly retryAfterMs: number | undefined;
}

const NO_CLIENT_RETRY = Object.freeze({ 'x-should-retry': 'false' });
const NO_CREDENTIALS: readonly string[] = Object.freeze([]);
const NO_CLIENT_HEADERS: IncomingHttpHeaders = Object.freeze({});

/** One request's run through its plan: what its attempts share. */
class Run {
  readonly sink: ClientSink;
  readonly deadline: number;
  attempts = 0;
  last: GatewayError | undefined = undefined;
  /**
   * Attempts and waits in flight, when more than one may be (a hedged route), with the target each
   * is for: cancelled together, and the winner's target is the one the request's record names.
   */
  readonly active: Map<{ cancel(): void; lose?(): void }, Target | undefined> | undefined;

  constructor(
    readonly ex: Exchange,
    readonly plan: Plan,
    hedged: boolean,
    sink: ClientSink,
  ) {
    this.sink = sink;
    this.deadline = ex.startedAt + plan.timeoutMs;
    this.active = hedged ? new Map() : undefined;
    if (hedged) {
      // The first attempt to commit wins: every other one ends at once, at the provider too.
      this.sink.onClaim = (winner) => {
        const target = this.active!.get(winner as Attempt);
        if (target !== undefined) {
          ex.provider = target.provider;
          ex.model = target.model;
          ex.unaliased = target.unaliased;
        }
        for (const other of this.active!.keys()) if (other !== winner) other.lose?.();
      };
      ex.waiting = { cancel: () => this.cancelAll() };
    }
  }

  watch(waiting: { cancel(): void; lose?(): void }, target?: Target): void {
    if (this.active === undefined) this.ex.waiting = waiting;
    else this.active.set(waiting, target);
  }

  unwatch(waiting: { cancel(): void }): void {
    if (this.active === undefined) this.ex.waiting = undefined;
    else this.active.delete(waiting);
  }

  cancelAll(): void {
    for (const waiting of this.active?.keys() ?? []) waiting.cancel();
  }

  /** A target passed over: its record is made once, at start-up, and shared. */
  skipped(record: AttemptRecord): void {
    (this.ex.attempts ??= []).push(record);
  }

  record(name: AttemptName, outcome: string, status: number, startedAt: number): AttemptRecord {
    const record: AttemptRecord = { ...name, status, outcome, ttfbMs: undefined, ms: performance.now() - startedAt, startedAt };
    (this.ex.attempts ??= []).push(record);
    return record;
  }
}

export class Router {
  constructor(private readonly services: RouterServices) {}

  /**
   * Answers the request from the plan's targets, or throws the failure to answer with. `sink`: the
   * client's writer, when the caller wraps it (a cache miss keeps a copy).
   */
  run(ex: Exchange, plan: Plan, sink: ClientSink = new ClientSink(ex, this.services.pricing)): Promise<void> {
    const hedge = plan.route?.hedge;
    const run = new Run(ex, plan, hedge !== undefined && plan.targets.length > 1, sink);
    const targets = plan.targets;
    // One target (every request without a route): its attempts, and nothing to go on to.
    if (targets.length === 1) return this.tryTarget(run, targets[0]!, true, false, false).then((ended) => this.ended(run, ended));
    if (run.active !== undefined) return this.hedged(run, hedge!.afterMs, hedge!.maxInFlight).then((ended) => this.ended(run, ended));
    return this.inTurn(run);
  }

  /** The targets one after another, until one answers. */
  private async inTurn(run: Run): Promise<void> {
    const targets = run.plan.targets;
    const last = targets.length - 1;
    for (let t = 0; t <= last; t++) if ((await this.tryTarget(run, targets[t]!, false, t < last, false)) !== false) return;
    this.ended(run, false);
  }

  /** Throws the failure to answer with, unless the request was answered (or its client left). */
  private ended(run: Run, ended: boolean | 'lost'): void {
    if (ended === false) throw this.settled(run, run.last ?? noTarget(run.plan));
  }

  /**
   * The targets in order, a next one started beside the current one when it has not committed
   * after `afterMs` (while the route has fewer than `maxInFlight` hedges out). True once answered.
   */
  private hedged(run: Run, afterMs: number, maxInFlight: number): Promise<boolean> {
    const route = run.plan.route!;
    const targets = run.plan.targets;
    let next = 0;
    let lanes = 0;
    let settled = false;
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (answered: boolean, error?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        run.ex.waiting = undefined;
        if (error !== undefined) {
          run.cancelAll();
          reject(error);
        } else resolve(answered);
      };
      const launch = (hedge: boolean): boolean => {
        if (next >= targets.length) return false;
        const target = targets[next++]!;
        lanes++;
        if (hedge) route.hedgesInFlight++;
        this.tryTarget(run, target, false, true, hedge).then(
          (ended) => {
            lanes--;
            if (hedge) route.hedgesInFlight--;
            // A lane that lost leaves the answer to the winner, still writing.
            if (ended === true) finish(true);
            else if (ended === false && lanes === 0 && !launch(false)) finish(false);
          },
          (err: unknown) => {
            lanes--;
            if (hedge) route.hedgesInFlight--;
            finish(false, err);
          },
        );
        return true;
      };
      const hedgeLater = (): void => {
        timer = setTimeout(() => {
          if (settled || run.sink.committed || next >= targets.length) return;
          if (route.hedgesInFlight < maxInFlight) {
            if (this.services.debug) this.services.logger.debug({ reqId: run.ex.id, route: route.name, afterMs }, 'hedging: the next target starts');
            launch(true);
          }
          hedgeLater();
        }, afterMs);
      };
      launch(false);
      hedgeLater();
    });
  }

  /**
   * One target: prepared, then tried until it answers, its retries or the plan's budget run out,
   * or it fails in a way that moves on. True when the request is answered (or its client left),
   * `lost` when another attempt answered it first, false to move on.
   */
  private async tryTarget(run: Run, target: Target, only: boolean, more: boolean, hedge: boolean): Promise<boolean | 'lost'> {
    const { config, logger, debug } = this.services;
    const { ex, plan } = run;
    const routed = plan.route !== undefined ? (target as RouteTarget) : undefined;
    // A target whose key rests or whose breaker is open costs nothing: no request is even prepared.
    let admission: Admission = routed === undefined ? 'closed' : admit(run, routed);
    if (admission === false) return false;
    // The request's record names the target being tried, and in the end the one that answered.
    ex.provider = target.provider;
    ex.model = target.model;
    ex.unaliased = target.unaliased;
    const name: AttemptName = { target: targetName(target), provider: target.provider.name, model: target.model, hedge };
    let prepared: Prepared;
    try {
      // Most requests are prepared at once; only a translation is awaited.
      const pending = this.services.preparer.prepare(ex, target);
      prepared = pending instanceof Promise ? await pending : pending;
    } catch (err) {
      // The admission is given back: a request this target cannot take says nothing of its health.
      routed?.breaker.record('neutral', admission === 'probe');
      // A target that cannot take this request (no key, a field its API lacks) leaves it to the next.
      if (only || !(err instanceof GatewayError) || ex.clientGone) throw err instanceof GatewayError ? this.named(run, err) : err;
      run.last = err;
      run.record(name, `refused: ${err.code}`, err.status, performance.now());
      return false;
    }
    const provider = target.provider;
    const request: Dispatcher.DispatchOptions = { method: prepared.method, path: prepared.path, headers: prepared.headers, body: prepared.body };
    let pool = prepared.pool;
    /** The headers as prepared (and signed), before an attempt's trace context is added to them. */
    let headers = prepared.headers;
    let origin = provider.origin;
    for (let tries = 0; ; tries++) {
      // The first attempt was admitted above; each retry asks the breaker again.
      // A key that came back rate-limited rests: its retry is the next target's turn.
      if (tries > 0 && routed !== undefined) {
        admission = admit(run, routed);
        if (admission === false) return false;
      }
      const probe = admission === 'probe';
      const remaining = run.deadline - performance.now();
      if (run.sink.committed || remaining <= 0 || run.attempts >= plan.maxAttempts) {
        routed?.breaker.record('neutral', probe);
        // Another lane of a hedged route answered meanwhile: this one leaves the answer to it.
        if (run.sink.committed) return 'lost';
        if (remaining <= 0) throw this.settled(run, timeoutError(plan, run.attempts));
        return false;
      }
      run.attempts++;
      if (run.attempts > 1) ex.retries++;
      if (debug) {
        // Without the query string, as in the request line.
        logger.debug({ reqId: ex.id, provider: provider.name, path: prepared.path.split('?', 1)[0], attempt: run.attempts }, 'upstream attempt');
      }
      if (prepared.authorize !== undefined) {
        // Signed per attempt: a signature carries its time, and AWS refuses one minutes old.
        let authorized: Authorized;
        try {
          authorized = await prepared.authorize(
            { method: ex.method, path: prepared.path, headers: headerObject(prepared.headers), body: typeof prepared.body === 'string' ? prepared.body : '' },
            { headers: target.gatewayKeysOnly ? NO_CLIENT_HEADERS : ex.req.headers, options: provider.options, serverKey: target.key ?? provider.serverKey, configuredBaseUrl: provider.configuredBaseUrl },
          );
        } catch (err) {
          routed?.breaker.record('neutral', probe);
          throw err;
        }
        const base = authorized.baseUrl.pathname === '/' ? '' : authorized.baseUrl.pathname;
        request.path = base + prepared.path;
        request.headers = headers = [...prepared.headers, ...authorized.headers];
        origin = authorized.baseUrl.origin;
        pool = this.services.poolFor(provider, origin);
        prepared.signingSecrets = authorized.secrets;
      }
      const cap = target.attemptTimeoutMs;
      const budget = cap !== undefined && cap < remaining ? cap : remaining;
      // While a route has another attempt that could still serve (a retry, the next target, a hedge),
      // a pass-through stream commits at its first content event, so that a failure in its opening
      // events moves on. A request without a route keeps the first byte: it pays nothing for this.
      const another = routed !== undefined && run.attempts < plan.maxAttempts && (more || tries < target.maxRetries);
      const attempt = new Attempt(run.sink, provider.spec, config, prepared.translation, another ? 'first-content' : 'first-byte');
      const startedAt = performance.now();
      if (routed !== undefined) {
        attempt.answerHeaders = routed.answerHeaders;
        attempt.attemptNumber = run.attempts;
        attempt.watchErrors = true;
        routed.latency.begin();
      }
      if (prepared.usageAdded) attempt.keepAddedUsage();
      attempt.recordAs = name;
      const telemetry = this.services.telemetry;
      let traced: AttemptTrace | undefined;
      let listedBefore = 0;
      if (telemetry !== undefined) {
        listedBefore = ex.attempts?.length ?? 0;
        // The provider sees this attempt's span as its parent; a retry sends its own span's context.
        traced = telemetry.attemptStarted(ex, name, provider, origin);
        if (traced.recording) attempt.readFacts(telemetry.keepAnswerBytes);
        request.headers = traced.headers.length === 0 ? headers : [...headers, ...traced.headers];
      }
      run.watch(attempt, target);
      const outcome = await attempt.run(pool, request, budget);
      run.unwatch(attempt);

      let failure: Failure | undefined;
      try {
        failure = this.failureOf(run, prepared, outcome, budget < remaining);
      } catch (err) {
        // The request ends here (its deadline, a request the provider cannot be sent): so does the span.
        traced?.end(ex, { ...name, status: 0, outcome: outcome.kind, ttfbMs: undefined, ms: performance.now() - startedAt, startedAt });
        throw err;
      }
      const ttfb = outcome.kind === 'answered' && ex.firstByteMs !== undefined ? ex.startedAt + ex.firstByteMs - startedAt : undefined;
      if (routed !== undefined) this.observe(routed, outcome, failure, probe, ttfb);
      // An attempt that ended the request listed itself (Attempt.recordAs).
      if (failure === undefined) {
        if (traced !== undefined) traced.end(ex, listed(ex, name, listedBefore));
        return outcome.kind === 'lost' ? 'lost' : true;
      }
      const failed = run.record(name, failure.kind, outcome.kind === 'status' || outcome.kind === 'failed' ? failure.error.status : 0, startedAt);
      traced?.end(ex, failed);
      run.last = failure.error;
      if (failure.verdict === 'stop') throw this.named(run, failure.error);
      if (failure.verdict === 'next' || tries >= target.maxRetries) return false;
      const wait = failure.retryAfterMs ?? backoffMs(tries, config.RETRY_BASE_DELAY_MS, config.RETRY_MAX_DELAY_MS);
      // A wait that cannot fit in the deadline is pointless: the next target, or the failure as it stands.
      if (performance.now() + wait >= run.deadline) return false;
      if (debug) {
        logger.debug({ reqId: ex.id, attempt: run.attempts, status: failure.error.status, code: failure.error.code, waitMs: wait }, 'upstream attempt failed, retrying');
      }
      if (!(await sleep(run, wait))) return true;
    }
  }

  /** Feeds a route target's health with one attempt's outcome. */
  private observe(target: RouteTarget, outcome: AttemptOutcome, failure: Failure | undefined, probe: boolean, ttfbMs: number | undefined): void {
    target.latency.end();
    let health: AttemptHealth;
    if (failure === undefined) {
      if (outcome.kind === 'answered') {
        health = outcome.broken === true ? 'failure' : 'success';
        if (health === 'success' && ttfbMs !== undefined) target.latency.observe(ttfbMs);
      } else health = 'neutral';
    } else {
      health = targetFailed(failure.kind, failure.error.status) ? 'failure' : 'neutral';
      const status = failure.error.status;
      if (status === 429 && outcome.kind === 'status') {
        target.cooldown.coolFor(cooldownMs(limitRecord(outcome.headers), DEFAULT_MAX_COOLDOWN_MS) ?? DEFAULT_RATE_LIMIT_COOLDOWN_MS);
      } else if ((status === 401 || status === 403) && outcome.kind === 'status') {
        target.cooldown.markBad(DEFAULT_KEY_BAD_MS);
      }
    }
    target.breaker.record(health, probe);
  }

  /** undefined when the attempt answered (or the client left); else the failure and the verdict on it. */
  private failureOf(run: Run, prepared: Prepared, outcome: AttemptOutcome, capped: boolean): Failure | undefined {
    const { ex, plan } = run;
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
        // The request's deadline: nothing more can be tried. A target's own cap, or a stream that went
        // silent before its first content, leaves the rest of the deadline to the next.
        if (!capped && performance.now() >= run.deadline - 1) throw this.settled(run, timeoutError(plan, run.attempts));
        kind = 'attempt-timeout';
        error = new GatewayError(
          504,
          capped
            ? `Provider "${provider.name}" did not answer within ${prepared.target.attemptTimeoutMs} ms.`
            : `Provider "${provider.name}" sent nothing for ${this.services.config.STREAM_IDLE_TIMEOUT_MS} ms.`,
          'gateway_timeout',
        );
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
          { reqId: ex.id, provider: provider.name, attempt: run.attempts, code: (outcome.error as { code?: string }).code, err: redactCredentials(outcome.error.message, NO_CREDENTIALS, this.services.secrets) },
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
    const keys = plan.route === undefined ? 'one' : plan.targets.length > 1 ? 'others' : 'resting';
    return { kind, error, verdict: verdictFor(kind, error.status, plan.policy, keys), retryAfterMs: retryAfter };
  }

  /**
   * A failure the gateway already retried or failed over (or ran out of time for): `x-should-retry:
   * false` tells OpenAI SDKs not to retry it once more, which would multiply attempts and deadlines.
   * A route's answer also names the route and how many attempts it made.
   */
  private settled(run: Run, failure: GatewayError): GatewayError {
    const plan = run.plan;
    return this.named(run, plan.maxAttempts > 1 ? failure.withHeaders(NO_CLIENT_RETRY) : failure);
  }

  /** A route's failure names the route and how many attempts it made, as its answers do. */
  private named(run: Run, failure: GatewayError): GatewayError {
    const route = run.plan.route;
    return route === undefined ? failure : failure.withHeaders({ 'x-gateway-route': route.name, 'x-gateway-attempts': String(run.attempts) });
  }
}

/** Whether a route's target may take an attempt now (its key not resting, its breaker letting it through); a refusal is listed. */
function admit(run: Run, target: RouteTarget): Admission {
  if (!target.cooldown.available()) {
    run.skipped(target.skippedResting);
    return false;
  }
  const admission = target.breaker.tryAcquire();
  if (admission === false) run.skipped(target.skippedOpen);
  return admission;
}

function timeoutError(plan: Plan, attempts: number): GatewayError {
  return new GatewayError(504, `The provider did not answer within ${plan.timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}).`, 'gateway_timeout');
}

/** A route none of whose targets could be tried (every breaker open, every key resting). */
function noTarget(plan: Plan): GatewayError {
  return new GatewayError(
    503,
    `No target of route "${plan.route?.name ?? ''}" can take a request now: every breaker is open or every key is resting. Retry later.`,
    'no_target_available',
  );
}

/**
 * The record an attempt that ended the request listed itself (Attempt.finish): among those listed
 * since it started, the one for its target and lane (a hedged route's other lanes list theirs too).
 */
function listed(ex: Exchange, name: AttemptName, from: number): AttemptRecord | undefined {
  const attempts = ex.attempts;
  if (attempts === undefined) return undefined;
  for (let i = attempts.length - 1; i >= from; i--) {
    const record = attempts[i]!;
    if (record.target === name.target && record.hedge === name.hedge) return record;
  }
  return undefined;
}

function targetName(target: Target): string {
  return target.id ?? (target.model === undefined ? target.provider.name : `${target.provider.name}/${target.model}`);
}

/** A provider's message as a sentence, so that another can follow it. */
function sentence(message: string): string {
  return /[.!?]$/.test(message) || message === '' ? message : `${message}.`;
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
function sleep(run: Run, ms: number): Promise<boolean> {
  const ex = run.ex;
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const waiting = { cancel: () => done(false) };
    const done = (slept: boolean): void => {
      clearTimeout(timer);
      run.unwatch(waiting);
      ex.waitedMs += performance.now() - startedAt;
      resolve(slept);
    };
    const timer = setTimeout(done, ms, true);
    run.watch(waiting);
  });
}

/** A flat [name, value, ...] list as an object, for an adapter to sign. */
function headerObject(flat: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) headers[flat[i]!] = flat[i + 1]!;
  return headers;
}
