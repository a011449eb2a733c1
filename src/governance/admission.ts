// Who may send a request, and whether it fits its key's limits. Three steps in the request path:
// authenticate (from the headers, before the body is read), admit (once the body named the model
// and the route: allow lists, then one atomic reserve of every limit in the shared store), and
// settle (when the response closes, with the usage and cost the request really had).
import { bodyLength } from '../body.js';
import type { Config } from '../config.js';
import type { FileLimits } from '../config-file.js';
import { GatewayError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { GovernanceFigures } from '../observe/metrics.js';
import type { Pricing, RequestRecord } from '../observe/records.js';
import type { Route } from '../route/routes.js';
import { memo } from '../memo.js';
import { safeEcho } from '../redact.js';
import type { Admission, Charge, Lease, OnStoreFailure, Remaining, Reservation, Store } from '../state/store.js';
import { fileKeyEntry, KeyTable, presentedKey, type GatewayKey, type KeyEntry } from './keys.js';

const MINUTE_MS = 60_000;
/** Budgets count micro-dollars: whole numbers, so that the shared store adds them exactly. */
const MICRO = 1_000_000;
/** A stream's slot frees itself this long after its request's deadline, should its gateway die holding it. */
const LEASE_SLACK_MS = 60_000;
/** Bytes of a request body per token, for the input estimate: JSON's syntax makes it an over-estimate. */
const BYTES_PER_TOKEN = 4;

type ChargeKind = 'requests' | 'tokens' | 'usd';

/** One limit of a key or of its group, and how much of it is used, for the dashboard. */
export interface LimitUse {
  /** `key:<name>` or `group:<name>`. */
  readonly owner: string;
  readonly limit: 'rpm' | 'tpm' | 'usd_per_day' | 'usd_per_month' | 'streams';
  /** The limit: requests, tokens, USD or streams. */
  readonly max: number;
  /** What is used of it now; null when the store could not say. */
  used: number | null;
  /** When the window or period has room again (ms from now). */
  resetMs: number | null;
  /** The store's counter, to read its use. */
  readonly counter: string | undefined;
}

export interface KeyLimitUse {
  readonly key: string;
  readonly group: string | null;
  readonly limits: LimitUse[];
}

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
  /** Today's and this month's budget periods, made again only when one ends. */
  private readonly periods = new Periods();


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
  admit(ex: Exchange): Promise<void> | undefined {
    const key = ex.gatewayKey;
    const route = ex.route;
    if (key === undefined) {
      if (route === undefined || !this.anonymousRoutes.has(route.name)) throw missingKey(ex);
      return undefined;
    }
    allowed(key, ex, route);
    const plan = planOf(key);
    if (plan === undefined || (plan.kinds.length === 0 && !(plan.streams.length > 0 && ex.stream))) return undefined;
    const kinds = plan.kinds;
    // The key's charges are made once (and again when a budget's period ends); only the amounts are this request's.
    const charges = plan.chargesIn(this.periods);
    const amounts: number[] = new Array<number>(kinds.length);
    if (plan.estimates) {
      const body = ex.body;
      const input = Math.ceil((body === null ? 0 : bodyLength(body)) / BYTES_PER_TOKEN);
      // The body's own bound, read with it (parsed or scanned); a body that is not a JSON request declares none.
      const output = ex.facts?.maxTokens ?? this.defaultMaxTokens;
      const microUsd = plan.budgets ? this.microUsd(ex, input, output) : 0;
      for (let i = 0; i < amounts.length; i++) amounts[i] = kinds[i] === 'requests' ? 1 : kinds[i] === 'tokens' ? input + output : microUsd;
    } else amounts.fill(1);
    let leases: readonly Lease[] = NO_LEASES;
    if (ex.stream && plan.streams.length > 0) leases = plan.streams.map(({ key, limit }) => ({ key, limit, ttlMs: ex.timeoutMs + LEASE_SLACK_MS }));
    const onFailure = plan.onFailure;
    // A request counts exactly 1 against a rate of requests: with nothing else to correct (no
    // tokens, no dollars, no stream slot), its reservation is final and is never settled.
    const settles = leases.length > 0 || plan.estimates;
    const admission = this.store.reserve(ex.id, charges, amounts, leases, onFailure, settles);
    // A store in this process answers at once: no promise, no turn of the event loop.
    if (admission instanceof Promise) return admission.then((answer) => this.admitted(ex, answer, charges, kinds, settles));
    this.admitted(ex, admission, charges, kinds, settles);
    return undefined;
  }

  /** The request admitted (its reservation kept, its limits' headers made), or refused with a 429 or 503. */
  private admitted(ex: Exchange, admission: Admission, charges: readonly Charge[], kinds: readonly ChargeKind[], settles: boolean): void {
    if (!admission.ok) {
      this.count(admission.key, 'unavailable' in admission);
      if ('unavailable' in admission) {
        throw new GatewayError(503, `The gateway cannot check this key's limits now (its shared state is unreachable), and they are set to refuse requests then. Retry shortly.`, 'limits_unavailable', null, undefined, { 'retry-after': '1' });
      }
      // A budget resets when its period ends, whatever clock the store measured the wait on.
      const period = charges.find((charge) => charge.key === admission.key)?.period;
      throw refusal(admission.key, admission.limit, admission.retryAfterMs, rateHeaders(admission.remaining, kinds), period?.endsAt);
    }
    if (admission.reservation.local) this.counts.local++;
    if (settles) ex.admitted = admission.reservation;
    // Written with the answer's head (sink.ts), as one array: cheaper than a setHeader each.
    const headers = rateHeaders(admission.remaining, kinds);
    if (headers.length > 0) ex.limitHeaders = headers;
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

  /**
   * The use of each limit of the first `maxKeys` keys that have limits (their own and their
   * group's), read from the store in one peek that charges nothing: for the dashboard, when
   * someone looks, never on a request's path. A stream slot's use is not counted by the store's
   * peek, so only its bound is shown.
   */
  async limitUse(maxKeys: number): Promise<KeyLimitUse[]> {
    const periods = this.periods.at(Date.now());
    const charges = new Map<string, Charge>();
    const keys: KeyLimitUse[] = [];
    const add = (scope: 'key' | 'group', name: string, limits: FileLimits, into: LimitUse[]) => {
      const names = ownerNames(scope, name);
      const owner = `${scope}:${name}`;
      const charge = (kind: LimitUse['limit'], key: string, limit: number, shape: Pick<Charge, 'windowMs' | 'period'>) => {
        if (!charges.has(key)) charges.set(key, { key, limit, ...shape });
        into.push({ owner, limit: kind, max: kind.startsWith('usd') ? limit / MICRO : limit, used: null, resetMs: null, counter: key });
      };
      if (limits.rpm !== undefined) charge('rpm', names.rpm, limits.rpm, { windowMs: MINUTE_MS });
      if (limits.tpm !== undefined) charge('tpm', names.tpm, limits.tpm, { windowMs: MINUTE_MS });
      if (limits.usdPerDay !== undefined) charge('usd_per_day', names.usdDay, Math.round(limits.usdPerDay * MICRO), { period: periods.day });
      if (limits.usdPerMonth !== undefined) charge('usd_per_month', names.usdMonth, Math.round(limits.usdPerMonth * MICRO), { period: periods.month });
      if (limits.streams !== undefined) into.push({ owner, limit: 'streams', max: limits.streams, used: null, resetMs: null, counter: undefined });
    };
    for (const key of this.keys.values()) {
      if (keys.length >= maxKeys) break;
      const limits: LimitUse[] = [];
      add('key', key.name, key.limits, limits);
      if (key.groupLimits !== undefined) add('group', key.group!, key.groupLimits, limits);
      if (limits.length > 0) keys.push({ key: key.name, group: key.group ?? null, limits });
    }
    const remaining = charges.size === 0 ? [] : await this.store.peek([...charges.values()]);
    const byCounter = new Map(remaining.map((entry) => [entry.key, entry]));
    for (const key of keys) {
      for (const use of key.limits) {
        const entry = use.counter === undefined ? undefined : byCounter.get(use.counter);
        if (entry === undefined) continue;
        const used = Math.max(0, entry.limit - entry.remaining);
        use.used = use.limit.startsWith('usd') ? used / MICRO : used;
        use.resetMs = entry.resetMs;
      }
    }
    return keys;
  }

  private count(key: string, unavailable: boolean): void {
    // `key:<name>:rpm` or `group:<name>:usd-day`: the owner is the first two parts, the limit the last.
    const last = key.lastIndexOf(':');
    const name = `${key.slice(0, last)}\0${unavailable ? 'unavailable' : key.slice(last + 1)}`;
    this.counts.refusals.set(name, (this.counts.refusals.get(name) ?? 0) + 1);
  }

  /** Settles what the request reserved with what it used: one request, its tokens, its cost (0 when unpriced). */
  settle(ex: Exchange, record: RequestRecord): void {
    const reservation = ex.admitted;
    if (reservation === undefined) return;
    const usage = record.usage;
    const tokens = usage === undefined ? 0 : usage.promptTokens + usage.completionTokens;
    const microUsd = record.costUsd === undefined ? 0 : Math.ceil(record.costUsd * MICRO);
    // The plan of the key the request was admitted with (ex.gatewayKey), whose charges the reservation holds.
    const kinds = planOf(ex.gatewayKey!)!.kinds;
    const used: number[] = new Array<number>(kinds.length);
    for (let i = 0; i < kinds.length; i++) used[i] = kinds[i] === 'requests' ? 1 : kinds[i] === 'tokens' ? tokens : microUsd;
    // Settlement is idempotent and never delays the response (it has closed): a failure is the store's to report.
    this.store.settle(reservation, used)?.catch(ignore);
  }

  /** The price of a request's estimated tokens, in micro-dollars (0 when unpriced). */
  private microUsd(ex: Exchange, input: number, output: number): number {
    const provider = ex.provider?.name;
    const model = ex.model;
    const cost = provider === undefined || model === undefined ? undefined : this.pricing.cost(provider, model, { promptTokens: input, completionTokens: output });
    return cost === undefined ? 0 : Math.ceil(cost * MICRO);
  }
}

/** A charge as a key's limit makes it: a budget's is made again for each period. */
interface PlannedCharge {
  readonly kind: ChargeKind;
  /** The counter's name. */
  readonly key: string;
  /** Requests, tokens, or micro-dollars. */
  readonly limit: number;
  readonly span: 'minute' | 'day' | 'month';
}

/**
 * What admission does for a key, worked out once per key (a key table is replaced whole, never
 * edited): its charges, shared by all its requests, which add only their amounts.
 */
class KeyPlan {
  /** What each charge counts, in the order they are reserved and settled. */
  readonly kinds: readonly ChargeKind[];
  /** Some charge counts tokens or dollars: the request's estimate is needed, and it is settled. */
  readonly estimates: boolean;
  readonly budgets: boolean;
  /** The charges of the budget periods they were last made for (a key without budgets: always). */
  private charges: readonly Charge[];
  private madeFor: object | undefined;

  constructor(
    /** The key's charges then its group's. */
    private readonly planned: readonly PlannedCharge[],
    /** The stream slots a streamed request holds (the key's, its group's). */
    readonly streams: readonly { readonly key: string; readonly limit: number }[],
    readonly onFailure: OnStoreFailure,
  ) {
    this.kinds = planned.map((charge) => charge.kind);
    this.estimates = planned.some((charge) => charge.kind !== 'requests');
    this.budgets = planned.some((charge) => charge.span !== 'minute');
    this.charges = this.budgets ? [] : planned.map(({ key, limit }) => ({ key, limit, windowMs: MINUTE_MS }));
  }

  /** The charges of a request made now; a key with budgets gets them for today's and this month's periods. */
  chargesIn(periods: Periods): readonly Charge[] {
    if (!this.budgets) return this.charges;
    const current = periods.at(Date.now());
    if (current !== this.madeFor) {
      this.charges = this.planned.map(({ key, limit, span }) => (span === 'minute' ? { key, limit, windowMs: MINUTE_MS } : { key, limit, period: span === 'day' ? current.day : current.month }));
      this.madeFor = current;
    }
    return this.charges;
  }
}

/** Each key's plan, or NO_PLAN for a key without limits: one lookup per request. */
const PLANS = new WeakMap<GatewayKey, KeyPlan | typeof NO_PLAN>();
const NO_PLAN = 0;
/** A request that holds no stream slot: one empty list for all of them. */
const NO_LEASES: readonly Lease[] = Object.freeze([]);

function ignore(): void {}

function planOf(key: GatewayKey): KeyPlan | undefined {
  const known = PLANS.get(key);
  if (known !== undefined) return known === NO_PLAN ? undefined : known;
  const owners: [OwnerNames, FileLimits][] = [[ownerNames('key', key.name), key.limits]];
  if (key.groupLimits !== undefined) owners.push([ownerNames('group', key.group!), key.groupLimits]);
  const charges: PlannedCharge[] = [];
  const streams: { key: string; limit: number }[] = [];
  for (const [names, limits] of owners) {
    if (limits.rpm !== undefined) charges.push({ kind: 'requests', key: names.rpm, limit: limits.rpm, span: 'minute' });
    if (limits.tpm !== undefined) charges.push({ kind: 'tokens', key: names.tpm, limit: limits.tpm, span: 'minute' });
    if (limits.usdPerDay !== undefined) charges.push({ kind: 'usd', key: names.usdDay, limit: Math.round(limits.usdPerDay * MICRO), span: 'day' });
    if (limits.usdPerMonth !== undefined) charges.push({ kind: 'usd', key: names.usdMonth, limit: Math.round(limits.usdPerMonth * MICRO), span: 'month' });
    if (limits.streams !== undefined) streams.push({ key: names.streams, limit: limits.streams });
  }
  const onFailure: OnStoreFailure = key.limits.onStoreFailure === 'closed' || key.groupLimits?.onStoreFailure === 'closed' ? 'closed' : 'open';
  const plan = charges.length === 0 && streams.length === 0 ? undefined : new KeyPlan(charges, streams, onFailure);
  PLANS.set(key, plan ?? NO_PLAN);
  return plan;
}

/** The key's allow lists against every target the request may reach: a route's targets, or its one provider and model. */
function allowed(key: GatewayKey, ex: Exchange, route: Route | undefined): void {
  if (key.routes !== undefined && (route === undefined || !key.routes.has(route.name))) {
    const what = route === undefined ? `model ${safeEcho(ex.clientModel ?? '', 80)} outside a route` : `route ${safeEcho(route.name, 80)}`;
    throw new GatewayError(403, `Gateway key "${key.name}" may not use the ${what}; it may use the routes ${[...key.routes].join(', ')}.`, 'route_not_allowed');
  }
  // A key that names no providers and no models allows every target: nothing to list.
  if (key.providers === undefined && key.models === undefined) return;
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
function refusal(key: string, limit: number, retryAfterMs: number, headers: readonly string[], periodEndsAt?: number): GatewayError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const [scope, name, kind] = key.split(':') as [string, string, string];
  const owner = `${scope === 'group' ? 'group' : 'gateway key'} "${name}"`;
  const all: Record<string, string> = {};
  for (let i = 0; i + 1 < headers.length; i += 2) all[headers[i]!] = headers[i + 1]!;
  if (retryAfterMs >= 0) all['retry-after'] = String(seconds);
  else if (kind !== 'streams') {
    // More than the whole limit: no wait lets it pass, so no retry time is promised.
    const what = kind === 'tpm' ? `${limit} tokens per minute` : kind === 'rpm' ? `${limit} requests per minute` : `$${(limit / MICRO).toFixed(2)} per ${kind === 'usd-day' ? 'day' : 'month'}`;
    return new GatewayError(
      429,
      `This request alone needs more than the whole limit of ${owner} (${what}): its estimate counts its input and its max_tokens (or KEYS_DEFAULT_MAX_TOKENS when it sets none). Lower max_tokens or raise the limit; retrying will not help.`,
      kind === 'usd-day' || kind === 'usd-month' ? 'budget_exceeded' : 'rate_limit_exceeded',
      null,
      undefined,
      all,
    );
  }
  switch (kind) {
    case 'usd-day':
    case 'usd-month': {
      const resets = new Date(periodEndsAt ?? Date.now() + retryAfterMs).toISOString();
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

/**
 * `x-ratelimit-*` as OpenAI names them, for the key's (or else its group's) requests and tokens per
 * minute: [name, value, ...]. `remaining` is in the charges' order, which `kinds` names.
 */
function rateHeaders(remaining: readonly (Remaining | undefined)[], kinds: readonly ChargeKind[]): string[] {
  const headers: string[] = [];
  let requests: Remaining | undefined;
  let tokens: Remaining | undefined;
  // The key's own counter wins over its group's (its charges come first).
  for (let i = 0; i < remaining.length && i < kinds.length; i++) {
    if (kinds[i] === 'requests') requests ??= remaining[i];
    else if (kinds[i] === 'tokens') tokens ??= remaining[i];
  }
  if (requests !== undefined) pushRate(headers, 'requests', requests);
  if (tokens !== undefined) pushRate(headers, 'tokens', tokens);
  return headers;
}

/** The `x-ratelimit-*` names of requests and of tokens: [limit, remaining, reset]. */
const RATE_HEADER_NAMES = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
} as const;

function pushRate(headers: string[], names: 'requests' | 'tokens', counter: Remaining): void {
  const [limit, remaining, reset] = RATE_HEADER_NAMES[names];
  headers.push(limit, limitText(counter.limit), remaining, wholeText(Math.max(0, Math.floor(counter.remaining))), reset, secondsText(Math.max(0, Math.ceil(counter.resetMs / 1000))));
}

/**
 * A whole number's text, made of three-digit groups from a table. `String(n)` keeps each new number's
 * text in V8's number-to-string cache, which the old generation holds: the remaining requests and
 * tokens are new numbers on every request, and their texts, kept there, made each young-generation
 * collection longer and were promoted, to be collected again by the old generation's. Joined from
 * groups, a text lives and dies with its request.
 */
export function wholeText(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) return String(n);
  if (n < 1000) return DIGITS[n]!;
  let text = GROUPS[n % 1000]!;
  n = Math.floor(n / 1000);
  while (n >= 1000) {
    text = GROUPS[n % 1000]! + text;
    n = Math.floor(n / 1000);
  }
  return DIGITS[n]! + text;
}

/** `0` to `999`, and the same as three digits (`000` to `999`), made once. */
const DIGITS = Array.from({ length: 1000 }, (_, n) => String(n));
const GROUPS = DIGITS.map((text) => text.padStart(3, '0'));

/** A limit's text, made once per limit (limits come from the configuration: a few values). */
const LIMIT_TEXTS = new Map<number, string>();
const MAX_LIMIT_TEXTS = 1_000;

function limitText(limit: number): string {
  return LIMIT_TEXTS.get(limit) ?? memo(LIMIT_TEXTS, limit, String(limit), MAX_LIMIT_TEXTS);
}

/** `0s` to `120s`, made once: a rate's reset is at most two windows of a minute. */
const SECONDS_TEXTS = Array.from({ length: 121 }, (_, seconds) => `${seconds}s`);

function secondsText(seconds: number): string {
  return seconds < SECONDS_TEXTS.length ? SECONDS_TEXTS[seconds]! : `${seconds}s`;
}

/** The counter names of a key or a group, made once per name. */
interface OwnerNames {
  readonly rpm: string;
  readonly tpm: string;
  readonly usdDay: string;
  readonly usdMonth: string;
  readonly streams: string;
}

const OWNER_NAMES = new Map<string, OwnerNames>();

function ownerNames(scope: 'key' | 'group', name: string): OwnerNames {
  const prefix = `${scope}:${name}`;
  // Names come from the configuration and the admin API, both bounded.
  const names = OWNER_NAMES.get(prefix);
  if (names !== undefined) return names;
  return memo(OWNER_NAMES, prefix, { rpm: `${prefix}:rpm`, tpm: `${prefix}:tpm`, usdDay: `${prefix}:usd-day`, usdMonth: `${prefix}:usd-month`, streams: `${prefix}:streams` }, MAX_OWNER_NAMES);
}

/** Counter names kept: more than the gateway keys and groups one gateway may have. */
const MAX_OWNER_NAMES = 25_000;

type Period = NonNullable<Charge['period']>;

/** The UTC calendar day and month now, as budget periods: remade when the day ends. */
class Periods {
  private dayEnds = 0;
  private current: { day: Period; month: Period } | undefined;

  at(now: number): { day: Period; month: Period } {
    if (this.current !== undefined && now < this.dayEnds) return this.current;
    const date = new Date(now);
    const year = date.getUTCFullYear();
    const month = date.getUTCMonth();
    this.dayEnds = Date.UTC(year, month, date.getUTCDate() + 1);
    const iso = date.toISOString();
    this.current = {
      day: { id: iso.slice(0, 10), endsAt: this.dayEnds },
      month: { id: iso.slice(0, 7), endsAt: Date.UTC(year, month + 1, 1) },
    };
    return this.current;
  }
}
