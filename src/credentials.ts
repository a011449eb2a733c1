// Credentials: which key a request is sent with (the client's own, or the gateway's), in the header
// the provider wants, and every credential a request carried, to keep out of what is told of it.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { credentialOf } from './errors.js';
import type { Provider } from './exchange.js';
import type { ProviderSpec } from './providers/types.js';
import { redactCredentials, type Redactor } from './redact.js';

/**
 * The API key a client sends to say "use the gateway's own key for this provider". Current `openai`
 * and LangChain releases refuse an empty `apiKey`, so an empty Bearer token no longer serves.
 */
export const SERVER_KEY_PLACEHOLDER = 'use-server-key';
const BEARER = 'bearer';
const BEARER_PREFIX = 'bearer ';
export const DEFAULT_AUTH = Object.freeze({ header: 'authorization', scheme: 'Bearer' });
/**
 * Headers in which clients send a key: OpenAI SDKs `authorization`, Anthropic's `x-api-key`, Azure's
 * `api-key`, Google's `x-goog-api-key` (where the server also puts a Gemini client's `?key=`).
 */
const KEY_HEADERS = ['x-api-key', 'api-key', 'x-goog-api-key'] as const;

/**
 * The client's own credential, as the provider wants it ([header, value]). An empty Bearer token, or
 * the placeholder key, counts as none, so that the server-side key applies. A Bearer key (or a key
 * in `x-api-key` / `api-key`) is re-sent in the provider's header; another Authorization scheme is
 * passed on as it is for the provider to judge.
 */
export function clientCredential(headers: IncomingHttpHeaders, provider: Provider): readonly [string, string] | undefined {
  const auth = provider.spec.auth ?? DEFAULT_AUTH;
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const trimmed = authorization.trim();
    if (auth === DEFAULT_AUTH && trimmed !== '' && !isPlaceholder(trimmed)) return ['authorization', trimmed];
    if (trimmed.length > BEARER_PREFIX.length && trimmed.slice(0, BEARER_PREFIX.length).toLowerCase() === BEARER_PREFIX) {
      const key = trimmed.slice(BEARER_PREFIX.length).trim();
      if (key !== SERVER_KEY_PLACEHOLDER && key !== '') return [auth.header, auth.scheme ? `${auth.scheme} ${key}` : key];
    } else if (trimmed !== '' && trimmed.toLowerCase() !== BEARER) return ['authorization', trimmed];
  }
  for (const name of KEY_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    const key = value.trim();
    if (key !== '' && key !== SERVER_KEY_PLACEHOLDER) return [auth.header, auth.scheme ? `${auth.scheme} ${key}` : key];
  }
  return undefined;
}

function isPlaceholder(authorization: string): boolean {
  if (authorization.length !== BEARER.length && authorization.length !== BEARER_PREFIX.length + SERVER_KEY_PLACEHOLDER.length) return false;
  const lower = authorization.toLowerCase();
  return lower === BEARER || lower === `${BEARER_PREFIX}${SERVER_KEY_PLACEHOLDER}`;
}

/**
 * The headers that say who a client is: its key, or its AWS credentials (Bedrock's x-aws-* headers,
 * which an OpenAI SDK sends beside a placeholder Bearer key).
 */
const IDENTITY_HEADERS = ['authorization', ...KEY_HEADERS, 'x-aws-access-key-id', 'x-aws-secret-access-key'] as const;

/**
 * An opaque name for the client, from every credential it sent ('' with none, or the placeholder
 * alone): a hash, so that what is kept per client does not hold its key, and only a client that
 * holds all of those credentials shares the name.
 */
export function clientName(headers: IncomingHttpHeaders): string {
  let hash: ReturnType<typeof createHash> | undefined;
  for (const name of IDENTITY_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    const credential = name === 'authorization' ? credentialOf(value.trim()) : value.trim();
    if (credential === '' || credential === SERVER_KEY_PLACEHOLDER || credential.toLowerCase() === BEARER) continue;
    hash ??= createHash('sha256');
    // The header's name keeps a key sent in one header apart from the same text sent in another.
    hash.update(`${name}\n${credential}\n`);
  }
  return hash === undefined ? '' : hash.digest('base64url').slice(0, 22);
}

/** Headers whose values are credentials besides the key headers: AWS's, which Bedrock signs with. */
const AWS_CREDENTIAL_HEADERS = ['x-aws-access-key-id', 'x-aws-secret-access-key', 'x-aws-session-token'] as const;

/** Every credential value a request carried: the client's headers, and what the gateway sent or signed with for it. */
export function requestCredentials(headers: IncomingHttpHeaders, sent: string | undefined, signing: readonly string[]): (string | undefined)[] {
  const credentials: (string | undefined)[] = clientSecrets(headers);
  for (const name of AWS_CREDENTIAL_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.trim().length > 0) credentials.push(value.trim());
  }
  credentials.push(sent, ...signing);
  return credentials;
}

/**
 * The redaction of one request's failures, for its messages, error events and log lines: every
 * credential it carried by value, then every configured secret and credential pattern. Made only
 * where a failure is told or a translated stream begins: a pass-through answer never pays for it.
 */
export function failureRedactor(headers: IncomingHttpHeaders, sent: string | undefined, signing: readonly string[], configured: readonly string[]): Redactor {
  return (text) => redactCredentials(text, requestCredentials(headers, sent, signing), configured);
}

/** Every credential value the client sent, to keep out of what the gateway answers. */
function clientSecrets(headers: IncomingHttpHeaders): string[] {
  const secrets: string[] = [];
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization.length > 0) secrets.push(credentialOf(authorization));
  for (const name of KEY_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.length > 0) secrets.push(value.trim());
  }
  return secrets;
}

/**
 * The credential for a client of the provider's own API. Anthropic's: sent in the header the client
 * used (an `Authorization: Bearer` stays one), else as the core decided. Gemini's, beside an
 * OpenAI-compatible layer whose scheme the core decided: the key alone, in that API's header.
 */
export function nativeCredential(headers: IncomingHttpHeaders, decided: readonly [string, string] | undefined, spec: ProviderSpec): readonly [string, string] | undefined {
  if (spec.kind === 'pass-through') {
    if (decided === undefined || spec.geminiApi === undefined) return decided;
    const auth = spec.geminiApi.auth;
    const key = credentialOf(decided[1]);
    return [auth.header, auth.scheme ? `${auth.scheme} ${key}` : key];
  }
  const authorization = headers.authorization?.trim();
  if (authorization === undefined || authorization === '' || isPlaceholder(authorization)) return decided;
  return ['authorization', authorization];
}

