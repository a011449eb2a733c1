// Failures as the Gemini API answers them: `{"error":{"code","message","status"}}`, `status` the
// google.rpc.Code name of the HTTP status
// (https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes,
// https://cloud.google.com/apis/design/errors#handling_errors).
// Once a stream has begun, Google ends it with that same error object, bare, not as an SSE `data:`
// event: the `@google/genai` SDK raises an ApiError for a network read that parses as a JSON object
// with `error` (src/_api_client.ts processStreamResponse; googleapis/js-genai#461), and fails the
// stream ("Incomplete JSON segment at the end") when the object arrives with other bytes. In the
// JSON-array stream (no `alt=sse`) the error is the array's last element.
import type { OpenAIErrorBody } from '../../errors.js';

const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  408: 'DEADLINE_EXCEEDED',
  409: 'ABORTED',
  412: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function statusName(status: number): string {
  return STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
}

/** Google answers with the HTTP status itself; an overload (the gateway's 503) stays 503. */
export function errorStatus(status: number, _error: OpenAIErrorBody): number {
  return status;
}

export function errorBody(status: number, error: OpenAIErrorBody): string {
  return JSON.stringify({ error: { code: status, message: error.message, status: statusName(status) } });
}

/** How a stream is framed: SSE events (`alt=sse`), or elements of one JSON array. */
export type StreamFraming = 'sse' | 'array';

/** The error that ends a stream already begun (see the header). */
export function errorEvent(framing: StreamFraming, status: number, error: OpenAIErrorBody): string {
  return framing === 'sse' ? `${errorBody(status, error)}\r\n` : `${ARRAY_NEXT}${errorBody(status, error)}${ARRAY_END}`;
}

/** The JSON-array stream's pieces: Google writes `[{...}` then `\r\n,{...}` per element, and `\r\n]` at the end. */
export const ARRAY_START = '[';
export const ARRAY_NEXT = '\r\n,';
export const ARRAY_END = '\r\n]';
/** One SSE event as Google frames it. */
export function sseEvent(json: string): string {
  return `data: ${json}\r\n\r\n`;
}
