import type { Socket } from 'node:net';

/**
 * Ends a TCP connection with a reset (RST), as a dropped link would, where Node can.
 *
 * Once the peer's FIN has arrived, Node ends this side too (allowHalfOpen is off), and while
 * that shutdown is in flight Node 20's `resetAndDestroy()` fails with `reset EINVAL` and marks
 * the handle as closing without closing it. Nothing then closes it, so when the process exits
 * it loops in its handle clean-up at 100 % CPU for good: the "test file passed, then timed out"
 * of test/faults. A plain destroy is right there anyway: both FINs are already on their way.
 */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}
