import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AGENT_VERSION } from '../../src/version.js';

/**
 * The version is written twice: in package.json for npm, and in src/version.ts for what the
 * agent says about itself (hello, `iottly-agent version`, the User-Agent, the .deb's Version).
 * A release that bumps one and forgets the other fails here.
 */
describe('AGENT_VERSION', () => {
  it('is the version in package.json', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    assert.equal(AGENT_VERSION, pkg.version);
  });
});
