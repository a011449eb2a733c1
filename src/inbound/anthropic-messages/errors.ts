// Failures as the Messages API answers them: `{"type":"error","error":{"type","message"}}`, as a
// JSON body or, once a stream has begun, as an `event: error`.
// Sources: https://platform.claude.com/docs/en/api/errors (each status's error type; 529
// overloaded_error; "invalid_request_error ... may also be used for other 4XX status codes"; the
// shape, whose `request_id` is left out here: the contract passes no request id, and the gateway's
// own id travels in a header) and https://platform.claude.com/docs/en/build-with-claude/streaming
// (an error event mid-stream, after a 200).
import type { OpenAIErrorBody } from '../../errors.js';
import { STATUS_BY_TYPE } from '../../translate/anthropic-error-types.js';
import { namedEvent } from '../chat.js';

/** Anthropic's status for an overloaded API, which the gateway (and OpenAI clients) call 503. */
const OVERLOADED_STATUS = 529;
const UNAVAILABLE_STATUS = 503;

/**
 * The error type for each status: Anthropic's table of documented types read the other way
 * round, and the statuses the gateway itself answers with that Anthropic does not list (408 a
 * client timeout, 502 a provider that failed us, 529 itself).
 */
const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  ...Object.fromEntries(Object.entries(STATUS_BY_TYPE).map(([type, status]) => [status, type])),
  408: 'timeout_error',
  502: 'api_error',
  [OVERLOADED_STATUS]: 'overloaded_error',
};

export function anthropicErrorType(status: number): string {
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** Anthropic answers an overload with 529, which its SDKs retry as OverloadedError. */
export function errorStatus(status: number, _error: OpenAIErrorBody): number {
  return status === UNAVAILABLE_STATUS ? OVERLOADED_STATUS : status;
}

export function errorBody(status: number, error: OpenAIErrorBody): string {
  return JSON.stringify({ type: 'error', error: { type: anthropicErrorType(status), message: error.message } });
}

export function errorEvent(status: number, error: OpenAIErrorBody): string {
  return namedEvent('error', errorBody(status, error));
}
