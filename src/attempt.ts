// One upstream attempt, as an undici dispatch handler. A stream is written to the client byte for
// byte as it arrives (from its first byte it can no longer be retried); any other answer is
// buffered, so that a failure can still be retried and the deadline covers the whole answer.
//
// The handler implements undici's core callbacks (onConnect, onHeaders, onData, onComplete,
// onError), the interface undici 7's own clients call: it gets the raw header list, so the few
// headers the gateway passes on are picked from it without building an object of them all.
import { performance } from 'node:perf_hooks';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Dispatcher } from 'undici';
import type { OpenAIErrorBody } from './errors.js';
import type { Exchange, Gateway } from './gateway.js';
import { UsageObserver, sseErrorEvent } from './stream.js';

/** The provider's headers that matter to the gateway, picked once from the raw list. */
export interface PickedHeaders {
  /** For the client: [name, value, ...], starting with our x-request-id. */
  readonly forClient: string[];
  contentType: string | undefined;
  /** Set when the provider compressed its answer although the gateway asked for none. */
  contentEncoding: string | undefined;
  retryAfter: string | undefined;
  retryAfterMs: string | undefined;
}

/** How an attempt ended. All but 'answered' and 'cancelled' leave the answer to the caller. */
export type AttemptOutcome =
  | { kind: 'answered' }
  | { kind: 'cancelled' }
  | { kind: 'timeout' }
  | { kind: 'network'; error: Error }
  /** undici refused the request itself (e.g. a header value it cannot send): the client's to fix. */
  | { kind: 'unsendable'; error: Error }
  | { kind: 'status'; status: number; headers: PickedHeaders; body: string };

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
const TIMEOUT = new TimeoutSignal('deadline reached');
const CLIENT_GONE = new ClientGoneSignal('client went away');
const CLIENT_STALLED = new ClientStalledSignal('client stopped reading');

const SSE_CONTENT_TYPE = 'text/event-stream';
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Buffered bodies up to this size are written together with their headers; see onComplete. */
const ONE_WRITE_BYTES = 16 * 1024;
const NO_CHUNKS: Buffer[] = [];
const RATELIMIT_PREFIX = 'x-ratelimit-';
// First bytes (lower case) of the header names worth a closer look: allow, content-*, retry-*, x-*.
const A = 0x61;
const C = 0x63;
const R = 0x72;
const X = 0x78;

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
  private resolve: ((outcome: AttemptOutcome) => void) | undefined;
  private abortUpstream: ((reason?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Runs while the client is not draining what it was sent (CLIENT_STALL_TIMEOUT_MS). */
  private stallTimer: NodeJS.Timeout | undefined;
  private abortReason: Error | undefined;
  private status = 0;
  private headers: PickedHeaders | undefined;
  private mode = Mode.Buffer;
  private chunks: Buffer[] = [];
  private size = 0;
  /** The client has been sent the stream's status and headers. */
  private streaming = false;
  /** The provider is held until the client drains what it was sent. */
  private paused = false;
  /** Listens for the client's 'drain'; made the first time the client falls behind. */
  private onDrain: (() => void) | undefined;
  private readonly sentAt = performance.now();

  private constructor(
    ex: Exchange,
    private readonly gateway: Gateway,
    budgetMs: number,
    resolve: (outcome: AttemptOutcome) => void,
  ) {
    this.ex = ex;
    this.resolve = resolve;
    // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional
    // budget would give nearly every request a list of its own.
    this.timer = setTimeout(abortAttempt, Math.ceil(budgetMs), this, TIMEOUT);
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
    if (this.abortReason) return;
    this.abortReason = reason;
    if (this.abortUpstream) this.abortUpstream(reason);
    else this.finish(reason === TIMEOUT ? { kind: 'timeout' } : { kind: 'cancelled' });
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.abortReason) abort(this.abortReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    const ex = this.ex;
    if (!ex) return true;
    this.status = statusCode;
    this.resumeUpstream = resume;
    const headers = pickHeaders(ex, rawHeaders);
    this.headers = headers;
    if (statusCode >= 400) this.mode = Mode.Error;
    else if (headers.contentType !== undefined && headers.contentType.startsWith(SSE_CONTENT_TYPE)) this.mode = Mode.Stream;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const ex = this.ex;
    if (!ex) return true;
    switch (this.mode) {
      case Mode.Buffer:
        this.chunks.push(chunk);
        this.size += chunk.length;
        // Past the buffer's bound the answer is passed through: memory stays bounded whatever
        // the provider sends, at the price of a retry for this answer.
        return this.size > this.gateway.config.MAX_BUFFERED_RESPONSE_BYTES ? this.passThrough(ex) : true;
      case Mode.Error:
        if (this.size < MAX_ERROR_BODY_BYTES) {
          this.chunks.push(chunk);
          this.size += chunk.length;
        }
        return true;
      default:
        if (!this.streaming) this.startStream(ex);
        else if (this.mode === Mode.Stream && !this.paused) this.timer!.refresh();
        ex.usage?.push(chunk);
        return this.write(ex, chunk);
    }
  }

  onComplete(): void {
    const ex = this.ex;
    if (!ex) return;
    if (this.streaming) {
      ex.res.end();
      this.finish({ kind: 'answered' });
      return;
    }
    const headers = this.headers!;
    let body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    if (headers.contentEncoding !== undefined) {
      const decoded = decode(body, headers.contentEncoding, this.mode === Mode.Error ? MAX_ERROR_BODY_BYTES : this.gateway.config.MAX_BUFFERED_RESPONSE_BYTES);
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
    // A whole answer, or a stream that ended before its first byte: answer it as it is.
    ex.status = this.status;
    ex.firstByteMs = performance.now() - ex.startedAt;
    const forClient = headers.forClient;
    // Still encoded: in an encoding the gateway does not decode, passed on with its name.
    if (headers.contentEncoding !== undefined) forClient.push('content-encoding', headers.contentEncoding);
    else {
      ex.usage = new UsageObserver();
      ex.usage.readBody(body);
    }
    // 204 and 304 answers have no body, and say nothing of its length.
    if (this.status !== 204 && this.status !== 304) forClient.push('content-length', String(body.length));
    ex.res.writeHead(this.status, forClient);
    // A small body goes out as latin1 text (byte for byte the same bytes): Node then sends it in
    // one write with the status line and headers, instead of gathering both for a writev.
    if (body.length <= ONE_WRITE_BYTES) ex.res.end(body.toString('latin1'), 'latin1');
    else ex.res.end(body);
    this.finish({ kind: 'answered' });
  }

  onError(error: Error): void {
    const ex = this.ex;
    if (!ex) return;
    const reason = this.abortReason ?? error;
    if (this.streaming) {
      // The client already has a 200 and part of the answer.
      if (this.onDrain) ex.res.off('drain', this.onDrain);
      if (reason === CLIENT_STALLED) {
        ex.errorMessage = `The client read nothing for ${this.gateway.config.CLIENT_STALL_TIMEOUT_MS} ms; the gateway closed the connection.`;
        ex.cutByGateway = true;
        ex.res.destroy();
      } else if (reason !== CLIENT_GONE) {
        const message =
          reason === TIMEOUT
            ? this.mode === Mode.Stream
              ? `The provider sent nothing for ${this.gateway.config.STREAM_IDLE_TIMEOUT_MS} ms; the stream was closed.`
              : `The provider's answer did not complete within ${ex.timeoutMs} ms.`
            : `The provider's answer broke off: ${describeNetworkError(reason)}.`;
        ex.errorMessage = message;
        if (this.mode === Mode.Stream) {
          // An SSE error event: the OpenAI SDKs raise it instead of waiting for more.
          ex.res.end(
            sseErrorEvent({
              message,
              type: reason === TIMEOUT ? 'timeout_error' : 'upstream_error',
              code: reason === TIMEOUT ? 'stream_idle_timeout' : 'stream_interrupted',
              param: null,
            }),
          );
        } else {
          // A JSON body cannot carry an error after its start: the client sees it cut short.
          ex.cutByGateway = true;
          ex.res.destroy();
        }
      }
      this.finish({ kind: 'answered' });
      return;
    }
    if (reason === TIMEOUT) this.finish({ kind: 'timeout' });
    else if (reason === CLIENT_GONE) this.finish({ kind: 'cancelled' });
    else if ((reason as { code?: string }).code === 'UND_ERR_INVALID_ARG') this.finish({ kind: 'unsendable', error: reason });
    else this.finish({ kind: 'network', error: reason });
  }

  /** The buffered answer outgrew MAX_BUFFERED_RESPONSE_BYTES: send what came so far, then the rest as it comes. */
  private passThrough(ex: Exchange): boolean {
    this.mode = Mode.PassThrough;
    const chunks = this.chunks;
    this.chunks = NO_CHUNKS;
    this.size = 0;
    this.startStream(ex);
    let writable = true;
    for (const chunk of chunks) {
      ex.usage?.push(chunk);
      writable = ex.res.write(chunk);
    }
    return writable || this.hold(ex);
  }

  /** First byte of an answer written as it arrives: from here it belongs to the client. */
  private startStream(ex: Exchange): void {
    this.streaming = true;
    ex.firstByteMs = performance.now() - ex.startedAt;
    ex.status = this.status;
    const headers = this.headers!;
    const forClient = headers.forClient;
    // Compressed bytes are passed on as they are, named; their usage cannot be read.
    if (headers.contentEncoding !== undefined) forClient.push('content-encoding', headers.contentEncoding);
    else ex.usage = new UsageObserver();
    if (this.mode === Mode.Stream) {
      // A stream has no end the deadline could wait for: the idle timer bounds it instead.
      clearTimeout(this.timer);
      forClient.push('cache-control', 'no-cache');
      this.timer = setTimeout(abortAttempt, this.gateway.config.STREAM_IDLE_TIMEOUT_MS, this, TIMEOUT);
    }
    ex.res.writeHead(this.status, forClient);
  }

  private write(ex: Exchange, chunk: Buffer): boolean {
    return ex.res.write(chunk) || this.hold(ex);
  }

  /**
   * The client reads slower than the provider writes: hold the provider until it drains. Its
   * slowness is not the provider's silence (the idle timer stops), but it is bounded:
   * CLIENT_STALL_TIMEOUT_MS without draining closes both sides.
   */
  private hold(ex: Exchange): false {
    this.paused = true;
    if (this.mode === Mode.Stream) clearTimeout(this.timer);
    this.stallTimer = setTimeout(abortAttempt, this.gateway.config.CLIENT_STALL_TIMEOUT_MS, this, CLIENT_STALLED);
    this.onDrain ??= () => this.drained();
    ex.res.once('drain', this.onDrain);
    return false;
  }

  /** The client took what it was sent: let the provider go on. */
  private drained(): void {
    if (!this.ex) return;
    this.paused = false;
    clearTimeout(this.stallTimer);
    if (this.mode === Mode.Stream) this.timer = setTimeout(abortAttempt, this.gateway.config.STREAM_IDLE_TIMEOUT_MS, this, TIMEOUT);
    this.resumeUpstream?.();
  }

  private finish(outcome: AttemptOutcome): void {
    const ex = this.ex!;
    const resolve = this.resolve!;
    clearTimeout(this.timer);
    clearTimeout(this.stallTimer);
    ex.waiting = undefined;
    ex.upstreamMs += performance.now() - this.sentAt;
    this.ex = undefined;
    this.resolve = undefined;
    this.abortUpstream = undefined;
    this.resumeUpstream = undefined;
    this.timer = undefined;
    this.stallTimer = undefined;
    this.headers = undefined;
    this.chunks = NO_CHUNKS;
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

function abortAttempt(attempt: Attempt, reason: Error): void {
  attempt.abort(reason);
}

/**
 * Picks from the provider's raw headers what the client should see (content type, rate limits,
 * retry-after, content-disposition, the provider's request id as x-upstream-request-id) and what
 * the gateway needs. Only names that start like one of those are decoded.
 */
function pickHeaders(ex: Exchange, raw: Buffer[]): PickedHeaders {
  const requestIdHeader = ex.provider!.spec.requestIdHeader;
  const requestIdFirst = requestIdHeader === undefined ? -1 : requestIdHeader.charCodeAt(0);
  const requestIdLength = requestIdHeader === undefined ? -1 : requestIdHeader.length;
  const picked: PickedHeaders = {
    forClient: ['x-request-id', ex.id],
    contentType: undefined,
    contentEncoding: undefined,
    retryAfter: undefined,
    retryAfterMs: undefined,
  };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const nameBytes = raw[i]!;
    if (!worthDecoding(nameBytes, requestIdFirst, requestIdLength)) continue;
    const name = nameBytes.toString('latin1').toLowerCase();
    if (name === 'content-type') {
      picked.contentType = raw[i + 1]!.toString('latin1');
      picked.forClient.push(name, picked.contentType);
    } else if (name === 'allow') {
      picked.forClient.push(name, raw[i + 1]!.toString('latin1'));
    } else if (name === 'content-encoding') {
      const value = raw[i + 1]!.toString('latin1').trim().toLowerCase();
      if (value !== '' && value !== 'identity') picked.contentEncoding = value;
    } else if (name.startsWith(RATELIMIT_PREFIX) || name === 'content-disposition') {
      picked.forClient.push(name, raw[i + 1]!.toString('latin1'));
    } else if (name === 'retry-after') {
      picked.retryAfter = raw[i + 1]!.toString('latin1');
      picked.forClient.push(name, picked.retryAfter);
    } else if (name === 'retry-after-ms') {
      picked.retryAfterMs = raw[i + 1]!.toString('latin1');
      picked.forClient.push(name, picked.retryAfterMs);
    } else if (name === requestIdHeader) {
      picked.forClient.push('x-upstream-request-id', raw[i + 1]!.toString('latin1'));
    }
  }
  return picked;
}

/**
 * Whether a header name may be one pickHeaders wants, judged by its first byte and length alone:
 * allow (5, with a provider's 405), content-type (12), content-encoding (16), content-disposition (19), retry-after (11),
 * retry-after-ms (14), x-ratelimit-* (more than 12), and the provider's request id header.
 */
function worthDecoding(name: Buffer, requestIdFirst: number, requestIdLength: number): boolean {
  const first = name[0]! | 0x20;
  const length = name.length;
  if (first === requestIdFirst && length === requestIdLength) return true;
  if (first === A) return length === 5;
  if (first === C) return length === 12 || length === 16 || length === 19;
  if (first === R) return length === 11 || length === 14;
  return first === X && length > 12;
}

/** The picked client headers as a record, for error answers. */
export function headerRecord(headers: PickedHeaders): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i < headers.forClient.length; i += 2) record[headers.forClient[i]!] = headers.forClient[i + 1]!;
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
