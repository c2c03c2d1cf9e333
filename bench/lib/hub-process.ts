/**
 * The reference hub as a process of its own (`dist/cli.js hub`), so the benchmarks measure it
 * from /proc apart from the clients that drive it, and neither steals the other's event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI_PATH } from '../../test/helpers/agent-process.js';

export interface HubProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  /** ws://127.0.0.1:<port>, to which /v1/device or /v1/stream is appended. */
  wsUrl: string;
  /** Everything the hub printed so far (its log lines, at `logLevel`). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a hub on a free loopback port that accepts `devices` (id → token) and `apiKey`;
 * `extraArgs` are more `hub` flags.
 */
export async function startHubProcess(
  devices: ReadonlyMap<string, string>,
  apiKey: string,
  logLevel = 'warn',
  extraArgs: readonly string[] = [],
): Promise<HubProcess> {
  const deviceArgs = [...devices].flatMap(([id, token]) => ['--device-token', `${id}=${token}`]);
  const child = spawn(
    process.execPath,
    [
      CLI_PATH,
      'hub',
      '--port',
      '0',
      '--api-key',
      apiKey,
      ...deviceArgs,
      '--log-level',
      logLevel,
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // The hub says where it listens on stderr, passed on here; stdout holds its log lines, read
  // always (a pipe nobody drains would block the hub's synchronous log writes).
  let banner = '';
  let logs = '';
  child.stdout?.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  const httpUrl = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
      process.stderr.write(chunk);
      const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
      if (url) resolve(url);
    });
    child.once('exit', (code) => reject(new Error(`hub exited (${code}): ${banner}${logs}`)));
  });
  return {
    child,
    pid: child.pid as number,
    port: Number(new URL(httpUrl).port),
    httpUrl,
    wsUrl: httpUrl.replace(/^http/, 'ws'),
    output: () => logs,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
