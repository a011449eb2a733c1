// The errors a translation makes, for the Anthropic and Bedrock adapters alike: a client's request
// it cannot translate (a 400 naming the field) and a provider's failure in OpenAI's terms.
import { GatewayError, typeForStatus } from '../errors.js';
import { redactSecrets } from '../redact.js';
import type { TranslatedError } from './stream-contract.js';

const QUOTED_BODY_CHARS = 200;

export function invalid(message: string, param: string | null, code = 'invalid_value'): GatewayError {
  return new GatewayError(400, message, code, param);
}

/** A failure with the provider's message; the OpenAI type follows the status, the provider's own type is the code. */
export function translatedError(status: number, message: string, nativeType: string | null): TranslatedError {
  return { status, error: { message, type: typeForStatus(status), code: nativeType, param: null } };
}

/** The message for an error answer whose body is not JSON: the start of it, quoted and redacted. */
export function notJsonMessage(provider: string, status: number, body: string): string {
  const piece = body.trim().slice(0, QUOTED_BODY_CHARS);
  const more = body.trim().length > QUOTED_BODY_CHARS ? '...' : '';
  return piece
    ? `${provider} answered HTTP ${status} with a body that is not JSON: ${JSON.stringify(redactSecrets(piece) + more)}`
    : `${provider} answered HTTP ${status} with an empty body`;
}
