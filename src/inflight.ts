// The requests in progress, for a shutdown to end those its grace leaves. A doubly linked list
// rather than a Set: a Set's hash table lives in the old generation once the server has run a while,
// and each time it rehashes (every few dozen requests, as entries come and go) the table it leaves
// behind still points at the exchanges it held. The young-generation collector treats those old
// slots as roots, so finished requests, with their bodies and sockets' buffers, were copied and
// promoted until the next full collection: 1.25x the CPU per request at 50 connections (bench/).
// A list entry is emptied when it leaves, so nothing it pointed at outlives its request.

/** One request's place in the list; given back by add, for delete. */
export interface InFlightEntry<T> {
  value: T | undefined;
  previous: InFlightEntry<T> | undefined;
  next: InFlightEntry<T> | undefined;
}

export class InFlight<T> {
  private head: InFlightEntry<T> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(value: T): InFlightEntry<T> {
    const entry: InFlightEntry<T> = { value, previous: undefined, next: this.head };
    if (this.head !== undefined) this.head.previous = entry;
    this.head = entry;
    this.count++;
    return entry;
  }

  /** Takes the entry out; a second delete of the same entry does nothing. */
  delete(entry: InFlightEntry<T>): void {
    if (entry.value === undefined) return;
    if (entry.previous !== undefined) entry.previous.next = entry.next;
    else this.head = entry.next;
    if (entry.next !== undefined) entry.next.previous = entry.previous;
    entry.value = entry.previous = entry.next = undefined;
    this.count--;
  }

  /** The values in progress now, as a list of their own (deleting while walking it is safe). */
  values(): T[] {
    const values: T[] = [];
    for (let entry = this.head; entry !== undefined; entry = entry.next) values.push(entry.value!);
    return values;
  }
}
