// Reading OpenAI chat answers as real OpenAI-compatible providers send them, for the inbound
// translators: not only what OpenAI documents
// (https://platform.openai.com/docs/api-reference/chat/object, .../chat-streaming) but what hosts
// actually put on the wire:
// - `content` as a string, or as a list of parts (`[{"type":"text","text":"..."}]`);
// - reasoning as `reasoning_content` (DeepSeek, vLLM, Fireworks, Together) or `reasoning`
//   (Groq, OpenRouter, Ollama);
// - tool-call deltas with or without `index` (some hosts send only `id` on a call's first
//   fragment and nothing on the rest);
// - usage in the last chunk, in every chunk, or nowhere; `prompt_tokens_details.cached_tokens`
//   where the host reports cache hits;
// - an error as a chunk (`{"error":{...}}`) after a 200.
import type { OpenAIErrorBody } from '../errors.js';
import type { Redactor } from '../redact.js';
import type { Usage } from '../stream.js';
import { isRecord } from '../translate/json.js';
import type { TranslatedError, UpstreamEvent } from '../translate/stream-contract.js';
import { thoughtSignatureOf } from './signatures.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

/** One streamed tool-call fragment. `index` is absent when the host sends none. */
export interface ToolCallDelta {
  readonly index: number | undefined;
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly arguments: string;
  /** Google's thought signature for the call (`extra_content.google.thought_signature`), on the fragment that carries it. */
  readonly signature?: string;
}

/** What one chunk's first choice (the only one a translated request asks for) carries. */
export interface ChunkView {
  readonly id: string | undefined;
  readonly model: string | undefined;
  readonly content: string;
  readonly reasoning: string;
  readonly toolCalls: readonly ToolCallDelta[];
  readonly finish: FinishReason | undefined;
  readonly usage: ChatUsage | undefined;
  /** The chunk was an error (`{"error":{...}}`), with the status it stands for. */
  readonly error: { readonly status: number; readonly body: OpenAIErrorBody } | undefined;
}

export interface ChatUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens served from the provider's cache (counted within promptTokens); 0 when not reported. */
  readonly cachedTokens: number;
  /** Completion tokens spent reasoning (counted within completionTokens); 0 when not reported. */
  readonly reasoningTokens: number;
  /** The gateway's Usage: the same counts, with only the parts the provider reported. */
  readonly gateway: Usage;
}

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
  /** Google's thought signature for the call, which must come back with it (signatures.ts). */
  readonly signature?: string;
}

/** A whole `chat.completion`'s first choice. */
export interface CompletionView {
  readonly id: string | undefined;
  readonly model: string | undefined;
  readonly content: string;
  readonly reasoning: string;
  readonly toolCalls: readonly ToolCall[];
  readonly finish: FinishReason;
  readonly usage: ChatUsage | undefined;
}

const NO_TOOL_CALLS: readonly never[] = Object.freeze([]);

/** Text from a string or a list of parts (`{type:"text", text}`); other parts are not text. */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return '';
  let text = '';
  for (const part of value) {
    if (typeof part === 'string') text += part;
    else if (isRecord(part) && typeof part.text === 'string' && (part.type === undefined || part.type === 'text' || part.type === 'output_text')) text += part.text;
  }
  return text;
}

function reasoningOf(message: Record<string, unknown>): string {
  const reasoning = message.reasoning_content ?? message.reasoning;
  return typeof reasoning === 'string' ? reasoning : textOf(reasoning);
}

export function finishOf(value: unknown): FinishReason | undefined {
  switch (value) {
    case undefined:
    case null:
    case '':
      return undefined;
    case 'stop':
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return value;
    // The older name, still sent by some hosts.
    case 'function_call':
      return 'tool_calls';
    case 'eos':
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    default:
      return 'other';
  }
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

/**
 * A chat usage object. The cached tokens are where the host puts them: OpenAI's
 * `prompt_tokens_details.cached_tokens`, DeepSeek's `prompt_cache_hit_tokens`, Moonshot's top-level
 * `cached_tokens`; OpenRouter names its cache writes `prompt_tokens_details.cache_write_tokens`.
 * The same names the pass-through observer reads (CHAT_USAGE in stream.ts).
 */
export function usageOf(value: unknown): ChatUsage | undefined {
  if (!isRecord(value)) return undefined;
  if (value.prompt_tokens === undefined && value.completion_tokens === undefined) return undefined;
  const promptDetails = isRecord(value.prompt_tokens_details) ? value.prompt_tokens_details : undefined;
  const completionDetails = isRecord(value.completion_tokens_details) ? value.completion_tokens_details : undefined;
  const promptTokens = count(value.prompt_tokens);
  const completionTokens = count(value.completion_tokens);
  const gateway: Usage = { promptTokens, completionTokens };
  const cached = reported(promptDetails?.cached_tokens) ?? reported(value.prompt_cache_hit_tokens) ?? reported(value.cached_tokens);
  if (cached !== undefined) gateway.cacheReadTokens = cached;
  const cacheWrite = reported(promptDetails?.cache_write_tokens);
  if (cacheWrite !== undefined) gateway.cacheWriteTokens = cacheWrite;
  const reasoning = reported(completionDetails?.reasoning_tokens);
  if (reasoning !== undefined) gateway.reasoningTokens = reasoning;
  return { promptTokens, completionTokens, cachedTokens: cached ?? 0, reasoningTokens: reasoning ?? 0, gateway };
}

/** A count the host reported, or undefined. */
function reported(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
}

/** The gateway's Usage of a chat answer's usage. */
export function gatewayUsage(usage: ChatUsage | undefined): Usage | undefined {
  return usage?.gateway;
}

/** Status for an error a provider put in a 200 stream: from its numeric code, else its type. */
export function statusOfError(error: Record<string, unknown>): number {
  const code = error.code ?? error.status;
  const numeric = typeof code === 'number' ? code : typeof code === 'string' && /^\d{3}$/.test(code) ? Number(code) : undefined;
  if (numeric !== undefined && numeric >= 400 && numeric <= 599) return numeric === 529 ? 503 : numeric;
  const type = typeof error.type === 'string' ? error.type : typeof code === 'string' ? code : '';
  if (/rate_limit/.test(type)) return 429;
  if (/overloaded|unavailable/.test(type)) return 503;
  if (/timeout/.test(type)) return 504;
  if (/invalid_request|bad_request|context_length/.test(type)) return 400;
  if (/authentication/.test(type)) return 401;
  if (/permission/.test(type)) return 403;
  if (/not_found/.test(type)) return 404;
  return 502;
}

function errorView(value: unknown): ChunkView['error'] {
  const error = isRecord(value) ? value : { message: typeof value === 'string' ? value : 'The provider reported an error.' };
  const status = statusOfError(error);
  return {
    status,
    body: {
      message: typeof error.message === 'string' ? error.message : 'The provider reported an error.',
      type: typeof error.type === 'string' ? error.type : 'upstream_error',
      code: typeof error.code === 'string' ? error.code : error.code === undefined || error.code === null ? null : String(error.code),
      param: typeof error.param === 'string' ? error.param : null,
    },
  };
}

/** A function's arguments as text: hosts send a JSON string, some an object. */
function argumentsOf(fn: Record<string, unknown>): string {
  return typeof fn.arguments === 'string' ? fn.arguments : isRecord(fn.arguments) ? JSON.stringify(fn.arguments) : '';
}

/** A malformed chunk or answer: the translation cannot go on. */
export class ChatShapeError extends Error {
  override name = 'ChatShapeError';
}

/** One streamed chunk's data. Throws ChatShapeError for text that is not a JSON object. */
export function readChunk(data: string): ChunkView {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new ChatShapeError('the provider sent a stream event that is not JSON');
  }
  if (!isRecord(value)) throw new ChatShapeError('the provider sent a stream event that is not a JSON object');
  const usage = usageOf(value.usage);
  if (value.error !== undefined && value.error !== null) {
    return { id: undefined, model: undefined, content: '', reasoning: '', toolCalls: NO_TOOL_CALLS, finish: undefined, usage, error: errorView(value.error) };
  }
  const choice = Array.isArray(value.choices) && isRecord(value.choices[0]) ? value.choices[0] : undefined;
  const delta = choice !== undefined && isRecord(choice.delta) ? choice.delta : undefined;
  let toolCalls: readonly ToolCallDelta[] = NO_TOOL_CALLS;
  if (delta !== undefined && Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) {
    const calls: ToolCallDelta[] = [];
    for (const call of delta.tool_calls) {
      if (!isRecord(call)) continue;
      const fn = isRecord(call.function) ? call.function : {};
      calls.push({
        index: typeof call.index === 'number' ? call.index : undefined,
        id: typeof call.id === 'string' && call.id !== '' ? call.id : undefined,
        name: typeof fn.name === 'string' && fn.name !== '' ? fn.name : undefined,
        arguments: argumentsOf(fn),
        signature: thoughtSignatureOf(call),
      });
    }
    toolCalls = calls;
  }
  return {
    id: typeof value.id === 'string' ? value.id : undefined,
    model: typeof value.model === 'string' ? value.model : undefined,
    content: delta === undefined ? '' : textOf(delta.content),
    reasoning: delta === undefined ? '' : reasoningOf(delta),
    toolCalls,
    finish: choice === undefined ? undefined : finishOf(choice.finish_reason),
    usage,
    error: undefined,
  };
}

/** A whole `chat.completion`. Throws ChatShapeError for a body that is not one. */
export function readCompletion(json: string): CompletionView {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ChatShapeError('the answer is not JSON');
  }
  if (!isRecord(value) || !Array.isArray(value.choices)) throw new ChatShapeError('the answer is not a chat completion (no choices)');
  const choice = isRecord(value.choices[0]) ? value.choices[0] : {};
  const message = isRecord(choice.message) ? choice.message : {};
  const toolCalls: ToolCall[] = [];
  if (Array.isArray(message.tool_calls)) {
    for (const [i, call] of message.tool_calls.entries()) {
      if (!isRecord(call)) continue;
      const fn = isRecord(call.function) ? call.function : {};
      const args = argumentsOf(fn);
      toolCalls.push({
        id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${i}`,
        name: typeof fn.name === 'string' ? fn.name : '',
        arguments: args,
        signature: thoughtSignatureOf(call),
      });
    }
  }
  return {
    id: typeof value.id === 'string' ? value.id : undefined,
    model: typeof value.model === 'string' ? value.model : undefined,
    content: textOf(message.content),
    reasoning: reasoningOf(message),
    toolCalls,
    finish: finishOf(choice.finish_reason) ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    usage: usageOf(value.usage),
  };
}

/**
 * The most of one streamed answer (text, reasoning, tool calls) an inbound translator carries, in
 * UTF-8 bytes of its JSON text (escapes counted: a control character is 6 bytes of `\u0001`). The
 * Responses API repeats the whole answer in its closing events, and the Messages API sends some
 * blocks whole at the end, so a translated answer is held as it goes: this bounds what is held
 * and what one closing event carries. Past it the provider is answering without end, and the
 * stream is given up. The default of MAX_TRANSLATED_ANSWER_BYTES (config.ts).
 */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
/** The most tool calls one streamed answer may open. */
export const MAX_TOOL_CALLS = 1024;

/** UTF-8 bytes of `text` as a JSON string's content, without its quotes. */
export function jsonTextBytes(text: string): number {
  return text === '' ? 0 : Buffer.byteLength(JSON.stringify(text)) - 2;
}

/** Reads a stream's chunks (readChunk), within `maxAnswerBytes` for the whole answer. */
export class ChunkReader {
  private bytes = 0;

  constructor(private readonly maxAnswerBytes: number) {}

  /** Throws ChatShapeError for a chunk that is not one, or one past the bound. */
  read(data: string): ChunkView {
    const chunk = readChunk(data);
    let bytes = this.bytes + jsonTextBytes(chunk.content) + jsonTextBytes(chunk.reasoning);
    for (const call of chunk.toolCalls) bytes += jsonTextBytes(call.arguments) + jsonTextBytes(call.name ?? '') + jsonTextBytes(call.id ?? '') + (call.signature?.length ?? 0);
    this.bytes = bytes;
    if (bytes > this.maxAnswerBytes) throw new ChatShapeError(`the answer is larger than ${this.maxAnswerBytes} bytes of JSON, more than the gateway translates in one stream`);
    return chunk;
  }
}

/** Pieces joined at most this many at a time: the held text is a list of flat strings, not a tree. */
const PIECES_PER_PART = 256;

/**
 * Text that grows by many small pieces (a stream's deltas). `+=` once per piece makes a V8 rope
 * of one node per piece (tens of bytes each, for one-character deltas); here the pieces are joined
 * into flat strings as they come, so the text costs about its own length.
 */
export class HeldText {
  private readonly parts: string[] = [];
  private pieces: string[] = [];
  private chars = 0;

  get length(): number {
    return this.chars;
  }

  append(piece: string): void {
    if (piece === '') return;
    this.chars += piece.length;
    this.pieces.push(piece);
    if (this.pieces.length === PIECES_PER_PART) {
      this.parts.push(this.pieces.join(''));
      this.pieces = [];
    }
  }

  /** The whole text, one flat string. */
  toString(): string {
    if (this.pieces.length > 0) {
      this.parts.push(this.pieces.join(''));
      this.pieces = [];
    }
    if (this.parts.length > 1) this.parts.splice(0, this.parts.length, this.parts.join(''));
    return this.parts[0] ?? '';
  }

  /** Empties the text. */
  clear(): void {
    this.parts.length = 0;
    this.pieces = [];
    this.chars = 0;
  }
}

/**
 * Tool-call fragments in order, each given the position of the call it belongs to: by `index`
 * when the host sends one, else by `id` (a new id opens a new call), else the call last added to.
 * A call past MAX_TOOL_CALLS is a ChatShapeError. Each call is known by its first index and its
 * first id only: a host that put a new id (or index) on every fragment would otherwise grow the
 * maps by one entry per fragment.
 */
export class ToolCallTracker {
  private readonly byIndex = new Map<number, number>();
  private readonly byId = new Map<string, number>();
  /** Per position: whether it has its index, and its id, recorded. */
  private readonly indexed: boolean[] = [];
  private readonly named: boolean[] = [];
  private last = -1;
  private count = 0;

  /** The call's position (0, 1, ...) and whether the fragment opens it. */
  place(delta: ToolCallDelta): { readonly position: number; readonly opens: boolean } {
    let position: number | undefined;
    if (delta.index !== undefined) position = this.byIndex.get(delta.index);
    if (position === undefined && delta.id !== undefined) position = this.byId.get(delta.id);
    if (position === undefined && delta.index === undefined && delta.id === undefined && this.last !== -1) position = this.last;
    let opens = false;
    if (position === undefined) {
      if (this.count >= MAX_TOOL_CALLS) throw new ChatShapeError(`the answer opens more than ${MAX_TOOL_CALLS} tool calls`);
      position = this.count++;
      opens = true;
    }
    if (delta.index !== undefined && this.indexed[position] !== true) {
      this.indexed[position] = true;
      this.byIndex.set(delta.index, position);
    }
    if (delta.id !== undefined && this.named[position] !== true) {
      this.named[position] = true;
      this.byId.set(delta.id, position);
    }
    this.last = position;
    return { position, opens };
  }
}

/** The stream's `data: [DONE]` sentinel. */
export const DONE = '[DONE]';

/** One named SSE event, as Anthropic and the Responses API send them: `event:` then `data:`. */
export function namedEvent(type: string, json: string): string {
  return `event: ${type}\ndata: ${json}\n\n`;
}

/**
 * What the inbound stream translators share: a reader of the provider's chunks within the answer's
 * bound, and the one failure a stream reports, its message through the request's redactor before
 * any event is made of it.
 */
export abstract class InboundStreamState {
  protected readonly reader: ChunkReader;
  protected reported: TranslatedError | undefined;

  constructor(
    /** The most of the answer a stream carries (MAX_TRANSLATED_ANSWER_BYTES of JSON). */
    maxAnswerBytes: number,
    /** What every failure message goes through: the request's credentials. */
    private readonly redact: Redactor,
  ) {
    this.reader = new ChunkReader(maxAnswerBytes);
  }

  get failure(): TranslatedError | undefined {
    return this.reported;
  }

  /**
   * One event of the provider's chat stream, read. An error some hosts send as `event: error` with
   * the bare error object for data is read as the `{"error":...}` chunk it stands for.
   */
  protected read(event: UpstreamEvent): ChunkView {
    return this.reader.read(event.event === 'error' ? errorData(event.data) : event.data);
  }

  /** Records the stream's failure, its message redacted; returns the error to build the event from. */
  protected report(status: number, given: OpenAIErrorBody): OpenAIErrorBody {
    const error = { ...given, message: this.redact(given.message) };
    this.reported = { status, error };
    return error;
  }
}

/** The data of an `event: error` as readChunk reads errors: `{"error":...}`, whatever the host put there. */
function errorData(data: string): string {
  try {
    const value: unknown = JSON.parse(data);
    return typeof value === 'object' && value !== null && 'error' in value ? data : JSON.stringify({ error: value });
  } catch {
    return JSON.stringify({ error: data });
  }
}
