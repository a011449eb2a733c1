/**
 * A stand-in for Anthropic's Messages API (`https://api.anthropic.com`, routes under `/v1`) on a
 * local port.
 *
 * Like the Fireworks simulator it serves the gateway's tests, users offline (`npm run sim`) and
 * benchmarks, so the success path does little work per request: constant fragments (the default
 * reply's blocks and stream events) are serialised once, ids come from one `randomUUID()`, and a
 * stream without delays or faults is written in one `end()`.
 *
 * Faults are chosen per request by a `"sim": {...}` field in the JSON body (stripped before
 * validation; the real API would refuse it), by `metadata.user_id` of the form `sim:<json>` (the
 * gateway maps OpenAI's `user` there when it translates a request), or `?sim=<json>` on GET; a
 * request that carries none takes the simulator's queued or default fault (sim/control.ts).
 *
 * Anthropic facts this relies on, and where they come from:
 * - Error statuses and `error.type`s (400 invalid_request_error, 401 authentication_error,
 *   402 billing_error, 403 permission_error, 404 not_found_error, 409 conflict_error,
 *   413 request_too_large, 429 rate_limit_error, 500 api_error, 529 overloaded_error), the body
 *   `{"type":"error","error":{"type","message"},"request_id"}`, the `request-id` response header
 *   (`req_...`), and the 32 MB limit of the Messages and token-counting endpoints:
 *   https://platform.claude.com/docs/en/api/errors
 * - 529's message is "Overloaded"; a 429 carries `retry-after`, a 529 may:
 *   https://learn.microsoft.com/microsoft-cloud/dev/dev-proxy/concepts/anthropic-529-overloaded-error
 *   and https://docs.llmgateway.io/troubleshooting/anthropic-529-overloaded
 * - Stream events: `message_start` (a Message with empty `content`), per block
 *   `content_block_start` / `content_block_delta`s / `content_block_stop`, `message_delta` whose
 *   `usage` counts are cumulative, `message_stop`, any number of `ping`s, and `event: error` with
 *   `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` mid-stream; each
 *   frame is `event: <type>` then `data: <json>` with the same `type`; deltas are `text_delta`,
 *   `input_json_delta` (`partial_json`), `thinking_delta` and `signature_delta`:
 *   https://platform.claude.com/docs/en/build-with-claude/streaming
 * - `anthropic-version` is required; `2023-06-01` and `2026-10-21` exist. Under `2026-10-21`,
 *   `temperature`, `top_p` and `top_k` return 400 even at default values, as do `document`
 *   blocks placed directly in assistant messages and non-empty `citations` on user text blocks;
 *   this applies to token counting too: https://platform.claude.com/docs/en/api/versioning and
 *   https://platform.claude.com/docs/en/api/migration-2026-10-21 . The refusal reads
 *   "temperature: Extra inputs are not permitted":
 *   https://github.com/ttlequals0/MinusPod/releases/tag/v2.101.10
 * - The SDKs that send `2026-10-21` (TypeScript 1.x, as installed here) send the key as
 *   `Authorization: Bearer`; older clients send `x-api-key`:
 *   https://developersdigest.tech/blog/claude-api-version-2026-10-21-sdk-migration
 * - Rate-limit headers `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
 *   remaining,reset}`, resets as RFC 3339 times:
 *   https://docs.aws.amazon.com/claude-platform/latest/userguide/rate-limits.html
 * - Tool use: `tool_use` blocks (`id`, `name`, `input` per the tool's `input_schema`), `stop_reason`
 *   `tool_use`, and `tool_result` blocks whose `tool_use_id` names a `tool_use` of the previous
 *   message: https://platform.claude.com/docs/en/agents-and-tools/tool-use/handle-tool-calls ;
 *   `tool_choice` `auto`/`any`/`tool`/`none` with `disable_parallel_tool_use` (at most one tool use):
 *   https://www.rubydoc.info/gems/anthropic/Anthropic/Models/ToolChoiceAuto
 * - Models list: `data` of `{type:"model", id, display_name, created_at, ...}` newest first, with
 *   `has_more`, `first_id`, `last_id`, `limit` 1-1000 (default 20), `after_id`/`before_id`:
 *   https://docs.anthropic.com/pt/api/models-list ; the other fields of a model are as the
 *   installed SDK's `ModelInfo` type declares them.
 * - Context editing: `context_management: {edits: [...]}` is accepted with the beta header
 *   `anthropic-beta: context-management-2025-06-27` and refused like any unknown field without it:
 *   https://platform.claude.com/docs/en/build-with-claude/context-editing ; the edit types
 *   (`clear_tool_uses_20250919`, `clear_thinking_20251015`, `compact_20260112`), the answer's
 *   `context_management.applied_edits` (message and `message_delta`) and token counting's
 *   `context_management.original_input_tokens` are as the installed SDK's beta types declare them.
 * - Structured outputs: `output_config.format` `{type: "json_schema", schema}` (no beta header)
 *   makes the answer's text a JSON document matching the schema; the deprecated `output_format`
 *   still works with `anthropic-beta: structured-outputs-2025-11-13`:
 *   https://platform.claude.com/docs/en/build-with-claude/structured-outputs
 * - Images: `image` blocks with `base64` or `url` sources; an image of ~1.15 megapixels costs about
 *   1,600 tokens, which the simulator charges for every image: https://docs.claude.com/en/docs/vision
 * Validation messages are those seen in public code and logs: "x-api-key header is required",
 * "invalid x-api-key", "anthropic-version: header is required", "<field>: Field required",
 * "<field>: Extra inputs are not permitted", 'messages: roles must alternate between "user" and
 * "assistant", but found multiple "user" roles in a row', 'messages: first message must use the
 * "user" role', "model: <id>" (404), and the `tool_use_id` pairing messages. Where nothing was
 * found, the wording follows the same `<path>: <problem>` style.
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  asFault,
  countWords,
  createSimLog,
  createTimers,
  createUsageWindow,
  cutSocket,
  failStatus,
  faultFails,
  isObject,
  modelsRoute,
  nonNegative,
  playSteps,
  queryFault,
  serveSim,
  simHandle,
  splitPieces,
  textOfWords,
  toolResultReply,
  truncateWords,
} from './fireworks.js';
import { createFaultSteering, toolToCall } from './control.js';
import { sampleFromSchema, sampleObject } from './schema-sample.js';
import type { ModelsRoute, RecordedRequest, SimConnection, SimFault, SimHandle, SimOptions, SimRequest } from './fireworks.js';

export type { RecordedRequest } from './fireworks.js';

/**
 * The Fireworks simulator's faults that apply here (counted in content deltas for streams), and
 * Anthropic's own.
 */
export interface AnthropicSimFault extends Pick<SimFault, 'key' | 'status' | 'fail_first' | 'fail_ratio' | 'error_message' | 'retry_after'
  | 'reset' | 'delay_ms' | 'chunks' | 'chunk_delay_ms' | 'cut_after' | 'stall_after' | 'content' | 'call_tool'> {
  /**
   * Streaming: an `event: error` after N content deltas (0: right after `message_start`), then the
   * stream ends, as Anthropic does when it overloads mid-answer. `echo_key` adds the key the
   * request presented to the message, as a provider that quotes what it was sent would.
   */
  stream_error?: { after?: number; type?: 'overloaded_error' | 'api_error'; message?: string; echo_key?: boolean };
  /** Answer a tool call with two `tool_use` blocks, unless the request disables parallel tool use. */
  parallel_tools?: boolean;
  /** Streaming: number of `input_json_delta` fragments per tool call (default 8). */
  tool_fragments?: number;
  /** A thinking block (with signature) before the answer even if the request did not ask for one. */
  thinking?: boolean;
  /** With `tool_choice` `auto`, a short text block before the tool call, as Claude often writes. */
  text_before_tool?: boolean;
}

export interface AnthropicSim extends SimHandle {
  /** The base URL clients take (the SDK's `baseURL`, the gateway's `ANTHROPIC_BASE_URL`): the origin. */
  url: string;
}

export type AnthropicSimOptions = SimOptions;

/** A key the simulator accepts; any key starting with `sk-ant-` works. */
export const ANTHROPIC_SIM_API_KEY = 'sk-ant-sim-key';

/** The API versions the simulator accepts in `anthropic-version`. */
export const ANTHROPIC_VERSIONS = Object.freeze(['2023-06-01', '2026-10-21'] as const);

export interface AnthropicSimModel {
  id: string;
  display_name: string;
  /** RFC 3339 release time. */
  created_at: string;
  line: 'haiku' | 'sonnet' | 'opus';
  max_input_tokens: number;
  /** The largest `max_tokens` the model takes. */
  max_tokens: number;
  /** Other names that resolve to this model; answers carry `id`. */
  aliases: readonly string[];
  /** `deprecated` models are still served; retirement dates are listed, not enforced. */
  lifecycle: 'active' | 'deprecated';
  /** RFC 3339 retirement date, for deprecated models. */
  retires_at?: string;
}

/**
 * The catalogue, newest first as the list endpoint orders it. Ids and aliases are those the
 * installed SDK's `Model` type names; Sonnet 4.5 and Opus 4.5 are deprecated with the end-of-life
 * dates of the SDK's `internal/data/deprecated-models.js`. Opus 4.1 and Haiku 3.5 are kept for the
 * many older examples that name them, although that SDK no longer lists them (the real API may
 * have retired them). Nothing is refused for its date, so tests do not change with the calendar.
 */
export const ANTHROPIC_SIM_MODELS: readonly AnthropicSimModel[] = Object.freeze([
  { id: 'claude-sonnet-4-6', display_name: 'Claude Sonnet 4.6', created_at: '2026-02-17T00:00:00Z', line: 'sonnet', max_input_tokens: 200_000, max_tokens: 64_000, aliases: [], lifecycle: 'active' },
  { id: 'claude-opus-4-6', display_name: 'Claude Opus 4.6', created_at: '2026-02-05T00:00:00Z', line: 'opus', max_input_tokens: 200_000, max_tokens: 128_000, aliases: [], lifecycle: 'active' },
  { id: 'claude-opus-4-5-20251101', display_name: 'Claude Opus 4.5', created_at: '2025-11-24T00:00:00Z', line: 'opus', max_input_tokens: 200_000, max_tokens: 64_000, aliases: ['claude-opus-4-5'], lifecycle: 'deprecated', retires_at: '2027-01-22T00:00:00Z' },
  { id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-15T00:00:00Z', line: 'haiku', max_input_tokens: 200_000, max_tokens: 64_000, aliases: ['claude-haiku-4-5'], lifecycle: 'active' },
  { id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z', line: 'sonnet', max_input_tokens: 200_000, max_tokens: 64_000, aliases: ['claude-sonnet-4-5'], lifecycle: 'deprecated', retires_at: '2026-11-30T00:00:00Z' },
  { id: 'claude-opus-4-1-20250805', display_name: 'Claude Opus 4.1', created_at: '2025-08-05T00:00:00Z', line: 'opus', max_input_tokens: 200_000, max_tokens: 32_000, aliases: ['claude-opus-4-1'], lifecycle: 'active' },
  { id: 'claude-3-5-haiku-20241022', display_name: 'Claude Haiku 3.5', created_at: '2024-10-22T00:00:00Z', line: 'haiku', max_input_tokens: 200_000, max_tokens: 8_192, aliases: ['claude-3-5-haiku-latest'], lifecycle: 'active' },
]);

const BASE = '/v1';
const KEY_PREFIX = 'sk-ant-';
const VERSION_2026 = '2026-10-21';
/** The `anthropic-beta` value that allows `context_management` (context editing). */
export const CONTEXT_MANAGEMENT_BETA = 'context-management-2025-06-27';
/** The `anthropic-beta` value that allows `output_format`, the deprecated spelling of `output_config.format`. */
export const STRUCTURED_OUTPUTS_BETA = 'structured-outputs-2025-11-13';
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const DEFAULT_CHUNKS = 3;
const DEFAULT_TOOL_FRAGMENTS = 8;
const DEFAULT_TEXT = 'Hello from the Anthropic simulator.';
const DEFAULT_WORDS = DEFAULT_TEXT.split(' ');
const THINKING_TEXT = 'The user asked something simple; a short, direct answer fits.';
// Real signatures are opaque base64; clients only store and return them.
const SIGNATURE = Buffer.from('anthropic-sim thinking signature v1').toString('base64');
const IMAGE_TOKENS = 1600;
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,128}$/;

const MODELS = new Map<string, AnthropicSimModel>();
for (const m of ANTHROPIC_SIM_MODELS) {
  MODELS.set(m.id, m);
  for (const alias of m.aliases) MODELS.set(alias, m);
}

function modelObject(m: AnthropicSimModel): string {
  return JSON.stringify({
    type: 'model',
    id: m.id,
    display_name: m.display_name,
    created_at: m.created_at,
    // The capability map is optional (`null`) in the SDK's ModelInfo; deprecation days are unknown.
    capabilities: null,
    deprecated_at: null,
    lifecycle: m.lifecycle,
    line: m.line,
    max_input_tokens: m.max_input_tokens,
    max_tokens: m.max_tokens,
    retires_at: m.retires_at ?? null,
  });
}

const MODEL_OBJECTS = ANTHROPIC_SIM_MODELS.map(modelObject);
const MODEL_INDEX = new Map<string, number>(ANTHROPIC_SIM_MODELS.map((m, i) => [m.id, i]));

function modelsPage(from: number, to: number): string {
  const ids = ANTHROPIC_SIM_MODELS;
  const first = from < to ? JSON.stringify(ids[from]!.id) : 'null';
  const last = from < to ? JSON.stringify(ids[to - 1]!.id) : 'null';
  return `{"data":[${MODEL_OBJECTS.slice(from, to).join(',')}],"has_more":${to < ids.length},"first_id":${first},"last_id":${last}}`;
}

const MODELS_LIST_BODY = modelsPage(0, ANTHROPIC_SIM_MODELS.length);

// ---------------------------------------------------------------------------------------------
// Errors

const ERROR_KINDS: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  402: { type: 'billing_error', message: 'Your credit balance is too low to access the Anthropic API.' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  404: { type: 'not_found_error', message: 'Not found' },
  409: { type: 'conflict_error', message: 'The request conflicts with the current state of the resource.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' },
  500: { type: 'api_error', message: 'Internal server error' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

function errorKind(status: number): { type: string; message: string } {
  return ERROR_KINDS[status] ?? {
    type: status >= 500 ? 'api_error' : 'invalid_request_error',
    message: STATUS_CODES[status] ?? 'Error',
  };
}

/** A request the API refuses: its status and message (the type follows from the status). */
interface Refusal {
  status: number;
  message: string;
}

function refuse(message: string, status = 400): Refusal {
  return { status, message };
}

// ---------------------------------------------------------------------------------------------
// Request validation. One pass over the body that also counts input tokens and notes what the
// answer depends on (tools, tool results, thinking), so the answer needs no second look.

const SAMPLING = ['temperature', 'top_p', 'top_k'];
const MESSAGE_FIELDS = ['model', 'messages', 'max_tokens', 'cache_control', 'container', 'diagnostics', 'inference_geo',
  'metadata', 'output_config', 'service_tier', 'speed', 'stop_sequences', 'stream', 'system', 'thinking', 'tool_choice',
  'tools', 'user_profile_id', 'workspace_id'];
const COUNT_FIELDS = ['model', 'messages', 'cache_control', 'output_config', 'speed', 'system', 'thinking', 'tool_choice',
  'tools', 'user_profile_id', 'workspace_id'];
// Fields a beta adds, each allowed only when `anthropic-beta` names its beta: without it the API
// refuses them as it refuses any unknown field.
const BETA_FIELDS: Readonly<Record<string, string>> = {
  context_management: CONTEXT_MANAGEMENT_BETA,
  output_format: STRUCTURED_OUTPUTS_BETA,
};
// Which top-level fields a request may carry, by endpoint and version; any other is refused.
const ALLOWED_FIELDS = {
  messages: { old: new Set([...MESSAGE_FIELDS, ...SAMPLING]), v2026: new Set(MESSAGE_FIELDS) },
  count: { old: new Set([...COUNT_FIELDS, ...SAMPLING]), v2026: new Set(COUNT_FIELDS) },
};
const TOOL_CHOICES = new Set(['auto', 'any', 'tool', 'none']);
const CONTEXT_EDITS = ['clear_tool_uses_20250919', 'clear_thinking_20251015', 'compact_20260112'];
const EFFORTS = new Set(['low', 'medium', 'high', 'xhigh', 'max']);
const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const PASSIVE_BLOCKS = new Set(['server_tool_use', 'web_search_tool_result', 'web_fetch_tool_result',
  'code_execution_tool_result', 'container_upload', 'mcp_tool_use', 'mcp_tool_result']);

interface Parsed {
  model: AnthropicSimModel;
  inputTokens: number;
  maxTokens: number;
  /** Custom tools (server tools are accepted but never called). */
  tools: Record<string, any>[];
  choice: 'auto' | 'any' | 'tool' | 'none';
  /** The tool `tool_choice` names. */
  choiceTool: Record<string, any> | undefined;
  parallelAllowed: boolean;
  thinking: boolean;
  stopSequences: string[];
  /** The text of the `tool_result` blocks of the last message, or null if it has none. */
  toolResults: string | null;
  /** The last message is the user's (not an assistant prefill). */
  userLast: boolean;
  /** The JSON schema of `output_config.format` (or the beta's `output_format`): the answer's text follows it. */
  format: Record<string, any> | undefined;
  /** The request asked for context management: the answer says which edits applied (none). */
  contextManagement: boolean;
}

/** Words of a `tool_result`'s content: a string or text blocks. */
function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) {
    if (isObject(part) && typeof part.text === 'string') text += (text ? ' ' : '') + part.text;
  }
  return text;
}

function checkSystem(system: unknown): Refusal | number {
  if (system === undefined || system === null) return 0;
  if (typeof system === 'string') return countWords(system);
  if (!Array.isArray(system)) return refuse('system: Input should be a valid string or a list of text blocks');
  let tokens = 0;
  for (let i = 0; i < system.length; i++) {
    const block = system[i];
    if (!isObject(block) || block.type !== 'text' || typeof block.text !== 'string') {
      return refuse(`system.${i}: Input should be a text block with a string 'text'`);
    }
    tokens += countWords(block.text);
  }
  return tokens;
}

interface ToolsChecked {
  custom: Record<string, any>[];
  tokens: number;
}

function checkTools(tools: unknown): Refusal | ToolsChecked {
  if (tools === undefined || tools === null) return { custom: [], tokens: 0 };
  if (!Array.isArray(tools)) return refuse('tools: Input should be a valid list');
  const custom: Record<string, any>[] = [];
  const names = new Set<string>();
  let tokens = 0;
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i];
    if (!isObject(tool)) return refuse(`tools.${i}: Input should be a valid dictionary`);
    // Server tools (`web_search_20250305`, `bash_20250124`, ...) carry their own `type`.
    const server = typeof tool.type === 'string' && tool.type !== 'custom';
    if (typeof tool.name !== 'string') return refuse(`tools.${i}.${server ? tool.type : 'custom'}.name: Field required`);
    if (names.has(tool.name)) return refuse('tools: Tool names must be unique.');
    names.add(tool.name);
    if (server) continue;
    if (!TOOL_NAME_RE.test(tool.name)) return refuse(`tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
    if (tool.input_schema === undefined) return refuse(`tools.${i}.custom.input_schema: Field required`);
    if (!isObject(tool.input_schema)) return refuse(`tools.${i}.custom.input_schema: Input should be a valid dictionary`);
    if (tool.input_schema.type !== 'object') return refuse(`tools.${i}.custom.input_schema.type: Input should be 'object'`);
    custom.push(tool);
    tokens += countWords(tool.name) + (typeof tool.description === 'string' ? countWords(tool.description) : 0) +
      Object.keys(isObject(tool.input_schema.properties) ? tool.input_schema.properties : {}).length;
  }
  return { custom, tokens };
}

function checkSampling(body: Record<string, any>): Refusal | undefined {
  for (const name of ['temperature', 'top_p'] as const) {
    const value = body[name];
    if (value === undefined) continue;
    if (typeof value !== 'number') return refuse(`${name}: Input should be a valid number`);
    if (value < 0) return refuse(`${name}: Input should be greater than or equal to 0`);
    if (value > 1) return refuse(`${name}: Input should be less than or equal to 1`);
  }
  if (body.top_k !== undefined && (!Number.isInteger(body.top_k) || body.top_k < 0)) {
    return refuse('top_k: Input should be a non-negative integer');
  }
  return undefined;
}

/** Checks one content block of message `i`; adds its input tokens and any tool ids to `turn`. */
function checkBlock(block: unknown, at: string, role: string, v2026: boolean, turn: Turn): Refusal | undefined {
  if (!isObject(block)) return refuse(`${at}: Input should be a valid dictionary`);
  switch (block.type) {
    case 'text':
      if (typeof block.text !== 'string') return refuse(`${at}.text: Field required`);
      if (block.text.length === 0) return refuse('messages: text content blocks must be non-empty');
      if (v2026 && role === 'user' && Array.isArray(block.citations) && block.citations.length > 0) {
        return refuse(`${at}.citations: citations on text blocks in user messages are not accepted in API version ${VERSION_2026}`);
      }
      turn.tokens += countWords(block.text);
      return undefined;
    case 'image': {
      const source = block.source;
      if (!isObject(source)) return refuse(`${at}.source: Field required`);
      if (source.type === 'base64') {
        if (!IMAGE_MEDIA_TYPES.has(source.media_type)) {
          return refuse(`${at}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
        }
        if (typeof source.data !== 'string' || source.data.length === 0) return refuse(`${at}.source.base64.data: Field required`);
      } else if (source.type === 'url') {
        if (typeof source.url !== 'string') return refuse(`${at}.source.url.url: Field required`);
      } else if (source.type !== 'file') {
        return refuse(`${at}.source: Input tag '${String(source.type)}' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'`);
      }
      turn.tokens += IMAGE_TOKENS;
      return undefined;
    }
    case 'document':
      if (v2026 && role === 'assistant') {
        return refuse(`${at}: document blocks are not accepted in assistant messages in API version ${VERSION_2026}; send documents in user messages`);
      }
      if (!isObject(block.source)) return refuse(`${at}.source: Field required`);
      turn.tokens += typeof block.source.data === 'string' && block.source.type === 'text' ? countWords(block.source.data) : IMAGE_TOKENS;
      return undefined;
    case 'tool_use':
      if (role !== 'assistant') return refuse(`${at}: tool_use blocks may only appear in assistant messages`);
      if (typeof block.id !== 'string') return refuse(`${at}.id: Field required`);
      if (typeof block.name !== 'string') return refuse(`${at}.name: Field required`);
      if (!isObject(block.input)) return refuse(`${at}.input: Input should be a valid dictionary`);
      turn.toolUseIds.push(block.id);
      turn.tokens += countWords(block.name) + Object.keys(block.input).length;
      return undefined;
    case 'tool_result': {
      if (role !== 'user') return refuse(`${at}: tool_result blocks may only appear in user messages`);
      const id = block.tool_use_id;
      if (typeof id !== 'string') return refuse(`${at}.tool_use_id: Field required`);
      if (!turn.previousToolUseIds.includes(id)) {
        return refuse(`${at}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
      }
      turn.toolResultIds.push(id);
      const text = toolResultText(block.content);
      turn.toolResults = turn.toolResults === null ? text : `${turn.toolResults}; ${text}`;
      turn.tokens += countWords(text);
      return undefined;
    }
    case 'search_result':
      if (v2026 && role === 'user' && Array.isArray(block.content) &&
        block.content.some((part: unknown) => isObject(part) && Array.isArray(part.citations) && part.citations.length > 0)) {
        return refuse(`${at}.content: citations on text blocks in user messages are not accepted in API version ${VERSION_2026}`);
      }
      return undefined;
    case 'thinking':
    case 'redacted_thinking':
      if (role !== 'assistant') return refuse(`${at}: ${block.type} blocks may only appear in assistant messages`);
      return undefined;
    default:
      if (typeof block.type === 'string' && PASSIVE_BLOCKS.has(block.type)) return undefined;
      return refuse(`${at}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'`);
  }
}

/** What the check of one message collects. */
interface Turn {
  tokens: number;
  previousToolUseIds: string[];
  toolUseIds: string[];
  toolResultIds: string[];
  toolResults: string | null;
}

/** Checks `messages`: roles, alternation, blocks and the tool_use/tool_result pairing. */
function checkMessages(messages: unknown[], v2026: boolean): Refusal | { tokens: number; toolResults: string | null; userLast: boolean } {
  if (messages.length === 0) return refuse('messages: at least one message is required');
  let tokens = 0;
  let previousRole = '';
  let previousToolUseIds: string[] = [];
  let turn: Turn | undefined;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (!isObject(message)) return refuse(`messages.${i}: Input should be a valid dictionary`);
    const role = message.role;
    if (role !== 'user' && role !== 'assistant') return refuse(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (i === 0 && role !== 'user') return refuse('messages: first message must use the "user" role');
    if (role === previousRole) {
      return refuse(`messages: roles must alternate between "user" and "assistant", but found multiple "${role}" roles in a row`);
    }
    turn = { tokens: 0, previousToolUseIds, toolUseIds: [], toolResultIds: [], toolResults: null };
    const content = message.content;
    if (content === undefined) return refuse(`messages.${i}.content: Field required`);
    if (typeof content === 'string') {
      if (role === 'user' && content.length === 0) return refuse('messages: user messages must have non-empty content');
      turn.tokens += countWords(content);
    } else if (Array.isArray(content)) {
      for (let j = 0; j < content.length; j++) {
        const refusal = checkBlock(content[j], `messages.${i}.content.${j}`, role, v2026, turn);
        if (refusal) return refusal;
      }
    } else {
      return refuse(`messages.${i}.content: Input should be a valid string or a list of content blocks`);
    }
    const unanswered = previousToolUseIds.filter((id) => !turn!.toolResultIds.includes(id));
    if (unanswered.length > 0) {
      return refuse(`messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${unanswered.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
    }
    tokens += turn.tokens;
    previousRole = role;
    previousToolUseIds = turn.toolUseIds;
  }
  return { tokens, toolResults: turn!.toolResults, userLast: previousRole === 'user' };
}

/** `context_management`: `edits`, each one of the documented strategies. */
function checkContextManagement(value: unknown): Refusal | undefined {
  if (!isObject(value)) return refuse('context_management: Input should be a valid dictionary');
  for (const key in value) if (key !== 'edits') return refuse(`context_management.${key}: Extra inputs are not permitted`);
  if (value.edits === undefined) return undefined;
  if (!Array.isArray(value.edits)) return refuse('context_management.edits: Input should be a valid list');
  for (let i = 0; i < value.edits.length; i++) {
    const edit = value.edits[i];
    if (!isObject(edit)) return refuse(`context_management.edits.${i}: Input should be a valid dictionary`);
    if (!CONTEXT_EDITS.includes(edit.type)) {
      return refuse(`context_management.edits.${i}: Input tag '${String(edit.type)}' found using 'type' does not match any of the expected tags: ${CONTEXT_EDITS.map((t) => `'${t}'`).join(', ')}`);
    }
  }
  return undefined;
}

/** A structured-output format, `{type: "json_schema", schema}`, at `at`; its schema, or none for null. */
function checkFormat(value: unknown, at: string): Refusal | Record<string, any> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return refuse(`${at}: Input should be a valid dictionary`);
  if (value.type !== 'json_schema') return refuse(`${at}.type: Input should be 'json_schema'`);
  if (value.schema === undefined) return refuse(`${at}.schema: Field required`);
  if (!isObject(value.schema)) return refuse(`${at}.schema: Input should be a valid dictionary`);
  return value.schema;
}

/** `output_config`: `effort` and `format`; returns the format's schema, if any. */
function checkOutputConfig(value: unknown): Refusal | Record<string, any> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return refuse('output_config: Input should be a valid dictionary');
  for (const key in value) if (key !== 'effort' && key !== 'format') return refuse(`output_config.${key}: Extra inputs are not permitted`);
  if (value.effort !== undefined && value.effort !== null && !EFFORTS.has(value.effort)) {
    return refuse(`output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'`);
  }
  return checkFormat(value.format, 'output_config.format');
}

/** Validates a Messages (or, with `counting`, a token-counting) body as the API does. */
function checkBody(body: Record<string, any>, v2026: boolean, counting: boolean, betas: ReadonlySet<string>): Refusal | Parsed {
  const allowed = (counting ? ALLOWED_FIELDS.count : ALLOWED_FIELDS.messages)[v2026 ? 'v2026' : 'old'];
  for (const key in body) {
    const beta = Object.hasOwn(BETA_FIELDS, key) ? BETA_FIELDS[key] : undefined;
    if (!allowed.has(key) && (beta === undefined || !betas.has(beta))) return refuse(`${key}: Extra inputs are not permitted`);
  }
  if (body.context_management !== undefined && body.context_management !== null) {
    const refusal = checkContextManagement(body.context_management);
    if (refusal) return refusal;
  }
  const outputConfig = checkOutputConfig(body.output_config);
  if (outputConfig !== undefined && 'status' in outputConfig) return outputConfig as Refusal;
  const outputFormat = checkFormat(body.output_format, 'output_format');
  if (outputFormat !== undefined && 'status' in outputFormat) return outputFormat as Refusal;
  if (outputConfig !== undefined && outputFormat !== undefined) {
    return refuse('output_format: output_format is deprecated and cannot be combined with output_config.format; use output_config.format');
  }

  if (body.model === undefined) return refuse('model: Field required');
  if (typeof body.model !== 'string') return refuse('model: Input should be a valid string');
  if (body.messages === undefined) return refuse('messages: Field required');
  if (!Array.isArray(body.messages)) return refuse('messages: Input should be a valid list');
  let maxTokens = 0;
  if (!counting) {
    if (body.max_tokens === undefined) return refuse('max_tokens: Field required');
    if (!Number.isInteger(body.max_tokens)) return refuse('max_tokens: Input should be a valid integer');
    if (body.max_tokens < 1) return refuse('max_tokens: Input should be greater than or equal to 1');
    maxTokens = body.max_tokens;
    if (body.stream !== undefined && typeof body.stream !== 'boolean') return refuse('stream: Input should be a valid boolean');
  }
  const sampling = checkSampling(body);
  if (sampling) return sampling;

  if (body.metadata !== undefined) {
    if (!isObject(body.metadata)) return refuse('metadata: Input should be a valid dictionary');
    for (const key in body.metadata) if (key !== 'user_id') return refuse(`metadata.${key}: Extra inputs are not permitted`);
    const user = body.metadata.user_id;
    if (user !== undefined && user !== null && typeof user !== 'string') return refuse('metadata.user_id: Input should be a valid string');
  }
  const stopSequences: string[] = [];
  if (body.stop_sequences !== undefined) {
    if (!Array.isArray(body.stop_sequences)) return refuse('stop_sequences: Input should be a valid list');
    for (let i = 0; i < body.stop_sequences.length; i++) {
      const seq = body.stop_sequences[i];
      if (typeof seq !== 'string') return refuse(`stop_sequences.${i}: Input should be a valid string`);
      if (seq.length > 0) stopSequences.push(seq);
    }
  }

  const system = checkSystem(body.system);
  if (typeof system !== 'number') return system;
  const tools = checkTools(body.tools);
  if ('status' in tools) return tools;

  let choice: Parsed['choice'] = 'auto';
  let choiceTool: Record<string, any> | undefined;
  let parallelAllowed = true;
  const tc = body.tool_choice;
  if (tc !== undefined && tc !== null) {
    if (!isObject(tc)) return refuse('tool_choice: Input should be a valid dictionary');
    if (!TOOL_CHOICES.has(tc.type)) {
      return refuse(`tool_choice: Input tag '${String(tc.type)}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`);
    }
    if (!Array.isArray(body.tools) || body.tools.length === 0) return refuse('tool_choice may only be specified while providing tools.');
    choice = tc.type;
    if (choice === 'tool') {
      if (typeof tc.name !== 'string') return refuse('tool_choice.tool.name: Field required');
      choiceTool = tools.custom.find((t) => t.name === tc.name);
      if (!choiceTool) return refuse(`tool_choice.tool.name: no tool named '${tc.name}' is in 'tools'`);
    }
    if (tc.disable_parallel_tool_use === true) parallelAllowed = false;
  }

  let thinking = false;
  const th = body.thinking;
  if (th !== undefined && th !== null) {
    if (!isObject(th) || (th.type !== 'enabled' && th.type !== 'disabled' && th.type !== 'adaptive')) {
      return refuse(`thinking: Input tag '${String(th?.type)}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'`);
    }
    if (th.type === 'enabled') {
      if (!Number.isInteger(th.budget_tokens)) return refuse('thinking.enabled.budget_tokens: Field required');
      if (th.budget_tokens < 1024) return refuse('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
      if (!counting && maxTokens <= th.budget_tokens) return refuse('`max_tokens` must be greater than `thinking.budget_tokens`.');
    }
    thinking = th.type !== 'disabled';
    if (thinking && (choice === 'any' || choice === 'tool')) return refuse('Thinking may not be enabled when tool_choice forces tool use.');
  }

  const messages = checkMessages(body.messages, v2026);
  if ('status' in messages) return messages;

  const model = MODELS.get(body.model);
  if (!model) return refuse(`model: ${body.model}`, 404);
  if (maxTokens > model.max_tokens) {
    return refuse(`max_tokens: ${maxTokens} > ${model.max_tokens}, which is the maximum allowed number of output tokens for ${model.id}`);
  }
  return {
    model,
    inputTokens: system + tools.tokens + messages.tokens,
    maxTokens,
    tools: tools.custom,
    choice,
    choiceTool,
    parallelAllowed,
    thinking,
    stopSequences,
    toolResults: messages.toolResults,
    userLast: messages.userLast,
    format: outputConfig ?? outputFormat,
    contextManagement: body.context_management !== undefined && body.context_management !== null,
  };
}

// ---------------------------------------------------------------------------------------------
// Answers: a list of blocks, then either a Message body or a stream of events.

type Block =
  | { type: 'thinking'; text: string }
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: string };

interface Answer {
  blocks: Block[];
  stopReason: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';
  stopSequence: string | null;
  outputTokens: number;
  /** The request asked for context management. */
  contextManagement: boolean;
}

/** What context management did: nothing, as the simulator's conversations stay under every trigger. */
const NO_EDITS_APPLIED = '"context_management":{"applied_edits":[]}';

const defaultTexts = new Map<number, string>();

/** The tools to call, or none: `any`/`tool` always call; `auto` only when the user spoke last
 *  without tool results, so an agent loop (call, result, answer) ends with text. */
function toolsToCall(p: Parsed, fault: AnthropicSimFault | undefined): Record<string, any>[] {
  if (p.tools.length === 0 || p.choice === 'none') return [];
  const forced = p.choice === 'any' || p.choice === 'tool';
  if (!forced && (!p.userLast || p.toolResults !== null)) return [];
  const first = p.choiceTool ?? toolToCall(p.tools, fault?.call_tool);
  if (fault?.parallel_tools !== true || !p.parallelAllowed) return [first];
  return [first, p.choiceTool ?? p.tools[1] ?? first];
}

function answerFor(p: Parsed, fault: AnthropicSimFault | undefined, idSeed: string): Answer {
  const blocks: Block[] = [];
  let outputTokens = 0;
  if (p.thinking || fault?.thinking === true) {
    blocks.push({ type: 'thinking', text: THINKING_TEXT });
    outputTokens += countWords(THINKING_TEXT);
  }

  const calls = toolsToCall(p, fault);
  if (calls.length > 0) {
    // With `any` or `tool` the API prefills the turn to force the call, so no text comes first.
    if (fault?.text_before_tool === true && p.choice === 'auto') {
      const text = `I'll use the ${calls[0]!.name} tool.`;
      blocks.push({ type: 'text', text });
      outputTokens += countWords(text);
    }
    for (let i = 0; i < calls.length; i++) {
      const tool = calls[i]!;
      const input = sampleObject(tool.input_schema, 'arguments', () => ({}));
      // Parallel calls get distinct ids: the seed rotated.
      const seed = idSeed.slice(i * 3) + idSeed.slice(0, i * 3);
      blocks.push({ type: 'tool_use', id: `toolu_01${seed}`, name: String(tool.name), input });
      outputTokens += countWords(input);
    }
    return { blocks, stopReason: 'tool_use', stopSequence: null, outputTokens, contextManagement: p.contextManagement };
  }

  let text: string;
  if (typeof fault?.content === 'string') text = fault.content;
  // Structured output: the text is the JSON document, after tool results too.
  else if (p.format !== undefined) text = JSON.stringify(sampleFromSchema(p.format, 'answer'));
  else if (p.toolResults !== null) text = toolResultReply(p.toolResults);
  else text = textOfWords(DEFAULT_TEXT, DEFAULT_WORDS, Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS), defaultTexts);

  let stopReason: Answer['stopReason'] = 'end_turn';
  let stopSequence: string | null = null;
  let cutAt = -1;
  for (const seq of p.stopSequences) {
    const at = text.indexOf(seq);
    if (at !== -1 && (cutAt === -1 || at < cutAt)) {
      cutAt = at;
      stopSequence = seq;
    }
  }
  if (stopSequence !== null) {
    text = text.slice(0, cutAt);
    stopReason = 'stop_sequence';
  }
  const room = Math.max(0, p.maxTokens - outputTokens);
  const cut = p.maxTokens > 0 ? truncateWords(text, room) : null;
  if (cut !== null) {
    text = cut;
    stopReason = 'max_tokens';
    stopSequence = null;
  }
  blocks.push({ type: 'text', text });
  outputTokens += countWords(text);
  return { blocks, stopReason, stopSequence, outputTokens, contextManagement: p.contextManagement };
}

const DEFAULT_TEXT_BLOCK = `{"type":"text","text":${JSON.stringify(DEFAULT_TEXT)}}`;

function blockJson(block: Block): string {
  switch (block.type) {
    case 'text': return block.text === DEFAULT_TEXT ? DEFAULT_TEXT_BLOCK : `{"type":"text","text":${JSON.stringify(block.text)}}`;
    case 'thinking': return `{"type":"thinking","thinking":${JSON.stringify(block.text)},"signature":"${SIGNATURE}"}`;
    case 'tool_use': return `{"type":"tool_use","id":"${block.id}","name":${JSON.stringify(block.name)},"input":${block.input}}`;
  }
}

function usageJson(input: number, output: number): string {
  return `{"input_tokens":${input},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":${output}}`;
}

function stopJson(answer: Answer): string {
  const seq = answer.stopSequence === null ? 'null' : JSON.stringify(answer.stopSequence);
  return `"stop_reason":"${answer.stopReason}","stop_sequence":${seq}`;
}

function messageJson(id: string, modelJson: string, answer: Answer, input: number): string {
  const edits = answer.contextManagement ? `,${NO_EDITS_APPLIED}` : '';
  return `{"id":"${id}","type":"message","role":"assistant","model":${modelJson},"content":[${answer.blocks.map(blockJson).join(',')}],${stopJson(answer)},"usage":${usageJson(input, answer.outputTokens)}${edits}}`;
}

function sse(type: string, data: string): string {
  return `event: ${type}\ndata: ${data}\n\n`;
}

const PING = sse('ping', '{"type": "ping"}');

/** The start of a block as `content_block_start` shows it: empty text, thinking or input. */
function startJson(block: Block): string {
  switch (block.type) {
    case 'text': return '{"type":"text","text":""}';
    case 'thinking': return '{"type":"thinking","thinking":"","signature":""}';
    case 'tool_use': return `{"type":"tool_use","id":"${block.id}","name":${JSON.stringify(block.name)},"input":{}}`;
  }
}

function deltaEvent(index: number, delta: string): string {
  return sse('content_block_delta', `{"type":"content_block_delta","index":${index},"delta":${delta}}`);
}

const textDeltaCache = new Map<number, string[]>();

/** The `text_delta` events of block `index`; those of the default reply at index 0 are made once. */
function textDeltas(text: string, index: number, chunks: number): string[] {
  const constant = index === 0 && text === textOfWords(DEFAULT_TEXT, DEFAULT_WORDS, chunks, defaultTexts);
  const cached = constant ? textDeltaCache.get(chunks) : undefined;
  if (cached) return cached;
  const events = splitPieces(text, chunks).map((piece) => deltaEvent(index, `{"type":"text_delta","text":${JSON.stringify(piece)}}`));
  if (constant && textDeltaCache.size < 256) textDeltaCache.set(chunks, events);
  return events;
}

function blockDeltas(block: Block, index: number, fault: AnthropicSimFault | undefined): string[] {
  switch (block.type) {
    case 'text':
      return textDeltas(block.text, index, Math.max(1, nonNegative(fault?.chunks) ?? DEFAULT_CHUNKS));
    case 'thinking': {
      const deltas = splitPieces(block.text, 2).map((piece) => deltaEvent(index, `{"type":"thinking_delta","thinking":${JSON.stringify(piece)}}`));
      deltas.push(deltaEvent(index, `{"type":"signature_delta","signature":"${SIGNATURE}"}`));
      return deltas;
    }
    case 'tool_use': {
      const fragments = Math.max(1, Math.min(nonNegative(fault?.tool_fragments) ?? DEFAULT_TOOL_FRAGMENTS, block.input.length));
      return splitPieces(block.input, fragments).map((piece) => deltaEvent(index, `{"type":"input_json_delta","partial_json":${JSON.stringify(piece)}}`));
    }
  }
}

interface StreamPlan {
  /** `message_start`. */
  head: string;
  /** One entry per content delta, each led by the block boundaries (and the ping) before it. */
  steps: string[];
  /** The last `content_block_stop`, `message_delta` and `message_stop`. */
  tail: string;
}

function streamPlan(id: string, modelJson: string, answer: Answer, input: number, fault: AnthropicSimFault | undefined): StreamPlan {
  const head = sse('message_start', `{"type":"message_start","message":{"id":"${id}","type":"message","role":"assistant","model":${modelJson},"content":[],"stop_reason":null,"stop_sequence":null,"usage":${usageJson(input, 1)}}}`);
  const steps: string[] = [];
  let pending = '';
  for (let i = 0; i < answer.blocks.length; i++) {
    const block = answer.blocks[i]!;
    pending += sse('content_block_start', `{"type":"content_block_start","index":${i},"content_block":${startJson(block)}}`);
    if (i === 0) pending += PING;
    for (const delta of blockDeltas(block, i, fault)) {
      steps.push(pending + delta);
      pending = '';
    }
    pending += sse('content_block_stop', `{"type":"content_block_stop","index":${i}}`);
  }
  const tail = pending +
    sse('message_delta', `{"type":"message_delta","delta":{${stopJson(answer)}},"usage":${usageJson(input, answer.outputTokens)}${answer.contextManagement ? `,${NO_EDITS_APPLIED}` : ''}}`) +
    sse('message_stop', '{"type":"message_stop"}');
  return { head, steps, tail };
}

// ---------------------------------------------------------------------------------------------
// Rate-limit headers: fixed limits per one-minute window; remaining counts fall within it.

const LIMIT_REQUESTS = 4000;
const LIMIT_INPUT = 2_000_000;
const LIMIT_OUTPUT = 400_000;
const LIMIT_TOKENS = LIMIT_INPUT + LIMIT_OUTPUT;

/** A time as the rate-limit headers write it: RFC 3339, whole seconds, UTC. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

// ---------------------------------------------------------------------------------------------
// Per-request state

interface Exchange extends SimConnection {
  /** `req_...`, in the `request-id` header and in error bodies. */
  requestId: string;
  /** 22 characters for the message and tool ids. */
  idSeed: string;
}

type Route = { kind: 'messages' | 'count' } | ModelsRoute;

function route(method: string, path: string): Route {
  if (!path.startsWith(BASE + '/')) return { kind: 'not_found' };
  const rest = path.slice(BASE.length);
  if (rest === '/messages' || rest === '/messages/count_tokens') {
    if (method !== 'POST') return { kind: 'method', allow: 'POST' };
    return { kind: rest === '/messages' ? 'messages' : 'count' };
  }
  return modelsRoute(method, rest) ?? { kind: 'not_found' };
}

/** The key a request presents (`x-api-key`, else `Authorization: Bearer`), or undefined. */
function presentedKey(req: IncomingMessage): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const auth = req.headers.authorization;
  if (auth !== undefined && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim();
  return undefined;
}

const NO_BETAS: ReadonlySet<string> = new Set();

/** The betas `anthropic-beta` names: a comma-separated list, in one header or several. */
function betasOf(req: IncomingMessage): ReadonlySet<string> {
  const header = req.headers['anthropic-beta'];
  if (header === undefined || header === '') return NO_BETAS;
  const betas = new Set<string>();
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const name of line.split(',')) if (name.trim() !== '') betas.add(name.trim());
  }
  return betas;
}

/** `sim` in the body, else `metadata.user_id` as `sim:<json>`; a malformed fault is ignored. */
function faultOf(json: Record<string, any>): AnthropicSimFault | undefined {
  const inBody = asFault(json.sim) as AnthropicSimFault | undefined;
  if (inBody) return inBody;
  const user = isObject(json.metadata) ? json.metadata.user_id : undefined;
  if (typeof user !== 'string' || !user.startsWith('sim:')) return undefined;
  try {
    return asFault(JSON.parse(user.slice(4))) as AnthropicSimFault | undefined;
  } catch {
    return undefined;
  }
}

function pageBounds(query: URLSearchParams): Refusal | { from: number; to: number } {
  const count = ANTHROPIC_SIM_MODELS.length;
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return refuse('limit: Input should be an integer between 1 and 1000');
  const after = query.get('after_id');
  const before = query.get('before_id');
  if (after !== null) {
    const at = MODEL_INDEX.get(after);
    if (at === undefined) return refuse(`after_id: no model with id ${after}`);
    return { from: at + 1, to: Math.min(count, at + 1 + limit) };
  }
  if (before !== null) {
    const at = MODEL_INDEX.get(before);
    if (at === undefined) return refuse(`before_id: no model with id ${before}`);
    return { from: Math.max(0, at - limit), to: at };
  }
  return { from: 0, to: Math.min(count, limit) };
}

// ---------------------------------------------------------------------------------------------

export async function startAnthropicSim(options: AnthropicSimOptions = {}): Promise<AnthropicSim> {
  const log = createSimLog(options.record ?? true);
  const steering = createFaultSteering(options.defaultFault);
  const timers = createTimers();
  const usage = createUsageWindow();
  const countUsage = usage.count;
  // The reset time, formatted once per window.
  let resetFor = -1;
  let resetAt = '';

  /** Headers every answer carries, as a flat [name, value, ...] list. */
  function headers(ex: Exchange, contentType: string): string[] {
    if (resetFor !== usage.start) {
      resetFor = usage.start;
      resetAt = rfc3339(usage.start + 60_000);
    }
    return [
      'content-type', contentType,
      'request-id', ex.requestId,
      'anthropic-ratelimit-requests-limit', String(LIMIT_REQUESTS),
      'anthropic-ratelimit-requests-remaining', String(Math.max(0, LIMIT_REQUESTS - usage.requests)),
      'anthropic-ratelimit-requests-reset', resetAt,
      'anthropic-ratelimit-input-tokens-limit', String(LIMIT_INPUT),
      'anthropic-ratelimit-input-tokens-remaining', String(Math.max(0, LIMIT_INPUT - usage.input)),
      'anthropic-ratelimit-input-tokens-reset', resetAt,
      'anthropic-ratelimit-output-tokens-limit', String(LIMIT_OUTPUT),
      'anthropic-ratelimit-output-tokens-remaining', String(Math.max(0, LIMIT_OUTPUT - usage.output)),
      'anthropic-ratelimit-output-tokens-reset', resetAt,
      'anthropic-ratelimit-tokens-limit', String(LIMIT_TOKENS),
      'anthropic-ratelimit-tokens-remaining', String(Math.max(0, LIMIT_TOKENS - usage.input - usage.output)),
      'anthropic-ratelimit-tokens-reset', resetAt,
    ];
  }

  function send(ex: Exchange, status: number, body: string, extra?: string[]): void {
    if (ex.closed) return;
    const h = headers(ex, 'application/json');
    if (extra) h.push(...extra);
    h.push('content-length', String(Buffer.byteLength(body)));
    ex.res.writeHead(status, h);
    ex.res.end(body);
  }

  function sendError(ex: Exchange, status: number, message?: string, retryAfter?: string, extra: string[] = []): void {
    countUsage(0, 0);
    const kind = errorKind(status);
    const body = `{"type":"error","error":{"type":"${kind.type}","message":${JSON.stringify(message ?? kind.message)}},"request_id":"${ex.requestId}"}`;
    const wait = retryAfter ?? (status === 429 ? '1' : undefined);
    if (wait !== undefined) extra.push('retry-after', wait);
    send(ex, status, body, extra);
  }

  /** Writes an SSE answer delta by delta, honouring the stream faults. */
  async function stream(ex: Exchange, plan: StreamPlan, fault: AnthropicSimFault | undefined): Promise<void> {
    if (ex.closed) return;
    const h = headers(ex, 'text/event-stream; charset=utf-8');
    h.push('cache-control', 'no-cache');
    ex.res.writeHead(200, h);
    const delay = nonNegative(fault?.chunk_delay_ms) ?? 0;
    const cutAfter = nonNegative(fault?.cut_after);
    const stallAfter = nonNegative(fault?.stall_after);
    const streamError = isObject(fault?.stream_error) ? fault.stream_error : undefined;
    if (delay === 0 && cutAfter === undefined && stallAfter === undefined && streamError === undefined) {
      ex.res.end(plan.head + plan.steps.join('') + plan.tail);
      return;
    }
    ex.res.flushHeaders();
    const res = ex.res;
    const errorAt = streamError ? Math.min(nonNegative(streamError.after) ?? 0, plan.steps.length) : -1;
    const errorType = streamError?.type === 'api_error' ? 'api_error' : 'overloaded_error';
    let errorMessage = streamError?.message ?? errorKind(errorType === 'api_error' ? 500 : 529).message;
    if (streamError?.echo_key === true) errorMessage += ` (request made with ${presentedKey(ex.req)})`;
    const errorEvent = sse('error', `{"type":"error","error":{"type":"${errorType}","message":${JSON.stringify(errorMessage)}}}`);
    // Writes `data`, after which k deltas are out; false when the stream ends here.
    const write = (data: string, k: number): boolean => {
      if (errorAt === k) {
        res.end(data + errorEvent);
        return false;
      }
      if (cutAfter === k) {
        // Cut only once what came before is on the wire, so the client sees exactly k deltas.
        res.write(data, () => cutSocket(ex));
        return false;
      }
      res.write(data);
      return stallAfter !== k;
    };
    if (await playSteps(ex, plan.head, plan.steps, delay, timers.sleep, write)) res.end(plan.tail);
  }

  // -------------------------------------------------------------------------------------------
  // The request lifecycle: read body -> find the fault -> record -> route -> auth -> version
  // -> injected failure -> validate -> answer

  async function handle(ex: Exchange, request: SimRequest): Promise<void> {
    const { req } = ex;
    const { method, path, search, tooLarge, json, jsonError } = request;
    const isBody = isObject(json);
    let fault = isBody ? faultOf(json) : undefined;
    if (fault === undefined && method === 'GET' && search !== '') fault = queryFault(new URLSearchParams(search)) as AnthropicSimFault | undefined;
    fault ??= steering.take() as AnthropicSimFault | undefined;

    const attempt = log.admit(ex, request.body, json, fault);
    if (ex.closed) return;

    const target = route(method, path);
    if (target.kind === 'not_found') return sendError(ex, 404, 'Not Found');
    if (target.kind === 'method') return sendError(ex, 405, `Method ${method} is not allowed on ${path}; use ${target.allow}`, undefined, ['allow', target.allow]);

    const presented = presentedKey(req);
    if (presented === undefined) return sendError(ex, 401, 'x-api-key header is required');
    if (!presented.startsWith(KEY_PREFIX) || presented.length <= KEY_PREFIX.length) return sendError(ex, 401);
    const version = req.headers['anthropic-version'];
    if (version === undefined || version === '') return sendError(ex, 400, 'anthropic-version: header is required');
    if (version !== '2023-06-01' && version !== VERSION_2026) {
      return sendError(ex, 400, `anthropic-version: "${String(version)}" is not a valid version; use one of ${ANTHROPIC_VERSIONS.join(', ')}`);
    }
    if (tooLarge) return sendError(ex, 413);

    // Faults come before validation so that error tests need no valid body.
    if (fault) {
      const failing = faultFails(fault, attempt);
      const delay = nonNegative(fault.delay_ms);
      if (delay) await timers.sleep(delay);
      if (ex.closed) return;
      if (failing) {
        if (fault.reset === true) return cutSocket(ex);
        const message = typeof fault.error_message === 'string' ? fault.error_message : undefined;
        return sendError(ex, failStatus(fault), message, typeof fault.retry_after === 'string' ? fault.retry_after : undefined);
      }
    }

    if (target.kind === 'models') {
      const page = pageBounds(new URLSearchParams(search));
      if ('status' in page) return sendError(ex, page.status, page.message);
      countUsage(0, 0);
      const all = page.from === 0 && page.to === ANTHROPIC_SIM_MODELS.length;
      return send(ex, 200, all ? MODELS_LIST_BODY : modelsPage(page.from, page.to));
    }
    if (target.kind === 'model') {
      const model = MODELS.get(target.id);
      if (!model) return sendError(ex, 404, `model: ${target.id}`);
      countUsage(0, 0);
      return send(ex, 200, MODEL_OBJECTS[MODEL_INDEX.get(model.id)!]!);
    }

    if (jsonError !== undefined) return sendError(ex, 400, `There was an issue with the format of your request: the body is not valid JSON (${jsonError})`);
    if (!isBody) return sendError(ex, 400, 'There was an issue with the format of your request: the body must be a JSON object');
    let body: Record<string, any> = json;
    if (Object.hasOwn(body, 'sim')) {
      body = { ...body };
      delete body.sim;
    }
    const parsed = checkBody(body, version === VERSION_2026, target.kind === 'count', betasOf(req));
    if ('status' in parsed) return sendError(ex, parsed.status, parsed.message);

    if (target.kind === 'count') {
      countUsage(0, 0);
      // Nothing is cleared, so the count before context management is the count.
      const edits = parsed.contextManagement ? `,"context_management":{"original_input_tokens":${parsed.inputTokens}}` : '';
      return send(ex, 200, `{"input_tokens":${parsed.inputTokens}${edits}}`);
    }

    const answer = answerFor(parsed, fault, ex.idSeed);
    countUsage(parsed.inputTokens, answer.outputTokens);
    const id = 'msg_01' + ex.idSeed;
    const modelJson = JSON.stringify(parsed.model.id);
    if (body.stream === true) {
      // With fail_first, stream faults (an error event, a cut, a stall) hit only the first attempts too.
      const streamFault =
        fault !== undefined && fault.fail_first !== undefined && attempt > fault.fail_first
          ? { ...fault, stream_error: undefined, cut_after: undefined, stall_after: undefined }
          : fault;
      return stream(ex, streamPlan(id, modelJson, answer, parsed.inputTokens, streamFault), streamFault);
    }
    return send(ex, 200, messageJson(id, modelJson, answer, parsed.inputTokens));
  }

  const served = await serveSim(
    { port: options.port, host: options.host ?? '127.0.0.1', maxBodyBytes: MAX_BODY_BYTES, steering },
    (req, res): Exchange => {
      const uuid = randomUUID().replace(/-/g, '');
      return { req, res, requestId: 'req_011C' + uuid.slice(0, 20), idSeed: uuid.slice(10, 32), record: undefined, closed: false, cutByServer: false };
    },
    handle,
    (ex, err) => sendError(ex, 500, `Simulator error: ${err.message}`),
  );

  // Clients add `/v1` themselves, as they do to https://api.anthropic.com.
  return simHandle(served, log, timers, '', steering);
}
