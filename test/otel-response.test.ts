// OpenTelemetry's answer attributes: gen_ai.response.id, .model and .finish_reasons on the answering
// attempt's CLIENT span and the request's SERVER span, as a real OTLP/HTTP receiver decodes them,
// for a pass-through stream, a pass-through whole answer and a translated stream; a whole answer's
// content as gen_ai.output.messages on opt-in; the reader of these facts (observe/facts.ts) engaged
// only while telemetry is on, and reading the same facts however the provider's bytes are split.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { Attempt } from '../src/attempt.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { ANTHROPIC_FACTS, CHAT_FACTS, FactsReader, RESPONSES_FACTS, type FactsDialect } from '../src/observe/facts.js';
import { startTelemetry } from '../src/observe/telemetry.js';
import { createGatewayServer } from '../src/server.js';
import { KEY, MODEL } from './helpers.js';

const CLAUDE = 'claude-sonnet-4-5';
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpSpan {
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
}

/** An OTLP/HTTP receiver on 127.0.0.1 keeping every span posted to /v1/traces. */
async function startReceiver(): Promise<{ server: Server; url: string; spans: OtlpSpan[] }> {
  const spans: OtlpSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const r of body.resourceSpans ?? []) for (const s of r.scopeSpans) spans.push(...(s.spans as OtlpSpan[]));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, spans };
}

function valueOf(value: OtlpValue): unknown {
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(valueOf);
  if (value.stringValue !== undefined) return value.stringValue;
  return value.intValue === undefined ? undefined : Number(value.intValue);
}

function attrs(span: OtlpSpan): Record<string, unknown> {
  return Object.fromEntries(span.attributes.map((a) => [a.key, valueOf(a.value)]));
}

/** The three answer attributes of a span. */
function answerAttrs(span: OtlpSpan): { id: unknown; model: unknown; finish: unknown } {
  const all = attrs(span);
  return { id: all['gen_ai.response.id'], model: all['gen_ai.response.model'], finish: all['gen_ai.response.finish_reasons'] };
}

describe('OpenTelemetry: what the answer says of itself', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let fireworks: FireworksSim;
  let claude: AnthropicSim;

  before(async () => {
    receiver = await startReceiver();
    fireworks = await startFireworksSim({ port: 0 });
    claude = await startAnthropicSim({ port: 0 });
  });
  after(async () => {
    await Promise.all([fireworks.close(), claude.close(), new Promise((resolve) => receiver.server.close(resolve))]);
  });

  /** A gateway exporting to the receiver for one test: `run` gets an OpenAI client; the spans it made are returned once flushed. */
  async function traced(env: Record<string, string>, run: (client: OpenAI) => Promise<void>, apiKey = KEY): Promise<{ server: OtlpSpan; client: OtlpSpan }> {
    receiver.spans.length = 0;
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      FIREWORKS_BASE_URL: fireworks.url,
      FIREWORKS_API_KEY: KEY,
      ANTHROPIC_BASE_URL: claude.url,
      ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      ...env,
    });
    const logger = createLogger(config.LOG_LEVEL);
    const gateway = createGatewayServer(config, logger, { telemetry: await startTelemetry(config, logger) });
    const address = await gateway.listen(0, '127.0.0.1');
    try {
      await run(new OpenAI({ baseURL: `http://127.0.0.1:${address.port}/v1`, apiKey, maxRetries: 0 }));
    } finally {
      // The shutdown flushes the spans.
      await gateway.shutdown(1_000);
    }
    const servers = receiver.spans.filter((span) => span.kind === SPAN_KIND_SERVER);
    const clients = receiver.spans.filter((span) => span.kind === SPAN_KIND_CLIENT);
    assert.equal(servers.length, 1);
    assert.equal(clients.length, 1);
    return { server: servers[0]!, client: clients[0]! };
  }

  test('a pass-through stream: the id, model and every choice’s finish reason the provider sent', async () => {
    let id = '';
    let model = '';
    const finish: string[] = [];
    const spans = await traced({}, async (client) => {
      const stream = await client.chat.completions.create({ model: MODEL, n: 2, stream: true, messages: [{ role: 'user', content: 'Say hello' }] });
      for await (const chunk of stream) {
        id ||= chunk.id;
        model ||= chunk.model;
        for (const choice of chunk.choices) if (choice.finish_reason) finish[choice.index] = choice.finish_reason;
      }
    });
    assert.ok(id !== '' && model !== '' && finish.length === 2, 'the stream named its id, its model and two finish reasons');
    const expected = { id, model, finish };
    assert.deepEqual(answerAttrs(spans.client), expected, 'the answering attempt’s span');
    assert.deepEqual(answerAttrs(spans.server), expected, 'the request’s span');
  });

  test('a pass-through whole answer, with its content captured on opt-in as gen_ai.output.messages', async () => {
    let answer: OpenAI.Chat.Completions.ChatCompletion | undefined;
    const spans = await traced({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }, async (client) => {
      answer = await client.chat.completions.create({ model: MODEL, max_tokens: 3, messages: [{ role: 'user', content: 'Say hello' }] });
    });
    const choice = answer!.choices[0]!;
    const expected = { id: answer!.id, model: answer!.model, finish: [choice.finish_reason] };
    assert.deepEqual(answerAttrs(spans.client), expected);
    assert.deepEqual(answerAttrs(spans.server), expected);
    const output = JSON.parse(String(attrs(spans.server)['gen_ai.output.messages']));
    assert.deepEqual(output, [{ role: 'assistant', parts: [{ type: 'text', content: choice.message.content }], finish_reason: choice.finish_reason }]);
  });

  test('content capture off: no gen_ai.output.messages', async () => {
    const spans = await traced({}, async (client) => {
      await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello' }] });
    });
    assert.equal(attrs(spans.server)['gen_ai.output.messages'], undefined);
    assert.equal(typeof attrs(spans.server)['gen_ai.response.id'], 'string');
  });

  test('a translated stream (Anthropic’s Messages to chat): the provider’s own id, model and stop reason', async () => {
    let id = '';
    let model = '';
    let clientFinish = '';
    const spans = await traced({}, async (client) => {
      // Two tokens stop Anthropic's answer at max_tokens, which the chat client sees as `length`.
      const stream = await client.chat.completions.create({ model: `anthropic/${CLAUDE}`, max_tokens: 2, stream: true, messages: [{ role: 'user', content: 'Say hello' }] });
      for await (const chunk of stream) {
        id ||= chunk.id;
        model ||= chunk.model;
        clientFinish ||= chunk.choices[0]?.finish_reason ?? '';
      }
    }, ANTHROPIC_SIM_API_KEY);
    assert.equal(clientFinish, 'length');
    assert.match(id, /^msg_/, 'the chat chunks carry Anthropic’s message id');
    const expected = { id, model, finish: ['max_tokens'] };
    assert.deepEqual(answerAttrs(spans.client), expected);
    assert.deepEqual(answerAttrs(spans.server), expected);
  });
});

describe('the answer facts reader', () => {
  test('is engaged for each attempt while telemetry is on, and never without it', async () => {
    const sim = await startFireworksSim({ port: 0 });
    const receiver = await startReceiver();
    const readFacts = Attempt.prototype.readFacts;
    let engaged = 0;
    Attempt.prototype.readFacts = function (this: Attempt, keepBodyBytes: number) {
      engaged++;
      readFacts.call(this, keepBodyBytes);
    };
    /** Two requests, a whole answer and a stream, through a gateway with or without an OTLP endpoint. */
    const send = async (env: Record<string, string>): Promise<void> => {
      const config = loadConfig({ LOG_LEVEL: 'silent', FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, ...env });
      const logger = createLogger(config.LOG_LEVEL);
      const gateway = createGatewayServer(config, logger, { telemetry: await startTelemetry(config, logger) });
      const address = await gateway.listen(0, '127.0.0.1');
      try {
        const client = new OpenAI({ baseURL: `http://127.0.0.1:${address.port}/v1`, apiKey: KEY, maxRetries: 0 });
        await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
        const stream = await client.chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] });
        for await (const _ of stream);
      } finally {
        await gateway.shutdown(1_000);
      }
    };
    try {
      await send({});
      assert.equal(engaged, 0, 'without telemetry no attempt reads its answer’s facts');
      await send({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` });
      assert.equal(engaged, 2, 'the control: with telemetry each attempt does');
    } finally {
      Attempt.prototype.readFacts = readFacts;
      await sim.close();
      await new Promise((resolve) => receiver.server.close(resolve));
    }
  });

  /** The facts of `bytes` fed in two chunks split at every position, each compared with the facts of the whole. */
  function everySplit(dialect: FactsDialect, text: string): void {
    const bytes = Buffer.from(text);
    const whole = new FactsReader(dialect, 0);
    whole.push(bytes);
    for (let at = 1; at < bytes.length; at++) {
      const split = new FactsReader(dialect, 0);
      split.push(bytes.subarray(0, at));
      split.push(bytes.subarray(at));
      assert.deepEqual([split.id, split.model, split.finishReasons], [whole.id, whole.model, whole.finishReasons], `split at ${at}`);
    }
  }

  test('reads the same facts of a stream whatever the split: chat, Anthropic, Responses', () => {
    const chat =
      'data: {"id":"chatcmpl-7","object":"chat.completion.chunk","model":"m-1","choices":[{"index":0,"delta":{"content":"hi","tool_calls":[{"id":"call_1"}]},"finish_reason":null}]}\n\n' +
      'data: {"id":"chatcmpl-7","object":"chat.completion.chunk","model":"m-1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"},{"index":1,"delta":{},"finish_reason":"length"}]}\n\n';
    const reader = new FactsReader(CHAT_FACTS, 0);
    reader.push(Buffer.from(chat));
    assert.deepEqual([reader.id, reader.model, reader.finishReasons], ['chatcmpl-7', 'm-1', ['tool_calls', 'length']]);
    everySplit(CHAT_FACTS, chat);
    everySplit(
      ANTHROPIC_FACTS,
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null}}\n\n' +
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}\n\n',
    );
    const responses =
      'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_1","status":"in_progress","model":"gpt-x","output":[]}}\n\n' +
      'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","status":"incomplete","model":"gpt-x","output":[{"id":"msg_2","status":"incomplete"}]}}\n\n';
    const read = new FactsReader(RESPONSES_FACTS, 0);
    read.push(Buffer.from(responses));
    assert.deepEqual([read.id, read.model, read.finishReasons], ['resp_1', 'gpt-x', ['incomplete']], 'the response’s status in its closing event, once');
    everySplit(RESPONSES_FACTS, responses);
  });
});
