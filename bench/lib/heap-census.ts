/**
 * Counts what a V8 heap snapshot (`.heapsnapshot`, the JSON Chrome's DevTools read) holds, by
 * kind of object: objects by constructor name, closures by function name, strings, arrays, and
 * so on, with their count and self size. Two censuses taken after a collection, minutes apart
 * under the same load, differ by what the process keeps: the rows that grow are where to look.
 */
import { readFileSync } from 'node:fs';

export interface CensusRow {
  /** `type:name`, e.g. `object:Map`, `closure:onClose`, `string`, `array:(object elements)`. */
  key: string;
  count: number;
  bytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: (string[] | string)[] } };
  nodes: number[];
  strings: string[];
}

/** Kinds whose names are values (string contents, numbers): counted under the type alone. */
const NAME_IS_VALUE = new Set(['string', 'concatenated string', 'sliced string', 'number']);

export function census(path: string): Map<string, CensusRow> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const rows = new Map<string, CensusRow>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    const name = snap.strings[snap.nodes[i + nameAt] as number] ?? '';
    const key = NAME_IS_VALUE.has(type) ? type : `${type}:${name.slice(0, 60)}`;
    const row = rows.get(key) ?? { key, count: 0, bytes: 0 };
    row.count++;
    row.bytes += snap.nodes[i + sizeAt] as number;
    rows.set(key, row);
  }
  return rows;
}

/** The rows that changed most from `before` to `after` (by bytes), largest growth first. */
export function censusDiff(
  before: ReadonlyMap<string, CensusRow>,
  after: ReadonlyMap<string, CensusRow>,
  top = 25,
): { key: string; count: number; bytes: number; countAfter: number; bytesAfter: number }[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys]
    .map((key) => {
      const a = before.get(key) ?? { count: 0, bytes: 0 };
      const b = after.get(key) ?? { count: 0, bytes: 0 };
      return {
        key,
        count: b.count - a.count,
        bytes: b.bytes - a.bytes,
        countAfter: b.count,
        bytesAfter: b.bytes,
      };
    })
    .sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes))
    .slice(0, top);
}
