// `/v1/messages` served by a provider that speaks Anthropic's Messages API itself: the client's
// bytes go upstream untouched and the provider's come back untouched, streams included; only the
// credential is handled, and the client's anthropic-version is kept. Checked with the Anthropic
// SDK against the Anthropic simulator, and byte for byte against a recording upstream.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Anthropic, { AuthenticationError, BadRequestError, InternalServerError, RateLimitError } from '@anthropic-ai/sdk';
import { request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import type { GatewayServer } from '../src/server.js';
import { simFault, startGateway } from './helpers.js';

const MODEL = 'claude-haiku-4-5';
let sim: AnthropicSim;
let gateway: GatewayServer;
let origin: string;

before(async () => {
  sim = await startAnthropicSim({ port: 0 });
  const started = await startGateway({ ANTHROPIC_BASE_URL: sim.url, ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY });
  gateway = started.server;
  origin = started.url.slice(0, -'/v1'.length);
});
after(async () => {
  await gateway.shutdown(0);
  await sim.close();
});

/** The Anthropic SDK pointed at the gateway, as Claude Code is: the provider named by a header. */
function client(options: ConstructorParameters<typeof Anthropic>[0] = {}): Anthropic {
  return new Anthropic({ baseURL: origin, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'anthropic' }, maxRetries: 0, ...options });
}

const WEATHER: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Weather for a place',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

describe('the Anthropic SDK through the gateway to the Anthropic simulator', () => {
  test('messages.create: the request reaches the provider byte for byte, the answer comes back as sent', async () => {
    const from = sim.requests.length;
    const message = await client().messages.create({
      model: MODEL,
      max_tokens: 64,
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Say hello' }],
      metadata: { user_id: 'u-1' },
    });
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.equal(message.content[0]!.type, 'text');
    assert.equal(message.stop_reason, 'end_turn');
    assert.ok(message.usage.input_tokens > 0);
    // Anthropic's own request id (the simulator's are req_011C...), as its SDK reads it.
    assert.match(message._request_id ?? '', /^req_011C/);
    const seen = sim.requests.slice(from);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.path, '/v1/messages');
    assert.deepEqual(JSON.parse(seen[0]!.body).system, [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }]);
  });

  test('messages.stream with a tool: finalMessage() has the tool_use block and its input', async () => {
    const stream = client().messages.stream({
      model: MODEL,
      max_tokens: 256,
      tools: [WEATHER],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const toolUse = final.content.find((block) => block.type === 'tool_use');
    assert.ok(toolUse && toolUse.type === 'tool_use');
    assert.equal(toolUse.name, 'get_weather');
    assert.equal(typeof (toolUse.input as { location?: unknown }).location, 'string');
  });

  test("Anthropic's rate-limit headers come back with the answer", async () => {
    const res = await request(`${origin}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'anthropic', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['anthropic-ratelimit-requests-limit']), /^\d+$/);
    assert.match(String(res.headers['anthropic-ratelimit-requests-remaining']), /^\d+$/);
  });

  test("the client's Bearer key and anthropic-version go upstream as they were sent", async () => {
    const from = sim.requests.length;
    // The SDK's authToken is sent as `Authorization: Bearer`, as the newest SDKs send keys.
    await client({ apiKey: null, authToken: ANTHROPIC_SIM_API_KEY, defaultHeaders: { 'x-provider': 'anthropic', 'anthropic-version': '2023-06-01' } })
      .messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const headers = sim.requests[from]!.headers as IncomingHttpHeaders;
    assert.equal(headers.authorization, `Bearer ${ANTHROPIC_SIM_API_KEY}`);
    assert.equal(headers['x-api-key'], undefined);
    assert.equal(headers['anthropic-version'], '2023-06-01');
  });

  test('a request of several hundred KB passes through whole', async () => {
    const from = sim.requests.length;
    const system = 'You are a careful coding agent. '.repeat(12_000);
    const message = await client().messages.create({ model: MODEL, max_tokens: 16, system, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(message.type, 'message');
    assert.equal(JSON.parse(sim.requests[from]!.body).system, system);
  });

  test("models.list: Anthropic's own list, in its shape", async () => {
    const ids: string[] = [];
    for await (const model of client().models.list()) ids.push(model.id);
    assert.ok(ids.includes('claude-haiku-4-5-20251001'), ids.join(', '));
  });

  test('count_tokens passes through', async () => {
    const counted = await client().messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'Count these words please' }] });
    assert.ok(counted.input_tokens > 0);
  });

  test("errors arrive as the provider sent them, as the SDK's classes", async () => {
    await assert.rejects(
      client().messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: simFault({ status: 429 }) } }, { headers: { 'x-gateway-max-retries': '0' } }),
      RateLimitError,
    );
    await assert.rejects(client({ apiKey: 'wrong-key' }).messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), AuthenticationError);
    await assert.rejects(
      client().messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'assistant', content: 'no user turn' }] }),
      BadRequestError,
    );
  });

  test('an overloaded provider (529) is retried by the gateway, and answered as 529 when it stays so', async () => {
    const key = `k-${process.pid}-overloaded`;
    const message = await client().messages.create(
      { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: simFault({ key, status: 529, fail_first: 1 }) } },
      { headers: { 'x-gateway-max-retries': '2' } },
    );
    assert.equal(message.type, 'message');
    const error = await client()
      .messages.create(
        { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: simFault({ status: 529 }) } },
        { headers: { 'x-gateway-max-retries': '0' } },
      )
      .catch((err: unknown) => err);
    assert.ok(error instanceof InternalServerError);
    assert.equal(error.status, 529);
    assert.equal((error.error as { error?: { type?: string } }).error?.type, 'overloaded_error');
  });
});

/** An upstream that answers every request with fixed bytes, and keeps what it was sent. */
async function recordingUpstream(answer: { contentType: string; body: string; status?: number }) {
  const seen: { headers: IncomingHttpHeaders; body: string; url: string }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), url: req.url ?? '' });
      res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType });
      // Sent in two writes, split inside an event, to show nothing is regrouped on the way.
      const half = Math.floor(answer.body.length / 2);
      res.write(answer.body.slice(0, half));
      setTimeout(() => res.end(answer.body.slice(half)), 5);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('byte for byte', () => {
  // Spacing and key order no serialiser would produce, and an event type the gateway has never heard of.
  const STREAM =
    'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n' +
    'event: future_event\ndata:   {"type":"future_event", "x" : 1}\n\n' +
    'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n' +
    'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}\n\n' +
    'event: message_stop\ndata: {"type":"message_stop"}\n\n';
  const BODY = '{ "model" : "claude-haiku-4-5",  "max_tokens":16, "stream":true, "messages":[{"role":"user","content":"h\\u00e9"}], "future_field": [1,2] }';

  test('a streamed request and its answer', async () => {
    const upstream = await recordingUpstream({ contentType: 'text/event-stream', body: STREAM });
    const { server, url } = await startGateway({ ANTHROPIC_BASE_URL: upstream.url, ANTHROPIC_API_KEY: 'server-key' });
    try {
      const res = await request(`${url}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-provider': 'anthropic', 'anthropic-version': '2026-10-21', 'anthropic-beta': 'fine-grained-tool-streaming-2025-05-14' },
        body: BODY,
      });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), STREAM);
      assert.equal(upstream.seen.length, 1);
      const sent = upstream.seen[0]!;
      assert.equal(sent.url, '/v1/messages');
      assert.equal(sent.body, BODY);
      assert.equal(sent.headers['x-api-key'], 'server-key');
      assert.equal(sent.headers['anthropic-version'], '2026-10-21');
      assert.equal(sent.headers['anthropic-beta'], 'fine-grained-tool-streaming-2025-05-14');
      assert.equal(sent.headers['x-provider'], undefined);
    } finally {
      await server.shutdown(0);
      await upstream.close();
    }
  });

  test("a provider's error body is answered as it was sent, with its status", async () => {
    const error = '{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"},"request_id":"req_1"}';
    const upstream = await recordingUpstream({ contentType: 'application/json', body: error, status: 400 });
    const { server, url } = await startGateway({ ANTHROPIC_BASE_URL: upstream.url, ANTHROPIC_API_KEY: 'server-key' });
    try {
      const res = await request(`${url}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-provider': 'anthropic' },
        body: '{"model":"claude-haiku-4-5","messages":[]}',
      });
      assert.equal(res.statusCode, 400);
      assert.equal(await res.body.text(), error);
      // Without a version from the client, the gateway's own goes out.
      assert.equal(upstream.seen[0]!.headers['anthropic-version'], '2026-10-21');
    } finally {
      await server.shutdown(0);
      await upstream.close();
    }
  });
});
