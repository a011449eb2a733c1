// Anthropic's failures in OpenAI's terms: HTTP error answers and a stream's `error` event.
// Sources: https://platform.claude.com/docs/en/api/errors (types, statuses, the error shape,
// 529 overloaded_error) and https://platform.claude.com/docs/en/build-with-claude/streaming
// (an error event can arrive mid-stream, after a 200).
import { normaliseProviderError, typeForStatus } from '../../errors.js';
import { redactSecrets } from '../../redact.js';
import type { TranslatedError } from '../types.js';

/**
 * Each documented error type and the status it stands for. A stream's error event has no status of
 * its own, so this is where it gets one; overloaded_error is Anthropic's 529, which clients and the
 * retry policy see as 503. The inbound Messages API reads it the other way round (a status's type).
 */
export const STATUS_BY_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 503,
};

/** The status an error event of an unknown type is answered with: the provider failed us. */
const UNKNOWN_EVENT_STATUS = 502;
/** 529 is not a status OpenAI clients or the retry policy know; it means what 503 means. */
const OVERLOADED_STATUS = 529;
const QUOTED_BODY_CHARS = 200;

/** A failure with Anthropic's message; the OpenAI type follows the status, Anthropic's type is the code. */
export function translatedError(status: number, message: string, anthropicType: string | null): TranslatedError {
  return { status, error: { message, type: typeForStatus(status), code: anthropicType, param: null } };
}

/** `{"type":"error","error":{"type","message"}}`: the type and message, or undefined for another shape. */
export function anthropicErrorOf(value: unknown): { type: string; message: string } | undefined {
  if (!isRecord(value)) return undefined;
  const error = value.error;
  if (!isRecord(error) || typeof error.type !== 'string') return undefined;
  return { type: error.type, message: typeof error.message === 'string' && error.message ? error.message : error.type };
}

/** A stream's error event (its parsed data). */
export function streamError(data: unknown): TranslatedError {
  const error = anthropicErrorOf(data);
  if (!error) return translatedError(UNKNOWN_EVENT_STATUS, 'Anthropic sent an error event without an error', null);
  return translatedError(STATUS_BY_TYPE[error.type] ?? UNKNOWN_EVENT_STATUS, error.message, error.type);
}

/** A non-2xx answer: the status kept (529 becomes 503), Anthropic's message and type. */
export function httpError(status: number, body: string): TranslatedError {
  const clientStatus = status === OVERLOADED_STATUS ? STATUS_BY_TYPE.overloaded_error! : status;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return translatedError(clientStatus, notJsonMessage('Anthropic', status, body), null);
  }
  const error = anthropicErrorOf(parsed);
  if (error) return translatedError(clientStatus, error.message, error.type);
  // JSON of another shape (a proxy in front of Anthropic, say): the shared normaliser reads it.
  return { status: clientStatus, error: normaliseProviderError(clientStatus, body) };
}

/** The message for an error answer whose body is not JSON: the start of it, quoted and redacted. */
export function notJsonMessage(provider: string, status: number, body: string): string {
  const piece = body.trim().slice(0, QUOTED_BODY_CHARS);
  const more = body.trim().length > QUOTED_BODY_CHARS ? '...' : '';
  return piece
    ? `${provider} answered HTTP ${status} with a body that is not JSON: ${JSON.stringify(redactSecrets(piece) + more)}`
    : `${provider} answered HTTP ${status} with an empty body`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
