// What an answer says of itself: the provider's response id, the model that answered and why it
// stopped (gen_ai.response.id, .model, .finish_reasons). Read only while OpenTelemetry is on (the
// router engages the reader then); otherwise no attempt makes one and no chunk is looked at. Read
// from the provider's bytes in its own dialect with byte searches, never by parsing a chunk: the
// id and model from the first chunk that holds them, the finish reasons from each chunk's key.
import type { UsageDialect } from '../stream.js';

/** What the answering attempt read of its answer; on the Exchange (`answerFacts`) from its commit point. */
export interface AnswerFacts {
  /** The provider's wire dialect the facts were read in (FactsDialect.name). */
  readonly dialect: string;
  readonly id: string | undefined;
  readonly model: string | undefined;
  /** One per choice or candidate, in the provider's own words (`end_turn`, `STOP`, `completed`). */
  readonly finishReasons: readonly string[];
  /** A whole answer's body, kept for content capture (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT) only. */
  readonly body: Buffer | undefined;
}

/** Where one wire dialect keeps its answer's facts. */
export interface FactsDialect {
  readonly name: string;
  /** The key of the answer's id: its first string value is the answer's (it comes before any other of the name). */
  readonly id: Buffer | undefined;
  readonly model: Buffer | undefined;
  /** The key of a finish reason: every string value counts (one per choice), `null` does not. */
  readonly finish: Buffer;
  /**
   * The answer's one finish value (the Responses API's `status`, which its output items repeat):
   * the first, and in a stream the first after one of these event names (its closing events).
   */
  readonly finishOnce?: { readonly after: readonly Buffer[] };
}

const key = (name: string): Buffer => Buffer.from(`"${name}"`);

export const CHAT_FACTS: FactsDialect = Object.freeze({ name: 'chat', id: key('id'), model: key('model'), finish: key('finish_reason') });
export const RESPONSES_FACTS: FactsDialect = Object.freeze({
  name: 'responses',
  id: key('id'),
  model: key('model'),
  finish: key('status'),
  finishOnce: { after: ['response.completed', 'response.incomplete', 'response.failed'].map(key) },
});
export const ANTHROPIC_FACTS: FactsDialect = Object.freeze({ name: 'anthropic', id: key('id'), model: key('model'), finish: key('stop_reason') });
export const GEMINI_FACTS: FactsDialect = Object.freeze({ name: 'gemini', id: key('responseId'), model: key('modelVersion'), finish: key('finishReason') });
/** Bedrock's Converse API names neither its answer nor the model in the body. */
export const BEDROCK_FACTS: FactsDialect = Object.freeze({ name: 'bedrock', id: undefined, model: undefined, finish: key('stopReason') });

const FACTS_BY_USAGE: Readonly<Record<string, FactsDialect>> = { chat: CHAT_FACTS, responses: RESPONSES_FACTS, anthropic: ANTHROPIC_FACTS, gemini: GEMINI_FACTS };

/** The facts dialect of a pass-through answer, which speaks the client's API (named by its usage dialect). */
export function factsOfUsage(usage: UsageDialect | undefined): FactsDialect {
  return (usage === undefined ? undefined : FACTS_BY_USAGE[usage.name]) ?? CHAT_FACTS;
}

/** The longest id, model or finish value read; past it the value is not one of those. */
const MAX_VALUE_BYTES = 256;
/** The bytes of a chunk's end kept to read a key and value cut by it with the next chunk's start. */
const SEAM_BYTES = 320;
/** Finish reasons kept: one per choice, and a request asks for a few. */
export const MAX_FINISH_REASONS = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const NEWLINE = 0x0a;
/** readString's answers besides a value: the bytes end inside it; not a string (null, a number, too long). */
const CUT = -1;
const NOT_A_STRING = -2;

/**
 * Reads one answer's facts from its bytes, chunk by chunk or whole. A key and value cut by a
 * chunk's end are read across the seam (the last SEAM_BYTES of the chunk before and the first of
 * the next), so what is read does not depend on where the bytes were split.
 */
export class FactsReader implements AnswerFacts {
  id: string | undefined = undefined;
  model: string | undefined = undefined;
  readonly finishReasons: string[] = [];
  body: Buffer | undefined = undefined;
  /** A Responses stream's closing event was seen: its status is the next one. */
  private armed = false;
  private finishDone = false;
  /** The end of the last chunk, when it did not end at an event's end. */
  private seam: Buffer | undefined;

  constructor(
    private readonly facts: FactsDialect,
    /** Keep a whole answer's body up to this many bytes (0: none), for content capture. */
    private readonly keepBodyBytes: number,
  ) {}

  get dialect(): string {
    return this.facts.name;
  }

  /** One chunk of a stream. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const seam = this.seam;
    if (seam !== undefined) {
      const window = Buffer.concat([seam, chunk.subarray(0, SEAM_BYTES)]);
      this.scan(window, true, seam.length);
    }
    this.scan(chunk, true, 0);
    // SSE events end with a newline; a chunk that ends elsewhere may have cut a key or a value.
    this.seam = chunk[chunk.length - 1] === NEWLINE ? undefined : Buffer.from(chunk.subarray(Math.max(0, chunk.length - SEAM_BYTES)));
  }

  /** A whole answer. */
  readBody(body: Buffer): void {
    this.scan(body, false, 0);
    if (body.length <= this.keepBodyBytes) this.body = body;
  }

  /**
   * Reads the facts in `bytes`. `seam` > 0: the bytes are a seam's window, where only a key that
   * starts before `seam` and whose value ends past it counts (the others are read with one chunk).
   */
  private scan(bytes: Buffer, stream: boolean, seam: number): void {
    const facts = this.facts;
    if (this.id === undefined && facts.id !== undefined) this.id = firstString(bytes, facts.id, seam);
    if (this.model === undefined && facts.model !== undefined) this.model = firstString(bytes, facts.model, seam);
    if (this.finishDone) return;
    const once = facts.finishOnce;
    let from = 0;
    if (once !== undefined && stream && !this.armed) {
      from = afterAny(bytes, once.after, seam);
      if (from === -1) return;
      this.armed = true;
    }
    const key = facts.finish;
    for (let at = bytes.indexOf(key, from); at !== -1; at = bytes.indexOf(key, at + key.length)) {
      const end = readString(bytes, at + key.length);
      if (end < 0 || !acrossSeam(at, end, seam)) continue;
      this.finishReasons.push(bytes.toString('utf8', valueStart(bytes, at + key.length), end - 1));
      if (once !== undefined || this.finishReasons.length >= MAX_FINISH_REASONS) {
        this.finishDone = true;
        return;
      }
    }
  }
}

/** The first string value of `key` in bytes (across the seam in a seam's window); undefined when none. */
function firstString(bytes: Buffer, key: Buffer, seam: number): string | undefined {
  for (let at = bytes.indexOf(key); at !== -1; at = bytes.indexOf(key, at + key.length)) {
    const end = readString(bytes, at + key.length);
    if (end === CUT) return undefined;
    if (end === NOT_A_STRING || !acrossSeam(at, end, seam)) continue;
    return bytes.toString('utf8', valueStart(bytes, at + key.length), end - 1);
  }
  return undefined;
}

/** Whether a key at `at` with its value ending at `end` is to be read: in a seam's window, only across the seam. */
function acrossSeam(at: number, end: number, seam: number): boolean {
  return seam === 0 || (at < seam && end > seam);
}

/** Past the end of the first of `names` in bytes (across the seam in a seam's window), or -1. */
function afterAny(bytes: Buffer, names: readonly Buffer[], seam: number): number {
  for (const name of names) {
    const at = bytes.indexOf(name);
    if (at !== -1 && acrossSeam(at, at + name.length, seam)) return at + name.length;
  }
  return -1;
}

/** Where the string after a key's `:` starts (past its opening quote); only after readString said it is one. */
function valueStart(bytes: Buffer, from: number): number {
  return bytes.indexOf(QUOTE, bytes.indexOf(COLON, from)) + 1;
}

/**
 * Past the closing quote of the string value after a key (`"key" : "value"`), within
 * MAX_VALUE_BYTES; CUT when the bytes end first, NOT_A_STRING for any other value.
 */
function readString(bytes: Buffer, from: number): number {
  let i = skipSpace(bytes, from);
  if (i >= bytes.length) return CUT;
  if (bytes[i] !== COLON) return NOT_A_STRING;
  i = skipSpace(bytes, i + 1);
  if (i >= bytes.length) return CUT;
  if (bytes[i] !== QUOTE) return NOT_A_STRING;
  const limit = i + 1 + MAX_VALUE_BYTES;
  for (i++; i < bytes.length && i < limit; i++) {
    const byte = bytes[i];
    // An escape in an id, a model or a finish reason: not one of those.
    if (byte === BACKSLASH) return NOT_A_STRING;
    if (byte === QUOTE) return i + 1;
  }
  return i >= limit ? NOT_A_STRING : CUT;
}

function skipSpace(bytes: Buffer, i: number): number {
  while (i < bytes.length) {
    const byte = bytes[i]!;
    if (byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)) i++;
    else break;
  }
  return i;
}
