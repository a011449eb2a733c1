// Settings: environment variables for the common knobs, one optional JSON file (CONFIG_FILE) for
// the rest. Everything is validated once at start-up into a frozen Config; nothing on the request
// path reads the environment.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { providerSpecs } from './providers/index.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

const settingsSchema = z
  .object({
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(0, 65535).default(3000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DEFAULT_PROVIDER: z.string().min(1).default('fireworks'),
    MAX_RETRIES: int(0, 10).default(2),
    REQUEST_TIMEOUT_MS: int(1).default(300_000),
    STREAM_IDLE_TIMEOUT_MS: int(1).default(60_000),
    RETRY_BASE_DELAY_MS: int(0).default(250),
    RETRY_MAX_DELAY_MS: int(0).default(8_000),
    MAX_BODY_BYTES: int(1).default(20 * 1024 * 1024),
    HEADERS_TIMEOUT_MS: int(1).default(30_000),
    BODY_TIMEOUT_MS: int(1).default(60_000),
    KEEP_ALIVE_TIMEOUT_MS: int(0).default(65_000),
    SHUTDOWN_GRACE_MS: int(0).default(10_000),
    // Connections per provider origin; 0 = no cap (long-lived streams each hold one).
    UPSTREAM_CONNECTIONS: int(0).default(0),
    WORKERS: z
      .union([z.literal('auto'), int(1, 256)])
      .default(1),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;

export interface ProviderSettings {
  readonly baseUrl: URL;
  /** Server-side key, used when the client sends none. */
  readonly apiKey: string | undefined;
}

export interface Config extends Settings {
  readonly providers: Readonly<Record<string, ProviderSettings>>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every variable the gateway reads, with its default, for the README and error messages. */
export const settingNames = Object.keys(settingsSchema.shape) as (keyof Settings)[];

const fileSchema = z
  .object({
    settings: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    providers: z
      .record(z.string(), z.object({ baseUrl: z.string().optional(), apiKey: z.string().optional() }).strict())
      .optional(),
  })
  .strict();

function readConfigFile(path: string): z.infer<typeof fileSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`CONFIG_FILE ${path}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`CONFIG_FILE ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

function parseBaseUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must use http or https, got "${url.protocol}"`);
  }
  // Paths are joined as base + route suffix, so keep the base without its trailing slash.
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

/** Builds the Config from the environment (and CONFIG_FILE when set); throws ConfigError naming the bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.CONFIG_FILE ? readConfigFile(env.CONFIG_FILE) : {};

  const input: Record<string, unknown> = { ...file.settings };
  for (const name of settingNames) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      throw new ConfigError(`CONFIG_FILE: unknown setting(s) ${issue.keys.join(', ')}; known: ${settingNames.join(', ')}`);
    }
    throw new ConfigError(`${name}: ${issue.message} (got "${String(input[name])}")`);
  }
  const settings = parsed.data;

  const providers: Record<string, ProviderSettings> = {};
  for (const spec of providerSpecs) {
    const fromFile = file.providers?.[spec.name];
    const baseUrlName = spec.baseUrlEnv;
    const baseUrl = env[baseUrlName] || fromFile?.baseUrl || spec.defaultBaseUrl;
    providers[spec.name] = Object.freeze({
      baseUrl: parseBaseUrl(env[baseUrlName] ? baseUrlName : `${spec.name} baseUrl`, baseUrl),
      apiKey: env[spec.apiKeyEnv] || fromFile?.apiKey || undefined,
    });
  }
  for (const name of Object.keys(file.providers ?? {})) {
    if (!providers[name]) throw new ConfigError(`CONFIG_FILE: unknown provider "${name}"; known: ${Object.keys(providers).join(', ')}`);
  }
  if (!providers[settings.DEFAULT_PROVIDER.toLowerCase()]) {
    throw new ConfigError(
      `DEFAULT_PROVIDER: unknown provider "${settings.DEFAULT_PROVIDER}"; known: ${Object.keys(providers).join(', ')}`,
    );
  }
  if (settings.RETRY_MAX_DELAY_MS < settings.RETRY_BASE_DELAY_MS) {
    throw new ConfigError('RETRY_MAX_DELAY_MS must be at least RETRY_BASE_DELAY_MS');
  }

  return Object.freeze({
    ...settings,
    DEFAULT_PROVIDER: settings.DEFAULT_PROVIDER.toLowerCase(),
    providers: Object.freeze(providers),
  });
}
