// A whole chat completion as an OpenAI Response object, and the pieces of one that the stream
// translator shares (ids, status, usage, the echoed request settings).
// Sources: https://platform.openai.com/docs/api-reference/responses/object (the Response object,
// output items, usage), the `openai` SDK's Response type and ResponsesParser (output_text is the
// SDK's own sum of the output_text parts, not a wire field), and the Vercel AI SDK's
// openaiResponsesResponseSchema (what it requires: item ids, a reasoning item's `summary`, usage's
// input_tokens and output_tokens).
import { randomUUID } from 'node:crypto';
import type { Usage } from '../../stream.js';
import { gatewayUsage, readCompletion, type ChatUsage, type FinishReason } from '../chat.js';
import { signedId } from '../signatures.js';
import type { ResponseEcho } from './request.js';
import type { ToolName, ToolNames } from './tool-names.js';

/** Ids for one response and its output items: `resp_<hex>`, `msg_<hex>_<n>`, `fc_...`, `rs_...`. */
export class ResponseIds {
  private readonly base = randomUUID().replaceAll('-', '');
  readonly response = `resp_${this.base}`;

  item(prefix: 'msg' | 'fc' | 'rs', outputIndex: number): string {
    return `${prefix}_${this.base}_${outputIndex}`;
  }
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete';

/** A chat finish as the Response's status and incomplete_details. */
export function statusOf(finish: FinishReason): { readonly status: ResponseStatus; readonly incomplete: { reason: string } | null } {
  switch (finish) {
    case 'length':
      return { status: 'incomplete', incomplete: { reason: 'max_output_tokens' } };
    case 'content_filter':
      return { status: 'incomplete', incomplete: { reason: 'content_filter' } };
    default:
      return { status: 'completed', incomplete: null };
  }
}

/**
 * The Response's usage. Null when the provider reported none: zeros would be a false count, and
 * both SDKs read a null usage (the AI SDK reports its token counts as unknown).
 */
export function responseUsage(usage: ChatUsage | undefined): Record<string, unknown> | null {
  if (usage === undefined) return null;
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}


export interface ResponseState {
  readonly status: ResponseStatus;
  readonly incomplete: { reason: string } | null;
  /** The output items as a JSON array: a stream has each item's JSON from its closing event already. */
  readonly outputJson: string;
  readonly usage: Record<string, unknown> | null;
}

/**
 * The fields after `output` that every Response of one request repeats (the request's settings),
 * serialised once: a stream sends the Response three times.
 */
export function echoJson(echo: ResponseEcho): string {
  const fields: Record<string, unknown> = {
    parallel_tool_calls: echo.parallelToolCalls,
    previous_response_id: null,
    reasoning: echo.reasoning,
    // The gateway keeps no responses, whatever the request asked.
    store: false,
    temperature: echo.temperature,
    text: echo.text,
    tool_choice: echo.toolChoice,
    tools: echo.tools,
    top_p: echo.topP,
    truncation: 'disabled',
  };
  if (echo.user !== undefined) fields.user = echo.user;
  if (echo.safetyIdentifier !== undefined) fields.safety_identifier = echo.safetyIdentifier;
  fields.metadata = echo.metadata;
  return JSON.stringify(fields).slice(1, -1);
}

/** One Response object's JSON, in the field order OpenAI sends. */
export function responseJson(id: string, createdAt: number, model: string, echo: ResponseEcho, echoed: string, state: ResponseState): string {
  const head = {
    id,
    object: 'response',
    created_at: createdAt,
    status: state.status,
    background: false,
    error: null,
    incomplete_details: state.incomplete,
    instructions: echo.instructions,
    max_output_tokens: echo.maxOutputTokens,
    model,
  };
  return `${JSON.stringify(head).slice(0, -1)},"output":${state.outputJson},"usage":${JSON.stringify(state.usage)},${echoed}}`;
}

export function reasoningItem(id: string, text: string): Record<string, unknown> {
  return { id, type: 'reasoning', summary: text === '' ? [] : [{ type: 'summary_text', text }] };
}

export function outputText(text: string): Record<string, unknown> {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

export function messageItem(id: string, status: ResponseStatus, text: string | undefined): Record<string, unknown> {
  return { id, type: 'message', status, role: 'assistant', content: text === undefined ? [] : [outputText(text)] };
}

/** A function call under the client's names: a namespaced function's own name, with its `namespace`. */
export function functionCallItem(id: string, status: ResponseStatus, callId: string, tool: ToolName, args: string): Record<string, unknown> {
  const item: Record<string, unknown> = { id, type: 'function_call', status, arguments: args, call_id: callId, name: tool.name };
  if (tool.namespace !== undefined) item.namespace = tool.namespace;
  return item;
}

/** A whole `chat.completion` as a Response object. Throws ChatShapeError for a body that is not one. */
export function toResponse(
  chatJson: string,
  model: string,
  echo: ResponseEcho,
  echoed: string,
  remember: (items: readonly unknown[]) => void,
  toolNames: ToolNames,
): { readonly json: string; readonly usage: Usage | undefined } {
  const completion = readCompletion(chatJson);
  const ids = new ResponseIds();
  const { status, incomplete } = statusOf(completion.finish);
  const output: unknown[] = [];
  // The reasoning as a summary: the AI SDK reads a reasoning item's summary only (not its content).
  if (completion.reasoning !== '') output.push(reasoningItem(ids.item('rs', output.length), completion.reasoning));
  // A message even when empty if nothing else came back, so that output is never empty.
  if (completion.content !== '' || (completion.toolCalls.length === 0 && output.length === 0)) {
    output.push(messageItem(ids.item('msg', output.length), status, completion.content));
  }
  for (const call of completion.toolCalls) {
    output.push(functionCallItem(ids.item('fc', output.length), status, signedId(call), toolNames.unflatten(call.name), call.arguments));
  }
  const state: ResponseState = { status, incomplete, outputJson: JSON.stringify(output), usage: responseUsage(completion.usage) };
  remember(output);
  return { json: responseJson(ids.response, nowSeconds(), model, echo, echoed, state), usage: gatewayUsage(completion.usage) };
}
