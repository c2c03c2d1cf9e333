import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import {
  parsePublicKey,
  publicKeyText,
  signArtifact,
} from '../../src/protocol/update-signature.js';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { rest } from '../helpers/command-api.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  SESSION_WINDOW_BYTES,
  signatureFor,
  updateDevice,
  uploadArtifact,
  waitForUpdateState,
} from '../helpers/update-device.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  OTHER_DEVICE_ID,
  OTHER_DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Frame,
} from '../helpers/ws.js';
import type { Owner } from '../helpers/owner.js';
import type { HubOptions } from '../../src/hub/hub.js';

/**
 * The hub's part of agent updates (docs/protocol.md, "Agent updates"): artifacts uploaded over
 * REST and checked against their signature file, updates asked over REST or the stream API,
 * streamed to each device as an `update` session under the session window, followed to their
 * end through the device's next hello and its `update_result`. The devices here speak the wire
 * as the agent does (test/helpers/update-device.ts).
 */
const V2 = '2.0.0';
const OLD = '1.0.0';

async function setUp(t: Owner, overrides: Partial<HubOptions> = {}) {
  const dir = tempDir('iottly-artifacts-', t);
  return startHub(t, { artifactsDir: dir, ...overrides });
}

function dev1(hub: Awaited<ReturnType<typeof setUp>>, extra = {}) {
  return updateDevice(hub, {
    deviceId: DEVICE_ID,
    token: DEVICE_TOKEN,
    arch: 'arm64',
    agentVersion: OLD,
    ...extra,
  });
}

describe('hub: agent artifacts (REST)', () => {
  it('stores an upload whose size and sha256 are its signature file’s, lists and deletes it', async (t) => {
    const hub = await setUp(t);
    const bytes = randomBytes(300_000);
    const put = await uploadArtifact(hub, V2, 'arm64', bytes);
    assert.equal(put.status, 201);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    assert.deepEqual(
      { ...put.body, uploaded_at: null },
      { version: V2, arch: 'arm64', size: bytes.length, sha256, uploaded_at: null },
    );
    const list = await rest(hub, 'GET', '/v1/artifacts');
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.body as unknown as { version: string; arch: string; size: number }[]).map((a) => [
        a.version,
        a.arch,
        a.size,
      ]),
      [[V2, 'arm64', bytes.length]],
    );
    // A session token (the console's) lists; writing needs the API key.
    const { token } = hub.hub.openSession(API_KEY);
    assert.equal((await rest(hub, 'GET', '/v1/artifacts', undefined, token)).status, 200);
    assert.equal(
      (await rest(hub, 'DELETE', `/v1/artifacts/${V2}/arm64`, undefined, token)).status,
      403,
    );
    assert.equal((await rest(hub, 'DELETE', `/v1/artifacts/${V2}/arm64`)).status, 204);
    assert.equal((await rest(hub, 'GET', `/v1/artifacts/${V2}/arm64`)).status, 404);
    assert.deepEqual((await rest(hub, 'GET', '/v1/artifacts')).body, []);
  });

  it('refuses a too large upload (413), a bad signature file and a mismatch (400)', async (t) => {
    const hub = await setUp(t, { artifactMaxBytes: 100_000 });
    const big = randomBytes(200_000);
    const tooLarge = await uploadArtifact(hub, V2, 'arm64', big);
    assert.equal(tooLarge.status, 413);
    assert.equal((tooLarge.body.error as { code: string }).code, ErrorCode.payloadTooLarge);

    const bytes = randomBytes(50_000);
    const shapeless = await uploadArtifact(hub, V2, 'arm64', bytes, { version: V2 });
    assert.equal(shapeless.status, 400);
    assert.equal((shapeless.body.error as { code: string }).code, ErrorCode.invalidArtifact);
    assert.match((shapeless.body.error as { message: string }).message, /signature\.format/);

    const other = signatureFor(V2, 'arm64', randomBytes(50_000));
    const mismatch = await uploadArtifact(hub, V2, 'arm64', bytes, other);
    assert.equal(mismatch.status, 400);
    assert.match((mismatch.body.error as { message: string }).message, /sha256/);

    const wrongName = await uploadArtifact(hub, V2, 'x64', bytes, signatureFor(V2, 'arm64', bytes));
    assert.equal(wrongName.status, 400);
    const badPath = await uploadArtifact(
      hub,
      '..',
      'arm64',
      bytes,
      signatureFor('..', 'arm64', bytes),
    );
    assert.equal(badPath.status, 404); // `..` never reaches a route
    assert.deepEqual((await rest(hub, 'GET', '/v1/artifacts')).body, []);
  });

  it('refuses uploads signed by no --update-key when it has some', async (t) => {
    const trusted = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const hub = await setUp(t, { updateKeys: [parsePublicKey(publicKeyText(trusted.publicKey))] });
    const bytes = randomBytes(2000);
    const signedBy = (key: KeyObject) =>
      signArtifact(
        {
          version: V2,
          arch: 'arm64',
          size: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
        },
        key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      );
    const refused = await uploadArtifact(hub, V2, 'arm64', bytes, signedBy(other.privateKey));
    assert.equal(refused.status, 400);
    assert.match((refused.body.error as { message: string }).message, /--update-key/);
    const taken = await uploadArtifact(hub, V2, 'arm64', bytes, signedBy(trusted.privateKey));
    assert.equal(taken.status, 201);
  });

  it('says how to keep artifacts when the hub keeps none', async (t) => {
    const hub = await startHub(t);
    const answer = await rest(hub, 'GET', '/v1/artifacts');
    assert.equal(answer.status, 404);
    assert.match((answer.body.error as { message: string }).message, /--artifacts DIR/);
  });
});

describe('hub: agent updates', () => {
  it('streams the artifact to one device and follows it to done (REST, events, /v1/devices)', async (t) => {
    const hub = await setUp(t);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    assert.equal((await uploadArtifact(hub, V2, 'arm64', bytes)).status, 201);
    const device = await dev1(hub);
    const watcher = await connectClient(hub.wsUrl);
    t.after(() => {
      device.ws.terminate();
      watcher.ws.terminate();
    });
    const asked = await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [DEVICE_ID] });
    assert.equal(asked.status, 202);
    assert.equal((asked.body.devices as { state: string }[])[0]?.state, 'pending');

    await waitFor(() => device.open !== null);
    const open = device.open as unknown as Frame;
    assert.equal(open.payload.kind, 'update');
    assert.equal(open.payload.version, V2);
    assert.equal(open.payload.arch, 'arm64');
    assert.equal(open.payload.size, bytes.length);
    assert.equal(open.payload.downgrade, false);
    assert.equal((open.payload.signature as { version: string }).version, V2);
    assert.match(String(open.payload.requested_by), /update-manager/);

    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
    assert.equal(device.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.ok(
      device.maxAhead <= SESSION_WINDOW_BYTES,
      `at most a window ahead: ${device.maxAhead}`,
    );

    // The agent restarts: its link drops and the new version says hello.
    device.ws.close();
    const next = await dev1(hub, { agentVersion: V2 });
    t.after(() => next.ws.terminate());
    await waitForUpdateState(hub, DEVICE_ID, 'done');

    const states: string[] = [];
    for (;;) {
      const event = await watcher.inbox.nextOfType('update_state');
      states.push(String(event.payload.state));
      if (event.payload.state === 'done') break;
    }
    assert.deepEqual(
      states.filter((s, i) => s !== states[i - 1]),
      ['pending', 'downloading', 'installing', 'restarting', 'done'],
    );
    const devices = (await rest(hub, 'GET', '/v1/devices')).body as unknown as {
      device_id: string;
      agent_version: string;
      update: { state: string; bytes: number } | null;
    }[];
    const listed = devices.find((d) => d.device_id === DEVICE_ID);
    assert.equal(listed?.agent_version, V2);
    assert.equal(listed?.update?.state, 'done');
    assert.equal(listed?.update?.bytes, bytes.length);
  });

  it('picks devices by arch or all, each with its own arch’s artifact', async (t) => {
    const hub = await setUp(t);
    const bytes = randomBytes(10_000);
    await uploadArtifact(hub, V2, 'arm64', bytes);
    const arm = await dev1(hub);
    const x64 = await updateDevice(hub, {
      deviceId: OTHER_DEVICE_ID,
      token: OTHER_DEVICE_TOKEN,
      arch: 'x64',
      agentVersion: OLD,
    });
    t.after(() => {
      arm.ws.terminate();
      x64.ws.terminate();
    });
    const byArch = await rest(hub, 'POST', '/v1/updates', { version: V2, arch: 'arm64' });
    assert.equal(byArch.status, 202);
    assert.deepEqual(
      (byArch.body.devices as { device_id: string }[]).map((d) => d.device_id),
      [DEVICE_ID],
    );
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
    assert.equal(
      (await rest(hub, 'POST', '/v1/updates', { version: V2, arch: 'x64' })).status,
      404,
    );
    // A device still updating is not asked twice.
    const again = await rest(hub, 'POST', '/v1/updates', { version: V2, all: true });
    assert.equal(again.status, 409);
    arm.ws.close();
    const armNext = await dev1(hub, { agentVersion: V2 });
    t.after(() => armNext.ws.terminate());
    await waitForUpdateState(hub, DEVICE_ID, 'done');

    const all = await rest(hub, 'POST', '/v1/updates', { version: V2, all: true });
    assert.equal(all.status, 202);
    await waitForUpdateState(hub, OTHER_DEVICE_ID, 'failed');
    assert.match(String(hub.hub.updates?.state(OTHER_DEVICE_ID)?.cause), /no artifact .* "x64"/);
    await waitForUpdateState(hub, DEVICE_ID, 'done'); // already runs it
    assert.equal(x64.open, null);

    const bad = await rest(hub, 'POST', '/v1/updates', { version: V2, arch: 'arm64', all: true });
    assert.equal(bad.status, 400);
    assert.equal(
      (await rest(hub, 'POST', '/v1/updates', { version: '9.9.9', all: true })).status,
      404,
    );
  });

  it('waits for an offline device and starts when it says hello', async (t) => {
    const hub = await setUp(t);
    await uploadArtifact(hub, V2, 'arm64', randomBytes(20_000));
    const asked = await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [DEVICE_ID] });
    assert.equal(asked.status, 202);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(hub.hub.updates?.state(DEVICE_ID)?.state, 'pending');
    const device = await dev1(hub);
    t.after(() => device.ws.terminate());
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
    assert.equal(device.received, 20_000);
  });

  it('starts again where the device stopped when its link dropped mid-download', async (t) => {
    const hub = await setUp(t, { requestGraceMs: 0 });
    const bytes = randomBytes(3 * 1024 * 1024);
    await uploadArtifact(hub, V2, 'arm64', bytes);
    const first = await dev1(hub, { autoConsume: false });
    await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [DEVICE_ID] });
    await waitFor(() => first.received === SESSION_WINDOW_BYTES, 5_000);
    first.consume(512 * 1024);
    await waitFor(() => hub.hub.updates?.state(DEVICE_ID)?.bytes === 512 * 1024);
    first.ws.terminate(); // the link is cut: the session ends device_offline, the job waits
    await waitForUpdateState(hub, DEVICE_ID, 'pending');
    assert.equal(hub.hub.updates?.state(DEVICE_ID)?.code, ErrorCode.deviceOffline);
    const back = await dev1(hub, { resumeFrom: Buffer.from(bytes.subarray(0, 512 * 1024)) });
    t.after(() => back.ws.terminate());
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
    assert.equal(back.received, bytes.length - 512 * 1024);
    assert.equal(back.sha256, createHash('sha256').update(bytes).digest('hex'));
  });

  it('resumes from the offset the device has', async (t) => {
    const hub = await setUp(t);
    const bytes = randomBytes(2 * 1024 * 1024);
    await uploadArtifact(hub, V2, 'arm64', bytes);
    const half = bytes.subarray(0, 1024 * 1024 + 5);
    const device = await dev1(hub, { resumeFrom: Buffer.from(half) });
    t.after(() => device.ws.terminate());
    await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [DEVICE_ID] });
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
    assert.equal(device.received, bytes.length - half.length);
    assert.equal(device.sha256, createHash('sha256').update(bytes).digest('hex'));
  });

  it('reports a rollback with the device’s cause, and a refusal as failed', async (t) => {
    const hub = await setUp(t);
    await uploadArtifact(hub, V2, 'arm64', randomBytes(1000));
    const device = await dev1(hub);
    await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [DEVICE_ID] });
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
    device.ws.close();
    const back = await dev1(hub); // the previous version again
    t.after(() => back.ws.terminate());
    await waitForUpdateState(hub, DEVICE_ID, 'rolled_back');
    back.send({
      type: 'update_result',
      payload: {
        version: V2,
        from: OLD,
        ok: false,
        cause: 'crashed',
        message: 'the new agent exited with status 3',
      },
    });
    await waitFor(
      () => hub.hub.updates?.state(DEVICE_ID)?.cause === 'the new agent exited with status 3',
    );

    const refusing = await updateDevice(hub, {
      deviceId: OTHER_DEVICE_ID,
      token: OTHER_DEVICE_TOKEN,
      arch: 'arm64',
      agentVersion: OLD,
      refuse: { code: 'update_refused', message: 'signature by no trusted key' },
    });
    t.after(() => refusing.ws.terminate());
    await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [OTHER_DEVICE_ID] });
    await waitForUpdateState(hub, OTHER_DEVICE_ID, 'failed');
    const failed = hub.hub.updates?.state(OTHER_DEVICE_ID);
    assert.equal(failed?.code, 'update_refused');
    assert.equal(failed?.cause, 'signature by no trusted key');
  });

  it('keeps at most the window in flight to a device that reads slowly', async (t) => {
    const hub = await setUp(t);
    const size = 24 * 1024 * 1024;
    await uploadArtifact(hub, V2, 'arm64', randomBytes(size));
    const device = await dev1(hub, { autoConsume: false });
    t.after(() => device.ws.terminate());
    await rest(hub, 'POST', '/v1/updates', { version: V2, devices: [DEVICE_ID] });
    await waitFor(() => device.received === SESSION_WINDOW_BYTES, 5_000);
    let maxQueued = 0;
    // Sampled as each frame reaches the device: what the hub's socket still holds for it then.
    device.ws.on('message', () => {
      for (const stats of hub.hub.peerStats()) maxQueued = Math.max(maxQueued, stats.queuedBytes);
    });
    // Takes 256 KiB at a time, each once the hub has refilled the window.
    while (device.reported < size) {
      device.consume(256 * 1024);
      const target = Math.min(size, device.reported + SESSION_WINDOW_BYTES);
      await waitFor(() => device.received === target, 5_000);
    }
    t.diagnostic(`most bytes unreported ${device.maxAhead}, largest send queue ${maxQueued}`);
    assert.ok(device.maxAhead <= SESSION_WINDOW_BYTES, `ahead ${device.maxAhead}`);
    assert.ok(maxQueued <= SESSION_WINDOW_BYTES + 64 * 1024, `queued ${maxQueued}`);
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
  });

  it('takes update_request on the stream API and refuses a client’s own update session', async (t) => {
    const hub = await setUp(t);
    await uploadArtifact(hub, V2, 'arm64', randomBytes(1000));
    const device = await dev1(hub);
    const client = await connectClient(hub.wsUrl);
    t.after(() => {
      device.ws.terminate();
      client.ws.terminate();
    });
    client.send({
      type: 'session_open',
      request_id: 'sneaky',
      payload: { device_id: DEVICE_ID, kind: 'update', version: V2 },
    });
    const refused = await client.inbox.nextOfType('error');
    assert.equal(refused.request_id, 'sneaky');
    assert.match(String(refused.payload.message), /update_request/);

    client.send({
      type: 'update_request',
      request_id: 'u1',
      payload: { version: V2, devices: ['nope'] },
    });
    const unknown = await client.inbox.nextOfType('error');
    assert.equal(unknown.payload.code, ErrorCode.unknownDevice);
    client.send({
      type: 'update_request',
      request_id: 'u2',
      payload: { version: V2, devices: [DEVICE_ID] },
    });
    const requested = await client.inbox.nextOfType('update_requested');
    assert.equal(requested.request_id, 'u2');
    assert.equal((requested.payload.devices as { device_id: string }[])[0]?.device_id, DEVICE_ID);
    await waitForUpdateState(hub, DEVICE_ID, 'restarting');
  });
});
