// The response cache's entries in this process: bytes under a key with a time to live, within a
// bound in bytes, the entry used longest ago evicted first. It implements only the bytes part of
// the Store interface (state/store.ts: get, set, delete), which is all the cache uses, so the
// shared store (Redis) can take its place.
import type { Store } from '../state/store.js';

/** What the response cache needs of a store: bytes with a time to live. */
export type CacheStore = Pick<Store, 'get' | 'set' | 'delete'>;

export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CACHE_MAX_ENTRY_BYTES = 4 * 1024 * 1024;
/** What an entry costs beside its bytes (the key, the map's node): so that tiny entries are bounded too. */
const ENTRY_OVERHEAD_BYTES = 128;

interface Held {
  readonly value: Buffer;
  /** Epoch ms after which the entry is gone. */
  readonly expiresAt: number;
  readonly size: number;
}

export class MemoryCacheStore implements CacheStore {
  /** In order of use, the one used longest ago first (a Map keeps insertion order). */
  private readonly entries = new Map<string, Held>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The bytes held, with each entry's overhead. */
  get size(): number {
    return this.bytes;
  }

  get(key: string): Promise<Buffer | undefined> {
    const held = this.entries.get(key);
    if (held === undefined) return Promise.resolve(undefined);
    if (held.expiresAt <= Date.now()) {
      this.remove(key, held);
      return Promise.resolve(undefined);
    }
    // Used now: moved to the end of the order.
    this.entries.delete(key);
    this.entries.set(key, held);
    return Promise.resolve(held.value);
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    const size = value.length + key.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.maxBytes || ttlMs <= 0) return Promise.resolve();
    for (const [oldest, held] of this.entries) {
      if (this.bytes + size <= this.maxBytes) break;
      this.remove(oldest, held);
    }
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs, size });
    this.bytes += size;
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    const held = this.entries.get(key);
    if (held !== undefined) this.remove(key, held);
    return Promise.resolve();
  }

  private remove(key: string, held: Held): void {
    this.entries.delete(key);
    this.bytes -= held.size;
  }
}
