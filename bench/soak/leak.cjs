/**
 * A deliberate leak, loaded into the agent under soak with `--require` by
 * `npm run soak -- --leak-bytes-per-s N`: it keeps N bytes of strings a second, forever. It
 * shows that the soak's memory rule catches a leak of that size in a run of that length.
 */
const bytesPerSecond = Number(process.env.SOAK_LEAK_BYTES_PER_S);
const kept = [];
setInterval(() => {
  // A fresh one-byte string of bytesPerSecond / 10 characters, ten times a second.
  kept.push(`${Math.random()}`.padEnd(Math.max(1, Math.round(bytesPerSecond / 10)), 'x'));
}, 100).unref();
