// Decoders for the ways providers frame a stream, chosen by the provider's declared `framing`: SSE
// (eventsource-parser) and AWS's binary event stream (@smithy/eventstream-codec). Each is fed the
// network's chunks as they come and hands over whole events, however the chunks split them; each
// bounds what it holds for one event.
import { StringDecoder } from 'node:string_decoder';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { createParser } from 'eventsource-parser';
import type { ProviderAdapter, UpstreamEvent } from './providers/types.js';

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

/** The prelude of an event-stream frame: total length (4 bytes), headers length (4), prelude CRC (4). */
const PRELUDE_BYTES = 12;
/** The smallest frame: prelude and the message CRC (4). */
const MIN_FRAME_BYTES = 16;
const NO_BYTES = Buffer.alloc(0);

/**
 * AWS's binary event stream (`application/vnd.amazon.eventstream`). The codec decodes and checks a
 * frame (both CRCs, the headers); it takes whole frames only (the library's own splitter is an
 * async iterator over a stream), so frames are cut from the chunks here by their prelude's total
 * length, the one field that says where a frame ends.
 */
class AwsEventStreamDecoder implements EventDecoder {
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private pending: Buffer = NO_BYTES;
  private broken = false;
  constructor(
    private readonly callbacks: DecoderCallbacks,
    private readonly maxEventBytes: number,
  ) {}

  feed(chunk: Buffer): void {
    if (this.broken) return;
    let bytes = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (bytes.length >= PRELUDE_BYTES) {
      const total = bytes.readUInt32BE(0);
      if (total < MIN_FRAME_BYTES || total > this.maxEventBytes) {
        this.fail(total < MIN_FRAME_BYTES ? `a frame of ${total} bytes` : `a frame longer than ${this.maxEventBytes} bytes`);
        return;
      }
      if (bytes.length < total) break;
      if (!this.deliver(bytes.subarray(0, total))) return;
      bytes = bytes.subarray(total);
    }
    // Kept as its own copy: the chunk's buffer may be a slice of a larger one.
    this.pending = bytes.length === 0 ? NO_BYTES : Buffer.from(bytes);
  }

  end(): void {
    if (!this.broken && this.pending.length > 0) this.fail(`a frame cut short after ${this.pending.length} bytes`);
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
    // An exception frame is named by its exception type, an event by its event type.
    const name = type === 'exception' ? headers[':exception-type']?.value : type === 'error' ? headers[':error-code']?.value : headers[':event-type']?.value;
    const data = type === 'error' ? JSON.stringify({ message: headers[':error-message']?.value ?? '' }) : toUtf8(message.body);
    this.callbacks.onEvent({ event: typeof name === 'string' ? name : 'unknown', data });
    return !this.broken;
  }

  private fail(what: string): void {
    this.broken = true;
    this.pending = NO_BYTES;
    this.callbacks.onBroken(`the provider's event stream is broken: ${what}`);
  }
}
