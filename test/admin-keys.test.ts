// The admin API (ADMIN_KEY_SHA256): gateway keys kept in the shared state as one versioned value,
// which two writers cannot both overwrite from the same version.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore, RedisStore, type Store } from '../src/state/index.js';
import { RedisServer, skipRedis } from './redis-server.js';

const HOUR_MS = 3_600_000;

describe('versioned values in the store (the admin API table)', () => {
  const check = async (store: Store) => {
    assert.equal(await store.versionOf('t'), 0);
    assert.equal(await store.readVersioned('t'), undefined);
    // Two writers that both read version 0: one write lands, the other is told so.
    const [first, second] = await Promise.all([store.compareAndSet('t', 0, Buffer.from('a'), HOUR_MS), store.compareAndSet('t', 0, Buffer.from('b'), HOUR_MS)]);
    assert.deepEqual([first, second].sort(), [false, true]);
    const read = await store.readVersioned('t');
    assert.equal(read?.version, 1);
    assert.equal(read?.value.toString(), first ? 'a' : 'b');
    assert.equal(await store.compareAndSet('t', 0, Buffer.from('c'), HOUR_MS), false, 'a stale version is refused');
    assert.equal(await store.compareAndSet('t', 1, Buffer.from('c'), HOUR_MS), true);
    assert.equal(await store.versionOf('t'), 2);
  };

  test('MemoryStore: one of two writers at the same version wins, and a versioned value is not evicted for room', async () => {
    const store = new MemoryStore({ maxBytes: 64 });
    try {
      await check(store);
      await store.set('filler', Buffer.alloc(60), HOUR_MS);
      assert.equal((await store.readVersioned('t'))?.value.toString(), 'c');
    } finally {
      await store.close();
    }
  });

  test('RedisStore: the same, and an unreachable Redis rejects rather than reading "absent"', { skip: skipRedis }, async () => {
    const redis = await RedisServer.start();
    const store = new RedisStore({ url: redis.url, timeoutMs: 1_000 });
    try {
      await store.ready(5_000);
      await check(store);
      await redis.stop();
      await assert.rejects(store.versionOf('t'), /Redis did not answer/);
      await assert.rejects(store.readVersioned('t'), /Redis did not answer/);
    } finally {
      await store.close();
      await redis.stop();
    }
  });
});
