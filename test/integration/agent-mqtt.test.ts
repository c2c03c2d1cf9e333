import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_FRAME_BYTES } from '../../src/protocol/message.js';
import { statusIs } from '../helpers/agent-process.js';
import { freePort } from '../helpers/browser.js';
import { makePki } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import {
  DEVICE,
  EVENT_MS,
  TOKEN,
  agentOn,
  assertNoLossInOrder,
  retainedPresence,
  telemetrySeqs,
} from '../helpers/mqtt-agent-rig.js';
import { ScriptedMqttHub } from '../helpers/scripted-mqtt-hub.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The agent as a process over a real mosquitto (docs/protocol.md, "MQTT 5 transport"), with the
 * hub played by a scripted MQTT client: the handshake, presence, the spool until welcome and the
 * rewind at a second welcome, mqtts:// with a private CA, refused credentials and hostile
 * payloads on `down`. Faults (a partition, a broker restart, the agent stopped or killed):
 * agent-mqtt-faults.test.ts.
 */
describe('agent over MQTT 5', () => {
  it('says hello on up, keeps a retained presence, spools until welcome, and resends from last_seq after a second welcome', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url);
    const agent = agentOn(t, broker.url);

    const hello = await hub.next((f) => f.type === 'hello');
    assert.equal(hello.payload.device_id, DEVICE);
    const online = await hub.presenceOf(DEVICE, (p) => p.online);
    assert.equal(online.hello.agent_version, hello.payload.agent_version);
    const retained = await retainedPresence(t, broker.url);
    assert.equal(retained.online, true);
    assert.equal(retained.hello.store_id, hello.payload.store_id);

    // No welcome: nothing but hellos, again after the back-off on the same broker connection.
    await agent.waitForLog(
      (l) => statusIs('backoff')(l) && l.status?.reason === 'dial_timeout',
      EVENT_MS,
    );
    await hub.next((f) => f.type === 'hello', hub.frames.indexOf(hello) + 1);
    assert.deepEqual(telemetrySeqs(hub.frames), [], 'nothing sent before welcome');
    assert.equal(agent.logs.filter(statusIs('connecting')).length, 1, 'one broker connection');

    await hub.welcome(DEVICE, 0);
    await agent.waitForLog(statusIs('online'), EVENT_MS);
    await hub.next((f) => f.seq === 12);
    const beforeRewind = hub.frames.length;
    // What was spooled while no hub answered, then the live ones: each once, in order.
    const seqs = hub.frames.filter((f) => f.seq !== undefined).map((f) => f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
    );

    // Another hub takes the device over with last_seq 5: 6 and on come again, in order (after
    // whatever was already on its way when the welcome came).
    await hub.welcome(DEVICE, 5);
    await agent.waitForLog((l) => l.code === 'link_rewound', EVENT_MS);
    const six = await hub.next((f) => f.seq === 6, beforeRewind);
    await hub.next((f) => f.seq === 12, hub.frames.indexOf(six));
    const resent = telemetrySeqs(hub.frames.slice(beforeRewind));
    const from6 = resent.slice(resent.indexOf(6));
    assert.deepEqual(
      from6.slice(0, 7),
      [6, 7, 8, 9, 10, 11, 12],
      `after the rewind: ${resent.join(',')}`,
    );
    assertNoLossInOrder(hub.frames);
    assert.equal(agent.child.exitCode, null);
  });

  it('connects over mqtts:// with a private CA, and refuses a broker whose CA it does not trust', async (t) => {
    const pki = makePki(t);
    const other = makePki(t);
    // mosquitto reads its key after it drops root for its own user: let that user read it.
    chmodSync(pki.dir, 0o755);
    chmodSync(pki.keyPath, 0o644);
    const tlsPort = await freePort();
    const broker = await startMosquitto(t, {
      extraConfig: [
        `listener ${tlsPort} 127.0.0.1`,
        `certfile ${pki.certPath}`,
        `keyfile ${pki.keyPath}`,
      ],
    });
    const hub = await ScriptedMqttHub.start(t, broker.url, { autoWelcome: true, autoAck: true });
    const url = `mqtts://127.0.0.1:${tlsPort}`;

    const trusted = agentOn(t, url, { IOTTLY_TLS_CA: pki.caPath });
    await trusted.waitForLog(statusIs('online'), EVENT_MS);
    await hub.next((f) => f.type === 'telemetry');
    await trusted.kill('SIGTERM');

    const untrusted = agentOn(t, url, { IOTTLY_TLS_CA: other.caPath });
    const refused = await untrusted.waitForLog((l) => l.code === 'tls_error', EVENT_MS);
    assert.match(refused.msg, /TLS/);
    assert.equal(untrusted.logs.filter(statusIs('online')).length, 0);
  });

  it('logs refused credentials once, backs off and keeps running', async (t) => {
    const dir = tempDir('iottly-mqtt-auth-', t);
    const passwords = join(dir, 'passwords');
    execFileSync('mosquitto_passwd', ['-b', '-c', passwords, DEVICE, TOKEN]);
    // mosquitto reads the file after it drops root for its own user: let that user read it.
    chmodSync(dir, 0o755);
    chmodSync(passwords, 0o644);
    const broker = await startMosquitto(t, { passwordFile: passwords });
    const agent = agentOn(t, broker.url, { IOTTLY_AUTH_TOKEN: 'wrong' });

    await agent.waitForLog(
      (l) => statusIs('backoff')(l) && l.status?.reason === 'auth_rejected',
      EVENT_MS,
    );
    await agent.waitForLog(
      (l) => statusIs('connecting')(l) && (l.status as { attempt?: number }).attempt === 3,
      EVENT_MS,
    );
    assert.equal(agent.logs.filter((l) => l.code === 'auth_rejected').length, 1, 'once per streak');
    assert.equal(agent.child.exitCode, null);
    assert.equal(agent.logs.filter(statusIs('online')).length, 0);
  });

  it('refuses a payload over 1 MiB or not UTF-8 on down, answers non-JSON with an error frame, and keeps running', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url, { autoWelcome: true, autoAck: true });
    const agent = agentOn(t, broker.url);
    await agent.waitForLog(statusIs('online'), EVENT_MS);

    await hub.send(DEVICE, Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20));
    await agent.waitForLog(
      (l) => l.code === 'frame_refused' && l.bytes === MAX_FRAME_BYTES + 1,
      EVENT_MS,
    );
    await hub.send(DEVICE, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    await agent.waitForLog((l) => l.code === 'frame_refused' && l.bytes === 4, EVENT_MS);
    // Over the CONNECT's maximum packet size: the broker never delivers it.
    await hub.send(DEVICE, Buffer.alloc(2 * MAX_FRAME_BYTES, 0x20));
    await hub.send(DEVICE, 'not json');
    const error = await hub.next((f) => f.type === 'error');
    assert.equal(error.payload.code, 'invalid_json');

    await hub.send(DEVICE, { type: 'command', request_id: 'after', payload: { command: 'true' } });
    await hub.next((f) => f.type === 'command_done' && f.request_id === 'after');
    assert.equal(agent.logs.filter((l) => l.code === 'frame_refused').length, 2);
    assert.equal(agent.logs.filter(statusIs('connecting')).length, 1, 'the link stayed up');
    assert.equal(agent.child.exitCode, null);
  });
});
