// Anthropic's failures in OpenAI's terms: HTTP error answers and a stream's `error` event.
// Sources: https://platform.claude.com/docs/en/api/errors (types, statuses, the error shape,
// 529 overloaded_error) and https://platform.claude.com/docs/en/build-with-claude/streaming
// (an error event can arrive mid-stream, after a 200).
import { normaliseProviderError } from '../../errors.js';
import { STATUS_BY_TYPE } from '../../translate/anthropic-error-types.js';
import { notJsonMessage, translatedError } from '../../translate/errors.js';
import { isRecord } from '../../translate/json.js';
import type { TranslatedError } from '../../translate/stream-contract.js';

/** The status an error event of an unknown type is answered with: the provider failed us. */
const UNKNOWN_EVENT_STATUS = 502;
/** 529 is not a status OpenAI clients or the retry policy know; it means what 503 means. */
const OVERLOADED_STATUS = 529;

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
