// One upstream attempt, as an undici dispatch handler. A stream is written to the client as it
// arrives, from its first byte, or from its first content event when the attempt is told to hold its
// preamble (CommitPoint); from there on it can no longer be retried. Any other answer is buffered,
// so that a failure can still be retried and the deadline covers the whole answer.
//
// Two ways of answering share everything else (timers, backpressure, cancel, first byte, usage): a
// pass-through answer is written byte for byte; a translated one (an AnswerTranslation) goes through
// the provider's translator first, event by event for a stream, and its headers wait for the first
// translated bytes, so that a failure reported before them can still be retried.
//
// The attempt never writes the client's response itself: it writes through the request's sink
// (sink.ts), which it claims at its commit point. A claim refused (another attempt of the request
// committed first: a hedge) ends this attempt unseen, as 'lost'.
//
// The handler implements undici 7's core callbacks (onConnect, onHeaders, onData, onComplete,
// onError), which its clients call directly. Given the controller callbacks instead, undici 7 wraps
// the handler and parses every response header into an object first (3-4 µs a request, measured
// with bench/); here the few headers the gateway wants are picked from the raw list.
import { performance } from 'node:perf_hooks';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Dispatcher } from 'undici';
import type { AttemptLimits, Exchange } from './exchange.js';
import { createEventDecoder, type EventDecoder } from './framing.js';
import type { ProviderAdapter, ProviderSpec } from './providers/types.js';
import type { StreamTranslator, TranslatedError, UpstreamEvent } from './translate/stream-contract.js';
import { AddedUsageFilter } from './added-usage.js';
import { CHAT_USAGE, UsageObserver, type Usage } from './stream.js';
import { FactsReader, factsOfUsage, type FactsDialect } from './observe/facts.js';
import { safeEcho } from './redact.js';
import type { ClientSink } from './sink.js';
import { StreamCommit, carriesError, streamApiOf } from './stream-commit.js';
import { formatMs, formatUsd } from './requestlog.js';

/** The time the gateway itself spent on a request, in milliseconds, on every answer. */
export const OVERHEAD_HEADER = 'x-gateway-overhead-ms';
/** A whole answer's cost in USD from the price table, or `unknown` for a model without a price. */
export const COST_HEADER = 'x-gateway-cost-usd';

/** How an attempt reads an answer that is not passed through as it is. */
export interface AnswerTranslation {
  /** A whole 2xx answer in OpenAI's shape. Throws on a body it cannot read. */
  answer(body: string): { readonly json: string; readonly usage: Usage | undefined };
  /** A translator for one streamed answer; absent where the answer is never a stream. */
  stream?(): StreamTranslator;
  /** How the provider frames its stream. */
  readonly framing: ProviderAdapter['framing'];
  /** Where the provider's answer keeps its id, model and finish reason; absent for an answer that is no generation (a model list). */
  readonly facts?: FactsDialect;
  /** Headers for the client with a successful answer, [name, value, ...]. */
  readonly clientHeaders: readonly string[];
  /** The content type of a translated stream, when it is not SSE (Gemini's JSON-array stream). */
  readonly streamContentType?: string;
}

/**
 * Where a pass-through stream is committed to the client: at its first byte, or at its first
 * content event (stream-commit.ts), its preamble held until then so that an error right after the
 * provider's first event can still go to another attempt. The first costs nothing and suits a
 * request with nothing left to try.
 */
export type CommitPoint = 'first-byte' | 'first-content';

/** What an attempt's record names: its target, provider and model, and whether it is a hedge. */
export interface AttemptName {
  readonly target: string;
  readonly provider: string;
  readonly model: string | undefined;
  readonly hedge: boolean;
}

/** The provider's headers that matter to the gateway, picked once. */
export interface PickedHeaders {
  /** For the client: [name, value, ...], starting with our x-request-id. */
  readonly forClient: string[];
  contentType: string | undefined;
  /** Set when the provider compressed its answer although the gateway asked for none. */
  contentEncoding: string | undefined;
  retryAfter: string | undefined;
  retryAfterMs: string | undefined;
  /** The provider's error-type header (AWS's `x-amzn-errortype`), when its adapter names one. */
  errorType: string | undefined;
  /**
   * A 429's rate-limit headers that the client is not shown (it has a gateway key, and is told its
   * key's limits instead): [name, value, ...], for how long the provider key rests.
   */
  providerLimits: string[] | undefined;
}

/** How an attempt ended. All but 'answered' and 'cancelled' leave the answer to the caller. */
export type AttemptOutcome =
  /** The answer was written; `broken` when it was cut short after its start (ended with the API's error event). */
  | { kind: 'answered'; broken?: boolean }
  | { kind: 'cancelled' }
  /** Another attempt of the request committed first (a hedge): this one ended unseen. */
  | { kind: 'lost' }
  | { kind: 'timeout' }
  | { kind: 'network'; error: Error }
  /** undici refused the request itself (e.g. a header value it cannot send): the client's to fix. */
  | { kind: 'unsendable'; error: Error }
  | { kind: 'status'; status: number; headers: PickedHeaders; body: string }
  /** A translated stream reported an error before anything was sent to the client. */
  | { kind: 'failed'; failure: TranslatedError; headers: PickedHeaders }
  /**
   * A 2xx answer the translation could not read; `excerpt` is the start of its body, for the
   * operator's log only (unredacted here: the core knows the request's credentials).
   */
  | { kind: 'unreadable'; message: string; excerpt?: string };

/** Sentinels passed to undici's abort, so onError knows why it was called. */
class TimeoutSignal extends Error {
  override name = 'TimeoutSignal';
}
class ClientGoneSignal extends Error {
  override name = 'ClientGoneSignal';
}
class ClientStalledSignal extends Error {
  override name = 'ClientStalledSignal';
}
class TranslatedEndSignal extends Error {
  override name = 'TranslatedEndSignal';
}
const TIMEOUT = new TimeoutSignal('deadline reached');
const CLIENT_GONE = new ClientGoneSignal('client went away');
const CLIENT_STALLED = new ClientStalledSignal('client stopped reading');
/** Another attempt of the request committed first: this one is not wanted. */
const LOST = new ClientGoneSignal('another attempt answered');
/** A translated stream is over (an error event, or one past its bound): the rest is not wanted. */
const TRANSLATED_END = new TranslatedEndSignal('translated stream ended');
const ANSWERED: AttemptOutcome = Object.freeze({ kind: 'answered' });
const BROKEN: AttemptOutcome = Object.freeze({ kind: 'answered', broken: true });

const SSE_CONTENT_TYPE = 'text/event-stream';
const JSON_CONTENT_TYPE = 'application/json';
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** The most a provider may send of one stream event before the gateway gives up on the stream. */
const MAX_EVENT_BYTES = 1024 * 1024;
/** How much of an unreadable answer the operator's log quotes. */
const UNREADABLE_EXCERPT_BYTES = 200;
/** Buffered bodies up to this size are written together with their headers; see onComplete. */
const ONE_WRITE_BYTES = 16 * 1024;
const NO_CHUNKS: Buffer[] = [];
const RATELIMIT_PREFIX = 'x-ratelimit-';
/** Anthropic's rate-limit headers, which its own clients (Claude Code) read. */
const ANTHROPIC_RATELIMIT_PREFIX = 'anthropic-ratelimit-';

/**
 * The upstream request as the attempt steers it: undici's abort (from onConnect) and resume (from
 * onHeaders); a pause is answered to undici by onData's return value.
 */
class UpstreamControl {
  paused = false;
  resumeUpstream: (() => void) | undefined = undefined;
  private aborted = false;
  constructor(private readonly abortUpstream: (reason: Error) => void) {}

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeUpstream?.();
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortUpstream(reason);
  }
}

const enum Mode {
  /** A whole answer, held until it is complete (so a failure can still be retried). */
  Buffer,
  Error,
  /** An SSE stream, written as it arrives, bounded by the idle timer. */
  Stream,
  /**
   * A non-stream answer past MAX_BUFFERED_RESPONSE_BYTES: written as it arrives, within the
   * request's deadline. It can no longer be retried.
   */
  PassThrough,
}

/**
 * Lives for one attempt. Everything it holds is dropped in finish(): undici and the timers may
 * keep the handler object a little longer, and a husk costs the garbage collector nothing.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  private ex: Exchange | undefined;
  private readonly sink: ClientSink;
  private resolve: ((outcome: AttemptOutcome) => void) | undefined;
  private controller: UpstreamControl | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Runs while the client is not draining what it was sent (CLIENT_STALL_TIMEOUT_MS). */
  private stallTimer: NodeJS.Timeout | undefined;
  private abortReason: Error | undefined;
  private status = 0;
  private headers: PickedHeaders | undefined;
  private mode = Mode.Buffer;
  private chunks: Buffer[] = [];
  private size = 0;
  /** The provider's stream has begun: the idle timer, not the deadline, bounds it now. */
  private begun = false;
  /** The client has been sent the answer's status and headers. */
  private streaming = false;
  /** The provider is held until the client drains what it was sent. */
  private paused = false;
  /** Listens for the client's 'drain'; made the first time the client falls behind. */
  private onDrain: (() => void) | undefined;
  /** For a translated stream: its event decoder, translator and the text of its current upstream chunk. */
  private events: EventDecoder | undefined;
  private translator: StreamTranslator | undefined;
  private translated = '';
  /** For a pass-through stream held to its first content event: where it stands, and the bytes held. */
  private commitPoint: StreamCommit | undefined;
  private held: Buffer[] = NO_CHUNKS;
  /** The attempt's budget while a stream is held: nothing was sent, so it still bounds the attempt. */
  private deadline: NodeJS.Timeout | undefined;
  private readonly sentAt = performance.now();
  /** When the provider's answer was complete (0 before): the gateway's own time runs from there. */
  private completedAt = 0;
  /** Headers the client's answer gets besides the provider's (a route's x-gateway-*), [name, value, ...]. */
  answerHeaders: readonly string[] | undefined = undefined;
  /** With answerHeaders: this attempt's number in its request, as x-gateway-attempts. */
  attemptNumber = 0;
  /**
   * The attempt's names in the request's list of attempts: an attempt that ends the request lists
   * itself as it finishes, before the response's 'close' makes the request's record.
   */
  recordAs: AttemptName | undefined = undefined;
  /**
   * Look in a committed pass-through stream for the provider's error event, so that a stream that
   * failed inside its 200 counts as broken (a route's breaker reads it). Off unless a route asks.
   */
  watchErrors = false;
  private failedInBand = false;
  /** Set by keepAddedUsage(); off for a compressed stream. */
  private addedUsage: AddedUsageFilter | undefined;
  /** Set by readFacts(), while OpenTelemetry is on: otherwise no chunk is looked at for them. */
  private facts: FactsReader | undefined;

  constructor(
    sink: ClientSink,
    /** The provider answering: which of its headers to read. */
    private readonly spec: ProviderSpec,
    private readonly limits: AttemptLimits,
    private readonly translation: AnswerTranslation | undefined,
    private readonly commit: CommitPoint = 'first-byte',
  ) {
    this.sink = sink;
    this.ex = sink.ex;
  }

  /**
   * The gateway asked for the stream's usage where the client did not (Prepared.usageAdded): the
   * usage is read, and kept from the client. Called before run().
   */
  keepAddedUsage(): void {
    this.addedUsage = new AddedUsageFilter(MAX_EVENT_BYTES);
  }

  /**
   * Read the answer's id, model and finish reasons (ex.answerFacts from the commit point), in the
   * provider's dialect: the client's own for a pass-through answer. `keepBodyBytes`: a whole
   * answer up to this size is kept for content capture. Called before run().
   */
  readFacts(keepBodyBytes: number): void {
    const translation = this.translation;
    const dialect = translation === undefined ? factsOfUsage(this.ex?.api?.usageDialect) : translation.facts;
    if (dialect !== undefined) this.facts = new FactsReader(dialect, keepBodyBytes);
  }

  /**
   * Sends one request upstream within `budgetMs`; resolves when its answer is written or its
   * failure is known.
   */
  run(pool: Dispatcher, request: Dispatcher.DispatchOptions, budgetMs: number): Promise<AttemptOutcome> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional
      // budget would give nearly every request a list of its own.
      this.timer = setTimeout(abortAttempt, Math.ceil(budgetMs), this, TIMEOUT);
      pool.dispatch(request, this);
    });
  }

  /** The client went away: stop the upstream request at once. */
  cancel(): void {
    this.abort(CLIENT_GONE);
  }

  /** Another attempt answered: stop this one's upstream request, unseen. */
  lose(): void {
    this.abort(LOST);
  }

  abort(reason: Error): void {
    if (!this.ex) return;
    if (this.abortReason) return;
    this.abortReason = reason;
    if (this.controller) this.controller.abort(reason);
    else this.finish(reason === TIMEOUT ? { kind: 'timeout' } : reason === LOST ? { kind: 'lost' } : { kind: 'cancelled' });
  }

  onConnect(abort: (reason: Error) => void): void {
    const controller = new UpstreamControl(abort);
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const controller = this.controller!;
    controller.resumeUpstream = resume;
    const ex = this.ex;
    if (!ex) return true;
    this.status = statusCode;
    ex.upstreamStatus = statusCode;
    const translation = this.translation;
    const picked = pickHeaders(ex, this.spec, rawHeaders, translation !== undefined, statusCode);
    this.headers = picked;
    const contentType = picked.contentType;
    if (statusCode >= 400) this.mode = Mode.Error;
    else if (translation?.stream !== undefined) {
      // A translated answer takes the shape the client asked for: an answer of the other shape
      // cannot be read as this one, and relayed as it is it would be in neither API's terms.
      if (contentType !== undefined && isStream(contentType, translation) !== ex.stream) {
        this.stopUpstream(controller, {
          kind: 'unreadable',
          message: ex.stream
            ? `it answered a streamed request with a whole body (${safeEcho(contentType, 100)}), not a stream`
            : 'it answered with a stream although none was asked for',
        });
        return true;
      }
      if (ex.stream) this.mode = Mode.Stream;
    } else if (contentType !== undefined && isStream(contentType, translation)) this.mode = Mode.Stream;
    return true;
  }

  /** Returns false to hold the provider until the client drains (controller.resume()). */
  onData(chunk: Buffer): boolean {
    const controller = this.controller!;
    this.take(controller, chunk);
    return !controller.paused;
  }

  private take(controller: UpstreamControl, chunk: Buffer): void {
    const ex = this.ex;
    if (!ex) return;
    switch (this.mode) {
      case Mode.Buffer:
        this.chunks.push(chunk);
        this.size += chunk.length;
        // Past the buffer's bound the answer is passed through: memory stays bounded whatever
        // the provider sends, at the price of a retry for this answer.
        if (this.size > this.limits.MAX_BUFFERED_RESPONSE_BYTES) this.outgrown(ex, controller);
        return;
      case Mode.Error:
        if (this.size < MAX_ERROR_BODY_BYTES) {
          this.chunks.push(chunk);
          this.size += chunk.length;
        }
        return;
      case Mode.Stream:
        if (!this.begun) this.begin(ex);
        else if (!this.paused) this.timer!.refresh();
        if (this.facts !== undefined) this.facts.push(chunk);
        if (this.translation !== undefined) {
          this.translateChunk(ex, controller, chunk);
          return;
        }
        if (this.commitPoint !== undefined) {
          this.holdToContent(ex, controller, chunk);
          return;
        }
        if (!this.streaming && !this.startAnswer(ex, controller)) return;
        (ex.usage as UsageObserver | undefined)?.push(chunk);
        if (this.watchErrors && !this.failedInBand && carriesError(chunk)) this.failedInBand = true;
        if (this.addedUsage !== undefined) {
          chunk = this.addedUsage.filter(chunk);
          if (chunk.length === 0) return;
        }
        if (!this.sink.write(chunk)) this.hold(controller);
        return;
      default:
        (ex.usage as UsageObserver | undefined)?.push(chunk);
        if (this.facts !== undefined) this.facts.push(chunk);
        if (!this.sink.write(chunk)) this.hold(controller);
    }
  }

  onComplete(): void {
    const ex = this.ex;
    if (!ex) return;
    this.completedAt = performance.now();
    if (this.mode === Mode.Stream && this.translator !== undefined) {
      this.endTranslatedStream(ex);
      return;
    }
    if (this.commitPoint !== undefined) {
      this.endHeld(ex);
      return;
    }
    if (this.streaming) {
      this.sink.end(this.addedUsage?.end());
      this.finish(this.failedInBand ? BROKEN : ANSWERED);
      return;
    }
    const headers = this.headers!;
    let body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    if (headers.contentEncoding !== undefined) {
      const decoded = decode(body, headers.contentEncoding, this.mode === Mode.Error ? MAX_ERROR_BODY_BYTES : this.limits.MAX_BUFFERED_RESPONSE_BYTES);
      if (decoded !== undefined) {
        body = decoded;
        headers.contentEncoding = undefined;
      } else if (this.mode === Mode.Error) body = Buffer.from(`(a ${headers.contentEncoding}-encoded error body the gateway could not decode)`);
    }
    if (this.mode === Mode.Error) {
      const text = body.toString('utf8', 0, MAX_ERROR_BODY_BYTES);
      this.finish({ kind: 'status', status: this.status, headers, body: text });
      return;
    }
    if (this.translation !== undefined) {
      this.answerTranslated(ex, headers, body);
      return;
    }
    // A whole answer, or a stream that ended before its first byte: answer it as it is.
    if (!this.sink.claim(this)) return this.finish({ kind: 'lost' });
    if (this.facts !== undefined) {
      if (headers.contentEncoding === undefined) this.facts.readBody(body);
      ex.answerFacts = this.facts;
    }
    ex.status = this.status;
    ex.firstByteMs = performance.now() - ex.startedAt;
    const forClient = headers.forClient;
    // Still encoded: in an encoding the gateway does not decode, passed on with its name.
    if (headers.contentEncoding !== undefined) forClient.push('content-encoding', headers.contentEncoding);
    else {
      const usage = new UsageObserver(ex.api?.usageDialect ?? CHAT_USAGE);
      usage.readBody(body);
      ex.usage = usage;
    }
    // 204 and 304 answers have no body, and say nothing of its length.
    if (this.status !== 204 && this.status !== 304) forClient.push('content-length', String(body.length));
    this.head(forClient);
    // A small body goes out as latin1 text (byte for byte the same bytes): Node then sends it in
    // one write with the status line and headers, instead of gathering both for a writev.
    if (body.length <= ONE_WRITE_BYTES) this.sink.end(body.toString('latin1'), 'latin1');
    else this.sink.end(body);
    this.finish(ANSWERED);
  }

  onError(error: Error): void {
    const ex = this.ex;
    if (!ex) return;
    const reason = this.abortReason ?? error;
    if (this.streaming) {
      // The client already has a 200 and part of the answer.
      if (this.onDrain) this.sink.offDrain(this.onDrain);
      if (reason === CLIENT_STALLED) {
        ex.errorMessage = `The client read nothing for ${this.limits.CLIENT_STALL_TIMEOUT_MS} ms; the gateway closed the connection.`;
        this.sink.cut();
      } else if (reason !== CLIENT_GONE && reason !== LOST) {
        const message =
          reason === TIMEOUT
            ? this.mode === Mode.Stream
              ? `The provider sent nothing for ${this.limits.STREAM_IDLE_TIMEOUT_MS} ms; the stream was closed.`
              : `The provider's answer did not complete within ${ex.timeoutMs} ms.`
            : `The provider's answer broke off: ${describeNetworkError(reason)}.`;
        ex.errorMessage = message;
        if (this.mode === Mode.Stream) {
          // The API's error event: the SDKs raise it instead of waiting for more.
          this.sink.endWithError(reason === TIMEOUT ? 504 : 502, {
            message,
            type: reason === TIMEOUT ? 'timeout_error' : 'upstream_error',
            code: reason === TIMEOUT ? 'stream_idle_timeout' : 'stream_interrupted',
            param: null,
          });
        } else {
          // A JSON body cannot carry an error after its start: the client sees it cut short.
          this.sink.cut();
        }
        this.finish(BROKEN);
        return;
      }
      this.finish(ANSWERED);
      return;
    }
    if (reason === TIMEOUT) this.finish({ kind: 'timeout' });
    else if (reason === CLIENT_GONE) this.finish({ kind: 'cancelled' });
    else if (reason === LOST) this.finish({ kind: 'lost' });
    else if ((reason as { code?: string }).code === 'UND_ERR_INVALID_ARG') this.finish({ kind: 'unsendable', error: reason });
    else this.finish({ kind: 'network', error: reason });
  }

  /** The buffered answer outgrew MAX_BUFFERED_RESPONSE_BYTES. */
  private outgrown(ex: Exchange, controller: UpstreamControl): void {
    if (this.translation !== undefined) {
      // A translation needs the whole answer; one this large is refused rather than held.
      this.stopUpstream(controller, {
        kind: 'unreadable',
        message: `the answer is larger than ${this.limits.MAX_BUFFERED_RESPONSE_BYTES} bytes, more than the gateway translates`,
      });
      return;
    }
    // Pass through what came so far, then the rest as it comes.
    this.mode = Mode.PassThrough;
    const chunks = this.chunks;
    this.chunks = NO_CHUNKS;
    this.size = 0;
    if (!this.startAnswer(ex, controller)) return;
    let writable = true;
    for (const chunk of chunks) {
      (ex.usage as UsageObserver | undefined)?.push(chunk);
      this.facts?.push(chunk);
      writable = this.sink.write(chunk);
    }
    if (!writable) this.hold(controller);
  }

  /**
   * The provider's first stream bytes: a stream has no end the deadline could wait for, so the idle
   * timer bounds it; a stream held to its first content event is bounded by both until then.
   */
  private begin(ex: Exchange): void {
    this.begun = true;
    // Compressed bytes cannot be read for their events: such a stream commits at its first byte.
    if (this.commit === 'first-content' && this.translation === undefined && this.headers!.contentEncoding === undefined) {
      this.commitPoint = new StreamCommit(streamApiOf(ex.api?.name));
      this.held = [];
      this.deadline = this.timer;
    } else clearTimeout(this.timer);
    this.timer = setTimeout(abortAttempt, this.limits.STREAM_IDLE_TIMEOUT_MS, this, TIMEOUT);
    if (this.translation !== undefined) {
      this.translator = this.translation.stream!();
      this.events = createEventDecoder(
        this.translation.framing,
        { onEvent: (event) => this.onEvent(event), onBroken: (reason) => this.broken(reason) },
        MAX_EVENT_BYTES,
      );
    }
  }

  /** The stream broke its framing (an event past MAX_EVENT_BYTES, a corrupt frame): it is given up, as one that broke off. */
  private broken(message: string): void {
    if (this.ex === undefined) return;
    this.abortReason = TRANSLATED_END;
    if (!this.streaming) this.finish({ kind: 'unreadable', message });
    else {
      this.sink.endWithError(502, { message: `The provider's answer broke off: ${message}.`, type: 'upstream_error', code: 'stream_interrupted', param: null });
      this.finish(BROKEN);
    }
    // Not from inside the decoder's callback, which undici is still calling into.
    queueMicrotask(() => this.controller?.abort(TRANSLATED_END));
  }

  /**
   * First bytes of an answer written as it arrives: the commit point, from where it belongs to the
   * client. False when another attempt committed first: this one has ended, unseen.
   */
  private startAnswer(ex: Exchange, controller: UpstreamControl | undefined): boolean {
    if (!this.sink.claim(this)) {
      this.settle(controller, { kind: 'lost' });
      return false;
    }
    this.streaming = true;
    ex.firstByteMs = performance.now() - ex.startedAt;
    ex.status = this.status;
    if (this.facts !== undefined) ex.answerFacts = this.facts;
    const headers = this.headers!;
    const forClient = headers.forClient;
    if (this.translation !== undefined) {
      forClient.push('content-type', this.translation.streamContentType ?? SSE_CONTENT_TYPE, ...this.translation.clientHeaders);
      ex.usage = this.translator;
    } else if (headers.contentEncoding !== undefined) {
      // Compressed bytes are passed on as they are, named; their usage cannot be read (nor kept out).
      forClient.push('content-encoding', headers.contentEncoding);
      this.addedUsage = undefined;
    } else {
      // A pass-through answer is in the client's API, whose usage dialect its route names.
      ex.usage = new UsageObserver(ex.api?.usageDialect ?? CHAT_USAGE);
    }
    if (this.mode === Mode.Stream) forClient.push('cache-control', 'no-cache');
    this.head(forClient);
    return true;
  }

  /**
   * One chunk of a pass-through stream before its commit point: held while its events are
   * preamble, dropped with the attempt at an error, or sent with all that was held at the first
   * content event, after which the stream is relayed byte for byte and nothing is classified.
   */
  private holdToContent(ex: Exchange, controller: UpstreamControl, chunk: Buffer): void {
    const commitPoint = this.commitPoint!;
    const state = commitPoint.feed(chunk);
    this.held.push(chunk);
    if (state === 'hold') return;
    if (state === 'failed') return this.stopUpstream(controller, { kind: 'failed', failure: commitPoint.failure!, headers: this.headers! });
    const writable = this.sendHeld(ex, controller);
    if (writable === false) this.hold(controller);
  }

  /** A held stream ended: its last event decides between the answer as it came and a failure. */
  private endHeld(ex: Exchange): void {
    const commitPoint = this.commitPoint!;
    if (commitPoint.end() === 'failed') return this.finish({ kind: 'failed', failure: commitPoint.failure!, headers: this.headers! });
    if (this.sendHeld(ex, undefined) === undefined) return;
    this.sink.end(this.addedUsage?.end());
    this.finish(this.failedInBand ? BROKEN : ANSWERED);
  }

  /**
   * The commit point of a held stream: claims the answer and writes what was held, in one write.
   * The write's result, or undefined when another attempt committed first.
   */
  private sendHeld(ex: Exchange, controller: UpstreamControl | undefined): boolean | undefined {
    const held = this.held;
    this.held = NO_CHUNKS;
    this.commitPoint = undefined;
    clearTimeout(this.deadline);
    this.deadline = undefined;
    if (!this.startAnswer(ex, controller)) return undefined;
    // The observer is given the chunks as they came, as it would have been without the hold.
    const usage = ex.usage as UsageObserver | undefined;
    if (usage !== undefined) for (const chunk of held) usage.push(chunk);
    if (this.watchErrors) for (const chunk of held) if (carriesError(chunk)) this.failedInBand = true;
    const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
    return this.sink.write(this.addedUsage === undefined ? bytes : this.addedUsage.filter(bytes));
  }

  /** One upstream chunk of a translated stream: parsed into events, each translated as it comes. */
  private translateChunk(ex: Exchange, controller: UpstreamControl, chunk: Buffer): void {
    if (this.headers!.contentEncoding !== undefined) {
      this.stopUpstream(controller, { kind: 'unreadable', message: `the stream is ${this.headers!.contentEncoding}-encoded, which the gateway does not translate` });
      return;
    }
    this.events!.feed(chunk);
    if (this.ex !== undefined) this.flushTranslated(ex, controller);
  }

  private onEvent(event: UpstreamEvent): void {
    const ex = this.ex;
    const translator = this.translator!;
    // Events after a reported failure, or after the attempt ended, are not wanted.
    if (ex === undefined || translator.failure !== undefined) return;
    const text = translator.push(event);
    // The commit point is the first event that gives the client content, whatever else the same
    // network read holds: a failure after it ends the answer with the API's error event, and the
    // outcome never depends on how the provider's bytes were split.
    if (text !== '' && !this.streaming && translator.failure === undefined && !this.startAnswer(ex, this.controller)) return;
    this.translated += text;
  }

  /**
   * Writes what the events of one upstream chunk gave, or settles a failure they reported.
   * `controller` is undefined once the upstream stream has ended.
   */
  private flushTranslated(ex: Exchange, controller: UpstreamControl | undefined): void {
    const text = this.translated;
    this.translated = '';
    const failure = this.translator!.failure;
    // Nothing was sent yet: the failure is the attempt's, to retry or to answer with.
    if (failure !== undefined && !this.streaming) return this.settle(controller, { kind: 'failed', failure, headers: this.headers! });
    if (text === '' && controller !== undefined) return;
    if (!this.streaming && !this.startAnswer(ex, controller)) return;
    if (failure === undefined && controller !== undefined) {
      if (!this.sink.write(text)) this.hold(controller);
      return;
    }
    // The stream is over: its end, or an error event (which closes it).
    if (failure !== undefined) ex.errorMessage = failure.error.message;
    this.sink.end(text);
    this.settle(controller, failure === undefined ? ANSWERED : BROKEN);
  }

  /** Ends the attempt; while the upstream still sends, it is told the rest is not wanted. */
  private settle(controller: UpstreamControl | undefined, outcome: AttemptOutcome): void {
    if (controller === undefined) this.finish(outcome);
    else this.stopUpstream(controller, outcome);
  }

  private endTranslatedStream(ex: Exchange): void {
    this.events!.end();
    if (this.ex === undefined) return;
    if (this.translator!.failure === undefined) this.translated += this.translator!.end();
    this.flushTranslated(ex, undefined);
  }

  /** A whole translated answer: the provider's body in OpenAI's shape. */
  private answerTranslated(ex: Exchange, headers: PickedHeaders, body: Buffer): void {
    let answer: { readonly json: string; readonly usage: Usage | undefined };
    try {
      answer = this.translation!.answer(body.toString('utf8'));
    } catch (err) {
      // JSON.parse's own message quotes the provider's bytes: the client is told only what was wrong.
      const message = err instanceof SyntaxError ? 'the answer is not JSON' : (err as Error).message;
      this.finish({ kind: 'unreadable', message, excerpt: body.subarray(0, UNREADABLE_EXCERPT_BYTES).toString('utf8') });
      return;
    }
    if (!this.sink.claim(this)) return this.finish({ kind: 'lost' });
    if (this.facts !== undefined) {
      this.facts.readBody(body);
      ex.answerFacts = this.facts;
    }
    ex.status = this.status;
    ex.firstByteMs = performance.now() - ex.startedAt;
    ex.usage = { usage: answer.usage };
    const forClient = headers.forClient;
    forClient.push('content-type', JSON_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(answer.json)), ...this.translation!.clientHeaders);
    this.head(forClient);
    this.sink.end(answer.json);
    this.finish(ANSWERED);
  }

  /** Writes the answer's status and headers, with the route's own. */
  private head(forClient: string[]): void {
    const ex = this.sink.ex;
    const now = performance.now();
    // The gateway's own time so far: all of it less the providers' part (earlier attempts', this
    // one's up to its last byte, or up to now for a stream's first) and the backoff waits.
    const upstreamEnd = this.completedAt !== 0 ? this.completedAt : now;
    const overhead = now - ex.startedAt - ex.upstreamMs - ex.waitedMs - (upstreamEnd - this.sentAt);
    forClient.push(OVERHEAD_HEADER, formatMs(overhead > 0 ? overhead : 0));
    // A whole answer's cost is known before its headers: a stream's is in the request line alone.
    const pricing = this.sink.pricing;
    const usage = ex.usage?.usage;
    if (pricing !== undefined && !ex.stream && usage !== undefined && ex.provider !== undefined && ex.model !== undefined) {
      const cost = pricing.cost(ex.provider.name, ex.model, usage);
      forClient.push(COST_HEADER, cost === undefined ? 'unknown' : formatUsd(cost));
    }
    const extra = this.answerHeaders;
    if (extra !== undefined) {
      for (let i = 0; i < extra.length; i++) forClient.push(extra[i]!);
      forClient.push('x-gateway-attempts', String(this.attemptNumber));
    }
    this.sink.head(this.status, forClient);
  }

  /** Ends the attempt with `outcome` and tells undici the rest of the answer is not wanted. */
  private stopUpstream(controller: UpstreamControl, outcome: AttemptOutcome): void {
    this.abortReason = TRANSLATED_END;
    this.finish(outcome);
    controller.abort(TRANSLATED_END);
  }

  /**
   * The client reads slower than the provider writes: hold the provider until it drains. Its
   * slowness is not the provider's silence (the idle timer stops), but it is bounded:
   * CLIENT_STALL_TIMEOUT_MS without draining closes both sides.
   */
  private hold(controller: UpstreamControl): void {
    this.paused = true;
    controller.pause();
    if (this.mode === Mode.Stream) clearTimeout(this.timer);
    this.stallTimer = setTimeout(abortAttempt, this.limits.CLIENT_STALL_TIMEOUT_MS, this, CLIENT_STALLED);
    this.onDrain ??= () => this.drained();
    this.sink.onceDrain(this.onDrain);
  }

  /** The client took what it was sent: let the provider go on. */
  private drained(): void {
    if (!this.ex) return;
    this.paused = false;
    clearTimeout(this.stallTimer);
    if (this.mode === Mode.Stream) this.timer = setTimeout(abortAttempt, this.limits.STREAM_IDLE_TIMEOUT_MS, this, TIMEOUT);
    this.controller?.resume();
  }

  private finish(outcome: AttemptOutcome): void {
    const ex = this.ex!;
    const resolve = this.resolve!;
    clearTimeout(this.timer);
    clearTimeout(this.stallTimer);
    clearTimeout(this.deadline);
    const now = performance.now();
    // A hedge that lost ran beside the winner: its time is not the request's time upstream twice.
    if (outcome.kind !== 'lost') ex.upstreamMs += now - this.sentAt;
    if (this.recordAs !== undefined && (outcome.kind === 'answered' || outcome.kind === 'lost' || outcome.kind === 'cancelled')) {
      const answered = outcome.kind === 'answered';
      const name = this.recordAs;
      (ex.attempts ??= []).push({
        target: name.target,
        provider: name.provider,
        model: name.model,
        hedge: name.hedge,
        startedAt: this.sentAt,
        status: answered ? this.status : 0,
        outcome: answered && outcome.broken === true ? 'answered: broken' : outcome.kind,
        ttfbMs: answered && ex.firstByteMs !== undefined ? ex.startedAt + ex.firstByteMs - this.sentAt : undefined,
        ms: now - this.sentAt,
      });
    }
    this.ex = undefined;
    this.resolve = undefined;
    this.timer = undefined;
    this.stallTimer = undefined;
    this.headers = undefined;
    this.events = undefined;
    this.chunks = NO_CHUNKS;
    this.commitPoint = undefined;
    this.held = NO_CHUNKS;
    this.facts = undefined;
    resolve(outcome);
  }
}

/**
 * A compressed answer, decoded within `maxBytes`; undefined for an encoding the gateway does not
 * know, a corrupt body, or one that decodes past the bound.
 */
function decode(body: Buffer, encoding: string, maxBytes: number): Buffer | undefined {
  const options = { maxOutputLength: Math.max(1, maxBytes) };
  try {
    switch (encoding) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, options);
      case 'deflate':
        return inflateSync(body, options);
      case 'br':
        return brotliDecompressSync(body, options);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

const EVENTSTREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

/** Whether an answer is a stream: SSE, or AWS's event stream for a provider that frames with it. */
function isStream(contentType: string, translation: AnswerTranslation | undefined): boolean {
  if (contentType.startsWith(SSE_CONTENT_TYPE)) return true;
  return translation?.framing === 'aws-eventstream' && contentType.startsWith(EVENTSTREAM_CONTENT_TYPE);
}

function abortAttempt(attempt: Attempt, reason: Error): void {
  attempt.abort(reason);
}

/**
 * Picks from the provider's raw headers what the client should see (content type, rate limits,
 * retry-after, content-disposition, the provider's request id as x-upstream-request-id) and what
 * the gateway needs. Only names that start like one of those are decoded; of a repeated header,
 * the first value is the one that counts. A translated answer gets its content type from the
 * translation.
 */
function pickHeaders(ex: Exchange, spec: ProviderSpec, raw: Buffer[], translated: boolean, status: number): PickedHeaders {
  const requestIdHeader = spec.requestIdHeader;
  const errorTypeHeader = spec.kind === 'translating' ? spec.adapter.errorTypeHeader : undefined;
  const picked: PickedHeaders = {
    forClient: ['x-request-id', ex.id],
    contentType: undefined,
    contentEncoding: undefined,
    retryAfter: undefined,
    retryAfterMs: undefined,
    errorType: undefined,
    providerLimits: undefined,
  };
  // A client with a gateway key is told its own limits (governance), not those of the gateway's
  // provider account: the provider's are decoded only from a 429, for how long its key rests.
  const forClient = ex.gatewayKey === undefined;
  const rateLimits = forClient || status === 429;
  let seen: string[] | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const nameBytes = raw[i]!;
    if (!worthDecoding(nameBytes, requestIdHeader, errorTypeHeader, rateLimits)) continue;
    const name = nameBytes.toString('latin1').toLowerCase();
    if (seen === undefined) seen = [name];
    else if (seen.includes(name)) continue;
    else seen.push(name);
    const text = raw[i + 1]!.toString('latin1');
    switch (name) {
      case 'content-type':
        picked.contentType = text;
        if (!translated) picked.forClient.push(name, text);
        break;
      case 'content-encoding': {
        const encoding = text.trim().toLowerCase();
        if (encoding !== '' && encoding !== 'identity') picked.contentEncoding = encoding;
        break;
      }
      case 'allow':
      case 'content-disposition':
        picked.forClient.push(name, text);
        break;
      case 'retry-after':
        picked.retryAfter = text;
        picked.forClient.push(name, text);
        break;
      case 'retry-after-ms':
        picked.retryAfterMs = text;
        picked.forClient.push(name, text);
        break;
      default:
        if (name === requestIdHeader) {
          picked.forClient.push('x-upstream-request-id', text);
          // A client of the provider's own API (Anthropic's): its SDK reads the provider's id under the same name.
          if (name === ex.api?.requestIdHeader) picked.forClient.push(name, text);
        }
        else if (name === errorTypeHeader) picked.errorType = text;
        else if (rateLimits && (name.startsWith(RATELIMIT_PREFIX) || name.startsWith(ANTHROPIC_RATELIMIT_PREFIX))) {
          if (forClient) picked.forClient.push(name, text);
          else (picked.providerLimits ??= []).push(name, text);
        }
    }
  }
  return picked;
}

// First bytes (lower case) of the header names pickHeaders wants: allow, anthropic-*, content-*, retry-*, x-*.
const A = 0x61;
const C = 0x63;
const R = 0x72;
const X = 0x78;

/**
 * Whether a header name may be one pickHeaders wants, judged by its first byte and length alone:
 * allow (5), content-type (12), content-encoding (16), content-disposition (19), retry-after (11),
 * retry-after-ms (14), the provider's request id and error type headers, and when `rateLimits`,
 * anthropic-ratelimit-* and x-ratelimit-* (longer than their prefixes).
 */
function worthDecoding(name: Buffer, requestIdHeader: string | undefined, errorTypeHeader: string | undefined, rateLimits: boolean): boolean {
  const first = name[0]! | 0x20;
  const length = name.length;
  if (requestIdHeader !== undefined && length === requestIdHeader.length && first === requestIdHeader.charCodeAt(0)) return true;
  if (errorTypeHeader !== undefined && length === errorTypeHeader.length && first === errorTypeHeader.charCodeAt(0)) return true;
  switch (first) {
    case A:
      return length === 5 || (rateLimits && length > ANTHROPIC_RATELIMIT_PREFIX.length);
    case C:
      return length === 12 || length === 16 || length === 19;
    case R:
      return length === 11 || length === 14;
    case X:
      return rateLimits && length > RATELIMIT_PREFIX.length;
    default:
      return false;
  }
}

/** The picked client headers as a record, for error answers. */
export function headerRecord(headers: PickedHeaders): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i < headers.forClient.length; i += 2) record[headers.forClient[i]!] = headers.forClient[i + 1]!;
  return record;
}

/** Everything a 429 said of the provider's limits, the client's headers and those it was not shown: for how long its key rests. */
export function limitRecord(headers: PickedHeaders): Record<string, string> {
  const record = headerRecord(headers);
  const more = headers.providerLimits;
  if (more !== undefined) for (let i = 0; i < more.length; i += 2) record[more[i]!] = more[i + 1]!;
  return record;
}

/**
 * What a client is told of a failed connection: a plain description by error code. The error's own
 * message can name internal addresses or carry a TLS library's or undici's internals; it goes to
 * the log only (gateway.ts).
 */
export function describeNetworkError(error: Error): string {
  const code = (error as { code?: string }).code ?? '';
  const known = NETWORK_ERRORS[code];
  if (known !== undefined) return `${known} (${code})`;
  if (code.startsWith('HPE_') || code === 'ERR_ASSERTION') return 'the provider sent an answer that is not valid HTTP';
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.includes('CERT') || code.includes('SIGNATURE')) {
    return `the TLS connection failed (${code})`;
  }
  return code ? `the request failed (${code})` : 'the request failed';
}

const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ENOTFOUND: 'the host name could not be resolved',
  EAI_AGAIN: 'the host name could not be resolved',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_SOCKET: 'the connection was closed',
  UND_ERR_CLOSED: 'the connection was closed',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the answer did not match its declared length',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'the answer was too large',
  UND_ERR_INFO: 'the provider sent an answer that is not valid HTTP',
};
