// A feature that is off costs nothing: a gateway without REDIS_URL never loads the Redis client
// (a store it needs is then in the process); one with REDIS_URL loads it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

/** Whether a fresh process that makes a gateway server with `env` has ioredis among its loaded modules. */
function loadsIoredis(env: Record<string, string>): boolean {
  const script = `
    const { loadConfig } = await import('./dist/src/config.js');
    const { createGatewayServer } = await import('./dist/src/server.js');
    const { createLogger } = await import('./dist/src/logger.js');
    const server = createGatewayServer(loadConfig(${JSON.stringify(env)}), createLogger('silent'));
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/node_modules/ioredis/'));
    process.stdout.write(String(loaded));
    process.exit(0);
  `;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }) === 'true';
}

test('without REDIS_URL the Redis client is not loaded; with it, it is', () => {
  assert.equal(loadsIoredis({ LOG_LEVEL: 'silent' }), false);
  // The control: the same probe sees the client once a Redis store is made (it connects in the background, to nothing).
  assert.equal(loadsIoredis({ LOG_LEVEL: 'silent', REDIS_URL: 'redis://127.0.0.1:9' }), true);
});
