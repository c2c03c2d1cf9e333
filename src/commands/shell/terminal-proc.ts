import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { sessionMembers } from '../../process/group-members.js';
import type { TerminalProc } from './terminal-session.js';

/** The real /proc for TerminalSession: fd links, first child, the session's members. */
export function procTerminal(procRoot = '/proc'): TerminalProc {
  return {
    fdTargets(pid) {
      const dir = `${procRoot}/${pid}/fd`;
      const out: string[] = [];
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return out;
      }
      for (const name of names) {
        // 0–2 are the pipes to the agent; the terminal's ends come after.
        if (Number(name) < 3) continue;
        try {
          out.push(readlinkSync(`${dir}/${name}`));
        } catch {
          // closed since listed
        }
      }
      return out;
    },
    firstChild(pid) {
      try {
        const text = readFileSync(`${procRoot}/${pid}/task/${pid}/children`, 'utf8').trim();
        const first = Number.parseInt(text, 10);
        return Number.isInteger(first) ? first : null;
      } catch {
        return null;
      }
    },
    members(sid, pgid) {
      return sessionMembers(sid, pgid, procRoot).map((p) => p.pid);
    },
  };
}
