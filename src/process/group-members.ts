import { readFileSync, readdirSync } from 'node:fs';

/**
 * Which processes of a process group are still running, read from `/proc`. `kill(-pgid, 0)`
 * alone also counts zombies: the members of a command's group are reparented to init when
 * their leader exits, and an init that reaps slowly (a container's) would make an ended
 * group look alive for a second or more.
 */
export interface ProcReader {
  readdir(path: string): string[];
  readFile(path: string): string;
}

export const procFs: ProcReader = {
  readdir: (path) => readdirSync(path),
  readFile: (path) => readFileSync(path, 'utf8'),
};

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  /** The session id (the pid of the session's leader: a terminal session's shell). */
  session: number;
}

/** Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const [state, ppid, pgrp, session] = text.slice(close + 2).split(' ');
  if (!state || ppid === undefined || pgrp === undefined || !Number.isInteger(pid)) return null;
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session ?? NaN) };
}

/** Every process under `procRoot`, skipping those that end while being read. */
export function listProcesses(procRoot = '/proc', reader: ProcReader = procFs): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of reader.readdir(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseProcStat(reader.readFile(`${procRoot}/${name}/stat`));
      if (stat) out.push(stat);
    } catch {
      // gone between readdir and read
    }
  }
  return out;
}

/** Members of `pgid` that are not zombies. */
export function runningMembers(
  pgid: number,
  procRoot = '/proc',
  reader: ProcReader = procFs,
): ProcStat[] {
  return listProcesses(procRoot, reader).filter((p) => p.pgrp === pgid && p.state !== 'Z');
}

/**
 * Processes of a terminal session that still run: members of the session `sid` (the shell and
 * every job it started, in whatever process group) and of the process group `pgid` (`script`,
 * which holds the terminal's master side). Only a process that made a session of its own
 * (`setsid`, a daemon) leaves both.
 */
export function sessionMembers(
  sid: number,
  pgid: number,
  procRoot = '/proc',
  reader: ProcReader = procFs,
): ProcStat[] {
  return listProcesses(procRoot, reader).filter(
    (p) => (p.session === sid || p.pgrp === pgid) && p.state !== 'Z',
  );
}
