/**
 * The Bedrock simulator, checked against AWS's own client (`@aws-sdk/client-bedrock-runtime`, which
 * signs, serialises, parses event streams and maps errors as it does against AWS) and, for what the
 * client cannot send, over plain HTTP signed with `@smithy/signature-v4`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InternalServerException,
  ModelStreamErrorException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import type { BedrockRuntimeClientConfig, ConverseCommandInput, ConverseCommandOutput, ConverseStreamOutput, Tool } from '@aws-sdk/client-bedrock-runtime';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  BEDROCK_SIM_ACCESS_KEY_ID,
  BEDROCK_SIM_API_KEY,
  BEDROCK_SIM_SECRET_ACCESS_KEY,
  BEDROCK_SIM_SESSION_TOKEN,
  BEDROCK_SIM_TEMP_ACCESS_KEY_ID,
  BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY,
  startBedrockSim,
} from '../sim/bedrock.js';
import type { BedrockSim, BedrockSimFault } from '../sim/bedrock.js';
import { bedrockClient } from './bedrock-client.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const DEFAULT_TEXT = 'Hello from the Bedrock simulator.';
const HELLO: ConverseCommandInput['messages'] = [{ role: 'user', content: [{ text: 'Say hello' }] }];
const CREDENTIALS = { accessKeyId: BEDROCK_SIM_ACCESS_KEY_ID, secretAccessKey: BEDROCK_SIM_SECRET_ACCESS_KEY };
const WEATHER: Tool = {
  toolSpec: {
    name: 'get_weather',
    description: 'Weather for a place',
    inputSchema: {
      json: {
        type: 'object',
        properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1 } },
        required: ['location'],
      },
    },
  },
};
const TIME: Tool = { toolSpec: { name: 'get_time', inputSchema: { json: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] } } } };
// A model fills the required properties; the optional ones (unit, days) are left out.
const WEATHER_INPUT = { location: 'sim' };

function clientFor(sim: BedrockSim, config: Partial<BedrockRuntimeClientConfig> = {}): BedrockRuntimeClient {
  return bedrockClient(sim.url, config);
}

async function withSim(fn: (sim: BedrockSim, client: BedrockRuntimeClient) => Promise<void>): Promise<void> {
  const sim = await startBedrockSim({ port: 0 });
  const client = clientFor(sim);
  try {
    await fn(sim, client);
  } finally {
    client.destroy();
    await sim.close();
  }
}

/** Faults as a translating gateway passes them: the `requestMetadata.sim` JSON string. */
function viaMetadata(fault: BedrockSimFault): Record<string, string> {
  return { sim: JSON.stringify(fault) };
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail');
}

async function collect(stream: AsyncIterable<ConverseStreamOutput> | undefined): Promise<ConverseStreamOutput[]> {
  const events: ConverseStreamOutput[] = [];
  for await (const event of stream!) events.push(event);
  return events;
}

/** A SigV4-signed POST of any body, for what the SDK will not send. */
async function signedPost(sim: BedrockSim, path: string, body: string): Promise<Response> {
  const url = new URL(sim.url);
  const signer = new SignatureV4({ credentials: CREDENTIALS, region: 'us-east-1', service: 'bedrock', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query: {}, headers: { host: url.host, 'content-type': 'application/json' }, body });
  return fetch(sim.url + path, { method: 'POST', headers: signed.headers, body });
}

test('Converse: text answer, system, usage and metrics; SigV4 over the once-encoded path; x-amzn-requestid', async () => {
  await withSim(async (sim, client) => {
    const out = await client.send(new ConverseCommand({ modelId: MODEL, system: [{ text: 'Be brief' }], messages: HELLO, inferenceConfig: { maxTokens: 100, temperature: 0.5 } }));
    assert.deepEqual(out.output, { message: { role: 'assistant', content: [{ text: DEFAULT_TEXT }] } });
    assert.equal(out.stopReason, 'end_turn');
    assert.deepEqual(out.usage, { inputTokens: 4, outputTokens: 5, totalTokens: 9 });
    assert.equal(typeof out.metrics?.latencyMs, 'number');
    assert.match(out.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
    const sent = sim.requests[0]!;
    assert.equal(sent.path, '/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse');
    assert.match(String(sent.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDSIMULATOR0000000\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/);
    assert.deepEqual(sent.json.system, [{ text: 'Be brief' }]);
  });
});

test('inference profiles, ARNs and temporary credentials are accepted; a double-encoded or unknown id is a ValidationException', async () => {
  await withSim(async (sim, client) => {
    for (const modelId of [`us.${MODEL}`, `arn:aws:bedrock:us-east-1::foundation-model/${MODEL}`,
      `arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.${MODEL}`]) {
      const answer: ConverseCommandOutput = await client.send(new ConverseCommand({ modelId, messages: HELLO }));
      assert.equal(answer.stopReason, 'end_turn', modelId);
    }
    const temp = clientFor(sim, { credentials: { accessKeyId: BEDROCK_SIM_TEMP_ACCESS_KEY_ID, secretAccessKey: BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY, sessionToken: BEDROCK_SIM_SESSION_TOKEN } });
    await temp.send(new ConverseCommand({ modelId: MODEL, messages: HELLO }));
    assert.equal(sim.requests.at(-1)!.headers['x-amz-security-token'], BEDROCK_SIM_SESSION_TOKEN);
    const wrongToken = clientFor(sim, { credentials: { accessKeyId: BEDROCK_SIM_TEMP_ACCESS_KEY_ID, secretAccessKey: BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY, sessionToken: 'other' } });
    const err = await rejection(wrongToken.send(new ConverseCommand({ modelId: MODEL, messages: HELLO })));
    assert.equal(err.name, 'UnrecognizedClientException');
    assert.equal(err.$metadata.httpStatusCode, 403);

    const twice = await rejection(client.send(new ConverseCommand({ modelId: encodeURIComponent(MODEL), messages: HELLO })));
    assert.ok(twice instanceof ValidationException);
    assert.match(twice.message, /at 'modelId' failed to satisfy constraint/);
    const unknown = await rejection(client.send(new ConverseCommand({ modelId: 'anthropic.claude-unknown-v1:0', messages: HELLO })));
    assert.ok(unknown instanceof ValidationException);
    assert.equal(unknown.message, 'The provided model identifier is invalid.');
  });
});

test('a Bedrock API key (Bearer, ABSK...) works through the SDK token auth; another key is refused', async () => {
  await withSim(async (sim) => {
    const bearer = clientFor(sim, { token: { token: BEDROCK_SIM_API_KEY }, authSchemePreference: ['httpBearerAuth'] });
    const out = await bearer.send(new ConverseCommand({ modelId: MODEL, messages: HELLO }));
    assert.equal(out.stopReason, 'end_turn');
    assert.equal(sim.requests.at(-1)!.headers.authorization, `Bearer ${BEDROCK_SIM_API_KEY}`);
    assert.ok(BEDROCK_SIM_API_KEY.startsWith('ABSK'));
    const wrong = clientFor(sim, { token: { token: 'ABSK' + Buffer.from('BedrockAPIKey-x-at-1:y').toString('base64') }, authSchemePreference: ['httpBearerAuth'] });
    const err = await rejection(wrong.send(new ConverseCommand({ modelId: MODEL, messages: HELLO })));
    assert.equal(err.$metadata.httpStatusCode, 403);
  });
});

test('a wrong secret, an unknown key and a stale date are refused as AWS refuses them', async () => {
  await withSim(async (sim) => {
    const wrong = await rejection(clientFor(sim, { credentials: { ...CREDENTIALS, secretAccessKey: 'nope' } }).send(new ConverseCommand({ modelId: MODEL, messages: HELLO })));
    assert.equal(wrong.name, 'InvalidSignatureException');
    assert.equal(wrong.$metadata.httpStatusCode, 403);
    assert.match(wrong.message, /^The request signature we calculated does not match the signature you provided/);
    // The canonical URI encodes the already-encoded path again, as SigV4 does for every service but S3.
    assert.match(wrong.message, /\/model\/anthropic\.claude-3-5-haiku-20241022-v1%253A0\/converse\n/);

    const unknown = await rejection(clientFor(sim, { credentials: { accessKeyId: 'AKIDUNKNOWN000000000', secretAccessKey: 'x' } }).send(new ConverseCommand({ modelId: MODEL, messages: HELLO })));
    assert.equal(unknown.name, 'UnrecognizedClientException');
    assert.equal(unknown.message, 'The security token included in the request is invalid.');

    const stale = await rejection(clientFor(sim, { systemClockOffset: -10 * 60_000 }).send(new ConverseCommand({ modelId: MODEL, messages: HELLO })));
    assert.equal(stale.name, 'InvalidSignatureException');
    assert.match(stale.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
  });
});

test('tool use: any/tool force a toolUse sampled from the schema; after a toolResult the answer names it', async () => {
  await withSim(async (_sim, client) => {
    const call = await client.send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'Weather in Paris?' }] }], toolConfig: { tools: [WEATHER, TIME], toolChoice: { any: {} } } }));
    assert.equal(call.stopReason, 'tool_use');
    const use = call.output?.message?.content?.[0]?.toolUse;
    assert.equal(use?.name, 'get_weather');
    assert.match(use?.toolUseId ?? '', /^tooluse_[\w-]{22}$/);
    assert.deepEqual(use?.input, WEATHER_INPUT);

    const named = await client.send(new ConverseCommand({ modelId: MODEL, messages: HELLO, toolConfig: { tools: [WEATHER, TIME], toolChoice: { tool: { name: 'get_time' } } } }));
    assert.equal(named.output?.message?.content?.[0]?.toolUse?.name, 'get_time');

    const after = await client.send(new ConverseCommand({
      modelId: MODEL,
      toolConfig: { tools: [WEATHER] },
      messages: [
        { role: 'user', content: [{ text: 'Weather in Paris?' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: use!.toolUseId!, name: 'get_weather', input: WEATHER_INPUT } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: use!.toolUseId!, content: [{ text: '21 degrees and sunny' }] } }] },
      ],
    }));
    assert.equal(after.stopReason, 'end_turn');
    assert.deepEqual(after.output?.message?.content, [{ text: 'Tool result received: 21 degrees and sunny' }]);
  });
});

test('images as bytes and documents are accepted and counted; stop sequences and maxTokens cut the text', async () => {
  await withSim(async (sim, client) => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const doc = new TextEncoder().encode('Quarterly notes');
    const out = await client.send(new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'What is this?' },
      { image: { format: 'png', source: { bytes: png } } }, { document: { format: 'txt', name: 'notes', source: { bytes: doc } } }] }] }));
    assert.equal(out.usage?.inputTokens, 3 + 1600 + 1600);
    assert.equal(sim.requests.at(-1)!.json.messages[0].content[1].image.source.bytes, Buffer.from(png).toString('base64'));

    const stop = await client.send(new ConverseCommand({ modelId: MODEL, messages: HELLO, inferenceConfig: { stopSequences: ['Bedrock'] } }));
    assert.equal(stop.stopReason, 'stop_sequence');
    assert.deepEqual(stop.output?.message?.content, [{ text: 'Hello from the ' }]);
    const max = await client.send(new ConverseCommand({ modelId: MODEL, messages: HELLO, inferenceConfig: { maxTokens: 2 } }));
    assert.equal(max.stopReason, 'max_tokens');
    assert.deepEqual(max.output?.message?.content, [{ text: 'Hello from' }]);

    const cached = await client.send(new ConverseCommand({ modelId: MODEL, system: [{ text: 'A long shared prefix' }, { cachePoint: { type: 'default' } }], messages: HELLO }));
    assert.deepEqual(cached.usage, { inputTokens: 2, outputTokens: 5, totalTokens: 11, cacheReadInputTokens: 0, cacheWriteInputTokens: 4 });
  });
});

test('ConverseStream: the documented events, text deltas, metadata usage; frames split across writes reassemble', async () => {
  await withSim(async (sim, client) => {
    for (const fault of [{ chunks: 4 }, { chunks: 4, split_frames: true }] as BedrockSimFault[]) {
      const res = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata(fault) }));
      const events = await collect(res.stream);
      const kinds = events.map((e) => Object.keys(e).filter((k) => (e as any)[k] !== undefined)[0]);
      assert.deepEqual(kinds, ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
      assert.deepEqual(events[0]!.messageStart, { role: 'assistant' });
      const text = events.map((e) => e.contentBlockDelta?.delta?.text ?? '').join('');
      assert.equal(text, 'Hello from the Bedrock simulator.');
      assert.deepEqual(events[5]!.contentBlockStop, { contentBlockIndex: 0 });
      assert.deepEqual(events[6]!.messageStop, { stopReason: 'end_turn' });
      assert.deepEqual(events[7]!.metadata?.usage, { inputTokens: 2, outputTokens: 5, totalTokens: 7 });
    }
    assert.equal(sim.requests.at(-1)!.headers['content-type'], 'application/json');

    // On the wire, split_frames delivers the first frame in two reads: less than its prelude's total length.
    const raw = await signedPost(sim, `/model/${encodeURIComponent(MODEL)}/converse-stream`, JSON.stringify({ messages: HELLO, sim: { split_frames: true } }));
    assert.equal(raw.headers.get('content-type'), 'application/vnd.amazon.eventstream');
    const reader = raw.body!.getReader();
    const first = (await reader.read()).value!;
    assert.ok(first.length >= 4 && first.length < new DataView(first.buffer, first.byteOffset).getUint32(0), 'the first read is part of a frame');
    await reader.cancel();
  });
});

test('ConverseStream tool use: contentBlockStart names the tool, input fragments reassemble; parallel tools via additionalModelRequestFields', async () => {
  await withSim(async (_sim, client) => {
    const res = await client.send(new ConverseStreamCommand({
      modelId: MODEL,
      messages: HELLO,
      toolConfig: { tools: [WEATHER, TIME], toolChoice: { any: {} } },
      additionalModelRequestFields: { sim: { tool_fragments: 5, parallel_tools: true } },
    }));
    const events = await collect(res.stream);
    const starts = events.filter((e) => e.contentBlockStart).map((e) => e.contentBlockStart!);
    assert.deepEqual(starts.map((s) => [s.contentBlockIndex, s.start?.toolUse?.name]), [[0, 'get_weather'], [1, 'get_time']]);
    const inputs = ['', ''];
    let fragments = 0;
    for (const e of events) {
      const d = e.contentBlockDelta;
      if (d?.delta?.toolUse) {
        inputs[d.contentBlockIndex!] += d.delta.toolUse.input ?? '';
        fragments++;
      }
    }
    assert.equal(fragments, 10);
    assert.deepEqual(JSON.parse(inputs[0]!), WEATHER_INPUT);
    assert.deepEqual(JSON.parse(inputs[1]!), { zone: 'sim' });
    assert.equal(events.find((e) => e.messageStop)?.messageStop?.stopReason, 'tool_use');
  });
});

test('a mid-stream exception frame is thrown while iterating, as its SDK class, after N deltas', async () => {
  await withSim(async (_sim, client) => {
    const res = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ stream_exception: { after: 2 } }) }));
    let deltas = 0;
    const err = await rejection((async () => {
      for await (const e of res.stream!) if (e.contentBlockDelta) deltas++;
    })());
    assert.equal(deltas, 2);
    assert.ok(err instanceof ModelStreamErrorException, err.name);
    const throttled = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ stream_exception: { type: 'throttlingException', message: 'slow down' } }) }));
    const second = await rejection(collect(throttled.stream));
    assert.ok(second instanceof ThrottlingException);
    assert.equal(second.message, 'slow down');
  });
});

test('each error status raises its SDK exception class, with x-amzn-errortype and a request id', async () => {
  await withSim(async (sim, client) => {
    const cases: [number, new (...args: any[]) => Error][] = [
      [400, ValidationException], [403, AccessDeniedException], [404, ResourceNotFoundException], [408, ModelTimeoutException],
      [429, ThrottlingException], [500, InternalServerException], [503, ServiceUnavailableException],
    ];
    for (const [status, kind] of cases) {
      const err: any = await rejection(client.send(new ConverseCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ status }) })));
      assert.equal(err instanceof kind, true, `${status}: ${String(err.name)}`);
      assert.equal(err.$metadata.httpStatusCode, status);
      assert.match(err.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
    }
    const raw = await signedPost(sim, `/model/${encodeURIComponent(MODEL)}/converse`, JSON.stringify({ messages: HELLO, sim: { status: 429 } }));
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('x-amzn-errortype'), 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/');
    assert.deepEqual(await raw.json(), { message: 'Too many requests, please wait before trying again.' });

    const stream = await rejection(client.send(new ConverseStreamCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ status: 503, key: 'k', fail_first: 1 }) })));
    assert.ok(stream instanceof ServiceUnavailableException);
    const retried = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ status: 503, key: 'k', fail_first: 1 }) }));
    assert.equal((await collect(retried.stream)).length, 7);
    assert.equal(sim.requestsFor('k').length, 2);
  });
});

test('validation refuses what Converse refuses, with AWS-like messages', async () => {
  await withSim(async (sim, client) => {
    const cases: [ConverseCommandInput['messages'], RegExp][] = [
      [[{ role: 'system' as any, content: [{ text: 'x' }] }], /Value 'system' at 'messages\.1\.member\.role' failed to satisfy constraint: Member must satisfy enum value set: \[user, assistant\]/],
      [[{ role: 'user', content: [{ text: 'a' }] }, { role: 'user', content: [{ text: 'b' }] }], /^A conversation must alternate between user and assistant roles/],
      [[{ role: 'assistant', content: [{ text: 'a' }] }], /^A conversation must start with a user message/],
      [[{ role: 'user', content: [] }], /^The content field in the Message object at messages\.0 is empty/],
      [[{ role: 'user', content: [{ text: ' ' }] }], /^The text field in the ContentBlock object at messages\.0\.content\.0 is blank/],
    ];
    for (const [messages, message] of cases) {
      const err = await rejection(client.send(new ConverseCommand({ modelId: MODEL, messages })));
      assert.ok(err instanceof ValidationException, err.name);
      assert.match(err.message, message);
    }
    const zero = await rejection(client.send(new ConverseCommand({ modelId: MODEL, messages: HELLO, inferenceConfig: { maxTokens: 0 } })));
    assert.match(zero.message, /Value '0' at 'inferenceConfig\.maxTokens' failed to satisfy constraint/);
    const extra = await signedPost(sim, `/model/${encodeURIComponent(MODEL)}/converse`, JSON.stringify({ messages: HELLO, temperature: 1 }));
    assert.equal(extra.status, 400);
    assert.match(((await extra.json()) as any).message, /extraneous key \[temperature\] is not permitted/);
  });
});

test('cut_after drops the connection after N deltas, delay_ms holds the headers; no authorization is refused', async () => {
  await withSim(async (sim, client) => {
    const res = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ cut_after: 1 }) }));
    let deltas = 0;
    await rejection((async () => {
      for await (const e of res.stream!) if (e.contentBlockDelta) deltas++;
    })());
    assert.equal(deltas, 1);
    const started = Date.now();
    await client.send(new ConverseCommand({ modelId: MODEL, messages: HELLO, requestMetadata: viaMetadata({ delay_ms: 150 }) }));
    assert.ok(Date.now() - started >= 140);
    const anonymous = await fetch(`${sim.url}/model/${encodeURIComponent(MODEL)}/converse`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 403);
    assert.match(anonymous.headers.get('x-amzn-errortype') ?? '', /^MissingAuthenticationTokenException:/);
    assert.match(anonymous.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
  });
});
