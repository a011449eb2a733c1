// Hardening of the AWS paths (issue 16): event-stream frames reassembled in linear time however the
// network splits them; error frames (`:message-type: error`) fail the stream with the provider's
// code and message, redacted; a 2xx answer that is not JSON is a clear 502 that quotes neither V8
// nor the provider's bytes.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import OpenAI from 'openai';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_API_KEY, BEDROCK_SIM_SECRET_ACCESS_KEY, startBedrockSim, type BedrockSim, type BedrockSimFault } from '../sim/bedrock.js';
import { createEventDecoder } from '../src/framing.js';
import { BedrockStreamTranslator } from '../src/providers/bedrock/stream.js';
import type { GatewayServer } from '../src/server.js';
import type { UpstreamEvent } from '../src/translate/stream-contract.js';
import { collectLines, simFault, startGateway } from './helpers.js';
import { bedrockClient } from './bedrock-client.js';

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

    test('it holds every kind of frame: events, an exception, an error with its code and message', () => {
      assert.ok(expected.some((e) => e.event === 'contentBlockStart'));
      assert.deepEqual(expected.filter((e) => e.kind === 'exception'), [{ event: 'throttlingException', data: '{"message":"slow down"}', kind: 'exception' }]);
      assert.deepEqual(expected.filter((e) => e.kind === 'error'), [{ event: 'InternalFailure', data: 'it broke', kind: 'error' }]);
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

describe('AWS error frames', () => {
  let sim: BedrockSim;
  let gateway: GatewayServer;
  let baseURL: string;
  const logs: string[] = [];

  before(async () => {
    sim = await startBedrockSim({ port: 0 });
    const sink = collectLines(logs);
    ({ server: gateway, url: baseURL } = await startGateway(
      { BEDROCK_BASE_URL: sim.url, AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY, LOG_LEVEL: 'warn' },
      sink,
    ));
  });
  after(async () => {
    await gateway.shutdown(0);
    await sim.close();
  });

  const client = () => new OpenAI({ baseURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'bedrock' }, maxRetries: 0 });
  const streamWith = (fault: BedrockSimFault) =>
    client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true, user: simFault(fault) });

  test('an exception frame fails the stream whatever its type is called: its :message-type says what it is', () => {
    const translator = new BedrockStreamTranslator({ model: MODEL, includeUsage: false });
    translator.push({ event: 'messageStart', data: '{"role":"assistant"}' });
    translator.push({ event: 'accessDenied', data: '{"message":"no access to this model"}', kind: 'exception' });
    assert.equal(translator.failure?.error.message, 'no access to this model');
  });

  test('the simulator sends them as AWS does: its own SDK throws an Error named by the code, with the message', async () => {
    const aws = bedrockClient(sim.url);
    try {
      const res = await aws.send(new ConverseStreamCommand({
        modelId: MODEL,
        messages: [{ role: 'user', content: [{ text: 'hi' }] }],
        requestMetadata: { sim: JSON.stringify({ stream_error: { after: 1, code: 'InternalFailure', message: 'it broke' } }) },
      }));
      let deltas = 0;
      await assert.rejects(
        (async () => {
          for await (const event of res.stream!) if (event.contentBlockDelta) deltas++;
        })(),
        (err: Error) => err.name === 'InternalFailure' && err.message === 'it broke',
      );
      assert.equal(deltas, 1);
    } finally {
      aws.destroy();
    }
  });

  test('one before any content fails the request with its message and code, as a status (502 for a code it does not name)', async () => {
    const err = await streamWith({ stream_error: { after: 0, code: 'InternalFailure', message: 'the backend fell over' } }).then(
      () => assert.fail('the stream was answered'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 502);
    assert.match(err.message, /the backend fell over/);
    assert.equal(err.code, 'InternalFailure');
  });

  test('one whose code names a known exception keeps its status (ThrottlingException: 429)', async () => {
    const err = await streamWith({ stream_error: { after: 0, code: 'ThrottlingException', message: 'slow down' } }).then(
      () => assert.fail('the stream was answered'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.match(err.message, /slow down/);
  });

  test('one after content ends the stream with an error event carrying its message, not [DONE]', async () => {
    const stream = await streamWith({ chunks: 5, stream_error: { after: 2, code: 'InternalFailure', message: 'lost the model mid-answer' } });
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
      /lost the model mid-answer/,
    );
    assert.ok(text.length > 0, 'the deltas before the error frame were relayed');
  });

  test('its message is redacted, before and after the stream is committed', async () => {
    const token = 'Bearer abcdEFGH1234ijklMNOP5678qrstUVWX';
    const early = await streamWith({ stream_error: { after: 0, message: `upstream refused Authorization: ${token}` } }).then(
      () => assert.fail('the stream was answered'),
      (e: unknown) => e as Error,
    );
    assert.match(early.message, /upstream refused/);
    assert.doesNotMatch(early.message, /abcdEFGH1234/);

    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer use-server-key', 'x-provider': 'bedrock' },
      body: JSON.stringify({
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
        user: simFault({ chunks: 4, stream_error: { after: 2, message: `upstream refused Authorization: ${token}` } }),
      }),
    });
    const body = await res.text();
    assert.equal(res.status, 200);
    assert.match(body, /upstream refused/);
    assert.doesNotMatch(body, /abcdEFGH1234/);
    assert.doesNotMatch(body, /\[DONE\]/);
  });
});

describe('a 2xx answer that is not JSON', () => {
  const NOT_JSON = '<html><body>Bad gateway, provider sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 ' + 'x'.repeat(100_000) + '</body></html>';
  let fake: Server;
  let fakeURL: string;
  let logs: string[];
  let bedrockURL: string;
  let anthropicURL: string;
  let gateways: GatewayServer[];

  before(async () => {
    fake = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(NOT_JSON));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakeURL = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    logs = [];
    const sink = collectLines(logs);
    const bedrock = await startGateway({ BEDROCK_BASE_URL: fakeURL, AWS_BEARER_TOKEN_BEDROCK: BEDROCK_SIM_API_KEY, MAX_RETRIES: '0', LOG_LEVEL: 'warn' }, sink);
    const anthropic = await startGateway({ ANTHROPIC_BASE_URL: fakeURL, ANTHROPIC_API_KEY: 'sk-ant-server-key-0123456789', MAX_RETRIES: '0', LOG_LEVEL: 'warn' }, sink);
    gateways = [bedrock.server, anthropic.server];
    bedrockURL = bedrock.url;
    anthropicURL = anthropic.url;
  });
  after(async () => {
    for (const gateway of gateways) await gateway.shutdown(0);
    await new Promise((resolve) => fake.close(resolve));
  });

  for (const [provider, model] of [['bedrock', MODEL], ['anthropic', 'claude-sonnet-4-5']] as const) {
    test(`from ${provider}: a 502 that says the answer is not JSON, without V8's message or the provider's bytes`, async () => {
      const before = logs.length;
      const res = await fetch(`${provider === 'bedrock' ? bedrockURL : anthropicURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer use-server-key', 'x-provider': provider },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = await res.text();
      assert.equal(res.status, 502);
      const error = (JSON.parse(body) as { error: { message: string; code: string } }).error;
      assert.equal(error.code, 'upstream_unreadable');
      assert.match(error.message, /not JSON/);
      assert.doesNotMatch(body, /Unexpected token|SyntaxError|is not valid JSON|<html>|Bad gateway|sk-ant/);
      // The operator's log quotes the start of it, bounded and without the key.
      const warned = logs.slice(before).map((line) => JSON.parse(line) as { msg: string; excerpt?: string }).find((line) => line.excerpt !== undefined);
      assert.ok(warned, 'a warn line quotes the answer');
      assert.match(warned.excerpt!, /^<html><body>Bad gateway/);
      assert.doesNotMatch(warned.excerpt!, /abcdefghijklmnop/);
      assert.ok(warned.excerpt!.length <= 300, `an excerpt of ${warned.excerpt!.length} characters`);
    });
  }
});
