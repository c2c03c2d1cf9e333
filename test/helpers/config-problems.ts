import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/load.js';

/** The problems of the ConfigError that `fn` throws (and fails the test if it throws none). */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}
