import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
/** The table the linter enforces (one no-restricted-imports rule per room). */
const LINT_CONFIG = '../../eslint.config.js'; // a plain JS file, loaded by path: it has no types
const rooms = ((await import(LINT_CONFIG)) as { ROOMS: Record<string, readonly string[]> }).ROOMS;

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The room of a file under src/ (its first folder), or null for a file at the top (cli.ts). */
function roomOf(file: string): string | null {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? (parts[0] as string) : null;
}

/** Room → the rooms its files import (relative imports only; packages are not rooms). */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  const specifier = /(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gs;
  for (const file of sources(SRC)) {
    const from = roomOf(file);
    if (from === null) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(specifier)) {
      const to = roomOf(resolve(dirname(file), match[1] as string));
      if (to === null || to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)?.add(to);
    }
  }
  return graph;
}

describe('rooms (first-level folders of src/)', () => {
  it('every folder of src/ is a room of the table, and every room exists', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    assert.deepEqual(folders, Object.keys(rooms).sort());
  });

  it('the table runs one way: no room may reach itself through the rooms it may import', () => {
    const reaches = (room: string, target: string, seen = new Set<string>()): boolean =>
      (rooms[room] ?? []).some(
        (next) =>
          next === target || (!seen.has(next) && (seen.add(next), reaches(next, target, seen))),
      );
    for (const room of Object.keys(rooms)) assert.equal(reaches(room, room), false, room);
  });

  it('the imports in src/ keep to the table, so no two folders import each other', () => {
    const graph = importGraph();
    const outside: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        if (!(rooms[from] ?? []).includes(to)) outside.push(`${from} -> ${to}`);
      }
    }
    assert.deepEqual(outside, []);
    const twoWay = [...graph].flatMap(([from, targets]) =>
      [...targets].filter((to) => graph.get(to)?.has(from)).map((to) => `${from} <-> ${to}`),
    );
    assert.deepEqual(twoWay, []);
  });

  it('the console and the hub share with the device side only protocol/, time/ and log/', () => {
    const device = ['agent', 'process', 'storage', 'commands', 'telemetry', 'local', 'systemd'];
    for (const cloud of ['hub', 'console']) {
      const shared = (rooms[cloud] ?? []).filter((room) => device.includes(room));
      assert.deepEqual(shared, [], cloud);
    }
    assert.deepEqual([...(rooms.console ?? [])].sort(), ['protocol', 'time']);
  });

  it("broker-access/ is the topic scheme as a broker's files: it imports protocol/ alone", () => {
    assert.deepEqual(rooms['broker-access'], ['protocol']);
    const users = Object.keys(rooms).filter((room) => rooms[room]?.includes('broker-access'));
    assert.deepEqual(users, ['cli']);
  });
});
