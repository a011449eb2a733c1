// Secrets never leave the gateway: not in logs, error bodies or metrics. Keys are redacted by
// shape (Bearer tokens, common provider key prefixes) and by value (keys configured at start-up).

const CENSOR = '[REDACTED]';
// Bearer credentials, Fireworks (fw_/fw-), OpenAI-style (sk-), Anthropic (sk-ant-) keys.
const SECRET_SHAPES = /\b(?:Bearer\s+[^\s"',;]+|fw[_-][A-Za-z0-9_-]{6,}|sk-[A-Za-z0-9_-]{8,})/gi;

const knownSecrets = new Set<string>();

/** Registers a configured secret so that it is redacted wherever it appears, whatever its shape. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) knownSecrets.add(secret);
}

export function redactSecrets(text: string): string {
  let out = text.replace(SECRET_SHAPES, (match) => (match.slice(0, 6).toLowerCase() === 'bearer' ? `Bearer ${CENSOR}` : CENSOR));
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(CENSOR);
  }
  return out;
}

/**
 * Paths redacted by the logger in every record, whatever the level. Explicit paths only: pino's
 * wildcard redaction costs about 10 µs a line, and records never nest headers deeper than this.
 */
export const redactedLogPaths = [
  'authorization',
  'cookie',
  'apiKey',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
];
export const REDACTION_CENSOR = CENSOR;
