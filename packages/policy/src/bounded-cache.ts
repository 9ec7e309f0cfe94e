/**
 * A Map with a hard size cap: inserting past `capacity` evicts the oldest inserted key (FIFO —
 * "LRU-ish" without the cost of reordering on every hit). Memory stays bounded whatever keys
 * callers (or hostile tool names) produce.
 */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly capacity: number;

  /** `capacity`: maximum number of entries kept, at least 1. */
  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  set(key: K, value: V): void {
    if (!this.#entries.has(key) && this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
  }

  /** The cached values, oldest first. */
  values(): IterableIterator<V> {
    return this.#entries.values();
  }

  get size(): number {
    return this.#entries.size;
  }
}
