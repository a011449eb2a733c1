// OpenAI tools, tool_choice, parallel_tool_calls and response_format as Anthropic tools, for the
// Anthropic adapter and for Bedrock's, which maps them to Converse's toolConfig.
// Sources: https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use
// (tool definitions with input_schema; tool_choice auto/any/tool/none; disable_parallel_tool_use;
// forcing a tool for JSON output), https://platform.openai.com/docs/api-reference/chat/create
// (tools, tool_choice, parallel_tool_calls, response_format).
import { safeEchoValue } from '../redact.js';
import { invalid } from './errors.js';
import { isRecord, type Block, type Json } from './json.js';

/** OpenAI's tool_choice words as Anthropic's tool_choice. */
const TOOL_CHOICE_BY_WORD: Readonly<Record<string, Block>> = {
  auto: { type: 'auto' },
  none: { type: 'none' },
  required: { type: 'any' },
};

/** The forced tool's name for `json_object` (and `json_schema` without a name). */
const JSON_TOOL_NAME = 'json';
const JSON_TOOL_DESCRIPTION = 'Answer with this tool: its input is the answer, as JSON that matches the input schema.';
/** A tool without parameters takes an empty object. */
const EMPTY_OBJECT_SCHEMA: Block = { type: 'object' };

export interface ToolSetup {
  readonly tools: Block[] | undefined;
  readonly toolChoice: Block | undefined;
  /** The forced tool standing for response_format: its input is the answer's content. */
  readonly jsonTool: string | undefined;
  /** Whether tool_choice forces a tool call, which extended thinking does not allow. */
  readonly forced: boolean;
}

/** `provider` names the provider in error messages: Bedrock reads tools with the same rules. */
export function translateTools(body: Record<string, unknown>, dropped: string[], provider = 'Anthropic'): ToolSetup {
  const tools = clientTools(body.tools, provider);
  let choice = toolChoice(body.tool_choice, provider);
  const json = jsonTool(body.response_format);
  if (json) {
    if (tools.some((tool) => tool.name === json.name)) {
      throw invalid(
        `response_format's schema name ${safeEchoValue(json.name)} is also a tool's name; ` +
          'the gateway sends the schema to Anthropic as a tool, so rename one',
        'response_format.json_schema.name',
      );
    }
    // The client's own tools stay callable: with them the model must call some tool (one of
    // theirs, or the JSON tool to answer); without them, the JSON tool. An explicit choice stands.
    if (choice === undefined || choice.type === 'auto' || choice.type === 'any') {
      choice = tools.length > 0 ? { type: 'any' } : { type: 'tool', name: json.name };
    } else if (choice.type === 'none') choice = { type: 'tool', name: json.name };
    tools.push(json.definition);
  }
  if (tools.length === 0) {
    if (choice !== undefined) dropped.push('tool_choice');
    if (body.parallel_tool_calls === false) dropped.push('parallel_tool_calls');
    return { tools: undefined, toolChoice: undefined, jsonTool: undefined, forced: false };
  }
  if (body.parallel_tool_calls === false) {
    choice ??= { type: 'auto' };
    if (choice.type !== 'none') choice = { ...choice, disable_parallel_tool_use: true };
  } else if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null && typeof body.parallel_tool_calls !== 'boolean') {
    throw invalid('parallel_tool_calls must be a boolean', 'parallel_tool_calls', 'invalid_type');
  }
  return {
    tools,
    toolChoice: choice,
    jsonTool: json?.name,
    forced: choice?.type === 'any' || choice?.type === 'tool',
  };
}

function clientTools(value: unknown, provider: string): Block[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid('tools must be an array', 'tools', 'invalid_type');
  return value.map((tool: unknown, i): Block => {
    const at = `tools[${i}]`;
    if (!isRecord(tool)) throw invalid(`${at} must be an object`, at, 'invalid_type');
    if (tool.type !== 'function') {
      throw invalid(`${at} is a ${safeEchoValue(tool.type)} tool; ${provider} takes function tools`, `${at}.type`, 'unsupported_value');
    }
    const fn = tool.function;
    if (!isRecord(fn) || typeof fn.name !== 'string' || !fn.name) {
      throw invalid(`${at} has no function name`, `${at}.function.name`, 'missing_required_parameter');
    }
    if (fn.parameters !== undefined && fn.parameters !== null && !isRecord(fn.parameters)) {
      throw invalid(`${at}.function.parameters must be a JSON schema object`, `${at}.function.parameters`, 'invalid_type');
    }
    const out: Block = { name: fn.name };
    if (typeof fn.description === 'string' && fn.description) out.description = fn.description;
    out.input_schema = isRecord(fn.parameters) ? (fn.parameters as Json) : EMPTY_OBJECT_SCHEMA;
    return out;
  });
}

function toolChoice(value: unknown, provider: string): Block | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    const choice = TOOL_CHOICE_BY_WORD[value];
    if (choice) return choice;
  } else if (isRecord(value) && value.type === 'function') {
    const fn = value.function;
    if (!isRecord(fn) || typeof fn.name !== 'string' || !fn.name) {
      throw invalid('tool_choice names no function', 'tool_choice.function.name', 'missing_required_parameter');
    }
    return { type: 'tool', name: fn.name };
  }
  throw invalid(
    `tool_choice ${isRecord(value) ? `of type ${safeEchoValue(value.type)}` : safeEchoValue(value)} has no ${provider} equivalent; ` +
      'use "auto", "none", "required" or {"type":"function","function":{"name":...}}',
    'tool_choice',
    'unsupported_value',
  );
}

/** response_format as the forced tool that carries the answer, or undefined for plain text. */
function jsonTool(format: unknown): { name: string; definition: Block } | undefined {
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format)) throw invalid('response_format must be an object', 'response_format', 'invalid_type');
  switch (format.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { name: JSON_TOOL_NAME, definition: jsonToolDefinition(JSON_TOOL_NAME, JSON_TOOL_DESCRIPTION, EMPTY_OBJECT_SCHEMA) };
    case 'json_schema': {
      const spec = format.json_schema;
      const at = 'response_format.json_schema';
      if (!isRecord(spec)) throw invalid(`${at} is missing`, at, 'missing_required_parameter');
      if (spec.schema !== undefined && !isRecord(spec.schema)) {
        throw invalid(`${at}.schema must be a JSON schema object`, `${at}.schema`, 'invalid_type');
      }
      const name = typeof spec.name === 'string' && spec.name ? spec.name : JSON_TOOL_NAME;
      const description = typeof spec.description === 'string' && spec.description ? spec.description : JSON_TOOL_DESCRIPTION;
      const schema = isRecord(spec.schema) ? (spec.schema as Json) : EMPTY_OBJECT_SCHEMA;
      return { name, definition: jsonToolDefinition(name, description, schema) };
    }
    default:
      throw invalid(
        `response_format type ${safeEchoValue(format.type)} has no Anthropic equivalent`,
        'response_format.type',
        'unsupported_value',
      );
  }
}

function jsonToolDefinition(name: string, description: string, schema: Json): Block {
  return { name, description, input_schema: schema };
}
