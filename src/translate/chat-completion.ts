// A translated whole answer as an OpenAI `chat.completion`, whichever provider gave it (Anthropic,
// Bedrock), and the finish reasons both read from their stop reasons.
// Source: https://platform.openai.com/docs/api-reference/chat/object (the chat.completion object).
import { openAIUsageJson, type TokenCounts } from './usage.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/**
 * The finish reason for a turn, from a provider's table of its stop reasons. A turn that called a
 * client tool ends in `tool_calls` even when text came first, unless it was cut short (`length`
 * then, as OpenAI reports a truncated call); a turn whose only tool call was the forced JSON tool
 * is an answer, `stop`; an unknown reason is `stop`.
 */
export function finishReasonFrom(
  table: Readonly<Record<string, FinishReason>>,
  stopReason: string | null | undefined,
  calledTool: boolean,
): FinishReason {
  const mapped = (stopReason && table[stopReason]) || 'stop';
  if (mapped === 'length' || mapped === 'content_filter') return mapped;
  if (calledTool) return 'tool_calls';
  return mapped === 'tool_calls' ? 'stop' : mapped;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** What a translated whole answer holds, whichever provider gave it. */
export interface CompletionParts {
  readonly id: string;
  readonly model: string;
  readonly content: string | null;
  /** Reasoning text pieces, joined into reasoning_content when there are any. */
  readonly reasoning: readonly string[];
  readonly toolCalls: readonly ToolCall[];
  readonly finish: FinishReason;
  readonly usage: TokenCounts;
}

/** An OpenAI `chat.completion` JSON text. */
export function completionJson(parts: CompletionParts): string {
  const completion = {
    id: parts.id,
    object: 'chat.completion',
    created: nowSeconds(),
    model: parts.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: parts.content,
          refusal: null,
          ...(parts.reasoning.length > 0 && { reasoning_content: parts.reasoning.join('') }),
          ...(parts.toolCalls.length > 0 && { tool_calls: parts.toolCalls }),
        },
        logprobs: null,
        finish_reason: parts.finish,
      },
    ],
  };
  const json = JSON.stringify(completion);
  // The usage object goes in as text so that its counts are written once, by openAIUsageJson.
  return `${json.slice(0, -1)},"usage":${openAIUsageJson(parts.usage)}}`;
}
