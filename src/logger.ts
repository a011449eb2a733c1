// pino JSON logs with secrets redacted at every level.
import { pino, type DestinationStream, type Logger } from 'pino';
import { PrettyLines } from './pretty.js';
import { REDACTION_CENSOR, redactedLogPaths } from './redact.js';

export type { Logger } from 'pino';

/** Lines are gathered up to about this many characters and written together. */
const LOG_BATCH_CHARS = 16_384;
/** ...and never wait longer than this to be written. */
const LOG_FLUSH_MS = 200;

/**
 * ISO timestamps. Formatting a Date costs about 0.9 µs, and at a thousand requests a second nearly
 * every line falls in a new millisecond: the text up to the second is formatted once a second, and
 * the milliseconds come from a table.
 */
let lastMs = 0;
let lastTime = '';
let lastSecond = -1;
let secondText = '';
/** `.000Z"` to `.999Z"`: what toISOString gives after the second, and the closing quote. */
const MILLISECONDS = Array.from({ length: 1_000 }, (_, ms) => `.${String(ms).padStart(3, '0')}Z"`);
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    const second = Math.floor(now / 1_000);
    if (second !== lastSecond) {
      lastSecond = second;
      // Everything but ".sssZ", whatever the year's width.
      secondText = `,"time":"${new Date(second * 1_000).toISOString().slice(0, -5)}`;
    }
    lastTime = secondText + MILLISECONDS[now - second * 1_000]!;
  }
  return lastTime;
}

/**
 * Gathers whole lines and hands them to stdout's writer a batch at a time. At thousands of
 * requests a second, measuring, flattening and writing each line on its own is a good part of the
 * gateway's cost; joined, a batch is flattened and measured once.
 */
class LineBatch implements DestinationStream {
  private lines: string[] = [];
  private chars = 0;
  constructor(private readonly out: { write(data: string): unknown; flushSync(): void }) {}

  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= LOG_BATCH_CHARS) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const batch = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.chars = 0;
    this.out.write(batch);
  }

  flushSync(): void {
    this.flush();
    this.out.flushSync();
  }
}

/** Writes one line of pre-formatted JSON fields, wrapped as pino wraps its own lines. */
export type LineWriter = (fields: string, msg: string) => void;

/**
 * A writer for lines that a hot path formats itself, into the logger's own stream and in its
 * format (`{"level","time","pid",...fields,"msg"}`); undefined when `level` is off. `msg` must not
 * need escaping.
 */
export function lineWriter(logger: Logger, level: 'error' | 'warn' | 'info' | 'debug'): LineWriter | undefined {
  if (!logger.isLevelEnabled(level)) return undefined;
  const stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  const head = `{"level":"${level}"`;
  const pid = `,"pid":${process.pid},`;
  return (fields, msg) => {
    stream.write(`${head}${isoTime()}${pid}${fields},"msg":"${msg}"}\n`);
  };
}

/**
 * Logs to `destination`, or to stdout in batches, flushed every LOG_FLUSH_MS, on flush() and on
 * exit.
 */
export function createLogger(level: string, destination?: DestinationStream, format: 'json' | 'pretty' = 'json'): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: isoTime,
    redact: { paths: redactedLogPaths, censor: REDACTION_CENSOR },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination) return pino(options, format === 'pretty' ? new PrettyLines(destination, false) : destination);
  const stdout = new LineBatch(pino.destination({ dest: 1, sync: true }));
  setInterval(() => stdout.flush(), LOG_FLUSH_MS).unref();
  process.on('exit', () => stdout.flushSync());
  return pino(options, format === 'pretty' ? new PrettyLines(stdout, process.stdout.isTTY === true) : stdout);
}
