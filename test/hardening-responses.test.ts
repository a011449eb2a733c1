// The Responses API's item references as a hostile client would use them (issue 16, items 1 and
// 11): a small request that refers to a large stored item many times, a translation past the
// longest string V8 can build, one client's items pushing out another's, and clients that sign
// with AWS credentials sharing one memory.
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY, BEDROCK_SIM_SESSION_TOKEN, BEDROCK_SIM_TEMP_ACCESS_KEY_ID, BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY, startBedrockSim, type BedrockSim } from '../sim/bedrock.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import { ItemMemory } from '../src/inbound/openai-responses/memory.js';
import type { GatewayServer } from '../src/server.js';
import { simFault, startGateway } from './helpers.js';

const MODEL = 'deepseek-chat';
const BEDROCK_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';

interface ErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

let deepseek: OpenAICompatibleSim;
const gateways: GatewayServer[] = [];

before(async () => {
  deepseek = await startOpenAICompatibleSim({ flavour: 'deepseek', port: 0 });
});
after(async () => {
  await Promise.all(gateways.map((gateway) => gateway.shutdown(0)));
  await deepseek.close();
});

/** A gateway in front of the DeepSeek simulator (chat only: /v1/responses is translated). */
async function deepseekGateway(env: Record<string, string> = {}): Promise<string> {
  const { server, url } = await startGateway({ DEEPSEEK_BASE_URL: deepseek.url, ...env });
  gateways.push(server);
  return url;
}

function keyed(url: string, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: url, apiKey, defaultHeaders: { 'x-provider': 'deepseek' }, maxRetries: 0 });
}

/** Has the gateway answer `key` with `content`, and returns the id of the message item it keeps. */
async function storedAnswer(url: string, key: string, content: string): Promise<string> {
  const answer = await keyed(url, key).responses.create({ model: MODEL, input: 'Say it', user: simFault({ content }) });
  assert.equal(answer.output_text, content);
  return answer.output[0]!.id!;
}

/** POST /v1/responses as raw JSON, for the status and body the gateway answers with. */
async function postResponses(url: string, key: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-provider': 'deepseek' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

function referring(id: string, times: number): unknown[] {
  return [{ role: 'user', content: 'Say it' }, ...Array.from({ length: times }, () => ({ type: 'item_reference', id })), { role: 'user', content: 'Again' }];
}

describe('item references are bounded by bytes, as the body is', () => {
  test('the items a request refers to count toward MAX_BODY_BYTES once per reference: past it a 413, and nothing goes upstream', async () => {
    const url = await deepseekGateway({ MAX_BODY_BYTES: String(256 * 1024) });
    const item = 'a'.repeat(40_000);
    const id = await storedAnswer(url, 'sim-amplifier', item);

    // Within the limit the references resolve, each one in full.
    const within = deepseek.requests.length;
    const fits = await postResponses(url, 'sim-amplifier', { model: MODEL, input: referring(id, 4) });
    assert.equal(fits.status, 200, JSON.stringify(fits.json));
    const sent = deepseek.requests[within]!.json.messages as { content: string }[];
    assert.equal(sent.filter((message) => message.content === item).length, 4);

    // Ten references to the same 40 KB item: a 1 KB request that would be 400 KB upstream.
    const before = deepseek.requests.length;
    const amplified = await postResponses(url, 'sim-amplifier', { model: MODEL, input: referring(id, 10) });
    assert.equal(amplified.status, 413);
    const error = (amplified.json as ErrorBody).error;
    assert.equal(error.code, 'request_too_large');
    assert.equal(error.type, 'invalid_request_error');
    // The seventh reference (input[7]) is the first past 256 KiB.
    assert.equal(error.param, 'input[7].id');
    assert.match(error.message, /MAX_BODY_BYTES/);
    assert.equal(deepseek.requests.length, before, 'nothing was sent upstream');
  });

  test("the issue's request, 1,000 references to a stored 256 KiB answer, is refused without stalling other clients", async () => {
    const url = await deepseekGateway();
    const id = await storedAnswer(url, 'sim-stall', 'c'.repeat(256 * 1024));
    const body = { model: MODEL, input: referring(id, 1_000) };
    assert.ok(JSON.stringify(body).length < 80_000);
    const before = deepseek.requests.length;
    // The gateway runs in this process: its event loop is this one.
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const answer = await postResponses(url, 'sim-stall', body);
    delay.disable();
    // Unbounded, the 262 MB upstream body blocked the loop for 1.2-1.7 s.
    assert.ok(delay.max / 1e6 < 250, `event loop blocked ${delay.max / 1e6} ms`);
    assert.equal(deepseek.requests.length, before, 'nothing was sent upstream');
    assert.equal(answer.status, 413);
    assert.match((answer.json as ErrorBody).error.param!, /^input\[\d+\]\.id$/);
  });

  test('a translation longer than the longest string V8 builds is a 413, not a 500', async () => {
    // A body limit so high that the references alone do not reach it: 530 references to a 1 MiB
    // item make a chat request of about 530 MiB, past V8's 512 MiB string limit.
    const url = await deepseekGateway({ MAX_BODY_BYTES: String(1024 * 1024 * 1024) });
    const id = await storedAnswer(url, 'sim-serialiser', 'b'.repeat(1024 * 1024));
    const before = deepseek.requests.length;
    const answer = await postResponses(url, 'sim-serialiser', { model: MODEL, input: referring(id, 530) });
    assert.equal(answer.status, 413, JSON.stringify(answer.json).slice(0, 300));
    assert.equal((answer.json as ErrorBody).error.code, 'request_too_large');
    assert.equal(deepseek.requests.length, before);
  });
});

describe('the memory of output items is bounded per client', () => {
  test("one client's items do not push out another's: each client keeps its own 32 MiB", async () => {
    const url = await deepseekGateway();
    const small = await storedAnswer(url, 'sim-bob', 'Bob was answered first.');
    // Alice is answered 36 MiB, more than one client keeps: her own oldest item goes.
    const alices: string[] = [];
    for (let i = 0; i < 6; i++) alices.push(await storedAnswer(url, 'sim-alice', String(i).repeat(6 * 1024 * 1024)));

    const bob = await postResponses(url, 'sim-bob', { model: MODEL, input: referring(small, 1) });
    assert.equal(bob.status, 200, JSON.stringify(bob.json));
    const alice = await postResponses(url, 'sim-alice', { model: MODEL, input: referring(alices[0]!, 1) });
    assert.equal(alice.status, 400);
    assert.equal((alice.json as ErrorBody).error.code, 'unknown_item');
    const latest = await postResponses(url, 'sim-alice', { model: MODEL, input: referring(alices[5]!, 1) });
    assert.equal(latest.status, 200);
  });

  test('past the total across clients, the client answered longest ago loses its oldest items first', () => {
    const item = (id: string) => ({ id, type: 'message', content: [{ type: 'output_text', text: 'x' }] });
    const memory = new ItemMemory({ maxItemsPerClient: 3, maxItems: 5 });
    memory.remember('a', [item('a1'), item('a2'), item('a3'), item('a4')]);
    // A client's own bound: its oldest went.
    assert.equal(memory.recall('a', 'a1'), undefined);
    assert.ok(memory.recall('a', 'a4'));
    memory.remember('b', [item('b1'), item('b2'), item('b3')]);
    // Six items, one over the total: a, answered longest ago, loses its oldest; b keeps all of its.
    assert.equal(memory.recall('a', 'a2'), undefined);
    assert.ok(memory.recall('a', 'a3'));
    for (const id of ['b1', 'b2', 'b3']) assert.ok(memory.recall('b', id), id);

    // Many clients of one item each: only the most recent fit, so the clients kept are bounded too.
    for (let i = 0; i < 100; i++) memory.remember(`c${i}`, [item('c')]);
    assert.equal(memory.recall('a', 'a3'), undefined);
    assert.equal(memory.recall('b', 'b3'), undefined);
    assert.equal(memory.recall('c94', 'c'), undefined);
    for (let i = 95; i < 100; i++) assert.ok(memory.recall(`c${i}`, 'c'));
  });

  test('the total bytes bound every client together, and an item larger than it is not kept', () => {
    const item = (id: string, bytes: number) => ({ id, type: 'message', content: [{ type: 'output_text', text: 'y'.repeat(bytes) }] });
    const memory = new ItemMemory({ maxBytes: 3_000 });
    memory.remember('a', [item('a1', 1_000)]);
    memory.remember('b', [item('b1', 1_000)]);
    memory.remember('c', [item('c1', 1_000)]);
    assert.equal(memory.recall('a', 'a1'), undefined);
    assert.ok(memory.recall('b', 'b1'));
    assert.ok(memory.recall('c', 'c1'));
    memory.remember('d', [item('d1', 5_000)]);
    assert.equal(memory.recall('d', 'd1'), undefined);
    assert.ok(memory.recall('c', 'c1'));
  });
});

describe('clients that sign with AWS credentials', () => {
  let bedrock: BedrockSim;
  let url: string;
  before(async () => {
    bedrock = await startBedrockSim({ port: 0 });
    const started = await startGateway({
      BEDROCK_BASE_URL: bedrock.url,
      AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
      AWS_REGION: 'us-west-2',
    });
    gateways.push(started.server);
    url = started.url;
  });
  after(() => bedrock.close());

  /** An OpenAI SDK client of Bedrock: the placeholder key, and the AWS credentials in x-aws-* headers. */
  function awsClient(credentials: Record<string, string>): OpenAI {
    return new OpenAI({ baseURL: url, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'bedrock', ...credentials }, maxRetries: 0 });
  }

  test('each set of x-aws-* credentials has its own items; neither the server-key clients nor another secret reach them', async () => {
    const temporary = {
      'x-aws-access-key-id': BEDROCK_SIM_TEMP_ACCESS_KEY_ID,
      'x-aws-secret-access-key': BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY,
      'x-aws-session-token': BEDROCK_SIM_SESSION_TOKEN,
    };
    const first = await awsClient(temporary).responses.create({ model: BEDROCK_MODEL, input: 'Say hello' });
    const input = [{ role: 'user' as const, content: 'Say hello' }, { type: 'item_reference' as const, id: first.output[0]!.id! }, { role: 'user' as const, content: 'Again' }];
    const again = await awsClient(temporary).responses.create({ model: BEDROCK_MODEL, input });
    assert.equal(again.status, 'completed');

    const refused = async (client: OpenAI) => {
      const err = await client.responses.create({ model: BEDROCK_MODEL, input }).catch((error: unknown) => error);
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.code, 'unknown_item');
      assert.equal(err.param, 'input[1].id');
    };
    // A client of the gateway's own AWS credentials.
    await refused(awsClient({}));
    // The other credentials the simulator knows.
    await refused(awsClient({ 'x-aws-access-key-id': BEDROCK_SIM_ACCESS_KEY_ID, 'x-aws-secret-access-key': BEDROCK_SIM_SECRET_ACCESS_KEY }));
    // The same access key id with another secret: the items are refused before anything is signed.
    await refused(awsClient({ ...temporary, 'x-aws-secret-access-key': 'not-the-secret' }));
  });
});
