// What the Anthropic and Bedrock stream translators both keep (the failure, the token counts, the
// chunk writer, the tool calls so far) and how they fail: one base class for both.
import type { Redactor } from '../redact.js';
import { sseErrorEvent } from '../stream.js';
import { ChunkWriter } from './chunk-writer.js';
import { translatedError } from './errors.js';
import { BROKEN_STREAM_STATUS, type TranslatedError } from './stream-contract.js';
import { emptyTokenCounts, type TokenCounts } from './usage.js';

/** Content blocks open at once; a real answer has a few. */
export const MAX_OPEN_BLOCKS = 256;

/** What every translator keeps: the failure, the counts, the chunk writer, the tool calls so far. */
export abstract class TranslatorState {
  protected reported: TranslatedError | undefined;
  protected readonly tokens: TokenCounts = emptyTokenCounts();
  protected readonly writer = new ChunkWriter();
  /** Tool calls opened so far: the next one's OpenAI index. */
  protected toolCalls = 0;
  protected stopReason: string | null = null;
  protected finished = false;

  /** `redact`: the request's redaction, which every failure message goes through before its event is made. */
  constructor(private readonly redact: Redactor) {}

  get failure(): TranslatedError | undefined {
    return this.reported;
  }

  /**
   * A provider that opens block after block without closing them would grow a translator's block
   * table without end: past MAX_OPEN_BLOCKS the stream is refused as broken.
   */
  protected tooManyOpen(open: number, provider: string): string | undefined {
    if (open < MAX_OPEN_BLOCKS) return undefined;
    return this.fail(translatedError(BROKEN_STREAM_STATUS, `${provider} opened more than ${MAX_OPEN_BLOCKS} content blocks at once`, null));
  }

  /** Records the failure, its message redacted, and returns its error event; later events give nothing. */
  protected fail(failure: TranslatedError): string {
    const error = { ...failure.error, message: this.redact(failure.error.message) };
    this.reported = { status: failure.status, error };
    return sseErrorEvent(error);
  }
}
