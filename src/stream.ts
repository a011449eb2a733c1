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
 * final SSE event (or at the end of a JSON body), so only chunks that contain the key, and the
 * boundary between two chunks, are ever looked at.
 */
export class UsageObserver {
  usage: Usage | undefined;
  private pending = '';
  private tail: Buffer | undefined;

  push(chunk: Buffer): void {
    let index = chunk.lastIndexOf(USAGE_KEY);
    if (index === -1 && this.tail) {
      // The key may straddle two chunks.
      const joined = Buffer.concat([this.tail, chunk.subarray(0, USAGE_KEY.length)]);
      const at = joined.indexOf(USAGE_KEY);
      if (at !== -1) {
        this.pending = joined.toString('latin1', at, this.tail.length) + chunk.toString('latin1', 0, MAX_USAGE_SLICE);
        this.tail = chunk.subarray(chunk.length - USAGE_KEY.length + 1);
        this.tryRead();
        return;
      }
    }
    this.tail = chunk.length >= USAGE_KEY.length ? chunk.subarray(chunk.length - USAGE_KEY.length + 1) : undefined;
    if (index !== -1) {
      this.pending = chunk.toString('latin1', index, index + MAX_USAGE_SLICE);
    } else if (this.pending) {
      this.pending += chunk.toString('latin1', 0, MAX_USAGE_SLICE);
    } else {
      return;
    }
    this.tryRead();
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

/** An OpenAI-style error event: the OpenAI SDKs raise it as an APIError instead of hanging. */
export function sseErrorEvent(error: OpenAIErrorBody): string {
  return `data: ${errorJson(error)}\n\n`;
}
