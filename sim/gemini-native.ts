/**
 * Google's own Gemini API, as the gemini flavour of the OpenAI-compatible simulator serves it beside
 * its compatible layer (`/v1beta/openai`): what the gateway passes Gemini API clients through to.
 * Written from Google's reference (https://ai.google.dev/api/generate-content,
 * https://ai.google.dev/api/models, https://ai.google.dev/gemini-api/docs/function-calling,
 * https://ai.google.dev/gemini-api/docs/thought-signatures) and checked with `@google/genai`:
 * - `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (`alt=sse`: SSE events
 *   separated by CRLF pairs as Google sends them; without it one JSON array, written as it goes),
 *   `:countTokens`; `GET /v1beta/models[/{model}]`;
 * - the key in `x-goog-api-key` or `?key=`: none is a 403, a wrong one a 400 (`API_KEY_INVALID`);
 * - errors as `{"error":{"code","message","status"}}`;
 * - function calling: with `tools[].functionDeclarations` and no function response to read, the
 *   model calls a tool (the fault's `call_tool`, else the first), its arguments from the
 *   declaration's schema (required properties only); after a function response it answers text;
 * - thought signatures: a `gemini-3*` model signs its first function call of a turn
 *   (`thoughtSignature` on the part) and refuses, with Google's 400, a request whose current turn
 *   sends a function call back without its signature.
 * Faults: `status` (with `fail_first`, `error_message`), `reset`, `delay_ms`, `content`, `chunks`,
 * `chunk_delay_ms`, `cut_after`, `stream_error`, `call_tool`, as the other routes read them.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { toolToCall } from './control.js';
import { cutSocket, failStatus, faultFails, type SimConnection, type SimFault, type SimRequest } from './fireworks.js';
import { isObject, nonNegative, sampleFromSchema } from './schema-sample.js';

/** Where Google's API lives on the host, before `/{model}:{method}`. */
export const GEMINI_NATIVE_MODELS = '/v1beta/models';

const SSE_SEPARATOR = '\r\n\r\n';
const DEFAULT_TEXT = 'Hello from the Gemini simulator.';
/** Google's words for a current-turn function call sent back without its signature. */
export const MISSING_SIGNATURE_MESSAGE =
  'Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {position}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.';

const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export interface GeminiNativeModel {
  readonly id: string;
  readonly kind: 'chat' | 'embedding';
}

export interface GeminiNativeHost {
  readonly acceptsKey: (key: string) => boolean;
  readonly models: readonly GeminiNativeModel[];
  readonly sleep: (ms: number) => Promise<void>;
}

/** Whether `path` is one of Google's native routes (not the compatible layer's). */
export function isGeminiNativePath(path: string): boolean {
  return path === GEMINI_NATIVE_MODELS || path.startsWith(`${GEMINI_NATIVE_MODELS}/`);
}

function send(conn: SimConnection, status: number, body: string, extra: readonly string[] = []): void {
  conn.res.writeHead(status, ['content-type', 'application/json; charset=UTF-8', 'content-length', String(Buffer.byteLength(body)), ...extra]);
  conn.res.end(body);
}

function errorJson(status: number, message: string, reason?: string): string {
  const error: Record<string, unknown> = { code: status, message, status: STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION') };
  if (reason !== undefined) error.details = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com' }];
  return JSON.stringify({ error });
}

function sendError(conn: SimConnection, status: number, message: string, reason?: string): void {
  send(conn, status, errorJson(status, message, reason), status === 429 ? ['retry-after', '1'] : []);
}

function presentedKey(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = headers['x-goog-api-key'];
  if (typeof header === 'string') return header.trim();
  return query.get('key') ?? undefined;
}

/** Gemini's schema types are upper-case enum names (`OBJECT`); the sampler reads JSON Schema's. */
function jsonSchemaOf(schema: unknown, depth = 0): unknown {
  if (depth > 32) return {};
  if (Array.isArray(schema)) return schema.map((item) => jsonSchemaOf(item, depth + 1));
  if (!isObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'type' && typeof value === 'string') out.type = value.toLowerCase();
    else if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, jsonSchemaOf(sub, depth + 1)]));
    } else if (key === 'items' || key === 'anyOf') out[key] = jsonSchemaOf(value, depth + 1);
    else out[key] = value;
  }
  return out;
}

interface Declaration {
  name: string;
  parameters?: unknown;
  parametersJsonSchema?: unknown;
}

function declarations(body: Record<string, any>): Declaration[] {
  const found: Declaration[] = [];
  if (!Array.isArray(body.tools)) return found;
  for (const tool of body.tools) {
    if (!isObject(tool) || !Array.isArray(tool.functionDeclarations)) continue;
    for (const declaration of tool.functionDeclarations) if (isObject(declaration) && typeof declaration.name === 'string') found.push(declaration as Declaration);
  }
  return found;
}

/** The contents of the current turn: those after the last user content that is not function responses. */
function currentTurn(contents: readonly Record<string, any>[]): readonly Record<string, any>[] {
  for (let i = contents.length - 1; i >= 0; i--) {
    const content = contents[i]!;
    const parts: unknown[] = Array.isArray(content.parts) ? content.parts : [];
    if (content.role !== 'model' && parts.some((part) => isObject(part) && part.functionResponse === undefined)) return contents.slice(i);
  }
  return contents;
}

/** The first current-turn function call of a model content that lacks its signature, if any. */
function unsignedCall(contents: readonly Record<string, any>[]): { name: string; position: number } | undefined {
  let position = 0;
  for (const content of currentTurn(contents)) {
    const parts: unknown[] = Array.isArray(content.parts) ? content.parts : [];
    let first = true;
    for (const part of parts) {
      position++;
      if (content.role !== 'model' || !isObject(part) || !isObject(part.functionCall)) continue;
      if (first && typeof part.thoughtSignature !== 'string') return { name: String(part.functionCall.name), position };
      first = false;
    }
  }
  return undefined;
}

function validate(body: unknown): string | undefined {
  if (!isObject(body)) return 'Invalid JSON payload received. Expected an object.';
  if (!Array.isArray(body.contents) || body.contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  for (const [i, content] of body.contents.entries()) {
    if (!isObject(content) || !Array.isArray(content.parts) || content.parts.length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`;
    if (content.role !== undefined && content.role !== 'user' && content.role !== 'model' && content.role !== 'function') return 'Please use a valid role: user, model.';
  }
  return undefined;
}

function promptTokens(body: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(body).length / 4));
}

/** A signature that reads as Google's do (opaque base64), the same for the same request. */
function signature(seed: string): string {
  return createHash('sha256').update(seed).digest('base64');
}

interface Answer {
  parts: Record<string, unknown>[];
  text: string;
  outputTokens: number;
}

function answerFor(model: string, body: Record<string, any>, fault: SimFault | undefined): Answer {
  const contents = body.contents as Record<string, any>[];
  const last = contents[contents.length - 1]!;
  const answeredCall = Array.isArray(last.parts) && last.parts.some((part: unknown) => isObject(part) && part.functionResponse !== undefined);
  const tools = declarations(body);
  const mode = body.toolConfig?.functionCallingConfig?.mode;
  if (tools.length > 0 && !answeredCall && mode !== 'NONE') {
    const tool = toolToCall(tools, fault?.call_tool);
    const schema = tool.parametersJsonSchema ?? jsonSchemaOf(tool.parameters);
    const sampled = schema === undefined ? {} : sampleFromSchema(schema, 'arguments');
    const part: Record<string, unknown> = { functionCall: { name: tool.name, args: isObject(sampled) ? sampled : {} } };
    if (model.includes('gemini-3')) part.thoughtSignature = signature(`${model}:${JSON.stringify(contents).length}`);
    return { parts: [part], text: '', outputTokens: 8 };
  }
  const text = typeof fault?.content === 'string' ? fault.content : answeredCall ? 'The tool ran; here is what it returned.' : DEFAULT_TEXT;
  return { parts: [{ text }], text, outputTokens: Math.max(1, Math.ceil(text.length / 4)) };
}

function response(model: string, id: string, parts: Record<string, unknown>[], finish: boolean, prompt: number, output: number): Record<string, unknown> {
  const candidate: Record<string, unknown> = { content: { parts, role: 'model' }, index: 0 };
  if (finish) candidate.finishReason = 'STOP';
  const usageMetadata = finish
    ? { promptTokenCount: prompt, candidatesTokenCount: output, totalTokenCount: prompt + output }
    : { promptTokenCount: prompt, totalTokenCount: prompt };
  return { candidates: [candidate], usageMetadata, modelVersion: model, responseId: id };
}

/** The text in `count` pieces, none empty where the text allows. */
function pieces(text: string, count: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / count));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length > 0 ? out : [''];
}

function modelResource(model: GeminiNativeModel): Record<string, unknown> {
  const id = model.id.startsWith('models/') ? model.id.slice('models/'.length) : model.id;
  return {
    name: `models/${id}`,
    version: '001',
    displayName: id,
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 65_536,
    supportedGenerationMethods: model.kind === 'chat' ? ['generateContent', 'countTokens'] : ['embedContent'],
  };
}

/** Answers one request on a native route; `attempt` counts the fault key's attempts. */
export async function serveGeminiNative(host: GeminiNativeHost, conn: SimConnection, request: SimRequest, fault: SimFault | undefined, attempt: number): Promise<void> {
  const query = new URLSearchParams(request.search);
  const key = presentedKey(conn.req.headers, query);
  if (key === undefined || key === '') {
    return sendError(conn, 403, 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.');
  }
  if (!host.acceptsKey(key)) return sendError(conn, 400, 'API key not valid. Please pass a valid API key.', 'API_KEY_INVALID');
  if (request.tooLarge) return sendError(conn, 400, 'Request payload size exceeds the limit.');
  if (fault !== undefined) {
    const delay = nonNegative(fault.delay_ms);
    if (delay) await host.sleep(delay);
    if (conn.closed) return;
    if (faultFails(fault, attempt)) {
      if (fault.reset === true) return cutSocket(conn);
      const status = failStatus(fault);
      return sendError(conn, status, typeof fault.error_message === 'string' ? fault.error_message : `Simulated failure (${status}).`);
    }
  }

  const rest = request.path.slice(GEMINI_NATIVE_MODELS.length);
  if (rest === '' || rest === '/') {
    if (request.method !== 'GET') return sendError(conn, 404, `Method not found: ${request.method} ${request.path}.`);
    return send(conn, 200, JSON.stringify({ models: host.models.map(modelResource) }));
  }
  const name = decodeURIComponent(rest.slice(1));
  const colon = name.lastIndexOf(':');
  const model = colon === -1 ? name : name.slice(0, colon);
  const method = colon === -1 ? '' : name.slice(colon + 1);
  if (colon === -1) {
    if (request.method !== 'GET') return sendError(conn, 404, `Method not found: ${request.method} ${request.path}.`);
    const known = host.models.find((m) => m.id === model || m.id === `models/${model}`);
    if (known === undefined) return sendError(conn, 404, `models/${model} is not found for API version v1beta, or is not supported for generateContent.`);
    return send(conn, 200, JSON.stringify(modelResource(known)));
  }
  if (request.method !== 'POST') return sendError(conn, 404, `Method not found: ${request.method} ${request.path}.`);
  if (method !== 'generateContent' && method !== 'streamGenerateContent' && method !== 'countTokens') {
    return sendError(conn, 404, `Method not found: ${method}.`);
  }
  if (request.jsonError !== undefined) return sendError(conn, 400, `Invalid JSON payload received. ${request.jsonError}`);
  const body = request.json as unknown;
  const invalid = validate(isObject(body) && method === 'countTokens' && isObject(body.generateContentRequest) ? body.generateContentRequest : body);
  if (invalid !== undefined) return sendError(conn, 400, invalid);
  const prompt = promptTokens(body);
  if (method === 'countTokens') return send(conn, 200, JSON.stringify({ totalTokens: prompt, promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }] }));

  const request_ = body as Record<string, any>;
  if (model.includes('gemini-3')) {
    const unsigned = unsignedCall(request_.contents);
    if (unsigned !== undefined) {
      return sendError(conn, 400, MISSING_SIGNATURE_MESSAGE.replace('{name}', unsigned.name).replace('{position}', String(unsigned.position)));
    }
  }
  const id = signature(`${request.body.length}:${Date.now()}`).slice(0, 22).replace(/[+/=]/g, 'x');
  const answer = answerFor(model, request_, fault);
  if (method === 'generateContent') return send(conn, 200, JSON.stringify(response(model, id, answer.parts, true, prompt, answer.outputTokens)));

  const sse = query.get('alt') === 'sse';
  conn.res.writeHead(200, ['content-type', sse ? 'text/event-stream' : 'application/json; charset=UTF-8']);
  const chunks = answer.text === '' ? [answer.parts] : pieces(answer.text, nonNegative(fault?.chunks) || 3).map((text) => [{ text }]);
  const delay = nonNegative(fault?.chunk_delay_ms) ?? 0;
  const cutAfter = nonNegative(fault?.cut_after);
  const failAfter = fault?.stream_error === undefined ? undefined : (nonNegative(fault.stream_error.after) ?? 0);
  const frame = (json: string, index: number): string => (sse ? `data: ${json}${SSE_SEPARATOR}` : `${index === 0 ? '[' : ',\r\n'}${json}`);
  for (let i = 0; i < chunks.length; i++) {
    if (i > 0 && delay > 0) await host.sleep(delay);
    if (conn.closed) return;
    if (cutAfter !== undefined && i >= cutAfter) {
      // Node sends what was written on its next tick: the cut comes after the events before it.
      await new Promise((resolve) => setImmediate(resolve));
      return cutSocket(conn);
    }
    if (failAfter !== undefined && i >= failAfter) {
      // Google ends a stream begun with its error object: bare after SSE events, an element of the array.
      const error = errorJson(500, fault?.stream_error?.message ?? 'An internal error has occurred.');
      conn.res.end(sse ? `${error}\r\n` : `${i === 0 ? '[' : ',\r\n'}${error}]`);
      return;
    }
    const last = i === chunks.length - 1;
    conn.res.write(frame(JSON.stringify(response(model, id, chunks[i]!, last, prompt, answer.outputTokens)), i));
  }
  conn.res.end(sse ? '' : ']');
}
