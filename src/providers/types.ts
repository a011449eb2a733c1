// The provider contract. A provider is data plus, at most, a few small functions; the gateway core
// knows nothing of any provider beyond this interface.

export interface ProviderSpec {
  /** The value of the `x-provider` header that selects this provider (lower case). */
  readonly name: string;
  /** Base URL of the provider's OpenAI-style API; routes are appended to it (`/chat/completions`). */
  readonly defaultBaseUrl: string;
  /** Environment variable that overrides the base URL. */
  readonly baseUrlEnv: string;
  /** Environment variable holding a server-side key, used when the client sends none. */
  readonly apiKeyEnv: string;
  /**
   * Rewrites the `model` a client sent (e.g. expands a short name). Returning the same string
   * leaves the request body untouched, byte for byte.
   */
  readonly mapModel?: (model: string) => string;
  /** Response header in which the provider returns its own request id. */
  readonly requestIdHeader?: string;
}

/** An OpenAI-compatible host needs nothing beyond its spec; this keeps such files one short literal. */
export function openAICompatible(spec: ProviderSpec): ProviderSpec {
  return Object.freeze({ ...spec, name: spec.name.toLowerCase() });
}
