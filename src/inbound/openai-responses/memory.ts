// The output items of translated responses, kept for a while so that a client can refer to them by
// id. The Vercel AI SDK does so by default (its `store` option defaults to true): in a multi-step
// tool loop it sends the assistant's earlier message and calls back as `{type:"item_reference",
// id}` rather than whole. The gateway stores no responses (GET /v1/responses/<id> stays a 400);
// this is a bounded, in-process memory of items only:
// - kept per client (InboundContext.client, a hash of its credential), so that one client cannot
//   read another's items by id;
// - at most MAX_ITEMS items and MAX_BYTES of their JSON, the oldest dropped first, each for TTL_MS;
// - one gateway process: behind several workers or replicas a reference can miss, and is then a
//   400 that says to send the item itself (the AI SDK's `store: false`).
const MAX_ITEMS = 10_000;
const MAX_BYTES = 32 * 1024 * 1024;
const TTL_MS = 60 * 60 * 1000;

interface Kept {
  readonly item: Record<string, unknown>;
  readonly bytes: number;
  readonly until: number;
}

export class ItemMemory {
  private readonly items = new Map<string, Kept>();
  private bytes = 0;

  constructor(
    private readonly maxItems = MAX_ITEMS,
    private readonly maxBytes = MAX_BYTES,
    private readonly ttlMs = TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps the items of one answer (each with a string `id`) for `scope`. */
  remember(scope: string, items: readonly unknown[]): void {
    const until = this.now() + this.ttlMs;
    for (const item of items) {
      const id = (item as { id?: unknown }).id;
      if (typeof id !== 'string') continue;
      const bytes = id.length + JSON.stringify(item).length;
      if (bytes > this.maxBytes) continue;
      const key = `${scope}:${id}`;
      this.forget(key);
      this.items.set(key, { item: item as Record<string, unknown>, bytes, until });
      this.bytes += bytes;
    }
    // A Map iterates in insertion order: the first entries are the oldest.
    for (const key of this.items.keys()) {
      if (this.items.size <= this.maxItems && this.bytes <= this.maxBytes) break;
      this.forget(key);
    }
  }

  /** The item `id` kept for `scope`, if it is still kept. */
  recall(scope: string, id: string): Record<string, unknown> | undefined {
    const key = `${scope}:${id}`;
    const kept = this.items.get(key);
    if (kept === undefined) return undefined;
    if (kept.until <= this.now()) {
      this.forget(key);
      return undefined;
    }
    return kept.item;
  }

  private forget(key: string): void {
    const kept = this.items.get(key);
    if (kept === undefined) return;
    this.items.delete(key);
    this.bytes -= kept.bytes;
  }
}

/** The gateway's one memory of translated output items. */
export const outputItems = new ItemMemory();
