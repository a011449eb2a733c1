// What the tests of gateway keys share: a key's hash as the config file holds it, and a config
// file written to a temporary folder.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEY, unreachableProviders } from './helpers.js';

/** The hex SHA-256 of a key, as `keys[].sha256` and ADMIN_KEY_SHA256 take it. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A config file holding `yaml`, in a folder of its own; its path. */
export function configFileWith(yaml: string, prefix = 'gateway-keys-'): string {
  const file = join(mkdtempSync(join(tmpdir(), prefix)), 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}

/**
 * The settings of a gateway process that shares `redisUrl` with others: Fireworks at the
 * simulator with the gateway's key, every other provider at a closed local port, and a Redis
 * timeout a loaded test machine meets (a command that times out fails open, and exact counts
 * would not hold). `extra` adds or overrides.
 */
export function sharedGatewayEnv(configFile: string, fireworksUrl: string, redisUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...unreachableProviders(),
    CONFIG_FILE: configFile,
    FIREWORKS_BASE_URL: fireworksUrl,
    FIREWORKS_API_KEY: KEY,
    REDIS_URL: redisUrl,
    REDIS_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'info',
    ...extra,
  };
}
