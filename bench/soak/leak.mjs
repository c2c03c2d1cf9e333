/**
 * A deliberate leak, loaded into the agent under soak with `--import` by
 * `npm run soak -- --leak-bytes-per-s N`: it keeps N bytes of strings a second, forever. It
 * shows that the soak's memory rule catches a leak of that size in a run of that length.
 */
import { randomBytes } from 'node:crypto';

const bytesPerSecond = Number(process.env.SOAK_LEAK_BYTES_PER_S);
const kept = [];
setInterval(() => {
  // A flat one-byte string of bytesPerSecond / 10 characters, ten times a second: hex of random
  // bytes, since padEnd or repeat build strings that share their parts and keep far less.
  kept.push(randomBytes(Math.max(1, Math.round(bytesPerSecond / 20))).toString('hex'));
}, 100).unref();
