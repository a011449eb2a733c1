// OpenAI chat messages as Anthropic's `system` and alternating user/assistant turns, for the
// Anthropic adapter and for Bedrock's, which maps these blocks to Converse's (same rules).
// Sources: https://platform.claude.com/docs/en/api/messages (content blocks: text, image with
// base64 or url source, document, tool_use, tool_result; consecutive same-role turns),
// https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use (tool results
// are user turns, and come before any text in them),
// https://platform.claude.com/docs/en/api/migration-2026-10-21 (documents in assistant turns and
// citations in user text are refused from 2026-10-21),
// https://platform.openai.com/docs/api-reference/chat/create (the messages and their parts).
// Read for comparison: the Vercel AI SDK's convert-to-anthropic-prompt.ts (grouping into turns,
// trimming the last assistant text).
import { safeEcho, safeEchoValue } from '../redact.js';
import { invalid } from './errors.js';
import { isRecord, type Block, type Json } from './json.js';

export interface Turn {
  readonly role: 'user' | 'assistant';
  content: Block[];
}

/** What the request's other parts need to know while messages are read. */
export interface MessageRules {
  /** The provider's name in error messages (`Anthropic`, `Bedrock`): the rules are shared. */
  readonly provider: string;
  /** Whether an http(s) image URL may be passed on (Anthropic fetches it; Bedrock takes only bytes). */
  readonly imageUrls: boolean;
  /** 2026-10-21 and later: documents in assistant turns and citations in user text are refused. */
  readonly strictContent: boolean;
  /** Fields left out because the API version refuses them; messages add theirs here. */
  readonly refused: string[];
}

/** Each system and developer message, wherever it stands, in order, as text blocks. */
export interface Conversation {
  readonly system: Block[];
  readonly turns: Turn[];
}

export function translateMessages(messages: unknown, rules: MessageRules): Conversation {
  if (!Array.isArray(messages)) throw invalid('messages must be an array of messages', 'messages', 'invalid_type');
  const system: Block[] = [];
  const turns: Turn[] = [];
  const add = (role: Turn['role'], blocks: Block[]): void => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    // Anthropic wants turns to alternate: same-role messages become one turn. One push per block:
    // a spread passes every block as an argument, and a client's 125,000 overflow the stack.
    if (last?.role === role) for (const block of blocks) last.content.push(block);
    else turns.push({ role, content: blocks });
  };
  messages.forEach((message: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isRecord(message)) throw invalid(`${at} must be an object`, at, 'invalid_type');
    switch (message.role) {
      case 'system':
      case 'developer':
        for (const block of textOnly(message.content, `${at}.content`)) system.push(block);
        return;
      case 'user':
        add('user', contentBlocks(message.content, `${at}.content`, 'user', rules));
        return;
      case 'assistant':
        add('assistant', [
          ...contentBlocks(message.content, `${at}.content`, 'assistant', rules),
          ...toolUses(message.tool_calls, `${at}.tool_calls`, rules.provider),
        ]);
        return;
      case 'tool':
        add('user', [toolResult(message, at)]);
        return;
      case undefined:
        throw invalid(`${at} has no role`, `${at}.role`, 'missing_required_parameter');
      default:
        throw invalid(
          `${at} has the role ${safeEchoValue(message.role)}; ${rules.provider} takes system, developer, user, assistant ` +
            'and tool messages (use tool messages for function results)',
          `${at}.role`,
        );
    }
  });
  for (const turn of turns) if (turn.role === 'user') toolResultsFirst(turn);
  trimPrefill(turns);
  if (turns.length === 0) throw invalid('messages must hold at least one user or assistant message with content', 'messages');
  return { system, turns };
}

/** Text of a system, developer or tool message: a string or text parts. */
function textOnly(content: unknown, at: string): Block[] {
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) throw invalid(`${at} must be a string or an array of text parts`, at, 'invalid_type');
  return content.flatMap((part: unknown, j): Block[] => {
    if (!isRecord(part) || part.type !== 'text' || typeof part.text !== 'string') {
      throw invalid(`${at}[${j}] must be a text part`, `${at}[${j}]`, 'invalid_type');
    }
    return part.text ? [withCacheControl({ type: 'text', text: part.text }, part)] : [];
  });
}

function contentBlocks(content: unknown, at: string, role: Turn['role'], rules: MessageRules): Block[] {
  if (content === undefined || content === null) {
    if (role === 'assistant') return [];
    throw invalid(`${at} is missing`, at, 'missing_required_parameter');
  }
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) throw invalid(`${at} must be a string or an array of content parts`, at, 'invalid_type');
  return content.flatMap((part: unknown, j) => contentPart(part, `${at}[${j}]`, role, rules));
}

function contentPart(part: unknown, at: string, role: Turn['role'], rules: MessageRules): Block[] {
  if (!isRecord(part)) throw invalid(`${at} must be a content part object`, at, 'invalid_type');
  switch (part.type) {
    case 'text': {
      if (typeof part.text !== 'string') throw invalid(`${at}.text must be a string`, `${at}.text`, 'invalid_type');
      if (!part.text) return [];
      const block = withCacheControl({ type: 'text', text: part.text }, part);
      if (Array.isArray(part.citations) && part.citations.length > 0) {
        if (role === 'user' && rules.strictContent) rules.refused.push(`${at}.citations`);
        else block.citations = part.citations as Json[];
      }
      return [block];
    }
    case 'refusal':
      // What the assistant said when it refused: text to Anthropic.
      if (role !== 'assistant' || typeof part.refusal !== 'string') break;
      return part.refusal ? [{ type: 'text', text: part.refusal }] : [];
    case 'image_url':
      if (role !== 'user') break;
      return [withCacheControl(image(part.image_url, `${at}.image_url`, rules), part)];
    case 'file': {
      if (role === 'assistant' && rules.strictContent) {
        rules.refused.push(at);
        return [];
      }
      return [withCacheControl(document(part.file, `${at}.file`, rules.provider), part)];
    }
    case 'input_audio':
      throw invalid(`${at}: ${rules.provider} does not take audio input`, at, 'unsupported_value');
    default:
      break;
  }
  const type = safeEchoValue(part.type);
  throw invalid(`${at}: a part of type ${type} cannot stand in a ${role} message for ${rules.provider}`, at, 'unsupported_value');
}

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*?);base64,/;

/** A data: URL's media type and base64 data, or undefined for another URL. */
function dataUrl(url: string, at: string, provider: string): { mediaType: string; data: string } | undefined {
  if (!url.startsWith('data:')) return undefined;
  const match = DATA_URL.exec(url);
  if (!match) throw invalid(`${at} is a data: URL that is not base64; ${provider} takes base64 data URLs`, at);
  return { mediaType: match[1]!.toLowerCase(), data: url.slice(match[0].length) };
}

function image(value: unknown, at: string, rules: MessageRules): Block {
  // OpenAI's shape is {url, detail}; a bare URL string is accepted as some clients send it.
  const url = typeof value === 'string' ? value : isRecord(value) && typeof value.url === 'string' ? value.url : undefined;
  const urlAt = typeof value === 'string' ? at : `${at}.url`;
  if (url === undefined) throw invalid(`${at} must be an object with a url`, at, 'invalid_type');
  const inline = dataUrl(url, urlAt, rules.provider);
  if (inline) return { type: 'image', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } };
  if (!url.startsWith('https://') && !url.startsWith('http://')) {
    throw invalid(`${urlAt} must be an http(s) URL or a base64 data: URL`, urlAt);
  }
  if (!rules.imageUrls) {
    const message = `${urlAt}: ${rules.provider} takes no image URLs; send the image as a base64 data: URL, or start the gateway with FETCH_IMAGE_URLS=public to have it fetch them`;
    throw invalid(message, urlAt, 'unsupported_value');
  }
  return { type: 'image', source: { type: 'url', url } };
}

/** An OpenAI file part with its data inline: a PDF document. */
function document(value: unknown, at: string, provider: string): Block {
  if (!isRecord(value)) throw invalid(`${at} must be an object`, at, 'invalid_type');
  if (typeof value.file_data !== 'string') {
    const message = `${at}: ${provider} cannot read OpenAI file ids; send the file inline as file_data`;
    throw invalid(message, `${at}.file_data`, 'unsupported_value');
  }
  // OpenAI documents file_data as base64; clients send it as a data: URL or bare.
  const inline = dataUrl(value.file_data, `${at}.file_data`, provider) ?? { mediaType: 'application/pdf', data: value.file_data };
  if (inline.mediaType !== 'application/pdf') {
    throw invalid(`${at}.file_data is ${safeEcho(inline.mediaType)}; ${provider} takes PDF documents`, `${at}.file_data`, 'unsupported_value');
  }
  const block: Block = { type: 'document', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } };
  if (typeof value.filename === 'string' && value.filename) block.title = value.filename;
  return block;
}

/** Anthropic's prompt-cache marker, passed on from a part that carries one. */
function withCacheControl(block: Block, part: Record<string, unknown>): Block {
  if (isRecord(part.cache_control)) block.cache_control = part.cache_control as Json;
  return block;
}

function toolUses(toolCalls: unknown, at: string, provider: string): Block[] {
  if (toolCalls === undefined || toolCalls === null) return [];
  if (!Array.isArray(toolCalls)) throw invalid(`${at} must be an array`, at, 'invalid_type');
  return toolCalls.map((call: unknown, k): Block => {
    const callAt = `${at}[${k}]`;
    if (!isRecord(call)) throw invalid(`${callAt} must be an object`, callAt, 'invalid_type');
    if (call.type !== undefined && call.type !== 'function') {
      const message = `${callAt} is a ${safeEchoValue(call.type)} tool call; ${provider} takes function calls`;
      throw invalid(message, `${callAt}.type`, 'unsupported_value');
    }
    if (typeof call.id !== 'string' || !call.id) throw invalid(`${callAt} has no id`, `${callAt}.id`, 'missing_required_parameter');
    const fn = call.function;
    if (!isRecord(fn) || typeof fn.name !== 'string' || !fn.name) {
      throw invalid(`${callAt} has no function name`, `${callAt}.function.name`, 'missing_required_parameter');
    }
    return { type: 'tool_use', id: call.id, name: fn.name, input: toolInput(fn.arguments, `${callAt}.function.arguments`, provider) };
  });
}

/** A tool call's arguments (a JSON text) as the object the provider wants; "" for a call without any. */
function toolInput(args: unknown, at: string, provider: string): Json {
  if (args === undefined || args === null) return {};
  if (isRecord(args)) return args as Json;
  if (typeof args !== 'string') throw invalid(`${at} must be a JSON text`, at, 'invalid_type');
  // Streams of tools without parameters leave "" behind; that is a call with no arguments.
  if (args.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw invalid(`${at} is not valid JSON, so it cannot be sent to ${provider} as the tool's input`, at);
  }
  if (!isRecord(parsed)) throw invalid(`${at} must be a JSON object, as ${provider}'s tool input is`, at);
  return parsed as Json;
}

function toolResult(message: Record<string, unknown>, at: string): Block {
  if (typeof message.tool_call_id !== 'string' || !message.tool_call_id) {
    throw invalid(`${at} has no tool_call_id`, `${at}.tool_call_id`, 'missing_required_parameter');
  }
  const content = message.content;
  const result: Block = { type: 'tool_result', tool_use_id: message.tool_call_id };
  if (typeof content === 'string') {
    if (content) result.content = content;
  } else {
    const blocks = textOnly(content ?? '', `${at}.content`);
    if (blocks.length > 0) result.content = blocks;
  }
  return result;
}

/** Anthropic requires a user turn's tool results to come before its other content. */
function toolResultsFirst(turn: Turn): void {
  if (!turn.content.some((block, i) => block.type === 'tool_result' && i > 0 && turn.content[i - 1]!.type !== 'tool_result')) return;
  const results = turn.content.filter((block) => block.type === 'tool_result');
  turn.content = [...results, ...turn.content.filter((block) => block.type !== 'tool_result')];
}

/** A last assistant turn is a prefill, whose text Anthropic refuses to end in white space. */
function trimPrefill(turns: Turn[]): void {
  const last = turns.at(-1);
  if (last?.role !== 'assistant') return;
  const block = last.content.at(-1);
  if (block?.type !== 'text' || typeof block.text !== 'string') return;
  const text = block.text.trimEnd();
  if (text) block.text = text;
  else last.content.pop();
  if (last.content.length === 0) turns.pop();
}
