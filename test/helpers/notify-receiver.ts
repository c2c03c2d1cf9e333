import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Owner } from './owner.js';

/**
 * A fake NOTIFY_SOCKET: a Unix datagram socket that collects sd_notify messages, as systemd
 * would. Node cannot bind one, so a few lines of Python do, printing each datagram as a JSON
 * line. Reading a datagram without its ancillary data makes the kernel close any descriptor it
 * carried, which is what systemd-notify's BARRIER=1 waits for, so the real tool runs unchanged.
 * The receiver is killed and its folder removed when `owner` (the test) ends.
 */
const RECEIVER = `
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data = sock.recv(65536)
    print(json.dumps({"message": data.decode("utf-8", "replace")}), flush=True)
`;

export interface NotifyReceiver {
  socketPath: string;
  /** Every message received, as lists of NAME=value assignments (BARRIER=1 left out). */
  messages: string[][];
  /** How many messages so far hold `assignment` (e.g. "WATCHDOG=1"). */
  count(assignment: string | RegExp): number;
  /** Resolves with the first message holding `assignment` (e.g. "READY=1"). */
  waitFor(assignment: string | RegExp, timeoutMs?: number): Promise<string[]>;
  /** Resolves with the `wanted`-th message holding `assignment`. */
  waitForCount(assignment: string | RegExp, wanted: number, timeoutMs?: number): Promise<string[]>;
  /** Idempotent; also registered with the owner. */
  close(): Promise<void>;
}

export async function startNotifyReceiver(owner: Owner): Promise<NotifyReceiver> {
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  const socketPath = join(dir, 'notify.sock');
  const child: ChildProcess = spawn('python3', ['-c', RECEIVER, socketPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  owner.after(close);
  const messages: string[][] = [];
  const waiters = new Set<() => void>();
  const lines = createInterface({ input: child.stdout! });
  const bound = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`notify receiver exited with ${code}`)));
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as { bound?: boolean; message?: string };
      if (parsed.bound) return resolve();
      const message = (parsed.message ?? '').split('\n').filter((a) => a && a !== 'BARRIER=1');
      if (message.length === 0) return;
      messages.push(message);
      for (const waiter of waiters) waiter();
    });
  });
  await bound;
  const matches = (message: string[], assignment: string | RegExp): boolean =>
    message.some((a) => (typeof assignment === 'string' ? a === assignment : assignment.test(a)));
  const count = (assignment: string | RegExp): number =>
    messages.filter((message) => matches(message, assignment)).length;
  const waitForCount = (assignment: string | RegExp, wanted: number, timeoutMs = 10_000) =>
    new Promise<string[]>((resolve, reject) => {
      const check = (): boolean => {
        if (count(assignment) < wanted) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(messages.filter((message) => matches(message, assignment))[wanted - 1]!);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no ${wanted}× ${assignment} within ${timeoutMs} ms: ${JSON.stringify(messages)}`,
          ),
        );
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  return {
    socketPath,
    messages,
    count,
    waitFor: (assignment, timeoutMs) => waitForCount(assignment, 1, timeoutMs),
    waitForCount,
    close,
  };
}
