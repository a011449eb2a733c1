// Observation of responses as they pass, without re-serialising them: token usage is read from the
// bytes (a search for `"usage"`, then two small regexes on that slice only), never by parsing
// every chunk.
import { errorJson, type OpenAIErrorBody } from './errors.js';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

const USAGE_KEY = Buffer.from('"usage"');
const PROMPT_TOKENS = /"prompt_tokens"\s*:\s*(\d+)/;
const COMPLETION_TOKENS = /"completion_tokens"\s*:\s*(\d+)/;
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
      this.pending = chunk.toString('latin1', index, index + MAX_USAGE_SLICE);
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

  private tryRead(): void {
    if (!USAGE_END.test(this.pending)) {
      if (this.pending.length > MAX_USAGE_SLICE) this.pending = '';
      return;
    }
    const prompt = PROMPT_TOKENS.exec(this.pending);
    const completion = COMPLETION_TOKENS.exec(this.pending);
    if (prompt || completion) {
      this.usage = {
        promptTokens: prompt ? Number(prompt[1]) : 0,
        completionTokens: completion ? Number(completion[1]) : 0,
      };
    }
    this.pending = '';
  }
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
