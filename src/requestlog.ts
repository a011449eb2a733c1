// The request line: one per request, in pino's format, formatted here rather than by pino.
//
// Measured on the bench (small chat at 50 connections), the line was the largest single cost the
// gateway adds per request: pino's general serializer cost about 6 µs more than a fixed-shape
// line, and even that line, built naively, cost about 4.5 µs more than one with only the id and
// the status. What made it dear was turning values into JSON text on every request: escaping the
// model and the path, and printing fractional milliseconds. Both are cheap to avoid: the few
// strings that come from outside repeat (a deployment serves a handful of routes), so their JSON
// text is cached, and model names are checked to need no escaping; milliseconds are printed from
// whole microseconds and a table.
import type { AttemptRecord, RequestRecord } from './observe/records.js';
import { lineWriter, type LineWriter, type Logger } from './logger.js';
import { redactCredentials } from './redact.js';

/**
 * JSON text of the paths requests have used, so that a path is escaped once, not on every request.
 * The last value is checked first: comparing two short strings is cheaper than hashing one for the
 * map. Bounded in characters, not entries: paths come from clients, and one may send many long ones.
 */
export class JsonTextCache {
  private lastValue = '';
  private lastText = '""';
  private readonly texts = new Map<string, string>();
  private chars = 0;

  constructor(
    private readonly maxChars = 256 * 1024,
    /** Longer values are escaped each time, never kept. */
    private readonly maxValueChars = 512,
  ) {}

  get(value: string): string {
    if (value === this.lastValue) return this.lastText;
    let text = this.texts.get(value);
    if (text === undefined) {
      text = JSON.stringify(value);
      if (value.length > this.maxValueChars) return text;
      if (this.chars + value.length + text.length > this.maxChars) {
        this.texts.clear();
        this.chars = 0;
      }
      this.texts.set(value, text);
      this.chars += value.length + text.length;
    }
    this.lastValue = value;
    this.lastText = text;
    return text;
  }

  /** Characters held, keys and texts together. */
  get size(): number {
    return this.chars;
  }
}

/**
 * The request line's writer at each level it may be logged at (undefined where the level is off),
 * and what one gateway's lines keep: its paths' JSON text, its secrets to redact.
 */
export interface RequestLineWriters {
  readonly info: LineWriter | undefined;
  readonly warn: LineWriter | undefined;
  readonly error: LineWriter | undefined;
  readonly pathText: JsonTextCache;
  /** The JSON text of attempts' target names and outcomes: a handful, configured or fixed. */
  readonly attemptText: JsonTextCache;
  readonly secrets: readonly string[];
}

export function requestLineWriters(logger: Logger, secrets: readonly string[] = NO_SECRETS): RequestLineWriters {
  return { info: lineWriter(logger, 'info'), warn: lineWriter(logger, 'warn'), error: lineWriter(logger, 'error'), pathText: new JsonTextCache(), attemptText: new JsonTextCache(), secrets };
}

const NO_SECRETS: readonly string[] = Object.freeze([]);

/** '' for 0, '.001' to '.999' with trailing zeros dropped: the fraction of a whole millisecond. */
const FRACTIONS = Array.from({ length: 1_000 }, (_, us) => (us === 0 ? '' : `.${String(us).padStart(3, '0').replace(/0+$/, '')}`));

/**
 * Milliseconds rounded to the microsecond, as JSON: the same text as
 * `String(Math.round(ms * 1000) / 1000)` for the values a request line holds, without printing a
 * fractional double.
 */
export function formatMs(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us < 1e15)) return String(us / 1000); // negative, huge or NaN: the general way
  const whole = Math.floor(us / 1000);
  return whole + FRACTIONS[us - whole * 1000]!;
}

/**
 * Writes the request line of a finished request, from its record. Only `model`, `path` and `error`
 * come from outside and are escaped; the id is ours (newRequestId) or matched REQUEST_ID, the method
 * is a token Node has checked, and the provider name is ours.
 */
export function logRequest(writers: RequestLineWriters, record: RequestRecord): void {
  // Failures are logged where LOG_LEVEL=warn still shows them: 5xx at error; rate limits, streams
  // that broke after their 200 and connections the gateway cut, at warn.
  const status = record.status;
  const writeLine =
    status >= 500 ? writers.error : status === 429 || record.cutByGateway || record.broken ? writers.warn : writers.info;
  if (writeLine === undefined) return;
  let line = `"reqId":"${record.id}"`;
  if (record.provider !== undefined) line += `,"provider":"${record.provider}"`;
  // A model name is visible ASCII without quotes or backslashes (server.ts checks): nothing to escape.
  if (record.model !== undefined) line += `,"model":"${record.model}"`;
  // The path is logged without its query string: that is the client's, and may carry what is not
  // ours to log. 499 (as nginx logs it): the client closed the connection before the answer was complete.
  line += `,"method":"${record.method}","path":${writers.pathText.get(record.path)},"status":${status},"stream":${record.stream},"durationMs":${formatMs(record.durationMs)}`;
  if (record.ttfbMs !== undefined) line += `,"ttfbMs":${formatMs(record.ttfbMs)}`;
  if (record.overheadMs !== undefined) line += `,"overheadMs":${formatMs(record.overheadMs)}`;
  line += `,"retries":${record.retries}`;
  // A route's name is a model name from the config file: visible ASCII without quotes or backslashes.
  if (record.route !== undefined) line += `,"route":"${record.route}"`;
  // A request answered by its first attempt lists none: its line names the provider, model and
  // timings already. Once one failed or was passed over, or a hedge ran, every attempt is listed.
  const attempts = record.attempts;
  if (attempts.length > 1 || (attempts.length === 1 && attempts[0]!.outcome !== 'answered')) line += `,"attempts":${attemptsJson(attempts, writers.attemptText)}`;
  const usage = record.usage;
  if (usage !== undefined) {
    line += `,"promptTokens":${usage.promptTokens},"completionTokens":${usage.completionTokens}`;
    if (usage.cacheReadTokens) line += `,"cacheReadTokens":${usage.cacheReadTokens}`;
    if (usage.cacheWriteTokens) line += `,"cacheWriteTokens":${usage.cacheWriteTokens}`;
    if (usage.reasoningTokens) line += `,"reasoningTokens":${usage.reasoningTokens}`;
  }
  // A model without a price says so: never a silent 0.
  if (record.costUsd !== undefined) line += `,"costUsd":${formatUsd(record.costUsd)}`;
  else if (record.priced === false) line += ',"costUsd":null,"priced":false';
  if (record.error !== undefined) line += `,"error":${JSON.stringify(redactCredentials(record.error, NO_SECRETS, writers.secrets))}`;
  writeLine(line, 'request');
}

/** USD to the nano-dollar, without a double's noise (0.1 + 0.2). */
export function formatUsd(usd: number): string {
  return String(Math.round(usd * 1e9) / 1e9);
}

/** Each attempt as the line lists it: target, status, outcome, time to first byte, duration. */
function attemptsJson(attempts: readonly AttemptRecord[], texts: JsonTextCache): string {
  let text = '[';
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i]!;
    if (i > 0) text += ',';
    text += `{"target":${texts.get(a.target)},"status":${a.status},"outcome":${texts.get(a.outcome)}`;
    if (a.ttfbMs !== undefined) text += `,"ttfbMs":${formatMs(a.ttfbMs)}`;
    text += `,"ms":${formatMs(a.ms)}}`;
  }
  return `${text}]`;
}
