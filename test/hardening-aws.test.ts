// Hardening of the AWS paths (issue 16): event-stream frames reassembled in linear time however the
// network splits them.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { BEDROCK_SIM_API_KEY, startBedrockSim, type BedrockSim } from '../sim/bedrock.js';
import { createEventDecoder } from '../src/framing.js';
import type { UpstreamEvent } from '../src/providers/types.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const MAX_EVENT_BYTES = 1024 * 1024;
const codec = new EventStreamCodec(toUtf8, fromUtf8);
/** How many times the CPU of whole frames trickled frames may take: measured about 2x, quadratic 1000x and more. */
const TRICKLED_CPU_FACTOR = 40;

function decode(chunks: readonly Buffer[]): { events: UpstreamEvent[]; broken: string[] } {
  const events: UpstreamEvent[] = [];
  const broken: string[] = [];
  const decoder = createEventDecoder('aws-eventstream', { onEvent: (e) => events.push(e), onBroken: (r) => broken.push(r) }, MAX_EVENT_BYTES);
  for (const chunk of chunks) decoder.feed(chunk);
  decoder.end();
  return { events, broken };
}

function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

/** A ConverseStream as the simulator sends it, every byte (Bedrock API key auth, the fault in the body). */
async function recordStream(sim: BedrockSim, body: Record<string, unknown>): Promise<Buffer> {
  const res = await fetch(`${sim.url}/model/${encodeURIComponent(MODEL)}/converse-stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BEDROCK_SIM_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Say hello' }] }], ...body }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/vnd.amazon.eventstream');
  return Buffer.from(await res.arrayBuffer());
}

describe('AWS event-stream reassembly', () => {
  test('frames trickled in 100-byte pieces cost about the CPU of the same frames whole (reassembly is linear)', () => {
    // Three frames of about 1000 KiB, under the 1 MiB bound on one event.
    const text = 'x'.repeat(1000 * 1024 - 200);
    const frame = Buffer.from(codec.encode({
      headers: { ':event-type': { type: 'string', value: 'contentBlockDelta' }, ':message-type': { type: 'string', value: 'event' } },
      body: fromUtf8(JSON.stringify({ contentBlockIndex: 0, delta: { text } })),
    }));
    const stream = Buffer.concat([frame, frame, frame]);
    const whole = [stream];
    const trickled = pieces(stream, 100);
    const cpuMs = (chunks: Buffer[]): number => {
      const start = process.cpuUsage();
      const { events, broken } = decode(chunks);
      const used = process.cpuUsage(start);
      assert.equal(events.length, 3);
      assert.deepEqual(broken, []);
      return (used.user + used.system) / 1000;
    };
    // The least of a few runs, after one to warm up: a loaded machine only ever adds time.
    cpuMs(whole);
    const wholeMs = Math.max(1, Math.min(cpuMs(whole), cpuMs(whole), cpuMs(whole)));
    // Linear: 30,000 small feeds cost a few times one whole feed (measured about 2x). Joining the
    // pending bytes on every chunk cost 1000x and more (seconds).
    const bound = TRICKLED_CPU_FACTOR * wholeMs;
    let trickledMs = Infinity;
    for (let run = 0; run < 3 && trickledMs >= bound; run++) trickledMs = Math.min(trickledMs, cpuMs(trickled));
    assert.ok(trickledMs < bound, `trickled ${trickledMs.toFixed(1)} ms of CPU, whole ${wholeMs.toFixed(1)} ms`);
  });

  describe('a recorded multi-frame stream', () => {
    let recorded: Buffer;
    let expected: UpstreamEvent[];
    before(async () => {
      const sim = await startBedrockSim({ port: 0, record: false });
      try {
        const tools = {
          toolConfig: {
            tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object', properties: { location: { type: 'string' } } } } } }],
            toolChoice: { any: {} },
          },
        };
        recorded = Buffer.concat([
          await recordStream(sim, { sim: { chunks: 6, content: 'Hello, wörld 😀 and more text for six deltas' } }),
          await recordStream(sim, { ...tools, sim: { tool_fragments: 4 } }),
          await recordStream(sim, { sim: { chunks: 4, stream_exception: { after: 2, type: 'throttlingException', message: 'slow down' } } }),
          await recordStream(sim, { sim: { chunks: 4, stream_error: { after: 1, code: 'InternalFailure', message: 'it broke' } } }),
        ]);
      } finally {
        await sim.close();
      }
      const whole = decode([recorded]);
      assert.deepEqual(whole.broken, []);
      expected = whole.events;
    });

    test('split at every byte boundary, it decodes to the same events', () => {
      for (let cut = 1; cut < recorded.length; cut++) {
        const split = decode([recorded.subarray(0, cut), recorded.subarray(cut)]);
        assert.deepEqual(split, { events: expected, broken: [] }, `cut at ${cut}`);
      }
    });

    test('in pieces of every size from 1 to 64 bytes, it decodes to the same events', () => {
      for (let size = 1; size <= 64; size++) assert.deepEqual(decode(pieces(recorded, size)), { events: expected, broken: [] }, `pieces of ${size}`);
    });
  });
});
