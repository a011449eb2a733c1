// The inbound contract: an API a client speaks besides OpenAI chat completions (Anthropic's
// Messages API on /v1/messages, OpenAI's Responses API on /v1/responses). Inside the gateway a
// request is an OpenAI chat completion; an inbound API turns the client's request into one, and
// the chat answer (a JSON body, or a stream of chunks) back into the client's API. A provider that
// speaks the client's API natively gets the client's bytes instead (see gateway.ts), so nothing is
// translated twice to arrive where it started.
import type { OpenAIErrorBody } from '../errors.js';
import type { ItemMemory } from './openai-responses/memory.js';
import type { Redactor } from '../redact.js';
import type { Usage, UsageDialect } from '../stream.js';
import type { StreamTranslator } from '../translate/stream-contract.js';

export interface InboundContext {
  /** The model name as the client sent it (echoed in answers). */
  readonly model: string;
  /**
   * Who is asking: an opaque name derived from the client's credential ('' with none), for what an
   * API keeps per client between requests (the Responses API's output items). Made when asked.
   */
  client(): string;
  /** The Responses API's output items, kept per client for its `item_reference`s (one per gateway). */
  readonly outputItems: ItemMemory;
  /** The client's body, in bytes. */
  readonly bodyBytes: number;
  /** The body limit (MAX_BODY_BYTES), which what a translation adds from memory counts toward too. */
  readonly maxBodyBytes: number;
  /**
   * Whether reasoning the client's API implies rather than asks for in OpenAI's terms (Anthropic's
   * `thinking`, which Claude Code sends by default) becomes `reasoning_effort` (`effort`), or is
   * left out (`drop`): many models that do not reason refuse `reasoning_effort` with a 400.
   */
  readonly thinking: 'drop' | 'effort';
  /** The most of a streamed answer a translator holds, in bytes of JSON (MAX_TRANSLATED_ANSWER_BYTES); MAX_ANSWER_BYTES when absent. */
  readonly maxAnswerBytes?: number;
  /**
   * What becomes of the Responses API's built-in tools (web_search, file_search, ...), which no chat
   * provider runs: left out and named (`drop`, the default), or a 400 (`refuse`). RESPONSES_HOSTED_TOOLS.
   */
  readonly hostedTools?: 'drop' | 'refuse';
  /**
   * The provider takes Google's thought signatures back on chat tool calls (`extra_content`, see
   * signatures.ts): Google's OpenAI-compatible endpoint. Other hosts are not sent the field, since
   * strict ones refuse a message field they do not know with a 400: Fireworks and Mistral answer
   * "Extra inputs are not permitted, field: 'messages[N].tool_calls[M].extra_content'"
   * (NousResearch/hermes-agent PR 18663), OpenAI "Additional properties are not allowed" (openai/openai-node#1161).
   */
  readonly thoughtSignatures?: boolean;
}

/** One client request in chat-completion terms, and how to read the answers to it. */
export interface InboundTranslation {
  /**
   * The OpenAI chat request. A streamed request sets `stream: true` and
   * `stream_options: {include_usage: true}`; `model` is the client's (the gateway replaces it).
   */
  readonly chat: Record<string, unknown>;
  /** Request fields with no chat-completion equivalent, left out: named in the debug log. */
  readonly dropped: readonly string[];
  /**
   * What the client asked for and will not get (built-in tools left out), a subset of `dropped`:
   * named in the `x-gateway-dropped-params` response header too.
   */
  readonly refused: readonly string[];
  /** The content type of a streamed answer, when it is not SSE (Gemini's JSON-array stream). */
  readonly streamContentType?: string;
  /** A whole `chat.completion` JSON text as the client's API's answer. Throws on a body it cannot read. */
  answer(chatJson: string): { readonly json: string; readonly usage: Usage | undefined };
  /**
   * A translator for one streamed answer: fed the chat stream's events (`data` a
   * `chat.completion.chunk` JSON text, `[DONE]`, or `{"error":{...}}`), it returns the client's
   * SSE text. It sends nothing until the first content (text, reasoning, a tool call or the
   * finish): until then a failure is still the attempt's to retry. An `{"error":...}` chunk sets
   * `failure` (its status taken from the error's type or code) and returns the client's error
   * event; end() without a finish sets `failure` (502, `stream_interrupted`) and returns the error
   * event. Every failure message goes through `redact` (default: redactSecrets), the request's
   * credentials, before its event is made.
   */
  stream(redact?: Redactor): StreamTranslator;
}

export interface InboundApi {
  /** For logs and the README: `anthropic-messages`, `openai-responses`. */
  readonly name: string;
  /**
   * The client's request (parsed JSON) as an OpenAI chat request. Throws a GatewayError (400) that
   * names the offending field in the client's API's terms.
   */
  toChat(body: Record<string, unknown>, context: InboundContext): InboundTranslation;
  /** The status a failure is answered with on this API (Anthropic answers an overload with 529). */
  errorStatus(status: number, error: OpenAIErrorBody): number;
  /** A failure as this API's JSON error body. */
  errorBody(status: number, error: OpenAIErrorBody): string;
  /** A failure after a stream began, as this API's SSE error event (one whole event). */
  errorEvent(status: number, error: OpenAIErrorBody): string;
}

/** An inbound API where the server mounts it. */
export interface InboundRoute extends InboundApi {
  /** The route that is translated (`/v1/messages`); the API's other routes only pass through. */
  readonly path: string;
  /** Whether a path is translated, for an API whose routes carry a name (Gemini's model); else `path` alone. */
  translates?(path: string): boolean;
  /** Why `method path` cannot be served by a provider that does not speak this API itself. */
  notTranslated(method: string, path: string, provider: string): string;
  /** How this API's clients send a key, for the message of a request that sent none. */
  readonly keyHint: string;
  /**
   * The response header this API's SDKs read the request id from, when it is not x-request-id
   * (Anthropic's `request-id`): the gateway's id there, or a provider's own of the same name.
   */
  readonly requestIdHeader?: string;
  /** How this API's answers report usage, for one passed through from a provider that speaks it. */
  readonly usageDialect: UsageDialect;
}
