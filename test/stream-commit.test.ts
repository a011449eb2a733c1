// The commit point of a pass-through stream when another attempt remains: its preamble (a role
// chunk, message_start, response.created) is held, an error before its first content event fails
// the attempt unseen, and the first content event sends everything held. The classifier is fed
// recorded streams split at every byte; the attempt is driven over HTTP, between a scripted
// upstream and a client, writing through the request's sink as the router has it do.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Agent, Pool, request } from 'undici';
import { Attempt, type AttemptOutcome, type CommitPoint } from '../src/attempt.js';
import type { AttemptLimits, Exchange } from '../src/exchange.js';
import { geminiSseRoute, messagesRoute, responsesRoute } from '../src/inbound/index.js';
import type { InboundRoute } from '../src/inbound/types.js';
import { providerSpecs } from '../src/providers/index.js';
import { ClientSink } from '../src/sink.js';
import type { UsageObserver } from '../src/stream.js';
import { MAX_HELD_BYTES, MAX_HELD_EVENTS, StreamCommit, classifyEvent, type CommitState, type StreamApi } from '../src/stream-commit.js';

const sse = (data: object | string, event?: string): string =>
  `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

const chatChunk = (delta: object, finish: string | null = null): object => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

// OpenAI's first chunk: the role, an empty content and no refusal.
const CHAT_ROLE = sse(chatChunk({ role: 'assistant', content: '', refusal: null }));
const CHAT_CONTENT = sse(chatChunk({ content: 'Grüße, wörld 😀' }));
const CHAT_ERROR = sse({ error: { message: 'The server had an error while processing your request.', type: 'server_error', code: null } });
const CHAT_RATE_LIMITED = sse({ error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } });
const CHAT_USAGE = sse({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });

const ANTHROPIC_START =
  sse({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, usage: { input_tokens: 11, output_tokens: 1 } } }, 'message_start') +
  sse({ type: 'ping' }, 'ping') +
  sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start');
const ANTHROPIC_CONTENT = sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Grüße' } }, 'content_block_delta');
const ANTHROPIC_OVERLOADED = sse({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'error');
const ANTHROPIC_END =
  sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop') +
  sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }, 'message_delta') +
  sse({ type: 'message_stop' }, 'message_stop');

const RESPONSES_START =
  sse({ type: 'response.created', sequence_number: 0, response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } }, 'response.created') +
  sse({ type: 'response.in_progress', sequence_number: 1, response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } }, 'response.in_progress') +
  sse({ type: 'response.output_item.added', sequence_number: 2, output_index: 0, item: { id: 'msg_1', type: 'message', status: 'in_progress', content: [], role: 'assistant' } }, 'response.output_item.added') +
  sse({ type: 'response.content_part.added', sequence_number: 3, item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', annotations: [], text: '' } }, 'response.content_part.added');
const RESPONSES_CONTENT = sse({ type: 'response.output_text.delta', sequence_number: 4, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Grüße' }, 'response.output_text.delta');
const RESPONSES_ERROR = sse({ type: 'error', sequence_number: 4, code: 'server_error', message: 'The model failed to generate a response.', param: null }, 'error');
const RESPONSES_FAILED = sse(
  { type: 'response.failed', sequence_number: 4, response: { id: 'resp_1', object: 'response', status: 'failed', error: { code: 'rate_limit_exceeded', message: 'Rate limit reached.' }, output: [] } },
  'response.failed',
);

const GEMINI_CONTENT = sse({ candidates: [{ content: { parts: [{ text: 'Grüße' }], role: 'model' }, index: 0 }], modelVersion: 'gemini-2.5-flash' });
const GEMINI_ERROR = sse({ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } });

interface Case {
  readonly name: string;
  readonly api: StreamApi;
  readonly stream: string;
  readonly state: Exclude<CommitState, 'hold'>;
  readonly status?: number;
  readonly message?: string;
}

const CASES: readonly Case[] = [
  { name: 'chat: role chunk then an error', api: 'chat', stream: CHAT_ROLE + CHAT_ERROR, state: 'failed', status: 502, message: 'The server had an error while processing your request.' },
  { name: 'chat: role chunk then a rate limit', api: 'chat', stream: CHAT_ROLE + CHAT_RATE_LIMITED, state: 'failed', status: 429, message: 'Rate limit reached for requests' },
  { name: 'chat: role chunk, content, then an error', api: 'chat', stream: CHAT_ROLE + CHAT_CONTENT + CHAT_ERROR, state: 'commit' },
  { name: 'chat: role chunk then [DONE]', api: 'chat', stream: CHAT_ROLE + 'data: [DONE]\n\n', state: 'commit' },
  { name: 'chat: role chunk and a finish', api: 'chat', stream: CHAT_ROLE + sse(chatChunk({}, 'stop')) + CHAT_USAGE, state: 'commit' },
  { name: 'chat: a tool call', api: 'chat', stream: CHAT_ROLE + sse(chatChunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] })), state: 'commit' },
  { name: 'chat: reasoning', api: 'chat', stream: sse(chatChunk({ role: 'assistant', content: null, reasoning_content: 'Hm' })), state: 'commit' },
  { name: 'chat: a field it does not know', api: 'chat', stream: sse(chatChunk({ role: 'assistant', audio: { id: 'a' } })), state: 'commit' },
  { name: "chat: Azure's prompt filter results, then an error", api: 'chat', stream: sse({ choices: [], prompt_filter_results: [{ prompt_index: 0 }] }) + CHAT_ROLE + CHAT_ERROR, state: 'failed', status: 502 },
  { name: 'chat: an SSE error event', api: 'chat', stream: ': keep-alive\n\n' + CHAT_ROLE + sse({ message: 'upstream overloaded', type: 'overloaded' }, 'error'), state: 'failed', status: 503, message: 'upstream overloaded' },
  { name: 'chat: role chunk, then the stream ends', api: 'chat', stream: CHAT_ROLE, state: 'failed', status: 502, message: "The provider's stream ended before any content." },
  { name: 'chat: data that is not JSON', api: 'chat', stream: CHAT_ROLE + 'data: hello\n\n', state: 'commit' },
  { name: 'Anthropic: message_start, ping, content_block_start, then overloaded', api: 'anthropic-messages', stream: ANTHROPIC_START + ANTHROPIC_OVERLOADED, state: 'failed', status: 503, message: 'Overloaded' },
  { name: 'Anthropic: a text delta, then overloaded', api: 'anthropic-messages', stream: ANTHROPIC_START + ANTHROPIC_CONTENT + ANTHROPIC_OVERLOADED, state: 'commit' },
  { name: 'Anthropic: a tool_use block, then its input', api: 'anthropic-messages', stream: ANTHROPIC_START + sse({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 't', name: 'f', input: {} } }, 'content_block_start') + sse({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{' } }, 'content_block_delta'), state: 'commit' },
  { name: 'Anthropic: a rate limit without event lines', api: 'anthropic-messages', stream: `data: ${JSON.stringify({ type: 'message_start', message: {} })}\n\ndata: ${JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Slow down' } })}\n\n`, state: 'failed', status: 429 },
  { name: 'Responses: four opening events, then an error event', api: 'openai-responses', stream: RESPONSES_START + RESPONSES_ERROR, state: 'failed', status: 502, message: 'The model failed to generate a response.' },
  { name: 'Responses: four opening events, then response.failed', api: 'openai-responses', stream: RESPONSES_START + RESPONSES_FAILED, state: 'failed', status: 429, message: 'Rate limit reached.' },
  { name: 'Responses: a text delta, then an error event', api: 'openai-responses', stream: RESPONSES_START + RESPONSES_CONTENT + RESPONSES_ERROR, state: 'commit' },
  { name: 'Gemini: an error first', api: 'gemini', stream: GEMINI_ERROR, state: 'failed', status: 503, message: 'The model is overloaded. Please try again later.' },
  { name: 'Gemini: content, then an error', api: 'gemini', stream: GEMINI_CONTENT + GEMINI_ERROR, state: 'commit' },
  { name: "Gemini: the JSON-array stream (not SSE)", api: 'gemini', stream: `[{"candidates":[{"content":{"parts":[{"text":"Grüße"}]}}]}\n,{"error":{"code":500}}]`, state: 'commit' },
  { name: 'Gemini: a bare error object', api: 'gemini', stream: `{"error":{"code":429,"message":"Resource exhausted.","status":"RESOURCE_EXHAUSTED"}}`, state: 'failed', status: 429, message: 'Resource exhausted.' },
];

interface Run {
  /** The state after each part was fed. */
  readonly states: CommitState[];
  readonly final: CommitState;
  readonly failure: string | undefined;
}

function run(api: StreamApi, parts: readonly Buffer[]): Run {
  const commit = new StreamCommit(api);
  const states = parts.map((part) => commit.feed(part));
  const final = commit.end();
  return { states, final, failure: commit.failure === undefined ? undefined : JSON.stringify(commit.failure) };
}

describe('the commit point of a pass-through stream, per API, however the bytes are split', () => {
  for (const c of CASES) {
    test(`${c.name}: ${c.state}${c.status === undefined ? '' : ` (${c.status})`}`, () => {
      const bytes = Buffer.from(c.stream);
      const whole = run(c.api, [bytes]);
      assert.equal(whole.final, c.state);
      if (c.state === 'failed') {
        const failure = JSON.parse(whole.failure!) as { status: number; error: { message: string } };
        assert.equal(failure.status, c.status);
        if (c.message !== undefined) assert.equal(failure.error.message, c.message);
      }
      // One byte at a time: where the stream is decided, the first prefix that decides it.
      const bytewise = run(
        c.api,
        [...bytes].map((byte) => Buffer.from([byte])),
      );
      assert.deepEqual([bytewise.final, bytewise.failure], [whole.final, whole.failure]);
      const decidedAt = bytewise.states.findIndex((state) => state !== 'hold') + 1;
      for (let split = 1; split < bytes.length; split++) {
        const parts = run(c.api, [bytes.subarray(0, split), bytes.subarray(split)]);
        assert.deepEqual([parts.final, parts.failure], [whole.final, whole.failure], `split at byte ${split}`);
        // Nothing is decided before the deciding event is whole, and it is decided once it is.
        assert.equal(parts.states[0], decidedAt !== 0 && split >= decidedAt ? whole.final : 'hold', `state after byte ${split}`);
      }
    });
  }

  test('an event that is not preamble is decided by its own bytes: content, or an error with its status', () => {
    assert.equal(classifyEvent('chat', { event: 'message', data: JSON.stringify(chatChunk({ role: 'assistant' })) }).kind, 'preamble');
    assert.equal(classifyEvent('chat', { event: 'message', data: JSON.stringify(chatChunk({ content: 'x' })) }).kind, 'content');
    assert.equal(classifyEvent('anthropic-messages', { event: 'ping', data: '{"type":"ping"}' }).kind, 'preamble');
    assert.equal(classifyEvent('openai-responses', { event: 'response.completed', data: '{}' }).kind, 'content');
    // A Responses host that reports its failure as chat streams do: a bare `data: {"error":{...}}`.
    const bare = classifyEvent('openai-responses', { event: 'message', data: '{"error":{"message":"boom","type":"server_error","code":"internal_error","param":null}}' });
    assert.equal(bare.kind, 'error');
    const invalid = classifyEvent('anthropic-messages', { event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }) });
    // A provider that answered 200 and then failed has failed, whatever type it gives the failure.
    assert.deepEqual(invalid, { kind: 'error', failure: { status: 502, error: { message: 'bad', type: 'upstream_error', code: 'invalid_request_error', param: null } } });
  });

  test(`a preamble past ${MAX_HELD_EVENTS} events or ${MAX_HELD_BYTES} bytes commits anyway`, () => {
    const pings = sse({ type: 'ping' }, 'ping').repeat(MAX_HELD_EVENTS);
    assert.equal(run('anthropic-messages', [Buffer.from(pings)]).states[0], 'hold');
    assert.equal(run('anthropic-messages', [Buffer.from(pings + sse({ type: 'ping' }, 'ping'))]).states[0], 'commit');
    const comments = ': processing\n\n'.repeat(Math.ceil(MAX_HELD_BYTES / 14));
    const held = new StreamCommit('chat');
    const bytes = Buffer.from(comments);
    let state: CommitState = 'hold';
    for (let i = 0; i < bytes.length; i += 1000) state = held.feed(bytes.subarray(i, i + 1000));
    assert.equal(state, 'commit');
    assert.equal(new StreamCommit('chat').feed(Buffer.from(comments.slice(0, MAX_HELD_BYTES))), 'hold');
  });
});

/** What the scripted upstream sends next: parts written `gapMs` apart, then an end, a reset, or nothing more. */
interface Script {
  parts: (string | Buffer)[];
  gapMs: number;
  then: 'end' | 'reset' | 'hang';
}

/** What the client-facing server's next request runs with. */
interface Setup {
  commit: CommitPoint;
  api: InboundRoute | undefined;
  limits: AttemptLimits;
  budgetMs: number;
}

const LIMITS: AttemptLimits = { STREAM_IDLE_TIMEOUT_MS: 5_000, CLIENT_STALL_TIMEOUT_MS: 5_000, MAX_BUFFERED_RESPONSE_BYTES: 1 << 20 };
const FIREWORKS = providerSpecs.find((spec) => spec.name === 'fireworks')!;
/** Written by the client-facing server when the attempt left the answer to its caller (the router, later). */
const NOT_ANSWERED = 599;

let script: Script = { parts: [], gapMs: 0, then: 'end' };
let setup: Setup = { commit: 'first-content', api: undefined, limits: LIMITS, budgetMs: 10_000 };
/** Each attempt's outcome and its exchange, as it ended. */
const ended: { outcome: AttemptOutcome; ex: Exchange }[] = [];
let upstream: Server;
let front: Server;
let pool: Pool;
let origin: string;
const agent = new Agent({ connections: 4 });

function exchangeOf(req: IncomingMessage, res: ServerResponse): Exchange {
  return {
    id: 'req-1', req, res, startedAt: performance.now(), path: '/v1/chat/completions', provider: undefined, method: 'POST',
    upstreamPath: '/chat/completions', body: null, bodyValues: 0, facts: undefined, modelInPath: undefined, contentType: undefined,
    model: undefined, clientModel: undefined, unaliased: false, api: setup.api, stream: true, maxRetries: 0, timeoutMs: setup.budgetMs,
    status: 0, upstreamStatus: 0, retries: 0, firstByteMs: undefined, upstreamMs: 0, waitedMs: 0, usage: undefined,
    errorMessage: undefined, clientGone: false, cutByGateway: false, waiting: undefined, route: undefined, attempts: undefined,
    gatewayKey: undefined,
    admitted: undefined,
    limitHeaders: undefined,
  };
}

before(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const { parts, gapMs, then } = script;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // No Nagle delay: each write leaves as its own segment.
      res.socket?.setNoDelay(true);
      void (async () => {
        for (const [i, part] of parts.entries()) {
          if (i > 0 && gapMs > 0) await sleep(gapMs);
          res.write(part);
        }
        if (then === 'end') res.end();
        else if (then === 'reset') {
          await sleep(5);
          res.socket?.resetAndDestroy();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  pool = new Pool(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  front = createServer((req, res) => {
    req.resume();
    const ex = exchangeOf(req, res);
    const attempt = new Attempt(new ClientSink(ex), FIREWORKS, setup.limits, undefined, setup.commit);
    res.on('close', () => {
      if (!res.writableFinished) attempt.cancel();
    });
    void attempt.run(pool, { method: 'POST', path: '/v1/chat/completions', headers: ['content-type', 'application/json'], body: '{}' }, setup.budgetMs).then((outcome) => {
      ended.push({ outcome, ex });
      if (res.headersSent) return;
      const failure = outcome.kind === 'failed' ? outcome.failure : undefined;
      res.writeHead(NOT_ANSWERED, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ outcome: outcome.kind, status: failure?.status, message: failure?.error.message }));
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
});

after(async () => {
  await agent.close();
  await pool.close();
  await new Promise<void>((resolve) => front.close(() => resolve()));
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

/** One request through an attempt: what the client got, and how the attempt ended. */
async function through(next: Script, options: Partial<Setup> = {}): Promise<{ status: number; body: string; outcome: AttemptOutcome; ex: Exchange }> {
  script = next;
  setup = { commit: 'first-content', api: undefined, limits: LIMITS, budgetMs: 10_000, ...options };
  ended.length = 0;
  const res = await request(`${origin}/v1/chat/completions`, { method: 'POST', dispatcher: agent, body: '{}' });
  const body = await res.body.text();
  const last = ended.at(-1)!;
  return { status: res.statusCode, body, ...last };
}

describe('an attempt whose pass-through stream commits at its first content event', () => {
  test('role chunk then an error: the attempt failed with the provider\'s status and message, and nothing reached the client', async () => {
    const got = await through({ parts: [CHAT_ROLE, CHAT_RATE_LIMITED], gapMs: 5, then: 'end' });
    assert.equal(got.outcome.kind, 'failed');
    assert.equal(got.status, NOT_ANSWERED);
    assert.deepEqual(JSON.parse(got.body), { outcome: 'failed', status: 429, message: 'Rate limit reached for requests' });
    assert.equal(got.ex.firstByteMs, undefined);
  });

  test('role chunk then an error, split at every byte: always failed, nothing sent', async () => {
    const stream = CHAT_ROLE + CHAT_ERROR;
    for (let split = 1; split < stream.length; split++) {
      const got = await through({ parts: [stream.slice(0, split), stream.slice(split)], gapMs: 2, then: 'end' });
      assert.equal(got.status, NOT_ANSWERED, `split at byte ${split}`);
      assert.equal(got.outcome.kind, 'failed', `split at byte ${split}`);
    }
  });

  test('role chunk, content, then an error, split at every byte: the client gets every byte the provider sent, its error event included', async () => {
    const bytes = Buffer.from(CHAT_ROLE + CHAT_CONTENT + CHAT_ERROR);
    for (let split = 1; split < bytes.length; split++) {
      const got = await through({ parts: [bytes.subarray(0, split), bytes.subarray(split)], gapMs: 2, then: 'end' });
      assert.equal(got.status, 200, `split at byte ${split}`);
      assert.equal(got.outcome.kind, 'answered', `split at byte ${split}`);
      assert.equal(got.body, bytes.toString('utf8'), `split at byte ${split}`);
    }
  });

  test('an error right after the opening events of the native APIs fails the attempt: Anthropic, Responses, Gemini', async () => {
    for (const [api, parts, status] of [
      [messagesRoute, [ANTHROPIC_START, ANTHROPIC_OVERLOADED], 503],
      [responsesRoute, [RESPONSES_START, RESPONSES_FAILED], 429],
      [geminiSseRoute, [GEMINI_ERROR], 503],
    ] as const) {
      const got = await through({ parts: [...parts], gapMs: 5, then: 'end' }, { api });
      assert.equal(got.outcome.kind, 'failed', api.name);
      assert.equal(got.status, NOT_ANSWERED, api.name);
      assert.equal((JSON.parse(got.body) as { status: number }).status, status, api.name);
    }
  });

  test('the usage of a held stream is read once, from the bytes held too (Anthropic gives input tokens in message_start)', async () => {
    const got = await through({ parts: [ANTHROPIC_START, ANTHROPIC_CONTENT, ANTHROPIC_END], gapMs: 5, then: 'end' }, { api: messagesRoute });
    assert.equal(got.status, 200);
    assert.equal(got.body, ANTHROPIC_START + ANTHROPIC_CONTENT + ANTHROPIC_END);
    assert.deepEqual((got.ex.usage as UsageObserver).usage, { promptTokens: 11, completionTokens: 5 });
    const chat = await through({ parts: [CHAT_ROLE + CHAT_CONTENT, CHAT_USAGE + 'data: [DONE]\n\n'], gapMs: 5, then: 'end' });
    assert.deepEqual((chat.ex.usage as UsageObserver).usage, { promptTokens: 7, completionTokens: 3 });
  });

  test('a connection reset after the role chunk is a network failure, nothing sent: the attempt can be retried', async () => {
    const got = await through({ parts: [CHAT_ROLE], gapMs: 0, then: 'reset' });
    assert.equal(got.outcome.kind, 'network');
    assert.equal(got.status, NOT_ANSWERED);
  });

  test('a provider silent after its role chunk times out on the idle timer, nothing sent', async () => {
    const got = await through({ parts: [CHAT_ROLE], gapMs: 0, then: 'hang' }, { limits: { ...LIMITS, STREAM_IDLE_TIMEOUT_MS: 150 } });
    assert.equal(got.outcome.kind, 'timeout');
    assert.equal(got.status, NOT_ANSWERED);
  });

  test("the attempt's budget still bounds a stream held on pings, which keep the idle timer fresh", async () => {
    const pings = Array.from({ length: 200 }, () => sse({ type: 'ping' }, 'ping'));
    const startedAt = performance.now();
    const got = await through({ parts: [ANTHROPIC_START, ...pings], gapMs: 20, then: 'hang' }, { api: messagesRoute, budgetMs: 300, limits: { ...LIMITS, STREAM_IDLE_TIMEOUT_MS: 1_000 } });
    assert.equal(got.outcome.kind, 'timeout');
    assert.equal(got.status, NOT_ANSWERED);
    // Well before 64 pings would have committed the stream (20 ms apart at the least).
    assert.ok(performance.now() - startedAt < 1_200, `${performance.now() - startedAt} ms`);
  });
});

describe('an attempt whose pass-through stream commits at its first byte (nothing left to try)', () => {
  test('role chunk then an error: the client gets both as they came, as before', async () => {
    const got = await through({ parts: [CHAT_ROLE, CHAT_ERROR], gapMs: 5, then: 'end' }, { commit: 'first-byte' });
    assert.equal(got.status, 200);
    assert.equal(got.outcome.kind, 'answered');
    assert.equal(got.body, CHAT_ROLE + CHAT_ERROR);
  });

  test("a connection reset after the role chunk: the role chunk, then the gateway's error event", async () => {
    const got = await through({ parts: [CHAT_ROLE], gapMs: 0, then: 'reset' }, { commit: 'first-byte' });
    assert.equal(got.status, 200);
    assert.equal(got.outcome.kind, 'answered');
    assert.ok(got.body.startsWith(CHAT_ROLE), got.body);
    assert.match(got.body.slice(CHAT_ROLE.length), /^data: \{"error":\{"message":"The provider's answer broke off/);
  });
});
