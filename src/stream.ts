// Observation of responses as they pass, without re-serialising them: token usage is read from the
// bytes (a search for `"usage"`, then the two counts after it), never by parsing every chunk.
import { errorJson, type OpenAIErrorBody } from './errors.js';

/**
 * Token usage, normalised once for every provider and inbound API (the providers' own shapes differ:
 * Anthropic's `input_tokens` leaves out cache reads and writes, OpenAI's `prompt_tokens` holds its
 * cached tokens). Every observer (log line, metrics, traces, cost) reads this shape alone.
 */
export interface Usage {
  /** Every input token, cached ones included (OpenAI's prompt_tokens; Anthropic's input + cache read + cache write). */
  promptTokens: number;
  /** Every output token, reasoning included. */
  completionTokens: number;
  /** Of promptTokens, those read from the provider's prompt cache. */
  cacheReadTokens?: number;
  /** Of promptTokens, those written to the provider's prompt cache (priced above input by Anthropic and Bedrock). */
  cacheWriteTokens?: number;
  /** Of completionTokens, those spent reasoning (thinking). */
  reasoningTokens?: number;
}

const USAGE_KEY = Buffer.from('"usage"');
const PROMPT_TOKENS = /"prompt_tokens"\s*:\s*(\d+)/;
const COMPLETION_TOKENS = /"completion_tokens"\s*:\s*(\d+)/;
// The names of Anthropic's Messages API and OpenAI's Responses API, read when the chat names are absent.
const INPUT_TOKENS = /"input_tokens"\s*:\s*(\d+)/;
const OUTPUT_TOKENS = /"output_tokens"\s*:\s*(\d+)/;
const USAGE_END = /}/;
// An SSE usage object is a few hundred bytes; stop looking for its end after this much.
const MAX_USAGE_SLICE = 4_096;

/**
 * Finds the last `usage` object in a byte stream fed chunk by chunk. Providers put usage in the
 * final SSE event (or at the end of a JSON body), so only chunks that contain the key, and a key
 * split across two chunks, are ever decoded; every other chunk costs one byte search.
 */
export class UsageObserver {
  usage: Usage | undefined;
  private pending = '';
  /** How many leading bytes of the key the previous chunk ended with (0: none). */
  private partialKey = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const index = chunk.lastIndexOf(USAGE_KEY);
    if (index !== -1) {
      const end = Math.min(chunk.length, index + MAX_USAGE_SLICE);
      if (this.readUsageAt(chunk, index, end)) {
        this.pending = '';
        this.partialKey = endsWithPartialKey(chunk);
        return;
      }
      this.pending = chunk.toString('latin1', index, end);
    } else if (this.pending) {
      this.pending += chunk.toString('latin1', 0, MAX_USAGE_SLICE);
    } else if (this.partialKey > 0) {
      // The key may go on from the last chunk into this one (or through all of it).
      const matched = continuedKey(chunk, this.partialKey);
      if (matched === USAGE_KEY.length) {
        this.pending = USAGE_KEY_TEXT + chunk.toString('latin1', USAGE_KEY.length - this.partialKey, MAX_USAGE_SLICE);
      } else if (matched > 0) {
        this.partialKey = matched;
        return;
      }
    }
    this.partialKey = endsWithPartialKey(chunk);
    if (this.pending) this.tryRead();
  }

  /**
   * Reads the usage of a whole answer (a buffered JSON body). Providers end the body with the usage
   * object, so the key is looked for from the end, in the last few KB before the whole body.
   */
  readBody(body: Buffer): void {
    const from = Math.max(0, body.length - MAX_USAGE_SLICE);
    let index = lastIndexOfKey(body, USAGE_KEY, from);
    if (index === -1 && from > 0) index = body.lastIndexOf(USAGE_KEY, from - 1);
    // A usage object that does not close within MAX_USAGE_SLICE is not read, as in a stream.
    if (index !== -1) this.readUsageAt(body, index, Math.min(body.length, index + MAX_USAGE_SLICE));
  }

  /**
   * The usual case, a whole usage object in bytes [index, end): its counts are read from the bytes.
   * False when the object's end is not there yet.
   */
  private readUsageAt(bytes: Buffer, index: number, end: number): boolean {
    let close = index + USAGE_KEY.length;
    while (close < end && bytes[close] !== CLOSE_BRACE) close++;
    if (close >= end) return false;
    let prompt = tokenCount(bytes, PROMPT_TOKENS_KEY, index, end);
    let completion = tokenCount(bytes, COMPLETION_TOKENS_KEY, index, end);
    if (prompt === -1 && completion === -1) {
      prompt = tokenCount(bytes, INPUT_TOKENS_KEY, index, end);
      completion = tokenCount(bytes, OUTPUT_TOKENS_KEY, index, end);
    }
    this.setUsage(prompt, completion);
    return true;
  }

  private tryRead(): void {
    if (!USAGE_END.test(this.pending)) {
      if (this.pending.length > MAX_USAGE_SLICE) this.pending = '';
      return;
    }
    let prompt = PROMPT_TOKENS.exec(this.pending);
    let completion = COMPLETION_TOKENS.exec(this.pending);
    if (prompt === null && completion === null) {
      prompt = INPUT_TOKENS.exec(this.pending);
      completion = OUTPUT_TOKENS.exec(this.pending);
    }
    this.setUsage(prompt ? Number(prompt[1]) : -1, completion ? Number(completion[1]) : -1);
    this.pending = '';
  }

  /**
   * Counts of -1 were not found; usage is known when either was. A count missing from a later
   * usage object keeps its earlier value: Anthropic's stream gives input tokens in message_start
   * and only output tokens in message_delta.
   */
  private setUsage(prompt: number, completion: number): void {
    if (prompt === -1 && completion === -1) return;
    const before = this.usage;
    this.usage = {
      promptTokens: prompt !== -1 ? prompt : (before?.promptTokens ?? 0),
      completionTokens: completion !== -1 ? completion : (before?.completionTokens ?? 0),
    };
  }
}

const PROMPT_TOKENS_KEY = Buffer.from('"prompt_tokens"');
const COMPLETION_TOKENS_KEY = Buffer.from('"completion_tokens"');
const INPUT_TOKENS_KEY = Buffer.from('"input_tokens"');
const OUTPUT_TOKENS_KEY = Buffer.from('"output_tokens"');
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * The first `"key" : <digits>` in bytes [from, end), as the regexes above read it from text; -1 when
 * none. The window is a usage object, a few hundred bytes: a plain loop beats a native search call.
 */
export function tokenCount(bytes: Buffer, key: Buffer, from: number, end: number): number {
  for (let at = indexOfKey(bytes, key, from, end); at !== -1; at = indexOfKey(bytes, key, at + 1, end)) {
    let i = skipSpace(bytes, at + key.length, end);
    if (i >= end || bytes[i] !== COLON) continue;
    i = skipSpace(bytes, i + 1, end);
    let count = -1;
    for (; i < end && bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9; i++) count = (count === -1 ? 0 : count * 10) + bytes[i]! - DIGIT_0;
    if (count !== -1) return count;
  }
  return -1;
}

/** Where `key` starts in bytes [from, end), or -1. */
function indexOfKey(bytes: Buffer, key: Buffer, from: number, end: number): number {
  for (let at = from; at <= end - key.length; at++) if (keyAt(bytes, key, at)) return at;
  return -1;
}

/** Where `key` last starts in bytes [from, end of bytes), or -1. */
function lastIndexOfKey(bytes: Buffer, key: Buffer, from: number): number {
  for (let at = bytes.length - key.length; at >= from; at--) if (keyAt(bytes, key, at)) return at;
  return -1;
}

/** Whether `key` starts at `at` (which leaves room for the whole key). */
function keyAt(bytes: Buffer, key: Buffer, at: number): boolean {
  for (let i = 0; i < key.length; i++) if (bytes[at + i] !== key[i]) return false;
  return true;
}

/** Skips what the regexes' `\s` matches in latin1 text. */
function skipSpace(bytes: Buffer, i: number, end: number): number {
  while (i < end) {
    const byte = bytes[i]!;
    if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d) || byte === 0xa0) i++;
    else break;
  }
  return i;
}

const USAGE_KEY_TEXT = USAGE_KEY.toString('latin1');
const QUOTE = 0x22;

/** The length of the longest proper prefix of the key that `chunk` ends with, or 0. */
function endsWithPartialKey(chunk: Buffer): number {
  const from = Math.max(0, chunk.length - (USAGE_KEY.length - 1));
  for (let at = chunk.indexOf(QUOTE, from); at !== -1; at = chunk.indexOf(QUOTE, at + 1)) {
    const length = chunk.length - at;
    if (USAGE_KEY.compare(chunk, at, chunk.length, 0, length) === 0) return length;
  }
  return 0;
}

/**
 * How much of the key is matched once `chunk` follows a chunk that ended with its first `matched`
 * bytes: the whole key's length, more than `matched` if the chunk ends inside the key, else 0.
 */
function continuedKey(chunk: Buffer, matched: number): number {
  const take = Math.min(USAGE_KEY.length - matched, chunk.length);
  return USAGE_KEY.compare(chunk, 0, take, matched, matched + take) === 0 ? matched + take : 0;
}

/** An OpenAI-style error event: the OpenAI SDKs raise it as an APIError instead of hanging. */
export function sseErrorEvent(error: OpenAIErrorBody): string {
  return `data: ${errorJson(error)}\n\n`;
}
