// A streamed chat completion, one chunk at a time, as the Responses API's typed events.
// Sources: https://platform.openai.com/docs/api-reference/responses-streaming (every event, and
// the order OpenAI sends them in: response.created, response.in_progress, then each output item's
// output_item.added, its parts and deltas, their done events and output_item.done, and last
// response.completed, or response.incomplete for an answer cut short), the `openai` SDK's
// ResponseAccumulator (it finds each delta's item by output_index and its part by content_index,
// so both must have been added first) and the Vercel AI SDK's openaiResponsesChunkSchema (fields it
// requires: item_id and output_index on deltas, a function call's call_id and name when it is
// added, response.created's id, created_at and model; it reads reasoning from summary events).
// Choices where the reference is silent, for streams OpenAI itself never sends:
// - Reasoning and message items are open one at a time, each closed when another item opens, as
//   OpenAI sends them; text after a tool call opens a new message item.
// - Function call items stay open until the finish: chat hosts may interleave the fragments of
//   parallel calls (by index), and each fragment goes to its own item by output_index. A call is
//   announced once its name is known; fragments before that are held.
import type { OpenAIErrorBody } from '../../errors.js';
import { redactSecrets, type Redactor } from '../../redact.js';
import type { Usage } from '../../stream.js';
import { BROKEN_STREAM_STATUS, type StreamTranslator, type UpstreamEvent } from '../../translate/stream-contract.js';
import { ChatShapeError, DONE, gatewayUsage, HeldText, InboundStreamState, namedEvent, ToolCallTracker, type ChatUsage, type ChunkView, type FinishReason, type ToolCallDelta } from '../chat.js';
import { signedId } from '../signatures.js';
import {
  functionCallItem,
  messageItem,
  nowSeconds,
  outputText,
  reasoningItem,
  responseJson,
  responseUsage,
  ResponseIds,
  statusOf,
  type ResponseState,
  type ResponseStatus,
} from './answer.js';
import { errorEvent } from './errors.js';
import type { ResponseEcho } from './request.js';
import type { ToolName, ToolNames } from './tool-names.js';

/**
 * Reasoning and message items one answer may open. A real answer has one of each, or a few around
 * its tool calls; each item is held with its ids and repeated in response.completed, so a provider
 * alternating one-character reasoning and text would otherwise hold a few hundred bytes per byte.
 */
export const MAX_TEXT_ITEMS = 1024;

interface ReasoningItem {
  readonly kind: 'reasoning';
  readonly index: number;
  readonly id: string;
  /** `"item_id":…,"output_index":…,"summary_index":0,`: what every event of the item starts with. */
  readonly locator: string;
  readonly text: HeldText;
  done: Closed | undefined;
}

/** A closed item: what the client may refer to later, and its JSON for response.completed. */
interface Closed {
  readonly item: Record<string, unknown>;
  readonly json: string;
}

interface MessageItem {
  readonly kind: 'message';
  readonly index: number;
  readonly id: string;
  /** `"item_id":…,"output_index":…,"content_index":0,` */
  readonly locator: string;
  readonly text: HeldText;
  done: Closed | undefined;
}

interface CallItem {
  readonly kind: 'call';
  readonly index: number;
  readonly id: string;
  /** `"item_id":…,"output_index":…,` */
  readonly locator: string;
  readonly callId: string;
  /** The client's names for the function: its own name, and its namespace if it has one. */
  readonly tool: ToolName;
  readonly args: HeldText;
  done: Closed | undefined;
}

type OutputItem = ReasoningItem | MessageItem | CallItem;

/** A tool call as its fragments arrive; `item` once it is announced (its name known). */
interface CallState {
  callId: string | undefined;
  name: string | undefined;
  /** Google's thought signature, carried in the call_id (../signatures.ts): known by the announcement, as Google sends each call whole. */
  signature: string | undefined;
  /** Argument fragments that came before the name. */
  readonly held: HeldText;
  item: CallItem | undefined;
}

export class ResponsesStreamTranslator extends InboundStreamState implements StreamTranslator {
  private readonly ids = new ResponseIds();
  private readonly createdAt = nowSeconds();
  private readonly tracker = new ToolCallTracker();
  private readonly items: OutputItem[] = [];
  /** The open reasoning or message item, if any. */
  private current: ReasoningItem | MessageItem | undefined;
  /** By the tracker's position. */
  private readonly calls: CallState[] = [];
  private sequence = 0;
  private textItems = 0;
  private started = false;
  /** response.completed (or an error event) was returned: nothing more is sent. */
  private closed = false;
  private finishReason: FinishReason | undefined;
  private chatUsage: ChatUsage | undefined;

  constructor(
    private readonly model: string,
    private readonly echo: ResponseEcho,
    /** The echoed request settings, serialised once for the three Response objects a stream sends. */
    private readonly echoed: string,
    /** Keeps the finished output items, for the client to refer to (item_reference). */
    private readonly remember: (items: readonly unknown[]) => void,
    /** The flat chat names of namespaced functions, for the client's names of the calls. */
    private readonly toolNames: ToolNames,
    /** The answer is repeated whole in the closing events, within this bound. */
    maxAnswerBytes: number,
    redact: Redactor = redactSecrets,
  ) {
    super(maxAnswerBytes, redact);
  }

  get usage(): Usage | undefined {
    return gatewayUsage(this.chatUsage);
  }

  push(upstream: UpstreamEvent): string {
    if (this.closed) return '';
    const data = upstream.data;
    if (data === DONE || (data.length < 16 && data.trim() === DONE)) return this.complete();
    try {
      return this.translate(this.read(upstream));
    } catch (error) {
      // A chunk that is not one, or an answer past the translator's bounds.
      if (!(error instanceof ChatShapeError)) throw error;
      return this.fail(BROKEN_STREAM_STATUS, { message: `The provider's stream could not be read: ${error.message}`, type: 'upstream_error', code: 'upstream_unreadable', param: null });
    }
  }

  private translate(chunk: ChunkView): string {
    if (chunk.error !== undefined) return this.fail(chunk.error.status, chunk.error.body);
    if (chunk.usage !== undefined) this.chatUsage = chunk.usage;
    let out = '';
    if (chunk.reasoning !== '') out += this.reasoning(chunk.reasoning);
    if (chunk.content !== '') out += this.text(chunk.content);
    for (const call of chunk.toolCalls) out += this.toolCall(call);
    if (chunk.finish !== undefined) {
      this.finishReason = chunk.finish;
      // Items close at the finish; response.completed waits for [DONE], as usage may come after.
      out += this.begin() + this.closeAll();
    }
    return out;
  }

  end(): string {
    if (this.closed) return '';
    // A finish without [DONE] (some hosts end the stream there) is a whole answer.
    if (this.finishReason !== undefined) return this.complete();
    return this.fail(BROKEN_STREAM_STATUS, { message: "The provider's stream ended before its answer was complete", type: 'upstream_error', code: 'stream_interrupted', param: null });
  }

  private fail(status: number, given: OpenAIErrorBody): string {
    const error = this.report(status, given);
    this.closed = true;
    return errorEvent(error, this.sequence++);
  }

  private event(type: string, fields: Record<string, unknown>): string {
    return namedEvent(type, JSON.stringify({ type, sequence_number: this.sequence++, ...fields }));
  }

  /** A delta event, written without building an object: they are most of a stream. */
  private delta(type: string, locator: string, delta: string, tail: string): string {
    return namedEvent(type, `{"type":"${type}","sequence_number":${this.sequence++},${locator}"delta":${JSON.stringify(delta)}${tail}}`);
  }

  private response(state: ResponseState): string {
    return responseJson(this.ids.response, this.createdAt, this.model, this.echo, this.echoed, state);
  }

  /** response.created and response.in_progress, with the first content (not before it). */
  private begin(): string {
    if (this.started) return '';
    this.started = true;
    const state: ResponseState = { status: 'in_progress', incomplete: null, outputJson: '[]', usage: null };
    const response = this.response(state);
    return (
      namedEvent('response.created', `{"type":"response.created","sequence_number":${this.sequence++},"response":${response}}`) +
      namedEvent('response.in_progress', `{"type":"response.in_progress","sequence_number":${this.sequence++},"response":${response}}`)
    );
  }

  private locator(id: string, index: number, part: string): string {
    return `"item_id":${JSON.stringify(id)},"output_index":${index},${part}`;
  }

  private reasoning(text: string): string {
    let out = this.begin();
    let item = this.current;
    if (item?.kind !== 'reasoning') {
      this.countTextItem();
      out += this.closeCurrent('completed');
      const index = this.items.length;
      const id = this.ids.item('rs', index);
      item = { kind: 'reasoning', index, id, locator: this.locator(id, index, '"summary_index":0,'), text: new HeldText(), done: undefined };
      this.items.push(item);
      this.current = item;
      out += this.event('response.output_item.added', { output_index: index, item: reasoningItem(id, '') });
      out += this.event('response.reasoning_summary_part.added', { item_id: id, output_index: index, summary_index: 0, part: { type: 'summary_text', text: '' } });
    }
    item.text.append(text);
    return out + this.delta('response.reasoning_summary_text.delta', item.locator, text, '');
  }

  private text(text: string): string {
    let out = this.begin();
    let item = this.current;
    if (item?.kind !== 'message') {
      this.countTextItem();
      out += this.closeCurrent('completed');
      const index = this.items.length;
      const id = this.ids.item('msg', index);
      item = { kind: 'message', index, id, locator: this.locator(id, index, '"content_index":0,'), text: new HeldText(), done: undefined };
      this.items.push(item);
      this.current = item;
      out += this.event('response.output_item.added', { output_index: index, item: messageItem(id, 'in_progress', undefined) });
      out += this.event('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: outputText('') });
    }
    item.text.append(text);
    return out + this.delta('response.output_text.delta', item.locator, text, ',"logprobs":[]');
  }

  /** Throws ChatShapeError past MAX_TEXT_ITEMS. */
  private countTextItem(): void {
    if (++this.textItems > MAX_TEXT_ITEMS) throw new ChatShapeError(`the answer opens more than ${MAX_TEXT_ITEMS} reasoning and message items`);
  }

  private toolCall(fragment: ToolCallDelta): string {
    const { position } = this.tracker.place(fragment);
    const call = (this.calls[position] ??= { callId: undefined, name: undefined, signature: undefined, held: new HeldText(), item: undefined });
    call.callId ??= fragment.id;
    call.name ??= fragment.name;
    call.signature ??= fragment.signature;
    if (call.item === undefined) {
      call.held.append(fragment.arguments);
      return call.name === undefined ? '' : this.announce(call, call.name, position);
    }
    if (fragment.arguments === '') return '';
    call.item.args.append(fragment.arguments);
    return this.delta('response.function_call_arguments.delta', call.item.locator, fragment.arguments, '');
  }

  /** A call's output_item.added, and the arguments held until its name came. */
  private announce(call: CallState, name: string, position: number): string {
    const out = this.begin() + this.closeCurrent('completed');
    const index = this.items.length;
    const id = this.ids.item('fc', index);
    // A host that sends no call id: one unique within the response, as the client must echo it.
    const callId = signedId({ id: call.callId ?? `call_${this.ids.response.slice(5, 21)}_${position}`, signature: call.signature });
    const tool = this.toolNames.unflatten(name);
    const item: CallItem = { kind: 'call', index, id, locator: this.locator(id, index, ''), callId, tool, args: call.held, done: undefined };
    call.item = item;
    this.items.push(item);
    let events = out + this.event('response.output_item.added', { output_index: index, item: functionCallItem(id, 'in_progress', callId, tool, '') });
    if (call.held.length > 0) events += this.delta('response.function_call_arguments.delta', item.locator, call.held.toString(), '');
    return events;
  }

  private closeCurrent(status: ResponseStatus): string {
    const item = this.current;
    if (item === undefined) return '';
    this.current = undefined;
    return this.close(item, status);
  }

  /**
   * An item's closing events. They repeat its whole text, held within the answer's bound; the
   * item's JSON is made once, for output_item.done and again in response.completed.
   */
  private close(item: OutputItem, status: ResponseStatus): string {
    const at = { item_id: item.id, output_index: item.index };
    switch (item.kind) {
      case 'reasoning': {
        const text = item.text.toString();
        item.text.clear();
        const events =
          this.event('response.reasoning_summary_text.done', { ...at, summary_index: 0, text }) +
          this.event('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: { type: 'summary_text', text } });
        return events + this.itemDone(item, reasoningItem(item.id, text));
      }
      case 'message': {
        const text = item.text.toString();
        item.text.clear();
        const events =
          this.event('response.output_text.done', { ...at, content_index: 0, text, logprobs: [] }) +
          this.event('response.content_part.done', { ...at, content_index: 0, part: outputText(text) });
        return events + this.itemDone(item, messageItem(item.id, status, text));
      }
      case 'call': {
        const args = item.args.toString();
        item.args.clear();
        const events = this.event('response.function_call_arguments.done', { ...at, name: item.tool.name, arguments: args });
        return events + this.itemDone(item, functionCallItem(item.id, status, item.callId, item.tool, args));
      }
      default: {
        const unreachable: never = item;
        return unreachable;
      }
    }
  }

  /** The item, closed: its output_item.done event, its JSON kept for response.completed. */
  private itemDone(item: OutputItem, done: Record<string, unknown>): string {
    const json = JSON.stringify(done);
    item.done = { item: done, json };
    return namedEvent('response.output_item.done', `{"type":"response.output_item.done","sequence_number":${this.sequence++},"output_index":${item.index},"item":${json}}`);
  }

  /** Closes every open item, in output order; a call whose name never came is announced without one. */
  private closeAll(): string {
    const status = statusOf(this.finishReason ?? 'stop').status;
    let out = '';
    // Closed below with the others, in output order, with the answer's status.
    this.current = undefined;
    this.calls.forEach((call, position) => {
      if (call.item === undefined) out += this.announce(call, '', position);
    });
    for (const item of this.items) {
      if (item.done === undefined) out += this.close(item, status);
    }
    return out;
  }

  /** The closing events and response.completed (response.incomplete for an answer cut short). */
  private complete(): string {
    const out = this.begin() + this.closeAll();
    this.closed = true;
    const { status, incomplete } = statusOf(this.finishReason ?? 'stop');
    const done = this.items.map((item) => item.done!);
    this.remember(done.map((closed) => closed.item));
    const outputJson = `[${done.map((closed) => closed.json).join(',')}]`;
    const response = this.response({ status, incomplete, outputJson, usage: responseUsage(this.chatUsage) });
    const type = status === 'incomplete' ? 'response.incomplete' : 'response.completed';
    return out + namedEvent(type, `{"type":"${type}","sequence_number":${this.sequence++},"response":${response}}`);
  }
}
