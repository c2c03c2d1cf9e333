/**
 * The design's floor for any bulk transfer through client → hub → agent: the file through
 * bench/floors/two-hop-relay.mjs (sender → relay → receiver, three bare Node processes, two
 * WebSocket hops, binary frames, push-back everywhere), the receiver's stdout read by the
 * caller. One runner for bench:commands, bench:files and bench:forward, so each sets its figures
 * beside the same floor measured in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const RELAY_SCRIPT = fileURLToPath(new URL('../floors/two-hop-relay.mjs', import.meta.url));
const MB = 1e6;

export interface RelayFloor {
  mbps: number;
  /** CPU s per 100 MB of each process: the agent's, the hub's and the client's places. */
  senderCpuPer100: number;
  relayCpuPer100: number;
  receiverCpuPer100: number;
}

/** Sends `file` (exactly `bytes` long) through the bare relay; MB/s and CPU per 100 MB. */
export async function twoHopRelayThroughput(file: string, bytes: number): Promise<RelayFloor> {
  const per100 = (cpuS: number): number => (cpuS / (bytes / MB)) * 100;
  const cpuOf = (child: ChildProcess): Promise<number> =>
    new Promise((resolve) => {
      let text = '';
      child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('close', () => resolve(Number(/^cpu (\S+)$/m.exec(text)?.[1] ?? NaN)));
    });
  const node = (args: string[]): ChildProcess =>
    spawn(process.execPath, [RELAY_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const relay = node(['relay']);
  const relayCpu = cpuOf(relay);
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    relay.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /^port (\d+)$/m.exec(text);
      if (match) resolve(Number(match[1]));
    });
    relay.once('close', (code) => reject(new Error(`two-hop relay exited (${code})`)));
  });
  const url = `ws://127.0.0.1:${port}`;
  const t = performance.now();
  const receiver = node(['receive', url]);
  const receiverCpu = cpuOf(receiver);
  let received = 0;
  receiver.stdout?.on('data', (chunk: Buffer) => (received += chunk.length));
  const sender = node(['send', url, file]);
  const senderCpu = cpuOf(sender);
  const [code] = (await once(receiver, 'close')) as [number];
  const seconds = (performance.now() - t) / 1000;
  relay.kill('SIGTERM');
  if (received !== bytes || code !== 0)
    throw new Error(`two-hop relay: ${received} bytes, exit ${code}`);
  return {
    mbps: bytes / MB / seconds,
    senderCpuPer100: per100(await senderCpu),
    relayCpuPer100: per100(await relayCpu),
    receiverCpuPer100: per100(await receiverCpu),
  };
}
