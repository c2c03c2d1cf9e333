import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { SdkServer, type SdkServerOptions } from '../../src/local/sdk-server.js';
import { commandLine } from '../../src/local/sdk-wire.js';
import { systemClock } from '../../src/time/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger } from '../helpers/log-capture.js';
import { SdkClient } from '../helpers/sdk-client.js';

/** The SDK server in-process on a real socket, real SDK clients, the logs captured. */
async function serve(t: TestContext, options: Partial<SdkServerOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'iottly-queues-'));
  const path = join(dir, 'sdk.sock');
  const { logger, lines: logs } = captureLogger();
  const server = new SdkServer({
    path,
    mode: 0o660,
    gid: null,
    sdkVersion: '1.8.0',
    maxApps: 8,
    maxLineBytes: 1 << 20,
    maxQueuedLines: 1_000,
    maxQueuedBytes: 64 * 1024,
    maxTotalQueuedBytes: 160 * 1024,
    closeTimeoutMs: 100,
    initialConnectionState: 'connected',
    clock: systemClock,
    logger,
    onAppLine: () => {},
    ...options,
  });
  await server.start();
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const client of clients) client.socket.destroy();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  /** An app that has done its handshake and then reads nothing more. */
  const stuckApp = async (name: string): Promise<SdkClient> => {
    const client = await SdkClient.connect(path, name);
    clients.push(client);
    await client.handshake();
    client.socket.pause();
    return client;
  };
  return { server, logs, stuckApp, path, clients };
}

describe('queues of apps that do not read', () => {
  it('holds at most maxQueuedBytes per app and maxTotalQueuedBytes for all, dropping the oldest', async (t) => {
    const { server, logs, stuckApp } = await serve(t);
    const apps = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => stuckApp(name)));
    const blob = 'x'.repeat(8 * 1024);
    let most = 0;
    for (let i = 0; i < 100; i++) {
      for (const app of apps) {
        const [peer] = server.apps(app.name);
        peer?.send(commandLine('blob', { i, blob }));
        assert.ok((peer?.queuedBytes ?? 0) <= 64 * 1024, `${app.name} within its own bound`);
        most = Math.max(most, server.queueStats().queuedBytes);
      }
    }
    assert.ok(most <= 160 * 1024, `all apps within the total, held at most ${most}`);
    assert.ok(most > 120 * 1024, `the total was reached, held at most ${most}`);
    const full = logs.filter((l) => l.code === 'app_queue_full');
    assert.ok(
      full.some((l) => l.reason === 'total'),
      'drops for the total are logged',
    );
    assert.ok(server.queueStats().droppedLines > 0, 'drops are counted');

    // An app that reads again still gets the newest line.
    const [a] = apps;
    a?.socket.resume();
    await a?.next((l) => (l.data as { blob?: { i: number } } | undefined)?.blob?.i === 99);
  });
});

describe('connections beyond maxApps', () => {
  /** Connects and waits until the server has closed the connection. */
  const refused = (path: string): Promise<void> =>
    new Promise((resolve) => {
      const socket = createConnection(path);
      socket.on('error', () => {});
      socket.once('close', () => resolve());
    });

  it('logs too_many_apps once for a burst, then one summary per interval with the count', async (t) => {
    const clock = new FakeClock();
    const { logs, path, clients } = await serve(t, { maxApps: 1, clock });
    const only = await SdkClient.connect(path, 'only');
    clients.push(only);
    await only.handshake();
    const tooMany = () => logs.filter((l) => l.code === 'too_many_apps');

    await Promise.all(Array.from({ length: 20 }, () => refused(path)));
    assert.deepEqual(
      tooMany().map((l) => l.refused),
      [1],
    );
    clock.advance(60_000);
    assert.deepEqual(
      tooMany().map((l) => l.refused),
      [1, 19],
    );
    clock.advance(60_000); // a quiet interval ends the burst: nothing to say
    assert.equal(tooMany().length, 2);
    await refused(path);
    assert.deepEqual(
      tooMany().map((l) => l.refused),
      [1, 19, 1],
      'the first refusal of a new burst is logged at once',
    );
  });
});
