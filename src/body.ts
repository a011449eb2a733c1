// Request bodies: read within MAX_BODY_BYTES, JSON bodies checked as they arrive, and what a client
// still sends after its request was refused read and thrown away, so that it gets the answer.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from './errors.js';
import { JsonBodyError, JsonBodyScanner, SCAN_FROM_BYTES, parseBodyFacts, type BodyFacts } from './jsonbody.js';

/**
 * After refusing a request whose body is still arriving, the gateway reads and drops up to this
 * much more of it, for up to LINGER_MS, before closing the connection (as nginx's lingering close
 * does). Closing at once makes the client's kernel see a reset while it is still sending, and many
 * clients (Node's fetch among them) then report the reset instead of the answer.
 */
const LINGER_BYTES = 64 * 1024 * 1024;
const LINGER_MS = 10_000;

/**
 * A request body: one buffer, or, past SCAN_FROM_BYTES, the chunks it arrived in. Joining a large
 * body's chunks would hold the event loop for the copy (about 100 ms for 19 MiB, seen with eight
 * at once); undici sends a list of chunks as it is, and again on a retry.
 */
export type BodyBytes = Buffer | Buffer[];

/** The length in bytes of a body. */
export function bodyLength(body: BodyBytes): number {
  if (Buffer.isBuffer(body)) return body.length;
  let length = 0;
  for (const chunk of body) length += chunk.length;
  return length;
}

/**
 * A large body is sent upstream a slice at a time: on loopback and fast links a socket write is a
 * synchronous copy through the kernel, and undici writes an iterable's chunks one after another
 * without a turn of the event loop, so one 19 MiB body held every other client for about 700 ms.
 */
const SEND_SLICE_BYTES = 256 * 1024;

/** A large body's chunks as undici should send them, yielding to the event loop between slices; iterable again for each attempt. */
export function pacedBody(chunks: readonly Buffer[]): AsyncIterable<Buffer> {
  return {
    async *[Symbol.asyncIterator]() {
      let sliced = 0;
      for (const chunk of chunks) {
        yield chunk;
        sliced += chunk.length;
        if (sliced >= SEND_SLICE_BYTES) {
          sliced = 0;
          await new Promise(setImmediate);
        }
      }
    },
  };
}

/** Reads the request body, refusing (413) as soon as it is known to exceed `limit`. */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyBytes> {
  return collect(req, limit, undefined);
}

/**
 * Reads a JSON request body and the facts the request path needs from it. A large body is scanned
 * chunk by chunk as it arrives (and refused at its first fault), a small one parsed once whole.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limit: number,
  required: string,
  requiredBytes: Buffer,
): Promise<{ raw: BodyBytes; facts: BodyFacts }> {
  let scanner: JsonBodyScanner | undefined;
  const raw = await collect(req, limit, (chunks, size) => {
    if (scanner) scanner.push(chunks[chunks.length - 1]!);
    else if (size > SCAN_FROM_BYTES) {
      scanner = new JsonBodyScanner(requiredBytes);
      for (const chunk of chunks) scanner.push(chunk);
    }
  });
  try {
    return { raw, facts: scanner ? scanner.finish() : parseBodyFacts(raw as Buffer, required) };
  } catch (err) {
    throw invalidJson(err);
  }
}

function invalidJson(err: unknown): unknown {
  return err instanceof JsonBodyError ? new GatewayError(400, err.message, 'invalid_json') : err;
}

/**
 * Gathers the body's chunks; `onChunk` sees them as they arrive and may throw to refuse the body.
 * A refused body's remainder is drained (see LINGER_BYTES).
 */
function collect(
  req: IncomingMessage,
  limit: number,
  onChunk: ((chunks: Buffer[], size: number) => void) | undefined,
): Promise<BodyBytes> {
  const tooLarge = () =>
    new GatewayError(413, `Request body exceeds the limit of ${limit} bytes (MAX_BODY_BYTES).`, 'request_too_large');
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    drain(req);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const refuse = (err: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      chunks.length = 0;
      drain(req);
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        refuse(tooLarge());
        return;
      }
      chunks.push(chunk);
      if (onChunk === undefined) return;
      try {
        onChunk(chunks, size);
      } catch (err) {
        refuse(invalidJson(err));
      }
    };
    const onEnd = () => {
      if (chunks.length === 1) resolve(chunks[0]!);
      else resolve(size > SCAN_FROM_BYTES ? chunks : Buffer.concat(chunks, size));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    // Node reports a client that leaves mid-body as an 'error' (ECONNRESET, "aborted").
    req.on('error', () => {
      reject(new GatewayError(400, 'The client closed the connection before sending the whole body.', 'client_closed'));
    });
  });
}

/**
 * Reads and drops what remains of a refused request's body, so that the client can read the answer
 * before the connection closes; past LINGER_BYTES or LINGER_MS the connection is closed anyway.
 * When the body ends within those bounds, the connection stays open for the client's next request.
 */
function drain(req: IncomingMessage): void {
  if (req.complete) return;
  let dropped = 0;
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  const stop = () => clearTimeout(timer);
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) {
      stop();
      socket.destroy();
    }
  });
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
}

/** How long a lingering connection may stay quiet before it is closed: the client has stopped sending. */
const LINGER_QUIET_MS = 500;

/**
 * Writes a last answer on a connection Node can no longer parse, then reads and drops what the
 * client still sends (within LINGER_BYTES and LINGER_MS) before closing, so that a client still
 * sending reads the answer instead of a reset.
 */
export function lingeringEnd(socket: Socket, answer: string): void {
  // The parser failed: what follows is not HTTP to anyone, so its listeners go.
  socket.removeAllListeners('data');
  socket.removeAllListeners('timeout');
  socket.on('error', () => socket.destroy());
  socket.write(answer);
  let dropped = 0;
  const close = () => {
    clearTimeout(overall);
    clearTimeout(quiet);
    socket.end();
  };
  const overall = setTimeout(close, LINGER_MS);
  const quiet = setTimeout(close, LINGER_QUIET_MS);
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) socket.destroy();
    else quiet.refresh();
  });
  socket.once('close', () => {
    clearTimeout(overall);
    clearTimeout(quiet);
  });
  socket.resume();
}
