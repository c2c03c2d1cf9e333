/**
 * The architecture floor of a keystroke echo through a hub: three bare Node processes with the
 * same hops as `iottly-agent shell` (client → relay → the process driving the pty), and nothing
 * else: no hub logic (auth, routing, acks, push-back), no agent logic (router, spool, outbox),
 * no framing beyond one ws binary message per read. What any Node design with a relay in the
 * middle pays at best. Plain JavaScript, so no TypeScript loader is in the processes.
 *
 *   node ws-relay-echo.mjs relay               prints "PORT\n", relays binary messages between
 *                                              the connection on /client and the one on /pty,
 *                                              and prints "/client\n" or "/pty\n" as each comes
 *   node ws-relay-echo.mjs pty URL LINE        runs LINE under util-linux `script` (as the agent
 *                                              does), its output to URL/pty, messages to its stdin
 *   node ws-relay-echo.mjs client URL          stdin to URL/client, its messages to stdout
 */
import { spawn } from 'node:child_process';
import { WebSocket, WebSocketServer } from 'ws';

const [role, url, line] = process.argv.slice(2);
const options = { perMessageDeflate: false };

function fail(err) {
  process.stderr.write(`ws-relay-echo ${role}: ${err.message}\n`);
  process.exit(1);
}

if (role === 'relay') {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  const ends = new Map();
  server.on('connection', (socket, request) => {
    const own = request.url === '/pty' ? '/pty' : '/client';
    const other = own === '/pty' ? '/client' : '/pty';
    ends.set(own, socket);
    socket.on('message', (data, isBinary) => ends.get(other)?.send(data, { binary: isBinary }));
    socket.on('close', () => ends.delete(own));
    process.stdout.write(`${own}\n`);
  });
  server.on('listening', () => process.stdout.write(`${server.address().port}\n`));
  server.on('error', fail);
} else if (role === 'pty') {
  const socket = new WebSocket(`${url}/pty`, options);
  socket.on('open', () => {
    // The agent's way to a pty: `script` with its stdin and stdout as pipes.
    const script = spawn('/usr/bin/script', ['-q', '-e', '-f', '-c', line, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    script.stdout.on('data', (bytes) => socket.send(bytes));
    socket.on('message', (data) => script.stdin.write(data));
    // `script` ends its program on SIGTERM (stdin's end means nothing to a raw terminal); one
    // stuck past a second is killed, and so is one left when this process exits another way.
    const end = () => {
      script.kill('SIGTERM');
      setTimeout(() => script.kill('SIGKILL'), 1_000).unref();
    };
    socket.on('close', end);
    process.on('SIGTERM', end);
    process.on('exit', () => script.kill('SIGKILL'));
    script.on('exit', () => process.exit(0));
  });
  socket.on('error', fail);
} else if (role === 'client') {
  const socket = new WebSocket(`${url}/client`, options);
  socket.on('open', () => {
    process.stdin.on('data', (keys) => socket.send(keys));
    socket.on('message', (data) => process.stdout.write(data));
  });
  socket.on('close', () => process.exit(0));
  socket.on('error', fail);
} else {
  fail(new Error('expected relay, pty or client'));
}
