// A Messages API request (POST /v1/messages, as the Anthropic SDK and Claude Code send it) as an
// OpenAI chat completion request, for a provider that does not speak Anthropic's API.
// Sources: https://platform.claude.com/docs/en/api/messages (every request field and content
// block), the installed SDK's types (@anthropic-ai/sdk 1.14.0, resources/messages/messages.d.ts:
// `system` role messages, `output_config`, thinking `adaptive`), and
// https://platform.openai.com/docs/api-reference/chat/create (what each becomes).
// Choices where the APIs differ:
// - system messages among the turns (Anthropic's mid-conversation system messages) join `system`
//   in one leading system message, in order: many chat templates take a system prompt only first;
// - thinking and redacted_thinking blocks of earlier assistant turns are left out: their signature
//   proves them to Anthropic only, and no other provider reads them;
// - server tools (web search, bash, text editor, code execution, ...), `mcp_servers` and
//   `container` are refused with a 400: nobody but Anthropic runs them, and without them the model
//   would answer as if it had no such tools; fields that only steer Anthropic's caching, capacity
//   or routing (cache_control, service_tier, speed, inference_geo, diagnostics,
//   context_management) and top_k (no chat equivalent) are left out and named in `dropped`, as are
//   fields this version does not know;
// - client-side tool search (Claude Code's, https://platform.claude.com/docs/en/agents-and-tools/tool-use/tool-search-tool):
//   a tool_reference block in a tool result becomes the line `Tool loaded: <name>`, and a deferred
//   tool (defer_loading) is offered as a function only once a tool_reference loaded it; Anthropic's
//   own tool search tools (tool_search_tool_regex/bm25) are server tools, refused as the others;
// - a tool result's images (Claude Code's Read tool returns screenshots so) cannot stand in a chat
//   `tool` message: they follow the tool messages in a user message, and the result's text says so;
// - a tool_use id that carries a Gemini thought signature (how answers hand one to the client, see
//   ../signatures.ts) is the call's own id again, in tool_use and tool_result alike, and the
//   signature goes on the tool call for a provider that takes it.
import { GatewayError } from '../../errors.js';
import { safeEchoValue } from '../../redact.js';
import { isRecord } from '../../translate/json.js';
import { signedToolCall, splitSignedId } from '../signatures.js';

type Message = Record<string, unknown>;
type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/** The key under which a tool call's arguments that are not a JSON object travel as `input`. */
export const INVALID_JSON_KEY = 'INVALID_JSON';

/** Top-level fields read below; any other is listed as dropped, or refused (REFUSED). */
const READ = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'tools',
  'tool_choice',
  'temperature',
  'top_p',
  'stop_sequences',
  'stream',
  'metadata',
  'thinking',
  'output_config',
]);

/** Fields that would change what the model can do if left out, and why no other provider has them. */
const REFUSED: Readonly<Record<string, string>> = {
  mcp_servers: 'connects the model to remote MCP servers through Anthropic, which this provider cannot do',
  container: "names a code-execution container (or skills) on Anthropic's servers, which this provider does not have",
};

/** output_config.effort as reasoning_effort: `xhigh` and `max` are `high`, the highest every OpenAI-compatible host takes. */
const EFFORT: Readonly<Record<string, string>> = { low: 'low', medium: 'medium', high: 'high', xhigh: 'high', max: 'high' };

/** thinking.budget_tokens below which the effort is low, then medium; high above. */
const LOW_BUDGET_BELOW = 4096;
const MEDIUM_BUDGET_BELOW = 16384;
/** Anthropic's floor for budget_tokens. */
const MIN_BUDGET = 1024;
/** Thinking whose depth the model decides (`adaptive`; `auto` and `between_tools` as some clients send). */
const ADAPTIVE_THINKING = new Set(['adaptive', 'auto', 'between_tools']);

/** Block types of Anthropic's server tools' calls and results, which only Anthropic can have made. */
const SERVER_BLOCK = /^(server_tool_use|mcp_tool_use|mcp_tool_result|container_upload|.*_tool_result)$/;

/**
 * A tool_reference block (what a tool search returns) as the text of its tool result. Anthropic
 * expands it into the tool's definition at that point; a chat model finds the definition among the
 * functions offered, and this line says it is now there.
 */
const TOOL_LOADED = 'Tool loaded: ';

/** The text a failed tool result starts with (Anthropic's is_error has no chat equivalent). */
const TOOL_ERROR_PREFIX = 'Error: ';

export interface ChatRequest {
  readonly chat: Record<string, unknown>;
  readonly dropped: string[];
}

function invalid(param: string, message: string): GatewayError {
  return new GatewayError(400, `${param}: ${message}`, 'invalid_request', param);
}

/** A client's value in a message: quoted, cut short. */
/** A value the client sent, as an error message quotes it (bounded, never a credential). */
const typeName = safeEchoValue;

function text(value: unknown, param: string): string {
  if (typeof value !== 'string') throw invalid(param, 'must be a string');
  return value;
}

function numberWithin(value: unknown, param: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(param, `must be a number from ${min} to ${max}`);
  }
  return value;
}

/** `thinking`: whether thinking and output_config.effort become reasoning_effort, or are left out (InboundContext). */
/** `signatures`: whether the thought signatures tool_use ids carry go on the tool calls (InboundContext.thoughtSignatures). */
export function translateRequest(body: Record<string, unknown>, model: string, thinking: 'drop' | 'effort' = 'effort', signatures = false): ChatRequest {
  const dropped = new Set<string>();
  for (const [key, value] of Object.entries(body)) {
    if (READ.has(key) || value === undefined || value === null) continue;
    const refusal = REFUSED[key];
    if (refusal !== undefined && !(Array.isArray(value) && value.length === 0)) throw invalid(key, `${refusal}; leave it out`);
    if (refusal === undefined) dropped.add(key);
  }
  if (typeof body.model !== 'string' || body.model === '') throw invalid('model', 'required, a model name');
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined || maxTokens === null) throw invalid('max_tokens', 'required: the most tokens the answer may have');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    // 0 pre-warms Anthropic's prompt cache without an answer; other providers have no such request.
    throw invalid('max_tokens', 'must be an integer of at least 1');
  }

  const messages: Message[] = [];
  const top = systemText(body.system);
  const turns: Turns = { system: top === '' ? [] : [top], loaded: new Set(), dropped, signatures };
  translateMessages(body.messages, messages, turns);
  // One system message, first: chat templates that take the system prompt only at the start
  // (Mistral's, Gemma's) refuse a later one, and the outbound Anthropic and Bedrock translations
  // read system messages the same way (each in order, wherever it stood).
  if (turns.system.length > 0) messages.unshift({ role: 'system', content: turns.system.join('\n\n') });

  const chat: Record<string, unknown> = { model, messages, max_tokens: maxTokens };
  const tools = translateTools(body.tools, turns.loaded, dropped);
  translateToolChoice(body.tool_choice, tools, chat);
  if (body.temperature !== undefined && body.temperature !== null) chat.temperature = numberWithin(body.temperature, 'temperature', 0, 1);
  if (body.top_p !== undefined && body.top_p !== null) chat.top_p = numberWithin(body.top_p, 'top_p', 0, 1);
  const stop = stopSequences(body.stop_sequences);
  if (stop.length > 0) chat.stop = stop;
  const user = userId(body.metadata, dropped);
  if (user !== undefined) chat.user = user;
  // output_config.effort says how much effort outright; thinking only implies it. Both are checked
  // even when they are left out.
  const implied = thinkingEffort(body.thinking);
  const effort = outputConfig(body.output_config, chat, dropped) ?? implied;
  if (effort !== undefined) {
    if (thinking === 'effort') chat.reasoning_effort = effort;
    else dropped.add(implied !== undefined ? 'thinking' : 'output_config.effort');
  }
  if (body.stream !== undefined && body.stream !== null) {
    if (typeof body.stream !== 'boolean') throw invalid('stream', 'must be a boolean');
    if (body.stream) {
      chat.stream = true;
      chat.stream_options = { include_usage: true };
    }
  }
  return { chat, dropped: [...dropped] };
}

/** `system` as one text: a string, or text blocks (their cache_control left out) one after another. */
function systemText(system: unknown): string {
  if (system === undefined || system === null) return '';
  if (typeof system === 'string') return system;
  if (!Array.isArray(system)) throw invalid('system', 'must be a string or a list of text blocks');
  return textBlocks(system.filter((block) => !isBillingLine(block)), 'system');
}

/**
 * Claude Code's first system block, `x-anthropic-billing-header: cc_version=...; cch=...;`, is
 * metadata for Anthropic's billing, not prompt, and changes with every request: sent to another
 * provider it would only break that provider's prefix cache (ggml-org/llama.cpp#20623).
 */
const BILLING_LINE = 'x-anthropic-billing-header:';

function isBillingLine(block: unknown): boolean {
  return isRecord(block) && block.type === 'text' && typeof block.text === 'string' && block.text.startsWith(BILLING_LINE);
}

/** Text blocks (each `{type:"text", text}`) joined by a blank line: separate pieces of a prompt. */
function textBlocks(blocks: unknown[], at: string): string {
  const texts: string[] = [];
  blocks.forEach((block, i) => {
    if (!isRecord(block) || block.type !== 'text') throw invalid(`${at}.${i}`, 'must be a text block');
    const piece = text(block.text, `${at}.${i}.text`);
    if (piece !== '') texts.push(piece);
  });
  return texts.join('\n\n');
}

/** What reading the turns finds for the rest of the request. */
interface Turns {
  /** The top-level system text, then each system message's among the turns, in order. */
  readonly system: string[];
  /** Deferred tools (defer_loading) that a tool_reference block in a tool result loaded. */
  readonly loaded: Set<string>;
  readonly dropped: Set<string>;
  /** Whether a tool_use id's thought signature goes on its tool call (InboundContext.thoughtSignatures). */
  readonly signatures: boolean;
}

function translateMessages(value: unknown, out: Message[], turns: Turns): void {
  if (!Array.isArray(value) || value.length === 0) throw invalid('messages', 'required, a non-empty list of messages');
  value.forEach((message, i) => {
    const at = `messages.${i}`;
    if (!isRecord(message)) throw invalid(at, 'must be a message object');
    const content = message.content;
    if (typeof content !== 'string' && !Array.isArray(content)) throw invalid(`${at}.content`, 'must be a string or a list of content blocks');
    switch (message.role) {
      case 'user':
        if (typeof content === 'string') out.push({ role: 'user', content });
        else userTurn(content, `${at}.content`, out, turns.loaded);
        return;
      case 'assistant':
        if (typeof content === 'string') {
          if (content !== '') out.push({ role: 'assistant', content });
        } else assistantTurn(content, `${at}.content`, out, turns);
        return;
      case 'system': {
        // A mid-conversation system message (Claude Code sends its environment so, after the user
        // turn); what it says joins the leading system message.
        const piece = typeof content === 'string' ? content : textBlocks(content, `${at}.content`);
        if (piece !== '') turns.system.push(piece);
        return;
      }
      default:
        throw invalid(`${at}.role`, `${typeName(message.role)} is not a role; use "user" or "assistant"`);
    }
  });
}

/**
 * A user turn: its tool results first, one `tool` message each (the assistant's calls must be
 * answered right after them), then its other content, led by any images the results carried.
 */
function userTurn(blocks: unknown[], at: string, out: Message[], loaded: Set<string>): void {
  const parts: Part[] = [];
  const resultImages: Part[] = [];
  blocks.forEach((block, j) => {
    const blockAt = `${at}.${j}`;
    if (!isRecord(block)) throw invalid(blockAt, 'must be a content block');
    if (block.type === 'tool_result') out.push(toolResult(block, blockAt, resultImages, loaded));
    // One push per part, not a spread: a document's parts are as many as the client sent.
    else for (const part of contentParts(block, blockAt, 'user')) parts.push(part);
  });
  const all = resultImages.length === 0 ? parts : [...resultImages, ...parts];
  if (all.length > 0) out.push({ role: 'user', content: partsContent(all) });
}

/** Text only: one string (what every host takes); otherwise the parts. */
function partsContent(parts: Part[]): string | Part[] {
  if (!parts.every((part) => part.type === 'text')) return parts;
  return parts.map((part) => (part as { text: string }).text).join('\n\n');
}

/** An assistant turn: its text as content, its tool_use blocks as tool_calls. */
function assistantTurn(blocks: unknown[], at: string, out: Message[], turns: Turns): void {
  let content = '';
  const toolCalls: Record<string, unknown>[] = [];
  blocks.forEach((block, j) => {
    const blockAt = `${at}.${j}`;
    if (!isRecord(block)) throw invalid(blockAt, 'must be a content block');
    switch (block.type) {
      case 'tool_use':
        toolCalls.push(toolCall(block, blockAt, turns.signatures));
        return;
      case 'thinking':
      case 'redacted_thinking':
        // Signed for Anthropic alone; no other provider can verify or read them.
        turns.dropped.add(`messages.*.content.*(${block.type})`);
        return;
      default:
        // An answer's text blocks are pieces of one text (the API splits it at citations).
        for (const part of contentParts(block, blockAt, 'assistant')) content += (part as { text: string }).text;
    }
  });
  if (content === '' && toolCalls.length === 0) return;
  const message: Message = { role: 'assistant', content: content === '' ? null : content };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  out.push(message);
}

/** One content block of a user or assistant turn (tool blocks aside) as chat parts. */
function contentParts(block: Record<string, unknown>, at: string, role: 'user' | 'assistant'): Part[] {
  switch (block.type) {
    case 'text': {
      // cache_control and citations have no chat equivalent.
      const value = text(block.text, `${at}.text`);
      return value === '' ? [] : [{ type: 'text', text: value }];
    }
    case 'image':
      if (role === 'user') return [image(block.source, `${at}.source`)];
      break;
    case 'document':
      if (role === 'user') return documentParts(block, at);
      break;
    case 'search_result':
      if (role === 'user') return [{ type: 'text', text: searchResultText(block, at) }];
      break;
    case 'tool_result':
    case 'tool_use':
    case 'thinking':
    case 'redacted_thinking':
      break;
    default:
      if (typeof block.type === 'string' && SERVER_BLOCK.test(block.type)) {
        throw invalid(`${at}.type`, `${block.type} blocks come from Anthropic's server tools, which this provider does not run`);
      }
      throw invalid(`${at}.type`, `${typeName(block.type)} is not a content block type this provider can take`);
  }
  throw invalid(`${at}.type`, `${block.type} blocks cannot stand in ${role} messages`);
}

function image(source: unknown, at: string): Part {
  if (!isRecord(source)) throw invalid(at, 'required, the image source');
  switch (source.type) {
    case 'base64': {
      const mediaType = text(source.media_type, `${at}.media_type`);
      return { type: 'image_url', image_url: { url: `data:${mediaType};base64,${text(source.data, `${at}.data`)}` } };
    }
    case 'url':
      return { type: 'image_url', image_url: { url: text(source.url, `${at}.url`) } };
    case 'file':
      throw invalid(`${at}.type`, "file ids name files in Anthropic's Files API, which this provider cannot read; send the image as base64 or a URL");
    default:
      throw invalid(`${at}.type`, `${typeName(source.type)} is not an image source; use "base64" or "url"`);
  }
}

/** A document whose text the request carries (a text or content source); PDFs and files are refused. */
function documentParts(block: Record<string, unknown>, at: string): Part[] {
  const source = block.source;
  if (!isRecord(source)) throw invalid(`${at}.source`, 'required, the document source');
  const heading = [block.title, block.context].filter((piece): piece is string => typeof piece === 'string' && piece !== '');
  switch (source.type) {
    case 'text':
      return [{ type: 'text', text: [...heading, text(source.data, `${at}.source.data`)].join('\n\n') }];
    case 'content': {
      const content = source.content;
      const parts: Part[] = heading.length > 0 ? [{ type: 'text', text: heading.join('\n\n') }] : [];
      if (typeof content === 'string') parts.push({ type: 'text', text: content });
      else if (Array.isArray(content)) {
        content.forEach((item, k) => {
          const itemAt = `${at}.source.content.${k}`;
          if (!isRecord(item) || (item.type !== 'text' && item.type !== 'image')) throw invalid(itemAt, 'must be a text or image block');
          for (const part of contentParts(item, itemAt, 'user')) parts.push(part);
        });
      } else throw invalid(`${at}.source.content`, 'must be a string or a list of blocks');
      return parts;
    }
    default:
      throw invalid(
        `${at}.source.type`,
        `a document from a ${typeName(source.type)} source cannot be sent to this provider; send its text (source type "text")`,
      );
  }
}

function searchResultText(block: Record<string, unknown>, at: string): string {
  const title = text(block.title, `${at}.title`);
  const source = text(block.source, `${at}.source`);
  const content = Array.isArray(block.content) ? textBlocks(block.content, `${at}.content`) : '';
  return `${title} (${source})\n\n${content}`;
}

function toolCall(block: Record<string, unknown>, at: string, signatures: boolean): Record<string, unknown> {
  const { id, signature } = splitSignedId(text(block.id, `${at}.id`));
  const name = text(block.name, `${at}.name`);
  if (id === '' || name === '') throw invalid(id === '' ? `${at}.id` : `${at}.name`, 'must not be empty');
  const input = block.input ?? {};
  if (!isRecord(input)) throw invalid(`${at}.input`, 'must be an object');
  // Arguments that were not a JSON object came back wrapped (see answer.ts): the provider gets them as it sent them.
  const keys = Object.keys(input);
  const args = keys.length === 1 && keys[0] === INVALID_JSON_KEY && typeof input[INVALID_JSON_KEY] === 'string' ? input[INVALID_JSON_KEY] : JSON.stringify(input);
  return signedToolCall({ id, type: 'function', function: { name, arguments: args } }, signatures ? signature : undefined);
}

/**
 * A tool_result as a chat `tool` message; its images are added to `images`, for a user message
 * after it, and the tools its tool_reference blocks name to `loaded`.
 */
function toolResult(block: Record<string, unknown>, at: string, images: Part[], loaded: Set<string>): Message {
  const id = splitSignedId(text(block.tool_use_id, `${at}.tool_use_id`)).id;
  let content = '';
  let imageCount = 0;
  const value = block.content;
  if (typeof value === 'string') content = value;
  else if (Array.isArray(value)) {
    const texts: string[] = [];
    value.forEach((item, k) => {
      const itemAt = `${at}.content.${k}`;
      if (!isRecord(item)) throw invalid(itemAt, 'must be a content block');
      if (item.type === 'tool_reference') {
        const name = text(item.tool_name, `${itemAt}.tool_name`);
        loaded.add(name);
        texts.push(`${TOOL_LOADED}${name}`);
        return;
      }
      for (const part of contentParts(item, itemAt, 'user')) {
        if (part.type === 'text') texts.push(part.text);
        else {
          images.push(part);
          imageCount++;
        }
      }
    });
    content = texts.join('\n\n');
  } else if (value !== undefined && value !== null) throw invalid(`${at}.content`, 'must be a string or a list of content blocks');
  if (imageCount > 0) {
    const note = imageCount === 1 ? '[The image of this result follows in the next user message.]' : `[The ${imageCount} images of this result follow in the next user message.]`;
    content = content === '' ? note : `${content}\n\n${note}`;
  }
  if (block.is_error === true) content = TOOL_ERROR_PREFIX + content;
  return { role: 'tool', tool_call_id: id, content };
}

/** The tools as chat functions: those offered, and the deferred ones not loaded (for tool_choice). */
interface Tools {
  readonly offered: Record<string, unknown>[];
  /** Tools with defer_loading that no tool_reference loaded, by name. */
  readonly held: Map<string, Record<string, unknown>>;
}

/**
 * Custom tools as function tools. A deferred tool (defer_loading: true, Claude Code's tool search)
 * is offered once a tool_reference in the conversation loaded it, as Anthropic adds it to the
 * model's tools at that point; until then it is held back, so the placeholder that stands for the
 * deferred set (Claude Code's DeferredToolPlaceholder, "never call this") never is offered.
 */
function translateTools(value: unknown, loaded: ReadonlySet<string>, dropped: Set<string>): Tools {
  const tools: Tools = { offered: [], held: new Map() };
  if (value === undefined || value === null) return tools;
  if (!Array.isArray(value)) throw invalid('tools', 'must be a list of tools');
  value.forEach((tool, i) => {
    const at = `tools.${i}`;
    if (!isRecord(tool)) throw invalid(at, 'must be a tool object');
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
      throw invalid(
        `${at}.type`,
        `${typeName(tool.type)} is one of Anthropic's server tools, which only Anthropic runs; this provider takes custom tools ({name, description, input_schema})`,
      );
    }
    const name = text(tool.name, `${at}.name`);
    if (name === '') throw invalid(`${at}.name`, 'must not be empty');
    if (!isRecord(tool.input_schema)) throw invalid(`${at}.input_schema`, 'required, a JSON schema object');
    const fn: Record<string, unknown> = { name };
    if (tool.description !== undefined && tool.description !== null) fn.description = text(tool.description, `${at}.description`);
    fn.parameters = tool.input_schema;
    if (tool.strict === true) fn.strict = true;
    for (const key of Object.keys(tool)) {
      if (!READ_TOOL_FIELDS.has(key)) dropped.add(`tools.*.${key}`);
    }
    const chatTool = { type: 'function', function: fn };
    if (tool.defer_loading === true && !loaded.has(name)) tools.held.set(name, chatTool);
    else tools.offered.push(chatTool);
  });
  return tools;
}

/** Tool fields read above (cache_control steers Anthropic's cache alone); any other is dropped. */
const READ_TOOL_FIELDS = new Set(['type', 'name', 'description', 'input_schema', 'strict', 'cache_control', 'defer_loading']);

/** tool_choice, and the offered tools as `tools`: a choice that names a held deferred tool offers it. */
function translateToolChoice(value: unknown, tools: Tools, chat: Record<string, unknown>): void {
  const offer = (): void => {
    if (tools.offered.length > 0) chat.tools = tools.offered;
  };
  if (value === undefined || value === null) return offer();
  if (!isRecord(value)) throw invalid('tool_choice', 'must be an object with a type');
  if (tools.offered.length === 0 && tools.held.size === 0) throw invalid('tool_choice', 'may only be given with tools');
  let choice: unknown;
  switch (value.type) {
    case 'auto':
      choice = 'auto';
      break;
    case 'any':
      choice = 'required';
      break;
    case 'none':
      choice = 'none';
      break;
    case 'tool': {
      const name = text(value.name, 'tool_choice.name');
      const held = tools.held.get(name);
      if (held !== undefined) {
        tools.offered.push(held);
        tools.held.delete(name);
      } else if (!tools.offered.some((tool) => (tool.function as { name: string }).name === name)) {
        throw invalid('tool_choice.name', `no tool named ${typeName(name)} is in tools`);
      }
      choice = { type: 'function', function: { name } };
      break;
    }
    default:
      throw invalid('tool_choice.type', `${typeName(value.type)} is not a tool choice; use "auto", "any", "tool" or "none"`);
  }
  offer();
  // Every tool still deferred: a choice among no tools is left out, as the tools are.
  if (chat.tools === undefined) return;
  chat.tool_choice = choice;
  if (choice !== 'none' && value.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
}

function stopSequences(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid('stop_sequences', 'must be a list of strings');
  return value.map((item, i) => text(item, `stop_sequences.${i}`)).filter((item) => item !== '');
}

function userId(metadata: unknown, dropped: Set<string>): string | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (!isRecord(metadata)) throw invalid('metadata', 'must be an object');
  for (const key of Object.keys(metadata)) if (key !== 'user_id') dropped.add(`metadata.${key}`);
  const user = metadata.user_id;
  return user === undefined || user === null ? undefined : text(user, 'metadata.user_id');
}

/** output_config: its effort (the reasoning_effort it stands for), and its JSON format as response_format. */
function outputConfig(value: unknown, chat: Record<string, unknown>, dropped: Set<string>): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalid('output_config', 'must be an object');
  for (const key of Object.keys(value)) if (key !== 'effort' && key !== 'format') dropped.add(`output_config.${key}`);
  const format = value.format;
  if (format !== undefined && format !== null) {
    if (!isRecord(format) || format.type !== 'json_schema') throw invalid('output_config.format.type', 'must be "json_schema"');
    if (!isRecord(format.schema)) throw invalid('output_config.format.schema', 'required, a JSON schema object');
    // Anthropic's structured outputs always match the schema: strict asks the same of the provider.
    chat.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
  }
  if (value.effort === undefined || value.effort === null) return undefined;
  const effort = typeof value.effort === 'string' ? EFFORT[value.effort] : undefined;
  if (effort === undefined) throw invalid('output_config.effort', `must be one of ${Object.keys(EFFORT).join(', ')}`);
  return effort;
}

/** thinking as reasoning_effort: a manual budget by its size, adaptive thinking as medium, disabled as none. */
function thinkingEffort(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw invalid('thinking', 'must be an object with a type');
  if (value.type === 'disabled') return undefined;
  if (typeof value.type === 'string' && ADAPTIVE_THINKING.has(value.type)) return 'medium';
  if (value.type !== 'enabled') throw invalid('thinking.type', `${typeName(value.type)} is not a thinking type; use "enabled", "adaptive" or "disabled"`);
  const budget = value.budget_tokens;
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < MIN_BUDGET) {
    throw invalid('thinking.budget_tokens', `must be an integer of at least ${MIN_BUDGET}`);
  }
  return budget < LOW_BUDGET_BELOW ? 'low' : budget < MEDIUM_BUDGET_BELOW ? 'medium' : 'high';
}
