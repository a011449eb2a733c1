// The one writer of a client's response, and its commit point.
//
// Every attempt of a request (a retry, the next target of a route, a hedge running beside the
// first) writes through the request's sink, never to the response itself. An attempt claims the
// sink at its commit point: the first byte of a pass-through answer, the first content event of a
// translated one, or a whole answer ready to send. The first claim wins and from then on only its
// attempt writes; every later claim is refused, and that attempt ends unseen (a hedge that lost).
// Before the commit point a failure is the router's to retry or fail over; after it, the answer
// belongs to the client and a failure ends it with the API's own error event.
import type { ServerResponse } from 'node:http';
import type { OpenAIErrorBody } from './errors.js';
import type { Exchange } from './exchange.js';
import type { Pricing } from './observe/records.js';
import { sseErrorEvent } from './stream.js';

export class ClientSink {
  private owner: object | undefined = undefined;
  readonly res: ServerResponse;
  /** Called once, with the attempt that claimed the answer (a hedged route cancels the others). */
  onClaim: ((winner: object) => void) | undefined = undefined;

  constructor(
    readonly ex: Exchange,
    /** Prices answers for the cost header; undefined without a price table. */
    readonly pricing?: Pricing,
  ) {
    this.res = ex.res;
  }

  /** Some attempt has claimed the answer (or the response has begun otherwise). */
  get committed(): boolean {
    return this.owner !== undefined || this.res.headersSent;
  }

  /** Whether `attempt` may write: true for the first claimant, and for it alone, ever after. */
  claim(attempt: object): boolean {
    if (this.owner === undefined) {
      if (this.res.headersSent) return false;
      this.owner = attempt;
      this.onClaim?.(attempt);
      return true;
    }
    return this.owner === attempt;
  }

  head(status: number, headers: string[]): void {
    // The gateway key's remaining requests and tokens, from its admission.
    const limits = this.ex.limitHeaders;
    if (limits !== undefined) for (let i = 0; i < limits.length; i++) headers.push(limits[i]!);
    this.res.writeHead(status, headers);
  }

  /** False when the client has not taken what it was sent: wait for `onDrain`. */
  write(chunk: string | Buffer): boolean {
    return this.res.write(chunk);
  }

  end(chunk?: string | Buffer, encoding?: BufferEncoding): void {
    if (chunk === undefined) this.res.end();
    else if (encoding === undefined) this.res.end(chunk);
    else this.res.end(chunk, encoding);
  }

  /** Ends an answer already begun with the client's API's error event (a stream cut short). */
  endWithError(status: number, error: OpenAIErrorBody): void {
    this.ex.errorMessage = error.message;
    this.res.end(streamErrorEvent(this.ex, status, error));
  }

  /** Closes the connection mid-answer: a JSON body cannot carry an error after its start. */
  cut(): void {
    this.ex.cutByGateway = true;
    this.res.destroy();
  }

  onceDrain(listener: () => void): void {
    this.res.once('drain', listener);
  }

  offDrain(listener: () => void): void {
    this.res.off('drain', listener);
  }
}

/** A failure after a stream began, as an error event of the API the client speaks. */
export function streamErrorEvent(ex: Exchange, status: number, error: OpenAIErrorBody): string {
  return ex.api === undefined ? sseErrorEvent(error) : ex.api.errorEvent(status, error);
}
