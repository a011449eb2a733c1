// Who may send a request, and whether it fits its key's limits. Three steps in the request path:
// authenticate (from the headers, before the body is read), admit (once the body named the model
// and the route: allow lists, then one atomic reserve of every limit in the shared store), and
// settle (when the response closes, with the usage and cost the request really had).
import type { Config } from '../config.js';
import type { FileLimits } from '../config-file.js';
import { GatewayError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { GovernanceFigures } from '../observe/metrics.js';
import type { Pricing, RequestRecord } from '../observe/records.js';
import type { Route } from '../route/routes.js';
import { safeEcho } from '../redact.js';
import type { Charge, Lease, OnStoreFailure, Remaining, Reservation, Store } from '../state/store.js';
import { fileKeyEntry, KeyTable, presentedKey, type GatewayKey, type KeyEntry } from './keys.js';

const MINUTE_MS = 60_000;
/** Budgets count micro-dollars: whole numbers, so that the shared store adds them exactly. */
const MICRO = 1_000_000;
/** A stream's slot frees itself this long after its request's deadline, should its gateway die holding it. */
const LEASE_SLACK_MS = 60_000;
/** Bytes of a request body per token, for the input estimate: JSON's syntax makes it an over-estimate. */
const BYTES_PER_TOKEN = 4;
/** The fields a body names its output bound in: chat, Anthropic, Responses (Gemini's is nested, counted by default). */
const MAX_TOKEN_FIELDS = ['"max_completion_tokens"', '"max_tokens"', '"max_output_tokens"'].map((field) => Buffer.from(field));
/** How far past a field name its number is looked for (`: ` and spaces). */
const MAX_TOKENS_LOOKAHEAD = 32;

/** What a request's admission reserved, kept on its Exchange until it is settled. */
export interface Admitted {
  readonly reservation: Reservation;
  /** What each charge stands for, in the reservation's order, to settle it with what was used. */
  readonly kinds: readonly ChargeKind[];
}

type ChargeKind = 'requests' | 'tokens' | 'usd';

/** What governance counts for /metrics. */
export class GovernanceCounts {
  /** Refusals by `owner\0limit` (names from the configuration: a bounded set). */
  readonly refusals = new Map<string, number>();
  /** Admissions served on local counts while the shared store could not answer. */
  local = 0;
}

export class Governance {
  /** Replaced whole when the admin API's keys change: a request reads one table or the next, never half of one. */
  private keys: KeyTable;
  private readonly fileKeys: readonly KeyEntry[];
  private readonly anonymousRoutes: ReadonlySet<string>;


  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly pricing: Pricing,
    private readonly defaultMaxTokens: number,
    /** Kept by the server across reloads, so that the counters do not start over. */
    private readonly counts: GovernanceCounts = new GovernanceCounts(),
  ) {
    this.fileKeys = config.gatewayKeys.map(fileKeyEntry);
    this.keys = new KeyTable(this.fileKeys, config.keyGroups);
    this.anonymousRoutes = new Set(config.anonymousRoutes);
  }

  /** The admin API's keys beside the file's, which win a name or a hash they share. */
  useApiKeys(keys: readonly KeyEntry[]): void {
    this.keys = new KeyTable([...this.fileKeys, ...keys], this.config.keyGroups);
  }

  /**
   * Who the request is, from its headers alone (the body is not read yet): its gateway key, or
   * nobody when it presents none and anonymous routes exist (admit() then checks the route). An
   * unknown key, or none where every route needs one, is a 401.
   */
  authenticate(ex: Exchange): void {
    const presented = presentedKey(ex.req.headers);
    if (presented === undefined) {
      if (this.anonymousRoutes.size > 0) return;
      throw missingKey(ex);
    }
    const key = this.keys.find(presented);
    if (key === undefined) throw new GatewayError(401, 'Invalid gateway key: the key this request presents is not one this gateway knows.', 'invalid_api_key');
    ex.gatewayKey = key;
  }

  /**
   * The key's allow lists for the targets the request may reach, then one reserve of every limit
   * of the key and its group. A refusal is a 429 (with `retry-after`) or, while the shared store is
   * down and a limit fails closed, a 503.
   */
  async admit(ex: Exchange): Promise<void> {
    const key = ex.gatewayKey;
    const route = ex.route;
    if (key === undefined) {
      if (route === undefined || !this.anonymousRoutes.has(route.name)) throw missingKey(ex);
      return;
    }
    allowed(key, ex, route);
    const charges: Charge[] = [];
    const kinds: ChargeKind[] = [];
    const leases: Lease[] = [];
    const estimate = needsEstimate(key) ? this.estimate(ex) : undefined;
    const add = (prefix: string, limits: FileLimits) => {
      if (limits.rpm !== undefined) {
        charges.push({ key: `${prefix}:rpm`, limit: limits.rpm, amount: 1, windowMs: MINUTE_MS });
        kinds.push('requests');
      }
      if (limits.tpm !== undefined) {
        charges.push({ key: `${prefix}:tpm`, limit: limits.tpm, amount: estimate!.tokens, windowMs: MINUTE_MS });
        kinds.push('tokens');
      }
      const now = new Date();
      if (limits.usdPerDay !== undefined) {
        const endsAt = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
        charges.push({ key: `${prefix}:usd-day`, limit: Math.round(limits.usdPerDay * MICRO), amount: estimate!.microUsd, period: { id: now.toISOString().slice(0, 10), endsAt } });
        kinds.push('usd');
      }
      if (limits.usdPerMonth !== undefined) {
        const endsAt = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
        charges.push({ key: `${prefix}:usd-month`, limit: Math.round(limits.usdPerMonth * MICRO), amount: estimate!.microUsd, period: { id: now.toISOString().slice(0, 7), endsAt } });
        kinds.push('usd');
      }
      if (limits.streams !== undefined && ex.stream) leases.push({ key: `${prefix}:streams`, limit: limits.streams, ttlMs: ex.timeoutMs + LEASE_SLACK_MS });
    };
    add(`key:${key.name}`, key.limits);
    if (key.groupLimits !== undefined) add(`group:${key.group}`, key.groupLimits);
    if (charges.length === 0 && leases.length === 0) return;
    const onFailure: OnStoreFailure = key.limits.onStoreFailure === 'closed' || key.groupLimits?.onStoreFailure === 'closed' ? 'closed' : 'open';
    const admission = await this.store.reserve(ex.id, charges, leases, onFailure);
    if (!admission.ok) {
      this.count(admission.key, 'unavailable' in admission);
      if ('unavailable' in admission) {
        throw new GatewayError(503, `The gateway cannot check this key's limits now (its shared state is unreachable), and they are set to refuse requests then. Retry shortly.`, 'limits_unavailable', null, undefined, { 'retry-after': '1' });
      }
      throw refusal(admission.key, admission.limit, admission.retryAfterMs, rateHeaders(admission.remaining));
    }
    if (admission.reservation.local) this.counts.local++;
    ex.admitted = { reservation: admission.reservation, kinds };
    for (const [name, value] of rateHeaders(admission.remaining)) ex.res.setHeader(name, value);
  }

  /** Refusals, local admissions and the store's state, for /metrics. */
  figures(): GovernanceFigures {
    const health = this.store.health();
    return {
      store: { kind: health.kind, up: health.up },
      refusals: [...this.counts.refusals].map(([key, count]) => {
        const [owner, limit] = key.split('\0') as [string, string];
        return { owner, limit, count };
      }),
      local: this.counts.local,
    };
  }

  private count(key: string, unavailable: boolean): void {
    // `key:<name>:rpm` or `group:<name>:usd-day`: the owner is the first two parts, the limit the last.
    const last = key.lastIndexOf(':');
    const name = `${key.slice(0, last)}\0${unavailable ? 'unavailable' : key.slice(last + 1)}`;
    this.counts.refusals.set(name, (this.counts.refusals.get(name) ?? 0) + 1);
  }

  /** Settles what the request reserved with what it used: one request, its tokens, its cost (0 when unpriced). */
  settle(ex: Exchange, record: RequestRecord): void {
    const admitted = ex.admitted;
    if (admitted === undefined) return;
    const usage = record.usage;
    const tokens = usage === undefined ? 0 : usage.promptTokens + usage.completionTokens;
    const microUsd = record.costUsd === undefined ? 0 : Math.ceil(record.costUsd * MICRO);
    const used = admitted.kinds.map((kind) => (kind === 'requests' ? 1 : kind === 'tokens' ? tokens : microUsd));
    // Settlement is idempotent and never delays the response (it has closed): a failure is the store's to report.
    void this.store.settle(admitted.reservation, used).catch(() => undefined);
  }

  /** Tokens the request may use (its input, over-estimated from its size, plus its output bound) and their price. */
  private estimate(ex: Exchange): { tokens: number; microUsd: number } {
    const body = ex.body;
    const bytes = body === null ? 0 : Buffer.isBuffer(body) ? body.length : body.reduce((sum, part) => sum + part.length, 0);
    const input = Math.ceil(bytes / BYTES_PER_TOKEN);
    const output = declaredMaxTokens(body) ?? this.defaultMaxTokens;
    const provider = ex.provider?.name;
    const model = ex.model;
    const cost = provider === undefined || model === undefined ? undefined : this.pricing.cost(provider, model, { promptTokens: input, completionTokens: output });
    return { tokens: input + output, microUsd: cost === undefined ? 0 : Math.ceil(cost * MICRO) };
  }
}

function needsEstimate(key: GatewayKey): boolean {
  const needs = (limits: FileLimits | undefined) => limits !== undefined && (limits.tpm !== undefined || limits.usdPerDay !== undefined || limits.usdPerMonth !== undefined);
  return needs(key.limits) || needs(key.groupLimits);
}

/** The output bound a body declares, found by its field name; undefined when it names none. */
export function declaredMaxTokens(body: Exchange['body']): number | undefined {
  if (body === null) return undefined;
  const bytes = Buffer.isBuffer(body) ? body : Buffer.concat(body);
  for (const field of MAX_TOKEN_FIELDS) {
    const at = bytes.indexOf(field);
    if (at === -1) continue;
    const after = bytes.subarray(at + field.length, at + field.length + MAX_TOKENS_LOOKAHEAD).toString('latin1');
    const match = /^\s*:\s*(\d{1,9})/.exec(after);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

/** The key's allow lists against every target the request may reach: a route's targets, or its one provider and model. */
function allowed(key: GatewayKey, ex: Exchange, route: Route | undefined): void {
  if (key.routes !== undefined && (route === undefined || !key.routes.has(route.name))) {
    const what = route === undefined ? `model ${safeEcho(ex.clientModel ?? '', 80)} outside a route` : `route ${safeEcho(route.name, 80)}`;
    throw new GatewayError(403, `Gateway key "${key.name}" may not use the ${what}; it may use the routes ${[...key.routes].join(', ')}.`, 'route_not_allowed');
  }
  const targets = route !== undefined ? route.targets.map((target) => [target.provider.name, target.model ?? ''] as const) : [[ex.provider?.name ?? '', ex.model ?? ''] as const];
  for (const [provider, model] of targets) {
    if (key.providers !== undefined && !key.providers.has(provider)) {
      throw new GatewayError(403, `Gateway key "${key.name}" may not use the provider ${safeEcho(provider, 40)}.`, 'provider_not_allowed');
    }
    if (key.models !== undefined && !key.models.some((pattern) => pattern.test(model))) {
      throw new GatewayError(403, `Gateway key "${key.name}" may not use the model ${safeEcho(model, 120)}.`, 'model_not_allowed');
    }
  }
}

function missingKey(ex: Exchange): GatewayError {
  return new GatewayError(401, `This gateway needs a gateway key: send it as ${ex.api?.keyHint ?? 'an Authorization: Bearer header'}.`, 'missing_api_key');
}

/** A 429 that says which limit refused and when a retry may pass. */
function refusal(key: string, limit: number, retryAfterMs: number, headers: [string, string][]): GatewayError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const [scope, name, kind] = key.split(':') as [string, string, string];
  const owner = `${scope === 'group' ? 'group' : 'gateway key'} "${name}"`;
  const all: Record<string, string> = Object.fromEntries(headers);
  if (retryAfterMs >= 0) all['retry-after'] = String(seconds);
  switch (kind) {
    case 'usd-day':
    case 'usd-month': {
      const resets = new Date(Date.now() + retryAfterMs).toISOString();
      const budget = `$${(limit / MICRO).toFixed(2)} per ${kind === 'usd-day' ? 'day' : 'month'}`;
      return new GatewayError(429, `The budget of ${owner} (${budget}) is spent; it resets at ${resets}.`, 'budget_exceeded', null, undefined, all);
    }
    case 'streams':
      return new GatewayError(429, `${owner} has ${limit} streams in progress, its limit; retry when one ends.`, 'rate_limit_exceeded', null, undefined, all);
    default: {
      const what = kind === 'tpm' ? `${limit} tokens per minute` : `${limit} requests per minute`;
      return new GatewayError(429, `Rate limit of ${owner} reached (${what}); retry in ${seconds} s.`, 'rate_limit_exceeded', null, undefined, all);
    }
  }
}

/** `x-ratelimit-*` as OpenAI names them, for the key's (or else its group's) requests and tokens per minute. */
function rateHeaders(remaining: readonly Remaining[]): [string, string][] {
  const headers: [string, string][] = [];
  for (const [suffix, names] of [
    [':rpm', 'requests'],
    [':tpm', 'tokens'],
  ] as const) {
    const counter = remaining.find((entry) => entry.key.startsWith('key:') && entry.key.endsWith(suffix)) ?? remaining.find((entry) => entry.key.endsWith(suffix));
    if (counter === undefined) continue;
    headers.push(
      [`x-ratelimit-limit-${names}`, String(counter.limit)],
      [`x-ratelimit-remaining-${names}`, String(Math.max(0, Math.floor(counter.remaining)))],
      [`x-ratelimit-reset-${names}`, `${Math.max(0, Math.ceil(counter.resetMs / 1000))}s`],
    );
  }
  return headers;
}
