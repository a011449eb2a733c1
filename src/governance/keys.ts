// Gateway keys: the keys a team hands to its apps and people instead of provider keys. The config
// file and the admin API's table hold each key's SHA-256, never the key; a request's key is hashed
// once and looked up. A key says which routes, providers and models it may use, and its limits
// (admission.ts).
import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FileKey, FileKeyGroup, FileLimits } from '../config-file.js';
import { SERVER_KEY_PLACEHOLDER } from '../credentials.js';

/** A key as the request path uses it: its allow lists compiled, its group's limits beside its own. */
export interface GatewayKey {
  readonly name: string;
  readonly group: string | undefined;
  readonly routes: ReadonlySet<string> | undefined;
  readonly providers: ReadonlySet<string> | undefined;
  readonly models: readonly RegExp[] | undefined;
  readonly limits: FileLimits;
  readonly groupLimits: FileLimits | undefined;
}

/** A key as the config file or the admin API declares it: by its hash, its allow lists as written. */
export interface KeyEntry {
  readonly name: string;
  /** Lower-case hex SHA-256 of the key's text. */
  readonly sha256: string;
  readonly routes: readonly string[] | undefined;
  readonly providers: readonly string[] | undefined;
  readonly models: readonly string[] | undefined;
  readonly group: string | undefined;
  readonly limits: FileLimits;
}

export function fileKeyEntry(key: FileKey): KeyEntry {
  return { name: key.name.value, sha256: key.sha256, routes: key.routes, providers: key.providers, models: key.models, group: key.group?.value, limits: key.limits };
}

/** The longest key text looked at: a longer one is no gateway key (and is not hashed). */
export const MAX_KEY_CHARS = 512;
const BEARER_PREFIX = 'bearer ';
/** Where SDKs put a key: OpenAI's Authorization, Anthropic's x-api-key, Azure's api-key, Google's x-goog-api-key (and ?key=, moved there). */
const KEY_HEADERS = ['x-api-key', 'api-key', 'x-goog-api-key'] as const;

/** A model pattern: `*` stands for any run of characters, the rest is literal. */
function modelPattern(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

export function sha256Hex(text: string): string {
  // The one-shot hash: half the cost of a Hash object, on every request with a key.
  return hash('sha256', text, 'hex');
}

export class KeyTable {
  private readonly byHash = new Map<string, GatewayKey>();
  /** Keys seen, by their text: at most one entry per key of byHash (a key's text is one string). */
  private readonly byText = new Map<string, GatewayKey>();

  /** `keys` in order of precedence: an entry whose name or hash an earlier one has is left out (the file's keys come first). */
  constructor(keys: readonly KeyEntry[], groups: readonly FileKeyGroup[]) {
    const groupLimits = new Map(groups.map((group) => [group.name.value, group.limits]));
    const names = new Set<string>();
    for (const key of keys) {
      if (names.has(key.name) || this.byHash.has(key.sha256)) continue;
      names.add(key.name);
      this.byHash.set(key.sha256, {
        name: key.name,
        group: key.group,
        routes: key.routes === undefined ? undefined : new Set(key.routes),
        providers: key.providers === undefined ? undefined : new Set(key.providers),
        models: key.models?.map(modelPattern),
        limits: key.limits,
        groupLimits: key.group === undefined ? undefined : groupLimits.get(key.group),
      });
    }
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Every key, in order of precedence. */
  values(): IterableIterator<GatewayKey> {
    return this.byHash.values();
  }

  /**
   * The key whose hash is `credential`'s, if any. A key found once is remembered by its text, so
   * that its next requests skip the hash; only keys the table holds are, so the memory is bounded
   * by the table, whatever keys clients try.
   */
  find(credential: string): GatewayKey | undefined {
    const known = this.byText.get(credential);
    if (known !== undefined) return known;
    if (credential.length > MAX_KEY_CHARS) return undefined;
    const key = this.byHash.get(sha256Hex(credential));
    if (key !== undefined) this.byText.set(credential, key);
    return key;
  }
}

/**
 * The key a request presents, wherever its SDK put it; undefined when it presents none (or only
 * the placeholder that asks for the gateway's own provider key).
 */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const trimmed = authorization.trim();
    if (trimmed.length > BEARER_PREFIX.length && trimmed.slice(0, BEARER_PREFIX.length).toLowerCase() === BEARER_PREFIX) {
      const key = trimmed.slice(BEARER_PREFIX.length).trim();
      if (key !== '' && key !== SERVER_KEY_PLACEHOLDER) return key;
    }
  }
  for (const name of KEY_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    const key = value.trim();
    if (key !== '' && key !== SERVER_KEY_PLACEHOLDER) return key;
  }
  return undefined;
}
