// Decoders for the ways providers frame a stream, chosen by the provider's declared `framing`: SSE
// (eventsource-parser) and AWS's binary event stream (@smithy/eventstream-codec). Each is fed the
// network's chunks as they come and hands over whole events, however the chunks split them; each
// bounds what it holds for one event.
import { StringDecoder } from 'node:string_decoder';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { createParser } from 'eventsource-parser';
import type { ProviderAdapter } from './providers/types.js';
import type { UpstreamEvent } from './translate/stream-contract.js';

export interface EventDecoder {
  /** One network chunk; its whole events go to `onEvent` before feed returns. */
  feed(chunk: Buffer): void;
  /** The stream ended: a last event without its terminator still counts (SSE). */
  end(): void;
}

export interface DecoderCallbacks {
  onEvent(event: UpstreamEvent): void;
  /** The stream broke its framing (an event past `maxEventBytes`, a bad frame): it cannot go on. */
  onBroken(reason: string): void;
}

export function createEventDecoder(framing: ProviderAdapter['framing'], callbacks: DecoderCallbacks, maxEventBytes: number): EventDecoder {
  return framing === 'aws-eventstream' ? new AwsEventStreamDecoder(callbacks, maxEventBytes) : new SseDecoder(callbacks, maxEventBytes);
}

class SseDecoder implements EventDecoder {
  private readonly text = new StringDecoder('utf8');
  private readonly parser;
  constructor(callbacks: DecoderCallbacks, maxEventBytes: number) {
    this.parser = createParser({
      onEvent: (event) => callbacks.onEvent({ event: event.event ?? 'message', data: event.data }),
      // The parser reports an unknown field and a retry that is not a number too: the SSE
      // specification says to ignore both. Only an overflow ends the stream (the parser stops there).
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') callbacks.onBroken(`the provider sent an event longer than ${maxEventBytes} characters`);
      },
      maxBufferSize: maxEventBytes,
    });
  }
  feed(chunk: Buffer): void {
    this.parser.feed(this.text.write(chunk));
  }
  end(): void {
    // A last event without its blank line: end its line and the event.
    this.parser.feed(`${this.text.end()}\n\n`);
  }
}

/** The first field of a frame's prelude, its total length: it says where the frame ends. */
const LENGTH_BYTES = 4;
/** The smallest frame: prelude (total length, headers length, prelude CRC) and the message CRC. */
const MIN_FRAME_BYTES = 16;

/**
 * AWS's binary event stream (`application/vnd.amazon.eventstream`). The codec decodes and checks a
 * frame (both CRCs, the headers); it takes whole frames only (the library's own splitter is an
 * async iterator over a stream), so frames are cut from the chunks here by their prelude's total
 * length. The chunks of a frame not yet whole are kept as a list and joined once, when the frame
 * is complete: joining them on every chunk copied a frame once per chunk, quadratic in its writes.
 */
class AwsEventStreamDecoder implements EventDecoder {
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  /** The bytes of the frame under way, as they came. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** That frame's total length, once its first LENGTH_BYTES are in; 0 before. */
  private frameBytes = 0;
  private broken = false;
  constructor(
    private readonly callbacks: DecoderCallbacks,
    private readonly maxEventBytes: number,
  ) {}

  feed(chunk: Buffer): void {
    if (this.broken || chunk.length === 0) return;
    if (this.pendingBytes === 0) return this.cut(chunk);
    // Kept as it came: undici's chunk is a view of one socket read, all of it answer bytes.
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Joined when the frame is whole, or when its length can be read (at most LENGTH_BYTES chunks then).
    if (this.pendingBytes < (this.frameBytes === 0 ? LENGTH_BYTES : this.frameBytes)) return;
    const bytes = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.frameBytes = 0;
    this.cut(bytes);
  }

  end(): void {
    if (!this.broken && this.pendingBytes > 0) this.fail(`a frame cut short after ${this.pendingBytes} bytes`);
  }

  /** Hands over the whole frames at the start of `bytes` and keeps the rest, nothing being pending. */
  private cut(bytes: Buffer): void {
    while (bytes.length >= LENGTH_BYTES) {
      const total = bytes.readUInt32BE(0);
      if (total < MIN_FRAME_BYTES || total > this.maxEventBytes) {
        this.fail(total < MIN_FRAME_BYTES ? `a frame of ${total} bytes` : `a frame longer than ${this.maxEventBytes} bytes`);
        return;
      }
      if (bytes.length < total) {
        this.frameBytes = total;
        break;
      }
      if (!this.deliver(bytes.subarray(0, total))) return;
      bytes = bytes.subarray(total);
    }
    if (bytes.length === 0) return;
    // Kept as its own copy: the chunk's buffer may be a slice of a larger one.
    this.pending = [Buffer.from(bytes)];
    this.pendingBytes = bytes.length;
  }

  private deliver(frame: Buffer): boolean {
    let message;
    try {
      message = this.codec.decode(frame);
    } catch (err) {
      this.fail(`a frame that does not decode (${(err as Error).message})`);
      return false;
    }
    const headers = message.headers;
    const type = headers[':message-type']?.value;
    if (type === 'error') {
      // An unmodelled failure: its code and message are headers, as AWS's SDKs read them.
      const code = headers[':error-code']?.value;
      const text = headers[':error-message']?.value;
      this.callbacks.onEvent({ event: typeof code === 'string' ? code : 'unknown', data: typeof text === 'string' ? text : '', kind: 'error' });
    } else if (type === 'exception') {
      const name = headers[':exception-type']?.value;
      this.callbacks.onEvent({ event: typeof name === 'string' ? name : 'unknown', data: toUtf8(message.body), kind: 'exception' });
    } else {
      const name = headers[':event-type']?.value;
      this.callbacks.onEvent({ event: typeof name === 'string' ? name : 'unknown', data: toUtf8(message.body) });
    }
    return !this.broken;
  }

  private fail(what: string): void {
    this.broken = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.frameBytes = 0;
    this.callbacks.onBroken(`the provider's event stream is broken: ${what}`);
  }
}
