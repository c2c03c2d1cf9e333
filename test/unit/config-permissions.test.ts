import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { checkConfigFilePermissions } from '../../src/config/permissions.js';

const CONFIG = '/etc/iottly-agent/config.json';
const base = { server: { url: 'ws://127.0.0.1:9/v1/device' }, device: { id: 'dev1' } };

/** The problems found for a config file holding `file`, with these modes by path. */
function problems(file: unknown, modes: Record<string, number>): string[] {
  const loaded = loadConfig({
    configPath: CONFIG,
    env: {},
    flags: {},
    readFile: () => JSON.stringify(file),
  });
  try {
    checkConfigFilePermissions(loaded, (path) => {
      const mode = modes[path];
      if (mode === undefined) throw new Error(`ENOENT: ${path}`);
      return mode;
    });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n').filter((line) => line.includes(CONFIG));
  }
}

describe('permissions of the config file', () => {
  it('names both faults of a token file every user can read and change, in one line', () => {
    const found = problems({ ...base, auth: { token: 'T' } }, { [CONFIG]: 0o100646 });
    assert.equal(found.length, 1);
    assert.match(
      found[0] ?? '',
      /holds the device token and every user can read and change it \(mode 0646\)/,
    );
  });

  it('accepts a folder others may write only with the sticky bit, and any group bits', () => {
    const folder = '/etc/iottly-agent';
    assert.equal(problems(base, { [CONFIG]: 0o100664, [folder]: 0o41777 }).length, 0);
    const open = problems(base, { [CONFIG]: 0o100640, [folder]: 0o40777 });
    assert.equal(open.length, 1);
    assert.match(open[0] ?? '', /the folder \/etc\/iottly-agent .*\(mode 0777\).*chmod o-w/);
  });
});
