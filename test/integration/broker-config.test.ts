import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { mosquittoPasswordHash } from '../../src/broker-access/mosquitto-passwords.js';
import {
  WEBHOOKS_TOPIC,
  deviceTopic,
  hubTopic,
  hubWantsTopic,
} from '../../src/protocol/mqtt-topics.js';
import { CLI_PATH } from '../helpers/agent-process.js';
import { freePort } from '../helpers/browser.js';
import { makeClientCert, makePki } from '../helpers/certs.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/ws.js';

/**
 * `iottly-agent broker-config mosquitto` end to end: the command writes the files, a real
 * mosquitto 2.0 loads them, and MQTT 5 clients show the policy holds: a device reaches only its
 * own subtree, a hub the whole prefix. What mosquitto 2.0 does with a refused action is asserted
 * as it is: a publish gets PUBACK 0x87 (not authorized) and is not delivered; a subscription to
 * another device's topic is granted, and mosquitto then never delivers to it.
 */
const run = promisify(execFile);
const NOT_AUTHORIZED = 0x87;
const EVENTUALLY_MS = 15_000;

const TOKENS = { dev1: 'tok-dev1-7Qx', dev2: 'tok-dev2-Lm4' };
const HUBS = { 'hub-a': 'pw-hub-a', 'hub-b': 'pw-hub-b' };

interface Fleet {
  broker: Mosquitto;
  dir: string;
}

/**
 * Runs the command (devices from a flag and a file, hubs from a file) and starts mosquitto, with
 * `extraConfig` (a TLS listener) after the generated files.
 */
async function fleetBroker(t: Owner, extraConfig: string[] = []): Promise<Fleet> {
  const dir = tempDir('iottly-broker-config-', t);
  const deviceFile = join(dir, 'devices');
  const hubFile = join(dir, 'hubs');
  writeFileSync(deviceFile, `# the second device\ndev2=${TOKENS.dev2}\n`, { mode: 0o600 });
  writeFileSync(
    hubFile,
    Object.entries(HUBS)
      .map(([user, password]) => `${user}=${password}\n`)
      .join(''),
    { mode: 0o600 },
  );
  const out = join(dir, 'mosquitto');
  const { stdout } = await run(process.execPath, [
    CLI_PATH,
    'broker-config',
    'mosquitto',
    '--out',
    out,
    '--device-token',
    `dev1=${TOKENS.dev1}`,
    '--device-token-file',
    deviceFile,
    '--hub-credential-file',
    hubFile,
  ]);
  assert.equal(stdout, `wrote ${out}/passwords (2 devices, 2 hubs) and ${out}/acl\n`);
  const broker = await startMosquitto(t, {
    passwordFile: join(out, 'passwords'),
    aclFile: join(out, 'acl'),
    // Run as root, mosquitto would switch to its own user, which cannot read a 0600 file of ours.
    extraConfig: [`user ${userInfo().username}`, ...extraConfig],
  });
  return { broker, dir: out };
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

interface Client {
  mqtt: MqttClient;
  received: Received[];
}

async function connect(
  t: Owner,
  broker: Mosquitto,
  user: string,
  password: string,
  options: IClientOptions = {},
): Promise<Client> {
  const client = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: user,
    username: user,
    password,
    reconnectPeriod: 0,
    ...options,
  });
  t.after(() => client.endAsync(true));
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) =>
    received.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }),
  );
  return { mqtt: client, received };
}

const device = (t: Owner, broker: Mosquitto, id: keyof typeof TOKENS, options?: IClientOptions) =>
  connect(t, broker, id, TOKENS[id], options);
const hub = (t: Owner, broker: Mosquitto, user: keyof typeof HUBS) =>
  connect(t, broker, user, HUBS[user]);

async function refusedPublish(client: Client, topic: string, options = {}): Promise<void> {
  await assert.rejects(client.mqtt.publishAsync(topic, 'forged', { qos: 1, ...options }), {
    code: NOT_AUTHORIZED,
  });
}

describe('broker-config mosquitto with a real mosquitto', () => {
  it('writes files mosquitto loads: passwords 0600 in $7$ format, acl 0644', async (t) => {
    const { broker, dir } = await fleetBroker(t);
    assert.equal(statSync(join(dir, 'passwords')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'acl')).mode & 0o777, 0o644);
    const users = readFileSync(join(dir, 'passwords'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/\$[^$]+\$[^$]+$/, '…'));
    assert.deepEqual(users, ['dev1:$7$101…', 'dev2:$7$101…', 'hub-a:$7$101…', 'hub-b:$7$101…']);
    assert.doesNotMatch(broker.log(), /Error/);
  });

  it("feeds mosquitto from the hub's --device-tokens file: a device removed from it is disconnected at mosquitto's reload and refused after", async (t) => {
    const dir = tempDir('iottly-broker-tokens-', t);
    const tokensFile = join(dir, 'fleet.tokens');
    const hubFile = join(dir, 'hubs');
    const fleetTokens = { dev1: 'tok-dev1-Q8zRw3mV0pL5kN2x', dev2: 'tok-dev2-J4hT9bY1cF6uE7s0' };
    writeFileSync(hubFile, `hub-a=${HUBS['hub-a']}\n`, { mode: 0o600 });
    const out = join(dir, 'mosquitto');
    const writeFiles = async (lines: string[]): Promise<string> => {
      writeFileSync(tokensFile, `# the fleet, as the hub reads it\n${lines.join('\n')}\n`);
      const args = ['broker-config', 'mosquitto', '--out', out, '--device-tokens', tokensFile];
      return (await run(process.execPath, [CLI_PATH, ...args, '--hub-credential-file', hubFile]))
        .stdout;
    };
    assert.match(
      await writeFiles([`dev1=${fleetTokens.dev1}`, `dev2=${fleetTokens.dev2}`]),
      /\(2 devices, 1 hub\)/,
    );
    const broker = await startMosquitto(t, {
      passwordFile: join(out, 'passwords'),
      aclFile: join(out, 'acl'),
      extraConfig: [`user ${userInfo().username}`],
    });
    const dev1 = await connect(t, broker, 'dev1', fleetTokens.dev1);
    const dev2 = await connect(t, broker, 'dev2', fleetTokens.dev2);
    const dev1Closed = new Promise<void>((resolve) => dev1.mqtt.once('close', () => resolve()));

    await writeFiles([`dev2=${fleetTokens.dev2}`]);
    await broker.reload();
    await dev1Closed;
    assert.equal(dev2.mqtt.connected, true, 'a device still in the file stays');
    await assert.rejects(connect(t, broker, 'dev1', fleetTokens.dev1), { code: NOT_AUTHORIZED });
  });

  it('lets a device in with its token and refuses a wrong token or an unknown user', async (t) => {
    const { broker } = await fleetBroker(t);
    const dev1 = await device(t, broker, 'dev1');
    assert.equal(dev1.mqtt.connected, true);
    for (const [user, password] of [
      ['dev1', TOKENS.dev2],
      ['dev3', TOKENS.dev1],
      ['hub-a', HUBS['hub-b']],
    ] as const) {
      await assert.rejects(connect(t, broker, user, password), { code: NOT_AUTHORIZED }, user);
    }
  });

  it("keeps a device from reading another device's commands", async (t) => {
    const { broker } = await fleetBroker(t);
    const hubA = await hub(t, broker, 'hub-a');
    const dev1 = await device(t, broker, 'dev1');
    const dev2 = await device(t, broker, 'dev2');
    await dev1.mqtt.subscribeAsync(deviceTopic('dev1', 'down'), { qos: 1 });
    // mosquitto 2.0 grants these subscriptions and checks read access per message instead.
    const granted = await dev2.mqtt.subscribeAsync(
      [deviceTopic('dev1', 'down'), 'iottly/v1/devices/+/down', deviceTopic('dev2', 'down')],
      { qos: 1 },
    );
    assert.deepEqual(
      granted.map((g) => g.qos),
      [1, 1, 1],
    );

    await hubA.mqtt.publishAsync(deviceTopic('dev1', 'down'), 'command for dev1', { qos: 1 });
    // Published after dev1's command on the same connection: once dev2 has it, dev2 would have
    // had dev1's command too, had mosquitto delivered it.
    await hubA.mqtt.publishAsync(deviceTopic('dev2', 'down'), 'command for dev2', { qos: 1 });
    await waitFor(() => dev1.received.length === 1, EVENTUALLY_MS);
    await waitFor(() => dev2.received.length > 0, EVENTUALLY_MS);
    assert.deepEqual(dev1.received, [
      { topic: deviceTopic('dev1', 'down'), payload: 'command for dev1', retain: false },
    ]);
    assert.ok(
      dev2.received.every(
        (m) => m.topic === deviceTopic('dev2', 'down') && m.payload === 'command for dev2',
      ),
      JSON.stringify(dev2.received),
    );
  });

  it('refuses a device publishing as another device, or to any down topic', async (t) => {
    const { broker } = await fleetBroker(t);
    const hubA = await hub(t, broker, 'hub-a');
    await hubA.mqtt.subscribeAsync('iottly/v1/#', { qos: 1 });
    const dev2 = await device(t, broker, 'dev2');

    await refusedPublish(dev2, deviceTopic('dev1', 'up'));
    await refusedPublish(dev2, deviceTopic('dev1', 'presence'), { retain: true });
    await refusedPublish(dev2, deviceTopic('dev1', 'down'));
    await refusedPublish(dev2, deviceTopic('dev2', 'down'));
    await refusedPublish(dev2, deviceTopic('dev2', 'cursor'));
    await refusedPublish(dev2, WEBHOOKS_TOPIC, { retain: true });

    await dev2.mqtt.publishAsync(deviceTopic('dev2', 'up'), 'hello from dev2', { qos: 1 });
    await dev2.mqtt.publishAsync(deviceTopic('dev2', 'presence'), 'online', {
      qos: 1,
      retain: true,
    });
    await waitFor(() => hubA.received.length >= 2, EVENTUALLY_MS);
    assert.deepEqual(hubA.received, [
      { topic: deviceTopic('dev2', 'up'), payload: 'hello from dev2', retain: false },
      { topic: deviceTopic('dev2', 'presence'), payload: 'online', retain: false },
    ]);
  });

  it("publishes a device's will on its own presence, and no will it sets on another's", async (t) => {
    const { broker } = await fleetBroker(t);
    const hubA = await hub(t, broker, 'hub-a');
    await hubA.mqtt.subscribeAsync('iottly/v1/devices/+/presence', { qos: 1 });
    const will = (id: string) => ({
      topic: deviceTopic(id, 'presence'),
      payload: Buffer.from(`${id} offline`),
      qos: 1 as const,
      retain: true,
    });
    const dev2 = await device(t, broker, 'dev2', { will: will('dev1') });
    dev2.mqtt.stream.destroy(); // no DISCONNECT: the broker publishes the will
    await waitFor(() => /Client dev2 closed its connection/.test(broker.log()), EVENTUALLY_MS);
    const dev1 = await device(t, broker, 'dev1', { will: will('dev1') });
    dev1.mqtt.stream.destroy();
    await waitFor(() => hubA.received.length > 0, EVENTUALLY_MS);
    assert.deepEqual(hubA.received, [
      { topic: deviceTopic('dev1', 'presence'), payload: 'dev1 offline', retain: false },
    ]);
  });

  it('lets every hub read and write under iottly/v1/, shared subscriptions included, and nowhere else', async (t) => {
    const { broker } = await fleetBroker(t);
    const hubA = await hub(t, broker, 'hub-a');
    const hubB = await hub(t, broker, 'hub-b');
    await hubB.mqtt.subscribeAsync(['iottly/v1/#', '$share/hubs/iottly/v1/devices/+/up'], {
      qos: 1,
    });
    const dev1 = await device(t, broker, 'dev1');
    await dev1.mqtt.subscribeAsync(deviceTopic('dev1', 'down'), { qos: 1 });

    const written = [
      WEBHOOKS_TOPIC,
      hubTopic('hub-0123456789ab'),
      hubWantsTopic('hub-0123456789ab', 'dev1'),
      deviceTopic('dev1', 'cursor'),
      deviceTopic('dev1', 'down'),
    ];
    for (const topic of written) await hubA.mqtt.publishAsync(topic, 'from hub-a', { qos: 1 });
    await refusedPublish(hubA, 'other-system/topic');
    await dev1.mqtt.publishAsync(deviceTopic('dev1', 'up'), 'telemetry', { qos: 1 });

    // The up message twice: once for 'iottly/v1/#', once for the shared subscription.
    await waitFor(() => hubB.received.length === written.length + 2, EVENTUALLY_MS);
    assert.deepEqual(
      hubB.received.map((m) => m.topic),
      [...written, deviceTopic('dev1', 'up'), deviceTopic('dev1', 'up')],
    );
    await waitFor(() => dev1.received.length === 1, EVENTUALLY_MS);
  });

  it('applies the same device rules to a device on mutual TLS, its certificate CN as username', async (t) => {
    const pki = makePki(t);
    const tlsPort = await freePort();
    const { broker } = await fleetBroker(t, [
      // README's mutual-TLS listener, as written there.
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.caPath}`,
      `certfile ${pki.certPath}`,
      `keyfile ${pki.keyPath}`,
      'require_certificate true',
      'use_identity_as_username true',
    ]);
    const hubA = await hub(t, broker, 'hub-a');
    await hubA.mqtt.subscribeAsync('iottly/v1/devices/+/up', { qos: 1 });
    const dev1 = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      protocolVersion: 5,
      clientId: 'dev1',
      reconnectPeriod: 0,
      ca: readFileSync(pki.caPath),
      ...makeClientCert(pki, 'dev1'),
    });
    t.after(() => dev1.endAsync(true));

    await assert.rejects(dev1.publishAsync(deviceTopic('dev2', 'up'), 'forged', { qos: 1 }), {
      code: NOT_AUTHORIZED,
    });
    await dev1.publishAsync(deviceTopic('dev1', 'up'), 'over mutual TLS', { qos: 1 });
    await waitFor(() => hubA.received.length > 0, EVENTUALLY_MS);
    assert.deepEqual(hubA.received, [
      { topic: deviceTopic('dev1', 'up'), payload: 'over mutual TLS', retain: false },
    ]);
  });
});

describe('mosquitto_passwd agrees', () => {
  it('hashes a password with the salt mosquitto_passwd chose to the same line it wrote', async (t) => {
    const file = join(tempDir('iottly-passwd-', t), 'passwords');
    await run('mosquitto_passwd', ['-c', '-b', file, 'dev1', TOKENS.dev1]);
    const line = readFileSync(file, 'utf8').trim();
    const salt = Buffer.from(line.split('$')[3] ?? '', 'base64');
    assert.equal(`dev1:${mosquittoPasswordHash(TOKENS.dev1, salt)}`, line);
  });
});
