// Usage normalised once for every provider dialect: every input token in promptTokens (cache reads
// and writes included), every output token in completionTokens (reasoning included), with the
// parts apart. Payloads are shaped as each provider's documentation shows them, and every split of
// their bytes into two chunks (and one byte at a time) gives the same usage.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { simApiKey, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { AddedUsageFilter, withUsageRequested } from '../src/added-usage.js';
import { collectLines, requestLines, startGateway, until } from './helpers.js';
import { translateAnswer as messagesAnswer } from '../src/inbound/anthropic-messages/answer.js';
import { usageOf } from '../src/inbound/chat.js';
import { gatewayUsage } from '../src/translate/usage.js';
import { ANTHROPIC_USAGE, CHAT_USAGE, GEMINI_USAGE, RESPONSES_USAGE, UsageObserver, type Usage, type UsageDialect } from '../src/stream.js';

function observe(chunks: Buffer[], dialect: UsageDialect): Usage | undefined {
  const observer = new UsageObserver(dialect);
  for (const chunk of chunks) observer.push(chunk);
  return observer.usage;
}

/** The usage of `text` fed whole, split in two at every point, one byte at a time and as a whole body: all must agree. */
function usageOfEverySplit(text: string, dialect: UsageDialect): Usage | undefined {
  const bytes = Buffer.from(text);
  const whole = observe([bytes], dialect);
  for (let at = 0; at <= bytes.length; at++) {
    assert.deepEqual(observe([bytes.subarray(0, at), bytes.subarray(at)], dialect), whole, `split at ${at}`);
  }
  assert.deepEqual(observe(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)), dialect), whole, 'one byte at a time');
  const body = new UsageObserver(dialect);
  body.readBody(bytes);
  assert.deepEqual(body.usage, whole, 'as a whole body');
  return whole;
}

const sse = (...events: unknown[]): string => events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('') + 'data: [DONE]\n\n';

describe('usage normalised per provider dialect', () => {
  test('OpenAI chat: cached tokens are within prompt_tokens, reasoning within completion_tokens', () => {
    // https://platform.openai.com/docs/api-reference/chat-streaming: the usage chunk of include_usage.
    const stream = sse(
      { id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'o4-mini', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }], usage: null },
      { id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'o4-mini', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null },
      {
        id: 'chatcmpl-1',
        object: 'chat.completion.chunk',
        model: 'o4-mini',
        choices: [],
        usage: {
          prompt_tokens: 2006,
          completion_tokens: 300,
          total_tokens: 2306,
          prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 192, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
        },
      },
    );
    assert.deepEqual(usageOfEverySplit(stream, CHAT_USAGE), { promptTokens: 2006, completionTokens: 300, cacheReadTokens: 1920, reasoningTokens: 192 });
  });

  test("DeepSeek's prompt_cache_hit_tokens, with and without OpenAI's details beside them", () => {
    // https://api-docs.deepseek.com/api/create-chat-completion (usage).
    const both = JSON.stringify({
      id: 'x',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok', reasoning_content: 'hmm' }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 1200,
        completion_tokens: 400,
        total_tokens: 1600,
        prompt_tokens_details: { cached_tokens: 1024 },
        prompt_cache_hit_tokens: 1024,
        prompt_cache_miss_tokens: 176,
        completion_tokens_details: { reasoning_tokens: 350 },
      },
    });
    assert.deepEqual(usageOfEverySplit(both, CHAT_USAGE), { promptTokens: 1200, completionTokens: 400, cacheReadTokens: 1024, reasoningTokens: 350 });
    const hitOnly = JSON.stringify({ usage: { prompt_tokens: 90, completion_tokens: 10, total_tokens: 100, prompt_cache_hit_tokens: 64, prompt_cache_miss_tokens: 26 } });
    assert.deepEqual(usageOfEverySplit(hitOnly, CHAT_USAGE), { promptTokens: 90, completionTokens: 10, cacheReadTokens: 64 });
  });

  test("Groq's x_groq usage and OpenRouter's cache writes read as chat usage", () => {
    // https://console.groq.com/docs/api-reference (x_groq on the last chunk).
    const groq = sse({
      id: 'chatcmpl-g',
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      x_groq: { id: 'req_1', usage: { queue_time: 0.02, prompt_tokens: 50, prompt_time: 0.003, completion_tokens: 20, completion_time: 0.05, total_tokens: 70, total_time: 0.053 } },
    });
    assert.deepEqual(usageOfEverySplit(groq, CHAT_USAGE), { promptTokens: 50, completionTokens: 20 });
    // https://openrouter.ai/docs/use-cases/usage-accounting
    const openrouter = JSON.stringify({
      usage: { prompt_tokens: 3000, completion_tokens: 50, total_tokens: 3050, cost: 0.01, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 2900 }, completion_tokens_details: { reasoning_tokens: 0 } },
    });
    assert.deepEqual(usageOfEverySplit(openrouter, CHAT_USAGE), { promptTokens: 3000, completionTokens: 50, cacheReadTokens: 0, cacheWriteTokens: 2900, reasoningTokens: 0 });
  });

  test("the Responses API: a null usage at the start, the counts and their details at response.completed", () => {
    // https://platform.openai.com/docs/api-reference/responses-streaming
    const stream =
      `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress', output: [], usage: null } })}\n\n` +
      `event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', delta: 'the "usage" word' })}\n\n` +
      `event: response.completed\ndata: ${JSON.stringify({
        type: 'response.completed',
        response: {
          id: 'resp_1',
          status: 'completed',
          output: [{ type: 'message', content: [{ type: 'output_text', text: '{"usage":{"input_tokens":1}}' }] }],
          usage: { input_tokens: 5200, input_tokens_details: { cached_tokens: 4096 }, output_tokens: 900, output_tokens_details: { reasoning_tokens: 640 }, total_tokens: 6100 },
        },
      })}\n\n`;
    assert.deepEqual(usageOfEverySplit(stream, RESPONSES_USAGE), { promptTokens: 5200, completionTokens: 900, cacheReadTokens: 4096, reasoningTokens: 640 });
  });

  test("Anthropic: input_tokens leaves out cache reads and writes; message_delta's cumulative counts replace, never add", () => {
    // https://docs.claude.com/en/docs/build-with-claude/streaming and .../prompt-caching
    const start = {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [],
        model: 'claude-sonnet-4-5',
        usage: {
          input_tokens: 10,
          cache_creation_input_tokens: 200,
          cache_read_input_tokens: 1800,
          cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 0 },
          output_tokens: 1,
          service_tier: 'standard',
        },
      },
    };
    const delta = (usage: object) => ({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage });
    const named = (event: { type: string }) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    const text = named({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hi' } } as { type: string });
    const expected = { promptTokens: 2010, completionTokens: 503, cacheReadTokens: 1800, cacheWriteTokens: 200 };
    // The older message_delta names output_tokens alone; the current one repeats every count, cumulatively.
    assert.deepEqual(usageOfEverySplit(named(start) + text + named(delta({ output_tokens: 503 })) + named({ type: 'message_stop' }), ANTHROPIC_USAGE), expected);
    const repeated = delta({ input_tokens: 10, cache_creation_input_tokens: 200, cache_read_input_tokens: 1800, output_tokens: 503, server_tool_use: { web_search_requests: 0 } });
    assert.deepEqual(usageOfEverySplit(named(start) + text + named(repeated) + named({ type: 'message_stop' }), ANTHROPIC_USAGE), expected);
    // A whole Message.
    const message = JSON.stringify({ ...start.message, content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { ...start.message.usage, output_tokens: 503 } });
    assert.deepEqual(usageOfEverySplit(message, ANTHROPIC_USAGE), expected);
  });

  test("Gemini: promptTokenCount holds the cached content, candidatesTokenCount leaves out thoughts", () => {
    // https://ai.google.dev/api/generate-content#UsageMetadata
    const first = { candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] }, index: 0 }], usageMetadata: { promptTokenCount: 1200, totalTokenCount: 1200, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 1200 }] }, modelVersion: 'gemini-2.5-flash' };
    const last = {
      candidates: [{ content: { role: 'model', parts: [{ text: 'lo' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: {
        promptTokenCount: 1200,
        candidatesTokenCount: 80,
        totalTokenCount: 1545,
        cachedContentTokenCount: 1024,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 1200 }],
        cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 1024 }],
        thoughtsTokenCount: 250,
        toolUsePromptTokenCount: 15,
      },
      modelVersion: 'gemini-2.5-flash',
    };
    const expected = { promptTokens: 1215, completionTokens: 330, cacheReadTokens: 1024, reasoningTokens: 250 };
    const asSse = `data: ${JSON.stringify(first)}\r\n\r\ndata: ${JSON.stringify(last)}\r\n\r\n`;
    assert.deepEqual(usageOfEverySplit(asSse, GEMINI_USAGE), expected);
    // streamGenerateContent without alt=sse: one JSON array.
    assert.deepEqual(usageOfEverySplit(`[${JSON.stringify(first, null, 2)}\n,\r\n${JSON.stringify(last, null, 2)}\n]`, GEMINI_USAGE), expected);
  });

  test('a dialect reads only its own names and key', () => {
    const anthropic = JSON.stringify({ usage: { input_tokens: 3, cache_read_input_tokens: 5, output_tokens: 2 } });
    assert.deepEqual(observe([Buffer.from(anthropic)], RESPONSES_USAGE), { promptTokens: 3, completionTokens: 2 });
    assert.deepEqual(observe([Buffer.from(anthropic)], ANTHROPIC_USAGE), { promptTokens: 8, completionTokens: 2, cacheReadTokens: 5 });
    assert.equal(observe([Buffer.from(anthropic)], GEMINI_USAGE), undefined);
    assert.equal(observe([Buffer.from(anthropic)], CHAT_USAGE), undefined);
  });

  test('the inbound translators read the same chat names as the observer: DeepSeek and Moonshot cache hits, OpenRouter cache writes', () => {
    assert.deepEqual(usageOf({ prompt_tokens: 90, completion_tokens: 10, prompt_cache_hit_tokens: 64, prompt_cache_miss_tokens: 26 })?.gateway, { promptTokens: 90, completionTokens: 10, cacheReadTokens: 64 });
    assert.deepEqual(usageOf({ prompt_tokens: 90, completion_tokens: 10, cached_tokens: 32 })?.gateway, { promptTokens: 90, completionTokens: 10, cacheReadTokens: 32 });
    const chat = JSON.stringify({
      id: 'gen-1',
      object: 'chat.completion',
      model: 'anthropic/claude-sonnet-4.5',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3000, completion_tokens: 50, total_tokens: 3050, prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 2800 }, completion_tokens_details: { reasoning_tokens: 20 } },
    });
    const { json, usage } = messagesAnswer(chat, 'claude');
    assert.deepEqual(usage, { promptTokens: 3000, completionTokens: 50, cacheReadTokens: 100, cacheWriteTokens: 2800, reasoningTokens: 20 });
    // An Anthropic client is told the write apart from input, as Anthropic counts it.
    assert.deepEqual(JSON.parse(json).usage, { input_tokens: 100, cache_creation_input_tokens: 2800, cache_read_input_tokens: 100, output_tokens: 50 });
  });

  test("Anthropic's and Bedrock's counts (cached input apart from input) as the gateway's Usage", () => {
    assert.deepEqual(gatewayUsage({ input_tokens: 10, output_tokens: 503, cache_creation_input_tokens: 200, cache_read_input_tokens: 1800, thinking_tokens: 300 }), {
      promptTokens: 2010,
      completionTokens: 503,
      cacheReadTokens: 1800,
      cacheWriteTokens: 200,
      reasoningTokens: 300,
    });
  });
});

// The stream OpenAI sends a request with include_usage, and the one it sends without: the client
// that did not ask must get the second while the gateway asks for the first.
const CHUNK = 'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":';
const ASKED =
  `${CHUNK}[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\n\n` +
  `${CHUNK}[{"index":0,"delta":{"content":"the \\"usage\\":null text"},"finish_reason":null}],"usage":null}\n\n` +
  `${CHUNK}[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n` +
  `${CHUNK}[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}\n\n` +
  'data: [DONE]\n\n';
const UNASKED =
  `${CHUNK}[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n` +
  `${CHUNK}[{"index":0,"delta":{"content":"the \\"usage\\":null text"},"finish_reason":null}]}\n\n` +
  `${CHUNK}[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n` +
  'data: [DONE]\n\n';

describe('usage the gateway asks for on a client\'s behalf', () => {
  test('the usage chunk and every "usage":null are taken out, wherever the bytes are split', () => {
    const bytes = Buffer.from(ASKED);
    const run = (chunks: Buffer[]): string => {
      const filter = new AddedUsageFilter(1 << 20);
      let out = '';
      for (const chunk of chunks) out += filter.filter(chunk).toString();
      return out + filter.end().toString();
    };
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 7) {
        assert.equal(run([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]), UNASKED, `split at ${a}, ${b}`);
      }
    }
    // CRLF framing, and a stream whose last event has no blank line after it.
    assert.equal(run([Buffer.from(ASKED.replaceAll('\n', '\r\n'))]), UNASKED.replaceAll('\n', '\r\n'));
    assert.equal(run([Buffer.from(ASKED.slice(0, ASKED.indexOf('data: [DONE]')) + 'data: [DONE]')]), UNASKED.slice(0, -2));
  });

  test('include_usage is added as the body\'s first member, never where the client set stream_options', () => {
    const body = '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}';
    const added = withUsageRequested(Buffer.from(body)) as Buffer;
    assert.deepEqual(JSON.parse(added.toString()), { ...JSON.parse(body), stream_options: { include_usage: true } });
    assert.ok(added.toString().endsWith(body.slice(1)), 'the rest of the body byte for byte');
    // A body in pieces, with the key cut across two of them.
    const own = Buffer.from(' {"model":"m","stream":true,"stream_options":{"include_usage":false}}');
    const seam = own.indexOf('options');
    assert.equal(withUsageRequested([own.subarray(0, seam), own.subarray(seam)]), undefined);
    assert.equal(withUsageRequested(own), undefined);
    const pieces = withUsageRequested([Buffer.from(' '), Buffer.from(body)]) as Buffer[];
    assert.deepEqual(JSON.parse(Buffer.concat(pieces).toString()).stream_options, { include_usage: true });
  });

  describe('through the gateway, with the openai SDK', () => {
    let sim: OpenAICompatibleSim;
    let gateway: Awaited<ReturnType<typeof startGateway>>;
    let client: OpenAI;
    const lines: string[] = [];
    before(async () => {
      sim = await startOpenAICompatibleSim({ flavour: 'openai', port: 0 });
      gateway = await startGateway({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: simApiKey('openai'), LOG_LEVEL: 'info' }, collectLines(lines));
      client = new OpenAI({ baseURL: gateway.url, apiKey: simApiKey('openai'), defaultHeaders: { 'x-provider': 'openai' }, maxRetries: 0 });
    });
    after(async () => {
      await gateway.server.shutdown(0);
      await sim.close();
    });

    test('a stream that did not ask for usage gets none, and the request line counts its tokens', async () => {
      lines.length = 0;
      sim.clear();
      const chunks: Record<string, unknown>[] = [];
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Say hello' }] })) {
        chunks.push(chunk as unknown as Record<string, unknown>);
      }
      assert.ok(chunks.length > 1);
      for (const chunk of chunks) {
        assert.equal('usage' in chunk, false, JSON.stringify(chunk));
        assert.ok((chunk.choices as unknown[]).length > 0, 'no usage-only chunk');
      }
      assert.deepEqual(sim.requests[0]!.json.stream_options, { include_usage: true }, 'the provider was asked for usage');
      await until(() => requestLines(lines).length === 1);
      const line = requestLines(lines)[0]!;
      assert.ok(line.promptTokens > 0 && line.completionTokens > 0, JSON.stringify(line));
    });

    test('a stream that asked for usage gets it as the provider sent it', async () => {
      lines.length = 0;
      sim.clear();
      const chunks: Record<string, any>[] = [];
      const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say hello' }] });
      for await (const chunk of stream) chunks.push(chunk);
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.ok(last.usage.prompt_tokens > 0);
      for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
      await until(() => requestLines(lines).length === 1);
      assert.equal(requestLines(lines)[0]!.promptTokens, last.usage.prompt_tokens);
    });

    test('a request that is not a stream is sent as it came', async () => {
      sim.clear();
      const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] });
      assert.ok(answer.usage!.prompt_tokens > 0);
      assert.equal(sim.requests[0]!.json.stream_options, undefined);
    });
  });
});

