import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusIs } from '../helpers/agent-process.js';
import { EVENT_MS, commandWorld, commandsOf, rest, resultOf } from '../helpers/command-api.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { DEVICE, agentOn } from '../helpers/mqtt-agent-rig.js';
import { DEVICE_ID, startHub, waitFor } from '../helpers/ws.js';

/**
 * The Command API beyond one request: a result no request waited for reaches an `iottly`
 * webhook, a stopping hub cancels the commands it runs, and a hub on an MQTT broker (mosquitto,
 * the agent over mqtt://) answers as a plain hub does.
 */
describe('the REST Command API and its results', () => {
  it('POSTs a result no request waited for to the iottly webhooks with its request_id, and not a waited one', async (t) => {
    const { hub, iottly } = await commandWorld(t);
    const waited = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=20`, {
      command: 'echo waited',
    });
    assert.equal(waited.body.state, 'done');
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, {
      command: 'echo unwaited',
    });
    const id = String(posted.body.request_id);
    const withId = (): { msg: Record<string, unknown> }[] =>
      iottly.requests
        .map((r) => r.body as { msg: Record<string, unknown> })
        .filter((b) => b.msg.request_id !== undefined);
    await waitFor(() => withId().length > 0, EVENT_MS);
    const [first] = withId();
    const msg = first?.msg ?? {};
    assert.equal(msg.request_id, id);
    assert.equal(msg.from, DEVICE_ID);
    assert.equal(msg.type, 'iottly');
    assert.equal(msg.channel, 'commands');
    assert.equal(msg.message_type, 'command_done');
    assert.match(String(msg.timestamp), /Z$/);
    const payload = msg.payload as Record<string, unknown>;
    assert.equal(payload.stdout, 'unwaited\n');
    assert.equal(payload.exit_code, 0);
    // The webhook's queue keeps order: a post for the waited command would have come first.
    assert.equal(withId().length, 1);
    assert.equal(withId().filter((b) => b.msg.request_id === waited.body.request_id).length, 0);
  });

  it('cancels the commands it still runs on their devices when the hub stops', async (t) => {
    const { hub, agent } = await commandWorld(t);
    const marker = uniqueMarker();
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, {
      command: `sleep ${marker}`,
    });
    assert.equal(posted.status, 202);
    await waitFor(() => processesWith(marker).length > 0, EVENT_MS);
    await hub.stop();
    await agent.waitForLog((l) => l.msg === 'command done' && l.cancelled === true, EVENT_MS);
    await waitFor(() => processesWith(marker).length === 0, EVENT_MS);
  });
});

describe('the REST Command API on a hub on an MQTT broker', () => {
  it('runs a command on a device of the fleet and answers with its result', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await startHub(t, {
      deviceTokens: new Map(),
      consoleDir: null,
      fleet: {
        url: broker.url,
        hubId: 'hub-commandapi01',
        connection: { backoff: { initialDelayMs: 50, maxDelayMs: 500 } },
      },
    });
    const agent = agentOn(t, broker.url);
    await agent.waitForLog(statusIs('online'), EVENT_MS);
    await waitFor(() => hub.hub.device(DEVICE)?.connected === true, EVENT_MS);
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE)}?wait=20`, {
      command: 'echo over mqtt',
    });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    assert.equal(resultOf(posted).stdout, 'over mqtt\n');
    assert.equal(resultOf(posted).exit_code, 0);
    const id = String(posted.body.request_id);
    assert.equal((await rest(hub, 'GET', `/v1/commands/${id}`)).body.state, 'done');
  });
});
