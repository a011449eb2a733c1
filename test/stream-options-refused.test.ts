// A host that refuses `stream_options` (Mistral answers 422 "extra_forbidden"): a streamed request
// translated from another API (Anthropic's Messages, OpenAI's Responses) goes without the field,
// and the usage its stream carries unasked still reaches the client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { FAMILY_SIM_API_KEY, startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { startGateway } from './helpers.js';

let mistral: OpenAICompatibleSim;
let gateway: GatewayServer;
let url: string;
before(async () => {
  mistral = await startOpenAICompatibleSim({ flavour: 'mistral', port: 0 });
  ({ server: gateway, url } = await startGateway({ DEFAULT_PROVIDER: 'mistral', MISTRAL_BASE_URL: mistral.url, MISTRAL_API_KEY: FAMILY_SIM_API_KEY, FIREWORKS_BASE_URL: mistral.url, MISTRAL_RESPONSES_API: 'translate' }));
});
after(async () => {
  await gateway.shutdown(100);
  await mistral.close();
});

test('the simulator refuses stream_options as Mistral does', async () => {
  const res = await fetch(`${mistral.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${FAMILY_SIM_API_KEY}` },
    body: JSON.stringify({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } }),
  });
  assert.equal(res.status, 422);
  const body = (await res.json()) as { message: { detail: { type: string; loc: string[] }[] } };
  assert.equal(body.message.detail[0]!.type, 'extra_forbidden');
});

test('a Messages stream to Mistral is answered, with its usage', async () => {
  const client = new Anthropic({ apiKey: 'use-server-key', baseURL: url.slice(0, -3), maxRetries: 0 });
  const stream = client.messages.stream({ model: 'mistral-small-latest', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
  const message = await stream.finalMessage();
  assert.ok(message.content.length > 0);
  assert.ok(message.usage.input_tokens > 0, JSON.stringify(message.usage));
  assert.equal(mistral.requests.at(-1)!.json.stream_options, undefined);
});

test('a Responses stream to Mistral (translated) is answered, with its usage', async () => {
  const client = new OpenAI({ apiKey: 'use-server-key', baseURL: url, maxRetries: 0 });
  const stream = await client.responses.create({ model: 'mistral-small-latest', input: 'hi', stream: true });
  let usage: { input_tokens: number } | undefined;
  for await (const event of stream) if (event.type === 'response.completed') usage = event.response.usage ?? undefined;
  assert.ok(usage !== undefined && usage.input_tokens > 0);
});
