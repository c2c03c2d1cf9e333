/// <reference lib="dom" />
// The callbacks given to page.evaluate and waitForFunction run in the page.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openConsole } from '../helpers/browser.js';
import {
  FLEET_SIZE,
  fleetDeviceId,
  fleetDeviceVersion,
  isFleetDeviceOnline,
  searchDevices,
  startConsoleFleet,
  timings,
  timingsReach,
  watchTimings,
} from '../helpers/fleet-console.js';
import { DEVICE_SEARCH_MEASURE, DEVICES_REFRESH_MEASURE } from '../../src/console/timing.js';
import { DEVICE } from '../helpers/mqtt-agent-rig.js';
import { API_KEY } from '../helpers/ws.js';

/**
 * The console with a fleet of 10,000 devices (a hub on mosquitto fed 9,999 retained presences,
 * plus one real agent over mqtt://): counts, search by id, the online/offline filter, each
 * row's agent version, a virtualised list, and the selected device's charts through searches
 * and refreshes. The script time of the first render and of a search is printed (`npm run
 * bench -- --only console-fleet` records it); no timing is asserted.
 */
async function countsAre(page: Page, expected: Record<string, number>): Promise<void> {
  const selector = Object.entries(expected)
    .map(([name, value]) => `[data-${name}="${value}"]`)
    .join('');
  await page.locator(`#device-counts${selector}`).waitFor({ state: 'attached' });
}

const chartPoints = (page: Page): Promise<number> =>
  page.$eval('.chart[data-stream="cpu"]', (el) => Number((el as HTMLElement).dataset['points']));

async function cpuChartGrows(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      Number(document.querySelector<HTMLElement>('.chart[data-stream="cpu"]')?.dataset['points']) >=
      1,
  );
  const before = await chartPoints(page);
  await page.waitForFunction(
    (n) =>
      Number(document.querySelector<HTMLElement>('.chart[data-stream="cpu"]')?.dataset['points']) >
      n,
    before,
  );
}

describe('console with a fleet of 10,000 devices in chromium', () => {
  let browser: Browser;
  before(async () => (browser = await launchChromium()));
  after(async () => {
    await browser?.close();
  });

  // Publishing and learning 10,000 presences takes 15–25 s here, more on a loaded machine.
  it(
    'counts, searches and filters 10,000 devices, shows their versions, and keeps the selected device’s charts',
    { timeout: 240_000 },
    async (t) => {
      const fleet = await startConsoleFleet(t);
      const c = await openConsole(browser, fleet.hub.url);
      const { page } = c;
      await watchTimings(page);
      await page.locator('#sign-in').waitFor({ state: 'visible' });
      await page.fill('#sign-in input', API_KEY);
      await page.press('#sign-in input', 'Enter');
      await countsAre(page, { total: FLEET_SIZE });
      const [firstRender = NaN] = await timings(page, DEVICES_REFRESH_MEASURE);
      t.diagnostic(`first render of ${FLEET_SIZE} devices: script ${firstRender.toFixed(1)} ms`);
      await countsAre(page, {
        total: fleet.counts.total,
        online: fleet.counts.online,
        offline: fleet.counts.offline,
        matching: FLEET_SIZE,
      });
      const rowsInPage = await page.locator('#devices .device').count();
      assert.ok(rowsInPage > 5 && rowsInPage < 60, `${rowsInPage} rows in the page, not 10,000`);
      // The real agent sorts first (`dev1` < `fleet-…`) and is selected as the first online device.
      await page.locator(`#device-title:text-is("${DEVICE}")`).waitFor();
      const second = page.locator(`.device[data-device-id="${fleetDeviceId(1)}"]`);
      assert.equal(await second.locator('.fact-agent').textContent(), fleetDeviceVersion(1));

      // Scrolled to the end, the last device is in the page (and the first no longer is).
      await page.$eval('#device-scroll', (el) => (el.scrollTop = el.scrollHeight));
      const last = fleetDeviceId(FLEET_SIZE - 1);
      await page.locator(`.device[data-device-id="${last}"]`).waitFor();
      assert.equal(await page.locator(`.device[data-device-id="${DEVICE}"]`).count(), 0);
      await c.screenshot('fleet-list-end.png');

      // Search: a substring, any case.
      const wanted = 4242;
      await searchDevices(page, fleetDeviceId(wanted).toUpperCase());
      const [search = NaN] = await timings(page, DEVICE_SEARCH_MEASURE);
      t.diagnostic(`search over ${FLEET_SIZE} devices: script ${search.toFixed(1)} ms`);
      await countsAre(page, { matching: 1, total: FLEET_SIZE });
      const found = page.locator(`.device[data-device-id="${fleetDeviceId(wanted)}"]`);
      assert.equal(await found.locator('.fact-agent').textContent(), fleetDeviceVersion(wanted));
      assert.equal(await found.getAttribute('data-connected'), String(isFleetDeviceOnline(wanted)));
      await searchDevices(page, 'fleet-0424');
      await countsAre(page, { matching: 10 });
      await searchDevices(page, 'no-such-device');
      await countsAre(page, { matching: 0 });
      assert.equal(await page.locator('#devices .empty').textContent(), 'No device matches.');

      // The filter, with and without a search.
      await searchDevices(page, '');
      await page.click('#device-filter [data-filter="offline"]');
      await countsAre(page, { matching: fleet.counts.offline });
      assert.equal(await page.locator('#devices .device[data-connected="true"]').count(), 0);
      await page.click('#device-filter [data-filter="online"]');
      await countsAre(page, { matching: fleet.counts.online });
      assert.equal(await page.locator('#devices .device[data-connected="false"]').count(), 0);
      await searchDevices(page, 'fleet-0000');
      // fleet-00001 … fleet-00009: 4 and 8 are offline.
      await countsAre(page, { matching: 7 });
      assert.equal(
        await page.locator('#device-filter [data-filter="online"] .count').textContent(),
        fleet.counts.online.toLocaleString('en-US'),
      );
      await page.click('#device-filter [data-filter="all"]');
      await countsAre(page, { matching: 9 });

      // Selecting: another device, then the real agent again; its charts keep drawing.
      await page.click(`.device[data-device-id="${fleetDeviceId(2)}"]`);
      await page.locator(`#device-title:text-is("${fleetDeviceId(2)}")`).waitFor();
      await searchDevices(page, DEVICE.toUpperCase());
      await page.click(`.device[data-device-id="${DEVICE}"]`);
      await page.locator(`#device-title:text-is("${DEVICE}")`).waitFor();
      assert.equal(await page.locator('.device.selected').getAttribute('data-device-id'), DEVICE);
      await cpuChartGrows(page);

      // The selection survives a search that hides its row and the list's refreshes.
      await searchDevices(page, 'fleet-09');
      await countsAre(page, { matching: 1000 });
      // The next poll has been drawn.
      const refreshes = (await timings(page, DEVICES_REFRESH_MEASURE)).length;
      await timingsReach(page, DEVICES_REFRESH_MEASURE, refreshes + 1);
      assert.equal(await page.locator('#device-title').textContent(), DEVICE);
      await cpuChartGrows(page);
      await searchDevices(page, '');
      assert.equal(await page.locator('.device.selected').getAttribute('data-device-id'), DEVICE);
      assert.deepEqual(c.problems, [], 'no console errors, no CSP violations');
      await page.close();
    },
  );
});
