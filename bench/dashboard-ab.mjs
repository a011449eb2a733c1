// One gateway, the dashboard on, and a viewer that polls its snapshot each second switched on and
// off in alternate windows: CPU a request with and without a viewer, measured on the same process
// in interleaved windows, so that the machine's drift falls on both alike. AB_COMPARE=off instead
// alternates the load between that gateway (nobody looking) and a second one with DASHBOARD=off.
//   node bench/dashboard-ab.mjs   (after npm run build; bench/node_modules installed)
//   AB_PAIRS (default 8), AB_WINDOW_MS (3000), AB_VIEWERS (1), AB_PIN (CPU for the gateways, e.g. 1),
//   AB_COMPARE (viewers, the default, or off)
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad } from './load.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PAIRS = Number(process.env.AB_PAIRS ?? 8);
const WINDOW_MS = Number(process.env.AB_WINDOW_MS ?? 3_000);
const VIEWERS = Number(process.env.AB_VIEWERS ?? 1);
const PIN = process.env.AB_PIN;
const COMPARE_OFF = process.env.AB_COMPARE === 'off';
const body = JSON.stringify({ model: 'accounts/fireworks/models/llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'Say hello.' }] });

const children = [];
function start(args, env, ready, cpus) {
  const [command, argv] = cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: here, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ pid: child.pid, port: Number(match[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}
const ticks = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

const rest = PIN ? '0' : undefined;
if (rest) execFileSync('taskset', ['-a', '-p', '-c', rest, String(process.pid)], { stdio: 'ignore' });
const upstream = await start(['upstream.mjs'], {}, /listening (\d+)/, rest);
const gateway = await start([join(here, '..', 'dist/src/main.js')], { PORT: '0', LOG_LEVEL: 'info', FIREWORKS_BASE_URL: `http://127.0.0.1:${upstream.port}/inference/v1` }, /listening on http:\/\/[\d.]+:(\d+)/, PIN);
const origin = `http://127.0.0.1:${gateway.port}`;
const off = COMPARE_OFF
  ? await start([join(here, '..', 'dist/src/main.js')], { PORT: '0', LOG_LEVEL: 'info', DASHBOARD: 'off', FIREWORKS_BASE_URL: `http://127.0.0.1:${upstream.port}/inference/v1` }, /listening on http:\/\/[\d.]+:(\d+)/, PIN)
  : undefined;
const headers = { 'content-type': 'application/json', authorization: 'Bearer fw_bench_key_0000000000', 'x-provider': 'fireworks' };

/** One window of load: `treated` is the viewers polling (or, with AB_COMPARE=off, the gateway with the dashboard on rather than off). */
async function window(treated) {
  const viewing = treated && !COMPARE_OFF;
  const loaded = COMPARE_OFF && !treated ? off : gateway;
  const timers = viewing ? Array.from({ length: VIEWERS }, () => setInterval(() => fetch(`${origin}/ui/api/snapshot`).then((r) => r.arrayBuffer()).catch(() => undefined), 1_000)) : [];
  const edges = {};
  const result = await runLoad({ url: `http://127.0.0.1:${loaded.port}/v1/chat/completions`, headers, body, connections: 50, durationMs: WINDOW_MS, warmupMs: 500, onWindow: (edge) => (edges[edge] = ticks(loaded.pid)) });
  for (const timer of timers) clearInterval(timer);
  return { rps: result.rps, cpuUs: ((edges.end - edges.start) * 10_000) / result.answered };
}

const rows = [];
for (let pair = 0; pair < PAIRS; pair++) {
  // Alternate which goes first, so that neither always follows the other.
  const order = pair % 2 === 0 ? [false, true] : [true, false];
  const got = {};
  for (const viewing of order) got[viewing] = await window(viewing);
  rows.push({ off: got.false, on: got.true });
  const [base, treatment] = COMPARE_OFF ? ['DASHBOARD=off', 'on, nobody looking'] : ['no viewer', `${VIEWERS} viewer(s)`];
  process.stderr.write(`pair ${pair}: ${base} ${got.false.rps.toFixed(0)} req/s ${got.false.cpuUs.toFixed(1)} µs, ${treatment} ${got.true.rps.toFixed(0)} req/s ${got.true.cpuUs.toFixed(1)} µs\n`);
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const cpuRatio = median(rows.map((r) => r.on.cpuUs / r.off.cpuUs));
const rpsRatio = median(rows.map((r) => r.on.rps / r.off.rps));
const report = { date: new Date().toISOString(), node: process.version, compare: COMPARE_OFF ? 'dashboard on (nobody looking) against DASHBOARD=off' : `${VIEWERS} viewer(s) against none`, pairs: PAIRS, windowMs: WINDOW_MS, viewers: VIEWERS, pin: PIN ?? null, medianCpuRatio: Number(cpuRatio.toFixed(3)), medianRpsRatio: Number(rpsRatio.toFixed(3)), rows };
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `${report.date.replace(/[:]/g, '-').replace(/\..*/, '')}-dashboard-ab.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`CPU a request, ${report.compare}: ${report.medianCpuRatio}x; req/s ${report.medianRpsRatio}x (medians of ${PAIRS} interleaved pairs)\nresults: ${file}`);
for (const child of children) child.kill();
