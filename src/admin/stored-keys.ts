// The admin API's gateway keys, kept in the shared state as one versioned entry (a JSON table), so
// that every gateway on the same store serves the same keys. Each gateway keeps its table in memory
// (the request path never reads the store to find a key) and polls the entry's version every
// ADMIN_KEYS_REFRESH_MS, reading the table only when it changed: a key created or revoked on one
// instance takes effect on the others within that interval. A change is a read, an edit and a
// compare-and-set of the version read, retried when another instance wrote first, so that two
// concurrent changes both land.
import type { Logger } from 'pino';
import { z } from 'zod';
import { apiKeyEntry, limitsOf } from '../config-file.js';
import { GatewayError } from '../errors.js';
import type { KeyEntry } from '../governance/keys.js';
import type { Store } from '../state/store.js';

/** The store entry holding the table. */
const TABLE_KEY = 'admin:keys';
/** About a hundred years: the table lives until it is changed; the TTL is there because every store write has one. */
const TABLE_TTL_MS = 100 * 365 * 24 * 3600 * 1000;
/** Keys the admin API may hold; the file's are bounded apart (MAX_FILE_KEYS). */
export const MAX_API_KEYS = 10_000;
/**
 * The table's largest size: every gateway reads it whole when it changes, within one store command's
 * timeout. About 400 bytes a key with short allow lists; long lists fill it before MAX_API_KEYS does.
 */
export const MAX_TABLE_BYTES = 8 * 1024 * 1024;
/** Changes retried after losing a race to another instance's write; beyond this the store is too busy (503). */
const MAX_WRITE_ATTEMPTS = 16;
/** The most a retried change waits, per attempt so far, before reading again. */
const RETRY_JITTER_MS = 10;

/** A key as the table keeps it: what the admin API was given, its hash, and when it was made. */
const storedKey = apiKeyEntry.extend({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  created: z.iso.datetime(),
});
export type StoredKey = z.infer<typeof storedKey>;
const storedTable = z.object({ keys: z.array(z.unknown()) });

/** The table as read from the store: its version (0 while never written) and its keys. */
interface Table {
  readonly version: number;
  readonly keys: readonly StoredKey[];
}

export class StoredKeys {
  private version = 0;
  private current: readonly StoredKey[] = [];
  /** Store reads and writes are numbered as they start; a table applies only if its number is the latest applied. */
  private started = 0;
  private applied = 0;
  private refreshing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The change in progress in this process, which the next one waits for. */
  private changing: Promise<void> = Promise.resolve();
  /** Whether the last refresh failed, so that an unreachable store is logged once, not every interval. */
  private failing = false;

  constructor(
    private readonly store: Store,
    /** Called with the keys whenever they change (and once at the first refresh that finds any). */
    private readonly onChange: (keys: readonly KeyEntry[]) => void,
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {}

  /** The keys as of the last refresh or change. */
  get keys(): readonly StoredKey[] {
    return this.current;
  }

  /** Refreshes every refreshMs until stop(). */
  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), this.refreshMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads the table if its version changed. An unreachable store keeps the keys as they are (a key
   * revoked meanwhile on another instance works here until the store answers again), and says so.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.readIfChanged()
      .then(() => {
        if (this.failing) this.logger.info('admin API keys: the shared state answers again; keys are current');
        this.failing = false;
      })
      .catch((err: Error) => {
        if (!this.failing) this.logger.warn({ err: err.message }, 'admin API keys: cannot read the shared state; serving the keys last read until it answers');
        this.failing = true;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /**
   * Applies `edit` to the table as the store holds it now and writes the result if no other write
   * came between; else reads again and retries. `edit` throws a GatewayError to refuse the change.
   */
  change(edit: (keys: readonly StoredKey[]) => StoredKey[]): Promise<void> {
    // One change at a time in this process: its own changes never race each other, only other
    // gateways' do. A change that fails does not stop the ones queued after it.
    const run = this.changing.then(() => this.changeNow(edit));
    this.changing = run.catch(() => undefined);
    return run;
  }

  private async changeNow(edit: (keys: readonly StoredKey[]) => StoredKey[]): Promise<void> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      // Another gateway wrote first: wait a little, and a random part of it, so that the
      // gateways that collided do not collide again in step.
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * RETRY_JITTER_MS * attempt));
      const table = await this.read();
      const keys = edit(table.keys);
      if (keys.length > MAX_API_KEYS) {
        throw new GatewayError(409, `The admin API holds ${MAX_API_KEYS} keys, its most (MAX_API_KEYS); delete one it no longer needs first.`, 'too_many_keys');
      }
      const value = Buffer.from(JSON.stringify({ keys }));
      if (value.length > MAX_TABLE_BYTES) {
        throw new GatewayError(409, `The admin API's keys would take ${value.length} bytes, beyond the ${MAX_TABLE_BYTES} every gateway reads whole; delete keys, or give shorter allow lists.`, 'too_many_keys');
      }
      const order = ++this.started;
      if (await this.write(table.version, value)) {
        this.apply({ version: table.version + 1, keys }, order);
        return;
      }
    }
    throw new GatewayError(503, `Other gateways changed the keys ${MAX_WRITE_ATTEMPTS} times while this change was tried; retry it.`, 'admin_busy', null, undefined, { 'retry-after': '1' });
  }

  /** The table as the store holds it now (a 503 when it cannot answer), kept as this instance's too. */
  async latest(): Promise<readonly StoredKey[]> {
    const order = ++this.started;
    const table = await this.read();
    this.apply(table, order);
    return table.keys;
  }

  private async readIfChanged(): Promise<void> {
    if ((await this.store.versionOf(TABLE_KEY)) === this.version) return;
    const order = ++this.started;
    this.apply(await this.read(), order);
  }

  /** The table as the store holds it; a store that cannot answer is a 503 for the admin API's caller. */
  private async read(): Promise<Table> {
    let entry;
    try {
      entry = await this.store.readVersioned(TABLE_KEY);
    } catch (err) {
      throw unavailable(err as Error);
    }
    return entry === undefined ? { version: 0, keys: [] } : { version: entry.version, keys: this.parse(entry.value) };
  }

  private async write(expected: number, value: Buffer): Promise<boolean> {
    try {
      return await this.store.compareAndSet(TABLE_KEY, expected, value, TABLE_TTL_MS);
    } catch (err) {
      throw unavailable(err as Error);
    }
  }

  /** The table's keys; one that does not read as a key (written by another version of the gateway) is left out and named. */
  private parse(value: Buffer): StoredKey[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const table = storedTable.safeParse(parsed);
    if (!table.success) throw new GatewayError(500, `The admin API's key table (${TABLE_KEY} in the shared state) is not a table of keys; restore it or delete it.`, 'admin_table_unreadable');
    const keys: StoredKey[] = [];
    for (const [index, item] of table.data.keys.entries()) {
      const key = storedKey.safeParse(item);
      if (key.success) keys.push(key.data);
      else this.logger.warn({ index }, 'admin API keys: an entry of the table is not a key; it is left out');
    }
    return keys;
  }

  /** A read or write that started before one already applied holds an older table (a refresh overtaken by a change). */
  private apply(table: Table, order: number): void {
    if (order < this.applied) return;
    this.applied = order;
    this.version = table.version;
    this.current = table.keys;
    this.onChange(table.keys.map(keyEntry));
  }
}

/** A stored key as the request path reads it. */
export function keyEntry(key: StoredKey): KeyEntry {
  return {
    name: key.name,
    sha256: key.sha256,
    routes: key.routes,
    providers: key.providers?.map((name) => name.toLowerCase()),
    models: key.models,
    group: key.group,
    limits: limitsOf(key.limits),
  };
}

function unavailable(err: Error): GatewayError {
  return new GatewayError(503, `The gateway cannot reach its shared state to read or change keys (${err.message}); retry shortly.`, 'state_unavailable', null, undefined, { 'retry-after': '1' });
}
