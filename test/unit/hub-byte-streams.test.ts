import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { Broker } from '../../src/hub/broker.js';
import { OUTPUT_PIECE_BYTES } from '../../src/hub/byte-relay.js';
import {
  ByteFd,
  ByteKind,
  decodeByteFrame,
  encodeByteFrame,
  type ByteFrame,
} from '../../src/protocol/byte-frame.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import type { HelloPayload } from '../../src/protocol/to-hub.js';
import { FakeClient, FakeDevice, frame, testBroker } from '../helpers/fake-links.js';

/** A device link that negotiated bytes: it records the binary frames the broker sends it. */
class BytesDevice extends FakeDevice {
  readonly speaksBytes = true;
  readonly bytes: ByteFrame[] = [];
  readonly #drain = new Set<() => void>();
  sendBytes(data: Uint8Array): boolean {
    this.bytes.push(decoded(data));
    return true;
  }
  onDrain(listener: () => void): () => void {
    this.#drain.add(listener);
    return () => this.#drain.delete(listener);
  }
  drain(): void {
    this.backedUp = false;
    for (const listener of [...this.#drain]) listener();
  }
}

class BytesClient extends FakeClient {
  readonly bytes: ByteFrame[] = [];
  readingPaused = false;
  sendBytes(data: Uint8Array): boolean {
    this.bytes.push(decoded(data));
    return true;
  }
  pauseReading(): void {
    this.readingPaused = true;
  }
  resumeReading(): void {
    this.readingPaused = false;
  }
}

function decoded(data: Uint8Array): ByteFrame {
  const r = decodeByteFrame(data);
  assert.ok(r.ok);
  return { ...r.frame, data: Buffer.from(r.frame.data) };
}

/** A frame as the peer hands it over: decoded from the wire, its data a view of the message. */
function wire(stream: number, fd: number, data: Buffer, kind: number = ByteKind.data): ByteFrame {
  const r = decodeByteFrame(
    encodeByteFrame({ kind: kind as ByteFrame['kind'], stream, fd: fd as ByteFd, seq: 0, data }),
  );
  assert.ok(r.ok);
  return r.frame;
}

const hello = { device_id: 'dev', agent_version: '1', protocol: 1, capabilities: ['bytes'] };

describe('Broker: byte streams between clients and a device', () => {
  let broker: Broker;
  let device: BytesDevice;
  let client: BytesClient;
  let seed: FakeClient;
  let deviceStream: number;

  beforeEach(() => {
    broker = testBroker();
    device = new BytesDevice();
    broker.deviceAttached(device);
    broker.deviceReady(device, hello as HelloPayload, 0);
    client = new BytesClient('bytes');
    seed = new FakeClient('seed');
    broker.clientFrame(
      client,
      frame('command', { device_id: 'dev', argv: ['cat'], stream: 5 }, 'b'),
    );
    broker.clientFrame(seed, frame('command', { device_id: 'dev', argv: ['cat'] }, 's'));
    deviceStream = Number((device.sent[0]?.payload as { stream: number }).stream);
  });

  it("gives the device the hub's own stream numbers, also for a seed client's command", () => {
    assert.ok(deviceStream >= 1);
    // The seed client's command travels as bytes on the device link too: the hub makes its JSON.
    const seedStream = (device.sent[1]?.payload as { stream?: number }).stream;
    assert.ok(seedStream !== undefined && seedStream !== deviceStream);
    assert.equal(broker.requests.get('req_2')?.deviceStream, seedStream);
  });

  it("relays output under the client's number, and as command_output to a seed client", () => {
    broker.deviceBytes(device, { ...wire(deviceStream, 1, Buffer.from('hé')), seq: 7 });
    assert.deepEqual(
      client.bytes.map((f) => [f.stream, f.fd, f.seq, f.data.toString()]),
      [[5, 1, 7, 'hé']],
    );
    const seedStream = broker.requests.get('req_2')?.deviceStream as number;
    // A character cut between two frames reaches the seed client whole.
    broker.deviceBytes(device, wire(seedStream, 2, Buffer.from([0x68, 0xc3])));
    broker.deviceBytes(device, wire(seedStream, 2, Buffer.from([0xa9])));
    broker.deviceFrame(device, frame('command_done', { exit_code: 0 }, 'req_2'));
    const outputs = seed.sent.filter((m) => m.type === 'command_output');
    assert.deepEqual(
      outputs.map((m) => [m.request_id, m.payload.fd, m.payload.chunk]),
      [
        ['s', 'stderr', 'h'],
        ['s', 'stderr', 'é'],
      ],
    );
    assert.equal(seed.sent.at(-1)?.type, 'command_done');
  });

  it('cuts a large frame into command_output chunks of at most 64 KiB on character borders, the seq on the last', () => {
    const seedStream = broker.requests.get('req_2')?.deviceStream as number;
    // 3-byte characters, so no 64 KiB border falls between two of them; then a cut one.
    const text = Buffer.concat([Buffer.from('€'.repeat(70_000)), Buffer.from([0xe2, 0x82])]);
    broker.deviceBytes(device, { ...wire(seedStream, 1, text), seq: 9 });
    broker.deviceBytes(device, { ...wire(seedStream, 1, Buffer.from([0xac])), seq: 10 });
    const outputs = seed.sent.filter((m) => m.type === 'command_output');
    const chunks = outputs.map((m) => m.payload.chunk as string);
    assert.equal(chunks.join(''), '€'.repeat(70_001));
    assert.ok(chunks.every((chunk) => Buffer.byteLength(chunk) <= OUTPUT_PIECE_BYTES));
    assert.equal(outputs.length, 5); // 210,002 bytes: four pieces, then the finished character
    assert.deepEqual(
      outputs.map((m) => (m as { seq?: number }).seq),
      [undefined, undefined, undefined, 9, 10],
    );
  });

  it('forwards stdin frames under the device number; a backed-up device pauses the client until it drains', () => {
    broker.clientBytes(client, wire(5, 0, Buffer.from('in')));
    device.backedUp = true;
    broker.clientBytes(client, wire(5, 0, Buffer.alloc(0), ByteKind.eof));
    assert.deepEqual(
      device.bytes.map((f) => [f.stream, f.fd, f.kind, f.seq, f.data.toString()]),
      [
        [deviceStream, 0, ByteKind.data, 0, 'in'],
        [deviceStream, 0, ByteKind.eof, 0, ''],
      ],
    );
    assert.equal(client.readingPaused, true, 'stdin is held back, never refused');
    device.drain();
    assert.equal(client.readingPaused, false);
  });

  it('refuses a stream no request uses, output fds from a client, and a number in use', () => {
    broker.clientBytes(client, wire(6, 0, Buffer.from('x')));
    broker.clientBytes(client, wire(5, 1, Buffer.from('x')));
    broker.clientFrame(
      client,
      frame('command', { device_id: 'dev', argv: ['ls'], stream: 5 }, 'b2'),
    );
    assert.deepEqual(
      client.refused.map((e) => e.code),
      [ErrorCode.unknownByteStream, ErrorCode.invalidFrame, ErrorCode.invalidPayload],
    );
    assert.equal(device.bytes.length, 0);
  });

  it('relays input_consumed to the byte client only', () => {
    broker.deviceFrame(device, frame('input_consumed', { bytes: 2 }, 'req_1'));
    broker.deviceFrame(device, frame('input_consumed', { bytes: 2 }, 'req_2'));
    assert.deepEqual(
      client.sent.map((m) => [m.type, m.request_id, m.payload.bytes]),
      [['input_consumed', 'b', 2]],
    );
    assert.equal(seed.sent.length, 0);
  });
});
