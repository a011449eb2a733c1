// docker-compose.yaml and the Dockerfile, read without a container engine: the compose example's
// gateway settings are ones the gateway accepts, point at the simulator service with the
// simulators' own keys, and its stop grace period outlasts the drain. The image itself is built and
// run by test/image/ (npm run test:image).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.js';
import { ANTHROPIC_SIM_API_KEY } from '../sim/anthropic.js';
import { BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY } from '../sim/bedrock.js';
import { SIM_API_KEY } from '../sim/fireworks.js';
import { simApiKey } from '../sim/openai-compatible.js';

const REPO_ROOT = new URL('../../', import.meta.url);

interface Service {
  build?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  expose?: string[];
  healthcheck?: { test: string[] };
  stop_signal?: string;
  stop_grace_period?: string;
}

const compose = parse(readFileSync(new URL('docker-compose.yaml', REPO_ROOT), 'utf8')) as { services: Record<string, Service> };
const dockerfile = readFileSync(new URL('Dockerfile', REPO_ROOT), 'utf8');

/** A compose duration (`15s`, `1m30s`, `500ms`) in milliseconds. */
function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  assert.equal(parts.map((part) => part[0]).join(''), text, `not a compose duration: ${text}`);
  return parts.reduce((sum, part) => sum + Number(part[1]) * units[part[2]!]!, 0);
}

/** The Dockerfile's ENV settings, as the gateway in the image sees them. */
function dockerfileEnv(): Record<string, string> {
  const block = /^ENV\s+((?:.*\\\n)*.*)$/m.exec(dockerfile)![1]!.replace(/\\\n/g, ' ');
  return Object.fromEntries([...block.matchAll(/(\w+)=(\S+)/g)].map((match) => [match[1]!, match[2]!]));
}

describe('docker-compose.yaml', () => {
  const { gateway, sim, redis } = compose.services;

  test('has the gateway, the simulators and Redis', () => {
    assert.ok(gateway && sim && redis);
    assert.deepEqual(sim.command, ['sim']);
    assert.equal(sim.environment?.SIM_HOST, '0.0.0.0', 'the simulators must listen beyond their container loopback');
    assert.ok(redis.healthcheck && sim.healthcheck && gateway.healthcheck);
  });

  test("the gateway's settings load, and point every provider at the simulator service with its keys", () => {
    const config = loadConfig({ ...dockerfileEnv(), ...gateway!.environment });
    const simPorts = new Set(sim!.expose);
    const pointed = ['fireworks', 'anthropic', 'openai', 'bedrock'];
    for (const name of pointed) {
      const baseUrl = config.providers[name]!.baseUrl;
      assert.equal(baseUrl.hostname, 'sim', `${name} is not pointed at the simulator service`);
      assert.ok(simPorts.has(baseUrl.port), `${name}'s port ${baseUrl.port} is not one the simulator service exposes`);
    }
    assert.equal(config.providers.fireworks!.apiKey, SIM_API_KEY);
    assert.equal(config.providers.anthropic!.apiKey, ANTHROPIC_SIM_API_KEY);
    assert.equal(config.providers.openai!.apiKey, simApiKey('openai'));
    assert.equal(config.providers.bedrock!.options.accessKeyId, BEDROCK_SIM_ACCESS_KEY_ID);
    assert.equal(config.providers.bedrock!.options.secretAccessKey, BEDROCK_SIM_SECRET_ACCESS_KEY);
    assert.equal(new URL(config.REDIS_URL).hostname, 'redis');
    assert.equal(config.HOST, '0.0.0.0');
  });

  test("gives the gateway's drain time before the kill", () => {
    const config = loadConfig({ ...dockerfileEnv(), ...gateway!.environment });
    assert.equal(gateway!.stop_signal ?? 'SIGTERM', 'SIGTERM');
    assert.ok(
      durationMs(gateway!.stop_grace_period!) > config.SHUTDOWN_GRACE_MS,
      `stop_grace_period ${gateway!.stop_grace_period} does not outlast SHUTDOWN_GRACE_MS ${config.SHUTDOWN_GRACE_MS} ms`,
    );
  });

  test("runs the image's own healthcheck, and Redis with its append-only file", () => {
    const imageHealthcheck = JSON.parse(/^\s*CMD (\[.*\])$/m.exec(dockerfile.slice(dockerfile.indexOf('HEALTHCHECK')))![1]!) as string[];
    assert.deepEqual(gateway!.healthcheck!.test, ['CMD', ...imageHealthcheck]);
    assert.deepEqual(redis!.command?.slice(-2), ['--appendonly', 'yes']);
  });
});

describe('Dockerfile', () => {
  test('runs as a numeric non-root user, listens on every interface and stops with SIGTERM', () => {
    assert.match(dockerfile, /^USER [1-9]\d*:[1-9]\d*$/m);
    assert.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
    assert.match(dockerfile, /^EXPOSE 3000$/m);
    assert.equal(loadConfig(dockerfileEnv()).HOST, '0.0.0.0');
    assert.match(dockerfile, /^ARG BASE_IMAGE=node:24-bookworm-slim$/m);
  });
});
