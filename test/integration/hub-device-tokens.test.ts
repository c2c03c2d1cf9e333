import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import {
  CLI_PATH,
  spawnAgent,
  statusIs,
  type AgentProcess,
  type LogLine,
} from '../helpers/agent-process.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import { API_KEY, connectDevice, expectRefused } from '../helpers/ws.js';
import { spawnFleetHub } from '../helpers/fleet-hub-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { execFile } from 'node:child_process';
import { pino } from 'pino';
import { Hub } from '../../src/hub/hub.js';
import { DeviceCredentials } from '../../src/hub/device-credentials.js';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';

/**
 * `iottly-agent hub --device-tokens FILE` as a process, with agents as processes: a device from
 * the file connects; after the file loses it and the hub gets SIGHUP, its link is closed 4003 and
 * its redial refused; a device added to the file connects without a restart; a broken file on
 * SIGHUP is logged and the devices the hub had are kept. No token reaches the hub's output or
 * its state dir. With --broker, one file feeds broker-config and the hub's list of devices.
 */
const TOKEN_1 = 'tok1-Q8zRw3mV0pL5kN2x-secret';
const TOKEN_2 = 'tok2-J4hT9bY1cF6uE7s0-secret';
const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
const EVENTUALLY_MS = 20_000;

async function spawnHub(
  owner: Owner,
  tokensFile: string,
  stateDir: string,
): Promise<{ hub: AgentProcess; url: string }> {
  const hub = spawnAgent(owner, [
    'hub',
    '--api-key',
    API_KEY,
    '--port',
    '0',
    '--log-format',
    'json',
    '--device-tokens',
    tokensFile,
    '--state-dir',
    stateDir,
  ]);
  const listening = await hub.waitForLog((l) => l.msg === 'hub listening', EVENTUALLY_MS);
  return { hub, url: String(listening.url) };
}

function runAgent(owner: Owner, url: string, deviceId: string, token: string): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `${url.replace(/^http/, 'ws')}/v1/device`,
    IOTTLY_DEVICE_ID: deviceId,
    IOTTLY_AUTH_TOKEN: token,
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '600',
    IOTTLY_LOG_LEVEL: 'debug',
  });
}

async function listed(url: string): Promise<Array<{ device_id: string; connected: boolean }>> {
  const response = await fetch(`${url}/v1/devices`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  return (await response.json()) as Array<{ device_id: string; connected: boolean }>;
}

async function connected(url: string): Promise<string[]> {
  return (await listed(url)).filter((d) => d.connected).map((d) => d.device_id);
}

const reloaded = (l: LogLine): boolean => l.code === 'device_tokens_reloaded';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('hub --device-tokens FILE', () => {
  it('reloads on SIGHUP: a removed device is closed 4003 and refused, an added one connects, a broken file changes nothing', async (t) => {
    const dir = tempDir('hub-tokens-', t);
    const file = join(dir, 'fleet.tokens');
    const stateDir = join(dir, 'state');
    writeFileSync(file, `# the fleet\ndev1=${TOKEN_1}\n`, { mode: 0o600 });
    const { hub, url } = await spawnHub(t, file, stateDir);

    const agent1 = runAgent(t, url, 'dev1', TOKEN_1);
    await agent1.waitForLog(statusIs('online'), EVENTUALLY_MS);
    assert.deepEqual(await connected(url), ['dev1']);

    // dev1 leaves the file; dev2 joins it, given only as its digest.
    writeFileSync(file, `# the fleet\ndev2=sha256:${sha256(TOKEN_2)}\n`);
    hub.child.kill('SIGHUP');
    const change = await hub.waitForLog(reloaded, EVENTUALLY_MS);
    assert.deepEqual([change.added, change.removed, change.changed, change.devices], [1, 1, 0, 1]);
    await hub.waitForLog((l) => l.code === 'credentials_revoked' && l.deviceId === 'dev1');
    await agent1.waitForLog(
      (l) => l.code === `closed_${CloseCode.credentialsRevoked}`,
      EVENTUALLY_MS,
    );
    // Its redial with the old token is refused (401), and stays refused.
    await agent1.waitForLog((l) => l.code === 'auth_rejected', EVENTUALLY_MS);
    await hub.waitForLog((l) => l.msg === 'device refused' && l.reason === 'wrong_token');

    const agent2 = runAgent(t, url, 'dev2', TOKEN_2);
    await agent2.waitForLog(statusIs('online'), EVENTUALLY_MS);
    assert.deepEqual(await connected(url), ['dev2']);

    // A broken file: logged with FILE:LINE, the set the hub had is kept.
    writeFileSync(file, `dev2=${TOKEN_2}\ndev3\n`);
    hub.child.kill('SIGHUP');
    const refused = await hub.waitForLog((l) => l.code === 'device_tokens_invalid', EVENTUALLY_MS);
    assert.equal(refused.level, 'error');
    assert.match(
      String(refused.msg),
      new RegExp(`keeping the 1 devices the hub had: ${file}:2: expected DEVICE_ID=TOKEN`),
    );
    assert.equal(hub.logs.filter(reloaded).length, 1, 'no second reload');
    const ws = url.replace(/^http/, 'ws');
    assert.equal(
      (await expectRefused(`${ws}/v1/device`, { headers: { Authorization: `Bearer ${TOKEN_1}` } }))
        .status,
      401,
    );
    // dev2's token still opens the door (this second link replaces the agent's, 4000).
    const again = await connectDevice(ws, 'dev2', TOKEN_2);
    again.ws.close();
    assert.ok(agent2.logs.every((l) => l.code !== `closed_${CloseCode.credentialsRevoked}`));

    assert.ok(filesUnder(stateDir).length > 0, 'the hub wrote its cursors');
    for (const secret of [TOKEN_1, TOKEN_2]) {
      assert.ok(!hub.output().includes(secret), 'the hub never logs a token');
      for (const path of filesUnder(stateDir)) {
        assert.ok(!readFileSync(path, 'latin1').includes(secret), `${path} holds no token`);
      }
    }
  });

  it('does not start with a bad file: one line naming FILE:LINE, exit 78', async (t) => {
    const dir = tempDir('hub-tokens-', t);
    const file = join(dir, 'fleet.tokens');
    writeFileSync(file, `dev1=${TOKEN_1}\n\ndev2=short\n`);
    const hub = spawnAgent(t, [
      'hub',
      '--api-key',
      API_KEY,
      '--port',
      '0',
      '--device-tokens',
      file,
    ]);
    const { code } = await hub.exited();
    assert.equal(code, ExitCode.config);
    assert.match(
      hub.output(),
      new RegExp(
        `iottly-agent: hub: --device-tokens ${file}:3: device "dev2": a token of 5 characters`,
      ),
    );
    assert.ok(!hub.output().includes(TOKEN_1));
  });

  it('with --broker: the same file feeds broker-config and lists the fleet; SIGHUP lists a new device', async (t) => {
    const dir = tempDir('hub-tokens-broker-', t);
    const file = join(dir, 'fleet.tokens');
    const hubPasswordFile = join(dir, 'hub-password');
    const hubPassword = 'hub-password-0123456789';
    writeFileSync(file, `dev1=${TOKEN_1}\n`, { mode: 0o600 });
    writeFileSync(hubPasswordFile, `${hubPassword}\n`, { mode: 0o600 });
    const out = join(dir, 'mosquitto');
    await promisify(execFile)(process.execPath, [
      CLI_PATH,
      'broker-config',
      'mosquitto',
      '--out',
      out,
      '--device-tokens',
      file,
      '--hub-credential',
      `hubs=${hubPassword}`,
    ]);
    const broker = await startMosquitto(t, {
      passwordFile: join(out, 'passwords'),
      aclFile: join(out, 'acl'),
      extraConfig: [`user ${userInfo().username}`],
    });
    const { process: hub, url } = await spawnFleetHub(t, broker.url, [
      '--broker-username',
      'hubs',
      '--broker-password-file',
      hubPasswordFile,
      '--device-tokens',
      file,
    ]);
    // Listed from the file, offline: no agent is on the broker.
    const fleet = async () => (await listed(url)).map((d) => [d.device_id, d.connected]);
    assert.deepEqual(await fleet(), [['dev1', false]]);
    writeFileSync(file, `dev1=${TOKEN_1}\ndev2=sha256:${sha256(TOKEN_2)}\n`);
    hub.child.kill('SIGHUP');
    const change = await hub.waitForLog(reloaded, EVENTUALLY_MS);
    assert.deepEqual([change.added, change.removed, change.changed], [1, 0, 0]);
    assert.deepEqual(await fleet(), [
      ['dev1', false],
      ['dev2', false],
    ]);
  });

  it('closes with 4003 a device whose token changed, and leaves the others', async (t) => {
    const TOKEN_3 = 'tok3-Xw2Nq7Lr5Ts1Vb8Kp-secret';
    const credentials = (pairs: Array<[string, string]>) =>
      DeviceCredentials.fromTokens(new Map(pairs), 'test');
    const hub = new Hub({
      port: 0,
      apiKeys: [API_KEY],
      deviceTokens: credentials([
        ['dev1', TOKEN_1],
        ['dev3', TOKEN_3],
      ]),
      logger: pino({ level: 'silent' }),
    });
    t.after(() => hub.stop());
    const { url } = await hub.start();
    const ws = url.replace(/^http/, 'ws');
    const dev1 = await connectDevice(ws, 'dev1', TOKEN_1);
    const dev3 = await connectDevice(ws, 'dev3', TOKEN_3);
    const change = hub.replaceDeviceCredentials(
      credentials([
        ['dev1', TOKEN_2],
        ['dev3', TOKEN_3],
      ]),
    );
    assert.deepEqual(change, { added: [], removed: [], changed: ['dev1'] });
    assert.deepEqual(await dev1.closed, {
      code: CloseCode.credentialsRevoked,
      reason: 'credentials revoked',
    });
    const refused = await expectRefused(`${ws}/v1/device`, {
      headers: { Authorization: `Bearer ${TOKEN_1}` },
    });
    assert.equal(refused.status, 401);
    const renewed = await connectDevice(ws, 'dev1', TOKEN_2);
    assert.equal(dev3.ws.readyState, dev3.ws.OPEN, 'an unchanged device keeps its link');
    renewed.ws.close();
    dev3.ws.close();
  });
});
