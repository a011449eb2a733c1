// The Responses API's item memory shared through the store: an item another gateway answered with
// is fetched before translation, even when its write reaches the store a moment after the request
// that refers to it (a quick client, another instance).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedItemMemory, referencedIds } from '../src/inbound/openai-responses/shared-memory.js';
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
