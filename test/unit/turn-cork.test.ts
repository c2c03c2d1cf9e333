import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { TurnCork } from '../../src/agent/turn-cork.js';

/** A stream that records cork and uncork, and an afterTurn run by hand. */
function setup() {
  const calls: string[] = [];
  const turnEnds: Array<() => void> = [];
  const cork = new TurnCork((run) => turnEnds.push(run));
  const stream = { cork: () => calls.push('cork'), uncork: () => calls.push('uncork') };
  const endTurn = () => turnEnds.splice(0).forEach((run) => run());
  return { calls, cork, stream, endTurn, turnEnds };
}

describe('TurnCork', () => {
  it('corks at the first write of a turn and uncorks once when the turn ends', () => {
    const { calls, cork, stream, endTurn, turnEnds } = setup();
    cork.attach(stream);
    cork.hold();
    cork.hold();
    cork.hold();
    assert.deepEqual(calls, ['cork']);
    assert.equal(turnEnds.length, 1, 'one end-of-turn callback, however many writes');
    endTurn();
    assert.deepEqual(calls, ['cork', 'uncork']);
    cork.hold();
    endTurn();
    assert.deepEqual(calls, ['cork', 'uncork', 'cork', 'uncork'], 'the next turn corks anew');
  });

  it('without a stream does nothing, and a detached stream is let out at once', () => {
    const { calls, cork, stream, endTurn } = setup();
    cork.hold();
    assert.deepEqual(calls, []);
    cork.attach(stream);
    cork.hold();
    cork.attach(null); // the link closed mid-turn
    assert.deepEqual(calls, ['cork', 'uncork']);
    endTurn();
    assert.deepEqual(calls, ['cork', 'uncork'], 'the late end of turn uncorks nothing twice');
  });

  it('hands a turn of writes to a real socket as one', async (t) => {
    const chunks: Buffer[] = [];
    const expected = 'onetwothree';
    let received: () => void = () => {};
    const allReceived = new Promise<void>((resolve) => (received = resolve));
    const server = createServer((peer) =>
      peer.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (Buffer.concat(chunks).length >= expected.length) received();
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const socket: Socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    t.after(() => {
      socket.destroy();
      server.close();
    });
    await once(socket, 'connect');
    const cork = new TurnCork((run) => setImmediate(run));
    cork.attach(socket);
    const frames = ['one', 'two', 'three'];
    let written = 0;
    const allWritten = new Promise<void>((resolve) => {
      for (const frame of frames) {
        cork.hold();
        socket.write(frame, () => ++written === frames.length && resolve());
      }
    });
    assert.equal(socket.writableLength, expected.length, 'held until the turn ends');
    await allWritten;
    await allReceived;
    assert.equal(Buffer.concat(chunks).toString(), expected);
    assert.equal(chunks.length, 1, 'one segment, read at once');
  });
});
