// The gateway as users run it: start-up, settings validation, slow clients, graceful shutdown.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFireworksSim, type FireworksSim } from '../sim/fireworks.js';
import { defaultSettings, settingNames } from '../src/config.js';
import { providerSpecs } from '../src/providers/index.js';
import { KEY, MODEL, startGatewayProcess, startStack, uniqueKey, until, withSim } from './helpers.js';

let sim: FireworksSim;
before(async () => {
  sim = await startFireworksSim({ port: 0 });
});
after(() => sim.close());

function rawRequest(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    socket.write(payload);
  });
}

/** Runs the built gateway to completion (with a 10 s limit). */
function runMain(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['dist/src/main.js', ...args], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
}

/** Runs `body` while another server holds a port on 127.0.0.1. */
async function withOccupiedPort(body: (port: number) => void): Promise<void> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    body((holder.address() as AddressInfo).port);
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
}

describe('start-up', () => {
  test('starts with defaults and answers /health', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url });
    try {
      assert.match(gw.output(), /"providers":\{"fireworks":\{"baseUrl":"[^"]+","serverKey":false\}[,}]/);
      const res = await fetch(`${gw.origin}/health`);
      assert.equal(res.status, 200);
      const health = (await res.json()) as { status: string; version: string; uptime_s: number };
      assert.equal(health.status, 'ok');
      assert.match(health.version, /^\d+\.\d+\.\d+/);
      assert.equal(typeof health.uptime_s, 'number');
    } finally {
      gw.child.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
    }
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /PORT/],
    [{ MAX_RETRIES: '-1' }, /MAX_RETRIES/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ FIREWORKS_BASE_URL: 'not a url' }, /FIREWORKS_BASE_URL/],
    [{ DEFAULT_PROVIDER: 'nosuch' }, /DEFAULT_PROVIDER/],
    [{ CONFIG_FILE: '/nonexistent/gateway.json' }, /CONFIG_FILE/],
    // A timer that long would fire at once: every request would time out in about 1 ms.
    [{ REQUEST_TIMEOUT_MS: '3000000000' }, /REQUEST_TIMEOUT_MS: must be at most 2147483647 ms \(about 24\.8 days\), got "3000000000"/],
    [{ CORS_ORIGINS: 'https://app.example.com/chat' }, /CORS_ORIGINS: "https:\/\/app\.example\.com\/chat" is not an origin/],
  ];
  for (const [env, expected] of bad) {
    test(`invalid setting ${Object.keys(env)[0]} stops start-up with a message naming it`, () => {
      const result = runMain([], env);
      assert.equal(result.status, 1);
      assert.match(result.stderr, expected);
      assert.ok(!result.stderr.includes('    at '), 'no stack trace');
    });
  }

  test('every invalid setting is reported at once, one a line', () => {
    const result = runMain([], { PORT: 'abc', LOG_LEVEL: 'loud', FIREWORKS_BASE_URL: 'not a url' });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      'ai-gateway: invalid configuration (3 problems):\n' +
        '  PORT: must be an integer from 0 to 65535, got "abc"\n' +
        '  LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n' +
        '  FIREWORKS_BASE_URL: must be an absolute http(s) URL, got "not a url"\n',
    );
  });

  test('a port in use is reported in one line, exit 1', async () => {
    await withOccupiedPort((port) => {
      const result = runMain([], { PORT: String(port) });
      assert.equal(result.status, 1);
      assert.equal(
        result.stderr,
        `ai-gateway: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE); set PORT or HOST\n`,
      );
      assert.equal(result.stdout, '');
    });
  });

  test('a port in use with WORKERS=2 is reported once, exit 1, without restarting workers forever', async () => {
    await withOccupiedPort((port) => {
      const result = runMain([], { PORT: String(port), WORKERS: '2' });
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.equal(
        result.stderr,
        `ai-gateway: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE); set PORT or HOST\n`,
      );
      assert.doesNotMatch(result.stdout, /worker died/);
    });
  });

  test('the listening line names each provider, its base URL without credentials, and whether a key is set', async () => {
    const key = 'fw_listen_line_key_987654';
    const base = new URL(sim.url);
    base.username = 'someone';
    base.password = 'pw-in-url-555';
    base.search = '?token=query-secret-777';
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: base.href, FIREWORKS_API_KEY: key });
    try {
      const line = gw.output().split('\n').find((text) => text.includes('listening on'))!;
      const { providers } = JSON.parse(line) as { providers: Record<string, { baseUrl: string; serverKey: boolean }> };
      assert.deepEqual(providers.fireworks, { baseUrl: sim.url, serverKey: true });
      // The others are at their public defaults, without keys; Azure has no default and is left out.
      const others = providerSpecs.filter((spec) => spec.name !== 'fireworks' && spec.defaultBaseUrl !== undefined);
      assert.deepEqual(Object.keys(providers).sort(), ['fireworks', ...others.map((spec) => spec.name)].sort());
      for (const spec of others) assert.equal(providers[spec.name]!.serverKey, false, spec.name);
      for (const secret of [key, 'pw-in-url-555', 'query-secret-777', 'someone']) {
        assert.ok(!gw.output().includes(secret), `${secret} is not in the output`);
      }
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  test('warns when bound beyond loopback with a server-side key', async () => {
    const gw = await startGatewayProcess({ HOST: '0.0.0.0', FIREWORKS_API_KEY: 'fw_warn_key_123456', FIREWORKS_BASE_URL: sim.url });
    try {
      const warning = gw.output().split('\n').find((line) => line.includes('"level":"warn"'));
      assert.ok(warning, 'a warning line');
      assert.match(warning, /beyond loopback/);
      assert.ok(!gw.output().includes('fw_warn_key_123456'));
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });
});

describe('command line', () => {
  test('--help prints every setting with its default, the providers and the exit codes, and exits 0', () => {
    // Help needs no valid settings.
    const result = runMain(['--help'], { PORT: 'not a port' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
    for (const name of settingNames) assert.match(result.stdout, new RegExp(`^  ${name}=\\S`, 'm'), name);
    const defaults = defaultSettings();
    assert.match(result.stdout, new RegExp(`^  REQUEST_TIMEOUT_MS=${defaults.REQUEST_TIMEOUT_MS}$`, 'm'));
    assert.match(result.stdout, /^  CORS_ALLOW_HEADERS=authorization,content-type,.*x-stainless-\*/m);
    assert.match(result.stdout, /^  CORS_ORIGINS=\(empty\)$/m);
    assert.match(result.stdout, /^  CONFIG_FILE=/m);
    for (const spec of providerSpecs) {
      const base = spec.defaultBaseUrl ?? '(none: set it to use this provider)';
      assert.ok(result.stdout.includes(`\n    ${spec.baseUrlEnv}=${base}\n`), spec.baseUrlEnv);
      assert.match(result.stdout, new RegExp(`^    ${spec.apiKeyEnv}=`, 'm'));
      for (const option of Object.values(spec.options ?? {})) {
        const fallback = option.fallbackEnv === undefined ? '' : ` (else ${option.fallbackEnv})`;
        assert.ok(result.stdout.includes(`\n    ${option.env}=${option.default || '(none)'}${fallback}\n`), option.env);
      }
    }
    assert.match(result.stdout, /Exit codes/);
    assert.deepEqual(runMain(['-h'], {}).stdout, result.stdout);
  });

  test('--version prints the version and exits 0', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const result = runMain(['--version'], {});
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `${version}\n`);
  });

  test('an unknown option or an argument is a short error and exit 2', () => {
    for (const args of [['--bogus'], ['serve'], ['--help=yes']]) {
      const result = runMain(args, {});
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.stderr, /^ai-gateway: .+\nRun "ai-gateway --help" for usage\.\n$/);
      assert.ok(result.stderr.includes(args[0]!.split('=')[0]!), result.stderr);
      assert.equal(result.stdout, '');
    }
  });

  test('package.json names dist/src/main.js as the ai-gateway command, with a shebang', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string> };
    assert.equal(pkg.bin['ai-gateway'], 'dist/src/main.js');
    assert.match(readFileSync('dist/src/main.js', 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });
});

describe('workers', () => {
  test('WORKERS=2 serves on one port from two processes and stops cleanly', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, WORKERS: '2' });
    try {
      assert.match(gw.output(), /with 2 workers/);
      const client = new OpenAI({ baseURL: `${gw.origin}/v1/`, apiKey: KEY, maxRetries: 0 });
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })),
      );
      assert.ok(answers.every((a) => a.object === 'chat.completion'));
      const requestLines = () => gw.output().split('\n').filter((line) => line.includes('"msg":"request"'));
      await until(() => requestLines().length >= 20, 5_000);
      const pids = new Set(requestLines().map((line) => (JSON.parse(line) as { pid: number }).pid));
      assert.equal(pids.size, 2, 'both workers served requests');
    } finally {
      gw.child.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
    }
  });
});

describe('slow clients', () => {
  test('headers that never finish get a 408 JSON answer', async () => {
    const stack = await startStack({ HEADERS_TIMEOUT_MS: '300', BODY_TIMEOUT_MS: '300' });
    try {
      const { port } = stack.gateway.server.address() as { port: number };
      const started = Date.now();
      const answer = await rawRequest(port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
      assert.match(answer, /^HTTP\/1\.1 408/);
      assert.match(answer, /"error":\{"message"/);
      assert.ok(Date.now() - started < 3_000);
    } finally {
      await stack.close();
    }
  });

  test('a body that never finishes gets a 408', async () => {
    const stack = await startStack({ HEADERS_TIMEOUT_MS: '300', BODY_TIMEOUT_MS: '500' });
    try {
      const { port } = stack.gateway.server.address() as { port: number };
      const answer = await rawRequest(
        port,
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":',
      );
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      await stack.close();
    }
  });

  test('garbage instead of HTTP gets a 400 and the server keeps serving', async () => {
    const stack = await startStack();
    try {
      const { port } = stack.gateway.server.address() as { port: number };
      const answer = await rawRequest(port, 'HELLO THERE\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400/);
      const health = await fetch(`${stack.origin}/health`);
      assert.equal(health.status, 200);
    } finally {
      await stack.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM lets an open stream finish, refuses new connections, then exits 0', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, SHUTDOWN_GRACE_MS: '10000' });
    const client = new OpenAI({ baseURL: `${gw.origin}/v1/`, apiKey: KEY, maxRetries: 0 });
    const key = uniqueKey('drain');
    const content = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ');
    const stream = await client.chat.completions.create(
      withSim({ model: MODEL, messages: [{ role: 'user' as const, content: 'x' }], stream: true as const }, { key, content, chunks: 20, chunk_delay_ms: 50 }),
    );
    let text = '';
    let signalled = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (!signalled) {
        signalled = true;
        gw.child.kill('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 100));
        await assert.rejects(fetch(`${gw.origin}/health`), 'new connections are refused while draining');
      }
    }
    assert.equal(text, content);
    assert.equal(await gw.exited, 0);
    assert.match(gw.output(), /shutting down/);
  });

  test('a stream longer than SHUTDOWN_GRACE_MS is cut at the grace period and the process still exits 0', async () => {
    const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, SHUTDOWN_GRACE_MS: '300' });
    const client = new OpenAI({ baseURL: `${gw.origin}/v1/`, apiKey: KEY, maxRetries: 0 });
    const stream = await client.chat.completions.create(
      withSim({ model: MODEL, messages: [{ role: 'user' as const, content: 'x' }], stream: true as const }, { key: uniqueKey('cut-grace'), chunks: 200, chunk_delay_ms: 50 }),
    );
    const started = Date.now();
    gw.child.kill('SIGTERM');
    // Cut with an error event the SDK raises, not a dropped connection.
    await assert.rejects(
      async () => {
        for await (const _chunk of stream);
      },
      (err: unknown) => err instanceof OpenAI.APIError && /shutting down/.test(err.message),
    );
    assert.equal(await gw.exited, 0);
    assert.ok(Date.now() - started < 5_000);
  });
});

describe('examples', () => {
  for (const example of ['chat.mjs', 'stream.mjs']) {
    test(`examples/${example} runs with the installed openai and the gateway's own key (use-server-key)`, async () => {
      const gw = await startGatewayProcess({ FIREWORKS_BASE_URL: sim.url, FIREWORKS_API_KEY: 'fw_example_server_key' });
      try {
        const { spawn } = await import('node:child_process');
        const child = spawn(process.execPath, [`examples/${example}`], {
          env: { PATH: process.env.PATH ?? '', GATEWAY_URL: `${gw.origin}/v1/` },
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const [code] = (await once(child, 'exit')) as [number];
        assert.equal(code, 0, output);
        assert.match(output, /Hello from the Fireworks simulator\./);
        assert.match(output, /usage:/);
      } finally {
        gw.child.kill('SIGTERM');
        await gw.exited;
      }
    });
  }
});
