// The output items of translated responses, kept for a while so that a client can refer to them by
// id. The Vercel AI SDK does so by default (its `store` option defaults to true): in a multi-step
// tool loop it sends the assistant's earlier message and calls back as `{type:"item_reference",
// id}` rather than whole. The gateway stores no responses (GET /v1/responses/<id> stays a 400);
// this is a bounded, in-process memory of items only:
// - kept per client (InboundContext.client, a hash of its credential), so that one client cannot
//   read another's items by id;
// - at most MAX_ITEMS_PER_CLIENT items and MAX_BYTES_PER_CLIENT of their JSON per client, its
//   oldest dropped first, so that one client's items never push out another's;
// - at most MAX_ITEMS and `maxBytes` (RESPONSES_ITEMS_MAX_BYTES) across clients, the oldest items
//   of the client answered longest ago dropped first, so that many clients stay bounded too;
// - each for TTL_MS;
// - one gateway process: behind several workers or replicas a reference can miss, and is then a
//   400 that says to send the item itself (the AI SDK's `store: false`).
export const MAX_ITEMS_PER_CLIENT = 10_000;
export const MAX_BYTES_PER_CLIENT = 32 * 1024 * 1024;
/** Items across clients; with one item at least per client, this bounds the clients kept too. */
export const MAX_ITEMS = 100_000;
export const DEFAULT_MAX_BYTES = 128 * 1024 * 1024;
const TTL_MS = 60 * 60 * 1000;

/** An item kept, and the size of its JSON in bytes (what it adds to a request that refers to it). */
export interface KeptItem {
  readonly item: Record<string, unknown>;
  readonly bytes: number;
}

interface Kept extends KeptItem {
  readonly until: number;
}

/** One client's items, oldest first (a Map iterates in insertion order). */
interface ClientItems {
  readonly items: Map<string, Kept>;
  bytes: number;
}

export interface ItemMemoryLimits {
  readonly maxItemsPerClient: number;
  readonly maxBytesPerClient: number;
  readonly maxItems: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
}

const DEFAULT_LIMITS: ItemMemoryLimits = Object.freeze({
  maxItemsPerClient: MAX_ITEMS_PER_CLIENT,
  maxBytesPerClient: MAX_BYTES_PER_CLIENT,
  maxItems: MAX_ITEMS,
  maxBytes: DEFAULT_MAX_BYTES,
  ttlMs: TTL_MS,
});

export class ItemMemory {
  /** Clients by the time they were last answered, longest ago first. */
  private readonly clients = new Map<string, ClientItems>();
  private readonly limits: ItemMemoryLimits;
  private items = 0;
  private bytes = 0;

  constructor(limits: Partial<ItemMemoryLimits> = {}, private readonly now: () => number = Date.now) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** The limits this memory keeps to, defaults filled in. */
  get limitsInEffect(): ItemMemoryLimits {
    return this.limits;
  }

  /** Keeps the items of one answer (each with a string `id`) for `scope`. */
  remember(scope: string, items: readonly unknown[]): void {
    const { maxItemsPerClient, maxBytesPerClient, maxItems, maxBytes } = this.limits;
    const until = this.now() + this.limits.ttlMs;
    let client = this.clients.get(scope);
    if (client === undefined) client = { items: new Map(), bytes: 0 };
    else this.clients.delete(scope);
    this.clients.set(scope, client);
    for (const item of items) {
      const id = (item as { id?: unknown }).id;
      if (typeof id !== 'string') continue;
      const bytes = Buffer.byteLength(JSON.stringify(item));
      if (bytes > maxBytesPerClient || bytes > maxBytes) continue;
      this.forget(client, id);
      client.items.set(id, { item: item as Record<string, unknown>, bytes, until });
      client.bytes += bytes;
      this.items++;
      this.bytes += bytes;
    }
    while (client.items.size > maxItemsPerClient || client.bytes > maxBytesPerClient) this.forgetOldest(scope, client);
    while (this.items > maxItems || this.bytes > maxBytes) {
      const [oldestScope, oldestClient] = this.clients.entries().next().value!;
      this.forgetOldest(oldestScope, oldestClient);
    }
    if (client.items.size === 0) this.clients.delete(scope);
  }

  /** The item `id` kept for `scope`, with its size, if it is still kept. */
  recall(scope: string, id: string): KeptItem | undefined {
    const client = this.clients.get(scope);
    const kept = client?.items.get(id);
    if (kept === undefined) return undefined;
    if (kept.until <= this.now()) {
      this.forget(client!, id);
      if (client!.items.size === 0) this.clients.delete(scope);
      return undefined;
    }
    return kept;
  }

  private forgetOldest(scope: string, client: ClientItems): void {
    this.forget(client, client.items.keys().next().value!);
    if (client.items.size === 0) this.clients.delete(scope);
  }

  private forget(client: ClientItems, id: string): void {
    const kept = client.items.get(id);
    if (kept === undefined) return;
    client.items.delete(id);
    client.bytes -= kept.bytes;
    this.items--;
    this.bytes -= kept.bytes;
  }
}
