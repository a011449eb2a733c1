// The dashboard at /ui (DASHBOARD=on): the page, its hashed assets, and GET /ui/api/snapshot, the
// whole picture in one JSON. The page polls the snapshot once a second; the snapshot is built at
// most once per SNAPSHOT_MAX_AGE_MS whoever asks, so viewers cost a fixed amount, and nobody
// looking costs the request path only the aggregate's O(1) add() per finished request.
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Config } from '../../config.js';
import { GatewayError } from '../../errors.js';
import type { Exchange } from '../../exchange.js';
import type { KeyLimitUse } from '../../governance/admission.js';
import type { ModelLabels, Observer, RequestRecord } from '../../observe/records.js';
import { isOperatorPath, operatorRefusal } from '../../operator.js';
import { redactCredentials, safeEcho } from '../../redact.js';
import type { TargetStatus } from '../../route/routes.js';
import { adminKeyRefusal } from '../api.js';
import { DashboardAggregate, MAX_LABELS, RECENT_SECONDS, WINDOW_SECONDS, type RecentFilter } from './aggregate.js';
import { loadUiAssets, type Asset, type UiAssets } from './assets.js';

export const UI_PREFIX = '/ui';
const UI_PAGE_PATHS: ReadonlySet<string> = new Set([UI_PREFIX, `${UI_PREFIX}/`]);
const ASSETS_PREFIX = `${UI_PREFIX}/assets/`;
export const SNAPSHOT_PATH = `${UI_PREFIX}/api/snapshot`;
/** How old a snapshot may be when served: every viewer polling within it shares one build. */
export const SNAPSHOT_MAX_AGE_MS = 1_000;
/** Keys whose limits the snapshot reads from the store (one peek for all of them). */
export const MAX_LIMIT_KEYS = 50;
/** The longest error message the snapshot shows. */
export const MAX_ERROR_CHARS = 500;
/** The longest filter value (a key's or route's name) a snapshot request may carry. */
const MAX_FILTER_CHARS = 200;
const STATUS_CLASS = /^([1-5])xx$/;

/** 'self' alone: the page loads nothing from elsewhere, runs no inline script and is framed by nobody. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const STRICT_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;
/** Hashed names never change content: a browser keeps them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** What the dashboard reads of the gateway when someone looks: always the current configuration's. */
export interface DashboardSources {
  routes(): ReadonlyArray<{ name: string; strategy: string; targets: TargetStatus[] }>;
  /** Each key's limits and their use; undefined without gateway keys. */
  limits(maxKeys: number): Promise<KeyLimitUse[]> | undefined;
  /** The configured secrets, redacted by value from every string a snapshot carries. */
  secrets(): readonly string[];
}

interface Snapshot {
  readonly body: Record<string, unknown>;
  readonly json: string;
  readonly builtAt: number;
}

export class Dashboard implements Observer {
  readonly aggregate: DashboardAggregate;
  private readonly assets: UiAssets | undefined;
  private readonly startedAt = Date.now();
  private snapshot: Snapshot | undefined;
  /** A build in progress, shared by every viewer that asks meanwhile. */
  private building: Promise<Snapshot> | undefined;

  constructor(
    private readonly sources: DashboardSources,
    private readonly version: string,
    assets: UiAssets | undefined = loadUiAssets(),
    /** The gateway's model labels (the metrics'), so that the dashboard's models are theirs. */
    models?: ModelLabels,
  ) {
    this.assets = assets;
    this.aggregate = new DashboardAggregate(models);
  }

  /** Every finished request of the clients' traffic (not probes, scrapes, or the dashboard's own polls). */
  finished(record: RequestRecord): void {
    if (isOperatorPath(record.path)) return;
    this.aggregate.add(record);
  }

  /** Whether a path is the dashboard's. */
  static owns(path: string): boolean {
    return path === UI_PREFIX || path.startsWith(`${UI_PREFIX}/`);
  }

  /** Answers a request under /ui: the page and assets to anyone, the data to an operator. */
  async handle(ex: Exchange, config: Config): Promise<void> {
    const { req, path } = ex;
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method);
    if (path === SNAPSHOT_PATH) {
      const refusal = dataRefusal(req.socket.remoteAddress, req.headers, config);
      if (refusal !== undefined) throw refusal;
      return this.answerSnapshot(ex);
    }
    if (UI_PAGE_PATHS.has(path)) return this.answerAsset(ex, this.built().page, 'no-cache');
    if (path.startsWith(ASSETS_PREFIX)) {
      const asset = this.built().files.get(path.slice(ASSETS_PREFIX.length));
      if (asset !== undefined) return this.answerAsset(ex, asset, IMMUTABLE);
    }
    throw new GatewayError(404, `Unknown dashboard route ${safeEcho(path, 200)}; the dashboard is at ${UI_PREFIX} and its data at ${SNAPSHOT_PATH}.`, 'unknown_route');
  }

  private built(): UiAssets {
    if (this.assets === undefined) {
      throw new GatewayError(503, "The dashboard's page was not built with this gateway: run `npm run build` (it bundles the page into dist/ui).", 'dashboard_not_built');
    }
    return this.assets;
  }

  private answerAsset(ex: Exchange, asset: Asset, cacheControl: string): void {
    const gzip = asset.gzip !== undefined && acceptsGzip(ex.req.headers['accept-encoding']);
    const body = gzip ? asset.gzip! : asset.body;
    ex.status = 200;
    ex.res.writeHead(200, {
      ...STRICT_HEADERS,
      'content-type': asset.contentType,
      'content-length': body.length,
      'cache-control': cacheControl,
      vary: 'accept-encoding',
      ...(gzip && { 'content-encoding': 'gzip' }),
    });
    ex.res.end(ex.req.method === 'HEAD' ? undefined : body);
  }

  private async answerSnapshot(ex: Exchange): Promise<void> {
    const filter = filterOf(ex.req.url);
    const snapshot = await this.current();
    const json = filter === undefined ? snapshot.json : JSON.stringify({ ...snapshot.body, recent: this.aggregate.recentRequests(filter, this.redactor()) });
    ex.status = 200;
    ex.res.writeHead(200, {
      ...STRICT_HEADERS,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
      'cache-control': 'no-store',
      'x-request-id': ex.id,
    });
    ex.res.end(ex.req.method === 'HEAD' ? undefined : json);
  }

  /** The snapshot, built again only when the last is older than SNAPSHOT_MAX_AGE_MS. */
  async current(): Promise<Snapshot> {
    const now = performance.now();
    if (this.snapshot !== undefined && now - this.snapshot.builtAt < SNAPSHOT_MAX_AGE_MS) return this.snapshot;
    this.building ??= this.build().finally(() => (this.building = undefined));
    return this.building;
  }

  /**
   * Redaction for one snapshot: the same path, model, target or message recurs across the rings,
   * so each distinct string is redacted once (the memo lives as long as the build, bounded by the rings).
   */
  private redactor(): (text: string) => string {
    const secrets = this.sources.secrets();
    const done = new Map<string, string>();
    return (text) => {
      let redacted = done.get(text);
      if (redacted === undefined) {
        redacted = redactCredentials(text, [], secrets);
        done.set(text, redacted);
      }
      return redacted;
    };
  }

  private async build(): Promise<Snapshot> {
    const nowMs = Date.now();
    const aggregate = this.aggregate;
    const redact = this.redactor();
    const limits = await this.sources.limits(MAX_LIMIT_KEYS);
    const rows = (list: ReturnType<typeof aggregate.byKey.list>) =>
      list.map((row) => ({
        label: redact(row.label),
        requests: row.requests,
        errors: row.errors,
        tokens: { prompt: row.promptTokens, completion: row.completionTokens },
        cost_usd: row.costUsd,
      }));
    const body = {
      time: new Date(nowMs).toISOString(),
      version: this.version,
      uptime_s: Math.round((nowMs - this.startedAt) / 1000),
      window_s: WINDOW_SECONDS,
      recent_s: RECENT_SECONDS,
      max_labels: MAX_LABELS,
      totals: {
        requests: aggregate.total.requests,
        errors: aggregate.total.errors,
        tokens: { prompt: aggregate.total.promptTokens, completion: aggregate.total.completionTokens },
        cost_usd: aggregate.total.costUsd,
      },
      percentiles: { recent: aggregate.percentiles(nowMs, RECENT_SECONDS), window: aggregate.percentiles(nowMs, WINDOW_SECONDS) },
      series: aggregate.series(nowMs),
      by: { key: rows(aggregate.byKey.list()), route: rows(aggregate.byRoute.list()), provider: rows(aggregate.byProvider.list()), model: rows(aggregate.byModel.list()) },
      targets: this.sources.routes().map((route) => ({
        route: route.name,
        strategy: route.strategy,
        targets: route.targets.map((target) => ({
          id: target.id,
          provider: target.provider,
          model: target.model ?? null,
          // A target is failing while its breaker refuses or lets only probes through, or its key rests.
          failing: target.breaker.state !== 'closed' || !target.key.available,
          breaker: target.breaker,
          key: target.key,
          latency: target.latency,
        })),
      })),
      limits:
        limits === undefined
          ? null
          : limits.map((key) => ({
              key: key.key,
              group: key.group,
              limits: key.limits.map(({ owner, limit, max, used, resetMs }) => ({ owner, limit, max, used, reset_ms: resetMs })),
            })),
      recent: aggregate.recentRequests({}, redact),
      errors: aggregate.recentErrorList((text) => cut(redact(text))),
    };
    const snapshot = { body, json: JSON.stringify(body), builtAt: performance.now() };
    this.snapshot = snapshot;
    return snapshot;
  }
}

/** Who may read the dashboard's data: the admin key's holder when it is set, else clients on this machine unless DASHBOARD_READERS=any. */
function dataRefusal(remoteAddress: string | undefined, headers: IncomingHttpHeaders, config: Config): GatewayError | undefined {
  if (config.ADMIN_KEY_SHA256 !== '') return adminKeyRefusal(headers, Buffer.from(config.ADMIN_KEY_SHA256, 'hex'), "The dashboard's data");
  return operatorRefusal(remoteAddress, headers, config.DASHBOARD_READERS, SNAPSHOT_PATH, 'DASHBOARD_READERS');
}

/** The recent-requests filter of `?status=5xx&key=...&route=...`; undefined when the query sets none. */
function filterOf(url: string | undefined): RecentFilter | undefined {
  const queryAt = url?.indexOf('?') ?? -1;
  if (queryAt === -1) return undefined;
  const query = new URLSearchParams(url!.slice(queryAt + 1));
  const status = query.get('status');
  const key = query.get('key');
  const route = query.get('route');
  if (status === null && key === null && route === null) return undefined;
  let statusClass: number | undefined;
  if (status !== null && status !== '') {
    const match = STATUS_CLASS.exec(status);
    if (match === null) throw new GatewayError(400, `status must be a status class from 1xx to 5xx, got ${safeEcho(status)}.`, 'invalid_value', 'status');
    statusClass = Number(match[1]);
  }
  for (const [name, value] of [['key', key], ['route', route]] as const) {
    if (value !== null && value.length > MAX_FILTER_CHARS) throw new GatewayError(400, `${name} must be at most ${MAX_FILTER_CHARS} characters.`, 'invalid_value', name);
  }
  return { statusClass, key: key === null || key === '' ? undefined : key, route: route === null || route === '' ? undefined : route };
}

function acceptsGzip(header: string | undefined): boolean {
  return header !== undefined && /\bgzip\b/.test(header) && !/\bgzip\s*;\s*q=0(?:\.0*)?\s*(?:,|$)/.test(header);
}

function cut(text: string): string {
  return text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS)}…`;
}

function methodNotAllowed(method: string | undefined): GatewayError {
  return new GatewayError(405, `Method ${safeEcho(method, 16)} is not allowed here; use GET.`, 'method_not_allowed', null, undefined, { allow: 'GET, HEAD' });
}
