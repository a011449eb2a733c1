// The soak: SOAK_MINUTES (default 10) of mixed traffic at a fixed concurrency through a gateway
// that runs in a process of its own (bench/soak-gateway.mjs, with --expose-gc), against the
// simulators (in this process) with faults injected, sampled every SOAK_SAMPLE_SECONDS.
//
// The traffic: every inbound API (OpenAI chat completions, Anthropic Messages, OpenAI Responses,
// Gemini generateContent), to pass-through providers (Fireworks, Gemini) and translated ones
// (Anthropic, Bedrock, and the inbound APIs translated to Fireworks' chat), streams and whole
// answers, faults the gateway retries away, faults it answers with an error (statuses, resets,
// slow first bytes past the request's timeout), streams cut or failed mid-way, clients that leave
// mid-stream, and a route whose primary fails in turn in every way a fallback can recover from
// (statuses, resets, first bytes past the target's timeout, a stream that fails or drops before its
// first content) while its fallback is healthy. Each scenario says what its client must see.
//
// Each sample: the gateway's RSS, heap after a full collection, event-loop delay (p50, p99, max
// since the last sample) and open handles by kind. The verdict (bench/soak-verdict.mjs) is one
// PASS/FAIL line; the process exits 1 on FAIL. Results go to results/<date>-soak.json
// (SOAK_RESULT_FILE overrides the path).
//   SOAK_MINUTES (10), SOAK_CONCURRENCY (16), SOAK_SAMPLE_SECONDS (10), SOAK_WARMUP_MINUTES
//   (a fifth of the run, at most 2).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim } from '../dist/sim/anthropic.js';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY, startBedrockSim } from '../dist/sim/bedrock.js';
import { SIM_API_KEY, startFireworksSim } from '../dist/sim/fireworks.js';
import { simApiKey, startOpenAICompatibleSim } from '../dist/sim/openai-compatible.js';
import { verdict, verdictLine } from './soak-verdict.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const MS_PER_MINUTE = 60_000;
const MIB = 1024 * 1024;

function setting(name, fallback, min) {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min) {
    console.error(`${name} must be a number of at least ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}
const MINUTES = setting('SOAK_MINUTES', 10, 0.05);
const CONCURRENCY = Math.floor(setting('SOAK_CONCURRENCY', 16, 1));
const SAMPLE_MS = setting('SOAK_SAMPLE_SECONDS', 10, 0.1) * 1000;
/** A fifth of the run, at most two minutes: start-up, JIT, pools and the price table settle in it. */
const WARMUP_MS = setting('SOAK_WARMUP_MINUTES', Math.min(2, MINUTES / 5), 0) * MS_PER_MINUTE;
const DURATION_MS = MINUTES * MS_PER_MINUTE;

/** How long each of the primary's faults lasts before the next (the route's fallback must cover all). */
const PRIMARY_FAULT_PERIOD_MS = 5_000;
/** The primary's cap on one attempt; its slow-first-byte fault waits longer. */
const PRIMARY_TIMEOUT_MS = 500;
const PRIMARY_SLOW_FIRST_BYTE_MS = 1_500;
/** A request's timeout when the fault is a first byte slower than it (a 504 is expected). */
const SHORT_TIMEOUT_MS = 300;
const SLOW_FIRST_BYTE_MS = 1_000;
/** Nothing in the mix takes longer; past it the client gives up and counts a failure. */
const CLIENT_TIMEOUT_MS = 30_000;
/** The Responses API's item memory for the soak (see gatewayEnv). */
const RESPONSES_ITEMS_BYTES = 256 * 1024;
/** How long the gateway gets to finish its requests and exit once the traffic stops. */
const STOP_TIMEOUT_MS = 15_000;

const FIREWORKS_MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
const ANTHROPIC_MODEL = 'claude-haiku-4-5-20251001';
const BEDROCK_MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const GEMINI_MODEL = 'gemini-2.0-flash';
const GROQ_MODEL = 'llama-3.1-8b-instant';
const ROUTE = 'soak-fallback';

// Simulators: each provider on its own port; `primary` (a Groq host) serves only the route's
// first target, with the faults below in turn as its default, so no other traffic sees them.
const fireworks = await startFireworksSim({ port: 0, record: false });
const anthropic = await startAnthropicSim({ port: 0, record: false });
const bedrock = await startBedrockSim({ port: 0, record: false });
const gemini = await startOpenAICompatibleSim({ flavour: 'gemini', port: 0, record: false });
const primary = await startOpenAICompatibleSim({ flavour: 'groq', port: 0, record: false });
const sims = [fireworks, anthropic, bedrock, gemini, primary];

/** Every way the route's primary fails that a fallback can recover from, and a healthy spell. */
const PRIMARY_FAULTS = [
  { fail_ratio: 0.3, status: 503 },
  { fail_ratio: 0.3, reset: true },
  { fail_ratio: 0.3, status: 429, retry_after: '1' },
  { delay_ms: PRIMARY_SLOW_FIRST_BYTE_MS },
  { stream_error: { after: 0 }, fail_ratio: 0.5, status: 500 },
  { cut_after: 0, fail_ratio: 0.5, status: 502 },
  undefined,
];

const work = mkdtempSync(join(tmpdir(), 'ai-gateway-soak-'));
const configFile = join(work, 'gateway.yaml');
writeFileSync(
  configFile,
  `routes:
  ${ROUTE}:
    timeout_ms: ${CLIENT_TIMEOUT_MS / 2}
    breaker: {consecutive_failures: 5, open_ms: 2000}
    targets:
      - {provider: groq, model: ${GROQ_MODEL}, id: primary, timeout_ms: ${PRIMARY_TIMEOUT_MS}}
      - {provider: fireworks, model: ${FIREWORKS_MODEL}, id: fallback}
`,
);

const gatewayEnv = {
  PATH: process.env.PATH,
  HOST: '127.0.0.1',
  PORT: '0',
  FIREWORKS_BASE_URL: fireworks.url,
  FIREWORKS_API_KEY: SIM_API_KEY,
  ANTHROPIC_BASE_URL: anthropic.url,
  ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
  BEDROCK_BASE_URL: bedrock.url,
  AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
  AWS_REGION: 'us-east-1',
  GEMINI_BASE_URL: gemini.url,
  GEMINI_API_KEY: simApiKey('gemini'),
  GROQ_BASE_URL: primary.url,
  GROQ_API_KEY: simApiKey('groq'),
  // Retries of the faults that clear after one failure, quickly: the soak is about what stays.
  RETRY_BASE_DELAY_MS: '20',
  RETRY_MAX_DELAY_MS: '100',
  // The Responses API's item memory is bounded, but at its default (128 MiB, 10,000 items a
  // client) the soak's one client fills it for about ten minutes: growth by design. Bounded
  // smaller, it is full within the warm-up, and what the soak sees after it is whatever else grows.
  RESPONSES_ITEMS_MAX_BYTES: String(RESPONSES_ITEMS_BYTES),
};
const gateway = fork(join(here, 'soak-gateway.mjs'), ['--config', configFile], {
  cwd: join(here, '..'),
  env: gatewayEnv,
  execArgv: ['--expose-gc'],
  // The request log goes nowhere: its lines cost the gateway what they cost in production, and
  // nobody has to read them.
  stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
});
let gatewayErrors = '';
gateway.stderr.on('data', (chunk) => (gatewayErrors += chunk.toString()));
const gatewayExit = once(gateway, 'exit');
const [ready] = await Promise.race([
  once(gateway, 'message'),
  gatewayExit.then(([code]) => {
    throw new Error(`the gateway exited with ${code} before it listened:\n${gatewayErrors}`);
  }),
]);
const origin = `http://127.0.0.1:${ready.listening}`;
/** Set once the run asks the gateway to stop: an exit before that is the run's failure. */
let stopping = false;
void gatewayExit.then(([code, signal]) => {
  if (stopping) return;
  // A gateway that dies mid-run fails the soak with its own line, not with this script's stack trace.
  console.log(`FAIL: the gateway exited mid-run (${signal ? `signal ${signal}` : `code ${code}`})${gatewayErrors ? `; its last words: ${gatewayErrors.slice(-2_000).trim()}` : ''}`);
  process.exit(1);
});

// --- What each API's answers look like ---------------------------------------------------------

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const openAIError = (body) => isObject(body.error) && typeof body.error.message === 'string' && typeof body.error.type === 'string';
/** Per inbound API: its error body, its whole answer, and how its streams end (cleanly, or with its error event). */
const APIS = {
  chat: {
    errorBody: openAIError,
    answer: (body) => Array.isArray(body.choices) && body.choices.length > 0,
    finished: (text) => text.includes('\ndata: [DONE]') || text.startsWith('data: [DONE]'),
    failed: (text) => /^data: \{"error":/m.test(text),
  },
  responses: {
    errorBody: openAIError,
    answer: (body) => body.object === 'response' && body.status === 'completed' && Array.isArray(body.output),
    finished: (text) => /^event: response\.completed$/m.test(text),
    failed: (text) => /^event: (error|response\.failed)$/m.test(text),
  },
  messages: {
    errorBody: (body) => body.type === 'error' && isObject(body.error) && typeof body.error.type === 'string' && typeof body.error.message === 'string',
    answer: (body) => body.type === 'message' && Array.isArray(body.content),
    finished: (text) => /^event: message_stop$/m.test(text),
    failed: (text) => /^event: error$/m.test(text),
  },
  gemini: {
    errorBody: (body) => isObject(body.error) && typeof body.error.code === 'number' && typeof body.error.message === 'string' && typeof body.error.status === 'string',
    answer: (body) => Array.isArray(body.candidates) && body.candidates.length > 0,
    finished: (text) => /"finishReason":"STOP"/.test(text),
    failed: (text) => /^\{"error":/m.test(text),
  },
};

// --- The mix -------------------------------------------------------------------------------------

const chat = (extra = {}) => ({ model: FIREWORKS_MODEL, messages: [{ role: 'user', content: 'Say hello.' }], ...extra });
const messages = (extra = {}) => ({ model: ANTHROPIC_MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }], ...extra });
const responses = (extra = {}) => ({ model: FIREWORKS_MODEL, input: 'Say hello.', ...extra });
const contents = (extra = {}) => ({ contents: [{ role: 'user', parts: [{ text: 'Say hello.' }] }], ...extra });
/** A fault carried by OpenAI's `user`, which the translations send on as the provider's user metadata. */
const userFault = (fault) => `sim:${JSON.stringify(fault)}`;
const ANTHROPIC_HEADERS = { 'anthropic-version': '2023-06-01' };
const TO_ANTHROPIC = { ...ANTHROPIC_HEADERS, 'x-provider': 'anthropic' };
const NO_RETRY = { 'x-gateway-max-retries': '0' };
const STREAM_CUT = { chunks: 6, cut_after: 2 };
/** A stream long enough that the client leaves while it runs. */
const LONG_STREAM = { chunks: 40, chunk_delay_ms: 10 };
const geminiPath = (model, stream) => `/v1beta/models/${model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;

let serial = 0;
/** A key no other request uses: the simulator counts a `fail_first` fault's attempts per key. */
const freshKey = () => `soak-${++serial}`;

/**
 * name: { weight, api, path, headers, body(), stream, expect: ok | error-status | stream-error |
 * aborted, fallback (a request to the route with a fallback) }.
 */
const SCENARIOS = {
  // Pass-through, healthy.
  'chat fireworks': { weight: 4, api: 'chat', path: '/v1/chat/completions', body: () => chat(), expect: 'ok' },
  'chat fireworks stream': { weight: 4, api: 'chat', path: '/v1/chat/completions', body: () => chat({ stream: true }), stream: true, expect: 'ok' },
  'chat gemini stream': { weight: 2, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'gemini' }, body: () => chat({ model: GEMINI_MODEL, stream: true }), stream: true, expect: 'ok' },
  'messages anthropic stream': { weight: 2, api: 'messages', path: '/v1/messages', headers: TO_ANTHROPIC, body: () => messages({ stream: true }), stream: true, expect: 'ok' },
  'messages anthropic': { weight: 1, api: 'messages', path: '/v1/messages', headers: TO_ANTHROPIC, body: () => messages(), expect: 'ok' },
  'responses fireworks': { weight: 1, api: 'responses', path: '/v1/responses', body: () => responses(), expect: 'ok' },
  'responses fireworks stream': { weight: 2, api: 'responses', path: '/v1/responses', body: () => responses({ stream: true }), stream: true, expect: 'ok' },
  'gemini gemini': { weight: 1, api: 'gemini', path: geminiPath(GEMINI_MODEL, false), headers: { 'x-provider': 'gemini' }, body: () => contents(), expect: 'ok' },
  'gemini gemini stream': { weight: 2, api: 'gemini', path: geminiPath(GEMINI_MODEL, true), headers: { 'x-provider': 'gemini' }, body: () => contents(), stream: true, expect: 'ok' },
  // Translated, healthy.
  'chat anthropic': { weight: 2, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'anthropic' }, body: () => chat({ model: ANTHROPIC_MODEL }), expect: 'ok' },
  'chat anthropic stream': { weight: 3, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'anthropic' }, body: () => chat({ model: ANTHROPIC_MODEL, stream: true }), stream: true, expect: 'ok' },
  'chat bedrock': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'bedrock' }, body: () => chat({ model: BEDROCK_MODEL }), expect: 'ok' },
  'chat bedrock stream': { weight: 2, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'bedrock' }, body: () => chat({ model: BEDROCK_MODEL, stream: true }), stream: true, expect: 'ok' },
  'messages fireworks stream': { weight: 2, api: 'messages', path: '/v1/messages', headers: { ...ANTHROPIC_HEADERS, 'x-provider': 'fireworks' }, body: () => messages({ model: FIREWORKS_MODEL, stream: true }), stream: true, expect: 'ok' },
  'responses anthropic stream': { weight: 2, api: 'responses', path: '/v1/responses', headers: { 'x-provider': 'anthropic' }, body: () => responses({ model: ANTHROPIC_MODEL, stream: true }), stream: true, expect: 'ok' },
  'gemini fireworks stream': { weight: 2, api: 'gemini', path: geminiPath(FIREWORKS_MODEL, true), headers: { 'x-provider': 'fireworks' }, body: () => contents(), stream: true, expect: 'ok' },
  // Faults the gateway retries away, and a slow first byte within the budget.
  'chat fireworks 503 once': { weight: 1, api: 'chat', path: '/v1/chat/completions', body: () => chat({ sim: { key: freshKey(), status: 503, fail_first: 1 } }), expect: 'ok' },
  'chat anthropic 529 once': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'anthropic' }, body: () => chat({ model: ANTHROPIC_MODEL, user: userFault({ key: freshKey(), status: 529, fail_first: 1 }) }), expect: 'ok' },
  'chat fireworks slow first byte': { weight: 1, api: 'chat', path: '/v1/chat/completions', body: () => chat({ stream: true, sim: { delay_ms: 200 } }), stream: true, expect: 'ok' },
  // Faults the client must hear about, in its API's error body.
  'chat fireworks 429': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: NO_RETRY, body: () => chat({ sim: { status: 429 } }), expect: 'error-status' },
  'chat fireworks reset': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: NO_RETRY, body: () => chat({ sim: { reset: true } }), expect: 'error-status' },
  'chat fireworks timeout': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { ...NO_RETRY, 'x-gateway-timeout-ms': String(SHORT_TIMEOUT_MS) }, body: () => chat({ stream: true, sim: { delay_ms: SLOW_FIRST_BYTE_MS } }), stream: true, expect: 'error-status' },
  'chat bedrock 429': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { ...NO_RETRY, 'x-provider': 'bedrock' }, body: () => chat({ model: BEDROCK_MODEL, user: userFault({ status: 429 }) }), expect: 'error-status' },
  'messages anthropic 529': { weight: 1, api: 'messages', path: '/v1/messages', headers: { ...TO_ANTHROPIC, ...NO_RETRY }, body: () => messages({ sim: { status: 529 } }), expect: 'error-status' },
  'responses fireworks 500': { weight: 1, api: 'responses', path: '/v1/responses', headers: NO_RETRY, body: () => responses({ sim: { status: 500 } }), expect: 'error-status' },
  'gemini gemini 503': { weight: 1, api: 'gemini', path: geminiPath(GEMINI_MODEL, false), headers: { ...NO_RETRY, 'x-provider': 'gemini' }, body: () => contents({ sim: { status: 503 } }), expect: 'error-status' },
  // Streams that break after they began: the client's API's error event must end them.
  'chat fireworks stream cut': { weight: 1, api: 'chat', path: '/v1/chat/completions', body: () => chat({ stream: true, sim: STREAM_CUT }), stream: true, expect: 'stream-error' },
  'chat fireworks stream error': { weight: 1, api: 'chat', path: '/v1/chat/completions', body: () => chat({ stream: true, sim: { chunks: 6, stream_error: { after: 2 } } }), stream: true, expect: 'stream-error' },
  'chat anthropic stream error': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'anthropic' }, body: () => chat({ model: ANTHROPIC_MODEL, stream: true, user: userFault({ chunks: 6, stream_error: { after: 2, type: 'overloaded_error' } }) }), stream: true, expect: 'stream-error' },
  'chat bedrock stream exception': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'bedrock' }, body: () => chat({ model: BEDROCK_MODEL, stream: true, user: userFault({ chunks: 6, stream_exception: { after: 2, type: 'throttlingException' } }) }), stream: true, expect: 'stream-error' },
  'messages anthropic stream cut': { weight: 1, api: 'messages', path: '/v1/messages', headers: TO_ANTHROPIC, body: () => messages({ stream: true, sim: STREAM_CUT }), stream: true, expect: 'stream-error' },
  'responses fireworks stream cut': { weight: 1, api: 'responses', path: '/v1/responses', body: () => responses({ stream: true, sim: STREAM_CUT }), stream: true, expect: 'stream-error' },
  'gemini gemini stream cut': { weight: 1, api: 'gemini', path: geminiPath(GEMINI_MODEL, true), headers: { 'x-provider': 'gemini' }, body: () => contents({ sim: STREAM_CUT }), stream: true, expect: 'stream-error' },
  // Clients that leave mid-stream.
  'chat fireworks abort': { weight: 1, api: 'chat', path: '/v1/chat/completions', body: () => chat({ stream: true, sim: LONG_STREAM }), stream: true, expect: 'aborted' },
  'messages anthropic abort': { weight: 1, api: 'messages', path: '/v1/messages', headers: TO_ANTHROPIC, body: () => messages({ stream: true, sim: LONG_STREAM }), stream: true, expect: 'aborted' },
  'chat bedrock abort': { weight: 1, api: 'chat', path: '/v1/chat/completions', headers: { 'x-provider': 'bedrock' }, body: () => chat({ model: BEDROCK_MODEL, stream: true, user: userFault(LONG_STREAM) }), stream: true, expect: 'aborted' },
  // The route with a fallback: never lost.
  'route chat': { weight: 3, api: 'chat', path: '/v1/chat/completions', body: () => chat({ model: ROUTE }), expect: 'ok', fallback: true },
  'route chat stream': { weight: 3, api: 'chat', path: '/v1/chat/completions', body: () => chat({ model: ROUTE, stream: true }), stream: true, expect: 'ok', fallback: true },
  'route messages stream': { weight: 2, api: 'messages', path: '/v1/messages', headers: ANTHROPIC_HEADERS, body: () => messages({ model: ROUTE, stream: true }), stream: true, expect: 'ok', fallback: true },
};
const SCHEDULE = Object.entries(SCENARIOS).flatMap(([name, scenario]) => Array.from({ length: scenario.weight }, () => name));

const tally = {
  requests: 0,
  scenarios: Object.fromEntries(Object.keys(SCENARIOS).map((name) => [name, {}])),
  fallback: { requests: 0, lost: 0, servedBy: {} },
  withoutErrorBody: {},
  unexpected: {},
  /** The first answer of each kind of failure that counts against the verdict, for whoever reads why. */
  examples: {},
};
const count = (counts, kind) => (counts[kind] = (counts[kind] ?? 0) + 1);
/** An example's length in the report: the start of an error body says what it was. */
const EXAMPLE_CHARS = 300;
function countFailure(counts, kind, text) {
  count(counts, kind);
  if (tally.examples[kind] === undefined) tally.examples[kind] = (text ?? '').slice(0, EXAMPLE_CHARS);
}

const agent = new Agent({ connections: CONCURRENCY, headersTimeout: CLIENT_TIMEOUT_MS, bodyTimeout: CLIENT_TIMEOUT_MS });

/** What the client saw: ok, error-status, stream-error, aborted, or what went wrong. */
async function send(scenario) {
  const api = APIS[scenario.api];
  let response;
  try {
    response = await request(`${origin}${scenario.path}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...scenario.headers },
      body: JSON.stringify(scenario.body()),
    });
  } catch (err) {
    return { outcome: `no answer (${err.code ?? err.message})` };
  }
  const { statusCode } = response;
  // A route's answer names the target that served it: how often the fallback had to.
  const target = response.headers['x-gateway-target'];
  if (scenario.expect === 'aborted' && statusCode === 200) {
    // The first chunk, then the client leaves: undici closes the connection.
    for await (const _chunk of response.body) break;
    return { outcome: 'aborted' };
  }
  let text;
  try {
    text = await response.body.text();
  } catch (err) {
    return statusCode === 200 && scenario.stream
      ? { outcome: 'stream cut', missingBody: `${scenario.api} stream cut without its error event` }
      : { outcome: `body not read (${err.code ?? err.message})`, missingBody: `${scenario.api} ${statusCode} body not read` };
  }
  if (statusCode < 200 || statusCode > 299) {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!isObject(body) || !api.errorBody(body)) return { outcome: `${statusCode}`, missingBody: `${scenario.api} ${statusCode} without its error body`, text };
    return { outcome: 'error-status', status: statusCode, text };
  }
  if (scenario.stream) {
    if (api.failed(text)) return { outcome: 'stream-error', text };
    if (api.finished(text)) return { outcome: 'ok', target };
    return { outcome: 'stream ended early', missingBody: `${scenario.api} stream ended early without its error event`, text: text.slice(-EXAMPLE_CHARS) };
  }
  try {
    if (api.answer(JSON.parse(text))) return { outcome: 'ok', target };
  } catch {
    // An unreadable 200 is counted below.
  }
  return { outcome: '200 unreadable' };
}

async function sendAndCount(name) {
  const scenario = SCENARIOS[name];
  const seen = await send(scenario);
  tally.requests++;
  count(tally.scenarios[name], seen.outcome);
  if (seen.missingBody !== undefined) countFailure(tally.withoutErrorBody, seen.missingBody, seen.text);
  if (scenario.fallback) {
    tally.fallback.requests++;
    if (seen.target !== undefined) count(tally.fallback.servedBy, seen.target);
    if (seen.outcome !== 'ok') {
      tally.fallback.lost++;
      if (tally.examples[`lost: ${name}`] === undefined) tally.examples[`lost: ${name}`] = `${seen.outcome} ${seen.status ?? ''} ${(seen.text ?? '').slice(0, EXAMPLE_CHARS)}`;
    }
  } else if (seen.missingBody === undefined && seen.outcome !== scenario.expect) {
    countFailure(tally.unexpected, `${name}: ${seen.outcome}${seen.status ? ` ${seen.status}` : ''}, not ${scenario.expect}`, seen.text);
  }
}

// --- Samples -------------------------------------------------------------------------------------

const pendingSamples = new Map();
let sampleId = 0;
gateway.on('message', (message) => {
  const resolve = pendingSamples.get(message.sampled);
  if (resolve === undefined) return;
  pendingSamples.delete(message.sampled);
  resolve(message);
});
function sampleGateway() {
  const id = ++sampleId;
  return new Promise((resolve) => {
    pendingSamples.set(id, resolve);
    gateway.send({ sample: id });
  });
}

const samples = [];
const started = Date.now();
let lastRequests = 0;
let lastAt = started;
const mb = (bytes) => (bytes / MIB).toFixed(1);
const handleText = (handles) =>
  Object.entries(handles)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind.replace(/Wrap$/, '')} ${n}`)
    .join(', ');

console.log(
  `soak: ${MINUTES} min at concurrency ${CONCURRENCY}, ${Object.keys(SCENARIOS).length} scenarios, ` +
    `samples every ${SAMPLE_MS / 1000} s, warm-up ${(WARMUP_MS / MS_PER_MINUTE).toFixed(2)} min; gateway pid ${gateway.pid}`,
);
console.log('| t (s) | req/s | RSS MB | heap after GC MB | full GC ms | loop delay p50 / p99 / max ms | open handles |');
console.log('|---:|---:|---:|---:|---:|---|---|');
/** Takes a sample; one after the traffic (`idle`) is printed and kept apart, not judged with the rest. */
async function takeSample(idle = false) {
  const now = Date.now();
  const reading = await sampleGateway();
  const sample = {
    tMs: now - started,
    requests: tally.requests,
    rps: ((tally.requests - lastRequests) * 1000) / (now - lastAt),
    rssBytes: reading.rssBytes,
    heapUsedBytes: reading.heapUsedBytes,
    heapTotalBytes: reading.heapTotalBytes,
    externalBytes: reading.externalBytes,
    arrayBuffersBytes: reading.arrayBuffersBytes,
    eventLoopDelayMs: reading.eventLoopDelayMs,
    gcMs: reading.gcMs,
    handles: reading.handles,
  };
  lastRequests = tally.requests;
  lastAt = now;
  if (!idle) samples.push(sample);
  const delay = sample.eventLoopDelayMs;
  console.log(
    `| ${(sample.tMs / 1000).toFixed(0)}${idle ? ' (idle)' : ''} | ${sample.rps.toFixed(0)} | ${mb(sample.rssBytes)} | ${mb(sample.heapUsedBytes)} | ${sample.gcMs.toFixed(1)} | ` +
      `${delay.p50.toFixed(1)} / ${delay.p99.toFixed(1)} / ${delay.max.toFixed(1)} | ${handleText(sample.handles)} |`,
  );
  return sample;
}

// --- Run -----------------------------------------------------------------------------------------

let faultIndex = 0;
const rotateFaults = setInterval(() => {
  faultIndex = (faultIndex + 1) % PRIMARY_FAULTS.length;
  primary.setDefaultFault(PRIMARY_FAULTS[faultIndex]);
}, PRIMARY_FAULT_PERIOD_MS);
primary.setDefaultFault(PRIMARY_FAULTS[0]);

const deadline = started + DURATION_MS;
let next = 0;
async function client() {
  while (Date.now() < deadline) {
    // Interleaved, not random: every scenario runs at its weight from the first seconds on.
    const name = SCHEDULE[next++ % SCHEDULE.length];
    await sendAndCount(name);
  }
}
const sampler = setInterval(() => void takeSample(), SAMPLE_MS);
await Promise.all(Array.from({ length: CONCURRENCY }, client));
clearInterval(sampler);
clearInterval(rotateFaults);
// What the gateway holds once every request has ended: its pools' idle connections, no timers.
const afterTraffic = await takeSample(true);

const judged = verdict({ samples, warmupMs: WARMUP_MS, tally });
const line = verdictLine(judged);

stopping = true;
gateway.send({ stop: true });
const stopTimer = setTimeout(() => gateway.kill('SIGKILL'), STOP_TIMEOUT_MS);
await gatewayExit;
clearTimeout(stopTimer);
await agent.close();
await Promise.all(sims.map((sim) => sim.close()));
rmSync(work, { recursive: true, force: true });

console.log('\n| scenario | expected | seen |');
console.log('|---|---|---|');
for (const [name, outcomes] of Object.entries(tally.scenarios)) {
  const seen = Object.entries(outcomes)
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(', ');
  console.log(`| ${name} | ${SCENARIOS[name].expect} | ${seen} |`);
}
const grew = judged.growth;
if (grew.judged) {
  console.log(
    `\nafter the warm-up (${grew.samples} samples, thirds of ${grew.windowSamples}): heap after GC ${mb(grew.heap.firstBytes)} → ${mb(grew.heap.lastBytes)} MB ` +
      `(slope ${(grew.heap.slopeBytesPerMinute / 1024).toFixed(1)} KB/min), RSS ${mb(grew.rss.firstBytes)} → ${mb(grew.rss.lastBytes)} MB ` +
      `(slope ${(grew.rss.slopeBytesPerMinute / 1024).toFixed(1)} KB/min)`,
  );
}
const seconds = (Date.now() - started) / 1000;
console.log(
  `${tally.requests} requests (${(tally.requests / (DURATION_MS / 1000)).toFixed(0)}/s), ${tally.fallback.requests} to the fallback route ` +
    `(served by ${Object.entries(tally.fallback.servedBy).map(([target, n]) => `${target} ${n}`).join(', ')})`,
);

const date = new Date(started).toISOString();
const report = {
  date,
  kind: 'soak',
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model.trim(), node: process.version },
  minutes: MINUTES,
  concurrency: CONCURRENCY,
  sampleMs: SAMPLE_MS,
  warmupMs: WARMUP_MS,
  elapsedSeconds: seconds,
  primaryFaults: PRIMARY_FAULTS,
  scenarios: Object.fromEntries(Object.entries(SCENARIOS).map(([name, scenario]) => [name, { api: scenario.api, expect: scenario.expect, weight: scenario.weight, fallback: scenario.fallback === true }])),
  tally,
  samples,
  afterTraffic,
  growth: grew,
  pass: judged.pass,
  reasons: judged.reasons,
  verdict: line,
};
const file = process.env.SOAK_RESULT_FILE || join(here, 'results', `${date.replace(/:/g, '-').replace(/\.\d+Z$/, '')}-soak.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(`results: ${file}`);
for (const [kind, example] of Object.entries(tally.examples)) console.log(`first of "${kind}": ${example}`);
if (gatewayErrors.trim() !== '') console.log(`gateway stderr:\n${gatewayErrors.trim()}`);
console.log(line);
process.exitCode = judged.pass ? 0 : 1;
