// A cached answer as the store keeps it: its status, the headers the client needs, and the body's
// bytes exactly as the client received them (already in the client's API, so a replay translates
// nothing). Laid out as a 4-byte length, that many bytes of JSON (status and headers), then the body.

export interface CachedAnswer {
  readonly status: number;
  /** [name, value, ...]: what describes the body (content-type), never a request id or a rate limit. */
  readonly headers: readonly string[];
  readonly body: Buffer;
}

const LENGTH_BYTES = 4;

export function encodeAnswer(answer: CachedAnswer): Buffer {
  const head = Buffer.from(JSON.stringify([answer.status, answer.headers]));
  const out = Buffer.allocUnsafe(LENGTH_BYTES + head.length + answer.body.length);
  out.writeUInt32BE(head.length, 0);
  head.copy(out, LENGTH_BYTES);
  answer.body.copy(out, LENGTH_BYTES + head.length);
  return out;
}

/** The answer, or undefined for bytes not laid out as encodeAnswer writes them (read as a miss). */
export function decodeAnswer(bytes: Buffer): CachedAnswer | undefined {
  if (bytes.length < LENGTH_BYTES) return undefined;
  const headLength = bytes.readUInt32BE(0);
  if (LENGTH_BYTES + headLength > bytes.length) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(bytes.toString('utf8', LENGTH_BYTES, LENGTH_BYTES + headLength));
  } catch {
    return undefined;
  }
  if (!Array.isArray(head) || typeof head[0] !== 'number' || !Array.isArray(head[1]) || !head[1].every((item) => typeof item === 'string')) return undefined;
  return { status: head[0], headers: head[1] as string[], body: bytes.subarray(LENGTH_BYTES + headLength) };
}
