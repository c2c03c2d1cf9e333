import { absolutePath } from './program-path.js';

/**
 * The environment every child the agent starts (a command, an action, a command stream) begins
 * from: the agent's own without its settings (IOTTLY_*: tokens must not leak), and with
 * only the absolute entries of its PATH (a relative one would search the request's cwd).
 */
export function childBaseEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && !key.startsWith('IOTTLY_')) out[key] = value;
  }
  if (out.PATH !== undefined) out.PATH = absolutePath(out.PATH);
  return out;
}
