import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_COMMAND_BODY_BYTES } from '../../src/hub/command-api/command-routes.js';
import { commandsOf, errorCode, rest, resultErrorCode, resultOf } from '../helpers/command-api.js';
import { API_KEY, DEVICE_ID, OTHER_DEVICE_ID, connectDevice, startHub } from '../helpers/ws.js';

/**
 * What the hub refuses of a Command API request before anything reaches a device (offline and
 * unknown devices, bad bodies, unknown ids and methods, credentials other than the API key), and
 * the stream client's limits and endings that apply to it, with a device played by a WebSocket
 * of the test's own. No agent runs.
 */
describe('the REST Command API refusing requests', () => {
  it('refuses a command for a device that is offline at once (409), and an unknown one with 404', async (t) => {
    const hub = await startHub(t, { consoleDir: null });
    const offline = await rest(hub, 'POST', `${commandsOf(OTHER_DEVICE_ID)}?wait=60`, {
      command: 'true',
    });
    assert.equal(offline.status, 409);
    assert.equal(errorCode(offline), 'device_offline');
    const unknown = await rest(hub, 'POST', `${commandsOf('nobody')}?wait=60`, {
      command: 'true',
    });
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), 'unknown_device');
    assert.equal(hub.hub.pendingRequests(), 0);
  });

  it('refuses bodies too large (413), too deep, not JSON or of the wrong shape (400), naming what was wrong', async (t) => {
    const hub = await startHub(t, { consoleDir: null });
    const path = commandsOf(DEVICE_ID);
    const big = await rest(hub, 'POST', path, {
      command: `echo ${'x'.repeat(MAX_COMMAND_BODY_BYTES)}`,
    });
    assert.equal(big.status, 413);
    assert.equal(errorCode(big), 'payload_too_large');

    const deep = await rest(
      hub,
      'POST',
      path,
      `{"command":"true","x":${'['.repeat(70)}${']'.repeat(70)}}`,
    );
    assert.equal(deep.status, 400);
    assert.equal(errorCode(deep), 'invalid_json');
    assert.match(String((deep.body.error as { message: string }).message), /nested deeper than 64/);

    const notJson = await rest(hub, 'POST', path, '{"command":');
    assert.equal(errorCode(notJson), 'invalid_json');

    const cases: [string, unknown, RegExp][] = [
      [path, ['echo'], /expected a JSON object/],
      [path, { device_id: OTHER_DEVICE_ID, command: 'true' }, /device_id/],
      [path, { command: 'cat', stdin: true }, /stdin/],
      [`/v1/devices/${DEVICE_ID}/app-commands`, { command: 'reboot' }, /body\.command/],
      [`${path}?wait=61`, { command: 'true' }, /wait/],
      [`${path}?wait=soon`, { command: 'true' }, /wait/],
    ];
    for (const [where, body, message] of cases) {
      const answer = await rest(hub, 'POST', where, body);
      assert.equal(answer.status, 400, `${where} ${JSON.stringify(body)}`);
      assert.equal(errorCode(answer), 'invalid_payload');
      assert.match(String((answer.body.error as { message: string }).message), message);
    }

    assert.equal(hub.hub.pendingRequests(), 0);
  });

  it('counts as one stream client: past maxRequestsPerClient waiting requests, 429 too_many_requests', async (t) => {
    const hub = await startHub(t, { consoleDir: null, maxRequestsPerClient: 1 });
    const device = await connectDevice(hub.wsUrl);
    const first = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, { command: 'true' });
    assert.equal(first.status, 202);
    assert.equal((await device.inbox.nextOfType('command')).payload.command, 'true');
    const second = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, { command: 'true' });
    assert.equal(second.status, 429);
    assert.equal(errorCode(second), 'too_many_requests');
  });

  it('ends a command whose device left and is not back within the route grace with device_offline', async (t) => {
    const hub = await startHub(t, { consoleDir: null, requestGraceMs: 100 });
    const device = await connectDevice(hub.wsUrl);
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=0`, {
      command: 'sleep 60',
    });
    await device.inbox.nextOfType('command');
    device.ws.close();
    const read = await rest(hub, 'GET', `/v1/commands/${String(posted.body.request_id)}?wait=20`);
    assert.equal(read.body.state, 'done');
    assert.equal(resultOf(read).exit_code, null);
    assert.equal(resultErrorCode(read), 'device_offline');
  });

  it('answers 404 for an id it does not hold, and 405 for a method an endpoint does not take', async (t) => {
    const hub = await startHub(t, { consoleDir: null });
    for (const method of ['GET', 'DELETE']) {
      const answer = await rest(hub, method, '/v1/commands/cmd_nope');
      assert.equal(answer.status, 404, method);
      assert.equal(errorCode(answer), 'not_found');
    }
    const bad = await rest(hub, 'GET', '/v1/commands/%E0%A4%A');
    assert.equal(bad.status, 404);
    const put = await rest(hub, 'PUT', '/v1/commands/cmd_nope');
    assert.equal(put.status, 405);
    const get = await rest(hub, 'GET', commandsOf(DEVICE_ID));
    assert.equal(get.status, 405);
  });

  it('takes the API key only: a session token gets 403 insufficient_scope, nothing gets 401', async (t) => {
    const hub = await startHub(t, { consoleDir: null });
    const opened = await fetch(`${hub.url}/v1/session`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}` },
    });
    const { token } = (await opened.json()) as { token: string };
    const withToken = await rest(hub, 'POST', commandsOf(DEVICE_ID), { command: 'true' }, token);
    assert.equal(withToken.status, 403);
    assert.equal(errorCode(withToken), 'insufficient_scope');
    const read = await rest(hub, 'GET', '/v1/commands/cmd_1', undefined, token);
    assert.equal(read.status, 403);
    const none = await rest(hub, 'POST', commandsOf(DEVICE_ID), { command: 'true' }, 'wrong');
    assert.equal(none.status, 401);
    assert.equal(errorCode(none), 'unauthorized');
    assert.equal(hub.hub.pendingRequests(), 0);
  });
});
