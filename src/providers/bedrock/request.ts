// An OpenAI chat completion request as a Bedrock Converse (or ConverseStream) request. The OpenAI
// messages and tools are read by the readers Anthropic's adapter uses (src/translate/; same rules: system and developer
// messages lifted out in order, same-role turns merged, tool results as user turns); this file maps
// their blocks to Converse's and keeps the renames as a table.
// Sources: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html (the
// path /model/{modelId}/converse, system, messages, inferenceConfig, toolConfig,
// additionalModelRequestFields, requestMetadata),
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html,
// https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-call.html,
// https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use.html (toolSpec, toolChoice auto/any/tool).
// Pitfalls of other gateways avoided: a system role inside messages (continuedev/continue#1938),
// consecutive same-role turns (Portkey-AI/gateway#748, langchain-ai/langchainjs#6724).
import { safeEcho } from '../../redact.js';
import { translateMessages } from '../../translate/chat-messages.js';
import { invalid } from '../../translate/errors.js';
import { isRecord, type Block, type Json } from '../../translate/json.js';
import { integerAtLeast, numberWithin, setPath, stopSequences, temperature, text } from '../../translate/request-params.js';
import { translateTools } from '../../translate/tools.js';

interface ParamRule {
  /** The OpenAI field. */
  readonly param: string;
  /** Where it goes in the Converse body; a dot nests. A later rule for the same target wins. */
  readonly target: string;
  readonly transform: (value: unknown, param: string) => Json;
}

/**
 * The renames. Converse's temperature runs 0-1; above 1 is clamped as for Anthropic. top_k has no
 * Converse field: it goes to the model as `additionalModelRequestFields.top_k`, the name Claude,
 * Mistral and Cohere models read on Bedrock (a model that knows no top_k answers 400, which names it).
 * `user` goes to requestMetadata, which Bedrock writes to its invocation logs; it is sent verbatim
 * (a simulator reads faults from a `sim:<json>` value there).
 */
const PARAMS: readonly ParamRule[] = [
  { param: 'max_tokens', target: 'inferenceConfig.maxTokens', transform: integerAtLeast(1) },
  // The newer name wins when a client sends both.
  { param: 'max_completion_tokens', target: 'inferenceConfig.maxTokens', transform: integerAtLeast(1) },
  { param: 'temperature', target: 'inferenceConfig.temperature', transform: temperature },
  { param: 'top_p', target: 'inferenceConfig.topP', transform: numberWithin(0, 1) },
  { param: 'stop', target: 'inferenceConfig.stopSequences', transform: stopSequences },
  { param: 'top_k', target: 'additionalModelRequestFields.top_k', transform: integerAtLeast(0) },
  { param: 'user', target: 'requestMetadata.user', transform: text },
];

/** Fields read by code below, not listed as dropped when sent. */
const HANDLED = new Set(['model', 'messages', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'stream', 'n', ...PARAMS.map((rule) => rule.param)]);

/** Image media types as Converse's image formats. */
const IMAGE_FORMAT: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** Converse's prompt-cache marker: a block after the content it closes. */
const CACHE_POINT: Block = { cachePoint: { type: 'default' } };

export interface BedrockRequest {
  readonly body: string;
  /** `/model/{id}/converse` or `/model/{id}/converse-stream`, the id percent-encoded once. */
  readonly path: string;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly dropped: string[];
  /** The forced tool standing for response_format (JSON mode): its input is the answer. */
  readonly jsonTool: string | undefined;
}

export function translateRequest(body: Record<string, unknown>, model: string): BedrockRequest {
  const dropped: string[] = [];
  if (body.n !== undefined && body.n !== null && body.n !== 1) {
    throw invalid('n must be 1: Bedrock gives one choice per request (send several requests for more)', 'n', 'unsupported_value');
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw invalid('stream must be a boolean', 'stream', 'invalid_type');
  }
  // Documents in assistant turns and citations are Anthropic features Converse has no place for:
  // the strict rules leave them out, and they are named as dropped.
  const conversation = translateMessages(body.messages, { provider: 'Bedrock', imageUrls: false, strictContent: true, refused: dropped });
  const messages = conversation.turns.map((turn) => ({ role: turn.role, content: turn.content.flatMap(converseBlock) }));

  const request: Block = {};
  if (conversation.system.length > 0) request.system = conversation.system.flatMap(converseBlock);
  request.messages = messages as unknown as Json;
  const { config: toolConfig, jsonTool } = converseTools(body, messages, dropped);
  if (toolConfig) request.toolConfig = toolConfig;
  for (const rule of PARAMS) {
    const value = body[rule.param];
    if (value !== undefined && value !== null) setPath(request, rule.target, rule.transform(value, rule.param));
  }
  for (const [key, value] of Object.entries(body)) {
    if (!HANDLED.has(key) && value !== undefined && value !== null) dropped.push(key);
  }
  const stream = body.stream === true;
  const streamOptions = body.stream_options;
  return {
    body: JSON.stringify(request),
    path: `/model/${encodeURIComponent(model)}/${stream ? 'converse-stream' : 'converse'}`,
    stream,
    includeUsage: stream && isRecord(streamOptions) && streamOptions.include_usage === true,
    dropped,
    jsonTool,
  };
}

/** An Anthropic block (as the shared reader makes it) as Converse content blocks. */
function converseBlock(block: Block): Block[] {
  const out = converseContent(block);
  return isRecord(block.cache_control) ? [out, CACHE_POINT] : [out];
}

function converseContent(block: Block): Block {
  switch (block.type) {
    case 'text':
      return { text: block.text as string };
    case 'image': {
      const source = block.source as Block;
      const mediaType = source.media_type as string;
      const format = IMAGE_FORMAT[mediaType];
      if (!format) {
        throw invalid(`an image of type ${safeEcho(mediaType)}: Bedrock takes png, jpeg, gif and webp images`, 'messages', 'unsupported_value');
      }
      // The JSON protocol carries a blob as base64: the data URL's data goes as it is.
      return { image: { format, source: { bytes: source.data as string } } };
    }
    case 'document': {
      const source = block.source as Block;
      return { document: { format: 'pdf', name: documentName(block.title), source: { bytes: source.data as string } } };
    }
    case 'tool_use':
      return { toolUse: { toolUseId: block.id as string, name: block.name as string, input: block.input as Json } };
    case 'tool_result':
      return { toolResult: { toolUseId: block.tool_use_id as string, content: toolResultContent(block.content) } };
    default:
      // The reader makes no other blocks; one added there must be mapped here.
      throw new Error(`no Converse block for ${String(block.type)}`);
  }
}

/**
 * A tool result's content as text blocks. Text, never `{json}`: every Converse model that takes tools
 * takes text results, only some take JSON ones, and the model reads the same characters either way.
 */
function toolResultContent(content: Json | undefined): Block[] {
  if (typeof content === 'string') return [{ text: content }];
  if (Array.isArray(content)) return content.map((part) => ({ text: (part as Block).text as string }));
  // Converse requires content; an empty result is one empty text.
  return [{ text: '' }];
}

/**
 * Converse names documents, allowing letters, digits, single spaces, hyphens, parentheses and
 * square brackets; other characters become hyphens.
 */
function documentName(title: Json | undefined): string {
  const name = typeof title === 'string' ? title.replace(/[^A-Za-z0-9 \-()[\]]/g, '-').replace(/ {2,}/g, ' ').trim() : '';
  return name || 'document';
}

/**
 * tools and tool_choice as toolConfig. Converse has no "none": the tools are left out, so the model
 * cannot call one — unless the conversation holds tool calls or results, which Bedrock accepts only
 * with a toolConfig; then the tools stay, with Bedrock's default choice (auto), and tool_choice is
 * named as dropped. parallel_tool_calls has no Converse field: false is named as dropped (true is
 * what Converse does anyway). response_format (a JSON schema, or json_object) becomes a forced
 * tool whose input is the answer, as for Anthropic
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use.html: toolChoice `tool` forces one).
 */
function converseTools(
  body: Record<string, unknown>,
  messages: { content: Block[] }[],
  dropped: string[],
): { config: Block | undefined; jsonTool: string | undefined } {
  const setup = translateTools(body, dropped, 'Bedrock');
  // Without tools, translateTools has named tool_choice and parallel_tool_calls as dropped.
  if (!setup.tools) return { config: undefined, jsonTool: undefined };
  if (body.parallel_tool_calls === false) dropped.push('parallel_tool_calls');
  const tools = setup.tools.map((tool): Block => {
    const spec: Block = { name: tool.name as string };
    if (tool.description !== undefined) spec.description = tool.description;
    spec.inputSchema = { json: tool.input_schema as Json };
    return { toolSpec: spec };
  });
  // Only a choice the client made, or JSON mode's, is sent: translateTools makes "auto" for
  // parallel_tool_calls.
  const jsonTool = setup.jsonTool;
  const choice = (body.tool_choice === undefined || body.tool_choice === null) && jsonTool === undefined ? undefined : setup.toolChoice;
  if (choice?.type === 'none') {
    dropped.push('tool_choice');
    const toolHistory = messages.some((message) => message.content.some((block) => 'toolUse' in block || 'toolResult' in block));
    return { config: toolHistory ? { tools } : undefined, jsonTool };
  }
  const config: Block = { tools };
  if (choice?.type === 'auto') config.toolChoice = { auto: {} };
  else if (choice?.type === 'any') config.toolChoice = { any: {} };
  else if (choice?.type === 'tool') config.toolChoice = { tool: { name: choice.name as string } };
  return { config, jsonTool };
}
