// Two popular client libraries through the gateway to the Anthropic simulator: the Vercel AI SDK
// (`ai` with `@ai-sdk/openai-compatible`) and LangChain (`@langchain/openai` over
// `@langchain/core`). Both speak chat completions to the gateway with `x-provider: anthropic`; the
// gateway translates to the simulator's Messages API. Faults reach the simulator through OpenAI's
// `user` field (`sim:<json>`), which the translation sends as `metadata.user_id`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { AIMessageChunk } from '@langchain/core/messages';
import { tool as lcTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { APICallError, generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim, type AnthropicSimFault } from '../sim/anthropic.js';
import type { GatewayServer } from '../src/server.js';
import { simFault, startGateway } from './helpers.js';

const MODEL = 'claude-haiku-4-5';
/** The `anthropic-version` the gateway sends by default. */
const VERSION = '2026-10-21';
/** The AI SDK provider's name, which is also its providerOptions key. */
const PROVIDER = 'gateway';

let sim: AnthropicSim;
let gateway: GatewayServer;
let baseURL: string;

before(async () => {
  sim = await startAnthropicSim({ port: 0 });
  ({ server: gateway, url: baseURL } = await startGateway({ ANTHROPIC_BASE_URL: sim.url, ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY }));
});
after(async () => {
  await gateway.shutdown(0);
  await sim.close();
});

/** Faults for the simulator, carried by `user`. */
const fault = (spec: AnthropicSimFault): string => simFault(spec);

/** The Messages API requests the simulator saw since `from`. */
function seen(from: number) {
  return sim.requests.slice(from).filter((r) => r.path.startsWith('/v1/messages'));
}

/** Every request since `from` went out as Anthropic's Messages API, with the version header. */
function assertMessagesApi(from: number, count: number): void {
  const sent = seen(from);
  assert.equal(sent.length, count, `${sent.length} requests reached /v1/messages`);
  for (const request of sent) {
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/v1/messages');
    assert.equal(request.headers['anthropic-version'], VERSION);
    assert.equal(request.headers['x-api-key'], ANTHROPIC_SIM_API_KEY);
    assert.equal(request.json.model, MODEL);
  }
}

const weatherSchema = z.object({
  city: z.string().describe('The city'),
  unit: z.enum(['c', 'f']).describe('Celsius or Fahrenheit'),
});

// ---------------------------------------------------------------------------------------------
// Vercel AI SDK

function aiProvider() {
  return createOpenAICompatible({
    name: PROVIDER,
    baseURL,
    apiKey: 'use-server-key',
    headers: { 'x-provider': 'anthropic' },
    // Without it a stream asks for no usage chunk, and streamText's usage is unknown.
    includeUsage: true,
  });
}
const aiModel = () => aiProvider().chatModel(MODEL);

describe('Vercel AI SDK (ai + @ai-sdk/openai-compatible)', () => {
  test('generateText: text, finishReason stop, usage', async () => {
    const from = sim.requests.length;
    const result = await generateText({ model: aiModel(), prompt: 'Hello', maxRetries: 0 });
    assert.ok(result.text.length > 0);
    assert.equal(result.finishReason, 'stop');
    assert.ok(result.usage.inputTokens! > 0, `inputTokens ${result.usage.inputTokens}`);
    assert.ok(result.usage.outputTokens! > 0, `outputTokens ${result.usage.outputTokens}`);
    assert.equal(result.usage.totalTokens, result.usage.inputTokens! + result.usage.outputTokens!);
    assertMessagesApi(from, 1);
    assert.deepEqual(seen(from)[0]!.json.messages, [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }]);
  });

  test('streamText: many text deltas assembled, finishReason stop, usage from the usage chunk', async () => {
    const from = sim.requests.length;
    const result = streamText({
      model: aiModel(),
      prompt: 'Hello',
      maxRetries: 0,
      providerOptions: { [PROVIDER]: { user: fault({ chunks: 6 }) } },
      onError: () => {},
    });
    const parts: string[] = [];
    for await (const part of result.textStream) parts.push(part);
    assert.ok(parts.length >= 6, `${parts.length} text deltas`);
    assert.ok(parts.join('').length > 0);
    assert.equal(parts.join(''), await result.text);
    assert.equal(await result.finishReason, 'stop');
    const usage = await result.usage;
    assert.ok(usage.inputTokens! > 0 && usage.outputTokens! > 0, JSON.stringify(usage));
    assertMessagesApi(from, 1);
    const sent = seen(from)[0]!;
    assert.equal(sent.json.stream, true);
    assert.equal(sent.json.metadata.user_id, fault({ chunks: 6 }), 'providerOptions user reaches Anthropic as metadata.user_id');
  });

  test('generateText with a zod tool: the call is parsed per schema; with execute and two steps the loop closes', async () => {
    // One step, the tool forced and not executed: just the call.
    let from = sim.requests.length;
    const called = await generateText({
      model: aiModel(),
      prompt: 'Weather in Paris?',
      tools: { get_weather: tool({ description: 'The weather in a city', inputSchema: weatherSchema }) },
      toolChoice: 'required',
      maxRetries: 0,
    });
    assert.equal(called.finishReason, 'tool-calls');
    assert.equal(called.toolCalls.length, 1);
    const call = called.toolCalls[0]!;
    assert.equal(call.toolName, 'get_weather');
    assert.match(call.toolCallId, /^toolu_/);
    const input = weatherSchema.parse(call.input);
    assert.ok(['c', 'f'].includes(input.unit));
    assertMessagesApi(from, 1);
    const sentTools = seen(from)[0]!.json.tools;
    assert.equal(sentTools[0].name, 'get_weather');
    assert.deepEqual(sentTools[0].input_schema.required, ['city', 'unit']);
    assert.deepEqual(seen(from)[0]!.json.tool_choice, { type: 'any' });

    // Two steps with `execute`: the call, the tool's answer sent back, the model's text after it.
    from = sim.requests.length;
    const executed: unknown[] = [];
    const looped = await generateText({
      model: aiModel(),
      prompt: 'Weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'The weather in a city',
          inputSchema: weatherSchema,
          execute: async (args) => {
            executed.push(args);
            return { forecast: '18 degrees and sunny' };
          },
        }),
      },
      stopWhen: stepCountIs(2),
      maxRetries: 0,
    });
    assert.equal(executed.length, 1);
    assert.equal(looped.steps.length, 2);
    assert.equal(looped.steps[0]!.finishReason, 'tool-calls');
    assert.equal(looped.steps[0]!.toolResults[0]!.toolName, 'get_weather');
    assert.equal(looped.finishReason, 'stop');
    assert.match(looped.text, /18 degrees and sunny/);
    assert.ok(looped.totalUsage.inputTokens! > looped.usage.inputTokens!, 'usage summed over both steps');
    assertMessagesApi(from, 2);
    const replay = seen(from)[1]!.json.messages;
    assert.equal(replay[1].role, 'assistant');
    assert.equal(replay[1].content.at(-1).type, 'tool_use');
    assert.equal(replay[2].content[0].type, 'tool_result');
    assert.equal(replay[2].content[0].tool_use_id, replay[1].content.at(-1).id);
  });

  test('streamText with a tool call whose arguments arrive in 20 fragments', async () => {
    const from = sim.requests.length;
    const result = streamText({
      model: aiModel(),
      prompt: 'Weather?',
      tools: {
        get_weather: tool({
          description: 'The weather in a city',
          inputSchema: jsonSchema<{ city: string; unit: 'c' | 'f' }>({
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
            required: ['city', 'unit'],
            additionalProperties: false,
          }),
        }),
      },
      toolChoice: { type: 'tool', toolName: 'get_weather' },
      maxRetries: 0,
      providerOptions: { [PROVIDER]: { user: fault({ tool_fragments: 20 }) } },
      onError: () => {},
    });
    let deltas = 0;
    let assembled = '';
    let started: string | undefined;
    for await (const part of result.fullStream) {
      if (part.type === 'error') throw part.error;
      if (part.type === 'tool-input-start') started = part.toolName;
      if (part.type === 'tool-input-delta') {
        deltas++;
        assembled += part.delta;
      }
    }
    assert.equal(started, 'get_weather');
    assert.ok(deltas >= 10, `tool input came in ${deltas} deltas`);
    const calls = await result.toolCalls;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.toolName, 'get_weather');
    assert.match(calls[0]!.toolCallId, /^toolu_/);
    assert.deepEqual(calls[0]!.input, JSON.parse(assembled));
    assert.equal(typeof (calls[0]!.input as { city: unknown }).city, 'string');
    assert.equal(await result.finishReason, 'tool-calls');
    assertMessagesApi(from, 1);
    assert.deepEqual(seen(from)[0]!.json.tool_choice, { type: 'tool', name: 'get_weather' });
  });

  test('streamText with two parallel tool calls, both executed; the second step names both results', async () => {
    const from = sim.requests.length;
    const result = streamText({
      model: aiModel(),
      prompt: 'Weather and time?',
      tools: {
        get_weather: tool({ description: 'The weather in a city', inputSchema: weatherSchema, execute: async () => 'sunny' }),
        get_time: tool({ description: 'The time now', inputSchema: z.object({}), execute: async () => 'noon' }),
      },
      stopWhen: stepCountIs(2),
      maxRetries: 0,
      providerOptions: { [PROVIDER]: { user: fault({ parallel_tools: true, tool_fragments: 5 }) } },
      onError: () => {},
    });
    for await (const part of result.fullStream) if (part.type === 'error') throw part.error;
    const steps = await result.steps;
    assert.equal(steps.length, 2);
    const calls = steps[0]!.toolCalls;
    assert.deepEqual(calls.map((c) => c.toolName), ['get_weather', 'get_time']);
    assert.notEqual(calls[0]!.toolCallId, calls[1]!.toolCallId);
    weatherSchema.parse(calls[0]!.input);
    assert.deepEqual(steps[0]!.toolResults.map((r) => r.output), ['sunny', 'noon']);
    assert.equal(await result.finishReason, 'stop');
    assert.match(await result.text, /sunny; noon/);
    assertMessagesApi(from, 2);
    const replay = seen(from)[1]!.json.messages;
    assert.deepEqual(replay[1].content.map((b: { type: string }) => b.type), ['tool_use', 'tool_use']);
    assert.deepEqual(
      replay[2].content.map((b: { tool_use_id: string }) => b.tool_use_id),
      calls.map((c) => c.toolCallId),
      'both results in one user turn, in call order',
    );
  });

  test('errors: a 429 and an unknown model (404) are APICallErrors with their status; an error mid-stream is an error part', async () => {
    const from = sim.requests.length;
    await assert.rejects(
      generateText({
        model: aiModel(),
        prompt: 'hi',
        maxRetries: 0,
        headers: { 'x-gateway-max-retries': '0' },
        providerOptions: { [PROVIDER]: { user: fault({ status: 429, error_message: 'simulated rate limit' }) } },
      }),
      (err: unknown) => {
        assert.ok(APICallError.isInstance(err), String(err));
        assert.equal(err.statusCode, 429);
        assert.equal(err.isRetryable, true);
        assert.match(err.message, /simulated rate limit/);
        assert.ok(err.responseHeaders?.['retry-after']);
        return true;
      },
    );
    assert.equal(seen(from).length, 1, 'x-gateway-max-retries: 0 means one attempt');

    await assert.rejects(
      generateText({ model: aiProvider().chatModel('claude-no-such-model'), prompt: 'hi', maxRetries: 0 }),
      (err: unknown) => APICallError.isInstance(err) && err.statusCode === 404 && err.isRetryable === false,
    );

    // A stream refused before it starts: the error part carries the same APICallError.
    const streamed = streamText({
      model: aiModel(),
      prompt: 'hi',
      maxRetries: 0,
      headers: { 'x-gateway-max-retries': '0' },
      providerOptions: { [PROVIDER]: { user: fault({ status: 429 }) } },
      onError: () => {},
    });
    const errors: unknown[] = [];
    for await (const part of streamed.fullStream) if (part.type === 'error') errors.push(part.error);
    assert.equal(errors.length, 1);
    assert.ok(APICallError.isInstance(errors[0]) && errors[0].statusCode === 429, String(errors[0]));

    // An error after the stream started: text first, then an error part with Anthropic's message.
    const broken = streamText({
      model: aiModel(),
      prompt: 'hi',
      maxRetries: 0,
      providerOptions: { [PROVIDER]: { user: fault({ chunks: 5, stream_error: { after: 2, type: 'api_error', message: 'Internal server error' } }) } },
      onError: () => {},
    });
    let text = '';
    const midErrors: unknown[] = [];
    for await (const part of broken.fullStream) {
      if (part.type === 'text-delta') text += part.text;
      if (part.type === 'error') midErrors.push(part.error);
    }
    assert.ok(text.length > 0);
    assert.equal(midErrors.length, 1);
    assert.match((midErrors[0] as { message: string }).message, /Internal server error/);
    assert.equal(await broken.finishReason, 'error');
  });
});

// ---------------------------------------------------------------------------------------------
// LangChain

function chat(fields: Partial<ConstructorParameters<typeof ChatOpenAI>[0] & object> = {}): ChatOpenAI {
  return new ChatOpenAI({
    model: MODEL,
    apiKey: 'use-server-key',
    configuration: { baseURL, defaultHeaders: { 'x-provider': 'anthropic' } },
    maxRetries: 0,
    ...fields,
  });
}

const lcWeather = lcTool(async ({ city }) => `18 degrees and sunny in ${city}`, {
  name: 'get_weather',
  description: 'The weather in a city',
  schema: weatherSchema,
});

/** The chunks of a stream, and their concatenation. */
async function gather(stream: AsyncIterable<AIMessageChunk>): Promise<{ chunks: AIMessageChunk[]; whole: AIMessageChunk }> {
  const chunks: AIMessageChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length > 0);
  return { chunks, whole: chunks.reduce((a, b) => a.concat(b)) };
}

describe('LangChain (@langchain/openai ChatOpenAI)', () => {
  test('invoke: content and usage_metadata', async () => {
    const from = sim.requests.length;
    const message = await chat().invoke([
      ['system', 'Be brief.'],
      ['human', 'Hello'],
    ]);
    assert.equal(typeof message.content, 'string');
    assert.ok((message.content as string).length > 0);
    const usage = message.usage_metadata!;
    assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0, JSON.stringify(usage));
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert.equal(message.response_metadata.finish_reason, 'stop');
    assertMessagesApi(from, 1);
    assert.deepEqual(
      seen(from)[0]!.json.system.map((block: { text: string }) => block.text),
      ['Be brief.'],
    );
  });

  test('stream: text chunks concatenated, usage from the usage chunk', async () => {
    const from = sim.requests.length;
    const { chunks, whole } = await gather(await chat({ user: fault({ chunks: 6 }) }).stream('Hello'));
    const texts = chunks.map((c) => c.content).filter((c): c is string => typeof c === 'string' && c.length > 0);
    assert.ok(texts.length >= 6, `${texts.length} text chunks`);
    assert.equal(whole.content, texts.join(''));
    assert.ok(whole.usage_metadata!.input_tokens > 0 && whole.usage_metadata!.output_tokens > 0, JSON.stringify(whole.usage_metadata));
    assertMessagesApi(from, 1);
    assert.equal(seen(from)[0]!.json.stream, true);
    assert.equal(seen(from)[0]!.json.metadata.user_id, fault({ chunks: 6 }));
  });

  test('bindTools with a zod tool: tool_calls name and args; the tool result round trip', async () => {
    const from = sim.requests.length;
    const model = chat().bindTools([lcWeather], { tool_choice: 'get_weather' });
    const message = await model.invoke('Weather in Paris?');
    assert.equal(message.tool_calls!.length, 1);
    const call = message.tool_calls![0]!;
    assert.equal(call.name, 'get_weather');
    assert.match(call.id!, /^toolu_/);
    const args = weatherSchema.parse(call.args);
    assert.equal(message.response_metadata.finish_reason, 'tool_calls');

    // The tool runs on LangChain's side; its ToolMessage goes back and the answer names it.
    const toolMessage = await lcWeather.invoke(call);
    const answer = await chat().bindTools([lcWeather]).invoke([['human', 'Weather in Paris?'], message, toolMessage]);
    assert.match(answer.content as string, new RegExp(`18 degrees and sunny in ${args.city}`));
    assertMessagesApi(from, 2);
    const [first, second] = seen(from);
    assert.deepEqual(first!.json.tool_choice, { type: 'tool', name: 'get_weather' });
    assert.equal(first!.json.tools[0].name, 'get_weather');
    assert.equal(second!.json.messages[2].content[0].type, 'tool_result');
    assert.equal(second!.json.messages[2].content[0].tool_use_id, call.id);
  });

  test('a streamed tool call: tool_call_chunks concatenated into valid args', async () => {
    const from = sim.requests.length;
    const model = chat({ user: fault({ tool_fragments: 20 }) }).bindTools([lcWeather], { tool_choice: 'get_weather' });
    const { chunks, whole } = await gather(await model.stream('Weather?'));
    const fragments = chunks.flatMap((c) => c.tool_call_chunks ?? []);
    const withArgs = fragments.filter((f) => f.args);
    assert.ok(withArgs.length >= 10, `args came in ${withArgs.length} chunks`);
    assert.ok(fragments.every((f) => f.index === 0));
    assert.equal(fragments.find((f) => f.name)?.name, 'get_weather');
    const args = JSON.parse(withArgs.map((f) => f.args).join(''));
    weatherSchema.parse(args);
    assert.equal(whole.tool_calls!.length, 1);
    assert.equal(whole.tool_calls![0]!.name, 'get_weather');
    assert.deepEqual(whole.tool_calls![0]!.args, args);
    assert.match(whole.tool_calls![0]!.id!, /^toolu_/);
    assertMessagesApi(from, 1);
  });

  test('two parallel tool calls streamed: indices 0 and 1, distinct ids, both parsed', async () => {
    const time = lcTool(async () => 'noon', { name: 'get_time', description: 'The time now', schema: z.object({}) });
    const model = chat({ user: fault({ parallel_tools: true, tool_fragments: 5 }) }).bindTools([lcWeather, time], { tool_choice: 'any' });
    const { chunks, whole } = await gather(await model.stream('Weather and time?'));
    const indices = new Set(chunks.flatMap((c) => c.tool_call_chunks ?? []).map((f) => f.index));
    assert.deepEqual([...indices], [0, 1]);
    assert.deepEqual(whole.tool_calls!.map((c) => c.name), ['get_weather', 'get_time']);
    assert.notEqual(whole.tool_calls![0]!.id, whole.tool_calls![1]!.id);
    weatherSchema.parse(whole.tool_calls![0]!.args);
    assert.deepEqual(whole.tool_calls![1]!.args, {});
    assert.deepEqual(whole.invalid_tool_calls, []);
  });

  test('errors: a 429 and an unknown model (404) keep their status and lc_error_code; an error mid-stream throws from the iterator', async () => {
    const from = sim.requests.length;
    const limited = chat({ user: fault({ status: 429, error_message: 'simulated rate limit' }) });
    await assert.rejects(
      limited.invoke('hi', { options: { headers: { 'x-gateway-max-retries': '0' } } }),
      (err: { status?: number; lc_error_code?: string; message: string }) => {
        assert.equal(err.status, 429);
        assert.equal(err.lc_error_code, 'MODEL_RATE_LIMIT');
        assert.match(err.message, /simulated rate limit/);
        return true;
      },
    );
    assert.equal(seen(from).length, 1, 'x-gateway-max-retries: 0 means one attempt');

    await assert.rejects(
      chat({ model: 'claude-no-such-model' }).invoke('hi'),
      (err: { status?: number; lc_error_code?: string }) => err.status === 404 && err.lc_error_code === 'MODEL_NOT_FOUND',
    );
    await assert.rejects(
      (async () => {
        for await (const _ of await chat({ model: 'claude-no-such-model' }).stream('hi')) void _;
      })(),
      (err: { status?: number }) => err.status === 404,
    );

    // An error after the stream started: the chunks so far, then the iterator throws.
    const texts: string[] = [];
    await assert.rejects(
      (async () => {
        const broken = chat({ user: fault({ chunks: 5, stream_error: { after: 2, type: 'api_error', message: 'Internal server error' } }) });
        for await (const chunk of await broken.stream('hi')) texts.push(chunk.content as string);
      })(),
      /Internal server error/,
    );
    assert.ok(texts.join('').length > 0);
  });
});
