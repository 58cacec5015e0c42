// What blkback accepts from a frontend. A request that breaks a rule is answered with
// BLKIF_RSP_ERROR (or EOPNOTSUPP for an operation it does not offer) and changes nothing.

import { BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP, BLKIF_RSP, type BlkifRequest } from '../../../protocol/xen/blkif.ts';

/** Sectors per 4 KiB page: a segment's first_sect..last_sect lie in 0..7. */
export const SECTORS_PER_PAGE = 8;

export interface DiskLimits {
  sectors: number;
  readonly: boolean;
}

/** Returns the status to answer a bad request with, or null if it may be carried out. */
export function checkRequest(req: BlkifRequest, disk: DiskLimits, maxSegments: number = BLKIF_MAX_SEGMENTS_PER_REQUEST): { status: number; why: string } | null {
  const op = req.operation;
  if (op === BLKIF_OP.FLUSH_DISKCACHE) return null;
  if (op !== BLKIF_OP.READ && op !== BLKIF_OP.WRITE) return { status: BLKIF_RSP.EOPNOTSUPP, why: `operation ${op} is not offered` };
  if (op === BLKIF_OP.WRITE && disk.readonly) return { status: BLKIF_RSP.ERROR, why: 'write to a read-only disk' };
  const n = req.nr_segments;
  if (n === 0 || n > maxSegments) return { status: BLKIF_RSP.ERROR, why: `${n} segments (1..${maxSegments})` };
  let sectors = 0;
  for (const s of req.seg) {
    if (s.first_sect > s.last_sect || s.last_sect >= SECTORS_PER_PAGE) return { status: BLKIF_RSP.ERROR, why: `segment sectors ${s.first_sect}..${s.last_sect}` };
    sectors += s.last_sect - s.first_sect + 1;
  }
  const start = Number(req.sector_number);
  if (!Number.isSafeInteger(start) || start + sectors > disk.sectors) return { status: BLKIF_RSP.ERROR, why: `sectors ${req.sector_number}+${sectors} past the end (${disk.sectors})` };
  return null;
}
