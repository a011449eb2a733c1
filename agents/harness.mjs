// Runs a real coding agent, installed from npm into this folder, against the gateway and its
// simulators, all on this machine's loopback: the simulators and the gateway in this process (the
// gateway's own build, ../dist), the agent as a child process with a home and a work folder of its
// own, its telemetry and updates off. What the simulators received tells whether the agent called a
// tool and sent its result back: the round trip every agent loop is made of.
//
// Run inside a network namespace that has only loopback (./netns.sh): an agent that tries to phone
// home finds no network, and nothing a test sends can leave the machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');
const { startFireworksSim, SIM_API_KEY } = await import(join(dist, 'sim', 'fireworks.js'));
const { startAnthropicSim, ANTHROPIC_SIM_API_KEY } = await import(join(dist, 'sim', 'anthropic.js'));
const { startBedrockSim, BEDROCK_SIM_ACCESS_KEY_ID, BEDROCK_SIM_SECRET_ACCESS_KEY } = await import(join(dist, 'sim', 'bedrock.js'));
const { loadConfig } = await import(join(dist, 'src', 'config.js'));
const { createLogger } = await import(join(dist, 'src', 'logger.js'));
const { createGatewayServer } = await import(join(dist, 'src', 'server.js'));

/** The Fireworks simulator's chat model, as the agents name it through the gateway. */
export const FIREWORKS_MODEL = 'fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct';
export const ANTHROPIC_MODEL = 'anthropic/claude-sonnet-4-5';
export const BEDROCK_MODEL = 'bedrock/anthropic.claude-3-5-haiku-20241022-v1:0';

/**
 * The tools that list a folder or read a file, by each agent's name for them: the simulated model calls the first
 * of these an agent offers (`call_tool`). Left to call an agent's first tool, it would launch
 * subagent after subagent.
 */
const LISTING_TOOLS = ['Glob', 'glob', 'list_directory', 'list', 'list_dir', 'LS', 'Read', 'read_file'];

/**
 * The simulators, and a gateway in front of them with the simulators' keys as its server keys, so
 * that an agent needs only the gateway's URL, a placeholder key and a model name.
 */
export async function startStack() {
  const defaultFault = { call_tool: LISTING_TOOLS };
  const fireworks = await startFireworksSim({ port: 0, defaultFault });
  const anthropic = await startAnthropicSim({ port: 0, defaultFault });
  const bedrock = await startBedrockSim({ port: 0, defaultFault });
  const logs = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      callback();
    },
  });
  const config = loadConfig({
    FIREWORKS_BASE_URL: fireworks.url,
    FIREWORKS_API_KEY: SIM_API_KEY,
    ANTHROPIC_BASE_URL: anthropic.url.replace(/\/v1$/, ''),
    ANTHROPIC_API_KEY: ANTHROPIC_SIM_API_KEY,
    BEDROCK_BASE_URL: bedrock.url,
    AWS_ACCESS_KEY_ID: BEDROCK_SIM_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BEDROCK_SIM_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-west-2',
    // Fireworks' own Responses API takes function and MCP tools only; Codex sends a namespace tool
    // by default, which the gateway's translation flattens for any chat provider.
    FIREWORKS_RESPONSES_API: 'translate',
    LOG_LEVEL: 'info',
  });
  const gateway = createGatewayServer(config, createLogger(config.LOG_LEVEL, sink));
  const address = await gateway.listen(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${address.port}`;
  return {
    origin,
    logs,
    sims: { fireworks, anthropic, bedrock },
    clear() {
      logs.length = 0;
      for (const sim of [fireworks, anthropic, bedrock]) sim.clear();
    },
    async close() {
      await gateway.shutdown(0);
      await Promise.all([fireworks.close(), anthropic.close(), bedrock.close()]);
    },
  };
}

/** A tool result in a recorded upstream request, in any of the three APIs the simulators speak. */
export function carriesToolResult(json) {
  const text = JSON.stringify(json ?? null);
  return text.includes('"role":"tool"') || text.includes('"type":"tool_result"') || text.includes('"toolResult"');
}

/** What is kept of an agent's output, for the message of a failed case. */
const MAX_OUTPUT_CHARS = 256 * 1024;

/**
 * Runs `command` with `args` in a fresh home and work folder, `env` added to a minimal environment;
 * resolves with its exit code and output once it exits, or kills it after `timeoutMs`.
 */
export function runAgent(command, args, env, { timeoutMs = 120_000, files = {} } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'agent-'));
  const home = join(root, 'home');
  const work = join(root, 'work');
  mkdirSync(home);
  mkdirSync(work);
  writeFileSync(join(work, 'README.md'), '# A folder for an agent to look at\n');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text.replaceAll('$HOME', home).replaceAll('$WORK', work));
  }
  return new Promise((resolve) => {
    const child = spawn(command, args.map((arg) => arg.replaceAll('$HOME', home).replaceAll('$WORK', work)), {
      cwd: work,
      env: { PATH: process.env.PATH, HOME: home, TERM: 'dumb', CI: '1', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A group of its own: an agent's launcher starts the agent proper (Claude Code's native
      // binary, Codex's), and whatever it spawns must end with it.
      detached: true,
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    };
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      if (stdout.length < MAX_OUTPUT_CHARS) stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      if (stderr.length < MAX_OUTPUT_CHARS) stderr += chunk;
    });
    const timer = setTimeout(killGroup, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // What the agent left running (a background shell, a subagent) goes too; its pipes then close.
      killGroup();
      child.on('close', () => {
        rmSync(root, { recursive: true, force: true });
        resolve({ code, signal, stdout, stderr });
      });
    });
  });
}

/** The path of an agent's executable, as npm installed it here. */
export function bin(name) {
  return join(here, 'node_modules', '.bin', name);
}

/** The installed version of an agent's package. */
export async function versionOf(pkg) {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(join(here, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}
