// A streamed chat completion as Gemini's stream of GenerateContentResponse chunks: SSE events
// (`data: {...}` each, with `alt=sse`) or the elements of one JSON array (without it).
// Sources: https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent and the
// stream as Google sends it (each chunk a whole GenerateContentResponse holding the new parts; the
// last one with finishReason and usageMetadata), read by `@google/genai`'s processStreamResponse.
// Choices where the APIs differ:
// - text and reasoning go out as they come, one chunk per chat chunk that carries any;
// - Google sends each functionCall whole, never its arguments in pieces: tool calls are held and
//   sent whole in the last chunk, with the finish and the usage (which chat sends after the finish);
// - nothing is sent before the first content, so a failure until then is the attempt's to retry.
import type { OpenAIErrorBody } from '../../errors.js';
import { typeForStatus } from '../../errors.js';
import { redactSecrets, type Redactor } from '../../redact.js';
import type { Usage } from '../../stream.js';
import { BROKEN_STREAM_STATUS, type StreamTranslator, type UpstreamEvent } from '../../translate/stream-contract.js';
import { ChatShapeError, DONE, gatewayUsage, HeldText, InboundStreamState, ToolCallTracker, type ChatUsage, type ChunkView, type FinishReason, type ToolCallDelta } from '../chat.js';
import { finishReason, functionCallPart, responseId, responseJson, usageMetadata } from './answer.js';
import { ARRAY_END, ARRAY_NEXT, ARRAY_START, errorEvent, sseEvent, type StreamFraming } from './errors.js';
import type { Json } from './fields.js';

const EMPTY_TEXT: readonly Json[] = Object.freeze([{ text: '' }]);

interface HeldCall {
  id: string | undefined;
  name: string | undefined;
  signature: string | undefined;
  readonly args: HeldText;
}

export class GeminiStreamTranslator extends InboundStreamState implements StreamTranslator {
  private started = false;
  private ended = false;
  private lastUsage: ChatUsage | undefined;
  private id: string | undefined;
  private finish: FinishReason | undefined;
  private readonly tracker = new ToolCallTracker();
  private readonly calls: HeldCall[] = [];

  constructor(
    private readonly model: string,
    private readonly framing: StreamFraming,
    private readonly includeThoughts: boolean,
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
      if (!(error instanceof ChatShapeError)) throw error;
      return this.fail(BROKEN_STREAM_STATUS, `The provider's stream could not be read: ${error.message}`, 'upstream_unreadable');
    }
  }

  end(): string {
    if (this.ended || this.reported !== undefined) return '';
    // A finish is a complete answer even when the host's [DONE] never came.
    if (this.finish !== undefined) return this.complete();
    return this.fail(BROKEN_STREAM_STATUS, 'The provider ended the stream before the answer was complete', 'stream_interrupted');
  }

  private translate(chunk: ChunkView): string {
    if (chunk.usage !== undefined) this.lastUsage = chunk.usage;
    if (chunk.error !== undefined) return this.failWith(chunk.error.status, chunk.error.body);
    // After the finish only the usage is still wanted.
    if (this.finish !== undefined) return '';
    this.id ??= chunk.id;
    for (const call of chunk.toolCalls) this.hold(call);
    if (chunk.finish !== undefined) this.finish = chunk.finish;
    const parts: Json[] = [];
    if (this.includeThoughts && chunk.reasoning !== '') parts.push({ text: chunk.reasoning, thought: true });
    if (chunk.content !== '') parts.push({ text: chunk.content });
    return parts.length === 0 ? '' : this.element(responseJson(parts, this.model, this.responseId()));
  }

  private hold(delta: ToolCallDelta): void {
    const { position, opens } = this.tracker.place(delta);
    if (opens) this.calls.push({ id: delta.id, name: delta.name, signature: delta.signature, args: new HeldText() });
    const call = this.calls[position]!;
    call.id ??= delta.id;
    call.name ??= delta.name;
    call.signature ??= delta.signature;
    call.args.append(delta.arguments);
  }

  private responseId(): string {
    return (this.id ??= responseId(undefined));
  }

  /** One chunk of the stream, framed. */
  private element(json: string): string {
    if (this.framing === 'sse') {
      this.started = true;
      return sseEvent(json);
    }
    const lead = this.started ? ARRAY_NEXT : ARRAY_START;
    this.started = true;
    return lead + json;
  }

  /** The last chunk: the held calls, the finish and the usage. */
  private complete(): string {
    this.ended = true;
    const parts: Json[] = this.calls.map((call, i) => functionCallPart({ id: call.id ?? `call_${i}`, name: call.name ?? '', arguments: call.args.toString(), signature: call.signature }));
    const finish = finishReason(this.finish ?? (this.calls.length > 0 ? 'tool_calls' : 'stop'));
    const last = this.element(responseJson(parts.length > 0 ? parts : [...EMPTY_TEXT], this.model, this.responseId(), finish, usageMetadata(this.lastUsage)));
    return this.framing === 'array' ? last + ARRAY_END : last;
  }

  private fail(status: number, message: string, code: string): string {
    return this.failWith(status, { message, type: typeForStatus(status), code, param: null });
  }

  /** Records the failure; its error only if the client has been sent something, else the attempt answers it. */
  private failWith(status: number, given: OpenAIErrorBody): string {
    const error = this.report(status, given);
    return this.started ? errorEvent(this.framing, status, error) : '';
  }
}

