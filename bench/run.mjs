// Runs every scenario against every target side by side in one run, on 127.0.0.1:
//   direct       the load generator straight to the upstream (the floor)
//   passthrough  a minimal node:http + undici proxy (the practical limit for Node)
//   portkey      @portkey-ai/gateway from npm, --headless, pointed at the same upstream
//   ai-gateway   ours, started as a user starts it (default settings, info logs)
// The translated scenarios (anthropic-*) send the same OpenAI chat request to Portkey and ai-gateway
// with their Anthropic provider, against the same upstream's Anthropic Messages API; bedrock-*
// send it to ai-gateway's Bedrock provider (SigV4-signed Converse, binary event stream back; Portkey
// sits it out). messages-* and responses-* send Anthropic Messages and Responses API requests to
// ai-gateway, which serves them from the OpenAI-compatible upstream's chat completions (Portkey
// sits them out). direct and passthrough cannot translate and sit them out. Each runs interleaved with the pass-through
// scenario it translates (when BENCH_ONLY selects both), for the ratio between the two. route-* send
// the same request to a route of ai-gateway's (bench/routes.yaml): two targets with the primary
// healthy, or the primary down (a closed port) with its breaker open; each runs beside the
// request that names no route, in the same way.
// Writes results/<date>.json and prints markdown tables.
//   BENCH_DURATION_MS (default 5000), BENCH_WARMUP_MS (1000), BENCH_REPEAT (rounds per load
//   scenario, median kept; default 1, 3 for steadier figures), BENCH_ONLY (comma list of scenario ids),
//   BENCH_TARGETS (comma list of targets), BENCH_STREAMS (2000), BENCH_WORKERS (also run ai-gateway
//   with WORKERS=<n>), BENCH_GATEWAY_MAIN (another build's main.js, run instead of this one),
//   BENCH_BASELINE (comma list of git commits, each built in a temporary folder and run beside this
//   build as target `ai-gateway@<commit>`: a change's cost shows side by side, in one run),
//   BENCH_OBSERVE (also run this build with METRICS=off, and with OpenTelemetry exporting to an
//   OTLP receiver: targets `ai-gateway METRICS=off`, `ai-gateway +OTel` (every trace kept),
//   `ai-gateway +OTel 1/10` and `ai-gateway +OTel 1/100` (one trace in ten, in a hundred)),
//   BENCH_GOVERNANCE (also run this build with a gateway key whose limits every request reserves
//   and settles (bench/keys.yaml): targets `ai-gateway +keys` (state in the process) and
//   `ai-gateway +keys Redis` (in a redis-server on loopback, when installed), each also with a
//   key that has a rate limit alone (`... rpm`)),
//   BENCH_DASHBOARD (also run this build with DASHBOARD=off, and with 1 and with 10 dashboard
//   viewers polling its snapshot each second: targets `ai-gateway DASHBOARD=off`, `ai-gateway +1 viewer`,
//   `ai-gateway +10 viewers`; `ai-gateway` itself has the dashboard on and nobody looking),
//   BENCH_PROFILE (a folder: each gateway writes its V8 CPU profile there when it exits),
//   BENCH_PIN (the CPUs the targets run on, for taskset, e.g. `1`; the load generator and the
//   upstream get the others, so that a target's CPU per request is not its neighbours').
// CPU µs/req is read from each target's own counters (/proc/<pid>/stat, user + system) at the edges
// of the recorded window and divided by the answers in it; the table gives its median over rounds.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBaseline } from './baseline.mjs';
import { runConcurrent, runLoad } from './load.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const DURATION = Number(process.env.BENCH_DURATION_MS ?? 5_000);
const WARMUP = Number(process.env.BENCH_WARMUP_MS ?? 1_000);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 2_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);
const only = process.env.BENCH_ONLY?.split(',');
const onlyTargets = process.env.BENCH_TARGETS?.split(',');
const KEY = 'fw_bench_key_0000000000';
const ANTHROPIC_KEY = 'sk-ant-bench-key-0000000000';
// Server-side AWS credentials: the gateway signs every Bedrock request with them (SigV4); the
// bench upstream does not check the signature.
const AWS = { AWS_ACCESS_KEY_ID: 'AKIDBENCH000000000000', AWS_SECRET_ACCESS_KEY: 'benchsecret0000000000000000000000000000', AWS_REGION: 'us-east-1' };

const BASELINES = process.env.BENCH_BASELINE?.split(',').filter(Boolean) ?? [];
const PIN_TARGETS = process.env.BENCH_PIN;
/** The CPUs left to the load generator and the upstream when the targets are pinned. */
const PIN_REST = PIN_TARGETS && otherCpus(PIN_TARGETS);

const children = [];
/**
 * Starts a process and resolves once it prints a line matching `ready` (which captures the port).
 * `cpus`: the CPU list it runs on (taskset), when BENCH_PIN is set.
 */
function start(name, command, args, env, ready, cpus) {
  // BENCH_PROFILE=<dir>: each gateway writes a V8 CPU profile there when it exits.
  if (process.env.BENCH_PROFILE && command === process.execPath && args.at(-1)?.endsWith('main.js')) {
    args = ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE, '--cpu-prof-name', `${name.replace(/[^\w.+-]+/g, '_')}.cpuprofile`, ...args];
  }
  if (cpus) {
    args = ['-c', cpus, command, ...args];
    command = 'taskset';
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: here, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    const onData = (chunk) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        child.stdout.off('data', onData);
        // Keep draining output so a chatty process never blocks on a full pipe.
        child.stdout.resume();
        resolve({ name, child, pid: child.pid, port: Number(match[1]) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`)));
    setTimeout(() => reject(new Error(`${name} did not start in 20 s:\n${output}`)), 20_000).unref();
  });
}

/** A dashboard viewer: the snapshot each second, as the page polls it, for as long as the bench runs. */
function pollSnapshot(url) {
  const timer = setInterval(() => fetch(url).then((res) => res.arrayBuffer()).catch(() => undefined), 1_000);
  timer.unref();
}

function cpuTicks(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/**
 * Waits until every process of the bench has been idle for half a second (at most 15 s), so that
 * one target's leftovers (a peer still draining failed streams, a collector catching up) do not
 * land on the next target's run.
 */
async function quiesce() {
  const pids = children.map((child) => child.pid);
  const deadline = Date.now() + 15_000;
  let quiet = 0;
  let last = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  while (quiet < 5 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    // Clock ticks are 10 ms: at most one tick in 100 ms across all processes counts as idle.
    quiet = now - last <= 1 ? quiet + 1 : 0;
    last = now;
  }
}

function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
  } catch {
    return null;
  }
}

/** Samples the RSS of `pids` every 100 ms while `work` runs; returns the work's result and the peak. */
async function withPeakRss(pids, work) {
  let peak = 0;
  const sample = () => {
    const total = pids.reduce((sum, pid) => sum + (rssMb(pid) ?? 0), 0);
    peak = Math.max(peak, total);
  };
  sample();
  const timer = setInterval(sample, 100);
  try {
    return { result: await work(), rssMb: peak };
  } finally {
    clearInterval(timer);
    sample();
  }
}

/** How a translated Responses stream ends: its response.completed event's last bytes. */
const RESPONSES_TAIL = '"metadata":{}}}\n\n';
const chat = (extra = {}) =>
  JSON.stringify({ model: 'accounts/fireworks/models/llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'Say hello.' }], ...extra });
const bigPrompt = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(32_768 / 27)).slice(0, 32_768);
const SCENARIOS = [
  { id: 'chat-c1', label: 'chat, small, c=1', path: '/chat/completions', body: chat(), connections: 1 },
  { id: 'chat-c50', label: 'chat, small, c=50', path: '/chat/completions', body: chat(), connections: 50 },
  { id: 'chat-c500', label: 'chat, small, c=500', path: '/chat/completions', body: chat(), connections: 500 },
  {
    id: 'chat32k-c50',
    label: 'chat, 32 KB prompt, c=50',
    path: '/chat/completions',
    body: chat({ messages: [{ role: 'user', content: bigPrompt }] }),
    connections: 50,
  },
  { id: 'stream100-c1', label: 'stream 100 chunks, c=1', path: '/chat/completions', body: chat({ model: 'bench-stream-100', stream: true }), connections: 1, stream: true },
  { id: 'stream100-c50', label: 'stream 100 chunks, c=50', path: '/chat/completions', body: chat({ model: 'bench-stream-100', stream: true }), connections: 50, stream: true },
  { id: 'stream100-c500', label: 'stream 100 chunks, c=500', path: '/chat/completions', body: chat({ model: 'bench-stream-100', stream: true }), connections: 500, stream: true },
  { id: 'stream1000-c50', label: 'stream 1000 chunks, c=50', path: '/chat/completions', body: chat({ model: 'bench-stream-1000', stream: true }), connections: 50, stream: true },
  {
    id: 'embeddings-c50',
    label: 'embeddings, c=50',
    path: '/embeddings',
    body: JSON.stringify({ model: 'nomic-ai/nomic-embed-text-v1.5', input: 'The quick brown fox.', encoding_format: 'float' }),
    connections: 50,
  },
  {
    id: 'streams2000',
    label: `${STREAMS} open streams (100 chunks, 50 ms apart)`,
    path: '/chat/completions',
    body: chat({ model: 'bench-slow-100-50', stream: true }),
    concurrent: STREAMS,
    stream: true,
  },
  // `translates`: the pass-through scenario that sends the same request without translation.
  // max_tokens, which Anthropic requires, is sent by the client: Portkey does not add it.
  {
    id: 'anthropic-chat-c50',
    label: 'chat, small, c=50, translated',
    path: '/chat/completions',
    body: chat({ model: 'claude-bench', max_tokens: 256 }),
    connections: 50,
    translates: 'chat-c50',
  },
  {
    id: 'anthropic-stream100-c50',
    label: 'stream 100 chunks, c=50, translated',
    path: '/chat/completions',
    body: chat({ model: 'bench-stream-100', stream: true, max_tokens: 256 }),
    connections: 50,
    stream: true,
    translates: 'stream100-c50',
  },
  {
    id: 'bedrock-stream100-c50',
    label: 'stream 100 chunks, c=50, translated to Bedrock',
    path: '/chat/completions',
    body: chat({ model: 'bench-stream-100', stream: true, max_tokens: 256 }),
    connections: 50,
    stream: true,
    translates: 'stream100-c50',
    provider: 'bedrock',
  },
  // Inbound APIs translated to the OpenAI-compatible upstream's chat completions and back.
  {
    id: 'messages-stream100-c50',
    label: 'stream 100 chunks, c=50, /v1/messages in',
    path: '/messages',
    body: JSON.stringify({ model: 'bench-stream-100', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Say hello.' }] }),
    connections: 50,
    stream: true,
    expectTail: 'data: {"type":"message_stop"}\n\n',
    translates: 'stream100-c50',
    provider: 'fireworks-messages',
  },
  {
    id: 'responses-stream100-c50',
    label: 'stream 100 chunks, c=50, /v1/responses in',
    path: '/responses',
    body: JSON.stringify({ model: 'bench-stream-100', stream: true, input: 'Say hello.' }),
    connections: 50,
    stream: true,
    expectTail: RESPONSES_TAIL,
    translates: 'stream100-c50',
    provider: 'deepseek-responses',
  },
  // Routes (bench/routes.yaml), each beside the request that names no route. `translates` pairs
  // them as it pairs a translation with its pass-through run.
  {
    id: 'route-chat-c50',
    label: 'chat, small, c=50, route of two, primary healthy',
    path: '/chat/completions',
    body: chat({ model: 'bench-route-chat' }),
    connections: 50,
    translates: 'chat-c50',
    provider: 'route',
  },
  {
    id: 'route-stream100-c50',
    label: 'stream 100 chunks, c=50, route of two, primary healthy',
    path: '/chat/completions',
    body: chat({ model: 'bench-route-stream', stream: true }),
    connections: 50,
    stream: true,
    translates: 'stream100-c50',
    provider: 'route',
  },
  {
    id: 'route-down-chat-c50',
    label: 'chat, small, c=50, route, primary down, breaker open',
    path: '/chat/completions',
    body: chat({ model: 'bench-down-chat' }),
    connections: 50,
    translates: 'chat-c50',
    provider: 'route',
  },
  {
    id: 'route-down-stream100-c50',
    label: 'stream 100 chunks, c=50, route, primary down, breaker open',
    path: '/chat/completions',
    body: chat({ model: 'bench-down-stream', stream: true }),
    connections: 50,
    stream: true,
    translates: 'stream100-c50',
    provider: 'route',
  },
].filter((s) => !only || only.includes(s.id));

/** Whether a scenario sends its request to a route (bench/routes.yaml) rather than translating it. */
const isRoute = (scenario) => scenario.provider === 'route';

/** A port on 127.0.0.1 that nothing listens on: a provider that is down. */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The CPUs of this machine not in `list` (taskset's form: `1`, `0,2`, `2-3`). */
function otherCpus(list) {
  const taken = new Set();
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map(Number);
    for (let cpu = from; cpu <= to; cpu++) taken.add(cpu);
  }
  const rest = cpus().map((_, cpu) => cpu).filter((cpu) => !taken.has(cpu));
  if (!rest.length) throw new Error(`BENCH_PIN=${list} leaves no CPU for the load generator and the upstream`);
  return rest.join(',');
}

async function main() {
  // The load generator is this process: all its threads go to the CPUs the targets leave.
  if (PIN_REST) execFileSync('taskset', ['-a', '-p', '-c', PIN_REST, String(process.pid)], { stdio: 'ignore' });
  const builds = BASELINES.map((ref) => ({ ref, ...buildBaseline(root, ref) }));
  const upstream = await start('upstream', process.execPath, ['upstream.mjs'], {}, /listening (\d+)/, PIN_REST);
  const upstreamOrigin = `http://127.0.0.1:${upstream.port}`;
  const upstreamUrl = `${upstreamOrigin}/inference/v1`;
  const targets = [];
  targets.push({ name: 'direct', url: upstreamUrl, headers: {}, pids: [] });
  const pass = await start('passthrough', process.execPath, ['passthrough.mjs'], { UPSTREAM: upstreamUrl }, /listening (\d+)/, PIN_TARGETS);
  targets.push({ name: 'passthrough', url: `http://127.0.0.1:${pass.port}/v1`, headers: {}, pids: [pass.pid] });
  // Portkey takes seconds and a few hundred MB to start: only when it is measured.
  if (!onlyTargets || onlyTargets.includes('portkey')) {
    const portkeyPort = upstream.port + 1;
    const portkey = await start(
      'portkey',
      process.execPath,
      [join(here, 'node_modules/@portkey-ai/gateway/build/start-server.js'), '--headless', `--port=${portkeyPort}`],
      { NODE_ENV: 'production' },
      new RegExp(`running at:[\\s\\S]*:(${portkeyPort})`),
      PIN_TARGETS,
    );
    targets.push({
      name: 'portkey',
      url: `http://127.0.0.1:${portkey.port}/v1`,
      headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstreamUrl },
      // Portkey appends /messages to the custom host and sends the bearer key as x-api-key.
      translatedHeaders: { anthropic: { 'x-portkey-provider': 'anthropic', 'x-portkey-custom-host': `${upstreamOrigin}/v1` } },
      pids: [portkey.pid],
    });
  }
  const gatewayPort = upstream.port + 2;
  const gatewayProviders = { FIREWORKS_BASE_URL: upstreamUrl, ANTHROPIC_BASE_URL: upstreamOrigin, ANTHROPIC_API_KEY: ANTHROPIC_KEY, BEDROCK_BASE_URL: upstreamOrigin, ...AWS, DEEPSEEK_BASE_URL: upstreamUrl };
  // The routes only when a route scenario runs (an older build, BENCH_BASELINE, may not read them);
  // their primary that is down is Groq, at a port nothing listens on.
  // A route's targets send the gateway's keys, never the client's: each provider of the routes gets one.
  const routes = SCENARIOS.some(isRoute)
    ? { CONFIG_FILE: join(here, 'routes.yaml'), GROQ_BASE_URL: `http://127.0.0.1:${await closedPort()}/openai/v1`, FIREWORKS_API_KEY: 'fw_bench_server_key', DEEPSEEK_API_KEY: 'bench-server-key', GROQ_API_KEY: 'bench-server-key' }
    : {};
  const gateway = await start(
    'ai-gateway',
    process.execPath,
    [process.env.BENCH_GATEWAY_MAIN ?? join(root, 'dist/src/main.js')],
    { PORT: String(gatewayPort), LOG_LEVEL: 'info', ...gatewayProviders, ...routes },
    /listening on http:\/\/[\d.]+:(\d+)/,
    PIN_TARGETS,
  );
  const gatewayHeaders = {
    headers: { 'x-provider': 'fireworks' },
    translatedHeaders: {
      anthropic: { 'x-provider': 'anthropic' },
      bedrock: { 'x-provider': 'bedrock' },
      'fireworks-messages': { 'x-provider': 'fireworks' },
      // DeepSeek does not serve the Responses API (Fireworks does, and would be passed through).
      'deepseek-responses': { 'x-provider': 'deepseek' },
      // The route, named by the model, picks the provider.
      route: {},
    },
  };
  targets.push({ name: 'ai-gateway', url: `http://127.0.0.1:${gateway.port}/v1`, ...gatewayHeaders, pids: [gateway.pid] });
  for (const build of builds) {
    const name = `ai-gateway@${build.ref}`;
    const baseline = await start(
      name,
      process.execPath,
      [build.main],
      // Port 0: the system picks a free one, which the gateway prints.
      { PORT: '0', LOG_LEVEL: 'info', ...gatewayProviders },
      /listening on http:\/\/[\d.]+:(\d+)/,
      PIN_TARGETS,
    );
    // An older build may not know a provider or an inbound API: its failures show in the table. It
    // is given no routes, and sits the route scenarios out.
    const { route: _route, ...unrouted } = gatewayHeaders.translatedHeaders;
    targets.push({ name, url: `http://127.0.0.1:${baseline.port}/v1`, ...gatewayHeaders, translatedHeaders: unrouted, pids: [baseline.pid] });
  }
  // This build again with metrics off, and with metrics and OpenTelemetry on (traces and GenAI
  // metrics exported to an OTLP/HTTP receiver on loopback): what observation costs, side by side.
  if (process.env.BENCH_OBSERVE) {
    const sink = await start('otlp-sink', process.execPath, ['otlp-sink.mjs'], {}, /listening (\d+)/, PIN_REST);
    const variants = [
      ['ai-gateway METRICS=off', { METRICS: 'off' }],
      ['ai-gateway +OTel', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.port}`, OTEL_METRIC_EXPORT_INTERVAL: '5000' }],
      // One trace in ten, and in a hundred, kept (the others' spans are never recorded), as a busy gateway would run.
      ...[
        ['1/10', '0.1'],
        ['1/100', '0.01'],
      ].map(([label, ratio]) => [
        `ai-gateway +OTel ${label}`,
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.port}`, OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: ratio },
      ]),
    ];
    for (const [name, env] of variants) {
      const variant = await start(name, process.execPath, [join(root, 'dist/src/main.js')], { PORT: '0', LOG_LEVEL: 'info', ...gatewayProviders, ...routes, ...env }, /listening on http:\/\/[\d.]+:(\d+)/, PIN_TARGETS);
      targets.push({ name, url: `http://127.0.0.1:${variant.port}/v1`, ...gatewayHeaders, pids: [variant.pid] });
    }
  }
  // This build with a gateway key whose limits every request reserves and settles: in this process,
  // and in a redis-server on loopback (one round trip per request on the request's path).
  if (process.env.BENCH_GOVERNANCE) {
    const keyed = { CONFIG_FILE: join(here, 'keys.yaml'), FIREWORKS_API_KEY: KEY };
    const variants = [['ai-gateway +keys', keyed]];
    if (existsSync('/usr/bin/redis-server')) {
      const redisPort = await closedPort();
      const redis = spawn('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      children.push(redis);
      if (PIN_REST) execFileSync('taskset', ['-pc', PIN_REST, String(redis.pid)], { stdio: 'ignore' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      variants.push(['ai-gateway +keys Redis', { ...keyed, REDIS_URL: `redis://127.0.0.1:${redisPort}` }]);
    }
    for (const [name, env] of variants) {
      const variant = await start(name, process.execPath, [join(root, 'dist/src/main.js')], { PORT: '0', LOG_LEVEL: 'info', ...gatewayProviders, ...env }, /listening on http:\/\/[\d.]+:(\d+)/, PIN_TARGETS);
      targets.push({ name, url: `http://127.0.0.1:${variant.port}/v1`, headers: { 'x-provider': 'fireworks', authorization: 'Bearer gk-bench-0000000000000000' }, pids: [variant.pid] });
      // The same gateway, with a key that has a rate limit alone.
      targets.push({ name: `${name} rpm`, url: `http://127.0.0.1:${variant.port}/v1`, headers: { 'x-provider': 'fireworks', authorization: 'Bearer gk-bench-rpm-000000000000' }, pids: [variant.pid] });
      // And with a key that has no limits: what authentication alone costs.
      targets.push({ name: `${name} no limits`, url: `http://127.0.0.1:${variant.port}/v1`, headers: { 'x-provider': 'fireworks', authorization: 'Bearer gk-bench-none-000000000000' }, pids: [variant.pid] });
    }
  }
  // This build with the dashboard off, and on with viewers polling its snapshot once a second as the
  // page does (`ai-gateway` itself runs it on, nobody looking): what a dashboard costs the request path.
  if (process.env.BENCH_DASHBOARD) {
    // Off last: each round then runs the viewers right after the dashboard on with nobody looking, and off after them.
    const variants = [
      ['ai-gateway +1 viewer', {}, 1],
      ['ai-gateway +10 viewers', {}, 10],
      ['ai-gateway DASHBOARD=off', { DASHBOARD: 'off' }, 0],
    ];
    for (const [name, env, viewers] of variants) {
      const variant = await start(name, process.execPath, [join(root, 'dist/src/main.js')], { PORT: '0', LOG_LEVEL: 'info', ...gatewayProviders, ...env }, /listening on http:\/\/[\d.]+:(\d+)/, PIN_TARGETS);
      targets.push({ name, url: `http://127.0.0.1:${variant.port}/v1`, ...gatewayHeaders, pids: [variant.pid] });
      for (let viewer = 0; viewer < viewers; viewer++) pollSnapshot(`http://127.0.0.1:${variant.port}/ui/api/snapshot`);
    }
  }
  if (process.env.BENCH_WORKERS) {
    const workers = await start(
      'ai-gateway-workers',
      process.execPath,
      [join(root, 'dist/src/main.js')],
      { PORT: String(gatewayPort + 1), LOG_LEVEL: 'info', WORKERS: process.env.BENCH_WORKERS, ...gatewayProviders },
      /listening on http:\/\/[\d.]+:(\d+)/,
      PIN_TARGETS,
    );
    targets.push({
      name: `ai-gateway WORKERS=${process.env.BENCH_WORKERS}`,
      url: `http://127.0.0.1:${workers.port}/v1`,
      headers: { 'x-provider': 'fireworks' },
      translatedHeaders: { anthropic: { 'x-provider': 'anthropic' }, bedrock: { 'x-provider': 'bedrock' } },
      pids: [workers.pid],
      workersOf: workers.pid,
    });
  }
  const active = targets.filter((t) => !onlyTargets || onlyTargets.includes(t.name));

  // A translated scenario's provider: Anthropic unless it names another.
  const translatedHeaders = (target, scenario) => target.translatedHeaders?.[scenario.provider ?? 'anthropic'];
  for (const scenario of SCENARIOS.filter((s) => s.translates)) {
    const skipped = active.filter((t) => !translatedHeaders(t, scenario)).map((t) => t.name);
    if (skipped.length) process.stderr.write(`${scenario.id}: ${skipped.join(', ')} cannot ${isRoute(scenario) ? 'route' : 'translate'}, skipped there\n`);
  }

  const results = [];
  for (const group of groups(SCENARIOS)) {
    // Rounds go over every run of the group in turn, so that each meets the machine's drift alike;
    // a target's translated run comes right after its pass-through run, so that the two can be
    // compared round by round. The run with the median throughput stands for the target.
    const jobs = active.flatMap((target) =>
      group.filter((scenario) => !scenario.translates || translatedHeaders(target, scenario)).map((scenario) => ({ scenario, target, runs: [] })),
    );
    for (let round = 0; round < (group[0].concurrent ? 1 : REPEAT); round++) {
      for (const { scenario, target, runs } of jobs) {
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...(scenario.translates ? translatedHeaders(target, scenario) : target.headers) };
        const url = target.url + scenario.path;
        const pids = target.workersOf ? [target.workersOf, ...childPids(target.workersOf)] : target.pids;
        const expectTail = scenario.expectTail ?? (scenario.stream ? 'data: [DONE]\n\n' : undefined);
        await quiesce();
        process.stderr.write(`${scenario.label} -> ${target.name} ... `);
        const ticks = () => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
        const window = {};
        const onWindow = (edge) => (window[edge] = ticks());
        const { result, rssMb } = await withPeakRss(pids, () =>
          scenario.concurrent
            ? runConcurrent({ url, headers, body: scenario.body, count: scenario.concurrent, expectTail })
            : runLoad({ url, headers, body: scenario.body, connections: scenario.connections, durationMs: DURATION, warmupMs: warmupFor(scenario), expectTail, onWindow }),
        );
        // CPU time of the target's processes per answer in the recorded window (user + system, 10 ms clock ticks).
        const cpuUsPerRequest = pids.length && result.answered ? ((window.end - window.start) * 10_000) / result.answered : null;
        runs.push({
          scenario: scenario.id,
          label: scenario.label,
          ...(scenario.translates && { translates: scenario.translates, provider: scenario.provider ?? 'anthropic' }),
          target: target.name,
          rssMb: target.pids.length ? rssMb : null,
          cpuUsPerRequest,
          ...result,
        });
        process.stderr.write(
          scenario.concurrent
            ? `${result.completed}/${scenario.concurrent} complete, RSS ${rssMb.toFixed(0)} MB\n`
            : `${result.rps.toFixed(0)} req/s, p50 ${fmt(result.latency.p50)} ms, p99 ${fmt(result.latency.p99)} ms, CPU ${fmt(cpuUsPerRequest, 1)} µs/req, errors ${JSON.stringify(result.errors)}\n`,
        );
      }
    }
    for (const scenario of group) {
      for (const { runs } of jobs.filter((job) => job.scenario === scenario)) {
        const sorted = [...runs].sort((a, b) => (a.rps ?? 0) - (b.rps ?? 0));
        results.push({
          ...sorted[Math.floor(sorted.length / 2)],
          rounds: runs.length,
          rpsOfRounds: runs.map((r) => r.rps),
          p99OfRounds: runs.map((r) => r.latency?.p99 ?? null),
          cpuUsOfRounds: runs.map((r) => r.cpuUsPerRequest),
          // CPU per request varies less with the machine's load than throughput: its own median.
          cpuUsPerRequest: median(runs.map((r) => r.cpuUsPerRequest)),
        });
      }
    }
  }

  const date = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version };
  const baselines = Object.fromEntries(builds.map((b) => [`ai-gateway@${b.ref}`, b.commit]));
  const report = { date: new Date().toISOString(), machine, durationMs: DURATION, warmupMs: WARMUP, repeat: REPEAT, pin: PIN_TARGETS, pinRest: PIN_REST, baselines, results };
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `${date}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(markdown(report));
  console.log(`\nresults: ${file}`);
}

/** Scenarios in run order; a translated scenario joins the group of the one it translates, if selected. */
function groups(scenarios) {
  const list = [];
  for (const scenario of scenarios) {
    const group = scenario.translates && list.find((g) => g.some((s) => s.id === scenario.translates));
    if (group) group.push(scenario);
    else list.push([scenario]);
  }
  return list;
}

/** Hundreds of connections need longer to warm up: each opens upstream connections and JIT-compiles paths. */
function warmupFor(scenario) {
  return scenario.connections >= 500 ? Math.max(WARMUP, 3_000) : WARMUP;
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function median(values) {
  const known = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  return known.length ? known[Math.floor(known.length / 2)] : null;
}

const fmt = (n, digits = 2) => (n === null || n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '-');

export function markdown(report) {
  const lines = [
    `Machine: ${report.machine.cpus} cores (${report.machine.cpu}), Node ${report.machine.node}; ${report.durationMs / 1000} s per run after ${report.warmupMs / 1000} s warm-up (3 s at 500 connections); median of ${report.repeat ?? 1} rounds${report.pin ? `; targets pinned to CPU ${report.pin}, load generator and upstream to ${report.pinRest}` : ''}.`,
    '',
    '| scenario | target | req/s | p50 ms | p99 ms | added p50 ms | TTFB p50 ms | CPU µs/req | RSS MB | errors | req/s vs pass-through | CPU/req vs pass-through | req/s vs portkey | p99 vs pass-through |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  const by = (scenario, target) => report.results.find((r) => r.scenario === scenario && r.target === target);
  for (const r of report.results.filter((r) => !r.translates)) {
    const errors = errorList(r);
    if (r.completed !== undefined) {
      lines.push(`| ${r.label} | ${r.target} | ${r.completed} done | - | - | - | - | - | ${fmt(r.rssMb, 0)} | ${errors} | - | - | - | - |`);
      continue;
    }
    const direct = by(r.scenario, 'direct');
    const pass = by(r.scenario, 'passthrough');
    const portkey = by(r.scenario, 'portkey');
    const added = direct && r.latency.p50 !== null && direct.latency.p50 !== null ? r.latency.p50 - direct.latency.p50 : null;
    lines.push(
      `| ${r.label} | ${r.target} | ${fmt(r.rps, 0)} | ${fmt(r.latency.p50)} | ${fmt(r.latency.p99)} | ${r.target === 'direct' ? '-' : fmt(added, 3)} | ${fmt(r.ttfb.p50)} | ${fmt(r.cpuUsPerRequest, 1)} | ${fmt(r.rssMb, 0)} | ${errors} | ${ratio(r.rps, pass?.rps)} | ${pairedRatio(r, pass, 'cpuUsOfRounds', 'cpu')} | ${vsPortkey(r, portkey)} | ${ratio(r.latency.p99, pass?.latency.p99)} |`,
    );
  }
  const translated = report.results.filter((r) => r.translates && r.provider !== 'route');
  const routed = report.results.filter((r) => r.provider === 'route');
  if (translated.length) {
    // Translated scenarios: OpenAI chat in, Anthropic Messages or Bedrock Converse out. Each is shown under the
    // pass-through figures of the scenario it translates, measured in the same rounds, and compared
    // with ai-gateway passing that scenario through, round by round.
    lines.push(
      '',
      "Translated (OpenAI chat in, Anthropic Messages or Bedrock Converse out), under the pass-through figures of the same request measured in the same rounds. Ratios are medians of per-round ratios (a target's pass-through and translated runs go back to back in each round):",
      '',
      ...pairedTable(report, translated),
    );
  }
  if (routed.length) {
    lines.push(
      '',
      'Routes (bench/routes.yaml), under the figures of the same request naming no route (Fireworks alone), measured in the same rounds; ratios are medians of per-round ratios:',
      '',
      ...pairedTable(report, routed),
    );
  }
  return lines.join('\n');
}

/** Rows compared with ai-gateway's run of the scenario each `translates`, under that scenario's own rows. */
function pairedTable(report, rows) {
  const by = (scenario, target) => report.results.find((r) => r.scenario === scenario && r.target === target);
  const lines = [
    '| scenario | target | req/s | p50 ms | p99 ms | TTFB p50 ms | CPU µs/req | RSS MB | errors | req/s vs ai-gateway pass-through | CPU/req vs ai-gateway pass-through | req/s vs portkey | p99 vs ai-gateway pass-through |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  let previousBase;
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const group = rows.filter((r) => r.scenario === scenario);
    const base = group[0].translates;
    const gatewayPass = by(base, 'ai-gateway');
    // The pass-through rows once above the scenarios that share them.
    const reference = base === previousBase ? [] : ['passthrough', 'ai-gateway'].map((target) => by(base, target)).filter(Boolean);
    previousBase = base;
    for (const r of [...reference, ...group]) {
      const portkey = by(r.scenario, 'portkey');
      lines.push(
        `| ${r.label} | ${r.target} | ${fmt(r.rps, 0)} | ${fmt(r.latency.p50)} | ${fmt(r.latency.p99)} | ${fmt(r.ttfb.p50)} | ${fmt(r.cpuUsPerRequest, 1)} | ${fmt(r.rssMb, 0)} | ${errorList(r)} | ${pairedRatio(r, gatewayPass, 'rpsOfRounds', 'rps')} | ${pairedRatio(r, gatewayPass, 'cpuUsOfRounds', 'cpu')} | ${vsPortkey(r, portkey, true)} | ${pairedRatio(r, gatewayPass, 'p99OfRounds', 'p99')} |`,
      );
    }
  }
  return lines;
}

/**
 * The median over rounds of a's figure over b's in the same round; drift between rounds cancels
 * out. Falls back to the ratio of the medians for results without per-round figures.
 */
function pairedRatio(a, b, ofRounds, figure) {
  if (!a || !b) return '-';
  const pick = (r) => (figure === 'rps' ? r.rps : figure === 'cpu' ? r.cpuUsPerRequest : r.latency.p99);
  if (!a[ofRounds] || !b[ofRounds] || a[ofRounds].length !== b[ofRounds].length) return ratio(pick(a), pick(b));
  const ratios = a[ofRounds].map((x, i) => (x && b[ofRounds][i] ? x / b[ofRounds][i] : null)).filter((x) => x !== null).sort((x, y) => x - y);
  return ratios.length ? `${ratios[Math.floor(ratios.length / 2)].toFixed(2)}x` : '-';
}

const errorList = (r) => (Object.keys(r.errors).length ? Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join(', ') : '0');
/** Throughput relative to Portkey in the same scenario (`paired`: round by round), unless Portkey failed there. */
const vsPortkey = (r, portkey, paired = false) =>
  !portkey
    ? '-'
    : portkey.requests > 0 && Object.keys(portkey.errors).length === 0
      ? paired
        ? pairedRatio(r, portkey, 'rpsOfRounds', 'rps')
        : ratio(r.rps, portkey.rps)
      : 'portkey failed';

// Run as a script; imported (for `markdown`, to print an earlier results file), it runs nothing.
if (fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!existsSync(join(root, 'dist/src/main.js'))) {
    console.error('dist/src/main.js is missing: run `npm run build` at the project root first (npm run bench does).');
    process.exit(1);
  }
  try {
    await main();
  } finally {
    // A profiling gateway writes its profile as it exits: it is asked to stop, and given time to.
    if (process.env.BENCH_PROFILE) {
      const exits = children.filter((child) => child.exitCode === null).map((child) => new Promise((resolve) => child.once('exit', resolve)));
      for (const child of children) child.kill('SIGTERM');
      await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 15_000))]);
    }
    for (const child of children) child.kill('SIGKILL');
  }
}
