// Two gateway processes behind a real nginx (round robin), sharing one real redis-server: gateway
// keys, one rate limit, response cache hits and the Responses API's item_reference all work
// whichever instance answers.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { MODEL, startGatewayProcess } from './helpers.js';
import { Nginx, skipNginx } from './nginx.js';
import { configFileWith, sha256, sharedGatewayEnv } from './keys-helpers.js';
import { RedisServer, skipRedis } from './redis-server.js';

const TEAM_KEY = 'gk-team-0123456789abcdef';
const RATED_KEY = 'gk-rated-0123456789abcdef';
const RPM = 12;

function configFile(): string {
  return configFileWith(
    `
providers:
  fireworks:
    options: {responsesApi: translate}
routes:
  cached-chat:
    cache: {ttl: 60}
    targets:
      - {provider: fireworks, model: ${MODEL}}
keys:
  - {name: team, sha256: ${sha256(TEAM_KEY)}}
  - {name: rated, sha256: ${sha256(RATED_KEY)}, limits: {rpm: ${RPM}}}
`,
    'multi-instance-',
  );
}

describe('two gateways behind nginx, sharing Redis', { skip: skipRedis || skipNginx }, () => {
  let redis: RedisServer;
  let sim: FireworksSim;
  let nginx: Nginx;
  const gateways: { child: ChildProcess; origin: string }[] = [];
  const client = (apiKey: string) => new OpenAI({ baseURL: `${nginx.origin}/v1`, apiKey, maxRetries: 0, defaultHeaders: { 'x-provider': 'fireworks' } });

  before(async () => {
    redis = await RedisServer.start();
    sim = await startFireworksSim({ port: 0 });
    const env = sharedGatewayEnv(configFile(), sim.url, redis.url);
    for (let i = 0; i < 2; i++) gateways.push(await startGatewayProcess(env));
    nginx = await Nginx.start(gateways.map((gateway) => gateway.origin));
  });
  after(async () => {
    await nginx?.close();
    for (const gateway of gateways) gateway.child.kill('SIGKILL');
    await sim?.close();
    await redis?.close();
  });

  test('both instances answer, and both know the keys', async () => {
    const upstreams = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { response } = await client(TEAM_KEY).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      upstreams.add(response.headers.get('x-upstream')!);
    }
    assert.equal(upstreams.size, 2, `answered by ${[...upstreams].join(', ')}`);
    for (let i = 0; i < 2; i++) await assert.rejects(client('gk-unknown').chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), { status: 401 });
  });

  test('one rate limit over both instances: of 30 concurrent requests, exactly the limit passes', async () => {
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => client(RATED_KEY).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] })));
    const passed = results.filter((result) => result.status === 'fulfilled').length;
    const limited = results.filter((result) => result.status === 'rejected' && result.reason instanceof OpenAI.RateLimitError).length;
    assert.equal(passed, RPM);
    assert.equal(limited, 30 - RPM);
  });

  test("a cache entry one instance stored is the other's hit", async () => {
    const ask = () => client(TEAM_KEY).chat.completions.create({ model: 'cached-chat', messages: [{ role: 'user', content: 'Tell me about caches' }] }).withResponse();
    const first = await ask();
    assert.equal(first.response.headers.get('x-gateway-cache'), 'miss');
    const upstreamCalls = sim.requests.length;
    // The entry is written as the answer ends, after its last byte left: wait until it is in Redis.
    const redisClient = new Redis(redis.url);
    try {
      for (let i = 0; i < 100 && (await redisClient.keys('aigw:cache:*')).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      redisClient.disconnect();
    }
    const second = await ask();
    const third = await ask();
    const hits = [second, third].filter((answer) => answer.response.headers.get('x-gateway-cache') === 'hit');
    assert.equal(hits.length, 2, 'both later requests are hits');
    const servedBy = new Set([first, second, third].map((answer) => answer.response.headers.get('x-upstream')));
    assert.equal(servedBy.size, 2, 'and one of them was served by the other instance');
    assert.equal(sim.requests.length, upstreamCalls, 'no upstream call for a hit');
    assert.equal(second.data.choices[0]!.message.content, first.data.choices[0]!.message.content);
  });

  test("item_reference: an item one instance answered with resolves on the other", async () => {
    const responses = client(TEAM_KEY);
    const first = await responses.responses.create({ model: MODEL, input: 'Say hello' }).withResponse();
    const item = first.data.output[0]!;
    assert.ok(item.id);
    // Round robin: the next request goes to the other instance (and the one after back to the first).
    for (let i = 0; i < 2; i++) {
      const { data, response } = await responses.responses
        .create({ model: MODEL, input: [{ role: 'user', content: 'Say hello' }, { type: 'item_reference', id: item.id! }, { role: 'user', content: 'Again' }] })
        .withResponse();
      assert.equal(data.status, 'completed', `answered by ${response.headers.get('x-upstream')}`);
    }
    const last = sim.requests.at(-1)!.json as { messages: { role: string }[] };
    assert.deepEqual(
      last.messages.map((message) => message.role),
      ['user', 'assistant', 'user'],
      'the referenced item reached the provider as the assistant turn',
    );
  });
});
