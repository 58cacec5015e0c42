// Xen's paravirtual block interface (xen/io/blkif.h) as compiled for RV32 ilp32, plus the
// shared-ring page layout of xen/io/ring.h that carries it. tests/xen-abi-io.test.ts pins
// every number and offset below to Xen's headers (with __i386__, as docs/abi.md defines
// riscv32's architecture part).
//
// The frontend (guest) grants one ring page to the backend and publishes it in xenstore
// (ring-ref, event-channel); requests and responses share the ring's slots:
//
//   frontend  writes a blkif_request into slot req_prod & (size-1), bumps req_prod, notifies
//   backend   reads it, does the I/O on the granted segment frames, writes a blkif_response
//             (same id, operation; status BLKIF_RSP_*) into slot rsp_prod & (size-1)
//
// A segment names one granted 4 KiB frame and the 512-byte sectors [first_sect, last_sect]
// in it that the request transfers (so 0 <= first_sect <= last_sect <= 7).
//
// Layout notes for RV32 ilp32 (uint64_t is 8-byte aligned, unlike i386):
//   - blkif_request has 4 bytes of padding after `handle`: id is at 8, not 4, and the
//     struct is 112 bytes (i386's is 108). So this is NOT the "x86_32-abi" protocol;
//     a backend told protocol=x86_32-abi would misread every request.
//   - blkif_request_indirect keeps the trailing `uint64_t pad` that the header adds under
//     __i386__: 72 bytes here (64 without it). Only sizeof changes; no field moves.

// ---------------------------------------------------------------------------------------
// Shared ring (xen/io/ring.h), common to every split-driver ring.

// The shared ring header and sizing are defined once, in protocol/ring.ts.
import { SRING, ringSize } from '../ring.ts';
import { PAGE_SIZE } from './xen.ts';

// ---------------------------------------------------------------------------------------
// Operations, statuses, limits.

/** blkif_request.operation. */
export const BLKIF_OP = {
  READ: 0,
  WRITE: 1,
  /** Write, ordered after every earlier request and durable before completion (feature-barrier). */
  WRITE_BARRIER: 2,
  /** Flush the backend's write cache (feature-flush-cache). */
  FLUSH_DISKCACHE: 3,
  /** Reserved: an old, never-upstreamed operation number. */
  RESERVED_1: 4,
  /** Discard sectors (feature-discard); the request is a blkif_request_discard. */
  DISCARD: 5,
  /** READ/WRITE with segments listed in granted pages (feature-max-indirect-segments). */
  INDIRECT: 6,
} as const;

/** blkif_response.status (int16_t). */
export const BLKIF_RSP = {
  OKAY: 0,
  ERROR: -1,
  /** The backend does not support this operation (e.g. barrier or flush withdrawn). */
  EOPNOTSUPP: -2,
} as const;

/** Segments carried directly in a blkif_request. */
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
/** Granted pages of segment descriptors that one indirect request may name. */
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;
/** blkif_request_discard.flag: secure erase (only if the backend sets discard-secure). */
export const BLKIF_DISCARD_SECURE = 1 << 0;
/** Bits of the backend's `info` node. */
export const VDISK = { CDROM: 0x1, REMOVABLE: 0x2, READONLY: 0x4 } as const;

/** Sector numbers and first/last_sect are always in 512-byte units, whatever sector-size says. */
export const BLKIF_SECTOR_BYTES = 512;

// ---------------------------------------------------------------------------------------
// Structures.

/** struct blkif_request_segment { grant_ref_t gref; uint8_t first_sect, last_sect; } */
export const BLKIF_REQUEST_SEGMENT = { gref: 0, first_sect: 4, last_sect: 5, SIZE: 8 } as const;

/** Segment descriptors per indirect page (PAGE_SIZE / sizeof(struct blkif_request_segment)). */
export const BLKIF_SEGMENTS_PER_INDIRECT_FRAME = PAGE_SIZE / BLKIF_REQUEST_SEGMENT.SIZE;

/**
 * struct blkif_request { uint8_t operation; uint8_t nr_segments; blkif_vdev_t handle (u16);
 * [4 bytes padding] uint64_t id; blkif_sector_t sector_number (u64); seg[11]; }
 */
export const BLKIF_REQUEST = { operation: 0, nr_segments: 1, handle: 2, id: 8, sector_number: 16, seg: 24, SIZE: 112 } as const;

/**
 * struct blkif_request_discard { uint8_t operation; uint8_t flag; blkif_vdev_t handle;
 * [4] uint64_t id; blkif_sector_t sector_number; uint64_t nr_sectors; }
 */
export const BLKIF_REQUEST_DISCARD = { operation: 0, flag: 1, handle: 2, id: 8, sector_number: 16, nr_sectors: 24, SIZE: 32 } as const;

/**
 * struct blkif_request_indirect { uint8_t operation; uint8_t indirect_op; uint16_t nr_segments;
 * [4] uint64_t id; blkif_sector_t sector_number; blkif_vdev_t handle; [2]
 * grant_ref_t indirect_grefs[8]; [4] uint64_t pad; }  (pad: present under __i386__)
 */
export const BLKIF_REQUEST_INDIRECT = {
  operation: 0,
  indirect_op: 1,
  nr_segments: 2,
  id: 8,
  sector_number: 16,
  handle: 24,
  indirect_grefs: 28,
  pad: 64,
  SIZE: 72,
} as const;

/** struct blkif_response { uint64_t id; uint8_t operation; [1] int16_t status; [4] } */
export const BLKIF_RESPONSE = { id: 0, operation: 8, status: 10, SIZE: 16 } as const;

/** union blkif_sring_entry: the larger of request and response. */
export const BLKIF_RING_ENTRY_SIZE = Math.max(BLKIF_REQUEST.SIZE, BLKIF_RESPONSE.SIZE);
/** __CONST_RING_SIZE(blkif, 4096): (4096 - 64) / 112 = 36, rounded down to 32. */
export const BLKIF_RING_SIZE = ringSize(PAGE_SIZE, BLKIF_RING_ENTRY_SIZE);

/** Byte offset of ring slot `idx` (a free-running index) within the ring page. */
export function blkifRingSlot(idx: number): number {
  return SRING.ring + (idx & (BLKIF_RING_SIZE - 1)) * BLKIF_RING_ENTRY_SIZE;
}

// ---------------------------------------------------------------------------------------
// Typed read/write helpers. Ids and sector numbers are 64-bit and returned as bigint.

export interface BlkifSegment {
  gref: number;
  first_sect: number;
  last_sect: number;
}

export interface BlkifRequest {
  operation: number;
  nr_segments: number;
  handle: number;
  id: bigint;
  sector_number: bigint;
  /** The first nr_segments entries (at most BLKIF_MAX_SEGMENTS_PER_REQUEST are read). */
  seg: BlkifSegment[];
}

export interface BlkifRequestDiscard {
  operation: number;
  flag: number;
  handle: number;
  id: bigint;
  sector_number: bigint;
  nr_sectors: bigint;
}

export interface BlkifRequestIndirect {
  operation: number;
  indirect_op: number;
  nr_segments: number;
  id: bigint;
  sector_number: bigint;
  handle: number;
  /** All BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST slots; the used ones are the first
   * ceil(nr_segments / BLKIF_SEGMENTS_PER_INDIRECT_FRAME). */
  indirect_grefs: number[];
}

export interface BlkifResponse {
  id: bigint;
  operation: number;
  status: number;
}

export function readBlkifSegment(dv: DataView, off: number): BlkifSegment {
  return {
    gref: dv.getUint32(off + BLKIF_REQUEST_SEGMENT.gref, true),
    first_sect: dv.getUint8(off + BLKIF_REQUEST_SEGMENT.first_sect),
    last_sect: dv.getUint8(off + BLKIF_REQUEST_SEGMENT.last_sect),
  };
}

export function writeBlkifSegment(dv: DataView, off: number, s: BlkifSegment): void {
  dv.setUint32(off + BLKIF_REQUEST_SEGMENT.gref, s.gref >>> 0, true);
  dv.setUint8(off + BLKIF_REQUEST_SEGMENT.first_sect, s.first_sect);
  dv.setUint8(off + BLKIF_REQUEST_SEGMENT.last_sect, s.last_sect);
  dv.setUint16(off + 6, 0, true);
}

/** Reads a request; segments beyond min(nr_segments, 11) are not read (a guest may lie). */
export function readBlkifRequest(dv: DataView, off: number): BlkifRequest {
  const nr = dv.getUint8(off + BLKIF_REQUEST.nr_segments);
  const seg: BlkifSegment[] = [];
  for (let i = 0; i < Math.min(nr, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++) {
    seg.push(readBlkifSegment(dv, off + BLKIF_REQUEST.seg + i * BLKIF_REQUEST_SEGMENT.SIZE));
  }
  return {
    operation: dv.getUint8(off + BLKIF_REQUEST.operation),
    nr_segments: nr,
    handle: dv.getUint16(off + BLKIF_REQUEST.handle, true),
    id: dv.getBigUint64(off + BLKIF_REQUEST.id, true),
    sector_number: dv.getBigUint64(off + BLKIF_REQUEST.sector_number, true),
    seg,
  };
}

/** Writes a request (padding zeroed); `seg` must hold at most 11 entries. */
export function writeBlkifRequest(dv: DataView, off: number, r: BlkifRequest): void {
  if (r.seg.length > BLKIF_MAX_SEGMENTS_PER_REQUEST) throw new RangeError(`${r.seg.length} segments > ${BLKIF_MAX_SEGMENTS_PER_REQUEST}`);
  dv.setUint8(off + BLKIF_REQUEST.operation, r.operation);
  dv.setUint8(off + BLKIF_REQUEST.nr_segments, r.nr_segments);
  dv.setUint16(off + BLKIF_REQUEST.handle, r.handle, true);
  dv.setUint32(off + 4, 0, true);
  dv.setBigUint64(off + BLKIF_REQUEST.id, BigInt.asUintN(64, r.id), true);
  dv.setBigUint64(off + BLKIF_REQUEST.sector_number, BigInt.asUintN(64, r.sector_number), true);
  for (let i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
    const s = r.seg[i] ?? { gref: 0, first_sect: 0, last_sect: 0 };
    writeBlkifSegment(dv, off + BLKIF_REQUEST.seg + i * BLKIF_REQUEST_SEGMENT.SIZE, s);
  }
}

export function readBlkifRequestDiscard(dv: DataView, off: number): BlkifRequestDiscard {
  return {
    operation: dv.getUint8(off + BLKIF_REQUEST_DISCARD.operation),
    flag: dv.getUint8(off + BLKIF_REQUEST_DISCARD.flag),
    handle: dv.getUint16(off + BLKIF_REQUEST_DISCARD.handle, true),
    id: dv.getBigUint64(off + BLKIF_REQUEST_DISCARD.id, true),
    sector_number: dv.getBigUint64(off + BLKIF_REQUEST_DISCARD.sector_number, true),
    nr_sectors: dv.getBigUint64(off + BLKIF_REQUEST_DISCARD.nr_sectors, true),
  };
}

export function writeBlkifRequestDiscard(dv: DataView, off: number, r: BlkifRequestDiscard): void {
  dv.setUint8(off + BLKIF_REQUEST_DISCARD.operation, r.operation);
  dv.setUint8(off + BLKIF_REQUEST_DISCARD.flag, r.flag);
  dv.setUint16(off + BLKIF_REQUEST_DISCARD.handle, r.handle, true);
  dv.setUint32(off + 4, 0, true);
  dv.setBigUint64(off + BLKIF_REQUEST_DISCARD.id, BigInt.asUintN(64, r.id), true);
  dv.setBigUint64(off + BLKIF_REQUEST_DISCARD.sector_number, BigInt.asUintN(64, r.sector_number), true);
  dv.setBigUint64(off + BLKIF_REQUEST_DISCARD.nr_sectors, BigInt.asUintN(64, r.nr_sectors), true);
}

export function readBlkifRequestIndirect(dv: DataView, off: number): BlkifRequestIndirect {
  const indirect_grefs: number[] = [];
  for (let i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++) {
    indirect_grefs.push(dv.getUint32(off + BLKIF_REQUEST_INDIRECT.indirect_grefs + 4 * i, true));
  }
  return {
    operation: dv.getUint8(off + BLKIF_REQUEST_INDIRECT.operation),
    indirect_op: dv.getUint8(off + BLKIF_REQUEST_INDIRECT.indirect_op),
    nr_segments: dv.getUint16(off + BLKIF_REQUEST_INDIRECT.nr_segments, true),
    id: dv.getBigUint64(off + BLKIF_REQUEST_INDIRECT.id, true),
    sector_number: dv.getBigUint64(off + BLKIF_REQUEST_INDIRECT.sector_number, true),
    handle: dv.getUint16(off + BLKIF_REQUEST_INDIRECT.handle, true),
    indirect_grefs,
  };
}

export function writeBlkifRequestIndirect(dv: DataView, off: number, r: BlkifRequestIndirect): void {
  if (r.indirect_grefs.length > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST) {
    throw new RangeError(`${r.indirect_grefs.length} indirect pages > ${BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST}`);
  }
  dv.setUint8(off + BLKIF_REQUEST_INDIRECT.operation, r.operation);
  dv.setUint8(off + BLKIF_REQUEST_INDIRECT.indirect_op, r.indirect_op);
  dv.setUint16(off + BLKIF_REQUEST_INDIRECT.nr_segments, r.nr_segments, true);
  dv.setUint32(off + 4, 0, true);
  dv.setBigUint64(off + BLKIF_REQUEST_INDIRECT.id, BigInt.asUintN(64, r.id), true);
  dv.setBigUint64(off + BLKIF_REQUEST_INDIRECT.sector_number, BigInt.asUintN(64, r.sector_number), true);
  dv.setUint16(off + BLKIF_REQUEST_INDIRECT.handle, r.handle, true);
  dv.setUint16(off + BLKIF_REQUEST_INDIRECT.handle + 2, 0, true);
  for (let i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++) {
    dv.setUint32(off + BLKIF_REQUEST_INDIRECT.indirect_grefs + 4 * i, (r.indirect_grefs[i] ?? 0) >>> 0, true);
  }
  dv.setUint32(off + BLKIF_REQUEST_INDIRECT.indirect_grefs + 4 * BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, 0, true);
  dv.setBigUint64(off + BLKIF_REQUEST_INDIRECT.pad, 0n, true);
}

export function readBlkifResponse(dv: DataView, off: number): BlkifResponse {
  return {
    id: dv.getBigUint64(off + BLKIF_RESPONSE.id, true),
    operation: dv.getUint8(off + BLKIF_RESPONSE.operation),
    status: dv.getInt16(off + BLKIF_RESPONSE.status, true),
  };
}

/** Writes a response (padding zeroed, so no stale request bytes leak through the slot). */
export function writeBlkifResponse(dv: DataView, off: number, r: BlkifResponse): void {
  dv.setBigUint64(off + BLKIF_RESPONSE.id, BigInt.asUintN(64, r.id), true);
  dv.setUint8(off + BLKIF_RESPONSE.operation, r.operation);
  dv.setUint8(off + BLKIF_RESPONSE.operation + 1, 0);
  dv.setInt16(off + BLKIF_RESPONSE.status, r.status, true);
  dv.setUint32(off + 12, 0, true);
}

// ---------------------------------------------------------------------------------------
// XenStore nodes. Frontend nodes live under /local/domain/<domU>/device/vbd/<vdev>/,
// backend nodes under /local/domain/<backend>/backend/vbd/<domU>/<vdev>/.

/** Nodes the backend (or the toolstack, in its directory) writes. */
export const BLKBACK_KEY = {
  /** "r" or "w": the access the frontend is granted to the backing store. */
  mode: 'mode',
  /** Toolstack-private description of the backing store, for the hotplug script. */
  params: 'params',
  /** "file", "phy" or "tap": the kind of backing object. */
  type: 'type',
  /** "MAJOR:MINOR" of the backing block device. */
  physical_device: 'physical-device',
  /** Absolute path of the backing disk image or device. */
  physical_device_path: 'physical-device-path',
  /** Boolean: O_DIRECT is safe on this storage. */
  direct_io_safe: 'direct-io-safe',
  /** Boolean: BLKIF_OP_WRITE_BARRIER is accepted. */
  feature_barrier: 'feature-barrier',
  /** Boolean: BLKIF_OP_FLUSH_DISKCACHE is accepted. */
  feature_flush_cache: 'feature-flush-cache',
  /** Boolean: BLKIF_OP_DISCARD is accepted. */
  feature_discard: 'feature-discard',
  /** Boolean: the backend can keep the frontend's grants mapped across requests. */
  feature_persistent: 'feature-persistent',
  /** Max segments of a BLKIF_OP_INDIRECT request; absent = no indirect requests. */
  feature_max_indirect_segments: 'feature-max-indirect-segments',
  /** Largest ring the backend accepts, as log2(pages). */
  max_ring_page_order: 'max-ring-page-order',
  /** Largest ring the backend accepts, in pages (deprecated form). */
  max_ring_pages: 'max-ring-pages',
  /** Toolstack: boolean, offer discard to the frontend (default 1). */
  discard_enable: 'discard-enable',
  /** Bytes from the start of the disk to the first discard extent. */
  discard_alignment: 'discard-alignment',
  /** Size in bytes of one discard extent (default sector-size). */
  discard_granularity: 'discard-granularity',
  /** Boolean: BLKIF_DISCARD_SECURE is honoured. */
  discard_secure: 'discard-secure',
  /** VDISK_* bitmap: cdrom, removable, read-only. */
  info: 'info',
  /** Logical block size in bytes (power of two, >= 512; 512 unless feature-large-sector-size). */
  sector_size: 'sector-size',
  /** Physical block size in bytes, a multiple of sector-size. */
  physical_sector_size: 'physical-sector-size',
  /** Disk size in units of sector-size. */
  sectors: 'sectors',
} as const;

/** Nodes the frontend (or the toolstack, in its directory) writes. */
export const BLKFRONT_KEY = {
  /** Grant reference of the single ring page (a multi-page ring uses ring-ref0, ring-ref1, ...). */
  ring_ref: 'ring-ref',
  /** Event channel port (in the frontend's domain) signalling ring activity. */
  event_channel: 'event-channel',
  /** XEN_IO_PROTO_ABI_* name of the ring layout; absent = the backend's native layout. */
  protocol: 'protocol',
  /** Size of the frontend's ring, as log2(pages). */
  ring_page_order: 'ring-page-order',
  /** Size of the frontend's ring, in pages (deprecated form). */
  num_ring_pages: 'num-ring-pages',
  /** Boolean: the frontend reuses the same grants for all requests. */
  feature_persistent: 'feature-persistent',
  /** Boolean: the frontend honours a sector-size other than 512. */
  feature_large_sector_size: 'feature-large-sector-size',
  /** Toolstack: boolean, "0" = the frontend should not trust the backend. */
  trusted: 'trusted',
  /** Toolstack: "disk", "cdrom", "floppy", ... */
  device_type: 'device-type',
  /** Toolstack: the virtual device number (docs/misc/vbd-interface.txt encoding). */
  virtual_device: 'virtual-device',
} as const;

/**
 * Values of the `protocol` node (xen/io/protocols.h). "x86_32-abi" does NOT match RV32 ilp32
 * (i386 packs id at 4). The ring-carried layouts above coincide with x86_64's (no longs or
 * pointers; u64 naturally aligned), so a frontend should write nothing (native) or x86_64-abi.
 */
export const XEN_IO_PROTO_ABI = { X86_32: 'x86_32-abi', X86_64: 'x86_64-abi', ARM: 'arm-abi' } as const;
