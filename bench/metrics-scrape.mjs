// GET /metrics after a flood of distinct model names: the series count stays bounded
// (METRICS_MAX_MODELS), and so do the gateway's memory and the scrape's time.
//   node bench/metrics-scrape.mjs            (after npm run build; BENCH_MODELS, default 10000)
// Starts the bench upstream (which answers any model) and the built gateway as separate processes,
// sends one chat request per distinct model name, then times 20 scrapes.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

const here = dirname(fileURLToPath(import.meta.url));
const MODELS = Number(process.env.BENCH_MODELS ?? 10_000);
const children = [];

function start(args, env, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: here, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) resolve({ pid: child.pid, port: Number(match[1]) });
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

try {
  const upstream = await start(['upstream.mjs'], {}, /listening (\d+)/);
  const gateway = await start([join(here, '../dist/src/main.js')], { PORT: '0', LOG_LEVEL: 'info', FIREWORKS_BASE_URL: `http://127.0.0.1:${upstream.port}/inference/v1` }, /listening on http:\/\/[\d.]+:(\d+)/);
  const origin = `http://127.0.0.1:${gateway.port}`;
  const dispatcher = new Agent({ connections: 16 });
  const scrape = async () => {
    const started = performance.now();
    const res = await request(`${origin}/metrics`, { dispatcher });
    const text = await res.body.text();
    return { ms: performance.now() - started, series: text.split('\n').filter((l) => l.startsWith('gateway_')).length, bytes: text.length };
  };
  const chat = (model) =>
    request(`${origin}/v1/chat/completions`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json', 'x-provider': 'fireworks', authorization: 'Bearer fw_bench_key_0000000000' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    }).then((res) => res.body.dump());
  // A first model, so that every series the flood can add exists once.
  for (let i = 0; i < 100; i++) await chat('accounts/fireworks/models/llama-v3p1-8b-instruct');
  const before = { rss: rssMb(gateway.pid), ...(await scrape()) };
  for (let i = 0; i < MODELS; i += 16) await Promise.all(Array.from({ length: Math.min(16, MODELS - i) }, (_, j) => chat(`accounts/bench/models/model-${i + j}`)));
  const times = [];
  let last;
  for (let i = 0; i < 20; i++) {
    last = await scrape();
    times.push(last.ms);
  }
  times.sort((a, b) => a - b);
  const after = { rss: rssMb(gateway.pid), ...last };
  console.log(`${MODELS} distinct model names: gateway_* series ${before.series} -> ${after.series}; exposition ${before.bytes} -> ${after.bytes} bytes; RSS ${before.rss.toFixed(1)} -> ${after.rss.toFixed(1)} MB`);
  console.log(`scrape ms over 20: median ${times[10].toFixed(2)}, max ${times[19].toFixed(2)}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
}
