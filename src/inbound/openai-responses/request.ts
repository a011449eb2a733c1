// An OpenAI Responses API request (POST /v1/responses) as an OpenAI chat completion request, for
// providers that do not serve the Responses API themselves.
// Sources: https://platform.openai.com/docs/api-reference/responses/create (the request fields,
// input items and content parts, tools, tool_choice, text.format), the `openai` SDK's
// resources/responses/responses.d.ts (ResponseCreateParamsBase, ResponseInputItem, Tool), and
// what the Vercel AI SDK's Responses model sends (@ai-sdk/openai, convertToOpenAIResponsesInput).
// The gateway keeps no state: what needs a stored response, conversation or prompt is refused
// with a 400 naming the field; settings a chat request cannot carry are left out and named.
import { GatewayError } from '../../errors.js';
import { safeEchoValue } from '../../redact.js';
import { isRecord } from '../../translate/json.js';
import type { KeptItem } from './memory.js';
import { ToolNames } from './tool-names.js';
import { signedToolCall, splitSignedId } from '../signatures.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The request's settings as a Response object reports them back (echoed, as OpenAI does). */
export interface ResponseEcho {
  readonly instructions: string | null;
  readonly maxOutputTokens: number | null;
  readonly parallelToolCalls: boolean;
  readonly temperature: number | null;
  readonly topP: number | null;
  readonly toolChoice: Json;
  readonly tools: Json[];
  readonly text: Json;
  readonly reasoning: Json;
  readonly metadata: Json;
  readonly user: string | undefined;
  readonly safetyIdentifier: string | undefined;
}

export interface ChatRequest {
  readonly chat: Record<string, unknown>;
  /** Fields left out that change nothing a client relies on: named in the debug log. */
  readonly dropped: string[];
  /** What the client asked for and will not get (built-in tools left out): named in x-gateway-dropped-params too. */
  readonly refused: string[];
  readonly echo: ResponseEcho;
  /** The flat chat names of namespaced functions, to name the calls in the answer as the client did. */
  readonly toolNames: ToolNames;
}

/**
 * What becomes of a tool OpenAI runs itself (web_search, file_search, code_interpreter, ...) or
 * that only OpenAI's models are trained to call (local_shell, computer_use_preview, ...), which no
 * chat provider can: left out and named (`drop`, so that an agent that sends them by default, as
 * Codex does web_search, still works), or a 400 (`refuse`). RESPONSES_HOSTED_TOOLS.
 */
export type HostedTools = 'drop' | 'refuse';

function invalid(message: string, param: string | null, code = 'invalid_value'): GatewayError {
  return new GatewayError(400, message, code, param);
}

/** A field whose meaning lives in OpenAI's storage, which the gateway does not have. */
function needsStorage(param: string, what: string): GatewayError {
  return invalid(
    `${param} ${what}; this gateway keeps no responses, conversations or prompts, so it cannot honour it here. ` +
      'Send the whole conversation in input instead.',
    param,
    'unsupported_parameter',
  );
}

/**
 * Fields read below. The rest are left out and named: those with no chat-completion equivalent
 * that change nothing a client relies on (metadata, include, truncation, service_tier,
 * prompt_cache_key, prompt_cache_retention, top_logprobs, max_tool_calls, stream_options, ...),
 * and any the Responses API does not have.
 */
const READ_FIELDS = new Set([
  'model',
  'input',
  'instructions',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'max_output_tokens',
  'temperature',
  'top_p',
  'user',
  'safety_identifier',
  'text',
  'reasoning',
  'stream',
  'store',
  'background',
  'previous_response_id',
  'conversation',
  'prompt',
]);

/** Responses tool types OpenAI runs itself (or that are not JSON function calls): no chat equivalent. */
const BUILT_IN_TOOL_HINT = 'a tool OpenAI runs itself or one that chat completions cannot express';
/**
 * A freeform tool called with text (and a grammar) rather than JSON arguments. The client runs it,
 * so leaving it out would take away one of the client's own tools: a 400 whatever the setting.
 */
const CUSTOM_TOOL = 'custom';
/**
 * What a built-in tool's type looks like (`web_search`, `web_search_preview_2025_03_11`): only such
 * a type is left out, and named in a response header, which anything else could not be written into.
 */
const BUILT_IN_TOOL_TYPE = /^[a-z][a-z0-9_]{0,63}$/;

function isBuiltInType(type: unknown): type is string {
  return typeof type === 'string' && type !== CUSTOM_TOOL && BUILT_IN_TOOL_TYPE.test(type);
}

/** What an `item_reference` is resolved with. */
export interface ItemReferences {
  /** The output item the gateway gave this client before under `id` (see memory.ts), with its size. */
  recall(id: string): KeptItem | undefined;
  /** The client's body, in bytes. */
  readonly bodyBytes: number;
  /**
   * The body limit (MAX_BODY_BYTES): every item a request recalls counts toward it, as often as the
   * request refers to it, so that a small request cannot become a huge one upstream.
   */
  readonly maxBodyBytes: number;
}

export function toChatRequest(
  body: Record<string, unknown>,
  model: string,
  references: ItemReferences = NOTHING_KEPT,
  hostedTools: HostedTools = 'drop',
  /** Whether the thought signatures call ids carry go on the tool calls (InboundContext.thoughtSignatures). */
  signatures = false,
): ChatRequest {
  const dropped: string[] = [];
  const refused: string[] = [];
  refuseStateful(body);

  for (const key of Object.keys(body)) {
    if (READ_FIELDS.has(key)) continue;
    if (body[key] !== undefined && body[key] !== null) dropped.push(key);
  }
  // store: OpenAI keeps a response for later by default; the gateway keeps nothing and says so in
  // the answer's `store: false`. Refusing store: true would break clients that send it by default.
  if (body.store === true) dropped.push('store');

  const messages: JsonObject[] = [];
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== 'string') throw invalid('instructions must be a string', 'instructions', 'invalid_type');
    if (body.instructions !== '') messages.push({ role: 'system', content: body.instructions });
  }
  // Tools first: their flat names are what the function calls in input are sent back under.
  const tools = readTools(body.tools, body.tool_choice, hostedTools, refused);
  readInput(body.input, messages, dropped, references, tools.names, signatures);

  const chat: Record<string, unknown> = { model, messages };
  if (tools.chat.length > 0) {
    chat.tools = tools.chat;
    if (tools.choice !== undefined) chat.tool_choice = tools.choice;
    if (typeof body.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = body.parallel_tool_calls;
  } else {
    // Chat hosts refuse tool_choice and parallel_tool_calls without tools (OpenAI among them).
    if (body.tool_choice !== undefined && body.tool_choice !== null) dropped.push('tool_choice');
    if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null) dropped.push('parallel_tool_calls');
  }

  const maxOutputTokens = optionalInteger(body.max_output_tokens, 'max_output_tokens', 1);
  // max_tokens, not max_completion_tokens: every OpenAI-compatible host and the gateway's own
  // adapters take it, where max_completion_tokens is newer and not served by all hosts. (OpenAI's
  // reasoning models want max_completion_tokens, but OpenAI serves the Responses API itself.)
  if (maxOutputTokens !== null) chat.max_tokens = maxOutputTokens;
  const temperature = optionalNumber(body.temperature, 'temperature');
  if (temperature !== null) chat.temperature = temperature;
  const topP = optionalNumber(body.top_p, 'top_p');
  if (topP !== null) chat.top_p = topP;

  const user = optionalString(body.user, 'user');
  const safetyIdentifier = optionalString(body.safety_identifier, 'safety_identifier');
  // safety_identifier replaces user in the Responses API; chat has only user.
  if (user !== undefined || safetyIdentifier !== undefined) chat.user = user ?? safetyIdentifier;

  const format = readTextFormat(body.text, dropped);
  if (format !== undefined) chat.response_format = format;
  const effort = readReasoning(body.reasoning, dropped);
  if (effort !== undefined) chat.reasoning_effort = effort;

  if (body.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }

  for (const field of refused) dropped.push(field);
  return {
    chat,
    dropped,
    refused,
    toolNames: tools.names,
    echo: {
      instructions: typeof body.instructions === 'string' ? body.instructions : null,
      maxOutputTokens,
      parallelToolCalls: body.parallel_tool_calls !== false,
      temperature,
      topP,
      toolChoice: body.tool_choice === undefined || body.tool_choice === null ? 'auto' : (body.tool_choice as Json),
      tools: Array.isArray(body.tools) ? (body.tools as Json[]) : [],
      text: isRecord(body.text) ? (body.text as Json) : { format: { type: 'text' } },
      reasoning: isRecord(body.reasoning) ? (body.reasoning as Json) : null,
      metadata: isRecord(body.metadata) ? (body.metadata as Json) : {},
      user,
      safetyIdentifier,
    },
  };
}

function refuseStateful(body: Record<string, unknown>): void {
  if (body.previous_response_id !== undefined && body.previous_response_id !== null && body.previous_response_id !== '') {
    throw needsStorage('previous_response_id', 'continues a stored response');
  }
  if (body.conversation !== undefined && body.conversation !== null) {
    throw needsStorage('conversation', 'names a stored conversation');
  }
  if (body.background === true) {
    throw needsStorage('background', 'asks for a response to be run and stored for later retrieval');
  }
  if (body.prompt !== undefined && body.prompt !== null) {
    throw needsStorage('prompt', 'names a stored prompt template');
  }
}

function optionalNumber(value: unknown, param: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${param} must be a number`, param, 'invalid_type');
  return value;
}

function optionalInteger(value: unknown, param: string, min: number): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalid(`${param} must be an integer of at least ${min}`, param, typeof value === 'number' ? 'invalid_value' : 'invalid_type');
  }
  return value;
}

function optionalString(value: unknown, param: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(`${param} must be a string`, param, 'invalid_type');
  return value;
}

// ---------------------------------------------------------------------------------------------
// input

const NOTHING_KEPT: ItemReferences = Object.freeze({ recall: () => undefined, bodyBytes: 0, maxBodyBytes: Infinity });

function readInput(input: unknown, messages: JsonObject[], dropped: string[], references: ItemReferences, names: ToolNames, signatures: boolean): void {
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return;
  }
  if (input === undefined || input === null) throw invalid('input is required: a string or a list of input items', 'input', 'missing_required_parameter');
  if (!Array.isArray(input)) throw invalid('input must be a string or a list of input items', 'input', 'invalid_type');
  let requestBytes = references.bodyBytes;
  input.forEach((given: unknown, i) => {
    const at = `input[${i}]`;
    if (!isRecord(given)) throw invalid(`${at} must be an object`, at, 'invalid_type');
    // An item the gateway answered this client with earlier, referred to by its id.
    const kept = given.type === 'item_reference' && typeof given.id === 'string' ? references.recall(given.id) : undefined;
    if (kept !== undefined) {
      requestBytes += kept.bytes;
      if (requestBytes > references.maxBodyBytes) throw tooLargeWithItems(at, given.id, references.maxBodyBytes);
    }
    const item = kept?.item ?? given;
    // Items without a type but with a role are messages (EasyInputMessage).
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    switch (type) {
      case 'message':
        messages.push(message(item, at));
        return;
      case 'function_call':
        addToolCall(messages, functionCall(item, at, names, signatures));
        return;
      case 'function_call_output':
        messages.push({ role: 'tool', tool_call_id: splitSignedId(requiredString(item.call_id, `${at}.call_id`)).id, content: toolOutput(item.output, `${at}.output`) });
        return;
      case 'reasoning':
        // A model's earlier reasoning: chat requests have no place for it, and models do without.
        dropped.push(`${at} (reasoning)`);
        return;
      case 'item_reference':
        throw invalid(
          `${at} refers to item ${safeEchoValue(item.id)}, which this gateway does not know: ` +
            'it keeps the output items it answered with for an hour, in memory, per process and per API key. ' +
            'Send the item itself instead (with the Vercel AI SDK: providerOptions.openai.store = false).',
          `${at}.id`,
          'unknown_item',
        );
      case undefined:
        throw invalid(`${at} has neither a type nor a role`, `${at}.type`, 'missing_required_parameter');
      default:
        throw invalid(
          `${at} is a ${safeEchoValue(type)} item; this provider is reached through chat completions, which take messages, ` +
            'function_call and function_call_output items',
          `${at}.type`,
          'unsupported_value',
        );
    }
  });
}

function tooLargeWithItems(at: string, id: unknown, maxBodyBytes: number): GatewayError {
  return new GatewayError(
    413,
    `${at} refers to item ${safeEchoValue(id)}, which takes the request past the limit of ${maxBodyBytes} bytes (MAX_BODY_BYTES): ` +
      'the items a request refers to count toward it in full, once per reference. Refer to fewer items (or to each once), ' +
      'or send a shorter conversation.',
    'request_too_large',
    `${at}.id`,
  );
}

function requiredString(value: unknown, param: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${param} must be a non-empty string`, param, value === undefined ? 'missing_required_parameter' : 'invalid_type');
  return value;
}

function message(item: Record<string, unknown>, at: string): JsonObject {
  switch (item.role) {
    case 'user':
      return { role: 'user', content: userContent(item.content, `${at}.content`) };
    case 'system':
    // developer is OpenAI's newer name for system; not every chat host knows it.
    case 'developer':
      return { role: 'system', content: textContent(item.content, `${at}.content`) };
    case 'assistant':
      return { role: 'assistant', content: textContent(item.content, `${at}.content`) };
    default:
      throw invalid(`${at}.role must be user, assistant, system or developer`, `${at}.role`, 'invalid_value');
  }
}

/** Text of a system, developer or assistant message: a string, or text parts joined. */
function textContent(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(`${at} must be a string or a list of content parts`, at, 'invalid_type');
  let text = '';
  content.forEach((part: unknown, j) => {
    const partAt = `${at}[${j}]`;
    if (!isRecord(part)) throw invalid(`${partAt} must be an object`, partAt, 'invalid_type');
    switch (part.type) {
      case 'input_text':
      case 'output_text':
        text += typeof part.text === 'string' ? part.text : '';
        return;
      // An assistant's earlier refusal, sent back as what it said.
      case 'refusal':
        text += typeof part.refusal === 'string' ? part.refusal : '';
        return;
      default:
        throw invalid(`${partAt} is a ${safeEchoValue(part.type)} part; this message takes text only`, `${partAt}.type`, 'unsupported_value');
    }
  });
  return text;
}

/** A user message's content: one string for text alone (every host takes it), else chat parts. */
function userContent(content: unknown, at: string): Json {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(`${at} must be a string or a list of content parts`, at, 'invalid_type');
  const parts: JsonObject[] = content.map((part: unknown, j) => {
    const partAt = `${at}[${j}]`;
    if (!isRecord(part)) throw invalid(`${partAt} must be an object`, partAt, 'invalid_type');
    switch (part.type) {
      case 'input_text':
      case 'output_text':
        if (typeof part.text !== 'string') throw invalid(`${partAt}.text must be a string`, `${partAt}.text`, 'invalid_type');
        return { type: 'text', text: part.text };
      case 'input_image':
        return imagePart(part, partAt);
      case 'input_file':
        return filePart(part, partAt);
      default:
        throw invalid(`${partAt} is a ${safeEchoValue(part.type)} part; user messages take input_text, input_image and input_file`, `${partAt}.type`, 'unsupported_value');
    }
  });
  if (parts.length === 1 && parts[0]!.type === 'text') return parts[0]!.text!;
  return parts;
}

function imagePart(part: Record<string, unknown>, at: string): JsonObject {
  if (typeof part.image_url !== 'string' || part.image_url === '') {
    if (part.file_id !== undefined && part.file_id !== null) {
      throw invalid(`${at}.file_id refers to a file stored at OpenAI, which this provider cannot read; send image_url (a URL or a data: URL)`, `${at}.file_id`, 'unsupported_value');
    }
    throw invalid(`${at}.image_url must be a URL or a data: URL`, `${at}.image_url`, 'missing_required_parameter');
  }
  const imageUrl: JsonObject = { url: part.image_url };
  if (part.detail === 'low' || part.detail === 'high' || part.detail === 'auto') imageUrl.detail = part.detail;
  return { type: 'image_url', image_url: imageUrl };
}

function filePart(part: Record<string, unknown>, at: string): JsonObject {
  if (typeof part.file_data === 'string' && part.file_data !== '') {
    const file: JsonObject = { file_data: part.file_data };
    if (typeof part.filename === 'string' && part.filename !== '') file.filename = part.filename;
    return { type: 'file', file };
  }
  if (part.file_id !== undefined && part.file_id !== null) {
    throw invalid(`${at}.file_id refers to a file stored at OpenAI, which this provider cannot read; send file_data`, `${at}.file_id`, 'unsupported_value');
  }
  if (part.file_url !== undefined && part.file_url !== null) {
    throw invalid(`${at}.file_url: chat completions take files inline only; send file_data`, `${at}.file_url`, 'unsupported_value');
  }
  throw invalid(`${at} needs file_data`, `${at}.file_data`, 'missing_required_parameter');
}

/** An earlier call, under the flat name its namespaced function has in this request's tools. */
function functionCall(item: Record<string, unknown>, at: string, names: ToolNames, signatures: boolean): JsonObject {
  const args = item.arguments;
  const name = requiredString(item.name, `${at}.name`);
  const namespace = optionalString(item.namespace, `${at}.namespace`);
  // A call id that carries a Gemini thought signature (../signatures.ts) is the call's own id again.
  const { id, signature } = splitSignedId(requiredString(item.call_id, `${at}.call_id`));
  const call: JsonObject = {
    id,
    type: 'function',
    function: {
      name: namespace === undefined || namespace === '' ? name : names.flatten(namespace, name),
      arguments: typeof args === 'string' ? args : isRecord(args) ? JSON.stringify(args) : invalidArguments(at),
    },
  };
  return signedToolCall(call, signatures ? signature : undefined) as JsonObject;
}

function invalidArguments(at: string): never {
  throw invalid(`${at}.arguments must be a JSON string`, `${at}.arguments`, 'invalid_type');
}

/**
 * Consecutive function_call items are one assistant turn with several tool calls; an assistant
 * message directly before them (reasoning items between are dropped) is that turn's text.
 */
function addToolCall(messages: JsonObject[], call: JsonObject): void {
  const last = messages.at(-1);
  if (last?.role === 'assistant') {
    const calls = Array.isArray(last.tool_calls) ? last.tool_calls : (last.tool_calls = []);
    calls.push(call);
    if (last.content === '') last.content = null;
    return;
  }
  messages.push({ role: 'assistant', content: null, tool_calls: [call] });
}

/** A function_call_output's output: a string, or text parts (a chat tool message takes text only). */
function toolOutput(output: unknown, at: string): string {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) throw invalid(`${at} must be a string or a list of content parts`, at, 'invalid_type');
  let text = '';
  output.forEach((part: unknown, j) => {
    const partAt = `${at}[${j}]`;
    if (!isRecord(part)) throw invalid(`${partAt} must be an object`, partAt, 'invalid_type');
    if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text === 'string') {
      text += part.text;
      return;
    }
    throw invalid(
      `${partAt} is a ${safeEchoValue(part.type)} part; tool results reach this provider as chat tool messages, which take text only`,
      `${partAt}.type`,
      'unsupported_value',
    );
  });
  return text;
}

// ---------------------------------------------------------------------------------------------
// tools and tool_choice

interface Tools {
  readonly chat: JsonObject[];
  readonly choice: Json | undefined;
  readonly names: ToolNames;
}

function readTools(tools: unknown, toolChoice: unknown, hostedTools: HostedTools, refused: string[]): Tools {
  const names = new ToolNames();
  if (tools === undefined || tools === null) return { chat: [], choice: undefined, names };
  if (!Array.isArray(tools)) throw invalid('tools must be a list of tools', 'tools', 'invalid_type');
  for (const tool of tools as unknown[]) {
    if (isRecord(tool) && tool.type === 'function' && typeof tool.name === 'string') names.reserve(tool.name);
  }
  const chat: JsonObject[] = [];
  tools.forEach((tool: unknown, i) => {
    const at = `tools[${i}]`;
    if (!isRecord(tool)) throw invalid(`${at} must be an object`, at, 'invalid_type');
    switch (tool.type) {
      case 'function':
        chat.push(functionTool(tool, at, undefined, names));
        return;
      case 'namespace':
        for (const fn of namespaceTools(tool, at, names)) chat.push(fn);
        return;
      case CUSTOM_TOOL:
        throw customTool(at);
      default:
        hostedTool(tool, at, hostedTools, refused);
    }
  });
  if (toolChoice === undefined || toolChoice === null) return { chat, choice: undefined, names };
  if (toolChoice === 'auto' || toolChoice === 'none' || toolChoice === 'required') return { chat, choice: toolChoice, names };
  if (!isRecord(toolChoice)) throw invalid('tool_choice must be auto, none, required or an object', 'tool_choice', 'invalid_value');
  switch (toolChoice.type) {
    case 'function': {
      const name = chosenFunction(offeredNames(chat), names, toolChoice, 'tool_choice');
      return { chat, choice: { type: 'function', function: { name } }, names };
    }
    case 'allowed_tools':
      return allowedTools(chat, names, toolChoice, hostedTools, refused);
    default:
      if (hostedTools === 'drop' && isBuiltInType(toolChoice.type)) {
        // Its tool is left out with the others; the model chooses among the rest.
        refused.push('tool_choice');
        return { chat, choice: undefined, names };
      }
      throw invalid(
        `tool_choice chooses a ${safeEchoValue(toolChoice.type)} tool, ${BUILT_IN_TOOL_HINT}; this provider takes function tools only`,
        'tool_choice.type',
        'unsupported_value',
      );
  }
}

/** A tool of a type chat has no equivalent for: left out and named, or refused. */
function hostedTool(tool: Record<string, unknown>, at: string, hostedTools: HostedTools, refused: string[]): void {
  if (hostedTools === 'drop' && isBuiltInType(tool.type)) {
    refused.push(`tools[${tool.type}]`);
    return;
  }
  throw invalid(
    `${at} is a ${safeEchoValue(tool.type)} tool, ${BUILT_IN_TOOL_HINT}; this provider is reached through chat completions, which take function tools only` +
      (hostedTools === 'refuse' ? ' (RESPONSES_HOSTED_TOOLS=refuse; with drop the gateway leaves such tools out and names them)' : ''),
    `${at}.type`,
    'unsupported_value',
  );
}

function customTool(at: string): GatewayError {
  return invalid(
    `${at} is a custom tool, called with free text rather than JSON arguments; this provider is reached through chat completions, ` +
      'which take function tools only. Declare it as a function tool.',
    `${at}.type`,
    'unsupported_value',
  );
}

/** A namespace's functions, each under its flat name (see tool-names.ts). */
function namespaceTools(tool: Record<string, unknown>, at: string, names: ToolNames): JsonObject[] {
  const namespace = requiredString(tool.name, `${at}.name`);
  if (!Array.isArray(tool.tools)) throw invalid(`${at}.tools must be a list of function tools`, `${at}.tools`, 'invalid_type');
  return tool.tools.map((member: unknown, j) => {
    const memberAt = `${at}.tools[${j}]`;
    if (!isRecord(member)) throw invalid(`${memberAt} must be an object`, memberAt, 'invalid_type');
    if (member.type === CUSTOM_TOOL) throw customTool(memberAt);
    if (member.type !== 'function') {
      throw invalid(`${memberAt} is a ${safeEchoValue(member.type)} tool; a namespace holds function tools`, `${memberAt}.type`, 'unsupported_value');
    }
    return functionTool(member, memberAt, namespace, names);
  });
}

function functionTool(tool: Record<string, unknown>, at: string, namespace: string | undefined, names: ToolNames): JsonObject {
  const name = requiredString(tool.name, `${at}.name`);
  const fn: JsonObject = { name: namespace === undefined ? name : names.flatten(namespace, name) };
  if (typeof tool.description === 'string') fn.description = tool.description;
  if (isRecord(tool.parameters)) fn.parameters = tool.parameters as JsonObject;
  else if (tool.parameters !== undefined && tool.parameters !== null) throw invalid(`${at}.parameters must be a JSON schema object`, `${at}.parameters`, 'invalid_type');
  // Passed on only when the client says: a host that does not know strict may refuse it.
  if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

/**
 * The flat name of the function a tool choice names: a plain function by its name; a namespaced
 * one by `namespace` and `name`, by `<namespace>.<name>` (as OpenAI's Agents SDK names it), or by
 * its own name alone when no other function has it.
 */
function chosenFunction(offered: ReadonlySet<string>, names: ToolNames, choice: Record<string, unknown>, at: string): string {
  const name = requiredString(choice.name, `${at}.name`);
  const namespace = optionalString(choice.namespace, `${at}.namespace`);
  let flat: string | undefined;
  if (namespace !== undefined) flat = names.find(namespace, name);
  else if (offered.has(name) && names.unflatten(name).namespace === undefined) flat = name;
  else {
    const dot = name.lastIndexOf('.');
    if (dot > 0) flat = names.find(name.slice(0, dot), name.slice(dot + 1));
    if (flat === undefined) {
      const same = names.named(name);
      if (same.length === 1) flat = same[0];
    }
  }
  if (flat === undefined || !offered.has(flat)) {
    const qualified = namespace === undefined ? name : `${namespace}.${name}`;
    throw invalid(`${at} names the function ${safeEchoValue(qualified)}, which is not among tools`, `${at}.name`, 'invalid_value');
  }
  return flat;
}

/** The flat names of the functions the chat request offers. */
function offeredNames(chat: JsonObject[]): Set<string> {
  return new Set(chat.map((tool) => (tool.function as JsonObject).name as string));
}

/**
 * `allowed_tools` limits the model to some of the tools without changing the tool list (for
 * prompt caching). Few chat hosts know it, so the chat request carries just those tools, with the
 * mode (auto or required) as its tool_choice: the model sees and may call the same set.
 */
function allowedTools(chat: JsonObject[], names: ToolNames, choice: Record<string, unknown>, hostedTools: HostedTools, refused: string[]): Tools {
  const mode = choice.mode ?? 'auto';
  if (mode !== 'auto' && mode !== 'required') throw invalid('tool_choice.mode must be auto or required', 'tool_choice.mode', 'invalid_value');
  if (!Array.isArray(choice.tools)) throw invalid('tool_choice.tools must be a list of tools', 'tool_choice.tools', 'invalid_type');
  const offered = offeredNames(chat);
  const allowed = new Set<string>();
  const namespaces = new Set<string>();
  choice.tools.forEach((tool: unknown, i) => {
    const at = `tool_choice.tools[${i}]`;
    if (isRecord(tool) && tool.type === 'function') {
      allowed.add(chosenFunction(offered, names, tool, at));
      return;
    }
    if (isRecord(tool) && tool.type === 'namespace') {
      const namespace = requiredString(tool.name, `${at}.name`);
      // Each namespace once: a list naming one many times would otherwise cost its size each time.
      if (namespaces.has(namespace)) return;
      namespaces.add(namespace);
      for (const flat of names.inNamespace(namespace)) allowed.add(flat);
      return;
    }
    // A built-in tool was left out of tools already; allowing it allows nothing more.
    if (hostedTools === 'drop' && isRecord(tool) && isBuiltInType(tool.type)) {
      refused.push(`tool_choice.tools[${tool.type}]`);
      return;
    }
    throw invalid(`${at} must be a function tool ({type: "function", name}); this provider takes function tools only`, at, 'unsupported_value');
  });
  const kept = chat.filter((tool) => allowed.has((tool.function as JsonObject).name as string));
  if (kept.length === 0) throw invalid('tool_choice.tools names none of the functions in tools', 'tool_choice.tools', 'invalid_value');
  return { chat: kept, choice: mode, names };
}

// ---------------------------------------------------------------------------------------------
// text and reasoning

function readTextFormat(text: unknown, dropped: string[]): JsonObject | undefined {
  if (text === undefined || text === null) return undefined;
  if (!isRecord(text)) throw invalid('text must be an object', 'text', 'invalid_type');
  if (text.verbosity !== undefined && text.verbosity !== null) dropped.push('text.verbosity');
  const format = text.format;
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format)) throw invalid('text.format must be an object', 'text.format', 'invalid_type');
  switch (format.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      if (!isRecord(format.schema)) throw invalid('text.format.schema must be a JSON schema object', 'text.format.schema', 'missing_required_parameter');
      const schema: JsonObject = { name: requiredString(format.name, 'text.format.name'), schema: format.schema as JsonObject };
      if (typeof format.strict === 'boolean') schema.strict = format.strict;
      if (typeof format.description === 'string') schema.description = format.description;
      return { type: 'json_schema', json_schema: schema };
    }
    default:
      throw invalid('text.format.type must be text, json_object or json_schema', 'text.format.type', 'invalid_value');
  }
}

function readReasoning(reasoning: unknown, dropped: string[]): string | undefined {
  if (reasoning === undefined || reasoning === null) return undefined;
  if (!isRecord(reasoning)) throw invalid('reasoning must be an object', 'reasoning', 'invalid_type');
  for (const key of Object.keys(reasoning)) {
    if (key !== 'effort' && reasoning[key] !== undefined && reasoning[key] !== null) dropped.push(`reasoning.${key}`);
  }
  if (reasoning.effort === undefined || reasoning.effort === null) return undefined;
  if (typeof reasoning.effort !== 'string') throw invalid('reasoning.effort must be a string', 'reasoning.effort', 'invalid_type');
  return reasoning.effort;
}
