/// <reference lib="dom" />
// The callbacks given to page.evaluate and waitForFunction run in the page.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { spawnAgent } from '../helpers/agent-process.js';
import { BROWSER_WAIT_MS, launchChromium, openConsole } from '../helpers/browser.js';
import {
  startReceiver,
  type HttpReceiver,
  type ReceivedRequest,
} from '../helpers/http-receiver.js';

/**
 * Settings → "Configure webhooks" in a real chromium, against `iottly-agent hub` and
 * `iottly-agent run` as processes and a loopback HTTP receiver: a webhook created through the
 * form gets the device's messages, its secret header shows masked, "Send test message" shows the
 * receiver's status, the 6th is refused with the hub's message, and one is deleted. Every write
 * asks for the API key again, and the key is never left in the page's storage or URL.
 *
 * With IOTTLY_DOCS_SCREENSHOTS=1 the panel's screenshot is also written to
 * docs/webhooks-panel.png (README shows it).
 */
const API_KEY = 'ik_panel_test_key';
const SECRET = 'Bearer s3cret-panel-value';
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/webhooks-panel.png', import.meta.url));
const LIMIT_MESSAGE = 'a hub keeps at most 5 webhooks; delete one first';

interface Field {
  description: string;
  url: string;
  type: 'iottly' | 'user';
  channel?: string;
  payloadOnly?: boolean;
  headers?: Array<[string, string]>;
}

/** Fills the form as a person would, presses "Create webhook" and gives the key when asked. */
async function createThroughForm(page: Page, field: Field): Promise<void> {
  const form = page.locator('.webhook-form');
  if (!(await form.isVisible())) await page.click('button.add-webhook');
  await form.locator('input[name="description"]').fill(field.description);
  await form.locator('input[name="url"]').fill(field.url);
  await form.locator('select[name="type"]').selectOption(field.type);
  await form.locator('input[name="channel"]').fill(field.channel ?? '');
  await form.locator('input[name="payload_only"]').setChecked(field.payloadOnly ?? false);
  for (const [i, [name, value]] of (field.headers ?? []).entries()) {
    await form.locator('button.add-header').click();
    const row = form.locator('.header-row').nth(i);
    await row.locator('input').nth(0).fill(name);
    await row.locator('input').nth(1).fill(value);
  }
  await form.locator('button.create-webhook').click();
  await giveKey(page);
}

async function giveKey(page: Page): Promise<void> {
  const prompt = page.locator('.key-prompt');
  await prompt.waitFor({ state: 'visible' });
  assert.match((await prompt.locator('.sign-in-message').textContent()) ?? '', /API key itself/);
  await prompt.locator('input').fill(API_KEY);
  await prompt.locator('input').press('Enter');
  await prompt.waitFor({ state: 'hidden' });
}

const listed = (page: Page) => page.locator('.webhooks > li.webhook');

describe('webhooks panel in chromium', () => {
  let browser: Browser;
  before(async () => (browser = await launchChromium()));
  after(async () => {
    await browser?.close();
  });

  it('creates a webhook through the form, tests it, refuses a 6th with the hub message and deletes one', async (t) => {
    // The test message is answered 202, device messages 200: the page must show the former.
    const receiver = await startReceiver(t, (request) =>
      (request.body as { msg?: { test?: boolean } }).msg?.test === true ? 202 : 200,
    );
    const hub = spawnAgent(t, [
      'hub',
      '--port',
      '0',
      '--api-key',
      API_KEY,
      '--device-token',
      'dev1=T',
      '--log-format',
      'json',
    ]);
    const hubUrl = String((await hub.waitForLog((l) => l.msg === 'hub listening')).url);
    spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hubUrl.replace(/^http/, 'ws')}/v1/device`,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'T',
      IOTTLY_LOG_LEVEL: 'warn',
    });

    const c = await openConsole(browser, `${hubUrl}/`);
    const { page } = c;
    await page.fill('#sign-in input', API_KEY);
    await page.press('#sign-in input', 'Enter');
    // The selected device's charts subscribe: telemetry flows, and webhooks of Type iottly get it.
    await page.locator('.device[data-device-id="dev1"][data-connected="true"]').waitFor();

    await page.click('#settings');
    await page.click('button.settings-link:text("Configure webhooks")');
    await page.locator('.webhooks > li.empty').waitFor();

    await createThroughForm(page, {
      description: 'agent messages',
      url: `${receiver.url}/in`,
      type: 'iottly',
      headers: [
        ['Authorization', SECRET],
        ['X-Tenant', 'acme'],
      ],
    });
    const first = listed(page).first();
    await first.waitFor();
    assert.equal(await page.locator('.webhook-form').isVisible(), false, 'the form closes');
    assert.deepEqual(await first.locator('.webhook-headers li').allTextContents(), [
      'Authorization: ***',
      'X-Tenant: ***',
    ]);
    const fromDevice = await waitForRequest(receiver, (r) => {
      const msg = (r.body as { msg?: { from?: string; test?: boolean } }).msg;
      return msg?.from === 'dev1' && msg.test !== true;
    });
    assert.equal(fromDevice.path, '/in');
    assert.equal(fromDevice.headers['authorization'], SECRET, 'deliveries carry the real value');

    await first.locator('button.send-test').click();
    await giveKey(page);
    const result = first.locator('.test-result');
    await page.waitForFunction(
      () => document.querySelector('.webhook .test-result')?.getAttribute('data-status') === '202',
    );
    assert.equal(await result.textContent(), 'receiver answered HTTP 202');
    const test = await waitForRequest(
      receiver,
      (r) => (r.body as { msg?: { test?: boolean } }).msg?.test === true,
    );
    assert.equal(test.headers['authorization'], SECRET);

    for (let i = 2; i <= 5; i++) {
      await createThroughForm(page, {
        description: `hook ${i}`,
        url: `${receiver.url}/quiet-${i}`,
        type: 'user',
        channel: `nothing-${i}`,
        payloadOnly: i % 2 === 0,
      });
      await page.waitForFunction(
        (n) => document.querySelectorAll('.webhooks > li.webhook').length === n,
        i,
      );
    }
    await createThroughForm(page, { description: 'the sixth', url: receiver.url, type: 'user' });
    const error = page.locator('.webhook-form .form-error');
    await page.waitForFunction(
      (text) => document.querySelector('.webhook-form .form-error')?.textContent === text,
      LIMIT_MESSAGE,
    );
    assert.equal(await error.textContent(), LIMIT_MESSAGE, 'the hub message, as it said it');
    assert.equal(await listed(page).count(), 5);
    assert.equal(
      await first.locator('.test-result').textContent(),
      'receiver answered HTTP 202',
      'the test outcome stays through the list being drawn again',
    );

    // Tall enough for the whole drawer: the five webhooks, the test result and the refusal.
    await page.setViewportSize({ width: 1280, height: 1400 });
    await page.locator('#settings-panel').evaluate((el) => el.scrollTo(0, 0));
    await c.screenshot('webhooks-panel.png');
    if (process.env['IOTTLY_DOCS_SCREENSHOTS'] === '1') {
      copyFileSync(await c.screenshot('webhooks-panel.png'), DOCS_SCREENSHOT);
    }

    const fifth = listed(page).filter({ hasText: 'hook 5' });
    await fifth.locator('button.delete-webhook').click();
    await giveKey(page);
    await page.waitForFunction(
      () => document.querySelectorAll('.webhooks > li.webhook').length === 4,
    );
    const remaining = await fetch(`${hubUrl}/v1/webhooks`, {
      headers: { Authorization: `Bearer ${API_KEY}` },
    });
    const descriptions = ((await remaining.json()) as Array<{ description: string }>).map(
      (w) => w.description,
    );
    assert.deepEqual(descriptions, ['agent messages', 'hook 2', 'hook 3', 'hook 4']);

    // Neither the key nor a secret header value is left anywhere in the page.
    const left = await page.evaluate(() => ({
      text: document.documentElement.outerHTML,
      values: [...document.querySelectorAll('input')].map((i) => i.value).join('\n'),
      storage: localStorage.length + sessionStorage.length,
      url: window.location.href,
    }));
    for (const secret of [API_KEY, 's3cret']) {
      assert.ok(!left.text.includes(secret), `${secret} in the markup`);
      assert.ok(!left.values.includes(secret), `${secret} in a field`);
      assert.ok(!left.url.includes(secret), `${secret} in the URL`);
    }
    assert.equal(left.storage, 0, 'nothing in localStorage or sessionStorage');
    // The refusals the page asked for (400/409 are logged by chromium as failed loads) aside,
    // nothing went wrong in the page.
    assert.deepEqual(
      c.problems.filter((p) => !/Failed to load resource: .* 409/.test(p)),
      [],
    );
    await page.close();
  });
});

/** The first request matching `predicate`, waiting for each as it arrives. */
async function waitForRequest(
  receiver: HttpReceiver,
  predicate: (request: ReceivedRequest) => boolean,
): Promise<ReceivedRequest> {
  for (let count = 1; ; count++) {
    const found = (await receiver.waitFor(count, BROWSER_WAIT_MS)).find(predicate);
    if (found) return found;
  }
}
