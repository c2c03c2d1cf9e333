/// <reference lib="dom" />
// The callbacks given to page.evaluate and waitForFunction run in the page.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { publicKeyText, signArtifact } from '../../src/protocol/update-signature.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { launchChromium, openConsole } from '../helpers/browser.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The console's Update button in a real chromium, against `iottly-agent hub --artifacts` and
 * `iottly-agent run` as processes: the header shows the agent's version, the button lists the
 * hub's artifacts for the device's arch, Install asks for the API key and the hub for the update,
 * and the header and the device's row follow it to `restarting` (the agent swapped the signed
 * build in and exited 3; no supervisor restarts it here).
 */
const API_KEY = 'ik_update_test_key';
const NEW_VERSION = '99.1.0';

describe('console Update button in chromium', () => {
  let browser: Browser;
  before(async () => (browser = await launchChromium()));
  after(async () => {
    await browser?.close();
  });

  it('lists the artifacts for the device’s arch and follows the update it asks for', async (t) => {
    const artifacts = tempDir('iottly-artifacts-', t);
    const install = tempDir('iottly-install-', t);
    const binary = join(install, 'iottly-agent');
    writeFileSync(binary, 'the running build\n', { mode: 0o755 });
    const keys = generateKeyPairSync('ed25519');
    const hub = spawnAgent(t, [
      'hub',
      '--port',
      '0',
      '--api-key',
      API_KEY,
      '--device-token',
      'dev1=T',
      '--artifacts',
      artifacts,
      '--log-format',
      'json',
    ]);
    const hubUrl = String((await hub.waitForLog((l) => l.msg === 'hub listening')).url);
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hubUrl.replace(/^http/, 'ws')}/v1/device`,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'T',
      IOTTLY_LOG_LEVEL: 'info',
      IOTTLY_UPDATE_BINARY_PATH: binary,
      IOTTLY_UPDATE_PUBLIC_KEYS: publicKeyText(keys.publicKey),
    });
    const arch = process.arch as 'x64' | 'arm64' | 'arm';
    const bytes = randomBytes(256 * 1024);
    const signature = signArtifact(
      {
        version: NEW_VERSION,
        arch,
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      },
      keys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    const put = await fetch(`${hubUrl}/v1/artifacts/${NEW_VERSION}/${arch}`, {
      method: 'PUT',
      headers: {
        Authorization: `Bearer ${API_KEY}`,
        'X-Iottly-Signature': Buffer.from(JSON.stringify(signature)).toString('base64'),
      },
      body: new Uint8Array(bytes),
    });
    assert.equal(put.status, 201);

    const c = await openConsole(browser, `${hubUrl}/`);
    const { page } = c;
    await page.fill('#sign-in input', API_KEY);
    await page.press('#sign-in input', 'Enter');
    await page.locator('.device[data-device-id="dev1"][data-connected="true"]').waitFor();
    await page.waitForFunction(() =>
      /^agent \d/.test(document.querySelector('#update-state')?.textContent ?? ''),
    );

    await page.click('#update-open');
    await page.locator('#update-form').waitFor({ state: 'visible' });
    assert.deepEqual(await page.locator('#update-version option').allTextContents(), [
      `${NEW_VERSION} (0.3 MiB)`,
    ]);
    await page.click('#update-submit');
    const prompt = page.locator('.key-prompt');
    await prompt.waitFor({ state: 'visible' });
    await prompt.locator('input').fill(API_KEY);
    await prompt.locator('input').press('Enter');

    await page.waitForFunction(
      (version) =>
        (document.querySelector('#update-state')?.textContent ?? '').includes(
          `update ${version}: restarting`,
        ),
      NEW_VERSION,
    );
    assert.match(
      (await page.locator('.device[data-device-id="dev1"] .device-seen').textContent()) ?? '',
      /update 99\.1\.0: (restarting|installing|downloading)/,
    );
    assert.equal((await agent.exited()).code, 3);
    assert.ok(readFileSync(binary).equals(bytes), 'the signed build is in place');
    await c.screenshot('update-button.png');
    assert.deepEqual(c.problems, []);
  });
});
