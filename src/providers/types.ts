// The provider contract. A provider is data plus, at most, a few small functions; the gateway core
// knows nothing of any provider beyond this interface. There are two kinds:
// - pass-through (OpenAI-compatible): the client's bytes go upstream untouched and the provider's
//   bytes come back untouched; only the model string may be replaced in place;
// - translating: the provider speaks another API; its adapter turns the OpenAI request into the
//   provider's, and the provider's answers, streams and errors back into OpenAI's.
import type { IncomingHttpHeaders } from 'node:http';
import type { FactsDialect } from '../observe/facts.js';
import type { Redactor } from '../redact.js';
import type { Usage } from '../stream.js';
import type { StreamTranslator, TranslatedError } from '../translate/stream-contract.js';

/** How the provider wants the credential: a header and an optional scheme (`Bearer <key>`). */
export interface AuthStyle {
  /** Lower-case header name: `authorization`, `api-key`, `x-api-key`. */
  readonly header: string;
  /** Put before the key with one space (`Bearer`); none for a bare key. */
  readonly scheme?: string;
}

interface ProviderSpecBase {
  /** The value of the `x-provider` header that selects this provider (lower case). */
  readonly name: string;
  /**
   * Base URL as the provider's own SDK means it (`https://api.openai.com/v1`,
   * `https://api.anthropic.com`); the client's path after `/v1` (or the adapter's path) is
   * appended. Undefined when there is no public default (Azure): the operator must set one.
   */
  readonly defaultBaseUrl: string | undefined;
  /** Environment variable that overrides the base URL. */
  readonly baseUrlEnv: string;
  /** Environment variable holding a server-side key, used when the client sends none. */
  readonly apiKeyEnv: string;
  /** Default: `Authorization: Bearer <key>`. */
  readonly auth?: AuthStyle;
  /** Self-hosted servers that run without a key: a request without one is sent with none. */
  readonly keyOptional?: boolean;
  /**
   * Rewrites the `model` a client sent (e.g. expands a short name). Returning the same string
   * leaves the request body untouched, byte for byte.
   */
  readonly mapModel?: (model: string) => string;
  /** Response header in which the provider returns its own request id. */
  readonly requestIdHeader?: string;
  /** Headers sent with every request, as [name, value] pairs (lower-case names). */
  readonly headers?: readonly (readonly [string, string])[];
  /** Client request headers passed on to the provider as they are (lower-case names). */
  readonly forwardHeaders?: readonly string[];
  /** Provider-specific settings (Azure's API version, Anthropic's), read at start-up into `options`. */
  readonly options?: Readonly<Record<string, ProviderOption>>;
  /** The provider's API reference, for the README and for readers of the file. */
  readonly docs: string;
}

/** A provider-specific setting: an environment variable (or config file entry) with a default. */
export interface ProviderOption {
  /** Environment variable (`AZURE_API_VERSION`); wins over the config file. */
  readonly env: string;
  readonly default: string;
  /** One line for --help and the README. */
  readonly description: string;
  /** Accepted values, when the setting is one of a few. */
  readonly values?: readonly string[];
  /** Read when `env` is unset (AWS_DEFAULT_REGION after AWS_REGION). */
  readonly fallbackEnv?: string;
  /** A credential: redacted wherever it appears, never printed. */
  readonly secret?: boolean;
  /** An http(s) URL when set (checked at start-up as base URLs are); empty means unset. */
  readonly url?: boolean;
}

export interface PassThroughSpec extends ProviderSpecBase {
  readonly kind: 'pass-through';
  /**
   * The upstream path (after the base path) for a client path (after `/v1`, query included) and
   * the request's model; for hosts whose paths name the model (Azure deployments). Default: the
   * client's path unchanged.
   */
  readonly upstreamPath?: (path: string, model: string | undefined, settings: ProviderSettingsView) => string;
  /** The provider's model list in OpenAI's `{object:"list",data:[...]}` shape, when it differs. */
  readonly modelsAnswer?: (body: string) => string;
  /**
   * The provider serves OpenAI's Responses API (`POST /responses`) itself: the page that documents
   * it. `/v1/responses` is then passed through untouched (unless the operator turns it off);
   * without it the gateway translates the request to chat completions.
   */
  readonly responsesApi?: string;
  /**
   * The name under which a translated request (from /v1/messages or /v1/responses) gives the
   * token limit: `max_tokens` (default, what every OpenAI-compatible host takes) or
   * `max_completion_tokens` (OpenAI's: its reasoning models refuse `max_tokens`).
   */
  readonly maxTokensParam?: 'max_tokens' | 'max_completion_tokens';
  /**
   * The provider serves Google's Gemini API itself (`/v1beta/models/{model}:generateContent`) beside
   * its OpenAI-compatible layer: the page that documents it, and the end of the base URL's path
   * that is that layer (`/v1beta/openai`). Gemini API clients are then passed through, bytes
   * untouched, to the base URL without that end (or to `<NAME>_NATIVE_BASE_URL`), unless the
   * operator turns it off (`<NAME>_NATIVE_API=translate`), with the key as that API wants it (`auth`).
   */
  readonly geminiApi?: { readonly docs: string; readonly compatPath: string; readonly auth: AuthStyle };
  /**
   * The host sends Google's thought signatures on tool calls (`extra_content.google.thought_signature`)
   * and needs them back on the next turn (Gemini 3 through Google's OpenAI-compatible endpoint): a
   * translated request carries them (src/inbound/signatures.ts). Other hosts are never sent the field.
   */
  readonly thoughtSignatures?: boolean;
  /**
   * The host takes `stream_options.include_usage` on a chat stream: the gateway adds it where the
   * client did not, to count the answer's tokens, and keeps the usage chunk from the client. Hosts
   * that refuse the field (Mistral answers 422 "extra_forbidden") or always send usage go without.
   */
  readonly streamUsage?: boolean;
  /**
   * The host answers a chat request carrying `stream_options` with a 422 (Mistral's
   * `extra_forbidden`): a translated request (Messages, Responses, Gemini in) goes without it. Such
   * a host sends a stream's usage unasked.
   */
  readonly refusesStreamOptions?: boolean;
}

export interface TranslatingSpec extends ProviderSpecBase {
  readonly kind: 'translating';
  readonly adapter: ProviderAdapter;
  /**
   * The inbound API the provider speaks itself (`anthropic-messages` for Anthropic): a client that
   * speaks it too is passed through, its bytes untouched, to `nativePaths` under the base URL.
   */
  readonly nativeApi?: string;
}

export type ProviderSpec = PassThroughSpec | TranslatingSpec;

/** What a spec function may read of the provider's resolved settings. */
export interface ProviderSettingsView {
  /** Provider-specific options from the config file or environment (e.g. Azure's apiVersion). */
  readonly options: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Translating providers

/** The request as the provider wants it, and how to read the answers to it. */
export interface ChatTranslation {
  /** Path after the base path (`/v1/messages`). */
  readonly path: string;
  readonly body: string;
  /** Extra request headers, [name, value, ...] (lower-case names). */
  readonly headers: readonly string[];
  /** Request fields not sent because the provider has no equivalent: named in the debug log. */
  readonly dropped: readonly string[];
  /**
   * Fields the client sent that this provider (or its API version) refuses, left out rather than
   * sent to fail: named in the `x-gateway-dropped-params` response header and the debug log.
   */
  readonly refused: readonly string[];
  /** A whole answer (a 2xx body) as an OpenAI `chat.completion` JSON text. Throws on a body it cannot read. */
  answer(body: string): { readonly json: string; readonly usage: Usage | undefined };
  /**
   * A translator for one streamed answer. `redact` (default: redactSecrets) is what every failure
   * message goes through before the translator makes an event of it: the request's credentials.
   */
  stream(redact?: Redactor): StreamTranslator;
}

export interface TranslateContext {
  /** The model name for the provider (after mapModel). */
  readonly model: string;
  /** The client's request headers. */
  readonly headers: IncomingHttpHeaders;
  readonly options: Readonly<Record<string, string>>;
}

export interface ProviderAdapter {
  /**
   * How the provider frames a stream; the core's decoder comes from this: SSE, or AWS's binary
   * event stream (each frame given to the translator as its event or exception type and its
   * payload's text).
   */
  readonly framing: 'sse' | 'aws-eventstream';
  /** Where the provider's answers keep their id, model and finish reason (read while OpenTelemetry is on). */
  readonly facts?: FactsDialect;
  /**
   * Headers every request to the provider carries, as [name, value] pairs, decided once at
   * start-up from its options (Anthropic's `anthropic-version`).
   */
  headers?(options: Readonly<Record<string, string>>): readonly (readonly [string, string])[];
  /**
   * The OpenAI chat request (parsed JSON) in the provider's terms. Throws a GatewayError (400) for
   * a request it cannot translate.
   */
  chat(body: Record<string, unknown>, context: TranslateContext): ChatTranslation;
  /**
   * A non-2xx answer in OpenAI's terms; `errorType` is the provider's error-type header when it
   * names one (AWS's `x-amzn-errortype`). The message is the provider's: the core redacts it with
   * the request's credentials.
   */
  error(status: number, body: string, errorType?: string): TranslatedError;
  /**
   * `bytes`: the provider takes no image URLs, so the gateway fetches http(s) image URLs into
   * `data:` URLs before `chat()` when the operator allows it (FETCH_IMAGE_URLS).
   */
  readonly imageUrls?: 'bytes';
  /** The response header that names the error type, read for `error()` (lower case). */
  readonly errorTypeHeader?: string;
  /**
   * For providers that authorise each request themselves (AWS SigV4) and whose host may depend on
   * the request (the region): called before every attempt, instead of the core's key handling,
   * with the request as it will be sent. Throws a GatewayError (401) when there is no credential.
   */
  authorize?(request: OutgoingRequest, context: AuthorizeContext): Promise<Authorized>;
  /** The model list: the path to GET, and its answer in OpenAI's list shape. */
  readonly models?: { readonly path: string; answer(body: string): string };
}

/** A request as it will be sent, for an adapter to sign. */
export interface OutgoingRequest {
  readonly method: string;
  /** Path after the base path, with its query. */
  readonly path: string;
  /** Headers the core sends (lower-case names), without a credential. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface AuthorizeContext {
  /** The client's request headers (credentials it sent, a region). */
  readonly headers: IncomingHttpHeaders;
  readonly options: Readonly<Record<string, string>>;
  /** The server-side key (`apiKeyEnv`), if configured. */
  readonly serverKey: string | undefined;
  /** The base URL the operator configured (`baseUrlEnv`), which wins over any the adapter derives. */
  readonly configuredBaseUrl: URL | undefined;
}

export interface Authorized {
  /** The base URL to send to (origin and base path), e.g. the region's endpoint. */
  readonly baseUrl: URL;
  /** Headers to add, [name, value, ...]: the signature, its date, a session token. */
  readonly headers: readonly string[];
  /** The credential values used, to keep out of errors and logs. */
  readonly secrets: readonly string[];
}

/** The option that lets the operator have the gateway translate `/v1/responses` for a host that serves it. */
export const RESPONSES_API_OPTION = 'responsesApi';

/** The options that let the operator have the gateway translate the Gemini API, and say where the native one lives. */
export const GEMINI_API_OPTION = 'nativeApi';
export const NATIVE_BASE_URL_OPTION = 'nativeBaseUrl';

/**
 * An OpenAI-compatible host needs nothing beyond its spec; this keeps such files one short literal.
 * A host that serves the Responses API gets an option to turn that off (`<NAME>_RESPONSES_API`);
 * one that serves the Gemini API, options to turn that off and to say where it lives.
 */
export function openAICompatible(spec: Omit<PassThroughSpec, 'kind'>): PassThroughSpec {
  const prefix = spec.baseUrlEnv.replace(/_BASE_URL$/, '');
  const options: Record<string, ProviderOption> = { ...spec.options };
  if (spec.responsesApi !== undefined) {
    options[RESPONSES_API_OPTION] = {
      env: `${prefix}_RESPONSES_API`,
      default: 'native',
      values: ['native', 'translate'],
      description: '`native` passes /v1/responses through to the provider; `translate` serves it through chat completions',
    };
  }
  if (spec.geminiApi !== undefined) {
    options[GEMINI_API_OPTION] = {
      env: `${prefix}_NATIVE_API`,
      default: 'native',
      values: ['native', 'translate'],
      description: '`native` passes the Gemini API (/v1beta/models/...) through to the provider; `translate` serves it through chat completions',
    };
    options[NATIVE_BASE_URL_OPTION] = {
      env: `${prefix}_NATIVE_BASE_URL`,
      default: '',
      url: true,
      description: `Where the provider's Gemini API lives; default: the base URL without ${spec.geminiApi.compatPath}`,
    };
  }
  return Object.freeze({ ...spec, options: Object.keys(options).length > 0 ? options : undefined, kind: 'pass-through', name: spec.name.toLowerCase() });
}
