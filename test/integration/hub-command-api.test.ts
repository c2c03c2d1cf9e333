import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_COMMAND_BODY_BYTES } from '../../src/hub/command-api/command-routes.js';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { DEVICE, agentOn } from '../helpers/mqtt-agent-rig.js';
import { startReceiver, type HttpReceiver } from '../helpers/http-receiver.js';
import type { Owner } from '../helpers/owner.js';
import { SdkClient } from '../helpers/sdk-client.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  OTHER_DEVICE_ID,
  connectClient,
  startHub,
  waitFor,
  type TestHub,
} from '../helpers/ws.js';

/**
 * The REST Command API against the real hub with the agent spawned as a process: results by
 * wait and by id, cancel, app commands to a local app, refusals with the stream API's codes,
 * bounded bodies, the API key only, and a result no request waited for at an `iottly` webhook.
 */
const EVENT_MS = 20_000;

interface CommandWorld {
  hub: TestHub;
  agent: AgentProcess;
  /** Behind a webhook of Type iottly: every agent message, and the unwaited results. */
  iottly: HttpReceiver;
  socketPath: string;
}

async function commandWorld(t: Owner): Promise<CommandWorld> {
  const dir = tempDir('iottly-command-api-', t);
  const socketPath = join(dir, 'sdk.sock');
  const iottly = await startReceiver(t);
  const hub = await startHub(t, {
    consoleDir: null,
    webhooks: [{ description: 'backend', url: `${iottly.url}/in`, type: 'iottly' }],
  });
  const agent = spawnAgent(t, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOCAL_SOCKET_PATH: socketPath,
    IOTTLY_COMMANDS_DENY: '["^reboot"]',
    IOTTLY_COMMANDS_KILL_GRACE_MS: '300',
    IOTTLY_LOG_LEVEL: 'debug',
  });
  await agent.waitForLog(statusIs('online'), EVENT_MS);
  await agent.waitForLog((l) => l.msg === 'local SDK socket listening', EVENT_MS);
  return { hub, agent, iottly, socketPath };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A REST request with the API key (or `token`); the body is sent as given when a string. */
async function rest(
  hub: TestHub,
  method: string,
  path: string,
  body?: unknown,
  token = API_KEY,
): Promise<Answer> {
  const response = await fetch(`${hub.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

const commandsOf = (device: string): string => `/v1/devices/${device}/commands`;
const result = (answer: Answer): Record<string, unknown> =>
  answer.body.result as Record<string, unknown>;
const errorCode = (answer: Answer): unknown =>
  (answer.body.error as { code?: unknown } | undefined)?.code;

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
      { ...result(posted), duration_ms: 0 },
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
    assert.equal(result(read).stdout, 'late\n');
    assert.equal(result(read).exit_code, 0);
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
    assert.equal(result(read).cancelled, true);
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
    assert.deepEqual(result(posted), { delivered: ['plc'] });
    assert.deepEqual(await app.next((l) => l.data !== undefined), {
      data: { set_speed: { rpm: 900 } },
    });
    const nobody = await rest(hub, 'POST', `/v1/devices/${DEVICE_ID}/app-commands?wait=20`, {
      app: 'nobody',
      command: { x: {} },
    });
    assert.equal((result(nobody).error as { code: string }).code, 'app_not_connected');
  });

  it('refuses a command for a device that is offline at once, and an unknown one with 404', async (t) => {
    const { hub } = await commandWorld(t);
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

  it("ends a command the agent's policy refuses with the code the stream API gives", async (t) => {
    const { hub } = await commandWorld(t);
    const posted = await rest(hub, 'POST', `${commandsOf(DEVICE_ID)}?wait=20`, {
      command: 'reboot now',
    });
    assert.equal(posted.status, 200);
    assert.equal(result(posted).exit_code, null);
    const error = result(posted).error as { code: string; message: string };
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
  });

  it('refuses bodies too large (413), too deep, not JSON or of the wrong shape (400), naming what was wrong', async (t) => {
    const { hub } = await commandWorld(t);
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

    // What the hub does not validate the agent does, as for a stream client.
    const wrongType = await rest(hub, 'POST', `${path}?wait=20`, { command: 42 });
    assert.equal(wrongType.status, 200);
    assert.equal((result(wrongType).error as { code: string }).code, 'invalid_payload');
    assert.equal(hub.hub.pendingRequests(), 0);
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

  it('answers 404 for an id it does not hold, and 405 for a method an endpoint does not take', async (t) => {
    const { hub } = await commandWorld(t);
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
    const { hub } = await commandWorld(t);
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
    assert.equal(result(posted).stdout, 'over mqtt\n');
    assert.equal(result(posted).exit_code, 0);
    const id = String(posted.body.request_id);
    assert.equal((await rest(hub, 'GET', `/v1/commands/${id}`)).body.state, 'done');
  });
});
