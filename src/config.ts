// Settings: environment variables for the common knobs, one optional JSON file (CONFIG_FILE) for
// the rest. Everything is validated once at start-up into a frozen Config; nothing on the request
// path reads the environment. Every problem is reported at once, each naming its setting.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { providerSpecs } from './providers/index.js';

/** Node keeps a timer's delay in a signed 32-bit int; a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A number given as a number or as text; blank text is not a number (Number('') would be 0). */
function numeric(error: string) {
  return z.preprocess((value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value), z.number({ error }));
}

function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be an integer, at least ${min}` : `must be an integer from ${min} to ${max}`;
  return numeric(error).pipe(z.number().int({ error }).min(min, { error }).max(max, { error }));
}

/** Every *_MS setting: it ends up as a timer's delay, so it must fit in one. */
function duration(min: number) {
  return numeric('must be a whole number of milliseconds').pipe(
    z
      .number()
      .int({ error: 'must be a whole number of milliseconds' })
      .min(min, { error: `must be at least ${min} ms` })
      .max(MAX_TIMER_MS, { error: `must be at most ${MAX_TIMER_MS} ms (about 24.8 days)` }),
  );
}

/** A comma-separated list (or, in CONFIG_FILE, an array), trimmed, without empty items; `check` names a bad item. */
function list(normalise: (item: string) => string, check: (item: string) => string | undefined) {
  return z.union([z.string(), z.array(z.string())], { error: 'must be a comma-separated list' }).transform((value, ctx) => {
    const items = (typeof value === 'string' ? value.split(',') : value).map((item) => item.trim()).filter((item) => item !== '');
    let ok = true;
    for (const item of items) {
      const problem = check(item);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        ok = false;
      }
    }
    return ok ? (Object.freeze([...new Set(items.map(normalise))]) as readonly string[]) : z.NEVER;
  });
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const providerNames = providerSpecs.map((spec) => spec.name);

// RFC 9110 token characters (less *), for method names; a header pattern may end in * (any suffix).
const METHOD = /^[!#$%&'+.^_`|~0-9A-Za-z-]+$/;
const HEADER_PATTERN = /^[!#$%&'+.^_`|~0-9A-Za-z-]*\*?$/;
// scheme://host[:port] and nothing after it: what a browser sends as Origin.
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]+$/i;

function originProblem(item: string): string | undefined {
  if (item === '*') return undefined;
  const bad = `"${item}" is not an origin (scheme://host[:port], no path, e.g. https://app.example.com) or *`;
  if (!ORIGIN.test(item)) return bad;
  try {
    return new URL(item).host === '' ? bad : undefined;
  } catch {
    return bad;
  }
}

/** As browsers send it: lower-case scheme and host, no default port. */
function normaliseOrigin(item: string): string {
  if (item === '*') return item;
  const url = new URL(item);
  return `${url.protocol}//${url.host}`;
}

const CLIENT_SDK_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'content-type',
  'x-provider',
  'x-request-id',
  'x-gateway-max-retries',
  'x-gateway-timeout-ms',
  'x-api-key',
  'anthropic-version',
  'anthropic-beta',
  'openai-organization',
  'openai-project',
  // The openai and anthropic SDKs describe themselves in x-stainless-* headers (os, lang, arch,
  // runtime, package-version, retry-count, timeout, helper-method, ...).
  'x-stainless-*',
  // The SDKs set user-agent too; Firefox and Safari then list it in the preflight.
  'user-agent',
]);

const settingsSchema = z
  .object({
    HOST: z.string().min(1, { error: 'must not be empty' }).default('127.0.0.1'),
    PORT: int(0, 65535).default(3000),
    LOG_LEVEL: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }))
      .default('info'),
    DEFAULT_PROVIDER: z
      .string()
      .trim()
      .refine((name) => providerNames.includes(name.toLowerCase()), {
        error: (issue) => `unknown provider "${String(issue.input)}"; known: ${providerNames.join(', ')}`,
      })
      .toLowerCase()
      .default('fireworks'),
    MAX_RETRIES: int(0, 10).default(2),
    REQUEST_TIMEOUT_MS: duration(1).default(300_000),
    STREAM_IDLE_TIMEOUT_MS: duration(1).default(60_000),
    CLIENT_STALL_TIMEOUT_MS: duration(1).default(120_000),
    RETRY_BASE_DELAY_MS: duration(0).default(250),
    RETRY_MAX_DELAY_MS: duration(0).default(8_000),
    MAX_BODY_BYTES: int(1).default(20 * 1024 * 1024),
    MAX_BUFFERED_RESPONSE_BYTES: int(0).default(8 * 1024 * 1024),
    HEADERS_TIMEOUT_MS: duration(1).default(30_000),
    BODY_TIMEOUT_MS: duration(1).default(60_000),
    KEEP_ALIVE_TIMEOUT_MS: duration(0).default(65_000),
    SHUTDOWN_GRACE_MS: duration(0).default(10_000),
    // Connections per provider origin; 0 = no cap (long-lived streams each hold one).
    UPSTREAM_CONNECTIONS: int(0).default(0),
    WORKERS: z.union([z.literal('auto'), int(1, 256)], { error: 'must be "auto" or an integer from 1 to 256' }).default(1),
    CORS_ORIGINS: list(normaliseOrigin, originProblem).default(Object.freeze([])),
    CORS_ALLOW_HEADERS: list(
      (item) => item.toLowerCase(),
      (item) => (HEADER_PATTERN.test(item) ? undefined : `"${item}" is not a header name (or a name ending in *)`),
    ).default(CLIENT_SDK_HEADERS),
    CORS_ALLOW_METHODS: list(
      (item) => item.toUpperCase(),
      (item) => (METHOD.test(item) ? undefined : `"${item}" is not a method name`),
    ).default(Object.freeze(['GET', 'POST', 'OPTIONS'])),
    CORS_MAX_AGE_S: int(0).default(600),
  });

export type Settings = z.infer<typeof settingsSchema>;

/**
 * One line per setting for --help. A Record over every setting, so a setting without its line
 * does not compile.
 */
export const settingDescriptions: Readonly<Record<keyof Settings, string>> = {
  HOST: 'Address to listen on (127.0.0.1 is this machine only; 0.0.0.0 every interface).',
  PORT: 'Port to listen on (0-65535; 0 picks a free one).',
  LOG_LEVEL: `Log level, any case: ${LOG_LEVELS.join(', ')}.`,
  DEFAULT_PROVIDER: 'Provider for requests without an x-provider header.',
  MAX_RETRIES: 'Retries after the first attempt (0-10); x-gateway-max-retries can lower it per request.',
  REQUEST_TIMEOUT_MS:
    'Budget of one request, retries included, until the whole answer (or a stream\'s first byte); then 504.',
  STREAM_IDLE_TIMEOUT_MS: 'Longest gap between two chunks of a stream from the provider.',
  CLIENT_STALL_TIMEOUT_MS:
    'How long a client that stopped reading a streamed answer may hold it before the gateway cancels upstream and closes.',
  RETRY_BASE_DELAY_MS: 'Backoff base: retry n waits a random time below base * 2^(n-1).',
  RETRY_MAX_DELAY_MS: 'Backoff ceiling; at least RETRY_BASE_DELAY_MS.',
  MAX_BODY_BYTES: 'Largest request body; larger is 413.',
  MAX_BUFFERED_RESPONSE_BYTES:
    'Non-streamed answers are buffered (so they can be retried) up to this size; a larger one is passed through as it arrives.',
  HEADERS_TIMEOUT_MS: 'Time a client has to send its request headers; then 408.',
  BODY_TIMEOUT_MS: 'Time a client has to send the whole request; then 408.',
  KEEP_ALIVE_TIMEOUT_MS: 'How long an idle client connection is kept open for the next request.',
  SHUTDOWN_GRACE_MS: 'On SIGTERM/SIGINT, how long in-flight requests may run before they are cut.',
  UPSTREAM_CONNECTIONS: 'Most connections open to each provider origin; 0 = no cap.',
  WORKERS: 'Processes serving the port: 1-256, or auto for one per core.',
  CORS_ORIGINS:
    'Browser origins allowed to call the gateway, comma-separated (https://app.example.com), or *; empty = CORS off.',
  CORS_ALLOW_HEADERS: 'Request headers a browser may send (a trailing * matches a prefix, as in x-stainless-*).',
  CORS_ALLOW_METHODS: 'Methods a browser may use.',
  CORS_MAX_AGE_S: 'How long a browser may cache a preflight answer, in seconds.',
};

export interface ProviderSettings {
  readonly baseUrl: URL;
  /** Server-side key, used when the client sends none. */
  readonly apiKey: string | undefined;
  /** The spec's provider-specific options (ProviderSpec.options), each resolved to a value. */
  readonly options: Readonly<Record<string, string>>;
}

export interface Config extends Settings {
  readonly providers: Readonly<Record<string, ProviderSettings>>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** One line per problem, each naming its setting; `message` is these joined by newlines. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** Every variable the gateway reads besides the providers' and CONFIG_FILE. */
export const settingNames = Object.keys(settingsSchema.shape) as (keyof Settings)[];

const fileSchema = z
  .object({
    settings: z.record(z.string(), z.union([z.string(), z.number(), z.array(z.string())])).optional(),
    providers: z
      .record(z.string(), z
          .object({
            baseUrl: z.string().optional(),
            apiKey: z.string().optional(),
            options: z.record(z.string(), z.string()).optional(),
          })
          .strict())
      .optional(),
  })
  .strict();

type ConfigFile = z.infer<typeof fileSchema>;

function readConfigFile(path: string, problems: string[]): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    problems.push(`CONFIG_FILE ${path}: ${(err as Error).message}`);
    return {};
  }
  const parsed = fileSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    problems.push(`CONFIG_FILE ${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return {};
}

function parseBaseUrl(value: string): URL | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an absolute http(s) URL, got "${value}"`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must use http or https, got "${url.protocol}"`;
  // Paths are joined as base + route suffix, so keep the base without its trailing slash.
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

const shape: Readonly<Record<string, z.ZodType>> = settingsSchema.shape;

/** The settings as they are when nothing is set, for --help. */
export function defaultSettings(): Settings {
  const defaults: Record<string, unknown> = {};
  for (const name of settingNames) defaults[name] = shape[name]!.parse(undefined);
  return defaults as Settings;
}

/** Builds the Config from the environment (and CONFIG_FILE when set); throws one ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const file = env.CONFIG_FILE ? readConfigFile(env.CONFIG_FILE, problems) : {};
  const fromFile = ` (from CONFIG_FILE ${env.CONFIG_FILE})`;

  const unknown = Object.keys(file.settings ?? {}).filter((name) => !Object.hasOwn(shape, name));
  if (unknown.length > 0) {
    problems.push(`CONFIG_FILE: unknown setting(s) ${unknown.join(', ')}; known: ${settingNames.join(', ')}`);
  }

  // Each setting on its own, so that one bad value hides neither the others nor the checks across them.
  const values: Record<string, unknown> = {};
  const valid = new Set<string>();
  for (const name of settingNames) {
    const fromEnv = env[name] !== undefined && env[name] !== '';
    const input = fromEnv ? env[name] : file.settings?.[name];
    const parsed = shape[name]!.safeParse(input);
    if (parsed.success) {
      // zod hands out a copy of an array default; the Config is frozen all the way down.
      values[name] = Array.isArray(parsed.data) ? Object.freeze(parsed.data) : parsed.data;
      valid.add(name);
      continue;
    }
    const where = fromEnv || input === undefined ? '' : fromFile;
    for (const issue of parsed.error.issues) {
      // A custom issue quotes the bad item itself; the others say what they got.
      const got = issue.code === 'custom' ? '' : `, got ${JSON.stringify(input)}`;
      problems.push(`${name}: ${issue.message}${got}${where}`);
    }
  }
  const base = values.RETRY_BASE_DELAY_MS as number;
  const ceiling = values.RETRY_MAX_DELAY_MS as number;
  if (valid.has('RETRY_BASE_DELAY_MS') && valid.has('RETRY_MAX_DELAY_MS') && ceiling < base) {
    problems.push(`RETRY_MAX_DELAY_MS: must be at least RETRY_BASE_DELAY_MS (${base}), got ${ceiling}`);
  }

  const providers: Record<string, ProviderSettings> = {};
  for (const spec of providerSpecs) {
    const inFile = file.providers?.[spec.name];
    const fromEnv = Boolean(env[spec.baseUrlEnv]);
    const chosen = env[spec.baseUrlEnv] || inFile?.baseUrl || spec.defaultBaseUrl;
    if (chosen === undefined) continue;
    const baseUrl = parseBaseUrl(chosen);
    if (typeof baseUrl === 'string') {
      problems.push(`${spec.baseUrlEnv}: ${baseUrl}${fromEnv ? '' : ` (providers.${spec.name}.baseUrl${fromFile})`}`);
      continue;
    }
    const options: Record<string, string> = {};
    for (const [name, option] of Object.entries(spec.options ?? {})) {
      const value = env[option.env] || inFile?.options?.[name] || option.default;
      if (option.values !== undefined && !option.values.includes(value)) {
        problems.push(`${option.env}: must be one of ${option.values.join(', ')}, got ${JSON.stringify(value)}`);
      }
      options[name] = value;
    }
    const unknownOptions = Object.keys(inFile?.options ?? {}).filter((name) => !Object.hasOwn(spec.options ?? {}, name));
    if (unknownOptions.length > 0) {
      problems.push(`CONFIG_FILE: providers.${spec.name}.options: unknown option(s) ${unknownOptions.join(', ')}`);
    }
    providers[spec.name] = Object.freeze({
      baseUrl,
      apiKey: env[spec.apiKeyEnv] || inFile?.apiKey || undefined,
      options: Object.freeze(options),
    });
  }
  const unknownProviders = Object.keys(file.providers ?? {}).filter((name) => !providerNames.includes(name));
  if (unknownProviders.length > 0) {
    problems.push(
      `CONFIG_FILE: unknown provider(s) ${unknownProviders.map((name) => `"${name}"`).join(', ')}; known: ${providerNames.join(', ')}`,
    );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...(values as Settings), providers: Object.freeze(providers) });
}
