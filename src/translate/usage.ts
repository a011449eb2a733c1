// Token counts as the Anthropic and Bedrock adapters keep them (cached input apart from input), and
// what the gateway and OpenAI clients are given of them: the gateway's Usage and OpenAI's usage object.
import type { Usage } from '../stream.js';

/**
 * Token counts as Anthropic and Converse report them, cached input apart from input. Anthropic's
 * message_delta repeats them cumulatively, so a later count replaces.
 */
export interface TokenCounts {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Thinking tokens, when the API reports them (`output_tokens_details.thinking_tokens`). */
  thinking_tokens: number | undefined;
}

export function emptyTokenCounts(): TokenCounts {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, thinking_tokens: undefined };
}

/** Cached input is counted apart from input; OpenAI's prompt_tokens include it. */
export function promptTokens(usage: TokenCounts): number {
  return usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
}

/** The gateway's Usage: cache reads and writes (which both APIs always report) within the prompt, thinking within the output. */
export function gatewayUsage(usage: TokenCounts): Usage {
  const result: Usage = {
    promptTokens: promptTokens(usage),
    completionTokens: usage.output_tokens,
    cacheReadTokens: usage.cache_read_input_tokens,
    cacheWriteTokens: usage.cache_creation_input_tokens,
  };
  if (usage.thinking_tokens !== undefined) result.reasoningTokens = usage.thinking_tokens;
  return result;
}

/** OpenAI's usage object, as JSON text. */
export function openAIUsageJson(usage: TokenCounts): string {
  const prompt = promptTokens(usage);
  const reasoning =
    usage.thinking_tokens === undefined ? '' : `,"completion_tokens_details":{"reasoning_tokens":${usage.thinking_tokens}}`;
  return (
    `{"prompt_tokens":${prompt},"completion_tokens":${usage.output_tokens},"total_tokens":${prompt + usage.output_tokens},` +
    `"prompt_tokens_details":{"cached_tokens":${usage.cache_read_input_tokens}}${reasoning}}`
  );
}
