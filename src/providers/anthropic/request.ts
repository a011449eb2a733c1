// An OpenAI chat completion request as an Anthropic Messages request. Renames are a table (as
// Portkey's providers/anthropic/chatComplete.ts keeps them, typed here); only messages, system and
// tools are code (src/translate/chat-messages.ts, tools.ts, which Bedrock shares).
// Sources: https://platform.claude.com/docs/en/api/messages (max_tokens required, stop_sequences,
// temperature 0-1, top_p, top_k, metadata.user_id, thinking),
// https://platform.claude.com/docs/en/api/versioning and
// https://platform.claude.com/docs/en/api/migration-2026-10-21 (2026-10-21 answers 400 to
// temperature, top_p and top_k, even at their defaults),
// https://platform.claude.com/docs/en/build-with-claude/extended-thinking (budget_tokens at least
// 1024 and below max_tokens; thinking refuses temperature, top_k and forced tool use),
// https://platform.openai.com/docs/api-reference/chat/create (the request fields).
import { translateMessages } from '../../translate/chat-messages.js';
import { invalid } from '../../translate/errors.js';
import { isRecord, type Block, type Json } from '../../translate/json.js';
import { integerAtLeast, numberWithin, setPath, stopSequences, temperature, text } from '../../translate/request-params.js';
import { translateTools } from '../../translate/tools.js';

export const ANTHROPIC_VERSIONS = ['2023-06-01', '2026-10-21'] as const;
/** The newest version, used when none is configured. */
export const DEFAULT_ANTHROPIC_VERSION = '2026-10-21';
const LEGACY_VERSION = '2023-06-01';

/**
 * Anthropic requires max_tokens; OpenAI clients often send none. 4096 is what every current Claude
 * model can produce, and the common default of Anthropic's own examples.
 */
export const DEFAULT_MAX_TOKENS = 4096;

/**
 * reasoning_effort as a thinking budget (tokens). Anthropic's floor is 1024; each level doubles
 * roughly, up to a budget that leaves room within the smaller models' output limits. 'none' (and no
 * reasoning_effort) is no thinking.
 */
export const THINKING_BUDGET: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32768,
};

/** Why a field may be left out rather than sent to fail. */
type Refusal = 'sampling-removed' | 'thinking';

interface ParamRule {
  /** The OpenAI field. */
  readonly param: string;
  /** Where it goes in Anthropic's body; a dot nests (`metadata.user_id`). A later rule for the same target wins. */
  readonly target: string;
  /** The client's value in Anthropic's terms; throws a 400 naming `param` for a value it cannot take. */
  readonly transform: (value: unknown, param: string) => Json;
  /** When Anthropic refuses the field: from 2026-10-21 (sampling parameters), or with thinking on. */
  readonly refusedWhen?: readonly Refusal[];
}

function boolean(value: unknown, param: string): Json {
  if (typeof value !== 'boolean') throw invalid(`${param} must be a boolean`, param, 'invalid_type');
  return value;
}

/** The fields that are renames; null counts as absent, as OpenAI reads it. */
const PARAMS: readonly ParamRule[] = [
  { param: 'max_tokens', target: 'max_tokens', transform: integerAtLeast(1) },
  // The newer name wins when a client sends both.
  { param: 'max_completion_tokens', target: 'max_tokens', transform: integerAtLeast(1) },
  { param: 'stop', target: 'stop_sequences', transform: stopSequences },
  { param: 'temperature', target: 'temperature', transform: temperature, refusedWhen: ['sampling-removed', 'thinking'] },
  { param: 'top_p', target: 'top_p', transform: numberWithin(0, 1), refusedWhen: ['sampling-removed'] },
  { param: 'top_k', target: 'top_k', transform: integerAtLeast(0), refusedWhen: ['sampling-removed', 'thinking'] },
  { param: 'user', target: 'metadata.user_id', transform: text },
  { param: 'stream', target: 'stream', transform: boolean },
];

/** Fields read by code below: not listed as dropped. */
const HANDLED = new Set([
  'model',
  'messages',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
  'n',
  ...PARAMS.map((rule) => rule.param),
]);

export interface AnthropicRequest {
  readonly body: string;
  readonly version: string;
  readonly dropped: string[];
  readonly refused: string[];
  readonly includeUsage: boolean;
  readonly jsonTool: string | undefined;
}

export function translateRequest(body: Record<string, unknown>, model: string, version: string): AnthropicRequest {
  const dropped: string[] = [];
  const refused: string[] = [];
  if (body.n !== undefined && body.n !== null && body.n !== 1) {
    throw invalid('n must be 1: Anthropic gives one choice per request (send several requests for more)', 'n', 'unsupported_value');
  }
  const budget = thinkingBudget(body.reasoning_effort);
  const active = new Set<Refusal>();
  if (version !== LEGACY_VERSION) active.add('sampling-removed');
  if (budget !== undefined) active.add('thinking');

  const conversation = translateMessages(body.messages, {
    provider: 'Anthropic',
    imageUrls: true,
    strictContent: version !== LEGACY_VERSION,
    refused,
  });
  const renamed: Block = {};
  for (const rule of PARAMS) {
    const value = body[rule.param];
    if (value === undefined || value === null) continue;
    const translated = rule.transform(value, rule.param);
    if (rule.refusedWhen?.some((reason) => active.has(reason))) refused.push(rule.param);
    else setPath(renamed, rule.target, translated);
  }
  const tools = translateTools(body, dropped);
  if (budget !== undefined && tools.forced) {
    throw invalid(
      body.response_format !== undefined && tools.jsonTool !== undefined
        ? 'reasoning_effort cannot be combined with a JSON response_format on Anthropic: the gateway forces a tool ' +
            'for the JSON, and extended thinking does not allow forced tools'
        : 'reasoning_effort cannot be combined with a tool_choice that forces a tool call on Anthropic: ' +
            'extended thinking allows only "auto" and "none"',
      'reasoning_effort',
      'unsupported_value',
    );
  }

  const maxTokens = typeof renamed.max_tokens === 'number' ? renamed.max_tokens : DEFAULT_MAX_TOKENS;
  const request: Block = { model, max_tokens: maxTokens };
  if (conversation.system.length > 0) request.system = conversation.system;
  request.messages = conversation.turns as unknown as Json;
  if (tools.tools) request.tools = tools.tools;
  if (tools.toolChoice) request.tool_choice = tools.toolChoice;
  if (budget !== undefined) {
    // OpenAI counts reasoning inside max_completion_tokens, as Anthropic counts thinking inside
    // max_tokens; but Anthropic wants the budget below max_tokens. A max_tokens that does not
    // exceed the budget is raised by the budget, so the answer keeps the room the client asked for.
    if (maxTokens <= budget) request.max_tokens = maxTokens + budget;
    request.thinking = { type: 'enabled', budget_tokens: budget };
  }
  for (const [key, value] of Object.entries(renamed)) if (!(key in request)) request[key] = value;

  for (const [key, value] of Object.entries(body)) {
    if (!HANDLED.has(key) && value !== undefined && value !== null) dropped.push(key);
  }
  const streamOptions = body.stream_options;
  const includeUsage = isRecord(streamOptions) && streamOptions.include_usage === true;
  return { body: JSON.stringify(request), version, dropped, refused, includeUsage, jsonTool: tools.jsonTool };
}

function thinkingBudget(effort: unknown): number | undefined {
  if (effort === undefined || effort === null || effort === 'none') return undefined;
  const budget = typeof effort === 'string' ? THINKING_BUDGET[effort] : undefined;
  if (budget === undefined) {
    throw invalid(
      `reasoning_effort must be one of none, ${Object.keys(THINKING_BUDGET).join(', ')}`,
      'reasoning_effort',
      typeof effort === 'string' ? 'invalid_value' : 'invalid_type',
    );
  }
  return budget;
}
