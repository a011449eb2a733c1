// The stream contract between the core and a translation: the event a translator is fed, the
// failure it reports, and the translator itself. Provider adapters (src/providers/) and inbound
// APIs (src/inbound/) implement it; the core's attempt and framing drive it.
import type { OpenAIErrorBody } from '../errors.js';
import type { Usage } from '../stream.js';

/** One parsed upstream event (an SSE event: its `event:` name, or "message", and its data). */
export interface UpstreamEvent {
  readonly event: string;
  readonly data: string;
  /**
   * An AWS event-stream frame that is no event (its `:message-type`): an `exception` (`event` is
   * its `:exception-type`, `data` its payload) or an `error` (`event` is its `:error-code`, `data`
   * its `:error-message`). Either ends the stream as the provider's failure.
   */
  readonly kind?: 'exception' | 'error';
}

/** A native failure in OpenAI's terms, with the status the client (and the retry policy) sees. */
export interface TranslatedError {
  /** The status to answer with; a retryable one (429, 5xx) is retried. 529 becomes 503. */
  readonly status: number;
  readonly error: OpenAIErrorBody;
}

/** A stream that breaks its own protocol, ends early or cannot be read is the provider failing: 502. */
export const BROKEN_STREAM_STATUS = 502;

/**
 * Fed one parsed upstream event at a time, in order; returns the client's SSE text for it (''
 * when the event gives nothing). It never touches a socket or a timer.
 */
export interface StreamTranslator {
  push(event: UpstreamEvent): string;
  /** The upstream stream ended: what is left to send (e.g. an error event if it ended early). */
  end(): string;
  /**
   * Set by push() when the provider reported an error (or by end() when the stream stopped short
   * of its end): before anything was sent to the client
   * it is retried or answered as a status; after, push() already returned the error event and
   * the stream is closed.
   */
  readonly failure: TranslatedError | undefined;
  /** Token usage as last reported (cumulative counts are kept, never summed). */
  readonly usage: Usage | undefined;
}
