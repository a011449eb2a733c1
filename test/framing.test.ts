// The stream decoders: whole events out, however the network splits the bytes; broken framing
// reported, never passed on; each event bounded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { createEventDecoder } from '../src/framing.js';
import type { UpstreamEvent } from '../src/translate/stream-contract.js';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(headers: Record<string, string>, payload: string): Buffer {
  const tagged = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, { type: 'string' as const, value }]));
  return Buffer.from(codec.encode({ headers: tagged, body: fromUtf8(payload) }));
}

const event = (type: string, payload: object) =>
  frame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(payload));

const STREAM = Buffer.concat([
  event('messageStart', { role: 'assistant' }),
  event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hello, wörld 😀' } }),
  event('contentBlockStop', { contentBlockIndex: 0 }),
  event('messageStop', { stopReason: 'end_turn' }),
  frame({ ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception' }, '{"message":"slow down"}'),
]);

const EXPECTED: UpstreamEvent[] = [
  { event: 'messageStart', data: '{"role":"assistant"}' },
  { event: 'contentBlockDelta', data: '{"contentBlockIndex":0,"delta":{"text":"Hello, wörld 😀"}}' },
  { event: 'contentBlockStop', data: '{"contentBlockIndex":0}' },
  { event: 'messageStop', data: '{"stopReason":"end_turn"}' },
  { event: 'throttlingException', data: '{"message":"slow down"}', kind: 'exception' },
];

function decodeAws(chunks: Buffer[], maxEventBytes = 1024 * 1024): { events: UpstreamEvent[]; broken: string[] } {
  const events: UpstreamEvent[] = [];
  const broken: string[] = [];
  const decoder = createEventDecoder('aws-eventstream', { onEvent: (e) => events.push(e), onBroken: (r) => broken.push(r) }, maxEventBytes);
  for (const chunk of chunks) decoder.feed(chunk);
  decoder.end();
  return { events, broken };
}

describe('AWS event stream', () => {
  test('frames are decoded whole whatever the split: every byte boundary, one byte at a time, all at once', () => {
    assert.deepEqual(decodeAws([STREAM]), { events: EXPECTED, broken: [] });
    for (let cut = 1; cut < STREAM.length; cut++) {
      assert.deepEqual(decodeAws([STREAM.subarray(0, cut), STREAM.subarray(cut)]), { events: EXPECTED, broken: [] }, `cut at ${cut}`);
    }
    const bytes = [...STREAM].map((byte) => Buffer.from([byte]));
    assert.deepEqual(decodeAws(bytes), { events: EXPECTED, broken: [] });
  });

  test('each event is handed over as soon as its last byte arrives', () => {
    const events: UpstreamEvent[] = [];
    const decoder = createEventDecoder('aws-eventstream', { onEvent: (e) => events.push(e), onBroken: () => {} }, 1024 * 1024);
    const first = event('messageStart', { role: 'assistant' });
    decoder.feed(first.subarray(0, first.length - 1));
    assert.equal(events.length, 0);
    decoder.feed(first.subarray(first.length - 1));
    assert.equal(events.length, 1);
  });

  test('a corrupt frame (a CRC that does not match) is reported, and nothing after it is passed on', () => {
    const corrupt = Buffer.from(STREAM);
    corrupt[20]! ^= 0xff;
    const { events, broken } = decodeAws([corrupt]);
    assert.equal(events.length, 0);
    assert.equal(broken.length, 1);
    assert.match(broken[0]!, /does not decode/);
  });

  test('a frame longer than the bound is refused from its prelude, before it is buffered', () => {
    const big = event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'x'.repeat(5_000) } });
    const { events, broken } = decodeAws([big.subarray(0, 12)], 4_096);
    assert.equal(events.length, 0);
    assert.match(broken[0]!, /longer than 4096 bytes/);
  });

  test('a stream that ends inside a frame is reported as cut short', () => {
    const { events, broken } = decodeAws([STREAM.subarray(0, STREAM.length - 3)]);
    assert.deepEqual(events, EXPECTED.slice(0, 4));
    assert.match(broken[0]!, /cut short/);
  });
});

describe('SSE', () => {
  test('events across chunks, a multi-byte character split, and a last event without its blank line', () => {
    const text = Buffer.from('event: a\ndata: {"t":"é"}\n\nevent: b\ndata: 2');
    for (let cut = 1; cut < text.length; cut++) {
      const events: UpstreamEvent[] = [];
      const decoder = createEventDecoder('sse', { onEvent: (e) => events.push(e), onBroken: () => {} }, 1024);
      decoder.feed(text.subarray(0, cut));
      decoder.feed(text.subarray(cut));
      decoder.end();
      assert.deepEqual(events, [{ event: 'a', data: '{"t":"é"}' }, { event: 'b', data: '2' }], `cut at ${cut}`);
    }
  });
});
