import { join } from 'node:path';
import { storeId } from '../protocol/fields.js';
import { isPlainObject } from '../protocol/schema.js';
import { LANES } from './lanes.js';
import type { DropRecord } from './drop-ledger.js';
import type { SpoolFs } from './spool-fs.js';

/**
 * The spool's small state file, `store.json`, replaced atomically (write, then rename):
 *
 * - `store_id`: made when the spool is created, sent in `hello`; a new one tells the hub that
 *   this device's seqs start over (a wiped spool), not that it is replaying.
 * - `device_id`: the device whose messages the store holds; a store of another device is never
 *   replayed under this one (absent in files of earlier versions: adopted by the device).
 * - `acked_seq`: the hub's last acknowledgement, so a restart resends nothing it confirmed.
 * - `seq_floor`: the highest seq ever given out whose segment is gone, so the counter never
 *   goes back below a seq the hub may have seen.
 * - `drops`: dropped messages not yet reported upstream.
 */
export interface StoreMeta {
  storeId: string;
  /** Undefined: written by an earlier version, which did not record it. */
  deviceId?: string;
  ackedSeq: number;
  seqFloor: number;
  drops: DropRecord[];
}

export const META_FILE = 'store.json';

const storeIdField = storeId();

export function metaPath(dir: string): string {
  return join(dir, META_FILE);
}

/** The stored meta, or null when there is none or it cannot be understood. */
export function readMeta(fs: SpoolFs, dir: string): StoreMeta | null {
  let decoded: unknown;
  try {
    decoded = JSON.parse(fs.readFile(metaPath(dir)).toString('utf8'));
  } catch {
    return null;
  }
  if (!isPlainObject(decoded)) return null;
  const { store_id, device_id, acked_seq, seq_floor, drops } = decoded;
  if (typeof store_id !== 'string' || !storeIdField(store_id, 'store_id').ok) return null;
  return {
    storeId: store_id,
    ...(typeof device_id === 'string' ? { deviceId: device_id } : {}),
    ackedSeq: seqOrZero(acked_seq),
    seqFloor: seqOrZero(seq_floor),
    drops: Array.isArray(drops) ? drops.filter(isDropRecord) : [],
  };
}

export function writeMeta(fs: SpoolFs, dir: string, meta: StoreMeta): void {
  fs.replaceFile(
    metaPath(dir),
    `${JSON.stringify({
      version: 1,
      store_id: meta.storeId,
      device_id: meta.deviceId,
      acked_seq: meta.ackedSeq,
      seq_floor: meta.seqFloor,
      drops: meta.drops,
    })}\n`,
  );
}

function seqOrZero(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

function isDropRecord(value: unknown): value is DropRecord {
  return (
    isPlainObject(value) &&
    (LANES as readonly unknown[]).includes(value.lane) &&
    typeof value.reason === 'string' &&
    typeof value.count === 'number' &&
    typeof value.first_seq === 'number' &&
    typeof value.last_seq === 'number' &&
    typeof value.from === 'string' &&
    typeof value.to === 'string' &&
    (value.store_id === undefined || typeof value.store_id === 'string')
  );
}
