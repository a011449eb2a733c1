// The human log mode (LOG_FORMAT=pretty, or auto on a terminal): one readable line per request
// (time, status, method, path, route, target, milliseconds, tokens, cost) and a short line for
// every other record. Lines arrive as the JSON the gateway writes anyway and are re-read here: a
// terminal's rate of lines makes parsing them cheap, and the JSON mode pays nothing for this one.
import type { DestinationStream } from 'pino';

const LEVEL_TEXT: Readonly<Record<string, string>> = { fatal: 'FATAL', error: 'ERROR', warn: 'WARN ', info: 'INFO ', debug: 'DEBUG', trace: 'TRACE' };
/** Fields a pretty line shows in its own way, or not at all. */
const SHOWN = new Set(['level', 'time', 'pid', 'msg', 'hostname']);

const COLOUR = { red: '\x1b[31m', yellow: '\x1b[33m', green: '\x1b[32m', dim: '\x1b[2m', reset: '\x1b[0m' } as const;

/** Formats each JSON log line written to it as a human line for `out`. */
export class PrettyLines implements DestinationStream {
  constructor(
    private readonly out: DestinationStream,
    private readonly colour: boolean,
  ) {}

  write(text: string): void {
    let formatted = '';
    for (const line of text.split('\n')) if (line !== '') formatted += `${this.format(line)}\n`;
    if (formatted !== '') this.out.write(formatted);
  }

  format(line: string): string {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return line;
    }
    const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
    if (record.msg === 'request' && typeof record.status === 'number') return `${this.dim(time)} ${requestText(record, this.colour)}`;
    const level = LEVEL_TEXT[String(record.level)] ?? String(record.level);
    const paint = record.level === 'error' || record.level === 'fatal' ? COLOUR.red : record.level === 'warn' ? COLOUR.yellow : '';
    let text = `${this.dim(time)} ${this.colour && paint ? paint + level + COLOUR.reset : level} ${String(record.msg ?? '')}`;
    for (const [key, value] of Object.entries(record)) if (!SHOWN.has(key)) text += ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    return text;
  }

  private dim(text: string): string {
    return this.colour ? COLOUR.dim + text + COLOUR.reset : text;
  }
}

/** `200 POST /v1/chat/completions fireworks/model route=r target=t 812ms (first byte 95ms) 1200→80 tokens $0.00123`. */
export function requestText(record: Record<string, unknown>, colour = false): string {
  const status = record.status as number;
  const paint = status >= 500 ? COLOUR.red : status >= 400 ? COLOUR.yellow : COLOUR.green;
  let text = colour ? `${paint}${status}${COLOUR.reset}` : String(status);
  text += ` ${String(record.method)} ${String(record.path)}`;
  if (record.provider !== undefined) text += ` ${String(record.provider)}${record.model !== undefined ? `/${String(record.model)}` : ''}`;
  if (record.route !== undefined) text += ` route=${String(record.route)}`;
  const attempts = record.attempts as { target: string; outcome: string }[] | undefined;
  if (attempts !== undefined) text += ` attempts=${attempts.map((a) => `${a.target}:${a.outcome}`).join(',')}`;
  text += ` ${Math.round(record.durationMs as number)}ms`;
  if (typeof record.ttfbMs === 'number') text += ` (first byte ${Math.round(record.ttfbMs)}ms)`;
  if (record.stream === true) text += ' stream';
  if (typeof record.promptTokens === 'number') text += ` ${record.promptTokens}→${String(record.completionTokens)} tokens`;
  if (typeof record.cacheReadTokens === 'number') text += ` (${record.cacheReadTokens} cached)`;
  if (typeof record.costUsd === 'number') text += ` $${record.costUsd}`;
  else if (record.priced === false) text += ' (no price)';
  if (typeof record.error === 'string') text += ` error: ${record.error}`;
  return text;
}
