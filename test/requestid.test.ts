// Request ids: UUID-shaped and distinct.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId } from '../src/requestid.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('request ids look like v4 UUIDs and do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200_000; i++) {
    const id = newRequestId();
    assert.match(id, UUID_V4);
    seen.add(id);
  }
  assert.equal(seen.size, 200_000);
});
