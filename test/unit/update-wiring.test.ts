import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import type { AgentConfig } from '../../src/config/load.js';
import { publicKeyText } from '../../src/protocol/update-signature.js';
import { createUpdateFeature, type UpdateHost } from '../../src/roots/update-wiring.js';
import { systemClock } from '../../src/time/clock.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Which installs take updates (README "Updating the agent"): the capability `update` only where
 * the agent can replace its binary; a .deb's binary is refused towards apt.
 */
const KEY = publicKeyText(generateKeyPairSync('ed25519').publicKey);

function config(update: Partial<AgentConfig['update']> = {}): AgentConfig {
  return {
    update: {
      enabled: true,
      publicKeys: [KEY],
      healthTimeoutS: 120,
      maxStarts: 3,
      maxBytes: 1 << 20,
      binaryPath: '',
      ...update,
    },
  } as AgentConfig;
}

function feature(cfg: AgentConfig, host: UpdateHost | undefined) {
  return createUpdateFeature(cfg, { clock: systemClock, version: '0.1.0', arch: 'x64', host });
}

function install(): { dir: string; binary: string; host: UpdateHost } {
  const dir = tempDir('iottly-wiring-');
  mkdirSync(join(dir, 'lib'));
  const binary = join(dir, 'lib', 'iottly-agent');
  writeFileSync(binary, '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync(binary, join(dir, 'iottly-agent'));
  const host = {
    execPath: join(dir, 'iottly-agent'),
    singleExecutable: true,
    requestRestart: () => {},
    dpkgInfoDir: join(dir, 'dpkg'),
  };
  return { dir, binary, host };
}

describe('which installs take updates', () => {
  it('the single binary in a folder it may write (through a symlink), with a trusted key', () => {
    const { host } = install();
    assert.deepEqual(feature(config(), host).capabilities(), ['update']);
    assert.deepEqual(feature(config({ publicKeys: [] }), host).capabilities(), []);
    assert.deepEqual(feature(config({ enabled: false }), host).capabilities(), []);
  });

  it('not a binary dpkg owns, not node running dist/, not in-process', () => {
    const { dir, binary, host } = install();
    mkdirSync(join(dir, 'dpkg'));
    writeFileSync(join(dir, 'dpkg', 'iottly-agent.list'), `/.\n/usr\n${binary}\n`);
    assert.deepEqual(feature(config(), host).capabilities(), []);
    assert.deepEqual(feature(config(), { ...host, singleExecutable: false }).capabilities(), []);
    assert.deepEqual(feature(config(), undefined).capabilities(), []);
  });
});
