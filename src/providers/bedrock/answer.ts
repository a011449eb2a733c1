// A whole Converse answer in OpenAI's `chat.completion` shape, and the tables the stream shares.
// Sources: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html (the
// response: output.message.content blocks text/toolUse/reasoningContent, stopReason, usage with
// cacheReadInputTokens and cacheWriteInputTokens), https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html,
// https://platform.openai.com/docs/api-reference/chat/object.
import { randomUUID } from 'node:crypto';
import type { Usage } from '../../stream.js';
import { completionJson, finishReasonFrom, type FinishReason, type ToolCall } from '../../translate/chat-completion.js';
import { isRecord } from '../../translate/json.js';
import { emptyTokenCounts, gatewayUsage, type TokenCounts } from '../../translate/usage.js';

/**
 * Converse's stop reasons as OpenAI finish reasons. A guardrail or content filter stopping the
 * answer is `content_filter`; running out of context is `length`; an unknown reason (and
 * malformed_model_output, malformed_tool_use) is `stop`.
 */
const FINISH_BY_STOP_REASON: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};

export function finishReason(stopReason: string | null | undefined, calledTool: boolean): FinishReason {
  return finishReasonFrom(FINISH_BY_STOP_REASON, stopReason, calledTool);
}

/**
 * Converse's TokenUsage in the shared token counts, which OpenAI's usage is written from:
 * inputTokens leaves cached input out, as Anthropic's input_tokens does, so prompt_tokens adds
 * cache reads and writes back in.
 */
export function readUsage(raw: unknown, into: TokenCounts): void {
  if (!isRecord(raw)) return;
  if (typeof raw.inputTokens === 'number') into.input_tokens = raw.inputTokens;
  if (typeof raw.outputTokens === 'number') into.output_tokens = raw.outputTokens;
  if (typeof raw.cacheReadInputTokens === 'number') into.cache_read_input_tokens = raw.cacheReadInputTokens;
  if (typeof raw.cacheWriteInputTokens === 'number') into.cache_creation_input_tokens = raw.cacheWriteInputTokens;
}

/** Converse answers carry no id: one is made in OpenAI's style. */
export function completionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}

/**
 * A 2xx Converse body as a `chat.completion` JSON text; `model` is the request's (Converse answers do
 * not name it), `jsonTool` the forced tool standing for response_format, whose input is the
 * answer's text. Throws on a body that is not a Converse answer (the core answers 502).
 */
export function translateAnswer(text: string, model: string, jsonTool?: string): { json: string; usage: Usage } {
  const answer: unknown = JSON.parse(text);
  const message = isRecord(answer) && isRecord(answer.output) ? answer.output.message : undefined;
  if (!isRecord(answer) || !isRecord(message) || !Array.isArray(message.content)) {
    throw new Error('Bedrock answered with JSON that is not a Converse answer');
  }
  const texts: string[] = [];
  let jsonAnswer: string | undefined;
  const reasoning: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (!isRecord(block)) continue;
    if (typeof block.text === 'string') texts.push(block.text);
    else if (isRecord(block.toolUse) && typeof block.toolUse.name === 'string') {
      const use = block.toolUse;
      const args = JSON.stringify(use.input ?? {});
      if (use.name === jsonTool) jsonAnswer = args;
      else toolCalls.push({ id: String(use.toolUseId), type: 'function', function: { name: use.name as string, arguments: args } });
    } else if (isRecord(block.reasoningContent) && isRecord(block.reasoningContent.reasoningText)) {
      const reasoningText = block.reasoningContent.reasoningText.text;
      if (typeof reasoningText === 'string') reasoning.push(reasoningText);
    }
    // Images, documents, citations, redacted reasoning and blocks added later have no place here.
  }
  const usage = emptyTokenCounts();
  readUsage(answer.usage, usage);
  const stopReason = typeof answer.stopReason === 'string' ? answer.stopReason : null;
  const json = completionJson({
    id: completionId(),
    model,
    // In JSON mode the forced tool's input is the whole answer: text beside it would break the JSON.
    content: jsonAnswer ?? (texts.length === 0 && toolCalls.length > 0 ? null : texts.join('')),
    reasoning,
    toolCalls,
    finish: finishReason(stopReason, toolCalls.length > 0),
    usage,
  });
  return { json, usage: gatewayUsage(usage) };
}
