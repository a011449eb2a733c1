// The item memory shared by several gateways (REDIS_URL): each item an answer carries is also kept
// in the shared store, and a request's `item_reference`s are fetched from it before the request is
// translated, so that a reference resolves whichever gateway answered the earlier request. The
// translation itself stays synchronous: it recalls from this process's memory, filled first.
import type { Store } from '../../state/store.js';
import { ItemMemory, type ItemMemoryLimits } from './memory.js';

/** How often, and how far apart, a referenced item missing from the store is asked for again. */
const MISSING_ITEM_RETRIES = 4;
const MISSING_ITEM_RETRY_MS = 25;
/** The most references of one request fetched from the shared store (the rest resolve locally or not at all). */
export const MAX_SHARED_REFERENCES = 256;
/**
 * The most missing references asked for again. An answer that has just been written carries a few
 * items; a request whose hundreds of references all miss refers to items that do not exist, and
 * asking again for each would cost the store hundreds of reads per request.
 */
export const MAX_RETRIED_REFERENCES = 16;

export class SharedItemMemory extends ItemMemory {
  private readonly ttlMs: number;

  constructor(
    private readonly store: Store,
    limits: Partial<ItemMemoryLimits> = {},
  ) {
    super(limits);
    this.ttlMs = this.limitsInEffect.ttlMs;
  }

  override remember(scope: string, items: readonly unknown[]): void {
    super.remember(scope, items);
    for (const item of items) {
      const id = (item as { id?: unknown }).id;
      // Only what this memory kept: an item past its bounds is not written for the others either.
      if (typeof id !== 'string' || this.recall(scope, id) === undefined) continue;
      // Kept on the answer's time, not the client's: a store that fails loses the item for the other gateways only.
      this.store.set(itemKey(scope, id), Buffer.from(JSON.stringify(item)), this.ttlMs).catch(() => undefined);
    }
  }

  /**
   * Fetches the items a Responses API body refers to that this process does not hold. An item
   * another gateway answered with a moment ago may still be on its way to the store (its write
   * goes out as the answer does, and a quick client refers to it at once): a miss is asked again,
   * a few times, before the reference is left to fail.
   */
  async prefetch(scope: string, body: Record<string, unknown>): Promise<void> {
    let missing = [...new Set(referencedIds(body))].filter((id) => this.recall(scope, id) === undefined);
    for (let attempt = 0; missing.length > 0 && attempt <= MISSING_ITEM_RETRIES; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, MISSING_ITEM_RETRY_MS));
      const found = await Promise.all(missing.map((id) => this.store.get(itemKey(scope, id)).catch(() => undefined)));
      const items: unknown[] = [];
      for (const bytes of found) {
        // A value that is not an item's JSON (written by something else) leaves its reference unresolved.
        const item = bytes === undefined ? undefined : parseItem(bytes);
        if (item !== undefined) items.push(item);
      }
      if (items.length > 0) super.remember(scope, items);
      missing = missing.filter((_, i) => found[i] === undefined).slice(0, MAX_RETRIED_REFERENCES);
    }
  }
}

function parseItem(bytes: Buffer): unknown {
  try {
    const item: unknown = JSON.parse(bytes.toString('utf8'));
    return item !== null && typeof item === 'object' && !Array.isArray(item) ? item : undefined;
  } catch {
    return undefined;
  }
}

function itemKey(scope: string, id: string): string {
  return `items:${scope}:${id}`;
}

/** The ids of a body's `item_reference` input items, at most MAX_SHARED_REFERENCES. */
export function referencedIds(body: Record<string, unknown>): string[] {
  const input = body.input;
  if (!Array.isArray(input)) return [];
  const ids: string[] = [];
  for (const item of input) {
    if (ids.length >= MAX_SHARED_REFERENCES) break;
    const given = item as { type?: unknown; id?: unknown } | null;
    if (given !== null && typeof given === 'object' && given.type === 'item_reference' && typeof given.id === 'string' && given.id.length <= 256) ids.push(given.id);
  }
  return ids;
}
