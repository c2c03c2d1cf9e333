import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterDevices, isStatusFilter } from '../../src/console/device-filter.js';
import type { Device } from '../../src/console/devices.js';
import { rowWindow } from '../../src/console/row-window.js';

const device = (device_id: string, connected: boolean): Device => ({
  device_id,
  connected,
  connected_since: null,
  last_seen: null,
  agent_version: '0.1.0',
  hostname: null,
  os: null,
  kernel: null,
  arch: null,
  model: null,
  capabilities: [],
});

const fleet = [
  device('Kitchen-1', true),
  device('kitchen-2', false),
  device('garage', true),
  device('attic', false),
];
const ids = (devices: Device[]): string[] => devices.map((d) => d.device_id);

describe('console: fleet list filter', () => {
  it('finds devices by a substring of the id, in any case, keeping the hub’s order', () => {
    const { matches, counts } = filterDevices(fleet, '  KITCHEN ', 'all');
    assert.deepEqual(ids(matches), ['Kitchen-1', 'kitchen-2']);
    assert.deepEqual(counts, { total: 4, online: 2, offline: 2, matching: 2 });
    assert.deepEqual(ids(filterDevices(fleet, 'ar', 'all').matches), ['garage']);
    assert.equal(filterDevices(fleet, '', 'all').matches.length, 4, 'blank matches all');
  });

  it('filters online and offline, with or without a search; counts stay the fleet’s', () => {
    assert.deepEqual(ids(filterDevices(fleet, '', 'online').matches), ['Kitchen-1', 'garage']);
    assert.deepEqual(ids(filterDevices(fleet, '', 'offline').matches), ['kitchen-2', 'attic']);
    const { matches, counts } = filterDevices(fleet, 'kitchen', 'offline');
    assert.deepEqual(ids(matches), ['kitchen-2']);
    assert.deepEqual(counts, { total: 4, online: 2, offline: 2, matching: 1 });
    assert.deepEqual(filterDevices([], 'x', 'all').counts, {
      total: 0,
      online: 0,
      offline: 0,
      matching: 0,
    });
  });

  it('knows its filter names', () => {
    assert.equal(isStatusFilter('offline'), true);
    assert.equal(isStatusFilter('connected'), false);
    assert.equal(isStatusFilter(undefined), false);
  });
});

describe('console: virtualised rows', () => {
  it('takes the rows in view plus the overscan, clamped to the list', () => {
    // 64 px rows, a 640 px viewport at the top: rows 0–9 in view, 3 more below.
    assert.deepEqual(rowWindow(0, 640, 64, 10_000, 3), { start: 0, end: 13 });
    // Scrolled to row 100 and a half: rows 100–110 in view.
    assert.deepEqual(rowWindow(100.5 * 64, 640, 64, 10_000, 3), { start: 97, end: 114 });
    // At the end: never past the last row.
    assert.deepEqual(rowWindow(9_995 * 64, 640, 64, 10_000, 3), { start: 9_992, end: 10_000 });
    // A list shorter than the viewport, an empty one, a viewport not laid out yet.
    assert.deepEqual(rowWindow(0, 640, 64, 4, 3), { start: 0, end: 4 });
    assert.deepEqual(rowWindow(0, 640, 64, 0, 3), { start: 0, end: 0 });
    assert.deepEqual(rowWindow(0, 0, 64, 100, 3), { start: 0, end: 3 });
  });

  it('stays within the list when the list shrank under a scrolled viewport', () => {
    // A search left 5 matches while the viewport was far down: the window is empty, not negative.
    const { start, end } = rowWindow(5_000 * 64, 640, 64, 5, 3);
    assert.ok(start <= end && end <= 5, `${start}–${end}`);
  });
});
