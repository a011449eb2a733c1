// A target: one provider, model and key that may answer a request. A request without a route has
// one, made from what the client named; a route's targets are declared by the operator.
import type { Provider } from '../exchange.js';

export interface Target {
  /** The route's name for it (`fw-llama`), or undefined for the one target a request named itself. */
  readonly id: string | undefined;
  readonly provider: Provider;
  /** The model as the provider is asked for it (aliases, prefix and the provider's mapModel applied). */
  readonly model: string | undefined;
  /** The model's JSON text as bytes, made once for a route's target; undefined: made when needed. */
  readonly modelBytes: Buffer | undefined;
  /** The client's model name goes to the provider unchanged: a 404 then says which aliases exist. */
  readonly unaliased: boolean;
  /**
   * The key to send, as the operator declared it for the route (an environment variable's value);
   * undefined: the client's own, else the provider's server-side key.
   */
  readonly key: string | undefined;
  /**
   * Sent with the gateway's keys alone (a route's target): the key it names, else the provider's
   * server key; a client's own key (or AWS credentials) never goes along a route to whichever
   * provider it reaches, nor makes a target's health depend on one client.
   */
  readonly gatewayKeysOnly: boolean;
  /** Attempts on this target after its first, before the next target. */
  readonly maxRetries: number;
  /** Headers this target's requests carry besides the provider's, [name, value, ...]. */
  readonly headers: readonly string[];
  /** A cap on one attempt, within the request's deadline; undefined: the deadline alone. */
  readonly attemptTimeoutMs: number | undefined;
  // A route's target's own (routes.ts RouteTarget); undefined on the one target a request named.
  // Every target has every field, in one order, so that the request path sees one object shape
  // whether a gateway has routes or not.
  readonly route: unknown;
  readonly weight: number | undefined;
  readonly breaker: unknown;
  readonly cooldown: unknown;
  readonly latency: unknown;
  readonly skippedOpen: unknown;
  readonly skippedResting: unknown;
  readonly answerHeaders: readonly string[] | undefined;
}
