// A ConverseStream answer, one event-stream frame at a time, as OpenAI `chat.completion.chunk` events.
// Sources: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html and
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html (the
// events messageStart, contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata,
// and the exceptions a stream can carry), API_runtime_ContentBlockDeltaEvent.html (text, toolUse
// input fragments, reasoningContent), API_runtime_ConverseStreamMetadataEvent.html (usage, sent
// after messageStop).
// The frames are decoded by the core (@smithy/eventstream-codec); each comes here as its
// `:event-type` (or `:exception-type`) and its JSON payload, or as an error frame's `:error-code`
// and `:error-message`.
// What a stream may leave out, read as the Vercel AI SDK reads it (packages/amazon-bedrock, its
// doStream): `messageStart` (its one field, the role, is always assistant), the order of
// `messageStop` and `metadata`, and `contentBlockStop` (messageStop ends every block still open).
// Known pitfalls of other translators avoided here: text blocks get no contentBlockStart, so a text
// delta opens its block; streamed tool input arrives in fragments after the start that names the
// tool (crewAIInc/crewAI#6152), and a tool without input gets "{}"; a delta of a shape not known
// is ignored rather than failing the stream (wandb/weave#7215); exception and error frames fail the
// stream rather than being skipped.
import { redactSecrets, type Redactor } from '../../redact.js';
import type { Usage } from '../../stream.js';
import { translatedError } from '../../translate/errors.js';
import { isRecord } from '../../translate/json.js';
import { BROKEN_STREAM_STATUS, type StreamTranslator, type TranslatedError, type UpstreamEvent } from '../../translate/stream-contract.js';
import { TranslatorState } from '../../translate/stream-state.js';
import { gatewayUsage, openAIUsageJson } from '../../translate/usage.js';
import { completionId, finishReason, readUsage } from './answer.js';
import { streamErrorFrame, streamException } from './errors.js';

type Delta =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'toolInput'; readonly input: string }
  | { readonly type: 'reasoning'; readonly text: string }
  /** Reasoning signatures, redacted reasoning, citations and delta shapes added later. */
  | { readonly type: 'other' };

type ConverseEvent =
  | { readonly type: 'messageStart' }
  | { readonly type: 'contentBlockStart'; readonly index: number; readonly tool: { readonly id: string; readonly name: string } | undefined }
  | { readonly type: 'contentBlockDelta'; readonly index: number; readonly delta: Delta }
  | { readonly type: 'contentBlockStop'; readonly index: number }
  | { readonly type: 'messageStop'; readonly stopReason: string | null }
  | { readonly type: 'metadata'; readonly usage: unknown }
  | { readonly type: 'exception'; readonly failure: TranslatedError }
  /** An event type added after this was written: ignored. */
  | { readonly type: 'unknown' };

/** The exception types a ConverseStream documents (`:exception-type`). */
const EXCEPTIONS = new Set([
  'internalServerException',
  'modelStreamErrorException',
  'serviceUnavailableException',
  'throttlingException',
  'validationException',
]);

/** Malformed data for a known event: the stream cannot be translated further. */
class EventShapeError extends Error {}

function blockIndex(event: string, data: Record<string, unknown>): number {
  if (typeof data.contentBlockIndex !== 'number') throw new EventShapeError(`${event} without a contentBlockIndex`);
  return data.contentBlockIndex;
}

function delta(raw: unknown): Delta {
  if (!isRecord(raw)) throw new EventShapeError('contentBlockDelta without a delta');
  if (typeof raw.text === 'string') return { type: 'text', text: raw.text };
  if (isRecord(raw.toolUse) && typeof raw.toolUse.input === 'string') return { type: 'toolInput', input: raw.toolUse.input };
  if (isRecord(raw.reasoningContent) && typeof raw.reasoningContent.text === 'string') {
    return { type: 'reasoning', text: raw.reasoningContent.text };
  }
  return { type: 'other' };
}

/** One frame, checked for what the translation reads of it. Throws EventShapeError. */
function parseEvent(upstream: UpstreamEvent): ConverseEvent {
  if (upstream.kind === 'error') return { type: 'exception', failure: streamErrorFrame(upstream.event, upstream.data) };
  if (upstream.kind === 'exception' || EXCEPTIONS.has(upstream.event)) {
    return { type: 'exception', failure: streamException(upstream.event, upstream.data) };
  }
  let data: unknown;
  try {
    data = JSON.parse(upstream.data);
  } catch {
    throw new EventShapeError(`a ${upstream.event} event whose payload is not JSON`);
  }
  if (!isRecord(data)) throw new EventShapeError(`a ${upstream.event} event whose payload is not an object`);
  switch (upstream.event) {
    case 'messageStart':
      return { type: 'messageStart' };
    case 'contentBlockStart': {
      const start = data.start;
      const use = isRecord(start) ? start.toolUse : undefined;
      if (use !== undefined && (!isRecord(use) || typeof use.toolUseId !== 'string' || typeof use.name !== 'string')) {
        throw new EventShapeError('a toolUse start without toolUseId or name');
      }
      const tool = isRecord(use) ? { id: use.toolUseId as string, name: use.name as string } : undefined;
      return { type: 'contentBlockStart', index: blockIndex(upstream.event, data), tool };
    }
    case 'contentBlockDelta':
      return { type: 'contentBlockDelta', index: blockIndex(upstream.event, data), delta: delta(data.delta) };
    case 'contentBlockStop':
      return { type: 'contentBlockStop', index: blockIndex(upstream.event, data) };
    case 'messageStop':
      return { type: 'messageStop', stopReason: typeof data.stopReason === 'string' ? data.stopReason : null };
    case 'metadata':
      return { type: 'metadata', usage: data.usage };
    default:
      // An unknown exception type still fails the stream: its name says it is one.
      if (upstream.event.endsWith('Exception')) return { type: 'exception', failure: streamException(upstream.event, upstream.data) };
      return { type: 'unknown' };
  }
}

/** What an open content block becomes. */
type OpenBlock =
  | { readonly kind: 'text' }
  /** A tool call: its OpenAI index, and whether any input fragment was sent. */
  | { readonly kind: 'tool'; readonly index: number; sentInput: boolean }
  /** JSON mode's forced tool: its input is the answer's text. */
  | { readonly kind: 'json'; sentInput: boolean }
  | { readonly kind: 'other' };

export interface StreamOptions {
  /** The request's model: Converse streams do not name it. */
  readonly model: string;
  /** `stream_options.include_usage`: a usage chunk before [DONE]. */
  readonly includeUsage: boolean;
  /** The forced tool standing for response_format, if any. */
  readonly jsonTool?: string;
}

/**
 * Converse sends usage in `metadata`, after `messageStop`: the finish chunk, the usage chunk and
 * [DONE] go out at `metadata`. A stream that ends after messageStop without metadata is complete
 * but for its counts: end() sends the finish chunk and [DONE] without a usage chunk (usage is
 * optional to OpenAI clients, and zeros would be wrong).
 */
export class BedrockStreamTranslator extends TranslatorState implements StreamTranslator {
  private stopped = false;
  private hasUsage = false;
  private readonly blocks = new Map<number, OpenBlock>();

  constructor(
    private readonly options: StreamOptions,
    redact: Redactor = redactSecrets,
  ) {
    super(redact);
    // Converse streams name neither an id nor a model, and messageStart may not come.
    this.writer.begin(completionId(), options.model);
  }

  get usage(): Usage | undefined {
    return this.hasUsage ? gatewayUsage(this.tokens) : undefined;
  }

  push(upstream: UpstreamEvent): string {
    if (this.finished || this.reported) return '';
    const refused = this.tooManyOpen(this.blocks.size, 'Bedrock');
    if (refused !== undefined) return refused;
    let event: ConverseEvent;
    try {
      event = parseEvent(upstream);
    } catch (error) {
      if (!(error instanceof EventShapeError)) throw error;
      return this.fail(translatedError(BROKEN_STREAM_STATUS, `Bedrock sent ${error.message}`, null));
    }
    switch (event.type) {
      case 'messageStart':
        return '';
      case 'contentBlockStart':
        return this.openBlock(event.index, event.tool);
      case 'contentBlockDelta':
        return this.blockDelta(event.index, event.delta);
      case 'contentBlockStop':
        return this.closeBlock(event.index);
      case 'messageStop':
        this.stopped = true;
        this.stopReason = event.stopReason;
        return this.hasUsage ? this.finish() : '';
      case 'metadata':
        readUsage(event.usage, this.tokens);
        this.hasUsage = true;
        return this.stopped ? this.finish() : '';
      case 'exception':
        return this.fail(event.failure);
      case 'unknown':
        return '';
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }

  end(): string {
    if (this.finished || this.reported) return '';
    if (this.stopped) return this.finish();
    return this.fail(translatedError(BROKEN_STREAM_STATUS, 'The Bedrock stream ended before its messageStop event', 'stream_interrupted'));
  }

  private openBlock(index: number, tool: { id: string; name: string } | undefined): string {
    if (!tool) {
      this.blocks.set(index, { kind: 'other' });
      return '';
    }
    if (tool.name === this.options.jsonTool) {
      this.blocks.set(index, { kind: 'json', sentInput: false });
      return '';
    }
    const toolIndex = this.toolCalls++;
    this.blocks.set(index, { kind: 'tool', index: toolIndex, sentInput: false });
    return this.writer.toolCall(toolIndex, tool.id, tool.name, '');
  }

  private blockDelta(index: number, delta: Delta): string {
    let block = this.blocks.get(index);
    switch (delta.type) {
      case 'text':
        // Text blocks have no contentBlockStart: the first delta opens one.
        if (block === undefined) this.blocks.set(index, (block = { kind: 'text' }));
        // In JSON mode the forced tool carries the answer; text beside it would break the JSON.
        return block.kind === 'text' && delta.text && this.options.jsonTool === undefined
          ? this.writer.chunk(`{"content":${JSON.stringify(delta.text)}}`)
          : '';
      case 'reasoning':
        return block?.kind !== 'tool' && block?.kind !== 'json' && delta.text ? this.writer.chunk(`{"reasoning_content":${JSON.stringify(delta.text)}}`) : '';
      case 'toolInput': {
        // A fragment with no open tool block has nothing to attach to.
        if ((block?.kind !== 'tool' && block?.kind !== 'json') || delta.input === '') return '';
        block.sentInput = true;
        if (block.kind === 'json') return this.writer.chunk(`{"content":${JSON.stringify(delta.input)}}`);
        return this.writer.toolArguments(block.index, delta.input);
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
    if (block?.kind === 'json' && !block.sentInput) return this.writer.chunk('{"content":"{}"}');
    return '';
  }

  private finish(): string {
    // Blocks never closed by contentBlockStop end here, so a tool call without input still gets "{}".
    let closing = '';
    for (const index of this.blocks.keys()) closing += this.closeBlock(index);
    this.finished = true;
    const finish = finishReason(this.stopReason, this.toolCalls > 0);
    const usageJson = this.options.includeUsage && this.hasUsage ? openAIUsageJson(this.tokens) : undefined;
    return closing + this.writer.finish(finish, usageJson);
  }
}
