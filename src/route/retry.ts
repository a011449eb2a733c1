// What to do after an attempt failed: try the same target again, move on to the next target, or
// stop and answer with the failure. And how long to wait before trying again.
import { backoffMs, isRetryableStatus, retryAfterMs } from '../upstream.js';

export { backoffMs, retryAfterMs };

/**
 * - `again`: the same target may well answer next time (429, 5xx, 529, a connection that failed);
 *   it is tried again while its retries last, then the next target is;
 * - `next`: this target will not answer this request (it sent what the gateway cannot read, its
 *   attempt ran out of its own time, a status the operator listed): the next target is tried;
 * - `stop`: the request itself is at fault (a 400 the next target would refuse too): answer now.
 */
export type Verdict = 'again' | 'next' | 'stop';

/** How a failed attempt ended, as far as the choice goes. */
export type FailureKind = 'network' | 'status' | 'unreadable' | 'attempt-timeout' | 'unsendable';

/** The operator's additions to the statuses that move on (a route's `fail_over_on`). */
export interface RetryPolicy {
  readonly failOverOn: ReadonlySet<number>;
}

export const DEFAULT_POLICY: RetryPolicy = Object.freeze({ failOverOn: new Set<number>() });

/**
 * What else may serve when a key is refused (401, 403) or rate-limited (429): `one`, a request's
 * own key and nothing besides (the failure is the client's to see, a 429 waited out); `resting`, a
 * route's key that now rests (a refusal moves on; a 429, on a route of one target, is waited out);
 * `others`, a route with other keys or targets, which serve at once while this key rests.
 */
export type KeyAlternatives = 'one' | 'resting' | 'others';

export function verdictFor(kind: FailureKind, status: number, policy: RetryPolicy = DEFAULT_POLICY, keys: KeyAlternatives = 'one'): Verdict {
  switch (kind) {
    case 'network':
      return 'again';
    case 'unreadable':
    case 'attempt-timeout':
      return 'next';
    case 'unsendable':
      return 'stop';
    case 'status':
      if (keys !== 'one' && (status === 401 || status === 403)) return 'next';
      if (keys === 'others' && status === 429) return 'next';
      if (isRetryableStatus(status)) return 'again';
      return policy.failOverOn.has(status) ? 'next' : 'stop';
  }
}

/**
 * Whether a status says something about the target's health (its breaker counts it): the
 * provider's own trouble (429, 5xx, 529), not a request it refused.
 */
export function targetFailed(kind: FailureKind, status: number): boolean {
  return kind !== 'unsendable' && (kind !== 'status' || isRetryableStatus(status));
}
