// The admin API (ADMIN_KEY_SHA256 set): gateway keys created, listed and revoked at run time.
//   POST   /admin/keys          {name, routes?, providers?, models?, group?, limits?} -> 201, the key once
//   GET    /admin/keys          every key, the file's and the API's, without hashes
//   DELETE /admin/keys/{name}   revokes a key the API created
// The caller presents the admin key as a Bearer token; only its SHA-256 is configured, compared in
// constant time. A key made here is drawn by the gateway, answered once, and kept only by its hash.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import { readBody } from '../body.js';
import type { Config } from '../config.js';
import { apiKeyEntry, type FileLimits } from '../config-file.js';
import { GatewayError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import { presentedKey, sha256Hex, type KeyEntry } from '../governance/keys.js';
import { safeEcho } from '../redact.js';
import { keyEntry, type StoredKey, type StoredKeys } from './stored-keys.js';

export const ADMIN_PREFIX = '/admin/';
const KEYS_PATH = '/admin/keys';
const KEY_PATH_PREFIX = `${KEYS_PATH}/`;
/** An admin request's body: one key's fields, far below this. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;
/** What a drawn key starts with, so that it is recognisable in a config or a leak scanner. */
const KEY_PREFIX = 'gk-';
/** 256 random bits: no key is guessed, nor drawn twice. */
const KEY_RANDOM_BYTES = 32;
/** The longest issue text a refused body is answered with, per field. */
const MAX_ISSUE_CHARS = 200;
const JSON_CONTENT_TYPE = 'application/json';

/** One key as GET /admin/keys lists it: never its hash, never the key. */
interface ListedKey {
  readonly name: string;
  readonly source: 'file' | 'api';
  readonly group: string | null;
  readonly routes: readonly string[] | null;
  readonly providers: readonly string[] | null;
  readonly models: readonly string[] | null;
  readonly limits: Record<string, number | string>;
  readonly created: string | null;
}

/**
 * Why a request may not use what the admin key guards (a 401), or undefined when it presents the
 * admin key, whose SHA-256 is `adminHash`. `what` names the guarded thing for the message.
 */
export function adminKeyRefusal(headers: IncomingHttpHeaders, adminHash: Buffer, what: string): GatewayError | undefined {
  const presented = presentedKey(headers);
  if (presented === undefined) {
    return new GatewayError(401, `${what} needs the admin key: send it as Authorization: Bearer <admin key>.`, 'missing_api_key');
  }
  // Hashes of equal length compared in constant time: the comparison says nothing of how much matched.
  if (!timingSafeEqual(createHash('sha256').update(presented).digest(), adminHash)) {
    return new GatewayError(401, 'Invalid admin key: the key this request presents is not the admin key (ADMIN_KEY_SHA256).', 'invalid_api_key');
  }
  return undefined;
}

export class AdminApi {
  private readonly adminHash: Buffer;
  private readonly fileKeys: readonly KeyEntry[];
  private readonly fileKeyNames: ReadonlySet<string>;
  private readonly routeNames: ReadonlySet<string>;
  private readonly providerNames: ReadonlySet<string>;
  private readonly groupNames: ReadonlySet<string>;

  constructor(
    config: Config,
    fileKeys: readonly KeyEntry[],
    private readonly stored: StoredKeys,
  ) {
    this.adminHash = Buffer.from(config.ADMIN_KEY_SHA256, 'hex');
    this.fileKeys = fileKeys;
    this.fileKeyNames = new Set(fileKeys.map((key) => key.name));
    this.routeNames = new Set(config.routes.map((route) => route.name));
    this.providerNames = new Set(config.providerSpecs.map((spec) => spec.name));
    this.groupNames = new Set(config.keyGroups.map((group) => group.name.value));
  }

  /** Answers a request whose path starts with ADMIN_PREFIX. */
  async handle(ex: Exchange): Promise<void> {
    this.authenticate(ex);
    const method = ex.req.method;
    if (ex.path === KEYS_PATH) {
      if (method === 'GET') return this.list(ex);
      if (method === 'POST') return this.create(ex);
      throw methodNotAllowed(method, 'GET, POST');
    }
    if (ex.path.startsWith(KEY_PATH_PREFIX)) {
      if (method !== 'DELETE') throw methodNotAllowed(method, 'DELETE');
      return this.revoke(ex, ex.path.slice(KEY_PATH_PREFIX.length));
    }
    throw new GatewayError(404, `Unknown admin route ${method} ${safeEcho(ex.path, 200)}; the admin API has ${KEYS_PATH} and ${KEY_PATH_PREFIX}{name}.`, 'unknown_route');
  }

  /** Before anything else, so that a caller without the admin key learns nothing of what exists. */
  private authenticate(ex: Exchange): void {
    const refusal = adminKeyRefusal(ex.req.headers, this.adminHash, 'The admin API');
    if (refusal !== undefined) throw refusal;
  }

  private async list(ex: Exchange): Promise<void> {
    // The store's table, not this instance's copy: a list right after a change elsewhere shows it.
    const fileKeys = this.fileKeys.map((key) => listed(key, 'file', null));
    const apiKeys = (await this.stored.latest()).filter((key) => !this.fileKeyNames.has(key.name)).map((key) => listed(keyEntry(key), 'api', key.created));
    answer(ex, 200, { keys: [...fileKeys, ...apiKeys] });
  }

  private async create(ex: Exchange): Promise<void> {
    const contentType = ex.req.headers['content-type'];
    if (contentType === undefined || !contentType.toLowerCase().startsWith(JSON_CONTENT_TYPE)) {
      throw new GatewayError(415, `Content-Type must be application/json, got ${safeEcho(contentType)}.`, 'unsupported_media_type');
    }
    const entry = this.validate(await readAdminBody(ex));
    const key = `${KEY_PREFIX}${randomBytes(KEY_RANDOM_BYTES).toString('base64url')}`;
    const stored: StoredKey = { ...entry, sha256: sha256Hex(key), created: new Date().toISOString() };
    await this.stored.change((keys) => {
      if (this.fileKeyNames.has(entry.name) || keys.some((other) => other.name === entry.name)) {
        throw new GatewayError(409, `A key named "${entry.name}" exists already; choose another name, or delete that key first.`, 'key_exists', 'name');
      }
      return [...keys, stored];
    });
    answer(ex, 201, { ...listed(keyEntry(stored), 'api', stored.created), key });
  }

  private async revoke(ex: Exchange, name: string): Promise<void> {
    if (this.fileKeyNames.has(name)) {
      throw new GatewayError(409, `The key "${name}" comes from the config file; remove it from the file's keys and reload or restart the gateway.`, 'file_key');
    }
    await this.stored.change((keys) => {
      const kept = keys.filter((key) => key.name !== name);
      if (kept.length === keys.length) throw new GatewayError(404, `No key named ${safeEcho(name, 80)} was created through the admin API.`, 'key_not_found');
      return kept;
    });
    ex.status = 204;
    ex.res.writeHead(204, { 'cache-control': 'no-store', 'x-request-id': ex.id });
    ex.res.end();
  }

  /** The config file's rules for a key, and routes, providers and a group that this gateway has. */
  private validate(body: unknown): z.infer<typeof apiKeyEntry> {
    const parsed = apiKeyEntry.safeParse(body, { reportInput: true });
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.length === 0 ? 'body' : issue.path.join('.')}: ${issueText(issue)}`);
      throw new GatewayError(400, `Invalid key: ${problems.join('; ')}.`, 'invalid_value');
    }
    const entry = parsed.data;
    const problems: string[] = [];
    for (const route of entry.routes ?? []) if (!this.routeNames.has(route)) problems.push(`routes: ${safeEcho(route, 80)} is not a route of this gateway`);
    for (const provider of entry.providers ?? []) {
      if (!this.providerNames.has(provider.toLowerCase())) problems.push(`providers: ${safeEcho(provider, 80)} is not a provider this gateway knows`);
    }
    if (entry.group !== undefined && !this.groupNames.has(entry.group)) problems.push(`group: "${entry.group}" is not in the config file's key_groups`);
    if (problems.length > 0) throw new GatewayError(400, `Invalid key: ${problems.join('; ')}.`, 'invalid_value');
    return entry;
  }
}

async function readAdminBody(ex: Exchange): Promise<unknown> {
  let raw;
  try {
    raw = await readBody(ex.req, MAX_ADMIN_BODY_BYTES);
  } catch (err) {
    if (err instanceof GatewayError && err.status === 413) throw err.withMessage(`An admin request's body is at most ${MAX_ADMIN_BODY_BYTES} bytes.`);
    throw err;
  }
  const text = (Array.isArray(raw) ? Buffer.concat(raw) : raw).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new GatewayError(400, `The body is not JSON: ${(err as Error).message.slice(0, MAX_ISSUE_CHARS)}.`, 'invalid_json');
  }
}

/** A schema issue's text: the schema's own words, with the client's value (if quoted) shown as safeEcho shows it. */
function issueText(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  const text = typeof input === 'string' ? issue.message.replace(JSON.stringify(input), safeEcho(input, 80)) : issue.message;
  return text.slice(0, MAX_ISSUE_CHARS);
}

function listed(key: KeyEntry, source: 'file' | 'api', created: string | null): ListedKey {
  return {
    name: key.name,
    source,
    group: key.group ?? null,
    routes: key.routes ?? null,
    providers: key.providers ?? null,
    models: key.models ?? null,
    limits: snakeLimits(key.limits),
    created,
  };
}

/** Limits as the config file and the admin API write them. */
function snakeLimits(limits: FileLimits): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  if (limits.rpm !== undefined) out.rpm = limits.rpm;
  if (limits.tpm !== undefined) out.tpm = limits.tpm;
  if (limits.streams !== undefined) out.streams = limits.streams;
  if (limits.usdPerDay !== undefined) out.usd_per_day = limits.usdPerDay;
  if (limits.usdPerMonth !== undefined) out.usd_per_month = limits.usdPerMonth;
  out.on_store_failure = limits.onStoreFailure;
  return out;
}

function answer(ex: Exchange, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  ex.status = status;
  ex.res.writeHead(status, { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-request-id': ex.id });
  ex.res.end(text);
}

function methodNotAllowed(method: string | undefined, allowed: string): GatewayError {
  return new GatewayError(405, `Method ${safeEcho(method, 16)} is not allowed here; use ${allowed}.`, 'method_not_allowed', null, undefined, { allow: allowed });
}
