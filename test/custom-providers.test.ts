// Custom OpenAI-compatible providers declared in a config file serve requests like built-in ones:
// two vLLM-style clusters behind one gateway, each with its own base URL, key and headers.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createGatewayServer, type GatewayServer } from '../src/server.js';

let simA: FireworksSim;
let simB: FireworksSim;
let gateway: GatewayServer;
let baseURL: string;
const MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';

before(async () => {
  simA = await startFireworksSim({ port: 0 });
  simB = await startFireworksSim({ port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'gw-custom-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      'settings:',
      '  LOG_LEVEL: silent',
      'custom_providers:',
      '  - name: vllm-a',
      `    base_url: ${simA.url}`,
      '    api_key_env: CLUSTER_A_KEY',
      '    headers:',
      '      x-team: search',
      '  - name: vllm-b',
      `    base_url: ${simB.url}`,
      '    api_key: fw_key_of_cluster_b',
      '',
    ].join('\n'),
  );
  const config = loadConfig({ CLUSTER_A_KEY: 'fw_key_of_cluster_a' }, { configFile: file });
  gateway = createGatewayServer(config, createLogger('silent'));
  const address = await gateway.listen(0, '127.0.0.1');
  baseURL = `http://127.0.0.1:${address.port}/v1`;
});
after(async () => {
  await gateway.shutdown(0);
  await simA.close();
  await simB.close();
});

test('each custom provider gets its own base URL, server key and headers', async () => {
  for (const [name, sim, key] of [
    ['vllm-a', simA, 'fw_key_of_cluster_a'],
    ['vllm-b', simB, 'fw_key_of_cluster_b'],
  ] as const) {
    const client = new OpenAI({ baseURL, apiKey: 'use-server-key', defaultHeaders: { 'x-provider': name }, maxRetries: 0 });
    const before = sim.requests.length;
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.object, 'chat.completion');
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const received = sim.requests.slice(before);
    assert.equal(received.length, 2);
    for (const request of received) {
      assert.equal(request.headers.authorization, `Bearer ${key}`);
      assert.equal(request.headers['x-team'], name === 'vllm-a' ? 'search' : undefined);
    }
  }
});

test('a custom provider is picked by a provider/model name too', async () => {
  const client = new OpenAI({ baseURL, apiKey: 'use-server-key', maxRetries: 0 });
  const before = simB.requests.length;
  await client.chat.completions.create({ model: `vllm-b/${MODEL}`, messages: [{ role: 'user', content: 'hi' }] });
  const received = simB.requests.slice(before);
  assert.equal(received.length, 1);
  assert.equal(received[0]!.json.model, MODEL);
});
