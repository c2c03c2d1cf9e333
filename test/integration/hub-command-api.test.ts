import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EVENT_MS,
  commandWorld,
  commandsOf,
  errorCode,
  rest,
  resultErrorCode,
  resultOf,
} from '../helpers/command-api.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import { SdkClient } from '../helpers/sdk-client.js';
import { DEVICE_ID, connectClient, waitFor } from '../helpers/ws.js';

/**
 * The REST Command API against the real hub with the agent spawned as a process: results by
 * wait and by id, cancel, an app command to a local app, and what the agent refuses, with the
 * stream API's codes. (The hub's own refusals: hub-command-api-requests.test.ts; webhooks, the
 * hub's stop and a hub on mosquitto: hub-command-api-lifecycle.test.ts.)
 */
describe('the REST Command API', () => {
  it('answers with the result when the command ends within wait, and again by id', async (t) => {
    const { hub } = await commandWorld(t);
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=20`, {
      command: 'echo out; echo err >&2; exit 3',
    });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    assert.equal(posted.body.state, 'done');
    assert.equal(posted.body.device_id, DEVICE_ID);
    assert.equal(posted.body.type, 'command');
    assert.deepEqual(
      { ...resultOf(posted), duration_ms: 0 },
      {
        exit_code: 3,
        signal: null,
        timed_out: false,
        cancelled: false,
        truncated: false,
        duration_ms: 0,
        stdout: 'out\n',
        stderr: 'err\n',
      },
    );
    const id = String(posted.body.request_id);
    assert.equal(posted.headers.get('location'), `/v1/commands/${id}`);
    const read = await rest(hub, 'GET', `/v1/commands/${id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, posted.body);
  });

  it('answers 202 at once with wait=0; the result is read by id once it has ended', async (t) => {
    const { hub } = await commandWorld(t);
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, {
      argv: ['sh', '-c', 'sleep 0.5; echo late'],
    });
    assert.equal(posted.status, 202);
    assert.equal(posted.body.state, 'running');
    assert.equal(posted.body.result, null);
    const id = String(posted.body.request_id);
    const read = await rest(hub, 'GET', `/v1/commands/${id}?wait=20`);
    assert.equal(read.status, 200);
    assert.equal(read.body.state, 'done');
    assert.equal(resultOf(read).stdout, 'late\n');
    assert.equal(resultOf(read).exit_code, 0);
  });

  it('cancels a running command by id: a long sleep ends cancelled, its processes gone', async (t) => {
    const { hub } = await commandWorld(t);
    const marker = uniqueMarker();
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, {
      command: `sleep ${marker}`,
    });
    const id = String(posted.body.request_id);
    await waitFor(() => processesWith(marker).length > 0, EVENT_MS);
    const cancelled = await rest(hub, 'DELETE', `/v1/commands/${id}`);
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    const read = await rest(hub, 'GET', `/v1/commands/${id}?wait=20`);
    assert.equal(read.body.state, 'done');
    assert.equal(resultOf(read).cancelled, true);
    assert.deepEqual(processesWith(marker), []);
    const again = await rest(hub, 'DELETE', `/v1/commands/${id}`);
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), 'unknown_request');
  });

  it('sends an app_command to a local app and answers with the apps it reached', async (t) => {
    const { hub, socketPath } = await commandWorld(t);
    const app = await SdkClient.connect(socketPath, 'plc');
    await app.handshake();
    const posted = await rest(hub, 'POST', `/v1/devices/${DEVICE_ID}/app-commands?wait=20`, {
      app: 'plc',
      command: { set_speed: { rpm: 900 } },
    });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    assert.equal(posted.body.type, 'app_command');
    assert.deepEqual(resultOf(posted), { delivered: ['plc'] });
    assert.deepEqual(await app.next((l) => l.data !== undefined), {
      data: { set_speed: { rpm: 900 } },
    });
    const nobody = await rest(hub, 'POST', `/v1/devices/${DEVICE_ID}/app-commands?wait=20`, {
      app: 'nobody',
      command: { x: {} },
    });
    assert.equal((resultOf(nobody).error as { code: string }).code, 'app_not_connected');
  });

  it('ends a command the agent refuses (its policy, a field of the wrong type) with the code the stream API gives', async (t) => {
    const { hub } = await commandWorld(t);
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=20`, {
      command: 'reboot now',
    });
    assert.equal(posted.status, 200);
    assert.equal(resultOf(posted).exit_code, null);
    const error = resultOf(posted).error as { code: string; message: string };
    assert.equal(error.code, 'command_denied');

    const stream = await connectClient(hub.wsUrl);
    stream.send({
      type: 'command',
      request_id: 's1',
      payload: { device_id: DEVICE_ID, command: 'reboot now' },
    });
    const done = await stream.inbox.next(
      (f) => f.request_id === 's1' && f.type === 'command_done',
      EVENT_MS,
    );
    assert.deepEqual(done.payload.error, error);

    // What the hub does not validate the agent does, as for a stream client.
    const wrongType = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=20`, { command: 42 });
    assert.equal(wrongType.status, 200);
    assert.equal(resultErrorCode(wrongType), 'invalid_payload');
  });
});
