// The verdict on a failed attempt (route/retry.ts): the same target again, the next one, or stop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verdictFor } from '../src/route/retry.js';

test('the provider\'s trouble is tried again, the request\'s own fault stops, what the target cannot read moves on', () => {
  for (const status of [408, 429, 500, 502, 503, 504, 529]) assert.equal(verdictFor('status', status), 'again', String(status));
  for (const status of [400, 401, 403, 404, 413, 422]) assert.equal(verdictFor('status', status), 'stop', String(status));
  assert.equal(verdictFor('network', 0), 'again');
  assert.equal(verdictFor('unreadable', 502), 'next');
  assert.equal(verdictFor('attempt-timeout', 504), 'next');
  assert.equal(verdictFor('unsendable', 400), 'stop');
});

test('a route\'s fail_over_on moves on for the statuses it lists, and only those', () => {
  const policy = { failOverOn: new Set([400]) };
  assert.equal(verdictFor('status', 400, policy), 'next');
  assert.equal(verdictFor('status', 422, policy), 'stop');
});

test('a key refused or rate-limited is that key\'s trouble on a route: the next key serves at once', () => {
  assert.equal(verdictFor('status', 401, undefined, 'resting'), 'next');
  assert.equal(verdictFor('status', 403, undefined, 'others'), 'next');
  assert.equal(verdictFor('status', 429, undefined, 'others'), 'next');
  // A route of one target waits a 429 out; a request's own key leaves a refusal to its client.
  assert.equal(verdictFor('status', 429, undefined, 'resting'), 'again');
  assert.equal(verdictFor('status', 401, undefined, 'one'), 'stop');
});
