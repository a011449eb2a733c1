// The request line's own formatting: milliseconds printed from whole microseconds, cached JSON text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JsonTextCache, formatMs } from '../src/requestlog.js';

describe('request line formatting', () => {
  test('formatMs prints what String(Math.round(ms * 1000) / 1000) prints', () => {
    const values = [0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.999, 1, 1.2, 1.23, 1.234, 1.2345, 35, 99.9999, 1000, 123456.789, 299_999.9996];
    for (let i = 0; i < 20_000; i++) values.push(Math.random() * 10 ** Math.floor(Math.random() * 7));
    for (const ms of values) assert.equal(formatMs(ms), String(Math.round(ms * 1000) / 1000), String(ms));
  });

  test('formatMs falls back to the general way for negative and odd values', () => {
    assert.equal(formatMs(-1.5), '-1.5');
    assert.equal(formatMs(Number.NaN), 'NaN');
  });

  test('JsonTextCache escapes like JSON.stringify: first time, cached, after the last value and past its size', () => {
    const cache = new JsonTextCache(1_000, 100);
    for (const value of ['/v1/chat/completions', 'a"b\\c\n', 'accounts/x/models/y', '\u2028', '']) {
      assert.equal(cache.get(value), JSON.stringify(value));
      assert.equal(cache.get(value), JSON.stringify(value));
    }
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 250; i++) assert.equal(cache.get(`model-${i}`), `"model-${i}"`);
    }
    assert.equal(cache.get('a"b'), '"a\\"b"');
  });

  test('JsonTextCache is bounded in characters, whatever the values', () => {
    const cache = new JsonTextCache(10_000, 100);
    for (let i = 0; i < 2_000; i++) {
      const value = `/v1/${'x'.repeat(i % 300)}${i}`;
      assert.equal(cache.get(value), JSON.stringify(value));
      assert.ok(cache.size <= 10_000, `holds ${cache.size} characters`);
    }
    // A value past the per-value bound is escaped correctly and never kept.
    const long = `/v1/${'"'.repeat(1_000)}`;
    assert.equal(cache.get(long), JSON.stringify(long));
    assert.ok(cache.size <= 10_000);
  });
});
