// Reloading the configuration without a restart (SIGHUP, or CONFIG_WATCH=on): keys and routes
// change for new requests, a stream in flight finishes on what it started with, and a file that
// fails validation leaves the running configuration in place, saying why.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import type { Gateway } from '../src/gateway.js';
import { KEY, MODEL, startGatewayProcess, startStack, unreachableProviders, until } from './helpers.js';
import { configFileWith, sha256 } from './keys-helpers.js';

const FIRST_KEY = 'gk-first-0123456789abcdef';
const SECOND_KEY = 'gk-second-0123456789abcdef';

const fileWith = (keys: string[], routes: string[]) => `
routes:
${routes.map((route) => `  ${route}:\n    targets:\n      - {provider: fireworks, model: ${MODEL}}`).join('\n')}
keys:
${keys.map((key, i) => `  - {name: key${i}, sha256: "${sha256(key)}"}`).join('\n')}
`;

/** Writes the file as editors and ConfigMaps do: a new file renamed over the old one. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

describe('configuration reload', () => {
  let sim: FireworksSim;
  before(async () => {
    sim = await startFireworksSim({ port: 0 });
  });
  after(async () => {
    await sim.close();
  });

  const start = async (file: string, extra: Record<string, string> = {}) =>
    startGatewayProcess({ ...unreachableProviders(), CONFIG_FILE: file, FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, LOG_LEVEL: 'info', ...extra });

  test('SIGHUP: new keys and routes serve new requests, a stream in flight finishes whole, a broken file changes nothing', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'reload-')), 'gateway.yaml');
    replace(path, fileWith([FIRST_KEY], ['chat-a']));
    const gateway = await start(path);
    const client = (key: string) => new OpenAI({ baseURL: `${gateway.origin}/v1`, apiKey: key, maxRetries: 0 });
    try {
      await assert.rejects(client(SECOND_KEY).chat.completions.create({ model: 'chat-a', messages: [{ role: 'user', content: 'hi' }] }), { status: 401 });

      // A stream of 10 chunks 100 ms apart, begun before the reload.
      const stream = await client(FIRST_KEY).chat.completions.create({ model: 'chat-a', stream: true, messages: [{ role: 'user', content: 'hi' }], sim: { chunks: 10, chunk_delay_ms: 100 } } as never);
      const chunks: unknown[] = [];
      const read = (async () => {
        for await (const chunk of stream as unknown as AsyncIterable<unknown>) chunks.push(chunk);
      })();
      await until(() => chunks.length > 0);

      replace(path, fileWith([FIRST_KEY, SECOND_KEY], ['chat-a', 'chat-b']));
      gateway.child.kill('SIGHUP');
      await until(() => gateway.output().includes('configuration reloaded'));
      const answer = await client(SECOND_KEY).chat.completions.create({ model: 'chat-b', messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(answer.choices[0]?.message.content, 'the new key and the new route serve');

      await read;
      assert.ok(chunks.length >= 10, `the stream begun before the reload finished whole (${chunks.length} chunks)`);

      // A file that fails validation: the running configuration stays, and the log says why.
      replace(path, `keys:\n  - {name: broken, sha256: not-a-hash}\n`);
      gateway.child.kill('SIGHUP');
      await until(() => gateway.output().includes('configuration not reloaded'));
      assert.match(gateway.output(), /keys\[0\]\.sha256: must be the 64 hex digits/);
      const still = await client(SECOND_KEY).chat.completions.create({ model: 'chat-b', messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(still.choices[0]?.message.content, 'still served by the last good configuration');
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });

  test("a key made through the admin API still serves after a reload that changes the file's keys", async () => {
    const ADMIN = 'admin-0123456789abcdef';
    const path = join(mkdtempSync(join(tmpdir(), 'reload-admin-')), 'gateway.yaml');
    replace(path, fileWith([FIRST_KEY], ['chat-a']));
    const gateway = await start(path, { ADMIN_KEY_SHA256: sha256(ADMIN) });
    try {
      const made = await fetch(`${gateway.origin}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'made' }) });
      assert.equal(made.status, 201);
      const { key } = (await made.json()) as { key: string };
      const ask = (apiKey: string) => new OpenAI({ baseURL: `${gateway.origin}/v1`, apiKey, maxRetries: 0 }).chat.completions.create({ model: 'chat-a', messages: [{ role: 'user', content: 'hi' }] });
      await ask(key);
      replace(path, fileWith([SECOND_KEY], ['chat-a']));
      gateway.child.kill('SIGHUP');
      await until(() => gateway.output().includes('configuration reloaded'));
      assert.ok((await ask(key)).choices[0]?.message.content, 'the admin key serves');
      assert.ok((await ask(SECOND_KEY)).choices[0]?.message.content, 'the new file key serves');
      await assert.rejects(ask(FIRST_KEY), { status: 401 });
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });

  test('CONFIG_WATCH=on: a key added to the file works without a signal; a key removed stops', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'reload-watch-')), 'gateway.yaml');
    replace(path, fileWith([FIRST_KEY], ['chat-a']));
    const gateway = await start(path, { CONFIG_WATCH: 'on' });
    const ask = (key: string) =>
      fetch(`${gateway.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'chat-a', messages: [{ role: 'user', content: 'hi' }] }),
      }).then((res) => res.status);
    try {
      assert.equal(await ask(SECOND_KEY), 401);
      replace(path, fileWith([SECOND_KEY], ['chat-a']));
      const deadline = Date.now() + 5_000;
      while ((await ask(SECOND_KEY)) !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(await ask(SECOND_KEY), 200, 'the added key serves');
      assert.equal(await ask(FIRST_KEY), 401, 'the removed key is refused');
    } finally {
      gateway.child.kill('SIGKILL');
    }
  });
});

describe('a replaced configuration', () => {
  test('closes after the last request begun on it, and at once when none is in flight', async () => {
    const stack = await startStack();
    const closes = (gateway: Gateway) => {
      const state = { closed: false };
      const close = gateway.close.bind(gateway);
      gateway.close = () => {
        state.closed = true;
        return close();
      };
      return state;
    };
    try {
      const first = closes(stack.gateway.gateway);
      // Two streams of 6 chunks 100 ms apart begun on the first configuration; one ends early.
      const open = (chunks: number) => stack.client().chat.completions.create({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }], sim: { chunks, chunk_delay_ms: 100 } } as never);
      const read = async (stream: unknown) => {
        let n = 0;
        for await (const _ of stream as AsyncIterable<unknown>) n++;
        return n;
      };
      const [short, long] = await Promise.all([open(2), open(6)]);
      const shortRead = read(short);
      const longRead = read(long);
      stack.gateway.reload(stack.gateway.gateway.config);
      await shortRead;
      assert.equal(first.closed, false, 'one stream still runs on it');
      assert.ok((await longRead) >= 6);
      await until(() => first.closed);

      // Nothing in flight on the second: the third replaces it and it closes at once.
      const second = closes(stack.gateway.gateway);
      stack.gateway.reload(stack.gateway.gateway.config);
      assert.equal(second.closed, true);
    } finally {
      await stack.close();
    }
  });
});
