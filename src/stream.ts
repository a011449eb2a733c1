// Observation of responses as they pass, without re-serialising them: token usage is read from the
// bytes (a search for the usage key, then the counts inside its object), never by parsing every chunk.
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

/** A count the provider did not report. */
const ABSENT = -1;

/**
 * How one API reports usage: the key of its usage object, the counts read from inside it (by name,
 * at any depth: `cached_tokens` sits in `prompt_tokens_details`, Moonshot's at the top) and how
 * they make a Usage. `counts` holds ABSENT for a count not reported yet.
 */
export interface UsageDialect {
  readonly name: string;
  readonly key: Buffer;
  readonly fields: readonly Buffer[];
  normalise(counts: readonly number[]): Usage | undefined;
}

const names = (...list: string[]): readonly Buffer[] => Object.freeze(list.map((name) => Buffer.from(`"${name}"`)));
const present = (count: number): number | undefined => (count === ABSENT ? undefined : count);
/** The first count reported of several names for one thing. */
const either = (a: number, b: number): number => (a !== ABSENT ? a : b);
const orZero = (count: number): number => (count === ABSENT ? 0 : count);

/** Usage as the counts give it, without the optional parts the provider did not report. */
function usage(prompt: number, completion: number, cacheRead: number, cacheWrite: number, reasoning: number): Usage {
  const result: Usage = { promptTokens: prompt, completionTokens: completion };
  if (cacheRead !== ABSENT) result.cacheReadTokens = cacheRead;
  if (cacheWrite !== ABSENT) result.cacheWriteTokens = cacheWrite;
  if (reasoning !== ABSENT) result.reasoningTokens = reasoning;
  return result;
}

/**
 * OpenAI chat completions and the hosts that copy it. prompt_tokens holds the cached tokens
 * (`prompt_tokens_details.cached_tokens`; DeepSeek's `prompt_cache_hit_tokens`; OpenRouter's
 * `cache_write_tokens`), completion_tokens the reasoning (`completion_tokens_details.reasoning_tokens`).
 */
export const CHAT_USAGE: UsageDialect = Object.freeze({
  name: 'chat',
  key: Buffer.from('"usage"'),
  fields: names('prompt_tokens', 'completion_tokens', 'cached_tokens', 'prompt_cache_hit_tokens', 'cache_write_tokens', 'reasoning_tokens'),
  normalise: ([prompt, completion, cached, cacheHit, cacheWrite, reasoning]: readonly number[]) =>
    prompt === ABSENT && completion === ABSENT ? undefined : usage(orZero(prompt!), orZero(completion!), either(cached!, cacheHit!), cacheWrite!, reasoning!),
});

/** OpenAI's Responses API: input_tokens holds `input_tokens_details.cached_tokens`, output_tokens `output_tokens_details.reasoning_tokens`. */
export const RESPONSES_USAGE: UsageDialect = Object.freeze({
  name: 'responses',
  key: Buffer.from('"usage"'),
  fields: names('input_tokens', 'output_tokens', 'cached_tokens', 'reasoning_tokens'),
  normalise: ([input, output, cached, reasoning]: readonly number[]) =>
    input === ABSENT && output === ABSENT ? undefined : usage(orZero(input!), orZero(output!), cached!, ABSENT, reasoning!),
});

/**
 * Anthropic's Messages API: input_tokens leaves out cache reads and writes, which are added. Its
 * stream reports usage in message_start and again, cumulatively, in message_delta: a later count
 * replaces the earlier one, never adds to it. Thinking is inside output_tokens and not counted apart.
 */
export const ANTHROPIC_USAGE: UsageDialect = Object.freeze({
  name: 'anthropic',
  key: Buffer.from('"usage"'),
  fields: names('input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'),
  normalise: ([input, output, cacheRead, cacheWrite]: readonly number[]) =>
    input === ABSENT && output === ABSENT
      ? undefined
      : usage(orZero(input!) + orZero(cacheRead!) + orZero(cacheWrite!), orZero(output!), cacheRead!, cacheWrite!, ABSENT),
});

/**
 * The Gemini API's usageMetadata: promptTokenCount holds cachedContentTokenCount; the tool-use
 * prompt is input too; candidatesTokenCount leaves out thoughtsTokenCount, which is added.
 */
export const GEMINI_USAGE: UsageDialect = Object.freeze({
  name: 'gemini',
  key: Buffer.from('"usageMetadata"'),
  fields: names('promptTokenCount', 'candidatesTokenCount', 'cachedContentTokenCount', 'thoughtsTokenCount', 'toolUsePromptTokenCount'),
  normalise: ([prompt, candidates, cached, thoughts, toolUse]: readonly number[]) =>
    prompt === ABSENT && candidates === ABSENT
      ? undefined
      : usage(orZero(prompt!) + orZero(toolUse!), orZero(candidates!) + orZero(thoughts!), cached!, ABSENT, thoughts!),
});

// A usage object is a few hundred bytes; stop looking for its end after this much.
const MAX_USAGE_SLICE = 4_096;
/** objectEnd's answers besides an index: the bytes end before the object does; no object there. */
const UNFINISHED = -1;
const NOT_AN_OBJECT = -2;

/**
 * Reads usage from a byte stream fed chunk by chunk, in one API's dialect. Only chunks that contain
 * the dialect's key are decoded; every other chunk costs one byte search. A usage object, or a key,
 * cut by a chunk's end is carried (a few hundred bytes) and read with the next chunk, so the usage
 * read never depends on where the bytes were split. A count reported again replaces the earlier
 * one (Anthropic's and Gemini's streams repeat them cumulatively).
 */
export class UsageObserver {
  usage: Usage | undefined;
  private readonly counts: number[];
  /** The start of a usage object (or of its key) the last chunk ended inside. */
  private carry: Buffer | undefined;

  constructor(readonly dialect: UsageDialect = CHAT_USAGE) {
    this.counts = new Array<number>(dialect.fields.length).fill(ABSENT);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let from = 0;
    if (this.carry !== undefined) {
      from = this.finishCarried(this.carry, chunk);
      if (from === UNFINISHED) return;
    }
    this.scan(chunk, from);
  }

  /** Reads the usage of a whole answer (a buffered JSON body), as a stream of one chunk would. */
  readBody(body: Buffer): void {
    this.scan(body, 0);
    this.carry = undefined;
  }

  /**
   * Reads the usage object (or key) the last chunk ended inside, with as much of `chunk` as it can
   * still need. Where in `chunk` reading goes on, or UNFINISHED when the object is carried on.
   */
  private finishCarried(carried: Buffer, chunk: Buffer): number {
    this.carry = undefined;
    const key = this.dialect.key;
    const joined = Buffer.concat([carried, chunk.subarray(0, MAX_USAGE_SLICE)]);
    if (joined.length < key.length || !keyAt(joined, key, 0)) {
      // Still only the start of the key (the chunk is shorter than the rest of it), or not the key.
      if (joined.length < key.length && key.compare(joined, 0, joined.length, 0, joined.length) === 0) {
        this.carry = joined;
        return UNFINISHED;
      }
      return 0;
    }
    const end = objectEnd(joined, key.length, Math.min(joined.length, MAX_USAGE_SLICE));
    if (end === UNFINISHED) {
      this.carry = joined;
      return UNFINISHED;
    }
    if (end === NOT_AN_OBJECT) return Math.max(0, key.length - carried.length);
    this.read(joined, 0, end);
    return end - carried.length;
  }

  /** Reads every usage object in bytes [from, end of bytes), and carries one cut by their end (or a key's start). */
  private scan(bytes: Buffer, from: number): void {
    const key = this.dialect.key;
    for (let at = bytes.indexOf(key, from); at !== -1; at = bytes.indexOf(key, from)) {
      const end = objectEnd(bytes, at + key.length, Math.min(bytes.length, at + MAX_USAGE_SLICE));
      if (end === UNFINISHED) {
        this.carry = Buffer.from(bytes.subarray(at));
        return;
      }
      if (end === NOT_AN_OBJECT) from = at + key.length;
      else {
        this.read(bytes, at, end);
        from = end;
      }
    }
    const partial = endsWithPartialKey(bytes, key, from);
    if (partial > 0) this.carry = Buffer.from(bytes.subarray(bytes.length - partial));
  }

  /** The counts of the usage object in bytes [from, end). */
  private read(bytes: Buffer, from: number, end: number): void {
    const fields = this.dialect.fields;
    const counts = this.counts;
    for (let i = 0; i < fields.length; i++) {
      const count = tokenCount(bytes, fields[i]!, from, end);
      if (count !== ABSENT) counts[i] = count;
    }
    this.usage = this.dialect.normalise(counts) ?? this.usage;
  }
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * Past the end of the object that follows a key's `:` in bytes [from, end): UNFINISHED when the
 * bytes end first, NOT_AN_OBJECT when the value is not an object (`"usage":null`) or outgrows `end`.
 */
function objectEnd(bytes: Buffer, from: number, end: number): number {
  let i = skipSpace(bytes, from, end);
  if (i < end && bytes[i] !== COLON) return NOT_AN_OBJECT;
  i = skipSpace(bytes, i + 1, end);
  if (i >= end) return end === bytes.length ? UNFINISHED : NOT_AN_OBJECT;
  if (bytes[i] !== OPEN_BRACE) return NOT_AN_OBJECT;
  let depth = 0;
  for (; i < end; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      // Braces inside a string are text.
      for (i++; i < end && bytes[i] !== QUOTE; i++) if (bytes[i] === BACKSLASH) i++;
    } else if (byte === OPEN_BRACE) depth++;
    else if (byte === CLOSE_BRACE && --depth === 0) return i + 1;
  }
  return end === bytes.length ? UNFINISHED : NOT_AN_OBJECT;
}

/**
 * The first `"key" : <digits>` in bytes [from, end); -1 when none. The window is a usage object, a
 * few hundred bytes: a plain loop beats a native search call.
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

/** Whether `key` starts at `at` (which leaves room for the whole key). */
function keyAt(bytes: Buffer, key: Buffer, at: number): boolean {
  for (let i = 0; i < key.length; i++) if (bytes[at + i] !== key[i]) return false;
  return true;
}

/** Skips JSON's whitespace (and what else latin1's `\s` holds). */
function skipSpace(bytes: Buffer, i: number, end: number): number {
  while (i < end) {
    const byte = bytes[i]!;
    if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d) || byte === 0xa0) i++;
    else break;
  }
  return i;
}

/** The length of the longest proper prefix of the key that bytes [start, end of bytes) end with, or 0. */
function endsWithPartialKey(bytes: Buffer, key: Buffer, start: number): number {
  const from = Math.max(start, bytes.length - (key.length - 1));
  for (let at = bytes.indexOf(QUOTE, from); at !== -1; at = bytes.indexOf(QUOTE, at + 1)) {
    const length = bytes.length - at;
    if (key.compare(bytes, at, bytes.length, 0, length) === 0) return length;
  }
  return 0;
}

/** An OpenAI-style error event: the OpenAI SDKs raise it as an APIError instead of hanging. */
export function sseErrorEvent(error: OpenAIErrorBody): string {
  return `data: ${errorJson(error)}\n\n`;
}
