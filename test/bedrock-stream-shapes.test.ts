// ConverseStream answers of the shapes some models send and the Vercel AI SDK reads without
// complaint (packages/amazon-bedrock, doStream): no messageStart, metadata before messageStop, a
// block never closed with contentBlockStop. Each is an answer, not a broken stream: before, the
// first was a 502 "Bedrock sent contentBlockDelta before messageStart", retried three times.
// Checked on recorded frames split at every byte boundary, decoded and translated as the gateway
// does, and end to end through the Bedrock simulator's faults that produce the same shapes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BedrockRuntimeClient, ConverseStreamCommand, type ConverseStreamOutput } from '@aws-sdk/client-bedrock-runtime';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import OpenAI from 'openai';
import {
  BEDROCK_SIM_ACCESS_KEY_ID,
  BEDROCK_SIM_SECRET_ACCESS_KEY,
  startBedrockSim,
  type BedrockSim,
  type BedrockSimFault,
} from '../sim/bedrock.js';
import { createEventDecoder } from '../src/framing.js';
import { BedrockStreamTranslator } from '../src/providers/bedrock/stream.js';
import type { UpstreamEvent } from '../src/translate/stream-contract.js';
import type { GatewayServer } from '../src/server.js';
import { simFault, startGateway } from './helpers.js';
import { bedrockClient } from './bedrock-client.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(type: string, payload: object): Buffer {
  const bytes = codec.encode({
    headers: {
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// The events of the AI SDK's recorded text answer (__fixtures__/amazon-bedrock-text.chunks.txt),
// shortened, with the parts each shape leaves out or moves.
const MESSAGE_START = frame('messageStart', { role: 'assistant' });
const DELTAS = [
  frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'There are **3' } }),
  frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: "** r's in \"strawberry.\"" } }),
];
const BLOCK_STOP = frame('contentBlockStop', { contentBlockIndex: 0 });
const MESSAGE_STOP = frame('messageStop', { additionalModelResponseFields: { delta: { stop_sequence: null } }, stopReason: 'end_turn' });
const METADATA = frame('metadata', { metrics: { latencyMs: 2040 }, usage: { inputTokens: 22, outputTokens: 55, serverToolUsage: {}, totalTokens: 77 } });
const TOOL = [
  frame('contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather' } } }),
  frame('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '{"city":' } } }),
  frame('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '"Paris"}' } } }),
];
const TOOL_NO_INPUT = frame('contentBlockStart', { contentBlockIndex: 2, start: { toolUse: { toolUseId: 'tooluse_2', name: 'get_time' } } });
const TOOL_STOP = frame('messageStop', { stopReason: 'tool_use' });

const SHAPES: Record<string, Buffer> = {
  'the whole stream (the reference)': Buffer.concat([MESSAGE_START, ...DELTAS, BLOCK_STOP, MESSAGE_STOP, METADATA]),
  'no messageStart': Buffer.concat([...DELTAS, BLOCK_STOP, MESSAGE_STOP, METADATA]),
  'metadata before messageStop': Buffer.concat([MESSAGE_START, ...DELTAS, BLOCK_STOP, METADATA, MESSAGE_STOP]),
  'a text block without contentBlockStop': Buffer.concat([MESSAGE_START, ...DELTAS, MESSAGE_STOP, METADATA]),
  'all three at once': Buffer.concat([...DELTAS, METADATA, MESSAGE_STOP]),
};

interface Read {
  content: string;
  tools: { id: string; name: string; arguments: string }[];
  finish: string | undefined;
  usage: Record<string, number> | undefined;
  error: unknown;
  done: boolean;
}

/** What an OpenAI client makes of the chat chunks the translator writes. */
function readChunks(text: string): Read {
  const read: Read = { content: '', tools: [], finish: undefined, usage: undefined, error: undefined, done: false };
  for (const piece of text.split('\n\n')) {
    if (piece === '') continue;
    const data = piece.slice('data: '.length);
    if (data === '[DONE]') {
      read.done = true;
      continue;
    }
    const chunk = JSON.parse(data);
    if (chunk.error) read.error = chunk.error;
    if (chunk.usage) read.usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      if (choice.delta.content) read.content += choice.delta.content;
      for (const call of choice.delta.tool_calls ?? []) {
        if (call.id) read.tools[call.index] = { id: call.id, name: call.function.name, arguments: call.function.arguments ?? '' };
        else read.tools[call.index]!.arguments += call.function.arguments;
      }
      if (choice.finish_reason) read.finish = choice.finish_reason;
    }
  }
  return read;
}

/** The bytes in the given reads, decoded into events as the gateway decodes them, and translated. */
function translate(reads: Buffer[]): Read {
  const translator = new BedrockStreamTranslator({ model: MODEL, includeUsage: true });
  let out = '';
  const broken: string[] = [];
  const decoder = createEventDecoder('aws-eventstream', { onEvent: (e: UpstreamEvent) => (out += translator.push(e)), onBroken: (r) => broken.push(r) }, 1 << 20);
  for (const read of reads) decoder.feed(read);
  decoder.end();
  out += translator.end();
  assert.deepEqual(broken, []);
  return readChunks(out);
}

describe('ConverseStream shapes, translated from bytes split at every boundary', () => {
  const expected: Read = {
    content: "There are **3** r's in \"strawberry.\"",
    tools: [],
    finish: 'stop',
    usage: { prompt_tokens: 22, completion_tokens: 55, total_tokens: 77 },
    error: undefined,
    done: true,
  };

  for (const [name, bytes] of Object.entries(SHAPES)) {
    test(`${name}: the answer, its finish and usage, whatever the split`, () => {
      const whole = translate([bytes]);
      assert.deepEqual({ ...whole, usage: pick(whole.usage) }, expected);
      for (let cut = 1; cut < bytes.length; cut++) {
        const split = translate([bytes.subarray(0, cut), bytes.subarray(cut)]);
        assert.deepEqual({ ...split, usage: pick(split.usage) }, expected, `cut at byte ${cut}`);
      }
    });
  }

  test('tool blocks never closed: the call with its input, and "{}" for one without input; finish tool_calls', () => {
    const bytes = Buffer.concat([MESSAGE_START, ...TOOL, TOOL_NO_INPUT, TOOL_STOP, METADATA]);
    for (let cut = 0; cut < bytes.length; cut++) {
      const read = translate(cut === 0 ? [bytes] : [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.equal(read.error, undefined, `cut at byte ${cut}`);
      assert.equal(read.finish, 'tool_calls');
      assert.deepEqual(read.tools, [
        { id: 'tooluse_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { id: 'tooluse_2', name: 'get_time', arguments: '{}' },
      ]);
    }
  });

  test('a stream cut before messageStop still fails as interrupted (the shapes above are complete answers)', () => {
    const read = translate([Buffer.concat([...DELTAS])]);
    assert.match(JSON.stringify(read.error), /ended before its messageStop/);
  });
});

function pick(usage: Record<string, number> | undefined): Record<string, number> | undefined {
  return usage && { prompt_tokens: usage.prompt_tokens!, completion_tokens: usage.completion_tokens!, total_tokens: usage.total_tokens! };
}

// ---------------------------------------------------------------------------------------------
// End to end: the Bedrock simulator writes these shapes; its SDK reads them; the gateway answers them.

let sim: BedrockSim;
let gateway: GatewayServer;
let baseURL: string;

before(async () => {
  sim = await startBedrockSim({ port: 0 });
  ({ server: gateway, url: baseURL } = await startGateway({
    BEDROCK_BASE_URL: sim.url,
    AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-west-2',
  }));
});
after(async () => {
  await gateway.shutdown(0);
  await sim.close();
});

const FAULTS: Record<string, BedrockSimFault> = {
  'no messageStart': { no_message_start: true },
  'metadata before messageStop': { metadata_before_stop: true },
  'no contentBlockStop': { no_block_stop: true },
  'all three': { no_message_start: true, metadata_before_stop: true, no_block_stop: true },
};

describe('the Bedrock simulator writes the shapes, and the AWS SDK reads them', () => {
  test('each fault changes the events as named, and nothing else', async () => {
    const client = bedrockClient(sim.url, { region: 'us-west-2' });
    try {
      const kindsFor = async (fault: BedrockSimFault): Promise<string[]> => {
        const res = await client.send(new ConverseStreamCommand({
          modelId: MODEL,
          messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
          additionalModelRequestFields: { sim: { chunks: 2, ...fault } },
        }));
        const kinds: string[] = [];
        for await (const event of res.stream as AsyncIterable<ConverseStreamOutput>) {
          kinds.push(Object.keys(event).find((k) => (event as unknown as Record<string, unknown>)[k] !== undefined)!);
        }
        return kinds;
      };
      assert.deepEqual(await kindsFor({}), ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
      assert.deepEqual(await kindsFor(FAULTS['no messageStart']!), ['contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
      assert.deepEqual(await kindsFor(FAULTS['metadata before messageStop']!), ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'metadata', 'messageStop']);
      assert.deepEqual(await kindsFor(FAULTS['no contentBlockStop']!), ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'messageStop', 'metadata']);
      assert.deepEqual(await kindsFor(FAULTS['all three']!), ['contentBlockDelta', 'contentBlockDelta', 'metadata', 'messageStop']);
    } finally {
      client.destroy();
    }
  });
});

describe('the gateway answers each shape at the first attempt', () => {
  const client = (): OpenAI => new OpenAI({ baseURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'bedrock' }, maxRetries: 0 });
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

  for (const [name, fault] of Object.entries(FAULTS)) {
    test(`${name}: text, finish stop, usage; one upstream request`, async () => {
      const from = sim.requests.length;
      const stream = await client().chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Hello' }],
        stream: true,
        stream_options: { include_usage: true },
        user: simFault({ chunks: 3, ...fault }),
      });
      let content = '';
      let finish: string | null | undefined;
      let usage: OpenAI.CompletionUsage | undefined | null;
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(content, 'Hello from the Bedrock simulator.');
      assert.equal(finish, 'stop');
      assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0);
      assert.equal(sim.requests.length - from, 1, 'no retry');
    });

    test(`${name}, a tool call: its arguments whole, finish tool_calls`, async () => {
      const stream = await client().chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Weather?' }],
        tools,
        tool_choice: 'required',
        stream: true,
        user: simFault({ tool_fragments: 3, ...fault }),
      });
      let args = '';
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        for (const call of chunk.choices[0]?.delta.tool_calls ?? []) args += call.function?.arguments ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.deepEqual(JSON.parse(args), { city: 'sim' });
      assert.equal(finish, 'tool_calls');
    });
  }
});
