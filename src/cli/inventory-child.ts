import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { basicInventory, parseInventory, type Inventory } from '../agent/inventory.js';

/**
 * Reads the hello's inventory in a short-lived child process (`iottly-agent inventory`), so the
 * agent itself never loads systeminformation (see src/agent/inventory.ts). The child prints
 * one JSON object; it is killed at `timeoutMs`, its output is read up to `maxBytes`, and
 * anything but a valid inventory (an exit, a signal, a timeout, too much or malformed output)
 * gives the fields Node itself knows, as an in-process reading that failed did. The child's
 * own helpers time out earlier (5 s), so this bound only catches a child that hangs.
 */
export interface InventoryChildOptions {
  /** This program again: the command and the arguments before `inventory` (selfInvocation). */
  command: string;
  args: readonly string[];
  spawn: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  maxBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 64 * 1024;

export function readInventoryInChild(options: InventoryChildOptions): Promise<Inventory> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = options.spawn(options.command, [...options.args, 'inventory'], {
        stdio: ['ignore', 'pipe', 'ignore'],
        env: options.env,
      });
    } catch {
      resolve(basicInventory());
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const finish = (inventory: Inventory | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(inventory ?? basicInventory());
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) finish(null);
      else chunks.push(chunk);
    });
    child.on('error', () => finish(null));
    child.on('close', (code) =>
      finish(code === 0 ? parseInventory(Buffer.concat(chunks).toString('utf8')) : null),
    );
  });
}

/**
 * How to start this program again: the single executable takes its arguments right after
 * itself (its argv[1] is itself too), `node dist/cli.js` needs the script before them.
 */
export function selfInvocation(
  execPath: string,
  argv: readonly string[],
  isSea: boolean,
): { command: string; args: string[] } {
  const script = argv[1];
  if (isSea || !script || script === execPath) return { command: execPath, args: [] };
  return { command: execPath, args: [script] };
}
