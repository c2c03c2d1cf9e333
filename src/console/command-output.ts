import type { CommandDonePayload, CommandOutputPayload } from '../protocol/to-client.js';

/**
 * Turns a command's `command_output` chunks back into text for the terminal. Text chunks are
 * shown as they are; base64 chunks (bytes that are not valid UTF-8) go through one streaming
 * decoder per fd, so a character split across chunks still comes out whole and bytes that are
 * not text show as U+FFFD instead of breaking the page.
 */
export type OutputFd = CommandOutputPayload['fd'];

export class OutputDecoder {
  readonly #decoders = new Map<OutputFd, InstanceType<typeof TextDecoder>>();

  text(output: CommandOutputPayload): string {
    if (output.encoding !== 'base64') return output.chunk;
    let decoder = this.#decoders.get(output.fd);
    if (!decoder) {
      decoder = new TextDecoder('utf-8', { fatal: false });
      this.#decoders.set(output.fd, decoder);
    }
    return decoder.decode(base64Bytes(output.chunk), { stream: true });
  }
}

function base64Bytes(text: string): Uint8Array {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return new TextEncoder().encode('\uFFFD'); // not base64 after all: show that something was lost
  }
}

/** How a command ended, in one line: `exit 0 · 12 ms`, `cancelled · SIGTERM · 1.2 s`, … */
export function describeDone(done: CommandDonePayload): { text: string; ok: boolean } {
  const parts: string[] = [];
  if (done.cancelled) parts.push('cancelled');
  if (done.timed_out) parts.push('timed out');
  if (done.truncated) parts.push('output truncated');
  if (done.exit_code !== null) parts.push(`exit ${done.exit_code}`);
  if (done.signal) parts.push(done.signal);
  if (done.duration_ms !== undefined) parts.push(formatDuration(done.duration_ms));
  const ok = done.exit_code === 0 && !done.cancelled && !done.timed_out && !done.truncated;
  return { text: parts.join(' · '), ok };
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}
