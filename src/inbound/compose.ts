// A provider translator and an inbound translator in series: the provider's stream (Anthropic's,
// Bedrock's) becomes chat chunks, and those become the client's API (Anthropic's Messages, the
// Responses API). The chunks between the two are the provider translator's own SSE text, which
// holds only `data:` lines, so reading it back is a split, not a general SSE parse.
import type { Usage } from '../stream.js';
import type { StreamTranslator, TranslatedError, UpstreamEvent } from '../translate/stream-contract.js';

const EVENT_END = '\n\n';
const DATA = 'data: ';

export class ComposedTranslator implements StreamTranslator {
  constructor(
    private readonly provider: StreamTranslator,
    private readonly inbound: StreamTranslator,
  ) {}

  push(event: UpstreamEvent): string {
    return this.relay(this.provider.push(event));
  }

  end(): string {
    let text = this.relay(this.provider.end());
    if (this.failure === undefined) text += this.inbound.end();
    return text;
  }

  /** The provider's failure first: it carries the status the provider's own error maps to. */
  get failure(): TranslatedError | undefined {
    return this.provider.failure ?? this.inbound.failure;
  }

  /** The provider's own counts: its cache writes have no place in the chat usage between the two. */
  get usage(): Usage | undefined {
    return this.provider.usage ?? this.inbound.usage;
  }

  /** Each chat chunk of the provider translator's text, through the inbound translator. */
  private relay(chunks: string): string {
    let text = '';
    for (let at = 0; at < chunks.length; ) {
      let end = chunks.indexOf(EVENT_END, at);
      if (end === -1) end = chunks.length;
      const event = chunks.slice(at, end);
      at = end + EVENT_END.length;
      if (!event.startsWith(DATA) || this.inbound.failure !== undefined) continue;
      text += this.inbound.push({ event: 'message', data: event.slice(DATA.length) });
    }
    return text;
  }
}
