// The record of the last requests (RECORD_REQUESTS, off by default): what an operator reads at
// GET /debug/requests to find out why a client failed, without a recording proxy of their own.
// One bounded ring per gateway. Every credential is taken out when a request is recorded, not when
// the record is read, so that the ring never holds one: credential headers by name, the request's
// credentials by value wherever they appear (bodies, answers, errors), and whatever the gateway's
// redaction recognises (configured keys, key shapes, credential names).
//
// Off, the request path pays nothing: the server uses Node's own ServerResponse and never calls
// in here.
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { bodyLength, type BodyBytes } from './body.js';
import { credentialOf } from './errors.js';
import type { Exchange } from './exchange.js';
import { isOperatorPath } from './operator.js';
import { REDACTION_CENSOR, redactCredentials, type Redactor } from './redact.js';

/** Where an operator reads the record. */
export const RECORD_PATH = '/debug/requests';

/**
 * Bytes read past the cap before redaction: a credential that straddles the cap is still seen
 * whole (by value or by shape) and redacted, and only then is the text cut.
 */
const SCAN_MARGIN_BYTES = 4 * 1024;

/** Headers that carry a credential, whatever their value looks like. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
]);
/** Bedrock's clients send their AWS credentials in x-aws-* headers. */
const AWS_HEADER_PREFIX = 'x-aws-';
/** Any other header or query parameter whose name says it holds a credential. */
const CREDENTIAL_NAME = /key|token|secret|auth|cookie|passw|signature|credential/i;

/** Whether a header or query parameter of this name holds a credential, and is never recorded. */
export function isCredentialName(name: string): boolean {
  const lower = name.toLowerCase();
  return CREDENTIAL_HEADERS.has(lower) || lower.startsWith(AWS_HEADER_PREFIX) || CREDENTIAL_NAME.test(lower);
}

/** What a response that keeps its first bytes holds (see recordingResponse). */
interface AnswerCapture {
  /** The first bytes written, up to the cap and its margin; undefined when nothing was written. */
  readonly answerHead: Buffer | undefined;
  readonly answerKept: number;
  /** Every byte written to the client, counted. */
  readonly answerBytes: number;
}

/**
 * A ServerResponse that keeps the first `keepBytes` of what is written to the client, whoever
 * writes it (a stream's chunks, a buffered answer, a gateway error), and counts the rest. Used
 * only when recording is on.
 */
export function recordingResponse(keepBytes: number): typeof ServerResponse {
  return class RecordingResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> implements AnswerCapture {
    answerHead: Buffer | undefined = undefined;
    answerKept = 0;
    answerBytes = 0;

    // `any`, as Node's own overloads type the chunk: one signature covers them all.
    override write(chunk: any, encoding?: any, callback?: any): boolean {
      this.keep(chunk, encoding);
      return super.write(chunk, encoding, callback);
    }

    override end(chunk?: any, encoding?: any, callback?: any): this {
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') this.keep(chunk, encoding);
      return super.end(chunk, encoding, callback);
    }

    private keep(chunk: string | Uint8Array, encoding: unknown): void {
      const textEncoding = typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8';
      this.answerBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, textEncoding) : chunk.byteLength;
      if (this.answerKept >= keepBytes) return;
      this.answerHead ??= Buffer.allocUnsafe(keepBytes);
      // Buffer.write stops at the buffer's end, and writes no partial character.
      this.answerKept +=
        typeof chunk === 'string'
          ? this.answerHead.write(chunk, this.answerKept, textEncoding)
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).copy(this.answerHead, this.answerKept);
    }
  };
}

/** A recorded body: its whole length, and its start, redacted. */
interface RecordedBody {
  readonly bytes: number;
  readonly text: string;
  readonly truncated: boolean;
}

/**
 * The last `capacity` requests, in a ring: the oldest is overwritten. Kept as objects, turned into
 * JSON when read: JSON text could be several times the size of the bodies it escapes.
 */
export class RequestRecorder {
  private readonly entries: object[] = [];
  private next = 0;
  /** The response class that keeps each answer's first bytes, for createServer. */
  readonly responseClass: typeof ServerResponse;

  constructor(
    readonly capacity: number,
    /** How much of each body and answer is kept (RECORD_BODY_BYTES). */
    private readonly bodyBytes: number,
    /** The gateway's configured secrets, redacted by value too. */
    private secrets: readonly string[] = [],
  ) {
    this.responseClass = recordingResponse(bodyBytes + SCAN_MARGIN_BYTES);
  }

  /** Records a finished exchange; health checks and reads of the record itself are left out. */
  /** The secrets to redact from now on (a reload may configure others). */
  useSecrets(secrets: readonly string[]): void {
    this.secrets = secrets;
  }

  add(ex: Exchange): void {
    if (isOperatorPath(ex.path)) return;
    const credentials = requestCredentials(ex.req);
    const redact: Redactor = (text) => redactCredentials(text, credentials, this.secrets);
    const now = performance.now();
    const answer = ex.res as unknown as AnswerCapture;
    const entry = {
      time: new Date(Date.now() - (now - ex.startedAt)).toISOString(),
      id: ex.id,
      method: ex.req.method,
      // Without its query string: a Gemini client may put its key there.
      path: redact(ex.path),
      api: ex.api?.name ?? 'openai',
      provider: ex.provider?.name,
      model: ex.clientModel === undefined ? undefined : { asked: ex.clientModel, sent: ex.model },
      status: ex.clientGone ? 499 : ex.status,
      upstreamStatus: ex.upstreamStatus === 0 ? undefined : ex.upstreamStatus,
      stream: ex.stream,
      durationMs: Math.round((now - ex.startedAt) * 1000) / 1000,
      ttfbMs: ex.firstByteMs === undefined ? undefined : Math.round(ex.firstByteMs * 1000) / 1000,
      retries: ex.retries,
      headers: recordedHeaders(ex.req.headers, redact),
      body: ex.body === null ? undefined : this.recordedBody(bodyHead(ex.body, this.bodyBytes + SCAN_MARGIN_BYTES), bodyLength(ex.body), redact),
      answer:
        answer.answerHead === undefined
          ? undefined
          : this.recordedBody(answer.answerHead.subarray(0, answer.answerKept), answer.answerBytes, redact),
      error: ex.errorMessage === undefined ? undefined : redact(ex.errorMessage),
    };
    this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
  }

  /** The record as GET /debug/requests answers it: the newest `limit` requests, newest first. */
  json(limit: number): string {
    const requests: object[] = [];
    const held = this.entries.length;
    for (let i = 1; i <= Math.min(limit, held); i++) requests.push(this.entries[(this.next - i + held) % held]!);
    return JSON.stringify({ capacity: this.capacity, bodyBytes: this.bodyBytes, requests });
  }

  /** A body's start, redacted with the margin after it, then cut to the cap. */
  private recordedBody(head: Buffer, bytes: number, redact: Redactor): RecordedBody {
    let text = redact(head.toString('utf8'));
    if (Buffer.byteLength(text) > this.bodyBytes) text = Buffer.from(text).subarray(0, this.bodyBytes).toString('utf8');
    return { bytes, text, truncated: bytes > this.bodyBytes };
  }
}

/** The request's headers, credential headers as [REDACTED], the others redacted. */
function recordedHeaders(headers: IncomingHttpHeaders, redact: Redactor): Record<string, string | string[]> {
  const recorded: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    recorded[name] = isCredentialName(name) ? REDACTION_CENSOR : Array.isArray(value) ? value.map(redact) : redact(value);
  }
  return recorded;
}

/**
 * Every credential value the request carried, to redact by value wherever it appears: the values
 * of its credential headers (and an Authorization's part after the scheme), and of its query's
 * credential parameters (a Gemini client's `?key=`).
 */
export function requestCredentials(req: IncomingMessage): string[] {
  const credentials: string[] = [];
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || !isCredentialName(name)) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      const trimmed = item.trim();
      credentials.push(trimmed);
      const secret = credentialOf(trimmed);
      if (secret !== trimmed) credentials.push(secret);
    }
  }
  const url = req.url ?? '';
  const queryAt = url.indexOf('?');
  if (queryAt !== -1) {
    for (const [name, value] of new URLSearchParams(url.slice(queryAt + 1))) if (isCredentialName(name)) credentials.push(value);
  }
  // Longest first: a credential that holds another (a header's whole value, its part after the
  // scheme) is redacted whole, not around the shorter one.
  return credentials.sort((a, b) => b.length - a.length);
}

/** The first `max` bytes of a body, for its redacted text (the ring keeps only that). */
function bodyHead(body: BodyBytes, max: number): Buffer {
  if (Buffer.isBuffer(body)) return body.subarray(0, max);
  const head = Buffer.allocUnsafe(Math.min(max, bodyLength(body)));
  let filled = 0;
  for (const chunk of body) {
    if (filled >= head.length) break;
    filled += chunk.copy(head, filled);
  }
  return head;
}
