// The writer of a translated stream's OpenAI `chat.completion.chunk` events, whichever provider
// they come from: the Anthropic and Bedrock stream translators write through it.
// Source: https://platform.openai.com/docs/api-reference/chat-streaming (the chunk object; the usage
// chunk with empty choices before [DONE] when stream_options.include_usage is set).
import { nowSeconds, type FinishReason } from './chat-completion.js';

const DONE = 'data: [DONE]\n\n';
const CHUNK_END = ',"logprobs":null,"finish_reason":null}]}\n\n';

/**
 * Writes one stream's `chat.completion.chunk` events, whichever provider they come from. The role
 * chunk is held until the first chunk with content: until the client has been sent something, a
 * failure (an overloaded error right after the provider's first event) can still be retried.
 */
export class ChunkWriter {
  /** `data: {"id":…,"object":…,"created":…,"model":…,` — built once per stream. */
  private head = '';
  /** The head and `"choices":[{"index":0,"delta":`, which every delta follows. */
  private start = '';
  private pendingRole = '';

  begin(id: string, model: string): void {
    const identity = `"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${nowSeconds()},"model":${JSON.stringify(model)}`;
    this.head = `data: {${identity},`;
    this.start = `${this.head}"choices":[{"index":0,"delta":`;
    this.pendingRole = `${this.start}{"role":"assistant","content":""}${CHUNK_END}`;
  }

  /** A chunk whose delta is `deltaJson`, after the held role chunk if it is still held. */
  chunk(deltaJson: string): string {
    const role = this.pendingRole;
    this.pendingRole = '';
    return role + this.start + deltaJson + CHUNK_END;
  }

  /** A tool call's first chunk: its index, id, name and the arguments known at its start. */
  toolCall(index: number, id: string, name: string, args: string): string {
    const fn = `{"name":${JSON.stringify(name)},"arguments":${JSON.stringify(args)}}`;
    return this.chunk(`{"tool_calls":[{"index":${index},"id":${JSON.stringify(id)},"type":"function","function":${fn}}]}`);
  }

  /** A fragment of a tool call's arguments. */
  toolArguments(index: number, fragment: string): string {
    return this.chunk(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(fragment)}}}]}`);
  }

  /** The finish chunk, the usage chunk when `usageJson` is given, and [DONE]. */
  finish(finish: FinishReason, usageJson: string | undefined): string {
    let out = this.pendingRole + this.start + `{},"logprobs":null,"finish_reason":"${finish}"}]}\n\n`;
    this.pendingRole = '';
    if (usageJson !== undefined) out += `${this.head}"choices":[],"usage":${usageJson}}\n\n`;
    return out + DONE;
  }
}
