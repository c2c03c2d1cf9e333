import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { closedLogCode, LogCode, LogCodePattern } from '../../src/log/log-codes.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';

/**
 * Operators match log lines and clients match error frames on `code`, and README.md is where
 * they look codes up: every code the source defines must have its row there, every row must be
 * a code the source defines, and no code may be written as a literal where the lists cannot
 * see it.
 */
const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** The first cells of every README table whose first column is `code` (backticked codes only). */
function readmeCodes(text: string): string[] {
  const codes: string[] = [];
  let inCodeTable = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) inCodeTable = false;
    else if (/^\|\s*code\s*\|/.test(line)) inCodeTable = true;
    else if (inCodeTable) {
      const cell = /^\|\s*`([^`]+)`\s*\|/.exec(line)?.[1];
      if (cell !== undefined) codes.push(cell);
    }
  }
  return codes;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * A `code: '…'` property with a string or template literal (not `x.code : '…'`, a ternary's
 * branch). Node's errno names (`ENOENT`, `ENOSPC`) are
 * allowed: they fake a system error for code that handles one, they are not our codes.
 */
function literalCodes(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?<![\w$.])code\s*:\s*(['"`])((?:(?!\1).)*)\1/g)) {
    const literal = match[2] ?? '';
    if (match[1] === '`' || !/^E[A-Z0-9_]+$/.test(literal)) found.push(match[0]);
  }
  return found;
}

const defined: string[] = [
  ...Object.values(ErrorCode),
  ...Object.values(LogCode),
  ...Object.values(LogCodePattern),
];

describe('log and error codes', () => {
  const documented = readmeCodes(readFileSync(README, 'utf8'));

  it('defines each code once, across ErrorCode and LogCode', () => {
    const seen = new Set<string>();
    const twice = defined.filter((code) => seen.has(code) || !seen.add(code));
    assert.deepEqual(twice, []);
  });

  it('has a README row for every code of ErrorCode, LogCode and LogCodePattern', () => {
    assert.ok(documented.length > 50, `found only ${documented.length} code rows in README.md`);
    const missing = defined.filter((code) => !documented.includes(code));
    assert.deepEqual(missing, [], 'codes without a row in a README code table');
  });

  it('has no README code row that the source does not define', () => {
    const stale = documented.filter((code) => !defined.includes(code));
    assert.deepEqual(stale, [], 'README rows for codes neither ErrorCode nor LogCode defines');
  });

  it('builds closed_<code> as its README pattern says', () => {
    assert.equal(closedLogCode(1006), LogCodePattern.closed.replace('<code>', '1006'));
  });

  it('writes no code as a literal in src/: every one comes from ErrorCode or LogCode', () => {
    const offences = sourceFiles(SRC).flatMap((path) =>
      literalCodes(readFileSync(path, 'utf8')).map((found) => `${relative(SRC, path)}: ${found}`),
    );
    assert.deepEqual(offences, []);
  });

  it('the literal scan catches a quoted, a template and a double-quoted code, not an errno or a ternary', () => {
    const sample = [
      "logger.warn({ code: 'new_thing' }, 'x');",
      'logger.warn({ code: `closed_${n}` });',
      'logger.info({ code: "other" });',
      "Object.assign(new Error('full'), { code: 'ENOSPC' });",
      "new SessionError(typeof e.code === 'string' ? e.code : 'unauthorized');",
      'logger.warn({ code: LogCode.hubRestart });',
    ].join('\n');
    assert.deepEqual(literalCodes(sample), [
      "code: 'new_thing'",
      'code: `closed_${n}`',
      'code: "other"',
    ]);
  });
});
