#!/usr/bin/env node
// Runs every *.test.ts below the given folders with Node's test runner (TypeScript through tsx).
// Node 20's runner takes no globs, so the file list is gathered here.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// Every temporary file of the run goes under one folder, removed when the run ends: a test file
// the runner kills at its timeout cannot run its own cleanup, and what it made must not stay.
const runTmp = mkdtempSync(join(tmpdir(), 'iottly-test-run-'));
// Open like /tmp itself (sticky, everyone may create): some tests run the agent as another user.
chmodSync(runTmp, 0o1777);
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
  { stdio: 'inherit', env: { ...process.env, TMPDIR: runTmp } },
);
rmSync(runTmp, { recursive: true, force: true });
process.exit(result.status ?? 1);
