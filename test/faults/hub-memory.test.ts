import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureHubMemory } from '../../bench/lib/hub-memory-scenario.js';

/**
 * Issue 13's "done when" for the hub's memory, on the hub as a process with a real agent (the
 * scenario `npm run bench:hub-memory` prints): its RSS stays under 150 MB while a stream client
 * that does not read faces a command output flood, which then arrives complete and in order,
 * and while one client that does not read attempts 10,000 subscriptions. The flood is 100 MB
 * here (the bench runs the issue's 200 MB): enough to take a hub without bounds past 150 MB,
 * and half the disk and CPU the other fault tests share with it.
 */
const MIB = 1024 * 1024;
const RSS_LIMIT_BYTES = 150 * MIB;

describe('hub memory under a client that does not read', () => {
  it('stays under 150 MB through a 100 MB output flood and 10,000 subscription attempts', async () => {
    const figures = await measureHubMemory({
      floodBytes: 100e6,
      extraHoldMs: 0,
      subscriptionAttempts: 10_000,
      telemetrySamples: 20,
      rssLimitBytes: RSS_LIMIT_BYTES,
    });
    const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
    assert.ok(
      figures.floodMaxRssBytes < RSS_LIMIT_BYTES,
      `flood: hub RSS reached ${mib(figures.floodMaxRssBytes)}`,
    );
    assert.ok(figures.pushedBack, 'the hub never paused the device');
    assert.ok(figures.floodIntact, `flood: received ${figures.floodReceivedBytes} bytes`);
    assert.ok(
      figures.subscriptionsMaxRssBytes < RSS_LIMIT_BYTES,
      `subscriptions: hub RSS reached ${mib(figures.subscriptionsMaxRssBytes)}`,
    );
    assert.deepEqual([figures.subscribed, figures.refused], [100, 9_900]);
  });
});
