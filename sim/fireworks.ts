/**
 * A stand-in for Fireworks AI's inference API (`/inference/v1`) on a local port, and, given another
 * flavour (a SimFlavour: path prefix, key header, request-id header, model list shape, error
 * envelope, Azure's deployment paths), for any OpenAI-compatible host: sim/openai-compatible.ts
 * names the family's flavours. One implementation of chat, completions, embeddings, models and
 * faults serves them all.
 *
 * Used by the gateway's tests, by users offline (`npm run sim`) and as the upstream for benchmarks,
 * so the success path does little work per request: constant JSON fragments are serialised once,
 * ids come from one `randomUUID()`, and a stream without delays is written in one `end()`.
 *
 * Faults are chosen per request by a `"sim": {...}` field in the JSON body (the gateway forwards
 * unknown body fields and strips unknown headers), by `"user": "sim:<json>"` (which survives a
 * translation between chat and the Responses API), or `?sim=<json>` on GET requests.
 *
 * Where the flavour's host serves it, OpenAI's Responses API (`POST /responses`) answers as chat
 * does (the same text, tool calls and structured output), in the shapes of OpenAI's reference:
 * https://platform.openai.com/docs/api-reference/responses.
 *
 * Fireworks facts this relies on, and where they come from:
 * - Error envelope `{"error":{"object":"error","type","code","message"}}`, `code` a string or
 *   number: vercel/ai PR #18307 (https://github.com/vercel/ai/pull/18307), which also shows a 400
 *   with `type`/`code` `invalid_request_error`.
 * - 401 message "The API key you provided is invalid." with code `UNAUTHORIZED`, type `error`:
 *   vercel/ai PR #18307, and a body captured live in a public repository.
 * - 404 "Model not found, inaccessible, and/or not deployed", code `NOT_FOUND`, type `error`,
 *   param `model`: warpdotdev/warp issue #15107 (https://github.com/warpdotdev/warp/issues/15107).
 * - Status codes and meanings: https://docs.fireworks.ai/guides/inference-error-codes
 * - Usage is sent in the final stream chunk (the one with `finish_reason`) without being asked;
 *   perf headers `fireworks-prompt-tokens`, `fireworks-server-processing-time` on non-streaming
 *   responses, only `fireworks-server-time-to-first-token` on streams:
 *   https://docs.fireworks.ai/faq-new/models-inference/how-to-get-performance-metrics-for-streaming-responses
 * - Request id header `x-request-id` (read by Fireworks clients in public code; the openai SDK
 *   reads the same header into `request_id`).
 * - A 429 body seen in the wild, `{"error":"Too Many Requests","message":"..."}`:
 *   GordeyZuev/LEAP issue #6 (https://github.com/GordeyZuev/LEAP/issues/6); offered here as
 *   `error_shape: 'flat'`.
 * Where nothing was found (405 and unknown-path bodies, validation messages), the envelope above
 * is used with OpenAI-style wording.
 */
import { createServer, STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { constants as zlibConstants, createGzip, gzipSync } from 'node:zlib';
import type { Gzip } from 'node:zlib';
import { CONTROL_PREFIX, createFaultSteering, toolToCall } from './control.js';
import { isGeminiNativePath, serveGeminiNative, type GeminiNativeHost } from './gemini-native.js';
import type { FaultSteering } from './control.js';
import { isObject, nonNegative, sampleFromSchema, sampleObject } from './schema-sample.js';
import { extraContentJson, signatureErrorBody, signatureProblem } from './thought-signatures.js';

// The value helpers every simulator uses, from the module they share.
export { isObject, nonNegative };

export interface SimFault {
  /** Groups the attempts of one logical request (the gateway retries with the same body). */
  key?: string;
  /**
   * Answer with this error status (every attempt, or only the first `fail_first` attempts).
   * 204 and 304 are answered with no body at all, as HTTP requires.
   */
  status?: number;
  /** The fault applies only to requests made with this API key; others are served as usual. */
  when_key?: string;
  /** Only the first N attempts with this key fail; later ones succeed. */
  fail_first?: number;
  /**
   * This fraction (0..1) of the requests fail, with `status` (default 503) or a `reset`: request n
   * of the fault's `key` (of the simulator's keyless ones without a key) fails when
   * floor(n * ratio) > floor((n - 1) * ratio), so 0.3 fails exactly 3 of every 10, spread out.
   */
  fail_ratio?: number;
  /** Which Fireworks error body to send (default 'error'). */
  error_shape?: 'error' | 'fault' | 'detail' | 'text' | 'flat';
  error_message?: string;
  /** Value of a `retry-after` header sent with failures (429s get "1" unless set). */
  retry_after?: string;
  /** Instead of an HTTP error, destroy the socket without answering (for failing attempts). */
  reset?: boolean;
  /** Wait this long before sending response headers. */
  delay_ms?: number;
  /** Streaming: number of content chunks (default 3). */
  chunks?: number;
  /** Streaming: delay between chunks. */
  chunk_delay_ms?: number;
  /** Streaming: destroy the socket after N content chunks (upstream dies mid-stream). */
  cut_after?: number;
  /** Streaming: after N content chunks stop sending but keep the connection open. */
  stall_after?: number;
  /**
   * Streaming: after N content chunks (0: right after the role chunk), an error chunk
   * (`data: {"error":{...}}`, as hosts report a failure after their 200) ends the stream.
   * `echo_key` adds the key the request presented to the message, as a provider that quotes what
   * it was sent would.
   */
  stream_error?: { after?: number; message?: string; echo_key?: boolean };
  /** The assistant text to return (default: a fixed sentence). */
  content?: string;
  /**
   * The tool the model calls when it calls one: the first of these names the request offers, else
   * its first tool. Agents offer many tools, and calling whichever comes first (a subagent
   * launcher, say) makes a loop no real model would.
   */
  call_tool?: string | string[];
  /**
   * A misbehaving provider: the successful answer is gzip-compressed (`content-encoding: gzip`)
   * whatever the request's `accept-encoding` says. Streams are compressed too, flushed after each
   * event so that every event still arrives when it is sent.
   */
  gzip?: boolean;
  /**
   * A 200 `application/json` answer whose body never ends: `{"id":"x","choices":[` and then small
   * objects, one after another, as fast as the client reads them, until it goes away.
   */
  endless?: boolean;
  /** Send this informational status (102-199, not 101) before the answer; 103 carries a `link`. */
  informational?: number;
  /**
   * Grow a successful non-stream answer to about this many bytes (at most 256 MiB) with a
   * `"padding"` field placed before `usage`, which stays last; `content-length` stays exact.
   */
  body_bytes?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path as received, including the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  /** The parsed body; undefined if it is not JSON. */
  json: any;
  key?: string;
  /**
   * 1-based count of requests seen with this key (1 when there is no key, except that keyless
   * requests with a `fail_ratio` are counted together).
   */
  attempt: number;
  /** The client went away before the response ended (not set when the sim cut the socket itself). */
  aborted: boolean;
  /** The response was fully written. */
  completed: boolean;
}

/** What every simulator in sim/ returns. */
export interface SimHandle {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The base URL clients are given. */
  url: string;
  port: number;
  requests: RecordedRequest[];
  requestsFor(key: string): RecordedRequest[];
  /** Polls `predicate`; rejects after `timeoutMs` (default 2000). */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** Forgets recorded requests and per-key attempt counts. */
  clear(): void;
  /** Closes the server and destroys open sockets. */
  close(): Promise<void>;
  /** The next `count` requests (default 1) that carry no fault of their own get `fault` (sim/control.ts). */
  queueFault(fault: object, count?: number): void;
  /** Every request that carries no fault and finds none queued gets `fault`; undefined: none. */
  setDefaultFault(fault: object | undefined): void;
}

export interface FireworksSim extends SimHandle {
  /** origin + the flavour's base path (`/inference/v1` for Fireworks) */
  url: string;
}

/** How every simulator in sim/ is started. */
export interface SimOptions {
  port?: number;
  host?: string;
  /** Keep a RecordedRequest per request (default true; benchmarks turn it off). */
  record?: boolean;
  /**
   * The fault of every request that carries none (sim/control.ts): how a test steers a client whose
   * bodies it cannot change, such as an agent.
   */
  defaultFault?: object;
}

export type FireworksSimOptions = SimOptions;

/** A key the simulator accepts; any key starting with `fw_` or `fw-` works. */
export const SIM_API_KEY = 'fw_sim_key';

export interface SimModel {
  id: string;
  kind: 'chat' | 'embedding';
  created: number;
  /** Embedding width. */
  dims?: number;
}

/** What one OpenAI-compatible host shows a client beyond the shared API: the simulator's dials. */
export interface SimFlavour {
  /** The provider it stands in for, as the gateway names it. */
  readonly name: string;
  /** Path prefix of the API on the host (`/inference/v1`, `/openai/v1`, `''`). */
  readonly basePath: string;
  /** Where the key arrives: `Authorization: Bearer <key>`, or Azure's `api-key: <key>`. */
  readonly auth: 'bearer' | 'api-key';
  /** A request with no key at all is served (Ollama; vLLM without --api-key). */
  readonly keyOptional: boolean;
  /** Whether a key is one the host accepts. */
  readonly acceptsKey: (key: string) => boolean;
  /** GET /models lists these. */
  readonly models: readonly SimModel[];
  /** The model a request's name stands for, or null: 404. */
  readonly resolveModel: (id: string) => SimModel | null;
  /** `owned_by` of the listed models. */
  readonly owner: (id: string) => string;
  /** Response header carrying the request id; undefined when the host sends none. */
  readonly requestIdHeader: string | undefined;
  /** GET /models as OpenAI's `{object:"list",data}`, or Together's bare array. */
  readonly modelsShape: 'list' | 'array';
  /** Azure: `/deployments/<deployment>/<route>` (the deployment is the model) and a required `api-version`. */
  readonly deployments: boolean;
  /** Default error envelope: Fireworks' (`object`, string `code`), OpenAI's (`message`, `type`, `param`, `code`), Azure's (`code`, `message`). */
  readonly errors: 'fireworks' | 'openai' | 'azure';
  /** Fireworks' `fireworks-*` timing headers. */
  readonly perfHeaders: boolean;
  /**
   * Where after the base path the host serves OpenAI's Responses API (`/responses`; Azure's v1
   * API `/v1/responses`); undefined when it serves none, and POST there is a 404 as on that host.
   */
  readonly responsesPath?: string;
  /** Google's own Gemini API beside the compatible layer, at `/v1beta/models/...` (sim/gemini-native.ts). */
  readonly geminiNative?: boolean;
  /**
   * Whether a model's tool calls carry Google's thought signatures (`extra_content`), which a
   * later request must send back (sim/thought-signatures.ts): Gemini 3 on Google's endpoint.
   */
  readonly thoughtSignatures?: (model: string) => boolean;
  /**
   * How a chat stream reports usage: on its finish chunk unless `stream_options.include_usage` is
   * false (`finish`, Fireworks'), or only when it is true, as a chunk of its own with `"choices":[]`
   * before [DONE] and `"usage":null` on every other chunk (`asked`, OpenAI's documented shape).
   */
  readonly streamUsage?: 'finish' | 'asked';
  /**
   * Chat request fields the host refuses with its 422 `extra_forbidden` (Mistral's validator for
   * `stream_options`, which OpenAI's SDKs and many clients send on streams).
   */
  readonly forbiddenFields?: readonly string[];
}

/** The serverless catalogue the simulator serves; users' own models are accepted besides. */
export const SIM_MODELS: readonly SimModel[] = Object.freeze([
  { id: 'accounts/fireworks/models/llama-v3p1-8b-instruct', kind: 'chat', created: 1721692800 },
  { id: 'accounts/fireworks/models/llama-v3p1-70b-instruct', kind: 'chat', created: 1721692800 },
  { id: 'accounts/fireworks/models/mixtral-8x7b-instruct', kind: 'chat', created: 1702252800 },
  { id: 'accounts/fireworks/models/qwen2p5-72b-instruct', kind: 'chat', created: 1726617600 },
  { id: 'accounts/fireworks/models/deepseek-v3', kind: 'chat', created: 1735084800 },
  // The 2023 catalogue the seed's quick-start names (Llama 2 chat, Mistral 7B, Mixtral 8x7B,
  // CodeLlama, MPT, Falcon). The CodeLlama ids are Fireworks' `llama-v2-*-code*` names, as allowed
  // by sourcegraph's Cody Gateway config and used in LangChain examples; `falcon-7b` is the example
  // in Fireworks' own deployment API spec. `created` is each family's public release day. Base
  // models answer chat like the others: the simulator does not tell them apart.
  { id: 'accounts/fireworks/models/llama-v2-7b-chat', kind: 'chat', created: 1689638400 },
  { id: 'accounts/fireworks/models/llama-v2-13b-chat', kind: 'chat', created: 1689638400 },
  { id: 'accounts/fireworks/models/llama-v2-70b-chat', kind: 'chat', created: 1689638400 },
  { id: 'accounts/fireworks/models/mistral-7b', kind: 'chat', created: 1695772800 },
  { id: 'accounts/fireworks/models/mistral-7b-instruct-4k', kind: 'chat', created: 1695772800 },
  { id: 'accounts/fireworks/models/mixtral-8x7b', kind: 'chat', created: 1702252800 },
  { id: 'accounts/fireworks/models/llama-v2-13b-code-instruct', kind: 'chat', created: 1692835200 },
  { id: 'accounts/fireworks/models/llama-v2-34b-code', kind: 'chat', created: 1692835200 },
  { id: 'accounts/fireworks/models/llama-v2-34b-code-instruct', kind: 'chat', created: 1692835200 },
  { id: 'accounts/fireworks/models/mpt-7b-instruct', kind: 'chat', created: 1683244800 },
  { id: 'accounts/fireworks/models/falcon-7b', kind: 'chat', created: 1684972800 },
  { id: 'accounts/fireworks/models/falcon-40b', kind: 'chat', created: 1684972800 },
  { id: 'nomic-ai/nomic-embed-text-v1.5', kind: 'embedding', created: 1707782400, dims: 768 },
]);

const DEFAULT_CHUNKS = 3;
const DEFAULT_DIMS = 768;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const DEFAULT_TEXT = 'Hello from the Fireworks simulator.';
const DEFAULT_WORDS = DEFAULT_TEXT.split(' ');

const MODEL_NOT_FOUND = 'Model not found, inaccessible, and/or not deployed';
const INVALID_KEY = 'The API key you provided is invalid.';
// envoy's own text when it cannot reach a backend; Fireworks' edge is istio-envoy.
const ENVOY_503_TEXT = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure';

// Users' fine-tunes and deployments: any account but `fireworks`, optionally `base#deployment`.
const USER_MODEL_RE = /^accounts\/([^/]+)\/(models|deployedModels|deployments)\/[^/#]+$/;

const CATALOGUE = new Map<string, SimModel>(SIM_MODELS.map((m) => [m.id, m]));

function modelObject(flavour: SimFlavour, model: SimModel): string {
  const type = flavour.modelsShape === 'array' ? `,"type":"${model.kind}"` : '';
  return `{"id":${JSON.stringify(model.id)},"object":"model","owned_by":${JSON.stringify(flavour.owner(model.id))},"created":${model.created}${type}}`;
}

/** The body of GET /models, written once per simulator. */
function modelsListBody(flavour: SimFlavour): string {
  const items = flavour.models.map((m) => modelObject(flavour, m)).join(',');
  return flavour.modelsShape === 'array' ? `[${items}]` : `{"object":"list","data":[${items}]}`;
}

/** The catalogue entry for an accepted model id, a synthetic one for users' models, or null. */
function resolveFireworksModel(id: string): SimModel | null {
  const hash = id.indexOf('#');
  if (hash !== -1) {
    const base = resolveFireworksModel(id.slice(0, hash));
    return base && USER_MODEL_RE.test(id.slice(hash + 1)) ? base : null;
  }
  const known = CATALOGUE.get(id);
  if (known) return known;
  const m = USER_MODEL_RE.exec(id);
  if (m && m[1] !== 'fireworks') return { id, kind: 'chat', created: 1730000000 };
  return null;
}

/** Fireworks as it is: the simulator's own default. */
export const FIREWORKS_FLAVOUR: SimFlavour = Object.freeze({
  name: 'fireworks',
  basePath: '/inference/v1',
  auth: 'bearer',
  keyOptional: false,
  acceptsKey: (key: string) => key.length > 3 && (key.startsWith('fw_') || key.startsWith('fw-')),
  models: SIM_MODELS,
  resolveModel: resolveFireworksModel,
  owner: (id: string) => /^accounts\/([^/]+)\//.exec(id)?.[1] ?? 'fireworks',
  requestIdHeader: 'x-request-id',
  modelsShape: 'list',
  deployments: false,
  errors: 'fireworks',
  perfHeaders: true,
  // https://docs.fireworks.ai/guides/response-api: `client.responses.create` with Fireworks' base URL.
  responsesPath: '/responses',
});

// ---------------------------------------------------------------------------------------------
// Errors

interface ErrorKind {
  type: string;
  code: string;
  message: string;
  /** errorcode for the API-edge `fault` shape. */
  faultCode: string;
}

// 401/404 codes and types are as observed; the others follow the same naming.
const ERROR_KINDS: Record<number, ErrorKind> = {
  400: { type: 'invalid_request_error', code: 'invalid_request_error', message: 'Invalid request', faultCode: 'messaging.adaptors.http.flow.BadRequest' },
  401: { type: 'error', code: 'UNAUTHORIZED', message: INVALID_KEY, faultCode: 'oauth.v2.InvalidApiKey' },
  402: { type: 'error', code: 'PAYMENT_REQUIRED', message: 'Account is not on a paid plan or has exceeded its usage limits', faultCode: 'policies.ratelimit.QuotaViolation' },
  403: { type: 'error', code: 'FORBIDDEN', message: 'Forbidden', faultCode: 'accesscontrol.IPDeniedAccess' },
  404: { type: 'error', code: 'NOT_FOUND', message: MODEL_NOT_FOUND, faultCode: 'messaging.adaptors.http.flow.NotFound' },
  405: { type: 'invalid_request_error', code: 'METHOD_NOT_ALLOWED', message: 'Method Not Allowed', faultCode: 'messaging.adaptors.http.flow.MethodNotAllowed' },
  408: { type: 'error', code: 'DEADLINE_EXCEEDED', message: 'Request timed out', faultCode: 'messaging.adaptors.http.flow.GatewayTimeout' },
  412: { type: 'error', code: 'FAILED_PRECONDITION', message: 'Account is suspended or the model failed to load', faultCode: 'messaging.adaptors.http.flow.PreconditionFailed' },
  413: { type: 'invalid_request_error', code: 'PAYLOAD_TOO_LARGE', message: 'Request payload is too large', faultCode: 'protocol.http.TooBigBody' },
  429: { type: 'rate_limit_error', code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded; retry after the time given in retry-after', faultCode: 'policies.ratelimit.SpikeArrestViolation' },
  500: { type: 'server_error', code: 'INTERNAL', message: 'Internal server error', faultCode: 'messaging.adaptors.http.flow.InternalServerError' },
  502: { type: 'server_error', code: 'BAD_GATEWAY', message: 'Bad gateway', faultCode: 'messaging.adaptors.http.flow.BadGateway' },
  503: { type: 'server_error', code: 'SERVICE_UNAVAILABLE', message: 'The service is overloaded; try again later', faultCode: 'messaging.adaptors.http.flow.ServiceUnavailable' },
  504: { type: 'server_error', code: 'GATEWAY_TIMEOUT', message: 'Gateway timeout', faultCode: 'messaging.adaptors.http.flow.GatewayTimeout' },
};

function errorKind(status: number): ErrorKind {
  return ERROR_KINDS[status] ?? {
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: (STATUS_CODES[status] ?? 'ERROR').toUpperCase().replace(/[^A-Z0-9]+/g, '_'),
    message: STATUS_CODES[status] ?? 'Error',
    faultCode: `messaging.adaptors.http.flow.Status${status}`,
  };
}

interface ErrorSpec {
  status: number;
  shape?: SimFault['error_shape'];
  message?: string;
  code?: string;
  param?: string;
  retryAfter?: string;
  extraHeaders?: string[];
}

// OpenAI's own codes where it has one (a missing key is `invalid_api_key`, an unknown model
// `model_not_found`, a 429 `rate_limit_exceeded` of type `requests`); elsewhere a null code.
const OPENAI_ERRORS: Record<number, { type: string; code: string; message: string }> = {
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist or you do not have access to it.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests; retry after the time given in retry-after.' },
};

// Azure's gateway answers `{"error":{"code","message"}}`; its 401 text as Azure writes it.
const AZURE_ERRORS: Record<number, { code: string; message: string }> = {
  401: {
    code: '401',
    message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
  },
  404: {
    code: 'DeploymentNotFound',
    message: 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
  },
};

function errorBody(spec: ErrorSpec, style: SimFlavour['errors']): { contentType: string; body: string } {
  const kind = errorKind(spec.status);
  const message = spec.message ?? kind.message;
  switch (spec.shape) {
    case 'fault':
      return {
        contentType: 'application/json',
        body: JSON.stringify({ fault: { faultstring: message, detail: { errorcode: kind.faultCode } } }),
      };
    case 'detail':
      return { contentType: 'application/json', body: JSON.stringify({ detail: message }) };
    case 'flat':
      return {
        contentType: 'application/json',
        body: JSON.stringify({ error: STATUS_CODES[spec.status] ?? 'Error', message }),
      };
    case 'text': {
      const text = spec.message ?? (spec.status === 503 ? ENVOY_503_TEXT : `${spec.status} ${STATUS_CODES[spec.status] ?? ''}`.trim());
      return { contentType: 'text/plain', body: text };
    }
    default: {
      if (style === 'openai') {
        const known = OPENAI_ERRORS[spec.status];
        const type = known?.type ?? (spec.status >= 500 ? 'server_error' : 'invalid_request_error');
        const error = { message: spec.message ?? known?.message ?? kind.message, type, param: spec.param ?? null, code: spec.code ?? known?.code ?? null };
        return { contentType: 'application/json', body: JSON.stringify({ error }) };
      }
      if (style === 'azure') {
        const known = AZURE_ERRORS[spec.status];
        const error = { code: spec.code ?? known?.code ?? String(spec.status), message: spec.message ?? known?.message ?? kind.message };
        return { contentType: 'application/json', body: JSON.stringify({ error }) };
      }
      const error: Record<string, string> = {
        object: 'error',
        type: kind.type,
        code: spec.code ?? kind.code,
        message,
      };
      if (spec.param) error.param = spec.param;
      return { contentType: 'application/json', body: JSON.stringify({ error }) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Deterministic text, tokens and vectors

/** Whitespace-separated words: the simulator's token count. */
export function countWords(text: string): number {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const space = text.charCodeAt(i) <= 32;
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return words;
}

const WORD_BOUNDARY_RE = /(?<=\s)(?=\S)/;

/** Splits `text` into `count` contiguous pieces (at word boundaries where there are enough words). */
export function splitPieces(text: string, count: number): string[] {
  if (count <= 1) return [text];
  let units = text.split(WORD_BOUNDARY_RE);
  if (units.length < count) units = Array.from(text);
  const pieces: string[] = [];
  for (let j = 0; j < count; j++) {
    const from = Math.floor((j * units.length) / count);
    const to = Math.floor(((j + 1) * units.length) / count);
    pieces.push(units.slice(from, to).join(''));
  }
  return pieces;
}

const defaultTexts = new Map<number, string>();

/**
 * `text` when its `words` are at least `count`, otherwise those words repeated to `count` words,
 * so that a stream of `count` pieces splits at word boundaries. Memoised in `cache`.
 */
export function textOfWords(text: string, words: readonly string[], count: number, cache: Map<number, string>): string {
  if (count <= words.length) return text;
  let out = cache.get(count);
  if (out === undefined) {
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(words[i % words.length]!);
    out = parts.join(' ');
    if (cache.size < 256) cache.set(count, out);
  }
  return out;
}

/** The default reply, long enough to give `chunks` words. */
function defaultText(chunks: number): string {
  return textOfWords(DEFAULT_TEXT, DEFAULT_WORDS, chunks, defaultTexts);
}

/** The first `max` words of `text`, or null when it has no more than that. */
export function truncateWords(text: string, max: number): string | null {
  if (countWords(text) <= max) return null;
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const space = text.charCodeAt(i) <= 32;
    if (!space && !inWord) {
      if (words === max) return text.slice(0, i).trimEnd();
      words++;
    }
    inWord = !space;
  }
  return text;
}

/** A unit vector derived from `text` (FNV-1a seed, xorshift32 stream), rounded to float32. */
function embed(text: string, dims: number): Float32Array {
  let seed = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    seed ^= text.charCodeAt(i);
    seed = Math.imul(seed, 0x01000193);
  }
  let x = seed >>> 0 || 0x9e3779b9;
  const out = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const v = x / 0x80000000 - 1;
    out[i] = v;
    norm += v * v;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  for (let i = 0; i < dims; i++) out[i] = out[i]! * scale;
  return out;
}

function float32Base64(vector: Float32Array): string {
  const buf = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i]!, i * 4);
  return buf.toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Rate-limit headers: fixed limits, remaining counts fall within a one-minute window.

const LIMIT_REQUESTS = 6000;
const LIMIT_PROMPT = 6_000_000;
const LIMIT_GENERATED = 1_200_000;
const LIMIT_REQUESTS_S = String(LIMIT_REQUESTS);
const LIMIT_PROMPT_S = String(LIMIT_PROMPT);
const LIMIT_GENERATED_S = String(LIMIT_GENERATED);

// ---------------------------------------------------------------------------------------------
// Per-request state

interface Exchange extends SimConnection {
  requestId: string;
  /** The request's `sim` object, if it had one. */
  fault: SimFault | undefined;
}

type Route =
  | { kind: 'chat' | 'completions' | 'embeddings'; deployment: string | undefined }
  | { kind: 'responses'; deployment?: undefined }
  | { kind: 'models' }
  | { kind: 'model'; id: string }
  | { kind: 'not_found' }
  | { kind: 'method'; allow: string };

const DEPLOYMENTS = '/deployments/';

function route(flavour: SimFlavour, method: string, path: string): Route {
  if (!path.startsWith(flavour.basePath)) return { kind: 'not_found' };
  let rest = path.slice(flavour.basePath.length);
  // Azure names the deployment in the path; its inference routes exist only below one.
  let deployment: string | undefined;
  if (flavour.deployments && rest.startsWith(DEPLOYMENTS)) {
    const slash = rest.indexOf('/', DEPLOYMENTS.length);
    if (slash === -1) return { kind: 'not_found' };
    try {
      deployment = decodeURIComponent(rest.slice(DEPLOYMENTS.length, slash));
    } catch {
      return { kind: 'not_found' };
    }
    rest = rest.slice(slash);
  }
  // The Responses API names no deployment: on Azure the model in the body does.
  if (deployment === undefined && rest === flavour.responsesPath) {
    return method === 'POST' ? { kind: 'responses' } : { kind: 'method', allow: 'POST' };
  }
  let post: 'chat' | 'completions' | 'embeddings' | null = null;
  if (rest === '/chat/completions') post = 'chat';
  else if (rest === '/completions') post = 'completions';
  else if (rest === '/embeddings') post = 'embeddings';
  if (flavour.deployments && (post === null) !== (deployment === undefined)) return { kind: 'not_found' };
  if (post !== null) return method === 'POST' ? { kind: post, deployment } : { kind: 'method', allow: 'POST' };
  return modelsRoute(method, rest) ?? { kind: 'not_found' };
}

export type ModelsRoute =
  | { kind: 'models' }
  | { kind: 'model'; id: string }
  | { kind: 'not_found' }
  | { kind: 'method'; allow: string };

/** `rest` (the path after the API base) as a models route (`GET /models[/id]`), or null. */
export function modelsRoute(method: string, rest: string): ModelsRoute | null {
  if (rest !== '/models' && !rest.startsWith('/models/')) return null;
  if (method !== 'GET') return { kind: 'method', allow: 'GET' };
  if (rest === '/models') return { kind: 'models' };
  try {
    return { kind: 'model', id: decodeURIComponent(rest.slice('/models/'.length)) };
  } catch {
    return { kind: 'not_found' };
  }
}

/** The key a request presents the flavour's way: undefined when it sends none, '' when malformed. */
function presentedKey(flavour: SimFlavour, headers: IncomingHttpHeaders): string | undefined {
  if (flavour.auth === 'api-key') {
    const value = headers['api-key'];
    return typeof value === 'string' ? value.trim() : undefined;
  }
  const header = headers.authorization;
  if (header === undefined) return undefined;
  return header.slice(0, 7).toLowerCase() === 'bearer ' ? header.slice(7).trim() : '';
}

function isAuthorized(flavour: SimFlavour, headers: IncomingHttpHeaders): boolean {
  const key = presentedKey(flavour, headers);
  if (key === undefined) return flavour.keyOptional;
  return key !== '' && flavour.acceptsKey(key);
}

export function asFault(value: unknown): SimFault | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as SimFault) : undefined;
}

/**
 * A fault carried by `user` as `sim:<json>` (test/helpers.ts `simFault`): chat's and the Responses
 * API's `user` survives a translation from one to the other, where an unknown `sim` field may not.
 */
function userFault(user: unknown): SimFault | undefined {
  if (typeof user !== 'string' || !user.startsWith('sim:')) return undefined;
  try {
    return asFault(JSON.parse(user.slice(4)));
  } catch {
    return undefined;
  }
}


function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (part && typeof part === 'object' && typeof part.text === 'string') text += (text ? ' ' : '') + part.text;
  }
  return text;
}

/** The text of the tool results that end `messages` (role `tool`, or the older `function`), or null. */
function trailingToolResults(messages: any[]): string | null {
  let first = messages.length;
  while (first > 0 && (messages[first - 1]?.role === 'tool' || messages[first - 1]?.role === 'function')) first--;
  if (first === messages.length) return null;
  return messages.slice(first).map((m) => messageText(m.content)).join('; ');
}

const TOOL_RESULT_PREVIEW = 60;

/** The answer after a tool result: it names what the tool said, so tests can see the loop closed. */
export function toolResultReply(results: string): string {
  const chars = Array.from(results);
  const preview = chars.length > TOOL_RESULT_PREVIEW ? chars.slice(0, TOOL_RESULT_PREVIEW).join('') + '...' : results;
  return `Tool result received: ${preview}`;
}

/** A tool as the simulated model sees it, from chat's `{function: {name, parameters}}` or the Responses API's flat `{name, parameters}`. */
interface SimTool {
  name: string;
  parameters: unknown;
}

/** `tool_choice` of chat and of the Responses API, read alike. */
type SimToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** What decides a reply, read from a chat or a Responses request. */
interface ReplyInput {
  tools: readonly SimTool[];
  choice: SimToolChoice;
  /** The conversation ends with a user message (not a tool result, nor the assistant). */
  userSpokeLast: boolean;
  /** The text of the tool results that end the conversation, or null. */
  toolResults: string | null;
  /** Structured output asked for, with its schema if it has one. */
  format: { type: 'json_object' | 'json_schema'; schema: unknown } | undefined;
  fault: SimFault | undefined;
  /** Stream steps: the default text has at least this many words. */
  chunks: number;
  /** At most this many words of text (`max_tokens`, `max_output_tokens`). */
  maxWords: number | undefined;
}

type Reply = { kind: 'tool'; name: string; args: string } | { kind: 'text'; text: string; truncated: boolean };

/**
 * What the simulated model answers, decided alike for chat and the Responses API. Tool call: the
 * first tool, or the one tool_choice names. As on OpenAI, "required" or a named function always
 * calls; "auto" (the default) calls only when the user spoke last, so that an agent loop (call,
 * tool result, answer) ends with text; "none" never calls. Text: `sim.content`, else a value for
 * the structured output asked for, else what the tool results said, else the default sentence.
 */
function decideReply(input: ReplyInput): Reply {
  const { tools, choice } = input;
  if (tools.length > 0 && choice !== 'none') {
    const named = typeof choice === 'object' ? choice.name : undefined;
    if (named !== undefined || choice === 'required' || input.userSpokeLast) {
      const tool = (named !== undefined && tools.find((t) => t.name === named)) || toolToCall(tools, input.fault?.call_tool);
      return { kind: 'tool', name: tool.name, args: sampleObject(tool.parameters, 'arguments', () => ({})) };
    }
  }
  let text: string;
  const { format } = input;
  if (typeof input.fault?.content === 'string') text = input.fault.content;
  else if (format !== undefined) {
    // A json_schema answer is the schema's value whatever its type; json_object's is an object.
    text = format.type === 'json_schema' && format.schema !== undefined
      ? JSON.stringify(sampleFromSchema(format.schema, 'answer'))
      : sampleObject(format.schema, 'answer', () => ({ result: DEFAULT_TEXT }));
  } else if (input.toolResults !== null) text = toolResultReply(input.toolResults);
  else text = defaultText(input.chunks);
  if (input.maxWords !== undefined) {
    const cut = truncateWords(text, input.maxWords);
    if (cut !== null) return { kind: 'text', text: cut, truncated: true };
  }
  return { kind: 'text', text, truncated: false };
}

// ---------------------------------------------------------------------------------------------
// OpenAI's Responses API (https://platform.openai.com/docs/api-reference/responses): the request
// read and checked as OpenAI checks it, and the answer as a `response` object or its typed events.
// Behaviour is chat's (decideReply); only the shapes differ. Nothing is stored, so
// `previous_response_id` and `item_reference` name nothing the simulator knows: a 400, as OpenAI
// answers for an id it does not have (and as the stateless hosts, Groq, Together, OpenRouter, do).
// Only function tools are served: the simulator runs no hosted tool (web_search, file_search...).

/** A request the Responses API refuses: OpenAI's message, the offending parameter and its code. */
interface ResponsesProblem {
  problem: string;
  param: string | null;
  code: string | null;
}

/** What the simulated model needs from a Responses request. */
interface ResponsesRequest {
  /** Words of the instructions, messages and tool outputs: the input token count. */
  inputWords: number;
  userSpokeLast: boolean;
  toolResults: string | null;
  tools: SimTool[];
  choice: SimToolChoice;
  format: ReplyInput['format'];
  maxOutputTokens: number | undefined;
}

// OpenAI's words for a value's JSON type in "Invalid type" messages.
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? 'a string' : typeof value === 'boolean' ? 'a boolean' : 'an unknown value';
}

function missing(param: string): ResponsesProblem {
  return { problem: `Missing required parameter: '${param}'.`, param, code: 'missing_required_parameter' };
}

function wrongType(param: string, expected: string, value: unknown): ResponsesProblem {
  return { problem: `Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`, param, code: 'invalid_type' };
}

function wrongValue(param: string, value: unknown, supported: readonly string[]): ResponsesProblem {
  const list = supported.map((v) => `'${v}'`);
  const names = list.length > 1 ? `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}` : list[0];
  return { problem: `Invalid value: '${String(value)}'. Supported values are: ${names}.`, param, code: 'invalid_value' };
}

function outOfRange(param: string, value: number, bound: 'min' | 'max', limit: number): ResponsesProblem {
  const kind = Number.isInteger(value) && Number.isInteger(limit) && param === 'max_output_tokens' ? 'integer' : 'decimal';
  const side = bound === 'min' ? 'below minimum' : 'above maximum';
  return {
    problem: `Invalid '${param}': ${kind} ${side} value. Expected a value ${bound === 'min' ? '>=' : '<='} ${limit}, but got ${value} instead.`,
    param,
    code: `${kind}_${bound === 'min' ? 'below_min' : 'above_max'}_value`,
  };
}

// Chat-completion parameters sent to the Responses API by mistake, and where each has moved.
const MOVED_PARAMETERS: Readonly<Record<string, string>> = { messages: 'input', max_tokens: 'max_output_tokens', response_format: 'text.format' };
const MESSAGE_ROLES: readonly string[] = ['user', 'assistant', 'system', 'developer'];
const INPUT_PARTS: readonly string[] = ['input_text', 'input_image', 'input_file'];
const OUTPUT_PARTS: readonly string[] = ['output_text', 'refusal'];
const INPUT_ITEMS: readonly string[] = ['message', 'function_call', 'function_call_output', 'reasoning', 'item_reference'];
const TEXT_FORMATS: readonly string[] = ['text', 'json_object', 'json_schema'];
const TOOL_CHOICES: readonly string[] = ['none', 'auto', 'required'];
/** OpenAI's least `max_output_tokens`. */
const MIN_OUTPUT_TOKENS = 16;

/** Message content: a string or a list of parts of the kinds its role may send. */
function checkContent(content: unknown, param: string, role: string): ResponsesProblem | undefined {
  if (typeof content === 'string') return undefined;
  if (!Array.isArray(content)) return content === undefined ? missing(param) : wrongType(param, 'one of a string or array of content parts', content);
  const allowed = role === 'assistant' ? OUTPUT_PARTS : INPUT_PARTS;
  for (let j = 0; j < content.length; j++) {
    const part = content[j];
    const at = `${param}[${j}]`;
    if (!isObject(part)) return wrongType(at, 'an object', part);
    if (!allowed.includes(part.type)) return part.type === undefined ? missing(`${at}.type`) : wrongValue(`${at}.type`, part.type, allowed);
    if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text !== 'string') {
      return part.text === undefined ? missing(`${at}.text`) : wrongType(`${at}.text`, 'a string', part.text);
    }
    if (part.type === 'input_image' && typeof part.image_url !== 'string' && typeof part.file_id !== 'string') return missing(`${at}.image_url`);
  }
  return undefined;
}

/** The request as the simulated model sees it, or what OpenAI would refuse in it. */
function readResponsesRequest(body: Record<string, any>): ResponsesRequest | ResponsesProblem {
  for (const [name, moved] of Object.entries(MOVED_PARAMETERS)) {
    if (body[name] !== undefined) {
      return { problem: `Unsupported parameter: '${name}'. In the Responses API, this parameter has moved to '${moved}'.`, param: name, code: 'unsupported_parameter' };
    }
  }
  const previous = body.previous_response_id;
  if (previous !== undefined && previous !== null) {
    if (typeof previous !== 'string') return wrongType('previous_response_id', 'a string', previous);
    return { problem: `Previous response with id '${previous}' not found.`, param: 'previous_response_id', code: 'previous_response_not_found' };
  }
  const instructions = body.instructions;
  if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') return wrongType('instructions', 'a string', instructions);
  for (const name of ['stream', 'store', 'parallel_tool_calls', 'background'] as const) {
    const value = body[name];
    if (value !== undefined && value !== null && typeof value !== 'boolean') return wrongType(name, 'a boolean', value);
  }
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') return wrongType('user', 'a string', body.user);
  const metadata = body.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (!isObject(metadata)) return wrongType('metadata', 'an object', metadata);
    for (const key of Object.keys(metadata)) if (typeof metadata[key] !== 'string') return wrongType(`metadata.${key}`, 'a string', metadata[key]);
  }
  const maxOutput = body.max_output_tokens;
  if (maxOutput !== undefined && maxOutput !== null) {
    if (!Number.isInteger(maxOutput)) return wrongType('max_output_tokens', 'an integer', maxOutput);
    if (maxOutput < MIN_OUTPUT_TOKENS) return outOfRange('max_output_tokens', maxOutput, 'min', MIN_OUTPUT_TOKENS);
  }
  for (const [name, max] of [['temperature', 2], ['top_p', 1]] as const) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) return wrongType(name, 'a number', value);
    if (value < 0) return outOfRange(name, value, 'min', 0);
    if (value > max) return outOfRange(name, value, 'max', max);
  }

  // input: a string (one user message) or a list of items.
  const input = body.input;
  let inputWords = countWords(typeof instructions === 'string' ? instructions : '');
  let texts = typeof instructions === 'string' ? instructions : '';
  let userSpokeLast = false;
  let trailingOutputs: string[] = [];
  if (typeof input === 'string') {
    inputWords += countWords(input);
    texts += ' ' + input;
    userSpokeLast = true;
  } else if (Array.isArray(input)) {
    const calls = new Set<string>();
    for (let i = 0; i < input.length; i++) {
      const item = input[i];
      const at = `input[${i}]`;
      if (!isObject(item)) return wrongType(at, 'an object', item);
      const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
      if (type === undefined) return missing(`${at}.type`);
      if (!INPUT_ITEMS.includes(type)) return wrongValue(`${at}.type`, type, INPUT_ITEMS);
      if (type === 'function_call_output') {
        if (typeof item.call_id !== 'string') return item.call_id === undefined ? missing(`${at}.call_id`) : wrongType(`${at}.call_id`, 'a string', item.call_id);
        if (!calls.has(item.call_id)) return { problem: `No tool call found for function call output with call_id ${item.call_id}.`, param: 'input', code: null };
        const output = item.output;
        if (typeof output !== 'string' && !Array.isArray(output)) return output === undefined ? missing(`${at}.output`) : wrongType(`${at}.output`, 'one of a string or array of content parts', output);
        const text = messageText(output);
        inputWords += countWords(text);
        texts += ' ' + text;
        trailingOutputs.push(text);
        userSpokeLast = false;
        continue;
      }
      trailingOutputs = [];
      userSpokeLast = false;
      if (type === 'message') {
        if (!MESSAGE_ROLES.includes(item.role)) return item.role === undefined ? missing(`${at}.role`) : wrongValue(`${at}.role`, item.role, MESSAGE_ROLES);
        const problem = checkContent(item.content, `${at}.content`, item.role);
        if (problem) return problem;
        const text = messageText(item.content);
        inputWords += countWords(text);
        texts += ' ' + text;
        userSpokeLast = item.role === 'user';
      } else if (type === 'function_call') {
        for (const field of ['call_id', 'name', 'arguments'] as const) {
          if (typeof item[field] !== 'string') return item[field] === undefined ? missing(`${at}.${field}`) : wrongType(`${at}.${field}`, 'a string', item[field]);
        }
        calls.add(item.call_id);
      } else if (type === 'item_reference') {
        return { problem: `Item with id '${String(item.id)}' not found.`, param: 'input', code: null };
      }
      // A `reasoning` item handed back from an earlier answer is accepted and has no effect.
    }
  } else if (input === undefined || input === null) {
    return missing('input');
  } else {
    return wrongType('input', 'one of a string or array of input items', input);
  }

  const rawTools = body.tools ?? [];
  if (!Array.isArray(rawTools)) return wrongType('tools', 'an array', rawTools);
  const tools: SimTool[] = [];
  for (let i = 0; i < rawTools.length; i++) {
    const tool = rawTools[i];
    const at = `tools[${i}]`;
    if (!isObject(tool)) return wrongType(at, 'an object', tool);
    if (tool.type !== 'function') return tool.type === undefined ? missing(`${at}.type`) : wrongValue(`${at}.type`, tool.type, ['function']);
    if (typeof tool.name !== 'string') return tool.name === undefined ? missing(`${at}.name`) : wrongType(`${at}.name`, 'a string', tool.name);
    if (tool.parameters !== undefined && tool.parameters !== null && !isObject(tool.parameters)) return wrongType(`${at}.parameters`, 'an object', tool.parameters);
    if (tool.strict !== undefined && tool.strict !== null && typeof tool.strict !== 'boolean') return wrongType(`${at}.strict`, 'a boolean', tool.strict);
    tools.push({ name: tool.name, parameters: tool.parameters ?? undefined });
  }

  let choice: SimToolChoice = 'auto';
  const rawChoice = body.tool_choice;
  if (typeof rawChoice === 'string') {
    if (!TOOL_CHOICES.includes(rawChoice)) return wrongValue('tool_choice', rawChoice, TOOL_CHOICES);
    choice = rawChoice as SimToolChoice;
  } else if (isObject(rawChoice)) {
    if (rawChoice.type !== 'function') return rawChoice.type === undefined ? missing('tool_choice.type') : wrongValue('tool_choice.type', rawChoice.type, ['function']);
    if (typeof rawChoice.name !== 'string') return missing('tool_choice.name');
    if (!tools.some((t) => t.name === rawChoice.name)) {
      return { problem: `Tool choice '${rawChoice.name}' not found in 'tools' parameter.`, param: 'tool_choice', code: null };
    }
    choice = { name: rawChoice.name };
  } else if (rawChoice !== undefined && rawChoice !== null) {
    return wrongType('tool_choice', 'one of a string or object', rawChoice);
  }

  let format: ReplyInput['format'];
  const text = body.text;
  if (text !== undefined && text !== null) {
    if (!isObject(text)) return wrongType('text', 'an object', text);
    const fmt = text.format;
    if (fmt !== undefined && fmt !== null) {
      if (!isObject(fmt)) return wrongType('text.format', 'an object', fmt);
      if (!TEXT_FORMATS.includes(fmt.type)) return fmt.type === undefined ? missing('text.format.type') : wrongValue('text.format.type', fmt.type, TEXT_FORMATS);
      if (fmt.type === 'json_schema') {
        if (typeof fmt.name !== 'string') return fmt.name === undefined ? missing('text.format.name') : wrongType('text.format.name', 'a string', fmt.name);
        if (!isObject(fmt.schema)) return fmt.schema === undefined ? missing('text.format.schema') : wrongType('text.format.schema', 'an object', fmt.schema);
        format = { type: 'json_schema', schema: fmt.schema };
      } else if (fmt.type === 'json_object') {
        // OpenAI's own guard against a model asked for JSON without being told so.
        if (!/json/i.test(texts)) {
          return { problem: "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.", param: 'input', code: null };
        }
        format = { type: 'json_object', schema: undefined };
      }
    }
  }

  const toolResults = trailingOutputs.length > 0 ? trailingOutputs.join('; ') : null;
  return { inputWords, userSpokeLast, toolResults, tools, choice, format, maxOutputTokens: Number.isInteger(maxOutput) ? maxOutput : undefined };
}

/** The parts of a `response` object that repeat the request, in the reference's order after `output`. */
function responseSettings(body: Record<string, any>): Record<string, unknown> {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  return {
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    // Function tools as OpenAI echoes them: every field present, `strict` on unless turned off.
    tools: tools.map((t: Record<string, any>) => ({
      type: 'function',
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: t.strict ?? true,
    })),
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
  };
}

interface ResponseParts {
  id: string;
  createdAt: number;
  model: string;
  body: Record<string, any>;
}

/** A `response` object: `status` and `output` as given, the request's settings repeated. */
function responseObject(parts: ResponseParts, status: 'in_progress' | 'completed' | 'incomplete', output: unknown[], usage: unknown): Record<string, unknown> {
  const { body } = parts;
  return {
    id: parts.id,
    object: 'response',
    created_at: parts.createdAt,
    status,
    background: body.background ?? false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: parts.model,
    output,
    ...responseSettings(body),
    usage,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

function responsesUsage(input: number, output: number): Record<string, unknown> {
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

/** One typed Responses stream event, `sequence_number` last as OpenAI writes it. */
function responsesEvent(type: string, fields: Record<string, unknown>, sequence: number): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...fields, sequence_number: sequence })}\n\n`;
}

/**
 * A chat stream's plan, ended with [DONE]; in the `asked` flavour with OpenAI's usage chunk (when
 * the request set include_usage) and `"usage":null` on every other chunk.
 */
function usageAsked(flavour: SimFlavour, body: { stream_options?: { include_usage?: unknown } }, plan: StreamPlan, head: string, usage: string): StreamPlan {
  const done = 'data: [DONE]\n\n';
  if (flavour.streamUsage !== 'asked' || body.stream_options?.include_usage !== true) return { ...plan, tail: plan.tail + done };
  const withNull = (events: string) => events.replaceAll(']}\n\n', '],"usage":null}\n\n');
  return { head: withNull(plan.head), steps: plan.steps.map(withNull), tail: `${withNull(plan.tail)}${head}],"usage":${usage}}\n\n${done}` };
}

function usageJson(prompt: number, completion: number): string {
  return `{"prompt_tokens":${prompt},"total_tokens":${prompt + completion},"completion_tokens":${completion}}`;
}

interface StreamPlan {
  /** Written first (role chunks); may be empty. */
  head: string;
  /** One entry per content step. */
  steps: string[];
  /** Final chunk(s) and `[DONE]`. */
  tail: string;
}

/** `sim.body_bytes` is capped here. */
const MAX_PADDED_BYTES = 256 * 1024 * 1024;
/** What padding is written from, a piece at a time. */
const PADDING = Buffer.alloc(64 * 1024, 'x');
/** Objects per write of an endless body. */
const ENDLESS_BATCH = 64;

/** Resolves once `out` takes writes again, or once the exchange's connection has closed. */
function drained(ex: Exchange, out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      ex.res.off('close', done);
      resolve();
    };
    out.on('drain', done);
    ex.res.on('close', done);
  });
}

/** Where a body is written: the response, or (`sim.gzip`) a gzip stream into it. */
function bodySink(ex: Exchange): Writable {
  if (ex.fault?.gzip !== true) return ex.res;
  const gzip = createGzip();
  gzip.on('error', () => ex.res.destroy());
  ex.res.once('close', () => gzip.destroy());
  gzip.pipe(ex.res);
  return gzip;
}

// ---------------------------------------------------------------------------------------------
// What every simulator in sim/ shares: the request log and attempt counts, timers, the usage
// window behind rate-limit headers, fault parsing, step-by-step streams, and the HTTP server.

/** One request's connection, as the shared pieces see it; each simulator extends it. */
export interface SimConnection {
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedRequest | undefined;
  /** The response's connection has closed. */
  closed: boolean;
  /** The simulator destroyed the socket on purpose (reset, cut_after). */
  cutByServer: boolean;
}

export interface SimLog {
  requests: RecordedRequest[];
  /** Counts an attempt of the fault's key and, when recording, records the request; returns the attempt. */
  admit(conn: SimConnection, rawBody: string, json: unknown, fault: Pick<SimFault, 'key' | 'fail_ratio'> | undefined): number;
  requestsFor(key: string): RecordedRequest[];
  /** Forgets recorded requests and per-key attempt counts. */
  clear(): void;
}

export function createSimLog(recording: boolean): SimLog {
  const requests: RecordedRequest[] = [];
  const attempts = new Map<string, number>();
  let keylessRatioTurns = 0;
  return {
    requests,
    admit(conn, rawBody, json, fault) {
      const key = typeof fault?.key === 'string' ? fault.key : undefined;
      let attempt = 1;
      if (key !== undefined) {
        attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
      } else if (fault !== undefined && failRatio(fault) !== undefined) {
        attempt = ++keylessRatioTurns;
      }
      if (!recording) return attempt;
      const { req } = conn;
      const record: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: rawBody,
        json,
        attempt,
        aborted: conn.closed,
        completed: false,
      };
      if (key !== undefined) record.key = key;
      conn.record = record;
      requests.push(record);
      return attempt;
    },
    requestsFor: (key) => requests.filter((r) => r.key === key),
    clear() {
      requests.length = 0;
      attempts.clear();
      keylessRatioTurns = 0;
    },
  };
}

/** Timers that `clear()` cancels all at once, so that closing a simulator leaves none behind. */
export interface SimTimers {
  sleep(ms: number): Promise<void>;
  clear(): void;
}

export function createTimers(): SimTimers {
  const timers = new Set<NodeJS.Timeout>();
  return {
    sleep(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, ms);
        timers.add(timer);
      });
    },
    clear() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** Requests and tokens counted in a one-minute window that restarts when it has run out. */
export interface UsageWindow {
  /** When the window began (ms since the epoch). */
  start: number;
  requests: number;
  input: number;
  output: number;
  count(input: number, output: number): void;
}

export function createUsageWindow(): UsageWindow {
  const usage: UsageWindow = {
    start: Date.now(),
    requests: 0,
    input: 0,
    output: 0,
    count(input, output) {
      const now = Date.now();
      if (now - usage.start >= 60_000) {
        usage.start = now;
        usage.requests = 0;
        usage.input = 0;
        usage.output = 0;
      }
      usage.requests++;
      usage.input += input;
      usage.output += output;
    },
  };
  return usage;
}

/** The body as JSON, or the parser's complaint; an empty body is neither. */
export function parseJsonBody(raw: string): { json: any; error: string | undefined } {
  if (raw.length === 0) return { json: undefined, error: undefined };
  try {
    return { json: JSON.parse(raw), error: undefined };
  } catch (err) {
    return { json: undefined, error: (err as Error).message };
  }
}

/** `?sim=<json>` of a query string; a malformed fault is ignored, as a real upstream would ignore the parameter. */
export function queryFault(query: URLSearchParams): SimFault | undefined {
  const sim = query.get('sim');
  if (sim === null) return undefined;
  try {
    return asFault(JSON.parse(sim));
  } catch {
    return undefined;
  }
}

type FailingFault = Pick<SimFault, 'status' | 'reset' | 'fail_first' | 'fail_ratio'>;

/**
 * Whether the `status`/`reset` of `fault` applies to this attempt: all, the first `fail_first`,
 * the `fail_ratio` share of them, or both of the last two.
 */
export function faultFails(fault: FailingFault, attempt: number): boolean {
  const ratio = failRatio(fault);
  const selected = ratio === undefined
    ? typeof fault.status === 'number' || fault.reset === true
    : Math.floor(attempt * ratio) > Math.floor((attempt - 1) * ratio);
  return selected && (fault.fail_first === undefined || attempt <= fault.fail_first);
}

/** The status a failing attempt answers with: `status`, else 503 (a `fail_ratio` alone). */
export function failStatus(fault: Pick<SimFault, 'status'>): number {
  return typeof fault.status === 'number' ? fault.status : 503;
}

/** `fail_ratio` when it is a number in 0..1; anything else is ignored, as a malformed fault is. */
function failRatio(fault: Pick<SimFault, 'fail_ratio'>): number | undefined {
  const ratio = fault.fail_ratio;
  return typeof ratio === 'number' && ratio >= 0 && ratio <= 1 ? ratio : undefined;
}

/** Destroys the socket on purpose: a reset, or a stream cut mid-way. */
export function cutSocket(conn: SimConnection): void {
  conn.cutByServer = true;
  conn.req.socket.destroy();
}

/**
 * Writes `head` then each step, `delayMs` apart. `write(data, k)` sends `data`, after which k
 * steps are out, and says whether to go on (or promises to, for a step written in parts). True
 * when every step went out and the connection is still open, so the caller can end the stream.
 */
export async function playSteps<T>(conn: SimConnection, head: T, steps: readonly T[], delayMs: number,
  sleep: (ms: number) => Promise<void>, write: (data: T, k: number) => boolean | Promise<boolean>): Promise<boolean> {
  // A boolean is used as it is, so that synchronous writers stay synchronous.
  let go = write(head, 0);
  if (!(typeof go === 'boolean' ? go : await go)) return false;
  for (let k = 1; k <= steps.length; k++) {
    if (delayMs > 0) await sleep(delayMs);
    if (conn.closed) return false;
    go = write(steps[k - 1]!, k);
    if (!(typeof go === 'boolean' ? go : await go)) return false;
  }
  if (delayMs > 0) await sleep(delayMs);
  return !conn.closed;
}

export interface ServedSim {
  origin: string;
  port: number;
  /** Closes the server and destroys open sockets. */
  close(): Promise<void>;
}

/** A request as `serveSim` hands it over: its target split, its body read and parsed. */
export interface SimRequest {
  method: string;
  /** Path and query string, as received. */
  url: string;
  path: string;
  /** The query string without `?`; empty when there is none. */
  search: string;
  /** The body as text; empty when it was over the size limit. */
  body: string;
  tooLarge: boolean;
  /** The parsed body; undefined if it is empty or not JSON. */
  json: any;
  /** Why the body is not JSON, if it is not. */
  jsonError: string | undefined;
}

/**
 * An HTTP server on `host:port` that reads each body (flagging one over `maxBodyBytes` instead of
 * keeping it) and hands it to `handle`; a throw becomes `fail` while nothing has been sent, else a
 * destroyed socket. Records learn whether their response completed or the client went away.
 */
export async function serveSim<C extends SimConnection>(
  options: { port?: number; host: string; maxBodyBytes: number; steering: FaultSteering },
  connect: (req: IncomingMessage, res: ServerResponse) => C,
  handle: (conn: C, request: SimRequest) => Promise<void>,
  fail: (conn: C, err: Error) => void,
): Promise<ServedSim> {
  const server: Server = createServer((req, res) => {
    const conn = connect(req, res);
    res.on('close', () => {
      conn.closed = true;
      const record = conn.record;
      if (record) {
        record.completed = res.writableFinished;
        record.aborted = !res.writableFinished && !conn.cutByServer;
      }
    });
    const parts: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.maxBodyBytes) tooLarge = true;
      else parts.push(chunk);
    });
    req.on('end', () => {
      const body = tooLarge ? '' : parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const { json, error } = parseJsonBody(body);
      const path = q === -1 ? url : url.slice(0, q);
      // The simulator's own controls: answered here, not recorded, no key needed.
      if (path.startsWith(CONTROL_PREFIX)) return options.steering.serve(req.method ?? 'GET', path, json, res);
      const request: SimRequest = {
        method: req.method ?? 'GET',
        url,
        path,
        search: q === -1 ? '' : url.slice(q + 1),
        body,
        tooLarge,
        json,
        jsonError: error,
      };
      handle(conn, request).catch((err: unknown) => {
        if (!res.headersSent && !conn.closed) fail(conn, err as Error);
        else res.destroy();
      });
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const host = options.host;
  let closing = false;
  return {
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close(): Promise<void> {
      if (closing) return Promise.resolve();
      closing = true;
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** What a simulator returns: its server (clients use `origin + basePath`), request log and timers. */
export function simHandle(served: ServedSim, log: SimLog, timers: SimTimers, basePath: string, steering: FaultSteering): SimHandle {
  return {
    queueFault: steering.queue,
    setDefaultFault: steering.setDefault,
    origin: served.origin,
    url: served.origin + basePath,
    port: served.port,
    requests: log.requests,
    requestsFor: log.requestsFor,
    waitFor: pollUntil,
    clear: log.clear,
    close(): Promise<void> {
      timers.clear();
      return served.close();
    },
  };
}

/** Polls `predicate` every 5 ms (a throw counts as false); rejects after `timeoutMs`. */
export function pollUntil(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      let ok = false;
      try {
        ok = predicate();
      } catch {
        ok = false;
      }
      if (ok) return resolve();
      if (Date.now() >= deadline) return reject(new Error(`waitFor: condition not met within ${timeoutMs} ms`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

// ---------------------------------------------------------------------------------------------

export async function startFireworksSim(options: FireworksSimOptions = {}): Promise<FireworksSim> {
  return startFlavouredSim(FIREWORKS_FLAVOUR, options);
}

/** The simulator in any flavour; sim/openai-compatible.ts names the family's. */
export async function startFlavouredSim(flavour: SimFlavour, options: FireworksSimOptions = {}): Promise<FireworksSim> {
  const modelsBody = modelsListBody(flavour);
  const modelBodies = new Map<string, string>(flavour.models.map((m) => [m.id, modelObject(flavour, m)]));
  const log = createSimLog(options.record ?? true);
  const steering = createFaultSteering(options.defaultFault);
  const timers = createTimers();
  const sleep = timers.sleep;
  const usage = createUsageWindow();
  const countUsage = usage.count;
  const nativeHost: GeminiNativeHost = { acceptsKey: flavour.acceptsKey, models: flavour.models, sleep };

  /** Headers every response carries, as a flat [name, value, ...] list. */
  function headers(ex: Exchange, contentType: string): string[] {
    const h = [
      'content-type', contentType,
      'x-ratelimit-limit-requests', LIMIT_REQUESTS_S,
      'x-ratelimit-remaining-requests', String(Math.max(0, LIMIT_REQUESTS - usage.requests)),
      'x-ratelimit-limit-tokens-prompt', LIMIT_PROMPT_S,
      'x-ratelimit-remaining-tokens-prompt', String(Math.max(0, LIMIT_PROMPT - usage.input)),
      'x-ratelimit-limit-tokens-generated', LIMIT_GENERATED_S,
      'x-ratelimit-remaining-tokens-generated', String(Math.max(0, LIMIT_GENERATED - usage.output)),
    ];
    if (flavour.requestIdHeader !== undefined) h.push(flavour.requestIdHeader, ex.requestId);
    return h;
  }

  function send(ex: Exchange, status: number, contentType: string, body: string, extra?: string[]): void {
    if (ex.closed) return;
    const h = headers(ex, contentType);
    if (extra) h.push(...extra);
    if (status === 200 && ex.fault?.gzip === true) {
      const zipped = gzipSync(body);
      h.push('content-encoding', 'gzip', 'content-length', String(zipped.length));
      ex.res.writeHead(status, h);
      ex.res.end(zipped);
      return;
    }
    h.push('content-length', String(Buffer.byteLength(body)));
    ex.res.writeHead(status, h);
    ex.res.end(body);
  }

  function sendJson(ex: Exchange, body: string, prompt: number, generated: number, extra?: string[]): void {
    countUsage(prompt, generated);
    const perf = flavour.perfHeaders ? ['fireworks-prompt-tokens', String(prompt), 'fireworks-server-processing-time', '0.001'] : [];
    const h = extra ? perf.concat(extra) : perf;
    const size = ex.fault === undefined ? undefined : nonNegative(ex.fault.body_bytes);
    if (size === undefined) return send(ex, 200, 'application/json', body, h);
    sendPadded(ex, body, Math.min(size, MAX_PADDED_BYTES), h).catch(() => ex.res.destroy());
  }

  /** `sim.body_bytes`: `body` grown to `size` bytes by a `"padding"` field just before `usage`. */
  async function sendPadded(ex: Exchange, body: string, size: number, extra: string[]): Promise<void> {
    const at = body.lastIndexOf(',"usage":');
    const head = body.slice(0, at) + ',"padding":"';
    const tail = '"' + body.slice(at);
    let fill = size - Buffer.byteLength(head) - Buffer.byteLength(tail);
    if (at === -1 || fill <= 0) return send(ex, 200, 'application/json', body, extra);
    if (ex.closed) return;
    const h = headers(ex, 'application/json');
    h.push(...extra);
    // Compressed, the length is only known at the end: such an answer is chunked.
    if (ex.fault?.gzip === true) h.push('content-encoding', 'gzip');
    else h.push('content-length', String(size));
    ex.res.writeHead(200, h);
    // Written a piece at a time, as the client reads, so 256 MiB never sits in memory.
    const out = bodySink(ex);
    out.write(head);
    while (fill > 0) {
      if (ex.closed) return;
      const piece = fill >= PADDING.length ? PADDING : PADDING.subarray(0, fill);
      fill -= piece.length;
      if (!out.write(piece)) await drained(ex, out);
    }
    if (!ex.closed) out.end(tail);
  }

  /** `status` 204 or 304: the headers alone, as HTTP has these answers without a body. */
  function sendEmpty(ex: Exchange, status: number): void {
    if (ex.closed) return;
    countUsage(0, 0);
    // Without content-type (the first pair); Node adds no content-length for these statuses.
    ex.res.writeHead(status, headers(ex, '').slice(2));
    ex.res.end();
  }

  /** `sim.informational`: a 1xx response ahead of the real one. */
  function sendInformational(ex: Exchange, status: number): void {
    if (ex.closed) return;
    if (status === 103) ex.res.writeEarlyHints({ link: '</x>; rel=preload' });
    else if (status === 102) ex.res.writeProcessing();
    // Node has no API for other 1xx codes; nothing has been written for this response yet.
    else ex.res.socket?.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Informational'}\r\n\r\n`);
  }

  /** `sim.endless`: a JSON body that never ends, written only as fast as the client reads it. */
  async function endless(ex: Exchange): Promise<void> {
    if (ex.closed) return;
    countUsage(0, 0);
    const h = headers(ex, 'application/json');
    if (ex.fault?.gzip === true) h.push('content-encoding', 'gzip');
    ex.res.writeHead(200, h);
    const out = bodySink(ex);
    out.write('{"id":"x","choices":[');
    for (let index = 0; !ex.closed; index += ENDLESS_BATCH) {
      let batch = '';
      for (let i = index; i < index + ENDLESS_BATCH; i++) batch += `{"index":${i},"delta":{"content":"more"}},`;
      if (!out.write(batch)) await drained(ex, out);
    }
  }

  function sendError(ex: Exchange, spec: ErrorSpec): void {
    countUsage(0, 0);
    const { contentType, body } = errorBody(spec, flavour.errors);
    const extra = spec.extraHeaders ? [...spec.extraHeaders] : [];
    const retryAfter = spec.retryAfter ?? (spec.status === 429 ? '1' : undefined);
    if (retryAfter !== undefined) extra.push('retry-after', retryAfter);
    send(ex, spec.status, contentType, body, extra);
  }

  function badRequest(ex: Exchange, message: string, param?: string): void {
    sendError(ex, { status: 400, message, ...(param ? { param } : {}) });
  }

  /** Writes an SSE response step by step, honouring the stream faults. */
  async function stream(ex: Exchange, plan: StreamPlan, fault: SimFault | undefined, prompt: number, generated: number): Promise<void> {
    if (ex.closed) return;
    countUsage(prompt, generated);
    const h = headers(ex, 'text/event-stream');
    h.push('cache-control', 'no-cache');
    if (flavour.perfHeaders) h.push('fireworks-server-time-to-first-token', '0.001');
    const gzip = fault?.gzip === true;
    if (gzip) h.push('content-encoding', 'gzip');
    ex.res.writeHead(200, h);
    const out = bodySink(ex);
    const delay = nonNegative(fault?.chunk_delay_ms) ?? 0;
    const cutAfter = nonNegative(fault?.cut_after);
    const stallAfter = nonNegative(fault?.stall_after);
    const streamError = asFault(fault?.stream_error) as SimFault['stream_error'];
    const errorAt = streamError ? Math.min(nonNegative(streamError.after) ?? 0, plan.steps.length) : -1;
    if (delay === 0 && cutAfter === undefined && stallAfter === undefined && errorAt === -1) {
      out.end(plan.head + plan.steps.join('') + plan.tail);
      return;
    }
    let errorMessage = typeof streamError?.message === 'string' ? streamError.message : 'The server had an error while processing your request.';
    if (streamError?.echo_key === true) errorMessage += ` (request made with ${presentedKey(flavour, ex.req.headers)})`;
    const errorChunk = `data: ${JSON.stringify({ error: { message: errorMessage, type: 'server_error', code: 'internal_error', param: null } })}\n\n`;
    ex.res.flushHeaders();
    const res = ex.res;
    const cutWhenSent = (): void => {
      if (res.socket && res.socket.writableLength > 0) res.socket.once('drain', () => cutSocket(ex));
      else cutSocket(ex);
    };
    // Each event goes out whole: compressed ones are flushed, so the client can inflate it at once.
    const put = (data: string, sent?: () => void): void => {
      if (out === res) {
        res.write(data, sent);
        return;
      }
      out.write(data);
      (out as Gzip).flush(zlibConstants.Z_SYNC_FLUSH, () => {
        // The flushed bytes are handed to the response on the next turn.
        if (sent) setImmediate(sent);
      });
    };
    const write = (data: string, k: number): boolean => {
      // k content steps have been written once `data` is out.
      if (errorAt === k) {
        out.end(data + errorChunk);
        return false;
      }
      if (cutAfter === k) {
        // Cut only once what came before is on the wire, so the client sees exactly k steps.
        if (data) put(data, out === res ? () => cutSocket(ex) : cutWhenSent);
        else cutWhenSent();
        return false;
      }
      if (data) put(data);
      return stallAfter !== k;
    };
    if (await playSteps(ex, plan.head, plan.steps, delay, sleep, write)) out.end(plan.tail);
  }

  // -------------------------------------------------------------------------------------------
  // Endpoints

  async function chat(ex: Exchange, body: any, model: string, fault: SimFault | undefined): Promise<void> {
    const forbidden = flavour.forbiddenFields?.find((field) => body[field] !== undefined);
    if (forbidden !== undefined) {
      countUsage(0, 0);
      // Mistral's own body: pydantic's detail, under an OpenAI-like envelope.
      const detail = [{ type: 'extra_forbidden', loc: ['body', forbidden], msg: 'Extra inputs are not permitted', input: body[forbidden] }];
      return send(ex, 422, 'application/json', JSON.stringify({ object: 'error', message: { detail }, type: 'invalid_request_error', param: null, code: null }), []);
    }
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) return badRequest(ex, "'messages' is required and must be a non-empty array", 'messages');
    const n = body.n === undefined || body.n === null ? 1 : body.n;
    if (!Number.isInteger(n) || n < 1 || n > 128) return badRequest(ex, "'n' must be an integer between 1 and 128", 'n');
    const signs = flavour.thoughtSignatures?.(model) === true;
    const usageOnFinish = flavour.streamUsage !== 'asked' && body.stream_options?.include_usage !== false;
    if (signs) {
      const problem = signatureProblem(messages);
      if (problem !== null) {
        countUsage(0, 0);
        return send(ex, 400, 'application/json', signatureErrorBody(problem));
      }
    }

    let prompt = 0;
    for (const m of messages) prompt += countWords(messageText(m?.content));

    const id = 'chatcmpl-' + ex.requestId;
    const created = Math.floor(Date.now() / 1000);
    const modelJson = JSON.stringify(model);
    const chunks = Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS);

    const tools: SimTool[] = (Array.isArray(body.tools) ? body.tools : []).map((t: any) => ({
      name: String(t?.function?.name ?? t?.name ?? 'tool'),
      parameters: t?.function?.parameters ?? t?.parameters,
    }));
    const rawChoice = body.tool_choice;
    const named = rawChoice && typeof rawChoice === 'object' ? rawChoice.function?.name : undefined;
    const choice: SimToolChoice = named !== undefined ? { name: String(named) } : rawChoice === 'none' || rawChoice === 'required' ? rawChoice : 'auto';
    const rf = body.response_format;
    const formatType = rf?.type;
    const maxTokens = body.max_tokens ?? body.max_completion_tokens;
    const reply = decideReply({
      tools,
      choice,
      userSpokeLast: messages[messages.length - 1]?.role === 'user',
      toolResults: trailingToolResults(messages),
      format: formatType === 'json_object' || formatType === 'json_schema' ? { type: formatType, schema: rf.json_schema?.schema ?? rf.schema } : undefined,
      fault,
      chunks,
      maxWords: Number.isInteger(maxTokens) && maxTokens >= 0 ? maxTokens : undefined,
    });

    if (reply.kind === 'tool') {
      const { name, args } = reply;
      const completion = countWords(args) * n;
      const callId = 'call_' + ex.requestId.replace(/-/g, '').slice(0, 24);
      const extra = signs ? extraContentJson(callId) : '';
      if (body.stream === true) {
        const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${modelJson},"choices":[`;
        let roles = '';
        let tail = '';
        for (let i = 0; i < n; i++) {
          roles += `${head}{"index":${i},"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"${callId}","type":"function","function":{"name":${JSON.stringify(name)},"arguments":""}${extra}}]},"finish_reason":null}]}\n\n`;
        }
        const steps = splitPieces(args, Math.min(chunks, args.length)).map((piece) => {
          let step = '';
          for (let i = 0; i < n; i++) {
            step += `${head}{"index":${i},"delta":{"tool_calls":[{"index":0,"function":{"arguments":${JSON.stringify(piece)}}}]},"finish_reason":null}]}\n\n`;
          }
          return step;
        });
        for (let i = 0; i < n; i++) {
          const usage = i === n - 1 && usageOnFinish ? `,"usage":${usageJson(prompt, completion)}` : '';
          tail += `${head}{"index":${i},"delta":{},"finish_reason":"tool_calls"}]${usage}}\n\n`;
        }
        return stream(ex, usageAsked(flavour, body, { head: roles, steps, tail }, head, usageJson(prompt, completion)), fault, prompt, completion);
      }
      const call = `{"role":"assistant","content":null,"tool_calls":[{"id":"${callId}","type":"function","function":{"name":${JSON.stringify(name)},"arguments":${JSON.stringify(args)}}${extra}}]}`;
      const choices: string[] = [];
      for (let i = 0; i < n; i++) choices.push(`{"index":${i},"message":${call},"finish_reason":"tool_calls","logprobs":null}`);
      return sendJson(ex, `{"id":"${id}","object":"chat.completion","created":${created},"model":${modelJson},"choices":[${choices.join(',')}],"usage":${usageJson(prompt, completion)}}`, prompt, completion);
    }

    const content = reply.text;
    const finish = reply.truncated ? 'length' : 'stop';
    const completion = countWords(content) * n;

    if (body.stream === true) {
      const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${modelJson},"choices":[`;
      let roles = '';
      let tail = '';
      for (let i = 0; i < n; i++) roles += `${head}{"index":${i},"delta":{"role":"assistant"},"finish_reason":null}]}\n\n`;
      const steps = splitPieces(content, chunks).map((piece) => {
        const pieceJson = JSON.stringify(piece);
        let step = '';
        for (let i = 0; i < n; i++) step += `${head}{"index":${i},"delta":{"content":${pieceJson}},"finish_reason":null}]}\n\n`;
        return step;
      });
      for (let i = 0; i < n; i++) {
        const usage = i === n - 1 && usageOnFinish ? `,"usage":${usageJson(prompt, completion)}` : '';
        tail += `${head}{"index":${i},"delta":{},"finish_reason":"${finish}"}]${usage}}\n\n`;
      }
      return stream(ex, usageAsked(flavour, body, { head: roles, steps, tail }, head, usageJson(prompt, completion)), fault, prompt, completion);
    }

    const message = `{"role":"assistant","content":${JSON.stringify(content)}}`;
    const choices: string[] = [];
    for (let i = 0; i < n; i++) choices.push(`{"index":${i},"message":${message},"finish_reason":"${finish}","logprobs":null}`);
    return sendJson(ex, `{"id":"${id}","object":"chat.completion","created":${created},"model":${modelJson},"choices":[${choices.join(',')}],"usage":${usageJson(prompt, completion)}}`, prompt, completion);
  }

  async function completions(ex: Exchange, body: any, model: string, fault: SimFault | undefined): Promise<void> {
    const raw = body.prompt;
    // A prompt is a string, a list of strings, a token list, or a list of token lists.
    let prompts: { text: string; tokens: number }[];
    if (typeof raw === 'string') prompts = [{ text: raw, tokens: countWords(raw) }];
    else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => typeof p === 'string')) {
      prompts = raw.map((p: string) => ({ text: p, tokens: countWords(p) }));
    } else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => typeof p === 'number')) {
      prompts = [{ text: '', tokens: raw.length }];
    } else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => Array.isArray(p))) {
      prompts = raw.map((p: unknown[]) => ({ text: '', tokens: p.length }));
    } else return badRequest(ex, "'prompt' is required: a string, a list of strings, or token ids", 'prompt');
    const n = body.n === undefined || body.n === null ? 1 : body.n;
    if (!Number.isInteger(n) || n < 1 || n > 128) return badRequest(ex, "'n' must be an integer between 1 and 128", 'n');

    const chunks = Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS);
    let text = typeof fault?.content === 'string' ? fault.content : defaultText(chunks);
    let finish = 'stop';
    if (Number.isInteger(body.max_tokens) && body.max_tokens >= 0) {
      const cut = truncateWords(text, body.max_tokens);
      if (cut !== null) {
        text = cut;
        finish = 'length';
      }
    }
    const echo = body.echo === true;
    const choiceCount = prompts.length * n;
    let prompt = 0;
    for (const p of prompts) prompt += p.tokens;
    const completion = countWords(text) * choiceCount;
    const id = 'cmpl-' + ex.requestId;
    const created = Math.floor(Date.now() / 1000);
    const modelJson = JSON.stringify(model);

    if (body.stream === true) {
      const head = `data: {"id":"${id}","object":"text_completion","created":${created},"model":${modelJson},"choices":[`;
      let first = '';
      if (echo) {
        for (let c = 0; c < choiceCount; c++) {
          first += `${head}{"index":${c},"text":${JSON.stringify(prompts[Math.floor(c / n)]!.text)},"logprobs":null,"finish_reason":null}]}\n\n`;
        }
      }
      const steps = splitPieces(text, chunks).map((piece) => {
        const pieceJson = JSON.stringify(piece);
        let step = '';
        for (let c = 0; c < choiceCount; c++) step += `${head}{"index":${c},"text":${pieceJson},"logprobs":null,"finish_reason":null}]}\n\n`;
        return step;
      });
      let tail = '';
      for (let c = 0; c < choiceCount; c++) {
        const usage = c === choiceCount - 1 && body.stream_options?.include_usage !== false ? `,"usage":${usageJson(prompt, completion)}` : '';
        tail += `${head}{"index":${c},"text":"","logprobs":null,"finish_reason":"${finish}"}]${usage}}\n\n`;
      }
      return stream(ex, { head: first, steps, tail: tail + 'data: [DONE]\n\n' }, fault, prompt, completion);
    }

    const textJson = JSON.stringify(text);
    const choices: string[] = [];
    for (let c = 0; c < choiceCount; c++) {
      const t = echo ? JSON.stringify(prompts[Math.floor(c / n)]!.text + text) : textJson;
      choices.push(`{"index":${c},"text":${t},"logprobs":null,"finish_reason":"${finish}"}`);
    }
    return sendJson(ex, `{"id":"${id}","object":"text_completion","created":${created},"model":${modelJson},"choices":[${choices.join(',')}],"usage":${usageJson(prompt, completion)}}`, prompt, completion);
  }

  /** POST /responses: chat's reply (decideReply) as a `response` object, or as its typed events. */
  async function responses(ex: Exchange, body: Record<string, any>, model: string, fault: SimFault | undefined): Promise<void> {
    const request = readResponsesRequest(body);
    if ('problem' in request) {
      const spec: ErrorSpec = { status: 400, message: request.problem };
      if (request.param !== null) spec.param = request.param;
      if (request.code !== null) spec.code = request.code;
      return sendError(ex, spec);
    }
    const chunks = Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS);
    const reply = decideReply({
      tools: request.tools,
      choice: request.choice,
      userSpokeLast: request.userSpokeLast,
      toolResults: request.toolResults,
      format: request.format,
      fault,
      chunks,
      maxWords: request.maxOutputTokens,
    });
    const hex = ex.requestId.replace(/-/g, '');
    const parts: ResponseParts = { id: 'resp_' + hex, createdAt: Math.floor(Date.now() / 1000), model, body };
    const prompt = request.inputWords;
    const produced = reply.kind === 'tool' ? reply.args : reply.text;
    const completion = countWords(produced);
    const status = reply.kind === 'text' && reply.truncated ? 'incomplete' : 'completed';
    const usage = responsesUsage(prompt, completion);
    // The one output item, as it is when done.
    const item: Record<string, unknown> = reply.kind === 'tool'
      ? { type: 'function_call', id: 'fc_' + hex, call_id: 'call_' + hex.slice(0, 24), name: reply.name, arguments: reply.args, status: 'completed' }
      : { type: 'message', id: 'msg_' + hex, status, role: 'assistant', content: [{ type: 'output_text', text: reply.text, annotations: [] }] };

    if (body.stream !== true) return sendJson(ex, JSON.stringify(responseObject(parts, status, [item], usage)), prompt, completion);

    // The events in the order OpenAI sends them; each carries the next sequence number.
    let sequence = 0;
    const event = (type: string, fields: Record<string, unknown>): string => responsesEvent(type, fields, sequence++);
    const started = responseObject(parts, 'in_progress', [], null);
    const itemId = item.id;
    const at = { item_id: itemId, output_index: 0 };
    let head = event('response.created', { response: started }) + event('response.in_progress', { response: started });
    let steps: string[];
    let tail: string;
    if (reply.kind === 'tool') {
      head += event('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
      steps = splitPieces(reply.args, Math.min(chunks, reply.args.length)).map((delta) => event('response.function_call_arguments.delta', { ...at, delta }));
      tail = event('response.function_call_arguments.done', { ...at, name: reply.name, arguments: reply.args });
    } else {
      const text = { ...at, content_index: 0 };
      head += event('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
      head += event('response.content_part.added', { ...text, part: { type: 'output_text', text: '', annotations: [] } });
      steps = splitPieces(reply.text, chunks).map((delta) => event('response.output_text.delta', { ...text, delta, logprobs: [] }));
      tail = event('response.output_text.done', { ...text, text: reply.text, logprobs: [] });
      tail += event('response.content_part.done', { ...text, part: { type: 'output_text', text: reply.text, annotations: [] } });
    }
    tail += event('response.output_item.done', { output_index: 0, item });
    const final = responseObject(parts, status, [item], usage);
    tail += event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: final });
    return stream(ex, { head, steps, tail }, fault, prompt, completion);
  }

  function embeddings(ex: Exchange, body: any, model: SimModel, name: string): void {
    const raw = body.input;
    // Strings are hashed as text; token ids are hashed as their decimal list.
    let inputs: { text: string; tokens: number }[];
    if (typeof raw === 'string') inputs = [{ text: raw, tokens: countWords(raw) }];
    else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => typeof p === 'string')) {
      inputs = raw.map((p: string) => ({ text: p, tokens: countWords(p) }));
    } else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => typeof p === 'number')) {
      inputs = [{ text: raw.join(','), tokens: raw.length }];
    } else if (Array.isArray(raw) && raw.length > 0 && raw.every((p) => Array.isArray(p))) {
      inputs = raw.map((p: unknown[]) => ({ text: p.join(','), tokens: p.length }));
    } else return badRequest(ex, "'input' is required: a string, a list of strings, or token ids", 'input');

    const width = model.dims ?? DEFAULT_DIMS;
    let dims = width;
    if (body.dimensions !== undefined && body.dimensions !== null) {
      if (!Number.isInteger(body.dimensions) || body.dimensions < 1 || body.dimensions > width) {
        return badRequest(ex, `'dimensions' must be an integer between 1 and ${width}`, 'dimensions');
      }
      dims = body.dimensions;
    }
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') return badRequest(ex, "'encoding_format' must be 'float' or 'base64'", 'encoding_format');

    let prompt = 0;
    const data: string[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      prompt += input.tokens;
      // Shortened embeddings are the leading components, renormalised.
      let vector = embed(input.text, width);
      if (dims < width) {
        vector = vector.slice(0, dims);
        let norm = 0;
        for (const v of vector) norm += v * v;
        const scale = 1 / Math.sqrt(norm || 1);
        for (let j = 0; j < dims; j++) vector[j] = vector[j]! * scale;
      }
      const embedding = format === 'base64' ? `"${float32Base64(vector)}"` : `[${vector.join(',')}]`;
      data.push(`{"object":"embedding","index":${i},"embedding":${embedding}}`);
    }
    sendJson(ex, `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(name)},"usage":{"prompt_tokens":${prompt},"total_tokens":${prompt}}}`, prompt, 0);
  }

  // -------------------------------------------------------------------------------------------
  // The request lifecycle: read body -> record -> route -> auth -> parse -> fault -> answer

  async function handle(ex: Exchange, request: SimRequest): Promise<void> {
    const { method, path, search, body: rawBody, tooLarge, json, jsonError } = request;
    let fault: SimFault | undefined;
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) fault = asFault(json.sim) ?? userFault(json.user);
    if (fault === undefined && search !== '' && method === 'GET') fault = queryFault(new URLSearchParams(search));
    fault ??= steering.take() as SimFault | undefined;
    // A fault for one key alone: requests made with another are served as usual.
    if (typeof fault?.when_key === 'string' && presentedKey(flavour, ex.req.headers) !== fault.when_key) fault = undefined;

    const attempt = log.admit(ex, rawBody, json, fault);
    if (ex.closed) return;

    if (flavour.geminiNative === true && isGeminiNativePath(path)) return serveGeminiNative(nativeHost, ex, request, fault, attempt);
    const target = route(flavour, method, path);
    if (target.kind === 'not_found') {
      return sendError(ex, { status: 404, code: 'NOT_FOUND', message: `No route for ${method} ${path}` });
    }
    if (target.kind === 'method') {
      return sendError(ex, { status: 405, message: `Method ${method} is not allowed on ${path}; use ${target.allow}`, extraHeaders: ['allow', target.allow] });
    }
    if (flavour.deployments) {
      const version = new URLSearchParams(search).get('api-version');
      // Azure's v1 API (its Responses API) refuses a dated api-version (zendev-sh/goai PR #54
      // saw "API version not supported"); `preview` was the v1 preview's own value.
      if (target.kind === 'responses') {
        if (version !== null && version !== 'preview') return sendError(ex, { status: 400, code: 'BadRequest', message: 'API version not supported' });
      } else if (!version) {
        return sendError(ex, { status: 400, code: 'BadRequest', message: 'Missing required query parameter: api-version.' });
      }
    }
    if (!isAuthorized(flavour, ex.req.headers)) return sendError(ex, { status: 401 });
    if (tooLarge) return sendError(ex, { status: 413 });

    // Faults come before validation so that error tests need no valid body.
    if (fault) {
      ex.fault = fault;
      const delay = nonNegative(fault.delay_ms);
      const failing = faultFails(fault, attempt);
      const informational = fault.informational;
      if (typeof informational === 'number' && Number.isInteger(informational) && informational >= 102 && informational <= 199) {
        sendInformational(ex, informational);
      }
      if (delay) await sleep(delay);
      if (ex.closed) return;
      if (failing) {
        if (fault.reset === true) return cutSocket(ex);
        const status = failStatus(fault);
        if (status === 204 || status === 304) return sendEmpty(ex, status);
        const spec: ErrorSpec = { status };
        if (fault.error_shape) spec.shape = fault.error_shape;
        if (typeof fault.error_message === 'string') spec.message = fault.error_message;
        if (typeof fault.retry_after === 'string') spec.retryAfter = fault.retry_after;
        return sendError(ex, spec);
      }
      if (fault.endless === true) return endless(ex);
    }

    if (target.kind === 'models') {
      countUsage(0, 0);
      return send(ex, 200, 'application/json', modelsBody);
    }
    if (target.kind === 'model') {
      const model = flavour.resolveModel(target.id);
      if (!model) return sendError(ex, { status: 404, param: 'model' });
      countUsage(0, 0);
      return send(ex, 200, 'application/json', modelBodies.get(model.id) ?? modelObject(flavour, model));
    }

    if (jsonError !== undefined || json === null || typeof json !== 'object' || Array.isArray(json)) {
      return badRequest(ex, jsonError !== undefined ? `Request body is not valid JSON: ${jsonError}` : 'Request body must be a JSON object');
    }
    // On Azure the path's deployment is the model; a `model` in the body is not read.
    const name = target.deployment ?? json.model;
    if (typeof name !== 'string' || name.length === 0) return badRequest(ex, "'model' is required", 'model');
    const model = flavour.resolveModel(name);
    if (!model) return sendError(ex, { status: 404, param: 'model' });

    switch (target.kind) {
      case 'chat': return chat(ex, json, name, fault);
      case 'completions': return completions(ex, json, name, fault);
      case 'embeddings': return embeddings(ex, json, model, name);
      case 'responses': return responses(ex, json, name, fault);
    }
  }

  const served = await serveSim(
    { port: options.port, host: options.host ?? '127.0.0.1', maxBodyBytes: MAX_BODY_BYTES, steering },
    (req, res): Exchange => ({ req, res, requestId: randomUUID(), record: undefined, closed: false, cutByServer: false, fault: undefined }),
    handle,
    (ex, err) => sendError(ex, { status: 500, message: `Simulator error: ${err.message}` }),
  );
  return simHandle(served, log, timers, flavour.basePath, steering);
}
