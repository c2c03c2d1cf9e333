import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the polynomial zlib, gzip and PNG use): a checksum per spool record is
 * what tells a torn write from a good one. zlib's native `crc32` where Node has it (20.15 and
 * later): the table-driven one below runs at about 120 MB/s, which capped raw command output
 * through the spool (issue 15); native is some 20 times that.
 */
function makeTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** Read-only after construction: a constant, not state. */
const TABLE = makeTable();

type NativeCrc32 = (data: Uint8Array) => number;
/** Absent before Node 20.15 (the engines field allows 20.11). */
const native = (zlib as { crc32?: NativeCrc32 }).crc32;

/** The CRC-32 of `data[start, end)`, table-driven (the reference the native one is tested against). */
export function tableCrc32(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c = (TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** The CRC-32 of `data[start, end)`. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  if (native) return native(data.subarray(start, end)) >>> 0;
  return tableCrc32(data, start, end);
}
