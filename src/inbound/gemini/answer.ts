// A chat completion as a GenerateContentResponse (https://ai.google.dev/api/generate-content#generatecontentresponse):
// one candidate whose parts are the reasoning (as `thought: true` text, only when the request set
// thinkingConfig.includeThoughts, as Google answers), the text, and each tool call as a
// functionCall with its arguments as an object and the chat call's id (echoed back in the next
// request's functionResponse.id, which then names the call without guessing).
// Google ends a turn of function calls with finishReason STOP, as any other complete answer.
import type { Usage } from '../../stream.js';
import { gatewayUsage, readCompletion, type ChatUsage, type FinishReason, type ToolCall } from '../chat.js';
import { isRecord } from '../../translate/json.js';
import type { Json } from './fields.js';
import { INVALID_JSON_KEY } from './request.js';

const FINISH_REASONS: Readonly<Record<FinishReason, string>> = {
  stop: 'STOP',
  tool_calls: 'STOP',
  length: 'MAX_TOKENS',
  content_filter: 'SAFETY',
  other: 'OTHER',
};

export function finishReason(finish: FinishReason): string {
  return FINISH_REASONS[finish];
}

/** Chat usage as usageMetadata: Google counts thoughts apart from the candidates' tokens. */
export function usageMetadata(usage: ChatUsage | undefined): Json {
  const prompt = usage?.promptTokens ?? 0;
  const completion = usage?.completionTokens ?? 0;
  const thoughts = Math.min(usage?.reasoningTokens ?? 0, completion);
  const metadata: Json = { promptTokenCount: prompt, candidatesTokenCount: completion - thoughts, totalTokenCount: prompt + completion };
  if (thoughts > 0) metadata.thoughtsTokenCount = thoughts;
  if ((usage?.cachedTokens ?? 0) > 0) metadata.cachedContentTokenCount = usage!.cachedTokens;
  return metadata;
}


/** Arguments as the functionCall's `args` object; text that is not a JSON object is wrapped (request.ts unwraps it). */
export function argsObject(args: string): Json {
  if (args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    if (isRecord(parsed)) return parsed;
  } catch {
    // Not JSON: wrapped below.
  }
  return { [INVALID_JSON_KEY]: args };
}

/** A tool call as a part; its thought signature (Google's, through its OpenAI-compatible endpoint) beside the call, where Google puts it. */
export function functionCallPart(call: ToolCall): Json {
  const part: Json = { functionCall: { id: call.id, name: call.name, args: argsObject(call.arguments) } };
  if (call.signature !== undefined) part.thoughtSignature = call.signature;
  return part;
}

/** responseId: the provider's id, else one of the gateway's. */
export function responseId(id: string | undefined): string {
  return id ?? `gw-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** One GenerateContentResponse with its candidate's parts (and, at the end, the finish and usage). */
export function responseJson(parts: Json[], model: string, id: string, finish?: string, usage?: Json): string {
  const candidate: Json = { content: { parts, role: 'model' } };
  if (finish !== undefined) candidate.finishReason = finish;
  candidate.index = 0;
  const response: Json = { candidates: [candidate] };
  if (usage !== undefined) response.usageMetadata = usage;
  response.modelVersion = model;
  response.responseId = id;
  return JSON.stringify(response);
}

/** A `chat.completion` JSON text as a GenerateContentResponse JSON text. Throws ChatShapeError for a body that is not one. */
export function translateAnswer(chatJson: string, model: string, includeThoughts: boolean): { json: string; usage: Usage | undefined } {
  const completion = readCompletion(chatJson);
  const parts: Json[] = [];
  if (includeThoughts && completion.reasoning !== '') parts.push({ text: completion.reasoning, thought: true });
  if (completion.content !== '' || completion.toolCalls.length === 0) parts.push({ text: completion.content });
  for (const call of completion.toolCalls) parts.push(functionCallPart(call));
  const json = responseJson(parts, model, responseId(completion.id), finishReason(completion.finish), usageMetadata(completion.usage));
  return { json, usage: gatewayUsage(completion.usage) };
}
