// The optional config file (--config or CONFIG_FILE), YAML or JSON: JSON is YAML 1.2, so the one
// parser reads both, whatever the file is called. This module checks the file's shape and knows
// where each value sits in it; what the values mean (settings, providers, precedence over the
// environment) is config.ts's. Each section and each provider entry is checked on its own, so one
// bad entry hides no other problem, and every problem starts with `file:line: dotted.path`.
import { readFileSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { DEFAULT_MODEL_APIS, type DefaultModelApi } from './aliases.js';

/** A value from the file and its place there. */
export interface Located<T> {
  readonly value: T;
  readonly line: number;
  /** `gateway.yaml:12: providers.fireworks.base_url`: the start of a problem line about this value. */
  readonly at: string;
}

/** What the file says about one provider; absent fields are not in the file. */
export interface FileProvider {
  readonly name: Located<string>;
  readonly baseUrl?: Located<string>;
  readonly apiKey?: Located<string>;
  /** The name of the environment variable holding the key. */
  readonly apiKeyEnv?: Located<string>;
  readonly options: readonly (Located<string> & { readonly name: string })[];
}

/** A provider of the team's own (custom_providers), declared whole in the file. */
export interface FileCustomProvider extends FileProvider {
  /** Lower-case names. */
  readonly headers: readonly (readonly [string, string])[];
  readonly requestIdHeader?: string;
  readonly keyOptional: boolean;
  /** The server serves OpenAI's Responses API itself (vLLM, Ollama): /v1/responses is passed through. */
  readonly responsesApi: boolean;
}

/** One entry of `model_aliases`: a model name clients send, and the model (`provider/model`) to serve it. */
export interface FileAlias extends Located<string> {
  readonly name: string;
}

/** One entry of `default_models`: an inbound API and the model that serves a request no alias matched. */
export interface FileDefaultModel extends Located<string> {
  readonly api: DefaultModelApi;
}

/** A route's breaker settings as the file gives them; absent ones take the defaults. */
export interface FileBreaker {
  readonly consecutiveFailures?: number;
  readonly errorRatio?: number;
  readonly windowMs?: number;
  readonly minRequests?: number;
  readonly openMs?: number;
  readonly halfOpenProbes?: number;
}

/** One target of a route: a provider, a model, its keys (environment variable names) and its overrides. */
export interface FileTarget {
  /** Where the target sits in the file (`routes.fast.targets[0]`), for problems found later. */
  readonly at: string;
  readonly provider: Located<string>;
  readonly model: string;
  readonly id: string | undefined;
  readonly keys: readonly Located<string>[];
  readonly weight: number;
  readonly timeoutMs: number | undefined;
  readonly maxRetries: number | undefined;
  /** Lower-case names. */
  readonly headers: readonly (readonly [string, string])[];
}

/** One entry of `routes`: a model name (or a pattern of them) served by targets in turn. */
export interface FileRoute {
  readonly name: Located<string>;
  readonly strategy: 'fallback' | 'weighted' | 'least-latency';
  readonly timeoutMs: number | undefined;
  readonly maxAttempts: number | undefined;
  readonly failOverOn: readonly number[];
  readonly allowTargetOverride: boolean;
  readonly hedge: { readonly afterMs: number; readonly maxInFlight: number | undefined } | undefined;
  readonly breaker: FileBreaker;
  /** `cache: { ttl }`: the route's answers kept this many seconds; absent, none are. */
  readonly cacheTtlS: number | undefined;
  readonly targets: readonly FileTarget[];
}

/** One entry of `prices`: a model's price in USD per million tokens, over the price table's. */
export interface FilePrice {
  readonly provider: Located<string>;
  readonly model: Located<string>;
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number | undefined;
  readonly cacheWrite: number | undefined;
  readonly reasoning: number | undefined;
}

/** The limits of a gateway key or of a group of keys; an absent one is no limit. */
export interface FileLimits {
  /** Requests per minute (a sliding minute). */
  readonly rpm: number | undefined;
  /** Tokens in and out per minute (a sliding minute). */
  readonly tpm: number | undefined;
  /** Streams in progress at once. */
  readonly streams: number | undefined;
  /** USD per calendar day and month (UTC). */
  readonly usdPerDay: number | undefined;
  readonly usdPerMonth: number | undefined;
  /** What these limits do while the shared store cannot be reached: serve on local counts (open), or refuse (closed). */
  readonly onStoreFailure: 'open' | 'closed';
}

/** One entry of `keys`: a gateway key, given by its SHA-256 (never in clear), and what it may do. */
export interface FileKey {
  readonly name: Located<string>;
  /** Lower-case hex SHA-256 of the key's text. */
  readonly sha256: string;
  /** Route names, provider names and model patterns (`*` for any run of characters) it may use; undefined: any. */
  readonly routes: readonly string[] | undefined;
  readonly providers: readonly string[] | undefined;
  readonly models: readonly string[] | undefined;
  readonly group: Located<string> | undefined;
  readonly limits: FileLimits;
}

/** One entry of `key_groups`: limits that the group's keys share (a team's). */
export interface FileKeyGroup {
  readonly name: Located<string>;
  readonly limits: FileLimits;
}

export interface ConfigFile {
  /** Each entry of `settings`, as the key is written there. */
  readonly settings: readonly (Located<unknown> & { readonly key: string })[];
  /** Each entry of `providers`: a built-in provider's base URL, key or options (the names are not checked here). */
  readonly providers: readonly FileProvider[];
  readonly customProviders: readonly FileCustomProvider[];
  readonly modelAliases: readonly FileAlias[];
  readonly defaultModels: readonly FileDefaultModel[];
  readonly routes: readonly FileRoute[];
  /** The top-level `breaker` section: the defaults of every route's breakers. */
  readonly breaker: FileBreaker;
  /** `prices`, in the file's order. */
  readonly prices: readonly FilePrice[];
  /** `keys`: the gateway keys; with any, every request needs one (but `anonymous_routes`). */
  readonly keys: readonly FileKey[];
  readonly keyGroups: readonly FileKeyGroup[];
  /** Routes a request without a gateway key may still use, when keys are configured. */
  readonly anonymousRoutes: readonly string[];
}

export const EMPTY_FILE: ConfigFile = Object.freeze({
  settings: [],
  providers: [],
  customProviders: [],
  modelAliases: [],
  defaultModels: [],
  routes: [],
  breaker: {},
  prices: [],
  keys: [],
  keyGroups: [],
  anonymousRoutes: [],
});

/** Gateway keys one file may declare, and groups; the admin API adds its own to the shared state. */
export const MAX_FILE_KEYS = 10_000;
export const MAX_KEY_GROUPS = 1_000;
/** Names, route names and model patterns one key may list. */
const MAX_KEY_LIST = 256;
/** What a key's or a group's name may be: it is a label in logs and metrics. */
export const KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Targets a route may declare; with their keys, at most MAX_ROUTE_TARGETS (route/strategy.ts) in all. */
const MAX_FILE_TARGETS = 16;
/** The longest a route may keep an answer in the response cache: a week, in seconds. */
export const MAX_CACHE_TTL_S = 7 * 24 * 3600;
/** Keys one target may name. */
const MAX_TARGET_KEYS = 16;
/** What a target's id may be: it names the target in headers, logs and x-gateway-target. */
const TARGET_ID = /^[A-Za-z0-9._:@/-]{1,64}$/;

/** Characters of an HTTP token (RFC 9110), for header names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What undici accepts in a header value (no CR, LF or NUL). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const CUSTOM_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Headers the gateway sets itself, or that would change how the request is framed. */
const RESERVED_HEADERS: Readonly<Record<string, string>> = {
  authorization: 'give the key in api_key or api_key_env',
  host: 'the gateway sets it from base_url',
  'content-length': 'the gateway sets it',
  'content-type': 'the gateway sets it',
  'transfer-encoding': 'the gateway sets it',
  'accept-encoding': 'the gateway asks for identity, to read usage',
  connection: 'a hop-by-hop header',
  'keep-alive': 'a hop-by-hop header',
  'proxy-connection': 'a hop-by-hop header',
  te: 'a hop-by-hop header',
  trailer: 'a hop-by-hop header',
  upgrade: 'a hop-by-hop header',
  expect: 'the gateway does not wait for 100-continue',
};

/** A value that is not what was wanted, for messages: never a whole map or list, nor a secret. */
function kindOf(input: unknown, secret = false): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'an empty value';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a map';
  return secret ? `a ${typeof input}` : JSON.stringify(input);
}

/** The error of a value that is not of type `what`. */
function expected(what: string, secret = false) {
  return { error: (issue: { input: unknown }) => `must be ${what}, got ${kindOf(issue.input, secret)}` };
}

/** An object that names its unknown keys and the known ones. */
function strict<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = `unknown key; known: ${Object.keys(shape).join(', ')}`;
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? known : `must be a map, got ${kindOf(issue.input)}`),
  });
}

const nonEmpty = z.string(expected('a string')).min(1, { error: 'must not be empty' });
const envName = z.string(expected('the name of an environment variable')).regex(ENV_NAME, {
  error: (issue) => `must be the name of an environment variable ([A-Za-z_][A-Za-z0-9_]*), got ${JSON.stringify(issue.input)}`,
});
const headerName = z.string(expected('a header name')).regex(TOKEN, {
  error: (issue) => `${JSON.stringify(issue.input)} is not a header name`,
});

// A key written unquoted may be read as a number: say so without echoing it.
const secret = z.string(expected('a string (quote it)', true)).min(1, { error: 'must not be empty' });

const providerFields = {
  base_url: nonEmpty.optional(),
  api_key: secret.optional(),
  api_key_env: envName.optional(),
};

const builtInEntry = strict({
  ...providerFields,
  // The first spellings of this file (JSON, camelCase); base_url and api_key are the documented ones.
  baseUrl: nonEmpty.optional(),
  apiKey: secret.optional(),
  options: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()], expected('a string, number or true/false')), expected('a map'))
    .optional(),
});

const positiveInt = z.number(expected('a whole number')).int({ error: 'must be a whole number' }).min(1, { error: 'must be at least 1' });
const headerMap = z
  .record(
    headerName,
    // A header value may be a secret: say what is wrong with it, never echo it.
    z.union([z.string(), z.number()], expected('a string', true)).transform(String).pipe(
      z.string().regex(HEADER_VALUE, { error: 'must not hold line breaks or other control characters' }),
    ),
    expected('a map of header names to values'),
  )
  .optional();

const breakerEntry = strict({
  consecutive_failures: positiveInt.max(1_000_000).optional(),
  error_ratio: z.number(expected('a number')).gt(0, { error: 'must be above 0' }).max(1, { error: 'must be at most 1' }).optional(),
  window_ms: positiveInt.min(100, { error: 'must be at least 100' }).max(3_600_000, { error: 'must be at most 3600000 (an hour)' }).optional(),
  min_requests: positiveInt.max(1_000_000).optional(),
  open_ms: positiveInt.max(3_600_000, { error: 'must be at most 3600000 (an hour)' }).optional(),
  half_open_probes: positiveInt.max(1_000).optional(),
});

const targetEntry = strict({
  provider: nonEmpty,
  model: nonEmpty,
  id: z.string(expected('a string')).regex(TARGET_ID, { error: 'must be 1-64 letters, digits or ._:@/-' }).optional(),
  keys: z.array(envName, expected('a list of environment variable names')).min(1, { error: 'must name at least one variable' }).max(MAX_TARGET_KEYS, { error: `must name at most ${MAX_TARGET_KEYS}` }).optional(),
  weight: z.number(expected('a number')).min(0, { error: 'must not be negative' }).max(1_000_000, { error: 'must be at most 1000000' }).optional(),
  timeout_ms: positiveInt.max(86_400_000).optional(),
  max_retries: z.number(expected('a whole number')).int({ error: 'must be a whole number' }).min(0, { error: 'must not be negative' }).max(10, { error: 'must be at most 10' }).optional(),
  headers: headerMap,
});

const routeEntry = strict({
  strategy: z.enum(['fallback', 'weighted', 'least-latency'], expected('fallback, weighted or least-latency')).optional(),
  timeout_ms: positiveInt.max(86_400_000).optional(),
  max_attempts: positiveInt.max(100, { error: 'must be at most 100' }).optional(),
  fail_over_on: z
    .array(z.number(expected('an HTTP status')).int().min(400, { error: 'must be an error status (400-599)' }).max(599, { error: 'must be an error status (400-599)' }), expected('a list of HTTP statuses'))
    .max(50)
    .optional(),
  allow_target_override: z.boolean(expected('true or false')).optional(),
  hedge: strict({
    after_ms: positiveInt.max(600_000),
    max_in_flight: positiveInt.max(100_000).optional(),
  }).optional(),
  breaker: breakerEntry.optional(),
  cache: strict({
    ttl: positiveInt.max(MAX_CACHE_TTL_S, { error: `must be at most ${MAX_CACHE_TTL_S} (7 days, in seconds)` }),
  }).optional(),
  targets: z.array(z.unknown(), expected('a list of targets')).min(1, { error: 'must list at least one target' }).max(MAX_FILE_TARGETS, { error: `must list at most ${MAX_FILE_TARGETS}` }),
});

const customEntry = strict({
  name: z.string(expected('a string')).regex(CUSTOM_NAME, {
    error: (issue) => `must be lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, got ${JSON.stringify(issue.input)}`,
  }),
  ...providerFields,
  headers: z
    .record(
      headerName,
      // A header value may be a secret: say what is wrong with it, never echo it.
      z.union([z.string(), z.number()], expected('a string', true)).transform(String).pipe(
        z.string().regex(HEADER_VALUE, { error: 'must not hold line breaks or other control characters' }),
      ),
      expected('a map of header names to values'),
    )
    .optional(),
  request_id_header: headerName.optional(),
  key_optional: z.boolean(expected('true or false')).optional(),
  responses_api: z.boolean(expected('true or false')).optional(),
});

// USD per million tokens; 0 is a price (a self-hosted model), unlike an absent entry.
const pricePerMillion = z.number(expected('a price in USD per million tokens')).min(0, { error: 'must not be negative' });
const priceEntry = strict({
  provider: nonEmpty,
  model: nonEmpty,
  input: pricePerMillion,
  output: pricePerMillion,
  cache_read: pricePerMillion.optional(),
  cache_write: pricePerMillion.optional(),
  reasoning: pricePerMillion.optional(),
});

const limitsEntry = strict({
  rpm: positiveInt.max(100_000_000).optional(),
  tpm: positiveInt.max(1_000_000_000_000).optional(),
  streams: positiveInt.max(1_000_000).optional(),
  usd_per_day: z.number(expected('an amount in USD')).gt(0, { error: 'must be above 0' }).max(100_000_000).optional(),
  usd_per_month: z.number(expected('an amount in USD')).gt(0, { error: 'must be above 0' }).max(100_000_000).optional(),
  on_store_failure: z.enum(['open', 'closed'], expected('open or closed')).optional(),
});
const keyName = z.string(expected('a string')).regex(KEY_NAME, { error: 'must be 1-64 letters, digits or ._-' });
const nameList = (what: string) => z.array(z.string(expected('a string')).min(1).max(256), expected(`a list of ${what}`)).max(MAX_KEY_LIST).optional();
/** What a key may use and its limits: the same for a file's keys and the admin API's. */
const keyRights = {
  routes: nameList('route names'),
  providers: nameList('provider names'),
  models: nameList('model names or patterns'),
  group: keyName.optional(),
  limits: limitsEntry.optional(),
};
const keyEntry = strict({
  name: keyName,
  // The hash alone: a key in clear in a file is a key in every backup of it.
  sha256: z
    .string(expected('the hex SHA-256 of the key', true))
    .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be the 64 hex digits of the key\'s SHA-256 (printf %s "$KEY" | sha256sum)' }),
  ...keyRights,
});
const groupEntry = strict({ limits: limitsEntry });
/** A key the admin API creates: a file key's fields but its hash, which the gateway makes from the key it draws. */
export const apiKeyEntry = strict({ name: keyName, ...keyRights });
export type ApiKeyEntry = z.infer<typeof apiKeyEntry>;

/** A key's limits as the request path reads them, from the snake_case ones a file or the admin API writes. */
export function limitsOf(entry: z.infer<typeof limitsEntry> | undefined): FileLimits {
  return {
    rpm: entry?.rpm,
    tpm: entry?.tpm,
    streams: entry?.streams,
    usdPerDay: entry?.usd_per_day,
    usdPerMonth: entry?.usd_per_month,
    onStoreFailure: entry?.on_store_failure ?? 'open',
  };
}

// Each section is checked on its own; an empty one (every line commented out) is none.
const sections = strict({
  settings: z.unknown().optional(),
  providers: z.unknown().optional(),
  custom_providers: z.unknown().optional(),
  model_aliases: z.unknown().optional(),
  default_models: z.unknown().optional(),
  routes: z.unknown().optional(),
  breaker: z.unknown().optional(),
  prices: z.unknown().optional(),
  keys: z.unknown().optional(),
  key_groups: z.unknown().optional(),
  anonymous_routes: z.unknown().optional(),
});
const keysSection = z.array(z.unknown(), expected('a list of keys (name, sha256, ...)')).max(MAX_FILE_KEYS, { error: `must list at most ${MAX_FILE_KEYS} keys` }).nullish();
const groupsSection = z.record(keyName, z.unknown(), expected('a map of group names to their limits')).nullish();
const anonymousSection = z.array(z.string(expected('a route name')).min(1), expected('a list of route names')).max(MAX_KEY_LIST).nullish();
const routesSection = z.record(z.string(), z.unknown(), expected('a map of route names to routes')).nullish();
const aliasesSection = z.record(z.string(), z.unknown(), expected('a map of model names to the models that serve them')).nullish();
// Not nullish(): an object schema on its own lets check() keep the known keys beside an unknown one.
const defaultModelsSection = strict(
  Object.fromEntries(Object.keys(DEFAULT_MODEL_APIS).map((api) => [api, z.unknown().optional()])) as Record<DefaultModelApi, z.ZodOptional<z.ZodUnknown>>,
);
const settingsSection = z.record(z.string(), z.unknown(), expected('a map of setting names to values')).nullish();
const providersSection = z.record(z.string(), z.unknown(), expected('a map of provider names to their settings')).nullish();
const customSection = z.array(z.unknown(), expected('a list of providers')).nullish();
const pricesSection = z.array(z.unknown(), expected('a list of prices (provider, model, input, output)')).nullish();

type Path = readonly (string | number)[];

/** `custom_providers[0].headers.x-team`. */
function dotted(path: Path): string {
  let text = '';
  for (const segment of path) text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  return text === '' ? '(top level)' : text;
}

/** The line of the deepest node on `path` (the key's line for a map entry, the item's for a list item). */
function lineOf(doc: Document, lines: LineCounter, path: Path): number {
  let node: unknown = doc.contents;
  let offset = 0;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment));
      if (pair === undefined) break;
      if (isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (item === undefined) break;
      if (isScalar(item) || isMap(item) || isSeq(item)) offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return lines.linePos(offset).line;
}

/**
 * Reads and checks the file at `path`; `label` (`CONFIG_FILE`, `--config`) names where the path
 * came from. Problems are added to `problems`; what could not be read is left out of the answer.
 */
export function readConfigFile(path: string, label: string, problems: string[]): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`${label} ${path}: ${(err as Error).message}`);
    return EMPTY_FILE;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) problems.push(`${path}:${lines.linePos(error.pos[0]).line}: ${error.message}`);
    return EMPTY_FILE;
  }

  const locate = <T>(where: Path, value: T): Located<T> => {
    const line = lineOf(doc, lines, where);
    return { value, line, at: `${path}:${line}: ${dotted(where)}` };
  };
  const place = (where: Path): string => locate(where, undefined).at;
  /** Checks `value` (found at `where`) against `schema`; each issue is a problem at its own place. */
  const check = <T>(schema: z.ZodType<T>, value: unknown, where: Path): T | undefined => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues;
    for (const issue of issues) {
      const at = [...where, ...(issue.path as (string | number)[])];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${place([...at, key])}: ${issue.message}`);
      } else if (issue.code === 'invalid_key') {
        for (const inner of issue.issues) problems.push(`${place(at)}: ${inner.message}`);
      } else {
        problems.push(`${place(at)}: ${issue.message}`);
      }
    }
    // Unknown keys alone leave the rest readable, and worth checking further.
    const onlyUnknownKeys = issues.every((issue) => issue.code === 'unrecognized_keys' && issue.path.length === 0);
    return onlyUnknownKeys && schema instanceof z.ZodObject ? (schema.strip().parse(value) as T) : undefined;
  };

  const top: z.infer<typeof sections> | undefined = doc.contents === null ? {} : check(sections, doc.toJS(), []);
  if (top === undefined) return EMPTY_FILE;
  const settings = check(settingsSection, top.settings, ['settings']) ?? {};

  const provider = (where: Path, name: string, entry: z.infer<typeof builtInEntry>): FileProvider => {
    /** The first of `keys` that is given; a second one is a problem (and is not used). */
    const one = <K extends keyof typeof entry>(...keys: K[]): K | undefined => {
      const given = keys.filter((key) => entry[key] !== undefined);
      if (given.length > 1) problems.push(`${place([...where, given[1]!])}: give only one of ${given.join(' and ')}`);
      return given[0];
    };
    const baseUrlKey = one('base_url', 'baseUrl');
    const apiKeyKey = one('api_key', 'apiKey', 'api_key_env');
    const field = (key: keyof typeof entry | undefined) =>
      key === undefined ? undefined : locate([...where, key], entry[key] as string);
    return {
      name: locate(where, name),
      baseUrl: field(baseUrlKey),
      apiKey: apiKeyKey === 'api_key_env' ? undefined : field(apiKeyKey),
      apiKeyEnv: apiKeyKey === 'api_key_env' ? field(apiKeyKey) : undefined,
      options: Object.entries(entry.options ?? {}).map(([option, value]) => ({
        name: option,
        ...locate([...where, 'options', option], String(value)),
      })),
    };
  };

  const providers: FileProvider[] = [];
  for (const [name, value] of Object.entries(check(providersSection, top.providers, ['providers']) ?? {})) {
    const entry = check(builtInEntry, value, ['providers', name]);
    if (entry !== undefined) providers.push(provider(['providers', name], name, entry));
  }

  const customProviders: FileCustomProvider[] = [];
  for (const [index, value] of (check(customSection, top.custom_providers, ['custom_providers']) ?? []).entries()) {
    const where = ['custom_providers', index];
    const entry = check(customEntry, value, where);
    if (entry === undefined) continue;
    const headers: [string, string][] = [];
    for (const [name, headerValue] of Object.entries(entry.headers ?? {})) {
      const lower = name.toLowerCase();
      const reason = RESERVED_HEADERS[lower];
      if (reason !== undefined) problems.push(`${place([...where, 'headers', name])}: cannot be set here (${reason})`);
      else if (headers.some(([given]) => given === lower)) problems.push(`${place([...where, 'headers', name])}: given twice`);
      else headers.push([lower, headerValue]);
    }
    customProviders.push({
      ...provider(where, entry.name, { ...entry, options: undefined }),
      name: locate([...where, 'name'], entry.name),
      headers,
      requestIdHeader: entry.request_id_header?.toLowerCase(),
      keyOptional: entry.key_optional ?? false,
      responsesApi: entry.responses_api ?? false,
    });
  }

  const breakerOf = (entry: z.infer<typeof breakerEntry> | undefined): FileBreaker => ({
    ...(entry?.consecutive_failures !== undefined && { consecutiveFailures: entry.consecutive_failures }),
    ...(entry?.error_ratio !== undefined && { errorRatio: entry.error_ratio }),
    ...(entry?.window_ms !== undefined && { windowMs: entry.window_ms }),
    ...(entry?.min_requests !== undefined && { minRequests: entry.min_requests }),
    ...(entry?.open_ms !== undefined && { openMs: entry.open_ms }),
    ...(entry?.half_open_probes !== undefined && { halfOpenProbes: entry.half_open_probes }),
  });
  const headersOf = (where: Path, given: Record<string, string> | undefined): [string, string][] => {
    const headers: [string, string][] = [];
    for (const [name, headerValue] of Object.entries(given ?? {})) {
      const lower = name.toLowerCase();
      const reason = RESERVED_HEADERS[lower];
      if (reason !== undefined) problems.push(`${place([...where, 'headers', name])}: cannot be set here (${reason})`);
      else if (headers.some(([seen]) => seen === lower)) problems.push(`${place([...where, 'headers', name])}: given twice`);
      else headers.push([lower, headerValue]);
    }
    return headers;
  };
  const routes: FileRoute[] = [];
  for (const [name, value] of Object.entries(check(routesSection, top.routes, ['routes']) ?? {})) {
    const entry = check(routeEntry, value, ['routes', name]);
    if (entry === undefined) continue;
    const targets: FileTarget[] = [];
    for (const [index, given] of entry.targets.entries()) {
      const where = ['routes', name, 'targets', index];
      const target = check(targetEntry, given, where);
      if (target === undefined) continue;
      targets.push({
        at: place(where),
        provider: locate([...where, 'provider'], target.provider),
        model: target.model,
        id: target.id,
        keys: (target.keys ?? []).map((key, k) => locate([...where, 'keys', k], key)),
        weight: target.weight ?? 1,
        timeoutMs: target.timeout_ms,
        maxRetries: target.max_retries,
        headers: headersOf(where, target.headers),
      });
    }
    if (targets.length < entry.targets.length) continue;
    routes.push({
      name: locate(['routes', name], name),
      strategy: entry.strategy ?? 'fallback',
      timeoutMs: entry.timeout_ms,
      maxAttempts: entry.max_attempts,
      failOverOn: entry.fail_over_on ?? [],
      allowTargetOverride: entry.allow_target_override ?? false,
      hedge: entry.hedge === undefined ? undefined : { afterMs: entry.hedge.after_ms, maxInFlight: entry.hedge.max_in_flight },
      breaker: breakerOf(entry.breaker),
      cacheTtlS: entry.cache?.ttl,
      targets,
    });
  }
  const breaker = top.breaker == null ? {} : breakerOf(check(breakerEntry, top.breaker, ['breaker']));

  const prices: FilePrice[] = [];
  for (const [index, value] of (check(pricesSection, top.prices, ['prices']) ?? []).entries()) {
    const where = ['prices', index];
    const entry = check(priceEntry, value, where);
    if (entry === undefined) continue;
    prices.push({
      provider: locate([...where, 'provider'], entry.provider),
      model: locate([...where, 'model'], entry.model),
      input: entry.input,
      output: entry.output,
      cacheRead: entry.cache_read,
      cacheWrite: entry.cache_write,
      reasoning: entry.reasoning,
    });
  }

  const keys: FileKey[] = [];
  const keyNames = new Set<string>();
  const hashes = new Set<string>();
  for (const [index, value] of (check(keysSection, top.keys, ['keys']) ?? []).entries()) {
    const where = ['keys', index];
    const entry = check(keyEntry, value, where);
    if (entry === undefined) continue;
    const sha256 = entry.sha256.toLowerCase();
    if (keyNames.has(entry.name)) problems.push(`${place([...where, 'name'])}: the name ${JSON.stringify(entry.name)} is given to another key`);
    else if (hashes.has(sha256)) problems.push(`${place([...where, 'sha256'])}: the same key as another entry`);
    keyNames.add(entry.name);
    hashes.add(sha256);
    keys.push({
      name: locate([...where, 'name'], entry.name),
      sha256,
      routes: entry.routes,
      providers: entry.providers?.map((name) => name.toLowerCase()),
      models: entry.models,
      group: entry.group === undefined ? undefined : locate([...where, 'group'], entry.group),
      limits: limitsOf(entry.limits),
    });
  }
  const keyGroups: FileKeyGroup[] = [];
  const groups = Object.entries(check(groupsSection, top.key_groups, ['key_groups']) ?? {});
  if (groups.length > MAX_KEY_GROUPS) problems.push(`${place(['key_groups'])}: at most ${MAX_KEY_GROUPS} groups`);
  for (const [name, value] of groups.slice(0, MAX_KEY_GROUPS)) {
    const entry = check(groupEntry, value, ['key_groups', name]);
    if (entry !== undefined) keyGroups.push({ name: locate(['key_groups', name], name), limits: limitsOf(entry.limits) });
  }
  for (const key of keys) {
    if (key.group !== undefined && !keyGroups.some((group) => group.name.value === key.group!.value)) {
      problems.push(`${key.group.at}: no group ${JSON.stringify(key.group.value)} in key_groups`);
    }
  }
  const anonymousRoutes = check(anonymousSection, top.anonymous_routes, ['anonymous_routes']) ?? [];

  const aliases = check(aliasesSection, top.model_aliases, ['model_aliases']) ?? {};
  const defaults = top.default_models == null ? {} : (check(defaultModelsSection, top.default_models, ['default_models']) ?? {});
  return {
    settings: Object.entries(settings).map(([key, value]) => ({ key, ...locate(['settings', key], value) })),
    providers,
    customProviders,
    // Each alias on its own, so that one bad entry hides no other.
    modelAliases: Object.entries(aliases).flatMap(([name, value]) => {
      const target = check(nonEmpty, value, ['model_aliases', name]);
      return target === undefined ? [] : [{ name, ...locate(['model_aliases', name], target) }];
    }),
    defaultModels: (Object.entries(defaults) as [DefaultModelApi, unknown][]).flatMap(([api, value]) => {
      if (value === undefined) return [];
      const target = check(nonEmpty, value, ['default_models', api]);
      return target === undefined ? [] : [{ api, ...locate(['default_models', api], target) }];
    }),
    routes,
    breaker,
    prices,
    keys,
    keyGroups,
    anonymousRoutes,
  };
}
