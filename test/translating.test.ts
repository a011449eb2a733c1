// The translating sink, with a small made-up provider API ("native": JSON `{out}` answers, SSE
// `piece`/`done`/`oops` events) so that what the core does is tested apart from any real
// translation: event by event, headers held until the first translated bytes (a failure before
// them is retried), error events after them, bounds, routes a provider does not offer, loops.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { request } from 'undici';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { providerSpecs } from '../src/providers/index.js';
import type { TranslatingSpec } from '../src/providers/types.js';
import type { StreamTranslator, UpstreamEvent } from '../src/translate/stream-contract.js';
import { createGatewayServer, type GatewayServer } from '../src/server.js';
import { createHmac } from 'node:crypto';
import { GatewayError } from '../src/errors.js';
import { until } from './helpers.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** Each request takes the next handler; the bodies and headers it got are kept. */
let handlers: Handler[] = [];
const received: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
let upstream: Server;
let second: Server;
let upstreamUrl: string;
let gateway: GatewayServer;
let base: string;

class NativeStream implements StreamTranslator {
  failure: StreamTranslator['failure'];
  usage: StreamTranslator['usage'];
  private started = false;
  push(event: UpstreamEvent): string {
    const data = JSON.parse(event.data) as { text?: string; message?: string };
    switch (event.event) {
      case 'piece': {
        const role = this.started ? '' : '"role":"assistant",';
        this.started = true;
        return chunk(`{${role}"content":${JSON.stringify(data.text)}}`, null);
      }
      case 'done':
        this.usage = { promptTokens: 3, completionTokens: 4 };
        return `${chunk('{}', '"stop"')}data: [DONE]\n\n`;
      case 'oops':
        this.failure = { status: 503, error: { message: data.message!, type: 'server_error', code: 'overloaded', param: null } };
        return `data: ${JSON.stringify({ error: this.failure.error })}\n\n`;
      default:
        return '';
    }
  }
  end(): string {
    return '';
  }
}

function chunk(delta: string, finish: string | null): string {
  return `data: {"id":"n","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}]}\n\n`;
}

const native: TranslatingSpec = {
  kind: 'translating',
  name: 'native',
  defaultBaseUrl: undefined,
  baseUrlEnv: 'NATIVE_BASE_URL',
  apiKeyEnv: 'NATIVE_API_KEY',
  auth: { header: 'x-native-key' },
  requestIdHeader: 'native-id',
  forwardHeaders: ['native-beta'],
  docs: 'test',
  adapter: {
    framing: 'sse',
    chat(body, context) {
      const messages = body.messages as { content: string }[];
      return {
        path: '/native',
        body: JSON.stringify({ model: context.model, text: messages.at(-1)!.content, stream: body.stream === true }),
        headers: ['native-version', '7'],
        dropped: [],
        refused: body.temperature === undefined ? [] : ['temperature'],
        answer(text) {
          const parsed = JSON.parse(text) as { out?: unknown };
          if (typeof parsed.out !== 'string') throw new Error('no out field');
          const json = JSON.stringify({
            id: 'n', object: 'chat.completion', created: 1, model: context.model,
            choices: [{ index: 0, message: { role: 'assistant', content: parsed.out }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
          });
          return { json, usage: { promptTokens: 1, completionTokens: 2 } };
        },
        stream: () => new NativeStream(),
      };
    },
    error(status, body) {
      const message = (JSON.parse(body) as { problem: string }).problem;
      return { status: status === 529 ? 503 : status, error: { message, type: 'native_error', code: null, param: null } };
    },
  },
};

/** A provider known to the gateway but without a base URL (as Azure is until one is set). */
const unset: TranslatingSpec = { ...native, name: 'unset', baseUrlEnv: 'UNSET_BASE_URL' };

/** A provider that signs its own requests and picks its host by a client header (as AWS regions do). */
let regionUrl = '';
const signed: TranslatingSpec = {
  ...native,
  name: 'signed',
  baseUrlEnv: 'SIGNED_BASE_URL',
  apiKeyEnv: 'SIGNED_SECRET',
  adapter: {
    ...native.adapter,
    async authorize(request, context) {
      const secret = (context.headers['x-signed-secret'] as string | undefined) ?? context.serverKey;
      if (secret === undefined) throw new GatewayError(401, 'No signing secret: send x-signed-secret.', 'missing_credentials');
      const region = context.headers['x-signed-region'];
      const baseUrl = region === 'two' ? new URL(regionUrl) : context.configuredBaseUrl!;
      const signature = createHmac('sha256', secret).update(`${request.method} ${request.path} ${request.body}`).digest('hex');
      return { baseUrl, headers: ['x-signature', signature], secrets: [secret] };
    },
  },
};

function sse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'native-id': 'nid-1' });
}

before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url!, headers: req.headers, body });
      const handler = handlers.shift();
      if (handler) handler(req, res, body);
      else res.writeHead(500).end('{"problem":"no handler"}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  second = createServer((req, res) => {
    received.push({ path: `second:${req.url!}`, headers: req.headers, body: '' });
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"from the second region"}'));
  });
  await new Promise<void>((resolve) => second.listen(0, '127.0.0.1', resolve));
  regionUrl = `http://127.0.0.1:${(second.address() as AddressInfo).port}/two`;
  const loaded = loadConfig({ RETRY_BASE_DELAY_MS: '1', RETRY_MAX_DELAY_MS: '5', LOG_LEVEL: 'silent', STREAM_IDLE_TIMEOUT_MS: '1000', CLIENT_STALL_TIMEOUT_MS: '300' });
  const config = {
    ...loaded,
    providerSpecs: [...providerSpecs, native, unset, signed],
    providers: {
      ...loaded.providers,
      native: { baseUrl: new URL(upstreamUrl), apiKey: 'native-server-key', options: {}, baseUrlConfigured: true },
      signed: { baseUrl: new URL(`${upstreamUrl}/base`), apiKey: 'server-signing-secret', options: {}, baseUrlConfigured: true },
    },
  } as Config;
  gateway = createGatewayServer(config, createLogger('silent'), { instanceId: 'test-instance' });
  const address = await gateway.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${address.port}/v1`;
});
after(async () => {
  await gateway.shutdown(0);
  upstream.close();
  second.close();
});
beforeEach(() => {
  handlers = [];
  received.length = 0;
});

const client = () => new OpenAI({ baseURL: base, apiKey: 'client-key', defaultHeaders: { 'x-provider': 'native' }, maxRetries: 0 });

describe('translated answers', () => {
  test('a whole answer is translated; the request goes out in the native shape with its headers', async () => {
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"hello"}'));
    const completion = await client().chat.completions.create(
      { model: 'm1', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'native-beta': 'b1' } },
    );
    assert.equal(completion.choices[0]!.message.content, 'hello');
    assert.equal(received[0]!.path, '/native');
    assert.deepEqual(JSON.parse(received[0]!.body), { model: 'm1', text: 'hi', stream: false });
    assert.equal(received[0]!.headers['x-native-key'], 'client-key');
    assert.equal(received[0]!.headers.authorization, undefined);
    assert.equal(received[0]!.headers['native-version'], '7');
    assert.equal(received[0]!.headers['native-beta'], 'b1');
  });

  test('refused fields are named in x-gateway-dropped-params', async () => {
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"x"}'));
    const res = await client()
      .chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5 })
      .asResponse();
    assert.equal(res.headers.get('x-gateway-dropped-params'), 'temperature');
    assert.equal(res.headers.get('x-upstream-request-id'), null);
  });

  test('an answer the translation cannot read is a 502', async () => {
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"other":1}'));
    await assert.rejects(
      client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 502 && /could not read: no out field/.test(err.message),
    );
  });

  test('native errors are translated, and a 529 is retried as a 503', async () => {
    handlers.push((_req, res) => res.writeHead(529, { 'content-type': 'application/json' }).end('{"problem":"busy"}'));
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"after retry"}'));
    const completion = await client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]!.message.content, 'after retry');
    assert.equal(received.length, 2);

    handlers.push((_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"problem":"no such model"}'));
    await assert.rejects(
      client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 404 && err.message.includes('no such model') && err.type === 'native_error',
    );
  });
});

describe('translated streams', () => {
  test('each event is written as it arrives, not when the stream ends', async () => {
    let release: () => void = () => {};
    handlers.push((_req, res) => {
      sse(res);
      res.write('event: piece\ndata: {"text":"first"}\n\n');
      release = () => res.end('event: piece\ndata: {"text":" second"}\n\nevent: done\ndata: {}\n\n');
    });
    const stream = await client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.value.choices[0].delta.content, 'first');
    assert.equal(first.value.choices[0].delta.role, 'assistant');
    release();
    let text = '';
    let finish: string | null = null;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      text += next.value.choices[0]?.delta?.content ?? '';
      finish = next.value.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, ' second');
    assert.equal(finish, 'stop');
  });

  test('a failure before the first translated bytes is retried, and the client sees one clean stream', async () => {
    handlers.push((_req, res) => {
      sse(res);
      res.write(': comment\n\nevent: ping\ndata: {}\n\n');
      setTimeout(() => res.end('event: oops\ndata: {"message":"overloaded"}\n\n'), 20);
    });
    handlers.push((_req, res) => {
      sse(res);
      res.end('event: piece\ndata: {"text":"ok"}\n\nevent: done\ndata: {}\n\n');
    });
    const stream = await client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'ok');
    assert.equal(received.length, 2);
  });

  test('a failure that persists is answered with its status, not a 200', async () => {
    for (let i = 0; i < 3; i++) {
      handlers.push((_req, res) => {
        sse(res);
        res.end('event: oops\ndata: {"message":"still overloaded"}\n\n');
      });
    }
    await assert.rejects(
      client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 503 && err.message.includes('still overloaded'),
    );
    assert.equal(received.length, 3);
  });

  test('a failure after content becomes an error event the SDK raises', async () => {
    handlers.push((_req, res) => {
      sse(res);
      res.write('event: piece\ndata: {"text":"part"}\n\n');
      setTimeout(() => res.end('event: oops\ndata: {"message":"broke"}\n\n'), 20);
    });
    const stream = await client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const part of stream) text += part.choices[0]?.delta?.content ?? '';
      })(),
      /broke/,
    );
    assert.equal(text, 'part');
    assert.equal(received.length, 1);
  });

  test('a last event without its blank line is still translated', async () => {
    handlers.push((_req, res) => {
      sse(res);
      res.end('event: piece\ndata: {"text":"a"}\n\nevent: done\ndata: {}');
    });
    const res = await request(`${base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'native', authorization: 'Bearer k' },
      body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const text = await res.body.text();
    assert.equal(res.headers['content-type'], 'text/event-stream');
    assert.match(text, /"content":"a"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  test('an event longer than the bound ends the stream instead of growing without limit', async () => {
    handlers.push((_req, res) => {
      sse(res);
      res.write('event: piece\ndata: {"text":"a"}\n\n');
      res.write(`event: piece\ndata: "${'x'.repeat(2 * 1024 * 1024)}`);
    });
    const res = await request(`${base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'native', authorization: 'Bearer k' },
      body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const text = await res.body.text();
    assert.match(text, /"content":"a"/);
    assert.match(text, /longer than 1048576 characters/);
  });

  test('a provider that goes silent mid-stream is cut by the idle timer with an error event', async () => {
    handlers.push((_req, res) => {
      sse(res);
      res.write('event: piece\ndata: {"text":"a"}\n\n');
    });
    const res = await request(`${base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-provider': 'native', authorization: 'Bearer k' },
      body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const text = await res.body.text();
    assert.match(text, /stream_idle_timeout/);
  });
});

describe('backpressure', () => {
  test('a client that stops reading holds the provider (bounded), then both sides are closed', async () => {
    let written = 0;
    let closed = false;
    handlers.push((_req, res) => {
      sse(res);
      res.on('close', () => (closed = true));
      const piece = `event: piece\ndata: ${JSON.stringify({ text: 'x'.repeat(2_000) })}\n\n`;
      const pump = () => {
        while (!closed && written < 512 * 1024 * 1024) {
          written += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    const body = JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true });
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-provider: native\r\n` +
        `authorization: Bearer k\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause();
    socket.on('error', () => {});
    try {
      await until(() => closed, 10_000);
    } finally {
      socket.destroy();
    }
    // The provider was held once the buffers filled: far less than it would have sent.
    assert.ok(written < 128 * 1024 * 1024, `the provider wrote ${written} bytes`);
  });
});

describe('providers that sign their own requests', () => {
  const signedClient = (headers: Record<string, string> = {}) =>
    new OpenAI({ baseURL: base, apiKey: 'client-bearer-not-for-signed', defaultHeaders: { 'x-provider': 'signed', ...headers }, maxRetries: 0 });

  test('each attempt is signed by the adapter, with no key of the core added', async () => {
    handlers.push((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"problem":"busy"}'));
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"signed"}'));
    const completion = await signedClient().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]!.message.content, 'signed');
    assert.equal(received.length, 2);
    for (const sent of received) {
      assert.equal(sent.path, '/base/native');
      const expected = createHmac('sha256', 'server-signing-secret').update(`POST /native ${sent.body}`).digest('hex');
      assert.equal(sent.headers['x-signature'], expected);
      assert.equal(sent.headers.authorization, undefined);
    }
  });

  test('the adapter may send a request to another origin (a region), with a pool of its own', async () => {
    const completion = await signedClient({ 'x-signed-region': 'two' }).chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]!.message.content, 'from the second region');
    assert.deepEqual(received.map((r) => r.path), ['second:/two/native']);
  });

  test('the secrets the adapter signed with never reach the client', async () => {
    handlers.push((_req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"problem":"bad signature by client-secret-123456"}'));
    await assert.rejects(
      signedClient({ 'x-signed-secret': 'client-secret-123456' }).chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && !err.message.includes('client-secret-123456') && err.message.includes('[REDACTED]'),
    );
  });
});

describe('routes and loops', () => {
  test('a route the provider does not offer is a 400 naming the provider and the route', async () => {
    await assert.rejects(
      client().embeddings.create({ model: 'm1', input: 'x' }),
      (err: InstanceType<typeof OpenAI.APIError>) =>
        err.status === 400 && err.message.includes('"native" does not offer POST "/v1/embeddings"') && err.code === 'unsupported_route',
    );
    assert.equal(received.length, 0);
  });

  test('a known provider without a base URL is a 400 that names the variable to set', async () => {
    await assert.rejects(
      client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-provider': 'unset' } }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && err.message.includes('UNSET_BASE_URL'),
    );
  });

  test('requests carry this gateway in via; one that comes back through it is a 508', async () => {
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"x"}'));
    await client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }, { headers: { via: '1.1 proxy-a' } });
    const via = received[0]!.headers.via!;
    assert.equal(via, '1.1 proxy-a, 1.1 ai-gateway-test-instance');
    await assert.rejects(
      client().chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }, { headers: { via } }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 508 && err.code === 'loop_detected',
    );
    assert.equal(received.length, 1);
  });

  test('a provider/model name picks the provider when no header does', async () => {
    handlers.push((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"out":"routed"}'));
    const plain = new OpenAI({ baseURL: base, apiKey: 'client-key', maxRetries: 0 });
    const completion = await plain.chat.completions.create({ model: 'native/m2', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]!.message.content, 'routed');
    assert.equal(JSON.parse(received[0]!.body).model, 'm2');
  });

  test('a client that goes away mid-stream cancels the upstream request', async () => {
    let closed = false;
    handlers.push((req, res) => {
      sse(res);
      res.write('event: piece\ndata: {"text":"a"}\n\n');
      res.on('close', () => (closed = true));
      void req;
    });
    const controller = new AbortController();
    const stream = await client().chat.completions.create(
      { model: 'm1', messages: [{ role: 'user', content: 'hi' }], stream: true },
      { signal: controller.signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await until(() => closed);
  });
});
