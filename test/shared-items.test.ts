// The Responses API's item memory shared through the store: an item another gateway answered with
// is fetched before translation, even when its write reaches the store a moment after the request
// that refers to it (a quick client, another instance).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RETRIED_REFERENCES, MAX_SHARED_REFERENCES, SharedItemMemory, referencedIds } from '../src/inbound/openai-responses/shared-memory.js';
import { MemoryStore } from '../src/state/memory.js';

test('an item written by another gateway shortly after the reference arrives is still found', async () => {
  const store = new MemoryStore();
  const writer = new SharedItemMemory(store);
  const reader = new SharedItemMemory(store);
  const item = { id: 'msg_1', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] };
  // The other gateway's write lands 40 ms after this one starts looking.
  setTimeout(() => writer.remember('client-a', [item]), 40);
  await reader.prefetch('client-a', { input: [{ role: 'user', content: 'hi' }, { type: 'item_reference', id: 'msg_1' }] });
  assert.deepEqual(reader.recall('client-a', 'msg_1')?.item, item);
  // Another client's reference to the same id finds nothing: items are kept per client.
  await reader.prefetch('client-b', { input: [{ type: 'item_reference', id: 'msg_1' }] });
  assert.equal(reader.recall('client-b', 'msg_1'), undefined);
  await store.close();
});

test('referencedIds reads the item_reference ids of a body, and nothing else', () => {
  assert.deepEqual(referencedIds({ input: 'hi' }), []);
  assert.deepEqual(referencedIds({ input: [{ type: 'item_reference', id: 'a' }, { role: 'user', content: 'x' }, { type: 'item_reference', id: 7 }, { type: 'item_reference', id: 'b' }] }), ['a', 'b']);
});

/** A store that counts its reads. */
function countingStore(): { store: MemoryStore; reads: () => number } {
  const store = new MemoryStore();
  let reads = 0;
  const get = store.get.bind(store);
  store.get = (key: string) => {
    reads++;
    return get(key);
  };
  return { store, reads: () => reads };
}

test('references to items that do not exist cost a bounded number of reads: each once, then a few of them again', async () => {
  const { store, reads } = countingStore();
  const memory = new SharedItemMemory(store);
  const input = Array.from({ length: MAX_SHARED_REFERENCES }, (_, i) => ({ type: 'item_reference', id: `msg_bogus_${i}` }));
  // The same id many times is read once.
  input.push(...Array.from({ length: 100 }, () => ({ type: 'item_reference', id: 'msg_bogus_0' })));
  await memory.prefetch('client-a', { input });
  assert.ok(reads() <= MAX_SHARED_REFERENCES + 4 * MAX_RETRIED_REFERENCES, `${reads()} reads`);
  await store.close();
});

test('a stored value that is not an item leaves its reference unresolved, and the request goes on', async () => {
  const store = new MemoryStore();
  const memory = new SharedItemMemory(store);
  await store.set('items:client-a:msg_bad', Buffer.from('{not json'), 60_000);
  await store.set('items:client-a:msg_list', Buffer.from('[1,2]'), 60_000);
  await memory.prefetch('client-a', { input: [{ type: 'item_reference', id: 'msg_bad' }, { type: 'item_reference', id: 'msg_list' }] });
  assert.equal(memory.recall('client-a', 'msg_bad'), undefined);
  assert.equal(memory.recall('client-a', 'msg_list'), undefined);
  await store.close();
});

test('an item past the memory bounds is not written to the shared store either', async () => {
  const store = new MemoryStore();
  const memory = new SharedItemMemory(store, { maxBytesPerClient: 1_000 });
  const small = { id: 'msg_small', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hi' }] };
  const large = { id: 'msg_large', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'x'.repeat(5_000) }] };
  memory.remember('client-a', [small, large]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(await store.get('items:client-a:msg_small'));
  assert.equal(await store.get('items:client-a:msg_large'), undefined);
  await store.close();
});
