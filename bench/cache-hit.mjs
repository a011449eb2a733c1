// A response cache hit's gateway time: an in-process gateway with a cached route in front of the
// Fireworks simulator, one miss, then sequential hits of a small chat answer (and of a small
// stream). Reports the gateway's own time (x-gateway-overhead-ms: arrival to the answer's headers)
// and the client's round trip on loopback, p50/p99, beside the same requests on an uncached route.
//   node bench/cache-hit.mjs            (after npm run build; BENCH_HITS, default 5000)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { SIM_API_KEY, startFireworksSim } from '../dist/sim/fireworks.js';
import { loadConfig } from '../dist/src/config.js';
import { createLogger } from '../dist/src/logger.js';
import { createGatewayServer } from '../dist/src/server.js';

const HITS = Number(process.env.BENCH_HITS ?? 5000);
const MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';

const sim = await startFireworksSim({ port: 0 });
const dir = mkdtempSync(join(tmpdir(), 'cache-bench-'));
const file = join(dir, 'gateway.yaml');
writeFileSync(file, `routes:\n  cached:\n    cache: { ttl: 600 }\n    targets:\n      - { provider: fireworks, model: ${MODEL} }\n  uncached:\n    targets:\n      - { provider: fireworks, model: ${MODEL} }\n`);
const config = loadConfig({ CONFIG_FILE: file, FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: SIM_API_KEY, LOG_LEVEL: 'silent' });
const gateway = createGatewayServer(config, createLogger('silent'));
const { port } = await gateway.listen(0, '127.0.0.1');
const url = `http://127.0.0.1:${port}/v1/chat/completions`;
const dispatcher = new Agent({ connections: 1 });

async function one(model, stream) {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16, stream });
  const startedAt = performance.now();
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer bench' }, body, dispatcher });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return { overhead: Number(res.headers['x-gateway-overhead-ms']), roundTrip: performance.now() - startedAt, cache: res.headers['x-gateway-cache'] };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function measure(label, model, stream) {
  await one(model, stream);
  for (let i = 0; i < 1000; i++) await one(model, stream);
  const overheads = [];
  const trips = [];
  const results = new Set();
  for (let i = 0; i < HITS; i++) {
    const { overhead, roundTrip, cache } = await one(model, stream);
    overheads.push(overhead);
    trips.push(roundTrip);
    results.add(cache ?? 'none');
  }
  overheads.sort((a, b) => a - b);
  trips.sort((a, b) => a - b);
  const f = (ms) => ms.toFixed(3);
  console.log(
    `${label.padEnd(24)} cache=${[...results].join('/')}  gateway ms p50 ${f(percentile(overheads, 0.5))} p99 ${f(percentile(overheads, 0.99))}` +
      `   round trip ms p50 ${f(percentile(trips, 0.5))} p99 ${f(percentile(trips, 0.99))}`,
  );
}

await measure('hit, whole answer', 'cached', false);
await measure('hit, stream', 'cached', true);
await measure('uncached, whole answer', 'uncached', false);
await measure('uncached, stream', 'uncached', true);
await gateway.shutdown(0);
await dispatcher.close();
await sim.close();
