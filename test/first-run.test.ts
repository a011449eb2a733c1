// What a new user meets first: the README's examples as the files are and running with an empty
// key variable, the start-up output (a summary on a terminal, JSON otherwise), --help naming every
// inbound API and the aliases, and the simulator's own port variable.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { usage } from '../src/cli.js';
import { loadConfig } from '../src/config.js';
import { startupText } from '../src/startup-summary.js';
import { KEY, startGateway, until } from './helpers.js';

const README = readFileSync('README.md', 'utf8');

/** The code block that follows the README line `` `examples/<name>`: ``. */
function readmeCopy(name: string): string {
  const head = `\`examples/${name}\`:\n\n\`\`\`js\n`;
  const start = README.indexOf(head);
  assert.notEqual(start, -1, `the README shows examples/${name}`);
  const from = start + head.length;
  return README.slice(from, README.indexOf('```\n', from));
}

describe('the examples', () => {
  let sim: FireworksSim | undefined;
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  before(async () => {
    sim = await startFireworksSim({ port: 0 });
    gateway = await startGateway({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: KEY });
  });
  after(async () => {
    await gateway?.server.shutdown(0);
    await sim?.close();
  });

  for (const name of ['chat.mjs', 'stream.mjs']) {
    test(`the README shows examples/${name} exactly as the file is`, () => {
      assert.equal(readmeCopy(name), readFileSync(`examples/${name}`, 'utf8'));
    });

    test(`examples/${name} runs with FIREWORKS_API_KEY set but empty: the gateway's own key serves`, async () => {
      const child = spawn(process.execPath, [`examples/${name}`], {
        env: { PATH: process.env.PATH ?? '', GATEWAY_URL: `${gateway!.url}/`, FIREWORKS_API_KEY: '' },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0, output);
      assert.match(output, /Hello from the Fireworks simulator\./);
    });
  }
});

describe('start-up output', () => {
  const config = loadConfig({
    FIREWORKS_API_KEY: 'fw_summary_secret_key',
    OLLAMA_BASE_URL: 'http://127.0.0.1:11434/v1',
    VLLM_BASE_URL: 'https://vllm.internal:8000/v1',
  });

  test('the terminal summary names the keyed providers, the local ones and the URLs to try, never a key', () => {
    const text = startupText(config, { address: '127.0.0.1', port: 4100 });
    assert.match(text, /^ai-gateway \S+ listening on http:\/\/127\.0\.0\.1:4100\n/);
    assert.match(text, /Providers with a server key: fireworks \(default\)\n/);
    assert.match(text, /On this machine: ollama http:\/\/127\.0\.0\.1:11434\/v1\n/);
    assert.match(text, /curl http:\/\/127\.0\.0\.1:4100\/v1\/models/);
    assert.match(text, /ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:4100\n/);
    assert.doesNotMatch(text, /fw_summary_secret_key/);
    assert.ok(text.split('\n').length <= 10, text);
  });

  test('listening on every interface, the URL to try is loopback; with no key it says which variable to set', () => {
    const text = startupText(loadConfig({}), { address: '0.0.0.0', port: 4100 }, 2);
    assert.match(text, /listening on http:\/\/0\.0\.0\.0:4100 with 2 workers/);
    assert.match(text, /curl http:\/\/127\.0\.0\.1:4100\/v1\/models/);
    assert.match(text, /No provider has a server key: clients send their own, or set FIREWORKS_API_KEY/);
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  test('on a terminal the gateway prints the summary, not JSON; Ctrl-C stops it', { skip: !hasScript && 'no script(1) here to make a terminal' }, async () => {
    // script(1) runs the gateway on a pseudo-terminal; a ^C written to it is SIGINT for the gateway.
    const child = spawn('script', ['-qec', `${process.execPath} dist/src/main.js`, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', FIREWORKS_API_KEY: 'fw_summary_secret_key', FIREWORKS_BASE_URL: 'http://127.0.0.1:9/inference/v1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      await until(() => output.includes('Request logs follow'), 10_000);
    } finally {
      child.stdin.write('\x03');
    }
    await exited;
    const summary = output.slice(0, output.indexOf('Request logs follow'));
    assert.match(summary, /listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(summary, /Providers with a server key: fireworks \(default\)/);
    assert.match(summary, /On this machine: fireworks \(default\) http:\/\/127\.0\.0\.1:9\/inference\/v1/);
    assert.doesNotMatch(summary, /"level"/);
    assert.doesNotMatch(output, /fw_summary_secret_key/);
    assert.match(output, /shutting down/);
  });

  test('when stdout is not a terminal the start-up line is one JSON record', async () => {
    const child = spawn(process.execPath, ['dist/src/main.js'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', FIREWORKS_API_KEY: 'fw_summary_secret_key' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      await until(() => output.includes('\n'), 10_000);
    } finally {
      child.kill('SIGTERM');
    }
    await exited;
    const first = JSON.parse(output.split('\n')[0]!) as { msg: string; providers: Record<string, { serverKey: boolean }> };
    assert.match(first.msg, /^ai-gateway listening on http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(first.providers.fireworks?.serverKey, true);
    assert.doesNotMatch(output, /fw_summary_secret_key/);
  });
});

test('--help names the inbound APIs, the aliases and the default models', () => {
  const help = usage();
  for (const text of ['/v1/chat/completions', '/v1/messages', '/v1/responses', 'model_aliases', 'claude-*', 'default_models']) {
    assert.ok(help.includes(text), `--help mentions ${text}`);
  }
});

test('the simulator listens on SIM_PORT, not on the gateway\'s PORT', async () => {
  // Port 0 for each simulator: the system picks free ones, and PORT (which would be taken) is ignored.
  const child = spawn(process.execPath, ['dist/sim/main.js'], {
    env: { PATH: process.env.PATH ?? '', PORT: '1', SIM_PORT: '0', ANTHROPIC_SIM_PORT: '0', FAMILY_PORT: '0', BEDROCK_SIM_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    await until(() => output.includes('Bedrock simulator listening'), 10_000);
  } finally {
    child.kill('SIGTERM');
  }
  await exited;
  const port = Number(/Fireworks simulator listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1]);
  assert.ok(port > 1, output);
});
