// A real nginx as the load balancer in front of several gateways, for the tests: on a free
// loopback port, round robin over the given upstreams, with no buffering (streams pass as they
// come), each answer naming the upstream that served it (x-upstream). Skipped, saying why, where
// nginx is not installed (.ci/run installs Debian's package).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';
import { until } from './helpers.js';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));
export const skipNginx: string | false = NGINX !== undefined ? false : 'nginx is not installed (apt-get install nginx)';

export class Nginx {
  private constructor(
    readonly origin: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly output: () => string,
  ) {}

  /** nginx balancing over `upstreams` (http://127.0.0.1:PORT each). */
  static async start(upstreams: readonly string[]): Promise<Nginx> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'gateway-nginx-'));
    // Workers may run as another user (nginx drops root): they write their temporary files here.
    chmodSync(dir, 0o777);
    const servers = upstreams.map((origin) => `    server ${new URL(origin).host};`).join('\n');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream gateways {
${servers}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 64m;
    location / {
      proxy_pass http://gateways;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_next_upstream off;
      add_header x-upstream $upstream_addr always;
    }
  }
}
`,
    );
    let output = '';
    const child = spawn(NGINX!, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const origin = `http://127.0.0.1:${port}`;
    const nginx = new Nginx(origin, dir, child, () => output);
    await until(() => existsSync(join(dir, 'nginx.pid')) || child.exitCode !== null, 10_000);
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}`);
    // The pid file is written before the socket accepts: wait until an answer comes.
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${origin}/health`).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return nginx;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGQUIT');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    return this.output();
  }
}
