// Anthropic's streamed message, one SSE event at a time, as OpenAI `chat.completion.chunk` events.
// Sources: https://platform.claude.com/docs/en/build-with-claude/streaming (the event flow:
// message_start, content_block_start/delta/stop, message_delta with cumulative usage, message_stop,
// ping, error; new event and delta types may appear and are to be ignored),
// https://platform.openai.com/docs/api-reference/chat-streaming (the chunk object; the usage chunk
// with empty choices before [DONE] when stream_options.include_usage is set).
// Shaped like the Vercel AI SDK's doStream (packages/anthropic/src/anthropic-language-model.ts):
// a discriminated union, one switch with a never check, state in a few fields.
// Known pitfalls of other translators avoided here: a tool call's OpenAI index counts tool blocks,
// not content blocks (BerriAI/litellm#5231); a tool without input streams no fragment or only "",
// and gets "{}" (BerriAI/litellm#5064); input and cache tokens come from message_start and are
// replaced, never summed, by message_delta's cumulative counts.
import { redactSecrets, type Redactor } from '../../redact.js';
import type { Usage } from '../../stream.js';
import { translatedError } from '../../translate/errors.js';
import { isRecord } from '../../translate/json.js';
import { BROKEN_STREAM_STATUS, type StreamTranslator, type UpstreamEvent } from '../../translate/stream-contract.js';
import { TranslatorState } from '../../translate/stream-state.js';
import { gatewayUsage, openAIUsageJson } from '../../translate/usage.js';
import { calledByCode, finishReason, readUsage } from './answer.js';
import { streamError } from './errors.js';

type ContentBlock =
  | { readonly type: 'text' }
  | { readonly type: 'thinking' }
  | { readonly type: 'tool_use'; readonly id: string; readonly name: string; readonly input: unknown }
  /** Server tools, what code execution called, redacted thinking, and block types added after this was written: not sent on. */
  | { readonly type: 'other' };

type Delta =
  | { readonly type: 'text_delta'; readonly text: string }
  | { readonly type: 'thinking_delta'; readonly thinking: string }
  | { readonly type: 'input_json_delta'; readonly partial_json: string }
  /** signature_delta, citations_delta and delta types added later. */
  | { readonly type: 'other' };

type AnthropicEvent =
  | { readonly type: 'message_start'; readonly id: string; readonly model: string; readonly usage: unknown }
  | { readonly type: 'content_block_start'; readonly index: number; readonly block: ContentBlock }
  | { readonly type: 'content_block_delta'; readonly index: number; readonly delta: Delta }
  | { readonly type: 'content_block_stop'; readonly index: number }
  | { readonly type: 'message_delta'; readonly stopReason: string | null; readonly usage: unknown }
  | { readonly type: 'message_stop' }
  | { readonly type: 'ping' }
  | { readonly type: 'error'; readonly data: unknown }
  /** An event type added after this was written (the API may add them): ignored. */
  | { readonly type: 'unknown' };

/** Malformed data for a known event: the stream cannot be translated further. */
class EventShapeError extends Error {}

function blockIndex(data: Record<string, unknown>): number {
  if (typeof data.index !== 'number') throw new EventShapeError(`${String(data.type)} without an index`);
  return data.index;
}

function contentBlock(raw: unknown): ContentBlock {
  if (!isRecord(raw)) throw new EventShapeError('content_block_start without a content_block');
  switch (raw.type) {
    case 'text':
      return { type: 'text' };
    case 'thinking':
      return { type: 'thinking' };
    case 'tool_use':
      if (typeof raw.id !== 'string' || typeof raw.name !== 'string') throw new EventShapeError('tool_use block without id or name');
      // Called by code execution, not by the model: no call for the client (see calledByCode).
      if (calledByCode(raw)) return { type: 'other' };
      return { type: 'tool_use', id: raw.id, name: raw.name, input: raw.input };
    default:
      return { type: 'other' };
  }
}

function delta(raw: unknown): Delta {
  if (!isRecord(raw)) throw new EventShapeError('content_block_delta without a delta');
  switch (raw.type) {
    case 'text_delta':
      if (typeof raw.text !== 'string') break;
      return { type: 'text_delta', text: raw.text };
    case 'thinking_delta':
      if (typeof raw.thinking !== 'string') break;
      return { type: 'thinking_delta', thinking: raw.thinking };
    case 'input_json_delta':
      if (typeof raw.partial_json !== 'string') break;
      return { type: 'input_json_delta', partial_json: raw.partial_json };
    default:
      return { type: 'other' };
  }
  throw new EventShapeError(`${String(raw.type)} without its text`);
}

/** One event's data, checked for what the translation reads of it. Throws EventShapeError. */
function parseEvent(data: string): AnthropicEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new EventShapeError('an event whose data is not JSON');
  }
  if (!isRecord(parsed)) throw new EventShapeError('an event whose data is not an object');
  switch (parsed.type) {
    case 'message_start': {
      const message = parsed.message;
      if (!isRecord(message) || typeof message.id !== 'string') throw new EventShapeError('message_start without a message id');
      return { type: 'message_start', id: message.id, model: typeof message.model === 'string' ? message.model : '', usage: message.usage };
    }
    case 'content_block_start':
      return { type: 'content_block_start', index: blockIndex(parsed), block: contentBlock(parsed.content_block) };
    case 'content_block_delta':
      return { type: 'content_block_delta', index: blockIndex(parsed), delta: delta(parsed.delta) };
    case 'content_block_stop':
      return { type: 'content_block_stop', index: blockIndex(parsed) };
    case 'message_delta': {
      const stopReason = isRecord(parsed.delta) && typeof parsed.delta.stop_reason === 'string' ? parsed.delta.stop_reason : null;
      return { type: 'message_delta', stopReason, usage: parsed.usage };
    }
    case 'message_stop':
      return { type: 'message_stop' };
    case 'ping':
      return { type: 'ping' };
    case 'error':
      return { type: 'error', data: parsed };
    default:
      return { type: 'unknown' };
  }
}

/** What an open content block becomes. */
type OpenBlock =
  | { readonly kind: 'text' }
  | { readonly kind: 'thinking' }
  /** A client tool call: its OpenAI index, and whether any input fragment was sent. */
  | { readonly kind: 'tool'; readonly index: number; sentInput: boolean }
  /** The forced JSON tool: its input is the answer's content. */
  | { readonly kind: 'json'; sentInput: boolean }
  | { readonly kind: 'skip' };

export interface StreamOptions {
  /** `stream_options.include_usage`: a usage chunk before [DONE]. */
  readonly includeUsage: boolean;
  /** The name of the forced tool that stands for `response_format`, if any. */
  readonly jsonTool: string | undefined;
}

export class AnthropicStreamTranslator extends TranslatorState implements StreamTranslator {
  private started = false;
  private messageId = '';
  private readonly blocks = new Map<number, OpenBlock>();

  constructor(
    private readonly options: StreamOptions,
    redact: Redactor = redactSecrets,
  ) {
    super(redact);
  }

  get usage(): Usage | undefined {
    return this.started ? gatewayUsage(this.tokens) : undefined;
  }

  push(upstream: UpstreamEvent): string {
    if (this.finished || this.reported) return '';
    const refused = this.tooManyOpen(this.blocks.size, 'Anthropic');
    if (refused !== undefined) return refused;
    let event: AnthropicEvent;
    try {
      event = parseEvent(upstream.data);
    } catch (error) {
      if (!(error instanceof EventShapeError)) throw error;
      return this.fail(translatedError(BROKEN_STREAM_STATUS, `Anthropic sent ${error.message}`, null));
    }
    if (!this.started && event.type !== 'message_start' && event.type !== 'ping' && event.type !== 'error' && event.type !== 'unknown') {
      return this.fail(translatedError(BROKEN_STREAM_STATUS, `Anthropic sent ${event.type} before message_start`, null));
    }
    switch (event.type) {
      case 'message_start':
        return this.start(event.id, event.model, event.usage);
      case 'content_block_start':
        return this.openBlock(event.index, event.block);
      case 'content_block_delta':
        return this.blockDelta(event.index, event.delta);
      case 'content_block_stop':
        return this.closeBlock(event.index);
      case 'message_delta':
        if (event.stopReason !== null) this.stopReason = event.stopReason;
        readUsage(event.usage, this.tokens);
        return '';
      case 'message_stop':
        return this.stop();
      case 'ping':
      case 'unknown':
        return '';
      case 'error':
        return this.fail(streamError(event.data));
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }

  end(): string {
    if (this.finished || this.reported) return '';
    const message = 'The Anthropic stream ended before its message_stop event';
    return this.fail(translatedError(BROKEN_STREAM_STATUS, message, 'stream_interrupted'));
  }

  private start(id: string, model: string, usage: unknown): string {
    if (this.started) {
      // A repeated message_start for the same message is harmless; another message's is not.
      if (id === this.messageId) return '';
      return this.fail(translatedError(BROKEN_STREAM_STATUS, `Anthropic started message ${id} inside message ${this.messageId}`, null));
    }
    this.started = true;
    this.messageId = id;
    readUsage(usage, this.tokens);
    this.writer.begin(id, model);
    return '';
  }

  private chunk(deltaJson: string): string {
    return this.writer.chunk(deltaJson);
  }

  private openBlock(index: number, block: ContentBlock): string {
    switch (block.type) {
      case 'text':
        // In JSON mode the forced tool carries the answer; text beside it would break the JSON.
        this.blocks.set(index, { kind: this.options.jsonTool === undefined ? 'text' : 'skip' });
        return '';
      case 'thinking':
        this.blocks.set(index, { kind: 'thinking' });
        return '';
      case 'tool_use': {
        // Input arrives as fragments; one given whole at the start (deferred calls) is sent at once.
        const given = isRecord(block.input) && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : '';
        if (block.name === this.options.jsonTool) {
          this.blocks.set(index, { kind: 'json', sentInput: given !== '' });
          return given ? this.chunk(`{"content":${JSON.stringify(given)}}`) : '';
        }
        const toolIndex = this.toolCalls++;
        this.blocks.set(index, { kind: 'tool', index: toolIndex, sentInput: given !== '' });
        return this.writer.toolCall(toolIndex, block.id, block.name, given);
      }
      case 'other':
        this.blocks.set(index, { kind: 'skip' });
        return '';
      default: {
        const unreachable: never = block;
        return unreachable;
      }
    }
  }

  private blockDelta(index: number, delta: Delta): string {
    const block = this.blocks.get(index);
    // Anthropic starts every block before its deltas. A delta for a block never started (or
    // already stopped) cannot be placed; dropping it would lose part of the answer unseen.
    if (block === undefined) {
      return this.fail(translatedError(BROKEN_STREAM_STATUS, `Anthropic sent a content_block_delta for block ${index}, which is not open (no content_block_start before it)`, null));
    }
    switch (delta.type) {
      case 'text_delta':
        return block.kind === 'text' && delta.text ? this.chunk(`{"content":${JSON.stringify(delta.text)}}`) : '';
      case 'thinking_delta':
        return block.kind === 'thinking' && delta.thinking ? this.chunk(`{"reasoning_content":${JSON.stringify(delta.thinking)}}`) : '';
      case 'input_json_delta': {
        const fragment = delta.partial_json;
        if (fragment === '') return '';
        if (block.kind === 'json') {
          block.sentInput = true;
          return this.chunk(`{"content":${JSON.stringify(fragment)}}`);
        }
        if (block.kind !== 'tool') return '';
        block.sentInput = true;
        return this.writer.toolArguments(block.index, fragment);
      }
      case 'other':
        return '';
      default: {
        const unreachable: never = delta;
        return unreachable;
      }
    }
  }

  private closeBlock(index: number): string {
    const block = this.blocks.get(index);
    this.blocks.delete(index);
    if (block?.kind === 'tool' && !block.sentInput) {
      return this.writer.toolArguments(block.index, '{}');
    }
    if (block?.kind === 'json' && !block.sentInput) return this.chunk('{"content":"{}"}');
    return '';
  }

  private stop(): string {
    this.finished = true;
    const finish = finishReason(this.stopReason, this.toolCalls > 0);
    return this.writer.finish(finish, this.options.includeUsage ? openAIUsageJson(this.tokens) : undefined);
  }
}
