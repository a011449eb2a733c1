// A route's stream cut after its commit point (the client has content): each SDK sees an error,
// never a finished answer, and the route does not continue the half-sent answer on its backup,
// which receives no request. The primary is cut two ways: its connection dropped after two content
// chunks (`cut_after`), or an error event after them (`stream_error`); the route is passed through
// (chat and the Responses API to Fireworks, Messages to Anthropic) or translated (chat and the
// Responses API to Anthropic, Messages to Fireworks).
import { createOpenAI } from '@ai-sdk/openai';
import Anthropic from '@anthropic-ai/sdk';
import { streamText } from 'ai';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ANTHROPIC_SIM_API_KEY, startAnthropicSim, type AnthropicSim } from '../sim/anthropic.js';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { startOpenAICompatibleSim, type OpenAICompatibleSim } from '../sim/openai-compatible.js';
import type { GatewayServer } from '../src/server.js';
import { collectLines, GROQ_MODEL, KEY, MODEL, requestLines, startGateway } from './helpers.js';

const PLACEHOLDER = 'use-server-key';
const CLAUDE = 'claude-sonnet-4-5';

let fireworks: FireworksSim;
let claude: AnthropicSim;
let backup: OpenAICompatibleSim;
let gateway: GatewayServer;
let origin: string;
const lines: string[] = [];

before(async () => {
  fireworks = await startFireworksSim({ port: 0 });
  claude = await startAnthropicSim({ port: 0 });
  backup = await startOpenAICompatibleSim({ flavour: 'groq', port: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'routes-cut-'));
  const file = join(dir, 'gateway.yaml');
  // The SDK routes' breakers never open: every case here meets a fresh primary.
  const patient = '    breaker:\n      consecutive_failures: 1000000\n      min_requests: 1000000\n';
  const route = (name: string, provider: string, model: string, breaker = patient): string =>
    `  ${name}:\n${breaker}    targets:\n      - {provider: ${provider}, model: ${model}, id: primary}\n      - {provider: groq, model: ${GROQ_MODEL}, id: backup}\n`;
  const tripwire = '    breaker:\n      consecutive_failures: 3\n      open_ms: 60000\n';
  writeFileSync(
    file,
    `routes:\n${route('fw-first', 'fireworks', MODEL)}${route('claude-first', 'anthropic', CLAUDE)}` +
      `${route('fw-tripwire', 'fireworks', MODEL, tripwire)}${route('fw-tripwire-cut', 'fireworks', MODEL, tripwire)}`,
  );
  const started = await startGateway(
    {
      CONFIG_FILE: file,
      LOG_LEVEL: 'info',
      FIREWORKS_BASE_URL: fireworks.url,
      FIREWORKS_API_KEY: KEY,
      ANTHROPIC_BASE_URL: claude.url,
      ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
      GROQ_BASE_URL: backup.url,
      GROQ_API_KEY: 'sim-groq-key',
    },
    collectLines(lines),
  );
  gateway = started.server;
  origin = started.url.slice(0, -'/v1'.length);
});
after(async () => {
  await gateway.shutdown(100);
  await Promise.all([fireworks.close(), claude.close(), backup.close()]);
});

const openai = (): OpenAI => new OpenAI({ apiKey: PLACEHOLDER, baseURL: `${origin}/v1`, maxRetries: 0 });
const anthropic = (): Anthropic => new Anthropic({ apiKey: PLACEHOLDER, baseURL: origin, maxRetries: 0 });
const aiSdk = () => createOpenAI({ apiKey: PLACEHOLDER, baseURL: `${origin}/v1` });
const messages = [{ role: 'user' as const, content: 'hi' }];


/** The primary's cut, after two of six content chunks: its connection dropped, or an error event. */
const CUTS = [
  { name: 'connection dropped', fault: { chunks: 6, cut_after: 2 } },
  { name: 'error event', fault: { chunks: 6, stream_error: { after: 2 } } },
] as const;

/** The simulator a route's primary runs on. */
const primaryOf = (route: string): FireworksSim | AnthropicSim => (route === 'claude-first' ? claude : fireworks);

/**
 * Runs `read` (which reads the whole stream and returns the text it saw, or throws) against a
 * route whose primary cuts its stream after content; it must throw after some text arrived, and
 * the backup must receive nothing.
 */
async function assertCutReachesClient(route: string, fault: object, read: (seen: { text: string }) => Promise<void>): Promise<void> {
  const primary = primaryOf(route);
  primary.clear();
  backup.clear();
  primary.queueFault(fault);
  const seen = { text: '' };
  await assert.rejects(read(seen), (err: unknown) => err instanceof Error);
  assert.ok(seen.text.length > 0, 'the client had content before the cut: the answer was committed');
  await primary.waitFor(() => primary.requests.length === 1);
  // The half-sent answer is not continued elsewhere.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(backup.requests.length, 0, 'the backup received no request');
}

describe('a route stream cut after its commit point reaches each SDK as an error, and is not continued on the backup', () => {
  for (const cut of CUTS) {
    for (const route of ['fw-first', 'claude-first']) {
      const how = route === 'fw-first' ? 'passed through to Fireworks' : 'translated to Anthropic';
      test(`openai chat stream, ${how}, ${cut.name}`, () =>
        assertCutReachesClient(route, cut.fault, async (seen) => {
          const stream = await openai().chat.completions.create({ model: route, messages, stream: true });
          for await (const chunk of stream) seen.text += chunk.choices[0]?.delta?.content ?? '';
        }));

      test(`openai responses stream, ${how}, ${cut.name}`, () =>
        assertCutReachesClient(route, cut.fault, async (seen) => {
          const stream = openai().responses.stream({ model: route, input: 'hi' });
          stream.on('response.output_text.delta', (event) => (seen.text += event.delta));
          // finalResponse() resolves only with a response.completed event.
          await stream.finalResponse();
        }));

      test(`AI SDK (@ai-sdk/openai chat), ${how}, ${cut.name}`, () =>
        assertCutReachesClient(route, cut.fault, async (seen) => {
          const result = streamText({ model: aiSdk().chat(route), prompt: 'hi', maxRetries: 0, onError: () => {} });
          for await (const part of result.fullStream) {
            if (part.type === 'text-delta') seen.text += part.text;
            if (part.type === 'error') throw part.error instanceof Error ? part.error : new Error(String(part.error));
          }
          assert.notEqual(await result.finishReason, 'stop');
        }));

      test(`AI SDK (@ai-sdk/openai responses), ${how}, ${cut.name}`, () =>
        assertCutReachesClient(route, cut.fault, async (seen) => {
          const result = streamText({ model: aiSdk().responses(route), prompt: 'hi', maxRetries: 0, onError: () => {} });
          for await (const part of result.fullStream) {
            if (part.type === 'text-delta') seen.text += part.text;
            if (part.type === 'error') throw part.error instanceof Error ? part.error : new Error(String(part.error));
          }
          assert.notEqual(await result.finishReason, 'stop');
        }));
    }

    for (const route of ['claude-first', 'fw-first']) {
      const how = route === 'claude-first' ? 'passed through to Anthropic' : 'translated to Fireworks';
      test(`@anthropic-ai/sdk messages.stream, ${how}, ${cut.name}`, () =>
        assertCutReachesClient(route, cut.fault, async (seen) => {
          const stream = anthropic().messages.stream({ model: route, max_tokens: 64, messages });
          stream.on('text', (text) => (seen.text += text));
          await stream.finalMessage();
        }));
    }
  }
});

describe('a pass-through target whose 200 streams fail after content opens its breaker', () => {
  const failThrice = async (route: string, fault: object): Promise<void> => {
    const client = openai();
    fireworks.clear();
    fireworks.queueFault(fault, 3);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(async () => {
        for await (const chunk of await client.chat.completions.create({ model: route, messages, stream: true })) void chunk;
      });
    }
    fireworks.clear();
    backup.clear();
    const answer = await client.chat.completions.create({ model: route, messages });
    assert.ok(answer.choices[0]!.message.content);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const attempts = requestLines<{ attempts?: { target: string; outcome: string }[] }>(lines).slice(-4).map((line) => line.attempts);
    assert.equal(fireworks.requests.length, 0, `the open breaker kept the request off the primary; attempts: ${JSON.stringify(attempts)}`);
    assert.equal(backup.requests.length, 1);
  };

  test('three streams whose connection dropped after content', () => failThrice('fw-tripwire-cut', { chunks: 6, cut_after: 2 }));

  // A pass-through stream's bytes are not parsed after its commit point, but a route's attempt looks
  // for the provider's error event in them (Attempt.watchErrors), so the breaker counts the failure.
  test('three streams that carried an error event after content', () =>
    failThrice('fw-tripwire', { chunks: 6, stream_error: { after: 2 } }));
});
