// Hardening of what a client can make the gateway fetch or build from one small request: image URLs
// fetched for Bedrock (bounded by the body limit and a gateway-wide total, failures answered as a
// 400 naming the image), internal addresses written as IPv6 forms that carry an IPv4 address, and
// messages of 200,000 parts on every translated route. The image server is a node:http server on
// 127.0.0.1 that can stall or reset mid-body; loopback is reachable with FETCH_IMAGE_URLS=any.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { BEDROCK_SIM_API_KEY, startBedrockSim, type BedrockSim } from '../sim/bedrock.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { isPublicAddress } from '../src/images.js';
import type { GatewayServer } from '../src/server.js';
import { KEY, MODEL, startGateway, until } from './helpers.js';

const BEDROCK_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const ANTHROPIC_MODEL = 'claude-haiku-4-5-20251001';

let bedrock: BedrockSim;
let anthropic: AnthropicSim;
let fireworks: FireworksSim;
let images: Server;
let imageBase: string;
/** Answers held mid-body by /stall, with the bytes each has left to send, ended by finishStalled(). */
const stalled = new Map<ServerResponse, number>();
let stallHits = 0;

/** The rest of every stalled image, so that its request completes. */
function finishStalled(): void {
  for (const [res, left] of stalled) res.end(Buffer.alloc(left));
  stalled.clear();
}

before(async () => {
  [bedrock, anthropic, fireworks] = await Promise.all([startBedrockSim({ port: 0 }), startAnthropicSim({ port: 0 }), startFireworksSim({ port: 0 })]);
  // /img?size=N: an image of N bytes. /stall?size=N&sent=M: M of N bytes, then nothing until
  // finishStalled(). /reset?size=N&sent=M: M of N bytes, then the connection is reset.
  images = createServer((req, res) => {
    const url = new URL(req.url!, 'http://images');
    const size = Number(url.searchParams.get('size') ?? 1024);
    const sent = Number(url.searchParams.get('sent') ?? 0);
    switch (url.pathname) {
      case '/img':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': size }).end(randomBytes(size));
        return;
      case '/stall':
        stallHits++;
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': size }).write(randomBytes(sent));
        stalled.set(res, size - sent);
        res.on('close', () => stalled.delete(res));
        return;
      case '/reset':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': size }).write(randomBytes(sent), () => res.socket?.resetAndDestroy());
        return;
      case '/page':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
});
after(async () => {
  for (const res of stalled.keys()) res.destroy();
  images.closeAllConnections();
  await new Promise((resolve) => images.close(resolve));
  await Promise.all([bedrock.close(), anthropic.close(), fireworks.close()]);
});

/** A gateway in front of the simulators, fetching image URLs from anywhere (the image server is on loopback). */
function gatewayWith(env: Record<string, string>): Promise<{ server: GatewayServer; url: string }> {
  return startGateway({
    BEDROCK_BASE_URL: bedrock.url,
    AWS_BEARER_TOKEN_BEDROCK: BEDROCK_SIM_API_KEY,
    ANTHROPIC_BASE_URL: anthropic.url,
    ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
    FIREWORKS_BASE_URL: fireworks.url,
    FIREWORKS_API_KEY: KEY,
    FETCH_IMAGE_URLS: 'any',
    ...env,
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

async function post(url: string, path: string, provider: string, body: unknown, signal?: AbortSignal): Promise<Answer> {
  const response = await request(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-provider': provider },
    body: JSON.stringify(body),
    signal,
  });
  return { status: response.statusCode, headers: response.headers, json: await response.body.json() };
}

/** A chat request to Bedrock naming each URL as an image. */
function askImages(url: string, imageUrls: string[], signal?: AbortSignal): Promise<Answer> {
  const content = [{ type: 'text', text: 'What are these?' }, ...imageUrls.map((image) => ({ type: 'image_url', image_url: { url: image } }))];
  return post(url, '/chat/completions', 'bedrock', { model: BEDROCK_MODEL, messages: [{ role: 'user', content }] }, signal);
}

const converseCalls = () => bedrock.requests.filter((r) => r.path.startsWith('/model/')).length;

describe('image URLs fetched by the gateway', () => {
  test('fetched images count, as base64, toward MAX_BODY_BYTES: a small request naming large images is a 413 naming the limit', async () => {
    const { server, url } = await gatewayWith({ MAX_BODY_BYTES: '65536' });
    try {
      const one = await askImages(url, [`${imageBase}/img?size=30000`]);
      assert.equal(one.status, 200, JSON.stringify(one.json));
      const sentBefore = converseCalls();
      const three = await askImages(url, [1, 2, 3].map((n) => `${imageBase}/img?size=30000&n=${n}`));
      assert.equal(three.status, 413, JSON.stringify(three.json));
      assert.equal(three.json.error.code, 'request_too_large');
      assert.match(three.json.error.message, /65536 bytes \(MAX_BODY_BYTES\)/);
      assert.match(three.json.error.param, /^messages\[0\]\.content\[[123]\]\.image_url\.url$/);
      assert.equal(converseCalls(), sentBefore, 'nothing is sent upstream');
    } finally {
      await server.shutdown(0);
    }
  });

  test('the image bytes all requests hold are bounded by FETCH_IMAGE_TOTAL_BYTES: a request past it is a 503 with Retry-After, and what a request held is given back when it ends', async () => {
    // A holds 40,000 base64 bytes while its image stalls; B's 40,000-byte image needs 53,336 more.
    const { server, url } = await gatewayWith({ FETCH_IMAGE_TOTAL_BYTES: '80000', FETCH_IMAGE_TIMEOUT_MS: '20000' });
    const askB = () => askImages(url, [`${imageBase}/img?size=40000`]);
    try {
      assert.equal((await askB()).status, 200, 'B alone fits');
      const leaving = new AbortController();
      const hits = stallHits;
      const a = askImages(url, [`${imageBase}/stall?size=60000&sent=30000`], leaving.signal).catch((err: Error) => err);
      await until(() => stallHits > hits);
      // B is refused once the gateway has read A's first bytes (polled: the moment is the gateway's).
      let b = await askB();
      for (const deadline = Date.now() + 10_000; b.status === 200 && Date.now() < deadline; b = await askB());
      assert.equal(b.status, 503, JSON.stringify(b.json));
      assert.equal(b.json.error.code, 'images_busy');
      assert.match(b.json.error.message, /FETCH_IMAGE_TOTAL_BYTES, 80000 bytes/);
      assert.equal(b.headers['retry-after'], '1');

      // A's client leaves mid-image: what A held is given back.
      leaving.abort();
      assert.ok((await a) instanceof Error);
      let again = await askB();
      for (const deadline = Date.now() + 10_000; again.status === 503 && Date.now() < deadline; again = await askB());
      assert.equal(again.status, 200, JSON.stringify(again.json));

      // A request that completes gives back what it held too, once answered.
      const hitsNow = stallHits;
      const completing = askImages(url, [`${imageBase}/stall?size=60000&sent=30000`]);
      await until(() => stallHits > hitsNow);
      finishStalled();
      assert.equal((await completing).status, 200);
      assert.equal((await askB()).status, 200);
    } finally {
      finishStalled();
      await server.shutdown(0);
    }
  });

  test('an image that breaks off, stalls past FETCH_IMAGE_TIMEOUT_MS, is no image or is too large: a 400 naming it (its URL without the query), never a 500', async () => {
    const { server, url } = await gatewayWith({ FETCH_IMAGE_TIMEOUT_MS: '500', FETCH_IMAGE_MAX_BYTES: '100000' });
    const signed = 'X-Amz-Signature=0123456789abcdef0123456789abcdef';
    try {
      const cases = [
        [`${imageBase}/reset?size=60000&sent=20000&${signed}`, /\/reset"\) could not be fetched: the connection broke off before the whole image arrived/],
        [`${imageBase}/stall?size=60000&sent=20000&${signed}`, /\/stall"\) could not be fetched: it did not arrive within 500 ms \(FETCH_IMAGE_TIMEOUT_MS\)/],
        [`${imageBase}/page?${signed}`, /\/page"\) could not be fetched: it is not an image \("text\/html"\)/],
        [`${imageBase}/img?size=100001&${signed}`, /\/img"\) could not be fetched: it is larger than 100000 bytes/],
        ['http://127.0.0.1:9/closed.png', /\/closed\.png"\) could not be fetched: the connection failed/],
      ] as const;
      for (const [image, why] of cases) {
        const answer = await askImages(url, [`${imageBase}/img?size=1000`, image]);
        assert.equal(answer.status, 400, `${image}: ${JSON.stringify(answer.json)}`);
        assert.equal(answer.json.error.code, 'image_fetch_failed');
        assert.equal(answer.json.error.param, 'messages[0].content[2].image_url.url');
        assert.match(answer.json.error.message, /^The image at messages\[0\]\.content\[2\]\.image_url\.url \("http:\/\/127\.0\.0\.1:\d+/);
        assert.match(answer.json.error.message, why);
        assert.doesNotMatch(answer.json.error.message, /0123456789abcdef/);
      }
      // The Messages API's image URL source, refused in Anthropic's error shape.
      const messages = await post(url, '/messages', 'bedrock', {
        model: BEDROCK_MODEL,
        max_tokens: 16,
        messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: `${imageBase}/reset?size=60000&sent=20000` } }] }],
      });
      assert.equal(messages.status, 400, JSON.stringify(messages.json));
      assert.equal(messages.json.type, 'error');
      assert.match(messages.json.error.message, /could not be fetched: the connection broke off/);
    } finally {
      finishStalled();
      await server.shutdown(0);
    }
  });
});

describe('internal addresses written as IPv6 forms that carry an IPv4 address', () => {
  const INTERNAL = [
    '::127.0.0.1', // IPv4-compatible (deprecated), loopback
    '::a9fe:a9fe', // IPv4-compatible, 169.254.169.254 (cloud metadata)
    '2002:7f00:1::', // 6to4 of 127.0.0.1
    '2002:a00:1::1', // 6to4 of 10.0.0.1
    '2002:a9fe:a9fe::', // 6to4 of 169.254.169.254
    '::ffff:127.0.0.1', // IPv4-mapped
    '::ffff:a9fe:a9fe',
    '64:ff9b::7f00:1', // NAT64 of 127.0.0.1
    '64:ff9b::a00:1', // NAT64 of 10.0.0.1
    '64:ff9b:1::7f00:1', // local-use NAT64
    '2001:0:7f00:1::1', // Teredo with server 127.0.0.1
    '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo with client 127.0.0.1 (stored inverted)
    '2001:0:4136:e378:8000:63bf:f5ff:fffe', // Teredo with client 10.0.0.1
    'fec0::1', // site-local (deprecated)
    '::', '::1', 'fc00::1', 'fe80::1',
  ];

  test('each is refused before any connection when FETCH_IMAGE_URLS=public', async () => {
    const { server, url } = await gatewayWith({ FETCH_IMAGE_URLS: 'public' });
    const port = new URL(imageBase).port;
    try {
      for (const address of INTERNAL) {
        const answer = await askImages(url, [`http://[${address}]:${port}/img`]);
        assert.equal(answer.status, 400, `${address}: ${JSON.stringify(answer.json)}`);
        assert.match(answer.json.error.message, /not a public address/, address);
      }
    } finally {
      await server.shutdown(0);
    }
  });

  test('the same forms carrying a public IPv4 address, and public IPv6 addresses, are public', () => {
    for (const address of INTERNAL) assert.equal(isPublicAddress(address), false, address);
    // Every IPv4 host was refused once: a rule for IPv4-mapped addresses matched them all.
    for (const address of ['8.8.8.8', '1.1.1.1', '::ffff:8.8.8.8', '2606:4700::1111', '2002:808:808::1', '2001:0:808:808:8000:63bf:f7f7:f7f7']) {
      assert.equal(isPublicAddress(address), true, address);
    }
  });
});

describe('a message of 200,000 parts', () => {
  const PARTS = 200_000;
  const textParts = (type: string) => Array.from({ length: PARTS }, () => ({ type, text: 'a' }));
  let server: GatewayServer;
  let url: string;
  before(async () => {
    ({ server, url } = await gatewayWith({ FETCH_IMAGE_URLS: 'off' }));
  });
  after(() => server.shutdown(0));

  /** A 200 or a clear 4xx (the provider may refuse so many blocks), never the gateway's 500. */
  function assertServed(answer: Answer, route: string): void {
    assert.ok(answer.status === 200 || (answer.status >= 400 && answer.status < 500), `${route}: ${answer.status} ${JSON.stringify(answer.json).slice(0, 300)}`);
  }

  test('chat completions to Anthropic and Bedrock: a system message of 200,000 parts, and 200,000 parts merged into the turn before', async () => {
    for (const [provider, model] of [['anthropic', ANTHROPIC_MODEL], ['bedrock', BEDROCK_MODEL]] as const) {
      const system = await post(url, '/chat/completions', provider, {
        model,
        max_tokens: 16,
        messages: [{ role: 'system', content: textParts('text') }, { role: 'user', content: 'Hi' }],
      });
      assertServed(system, `${provider} system`);
      const merged = await post(url, '/chat/completions', provider, {
        model,
        max_tokens: 16,
        messages: [{ role: 'user', content: 'Hi' }, { role: 'user', content: textParts('text') }],
      });
      assertServed(merged, `${provider} merged user turn`);
    }
  });

  test('/v1/messages to Fireworks and Bedrock: a document of 200,000 content blocks', async () => {
    for (const [provider, model] of [['fireworks', MODEL], ['bedrock', BEDROCK_MODEL]] as const) {
      const answer = await post(url, '/messages', provider, {
        model,
        max_tokens: 16,
        messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'content', content: textParts('text') } }] }],
      });
      assertServed(answer, `${provider} /v1/messages`);
    }
  });

  test('/v1/responses to Fireworks, Anthropic and Bedrock: 200,000 parts merged into the turn before', async () => {
    for (const [provider, model] of [['fireworks', MODEL], ['anthropic', ANTHROPIC_MODEL], ['bedrock', BEDROCK_MODEL]] as const) {
      const answer = await post(url, '/responses', provider, {
        model,
        max_output_tokens: 16,
        input: [{ role: 'user', content: 'Hi' }, { role: 'user', content: textParts('input_text') }],
      });
      assertServed(answer, `${provider} /v1/responses`);
    }
  });
});
