// A whole chat completion as a Messages API `Message`, and the pieces the stream shares with it.
// Sources: https://platform.claude.com/docs/en/api/messages (the Message object and its usage),
// https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons (stop reasons),
// https://docs.claude.com/en/docs/agents-and-tools/tool-use/fine-grained-tool-streaming (tool input
// that is not valid JSON, wrapped in an object under a key that says so).
// Choices where the APIs differ:
// - reasoning becomes a thinking block with an empty signature: no other provider can sign one,
//   and this gateway leaves thinking blocks out when a client sends them back (request.ts);
// - tool-call arguments that are not a JSON object become `{"INVALID_JSON": "<the arguments>"}`:
//   the client's tool then refuses them visibly, rather than running with `{}`, and sent back the
//   provider sees what it wrote;
// - stop_sequence is always null: chat's `stop` finish does not say which sequence matched.
import { randomUUID } from 'node:crypto';
import type { Usage } from '../../stream.js';
import { isRecord } from '../../translate/json.js';
import { gatewayUsage, readCompletion, type ChatUsage, type FinishReason } from '../chat.js';
import { signedId } from '../signatures.js';
import { INVALID_JSON_KEY } from './request.js';

/** Chat finish reasons as Anthropic stop reasons. */
const STOP_REASON: Readonly<Record<FinishReason, string>> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  content_filter: 'refusal',
  other: 'end_turn',
};

/**
 * The stop reason for a turn: one that called a tool is `tool_use` (clients run the tools on it)
 * even when a host said `stop`, unless it was cut short or refused; `tool_use` without a call is
 * `end_turn`, so a client does not wait for tool calls that never came.
 */
export function stopReason(finish: FinishReason, calledTool: boolean): string {
  const reason = STOP_REASON[finish];
  if (reason === 'max_tokens' || reason === 'refusal') return reason;
  return calledTool ? 'tool_use' : 'end_turn';
}

export function messageId(upstreamId: string | undefined): string {
  if (upstreamId === undefined || upstreamId === '') return `msg_${randomUUID().replaceAll('-', '')}`;
  return upstreamId.startsWith('msg_') ? upstreamId : `msg_${upstreamId}`;
}

/** The tool_use id: the call's own (or a new one), with its thought signature when it has one (../signatures.ts). */
export function toolUseId(upstreamId: string | undefined, signature: string | undefined): string {
  return signedId({ id: upstreamId ?? `toolu_${randomUUID().replaceAll('-', '')}`, signature });
}

/** Arguments as the JSON text of a tool_use `input`: '' for none, wrapped when not a JSON object. */
export function inputJson(args: string): string {
  if (args.trim() === '') return '';
  try {
    if (isRecord(JSON.parse(args))) return args;
  } catch {
    // Not JSON: wrapped below.
  }
  return JSON.stringify({ [INVALID_JSON_KEY]: args });
}

/** Anthropic counts cache reads and writes apart from input; chat's prompt_tokens include them. */
export function anthropicUsage(usage: ChatUsage | undefined): {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
} {
  const cached = usage?.cachedTokens ?? 0;
  const written = usage?.gateway.cacheWriteTokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage?.promptTokens ?? 0) - cached - written),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
    output_tokens: usage?.completionTokens ?? 0,
  };
}


/** A `chat.completion` JSON text as a Message JSON text. Throws ChatShapeError for a body that is not one. */
export function translateAnswer(chatJson: string, model: string): { json: string; usage: Usage | undefined } {
  const completion = readCompletion(chatJson);
  const content: Record<string, unknown>[] = [];
  if (completion.reasoning !== '') content.push({ type: 'thinking', thinking: completion.reasoning, signature: '' });
  if (completion.content !== '' || completion.toolCalls.length === 0) content.push({ type: 'text', text: completion.content });
  for (const call of completion.toolCalls) {
    const input = inputJson(call.arguments);
    content.push({ type: 'tool_use', id: signedId(call), name: call.name, input: input === '' ? {} : JSON.parse(input) });
  }
  const message = {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(completion.finish, completion.toolCalls.length > 0),
    stop_sequence: null,
    usage: anthropicUsage(completion.usage),
  };
  return { json: JSON.stringify(message), usage: gatewayUsage(completion.usage) };
}
