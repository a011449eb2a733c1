// The dashboard's aggregate and its endpoints: percentiles read from log-spaced buckets are within
// one bucket of the true value; 10,000 distinct models and keys stay within the label bound and the
// rings within theirs; the snapshot reflects traffic through the simulators; its data needs the
// admin key when one is set and is loopback-only otherwise; the page and assets carry strict
// headers; DASHBOARD=off answers 404 and attaches no observer.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { DashboardAggregate, MAX_LABELS, MAX_MESSAGE_CHARS, OTHER_LABEL, RECENT_ERRORS, RECENT_REQUESTS, WINDOW_SECONDS } from '../src/admin/dashboard/aggregate.js';
import { Dashboard, SNAPSHOT_MAX_AGE_MS } from '../src/admin/dashboard/dashboard.js';
import { BUCKETS_PER_OCTAVE } from '../src/admin/dashboard/histogram.js';
import type { RequestRecord } from '../src/observe/records.js';
import type { GatewayServer } from '../src/server.js';
import { KEY, MODEL, startGateway } from './helpers.js';
import { configFileWith, sha256 } from './keys-helpers.js';

const ADMIN_KEY = 'admin-key-for-the-dashboard-0123456789';
const GATEWAY_KEY = 'gk-dash-0123456789abcdef';
const RATED_KEY = 'gk-dash-rated-0123456789abcdef';
const RPM = 50;

/** A finished request's record, as the server makes it, with the fields the aggregate reads. */
function record(fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 'req-1',
    startedAt: 0,
    startTime: Date.now(),
    durationMs: 10,
    api: 'chat',
    method: 'POST',
    path: '/v1/chat/completions',
    provider: 'fireworks',
    model: MODEL,
    clientModel: MODEL,
    route: undefined,
    key: undefined,
    target: `fireworks/${MODEL}`,
    status: 200,
    stream: false,
    ttfbMs: 5,
    overheadMs: 0.1,
    attempts: [],
    retries: 0,
    usage: { promptTokens: 10, completionTokens: 5 } as RequestRecord['usage'],
    costUsd: 0.001,
    priced: true,
    error: undefined,
    clientGone: false,
    cutByGateway: false,
    broken: false,
    ...fields,
  };
}

const identity = (text: string) => text;

describe('the aggregate', () => {
  test('a long error message is cut in what a snapshot carries, in both rings', () => {
    const aggregate = new DashboardAggregate();
    aggregate.add(record({ status: 502, error: `upstream said: ${'x'.repeat(100_000)}` }));
    const [recent] = aggregate.recentRequests({}, identity);
    const [error] = aggregate.recentErrorList(identity);
    for (const shown of [recent!.error, error!.error]) {
      assert.ok(shown !== null && shown.length <= MAX_MESSAGE_CHARS, `${shown?.length} characters`);
      assert.ok(shown.startsWith('upstream said: '));
    }
  });

  test('model names that only failed do not take the rows of the models that answer', () => {
    const aggregate = new DashboardAggregate();
    for (let i = 0; i < 3 * MAX_LABELS; i++) aggregate.add(record({ model: `bogus-${i}`, status: 404, error: 'model not found' }));
    aggregate.add(record({ model: MODEL }));
    const rows = aggregate.byModel.list();
    assert.equal(rows.find((row) => row.label === MODEL)?.requests, 1, 'the model that answered has its row');
    assert.equal(rows.find((row) => row.label === OTHER_LABEL)?.requests, 3 * MAX_LABELS, 'the failed names are counted together');
    assert.ok(rows.length <= MAX_LABELS + 1);
  });

  test('percentiles read from the buckets are within one bucket of the true value', () => {
    const aggregate = new DashboardAggregate();
    const now = Date.now();
    // A spread from 0.3 ms to 20 s, log-uniform, deterministic.
    const durations: number[] = [];
    for (let i = 0; i < 5_000; i++) durations.push(0.3 * Math.pow(20_000 / 0.3, ((i * 7919) % 5_000) / 5_000));
    for (const ms of durations) aggregate.add(record({ startTime: now - ms, durationMs: ms, ttfbMs: ms / 2 }));
    const sorted = [...durations].sort((a, b) => a - b);
    const { latency, ttfb } = aggregate.percentiles(now, WINDOW_SECONDS);
    const bucketRatio = 2 ** (1 / BUCKETS_PER_OCTAVE);
    assert.equal(latency.count, durations.length);
    for (const [q, read] of [[0.5, latency.p50], [0.9, latency.p90], [0.99, latency.p99]] as const) {
      const truth = sorted[Math.ceil(q * sorted.length) - 1]!;
      assert.ok(read! >= truth && read! <= truth * bucketRatio, `p${q * 100}: ${read} against ${truth}`);
    }
    const ttfbTruth = sorted[Math.ceil(0.5 * sorted.length) - 1]! / 2;
    assert.ok(ttfb.p50! >= ttfbTruth && ttfb.p50! <= ttfbTruth * bucketRatio, `TTFB p50: ${ttfb.p50} against ${ttfbTruth}`);
  });

  test('10,000 distinct models and keys stay within the label bound; the rings within theirs', () => {
    const aggregate = new DashboardAggregate();
    for (let i = 0; i < 10_000; i++) {
      aggregate.add(record({ model: `model-${i}`, key: `key-${i}`, route: `route-${i}`, provider: `provider-${i}`, status: i % 2 === 0 ? 200 : 502, error: i % 2 === 0 ? undefined : `failure ${i}` }));
    }
    for (const totals of [aggregate.byModel, aggregate.byKey, aggregate.byRoute, aggregate.byProvider]) {
      assert.equal(totals.rows.size, MAX_LABELS);
      const list = totals.list();
      assert.equal(list.length, MAX_LABELS + 1);
      const other = list.find((row) => row.label === OTHER_LABEL)!;
      assert.equal(other.requests, 10_000 - MAX_LABELS);
      assert.equal(list.reduce((sum, row) => sum + row.requests, 0), 10_000);
    }
    assert.equal(aggregate.total.requests, 10_000);
    assert.equal(aggregate.total.errors, 5_000);
    const recent = aggregate.recentRequests({}, identity);
    assert.equal(recent.length, RECENT_REQUESTS);
    assert.equal(recent[0]!.model, 'model-9999', 'newest first');
    const errors = aggregate.recentErrorList(identity);
    assert.equal(errors.length, RECENT_ERRORS);
    assert.equal(errors[0]!.error, 'failure 9999');
  });

  test("a million requests later, the snapshot is no larger and no slower to build than after ten thousand", async () => {
    const dashboard = new Dashboard({ routes: () => [], limits: () => undefined, secrets: () => [] }, 'test', undefined);
    const now = Date.now();
    const feed = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        dashboard.finished(record({ id: `req-${i}`, model: `model-${i}`, key: `key-${i % 5_000}`, startTime: now - (i % 250_000) / 1000, status: i % 10 === 0 ? 503 : 200, error: i % 10 === 0 ? 'down' : undefined }));
      }
    };
    feed(0, 10_000);
    let started = performance.now();
    const small = (await dashboard.current()).json;
    const smallMs = performance.now() - started;
    feed(10_000, 1_000_000);
    // Past the snapshot's age, so that the next read builds anew.
    await new Promise((resolve) => setTimeout(resolve, SNAPSHOT_MAX_AGE_MS + 50));
    started = performance.now();
    const large = (await dashboard.current()).json;
    const largeMs = performance.now() - started;
    assert.equal((JSON.parse(large) as { totals: { requests: number } }).totals.requests, 1_000_000);
    // Only the numbers' digits grow.
    assert.ok(large.length < small.length * 1.1, `${large.length} bytes against ${small.length}`);
    assert.ok(largeMs < Math.max(250, smallMs * 10), `built in ${largeMs.toFixed(1)} ms against ${smallMs.toFixed(1)} ms`);
  });

  test('recent requests filter by status class, key and route', () => {
    const aggregate = new DashboardAggregate();
    aggregate.add(record({ key: 'a', route: 'r1', status: 200 }));
    aggregate.add(record({ key: 'b', route: 'r1', status: 503 }));
    aggregate.add(record({ key: 'a', route: 'r2', status: 429 }));
    assert.deepEqual(aggregate.recentRequests({ statusClass: 5 }, identity).map((r) => r.status), [503]);
    assert.deepEqual(aggregate.recentRequests({ key: 'a' }, identity).map((r) => r.status), [429, 200]);
    assert.deepEqual(aggregate.recentRequests({ route: 'r1', statusClass: 2 }, identity).map((r) => r.key), ['a']);
  });

  test('each second counts in its own bucket, and a second older than the window is forgotten', () => {
    const aggregate = new DashboardAggregate();
    const now = Math.floor(Date.now() / 1000) * 1000 + 500;
    aggregate.add(record({ startTime: now - 3_010, durationMs: 10 }));
    aggregate.add(record({ startTime: now - 1_010, durationMs: 10, status: 500 }));
    aggregate.add(record({ startTime: now - 1_010, durationMs: 10 }));
    let series = aggregate.series(now);
    assert.equal(series.t!.length, WINDOW_SECONDS);
    assert.deepEqual(series.requests!.slice(-4), [1, 0, 2, 0]);
    assert.deepEqual(series.errors!.slice(-4), [0, 0, 1, 0]);
    // A request one window later lands in the slot the oldest one held: that second starts afresh.
    aggregate.add(record({ startTime: now - 3_010 + WINDOW_SECONDS * 1000, durationMs: 10 }));
    series = aggregate.series(now + WINDOW_SECONDS * 1000);
    assert.equal(series.requests!.reduce((sum, n) => sum! + n!, 0), 1);
  });
});

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

function chat(url: string, key: string, extra: Record<string, unknown> = {}) {
  return request(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-provider': 'fireworks' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

describe('the dashboard over HTTP', () => {
  let sim: FireworksSim;
  before(async () => {
    sim = await startFireworksSim({ port: 0 });
  });
  after(() => sim.close());

  test("probes, scrapes and the dashboard's own polls count in neither the dashboard nor the record of the last requests", async () => {
    const { server, url } = await startGateway({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, RECORD_REQUESTS: '10' });
    const origin = url.slice(0, -'/v1'.length);
    try {
      await (await chat(url, KEY)).body.json();
      for (const path of ['/health', '/metrics', '/status/targets', '/ui/api/snapshot', '/ui/api/snapshot']) await get(`${origin}${path}`);
      // The dashboard builds at most once a second: wait for a snapshot made after the operator requests.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const snap = JSON.parse((await get(`${origin}/ui/api/snapshot`)).body.toString()) as Record<string, any>;
      assert.equal(snap.totals.requests, 1, 'the chat alone');
      const record = JSON.parse((await get(`${origin}/debug/requests`)).body.toString()) as { path: string }[] | { requests: { path: string }[] };
      const paths = (Array.isArray(record) ? record : record.requests).map((entry) => entry.path);
      assert.deepEqual(paths, ['/v1/chat/completions'], 'no snapshot (guarded data) copied into the record');
    } finally {
      await server.shutdown(0);
    }
  });

  describe('without an admin key', () => {
    let server: GatewayServer;
    let url: string;
    let origin: string;
    before(async () => {
      ({ server, url } = await startGateway({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY }));
      origin = url.slice(0, -'/v1'.length);
    });
    after(() => server.shutdown(0));

    test('the snapshot tells of the traffic: totals, the model, a provider error with its message, the page its headers', async () => {
      for (let i = 0; i < 3; i++) await (await chat(url, KEY)).body.json();
      const failed = await chat(url, KEY, { sim: { status: 503, error_message: 'the simulated provider is overloaded' } });
      await failed.body.json();
      assert.equal(failed.statusCode, 503);
      const { status, headers, body } = await get(`${origin}/ui/api/snapshot`);
      assert.equal(status, 200);
      assert.equal(headers['cache-control'], 'no-store');
      assert.equal(headers['x-content-type-options'], 'nosniff');
      const snap = JSON.parse(body.toString()) as Record<string, any>;
      assert.equal(snap.totals.requests, 4);
      assert.equal(snap.totals.errors, 1);
      assert.equal(snap.series.t.length, WINDOW_SECONDS);
      assert.equal(snap.series.requests.reduce((a: number, b: number) => a + b, 0), 4);
      assert.equal(snap.by.model[0].label, MODEL);
      assert.equal(snap.by.provider[0].label, 'fireworks');
      assert.ok(snap.by.model[0].tokens.prompt > 0);
      assert.ok(snap.percentiles.recent.latency.p50 > 0);
      assert.equal(snap.recent.length, 4);
      assert.equal(snap.errors.length, 1);
      assert.equal(snap.errors[0].status, 503);
      assert.match(snap.errors[0].error, /overloaded/);
      assert.equal(snap.limits, null, 'no gateway keys, no limits');
      assert.ok(!body.toString().includes(KEY), 'the provider key is nowhere in the snapshot');
      // Filtered at read time.
      const filtered = JSON.parse((await get(`${origin}/ui/api/snapshot?status=5xx`)).body.toString()) as Record<string, any>;
      assert.deepEqual(filtered.recent.map((r: { status: number }) => r.status), [503]);
      const refused = await get(`${origin}/ui/api/snapshot?status=abc`);
      assert.equal(refused.status, 400);
      assert.match(refused.body.toString(), /status class/);
    });

    test('the snapshot is built at most once a second, whoever asks', async () => {
      const first = JSON.parse((await get(`${origin}/ui/api/snapshot`)).body.toString()) as { time: string };
      const second = JSON.parse((await get(`${origin}/ui/api/snapshot`)).body.toString()) as { time: string };
      assert.equal(second.time, first.time);
      await new Promise((resolve) => setTimeout(resolve, SNAPSHOT_MAX_AGE_MS + 100));
      const third = JSON.parse((await get(`${origin}/ui/api/snapshot`)).body.toString()) as { time: string };
      assert.notEqual(third.time, first.time);
    });

    test('its data is for clients on this machine: a relayed request is refused', async () => {
      const relayed = await get(`${origin}/ui/api/snapshot`, { 'x-forwarded-for': '203.0.113.9' });
      assert.equal(relayed.status, 403);
      assert.match(relayed.body.toString(), /DASHBOARD_READERS=any/);
      // The page itself holds no data: anyone who reaches the port may load it.
      assert.equal((await get(`${origin}/ui`, { 'x-forwarded-for': '203.0.113.9' })).status, 200);
    });

    test('the page and its hashed assets: strict headers, gzip when accepted, a long cache for assets', async () => {
      const page = await get(`${origin}/ui`);
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(String(page.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
      assert.equal(page.headers['x-frame-options'], 'DENY');
      assert.equal(page.headers['cache-control'], 'no-cache');
      const script = /src="(\/ui\/assets\/app-[A-Z0-9]+\.js)"/.exec(page.body.toString())![1]!;
      const plain = await get(`${origin}${script}`);
      assert.equal(plain.status, 200);
      assert.match(String(plain.headers['cache-control']), /immutable/);
      assert.equal(plain.headers['content-encoding'], undefined);
      const gzipped = await get(`${origin}${script}`, { 'accept-encoding': 'gzip, br' });
      assert.equal(gzipped.headers['content-encoding'], 'gzip');
      assert.ok(gzipped.body.length < plain.body.length / 2);
      assert.deepEqual(gunzipSync(gzipped.body), plain.body);
      assert.equal((await get(`${origin}/ui/assets/app-NOTHERE.js`)).status, 404);
      const post = await request(`${origin}/ui`, { method: 'POST' });
      await post.body.dump();
      assert.equal(post.statusCode, 405);
    });
  });

  describe('with an admin key and gateway keys', () => {
    let server: GatewayServer;
    let url: string;
    let origin: string;
    before(async () => {
      const file = configFileWith(`
keys:
  - {name: dash, sha256: ${sha256(GATEWAY_KEY)}}
  - {name: rated, sha256: ${sha256(RATED_KEY)}, limits: {rpm: ${RPM}, usd_per_day: 5}}
`);
      ({ server, url } = await startGateway({ CONFIG_FILE: file, ADMIN_KEY_SHA256: sha256(ADMIN_KEY), FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, DASHBOARD_READERS: 'any' }));
      origin = url.slice(0, -'/v1'.length);
    });
    after(() => server.shutdown(0));

    test('the data needs the admin key, from any address', async () => {
      const none = await get(`${origin}/ui/api/snapshot`);
      assert.equal(none.status, 401);
      assert.match(none.body.toString(), /admin key/);
      assert.equal((await get(`${origin}/ui/api/snapshot`, { authorization: `Bearer ${GATEWAY_KEY}` })).status, 401);
      assert.equal((await get(`${origin}/ui/api/snapshot`, { authorization: `Bearer ${ADMIN_KEY}` })).status, 200);
    });

    test('totals by key, and each key\'s limits with what is used of them', async () => {
      for (let i = 0; i < 3; i++) await (await chat(url, RATED_KEY)).body.json();
      await (await chat(url, GATEWAY_KEY)).body.json();
      // The snapshot the test before read is served until it is a second old.
      await new Promise((resolve) => setTimeout(resolve, SNAPSHOT_MAX_AGE_MS + 100));
      const { body } = await get(`${origin}/ui/api/snapshot`, { authorization: `Bearer ${ADMIN_KEY}` });
      const snap = JSON.parse(body.toString()) as Record<string, any>;
      const byKey = Object.fromEntries(snap.by.key.map((row: { label: string; requests: number }) => [row.label, row.requests]));
      assert.equal(byKey.rated, 3);
      assert.equal(byKey.dash, 1);
      const rated = snap.limits.find((key: { key: string }) => key.key === 'rated');
      const rpm = rated.limits.find((limit: { limit: string }) => limit.limit === 'rpm');
      assert.equal(rpm.max, RPM);
      assert.equal(rpm.used, 3);
      const usd = rated.limits.find((limit: { limit: string }) => limit.limit === 'usd_per_day');
      assert.equal(usd.max, 5);
      assert.ok(snap.limits.every((key: { key: string }) => key.key !== 'dash'), 'a key without limits has no row');
      for (const secret of [GATEWAY_KEY, RATED_KEY, ADMIN_KEY, KEY]) assert.ok(!body.toString().includes(secret));
    });
  });

  test('DASHBOARD=off: /ui does not exist and no observer is attached', async () => {
    const { server, url } = await startGateway({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY, DASHBOARD: 'off' });
    try {
      assert.equal(server.dashboard, undefined);
      const origin = url.slice(0, -'/v1'.length);
      for (const path of ['/ui', '/ui/api/snapshot']) assert.equal((await get(`${origin}${path}`)).status, 404);
    } finally {
      await server.shutdown(0);
    }
  });
});
