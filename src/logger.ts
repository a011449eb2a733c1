// pino JSON logs with secrets redacted at every level.
import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACTION_CENSOR, redactedLogPaths } from './redact.js';

export type { Logger } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: redactedLogPaths, censor: REDACTION_CENSOR },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
