// The coding agents, run as their users run them (non-interactively, one prompt), against the
// gateway and its simulators, each through the providers its users point it at. A case passes
// when the agent exits cleanly after a tool round trip: the simulated model called one of the
// agent's tools, and the agent sent the tool's result back through the gateway.
//
// Each agent gets what its documentation asks for to use another endpoint (a base URL, a key and a
// model name), its telemetry and updates switched off, and nothing else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ANTHROPIC_MODEL, BEDROCK_MODEL, FIREWORKS_MODEL, bin, carriesToolResult, runAgent, startStack, versionOf } from './harness.mjs';

const PROMPT = 'List the files in this folder with a tool, then say done.';
const KEY = 'use-server-key';

/** Claude Code's native binary, found by the wrapper its package ships (npm 11 runs no install scripts). */
const claude = {
  name: 'Claude Code',
  pkg: '@anthropic-ai/claude-code',
  run: (gateway, model) => ({
    command: process.execPath,
    args: [new URL('./node_modules/@anthropic-ai/claude-code/cli-wrapper.cjs', import.meta.url).pathname, '-p', PROMPT, '--model', model, '--output-format', 'json'],
    env: {
      ANTHROPIC_BASE_URL: gateway,
      ANTHROPIC_API_KEY: KEY,
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    },
  }),
};

/** Codex speaks only the Responses API; another endpoint is a model provider of its config. */
const codex = {
  name: 'Codex',
  pkg: '@openai/codex',
  run: (gateway, model) => ({
    command: bin('codex'),
    args: [
      'exec',
      '--skip-git-repo-check',
      '-c', 'model_provider="gateway"',
      '-c', 'model_providers.gateway.name="gateway"',
      '-c', `model_providers.gateway.base_url="${gateway}/v1"`,
      '-c', 'model_providers.gateway.env_key="GATEWAY_API_KEY"',
      '-c', 'model_providers.gateway.wire_api="responses"',
      '-c', 'check_for_update_on_startup=false',
      '-c', 'analytics.enabled=false',
      '-m', model,
      PROMPT,
    ],
    env: { GATEWAY_API_KEY: KEY },
  }),
};

const gemini = {
  name: 'Gemini CLI',
  pkg: '@google/gemini-cli',
  run: (gateway, model) => ({
    command: bin('gemini'),
    args: ['-p', PROMPT, '-m', model],
    env: { GOOGLE_GEMINI_BASE_URL: gateway, GEMINI_API_KEY: KEY, GEMINI_CLI_TRUST_WORKSPACE: 'true' },
    files: { 'home/.gemini/settings.json': JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } }, telemetry: { enabled: false }, privacy: { usageStatisticsEnabled: false }, general: { disableAutoUpdate: true } }) },
  }),
};

/** opencode takes another endpoint as a provider of its config file, through the AI SDK's OpenAI-compatible package. */
const opencode = {
  name: 'opencode',
  pkg: 'opencode-ai',
  run: (gateway, model) => ({
    command: bin('opencode'),
    args: ['run', '-m', `gateway/${model}`, PROMPT],
    env: { OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_SHARE: '1' },
    files: {
      'work/opencode.json': JSON.stringify({
        autoupdate: false,
        share: 'disabled',
        provider: { gateway: { npm: '@ai-sdk/openai-compatible', name: 'gateway', options: { baseURL: `${gateway}/v1`, apiKey: KEY }, models: { [model]: {} } } },
      }),
    },
  }),
};

const qwen = {
  name: 'qwen-code',
  pkg: '@qwen-code/qwen-code',
  run: (gateway, model) => ({
    command: bin('qwen'),
    args: ['-p', PROMPT],
    env: { OPENAI_BASE_URL: `${gateway}/v1`, OPENAI_API_KEY: KEY, OPENAI_MODEL: model },
  }),
};

/**
 * Agent, provider, model, and for a case that cannot pass yet, why (node:test reports it as todo:
 * run, shown, not counted as a failure).
 */
const CASES = [
  { agent: claude, provider: 'fireworks', model: FIREWORKS_MODEL },
  { agent: claude, provider: 'anthropic', model: ANTHROPIC_MODEL },
  { agent: claude, provider: 'bedrock', model: BEDROCK_MODEL },
  { agent: codex, provider: 'fireworks', model: FIREWORKS_MODEL },
  { agent: codex, provider: 'anthropic', model: ANTHROPIC_MODEL },
  { agent: gemini, provider: 'fireworks', model: FIREWORKS_MODEL },
  { agent: gemini, provider: 'anthropic', model: ANTHROPIC_MODEL },
  { agent: opencode, provider: 'fireworks', model: FIREWORKS_MODEL },
  { agent: qwen, provider: 'fireworks', model: FIREWORKS_MODEL },
];

/** Known not to pass yet, with the reason (issue 17's open items). */
const PENDING = new Map([]);

let stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.close();
});

describe('coding agents through the gateway', () => {
  for (const { agent, provider, model } of CASES) {
    const id = `${agent.name} via ${provider}`;
    test(`${id}: calls a tool, sends its result back, and finishes`, { todo: PENDING.get(id), timeout: 180_000 }, async (t) => {
      stack.clear();
      const { command, args, env, files } = agent.run(stack.origin, model);
      const result = await runAgent(command, args, env, { timeoutMs: 90_000, files });
      const requests = stack.logs.filter((line) => line.msg === 'request');
      t.diagnostic(`${agent.pkg} ${await versionOf(agent.pkg)}: exit ${result.code ?? result.signal}, ${requests.length} requests (${requests.map((line) => `${line.path} ${line.status}`).slice(0, 6).join(', ')})`);
      const upstream = stack.sims[provider].requests;
      assert.equal(result.code, 0, `the agent failed:\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`);
      assert.ok(requests.length > 0 && requests.every((line) => line.provider === provider), `every request went to ${provider}`);
      assert.ok(upstream.some((request) => carriesToolResult(request.json)), `no tool result reached ${provider}: ${requests.map((line) => `${line.status} ${line.error ?? ''}`).join('; ')}`);
    });
  }
});
