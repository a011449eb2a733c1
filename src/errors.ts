// Every failure the gateway returns is an OpenAI-shaped error body with the right status, so that
// OpenAI SDKs raise the matching error class (AuthenticationError, RateLimitError, ...).
import { redactCredentials } from './redact.js';

export interface OpenAIErrorBody {
  message: string;
  type: string;
  code: string | null;
  param: string | null;
}

const typeByStatus: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  409: 'conflict_error',
  412: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  502: 'upstream_error',
  504: 'timeout_error',
};

export function typeForStatus(status: number): string {
  return typeByStatus[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
}

export class GatewayError extends Error {
  override name = 'GatewayError';
  readonly type: string;
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    type?: string,
    /** Response headers that belong with this error (e.g. `retry-after`, `allow`). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.type = type ?? typeForStatus(status);
  }

  /** The same error with another message. */
  withMessage(message: string): GatewayError {
    const error = new GatewayError(this.status, message, this.code, this.param, this.type, this.headers);
    error.sentBody = this.sentBody;
    return error;
  }

  /**
   * The provider's own error body, answered as it was sent (with `status`), for a client that
   * speaks the provider's API. Set by asSent().
   */
  sentBody: string | undefined;

  /** The same error, answered with the provider's own status and body. */
  asSent(status: number, body: string): GatewayError {
    const error = new GatewayError(status, this.message, this.code, this.param, this.type, this.headers);
    error.sentBody = body;
    return error;
  }

  /** The same error with more response headers. */
  withHeaders(extra: Readonly<Record<string, string>>): GatewayError {
    const error = new GatewayError(this.status, this.message, this.code, this.param, this.type, { ...this.headers, ...extra });
    error.sentBody = this.sentBody;
    return error;
  }

  toBody(): OpenAIErrorBody {
    return { message: this.message, type: this.type, code: this.code, param: this.param };
  }
}

export function errorJson(error: OpenAIErrorBody): string {
  return JSON.stringify({ error: error });
}

const MAX_MESSAGE_CHARS = 2_000;

function text(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

function clip(message: string): string {
  const trimmed = message.trim();
  return trimmed.length > MAX_MESSAGE_CHARS ? `${trimmed.slice(0, MAX_MESSAGE_CHARS)}...` : trimmed;
}

/**
 * The secret part of an Authorization value (`Bearer sk-...` gives `sk-...`), to redact it by value.
 */
export function credentialOf(authorization: string): string {
  const space = authorization.indexOf(' ');
  return space === -1 ? authorization : authorization.slice(space + 1).trim();
}

/** FastAPI-style `detail` lists: [{loc: [...], msg: "..."}]. */
function detailList(detail: unknown[]): { message: string; param: string | null } {
  const messages: string[] = [];
  let param: string | null = null;
  for (const item of detail) {
    if (item && typeof item === 'object') {
      const entry = item as { msg?: unknown; loc?: unknown };
      const msg = text(entry.msg);
      if (Array.isArray(entry.loc)) {
        const loc = entry.loc.filter((part) => part !== 'body').join('.');
        param ??= loc || null;
        if (msg) messages.push(loc ? `${loc}: ${msg}` : msg);
      } else if (msg) messages.push(msg);
    } else if (text(item)) messages.push(text(item)!);
  }
  return { message: messages.join('; '), param };
}

/**
 * Turns any provider error body into the OpenAI shape, keeping the provider's message, type and
 * code where it gives them. Handles `{"error":{...}}`, `{"error":"..."}`, `{"fault":{...}}`,
 * `{"detail":...}`, `{"message":...}` and plain text.
 */
export function normaliseProviderError(status: number, body: string, clientCredential?: string): OpenAIErrorBody {
  const fallbackType = typeForStatus(status);
  let message: string | null = null;
  let type: string | null = null;
  let code: string | null = null;
  let param: string | null = null;

  let parsed: unknown;
  try {
    parsed = body.length > 0 ? JSON.parse(body) : undefined;
  } catch {
    parsed = undefined;
  }

  // Google's OpenAI-compatible endpoint sends its own error in a one-element list:
  // `[{"error":{"code":400,"message":"...","status":"INVALID_ARGUMENT"}}]`.
  if (Array.isArray(parsed) && parsed.length === 1) parsed = parsed[0];

  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const root = parsed as Record<string, unknown>;
    const error = root.error;
    if (error && typeof error === 'object') {
      const e = error as Record<string, unknown>;
      message = text(e.message) ?? text(e.detail);
      type = text(e.type);
      code = text(e.code) ?? text(e.status);
      param = text(e.param);
    } else if (text(error)) {
      // {"error":"Too Many Requests","message":"..."}: the message says more than the error.
      message = text(root.message) ?? text(error);
      code = text(root.code);
      type = text(root.type);
    } else if (root.fault && typeof root.fault === 'object') {
      const fault = root.fault as Record<string, unknown>;
      message = text(fault.faultstring);
      const detail = fault.detail as Record<string, unknown> | undefined;
      code = detail && typeof detail === 'object' ? text(detail.errorcode) : null;
    } else if (root.detail !== undefined) {
      if (Array.isArray(root.detail)) ({ message, param } = detailList(root.detail));
      else message = text(root.detail) ?? JSON.stringify(root.detail);
    } else if (text(root.message)) {
      message = text(root.message);
      code = text(root.code);
      type = text(root.type);
    }
  } else if (parsed === undefined && body.trim().length > 0) {
    message = body;
  }

  return {
    message: redactCredentials(clip(message || `Provider returned HTTP ${status} with no error message`), [clientCredential]),
    type: type && type !== 'error' ? type : fallbackType,
    code,
    param,
  };
}
