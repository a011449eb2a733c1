// Bedrock's failures in OpenAI's terms: HTTP error answers and a ConverseStream's exception frames.
// Sources: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html (Errors:
// each exception and its status), https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html
// (exceptions inside the stream: internalServer 500, modelStreamError 424, serviceUnavailable 503,
// throttling 429, validation 400), the event-stream error frames AWS's SDKs read (`:message-type:
// error`, an Error named by its `:error-code` with its `:error-message`: @smithy/core's event-stream
// unmarshaller), https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html
// (ServiceQuotaExceededException 400), and the AWS JSON protocols (the type in the
// x-amzn-errortype header, `Type:namespace`, or in the body's `__type`, `namespace#Type`).
import { normaliseProviderError } from '../../errors.js';
import { notJsonMessage, translatedError } from '../../translate/errors.js';
import { isRecord } from '../../translate/json.js';
import type { TranslatedError } from '../../translate/stream-contract.js';

/**
 * Each exception and the status the client (and the retry policy) sees. 424 (a model's own
 * failure) is not a status OpenAI clients know: ModelErrorException and ModelStreamErrorException
 * are the provider failing, 502, retried. ModelNotReadyException is a 429, as AWS sends it and its
 * SDKs retry it. ServiceQuotaExceededException stays AWS's 400: an account quota does not clear
 * within one request's retries.
 */
const STATUS_BY_TYPE: Readonly<Record<string, number>> = {
  ValidationException: 400,
  ServiceQuotaExceededException: 400,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  ModelTimeoutException: 408,
  ThrottlingException: 429,
  ModelNotReadyException: 429,
  InternalServerException: 500,
  ModelErrorException: 502,
  ModelStreamErrorException: 502,
  ServiceUnavailableException: 503,
};

/** A stream exception of a type not listed: the provider failed us. */
const UNKNOWN_EXCEPTION_STATUS = 502;
/** Statuses OpenAI clients do not know, read as the provider failing. */
const MODEL_FAILURE_STATUS = 424;

/** `ThrottlingException:http://internal.amazon.com/...` or `com.amazon.coral.validate#ValidationException` as the bare type. */
export function awsErrorType(raw: string): string {
  const colon = raw.indexOf(':');
  const type = colon === -1 ? raw : raw.slice(0, colon);
  return type.slice(type.lastIndexOf('#') + 1).trim();
}

function messageOf(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  const message = value.message ?? value.Message;
  return typeof message === 'string' && message ? message : undefined;
}

/**
 * A non-2xx answer. `errorType` is the x-amzn-errortype response header, when the core passes it;
 * without it the type is the body's `__type`. A known type sets the status; otherwise the status is
 * kept (424 becomes 502). The OpenAI `code` is the AWS type.
 */
export function httpError(status: number, body: string, errorType?: string): TranslatedError {
  let parsed: unknown;
  let readable = true;
  try {
    parsed = JSON.parse(body);
  } catch {
    readable = false;
  }
  const rawType = errorType || (isRecord(parsed) && typeof parsed.__type === 'string' ? parsed.__type : '');
  const type = rawType ? awsErrorType(rawType) : null;
  const clientStatus = (type && STATUS_BY_TYPE[type]) || (status === MODEL_FAILURE_STATUS ? STATUS_BY_TYPE.ModelErrorException! : status);
  if (!readable) return translatedError(clientStatus, notJsonMessage('Bedrock', status, body), type);
  const message = messageOf(parsed);
  if (message !== undefined) return translatedError(clientStatus, message, type);
  if (type) return translatedError(clientStatus, `Bedrock answered HTTP ${status} ${type}`, type);
  // JSON of another shape (a proxy in front of Bedrock, say): the shared normaliser reads it.
  return { status: clientStatus, error: normaliseProviderError(clientStatus, body) };
}

/** An exception frame of a ConverseStream: its `:exception-type` (`throttlingException`) and payload. */
export function streamException(exceptionType: string, data: string): TranslatedError {
  const type = exceptionType.charAt(0).toUpperCase() + exceptionType.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    parsed = undefined;
  }
  const message = messageOf(parsed) ?? `Bedrock sent a ${exceptionType} in the stream`;
  return translatedError(STATUS_BY_TYPE[type] ?? UNKNOWN_EXCEPTION_STATUS, message, type);
}

/**
 * An error frame of a ConverseStream (`:message-type: error`): a failure outside the API's model,
 * its `:error-code` and `:error-message` headers. A code that names a known exception keeps its
 * status; any other is the provider failing (502, retried before the stream is committed).
 */
export function streamErrorFrame(errorCode: string, message: string): TranslatedError {
  const type = awsErrorType(errorCode);
  const text = message || `Bedrock sent the error ${type || 'without a code'} in the stream`;
  return translatedError(STATUS_BY_TYPE[type] ?? UNKNOWN_EXCEPTION_STATUS, text, type || null);
}
