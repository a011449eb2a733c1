// Routes under sustained load whose primary fails in each way a provider fails (30% 5xx, reset
// connections, a closed port, a 429 storm, a slow first token, a stream that errs after its first
// event), with a healthy fallback: every client request must succeed, for chat (whole and
// streamed), /v1/messages, /v1/responses and the Gemini API, driven by their own SDKs. Each
// scenario mixes every API over one pool of concurrent clients and prints, per API, how many
// requests were sent, failed, failed over, skipped the primary (breaker open, key resting) and
// were hedged, read from the gateway's request lines and the simulators' records.
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import OpenAI from 'openai';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { closedPort, collectLines, GROQ_MODEL, KEY, MODEL, requestLines, startGateway } from './helpers.js';

/** Requests per API in each scenario; the scenario mixes every API, so it sends this many times the APIs. */
const PER_LANE = Number(process.env.ROUTE_FAULT_REQUESTS ?? 80);
/** Client requests in flight at once, across the APIs. */
const CONCURRENCY = 24;
const PLACEHOLDER = 'use-server-key';
const GROQ_KEY = 'sim-groq-key';
const GEMINI_KEY = 'sim-gemini-key';
const GEMINI_MODEL = 'gemini-2.5-flash';
const CLAUDE = 'claude-sonnet-4-5';

let fireworks: FireworksSim;
let claude: AnthropicSim;
let gemini: OpenAICompatibleSim;
let backup: OpenAICompatibleSim;

/** The simulators a primary target runs on: every scenario's fault is set on these, never on the backup. */
const primaries = (): { requests: { aborted: boolean }[]; setDefaultFault(fault: object | undefined): void; clear(): void }[] => [fireworks, claude, gemini];

before(async () => {
  fireworks = await startFireworksSim({ port: 0 });
  claude = await startAnthropicSim({ port: 0 });
  gemini = await startOpenAICompatibleSim({ flavour: 'gemini', port: 0 });
  backup = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
});
after(async () => {
  await Promise.all([fireworks.close(), claude.close(), gemini.close(), backup.close()]);
});

/**
 * Three routes, each a primary on one of the faulty simulators and the same healthy backup (Groq):
 * fw-first passes chat and the Responses API through to Fireworks, claude-first is Anthropic's
 * (Messages passed through, every other API translated), gem-first passes the Gemini API through
 * to Google's own. The breakers half-open quickly so that the primaries are tried again and again
 * during a scenario, not once.
 */
function routesYaml(hedged: boolean): string {
  const hedge = hedged ? '    hedge:\n      after_ms: 50\n      max_in_flight: 64\n' : '';
  const route = (name: string, provider: string, model: string): string =>
    `  ${name}:\n${hedge}    breaker:\n      open_ms: 200\n    targets:\n      - {provider: ${provider}, model: ${model}, id: primary}\n      - {provider: groq, model: ${GROQ_MODEL}, id: backup}\n`;
  return `routes:\n${route('fw-first', 'fireworks', MODEL)}${route('claude-first', 'anthropic', CLAUDE)}${route('gem-first', 'gemini', GEMINI_MODEL)}`;
}

interface Gateway {
  server: GatewayServer;
  origin: string;
  lines: string[];
}

async function startRouted(hedged: boolean, down: boolean): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'routes-faults-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, routesYaml(hedged));
  const dead = down ? `http://127.0.0.1:${await closedPort()}` : undefined;
  const lines: string[] = [];
  const { server, url } = await startGateway(
    {
      CONFIG_FILE: file,
      LOG_LEVEL: 'info',
      FIREWORKS_BASE_URL: dead !== undefined ? `${dead}/inference/v1` : fireworks.url,
      FIREWORKS_API_KEY: KEY,
      ANTHROPIC_BASE_URL: dead ?? claude.url,
      ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
      GEMINI_BASE_URL: dead !== undefined ? `${dead}/v1beta/openai` : gemini.url,
      GEMINI_API_KEY: GEMINI_KEY,
      GROQ_BASE_URL: backup.url,
      GROQ_API_KEY: GROQ_KEY,
    },
    collectLines(lines),
  );
  return { server, origin: url.slice(0, -'/v1'.length), lines };
}

interface Clients {
  openai: OpenAI;
  anthropic: Anthropic;
  google: GoogleGenAI;
}

/** One kind of request: an API, a route and whether it streams; `send` throws unless the answer is whole. */
interface Lane {
  readonly name: string;
  readonly stream: boolean;
  /** The stream is passed through to the primary as the provider sends it (it commits at its first byte today). */
  readonly passThrough: boolean;
  /** The path and route its request lines show. */
  readonly path: string;
  readonly route: string;
  send(clients: Clients): Promise<void>;
}

const messages = [{ role: 'user' as const, content: 'hi' }];

async function chatWhole(clients: Clients, route: string): Promise<void> {
  const answer = await clients.openai.chat.completions.create({ model: route, messages });
  assert.ok(answer.choices[0]!.message.content, 'chat: an answer with content');
}

async function chatStream(clients: Clients, route: string): Promise<void> {
  const stream = await clients.openai.chat.completions.create({ model: route, messages, stream: true });
  let text = '';
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(text.length > 0 && finish === 'stop', `chat stream: text and finish_reason stop, got ${JSON.stringify({ text, finish })}`);
}

async function messagesWhole(clients: Clients, route: string): Promise<void> {
  const answer = await clients.anthropic.messages.create({ model: route, max_tokens: 64, messages });
  assert.equal(answer.stop_reason, 'end_turn');
}

async function messagesStream(clients: Clients, route: string): Promise<void> {
  const answer = await clients.anthropic.messages.stream({ model: route, max_tokens: 64, messages }).finalMessage();
  assert.equal(answer.stop_reason, 'end_turn');
  assert.ok(answer.content.some((block) => block.type === 'text' && block.text.length > 0));
}

async function responsesWhole(clients: Clients, route: string): Promise<void> {
  const answer = await clients.openai.responses.create({ model: route, input: 'hi' });
  assert.equal(answer.status, 'completed');
  assert.ok(answer.output_text.length > 0);
}

async function responsesStream(clients: Clients, route: string): Promise<void> {
  const stream = await clients.openai.responses.create({ model: route, input: 'hi', stream: true });
  let last: string | undefined;
  for await (const event of stream) last = event.type;
  assert.equal(last, 'response.completed');
}

async function geminiWhole(clients: Clients, route: string): Promise<void> {
  const answer = await clients.google.models.generateContent({ model: route, contents: 'hi' });
  assert.equal(answer.candidates?.[0]?.finishReason, 'STOP');
  assert.ok(answer.text);
}

async function geminiStream(clients: Clients, route: string): Promise<void> {
  let text = '';
  let finish: string | undefined;
  for await (const chunk of await clients.google.models.generateContentStream({ model: route, contents: 'hi' })) {
    text += chunk.text ?? '';
    finish = chunk.candidates?.[0]?.finishReason ?? finish;
  }
  assert.ok(text.length > 0 && finish === 'STOP', `Gemini stream: text and finishReason STOP, got ${JSON.stringify({ text, finish })}`);
}

const lane = (name: string, path: string, route: string, stream: boolean, passThrough: boolean, send: (clients: Clients, route: string) => Promise<void>): Lane => ({
  name,
  path: path.replace('{route}', route),
  route,
  stream,
  passThrough,
  send: (clients) => send(clients, route),
});

const WHOLE_LANES: readonly Lane[] = [
  lane('chat -> fireworks', '/v1/chat/completions', 'fw-first', false, true, chatWhole),
  lane('chat -> anthropic', '/v1/chat/completions', 'claude-first', false, false, chatWhole),
  lane('messages -> anthropic', '/v1/messages', 'claude-first', false, true, messagesWhole),
  lane('responses -> fireworks', '/v1/responses', 'fw-first', false, true, responsesWhole),
  lane('gemini -> gemini', '/v1beta/models/{route}:generateContent', 'gem-first', false, true, geminiWhole),
];

const STREAM_LANES: readonly Lane[] = [
  lane('chat stream -> fireworks', '/v1/chat/completions', 'fw-first', true, true, chatStream),
  lane('chat stream -> anthropic', '/v1/chat/completions', 'claude-first', true, false, chatStream),
  lane('messages stream -> anthropic', '/v1/messages', 'claude-first', true, true, messagesStream),
  lane('messages stream -> fireworks', '/v1/messages', 'fw-first', true, false, messagesStream),
  lane('responses stream -> fireworks', '/v1/responses', 'fw-first', true, true, responsesStream),
  lane('responses stream -> anthropic', '/v1/responses', 'claude-first', true, false, responsesStream),
  lane('gemini stream -> gemini', '/v1beta/models/{route}:streamGenerateContent', 'gem-first', true, true, geminiStream),
  lane('gemini stream -> anthropic', '/v1beta/models/{route}:streamGenerateContent', 'claude-first', true, false, geminiStream),
];

interface LaneCounts {
  sent: number;
  failed: number;
  /** A primary attempt failed, and the backup answered. */
  failedOver: number;
  /** The primary was passed over without an attempt (its breaker open, its key resting). */
  skipped: number;
  /** The backup answered while the primary's attempt had not failed: a hedge won. */
  hedged: number;
  firstError: string | undefined;
}

interface Outcome {
  lanes: Map<Lane, LaneCounts>;
  primaryRequests: number;
  primaryAborted: number;
  backupRequests: number;
  ms: number;
}

type RequestLine = { path: string; route?: string; stream: boolean; status: number; attempts?: { target: string; outcome: string }[] };


/** Sends PER_LANE requests of every lane, interleaved, CONCURRENCY at a time; counts what each lane's requests met. */
async function load(gateway: Gateway, lanes: readonly Lane[]): Promise<Outcome> {
  const clients: Clients = {
    openai: new OpenAI({ apiKey: PLACEHOLDER, baseURL: `${gateway.origin}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: PLACEHOLDER, baseURL: gateway.origin, maxRetries: 0 }),
    google: new GoogleGenAI({ apiKey: PLACEHOLDER, httpOptions: { baseUrl: gateway.origin } }),
  };
  for (const sim of [...primaries(), backup]) sim.clear();
  gateway.lines.length = 0;
  const counts = new Map<Lane, LaneCounts>(lanes.map((l) => [l, { sent: 0, failed: 0, failedOver: 0, skipped: 0, hedged: 0, firstError: undefined }]));
  const jobs: Lane[] = [];
  for (let i = 0; i < PER_LANE; i++) jobs.push(...lanes);
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const count = counts.get(job)!;
      count.sent++;
      try {
        await job.send(clients);
      } catch (err) {
        count.failed++;
        count.firstError ??= String((err as Error).message ?? err).slice(0, 300);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = Date.now() - started;
  // A request's line is written when its answer ends, a moment after the client has read it.
  const deadline = Date.now() + 3_000;
  while (requestLines<RequestLine>(gateway.lines).length < jobs.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  for (const line of requestLines<RequestLine>(gateway.lines)) {
    const owner = lanes.find((l) => l.path === line.path && l.route === line.route && l.stream === line.stream);
    if (owner === undefined || line.attempts === undefined) continue;
    const count = counts.get(owner)!;
    const primary = line.attempts.filter((a) => a.target === 'primary');
    const answeredByBackup = line.attempts.some((a) => a.target === 'backup' && a.outcome === 'answered');
    if (primary.some((a) => a.outcome.startsWith('skipped'))) count.skipped++;
    else if (answeredByBackup && primary.some((a) => !['answered', 'lost', 'cancelled'].includes(a.outcome))) count.failedOver++;
    else if (answeredByBackup) count.hedged++;
  }
  let primaryRequests = 0;
  let primaryAborted = 0;
  for (const sim of primaries()) {
    primaryRequests += sim.requests.length;
    primaryAborted += sim.requests.filter((r) => r.aborted).length;
  }
  return { lanes: counts, primaryRequests, primaryAborted, backupRequests: backup.requests.length, ms };
}

function report(t: TestContext, scenario: string, outcome: Outcome): void {
  t.diagnostic(
    `${scenario}: ${[...outcome.lanes.values()].reduce((n, c) => n + c.sent, 0)} requests in ${outcome.ms} ms; ` +
      `the primaries received ${outcome.primaryRequests} (${outcome.primaryAborted} cancelled), the backup ${outcome.backupRequests}`,
  );
  for (const [l, c] of outcome.lanes) {
    t.diagnostic(`  ${l.name.padEnd(30)} sent ${c.sent}, failed ${c.failed}, failed over ${c.failedOver}, primary skipped ${c.skipped}, hedged ${c.hedged}${c.firstError ? `; first error: ${c.firstError}` : ''}`);
  }
}

function assertAllAnswered(outcome: Outcome): void {
  for (const [l, c] of outcome.lanes) {
    assert.equal(c.sent, PER_LANE, l.name);
    assert.equal(c.failed, 0, `${l.name}: ${c.failed} of ${c.sent} failed; the first: ${c.firstError}`);
  }
  // The backup is tried once per request that moved on or hedged, and for no other.
  const backupTurns = [...outcome.lanes.values()].reduce((n, c) => n + c.failedOver + c.skipped + c.hedged, 0);
  assert.equal(outcome.backupRequests, backupTurns, 'every request the backup received is one the lines show moving on or hedging');
}

/** Requests whose primary failed or was passed over, summed over the lanes. */
const movedOn = (outcome: Outcome): number => [...outcome.lanes.values()].reduce((n, c) => n + c.failedOver + c.skipped, 0);

interface Scenario {
  readonly name: string;
  /** The primaries' fault for every request (their default fault). */
  readonly fault?: object;
  /** The primaries' base URLs point at a closed port instead. */
  readonly down?: boolean;
  readonly hedged?: boolean;
  /** What the request lines and the simulators must show of the fault, beside every request answered. */
  check(outcome: Outcome): void;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'the primary answers 30% of its requests with a 503',
    fault: { fail_ratio: 0.3 },
    check(outcome) {
      assert.ok(movedOn(outcome) > 0, 'some requests failed over');
      assert.ok(outcome.primaryRequests > 0 && outcome.backupRequests > 0);
    },
  },
  {
    name: 'the primary resets its connections',
    fault: { reset: true },
    check(outcome) {
      assert.ok(movedOn(outcome) >= PER_LANE, 'the backup answered in place of the primary');
    },
  },
  {
    name: 'the primary is down (a closed port)',
    down: true,
    check(outcome) {
      assert.equal(outcome.backupRequests, [...outcome.lanes.values()].reduce((n, c) => n + c.sent, 0), 'the backup answered every request');
      assert.ok([...outcome.lanes.values()].every((c) => c.failedOver + c.skipped === c.sent));
    },
  },
  {
    name: 'a 429 storm with retry-after on the primary',
    fault: { status: 429, retry_after: '1' },
    check(outcome) {
      assert.ok(movedOn(outcome) >= PER_LANE);
      assert.ok([...outcome.lanes.values()].some((c) => c.skipped > 0), 'the rate-limited key rested');
    },
  },
  {
    name: 'the primary is slow to its first byte, on a hedged route',
    fault: { delay_ms: 1_500 },
    hedged: true,
    check(outcome) {
      const hedged = [...outcome.lanes.values()].reduce((n, c) => n + c.hedged, 0);
      assert.ok(hedged > 0, 'hedges won');
      assert.ok(outcome.primaryAborted > 0, 'the slow primary was cancelled at the provider');
    },
  },
];

describe('routes under sustained load: a failing primary, a healthy backup, every request answered', () => {
  for (const scenario of SCENARIOS) {
    test(scenario.name, async (t) => {
      const gateway = await startRouted(scenario.hedged === true, scenario.down === true);
      for (const sim of primaries()) sim.setDefaultFault(scenario.fault);
      try {
        const outcome = await load(gateway, [...WHOLE_LANES, ...STREAM_LANES]);
        report(t, scenario.name, outcome);
        assertAllAnswered(outcome);
        scenario.check(outcome);
      } finally {
        for (const sim of primaries()) sim.setDefaultFault(undefined);
        await gateway.server.shutdown(100);
      }
    });
  }

  // An error event right after the provider's first event: nothing the client could use has been
  // sent, so the stream must fail over unseen. A translated stream commits at its first content event.
  const afterFirstEvent = async (t: TestContext, lanes: readonly Lane[]): Promise<void> => {
    const gateway = await startRouted(false, false);
    for (const sim of primaries()) sim.setDefaultFault({ stream_error: { after: 0 } });
    try {
      const outcome = await load(gateway, lanes);
      report(t, 'the primary stream fails after its first event', outcome);
      assertAllAnswered(outcome);
      assert.ok(movedOn(outcome) > 0);
    } finally {
      for (const sim of primaries()) sim.setDefaultFault(undefined);
      await gateway.server.shutdown(100);
    }
  };
  test('the primary stream fails after its first event: translated streams fail over', (t) =>
    afterFirstEvent(
      t,
      STREAM_LANES.filter((l) => !l.passThrough),
    ));
  test('the primary stream fails after its first event: pass-through streams fail over', (t) =>
    afterFirstEvent(
      t,
      STREAM_LANES.filter((l) => l.passThrough),
    ));
});
