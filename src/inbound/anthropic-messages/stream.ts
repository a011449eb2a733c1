// A streamed chat completion, one chunk at a time, as the Messages API's event stream.
// Sources: https://platform.claude.com/docs/en/build-with-claude/streaming (message_start with empty
// content, then per block content_block_start / content_block_delta / content_block_stop, one block
// at a time, indexed in order; message_delta with the stop reason and cumulative usage;
// message_stop; `event: error`), and the installed SDK's MessageStream (lib/MessageStream.js), which
// accumulates exactly these events: text_delta, thinking_delta and input_json_delta; a thinking
// block needs no signature_delta (its signature stays the '' of its start, as answer.ts writes it).
// Choices where the APIs differ:
// - tool calls: the first one streams its arguments as they come, in a block that stays open until
//   the finish, because a chat stream may go back to any call (interleaved parallel calls carry
//   their `index`); every later call is held and sent whole, one block each, at the finish, as is
//   text or reasoning that comes after a tool call began. A sequential stream (the common case)
//   loses only the streaming of the second and later calls' arguments; an interleaved one stays
//   correct;
// - the streamed call's arguments are held until their first character shows a JSON object; any
//   other text goes out whole at the end, wrapped as answer.ts wraps it. Arguments that start as
//   an object and break later cannot be taken back once sent;
// - a `[DONE]` without a finish reason is the end of a complete answer (`end_turn`, or `tool_use`
//   after tool calls); a stream that stops without either is interrupted.
import type { OpenAIErrorBody } from '../../errors.js';
import { redactSecrets, type Redactor } from '../../redact.js';
import { typeForStatus } from '../../errors.js';
import type { Usage } from '../../stream.js';
import { BROKEN_STREAM_STATUS, type StreamTranslator, type UpstreamEvent } from '../../translate/stream-contract.js';
import {
  ChatShapeError,
  DONE,
  gatewayUsage,
  HeldText,
  InboundStreamState,
  namedEvent,
  ToolCallTracker,
  type ChatUsage,
  type ChunkView,
  type FinishReason,
  type ToolCallDelta,
} from '../chat.js';
import { anthropicUsage, inputJson, messageId, stopReason, toolUseId } from './answer.js';
import { errorEvent } from './errors.js';

interface ToolCallState {
  id: string | undefined;
  name: string | undefined;
  /** Google's thought signature, carried in the tool_use id (../signatures.ts): known by the block's start, as Google sends each call whole. */
  signature: string | undefined;
  /** Arguments not yet sent. */
  readonly args: HeldText;
}

/**
 * How a tool block's arguments go out: the streamed call's are held until their first character
 * is seen, then streamed (a JSON object) or held whole (anything else, wrapped at the block's
 * end); a held call's go out whole at its end.
 */
type ArgumentsMode = 'unseen' | 'streaming' | 'whole';

type TextKind = 'text' | 'thinking';

type OpenBlock = { readonly kind: TextKind } | { readonly kind: 'tool'; readonly call: ToolCallState; mode: ArgumentsMode };

/** Text and thinking blocks: each one's start, and its deltas' JSON up to the text. */
const TEXT_BLOCKS: Readonly<Record<TextKind, { readonly start: string; readonly delta: string }>> = {
  text: { start: '{"type":"text","text":""}', delta: '{"type":"text_delta","text":' },
  thinking: { start: '{"type":"thinking","thinking":"","signature":""}', delta: '{"type":"thinking_delta","thinking":' },
};
const MESSAGE_STOP = namedEvent('message_stop', '{"type":"message_stop"}');
/** The first non-white-space character of a JSON text. */
const FIRST_CHARACTER = /\S/;


export class MessagesStreamTranslator extends InboundStreamState implements StreamTranslator {
  private started = false;
  private ended = false;
  private lastUsage: ChatUsage | undefined;
  private upstreamId: string | undefined;
  private finish: FinishReason | undefined;
  /** The open (or next) block's index. */
  private index = 0;
  private open: OpenBlock | undefined;
  private readonly tracker = new ToolCallTracker();
  /** Every tool call by position; the first may be streaming (`streamed`), the others are held. */
  private readonly calls: ToolCallState[] = [];
  private streamed = false;
  /** Text and reasoning that came while the streamed call's block was open. */
  private readonly held: Record<TextKind, HeldText> = { text: new HeldText(), thinking: new HeldText() };

  constructor(
    private readonly model: string,
    /** Some of the answer is held and sent whole at the end, within this bound. */
    maxAnswerBytes: number,
    redact: Redactor = redactSecrets,
  ) {
    super(maxAnswerBytes, redact);
  }

  get usage(): Usage | undefined {
    return gatewayUsage(this.lastUsage);
  }

  push(event: UpstreamEvent): string {
    if (this.ended || this.reported !== undefined) return '';
    const data = event.data;
    if (data === DONE) return this.complete();
    if (data.trim() === '') return '';
    try {
      return this.translate(this.read(event));
    } catch (error) {
      // A chunk that is not one, or an answer past the translator's bounds.
      if (!(error instanceof ChatShapeError)) throw error;
      return this.fail(BROKEN_STREAM_STATUS, `The provider's stream could not be read: ${error.message}`, 'upstream_unreadable');
    }
  }

  private translate(chunk: ChunkView): string {
    if (chunk.usage !== undefined) this.lastUsage = chunk.usage;
    if (chunk.error !== undefined) return this.failWith(chunk.error.status, chunk.error.body);
    // What comes after the finish (a usage chunk, another choice's deltas) adds nothing to the message.
    if (this.finish !== undefined) return '';
    this.upstreamId ??= chunk.id;
    let out = '';
    if (chunk.reasoning !== '') out += this.text('thinking', chunk.reasoning);
    if (chunk.content !== '') out += this.text('text', chunk.content);
    for (const call of chunk.toolCalls) out += this.toolCall(call);
    if (chunk.finish !== undefined) out += this.finishContent(chunk.finish);
    return out;
  }

  end(): string {
    if (this.ended || this.reported !== undefined) return '';
    // A finish is a complete answer even when the host's [DONE] never came.
    if (this.finish !== undefined) return this.complete();
    return this.fail(BROKEN_STREAM_STATUS, 'The provider ended the stream before the answer was complete', 'stream_interrupted');
  }

  private fail(status: number, message: string, code: string): string {
    return this.failWith(status, { message, type: typeForStatus(status), code, param: null });
  }

  /** Records the failure; its error event only if the client has been sent something, else the attempt answers it. */
  private failWith(status: number, given: OpenAIErrorBody): string {
    const error = this.report(status, given);
    return this.started ? errorEvent(status, error) : '';
  }

  /** message_start, before the first thing sent. */
  private head(): string {
    if (this.started) return '';
    this.started = true;
    const usage = anthropicUsage(this.lastUsage);
    usage.output_tokens = 0;
    const message = {
      id: messageId(this.upstreamId),
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage,
    };
    return namedEvent('message_start', JSON.stringify({ type: 'message_start', message }));
  }

  private startBlock(block: OpenBlock, startJson: string): string {
    const out = this.head() + this.closeBlock();
    this.open = block;
    return out + namedEvent('content_block_start', `{"type":"content_block_start","index":${this.index},"content_block":${startJson}}`);
  }

  private delta(deltaJson: string): string {
    return namedEvent('content_block_delta', `{"type":"content_block_delta","index":${this.index},"delta":${deltaJson}}`);
  }

  private closeBlock(): string {
    const open = this.open;
    if (open === undefined) return '';
    // Arguments held whole (they never showed a JSON object) go out as one fragment.
    let out = open.kind === 'tool' && open.mode !== 'streaming' ? this.inputDelta(inputJson(open.call.args.toString())) : '';
    this.open = undefined;
    out += namedEvent('content_block_stop', `{"type":"content_block_stop","index":${this.index}}`);
    this.index++;
    return out;
  }

  private inputDelta(json: string): string {
    return json === '' ? '' : this.delta(`{"type":"input_json_delta","partial_json":${JSON.stringify(json)}}`);
  }

  /** Text or reasoning: a delta of the open block of its kind, else a new block; held while a tool block is open. */
  private text(kind: TextKind, piece: string): string {
    if (this.open?.kind === 'tool') {
      this.held[kind].append(piece);
      return '';
    }
    const start = this.open?.kind === kind ? '' : this.startBlock({ kind }, TEXT_BLOCKS[kind].start);
    return start + this.delta(`${TEXT_BLOCKS[kind].delta}${JSON.stringify(piece)}}`);
  }

  private toolCall(delta: ToolCallDelta): string {
    const { position, opens } = this.tracker.place(delta);
    if (opens) this.calls.push({ id: delta.id, name: delta.name, signature: delta.signature, args: new HeldText() });
    const call = this.calls[position]!;
    call.id ??= delta.id;
    call.name ??= delta.name;
    call.signature ??= delta.signature;
    call.args.append(delta.arguments);
    if (position !== 0) return '';
    if (this.streamed) return this.streamArguments(delta.arguments);
    // The first call streams once its name is known (the block's start carries it).
    if (call.name === undefined) return '';
    this.streamed = true;
    return this.startToolBlock(call, 'unseen') + this.streamArguments(call.args.toString());
  }

  private startToolBlock(call: ToolCallState, mode: ArgumentsMode): string {
    const start = `{"type":"tool_use","id":${JSON.stringify(toolUseId(call.id, call.signature))},"name":${JSON.stringify(call.name ?? '')},"input":{}}`;
    return this.startBlock({ kind: 'tool', call, mode }, start);
  }

  /**
   * The streamed call's arguments not yet sent, once they are seen to be a JSON object. `fresh`
   * is what came since the last look: everything before it was white space, so only it is searched.
   */
  private streamArguments(fresh: string): string {
    const open = this.open;
    if (open?.kind !== 'tool' || open.mode === 'whole') return '';
    if (open.mode === 'unseen') {
      const first = FIRST_CHARACTER.exec(fresh);
      if (first === null) return '';
      open.mode = first[0] === '{' ? 'streaming' : 'whole';
      if (open.mode === 'whole') return '';
    }
    const out = this.inputDelta(open.call.args.toString());
    open.call.args.clear();
    return out;
  }

  /** The finish: every block closed, and what was held sent, each a whole block. */
  private finishContent(finish: FinishReason): string {
    this.finish = finish;
    let out = this.head() + this.closeBlock();
    for (const kind of ['thinking', 'text'] as const) {
      const held = this.held[kind];
      if (held.length === 0) continue;
      const text = held.toString();
      held.clear();
      out += this.text(kind, text);
    }
    // Held calls: their arguments whole, as one fragment.
    for (let i = this.streamed ? 1 : 0; i < this.calls.length; i++) out += this.startToolBlock(this.calls[i]!, 'whole');
    return out + this.closeBlock();
  }

  /** message_delta and message_stop: the answer is complete. */
  private complete(): string {
    let out = this.finish === undefined ? this.finishContent('stop') : '';
    this.ended = true;
    const usage = anthropicUsage(this.lastUsage);
    const delta = { stop_reason: stopReason(this.finish!, this.calls.length > 0), stop_sequence: null };
    out += namedEvent('message_delta', JSON.stringify({ type: 'message_delta', delta, usage }));
    return out + MESSAGE_STOP;
  }
}
