import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent, realAgentDependencies } from '../roots/agent-root.js';
import { embeddedConsole } from '../roots/embedded-console.js';
import { readSystemInventory } from '../agent/system-inventory.js';
import { loadConfig } from '../config/load.js';
import { Hub } from '../hub/hub.js';
import { createLogger } from '../log/logger.js';
import { systemClock } from '../time/clock.js';
import { watchTelemetry } from './telemetry-watch.js';

/**
 * `iottly-agent demo` (what `npm start` runs): a reference hub and an agent in one process on
 * loopback, with human-readable logs, until Ctrl-C. Everything is generated fresh: nothing to
 * configure, and the spool lives in a temporary directory removed at the end.
 */
export interface DemoOptions {
  stopSignal: Promise<NodeJS.Signals>;
  stdout?: NodeJS.WritableStream;
}

const DEMO_DEVICE = 'demo-device';
/** What the demo's stream client watches, and how often it asks the agent to sample. */
const DEMO_STREAMS = ['cpu', 'memory', 'temperature', 'load', 'network'];
const DEMO_INTERVAL_MS = 2_000;

export async function runDemo({ stopSignal, stdout = process.stdout }: DemoOptions): Promise<void> {
  const apiKey = `ik_demo_${randomBytes(12).toString('base64url')}`;
  const token = randomBytes(18).toString('base64url');
  const hubLogger = await createLogger({ level: 'info', pretty: true, name: 'hub' });
  const agentLogger = await createLogger({ level: 'info', pretty: true, name: 'agent' });

  const consoleFiles = embeddedConsole();
  const hub = new Hub({
    ...(consoleFiles ? { consoleFiles } : {}),
    host: '127.0.0.1',
    port: 0,
    apiKeys: [apiKey],
    deviceTokens: new Map([[DEMO_DEVICE, token]]),
    pingIntervalMs: 30_000,
    pongTimeoutMs: 10_000,
    logger: hubLogger,
    clock: systemClock,
  });
  const { url } = await hub.start();
  const wsUrl = url.replace(/^http/, 'ws');
  // The demo's spool is temporary: removed when the demo ends.
  const spoolDir = mkdtempSync(join(tmpdir(), 'iottly-demo-spool-'));
  // The one directory `iottly-agent cp` may use on the demo device; removed at the end too.
  const filesDir = mkdtempSync(join(tmpdir(), 'iottly-demo-files-'));

  const { config } = loadConfig({
    configPath: undefined,
    env: {},
    flags: {
      'server.url': `${wsUrl}/v1/device`,
      'device.id': DEMO_DEVICE,
      'auth.token': token,
      'storage.dir': spoolDir,
      'local.enabled': 'false', // the demo writes nothing to disk, a socket file included
      // `iottly-agent forward demo-device 8080:localhost:80` reaches this machine's loopback.
      'forward.enabled': 'true',
      'files.enabled': 'true',
      'files.allowPaths': filesDir,
    },
    readFile: () => {
      throw Object.assign(new Error('the demo reads no file'), { code: 'ENOENT' });
    },
  });
  const agent = createAgent(
    config,
    { token, tls: {} },
    await realAgentDependencies(
      { logger: agentLogger, inventory: await readSystemInventory() },
      config.server.url,
    ),
  );
  await agent.start();
  // A signed-in link: a short-lived session token in the fragment (never sent to the hub in a
  // request line); the page takes it and clears the address bar. Never the API key.
  const session = hub.openSession(apiKey);

  stdout.write(
    [
      '',
      `  iottly demo: hub on ${url}, device "${DEMO_DEVICE}" connecting`,
      ...(hub.consoleAvailable
        ? [
            `  console:  ${url}/  (API key ${apiKey})`,
            `  signed in: ${url}/#session=${session.token}`,
            `             (valid until ${session.expiresAt.toISOString()}; then sign in with the key)`,
          ]
        : ['  console:  not in this build (run `npm start` from the repository for it)']),
      `  devices:  curl -s -H 'Authorization: Bearer ${apiKey}' ${url}/v1/devices`,
      `  stream:   ${wsUrl}/v1/stream?api_key=${apiKey}`,
      `  forward:  iottly-agent forward --hub ${url} --api-key ${apiKey} ${DEMO_DEVICE} 8080:localhost:PORT`,
      '            (a port of this machine through the demo device, loopback only)',
      `  files:    iottly-agent cp --hub ${url} --api-key ${apiKey} FILE ${DEMO_DEVICE}:${filesDir}/`,
      `  watching telemetry every ${DEMO_INTERVAL_MS / 1000} s as a stream client would:`,
      '  Ctrl-C to stop.',
      '',
      '',
    ].join('\n'),
  );
  const watch = watchTelemetry({
    streamUrl: `${wsUrl}/v1/stream?api_key=${apiKey}`,
    deviceId: DEMO_DEVICE,
    streams: DEMO_STREAMS,
    intervalMs: DEMO_INTERVAL_MS,
    write: (line) => stdout.write(`${line}\n`),
  });

  await stopSignal;
  await watch.close();
  await agent.stop();
  await hub.stop();
  rmSync(spoolDir, { recursive: true, force: true });
  rmSync(filesDir, { recursive: true, force: true });
}
