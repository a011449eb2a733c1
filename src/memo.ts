// A cache of values made from names a configuration bounds (counter names, limits' texts): made
// once per name, kept in a Map that starts over past its bound, so that a flood of names costs a
// remake each, never unbounded memory.

/** Keeps `value` under `key` in `map`, emptied first when it holds `max` entries; returns `value`. */
export function memo<K, V>(map: Map<K, V>, key: K, value: V, max: number): V {
  if (map.size >= max) map.clear();
  map.set(key, value);
  return value;
}
