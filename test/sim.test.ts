/**
 * The Fireworks simulator, driven directly over HTTP: the shapes the gateway's tests rely on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, InformationEvent } from 'node:http';
import { createGunzip, gunzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { startFireworksSim, SIM_API_KEY } from '../sim/fireworks.js';
import type { FireworksSim } from '../sim/fireworks.js';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim } from '../sim/anthropic.js';
import { BEDROCK_SIM_API_KEY, BEDROCK_SIM_MODELS, startBedrockSim } from '../sim/bedrock.js';
import { FAMILY_SIM_API_KEY, startOpenAICompatibleSim } from '../sim/openai-compatible.js';

const CHAT_MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
const EMBED_MODEL = 'nomic-ai/nomic-embed-text-v1.5';
const AUTH = { authorization: `Bearer ${SIM_API_KEY}`, 'content-type': 'application/json' };
const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-limit-tokens-prompt',
  'x-ratelimit-remaining-tokens-prompt',
  'x-ratelimit-limit-tokens-generated',
  'x-ratelimit-remaining-tokens-generated',
];

async function withSim(fn: (sim: FireworksSim) => Promise<void>): Promise<void> {
  const sim = await startFireworksSim({ port: 0 });
  try {
    await fn(sim);
  } finally {
    await sim.close();
  }
}

/** fetch's Response with `json()` typed loosely: the tests assert on the shapes themselves. */
type SimResponse = Omit<Response, 'json'> & { json(): Promise<any> };

function post(sim: FireworksSim, path: string, body: unknown, headers: Record<string, string> = AUTH): Promise<SimResponse> {
  return fetch(sim.url + path, { method: 'POST', headers, body: JSON.stringify(body) });
}

function get(url: string, init: RequestInit = { headers: AUTH }): Promise<SimResponse> {
  return fetch(url, init);
}

function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: CHAT_MODEL, messages: [{ role: 'user', content: 'Say hello' }], ...extra };
}

/** The JSON payloads of `data:` frames, with `[DONE]` kept as a string. */
function sseFrames(text: string): unknown[] {
  assert.ok(text.endsWith('\n\n'), 'SSE frames end with a blank line');
  return text
    .split('\n\n')
    .filter((frame) => frame.length > 0)
    .map((frame) => {
      assert.ok(frame.startsWith('data: '), `frame is a data line: ${frame}`);
      const payload = frame.slice('data: '.length);
      return payload === '[DONE]' ? payload : JSON.parse(payload);
    });
}

test('missing or non-Fireworks keys get 401 with Fireworks error body and the usual headers', async () => {
  await withSim(async (sim) => {
    const attempts: Record<string, string>[] = [
      { 'content-type': 'application/json' },
      { authorization: 'Bearer sk-openai-key', 'content-type': 'application/json' },
      { authorization: 'fw_no_bearer_scheme', 'content-type': 'application/json' },
    ];
    for (const headers of attempts) {
      const res = await post(sim, '/chat/completions', chatBody(), headers);
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), {
        error: { object: 'error', type: 'error', code: 'UNAUTHORIZED', message: 'The API key you provided is invalid.' },
      });
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      for (const name of RATE_LIMIT_HEADERS) assert.match(res.headers.get(name) ?? '', /^\d+$/, name);
    }
    const dashKey = await post(sim, '/chat/completions', chatBody(), { authorization: 'Bearer fw-abc123', 'content-type': 'application/json' });
    assert.equal(dashKey.status, 200);
  });
});

test('short and unknown model names get 404 model not found; users\' own models are accepted', async () => {
  await withSim(async (sim) => {
    for (const model of ['llama-v3p1-8b-instruct', 'accounts/fireworks/models/no-such-model']) {
      const res = await post(sim, '/chat/completions', chatBody({ model }));
      assert.equal(res.status, 404);
      const body = await res.json();
      assert.equal(body.error.code, 'NOT_FOUND');
      assert.equal(body.error.message, 'Model not found, inaccessible, and/or not deployed');
    }
    for (const model of ['accounts/alice/models/my-tune', 'accounts/alice/deployedModels/my-tune-abc', `${CHAT_MODEL}#accounts/alice/deployments/d1`]) {
      const res = await post(sim, '/chat/completions', chatBody({ model }));
      assert.equal(res.status, 200, model);
      assert.equal((await res.json()).model, model);
    }
  });
});

test('unknown paths 404, wrong methods 405, bad bodies 400', async () => {
  await withSim(async (sim) => {
    const unknown = await get(sim.url + '/nope');
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'NOT_FOUND');

    const wrong = await get(sim.url + '/chat/completions');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.equal((await wrong.json()).error.object, 'error');

    const notJson = await get(sim.url + '/chat/completions', { method: 'POST', headers: AUTH, body: '{"model":' });
    assert.equal(notJson.status, 400);
    assert.equal((await notJson.json()).error.type, 'invalid_request_error');

    const cases: [string, Record<string, unknown>, string][] = [
      ['/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, 'model'],
      ['/chat/completions', { model: CHAT_MODEL }, 'messages'],
      ['/completions', { model: CHAT_MODEL }, 'prompt'],
      ['/embeddings', { model: EMBED_MODEL }, 'input'],
    ];
    for (const [path, body, param] of cases) {
      const res = await post(sim, path, body);
      assert.equal(res.status, 400, `${path} without ${param}`);
      const error = (await res.json()).error;
      assert.equal(error.param, param);
      assert.match(error.message, new RegExp(param));
    }
  });
});

test('chat completion has the OpenAI shape, deterministic usage, n choices, and records unknown fields', async () => {
  await withSim(async (sim) => {
    const res = await post(sim, '/chat/completions', {
      model: CHAT_MODEL,
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: [{ type: 'text', text: 'one two three' }] },
      ],
      n: 2,
      top_k: 40,
      sim: { key: 'shape', content: 'alpha beta gamma delta' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('fireworks-prompt-tokens'), '5');
    const body = await res.json();
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.object, 'chat.completion');
    assert.equal(typeof body.created, 'number');
    assert.equal(body.model, CHAT_MODEL);
    assert.deepEqual(body.choices, [0, 1].map((index) => ({
      index,
      message: { role: 'assistant', content: 'alpha beta gamma delta' },
      finish_reason: 'stop',
      logprobs: null,
    })));
    assert.deepEqual(body.usage, { prompt_tokens: 5, completion_tokens: 8, total_tokens: 13 });
    assert.equal(body.top_k, undefined, 'unknown fields are not echoed');

    const [recorded] = sim.requestsFor('shape');
    assert.ok(recorded);
    assert.equal(recorded.method, 'POST');
    assert.equal(recorded.path, '/inference/v1/chat/completions');
    assert.equal(recorded.json.top_k, 40);
    assert.equal(recorded.attempt, 1);
    assert.equal(recorded.headers.authorization, `Bearer ${SIM_API_KEY}`);
    await sim.waitFor(() => recorded.completed);
    assert.equal(recorded.aborted, false);

    const limited = await (await post(sim, '/chat/completions', chatBody({ max_tokens: 2, sim: { content: 'a b c d' } }))).json();
    assert.equal(limited.choices[0].message.content, 'a b');
    assert.equal(limited.choices[0].finish_reason, 'length');
    assert.equal(limited.usage.completion_tokens, 2);
  });
});

test('tools give a tool call; response_format gives a JSON object', async () => {
  await withSim(async (sim) => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' } },
            required: ['city'],
          },
        },
      },
      { type: 'function', function: { name: 'other', parameters: { type: 'object', properties: {} } } },
    ];
    const called = await (await post(sim, '/chat/completions', chatBody({ tools }))).json();
    const message = called.choices[0].message;
    assert.equal(called.choices[0].finish_reason, 'tool_calls');
    assert.equal(message.content, null);
    assert.equal(message.tool_calls.length, 1);
    assert.match(message.tool_calls[0].id, /^call_/);
    assert.equal(message.tool_calls[0].type, 'function');
    assert.equal(message.tool_calls[0].function.name, 'get_weather');
    // Required properties only: an agent runs what it is given, optional flags included.
    assert.deepEqual(JSON.parse(message.tool_calls[0].function.arguments), { city: 'sim' });

    const named = await (await post(sim, '/chat/completions', chatBody({ tools, tool_choice: { type: 'function', function: { name: 'other' } } }))).json();
    assert.equal(named.choices[0].message.tool_calls[0].function.name, 'other');

    const none = await (await post(sim, '/chat/completions', chatBody({ tools, tool_choice: 'none' }))).json();
    assert.equal(typeof none.choices[0].message.content, 'string');
    assert.equal(none.choices[0].finish_reason, 'stop');

    const jsonMode = await (await post(sim, '/chat/completions', chatBody({ response_format: { type: 'json_object' } }))).json();
    assert.equal(typeof JSON.parse(jsonMode.choices[0].message.content), 'object');

    const schema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } } } };
    const structured = await (await post(sim, '/chat/completions', chatBody({ response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } }))).json();
    assert.deepEqual(JSON.parse(structured.choices[0].message.content), { name: 'sim', age: 1, tags: ['sim'] });
  });
});

test('chat stream: role first, N content deltas, usage in the finish chunk, then [DONE]', async () => {
  await withSim(async (sim) => {
    const res = await post(sim, '/chat/completions', chatBody({ stream: true, sim: { chunks: 4, content: 'one two three four five' } }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    for (const name of RATE_LIMIT_HEADERS) assert.ok(res.headers.get(name), name);
    const frames = sseFrames(await res.text()) as any[];
    assert.equal(frames.length, 1 + 4 + 1 + 1);
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, chunks[0].id);
      assert.equal(chunk.model, CHAT_MODEL);
    }
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant' });
    const deltas = chunks.slice(1, 5).map((c) => c.choices[0].delta.content);
    assert.equal(deltas.length, 4);
    assert.equal(deltas.join(''), 'one two three four five');
    for (const c of chunks.slice(0, 5)) {
      assert.equal(c.choices[0].finish_reason, null);
      assert.equal(c.usage, undefined);
    }
    const last = chunks[5];
    assert.deepEqual(last.choices, [{ index: 0, delta: {}, finish_reason: 'stop' }]);
    assert.deepEqual(last.usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
  });
});

test('the openai SDK reads chat, streams and base64 embeddings from the simulator', async () => {
  await withSim(async (sim) => {
    const client = new OpenAI({ baseURL: sim.url, apiKey: SIM_API_KEY, maxRetries: 0 });
    const { data: completion, request_id } = await client.chat.completions
      .create({ model: CHAT_MODEL, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(completion.choices[0]?.message.content, 'Hello from the Fireworks simulator.');
    assert.equal(completion.id, `chatcmpl-${request_id}`);

    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    const stream = await client.chat.completions.create({ model: CHAT_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'Hello from the Fireworks simulator.');
    assert.equal(usage?.completion_tokens, 5);

    const embedded = await client.embeddings.create({ model: EMBED_MODEL, input: ['first text', 'second text'] });
    assert.equal(embedded.data.length, 2);
    assert.equal(embedded.data[0]?.embedding.length, 768);
    assert.notDeepEqual(embedded.data[0]?.embedding, embedded.data[1]?.embedding);
    assert.deepEqual(embedded.usage, { prompt_tokens: 4, total_tokens: 4 });
    assert.equal(sim.requests.at(-1)?.json.encoding_format, 'base64', 'the SDK asks for base64 by default');

    await assert.rejects(
      client.chat.completions.create({ model: 'llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && /Model not found/.test(err.message),
    );
  });
});

test('embeddings: base64 is little-endian float32 of the float vectors; dimensions are honoured', async () => {
  await withSim(async (sim) => {
    const base64 = await (await post(sim, '/embeddings', { model: EMBED_MODEL, input: 'same text', encoding_format: 'base64' })).json();
    const floats = await (await post(sim, '/embeddings', { model: EMBED_MODEL, input: ['same text'], encoding_format: 'float' })).json();
    assert.equal(base64.object, 'list');
    assert.equal(base64.model, EMBED_MODEL);
    assert.equal(typeof base64.data[0].embedding, 'string');
    const bytes = Buffer.from(base64.data[0].embedding, 'base64');
    assert.equal(bytes.length, 768 * 4);
    const decoded = Array.from({ length: 768 }, (_, i) => bytes.readFloatLE(i * 4));
    assert.deepEqual(decoded, floats.data[0].embedding);
    const norm = Math.sqrt(decoded.reduce((sum, v) => sum + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4, `unit length, got ${norm}`);
    assert.deepEqual(floats.data[0], { object: 'embedding', index: 0, embedding: floats.data[0].embedding });

    const short = await (await post(sim, '/embeddings', { model: EMBED_MODEL, input: ['a', 'b'], dimensions: 64 })).json();
    assert.deepEqual(short.data.map((d: any) => d.embedding.length), [64, 64]);
    assert.deepEqual(short.data.map((d: any) => d.index), [0, 1]);

    const tooWide = await post(sim, '/embeddings', { model: EMBED_MODEL, input: 'a', dimensions: 4096 });
    assert.equal(tooWide.status, 400);
  });
});

test('fail_first fails only the first N attempts of a key, with retry-after', async () => {
  await withSim(async (sim) => {
    const body = chatBody({ sim: { key: 'retry', status: 503, fail_first: 2, retry_after: '0' } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(sim, '/chat/completions', body);
      statuses.push(res.status);
      if (res.status === 503) {
        assert.equal(res.headers.get('retry-after'), '0');
        assert.equal((await res.json()).error.type, 'server_error');
      } else {
        assert.equal((await res.json()).object, 'chat.completion');
      }
    }
    assert.deepEqual(statuses, [503, 503, 200]);
    assert.deepEqual(sim.requestsFor('retry').map((r) => r.attempt), [1, 2, 3]);

    const always = await post(sim, '/chat/completions', chatBody({ sim: { key: 'rl', status: 429 } }));
    assert.equal(always.status, 429);
    assert.equal(always.headers.get('retry-after'), '1', '429s carry retry-after');
    assert.equal((await always.json()).error.type, 'rate_limit_error');

    sim.clear();
    assert.equal(sim.requests.length, 0);
    assert.equal((await post(sim, '/chat/completions', body)).status, 503, 'clear() resets attempt counts');
  });
});

/** The requests among 1..n that a fail_ratio of `ratio` fails: n when floor(n*ratio) steps up. */
function ratioFailures(ratio: number, n: number): number[] {
  const failing: number[] = [];
  for (let i = 1; i <= n; i++) if (Math.floor(i * ratio) > Math.floor((i - 1) * ratio)) failing.push(i);
  return failing;
}

test('fail_ratio fails exactly that share of a key\'s requests, spread out, with 503 unless status says otherwise', async () => {
  await withSim(async (sim) => {
    const failed = async (fault: Record<string, unknown>, n: number) => {
      const failing: number[] = [];
      for (let i = 1; i <= n; i++) {
        const res = await post(sim, '/chat/completions', chatBody({ sim: fault }));
        const body = await res.json();
        if (res.status === 200) assert.equal(body.object, 'chat.completion');
        else failing.push(i);
        if (res.status !== 200) assert.equal(res.status, typeof fault.status === 'number' ? fault.status : 503);
      }
      return failing;
    };
    const tenths = await failed({ key: 'ratio-3', fail_ratio: 0.3 }, 20);
    assert.deepEqual(tenths, [4, 7, 10, 14, 17, 20]);
    assert.deepEqual(tenths, ratioFailures(0.3, 20));
    assert.equal((await failed({ key: 'ratio-rl', fail_ratio: 0.5, status: 429 }, 10)).length, 5);
    assert.deepEqual(await failed({ key: 'ratio-0', fail_ratio: 0, status: 500 }, 5), [], 'a ratio of 0 fails nothing');
    assert.deepEqual(await failed({ key: 'ratio-1', fail_ratio: 1 }, 3), [1, 2, 3]);
    assert.deepEqual(await failed({ key: 'ratio-bad', fail_ratio: 'half' }, 3), [], 'a malformed ratio is ignored');
  });
});

test('fail_ratio without a key counts the simulator\'s keyless requests; reset: true cuts the connection instead', async () => {
  await withSim(async (sim) => {
    sim.setDefaultFault({ fail_ratio: 0.25, reset: true });
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      outcomes.push(await post(sim, '/chat/completions', chatBody()).then((res) => String(res.status), () => 'reset'));
    }
    assert.deepEqual(outcomes.map((o, i) => (o === 'reset' ? i + 1 : 0)).filter((n) => n > 0), ratioFailures(0.25, 12));
    assert.ok(outcomes.every((o) => o === 'reset' || o === '200'), outcomes.join());
  });
});

/** The simulators whose request path is their own, each with one request that carries `sim`. */
const OWN_PATHS: { name: string; start: () => Promise<{ origin: string; close(): Promise<void> }>; path: string; headers: Record<string, string>; body: Record<string, unknown> }[] = [
  {
    name: 'Anthropic',
    start: () => startAnthropicSim({ port: 0 }),
    path: '/v1/messages',
    headers: { 'x-api-key': ANTHROPIC_SIM_API_KEY, 'anthropic-version': '2023-06-01' },
    body: { model: 'claude-sonnet-4-6', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
  },
  {
    name: 'Bedrock',
    start: () => startBedrockSim({ port: 0 }),
    path: `/model/${encodeURIComponent(BEDROCK_SIM_MODELS[0]!)}/converse`,
    headers: { authorization: `Bearer ${BEDROCK_SIM_API_KEY}` },
    body: { messages: [{ role: 'user', content: [{ text: 'hi' }] }] },
  },
  {
    name: 'Gemini (native)',
    start: () => startOpenAICompatibleSim({ flavour: 'gemini', port: 0 }),
    path: '/v1beta/models/gemini-2.0-flash:generateContent',
    headers: { 'x-goog-api-key': FAMILY_SIM_API_KEY },
    body: { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] },
  },
];

for (const own of OWN_PATHS) {
  test(`fail_ratio works on the ${own.name} simulator's own request path`, async () => {
    const sim = await own.start();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await fetch(sim.origin + own.path, {
          method: 'POST',
          headers: { ...own.headers, 'content-type': 'application/json' },
          body: JSON.stringify({ ...own.body, sim: { key: 'a', fail_ratio: 0.3, status: 429 } }),
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      assert.deepEqual(statuses.map((s, i) => (s === 429 ? i + 1 : 0)).filter((n) => n > 0), ratioFailures(0.3, 10));
      assert.ok(statuses.every((s) => s === 429 || s === 200), statuses.join());
    } finally {
      await sim.close();
    }
  });
}

test('each error_shape gives its Fireworks body', async () => {
  await withSim(async (sim) => {
    const send = (fault: Record<string, unknown>) => post(sim, '/chat/completions', chatBody({ sim: fault }));

    const error = await send({ status: 400, error_message: 'bad knob' });
    assert.equal(error.status, 400);
    assert.deepEqual(await error.json(), { error: { object: 'error', type: 'invalid_request_error', code: 'invalid_request_error', message: 'bad knob' } });

    const fault = await send({ status: 502, error_shape: 'fault', error_message: 'edge down' });
    assert.equal(fault.status, 502);
    const faultBody = await fault.json();
    assert.equal(faultBody.fault.faultstring, 'edge down');
    assert.equal(typeof faultBody.fault.detail.errorcode, 'string');

    const detail = await send({ status: 500, error_shape: 'detail', error_message: 'boom' });
    assert.equal(detail.status, 500);
    assert.deepEqual(await detail.json(), { detail: 'boom' });

    const text = await send({ status: 503, error_shape: 'text' });
    assert.equal(text.status, 503);
    assert.equal(text.headers.get('content-type'), 'text/plain');
    assert.match(await text.text(), /^upstream connect error/);

    const flat = await send({ status: 429, error_shape: 'flat', error_message: 'slow down' });
    assert.deepEqual(await flat.json(), { error: 'Too Many Requests', message: 'slow down' });

    const models = await get(`${sim.url}/models?sim=${encodeURIComponent(JSON.stringify({ status: 500, error_shape: 'detail' }))}`);
    assert.equal(models.status, 500);
    assert.equal(typeof (await models.json()).detail, 'string');
  });
});

test('reset destroys the socket; delay_ms holds the headers back', async () => {
  await withSim(async (sim) => {
    await assert.rejects(post(sim, '/chat/completions', chatBody({ sim: { key: 'reset', reset: true, fail_first: 1 } })));
    const second = await post(sim, '/chat/completions', chatBody({ sim: { key: 'reset', reset: true, fail_first: 1 } }));
    assert.equal(second.status, 200);
    assert.equal(sim.requestsFor('reset')[0]?.aborted, false, 'a reset by the sim is not a client abort');

    const started = Date.now();
    const slow = await post(sim, '/chat/completions', chatBody({ sim: { delay_ms: 150 } }));
    assert.ok(Date.now() - started >= 140);
    assert.equal(slow.status, 200);
  });
});

test('cut_after ends the stream early without [DONE]', async () => {
  await withSim(async (sim) => {
    const res = await post(sim, '/chat/completions', chatBody({ stream: true, sim: { key: 'cut', chunks: 5, cut_after: 2 } }));
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    }, 'the body ends with an error, not a clean end');
    const frames = sseFrames(text) as any[];
    assert.equal(frames.length, 3, 'role chunk and two content chunks');
    assert.ok(!text.includes('[DONE]'));
    assert.ok(frames.every((f) => f.choices[0].finish_reason === null));
    await sim.waitFor(() => sim.requestsFor('cut')[0]?.completed === false);
  });
});

test('a client that leaves a stalled stream is recorded as aborted', async () => {
  await withSim(async (sim) => {
    const controller = new AbortController();
    const res = await fetch(sim.url + '/chat/completions', {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify(chatBody({ stream: true, sim: { key: 'stall', chunks: 4, stall_after: 1, chunk_delay_ms: 5 } })),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"content"')) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    assert.equal(sim.requestsFor('stall')[0]?.aborted, false);
    controller.abort();
    await sim.waitFor(() => sim.requestsFor('stall')[0]?.aborted === true);
    assert.equal(sim.requestsFor('stall')[0]?.completed, false);
  });
});

test('completions: one choice per prompt, text_completion stream with usage last', async () => {
  await withSim(async (sim) => {
    const body = await (await post(sim, '/completions', { model: CHAT_MODEL, prompt: ['one two', 'three'], sim: { content: 'x y z' } })).json();
    assert.equal(body.object, 'text_completion');
    assert.deepEqual(body.choices, [
      { index: 0, text: 'x y z', logprobs: null, finish_reason: 'stop' },
      { index: 1, text: 'x y z', logprobs: null, finish_reason: 'stop' },
    ]);
    assert.deepEqual(body.usage, { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 });

    const res = await post(sim, '/completions', { model: CHAT_MODEL, prompt: 'Once upon', stream: true });
    const frames = sseFrames(await res.text()) as any[];
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1);
    assert.ok(chunks.every((c) => c.object === 'text_completion'));
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), 'Hello from the Fireworks simulator.');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === undefined));
  });
});

test('models: list and retrieve by full name', async () => {
  await withSim(async (sim) => {
    const list = await (await get(sim.url + '/models')).json();
    assert.equal(list.object, 'list');
    const ids = list.data.map((m: any) => m.id);
    assert.ok(ids.includes(CHAT_MODEL));
    assert.ok(ids.includes(EMBED_MODEL));
    for (const m of list.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.owned_by, 'string');
      assert.equal(typeof m.created, 'number');
    }
    const one = await (await get(`${sim.url}/models/${encodeURIComponent(CHAT_MODEL)}`)).json();
    assert.equal(one.id, CHAT_MODEL);
    const missing = await get(`${sim.url}/models/llama-v3p1-8b-instruct`);
    assert.equal(missing.status, 404);
  });
});

test('catalogue: the 2023 quick-start models are listed and answer chat', async () => {
  await withSim(async (sim) => {
    const seed = [
      'llama-v2-7b-chat', 'llama-v2-13b-chat', 'llama-v2-70b-chat',
      'mistral-7b', 'mistral-7b-instruct-4k', 'mixtral-8x7b', 'mixtral-8x7b-instruct',
      'llama-v2-13b-code-instruct', 'llama-v2-34b-code', 'llama-v2-34b-code-instruct',
      'mpt-7b-instruct', 'falcon-7b', 'falcon-40b',
    ].map((name) => `accounts/fireworks/models/${name}`);
    const list = await (await get(sim.url + '/models')).json();
    const byId = new Map<string, any>(list.data.map((m: any) => [m.id, m]));
    assert.ok(byId.has(CHAT_MODEL), "today's models are still there");
    const from2023 = Date.UTC(2023, 0, 1) / 1000;
    const to2023 = Date.UTC(2024, 0, 1) / 1000;
    for (const id of seed) {
      const model = byId.get(id);
      assert.ok(model, `${id} is listed`);
      assert.equal(model.owned_by, 'fireworks');
      assert.ok(model.created >= from2023 && model.created < to2023, `${id} created in 2023`);
    }

    const res = await post(sim, '/chat/completions', chatBody({ model: 'accounts/fireworks/models/llama-v2-70b-chat' }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.model, 'accounts/fireworks/models/llama-v2-70b-chat');
    assert.equal(body.choices[0].message.content, 'Hello from the Fireworks simulator.');
    const one = await get(`${sim.url}/models/${encodeURIComponent('accounts/fireworks/models/falcon-40b')}`);
    assert.equal((await one.json()).id, 'accounts/fireworks/models/falcon-40b');
  });
});

const WEATHER_PARAMETERS: Record<string, unknown> = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const WEATHER_TOOL = { type: 'function', function: { name: 'get_weather', parameters: WEATHER_PARAMETERS } };

test('agent loop: the openai runTools helper finishes with text after one tool call, plain and streamed', async () => {
  await withSim(async (sim) => {
    const client = new OpenAI({ baseURL: sim.url, apiKey: SIM_API_KEY, maxRetries: 0 });
    for (const stream of [false, true]) {
      sim.clear();
      const calls: unknown[] = [];
      const params = {
        model: CHAT_MODEL,
        messages: [{ role: 'user' as const, content: 'What is the weather in Paris?' }],
        tools: [{
          type: 'function' as const,
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: WEATHER_PARAMETERS,
            parse: JSON.parse,
            function: (args: { city: string }) => {
              calls.push(args);
              return `Sunny and 21 degrees in ${args.city}`;
            },
          },
        }],
      };
      const runner = stream
        ? client.chat.completions.runTools({ ...params, stream: true })
        : client.chat.completions.runTools(params);
      const content = await runner.finalContent();
      assert.equal(content, 'Tool result received: Sunny and 21 degrees in sim', `stream: ${stream}`);
      assert.deepEqual(calls, [{ city: 'sim' }]);
      assert.equal(sim.requests.length, 2, 'one call, one answer');
      assert.equal(sim.requests[1]!.json.messages.at(-1).role, 'tool');
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0]!.finish_reason, 'stop');
    }
  });
});

test('after a tool result: auto and none answer text, required and a named function still call', async () => {
  await withSim(async (sim) => {
    const long = 'x'.repeat(100);
    const messages = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: long },
    ];
    const ask = async (extra: Record<string, unknown>) => (await post(sim, '/chat/completions', chatBody({ messages, tools: [WEATHER_TOOL], ...extra }))).json();

    for (const extra of [{}, { tool_choice: 'auto' }, { tool_choice: 'none' }]) {
      const body = await ask(extra);
      assert.equal(body.choices[0].finish_reason, 'stop', JSON.stringify(extra));
      assert.equal(body.choices[0].message.tool_calls, undefined);
      assert.equal(body.choices[0].message.content, `Tool result received: ${'x'.repeat(60)}...`);
    }
    for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
      const body = await ask({ tool_choice });
      assert.equal(body.choices[0].finish_reason, 'tool_calls', JSON.stringify(tool_choice));
      assert.equal(body.choices[0].message.tool_calls[0].function.name, 'get_weather');
    }

    const res = await post(sim, '/chat/completions', chatBody({ messages: [...messages.slice(0, 2), { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: 'rain' }] }], tools: [WEATHER_TOOL], stream: true }));
    const frames = sseFrames(await res.text()) as any[];
    const chunks = frames.slice(0, -1);
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'Tool result received: rain');
    assert.ok(chunks.every((c) => c.choices[0].delta.tool_calls === undefined));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');

    // The user speaking again after the answer starts a new turn: a call again.
    const again = await ask({ messages: [...messages, { role: 'assistant', content: 'It is sunny.' }, { role: 'user', content: 'And tomorrow?' }] });
    assert.equal(again.choices[0].finish_reason, 'tool_calls');
  });
});

/** The errors of `value` against `schema`: the keywords the simulator claims to honour, no more. */
function schemaErrors(schema: any, value: unknown, root: any = schema, at = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${at}: no value allowed`];
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref.slice(2).split('/').reduce((node: any, key: string) => node?.[key], root);
    return schemaErrors(target, value, root, at);
  }
  const errors: string[] = [];
  const fail = (message: string) => errors.push(`${at}: ${message} (${JSON.stringify(value)})`);
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) fail(`not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) fail('not in enum');
  if (schema.anyOf && !schema.anyOf.some((s: any) => schemaErrors(s, value, root, at).length === 0)) fail('matches no anyOf branch');
  if (schema.oneOf && schema.oneOf.filter((s: any) => schemaErrors(s, value, root, at).length === 0).length !== 1) fail('matches not exactly one oneOf branch');
  for (const part of schema.allOf ?? []) errors.push(...schemaErrors(part, value, root, at));
  if (schema.type !== undefined) {
    const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
    const ok = [schema.type].flat().some((t: string) => (t === 'integer' ? Number.isInteger(value) : t === typeOf(value)));
    if (!ok) fail(`not of type ${schema.type}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) fail('too short');
    if (schema.maxLength !== undefined && value.length > schema.maxLength) fail('too long');
    if (schema.format === 'date-time' && !(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) && !Number.isNaN(Date.parse(value)))) fail('not a date-time');
    if (schema.format === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) fail('not an email');
    if (schema.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) fail('not a uuid');
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) fail('below minimum');
    if (schema.maximum !== undefined && value > schema.maximum) fail('above maximum');
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) fail('not above exclusiveMinimum');
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) fail('not below exclusiveMaximum');
    if (schema.multipleOf !== undefined && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) fail('not a multiple');
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) fail('too few items');
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail('too many items');
    if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) fail('items not unique');
    value.forEach((item, i) => errors.push(...schemaErrors(schema.prefixItems?.[i] ?? schema.items, item, root, `${at}[${i}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const props = schema.properties ?? {};
    for (const key of schema.required ?? []) if (!Object.hasOwn(value, key)) fail(`missing ${key}`);
    for (const [key, v] of Object.entries(value)) {
      if (Object.hasOwn(props, key)) errors.push(...schemaErrors(props[key], v, root, `${at}.${key}`));
      else if (schema.additionalProperties === false) fail(`unexpected ${key}`);
    }
  }
  return errors;
}

const PERSON_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    createdAt: { type: 'string', format: 'date-time' },
    contact: {
      type: 'object',
      properties: { email: { type: 'string', format: 'email', minLength: 24 }, phone: { type: ['string', 'null'] } },
      required: ['email', 'phone'],
      additionalProperties: false,
    },
    status: { type: 'string', enum: ['active', 'paused'] },
    tags: { type: 'array', items: { type: 'string', minLength: 5 }, minItems: 3, uniqueItems: true },
    levels: { type: 'array', items: { enum: ['low', 'high'] }, minItems: 2, uniqueItems: true },
    scores: { type: 'array', items: { type: 'integer', minimum: 10, maximum: 11 }, minItems: 4 },
    ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
    price: { type: 'number', minimum: 0.05, multipleOf: 0.1 },
    kind: { const: 'person' },
    nickname: { anyOf: [{ type: 'string', maxLength: 2 }, { type: 'null' }] },
    pair: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'boolean' }], items: false },
  },
  required: ['id', 'createdAt', 'contact', 'status', 'tags', 'levels', 'scores', 'ratio', 'price', 'kind', 'nickname', 'pair'],
  additionalProperties: false,
};

// Recursion through $defs (a tree and an optional linked list) and allOf through definitions.
const TREE_SCHEMA = {
  type: 'object',
  properties: {
    root: { $ref: '#/$defs/node' },
    owner: { $ref: '#/definitions/person' },
    shape: { oneOf: [{ $ref: '#/$defs/circle' }, { type: 'string' }] },
  },
  required: ['root', 'owner', 'shape'],
  additionalProperties: false,
  $defs: {
    node: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        children: { type: 'array', items: { $ref: '#/$defs/node' } },
        next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] },
      },
      required: ['name', 'children', 'next'],
      additionalProperties: false,
    },
    circle: { type: 'object', properties: { radius: { type: 'number', exclusiveMinimum: 0 } }, required: ['radius'] },
  },
  definitions: {
    person: {
      allOf: [
        { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        { type: 'object', properties: { age: { type: 'integer', minimum: 18 } }, required: ['age'] },
      ],
    },
  },
};

test('json_schema: the answer satisfies the schema (nested, enums, formats, $defs, recursion), plain and streamed', async () => {
  await withSim(async (sim) => {
    for (const schema of [PERSON_SCHEMA, TREE_SCHEMA]) {
      const response_format = { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema } };
      const plain = await (await post(sim, '/chat/completions', chatBody({ response_format }))).json();
      const value = JSON.parse(plain.choices[0].message.content);
      assert.deepEqual(schemaErrors(schema, value), []);

      const res = await post(sim, '/chat/completions', chatBody({ response_format, stream: true, sim: { chunks: 7 } }));
      const chunks = (sseFrames(await res.text()) as any[]).slice(0, -1);
      assert.deepEqual(JSON.parse(chunks.map((c) => c.choices[0].delta.content ?? '').join('')), value, 'the stream carries the same value');
    }

    const person = JSON.parse((await (await post(sim, '/chat/completions', chatBody({ response_format: { type: 'json_schema', json_schema: { schema: PERSON_SCHEMA } } }))).json()).choices[0].message.content);
    assert.equal(person.status, 'active');
    assert.equal(person.kind, 'person');
    assert.equal(person.tags.length, 3);
    const tree = JSON.parse((await (await post(sim, '/chat/completions', chatBody({ response_format: { type: 'json_schema', json_schema: { schema: TREE_SCHEMA } } }))).json()).choices[0].message.content);
    assert.equal(tree.root.children.length, 1, 'one child at the top of the tree');
    assert.deepEqual(Object.keys(tree.owner).sort(), ['age', 'name']);

    // A root that is not an object is answered as it is; json_object keeps its object.
    const list = await (await post(sim, '/chat/completions', chatBody({ response_format: { type: 'json_schema', json_schema: { schema: { type: 'array', items: { type: 'integer' }, minItems: 2 } } } }))).json();
    assert.deepEqual(JSON.parse(list.choices[0].message.content), [1, 2]);
    const jsonMode = await (await post(sim, '/chat/completions', chatBody({ response_format: { type: 'json_object' } }))).json();
    assert.deepEqual(JSON.parse(jsonMode.choices[0].message.content), { result: 'Hello from the Fireworks simulator.' });

    // Tool arguments come from the same generator, $refs included.
    const tool = { type: 'function', function: { name: 'plant', parameters: TREE_SCHEMA } };
    const called = await (await post(sim, '/chat/completions', chatBody({ tools: [tool] }))).json();
    assert.deepEqual(schemaErrors(TREE_SCHEMA, JSON.parse(called.choices[0].message.tool_calls[0].function.arguments)), []);
  });
});

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body's bytes as sent (not decompressed). */
  body: Buffer;
  informational: InformationEvent[];
}

/** Sends a chat body with node:http, which neither decompresses nor hides 1xx answers. */
function rawChat(sim: FireworksSim, body: unknown, agent?: Agent): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const informational: InformationEvent[] = [];
    const req = request(sim.url + '/chat/completions', { method: 'POST', headers: { ...AUTH, 'accept-encoding': 'identity' }, ...(agent ? { agent } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), informational }));
      res.on('error', reject);
    });
    req.on('information', (info) => informational.push(info));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Starts a chat request with node:http and hands back the response as soon as its headers arrive. */
function openChat(sim: FireworksSim, body: unknown): Promise<{ res: IncomingMessage; destroy(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(sim.url + '/chat/completions', { method: 'POST', headers: AUTH }, (res) => resolve({ res, destroy: () => req.destroy() }));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test('gzip: a successful answer is gzipped although the client asked for identity; errors are not', async () => {
  await withSim(async (sim) => {
    const plain = await rawChat(sim, chatBody({ sim: { key: 'gz', gzip: true } }));
    assert.equal(plain.status, 200);
    assert.equal(sim.requestsFor('gz')[0]!.headers['accept-encoding'], 'identity');
    assert.equal(plain.headers['content-encoding'], 'gzip');
    assert.equal(plain.headers['content-length'], String(plain.body.length));
    assert.deepEqual(plain.body.subarray(0, 2), Buffer.from([0x1f, 0x8b]), 'gzip magic');
    const body = JSON.parse(gunzipSync(plain.body).toString('utf8'));
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message.content, 'Hello from the Fireworks simulator.');

    // fetch inflates it, as a lenient client would.
    const viaFetch = await (await post(sim, '/chat/completions', chatBody({ sim: { gzip: true } }))).json();
    assert.equal(viaFetch.object, 'chat.completion');

    const failed = await rawChat(sim, chatBody({ sim: { gzip: true, status: 500 } }));
    assert.equal(failed.status, 500);
    assert.equal(failed.headers['content-encoding'], undefined);
    assert.equal(JSON.parse(failed.body.toString()).error.type, 'server_error');

    const whole = await rawChat(sim, chatBody({ stream: true, sim: { gzip: true } }));
    assert.equal(whole.headers['content-encoding'], 'gzip');
    assert.equal(whole.headers['content-type'], 'text/event-stream');
    const frames = sseFrames(gunzipSync(whole.body).toString('utf8'));
    assert.equal(frames.at(-1), '[DONE]');
  });
});

test('gzip stream: each event is flushed, so it inflates when it is sent, not at the end', async () => {
  await withSim(async (sim) => {
    const { res } = await openChat(sim, chatBody({ stream: true, sim: { gzip: true, chunks: 3, chunk_delay_ms: 120 } }));
    assert.equal(res.headers['content-encoding'], 'gzip');
    const started = Date.now();
    const arrivals: { at: number; text: string }[] = [];
    const inflate = res.pipe(createGunzip());
    inflate.on('data', (chunk: Buffer) => arrivals.push({ at: Date.now() - started, text: chunk.toString('utf8') }));
    await new Promise<void>((resolve, reject) => inflate.on('end', resolve).on('error', reject));
    const ended = Date.now() - started;
    const text = arrivals.map((a) => a.text).join('');
    const frames = sseFrames(text) as any[];
    assert.equal(frames.length, 1 + 3 + 1 + 1);
    assert.ok(arrivals[0]!.text.includes('"role":"assistant"'), 'the role chunk inflates on its own');
    assert.ok(ended - arrivals[0]!.at >= 300, `first event at ${arrivals[0]!.at} ms, end at ${ended} ms`);
    assert.ok(arrivals.length >= 4, `events arrive one by one (${arrivals.length} pieces)`);
  });
});

test('endless: a JSON body that never ends, written as the client reads, until the client leaves', async () => {
  await withSim(async (sim) => {
    const { res, destroy } = await openChat(sim, chatBody({ sim: { key: 'endless', endless: true } }));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['content-length'], undefined);
    let text = '';
    let bytes = 0;
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        if (text.length < 4096) text += chunk.toString('utf8');
        bytes += chunk.length;
        if (bytes >= 1024 * 1024) {
          res.off('data', onData);
          res.pause();
          resolve();
        }
      };
      res.on('data', onData);
    });
    assert.ok(text.startsWith('{"id":"x","choices":[{"index":0,'), text.slice(0, 60));
    const items = text.slice('{"id":"x","choices":['.length).split('},{').length;
    assert.ok(items > 10);

    // While the client reads nothing, the simulator waits and keeps answering others.
    const other = await post(sim, '/chat/completions', chatBody());
    assert.equal(other.status, 200);
    assert.equal(sim.requestsFor('endless')[0]!.completed, false);

    destroy();
    await sim.waitFor(() => sim.requestsFor('endless')[0]!.aborted === true);
    assert.equal((await post(sim, '/chat/completions', chatBody())).status, 200, 'the simulator lives on');
  });
});

test('status 204 and 304 answer without a body and keep the connection usable', async () => {
  await withSim(async (sim) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const status of [204, 304]) {
        const answer = await rawChat(sim, chatBody({ sim: { status } }), agent);
        assert.equal(answer.status, status);
        assert.equal(answer.body.length, 0);
        assert.equal(answer.headers['content-length'], undefined);
        assert.equal(answer.headers['transfer-encoding'], undefined);
        assert.equal(answer.headers['content-type'], undefined);
        assert.match(String(answer.headers['x-request-id']), /^[0-9a-f-]{36}$/);
        const next = await rawChat(sim, chatBody(), agent);
        assert.equal(JSON.parse(next.body.toString()).object, 'chat.completion', 'the next answer on the connection is intact');
      }
      const once = await rawChat(sim, chatBody({ sim: { key: 'nc', status: 204, fail_first: 1 } }), agent);
      assert.equal(once.status, 204);
      assert.equal((await rawChat(sim, chatBody({ sim: { key: 'nc', status: 204, fail_first: 1 } }), agent)).status, 200);
    } finally {
      agent.destroy();
    }
  });
});

test('informational: a 1xx answer arrives first, then the real one', async () => {
  await withSim(async (sim) => {
    const hints = await rawChat(sim, chatBody({ sim: { informational: 103 } }));
    assert.deepEqual(hints.informational.map((i) => i.statusCode), [103]);
    assert.equal(hints.informational[0]!.headers.link, '</x>; rel=preload');
    assert.equal(hints.status, 200);
    assert.equal(JSON.parse(hints.body.toString()).object, 'chat.completion');

    for (const code of [102, 150, 199]) {
      const answer = await rawChat(sim, chatBody({ sim: { informational: code } }));
      assert.deepEqual(answer.informational.map((i) => i.statusCode), [code]);
      assert.equal(answer.status, 200);
    }

    // It comes before delay_ms and before a failure; 101 and out-of-range codes are ignored.
    const started = Date.now();
    let informedAfter = -1;
    const { res } = await new Promise<{ res: IncomingMessage }>((resolve, reject) => {
      const req = request(sim.url + '/chat/completions', { method: 'POST', headers: AUTH }, (res) => resolve({ res }));
      req.on('information', () => (informedAfter = Date.now() - started));
      req.on('error', reject);
      req.end(JSON.stringify(chatBody({ sim: { informational: 103, delay_ms: 200, status: 503 } })));
    });
    res.resume();
    assert.equal(res.statusCode, 503);
    const answeredAfter = Date.now() - started;
    assert.ok(informedAfter >= 0 && informedAfter < 150, `103 after ${informedAfter} ms`);
    assert.ok(answeredAfter >= 190, `503 after ${answeredAfter} ms`);
    for (const code of [101, 100, 200]) {
      const answer = await rawChat(sim, chatBody({ sim: { informational: code } }));
      assert.deepEqual(answer.informational, [], String(code));
      assert.equal(answer.status, 200);
    }
  });
});

test('body_bytes pads a successful answer to the size asked, usage still last, length exact', async () => {
  await withSim(async (sim) => {
    const padded = await rawChat(sim, chatBody({ sim: { body_bytes: 100_000 } }));
    assert.equal(padded.status, 200);
    assert.equal(padded.headers['content-length'], '100000');
    assert.equal(padded.body.length, 100_000);
    const body = JSON.parse(padded.body.toString('utf8'));
    assert.equal(body.choices[0].message.content, 'Hello from the Fireworks simulator.');
    assert.equal(typeof body.padding, 'string');
    assert.deepEqual(Object.keys(body).slice(-2), ['padding', 'usage']);
    assert.ok(padded.body.toString('utf8').endsWith(`"usage":${JSON.stringify(body.usage)}}`));
    assert.deepEqual(body.usage, { prompt_tokens: 2, total_tokens: 7, completion_tokens: 5 });

    const tiny = await rawChat(sim, chatBody({ sim: { body_bytes: 10 } }));
    assert.equal(JSON.parse(tiny.body.toString()).padding, undefined, 'smaller than the answer: sent as is');

    const zipped = await rawChat(sim, chatBody({ sim: { body_bytes: 50_000, gzip: true } }));
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.body.length < 5_000);
    assert.equal(gunzipSync(zipped.body).length, 50_000);

    const embedded = await post(sim, '/embeddings', { model: EMBED_MODEL, input: 'a', sim: { body_bytes: 30_000 } });
    assert.equal((await embedded.text()).length, 30_000);

    // The cap: 256 MiB announced, and nothing is built in memory before the client reads.
    const { res, destroy } = await openChat(sim, chatBody({ sim: { key: 'huge', body_bytes: 1e12 } }));
    assert.equal(res.headers['content-length'], String(256 * 1024 * 1024));
    destroy();
    await sim.waitFor(() => sim.requestsFor('huge')[0]!.aborted === true);
  });
});
