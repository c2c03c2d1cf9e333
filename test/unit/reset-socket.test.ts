import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Owner } from '../helpers/owner.js';
import { resetSocket } from '../helpers/reset-socket.js';

const HELPER = new URL('../helpers/reset-socket.ts', import.meta.url).href;

/** A connected pair on loopback: [the server's side, the client's side], closed when `owner` ends. */
async function socketPair(owner: Owner): Promise<[Socket, Socket]> {
  const server = createServer();
  owner.after(() => {
    server.close();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [Socket];
  await once(client, 'connect');
  return [accepted, client];
}

describe('resetSocket', () => {
  it('resets a live connection: the peer sees ECONNRESET', async (t) => {
    const [accepted, client] = await socketPair(t);
    const error = once(client, 'error');
    resetSocket(accepted);
    const [err] = (await error) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNRESET');
  });

  it('lets the process exit when the peer had already ended the connection', async () => {
    // In a process of its own: with resetAndDestroy() here, Node 20 never exits (100 % CPU).
    const script = `
      import { createServer, connect } from 'node:net';
      import { resetSocket } from ${JSON.stringify(HELPER)};
      const server = createServer((socket) => {
        socket.on('error', (e) => { console.error(e.message); process.exitCode = 3; });
        // Two ticks after 'end', Node's own end() has started the shutdown: the window.
        socket.on('end', () => process.nextTick(() => process.nextTick(() => {
          if (!socket.writableEnded) process.exitCode = 4;
          resetSocket(socket);
          server.close();
        })));
      });
      server.listen(0, '127.0.0.1', () => {
        const peer = connect(server.address().port, '127.0.0.1', () => peer.end());
        peer.on('error', () => {});
      });`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    assert.deepEqual({ code, signal, stderr }, { code: 0, signal: null, stderr: '' });
  });
});
