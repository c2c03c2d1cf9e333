/**
 * V8's own account of its full collections, from a process started with `--trace-gc`: one line
 * per collection on stdout, such as
 *
 *     [4242:0x5d1c2a0]   123456 ms: Mark-Compact 15.5 (19.4) -> 11.6 (19.9) MB, 12.30 / 0.00 ms  …
 *
 * (ms since the isolate started; heap used before → after, committed in brackets). The heap a
 * full collection leaves is what the process keeps: its slope over a soak is a leak, whatever
 * RssAnon does. RssAnon also counts the garbage V8 lets pile up between full collections and the
 * pages it keeps committed after them, which under a light load can take many minutes to settle.
 */
export interface FullCollection {
  /** ms since the process's isolate started. */
  atMs: number;
  /** Heap used after the collection, MiB (V8 prints MB meaning MiB). */
  afterMiB: number;
  /** Heap committed after it, MiB. */
  committedMiB: number;
}

const MARK_COMPACT =
  /\s(\d+(?:\.\d+)?) ms: Mark-Compact(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/;

/** The full collections in `text` (any other line is ignored), in order. */
export function fullCollections(text: string): FullCollection[] {
  const found: FullCollection[] = [];
  for (const line of text.split('\n')) {
    const match = MARK_COMPACT.exec(line);
    if (!match) continue;
    found.push({
      atMs: Number(match[1]),
      afterMiB: Number(match[2]),
      committedMiB: Number(match[3]),
    });
  }
  return found;
}
