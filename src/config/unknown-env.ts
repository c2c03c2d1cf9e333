import { envName } from './schema.js';

/**
 * IOTTLY_* variables that are no configuration key. Most are typos (IOTTLY_SERVER_ULR), which
 * would otherwise be ignored without a word; but other software may use the prefix too, so they
 * are warnings, never errors. The closest known name is offered when it is a few edits away.
 */
const PREFIX = 'IOTTLY_';
/** Set by the agent itself for the routines an app calls (local.actions): not configuration. */
const AGENT_SET_NAMES = ['IOTTLY_CALL_APP', 'IOTTLY_CALL_ARGS'];
/** At most this many edits (and a third of the name) still reads as a typo. */
const MAX_SUGGESTION_DISTANCE = 3;
/** Longer names are not compared: the distance costs length², and no key is this long. */
const MAX_COMPARED_LENGTH = 128;

export function unknownEnvironmentWarnings(
  env: Record<string, string | undefined>,
  keys: string[],
): string[] {
  const known = new Set([...keys.map(envName), ...AGENT_SET_NAMES]);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(PREFIX) || known.has(name) || env[name] === undefined) continue;
    const suggestion = closestName(name, known);
    warnings.push(
      `unknown environment variable ${name} (ignored)${suggestion ? `; did you mean ${suggestion}?` : ''}`,
    );
  }
  return warnings;
}

function closestName(name: string, known: Set<string>): string | undefined {
  if (name.length > MAX_COMPARED_LENGTH) return undefined;
  const limit = Math.min(MAX_SUGGESTION_DISTANCE, Math.floor((name.length - PREFIX.length) / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
