// Anthropic's error types and their statuses, read by both sides that speak its Messages API: the
// Anthropic provider (a type to a status) and the inbound Messages API (a status to a type).
// Source: https://platform.claude.com/docs/en/api/errors (types, statuses, 529 overloaded_error).

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
