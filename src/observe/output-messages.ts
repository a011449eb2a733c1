// A whole answer's content as the GenAI conventions' gen_ai.output.messages: one message per
// choice or candidate, `{role, parts, finish_reason}`, its parts text (`{type:"text", content}`)
// and tool calls (`{type:"tool_call", id, name, arguments}`), read from the provider's body in its
// own dialect (FactsDialect.name). Only for content capture, which the operator opts into.
// Source: open-telemetry/semantic-conventions docs/gen-ai/gen-ai-output-messages.json.

type Part = { type: 'text'; content: string } | { type: 'tool_call'; id: string | undefined; name: string; arguments: unknown };

export interface OutputMessage {
  role: string;
  parts: Part[];
  finish_reason: string;
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Tool arguments as the convention shows them: the object when the provider sent JSON text of one. */
function argumentsOf(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** The output messages of a whole answer, or undefined for a body not of its dialect's shape. */
export function outputMessages(dialect: string, body: string): OutputMessage[] | undefined {
  let answer: unknown;
  try {
    answer = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isRecord(answer)) return undefined;
  switch (dialect) {
    case 'chat':
      return list(answer.choices).filter(isRecord).map(chatMessage);
    case 'anthropic':
      return [{ role: 'assistant', parts: blocks(answer.content), finish_reason: text(answer.stop_reason) ?? '' }];
    case 'bedrock': {
      const message = isRecord(answer.output) && isRecord(answer.output.message) ? answer.output.message : {};
      return [{ role: 'assistant', parts: blocks(message.content), finish_reason: text(answer.stopReason) ?? '' }];
    }
    case 'gemini':
      return list(answer.candidates).filter(isRecord).map(geminiMessage);
    case 'responses':
      return [responsesMessage(answer)];
    default:
      return undefined;
  }
}

function chatMessage(choice: Json): OutputMessage {
  const message = isRecord(choice.message) ? choice.message : {};
  const parts: Part[] = [];
  const content = message.content;
  if (typeof content === 'string' && content !== '') parts.push({ type: 'text', content });
  for (const piece of list(content)) if (isRecord(piece) && typeof piece.text === 'string') parts.push({ type: 'text', content: piece.text });
  for (const call of list(message.tool_calls)) {
    if (!isRecord(call)) continue;
    const fn = isRecord(call.function) ? call.function : {};
    parts.push({ type: 'tool_call', id: text(call.id), name: text(fn.name) ?? '', arguments: argumentsOf(fn.arguments) });
  }
  return { role: text(message.role) ?? 'assistant', parts, finish_reason: text(choice.finish_reason) ?? '' };
}

/** Anthropic's content blocks and Bedrock's (`{text}`, `{toolUse}`). */
function blocks(content: unknown): Part[] {
  const parts: Part[] = [];
  for (const block of list(content)) {
    if (!isRecord(block)) continue;
    if (typeof block.text === 'string') parts.push({ type: 'text', content: block.text });
    else if (block.type === 'tool_use') parts.push({ type: 'tool_call', id: text(block.id), name: text(block.name) ?? '', arguments: block.input });
    else if (isRecord(block.toolUse)) parts.push({ type: 'tool_call', id: text(block.toolUse.toolUseId), name: text(block.toolUse.name) ?? '', arguments: block.toolUse.input });
  }
  return parts;
}

function geminiMessage(candidate: Json): OutputMessage {
  const content = isRecord(candidate.content) ? candidate.content : {};
  const parts: Part[] = [];
  for (const part of list(content.parts)) {
    if (!isRecord(part) || part.thought === true) continue;
    if (typeof part.text === 'string') parts.push({ type: 'text', content: part.text });
    else if (isRecord(part.functionCall)) parts.push({ type: 'tool_call', id: text(part.functionCall.id), name: text(part.functionCall.name) ?? '', arguments: part.functionCall.args });
  }
  return { role: 'assistant', parts, finish_reason: text(candidate.finishReason) ?? '' };
}

function responsesMessage(answer: Json): OutputMessage {
  const parts: Part[] = [];
  for (const item of list(answer.output)) {
    if (!isRecord(item)) continue;
    if (item.type === 'message') {
      for (const piece of list(item.content)) if (isRecord(piece) && typeof piece.text === 'string') parts.push({ type: 'text', content: piece.text });
    } else if (item.type === 'function_call') parts.push({ type: 'tool_call', id: text(item.call_id), name: text(item.name) ?? '', arguments: argumentsOf(item.arguments) });
  }
  return { role: 'assistant', parts, finish_reason: text(answer.status) ?? '' };
}
