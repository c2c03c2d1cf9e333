/** The rows of a fixed-height list to put in the page: `start` inclusive, `end` exclusive. */
export interface RowWindow {
  start: number;
  end: number;
}

/**
 * Which of `count` rows of `rowHeightPx` each a viewport scrolled to `scrollTopPx` and
 * `viewportHeightPx` tall shows, plus `overscanRows` on each side so a fast scroll does not
 * show blank space before the next frame fills it. Only these rows exist in the DOM, so the
 * list costs the same at 10 devices and at 10,000.
 */
export function rowWindow(
  scrollTopPx: number,
  viewportHeightPx: number,
  rowHeightPx: number,
  count: number,
  overscanRows: number,
): RowWindow {
  if (count <= 0 || rowHeightPx <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTopPx) / rowHeightPx);
  const last = Math.ceil((Math.max(0, scrollTopPx) + Math.max(0, viewportHeightPx)) / rowHeightPx);
  const start = Math.min(count, Math.max(0, first - overscanRows));
  const end = Math.min(count, Math.max(start, last + overscanRows));
  return { start, end };
}
