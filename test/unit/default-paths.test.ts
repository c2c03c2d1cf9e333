import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, type ConfigSources } from '../../src/config/load.js';

/**
 * Where the spool and the SDK socket go when the configuration names no place: the system paths
 * for root and under systemd, per-user paths for everyone else (a first `run` by hand must not
 * need root, nor share a spool with the service or with another device).
 */
function load(partial: Partial<ConfigSources>) {
  return loadConfig({
    env: {},
    flags: {},
    readFile: () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    homeDir: '/home/ann',
    ...partial,
  });
}

describe('default paths', () => {
  it('root: /var/lib/iottly-agent and /run/iottly-agent/sdk.sock', () => {
    const { config, sourceOf } = load({ uid: 0, flags: { 'device.id': 'dev1' } });
    assert.equal(config.storage.dir, '/var/lib/iottly-agent');
    assert.equal(config.local.socketPath, '/run/iottly-agent/sdk.sock');
    assert.equal(sourceOf('storage.dir'), 'default');
  });

  it('under systemd: $STATE_DIRECTORY and $RUNTIME_DIRECTORY (first entries), whoever runs it', () => {
    const { config } = load({
      uid: 998,
      env: { STATE_DIRECTORY: '/var/lib/iottly-agent:/x', RUNTIME_DIRECTORY: '/run/iottly-agent' },
      flags: { 'device.id': 'dev1' },
    });
    assert.equal(config.storage.dir, '/var/lib/iottly-agent');
    assert.equal(config.local.socketPath, '/run/iottly-agent/sdk.sock');
  });

  it('other users: the XDG state dir, one spool per device, the socket in $XDG_RUNTIME_DIR', () => {
    const { config } = load({
      uid: 1000,
      env: { XDG_STATE_HOME: '/home/ann/st', XDG_RUNTIME_DIR: '/run/user/1000' },
      flags: { 'device.id': 'dev1' },
    });
    assert.equal(config.storage.dir, '/home/ann/st/iottly-agent/dev1');
    assert.equal(config.local.socketPath, '/run/user/1000/iottly-agent/sdk.sock');
    const other = load({
      uid: 1000,
      env: { XDG_STATE_HOME: '/home/ann/st' },
      flags: { 'device.id': 'dev2' },
    });
    assert.equal(other.config.storage.dir, '/home/ann/st/iottly-agent/dev2');
  });

  it('other users without XDG variables: ~/.local/state/iottly-agent, socket beside the spools', () => {
    const { config } = load({ uid: 1000, flags: { 'device.id': 'dev1' } });
    assert.equal(config.storage.dir, '/home/ann/.local/state/iottly-agent/dev1');
    assert.equal(config.local.socketPath, '/home/ann/.local/state/iottly-agent/sdk.sock');
  });

  it('ignores relative XDG paths (the spec says so) and never lets a device id climb out', () => {
    const { config } = load({
      uid: 1000,
      env: { XDG_STATE_HOME: 'rel', XDG_RUNTIME_DIR: 'rel' },
      flags: { 'device.id': '..' },
    });
    assert.equal(config.storage.dir, '/home/ann/.local/state/iottly-agent/%2E.');
    assert.equal(config.local.socketPath, '/home/ann/.local/state/iottly-agent/sdk.sock');
  });

  it('a configured path wins, from any source', () => {
    const { config } = load({
      uid: 1000,
      env: { IOTTLY_STORAGE_DIR: '/data/spool' },
      flags: { 'local.socketPath': '/tmp/a.sock' },
    });
    assert.equal(config.storage.dir, '/data/spool');
    assert.equal(config.local.socketPath, '/tmp/a.sock');
  });
});
