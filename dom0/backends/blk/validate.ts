// What blkback accepts from a frontend. A request that breaks a rule is answered with
// BLKIF_RSP_ERROR (or EOPNOTSUPP for an operation it does not offer) and changes nothing.
// Every check here runs on blkback's private copy of the request (request.ts), never on the
// shared ring, so what was checked is what is carried out.

import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_RSP,
  BLKIF_SECTOR_BYTES,
  type BlkifRequest,
  type BlkifRequestDiscard,
  type BlkifRequestIndirect,
} from '../../../protocol/xen/blkif.ts';
import { PAGE_SIZE } from '../../../protocol/xen/xen.ts';

/** Sectors per 4 KiB page: a segment's first_sect..last_sect lie in 0..7. */
export const SECTORS_PER_PAGE = PAGE_SIZE / BLKIF_SECTOR_BYTES;

/** Segments one indirect request may carry (feature-max-indirect-segments). */
export const MAX_INDIRECT_SEGMENTS = 256;

export interface DiskLimits {
  sectors: number;
  readonly: boolean;
}

/** Why a request is refused, and the status it is answered with. */
export interface Refusal {
  status: number;
  why: string;
}

/** Returns the status to answer a bad request with, or null if it may be carried out. */
export function checkRequest(req: BlkifRequest, disk: DiskLimits, maxSegments: number = BLKIF_MAX_SEGMENTS_PER_REQUEST): Refusal | null {
  const op = req.operation;
  if (op === BLKIF_OP.FLUSH_DISKCACHE) return null;
  if (op !== BLKIF_OP.READ && op !== BLKIF_OP.WRITE) return { status: BLKIF_RSP.EOPNOTSUPP, why: `operation ${op} is not offered` };
  if (op === BLKIF_OP.WRITE && disk.readonly) return { status: BLKIF_RSP.ERROR, why: 'write to a read-only disk' };
  const n = req.nr_segments;
  if (n === 0 || n > maxSegments || req.seg.length !== n) return { status: BLKIF_RSP.ERROR, why: `${n} segments (1..${maxSegments})` };
  let sectors = 0;
  for (const s of req.seg) {
    if (s.first_sect > s.last_sect || s.last_sect >= SECTORS_PER_PAGE) return { status: BLKIF_RSP.ERROR, why: `segment sectors ${s.first_sect}..${s.last_sect}` };
    sectors += s.last_sect - s.first_sect + 1;
  }
  const start = Number(req.sector_number);
  if (!Number.isSafeInteger(start) || start + sectors > disk.sectors) return { status: BLKIF_RSP.ERROR, why: `sectors ${req.sector_number}+${sectors} past the end (${disk.sectors})` };
  return null;
}

/** A BLKIF_OP_DISCARD: the disk is writable and the range lies inside it. */
export function checkDiscard(d: BlkifRequestDiscard, disk: DiskLimits): Refusal | null {
  const start = Number(d.sector_number);
  const count = Number(d.nr_sectors);
  if (disk.readonly || !Number.isSafeInteger(start + count) || start + count > disk.sectors) return { status: BLKIF_RSP.ERROR, why: 'discard out of range or read-only' };
  return null;
}

/**
 * A BLKIF_OP_INDIRECT before its segment pages are read: it carries a READ or WRITE and
 * 1..MAX_INDIRECT_SEGMENTS segments. The segments themselves are checked by checkRequest
 * once read (from blkback's one copy of each indirect page).
 */
export function checkIndirect(ind: BlkifRequestIndirect): Refusal | null {
  if (ind.indirect_op !== BLKIF_OP.READ && ind.indirect_op !== BLKIF_OP.WRITE) return { status: BLKIF_RSP.EOPNOTSUPP, why: `indirect operation ${ind.indirect_op}` };
  if (ind.nr_segments === 0 || ind.nr_segments > MAX_INDIRECT_SEGMENTS) return { status: BLKIF_RSP.ERROR, why: `${ind.nr_segments} indirect segments (1..${MAX_INDIRECT_SEGMENTS})` };
  return null;
}
