// Usage the gateway asked for on a client's behalf, and takes back out of the stream. A chat stream
// whose client did not set `stream_options.include_usage` is sent upstream with it, so that the
// gateway can count the answer's tokens; the provider then ends the stream with a usage-only chunk
// (`"choices":[]` and a `usage` object) and puts `"usage":null` in every other chunk
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options). The
// client is given its stream as it would have come without the option.
//
// Events are what is edited, so the filter holds the bytes of an event until its blank line ends
// it: its output never depends on how the provider's bytes were split. Chunks are whole events as
// providers send them, so most go through as they came, after one byte search for the usage key.
import type { BodyBytes } from './body.js';

/** The option the gateway adds to a client's chat stream request, as JSON members (with the comma after them). */
const INCLUDE_USAGE_MEMBER = Buffer.from('"stream_options":{"include_usage":true},');
const STREAM_OPTIONS_KEY = Buffer.from('"stream_options"');
const USAGE_KEY = Buffer.from('"usage"');
const CHOICES_KEY = Buffer.from('"choices"');
const NULL = Buffer.from('null');
const EMPTY = Buffer.alloc(0);
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/**
 * The body of a chat stream request with `"stream_options":{"include_usage":true}` added as its
 * first member, or undefined when the client sent `stream_options` itself (whatever it holds: the
 * client's choice stands). The body's bytes are not re-serialised: the member goes after its `{`.
 */
export function withUsageRequested(body: BodyBytes): BodyBytes | undefined {
  if (Buffer.isBuffer(body)) {
    if (body.indexOf(STREAM_OPTIONS_KEY) !== -1) return undefined;
    const open = body.indexOf(OPEN_BRACE);
    if (open === -1) return undefined;
    return Buffer.concat([body.subarray(0, open + 1), INCLUDE_USAGE_MEMBER, body.subarray(open + 1)]);
  }
  // A large body in pieces: the key is looked for in each piece and across each seam.
  const seam = STREAM_OPTIONS_KEY.length - 1;
  for (let i = 0; i < body.length; i++) {
    const piece = body[i]!;
    if (piece.indexOf(STREAM_OPTIONS_KEY) !== -1) return undefined;
    const next = body[i + 1];
    if (next !== undefined && Buffer.concat([piece.subarray(Math.max(0, piece.length - seam)), next.subarray(0, seam)]).indexOf(STREAM_OPTIONS_KEY) !== -1) return undefined;
  }
  for (let i = 0; i < body.length; i++) {
    const open = body[i]!.indexOf(OPEN_BRACE);
    if (open === -1) continue;
    const out = body.slice();
    out.splice(i, 1, body[i]!.subarray(0, open + 1), INCLUDE_USAGE_MEMBER, body[i]!.subarray(open + 1));
    return out;
  }
  return undefined;
}

/**
 * Takes the usage the client did not ask for out of a chat stream: the usage-only chunk is dropped
 * and `"usage":null` is removed from the others. Fed every chunk, it returns the bytes for the
 * client (whole events; an event cut by a chunk's end waits for its end).
 */
export class AddedUsageFilter {
  private pending: Buffer | undefined;

  constructor(
    /** An event longer than this is given up on and passed on as it is, so the held bytes stay bounded. */
    private readonly maxEventBytes: number,
  ) {}

  filter(chunk: Buffer): Buffer {
    let bytes = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    const end = eventsEnd(bytes);
    if (end < bytes.length) {
      if (bytes.length - end > this.maxEventBytes) return bytes;
      this.pending = Buffer.from(bytes.subarray(end));
      bytes = bytes.subarray(0, end);
    }
    return bytes.indexOf(USAGE_KEY) === -1 ? bytes : withoutAddedUsage(bytes);
  }

  /** What is left at the stream's end: an event the provider did not close with a blank line. */
  end(): Buffer {
    const rest = this.pending;
    this.pending = undefined;
    if (rest === undefined) return EMPTY;
    return rest.indexOf(USAGE_KEY) === -1 ? rest : withoutAddedUsage(rest);
  }
}

/** Past the last blank line (`\n\n`, `\r\n\r\n`) in `bytes`: where their whole events end; 0 when none does. */
function eventsEnd(bytes: Buffer): number {
  for (let i = bytes.lastIndexOf(LF); i > 0; i = bytes.lastIndexOf(LF, i - 1)) {
    if (bytes[i - 1] === LF || (bytes[i - 1] === CR && i > 1 && bytes[i - 2] === LF)) return i + 1;
  }
  return 0;
}

/** Whole events without the usage-only chunk and without `"usage":null` members. */
function withoutAddedUsage(bytes: Buffer): Buffer {
  const kept: Buffer[] = [];
  let from = 0;
  while (from < bytes.length) {
    let to = bytes.indexOf(LF, from);
    // An event runs to its blank line.
    while (to !== -1 && !(bytes[to + 1] === LF || (bytes[to + 1] === CR && bytes[to + 2] === LF))) to = bytes.indexOf(LF, to + 1);
    const end = to === -1 ? bytes.length : bytes[to + 1] === LF ? to + 2 : to + 3;
    const event = bytes.subarray(from, end);
    from = end;
    const usage = event.indexOf(USAGE_KEY);
    if (usage === -1) {
      kept.push(event);
      continue;
    }
    const value = skipSpace(event, skipSpace(event, usage + USAGE_KEY.length) + 1);
    if (event[value] === OPEN_BRACE) {
      if (!hasEmptyChoices(event)) kept.push(event);
      continue;
    }
    if (event.compare(NULL, 0, NULL.length, value, value + NULL.length) !== 0) {
      kept.push(event);
      continue;
    }
    // `"usage":null` goes with the comma before it, or else the one after it.
    const after = value + NULL.length;
    let start = usage;
    let stop = after;
    const before = skipSpaceBack(event, usage - 1);
    if (event[before] === COMMA) start = before;
    else {
      const next = skipSpace(event, after);
      if (event[next] === COMMA) stop = next + 1;
    }
    kept.push(event.subarray(0, start), event.subarray(stop));
  }
  return kept.length === 1 ? kept[0]! : Buffer.concat(kept);
}

/** Whether the event's `choices` is an empty array: the usage-only chunk. */
function hasEmptyChoices(event: Buffer): boolean {
  const at = event.indexOf(CHOICES_KEY);
  if (at === -1) return false;
  let i = skipSpace(event, at + CHOICES_KEY.length);
  if (event[i] !== COLON) return false;
  i = skipSpace(event, i + 1);
  if (event[i] !== OPEN_BRACKET) return false;
  return event[skipSpace(event, i + 1)] === CLOSE_BRACKET;
}

function skipSpace(bytes: Buffer, i: number): number {
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === LF || bytes[i] === CR)) i++;
  return i;
}

function skipSpaceBack(bytes: Buffer, i: number): number {
  while (i >= 0 && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === LF || bytes[i] === CR)) i--;
  return i;
}
