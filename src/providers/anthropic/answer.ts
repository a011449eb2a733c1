// A whole Anthropic message in OpenAI's `chat.completion` shape, and the tables the stream shares.
// Sources: https://platform.claude.com/docs/en/api/messages (the Message object, usage),
// https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons (stop reasons).
import type { Usage } from '../../stream.js';
import { completionJson, finishReasonFrom, type FinishReason, type ToolCall } from '../../translate/chat-completion.js';
import { isRecord } from '../../translate/json.js';
import { emptyTokenCounts, gatewayUsage, type TokenCounts } from '../../translate/usage.js';

/**
 * Anthropic's stop reasons as OpenAI finish reasons. pause_turn (a server-tool loop hit its limit)
 * has no OpenAI counterpart and the turn did end, so it is `stop`; an unknown reason is `stop` too.
 */
const FINISH_BY_STOP_REASON: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** The finish reason for a turn, from Anthropic's stop reason (finishReasonFrom weighs the tool calls). */
export function finishReason(stopReason: string | null | undefined, calledTool: boolean): FinishReason {
  return finishReasonFrom(FINISH_BY_STOP_REASON, stopReason, calledTool);
}

/** Copies the counts present in `raw` (a usage object from the API) over `into`. */
export function readUsage(raw: unknown, into: TokenCounts): void {
  if (!isRecord(raw)) return;
  if (typeof raw.input_tokens === 'number') into.input_tokens = raw.input_tokens;
  if (typeof raw.output_tokens === 'number') into.output_tokens = raw.output_tokens;
  if (typeof raw.cache_creation_input_tokens === 'number') into.cache_creation_input_tokens = raw.cache_creation_input_tokens;
  if (typeof raw.cache_read_input_tokens === 'number') into.cache_read_input_tokens = raw.cache_read_input_tokens;
  const details = raw.output_tokens_details;
  if (isRecord(details) && typeof details.thinking_tokens === 'number') into.thinking_tokens = details.thinking_tokens;
}

/** The caller type prefix of Anthropic's code execution tools (code_execution_20250825, ...). */
const CODE_EXECUTION_CALLER = 'code_execution_';

/**
 * Whether a tool_use block was called by code running in Anthropic's code execution (programmatic
 * tool calling: `caller.type` `code_execution_...`) rather than by the model. Anthropic ran it in
 * its container; a chat client cannot answer it (that takes the container), so it is no tool call.
 */
export function calledByCode(block: Record<string, unknown>): boolean {
  const caller = block.caller;
  return isRecord(caller) && typeof caller.type === 'string' && caller.type.startsWith(CODE_EXECUTION_CALLER);
}

/**
 * A 2xx body of the Messages API as a `chat.completion` JSON text. `jsonTool` names the forced tool
 * that stands for `response_format`: its input is the answer's text. Throws on a body that is not a
 * message (the core answers 502).
 */
export function translateAnswer(body: string, jsonTool: string | undefined): { json: string; usage: Usage } {
  const message: unknown = JSON.parse(body);
  if (!isRecord(message) || message.type !== 'message' || !Array.isArray(message.content)) {
    throw new Error('Anthropic answered with JSON that is not a message');
  }
  const texts: string[] = [];
  let jsonAnswer: string | undefined;
  const reasoning: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (!isRecord(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning.push(block.thinking);
    else if (block.type === 'tool_use' && typeof block.name === 'string' && !calledByCode(block)) {
      const input = JSON.stringify(block.input ?? {});
      if (block.name === jsonTool) jsonAnswer = input;
      else toolCalls.push({ id: String(block.id), type: 'function', function: { name: block.name, arguments: input } });
    }
    // Server tools, what code execution called, redacted thinking and blocks added later have no
    // place in a chat completion.
  }
  // In JSON mode the forced tool's input is the whole answer: text beside it would break the JSON.
  const content = jsonAnswer ?? (texts.length === 0 && toolCalls.length > 0 ? null : texts.join(''));
  const usage = emptyTokenCounts();
  readUsage(message.usage, usage);
  const stopReason = typeof message.stop_reason === 'string' ? message.stop_reason : null;
  const json = completionJson({
    id: typeof message.id === 'string' ? message.id : '',
    model: typeof message.model === 'string' ? message.model : '',
    content,
    reasoning,
    toolCalls,
    finish: finishReason(stopReason, toolCalls.length > 0),
    usage,
  });
  return { json, usage: gatewayUsage(usage) };
}
