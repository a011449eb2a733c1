// Routes (`routes:` in the config file): a model name, or a pattern of them, served by targets in
// an order the route's strategy picks per request, each target with its own health. Everything here
// is built at start-up; a request pays for a Map lookup (patterns only when no exact name matched),
// the strategy's order, and the plan object.
import { ModelAliases } from '../aliases.js';
import { modelJsonBytes } from '../jsonbody.js';
import type { RouteConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { AttemptRecord, Provider } from '../exchange.js';
import { safeEcho } from '../redact.js';
import { Breaker, KeyCooldown, type BreakerSnapshot, type KeyCooldownSnapshot } from './health.js';
import type { Plan } from './plan.js';
import type { RetryPolicy } from './retry.js';
import { LatencyStats, order, type LatencySnapshot, type Strategy } from './strategy.js';
import type { Target } from './target.js';

/** The header a request picks one of a route's targets with, where the route allows it. */
export const TARGET_HEADER = 'x-gateway-target';

/** A route's target, with its health: a breaker, a key cooldown, and its time to first byte. */
export interface RouteTarget extends Target {
  readonly id: string;
  readonly route: Route;
  readonly weight: number;
  readonly breaker: Breaker;
  readonly cooldown: KeyCooldown;
  readonly latency: LatencyStats;
  /** What the client's answer says of the target: x-gateway-route, -provider, -model, -target. */
  readonly answerHeaders: readonly string[];
  /** Its entries in a request's list of attempts when it is passed over, made once. */
  readonly skippedOpen: AttemptRecord;
  readonly skippedResting: AttemptRecord;
}

export interface TargetStatus {
  readonly id: string;
  readonly provider: string;
  readonly model: string | undefined;
  readonly weight: number;
  readonly breaker: BreakerSnapshot;
  readonly key: KeyCooldownSnapshot;
  readonly latency: LatencySnapshot;
}

export class Route {
  readonly name: string;
  readonly strategy: Strategy;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly policy: RetryPolicy;
  readonly allowTargetOverride: boolean;
  readonly hedge: RouteConfig['hedge'];
  /** How long the response cache keeps the route's answers; undefined: it keeps none. */
  readonly cacheTtlMs: number | undefined;
  readonly targets: readonly RouteTarget[];
  /** Hedges of this route now in flight, bounded by hedge.maxInFlight. */
  hedgesInFlight = 0;

  constructor(config: RouteConfig, providerOf: (name: string) => Provider) {
    this.name = config.name;
    this.strategy = config.strategy;
    this.timeoutMs = config.timeoutMs;
    this.maxAttempts = config.maxAttempts;
    this.policy = { failOverOn: config.failOverOn };
    this.allowTargetOverride = config.allowTargetOverride;
    this.hedge = config.hedge;
    this.cacheTtlMs = config.cacheTtlMs;
    this.targets = config.targets.map((target) => {
      const provider = providerOf(target.provider);
      // Not frozen, and in the field order of a request's own target (plan.ts): one shape for the request path.
      return {
        id: target.id,
        route: this,
        provider,
        model: target.model,
        modelBytes: modelJsonBytes(target.model),
        // The operator named the model: a 404 is not the aliases' to explain.
        unaliased: false,
        key: target.key,
        gatewayKeysOnly: true,
        maxRetries: target.maxRetries,
        headers: target.headers,
        attemptTimeoutMs: target.timeoutMs,
        weight: target.weight,
        breaker: new Breaker(config.breaker),
        cooldown: new KeyCooldown(),
        latency: new LatencyStats(),
        skippedOpen: skipped(target.id, provider.name, target.model, 'skipped: breaker open'),
        skippedResting: skipped(target.id, provider.name, target.model, 'skipped: key resting'),
        // The target's id only where it says more than the provider and the model (a name of its own, a second key).
        answerHeaders: Object.freeze([
          'x-gateway-route', safeHeader(config.name), 'x-gateway-provider', provider.name, 'x-gateway-model', safeHeader(target.model),
          ...(target.id === `${target.provider}/${target.model}` ? [] : ['x-gateway-target', safeHeader(target.id)]),
        ]),
      };
    });
  }

  /** The plan for one request: every target, in the strategy's order, or the one the request picked. */
  plan(picked: string | string[] | undefined): Plan {
    let targets: readonly RouteTarget[];
    if (picked === undefined || picked === '') targets = order(this.strategy, this.targets);
    else targets = [this.pick(picked)];
    return { route: this, targets, timeoutMs: this.timeoutMs, maxAttempts: this.maxAttempts, policy: this.policy };
  }

  private pick(picked: string | string[]): RouteTarget {
    const id = (Array.isArray(picked) ? picked[0]! : picked).trim();
    if (!this.allowTargetOverride) {
      throw new GatewayError(400, `Route ${safeEcho(this.name, 100)} lets no request pick its target; remove the ${TARGET_HEADER} header.`, 'target_override_refused', TARGET_HEADER);
    }
    const target = this.targets.find((candidate) => candidate.id === id);
    if (target === undefined) {
      throw new GatewayError(
        400,
        `Route ${safeEcho(this.name, 100)} has no target ${safeEcho(id, 64)}; its targets: ${this.targets.map((t) => t.id).join(', ')}.`,
        'unknown_target',
        TARGET_HEADER,
      );
    }
    return target;
  }

  status(): { name: string; strategy: Strategy; targets: TargetStatus[] } {
    return {
      name: this.name,
      strategy: this.strategy,
      targets: this.targets.map((target) => ({
        id: target.id,
        provider: target.provider.name,
        model: target.model,
        weight: target.weight,
        breaker: target.breaker.snapshot(),
        key: target.cooldown.snapshot(),
        latency: target.latency.snapshot(),
      })),
    };
  }
}

export class Routes {
  private readonly byName = new Map<string, Route>();
  /** Names and patterns, matched as aliases are: the exact name first, then the most specific pattern. */
  private readonly matcher: ModelAliases;
  readonly all: readonly Route[];

  constructor(configs: readonly RouteConfig[], providerOf: (name: string) => Provider) {
    this.all = configs.map((config) => new Route(config, providerOf));
    for (const route of this.all) this.byName.set(route.name, route);
    this.matcher = new ModelAliases(new Map(configs.map((config) => [config.name, config.name])));
  }

  get configured(): boolean {
    return this.all.length > 0;
  }

  /** The route serving a model name, if any. */
  match(model: string): Route | undefined {
    if (this.all.length === 0) return undefined;
    const name = this.matcher.resolve(model);
    return name === undefined ? undefined : this.byName.get(name);
  }

  status(): string {
    return JSON.stringify({ routes: this.all.map((route) => route.status()) });
  }
}

function skipped(target: string, provider: string, model: string, outcome: string): AttemptRecord {
  return Object.freeze({ target, provider, model, status: 0, outcome, ttfbMs: undefined, ms: 0 });
}

/** A header value from the operator's config: visible ASCII as it is (names are checked to be). */
function safeHeader(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}
