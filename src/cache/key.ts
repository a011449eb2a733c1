// The response cache's key: SHA-256 over a canonical form of the client's request (its JSON parsed,
// object keys sorted at every depth, no whitespace, numbers as JSON writes them), so that key order
// and whitespace never matter, and over who asked and who answers: the inbound API and path,
// whether it streams, the route, the target that answers, and the tenant. Two tenants never share
// an entry; a fallback target's answer has a key of its own, which is never looked up.
import { createHash } from 'node:crypto';
import type { BodyBytes } from '../body.js';

/**
 * Top-level fields that do not change the answer, left out of the key: who the end user is
 * (`user`, `safety_identifier`, Anthropic's `metadata.user_id`), labels kept with a stored
 * completion (`metadata`), and a hint for the provider's own prompt cache (`prompt_cache_key`).
 * `stream_options` stays in: `include_usage` adds a chunk to what the client is sent.
 */
export const IGNORED_FIELDS: ReadonlySet<string> = new Set(['user', 'metadata', 'safety_identifier', 'prompt_cache_key']);

/** Bumped when the key's form or an entry's layout changes, so that old entries are never read. */
const KEY_VERSION = 'v1';

export interface KeyParts {
  /** The inbound API: chat, messages, responses or gemini (apiLabel). */
  readonly api: string;
  /** The request's path without its query (the Gemini API names its model and method there). */
  readonly path: string;
  readonly stream: boolean;
  readonly route: string;
  /** The target whose answer the entry holds: the route's first for this request. */
  readonly target: string;
  /** Who the answer belongs to: a gateway key's id, or a hash of the client's credentials. */
  readonly tenant: string;
}

/** The key as hex, or undefined for a body that is not JSON (or nested too deep to walk): not cached. */
export function cacheKey(parts: KeyParts, body: BodyBytes | null): string | undefined {
  let canonical: string;
  try {
    const text = body === null ? '' : Buffer.isBuffer(body) ? body.toString('utf8') : Buffer.concat(body).toString('utf8');
    const parsed: unknown = text === '' ? null : JSON.parse(text);
    canonical = canonicalJson([KEY_VERSION, parts.api, parts.path, parts.stream, parts.route, parts.target, parts.tenant, withoutIgnored(parsed)]);
  } catch {
    return undefined;
  }
  return createHash('sha256').update(canonical).digest('hex');
}

function withoutIgnored(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  // Without a prototype: a client's "__proto__" field is then a field like any other.
  const kept: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(body)) if (!IGNORED_FIELDS.has(name)) kept[name] = value;
  return kept;
}

/** JSON with object keys sorted at every depth and no whitespace: one text for every equal value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const names = Object.keys(record).sort();
  let out = '{';
  for (let i = 0; i < names.length; i++) out += `${i === 0 ? '' : ','}${JSON.stringify(names[i])}:${canonicalJson(record[names[i]!])}`;
  return `${out}}`;
}
