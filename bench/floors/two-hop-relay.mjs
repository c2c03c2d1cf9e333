/**
 * The architecture's floor for `iottly-agent exec DEVICE -- cat`: the same three processes and
 * two WebSocket hops with no logic in them. A sender reads a file into binary frames (a 12-byte
 * header, then 64 KiB of data, zero mask, as the agent sends), a relay passes each frame from
 * its sender to its receiver, and the receiver writes the data after the header to stdout. Push-
 * back everywhere, so memory stays bounded: the sender waits on its socket's queue, the relay
 * stops reading the sender while the receiver's queue is over 1 MiB, and the receiver stops
 * reading its socket while stdout is full. What any Node program of this shape must pay. Plain
 * JavaScript, so no TypeScript loader is in the processes.
 *
 *   node two-hop-relay.mjs relay               prints "port N" on stdout, runs until SIGTERM
 *   node two-hop-relay.mjs send URL FILE       sends FILE, then closes
 *   node two-hop-relay.mjs receive URL         data to stdout until the relay closes
 *
 * Every role prints "cpu SECONDS" (its own user + system CPU) on stderr as it ends.
 */
import { createReadStream } from 'node:fs';
import { setImmediate } from 'node:timers';
import { WebSocket, WebSocketServer } from 'ws';

const HEADER_BYTES = 12;
const CHUNK_BYTES = 64 * 1024;
const HIGH_WATER_BYTES = 1024 * 1024;
const zeroMask = (mask) => mask.fill(0);

const [role, url, file] = process.argv.slice(2);

process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  process.stderr.write(`cpu ${(user + system) / 1e6}\n`);
});

if (role === 'relay') relay();
else if (role === 'send') send(url, file);
else if (role === 'receive') receive(url);
else throw new Error(`unknown role ${role}`);

function relay() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  let sender = null;
  let receiver = null;
  const pending = [];
  wss.on('listening', () => process.stdout.write(`port ${wss.address().port}\n`));
  wss.on('connection', (ws, req) => {
    if (req.url === '/receive') {
      receiver = ws;
      for (const data of pending.splice(0)) forward(data);
    } else {
      sender = ws;
      ws.on('message', (data) => (receiver ? forward(data) : pending.push(data)));
      ws.on('close', () => receiver?.close());
    }
  });
  let paused = false;
  const drained = () => {
    if (paused && receiver.bufferedAmount < HIGH_WATER_BYTES) {
      paused = false;
      sender.resume();
    }
  };
  function forward(data) {
    if (receiver.bufferedAmount + data.length >= HIGH_WATER_BYTES) {
      paused = true;
      sender.pause();
    }
    // While backed up, each frame's write callback tells when the queue has gone down.
    if (paused) receiver.send(data, { binary: true }, drained);
    else receiver.send(data, { binary: true });
  }
  process.on('SIGTERM', () => process.exit(0));
}

function send(to, path) {
  const ws = new WebSocket(to, { perMessageDeflate: false, generateMask: zeroMask });
  ws.on('open', () => {
    const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
    stream.on('data', (chunk) => {
      const frame = Buffer.allocUnsafe(HEADER_BYTES + chunk.length);
      frame.fill(0, 0, HEADER_BYTES);
      frame[0] = 1;
      frame.writeUInt32BE(1, 1);
      frame[5] = 1;
      chunk.copy(frame, HEADER_BYTES);
      ws.send(frame, { binary: true });
      if (ws.bufferedAmount < HIGH_WATER_BYTES) return;
      stream.pause();
      const wait = () =>
        ws.bufferedAmount >= HIGH_WATER_BYTES / 2 ? void setImmediate(wait) : stream.resume();
      wait();
    });
    stream.on('end', () => ws.close());
  });
}

function receive(from) {
  const ws = new WebSocket(`${from}/receive`, {
    perMessageDeflate: false,
    generateMask: zeroMask,
  });
  let waiting = false;
  ws.on('message', (data) => {
    if (process.stdout.write(data.subarray(HEADER_BYTES)) || waiting) return;
    waiting = true;
    ws.pause();
    process.stdout.once('drain', () => {
      waiting = false;
      ws.resume();
    });
  });
  ws.on('close', () => process.stdout.end());
}
