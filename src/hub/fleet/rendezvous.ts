import { createHash } from 'node:crypto';

/**
 * Which hub owns a device: among the hubs present, the one with the highest
 * `sha256(hub + "/" + deviceId)` (rendezvous hashing). Every hub computes the same answer from
 * the same set, with no coordination; when a hub comes or goes only its own devices move.
 */
export function ownerOf(deviceId: string, hubs: Iterable<string>): string | null {
  let best: string | null = null;
  let bestScore = '';
  for (const hub of hubs) {
    const score = createHash('sha256').update(`${hub}/${deviceId}`).digest('hex');
    if (best === null || score > bestScore || (score === bestScore && hub > best)) {
      best = hub;
      bestScore = score;
    }
  }
  return best;
}
