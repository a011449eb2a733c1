/**
 * A stand-in for the Amazon Bedrock Runtime's Converse API (`https://bedrock-runtime.<region>.
 * amazonaws.com`): `POST /model/{modelId}/converse` and `POST /model/{modelId}/converse-stream`, on a
 * local port, with AWS's own authentication (SigV4, verified with `@smithy/signature-v4`) and
 * event-stream framing (`@smithy/eventstream-codec`).
 *
 * Faults are chosen per request by a `"sim": {...}` field in the JSON body (stripped before
 * validation), by `additionalModelRequestFields.sim` (an object), or by `requestMetadata.sim` (a
 * JSON string of at most 256 characters, the API's limit for metadata values). A translating
 * gateway cannot pass the first; it can map OpenAI's `metadata`/`user` to the last.
 *
 * AWS facts this relies on, and where they come from:
 * - Routes, request members (`messages`, `system`, `inferenceConfig`, `toolConfig`,
 *   `guardrailConfig`, `additionalModelRequestFields`, `promptVariables`,
 *   `additionalModelResponseFieldPaths`, `requestMetadata`, `performanceConfig`, `serviceTier`,
 *   `outputConfig`), content blocks, image/document formats and stop reasons: the Converse API
 *   reference https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html and
 *   the installed `@aws-sdk/client-bedrock-runtime` (its schemas and enums).
 * - Stream events `messageStart`, `contentBlockStart` (tool use only), `contentBlockDelta`,
 *   `contentBlockStop`, `messageStop`, `metadata`, and the exceptions `internalServerException`,
 *   `modelStreamErrorException`, `validationException`, `throttlingException`,
 *   `serviceUnavailableException`:
 *   https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html
 * - Event-stream frames carry `:message-type` `event`, `exception` (with `:exception-type`) or
 *   `error` (with `:error-code` and `:error-message` headers): the constants of aws/smithy-go's
 *   `eventstream` package, and the message unmarshaller of `@smithy/core`'s event streams, which
 *   throws an error frame as an Error named by its code.
 * - Errors carry `x-amzn-errortype: <Name>:http://internal.amazon.com/coral/com.amazon.bedrock/`,
 *   `x-amzn-requestid` (a UUID) and `{"message": ...}`; "The provided model identifier is invalid."
 *   is a 400 ValidationException (also from ConverseStream):
 *   https://github.com/aws-samples/amazon-bedrock-client-for-mac/issues/112 ,
 *   https://github.com/aws-samples/amazon-bedrock-client-for-mac/issues/11 ,
 *   https://github.com/GoogleCloudPlatform/kubectl-ai/issues/515
 * - SigV4 for Bedrock double-encodes the path in the canonical request (the client sends
 *   `...v1%3A0/converse-stream`, the canonical URI reads `...v1%253A0/converse-stream`), and a
 *   mismatch answers "The request signature we calculated does not match the signature you
 *   provided. ..." followed by the expected canonical string and string to sign:
 *   https://github.com/BerriAI/litellm/issues/14763
 * - "Signature expired: <date> is now earlier than <now - 5 min> (<now> - 5 min.)":
 *   https://github.com/remind101/logspout-kinesis/issues/21
 * - Bedrock API keys: `Authorization: Bearer <key>` (https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html);
 *   long-term keys are `ABSK` + base64 of `BedrockAPIKey-<id>-at-<account>:<secret>`, as the
 *   public code that recognises them decodes them (found with `find_string`).
 * Validation messages follow AWS's two styles: Coral's "1 validation error detected: Value 'x' at
 * 'path' failed to satisfy constraint: ..." for shape errors, and the sentences Bedrock writes for
 * conversation rules (alternation, first message, empty content), as quoted in public issues.
 * Where nothing was found (missing authentication, an unknown top-level field), the wording is the
 * simulator's own in the same style.
 */
import type { IncomingMessage } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import type { Message as EventMessage } from '@smithy/eventstream-codec';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import {
  asFault,
  countWords,
  createSimLog,
  createTimers,
  cutSocket,
  failStatus,
  faultFails,
  isObject,
  nonNegative,
  playSteps,
  serveSim,
  simHandle,
  splitPieces,
  textOfWords,
  toolResultReply,
  truncateWords,
} from './fireworks.js';
import { createFaultSteering, toolToCall } from './control.js';
import { sampleObject } from './schema-sample.js';
import type { SimConnection, SimFault, SimHandle, SimOptions, SimRequest } from './fireworks.js';

export type { RecordedRequest } from './fireworks.js';

export type BedrockStreamExceptionType =
  | 'throttlingException'
  | 'modelStreamErrorException'
  | 'validationException'
  | 'serviceUnavailableException'
  | 'internalServerException';

/** The shared faults that apply here (counted in content deltas for streams), and Bedrock's own. */
export interface BedrockSimFault extends Pick<SimFault, 'key' | 'status' | 'fail_first' | 'fail_ratio' | 'error_message' | 'retry_after'
  | 'reset' | 'delay_ms' | 'chunks' | 'chunk_delay_ms' | 'cut_after' | 'stall_after' | 'content' | 'call_tool'> {
  /** The error's name (`x-amzn-errortype`) when `status` alone does not say it, e.g. `ModelNotReadyException`. */
  error_type?: string;
  /**
   * Streaming: an exception frame after N content deltas (0: right after `messageStart`); the stream
   * ends. `echo_key` adds the credential the request presented (its Bearer key, or its session
   * token and access key id) to the message, as a provider that quotes what it was sent would.
   */
  stream_exception?: { after?: number; type?: BedrockStreamExceptionType; message?: string; echo_key?: boolean };
  /**
   * Streaming: an error frame after N content deltas, as `stream_exception`: `:message-type: error`
   * with `:error-code` and `:error-message` headers and no payload, a failure the API's model does
   * not name (AWS's SDKs throw it as an Error named by its code).
   */
  stream_error?: { after?: number; code?: string; message?: string };
  /** Streaming: write every frame in pieces of this many bytes, each once the one before is flushed. */
  trickle_bytes?: number;
  /** Answer a tool call with two `toolUse` blocks. */
  parallel_tools?: boolean;
  /** Streaming: number of `toolUse.input` fragments per tool call (default 8). */
  tool_fragments?: number;
  /** Streaming: write every frame in two parts, `chunk_delay_ms` (default 5 ms) apart. */
  split_frames?: boolean;
  /** Force this stop reason on a text answer (e.g. `guardrail_intervened`, `content_filtered`). */
  stop_reason?: string;
  /** With a `cachePoint` in the request, report the prefix as read from the cache instead of written. */
  cache_read?: boolean;
  /**
   * Streaming shapes that models served through Converse send and clients accept (the Vercel AI
   * SDK reads them without complaint): no `messageStart` (the role is always assistant), `metadata`
   * before `messageStop`, and blocks that are never closed with `contentBlockStop`.
   */
  no_message_start?: boolean;
  metadata_before_stop?: boolean;
  no_block_stop?: boolean;
}

export interface BedrockSim extends SimHandle {
  /** The endpoint clients take (the SDK's `endpoint`, the gateway's `BEDROCK_BASE_URL`): the origin. */
  url: string;
}

export type BedrockSimOptions = SimOptions;

/** Long-term credentials the simulator accepts (any region in the credential scope). */
export const BEDROCK_SIM_ACCESS_KEY_ID = 'AKIDSIMULATOR0000000';
export const BEDROCK_SIM_SECRET_ACCESS_KEY = 'bedrockSimSecretAccessKey000000000000000';
/** Temporary credentials: they need `x-amz-security-token` = BEDROCK_SIM_SESSION_TOKEN. */
export const BEDROCK_SIM_TEMP_ACCESS_KEY_ID = 'ASIASIMULATOR0000000';
export const BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY = 'bedrockSimTemporarySecretKey000000000000';
export const BEDROCK_SIM_SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEBedrockSimSessionToken//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==';
/** A long-term Bedrock API key, sent as `Authorization: Bearer <key>`. */
export const BEDROCK_SIM_API_KEY = 'ABSK' + Buffer.from('BedrockAPIKey-sim0-at-123456789012:' + 'c2ltdWxhdG9yLWtleQ==').toString('base64');

/** Foundation models served; `us.`/`eu.`/`apac.`/`global.` inference profiles and ARNs of either resolve to them. */
export const BEDROCK_SIM_MODELS: readonly string[] = Object.freeze([
  'anthropic.claude-3-5-haiku-20241022-v1:0',
  'anthropic.claude-3-5-sonnet-20241022-v2:0',
  'anthropic.claude-3-7-sonnet-20250219-v1:0',
  'anthropic.claude-sonnet-4-20250514-v1:0',
  'anthropic.claude-sonnet-4-5-20250929-v1:0',
  'anthropic.claude-haiku-4-5-20251001-v1:0',
  'amazon.nova-micro-v1:0',
  'amazon.nova-lite-v1:0',
  'amazon.nova-pro-v1:0',
  'meta.llama3-1-8b-instruct-v1:0',
  'mistral.mistral-large-2407-v1:0',
]);

const FOUNDATION = new Set(BEDROCK_SIM_MODELS);
const PROFILE_PREFIXES = ['us.', 'eu.', 'apac.', 'global.'];
const ARN_RE = /^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]{1,20}):(\d{12})?:(foundation-model|inference-profile)\/(.+)$/;
// The pattern the API checks a model id against, loosely: no '%', '/' only inside an ARN.
const MODEL_ID_RE = /^(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{0,12}:[a-z-]+\/[a-zA-Z0-9.:_-]{1,512}|[a-zA-Z0-9.:_-]{1,2048})$/;

/** The foundation model an id (foundation id, inference profile id, or an ARN of either) names. */
function resolveModel(id: string): string | undefined {
  const arn = ARN_RE.exec(id);
  if (arn) {
    const kind = arn[3]!;
    const rest = arn[4]!;
    // Foundation-model ARNs have no account; inference-profile ARNs have one.
    if ((kind === 'foundation-model') !== (arn[2] === undefined)) return undefined;
    return kind === 'foundation-model' ? (FOUNDATION.has(rest) ? rest : undefined) : resolveProfile(rest);
  }
  return FOUNDATION.has(id) ? id : resolveProfile(id);
}

function resolveProfile(id: string): string | undefined {
  for (const prefix of PROFILE_PREFIXES) {
    if (id.startsWith(prefix) && FOUNDATION.has(id.slice(prefix.length))) return id.slice(prefix.length);
  }
  return undefined;
}

const MAX_BODY_BYTES = 20 * 1024 * 1024;
const DEFAULT_CHUNKS = 3;
const DEFAULT_TOOL_FRAGMENTS = 8;
const DEFAULT_SPLIT_DELAY_MS = 5;
// AWS's common error for a failure it does not name, in the words of its Common Errors page.
const DEFAULT_STREAM_ERROR_CODE = 'InternalFailure';
const DEFAULT_STREAM_ERROR_MESSAGE = 'The request processing has failed because of an unknown error, exception or failure.';
const DEFAULT_TEXT = 'Hello from the Bedrock simulator.';
const DEFAULT_WORDS = DEFAULT_TEXT.split(' ');
const IMAGE_TOKENS = 1600;
const LATENCY_MS = 42;
const CLOCK_SKEW_MS = 5 * 60_000;

// ---------------------------------------------------------------------------------------------
// Errors

const CORAL_BEDROCK = 'http://internal.amazon.com/coral/com.amazon.bedrock/';
const CORAL_SERVICE = 'http://internal.amazon.com/coral/com.amazon.coral.service/';

interface ErrorKind {
  name: string;
  message: string;
}

const ERRORS_BY_STATUS: Record<number, ErrorKind> = {
  400: { name: 'ValidationException', message: 'Malformed input request, please reformat your input and try again.' },
  403: { name: 'AccessDeniedException', message: "You don't have access to the model with the specified model ID." },
  404: { name: 'ResourceNotFoundException', message: 'The requested resource could not be found.' },
  408: { name: 'ModelTimeoutException', message: 'Model has timed out in processing the request. Try your request again.' },
  424: { name: 'ModelErrorException', message: 'The model returned an error. Try your request again.' },
  429: { name: 'ThrottlingException', message: 'Too many requests, please wait before trying again.' },
  500: { name: 'InternalServerException', message: 'The system encountered an unexpected error during processing. Try your request again.' },
  503: { name: 'ServiceUnavailableException', message: 'Bedrock is unable to process your request.' },
};

function errorKind(status: number): ErrorKind {
  return ERRORS_BY_STATUS[status] ?? (status >= 500 ? ERRORS_BY_STATUS[500]! : ERRORS_BY_STATUS[400]!);
}

const STREAM_EXCEPTIONS: Record<BedrockStreamExceptionType, string> = {
  throttlingException: ERRORS_BY_STATUS[429]!.message,
  modelStreamErrorException: 'The model stream encountered an error. Try your request again.',
  validationException: ERRORS_BY_STATUS[400]!.message,
  serviceUnavailableException: ERRORS_BY_STATUS[503]!.message,
  internalServerException: ERRORS_BY_STATUS[500]!.message,
};

/** A request the API refuses. */
interface Refusal {
  status: number;
  name: string;
  message: string;
  /** The errortype's namespace: Bedrock's, or Coral's own for authentication. */
  namespace?: string;
}

function invalid(message: string): Refusal {
  return { status: 400, name: 'ValidationException', message };
}

function constraint(value: unknown, at: string, rule: string): Refusal {
  const shown = value === null || value === undefined ? 'null' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
  return invalid(`1 validation error detected: Value ${shown} at '${at}' failed to satisfy constraint: ${rule}`);
}

function denied(name: string, message: string): Refusal {
  return { status: 403, name, message, namespace: CORAL_SERVICE };
}

// ---------------------------------------------------------------------------------------------
// Authentication: SigV4 recomputed over the request as received, or a Bedrock API key.

interface Credential {
  secret: string;
  sessionToken?: string;
}

const CREDENTIALS = new Map<string, Credential>([
  [BEDROCK_SIM_ACCESS_KEY_ID, { secret: BEDROCK_SIM_SECRET_ACCESS_KEY }],
  [BEDROCK_SIM_TEMP_ACCESS_KEY_ID, { secret: BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY, sessionToken: BEDROCK_SIM_SESSION_TOKEN }],
]);

const SIGV4_RE = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE_RE = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/;
const SHA256 = Hash.bind(null, 'sha256');
const TOKEN_INVALID = 'The security token included in the request is invalid.';

/** `YYYYMMDDTHHMMSSZ`, as `x-amz-date` and the expiry messages write times. */
function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Exposes the canonical request the signer builds, for the mismatch message AWS writes. */
class Verifier extends SignatureV4 {
  canonicalRequest(request: Parameters<SignatureV4['sign']>[0], headers: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request as any, headers, payloadHash);
  }
}

async function checkSigV4(req: IncomingMessage, auth: string, path: string, search: string, body: string): Promise<Refusal | undefined> {
  const m = SIGV4_RE.exec(auth);
  if (!m) {
    return { ...denied('IncompleteSignatureException', `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth}`), status: 400 };
  }
  const [, accessKeyId, scopeDate, region, service, signedList, signature] = m as unknown as string[];
  const credential = CREDENTIALS.get(accessKeyId!);
  if (!credential) return denied('UnrecognizedClientException', TOKEN_INVALID);
  if (credential.sessionToken !== undefined && req.headers['x-amz-security-token'] !== credential.sessionToken) {
    return denied('UnrecognizedClientException', TOKEN_INVALID);
  }
  if (service !== 'bedrock') return denied('InvalidSignatureException', "Credential should be scoped to correct service: 'bedrock'.");
  const dateHeader = req.headers['x-amz-date'];
  const date = typeof dateHeader === 'string' ? AMZ_DATE_RE.exec(dateHeader) : null;
  if (!date) {
    return { ...denied('IncompleteSignatureException', `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${auth}`), status: 400 };
  }
  const [, y, mo, d, h, mi, s] = date as unknown as string[];
  const signedAt = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!);
  if (scopeDate !== dateHeader!.slice(0, 8)) {
    return denied('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${dateHeader!.slice(0, 8)}', from '${dateHeader}'.`);
  }
  const now = Date.now();
  if (signedAt < now - CLOCK_SKEW_MS) {
    return denied('InvalidSignatureException', `Signature expired: ${dateHeader} is now earlier than ${amzDate(now - CLOCK_SKEW_MS)} (${amzDate(now)} - 5 min.)`);
  }
  if (signedAt > now + CLOCK_SKEW_MS) {
    return denied('InvalidSignatureException', `Signature not yet current: ${dateHeader} is still later than ${amzDate(now + CLOCK_SKEW_MS)} (${amzDate(now)} + 5 min.)`);
  }
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const sentHash = req.headers['x-amz-content-sha256'];
  if (typeof sentHash === 'string' && sentHash !== bodyHash && sentHash !== 'UNSIGNED-PAYLOAD') {
    return denied('InvalidSignatureException', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }

  // The request as received: its path (encoded again by the signer), its signed headers, its body.
  const names = signedList!.split(';');
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) {
    const had = query[k];
    query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  const request = { method: req.method ?? 'POST', protocol: 'http:', hostname: '', path, query, headers, body };
  const signer = new Verifier({ credentials: { accessKeyId: accessKeyId!, secretAccessKey: credential.secret }, region: region!, service: 'bedrock', sha256: SHA256, applyChecksum: false });
  const signed = await signer.sign(request, { signingDate: new Date(signedAt), signingRegion: region!, signingService: 'bedrock', signableHeaders: new Set(names) });
  const expected = /Signature=([0-9a-f]{64})$/.exec(String(signed.headers.authorization))?.[1];
  if (expected === signature) return undefined;

  const canonicalHeaders: Record<string, string> = {};
  for (const name of names) canonicalHeaders[name] = String(signed.headers[name] ?? '').trim().replace(/\s+/g, ' ');
  const canonical = signer.canonicalRequest(request, canonicalHeaders, typeof sentHash === 'string' ? sentHash : bodyHash);
  const stringToSign = `AWS4-HMAC-SHA256\n${dateHeader}\n${scopeDate}/${region}/bedrock/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`;
  return denied('InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n' +
    `The Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${stringToSign}'\n`);
}

/** What a request presented to authenticate: its Bearer key, else its session token and access key id. */
function presentedCredential(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? '';
  if (auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  const accessKeyId = /Credential=([^/,\s]+)/.exec(auth)?.[1] ?? '(none)';
  const token = req.headers['x-amz-security-token'];
  return typeof token === 'string' ? `${token} for ${accessKeyId}` : accessKeyId;
}

async function authenticate(req: IncomingMessage, path: string, search: string, body: string): Promise<Refusal | undefined> {
  const auth = req.headers.authorization;
  if (auth === undefined || auth === '') return denied('MissingAuthenticationTokenException', 'Missing Authentication Token');
  if (auth.slice(0, 7).toLowerCase() === 'bearer ') {
    const key = auth.slice(7).trim();
    if (key === BEDROCK_SIM_API_KEY) return undefined;
    if (!key.startsWith('ABSK')) return denied('UnrecognizedClientException', 'Invalid API Key format: Must start with pre-defined prefix');
    return denied('UnrecognizedClientException', TOKEN_INVALID);
  }
  return checkSigV4(req, auth, path, search, body);
}

// ---------------------------------------------------------------------------------------------
// Request validation: one pass that also counts input tokens and notes what the answer depends on.

const REQUEST_FIELDS = new Set(['messages', 'system', 'inferenceConfig', 'toolConfig', 'guardrailConfig',
  'additionalModelRequestFields', 'promptVariables', 'additionalModelResponseFieldPaths', 'requestMetadata',
  'performanceConfig', 'serviceTier', 'outputConfig']);
const BLOCK_KINDS = new Set(['text', 'image', 'document', 'video', 'audio', 'toolUse', 'toolResult', 'guardContent',
  'cachePoint', 'reasoningContent', 'citationsContent', 'searchResult']);
const IMAGE_FORMATS = new Set(['gif', 'jpeg', 'png', 'webp']);
const DOCUMENT_FORMATS = new Set(['csv', 'doc', 'docx', 'html', 'md', 'pdf', 'txt', 'xls', 'xlsx']);
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;

interface Parsed {
  inputTokens: number;
  /** Input tokens before the last `cachePoint`, or 0. */
  cachedPrefix: number;
  maxTokens: number;
  tools: Record<string, any>[];
  choice: 'auto' | 'any' | 'tool';
  choiceTool: Record<string, any> | undefined;
  stopSequences: string[];
  /** The text of the `toolResult` blocks of the last message, or null if it has none. */
  toolResults: string | null;
  userLast: boolean;
}

interface Tally {
  tokens: number;
  cachedPrefix: number;
  usesTools: boolean;
}

function resultText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const part of content) {
    if (!isObject(part)) continue;
    if (typeof part.text === 'string') parts.push(part.text);
    else if (part.json !== undefined) parts.push(JSON.stringify(part.json));
  }
  return parts.join(' ');
}

/** Checks one content block; counts it into `tally`; returns a tool result's text when it is one. */
function checkBlock(block: unknown, at: string, role: string, tally: Tally): Refusal | { result?: string } {
  if (!isObject(block)) return constraint(block, at, 'Member must not be null');
  const kinds = Object.keys(block);
  if (kinds.length !== 1 || !BLOCK_KINDS.has(kinds[0]!)) {
    return invalid(`The ContentBlock object at ${at} must set exactly one of the following keys: ${[...BLOCK_KINDS].join(', ')}.`);
  }
  const kind = kinds[0]!;
  const value = block[kind];
  switch (kind) {
    case 'text':
      if (typeof value !== 'string') return constraint(value, `${at}.member.text`, 'Member must not be null');
      if (value.trim() === '') return invalid(`The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`);
      tally.tokens += countWords(value);
      return {};
    case 'image':
    case 'document': {
      if (!isObject(value)) return constraint(value, `${at}.member.${kind}`, 'Member must not be null');
      const formats = kind === 'image' ? IMAGE_FORMATS : DOCUMENT_FORMATS;
      if (!formats.has(value.format)) {
        return constraint(value.format, `${at}.member.${kind}.format`, `Member must satisfy enum value set: [${[...formats].join(', ')}]`);
      }
      if (kind === 'document' && (typeof value.name !== 'string' || value.name === '')) {
        return constraint(value.name, `${at}.member.document.name`, 'Member must not be null');
      }
      const source = value.source;
      if (!isObject(source) || (typeof source.bytes !== 'string' && !isObject(source.s3Location) && typeof source.text !== 'string' && !Array.isArray(source.content))) {
        return constraint(source, `${at}.member.${kind}.source`, 'Member must not be null');
      }
      if (typeof source.bytes === 'string' && (source.bytes === '' || Buffer.from(source.bytes, 'base64').length === 0)) {
        return invalid(`The ${kind} bytes at ${at} are empty or not valid base64.`);
      }
      tally.tokens += typeof source.text === 'string' ? countWords(source.text) : IMAGE_TOKENS;
      return {};
    }
    case 'toolUse':
      if (role !== 'assistant') return invalid(`A toolUse block can only appear in an assistant message; found one at ${at}.`);
      if (!isObject(value) || typeof value.toolUseId !== 'string' || typeof value.name !== 'string') {
        return constraint(value, `${at}.member.toolUse`, 'Member must have toolUseId, name and input');
      }
      tally.usesTools = true;
      tally.tokens += countWords(value.name) + (isObject(value.input) ? Object.keys(value.input).length : 0);
      return {};
    case 'toolResult': {
      if (role !== 'user') return invalid(`A toolResult block can only appear in a user message; found one at ${at}.`);
      if (!isObject(value) || typeof value.toolUseId !== 'string' || !Array.isArray(value.content)) {
        return constraint(value, `${at}.member.toolResult`, 'Member must have toolUseId and content');
      }
      tally.usesTools = true;
      const text = resultText(value.content);
      tally.tokens += countWords(text);
      return { result: text };
    }
    case 'cachePoint':
      if (!isObject(value) || value.type !== 'default') return constraint(value?.type, `${at}.member.cachePoint.type`, 'Member must satisfy enum value set: [default]');
      tally.cachedPrefix = tally.tokens;
      return {};
    default:
      return {};
  }
}

function checkMessages(messages: unknown, tally: Tally): Refusal | { toolResults: string | null; userLast: boolean } {
  if (messages === undefined || messages === null) return constraint(null, 'messages', 'Member must not be null');
  if (!Array.isArray(messages)) return invalid('Unable to parse request body: messages must be a list.');
  if (messages.length === 0) return invalid('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
  let previous = '';
  let toolResults: string | null = null;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (!isObject(message)) return constraint(message, `messages.${i + 1}.member`, 'Member must not be null');
    const role = message.role;
    if (role !== 'user' && role !== 'assistant') {
      return constraint(role, `messages.${i + 1}.member.role`, 'Member must satisfy enum value set: [user, assistant]');
    }
    if (i === 0 && role !== 'user') return invalid('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
    if (role === previous) {
      return invalid('A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.');
    }
    const content = message.content;
    if (content === undefined || content === null) return constraint(null, `messages.${i + 1}.member.content`, 'Member must not be null');
    if (!Array.isArray(content)) return invalid(`Unable to parse request body: messages.${i}.content must be a list of content blocks.`);
    if (content.length === 0) {
      return invalid(`The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`);
    }
    toolResults = null;
    for (let j = 0; j < content.length; j++) {
      const checked = checkBlock(content[j], `messages.${i}.content.${j}`, role, tally);
      if ('status' in checked) return checked;
      if (checked.result !== undefined) toolResults = toolResults === null ? checked.result : `${toolResults}; ${checked.result}`;
    }
    previous = role;
  }
  return { toolResults, userLast: previous === 'user' };
}

function checkInference(config: unknown): Refusal | { maxTokens: number; stopSequences: string[] } {
  if (config === undefined || config === null) return { maxTokens: 0, stopSequences: [] };
  if (!isObject(config)) return invalid('Unable to parse request body: inferenceConfig must be an object.');
  const { maxTokens, temperature, topP, stopSequences } = config;
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
    return constraint(maxTokens, 'inferenceConfig.maxTokens', 'Member must have value greater than or equal to 1');
  }
  for (const [name, value] of [['temperature', temperature], ['topP', topP]] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || value < 0) return constraint(value, `inferenceConfig.${name}`, 'Member must have value greater than or equal to 0');
    if (value > 1) return constraint(value, `inferenceConfig.${name}`, 'Member must have value less than or equal to 1');
  }
  const stops: string[] = [];
  if (stopSequences !== undefined) {
    if (!Array.isArray(stopSequences) || stopSequences.length > 2500) {
      return constraint(stopSequences, 'inferenceConfig.stopSequences', 'Member must have length less than or equal to 2500');
    }
    for (const seq of stopSequences) {
      if (typeof seq !== 'string' || seq.length === 0) return constraint(seq, 'inferenceConfig.stopSequences.member', 'Member must have length greater than or equal to 1');
      stops.push(seq);
    }
  }
  return { maxTokens: maxTokens ?? 0, stopSequences: stops };
}

function checkTools(config: unknown, tally: Tally): Refusal | Pick<Parsed, 'tools' | 'choice' | 'choiceTool'> {
  if (config === undefined || config === null) return { tools: [], choice: 'auto', choiceTool: undefined };
  if (!isObject(config) || !Array.isArray(config.tools) || config.tools.length === 0) {
    return constraint(isObject(config) ? config.tools : config, 'toolConfig.tools', 'Member must have length greater than or equal to 1');
  }
  const tools: Record<string, any>[] = [];
  for (let i = 0; i < config.tools.length; i++) {
    const tool = config.tools[i];
    if (isObject(tool) && isObject(tool.cachePoint)) {
      tally.cachedPrefix = tally.tokens;
      continue;
    }
    const spec = isObject(tool) ? tool.toolSpec : undefined;
    if (!isObject(spec)) return constraint(spec, `toolConfig.tools.${i + 1}.member.toolSpec`, 'Member must not be null');
    if (typeof spec.name !== 'string' || !TOOL_NAME_RE.test(spec.name)) {
      return constraint(spec.name, `toolConfig.tools.${i + 1}.member.toolSpec.name`, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+');
    }
    if (tools.some((t) => t.name === spec.name)) return invalid(`The toolConfig field contains duplicate tool names: ${spec.name}. Tool names must be unique.`);
    if (!isObject(spec.inputSchema) || !isObject(spec.inputSchema.json)) {
      return constraint(spec.inputSchema, `toolConfig.tools.${i + 1}.member.toolSpec.inputSchema`, 'Member must not be null');
    }
    tools.push(spec);
    tally.tokens += countWords(spec.name) + (typeof spec.description === 'string' ? countWords(spec.description) : 0) +
      Object.keys(isObject(spec.inputSchema.json.properties) ? spec.inputSchema.json.properties : {}).length;
  }
  const tc = config.toolChoice;
  if (tc === undefined || tc === null) return { tools, choice: 'auto', choiceTool: undefined };
  if (!isObject(tc) || Object.keys(tc).length !== 1) return invalid('The toolChoice field must set exactly one of auto, any or tool.');
  if (isObject(tc.auto)) return { tools, choice: 'auto', choiceTool: undefined };
  if (isObject(tc.any)) return { tools, choice: 'any', choiceTool: undefined };
  if (isObject(tc.tool)) {
    const named = tools.find((t) => t.name === tc.tool.name);
    if (!named) return invalid(`The tool ${String(tc.tool.name)} named in toolChoice is not in toolConfig.tools.`);
    return { tools, choice: 'tool', choiceTool: named };
  }
  return invalid('The toolChoice field must set exactly one of auto, any or tool.');
}

function checkSystem(system: unknown, tally: Tally): Refusal | undefined {
  if (system === undefined || system === null) return undefined;
  if (!Array.isArray(system)) return invalid('Unable to parse request body: system must be a list of system content blocks.');
  for (let i = 0; i < system.length; i++) {
    const block = system[i];
    if (!isObject(block) || Object.keys(block).length !== 1) {
      return invalid(`The SystemContentBlock object at system.${i} must set exactly one of the following keys: text, guardContent, cachePoint.`);
    }
    if (typeof block.text === 'string') {
      if (block.text.trim() === '') return invalid(`The text field in the SystemContentBlock object at system.${i} is blank. Add text to the text field, and try again.`);
      tally.tokens += countWords(block.text);
    } else if (isObject(block.cachePoint)) {
      tally.cachedPrefix = tally.tokens;
    } else if (!isObject(block.guardContent)) {
      return invalid(`The SystemContentBlock object at system.${i} must set exactly one of the following keys: text, guardContent, cachePoint.`);
    }
  }
  return undefined;
}

function checkBody(body: Record<string, any>): Refusal | Parsed {
  for (const key in body) {
    if (!REQUEST_FIELDS.has(key)) return invalid(`Malformed input request: #: extraneous key [${key}] is not permitted, please reformat your input and try again.`);
  }
  const metadata = body.requestMetadata;
  if (metadata !== undefined) {
    if (!isObject(metadata)) return invalid('Unable to parse request body: requestMetadata must be a map of strings.');
    for (const key in metadata) {
      const value = metadata[key];
      if (typeof value !== 'string' || value.length > 256) {
        return constraint(value, `requestMetadata.${key}`, 'Member must have length less than or equal to 256');
      }
    }
  }
  const tally: Tally = { tokens: 0, cachedPrefix: 0, usesTools: false };
  const system = checkSystem(body.system, tally);
  if (system) return system;
  const tools = checkTools(body.toolConfig, tally);
  if ('status' in tools) return tools;
  const inference = checkInference(body.inferenceConfig);
  if ('status' in inference) return inference;
  const messages = checkMessages(body.messages, tally);
  if ('status' in messages) return messages;
  if (tally.usesTools && body.toolConfig === undefined) {
    return invalid('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  }
  return {
    inputTokens: tally.tokens,
    cachedPrefix: tally.cachedPrefix,
    maxTokens: inference.maxTokens,
    stopSequences: inference.stopSequences,
    ...tools,
    toolResults: messages.toolResults,
    userLast: messages.userLast,
  };
}

// ---------------------------------------------------------------------------------------------
// Answers: a list of blocks, then a Converse body or a list of event-stream frames.

type Block = { kind: 'text'; text: string } | { kind: 'toolUse'; id: string; name: string; input: string };

interface Answer {
  blocks: Block[];
  stopReason: string;
  outputTokens: number;
}

const defaultTexts = new Map<number, string>();

function answerFor(p: Parsed, fault: BedrockSimFault | undefined, idSeed: string): Answer {
  const forced = p.choice === 'any' || p.choice === 'tool';
  if (p.tools.length > 0 && (forced || (p.userLast && p.toolResults === null))) {
    const first = p.choiceTool ?? toolToCall(p.tools, fault?.call_tool);
    const calls = fault?.parallel_tools === true ? [first, p.choiceTool ?? p.tools[1] ?? first] : [first];
    let outputTokens = 0;
    const blocks: Block[] = calls.map((tool, i) => {
      const input = sampleObject(tool.inputSchema.json, 'arguments', () => ({}));
      outputTokens += countWords(input);
      // Parallel calls get distinct ids: the seed rotated.
      return { kind: 'toolUse', id: 'tooluse_' + idSeed.slice(i * 3) + idSeed.slice(0, i * 3), name: String(tool.name), input };
    });
    return { blocks, stopReason: 'tool_use', outputTokens };
  }

  let text: string;
  if (typeof fault?.content === 'string') text = fault.content;
  else if (p.toolResults !== null) text = toolResultReply(p.toolResults);
  else text = textOfWords(DEFAULT_TEXT, DEFAULT_WORDS, Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS), defaultTexts);
  let stopReason = typeof fault?.stop_reason === 'string' ? fault.stop_reason : 'end_turn';
  let cutAt = -1;
  for (const seq of p.stopSequences) {
    const at = text.indexOf(seq);
    if (at !== -1 && (cutAt === -1 || at < cutAt)) cutAt = at;
  }
  if (cutAt !== -1) {
    text = text.slice(0, cutAt);
    stopReason = 'stop_sequence';
  }
  const cut = p.maxTokens > 0 ? truncateWords(text, p.maxTokens) : null;
  if (cut !== null) {
    text = cut;
    stopReason = 'max_tokens';
  }
  return { blocks: [{ kind: 'text', text }], stopReason, outputTokens: countWords(text) };
}

function usageJson(p: Parsed, output: number, fault: BedrockSimFault | undefined): string {
  const cached = p.cachedPrefix;
  const input = p.inputTokens - cached;
  const total = p.inputTokens + output;
  if (cached === 0) return `{"inputTokens":${input},"outputTokens":${output},"totalTokens":${total}}`;
  const [read, write] = fault?.cache_read === true ? [cached, 0] : [0, cached];
  return `{"inputTokens":${input},"outputTokens":${output},"totalTokens":${total},"cacheReadInputTokens":${read},"cacheWriteInputTokens":${write}}`;
}

function blockJson(block: Block): string {
  return block.kind === 'text'
    ? `{"text":${JSON.stringify(block.text)}}`
    : `{"toolUse":{"toolUseId":"${block.id}","name":${JSON.stringify(block.name)},"input":${block.input}}}`;
}

function converseJson(p: Parsed, answer: Answer, fault: BedrockSimFault | undefined): string {
  return `{"metrics":{"latencyMs":${LATENCY_MS}},"output":{"message":{"content":[${answer.blocks.map(blockJson).join(',')}],"role":"assistant"}},` +
    `"stopReason":"${answer.stopReason}","usage":${usageJson(p, answer.outputTokens, fault)}}`;
}

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(headers: EventMessage['headers'], payload: string): Buffer {
  const bytes = codec.encode({ headers, body: fromUtf8(payload) });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function eventFrame(type: string, payload: string): Buffer {
  return frame({
    ':event-type': { type: 'string', value: type },
    ':content-type': { type: 'string', value: 'application/json' },
    ':message-type': { type: 'string', value: 'event' },
  }, payload);
}

function exceptionFrame(type: BedrockStreamExceptionType, message: string): Buffer {
  return frame({
    ':exception-type': { type: 'string', value: type },
    ':content-type': { type: 'string', value: 'application/json' },
    ':message-type': { type: 'string', value: 'exception' },
  }, JSON.stringify({ message }));
}

function errorFrame(code: string, message: string): Buffer {
  return frame({
    ':error-code': { type: 'string', value: code },
    ':error-message': { type: 'string', value: message },
    ':message-type': { type: 'string', value: 'error' },
  }, '');
}

const MESSAGE_START = eventFrame('messageStart', '{"role":"assistant"}');

interface StreamPlan {
  /** `messageStart`. */
  head: Buffer[];
  /** One entry per content delta, each led by the block boundaries before it; one frame a write. */
  steps: Buffer[][];
  /** The last `contentBlockStop`, `messageStop` and `metadata`. */
  tail: Buffer[];
}

function streamPlan(p: Parsed, answer: Answer, fault: BedrockSimFault | undefined): StreamPlan {
  const steps: Buffer[][] = [];
  let pending: Buffer[] = [];
  answer.blocks.forEach((block, i) => {
    let deltas: string[];
    if (block.kind === 'text') {
      deltas = splitPieces(block.text, Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS))
        .map((piece) => `{"contentBlockIndex":${i},"delta":{"text":${JSON.stringify(piece)}}}`);
    } else {
      // Only tool use announces its block; text starts with its first delta.
      pending.push(eventFrame('contentBlockStart', `{"contentBlockIndex":${i},"start":{"toolUse":{"toolUseId":"${block.id}","name":${JSON.stringify(block.name)}}}}`));
      const fragments = Math.max(1, Math.min(nonNegative(fault?.tool_fragments) ?? DEFAULT_TOOL_FRAGMENTS, block.input.length));
      deltas = splitPieces(block.input, fragments).map((piece) => `{"contentBlockIndex":${i},"delta":{"toolUse":{"input":${JSON.stringify(piece)}}}}`);
    }
    for (const delta of deltas) {
      pending.push(eventFrame('contentBlockDelta', delta));
      steps.push(pending);
      pending = [];
    }
    if (fault?.no_block_stop !== true) pending.push(eventFrame('contentBlockStop', `{"contentBlockIndex":${i}}`));
  });
  const stop = eventFrame('messageStop', `{"stopReason":"${answer.stopReason}"}`);
  const metadata = eventFrame('metadata', `{"usage":${usageJson(p, answer.outputTokens, fault)},"metrics":{"latencyMs":${LATENCY_MS}}}`);
  if (fault?.metadata_before_stop === true) pending.push(metadata, stop);
  else pending.push(stop, metadata);
  return { head: fault?.no_message_start === true ? [] : [MESSAGE_START], steps, tail: pending };
}

// ---------------------------------------------------------------------------------------------
// Per-request state and routing

interface Exchange extends SimConnection {
  /** `x-amzn-requestid`: a UUID. */
  requestId: string;
  /** 22 characters for tool use ids. */
  idSeed: string;
}

type Route = { kind: 'converse' | 'stream'; rawModel: string } | { kind: 'not_found' } | { kind: 'method' };

const MODEL_PREFIX = '/model/';

function route(method: string, path: string): Route {
  if (!path.startsWith(MODEL_PREFIX)) return { kind: 'not_found' };
  const slash = path.lastIndexOf('/');
  const action = path.slice(slash + 1);
  if (slash <= MODEL_PREFIX.length || (action !== 'converse' && action !== 'converse-stream')) return { kind: 'not_found' };
  if (method !== 'POST') return { kind: 'method' };
  return { kind: action === 'converse' ? 'converse' : 'stream', rawModel: path.slice(MODEL_PREFIX.length, slash) };
}

/**
 * `sim` in the body, else `additionalModelRequestFields.sim`, else `requestMetadata.sim` (JSON
 * text), else `requestMetadata.user` of the form `sim:<json>` (the gateway maps OpenAI's `user`
 * there when it translates a request).
 */
function faultOf(json: Record<string, any>): BedrockSimFault | undefined {
  const inBody = asFault(json.sim) ?? (isObject(json.additionalModelRequestFields) ? asFault(json.additionalModelRequestFields.sim) : undefined);
  if (inBody) return inBody as BedrockSimFault;
  const metadata = isObject(json.requestMetadata) ? json.requestMetadata : undefined;
  const user = typeof metadata?.user === 'string' && metadata.user.startsWith('sim:') ? metadata.user.slice(4) : undefined;
  const meta = metadata?.sim ?? user;
  if (typeof meta !== 'string') return undefined;
  try {
    return asFault(JSON.parse(meta)) as BedrockSimFault | undefined;
  } catch {
    return undefined;
  }
}

/** The body without the simulator's fault fields, as the model would see it. */
function withoutFault(json: Record<string, any>): Record<string, any> {
  const body = { ...json };
  delete body.sim;
  if (isObject(body.additionalModelRequestFields) && Object.hasOwn(body.additionalModelRequestFields, 'sim')) {
    body.additionalModelRequestFields = { ...body.additionalModelRequestFields };
    delete body.additionalModelRequestFields.sim;
  }
  if (isObject(body.requestMetadata) && Object.hasOwn(body.requestMetadata, 'sim')) {
    body.requestMetadata = { ...body.requestMetadata };
    delete body.requestMetadata.sim;
  }
  return body;
}

// ---------------------------------------------------------------------------------------------

export async function startBedrockSim(options: BedrockSimOptions = {}): Promise<BedrockSim> {
  const log = createSimLog(options.record ?? true);
  const steering = createFaultSteering(options.defaultFault);
  const timers = createTimers();

  function send(ex: Exchange, status: number, body: string, extra: string[] = []): void {
    if (ex.closed) return;
    ex.res.writeHead(status, [
      'content-type', 'application/json',
      'x-amzn-requestid', ex.requestId,
      ...extra,
      'content-length', String(Buffer.byteLength(body)),
    ]);
    ex.res.end(body);
  }

  function sendError(ex: Exchange, refusal: Refusal, retryAfter?: string): void {
    const extra = ['x-amzn-errortype', `${refusal.name}:${refusal.namespace ?? CORAL_BEDROCK}`];
    if (retryAfter !== undefined) extra.push('retry-after', retryAfter);
    send(ex, refusal.status, JSON.stringify({ message: refusal.message }), extra);
  }

  /**
   * Writes the frames of one step one per write, each in two writes (`split_frames`), or in
   * pieces of `trickle` bytes.
   */
  function writeFrames(ex: Exchange, frames: Buffer[], split: number, trickle = 0): boolean | Promise<boolean> {
    if (trickle > 0) {
      return (async () => {
        for (const f of frames) {
          for (let at = 0; at < f.length; at += trickle) {
            await new Promise<void>((resolve) => ex.res.write(f.subarray(at, at + trickle), () => resolve()));
            if (ex.closed) return false;
          }
        }
        return true;
      })();
    }
    if (split < 0) {
      for (const f of frames) ex.res.write(f);
      return true;
    }
    return (async () => {
      for (const f of frames) {
        const half = f.length >> 1;
        ex.res.write(f.subarray(0, half));
        await timers.sleep(split);
        if (ex.closed) return false;
        ex.res.write(f.subarray(half));
      }
      return true;
    })();
  }

  async function stream(ex: Exchange, plan: StreamPlan, fault: BedrockSimFault | undefined): Promise<void> {
    if (ex.closed) return;
    const { res } = ex;
    res.writeHead(200, ['content-type', 'application/vnd.amazon.eventstream', 'x-amzn-requestid', ex.requestId]);
    res.flushHeaders();
    const delay = nonNegative(fault?.chunk_delay_ms) ?? 0;
    const split = fault?.split_frames === true ? (delay || DEFAULT_SPLIT_DELAY_MS) : -1;
    const cutAfter = nonNegative(fault?.cut_after);
    const stallAfter = nonNegative(fault?.stall_after);
    const trickle = nonNegative(fault?.trickle_bytes) ?? 0;
    const exception = isObject(fault?.stream_exception) ? fault.stream_exception : undefined;
    const error = isObject(fault?.stream_error) ? fault.stream_error : undefined;
    const failure = exception ?? error;
    const failureAt = failure ? Math.min(nonNegative(failure.after) ?? 0, plan.steps.length) : -1;
    const exceptionType: BedrockStreamExceptionType = exception?.type !== undefined && Object.hasOwn(STREAM_EXCEPTIONS, exception.type)
      ? exception.type : 'modelStreamErrorException';
    const failureFrame = (): Buffer => exception
      ? exceptionFrame(
          exceptionType,
          (typeof exception.message === 'string' ? exception.message : STREAM_EXCEPTIONS[exceptionType]) +
            (exception.echo_key === true ? ` (request made with ${presentedCredential(ex.req)})` : ''),
        )
      : errorFrame(typeof error?.code === 'string' ? error.code : DEFAULT_STREAM_ERROR_CODE,
        typeof error?.message === 'string' ? error.message : DEFAULT_STREAM_ERROR_MESSAGE);
    // Writes a step, after which k deltas are out; false when the stream ends here.
    const write = async (frames: Buffer[], k: number): Promise<boolean> => {
      if (!(await writeFrames(ex, frames, split, trickle))) return false;
      if (failureAt === k) {
        res.end(failureFrame());
        return false;
      }
      if (cutAfter === k) {
        // Cut only once what came before is on the wire, so the client sees exactly k deltas.
        res.write(Buffer.alloc(0), () => cutSocket(ex));
        return false;
      }
      return stallAfter !== k;
    };
    const simple = split < 0 && trickle === 0 && cutAfter === undefined && stallAfter === undefined && failureAt === -1;
    const go = simple
      ? playSteps(ex, plan.head, plan.steps, delay, timers.sleep, (frames) => writeFrames(ex, frames, split))
      : playSteps(ex, plan.head, plan.steps, delay, timers.sleep, write);
    if (await go) {
      if (await writeFrames(ex, plan.tail, split, trickle)) res.end();
    }
  }

  // -------------------------------------------------------------------------------------------
  // The request lifecycle: read body -> find the fault -> record -> route -> auth -> model
  // -> injected failure -> validate -> answer

  async function handle(ex: Exchange, request: SimRequest): Promise<void> {
    const { method, path, search, tooLarge, json, jsonError, body: raw } = request;
    const isBody = isObject(json);
    const fault = (isBody ? faultOf(json) : undefined) ?? (steering.take() as BedrockSimFault | undefined);
    const attempt = log.admit(ex, raw, json, fault);
    if (ex.closed) return;

    const target = route(method, path);
    if (target.kind === 'not_found') {
      return sendError(ex, { status: 404, name: 'UnknownOperationException', message: 'Not Found', namespace: CORAL_SERVICE });
    }
    if (target.kind === 'method') {
      return sendError(ex, { status: 405, name: 'UnknownOperationException', message: `Method ${method} is not allowed on ${path}; use POST`, namespace: CORAL_SERVICE });
    }
    const auth = await authenticate(ex.req, path, search, raw);
    if (auth) return sendError(ex, auth);
    if (ex.closed) return;
    if (tooLarge) return sendError(ex, invalid(`Input is too long for requested model. The request body exceeds ${MAX_BODY_BYTES} bytes.`));

    // The id is decoded once: an id encoded twice still holds '%' and is no model.
    let modelId: string;
    try {
      modelId = decodeURIComponent(target.rawModel);
    } catch {
      return sendError(ex, constraint(target.rawModel, 'modelId', 'Member must satisfy regular expression pattern'));
    }
    if (!MODEL_ID_RE.test(modelId)) return sendError(ex, constraint(modelId, 'modelId', 'Member must satisfy regular expression pattern: (arn:aws(-[^:]+)?:bedrock:...)|([a-zA-Z0-9.:_-]+)'));
    if (resolveModel(modelId) === undefined) return sendError(ex, invalid('The provided model identifier is invalid.'));

    // Faults come before validation so that error tests need no valid body.
    if (fault) {
      const failing = faultFails(fault, attempt);
      const delay = nonNegative(fault.delay_ms);
      if (delay) await timers.sleep(delay);
      if (ex.closed) return;
      if (failing) {
        if (fault.reset === true) return cutSocket(ex);
        const status = failStatus(fault);
        const kind = errorKind(status);
        return sendError(ex, {
          status,
          name: typeof fault.error_type === 'string' ? fault.error_type : kind.name,
          message: typeof fault.error_message === 'string' ? fault.error_message : kind.message,
        }, typeof fault.retry_after === 'string' ? fault.retry_after : undefined);
      }
    }

    if (jsonError !== undefined || (!isBody && raw !== '')) return sendError(ex, invalid('Unable to parse request body: the body is not a JSON object.'));
    const parsed = checkBody(isBody ? withoutFault(json) : {});
    if ('status' in parsed) return sendError(ex, parsed);

    const answer = answerFor(parsed, fault, ex.idSeed);
    if (target.kind === 'converse') return send(ex, 200, converseJson(parsed, answer, fault));
    // With fail_first, stream faults hit only the first attempts too.
    const streamFault = fault !== undefined && fault.fail_first !== undefined && attempt > fault.fail_first
      ? { ...fault, stream_exception: undefined, stream_error: undefined, cut_after: undefined, stall_after: undefined }
      : fault;
    return stream(ex, streamPlan(parsed, answer, streamFault), streamFault);
  }

  const served = await serveSim(
    { port: options.port, host: options.host ?? '127.0.0.1', maxBodyBytes: MAX_BODY_BYTES, steering },
    (req, res): Exchange => {
      const requestId = randomUUID();
      const seed = Buffer.from(requestId.replace(/-/g, ''), 'hex').toString('base64url');
      return { req, res, requestId, idSeed: seed.slice(0, 22), record: undefined, closed: false, cutByServer: false };
    },
    handle,
    (ex, err) => sendError(ex, { status: 500, name: 'InternalServerException', message: `Simulator error: ${err.message}` }),
  );

  return simHandle(served, log, timers, '', steering);
}
