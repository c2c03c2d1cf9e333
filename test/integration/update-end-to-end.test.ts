import assert from 'node:assert/strict';
import { generateKeyPairSync, createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { signArtifact, publicKeyText } from '../../src/protocol/update-signature.js';
import type { ArtifactArch } from '../../src/protocol/update-artifact.js';
import { spawnAgent, statusIs } from '../helpers/agent-process.js';
import { rest } from '../helpers/command-api.js';
import { tempDir } from '../helpers/temp-dir.js';
import { uploadArtifact, waitForUpdateState } from '../helpers/update-device.js';
import { DEVICE_ID, DEVICE_TOKEN, startHub, waitFor } from '../helpers/ws.js';

/**
 * The hub's update manager and the agent's update feature together: a signed artifact uploaded
 * to a real hub, asked for over REST, streamed to the agent spawned as a process, checked
 * against its trusted key, swapped in beside the previous binary, and the agent exiting to be
 * restarted (code 3) while the hub shows `restarting`. What follows the restart (the trial,
 * rollback) is the agent's and is tested with the agent's own tests.
 */
const NEW_VERSION = '99.0.0';

describe('update end to end: hub and agent process', () => {
  it('delivers a signed artifact that the agent swaps in, then restarts', async (t) => {
    const artifacts = tempDir('iottly-artifacts-', t);
    const install = tempDir('iottly-install-', t);
    const hub = await startHub(t, { artifactsDir: artifacts });
    const binary = join(install, 'iottly-agent');
    writeFileSync(binary, 'the running build\n', { mode: 0o755 });
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_LOG_LEVEL: 'info',
      IOTTLY_UPDATE_BINARY_PATH: binary,
      IOTTLY_UPDATE_PUBLIC_KEYS: publicKeyText(publicKey),
    });
    await agent.waitForLog(statusIs('online'));
    const arch = hub.hub.device(DEVICE_ID)?.arch as ArtifactArch;
    const bytes = randomBytes(5 * 1024 * 1024 + 3);
    const signature = signArtifact(
      {
        version: NEW_VERSION,
        arch,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      },
      privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    assert.equal((await uploadArtifact(hub, NEW_VERSION, arch, bytes, signature)).status, 201);
    const asked = await rest(hub, 'POST', '/v1/updates', {
      version: NEW_VERSION,
      devices: [DEVICE_ID],
    });
    assert.equal(asked.status, 202);
    await waitForUpdateState(hub, DEVICE_ID, 'restarting', 30_000);
    const exit = await agent.exited();
    assert.equal(exit.code, 3, agent.output().slice(-2000));
    assert.ok(readFileSync(binary).equals(bytes), 'the new build is in place');
    await waitFor(() => hub.hub.device(DEVICE_ID)?.connected === false);
    const state = hub.hub.updates?.state(DEVICE_ID);
    assert.equal(state?.bytes, bytes.length);
  });

  it('is refused by an agent that does not trust the signer, and the hub says why', async (t) => {
    const artifacts = tempDir('iottly-artifacts-', t);
    const install = tempDir('iottly-install-', t);
    const hub = await startHub(t, { artifactsDir: artifacts });
    const binary = join(install, 'iottly-agent');
    writeFileSync(binary, 'the running build\n', { mode: 0o755 });
    const trusted = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_LOG_LEVEL: 'info',
      IOTTLY_UPDATE_BINARY_PATH: binary,
      IOTTLY_UPDATE_PUBLIC_KEYS: publicKeyText(trusted.publicKey),
    });
    await agent.waitForLog(statusIs('online'));
    const arch = hub.hub.device(DEVICE_ID)?.arch as ArtifactArch;
    const bytes = randomBytes(4096);
    const signature = signArtifact(
      {
        version: NEW_VERSION,
        arch,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      },
      other.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    await uploadArtifact(hub, NEW_VERSION, arch, bytes, signature);
    await rest(hub, 'POST', '/v1/updates', { version: NEW_VERSION, devices: [DEVICE_ID] });
    await waitForUpdateState(hub, DEVICE_ID, 'failed', 30_000);
    assert.equal(hub.hub.updates?.state(DEVICE_ID)?.code, 'update_bad_signature');
    assert.equal(readFileSync(binary, 'utf8'), 'the running build\n');
  });
});
