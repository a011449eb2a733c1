// A Gemini API request (POST /v1beta/models/{model}:generateContent or :streamGenerateContent, as
// `@google/genai` and Gemini CLI send it) as an OpenAI chat completion request, for a provider
// that does not speak Google's API.
// Sources: https://ai.google.dev/api/generate-content (GenerateContentRequest, GenerationConfig,
// ThinkingConfig), https://ai.google.dev/api/caching#Content (Content, Part, Tool, ToolConfig,
// FunctionCallingConfig, Schema), https://ai.google.dev/gemini-api/docs/function-calling (call ids,
// matching responses to calls), and https://platform.openai.com/docs/api-reference/chat/create.
// Choices where the APIs differ:
// - Google's function calls usually carry no id and responses are matched by name in order; chat
//   needs ids, so a call without one is given `call_<turn>_<part>` and a response without one
//   takes the id of the earliest unanswered call of its name;
// - thought parts (and their thoughtSignature) of earlier model turns are Google's own: left out;
//   a functionCall part's thoughtSignature goes back on its chat tool call (`extra_content`, see
//   ../signatures.ts) to a provider that takes it (Google's OpenAI-compatible endpoint), and is
//   left out for any other;
// - Google's hosted tools (googleSearch, codeExecution, urlContext, ...), safetySettings, topK and
//   other settings with no chat equivalent are left out and named in `dropped`, so that an agent
//   works unchanged; what would change the answer's shape (candidateCount above 1, a cachedContent
//   the provider does not hold) is refused with a 400.
import { safeEchoValue } from '../../redact.js';
import { isRecord } from '../../translate/json.js';
import { camelOf, field, invalid, numeric, text, type Json } from './fields.js';
import { toJsonSchema } from './schema.js';
import { signedToolCall } from '../signatures.js';

type Message = Record<string, unknown>;
type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/** The key under which a function call's arguments that were not a JSON object travel in `args`. */
export const INVALID_JSON_KEY = 'INVALID_JSON';

/** Top-level fields read below (camel-case); any other is named in `dropped`, or refused. */
const READ = new Set(['model', 'contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'cachedContent']);

/** generationConfig fields read below; others are named in `dropped`. */
const GENERATION_READ = new Set([
  'temperature',
  'topP',
  'maxOutputTokens',
  'stopSequences',
  'candidateCount',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  '_responseJsonSchema',
  'thinkingConfig',
  'responseModalities',
]);

/** thinkingBudget below which the effort is low, then medium; high above (as for Anthropic's budget_tokens). */
const LOW_BUDGET_BELOW = 4096;
const MEDIUM_BUDGET_BELOW = 16384;
/** thinkingBudget -1: the model decides how much to think. */
const DYNAMIC_BUDGET = -1;
const EFFORT_BY_LEVEL: Readonly<Record<string, string>> = { MINIMAL: 'low', LOW: 'low', MEDIUM: 'medium', HIGH: 'high' };

/** The responseMimeType of a JSON answer, and of plain text. */
const JSON_MIME = 'application/json';
const TEXT_MIME = 'text/plain';

export interface GeminiChatRequest {
  readonly chat: Record<string, unknown>;
  readonly dropped: string[];
  /** Whether the answer carries reasoning as thought parts (thinkingConfig.includeThoughts). */
  readonly includeThoughts: boolean;
}

export interface RequestOptions {
  /** The client asked for a stream (:streamGenerateContent). */
  readonly stream: boolean;
  /** Whether thinkingConfig becomes reasoning_effort or is left out (InboundContext.thinking). */
  readonly thinking: 'drop' | 'effort';
  /** Whether a functionCall part's thoughtSignature goes on its tool call (InboundContext.thoughtSignatures). */
  readonly thoughtSignatures?: boolean;
}

export function translateRequest(body: Json, model: string, options: RequestOptions): GeminiChatRequest {
  const dropped = new Set<string>();
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined || value === null || READ.has(camelOf(key))) continue;
    dropped.add(camelOf(key));
  }
  if (field(body, 'cachedContent') !== undefined) {
    throw invalid('cachedContent', "names content cached on Google's servers, which this provider does not have; send the content itself");
  }
  if (field(body, 'safetySettings') !== undefined) dropped.add('safetySettings');

  const messages: Message[] = [];
  const system = systemText(field(body, 'systemInstruction'));
  if (system !== '') messages.push({ role: 'system', content: system });
  translateContents(field(body, 'contents'), messages, dropped, options.thoughtSignatures === true);

  const chat: Record<string, unknown> = { model, messages };
  const names = translateTools(field(body, 'tools'), chat, dropped);
  translateToolConfig(field(body, 'toolConfig'), names, chat, dropped);
  const includeThoughts = generationConfig(field(body, 'generationConfig'), chat, dropped, options.thinking);
  if (options.stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return { chat, dropped: [...dropped], includeThoughts };
}

/** systemInstruction: a Content whose text parts are one system prompt. */
function systemText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (!isRecord(value)) throw invalid('systemInstruction', 'must be a Content object ({parts: [{text}]})');
  const parts = field(value, 'parts');
  if (!Array.isArray(parts)) throw invalid('systemInstruction.parts', 'must be a list of parts');
  const texts: string[] = [];
  parts.forEach((part, i) => {
    if (!isRecord(part) || typeof part.text !== 'string') throw invalid(`systemInstruction.parts.${i}`, 'must be a text part');
    if (part.text !== '') texts.push(part.text);
  });
  return texts.join('\n\n');
}

/** Calls of model turns not yet answered, by function name, oldest first: the ids responses without one take. */
type PendingCalls = Map<string, string[]>;

function translateContents(value: unknown, out: Message[], dropped: Set<string>, signatures: boolean): void {
  if (!Array.isArray(value) || value.length === 0) throw invalid('contents', 'required, a non-empty list of Content objects');
  const pending: PendingCalls = new Map();
  value.forEach((content, i) => {
    const at = `contents.${i}`;
    if (!isRecord(content)) throw invalid(at, 'must be a Content object');
    const parts = field(content, 'parts');
    if (!Array.isArray(parts)) throw invalid(`${at}.parts`, 'required, a list of parts');
    const role = field(content, 'role') ?? 'user';
    switch (role) {
      case 'user':
      case 'function':
        userTurn(parts, `${at}.parts`, out, pending);
        return;
      case 'model':
        modelTurn(parts, at, i, out, pending, dropped, signatures);
        return;
      default:
        throw invalid(`${at}.role`, `${safeEchoValue(role)} is not a role; use "user" or "model"`);
    }
  });
}

/** A user turn: its function responses first, one `tool` message each, then its other parts. */
function userTurn(parts: unknown[], at: string, out: Message[], pending: PendingCalls): void {
  const content: Part[] = [];
  parts.forEach((part, j) => {
    const partAt = `${at}.${j}`;
    if (!isRecord(part)) throw invalid(partAt, 'must be a Part object');
    const response = field(part, 'functionResponse');
    if (response !== undefined) out.push(functionResponse(response, `${partAt}.functionResponse`, pending));
    else for (const piece of userParts(part, partAt)) content.push(piece);
  });
  if (content.length === 0) return;
  out.push({ role: 'user', content: content.every((part) => part.type === 'text') ? content.map((part) => (part as { text: string }).text).join('\n\n') : content });
}

function userParts(part: Json, at: string): Part[] {
  if (typeof part.text === 'string') return part.text === '' || part.thought === true ? [] : [{ type: 'text', text: part.text }];
  const inline = field(part, 'inlineData');
  if (inline !== undefined) {
    if (!isRecord(inline)) throw invalid(`${at}.inlineData`, 'must be a Blob ({mimeType, data})');
    const mimeType = text(field(inline, 'mimeType'), `${at}.inlineData.mimeType`);
    const data = text(inline.data, `${at}.inlineData.data`);
    if (!mimeType.startsWith('image/')) throw invalid(`${at}.inlineData.mimeType`, `${safeEchoValue(mimeType)} data cannot be sent to this provider; it takes text and images`);
    return [{ type: 'image_url', image_url: { url: `data:${mimeType};base64,${data}` } }];
  }
  const file = field(part, 'fileData');
  if (file !== undefined) {
    if (!isRecord(file)) throw invalid(`${at}.fileData`, 'must be a FileData object ({mimeType, fileUri})');
    const uri = text(field(file, 'fileUri'), `${at}.fileData.fileUri`);
    const mimeType = field(file, 'mimeType');
    if (uri.startsWith('https://generativelanguage.googleapis.com/')) {
      throw invalid(`${at}.fileData.fileUri`, "names a file in Google's Files API, which this provider cannot read; send it as inlineData");
    }
    if (typeof mimeType === 'string' && !mimeType.startsWith('image/')) throw invalid(`${at}.fileData.mimeType`, `${safeEchoValue(mimeType)} files cannot be sent to this provider; it takes text and images`);
    return [{ type: 'image_url', image_url: { url: uri } }];
  }
  if (field(part, 'functionCall') !== undefined) throw invalid(`${at}.functionCall`, 'function calls stand in model turns only');
  for (const key of ['executableCode', 'codeExecutionResult'] as const) {
    if (field(part, key) !== undefined) throw invalid(`${at}.${key}`, "comes from Google's code execution, which this provider does not run");
  }
  throw invalid(at, 'must hold text, inlineData, fileData or functionResponse');
}

/** A model turn: its text as content, its function calls as tool_calls (each with an id). */
function modelTurn(parts: unknown[], at: string, turn: number, out: Message[], pending: PendingCalls, dropped: Set<string>, signatures: boolean): void {
  let content = '';
  const toolCalls: Record<string, unknown>[] = [];
  parts.forEach((part, j) => {
    const partAt = `${at}.parts.${j}`;
    if (!isRecord(part)) throw invalid(partAt, 'must be a Part object');
    if (part.thought === true) {
      // Google's own reasoning, proven by its signature to Google alone.
      dropped.add('contents.parts.thought');
      return;
    }
    const signature = field(part, 'thoughtSignature');
    if (signature !== undefined && typeof signature !== 'string') throw invalid(`${partAt}.thoughtSignature`, 'must be a string (base64), as the model sent it');
    const call = field(part, 'functionCall');
    if (call !== undefined) {
      const toolCall = functionCall(call, `${partAt}.functionCall`, `call_${turn}_${j}`, pending);
      if (signature !== undefined && signature !== '' && signatures) signedToolCall(toolCall, signature);
      else if (signature !== undefined) dropped.add('contents.parts.thoughtSignature');
      toolCalls.push(toolCall);
      return;
    }
    if (signature !== undefined) dropped.add('contents.parts.thoughtSignature');
    if (typeof part.text === 'string') {
      content += part.text;
      return;
    }
    if (field(part, 'functionResponse') !== undefined) throw invalid(`${partAt}.functionResponse`, 'function responses stand in user turns only');
    throw invalid(partAt, 'a model turn holds text and functionCall parts');
  });
  if (content === '' && toolCalls.length === 0) return;
  const message: Message = { role: 'assistant', content: content === '' ? null : content };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  out.push(message);
}

function functionCall(value: unknown, at: string, fallbackId: string, pending: PendingCalls): Record<string, unknown> {
  if (!isRecord(value)) throw invalid(at, 'must be a FunctionCall object ({name, args})');
  const name = text(value.name, `${at}.name`);
  if (name === '') throw invalid(`${at}.name`, 'must not be empty');
  const given = value.id;
  const id = typeof given === 'string' && given !== '' ? given : fallbackId;
  const args = value.args ?? {};
  if (!isRecord(args)) throw invalid(`${at}.args`, 'must be an object');
  // Arguments that were not a JSON object came back wrapped (see answer.ts): the provider gets them as it sent them.
  const keys = Object.keys(args);
  const wrapped = keys.length === 1 && keys[0] === INVALID_JSON_KEY && typeof args[INVALID_JSON_KEY] === 'string';
  let ids = pending.get(name);
  if (ids === undefined) pending.set(name, (ids = []));
  ids.push(id);
  return { id, type: 'function', function: { name, arguments: wrapped ? args[INVALID_JSON_KEY] : JSON.stringify(args) } };
}

function functionResponse(value: unknown, at: string, pending: PendingCalls): Message {
  if (!isRecord(value)) throw invalid(at, 'must be a FunctionResponse object ({name, response})');
  const name = text(value.name, `${at}.name`);
  const ids = pending.get(name);
  let id = typeof value.id === 'string' && value.id !== '' ? value.id : undefined;
  if (id === undefined) {
    id = ids?.shift();
    if (id === undefined) throw invalid(`${at}.name`, `no earlier functionCall of ${safeEchoValue(name)} is unanswered; a response follows its call`);
  } else if (ids !== undefined) {
    const position = ids.indexOf(id);
    if (position !== -1) ids.splice(position, 1);
  }
  const response = value.response;
  if (response !== undefined && response !== null && !isRecord(response)) throw invalid(`${at}.response`, 'must be an object');
  return { role: 'tool', tool_call_id: id, content: response === undefined || response === null ? '' : JSON.stringify(response) };
}

/** Function declarations as function tools; the names, for toolConfig. */
function translateTools(value: unknown, chat: Record<string, unknown>, dropped: Set<string>): Set<string> {
  const names = new Set<string>();
  if (value === undefined) return names;
  if (!Array.isArray(value)) throw invalid('tools', 'must be a list of Tool objects');
  const tools: Record<string, unknown>[] = [];
  value.forEach((tool, i) => {
    const at = `tools.${i}`;
    if (!isRecord(tool)) throw invalid(at, 'must be a Tool object');
    for (const [key, declared] of Object.entries(tool)) {
      if (declared === undefined || declared === null) continue;
      const name = camelOf(key);
      // Google's hosted tools (googleSearch, codeExecution, urlContext, ...) run on Google's side only.
      if (name !== 'functionDeclarations') {
        dropped.add(`tools.${name}`);
        continue;
      }
      if (!Array.isArray(declared)) throw invalid(`${at}.functionDeclarations`, 'must be a list of FunctionDeclaration objects');
      declared.forEach((declaration, j) => tools.push(functionTool(declaration, `${at}.functionDeclarations.${j}`, names, dropped)));
    }
  });
  if (tools.length > 0) chat.tools = tools;
  return names;
}

function functionTool(value: unknown, at: string, names: Set<string>, dropped: Set<string>): Record<string, unknown> {
  if (!isRecord(value)) throw invalid(at, 'must be a FunctionDeclaration object');
  const name = text(value.name, `${at}.name`);
  if (name === '') throw invalid(`${at}.name`, 'must not be empty');
  const fn: Record<string, unknown> = { name };
  const description = value.description;
  if (description !== undefined && description !== null) fn.description = text(description, `${at}.description`);
  const jsonSchema = field(value, 'parametersJsonSchema');
  const schema = value.parameters;
  if (jsonSchema !== undefined) {
    if (!isRecord(jsonSchema)) throw invalid(`${at}.parametersJsonSchema`, 'must be a JSON Schema object');
    fn.parameters = jsonSchema;
  } else if (schema !== undefined && schema !== null) fn.parameters = toJsonSchema(schema, `${at}.parameters`);
  else fn.parameters = { type: 'object', properties: {} };
  for (const key of Object.keys(value)) {
    const known = camelOf(key);
    if (!['name', 'description', 'parameters', 'parametersJsonSchema'].includes(known)) dropped.add(`tools.functionDeclarations.${known}`);
  }
  names.add(name);
  return { type: 'function', function: fn };
}

/** toolConfig.functionCallingConfig as tool_choice: AUTO, ANY (restricted to allowedFunctionNames), NONE. */
function translateToolConfig(value: unknown, names: Set<string>, chat: Record<string, unknown>, dropped: Set<string>): void {
  if (value === undefined) return;
  if (!isRecord(value)) throw invalid('toolConfig', 'must be a ToolConfig object');
  for (const key of Object.keys(value)) if (camelOf(key) !== 'functionCallingConfig') dropped.add(`toolConfig.${camelOf(key)}`);
  const config = field(value, 'functionCallingConfig');
  if (config === undefined) return;
  if (!isRecord(config)) throw invalid('toolConfig.functionCallingConfig', 'must be an object');
  const mode = config.mode ?? 'AUTO';
  const allowedValue = field(config, 'allowedFunctionNames');
  let allowed: string[] = [];
  if (allowedValue !== undefined) {
    if (!Array.isArray(allowedValue)) throw invalid('toolConfig.functionCallingConfig.allowedFunctionNames', 'must be a list of function names');
    allowed = allowedValue.map((name, i) => text(name, `toolConfig.functionCallingConfig.allowedFunctionNames.${i}`));
    for (const name of allowed) {
      if (!names.has(name)) throw invalid('toolConfig.functionCallingConfig.allowedFunctionNames', `no function named ${safeEchoValue(name)} is declared in tools`);
    }
  }
  switch (mode) {
    case 'MODE_UNSPECIFIED':
    case 'AUTO':
    case 'VALIDATED':
      if (names.size > 0) chat.tool_choice = 'auto';
      return;
    case 'NONE':
      if (names.size > 0) chat.tool_choice = 'none';
      return;
    case 'ANY':
      if (names.size === 0) throw invalid('toolConfig.functionCallingConfig.mode', 'ANY needs functionDeclarations in tools');
      if (allowed.length === 1) chat.tool_choice = { type: 'function', function: { name: allowed[0] } };
      else {
        chat.tool_choice = 'required';
        // ANY with several allowed names: the model may call only those, so only those are offered.
        if (allowed.length > 1) chat.tools = (chat.tools as { function: { name: string } }[]).filter((tool) => allowed.includes(tool.function.name));
      }
      return;
    default:
      throw invalid('toolConfig.functionCallingConfig.mode', `${safeEchoValue(mode)} is not a mode; use "AUTO", "ANY", "NONE" or "VALIDATED"`);
  }
}

function numberWithin(value: unknown, param: string, min: number, max: number): number {
  const number = numeric(value);
  if (number === undefined || number < min || number > max) throw invalid(param, `must be a number from ${min} to ${max}`);
  return number;
}

/** generationConfig as chat fields; returns whether reasoning is answered as thought parts. */
function generationConfig(value: unknown, chat: Record<string, unknown>, dropped: Set<string>, thinking: 'drop' | 'effort'): boolean {
  if (value === undefined) return false;
  if (!isRecord(value)) throw invalid('generationConfig', 'must be a GenerationConfig object');
  for (const [key, setting] of Object.entries(value)) {
    if (setting === undefined || setting === null) continue;
    const name = camelOf(key);
    // topK (no chat equivalent), logprobs, speech and media settings, and any field this version does not know.
    if (!GENERATION_READ.has(name)) dropped.add(`generationConfig.${name}`);
  }
  const at = (name: string) => `generationConfig.${name}`;
  const temperature = field(value, 'temperature');
  if (temperature !== undefined) chat.temperature = numberWithin(temperature, at('temperature'), 0, 2);
  const topP = field(value, 'topP');
  if (topP !== undefined) chat.top_p = numberWithin(topP, at('topP'), 0, 1);
  const maxTokens = field(value, 'maxOutputTokens');
  if (maxTokens !== undefined) {
    const number = numeric(maxTokens);
    if (number === undefined || !Number.isInteger(number) || number < 1) throw invalid(at('maxOutputTokens'), 'must be an integer of at least 1');
    chat.max_tokens = number;
  }
  const stop = field(value, 'stopSequences');
  if (stop !== undefined) {
    if (!Array.isArray(stop)) throw invalid(at('stopSequences'), 'must be a list of strings');
    const sequences = stop.map((item, i) => text(item, `${at('stopSequences')}.${i}`)).filter((item) => item !== '');
    if (sequences.length > 0) chat.stop = sequences;
  }
  const candidates = field(value, 'candidateCount');
  if (candidates !== undefined) {
    const number = numeric(candidates);
    if (number !== 1) throw invalid(at('candidateCount'), 'this provider answers with one candidate; send 1 or leave it out');
  }
  const seed = field(value, 'seed');
  if (seed !== undefined) chat.seed = numberWithin(seed, at('seed'), -(2 ** 31), 2 ** 31 - 1);
  for (const [name, param] of [['presencePenalty', 'presence_penalty'], ['frequencyPenalty', 'frequency_penalty']] as const) {
    const penalty = field(value, name);
    if (penalty !== undefined) chat[param] = numberWithin(penalty, at(name), -2, 2);
  }
  const modalities = field(value, 'responseModalities');
  if (modalities !== undefined && (!Array.isArray(modalities) || modalities.some((modality) => modality !== 'TEXT'))) {
    throw invalid(at('responseModalities'), 'this provider answers with text only; send ["TEXT"] or leave it out');
  }
  responseFormat(value, chat, dropped);
  return thinkingConfig(field(value, 'thinkingConfig'), chat, dropped, thinking);
}

/** responseMimeType with responseSchema or responseJsonSchema as response_format. */
function responseFormat(config: Json, chat: Record<string, unknown>, dropped: Set<string>): void {
  const mime = field(config, 'responseMimeType');
  const jsonSchema = field(config, 'responseJsonSchema') ?? config._responseJsonSchema;
  const schema = field(config, 'responseSchema');
  if (mime === undefined || mime === TEXT_MIME) {
    if (schema !== undefined || jsonSchema !== undefined) throw invalid('generationConfig.responseMimeType', `a response schema needs responseMimeType "${JSON_MIME}"`);
    return;
  }
  if (mime !== JSON_MIME) {
    // text/x.enum and other types Google alone decodes to.
    dropped.add('generationConfig.responseMimeType');
    return;
  }
  if (jsonSchema !== undefined) {
    if (!isRecord(jsonSchema)) throw invalid('generationConfig.responseJsonSchema', 'must be a JSON Schema object');
    chat.response_format = { type: 'json_schema', json_schema: { name: 'response', schema: jsonSchema } };
  } else if (schema !== undefined) {
    chat.response_format = { type: 'json_schema', json_schema: { name: 'response', schema: toJsonSchema(schema, 'generationConfig.responseSchema') } };
  } else chat.response_format = { type: 'json_object' };
}

/**
 * thinkingConfig as reasoning_effort (thinkingLevel by name, thinkingBudget by size, -1 as medium,
 * 0 as no effort), or left out under MESSAGES_THINKING=drop: many models that do not reason
 * refuse reasoning_effort. Returns includeThoughts.
 */
function thinkingConfig(value: unknown, chat: Record<string, unknown>, dropped: Set<string>, thinking: 'drop' | 'effort'): boolean {
  if (value === undefined) return false;
  if (!isRecord(value)) throw invalid('generationConfig.thinkingConfig', 'must be a ThinkingConfig object');
  const include = field(value, 'includeThoughts') === true;
  let effort: string | undefined;
  const level = field(value, 'thinkingLevel');
  const budget = field(value, 'thinkingBudget');
  if (level !== undefined && level !== 'THINKING_LEVEL_UNSPECIFIED') {
    effort = typeof level === 'string' ? EFFORT_BY_LEVEL[level.toUpperCase()] : undefined;
    if (effort === undefined) throw invalid('generationConfig.thinkingConfig.thinkingLevel', `must be one of ${Object.keys(EFFORT_BY_LEVEL).join(', ')}`);
  } else if (budget !== undefined) {
    const tokens = numeric(budget);
    if (tokens === undefined || !Number.isInteger(tokens) || tokens < DYNAMIC_BUDGET) {
      throw invalid('generationConfig.thinkingConfig.thinkingBudget', 'must be an integer: -1 (dynamic), 0 (off) or a token budget');
    }
    if (tokens === DYNAMIC_BUDGET) effort = 'medium';
    else if (tokens > 0) effort = tokens < LOW_BUDGET_BELOW ? 'low' : tokens < MEDIUM_BUDGET_BELOW ? 'medium' : 'high';
  }
  if (effort !== undefined) {
    if (thinking === 'effort') chat.reasoning_effort = effort;
    else dropped.add('generationConfig.thinkingConfig');
  }
  return include;
}
