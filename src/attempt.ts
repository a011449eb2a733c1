// One upstream attempt, as an undici dispatch handler. A stream is written to the client byte for
// byte as it arrives (from its first byte it can no longer be retried); any other answer is
// buffered, so that a failure can still be retried and the deadline covers the whole answer.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { OpenAIErrorBody } from './errors.js';
import type { Exchange, Gateway } from './gateway.js';
import { UsageObserver, sseErrorEvent } from './stream.js';

/** How an attempt ended. Only 'network', 'status' and 'timeout' leave the answer to the caller. */
export type AttemptOutcome =
  | { kind: 'answered' }
  | { kind: 'cancelled' }
  | { kind: 'timeout' }
  | { kind: 'network'; error: Error }
  | { kind: 'status'; status: number; headers: IncomingHttpHeaders; body: string };

/** Sentinels passed to `controller.abort()`, so onResponseError knows why it was called. */
class TimeoutSignal extends Error {
  override name = 'TimeoutSignal';
}
class ClientGoneSignal extends Error {
  override name = 'ClientGoneSignal';
}
const TIMEOUT = new TimeoutSignal('deadline reached');
const CLIENT_GONE = new ClientGoneSignal('client went away');

const SSE_CONTENT_TYPE = 'text/event-stream';
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const NO_CHUNKS: Buffer[] = [];
const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

const enum Mode {
  Buffer,
  Error,
  Stream,
}

/**
 * Lives for one attempt. Everything it holds is dropped in finish(): undici and the timers may
 * keep the handler object a little longer, and a husk costs the garbage collector nothing.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  private ex: Exchange | undefined;
  private resolve: ((outcome: AttemptOutcome) => void) | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private abortReason: Error | undefined;
  private status = 0;
  private headers: IncomingHttpHeaders = NO_HEADERS;
  private mode = Mode.Buffer;
  private chunks: Buffer[] = [];
  private size = 0;
  /** The client has been sent the stream's status and headers. */
  private streaming = false;
  /** The provider is held until the client drains what it was sent. */
  private paused = false;
  private readonly sentAt = performance.now();

  private constructor(
    ex: Exchange,
    private readonly gateway: Gateway,
    budgetMs: number,
    resolve: (outcome: AttemptOutcome) => void,
  ) {
    this.ex = ex;
    this.resolve = resolve;
    this.timer = setTimeout(abortAttempt, budgetMs, this, TIMEOUT);
  }

  /** Sends one request upstream; resolves when its answer is written or its failure is known. */
  static run(ex: Exchange, gateway: Gateway, request: Dispatcher.DispatchOptions, budgetMs: number): Promise<AttemptOutcome> {
    return new Promise((resolve) => {
      const attempt = new Attempt(ex, gateway, budgetMs, resolve);
      ex.waiting = attempt;
      ex.provider!.pool.dispatch(request, attempt);
    });
  }

  /** The client went away: stop the upstream request at once. */
  cancel(): void {
    this.abort(CLIENT_GONE);
  }

  abort(reason: Error): void {
    if (!this.ex) return;
    this.abortReason ??= reason;
    if (this.controller) {
      if (!this.controller.aborted) this.controller.abort(reason);
    } else {
      this.finish(reason === TIMEOUT ? { kind: 'timeout' } : { kind: 'cancelled' });
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    this.headers = headers;
    const contentType = headers['content-type'];
    if (statusCode >= 400) this.mode = Mode.Error;
    else if (typeof contentType === 'string' && contentType.startsWith(SSE_CONTENT_TYPE)) this.mode = Mode.Stream;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const ex = this.ex;
    if (!ex) return;
    if (this.mode === Mode.Stream) {
      if (!this.streaming) this.startStream(ex);
      else if (!this.paused) this.timer!.refresh();
      ex.usage!.push(chunk);
      if (!ex.res.write(chunk)) {
        // The client reads slower than the provider writes: hold the provider, and do not count
        // the client's slowness as the provider's silence.
        controller.pause();
        this.paused = true;
        clearTimeout(this.timer);
        ex.res.once('drain', this.onDrain);
      }
      return;
    }
    if (this.mode === Mode.Error && this.size >= MAX_ERROR_BODY_BYTES) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    const ex = this.ex;
    if (!ex) return;
    if (this.streaming) {
      ex.res.end();
      this.finish({ kind: 'answered' });
      return;
    }
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    if (this.mode === Mode.Error) {
      const text = body.toString('utf8', 0, MAX_ERROR_BODY_BYTES);
      this.finish({ kind: 'status', status: this.status, headers: this.headers, body: text });
      return;
    }
    // A whole answer, or a stream that ended before its first byte: answer it as it is.
    ex.status = this.status;
    ex.firstByteMs = performance.now() - ex.startedAt;
    ex.usage = new UsageObserver();
    ex.usage.push(body);
    const headers = this.gateway.responseHeaders(ex, this.headers);
    headers['content-length'] = String(body.length);
    ex.res.writeHead(this.status, headers);
    ex.res.end(body);
    this.finish({ kind: 'answered' });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const ex = this.ex;
    if (!ex) return;
    const reason = this.abortReason ?? error;
    if (this.streaming) {
      // The client already has a 200 and part of the stream: end it with an error event.
      ex.res.off('drain', this.onDrain);
      if (reason !== CLIENT_GONE) {
        const body: OpenAIErrorBody =
          reason === TIMEOUT
            ? {
                message: `The provider sent nothing for ${this.gateway.config.STREAM_IDLE_TIMEOUT_MS} ms; the stream was closed.`,
                type: 'timeout_error',
                code: 'stream_idle_timeout',
                param: null,
              }
            : {
                message: `The provider's stream broke off: ${describeNetworkError(reason)}.`,
                type: 'upstream_error',
                code: 'stream_interrupted',
                param: null,
              };
        ex.errorMessage = body.message;
        ex.res.end(sseErrorEvent(body));
      }
      this.finish({ kind: 'answered' });
      return;
    }
    if (reason === TIMEOUT) this.finish({ kind: 'timeout' });
    else if (reason === CLIENT_GONE) this.finish({ kind: 'cancelled' });
    else this.finish({ kind: 'network', error: reason });
  }

  /** First byte of a stream: from here the stream belongs to the client, bounded by the idle timer. */
  private startStream(ex: Exchange): void {
    this.streaming = true;
    clearTimeout(this.timer);
    ex.firstByteMs = performance.now() - ex.startedAt;
    ex.status = this.status;
    ex.usage = new UsageObserver();
    const headers = this.gateway.responseHeaders(ex, this.headers);
    headers['cache-control'] = 'no-cache';
    ex.res.writeHead(this.status, headers);
    this.timer = setTimeout(abortAttempt, this.gateway.config.STREAM_IDLE_TIMEOUT_MS, this, TIMEOUT);
  }

  private readonly onDrain = (): void => {
    if (!this.ex || !this.controller) return;
    this.paused = false;
    this.timer = setTimeout(abortAttempt, this.gateway.config.STREAM_IDLE_TIMEOUT_MS, this, TIMEOUT);
    this.controller.resume();
  };

  private finish(outcome: AttemptOutcome): void {
    const ex = this.ex!;
    const resolve = this.resolve!;
    clearTimeout(this.timer);
    ex.waiting = undefined;
    ex.upstreamMs += performance.now() - this.sentAt;
    this.ex = undefined;
    this.resolve = undefined;
    this.controller = undefined;
    this.timer = undefined;
    this.chunks = NO_CHUNKS;
    this.headers = NO_HEADERS;
    resolve(outcome);
  }
}

function abortAttempt(attempt: Attempt, reason: Error): void {
  attempt.abort(reason);
}

export function describeNetworkError(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `${code} (${error.message})` : error.message;
}
