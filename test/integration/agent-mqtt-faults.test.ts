import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusIs } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import {
  DEVICE,
  EVENT_MS,
  agentOn,
  keepsFlowing,
  retainedPresence,
  welcomedAgent,
} from '../helpers/mqtt-agent-rig.js';
import { ScriptedMqttHub } from '../helpers/scripted-mqtt-hub.js';

/**
 * The agent over a real mosquitto through faults: a partition (the fault proxy) with a command
 * sent meanwhile and kept by the persistent session, a broker restart, a graceful stop and a
 * SIGKILL (the will). Every seq reaches the scripted hub, first arrivals in order.
 */
describe('agent over MQTT 5 through faults', () => {
  it('delivers a command sent while the agent was cut off from the broker (persistent session), and its will says offline meanwhile', async (t) => {
    const { hub, agent, proxy } = await welcomedAgent(t, { proxied: true });
    assert.ok(proxy);

    proxy.setMode('reset');
    await agent.waitForLog(statusIs('backoff'), EVENT_MS);
    const offline = await hub.presenceOf(DEVICE, (p) => !p.online);
    assert.equal(offline.hello.device_id, DEVICE, 'the will carries the hello');
    await hub.send(DEVICE, {
      type: 'command',
      request_id: 'while-away',
      payload: { command: 'echo kept' },
    });

    proxy.setMode('pass');
    const done = await hub.next((f) => f.type === 'command_done' && f.request_id === 'while-away');
    assert.equal(done.payload.exit_code, 0, JSON.stringify(done.payload));
    const replies = hub.frames.filter((f) => f.request_id === 'while-away');
    assert.match(JSON.stringify(replies), /kept/);
    await hub.presenceOf(DEVICE, (p) => p.online);
    await keepsFlowing(hub, 3);
  });

  it('comes back after a broker restart and loses no seq', async (t) => {
    const { broker, hub, agent } = await welcomedAgent(t);
    const onlineBefore = agent.logs.filter(statusIs('online')).length;
    await broker.restart();
    await agent.waitForLog(statusIs('backoff'), EVENT_MS);
    await agent.waitForLog(
      (l) => statusIs('online')(l) && agent.logs.filter(statusIs('online')).length > onlineBefore,
      EVENT_MS,
    );
    await keepsFlowing(hub, 5);
  });

  it('ignores a welcome its session kept from an earlier connection: online only once the hub answers the new hello', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url);
    const first = agentOn(t, broker.url);
    await hub.next((f) => f.type === 'hello');
    await hub.welcome(DEVICE, 0);
    await first.waitForLog(statusIs('online'), EVENT_MS);
    assert.equal((await first.kill('SIGTERM')).code, 0); // a graceful stop keeps the session
    // Queued in the session while no agent is connected, as a broker back from its last save
    // delivers again what it had queued then.
    await hub.welcome(DEVICE, 0);

    const hellos = hub.frames.filter((f) => f.type === 'hello').length;
    const second = agentOn(t, broker.url);
    await hub.next((f) => f.type === 'hello', hub.frames.length);
    await second.waitForLog(
      (l) => statusIs('backoff')(l) && l.status?.reason === 'dial_timeout',
      EVENT_MS,
    );
    assert.equal(second.logs.filter(statusIs('online')).length, 0, 'not online on the old welcome');
    assert.ok(hub.frames.filter((f) => f.type === 'hello').length > hellos);
    await hub.welcome(DEVICE, 0);
    await second.waitForLog(statusIs('online'), EVENT_MS);
  });

  it('publishes presence offline on SIGTERM, and its will does on SIGKILL', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url, { autoWelcome: true, autoAck: true });

    const stopped = agentOn(t, broker.url);
    await stopped.waitForLog(statusIs('online'), EVENT_MS);
    await hub.presenceOf(DEVICE, (p) => p.online);
    const { code } = await stopped.kill('SIGTERM');
    assert.equal(code, 0);
    assert.equal((await hub.presenceOf(DEVICE, (p) => !p.online)).online, false);
    assert.equal((await retainedPresence(t, broker.url)).online, false);
    assert.doesNotMatch(broker.log(), /dev1.*(closed its connection|exceeded timeout)/i);

    const killed = agentOn(t, broker.url);
    await killed.waitForLog(statusIs('online'), EVENT_MS);
    await hub.presenceOf(DEVICE, (p) => p.online);
    await killed.kill('SIGKILL');
    const will = await hub.presenceOf(DEVICE, (p) => !p.online);
    assert.equal(will.hello.device_id, DEVICE);
    assert.equal((await retainedPresence(t, broker.url)).online, false);
  });
});
