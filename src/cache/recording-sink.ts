// A cache miss: the client's sink, keeping a copy of what the client is sent. The attempts write
// through it as through any sink; the cache reads the copy once the run is over, and keeps it only
// if the answer ended whole (end(), never endWithError() or cut()) within the entry's bound.
import type { Exchange } from '../exchange.js';
import type { OpenAIErrorBody } from '../errors.js';
import type { Pricing } from '../observe/records.js';
import { ClientSink } from '../sink.js';

/** Marks every answer of a route with a cache: hit, or miss. */
export const CACHE_HEADER = 'x-gateway-cache';

/**
 * The headers a replay needs, because they describe the body: its type, a stream's no-cache, an
 * attachment's name, the fields a translation left out. Request ids, rate limits and timings are
 * the request's own and are made afresh for each answer.
 */
const KEPT_HEADERS: ReadonlySet<string> = new Set(['content-type', 'cache-control', 'content-disposition', 'x-gateway-dropped-params']);
const NO_CHUNKS: Buffer[] = [];

/**
 * The bytes of answers being copied for the cache at once, across a gateway's requests: bounded
 * (CACHE_MAX_BYTES), so that many large answers in flight hold no more than the cache itself may.
 * An answer that would pass the bound is served and not kept.
 */
export class RecordingBudget {
  held = 0;

  constructor(readonly maxBytes: number) {}
}

export class RecordingSink extends ClientSink {
  status = 0;
  readonly headers: string[] = [];
  /** The answer's bytes as sent, while within the bound. */
  chunks: Buffer[] = [];
  size = 0;
  /** The answer ended as a whole: end() was called, and neither endWithError() nor cut(). */
  complete = false;
  /** Not to be kept: too large, compressed, or ended by an error. */
  spoiled = false;
  /** Bytes of the copy counted in the budget, given back by release(). */
  private counted = 0;

  constructor(
    ex: Exchange,
    pricing: Pricing | undefined,
    /** Bytes beyond which the copy is dropped; 0 keeps nothing (a request that said no-store). */
    private readonly maxBytes: number,
    /** Shared by the copies in flight; none for a sink that keeps nothing. */
    private readonly budget?: RecordingBudget,
  ) {
    super(ex, pricing);
    if (maxBytes === 0) this.spoil();
  }

  override head(status: number, headers: string[]): void {
    if (!this.spoiled) {
      this.status = status;
      for (let i = 0; i + 1 < headers.length; i += 2) {
        const name = headers[i]!;
        if (KEPT_HEADERS.has(name)) this.headers.push(name, headers[i + 1]!);
        // Bytes in an encoding the gateway did not decode: not replayed to a client that may not take it.
        else if (name === 'content-encoding') this.spoil();
      }
    }
    headers.push(CACHE_HEADER, 'miss');
    super.head(status, headers);
  }

  override write(chunk: string | Buffer): boolean {
    if (!this.spoiled) this.keep(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return super.write(chunk);
  }

  override end(chunk?: string | Buffer, encoding?: BufferEncoding): void {
    if (!this.spoiled && chunk !== undefined) this.keep(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk);
    this.complete = true;
    super.end(chunk, encoding);
  }

  override endWithError(status: number, error: OpenAIErrorBody): void {
    this.spoil();
    super.endWithError(status, error);
  }

  override cut(): void {
    this.spoil();
    super.cut();
  }

  /** The body as sent. */
  body(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
  }

  /** Gives the copy's bytes back to the budget: once the answer is kept or dropped. */
  release(): void {
    if (this.budget !== undefined) this.budget.held -= this.counted;
    this.counted = 0;
  }

  private keep(chunk: Buffer): void {
    const n = chunk.length;
    this.size += n;
    const budget = this.budget;
    if (this.size > this.maxBytes || (budget !== undefined && budget.held + n > budget.maxBytes)) {
      this.spoil();
      return;
    }
    if (budget !== undefined) {
      budget.held += n;
      this.counted += n;
    }
    // Kept without a copy: undici's chunks are views of socket reads that are never reused (the
    // attempt keeps a whole answer's chunks the same way).
    this.chunks.push(chunk);
  }

  private spoil(): void {
    this.spoiled = true;
    this.chunks = NO_CHUNKS;
    this.release();
  }
}
