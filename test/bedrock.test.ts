// Bedrock end to end: the `openai` client (6.49.0) speaks chat completions to the gateway, which
// translates to Converse / ConverseStream, signs with SigV4 (or sends a Bedrock API key), and
// decodes AWS event streams from the Bedrock simulator, which verifies every signature as AWS does.
// Faults reach the simulator through OpenAI's `user`, which the translation sends as
// `requestMetadata.user`.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Writable } from 'node:stream';
import OpenAI from 'openai';
import {
  BEDROCK_SIM_ACCESS_KEY_ID,
  BEDROCK_SIM_API_KEY,
  BEDROCK_SIM_SECRET_ACCESS_KEY,
  BEDROCK_SIM_SESSION_TOKEN,
  BEDROCK_SIM_TEMP_ACCESS_KEY_ID,
  BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY,
  startBedrockSim,
  type BedrockSim,
  type BedrockSimFault,
} from '../sim/bedrock.js';
import { loadConfig } from '../src/config.js';
import { redactCredentials, redactSecrets } from '../src/redact.js';
import type { GatewayServer } from '../src/server.js';
import { collectLines, simFault, startGateway as startGatewayOn } from './helpers.js';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
let sim: BedrockSim;
let gateway: GatewayServer;
let apiKeyGateway: GatewayServer;
let baseURL: string;
let apiKeyURL: string;
const logs: string[] = [];

/** A gateway in front of the Bedrock simulator. */
function startGateway(env: Record<string, string>, sink?: Writable) {
  return startGatewayOn({ BEDROCK_BASE_URL: sim.url, ...env }, sink);
}

before(async () => {
  sim = await startBedrockSim({ port: 0 });
  const sink = collectLines(logs);
  ({ server: gateway, url: baseURL } = await startGateway(
    {
      AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
      AWS_REGION: 'us-west-2',
      LOG_LEVEL: 'debug',
    },
    sink,
  ));
  ({ server: apiKeyGateway, url: apiKeyURL } = await startGateway({ LOG_LEVEL: 'silent', AWS_BEARER_TOKEN_BEDROCK: BEDROCK_SIM_API_KEY }));
});
after(async () => {
  await gateway.shutdown(0);
  await apiKeyGateway.shutdown(0);
  await sim.close();
});

function client(options: ConstructorParameters<typeof OpenAI>[0] = {}): OpenAI {
  return new OpenAI({ baseURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': 'bedrock' }, maxRetries: 0, ...options });
}

const fault = (spec: BedrockSimFault): string => simFault(spec);

function seen(from: number) {
  return sim.requests.slice(from).filter((r) => r.path.startsWith('/model/'));
}

/** The region in a SigV4 Authorization header's credential scope. */
function scopeRegion(authorization: string | string[] | undefined): string {
  return /Credential=[^/]+\/\d{8}\/([^/]+)\/bedrock\/aws4_request/.exec(String(authorization))![1]!;
}

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const time = { type: 'function' as const, function: { name: 'get_time', description: 'The time now' } };

describe('chat', () => {
  test('a signed Converse request: text, stop, usage; system messages lifted out in order, turns merged', async () => {
    const from = sim.requests.length;
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
        { role: 'developer', content: 'Answer in English.' },
        { role: 'user', content: 'there' },
      ],
      max_tokens: 200,
    });
    assert.ok(completion.choices[0]!.message.content!.length > 0);
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.ok(completion.usage!.prompt_tokens > 0 && completion.usage!.completion_tokens > 0);
    const [sent] = seen(from);
    assert.equal(sent!.path, `/model/${encodeURIComponent(MODEL)}/converse`);
    assert.match(String(sent!.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDSIMULATOR0000000\//);
    assert.equal(scopeRegion(sent!.headers.authorization), 'us-west-2', 'the region from AWS_REGION');
    assert.deepEqual(sent!.json.system, [{ text: 'Be brief.' }, { text: 'Answer in English.' }]);
    assert.equal(sent!.json.messages.length, 1);
    assert.deepEqual(sent!.json.inferenceConfig, { maxTokens: 200 });
    assert.equal(sent!.json.inferenceConfig.temperature, undefined, 'nothing the client did not send');
  });

  test('a model id with ":" and an ARN are encoded once in the path and signed correctly', async () => {
    const arn = 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0';
    for (const model of ['us.anthropic.claude-3-5-haiku-20241022-v1:0', arn]) {
      const from = sim.requests.length;
      const completion = await client().chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(completion.object, 'chat.completion');
      assert.equal(seen(from)[0]!.path, `/model/${encodeURIComponent(model)}/converse`);
    }
  });

  test('images go as bytes; an image URL is a clear 400', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const from = sim.requests.length;
    await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is it?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] }],
    });
    assert.deepEqual(seen(from)[0]!.json.messages[0].content[1], { image: { format: 'png', source: { bytes: png } } });
    await assert.rejects(
      client().chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
      }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && /image URL/i.test(err.message),
    );
  });

  test('credentials from the client: x-aws-* with a session token, and a region from x-aws-region', async () => {
    const from = sim.requests.length;
    await client({
      defaultHeaders: {
        'x-provider': 'bedrock',
        'x-aws-access-key-id': BEDROCK_SIM_TEMP_ACCESS_KEY_ID,
        'x-aws-secret-access-key': BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY,
        'x-aws-session-token': BEDROCK_SIM_SESSION_TOKEN,
        'x-aws-region': 'eu-west-1',
      },
    }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    const [sent] = seen(from);
    assert.match(String(sent!.headers.authorization), /Credential=ASIASIMULATOR0000000\//);
    assert.equal(scopeRegion(sent!.headers.authorization), 'eu-west-1');
    assert.equal(sent!.headers['x-amz-security-token'], BEDROCK_SIM_SESSION_TOKEN);
  });

  test('a request the simulator refuses for its signature (a wrong secret) is a 403', async () => {
    await assert.rejects(
      client({
        defaultHeaders: { 'x-provider': 'bedrock', 'x-aws-access-key-id': BEDROCK_SIM_ACCESS_KEY_ID, 'x-aws-secret-access-key': 'wrong-secret-0000000000000000000000000' },
      }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      (err: InstanceType<typeof OpenAI.APIError>) =>
        err instanceof OpenAI.PermissionDeniedError && err.code === 'InvalidSignatureException' && !err.message.includes('wrong-secret'),
    );
  });

  test('a Bedrock API key, from the client or the server, goes as Authorization: Bearer', async () => {
    let from = sim.requests.length;
    await client({ apiKey: BEDROCK_SIM_API_KEY }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(seen(from)[0]!.headers.authorization, `Bearer ${BEDROCK_SIM_API_KEY}`);
    from = sim.requests.length;
    await client({ baseURL: apiKeyURL }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(seen(from)[0]!.headers.authorization, `Bearer ${BEDROCK_SIM_API_KEY}`);
  });

  test('without any credential: a 401 that says what to send', async () => {
    const { server, url } = await startGateway({ LOG_LEVEL: 'silent' });
    try {
      await assert.rejects(
        client({ baseURL: url }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
        (err: InstanceType<typeof OpenAI.APIError>) => err.status === 401 && /x-aws-access-key-id/.test(err.message) && /AWS_BEARER_TOKEN_BEDROCK/.test(err.message),
      );
    } finally {
      await server.shutdown(0);
    }
  });
});

describe('image URLs fetched by the gateway', () => {
  const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  let images: Server;
  let imageBase: string;
  before(async () => {
    images = createServer((req, res) => {
      if (req.url === '/cat.png') res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
      else if (req.url === '/big.png') res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(64 * 1024));
      else if (req.url === '/page.html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
      else res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    });
    await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
    imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
  });
  after(() => images.close());

  const ask = (url: string, gatewayURL: string) =>
    client({ baseURL: gatewayURL }).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is it?' }, { type: 'image_url', image_url: { url } }] }],
    });

  test('with FETCH_IMAGE_URLS=any the image is fetched and sent as bytes; size, type and redirects are bounded', async () => {
    const { server, url } = await startGateway({
      LOG_LEVEL: 'silent',
      AWS_BEARER_TOKEN_BEDROCK: BEDROCK_SIM_API_KEY,
      FETCH_IMAGE_URLS: 'any',
      FETCH_IMAGE_MAX_BYTES: '4096',
    });
    try {
      const from = sim.requests.length;
      await ask(`${imageBase}/cat.png`, url);
      assert.deepEqual(seen(from)[0]!.json.messages[0].content[1], { image: { format: 'png', source: { bytes: PNG.toString('base64') } } });
      const many = Array.from({ length: 21 }, () => ({ type: 'image_url' as const, image_url: { url: `${imageBase}/cat.png` } }));
      const before = sim.requests.length;
      await assert.rejects(
        client({ baseURL: url }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: many }] }),
        (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && err.code === 'too_many_images',
      );
      assert.equal(sim.requests.length, before);
      for (const [path, why] of [['/big.png', /larger than 4096 bytes/], ['/page.html', /not an image/], ['/redirect', /HTTP 302/]] as const) {
        await assert.rejects(ask(`${imageBase}${path}`, url), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && why.test(err.message));
      }
    } finally {
      await server.shutdown(0);
    }
  });

  test('with FETCH_IMAGE_URLS=public, loopback and private hosts are refused, by address or by name', async () => {
    const { server, url } = await startGateway({ LOG_LEVEL: 'silent', AWS_BEARER_TOKEN_BEDROCK: BEDROCK_SIM_API_KEY, FETCH_IMAGE_URLS: 'public' });
    try {
      const port = new URL(imageBase).port;
      for (const host of ['127.0.0.1', 'localhost', '[::1]', '10.1.2.3', '169.254.169.254']) {
        await assert.rejects(
          ask(`http://${host}:${port}/cat.png`, url),
          (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && /not a public address/.test(err.message),
          host,
        );
      }
    } finally {
      await server.shutdown(0);
    }
  });
});

describe('tools', () => {
  test('a tool call and the tool-result round trip', async () => {
    const from = sim.requests.length;
    const first = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weather, time],
      tool_choice: 'required',
    });
    const call = first.choices[0]!.message.tool_calls![0]!;
    assert.equal(call.type, 'function');
    assert.equal(first.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof (JSON.parse(call.function.arguments) as { city: unknown }).city, 'string');
    assert.deepEqual(seen(from)[0]!.json.toolConfig.toolChoice, { any: {} });
    assert.deepEqual(seen(from)[0]!.json.toolConfig.tools[1].toolSpec.inputSchema, { json: { type: 'object' } });

    const second = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris?' }, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '18 degrees and sunny' }],
      tools: [weather, time],
    });
    assert.match(second.choices[0]!.message.content!, /18 degrees and sunny/);
    const replay = seen(from)[1]!.json.messages;
    assert.equal(replay[1].content[0].toolUse.toolUseId, call.id);
    assert.equal(replay[2].content[0].toolResult.toolUseId, call.id);
  });

  test('a streamed tool call in many fragments, over frames split across reads', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [weather],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
      user: fault({ tool_fragments: 20, split_frames: true, chunk_delay_ms: 1 }),
    });
    let args = '';
    let deltas = 0;
    let name: string | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      finish = chunk.choices[0]?.finish_reason ?? finish;
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
        assert.equal(delta.index, 0);
        name ??= delta.function?.name;
        args += delta.function?.arguments ?? '';
        deltas++;
      }
    }
    assert.equal(name, 'get_weather');
    assert.equal(finish, 'tool_calls');
    assert.ok(deltas >= 10, `${deltas} deltas`);
    assert.equal(typeof (JSON.parse(args) as { city: unknown }).city, 'string');
  });

  test('two parallel tool calls, streamed and not', async () => {
    const params = { model: MODEL, messages: [{ role: 'user' as const, content: 'Weather and time?' }], tools: [weather, time], tool_choice: 'required' as const };
    const whole = await client().chat.completions.create({ ...params, user: fault({ parallel_tools: true }) });
    assert.equal(whole.choices[0]!.message.tool_calls!.length, 2);
    const stream = await client().chat.completions.create({ ...params, stream: true, user: fault({ parallel_tools: true, tool_fragments: 4 }) });
    const calls = new Map<number, { id?: string; arguments: string }>();
    for await (const chunk of stream) {
      for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
        const call = calls.get(delta.index) ?? { arguments: '' };
        call.id ??= delta.id;
        call.arguments += delta.function?.arguments ?? '';
        calls.set(delta.index, call);
      }
    }
    assert.deepEqual([...calls.keys()], [0, 1]);
    assert.notEqual(calls.get(0)!.id, calls.get(1)!.id);
    for (const call of calls.values()) JSON.parse(call.arguments);
  });
});

describe('streams and errors', () => {
  test('text streams with the usage chunk when asked, over frames split across reads', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      user: fault({ chunks: 6, split_frames: true, chunk_delay_ms: 1 }),
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.filter((c) => c.choices[0]?.delta?.content).length >= 6);
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.ok(chunks.at(-1)!.usage!.completion_tokens > 0);
  });

  test('an exception frame mid-stream reaches the SDK as an error', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      user: fault({ chunks: 5, stream_exception: { after: 2, type: 'modelStreamErrorException', message: 'the model broke' } }),
    });
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
      /the model broke/,
    );
    assert.ok(text.length > 0);
  });

  const cases: [number, string, new (...args: never[]) => Error][] = [
    [400, 'ValidationException', OpenAI.BadRequestError],
    [403, 'AccessDeniedException', OpenAI.PermissionDeniedError],
    [404, 'ResourceNotFoundException', OpenAI.NotFoundError],
    [408, 'ModelTimeoutException', OpenAI.APIError],
    [429, 'ThrottlingException', OpenAI.RateLimitError],
    [500, 'InternalServerException', OpenAI.InternalServerError],
    [503, 'ServiceUnavailableException', OpenAI.InternalServerError],
  ];
  for (const [status, type, errorClass] of cases) {
    test(`${type} (${status}) before the stream keeps its status and raises ${errorClass.name}`, async () => {
      await assert.rejects(
        client().chat.completions.create(
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true, user: fault({ status, error_type: type, error_message: `simulated ${type}` }) },
          { headers: { 'x-gateway-max-retries': '0' } },
        ),
        (err: InstanceType<typeof OpenAI.APIError>) => {
          assert.ok(err instanceof errorClass, `${err.constructor.name} is a ${errorClass.name}`);
          assert.equal(err.status, status);
          assert.equal(err.code, type);
          assert.match(err.message, new RegExp(`simulated ${type}`));
          return true;
        },
      );
    });
  }

  test('throttling is retried, then answered', async () => {
    const from = sim.requests.length;
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      user: fault({ key: `throttle-${process.pid}`, status: 429, error_type: 'ThrottlingException', fail_first: 1 }),
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(seen(from).length, 2);
  });

  test('AWS_REGION wins over AWS_DEFAULT_REGION, which serves when it is unset', () => {
    assert.equal(loadConfig({ AWS_DEFAULT_REGION: 'eu-central-1' }).providers.bedrock!.options.region, 'eu-central-1');
    assert.equal(loadConfig({ AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-central-1' }).providers.bedrock!.options.region, 'us-west-2');
    assert.equal(loadConfig({}).providers.bedrock!.options.region, 'us-east-1');
  });

  test("the server's AWS secret and session token are redacted wherever the gateway redacts, whatever their shape", async () => {
    const secret = 'plain-words-that-look-like-no-key';
    const token = 'another-plain-session-token-value';
    assert.equal(redactSecrets(secret), secret, 'no rule knows it by its shape');
    const { server } = await startGateway({ LOG_LEVEL: 'silent', AWS_ACCESS_KEY_ID: 'AKIDX', AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token });
    await server.shutdown(0);
    // The gateway's own secrets, redacted by value in whatever it tells (its answers, its log lines).
    assert.equal(redactCredentials(`signed with ${secret} and ${token}`, [], server.gateway.secrets), 'signed with [REDACTED] and [REDACTED]');
  });

  test('no AWS secret, session token or API key appears in the debug log', () => {
    const output = logs.join('');
    assert.ok(output.includes('upstream attempt'), 'the debug log was captured');
    for (const secret of [BEDROCK_SIM_SECRET_ACCESS_KEY, BEDROCK_SIM_TEMP_SECRET_ACCESS_KEY, BEDROCK_SIM_SESSION_TOKEN, BEDROCK_SIM_API_KEY, 'wrong-secret-0000000000000000000000000']) {
      assert.ok(!output.includes(secret), 'a credential is in the log');
    }
  });
});
