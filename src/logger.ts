// pino JSON logs with secrets redacted at every level.
import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACTION_CENSOR, redactedLogPaths } from './redact.js';

export type { Logger } from 'pino';

/** Lines are gathered up to this many bytes and written together, in one system call. */
const LOG_BUFFER_BYTES = 4096;
/** ...and never wait longer than this to be written. */
const LOG_FLUSH_MS = 200;

/**
 * Logs to `destination`, or to stdout through a small buffer: at thousands of requests a second a
 * write per line is a good part of the gateway's cost. The buffer is flushed every LOG_FLUSH_MS,
 * on flush() and on exit.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactedLogPaths, censor: REDACTION_CENSOR },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination) return pino(options, destination);
  const stdout = pino.destination({ dest: 1, sync: true, minLength: LOG_BUFFER_BYTES });
  setInterval(() => stdout.flush(), LOG_FLUSH_MS).unref();
  process.on('exit', () => stdout.flushSync());
  return pino(options, stdout);
}
