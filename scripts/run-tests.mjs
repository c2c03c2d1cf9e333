#!/usr/bin/env node
// Runs every *.test.ts below the given folders with Node's test runner (TypeScript through tsx).
// Node 20's runner takes no globs, so the file list is gathered here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dirs = process.argv.slice(2);
const passThrough = dirs.filter((arg) => arg.startsWith('--'));
const files = dirs
  .filter((arg) => !arg.startsWith('--'))
  .flatMap((dir) => collect(dir))
  .sort();

function collect(path) {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path).flatMap((name) => {
    const full = join(path, name);
    if (statSync(full).isDirectory()) return collect(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=2',
    '--test-timeout=120000',
    ...passThrough,
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
