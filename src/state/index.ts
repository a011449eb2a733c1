// The gateway's store, chosen once at start-up: Redis when REDIS_URL is set, else this process.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { Store } from './store.js';

export type StoreSettings = Pick<
  Config,
  'REDIS_URL' | 'REDIS_PREFIX' | 'REDIS_TIMEOUT_MS' | 'REDIS_FAIL_OPEN_SHARE' | 'STATE_MEMORY_MAX_BYTES' | 'STATE_FILE'
>;

/** Throws a ConfigError when STATE_FILE cannot be read as a snapshot. */
export function createStore(config: StoreSettings, logger?: Logger): Store {
  if (config.REDIS_URL !== '') {
    return new RedisStore({
      url: config.REDIS_URL,
      prefix: config.REDIS_PREFIX,
      timeoutMs: config.REDIS_TIMEOUT_MS,
      failOpenShare: config.REDIS_FAIL_OPEN_SHARE,
      memoryMaxBytes: config.STATE_MEMORY_MAX_BYTES,
      logger,
    });
  }
  return new MemoryStore({ maxBytes: config.STATE_MEMORY_MAX_BYTES, stateFile: config.STATE_FILE, logger });
}

export { MemoryStore } from './memory.js';
export { RedisStore } from './redis.js';
export type * from './store.js';
