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
