// A plan: the targets that may answer a request, in the order to try them, with the one deadline
// and the one attempt budget they share.
import type { Provider } from '../exchange.js';
import type { Route } from './routes.js';
import { DEFAULT_POLICY, type RetryPolicy } from './retry.js';
import type { Target } from './target.js';

export interface Plan {
  /** The route the request matched, if any; its targets are then its RouteTargets. */
  readonly route: Route | undefined;
  readonly targets: readonly Target[];
  /** From the request's start to its last byte, whatever the targets. */
  readonly timeoutMs: number;
  /** Attempts in all, across targets. */
  readonly maxAttempts: number;
  readonly policy: RetryPolicy;
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

/** The plan of a request that named its one target itself (x-provider, a prefix, an alias, the default). */
export function singleTarget(provider: Provider, model: string | undefined, unaliased: boolean, maxRetries: number, timeoutMs: number, gatewayKeysOnly = false): Plan {
  return {
    route: undefined,
    // In the field order of a route's targets (routes.ts): one shape for the request path.
    targets: [
      {
        id: undefined,
        route: undefined,
        provider,
        model,
        modelBytes: undefined,
        unaliased,
        key: undefined,
        // A client that presented a gateway key is sent with the gateway's provider keys, never its own.
        gatewayKeysOnly,
        maxRetries,
        headers: NO_HEADERS,
        attemptTimeoutMs: undefined,
        weight: undefined,
        breaker: undefined,
        cooldown: undefined,
        latency: undefined,
        skippedOpen: undefined,
        skippedResting: undefined,
        answerHeaders: undefined,
      },
    ],
    timeoutMs,
    maxAttempts: maxRetries + 1,
    policy: DEFAULT_POLICY,
  };
}
