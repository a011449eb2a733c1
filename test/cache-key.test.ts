// The response cache's key (src/cache/key.ts) and its in-memory store (src/cache/memory.ts): one key
// for every spelling of one request (key order, whitespace, number forms, fields that do not change
// the answer), another for anything that does (a field's value, the API, streaming, the route, the
// target, the tenant); a store bounded in bytes, used-longest-ago first out, entries gone after
// their time to live.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cacheKey, canonicalJson, IGNORED_FIELDS, type KeyParts } from '../src/cache/key.js';
import { MemoryCacheStore } from '../src/cache/memory.js';
import { decodeAnswer, encodeAnswer } from '../src/cache/entry.js';

const PARTS: KeyParts = { api: 'chat', path: '/v1/chat/completions', stream: false, route: 'team-chat', target: 'primary', tenant: 'tenant-a' };

function key(body: string, parts: Partial<KeyParts> = {}): string | undefined {
  return cacheKey({ ...PARTS, ...parts }, Buffer.from(body));
}

describe('cache key', () => {
  const base = '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":10}';

  test('key order at every depth and whitespace do not matter', () => {
    const reordered = '{ "max_tokens" : 10,\n "temperature": 0.5, "messages": [ { "content": "hi", "role": "user" } ],\t"model": "m" }';
    assert.equal(key(reordered), key(base));
    assert.match(key(base)!, /^[0-9a-f]{64}$/);
  });

  test('numbers are compared as JSON numbers (1.0 is 1, 5e-1 is 0.5)', () => {
    assert.equal(key('{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":5e-1,"max_tokens":10.0}'), key(base));
  });

  test('a body in chunks (a large body as the scanner keeps it) has the key of the same bytes in one buffer', () => {
    const bytes = Buffer.from(base);
    assert.equal(cacheKey(PARTS, [bytes.subarray(0, 7), bytes.subarray(7, 30), bytes.subarray(30)]), key(base));
  });

  test('fields that do not change the answer are left out: user, metadata, safety_identifier, prompt_cache_key', () => {
    assert.deepEqual([...IGNORED_FIELDS].sort(), ['metadata', 'prompt_cache_key', 'safety_identifier', 'user']);
    const withExtras = '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":10,"user":"u-1","metadata":{"user_id":"x"},"safety_identifier":"s","prompt_cache_key":"p"}';
    assert.equal(key(withExtras), key(base));
    // Only at the top level: a message's own field of that name is content.
    assert.notEqual(key('{"model":"m","messages":[{"role":"user","content":"hi","user":"x"}],"temperature":0.5,"max_tokens":10}'), key(base));
  });

  test('every field that changes the answer changes the key, stream_options included', () => {
    const variants = [
      '{"model":"m","messages":[{"role":"user","content":"hi!"}],"temperature":0.5,"max_tokens":10}',
      '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.6,"max_tokens":10}',
      '{"model":"m2","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":10}',
      '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":10,"stream_options":{"include_usage":true}}',
      '{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":10,"n":2}',
    ];
    const keys = new Set([key(base), ...variants.map((body) => key(body))]);
    assert.equal(keys.size, variants.length + 1);
  });

  test('the API, path, streaming, route, target and tenant each change the key', () => {
    const others: Partial<KeyParts>[] = [
      { api: 'messages' },
      { path: '/v1beta/models/gemini-2.5-flash:generateContent' },
      { stream: true },
      { route: 'other-route' },
      { target: 'backup' },
      { tenant: 'tenant-b' },
      { tenant: '' },
    ];
    const keys = new Set([key(base), ...others.map((parts) => key(base, parts))]);
    assert.equal(keys.size, others.length + 1);
  });

  test('parts cannot run into one another (a tenant ending as a route begins)', () => {
    assert.notEqual(key(base, { route: 'ab', tenant: 'c' }), key(base, { route: 'a', tenant: 'bc' }));
  });

  test('a body that is not JSON has no key', () => {
    assert.equal(key('{"model":'), undefined);
  });

  test('a "__proto__" field is a field like any other', () => {
    assert.notEqual(key('{"model":"m","__proto__":{"a":1}}'), key('{"model":"m","__proto__":{"a":2}}'));
  });

  test('canonicalJson sorts keys and writes no whitespace', () => {
    assert.equal(canonicalJson(JSON.parse('{ "b": [ 2, {"y":1, "x":null} ], "a": "\\u00e9" }')), '{"a":"é","b":[2,{"x":null,"y":1}]}');
  });
});

describe('cache entries', () => {
  test('an answer read back is the answer written; other bytes read as none', () => {
    const body = Buffer.from('data: {"x":1}\n\ndata: [DONE]\n\n');
    const answer = decodeAnswer(encodeAnswer({ status: 200, headers: ['content-type', 'text/event-stream'], body }));
    assert.deepEqual(answer, { status: 200, headers: ['content-type', 'text/event-stream'], body });
    assert.equal(decodeAnswer(Buffer.from([0, 0, 0, 99, 1])), undefined);
    assert.equal(decodeAnswer(Buffer.from('\u0000\u0000\u0000\u0002{}')), undefined);
  });
});

describe('in-memory cache store', () => {
  test('holds at most its bytes: the entry used longest ago goes first', async () => {
    const store = new MemoryCacheStore(3 * 1200);
    const value = Buffer.alloc(1000);
    await store.set('a', value, 60_000);
    await store.set('b', value, 60_000);
    await store.set('c', value, 60_000);
    // 'a' is used now: 'b' is the oldest when 'd' needs room.
    assert.ok(await store.get('a'));
    await store.set('d', value, 60_000);
    assert.equal(await store.get('b'), undefined);
    assert.ok(await store.get('a'));
    assert.ok(await store.get('c'));
    assert.ok(await store.get('d'));
    assert.ok(store.size <= 3 * 1200);
  });

  test('an entry larger than the whole store is not kept, and replacing an entry frees the old bytes', async () => {
    const store = new MemoryCacheStore(2000);
    await store.set('big', Buffer.alloc(5000), 60_000);
    assert.equal(await store.get('big'), undefined);
    assert.equal(store.size, 0);
    await store.set('k', Buffer.alloc(500), 60_000);
    await store.set('k', Buffer.alloc(100), 60_000);
    assert.equal((await store.get('k'))!.length, 100);
    assert.ok(store.size < 500);
    await store.delete('k');
    assert.equal(await store.get('k'), undefined);
    assert.equal(store.size, 0);
  });

  test('an entry is gone after its time to live', async () => {
    const store = new MemoryCacheStore(10_000);
    await store.set('short', Buffer.from('x'), 30);
    await store.set('long', Buffer.from('y'), 60_000);
    assert.ok(await store.get('short'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await store.get('short'), undefined);
    assert.ok(await store.get('long'));
  });
});
