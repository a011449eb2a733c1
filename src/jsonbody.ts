// Reads what the request path needs from a JSON request body (`model`, `stream`, and the type of
// the route's required field) without building the body's tree, fed chunk by chunk as the body
// arrives. A pass-through request forwards the client's bytes, so the tree JSON.parse would build
// is thrown away; on a large body of tiny objects it is also what made one request stall every
// other client for seconds and hold gigabytes. Fed as it arrives, no step here costs more than
// one network chunk's worth of bytes.
//
// Hand-written because no JSON library both validates and skips values without materialising
// them, incrementally. It accepts exactly what JSON.parse accepts on the UTF-8 text of the body
// (test/jsonbody.test.ts checks the two against each other), with one addition: nesting is
// bounded (MAX_DEPTH).

/**
 * Bodies up to this size are parsed whole by JSON.parse once they have arrived: native parsing is
 * the faster for them (about 1 µs for a small chat, 15 µs for 32 KB, against 1 µs and 30 µs
 * scanned here), and even a body of tiny objects this size holds the event loop for only a few
 * milliseconds. Larger bodies are scanned chunk by chunk as they arrive.
 */
export const SCAN_FROM_BYTES = 64 * 1024;

/** Nesting deeper than this is refused; real requests (tool schemas included) stay far below. */
export const MAX_DEPTH = 512;
/**
 * Top-level keys longer than this (in bytes, escapes included) cannot be one the gateway reads:
 * `"\u006d\u006f..."` spells `messages` in 48 bytes.
 */
const MAX_KEY_BYTES = 64;
/** The model's JSON text is read up to this many bytes; longer ones are reported as too long. */
const MAX_MODEL_BYTES = 2_048;

/** The JSON type of a value, as seen from its first byte. */
export type JsonType = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export interface BodyFacts {
  /** The type of the last top-level `model` value, undefined when there is none. */
  modelType: JsonType | undefined;
  /** The model name, when `model` is a string no longer than the scanner reads. */
  model: string | undefined;
  /** `model` is a string too long to be a model name. */
  modelTooLong: boolean;
  /** Byte offsets of the last `model` string token, quotes included: the bytes to replace on a rewrite. */
  modelStart: number;
  modelEnd: number;
  /** The last top-level `stream` is the literal `true`. */
  stream: boolean;
  /** The type of the last top-level value of the field the scanner was asked about. */
  requiredType: JsonType | undefined;
  /**
   * How many JSON values the body holds (containers included), counted for a scanned body; 0 for
   * one parsed whole, which is too small (SCAN_FROM_BYTES) for its count to matter.
   */
  values: number;
  /**
   * The output bound the body declares (`max_completion_tokens`, `max_tokens`, `max_output_tokens`,
   * or, in a body parsed whole, Gemini's `generationConfig.maxOutputTokens`), as a whole number of
   * tokens; null when it declares none.
   */
  maxTokens: number | null;
}

/** Why a body is refused: the message says what is wrong and where. */
export class JsonBodyError extends Error {
  override name = 'JsonBodyError';
  constructor(
    message: string,
    /** The body is JSON, but not an object. */
    readonly notAnObject = false,
  ) {
    super(message);
  }
}

// Scanner states.
const enum S {
  Start, // before the top-level value
  Value, // a value is expected (after ':' or ',' in an array)
  ArrayFirst, // after '[': a value or ']'
  ObjectFirst, // after '{': a key or '}'
  Key, // after ',' in an object: a key
  Colon, // after a key
  After, // after a value: ',' or the container's close, or the end at depth 0
  String,
  Escape, // after '\'
  Unicode, // inside \uXXXX
  Minus, // after '-'
  Zero, // after a leading '0'
  Integer, // in the integer digits
  Dot, // after '.'
  Fraction, // in the fraction digits
  Exponent, // after 'e' / 'E'
  ExponentSign, // after the exponent's sign
  ExponentDigits,
  Literal, // in true / false / null
  Done, // after the top-level value: only whitespace
}

// What the string being scanned is, for the few strings the scanner reads.
const enum Role {
  Other,
  TopKey,
  Model,
}

// What the value after a top-level key means to the gateway.
const enum Field {
  None,
  Model,
  Stream,
  Required,
  // The output bounds, in the order the first one declared counts (OUTPUT_BOUND_FIELDS).
  MaxCompletionTokens,
  MaxTokens,
  MaxOutputTokens,
}

/** The longest number an output bound is read from (`64.000…` may run long and still be whole); a longer one declares none. */
const MAX_BOUND_CHARS = 1_024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const NO_PARTS: Buffer[] = [];
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');
const MODEL = Buffer.from('model');
const STREAM = Buffer.from('stream');
const MAX_COMPLETION_TOKENS = Buffer.from('max_completion_tokens');
const MAX_TOKENS = Buffer.from('max_tokens');
const MAX_OUTPUT_TOKENS = Buffer.from('max_output_tokens');

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function isDigit(b: number): boolean {
  return b >= ZERO && b <= NINE;
}

function isHex(b: number): boolean {
  return (b >= ZERO && b <= NINE) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66);
}

/** Bytes that may stand in a string as they are: not a quote, a backslash or a control character. */
const PLAIN = new Uint8Array(256).fill(1, 0x20);
PLAIN[QUOTE] = 0;
PLAIN[BACKSLASH] = 0;

/** Escapes that may follow a backslash: " \ / b f n r t u. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

function typeOf(first: number): JsonType {
  if (first === OPEN_BRACE) return 'object';
  if (first === OPEN_BRACKET) return 'array';
  if (first === QUOTE) return 'string';
  if (first === 0x74 || first === 0x66) return 'boolean';
  if (first === 0x6e) return 'null';
  return 'number';
}

/**
 * A scanner for one body. push() each chunk as it arrives, then finish(); either throws
 * JsonBodyError for a body JSON.parse would refuse (or one nested deeper than MAX_DEPTH).
 */
export class JsonBodyScanner implements BodyFacts {
  private state = S.Start;
  /** One byte per open container: 1 for an object, 0 for an array. */
  private readonly containers: number[] = [];
  private depth = 0;
  /** Bytes of the chunks before the current one. */
  private offset = 0;
  private literal: Buffer = TRUE;
  private literalAt = 0;
  private unicodeLeft = 0;
  /** The string being scanned is an object's key. */
  private inKey = false;

  private role = Role.Other;
  /** The string being read (a top-level key or the model): its parts in earlier chunks... */
  private parts = NO_PARTS;
  private partsBytes = 0;
  /** ...and where it starts in the current chunk (after the opening quote). */
  private captureFrom = 0;
  private captureTooLong = false;
  private captureEscaped = false;
  private tokenStart = 0;

  private field = Field.None;

  modelType: JsonType | undefined = undefined;
  model: string | undefined = undefined;
  modelTooLong = false;
  modelStart = -1;
  modelEnd = -1;
  stream = false;
  requiredType: JsonType | undefined = undefined;
  /** Set by finish(), from `bounds`. */
  maxTokens: number | null = null;
  values = 0;

  /** The top-level output bounds read so far, by Field (a later duplicate key replaces one, as in JSON.parse). */
  private readonly bounds: (number | undefined)[] = [];
  /** The output bound whose number is being read: its text in earlier chunks, and where it starts in this one. */
  private boundField = Field.None;
  private boundText = '';
  private boundFrom = 0;

  /** @param required the name (as bytes) of a top-level field whose value's type the caller wants */
  constructor(private readonly required: Buffer) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let state = this.state;
    let i = 0;
    while (i < n) {
      let b = chunk[i]!;
      switch (state) {
        case S.String: {
          // The hot loop: most of a body is string content.
          while (PLAIN[b] === 1) {
            if (++i === n) break;
            b = chunk[i]!;
          }
          if (i === n) break;
          if (b === QUOTE) {
            i++;
            state = this.inKey ? S.Colon : S.After;
            this.inKey = false;
            if (this.role !== Role.Other) state = this.endString(chunk, i - 1, state);
            continue;
          }
          if (b === BACKSLASH) {
            this.captureEscaped = true;
            state = S.Escape;
            i++;
            continue;
          }
          throw this.error(chunk, i, 'a control character inside a string');
        }
        case S.Escape:
          if (b === 0x75) {
            state = S.Unicode;
            this.unicodeLeft = 4;
          } else if (SIMPLE_ESCAPE[b] === 1) state = S.String;
          else throw this.error(chunk, i, 'an invalid escape in a string');
          i++;
          continue;
        case S.Unicode:
          if (!isHex(b)) throw this.error(chunk, i, 'an invalid \\u escape in a string');
          if (--this.unicodeLeft === 0) state = S.String;
          i++;
          continue;
        case S.After:
          if (isSpace(b)) break;
          if (b === COMMA) {
            state = this.containers[this.depth - 1] === 1 ? S.Key : S.Value;
            this.field = Field.None;
            break;
          }
          if (b === (this.containers[this.depth - 1] === 1 ? CLOSE_BRACE : CLOSE_BRACKET)) {
            state = --this.depth === 0 ? S.Done : S.After;
            break;
          }
          throw this.error(chunk, i, this.containers[this.depth - 1] === 1 ? "',' or '}'" : "',' or ']'");
        case S.Value:
        case S.Start:
        case S.ArrayFirst:
          if (isSpace(b)) break;
          if (state === S.ArrayFirst && b === CLOSE_BRACKET) {
            state = --this.depth === 0 ? S.Done : S.After;
            break;
          }
          if (state === S.Start && b !== OPEN_BRACE) {
            throw new JsonBodyError('Request body must be a JSON object.', true);
          }
          state = this.startValue(chunk, i, b);
          break;
        case S.ObjectFirst:
        case S.Key:
          if (isSpace(b)) break;
          if (state === S.ObjectFirst && b === CLOSE_BRACE) {
            state = --this.depth === 0 ? S.Done : S.After;
            break;
          }
          if (b !== QUOTE) throw this.error(chunk, i, state === S.ObjectFirst ? "a key or '}'" : 'a key');
          if (this.depth === 1) this.startCapture(i, Role.TopKey);
          this.inKey = true;
          state = S.String;
          break;
        case S.Colon:
          if (isSpace(b)) break;
          if (b !== COLON) throw this.error(chunk, i, "':'");
          state = S.Value;
          break;
        case S.Minus:
          if (b === ZERO) state = S.Zero;
          else if (isDigit(b)) state = S.Integer;
          else throw this.error(chunk, i, 'a digit');
          break;
        case S.Zero:
        case S.Integer:
        case S.Fraction:
        case S.ExponentDigits:
          if (isDigit(b) && state !== S.Zero) break;
          if (b === DOT && (state === S.Zero || state === S.Integer)) {
            state = S.Dot;
            break;
          }
          if ((b | 0x20) === 0x65 && state !== S.ExponentDigits) {
            state = S.Exponent;
            break;
          }
          // The number ends here; this byte belongs to what follows it.
          if (this.boundField !== Field.None) this.endBound(chunk, i);
          state = this.depth === 0 ? S.Done : S.After;
          continue;
        case S.Dot:
          if (!isDigit(b)) throw this.error(chunk, i, 'a digit');
          state = S.Fraction;
          break;
        case S.Exponent:
          if (b === PLUS || b === MINUS) state = S.ExponentSign;
          else if (isDigit(b)) state = S.ExponentDigits;
          else throw this.error(chunk, i, 'a digit');
          break;
        case S.ExponentSign:
          if (!isDigit(b)) throw this.error(chunk, i, 'a digit');
          state = S.ExponentDigits;
          break;
        case S.Literal:
          if (b !== this.literal[this.literalAt]) throw this.error(chunk, i, `"${this.literal.toString()}"`);
          if (++this.literalAt === this.literal.length) state = this.depth === 0 ? S.Done : S.After;
          break;
        case S.Done:
          if (!isSpace(b)) throw this.error(chunk, i, 'the end of the body');
          break;
      }
      i++;
    }
    if (this.role !== Role.Other && (state === S.String || state === S.Escape || state === S.Unicode)) {
      this.keepPart(chunk, this.captureFrom, n);
      this.captureFrom = 0;
    }
    // An output bound's number goes on past this chunk: its text so far is kept (bounded).
    if (this.boundField !== Field.None) this.keepBound(chunk, n);
    this.state = state;
    this.offset += n;
  }

  /** The facts of a complete body; throws when it ends before its top-level value does. */
  finish(): BodyFacts {
    // The top-level value is an object, so a complete body always ends in Done.
    if (this.state !== S.Done) {
      throw new JsonBodyError(
        this.state === S.Start
          ? 'Request body is not valid JSON: the body is empty.'
          : `Request body is not valid JSON: it ends at byte ${this.offset} before the JSON does.`,
      );
    }
    const bounds = this.bounds;
    this.maxTokens = bounds[Field.MaxCompletionTokens] ?? bounds[Field.MaxTokens] ?? bounds[Field.MaxOutputTokens] ?? null;
    return this;
  }

  /** An output bound's number ended at chunk[end]: kept when it is a whole number of tokens, as a parsed body's is. */
  private endBound(chunk: Buffer, end: number): void {
    this.keepBound(chunk, end);
    if (this.boundField !== Field.None) {
      const value = Number(this.boundText);
      this.bounds[this.boundField] = Number.isSafeInteger(value) && value >= 0 ? value : undefined;
    }
    this.boundField = Field.None;
    this.boundText = '';
  }

  /** Adds chunk[boundFrom, end) to the bound's text; one longer than MAX_BOUND_CHARS is no safe integer, and is dropped. */
  private keepBound(chunk: Buffer, end: number): void {
    if (this.boundText.length + (end - this.boundFrom) > MAX_BOUND_CHARS) this.boundField = Field.None;
    else this.boundText += chunk.toString('latin1', this.boundFrom, end);
    this.boundFrom = 0;
  }

  /** The first byte of a value at chunk[i]; returns the state that reads the rest of it. */
  private startValue(chunk: Buffer, i: number, b: number): S {
    this.values++;
    if (this.depth === 1 && this.field !== Field.None) this.noteField(i, b);
    if (b === QUOTE) return S.String;
    if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (this.depth === MAX_DEPTH) {
        throw new JsonBodyError(`Request body is nested deeper than ${MAX_DEPTH} levels.`);
      }
      this.containers[this.depth++] = b === OPEN_BRACE ? 1 : 0;
      return b === OPEN_BRACE ? S.ObjectFirst : S.ArrayFirst;
    }
    if (b === MINUS) return S.Minus;
    if (b === ZERO) return S.Zero;
    if (isDigit(b)) return S.Integer;
    const literal = b === 0x74 ? TRUE : b === 0x66 ? FALSE : b === 0x6e ? NULL : undefined;
    if (!literal) throw this.error(chunk, i, 'a value');
    this.literal = literal;
    this.literalAt = 1;
    return S.Literal;
  }

  /** A top-level value of a field the gateway reads begins at chunk[i]. */
  private noteField(i: number, b: number): void {
    const type = typeOf(b);
    switch (this.field) {
      case Field.Model:
        this.modelType = type;
        this.model = undefined;
        this.modelTooLong = false;
        this.modelStart = this.modelEnd = -1;
        if (type === 'string') this.startCapture(i, Role.Model);
        break;
      case Field.Stream:
        // `true` is the only literal that starts with 't'.
        this.stream = b === 0x74;
        break;
      case Field.Required:
        this.requiredType = type;
        break;
      default:
        // An output bound: a number is read as it goes by; any other value declares none.
        this.bounds[this.field] = undefined;
        if (type === 'number') {
          // Read where it lies when the number ends (endBound), as a string token is.
          this.boundField = this.field;
          this.boundFrom = i;
          this.boundText = '';
        }
    }
    this.field = Field.None;
  }

  private startCapture(quoteAt: number, role: Role): void {
    this.role = role;
    this.captureFrom = quoteAt + 1;
    this.captureTooLong = false;
    this.captureEscaped = false;
    this.tokenStart = this.offset + quoteAt;
  }

  /** A string being read goes on past this chunk: keep its part (a copy: the chunk may be reused). */
  private keepPart(chunk: Buffer, from: number, to: number): void {
    if (this.captureTooLong) return;
    const limit = this.role === Role.Model ? MAX_MODEL_BYTES : MAX_KEY_BYTES;
    if (this.partsBytes + (to - from) > limit) {
      this.captureTooLong = true;
      this.parts = NO_PARTS;
      this.partsBytes = 0;
      return;
    }
    if (this.parts === NO_PARTS) this.parts = [];
    this.parts.push(Buffer.from(chunk.subarray(from, to)));
    this.partsBytes += to - from;
  }

  /** The closing quote of a string the scanner reads is at chunk[quoteAt]. */
  private endString(chunk: Buffer, quoteAt: number, next: S): S {
    const role = this.role;
    this.role = Role.Other;
    let bytes: Buffer | undefined;
    if (this.parts === NO_PARTS) {
      // The usual case: the whole string is in this chunk, and is read where it lies.
      const limit = role === Role.Model ? MAX_MODEL_BYTES : MAX_KEY_BYTES;
      if (!this.captureTooLong && quoteAt - this.captureFrom <= limit) bytes = chunk.subarray(this.captureFrom, quoteAt);
    } else {
      this.keepPart(chunk, this.captureFrom, quoteAt);
      if (!this.captureTooLong) bytes = Buffer.concat(this.parts, this.partsBytes);
      this.parts = NO_PARTS;
      this.partsBytes = 0;
    }
    if (role === Role.TopKey) {
      this.field = bytes === undefined ? Field.None : this.fieldOf(bytes);
      return S.Colon;
    }
    this.modelStart = this.tokenStart;
    this.modelEnd = this.offset + quoteAt + 1;
    this.modelTooLong = bytes === undefined;
    this.model = bytes === undefined ? undefined : this.decode(bytes);
    return next;
  }

  private fieldOf(key: Buffer): Field {
    const name = this.captureEscaped ? Buffer.from(this.decode(key)) : key;
    if (name.equals(MODEL)) return Field.Model;
    if (name.equals(STREAM)) return Field.Stream;
    if (name.equals(this.required)) return Field.Required;
    if (name.equals(MAX_TOKENS)) return Field.MaxTokens;
    if (name.equals(MAX_COMPLETION_TOKENS)) return Field.MaxCompletionTokens;
    if (name.equals(MAX_OUTPUT_TOKENS)) return Field.MaxOutputTokens;
    return Field.None;
  }

  /** The text of a string token's content (without quotes), as JSON.parse would give it. */
  private decode(content: Buffer): string {
    if (!this.captureEscaped) return content.toString('utf8');
    return JSON.parse(`"${content.toString('utf8')}"`) as string;
  }

  private error(chunk: Buffer, i: number, expected: string): JsonBodyError {
    const b = chunk[i]!;
    const found = b >= 0x21 && b <= 0x7e ? `'${String.fromCharCode(b)}'` : `byte 0x${b.toString(16).padStart(2, '0')}`;
    return new JsonBodyError(
      `Request body is not valid JSON: expected ${expected} at byte ${this.offset + i}, found ${found}.`,
    );
  }
}

/** The facts of a whole body of at most SCAN_FROM_BYTES, read by JSON.parse. */
export function parseBodyFacts(raw: Buffer, required: string): BodyFacts {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new JsonBodyError(`Request body is not valid JSON: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new JsonBodyError('Request body must be a JSON object.', true);
  }
  // Each level opens and closes with a byte of its own: a shorter body cannot nest deeper.
  if (raw.length >= 2 * (MAX_DEPTH + 1) && nestedDeeperThan(json, MAX_DEPTH)) throw new JsonBodyError(`Request body is nested deeper than ${MAX_DEPTH} levels.`);
  const body = json as Record<string, unknown>;
  // Own properties only: a body's "__proto__" key is data, as it is to the provider.
  const model = Object.hasOwn(body, 'model') ? body.model : undefined;
  const requiredValue = Object.hasOwn(body, required) ? body[required] : undefined;
  return {
    modelType: jsonTypeOf(model),
    model: typeof model === 'string' && model.length <= MAX_MODEL_BYTES ? model : undefined,
    modelTooLong: typeof model === 'string' && model.length > MAX_MODEL_BYTES,
    // Found by scanning, only when the model is rewritten (modelToken).
    modelStart: -1,
    modelEnd: -1,
    stream: Object.hasOwn(body, 'stream') && body.stream === true,
    requiredType: jsonTypeOf(requiredValue),
    values: 0,
    maxTokens: declaredBound(body),
  };
}

/** The first output bound a parsed body declares, as a whole number of tokens; null when none. */
function declaredBound(body: Record<string, unknown>): number | null {
  for (const field of OUTPUT_BOUND_FIELDS) {
    const value = Object.hasOwn(body, field) ? body[field] : undefined;
    if (Number.isSafeInteger(value) && (value as number) >= 0) return value as number;
  }
  const generation = Object.hasOwn(body, 'generationConfig') ? body.generationConfig : undefined;
  if (typeof generation === 'object' && generation !== null && Object.hasOwn(generation, 'maxOutputTokens')) {
    const value = (generation as Record<string, unknown>).maxOutputTokens;
    if (Number.isSafeInteger(value) && (value as number) >= 0) return value as number;
  }
  return null;
}

/** Where chat completions, Anthropic's Messages and the Responses API declare their output bound. */
const OUTPUT_BOUND_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;

/**
 * Where the model's string token lies: [start, end). A scanned body knows; a parsed one (a small
 * body, whole in one buffer) is scanned for it now.
 */
export function modelToken(raw: Buffer | readonly Buffer[], facts: BodyFacts): [number, number] {
  if (facts.modelStart !== -1 || !Buffer.isBuffer(raw)) return [facts.modelStart, facts.modelEnd];
  const found = facts.model === undefined ? undefined : soleModelMember(raw, facts.model);
  if (found !== undefined) return found;
  const scanner = new JsonBodyScanner(NO_FIELD);
  scanner.push(raw);
  scanner.finish();
  return [scanner.modelStart, scanner.modelEnd];
}

const NO_FIELD = Buffer.alloc(0);
const MODEL_KEY_TEXT = '"model"';

/**
 * Where the body's model value is, found without scanning the body: the one place where the bytes
 * `"<model>"` follow `"model":` (whitespace allowed). A model name needs no escaping (server.ts
 * checks), so its JSON text is `"` + name + `"`, and those bytes can only be a whole string token:
 * inside another string its quotes would be escaped. One such member is the top-level one the
 * parser read (the last, if the key was given twice with other values); none or several (the same
 * name nested in a tool's schema, say) leave it to the scanner.
 */
function soleModelMember(raw: Buffer, model: string): [number, number] | undefined {
  // The bytes as latin1 text, one character per byte: string search is several times cheaper than
  // Buffer's here, and an index in the text is the same index in the bytes.
  const text = raw.toString('latin1');
  const token = `"${model}"`;
  let found: [number, number] | undefined;
  for (let at = text.indexOf(token); at !== -1; at = text.indexOf(token, at + 1)) {
    let i = at - 1;
    while (i >= 0 && isSpace(text.charCodeAt(i))) i--;
    if (i < 0 || text.charCodeAt(i) !== COLON) continue;
    i--;
    while (i >= 0 && isSpace(text.charCodeAt(i))) i--;
    if (i < MODEL_KEY_TEXT.length - 1 || !text.startsWith(MODEL_KEY_TEXT, i - MODEL_KEY_TEXT.length + 1)) continue;
    if (found !== undefined) return undefined;
    found = [at, at + token.length];
  }
  return found;
}



/**
 * The body with its model replaced and every other byte as the client sent it: re-serialising
 * would round big numbers, turn 1e400 into null and collapse duplicate keys. With duplicate
 * `model` keys the last one, the one JSON parsers keep, is replaced.
 */
export function replaceModel(raw: Buffer | readonly Buffer[], facts: BodyFacts, model: string, token = modelJsonBytes(model)): Buffer | Buffer[] {
  const [start, end] = modelToken(raw, facts);
  if (Buffer.isBuffer(raw)) return Buffer.concat([raw.subarray(0, start), token, raw.subarray(end)], raw.length - (end - start) + token.length);
  const out: Buffer[] = [];
  let from = 0;
  for (const chunk of raw) {
    const to = from + chunk.length;
    if (from < start) out.push(chunk.subarray(0, Math.min(chunk.length, start - from)));
    if (start >= from && start < to) out.push(token);
    if (to > end) out.push(chunk.subarray(Math.max(0, end - from)));
    from = to;
  }
  return out;
}

/** A model name as the bytes of its JSON text: what replaceModel writes (a route's target makes it once). */
export function modelJsonBytes(model: string): Buffer {
  return Buffer.from(JSON.stringify(model));
}

/** Whether more than `max` objects and arrays nest in `root`; without recursion, as the scanner counts. */
function nestedDeeperThan(root: object, max: number): boolean {
  const values: unknown[] = [root];
  const depths: number[] = [1];
  while (values.length > 0) {
    const value = values.pop() as object;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (child !== null && typeof child === 'object') {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

function jsonTypeOf(value: unknown): JsonType | undefined {
  if (value === undefined) return undefined;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value as JsonType;
}
