/// <reference lib="dom" />
// The callbacks given to page.evaluate and waitForFunction run in the page.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { BROWSER_WAIT_MS, freePort, launchChromium, openConsole } from '../helpers/browser.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The console's Files tab in a real browser (Debian's chromium, headless) against a real hub
 * (`iottly-agent hub`) and agent (`iottly-agent run` with `files.enabled` and one allowed
 * folder): a file picked in the page is uploaded to the device with a mode, downloaded back
 * through the browser's own download, and both are byte for byte the original; a path outside
 * `files.allowPaths` is refused with the device's code. The file is a few times the 1 MiB
 * session window, so both directions run on `input_consumed` and `session_ack`.
 */
const FILE_BYTES = 3 * 1024 * 1024 + 4321;

async function waitForOutput(process: AgentProcess, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + BROWSER_WAIT_MS;
  while (!pattern.test(process.output())) {
    if (process.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`no ${pattern} in the output:\n${process.output().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function startHub(owner: Owner, port: number): AgentProcess {
  return spawnAgent(owner, [
    'hub',
    '--port',
    String(port),
    '--api-key',
    'K',
    '--device-token',
    'dev1=T',
    '--log-level',
    'warn',
  ]);
}

function startAgent(owner: Owner, port: number, allowed: string): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `ws://127.0.0.1:${port}/v1/device`,
    IOTTLY_DEVICE_ID: 'dev1',
    IOTTLY_AUTH_TOKEN: 'T',
    IOTTLY_LOG_LEVEL: 'warn',
    IOTTLY_FILES_ENABLED: 'true',
    IOTTLY_FILES_ALLOW_PATHS: allowed,
  });
}

/** Waits for the pane's transfer to end; returns its result line. */
async function transferEnds(page: Page): Promise<{ state: string; text: string }> {
  await page.waitForFunction(() => {
    const state = document.getElementById('files-pane')?.dataset['state'];
    return state === 'ok' || state === 'failed';
  });
  return page.$eval('#files-pane', (pane) => ({
    state: (pane as HTMLElement).dataset['state'] ?? '',
    text: pane.querySelector('#files-result')?.textContent ?? '',
  }));
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('console Files tab in chromium', () => {
  let browser: Browser;
  before(async () => (browser = await launchChromium()));
  after(async () => {
    await browser?.close();
  });

  it('uploads a picked file to the device and downloads it back, equal bytes and sha256', async (t) => {
    const local = tempDir('iottly-files-browser-', t);
    const device = tempDir('iottly-files-device-', t);
    const content = randomBytes(FILE_BYTES);
    const picked = join(local, 'firmware.bin');
    writeFileSync(picked, content);

    const port = await freePort();
    const hub = startHub(t, port);
    await waitForOutput(hub, /listening on/);
    startAgent(t, port, device);

    const c = await openConsole(browser, `http://127.0.0.1:${port}/`);
    const { page } = c;
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await page.fill('#sign-in input', 'K');
    await page.press('#sign-in input', 'Enter');
    await page.locator('.device[data-device-id="dev1"][data-connected="true"]').waitFor();
    await page.click('#tab-files');
    await page.locator('#files-pane').waitFor({ state: 'visible' });
    assert.match(
      (await page.textContent('#files-pane .files-note')) ?? '',
      /up to 512 MiB.*iottly-agent cp/,
    );

    // Upload: a folder ending in / takes the picked file's name.
    await page.setInputFiles('#upload-file', picked);
    await page.fill('#upload-path', `${device}/`);
    await page.fill('#upload-mode', '600');
    await page.click('#upload-start');
    const up = await transferEnds(page);
    assert.equal(up.state, 'ok', up.text);
    assert.match(up.text, new RegExp(`sha256 ${sha256(content)} verified`));
    const written = join(device, 'firmware.bin');
    assert.ok(readFileSync(written).equals(content), 'the device has the very bytes');
    assert.equal(statSync(written).mode & 0o7777, 0o600, 'with the mode asked');

    // Download: saved by the browser through the Blob link, the same bytes again.
    await page.fill('#download-path', written);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#download-start'),
    ]);
    const down = await transferEnds(page);
    assert.equal(down.state, 'ok', down.text);
    assert.match(down.text, new RegExp(`sha256 ${sha256(content)} verified`));
    assert.equal(download.suggestedFilename(), 'firmware.bin');
    const saved = join(local, 'saved.bin');
    await download.saveAs(saved);
    assert.ok(readFileSync(saved).equals(content), 'the browser saved the very bytes');

    // A path outside files.allowPaths: the device's refusal, shown with its code.
    await page.fill('#download-path', '/etc/hostname');
    await page.click('#download-start');
    const denied = await transferEnds(page);
    assert.equal(denied.state, 'failed');
    assert.match(denied.text, /file_denied/);

    await c.screenshot('console-files.png');
    assert.deepEqual(c.problems, [], 'no console errors');
    await page.close();
  });
});
