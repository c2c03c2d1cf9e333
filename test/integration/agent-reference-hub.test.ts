import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Hub, type HubOptions } from '../../src/hub/hub.js';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { makePki } from '../helpers/certs.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The agent spawned as a process against the reference hub on port 0: the paths a fleet
 * operator relies on, from first connect to restarts, refused credentials and TLS.
 */
const TOKEN = 'tok-Zq8SECRET-never-logged';
/** A bound for "eventually" that a loaded machine meets. */
const EVENTUALLY_MS = 20_000;
const RECONNECTED_MS = 10_000;

/** The reference hub in-process, stopped when `owner` (the test) ends. */
async function startHub(
  owner: Owner,
  options: Partial<HubOptions> = {},
): Promise<{ hub: Hub; url: string; port: number }> {
  const hub = new Hub({
    host: '127.0.0.1',
    port: 0,
    apiKeys: ['key1'],
    deviceTokens: new Map([['dev1', TOKEN]]),
    logger: pino({ level: 'silent' }),
    ...options,
  });
  owner.after(() => hub.stop());
  const { url, port } = await hub.start();
  return { hub, url, port };
}

function runAgent(owner: Owner, url: string, env: Record<string, string> = {}): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `${url.replace(/^http/, 'ws')}/v1/device`,
    IOTTLY_DEVICE_ID: 'dev1',
    IOTTLY_AUTH_TOKEN: TOKEN,
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '300',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '1200',
    IOTTLY_LOG_LEVEL: 'trace',
    ...env,
  });
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

describe('agent and reference hub', () => {
  it('connects, says hello and is listed as connected with its version', async (t) => {
    const { hub, url } = await startHub(t);
    const agent = runAgent(t, url);
    // A cold start of a node process takes seconds on a loaded machine: bounded generously.
    await until(() => hub.device('dev1')?.connected === true, EVENTUALLY_MS, 'dev1 connected');
    const response = await fetch(`${url}/v1/devices`, {
      headers: { Authorization: 'Bearer key1' },
    });
    const devices = (await response.json()) as Array<Record<string, unknown>>;
    const dev1 = devices.find((d) => d.device_id === 'dev1');
    assert.equal(dev1?.connected, true);
    assert.equal(dev1?.agent_version, '0.1.0');
    await agent.waitForLog(statusIs('online'));
  });

  it('comes back within the back-off after the hub restarts on the same port (1001)', async (t) => {
    const first = await startHub(t);
    const agent = runAgent(t, first.url);
    await agent.waitForLog(statusIs('online'));
    await first.hub.stop();
    await agent.waitForLog((l) => l.code === 'hub_restart');
    const second = await startHub(t, { port: first.port });
    const restartedAt = Date.now();
    // initial delay 300 ms → a 1001 reconnect waits 150–450 ms; later failures back off to 1200 ms.
    // 10 s leaves a loaded machine seconds to spare, and is still a third of the default cap.
    const took = await until(
      () => second.hub.device('dev1')?.connected === true,
      RECONNECTED_MS,
      'reconnected',
    );
    assert.ok(took < RECONNECTED_MS, `reconnected after ${Date.now() - restartedAt} ms`);
    assert.equal(agent.child.exitCode, null);
  });

  it('on a wrong token: 401 at the upgrade, auth_rejected logged once, no tight loop', async (t) => {
    const { hub, url } = await startHub(t);
    const agent = runAgent(t, url, { IOTTLY_AUTH_TOKEN: 'wrong-token-XYZ' });
    await agent.waitForLog((l) => l.code === 'auth_rejected');
    await new Promise((r) => setTimeout(r, 2500));
    const attempts = agent.logs.filter(statusIs('connecting')).length;
    const refusals = agent.logs.filter((l) => l.code === 'auth_rejected').length;
    // max delay 1200 ms → at most one retry per 900 ms: 2.5 s allows 4 attempts at the very most.
    assert.ok(attempts <= 4, `${attempts} attempts in 2.5 s`);
    assert.equal(refusals, 1, 'logged once per streak');
    const delays = agent.logs.filter(statusIs('backoff')).map((l) => l.status?.delayMs ?? 0);
    assert.ok(
      delays.every((d) => d >= 900),
      `delays ${delays.join(',')}`,
    );
    assert.equal(hub.device('dev1')?.connected ?? false, false);
  });

  it('never writes the token to any log line, at trace level, through refusal and success', async (t) => {
    const { url } = await startHub(t);
    const good = runAgent(t, url);
    await good.waitForLog(statusIs('online'));
    await good.kill('SIGTERM');
    const bad = runAgent(t, url, { IOTTLY_AUTH_TOKEN: `${TOKEN}-bad` });
    await bad.waitForLog((l) => l.code === 'auth_rejected');
    await bad.kill('SIGTERM');
    for (const agent of [good, bad]) {
      assert.ok(agent.logs.length > 5);
      assert.ok(!agent.output().includes(TOKEN), 'token absent from the output');
      assert.ok(!agent.output().includes('Bearer'), 'no Authorization header logged');
    }
  });

  it('connects over wss with a private CA, and refuses a hub whose CA it does not trust', async (t) => {
    const pki = makePki(t);
    const other = makePki(t);
    const { url } = await startHub(t, { tls: { cert: pki.cert, key: pki.key } });
    assert.match(url, /^https:/);

    const trusted = runAgent(t, url, { IOTTLY_TLS_CA: pki.caPath });
    await trusted.waitForLog(statusIs('online'));

    const untrusted = runAgent(t, url, { IOTTLY_TLS_CA: other.caPath });
    const refused = await untrusted.waitForLog((l) => l.code === 'tls_error');
    assert.match(refused.msg, /TLS/);

    const systemStore = runAgent(t, url);
    await systemStore.waitForLog((l) => l.code === 'tls_error');
    assert.ok(
      !untrusted.logs.some(statusIs('online')) && !systemStore.logs.some(statusIs('online')),
    );
  });

  it('check-config prints the effective config with secrets redacted, or exits 78 naming the key', async (t) => {
    const pki = makePki(t);
    const path = join(pki.dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        server: { url: 'wss://hub.example/v1/device' },
        device: { id: 'dev1' },
        auth: { token: TOKEN },
      }),
      { mode: 0o600 },
    );
    const ok = spawnAgent(t, ['check-config', '--config', path, '--heartbeat-interval-ms', '5000']);
    assert.equal((await ok.exited()).code, 0);
    const printed = JSON.parse(ok.output()) as {
      auth: { token: string };
      heartbeat: { intervalMs: number };
    };
    assert.equal(printed.auth.token, '[redacted]');
    assert.equal(printed.heartbeat.intervalMs, 5000);
    assert.ok(!ok.output().includes(TOKEN));

    const bad = spawnAgent(t, ['check-config', '--config', path], {
      IOTTLY_RECONNECT_MAX_DELAY_MS: 'soon',
    });
    assert.equal((await bad.exited()).code, 78);
    assert.equal(
      bad.output().trim(),
      'iottly-agent: config error: reconnect.maxDelayMs = "soon" (from env IOTTLY_RECONNECT_MAX_DELAY_MS): must be an integer from 1 to 86400000',
    );

    const run = spawnAgent(t, ['run', '--config', path], { IOTTLY_HEARTBEAT_TIMEOUT_MS: '0' });
    assert.equal((await run.exited()).code, 78);
    const missing = spawnAgent(t, ['run', '--config', join(pki.dir, 'absent.json')]);
    assert.equal((await missing.exited()).code, 78);
    const usage = spawnAgent(t, ['run', '--no-such-flag']);
    assert.equal((await usage.exited()).code, 64);
  });

  it('refuses a config file nested 5000 deep with exit 78, naming the file (issue 13)', async (t) => {
    const dir = tempDir('iottly-deep-config-', t);
    const path = join(dir, 'config.json');
    writeFileSync(path, `{"telemetry":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, {
      mode: 0o600,
    });
    for (const command of ['run', 'check-config']) {
      const agent = spawnAgent(t, [command, '--config', path]);
      assert.equal((await agent.exited()).code, 78);
      assert.equal(
        agent.output().trim(),
        `iottly-agent: config error: config file ${path}: nested deeper than 64 levels`,
      );
    }
  });
});
