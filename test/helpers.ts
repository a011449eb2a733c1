// Test stack: a Fireworks simulator and a gateway in front of it, both on 127.0.0.1 port 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim, type SimFault } from '../sim/fireworks.js';
import { loadConfig } from '../src/config.js';
import { GatewayError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { createGatewayServer, type GatewayServer } from '../src/server.js';
import { providerSpecs } from '../src/providers/index.js';

export const MODEL = 'accounts/fireworks/models/llama-v3p1-8b-instruct';
export const KEY = 'fw_test_key_0123456789';
/** A model the groq simulator flavour serves. */
export const GROQ_MODEL = 'llama-3.1-8b-instant';
/** The config file's routes entry `team-chat`: Fireworks' MODEL first (target `primary`), Groq's GROQ_MODEL behind it (`backup`). */
export const FALLBACK_ROUTE = `
  team-chat:
    targets:
      - provider: fireworks
        model: ${MODEL}
        id: primary
      - provider: groq
        model: ${GROQ_MODEL}
        id: backup
`;

export interface Stack {
  sim: FireworksSim;
  gateway: GatewayServer;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The gateway's OpenAI base URL, as users configure it. */
  baseURL: string;
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  rawLogs: string[];
  client(options?: ConstructorParameters<typeof OpenAI>[0]): OpenAI;
  close(): Promise<void>;
}

/** Starts a simulator and an in-process gateway pointed at it; `env` overrides settings. */
export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const sim = await startFireworksSim({ port: 0 });
  const config = loadConfig({
    FIREWORKS_BASE_URL: sim.url,
    RETRY_BASE_DELAY_MS: '10',
    RETRY_MAX_DELAY_MS: '50',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const gateway = createGatewayServer(config, createLogger(config.LOG_LEVEL, sink));
  const address = await gateway.listen(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${address.port}`;
  const baseURL = `${origin}/v1/`;
  return {
    sim,
    gateway,
    origin,
    baseURL,
    logs,
    rawLogs,
    client: (options = {}) =>
      new OpenAI({
        baseURL,
        apiKey: KEY,
        defaultHeaders: { 'x-provider': 'fireworks' },
        maxRetries: 0,
        ...options,
      }),
    async close() {
      await gateway.shutdown(0);
      await sim.close();
    },
  };
}

/** Request params with a simulator fault attached (the gateway forwards unknown fields). */
export function withSim<T extends object>(params: T, sim: SimFault): T {
  return { ...params, sim } as T;
}

let keyCounter = 0;
/** A key unique to one logical request, to find its attempts in the simulator's records. */
export function uniqueKey(prefix = 'k'): string {
  return `${prefix}-${process.pid}-${++keyCounter}`;
}

/** The request log lines (msg "request") the gateway wrote. */
export function requestLogs(stack: Stack): Record<string, unknown>[] {
  return stack.logs.filter((line) => line.msg === 'request');
}

/** Waits until `predicate` holds, polling; fails after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs the built gateway (`dist/src/main.js`) as a child process, as `npm start` does. */
export async function startGatewayProcess(env: Record<string, string>): Promise<{
  child: ChildProcess;
  origin: string;
  output: () => string;
  exited: Promise<number | null>;
}> {
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const listening = /listening on http:\/\/[^:]+:(\d+)/;
  await Promise.race([
    until(() => listening.test(output), 10_000),
    exited.then((code) => {
      throw new Error(`gateway exited with ${code}: ${output}`);
    }),
  ]);
  const port = listening.exec(output)![1];
  return { child, origin: `http://127.0.0.1:${port}`, output: () => output, exited };
}

/**
 * Every provider but Fireworks pointed at a closed port on this machine, for stacks whose requests
 * may name any provider (x-provider, provider/model): nothing then leaves 127.0.0.0/8.
 */
export function unreachableProviders(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const spec of providerSpecs) if (spec.name !== 'fireworks') env[spec.baseUrlEnv] = 'http://127.0.0.1:9/v1';
  return env;
}

/**
 * An in-process gateway on a free port with fast retries, silent unless `env` sets LOG_LEVEL (and
 * `sink` takes the log); `url` is its OpenAI base URL.
 */
export async function startGateway(env: Record<string, string>, sink?: Writable): Promise<{ server: GatewayServer; url: string }> {
  const config = loadConfig({ RETRY_BASE_DELAY_MS: '1', RETRY_MAX_DELAY_MS: '5', LOG_LEVEL: 'silent', ...env });
  const server = createGatewayServer(config, createLogger(config.LOG_LEVEL, sink));
  const address = await server.listen(0, '127.0.0.1');
  return { server, url: `http://127.0.0.1:${address.port}/v1` };
}

/** A log sink that keeps each chunk the logger writes (one or more lines) in `lines`. */
export function collectLines(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
}

/** Simulator faults carried by OpenAI's `user`, which translations send on as the provider's user metadata. */
export function simFault(spec: object): string {
  return `sim:${JSON.stringify(spec)}`;
}

/**
 * Asserts that `run` refuses with a 400 GatewayError naming `param` (its message matching `pattern`,
 * if given), as a translation refuses a client's request; returns the error for further checks.
 */
export function assertBadRequest(run: () => unknown, param: string | null, pattern?: RegExp): GatewayError {
  let refused: GatewayError | undefined;
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof GatewayError, `a GatewayError, not ${String(error)}`);
    assert.equal(error.status, 400);
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.param, param);
    if (pattern) assert.match(error.message, pattern);
    refused = error;
    return true;
  });
  return refused!;
}

/** A loopback port nothing listens on: a provider that is down. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The request lines (one per request) among what a gateway logged, parsed. */
export function requestLines<T = Record<string, any>>(lines: readonly string[]): T[] {
  return lines.flatMap((chunk) => chunk.split('\n')).filter((line) => line.includes('"msg":"request"')).map((line) => JSON.parse(line) as T);
}
