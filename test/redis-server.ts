// A real redis-server for the tests: on a free loopback port, in a temporary directory, without
// persistence unless a test asks for it. Suites that need it skip with a message when it is not
// installed (.ci/run installs Debian's package).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Why the Redis suites are skipped, or false when redis-server is here. */
export const skipRedis: string | false = existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is not installed (apt-get install redis-server)`;

/** How long redis-server may take to accept connections. */
const START_TIMEOUT_MS = 10_000;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RedisServerOptions {
  readonly port?: number;
  /** Keep the data in an append-only file in `dir` (survives a restart on the same dir). */
  readonly appendonly?: boolean;
  readonly dir?: string;
}

export class RedisServer {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private process: ChildProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'gateway-redis-'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no', '--dir', dir];
    // fsync on every write, so that a kill right after a write keeps it.
    if (options.appendonly) args.push('--appendfsync', 'always');
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const server = new RedisServer(port, dir, child);
    try {
      await server.waitForPort();
    } catch (err) {
      // Nothing left behind by a start that failed: no process, and no folder this start made.
      child.kill('SIGKILL');
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  /** Stops it with SIGKILL (a crash: nothing flushed beyond what it already wrote) or SIGTERM. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.process;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    // A paused server takes a SIGTERM only once it runs again.
    child.kill('SIGCONT');
    await exited;
  }

  /** SIGSTOP: it keeps its connections and answers nothing (a hung Redis); `resume()` undoes it. */
  pause(): void {
    this.process.kill('SIGSTOP');
  }

  resume(): void {
    this.process.kill('SIGCONT');
  }

  /** Starts it again on the same port and directory. */
  async restart(options: { appendonly?: boolean } = {}): Promise<void> {
    await this.stop();
    const next = await RedisServer.start({ port: this.port, dir: this.dir, appendonly: options.appendonly });
    this.process = next.process;
  }

  async close(): Promise<void> {
    this.resume();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitForPort(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: '127.0.0.1', port: this.port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) return;
      if (this.process.exitCode !== null) throw new Error(`redis-server exited with ${this.process.exitCode} on port ${this.port}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port} within ${START_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
