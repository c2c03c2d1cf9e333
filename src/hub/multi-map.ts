/** A Map from a key to a set of values, for the registries' secondary indexes. */
export class MultiMap<K, V> {
  readonly #map = new Map<K, Set<V>>();

  add(key: K, value: V): void {
    let set = this.#map.get(key);
    if (!set) {
      set = new Set();
      this.#map.set(key, set);
    }
    set.add(value);
  }

  delete(key: K, value: V): void {
    const set = this.#map.get(key);
    if (!set) return;
    set.delete(value);
    if (set.size === 0) this.#map.delete(key);
  }

  /** How many values the key has. */
  count(key: K): number {
    return this.#map.get(key)?.size ?? 0;
  }

  /** A copy of the key's values (safe to iterate while deleting). */
  get(key: K): V[] {
    return [...(this.#map.get(key) ?? [])];
  }
}
