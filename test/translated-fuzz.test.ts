// The translated routes against hostile requests of any scale, generated: many messages, many parts
// in one message, megabytes in a field the gateway quotes, one stored answer referenced thousands
// of times. Each is translated or refused with a 4xx; none costs the gateway a 5xx, a long stall,
// a large error body or memory that stays. The upstream is a plain HTTP server that does not parse
// what it receives, so that the time measured is the gateway's.
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { ANTHROPIC_ANSWER, answerJson, chatAnswer, isAnthropic, startRawStack, type RawStack } from './raw-upstream.js';

const SEED = 20_261_207;
const RUNS = Number(process.env.FUZZ_TRANSLATED_RUNS ?? 16);
/** What a stored answer holds, for references to amplify. */
const STORED_ANSWER_CHARS = 256 * 1024;
/** The longest a hostile request may hold the event loop; before the bounds, seconds. */
const MAX_STALL_MS = 500;
/** Memory a run of hostile requests may leave behind, measured after a full collection. */
const MAX_HEAP_GROWTH_BYTES = 96 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 16 * 1024;

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const SMALL_CHAT = chatAnswer('ok');
const LARGE_CHAT = chatAnswer('y'.repeat(STORED_ANSWER_CHARS));
let stack: RawStack;
let origin: string;
/** The id of a stored 256 KiB answer, for references. */
let storedId = '';
const CLIENT_KEY = 'sk-fuzz-client-0123456789';

before(async () => {
  stack = await startRawStack(
    (req, res) => {
      let head = '';
      req.on('data', (chunk: Buffer) => {
        if (head.length < 200) head += chunk.toString('latin1', 0, 200);
      });
      req.on('end', () => answerJson(res, isAnthropic(req) ? ANTHROPIC_ANSWER : head.includes('"model":"large"') ? LARGE_CHAT : SMALL_CHAT));
    },
    { MAX_RETRIES: '0' },
  );
  origin = stack.origin;
  const stored = await post('/v1/responses', 'deepseek', Buffer.from(JSON.stringify({ model: 'large', input: 'hi' })));
  assert.equal(stored.status, 200, stored.text);
  storedId = (JSON.parse(stored.text) as { output: { id: string }[] }).output[0]!.id;
});

after(() => stack.close());

async function post(path: string, provider: string, body: Buffer): Promise<{ status: number; text: string }> {
  const res = await request(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-provider': provider, authorization: `Bearer ${CLIENT_KEY}` },
    body,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

type Route = 'messages' | 'responses' | 'chat-to-anthropic';
type Shape =
  | { kind: 'messages'; count: number }
  | { kind: 'parts'; count: number }
  | { kind: 'quoted'; field: 'role' | 'tool_choice' | 'tool_type' | 'response_format'; bytes: number }
  | { kind: 'references'; count: number };

/** Sizes spread over orders of magnitude, up to `max`. */
function scale(max: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: Math.round(Math.log2(max) * 8) }).map((step) => Math.max(1, Math.min(max, Math.round(2 ** (step / 8)))));
}

const shape: fc.Arbitrary<Shape> = fc.oneof(
  fc.record({ kind: fc.constant('messages' as const), count: scale(650_000) }),
  fc.record({ kind: fc.constant('parts' as const), count: scale(300_000) }),
  fc.record({ kind: fc.constant('quoted' as const), field: fc.constantFrom('role' as const, 'tool_choice' as const, 'tool_type' as const, 'response_format' as const), bytes: scale(5 * 1024 * 1024) }),
  fc.record({ kind: fc.constant('references' as const), count: scale(3_000) }),
);

function body(route: Route, shape: Shape): Buffer {
  const responses = route === 'responses';
  const turn = (role: string, content: unknown) => (responses ? { type: 'message', role, content } : { role, content });
  const part = (text: string) => ({ type: responses ? 'input_text' : 'text', text });
  let turns: unknown[] = [turn('user', 'hi')];
  const extra: Record<string, unknown> = {};
  switch (shape.kind) {
    case 'messages':
      turns = new Array(shape.count);
      for (let i = 0; i < shape.count; i++) turns[i] = turn(i % 2 === 0 ? 'user' : 'assistant', 'x');
      break;
    case 'parts': {
      const parts = new Array(shape.count);
      for (let i = 0; i < shape.count; i++) parts[i] = part('x');
      turns = [turn('user', parts)];
      break;
    }
    case 'quoted': {
      const value = 'r'.repeat(shape.bytes);
      if (shape.field === 'role') turns = [turn(value, 'hi')];
      else if (shape.field === 'tool_choice') extra.tool_choice = { type: value, name: value };
      else if (shape.field === 'tool_type') extra.tools = [{ type: value, name: 'f' }];
      else extra[responses ? 'text' : 'response_format'] = responses ? { format: { type: value } } : { type: value };
      break;
    }
    case 'references':
      if (responses) turns = [...Array.from({ length: shape.count }, () => ({ type: 'item_reference', id: storedId })), turn('user', 'hi')];
      break;
  }
  const request = responses ? { model: 'm', input: turns, ...extra } : { model: 'claude-x', max_tokens: 16, messages: turns, ...extra };
  return Buffer.from(JSON.stringify(request));
}

const ROUTES: Readonly<Record<Route, { path: string; provider: string }>> = {
  messages: { path: '/v1/messages', provider: 'deepseek' },
  responses: { path: '/v1/responses', provider: 'deepseek' },
  'chat-to-anthropic': { path: '/v1/chat/completions', provider: 'anthropic' },
};

describe('translated routes against hostile requests of any scale', () => {
  test('each is translated or refused with a short 4xx, within a bounded stall, leaving no memory behind', async (t) => {
    collect();
    const heapBefore = process.memoryUsage().heapUsed;
    let worstStallMs = 0;
    let worstCase = '';
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Route>('messages', 'responses', 'chat-to-anthropic'), shape, async (route, hostile) => {
        const payload = body(route, hostile);
        const { path, provider } = ROUTES[route];
        const histogram = monitorEventLoopDelay({ resolution: 5 });
        histogram.enable();
        const answer = await post(path, provider, payload);
        histogram.disable();
        const stallMs = histogram.max / 1e6;
        const label = `${route} ${JSON.stringify(hostile)} (${payload.length} bytes): ${answer.status}`;
        if (stallMs > worstStallMs) [worstStallMs, worstCase] = [stallMs, label];
        assert.ok(answer.status === 200 || (answer.status >= 400 && answer.status < 500), `${label} ${answer.text.slice(0, 300)}`);
        if (answer.status !== 200) {
          assert.ok(answer.text.length <= MAX_ERROR_BODY_BYTES, `${label}: an error body of ${answer.text.length} bytes`);
          assert.doesNotMatch(answer.text, /\n\s+at |RangeError|SyntaxError/, label);
        }
        assert.doesNotMatch(answer.text, new RegExp(CLIENT_KEY), label);
        assert.ok(stallMs < MAX_STALL_MS, `${label}: the event loop was held ${stallMs.toFixed(0)} ms`);
      }),
      {
        seed: SEED,
        numRuns: RUNS,
        // The cases that, before the bounds, cost seconds, gigabytes or a 500, then generated ones.
        examples: [
          ['messages', { kind: 'messages', count: 620_000 }],
          ['chat-to-anthropic', { kind: 'parts', count: 200_000 }],
          ['responses', { kind: 'references', count: 1_000 }],
          ['responses', { kind: 'references', count: 2_100 }],
          ['messages', { kind: 'quoted', field: 'role', bytes: 5 * 1024 * 1024 }],
          ['responses', { kind: 'quoted', field: 'tool_choice', bytes: 5 * 1024 * 1024 }],
        ],
      },
    );
    collect();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < MAX_HEAP_GROWTH_BYTES, `the heap grew ${(grown / 2 ** 20).toFixed(0)} MiB`);
    // For the record: the worst case seen and what it cost.
    t.diagnostic(`worst stall ${worstStallMs.toFixed(0)} ms: ${worstCase}`);
  });
});
