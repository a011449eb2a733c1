// Where a pass-through stream may be committed to the client: at its first event worth sending, not
// at its first byte. Providers open a stream with events that carry nothing yet (OpenAI's role-only
// chunk, Anthropic's message_start and ping, the Responses API's response.created) and may follow
// them with an error; held until the first content event, those bytes can still be dropped and the
// request sent elsewhere. This module only classifies: fed the provider's bytes as they come, it
// says hold, commit or failed, the same however the bytes are split; the attempt holds the bytes.
//
// What counts as preamble is a short list per API; anything else, an event it does not recognise
// included, commits, so that a stream never waits on a shape this module does not know.
import { typeForStatus } from './errors.js';
import { createEventDecoder, type EventDecoder } from './framing.js';
import { statusOfError } from './inbound/chat.js';
import type { TranslatedError, UpstreamEvent } from './translate/stream-contract.js';

/** The stream shapes a pass-through answer comes in, by the API the client speaks. */
export type StreamApi = 'chat' | 'anthropic-messages' | 'openai-responses' | 'gemini';

/** Past this many bytes held, the stream commits anyway: memory stays bounded whatever comes first. */
export const MAX_HELD_BYTES = 64 * 1024;
/** Past this many preamble events (Anthropic's pings, say), the stream commits anyway. */
export const MAX_HELD_EVENTS = 64;

/** What one event is for the commit point. */
export type EventVerdict =
  | { readonly kind: 'preamble' }
  | { readonly kind: 'content' }
  | { readonly kind: 'error'; readonly failure: TranslatedError };

/** Where a stream stands: every event so far is preamble, or the first other one decided. */
export type CommitState = 'hold' | 'commit' | 'failed';

const PREAMBLE: EventVerdict = Object.freeze({ kind: 'preamble' });
const CONTENT: EventVerdict = Object.freeze({ kind: 'content' });

/** The status of a failure whose body names none the retry policy acts on: the provider failed us. */
const UNKNOWN_FAILURE_STATUS = 502;
const NO_MESSAGE = 'The provider reported an error in its stream.';
const ENDED_EARLY: TranslatedError = Object.freeze({
  status: UNKNOWN_FAILURE_STATUS,
  error: Object.freeze({
    message: "The provider's stream ended before any content.",
    type: typeForStatus(UNKNOWN_FAILURE_STATUS),
    code: 'stream_interrupted',
    param: null,
  }),
});

/** The events of Anthropic's Messages API that open a stream and carry nothing yet. */
const ANTHROPIC_PREAMBLE: ReadonlySet<string> = new Set(['message_start', 'ping']);
/** content_block_start of these types opens an empty block (text, thinking and input follow as deltas). */
const ANTHROPIC_EMPTY_BLOCKS: ReadonlySet<string> = new Set(['text', 'thinking', 'tool_use', 'server_tool_use']);
/** The events of the Responses API that open a response, an output item or a part before any of its content. */
const RESPONSES_PREAMBLE: ReadonlySet<string> = new Set([
  'response.created',
  'response.in_progress',
  'response.queued',
  'response.output_item.added',
  'response.content_part.added',
  'response.reasoning_summary_part.added',
]);
/** A chat delta's field that says who speaks and nothing else. */
const ROLE = 'role';

/** The stream shape of a pass-through answer, from the name of the API the client speaks (none: chat completions). */
export function streamApiOf(apiName: string | undefined): StreamApi {
  switch (apiName) {
    case 'anthropic-messages':
    case 'openai-responses':
    case 'gemini':
      return apiName;
    default:
      return 'chat';
  }
}

/** One SSE event of `api`'s stream, for the commit point. */
export function classifyEvent(api: StreamApi, event: UpstreamEvent): EventVerdict {
  switch (api) {
    case 'chat':
      return classifyChat(event);
    case 'anthropic-messages':
      return classifyAnthropic(event);
    case 'openai-responses':
      return classifyResponses(event);
    case 'gemini':
      return classifyGemini(event);
  }
}

function classifyChat(event: UpstreamEvent): EventVerdict {
  if (event.event === 'error') return errorVerdict(errorField(parsed(event.data)));
  const data = event.data;
  if (data === '[DONE]') return CONTENT;
  const chunk = parsed(data);
  if (!isRecord(chunk)) return CONTENT;
  if (chunk.error !== undefined && chunk.error !== null) return errorVerdict(errorField(chunk));
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return CONTENT;
  // Azure opens with `"choices":[]` and its prompt filter results; OpenAI ends with `"choices":[]` and usage.
  if (choices.length === 0) return isEmpty(chunk.usage) ? PREAMBLE : CONTENT;
  for (const choice of choices) {
    if (!isRecord(choice) || !isEmpty(choice.finish_reason) || !isEmpty(choice.text)) return CONTENT;
    const delta = choice.delta;
    if (delta === undefined || delta === null) continue;
    if (!isRecord(delta)) return CONTENT;
    // Any field but the role with something in it (content, tool_calls, reasoning, refusal, one this
    // module does not know) is content.
    for (const key in delta) if (key !== ROLE && !isEmpty(delta[key])) return CONTENT;
  }
  return PREAMBLE;
}

function classifyAnthropic(event: UpstreamEvent): EventVerdict {
  let name = event.event;
  let data: unknown;
  if (name === 'message') {
    data = parsed(event.data);
    name = isRecord(data) && typeof data.type === 'string' ? data.type : name;
  }
  if (ANTHROPIC_PREAMBLE.has(name)) return PREAMBLE;
  if (name === 'content_block_start') {
    data ??= parsed(event.data);
    const block = isRecord(data) ? data.content_block : undefined;
    if (!isRecord(block) || typeof block.type !== 'string' || !ANTHROPIC_EMPTY_BLOCKS.has(block.type)) return CONTENT;
    return isEmpty(block.text) && isEmpty(block.thinking) ? PREAMBLE : CONTENT;
  }
  if (name === 'error') return errorVerdict(errorField(data ?? parsed(event.data)));
  return CONTENT;
}

function classifyResponses(event: UpstreamEvent): EventVerdict {
  let name = event.event;
  let data: unknown;
  if (name === 'message') {
    data = parsed(event.data);
    name = isRecord(data) && typeof data.type === 'string' ? data.type : name;
    // A host's error as chat streams send it (`data: {"error":{...}}`, no event name or type).
    if (name === 'message' && isRecord(data) && isRecord(data.error)) return errorVerdict(data.error);
  }
  if (RESPONSES_PREAMBLE.has(name)) return PREAMBLE;
  if (name === 'error') {
    data ??= parsed(event.data);
    // `{"type":"error","code","message"}`, or the error nested as `error`.
    return errorVerdict(isRecord(data) && isRecord(data.error) ? data.error : withoutType(data));
  }
  if (name === 'response.failed') {
    data ??= parsed(event.data);
    const response = isRecord(data) ? data.response : undefined;
    return errorVerdict(isRecord(response) && isRecord(response.error) ? response.error : undefined);
  }
  return CONTENT;
}

function classifyGemini(event: UpstreamEvent): EventVerdict {
  const data = parsed(event.data);
  if (event.event === 'error') return errorVerdict(errorField(data));
  // Every other event of Gemini's stream is a whole GenerateContentResponse: content.
  return isRecord(data) && data.error !== undefined && data.error !== null ? errorVerdict(errorField(data)) : CONTENT;
}

/**
 * The commit point of one pass-through SSE stream. `feed` each chunk as it comes: 'hold' while
 * every event is preamble, then 'commit' at the first content event or 'failed' at an error (the
 * failure in `failure`); the state never changes after that. `end` when the provider's stream ends
 * before either: a stream that ends with nothing but preamble failed too.
 *
 * A body that is not SSE at all is judged by its first byte: `[` (Gemini's JSON-array stream)
 * commits at once; `{` is a JSON object sent as a stream (a bare `{"error":...}`), held to its end.
 */
export class StreamCommit {
  state: CommitState = 'hold';
  failure: TranslatedError | undefined = undefined;
  private readonly events: EventDecoder;
  private heldBytes = 0;
  private heldEvents = 0;
  /** The first byte that is not white space: SSE, or which JSON. */
  private start = Start.Unknown;
  /** The bytes of a body that began as a JSON object, read whole at its end. */
  private json: Buffer[] | undefined = undefined;

  constructor(private readonly api: StreamApi) {
    this.events = createEventDecoder(
      'sse',
      // An event longer than the bound commits: the byte bound would have, at this event's end at the latest.
      { onEvent: (event) => this.onEvent(event), onBroken: () => this.commit() },
      MAX_HELD_BYTES,
    );
  }

  feed(chunk: Buffer): CommitState {
    if (this.state !== 'hold') return this.state;
    if (this.start === Start.Unknown) this.start = startOf(chunk);
    if (this.start === Start.Array) return this.commit();
    this.heldBytes += chunk.length;
    if (this.start === Start.Object) (this.json ??= []).push(chunk);
    else if (this.start === Start.Sse) this.events.feed(chunk);
    // Bounded on bytes: where exactly a long preamble commits depends on the reads, as it may.
    if (this.state === 'hold' && this.heldBytes > MAX_HELD_BYTES) this.commit();
    return this.state;
  }

  end(): CommitState {
    if (this.state !== 'hold') return this.state;
    if (this.start === Start.Object) {
      const body = parsed(Buffer.concat(this.json!).toString('utf8'));
      if (isRecord(body) && body.error !== undefined && body.error !== null) this.fail(failureOf(errorField(body)));
      else this.commit();
      return this.state;
    }
    this.events.end();
    if (this.state === 'hold') this.fail(ENDED_EARLY);
    return this.state;
  }

  private onEvent(event: UpstreamEvent): void {
    // The first event that is not preamble decides; the rest of its chunk is not looked at.
    if (this.state !== 'hold') return;
    const verdict = classifyEvent(this.api, event);
    if (verdict.kind === 'error') this.fail(verdict.failure);
    else if (verdict.kind === 'content' || ++this.heldEvents > MAX_HELD_EVENTS) this.commit();
  }

  private fail(failure: TranslatedError): void {
    this.failure = failure;
    this.state = 'failed';
    this.json = undefined;
  }

  private commit(): CommitState {
    this.state = 'commit';
    this.json = undefined;
    return this.state;
  }
}

const enum Start {
  Unknown,
  Sse,
  Array,
  Object,
}

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;

/** What a body is by its first byte that is not white space; Unknown while a chunk holds only white space. */
function startOf(chunk: Buffer): Start {
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!;
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === OPEN_BRACKET ? Start.Array : byte === OPEN_BRACE ? Start.Object : Start.Sse;
  }
  return Start.Unknown;
}

function errorVerdict(error: Record<string, unknown> | undefined): EventVerdict {
  return { kind: 'error', failure: failureOf(error) };
}

/**
 * A provider's failure in OpenAI's terms. The status is the body's when it is one the retry policy
 * acts on (429, 5xx; an overload is 503), else 502: a provider that answered 200 and then failed
 * has failed, whatever type it gives the failure.
 */
function failureOf(error: Record<string, unknown> | undefined): TranslatedError {
  let status = error === undefined ? UNKNOWN_FAILURE_STATUS : statusOfError(error);
  // OpenAI names a rate limit in `code` beside a `type` of its own ("requests", "tokens").
  if ((status === UNKNOWN_FAILURE_STATUS || !actedOn(status)) && typeof error?.code === 'string') status = statusOfError({ code: error.code });
  if (!actedOn(status)) status = UNKNOWN_FAILURE_STATUS;
  const message = error !== undefined && typeof error.message === 'string' && error.message !== '' ? error.message : NO_MESSAGE;
  const code = error === undefined ? null : (firstString(error.code, error.type, error.status) ?? null);
  return { status, error: { message, type: typeForStatus(status), code, param: null } };
}

/** A status the retry policy moves on from. */
function actedOn(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The `error` object of an event (`{"error":{...}}`), or the event itself when it is the error. */
function errorField(data: unknown): Record<string, unknown> | undefined {
  if (!isRecord(data)) return typeof data === 'string' ? { message: data } : undefined;
  const error = data.error;
  if (isRecord(error)) return error;
  if (typeof error === 'string') return { message: error };
  return data;
}

/** A Responses error event without its `"type":"error"`, which names the event, not the failure. */
function withoutType(data: unknown): Record<string, unknown> | undefined {
  if (!isRecord(data)) return undefined;
  const { type: _event, ...error } = data;
  return error;
}

function firstString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string' && value !== '') return value;
  return undefined;
}

/** The parsed JSON of an event's data, or undefined when it is not JSON. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Nothing for the client: absent, null, an empty string, an empty list or object. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') {
    for (const _key in value) return false;
    return true;
  }
  return false;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The byte patterns of a provider's failure inside a stream already committed: chat's (and a bare
 * host's) `data: {"error"`, Anthropic's and the Responses API's `event: error`, the Responses API's
 * `response.failed`, Gemini's bare `{"error"` object at a line's start. Looked for in raw chunks,
 * without parsing: what a route's breaker needs to count a 200 stream that failed. A pattern split
 * across two network reads is missed; providers write each event whole.
 */
const IN_BAND_ERRORS = ['data: {"error"', 'data:{"error"', 'event: error', 'event:error', 'response.failed', '\n{"error"'].map((text) => Buffer.from(text));

/** Whether a committed stream's chunk carries the provider's error event. */
export function carriesError(chunk: Buffer): boolean {
  if (chunk.length > 8 && chunk[0] === 0x7b && chunk.subarray(0, 8).toString('latin1') === '{"error"') return true;
  for (const pattern of IN_BAND_ERRORS) if (chunk.indexOf(pattern) !== -1) return true;
  return false;
}
