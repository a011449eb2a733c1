// The state settings' defaults, in a module of their own so that config.ts reads them without
// loading the stores (which import config.ts's ConfigError).

/** STATE_MEMORY_MAX_BYTES's default: bytes kept by get/set (keys and values), across all keys. */
export const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;
/** REDIS_PREFIX's default. */
export const DEFAULT_REDIS_PREFIX = 'aigw:';
/** REDIS_TIMEOUT_MS's default: a few loopback or same-zone round trips. */
export const DEFAULT_REDIS_TIMEOUT_MS = 50;
