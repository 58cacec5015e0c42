// virtio-blk (virtio 1.2, 5.2) over the same raw image files as blkback: the BlockStore of
// dom0/backends/blk/store.ts (FileBlockStore: sparse create, sector reads and writes,
// fsync, discard as zeros). One request queue.
//
// A request is a chain: 16 device-readable header bytes {type u32, reserved u32, sector
// u64}, then the data (device-readable for OUT, DISCARD and WRITE_ZEROES; device-writable
// for IN and GET_ID), then one device-writable status byte, the chain's last byte. The
// layout of the bytes over the chain's buffers is free (any framing, as 1.2 requires).
//
// Status (5.2.6):
//   OK      done (FLUSH: after fsync returned)
//   IOERR   a write to a read-only disk (nothing written), data not whole 512-byte sectors,
//           over the limits in config, past the capacity, a short header, a host I/O error
//   UNSUPP  an unknown type, DISCARD / WRITE_ZEROES not negotiated (never offered on a
//           read-only disk), a reserved flag in a DISCARD / WRITE_ZEROES segment, or
//           DISCARD with the unmap flag (5.2.6.2)
// A chain with no device-writable byte cannot carry a status: DEVICE_NEEDS_RESET.

import { BlockStoreError, type BlockStore } from '../../backends/blk/store.ts';
import { bit, readConfigLe, type VirtioBackend, type VirtioMmio } from './mmio.ts';
import { VirtqueueError, type DescChain } from './virtqueue.ts';

export const VIRTIO_ID_BLOCK = 2;

export const VIRTIO_BLK_F = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

export const VIRTIO_BLK_T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;
export const VIRTIO_BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
export const VIRTIO_BLK_ID_BYTES = 20;
export const SECTOR = 512;

/** Limits published in config space, and enforced. */
export const VIRTIO_BLK_LIMITS = {
  queueMax: 128,
  /** size_max: bytes in one data buffer. */
  sizeMax: 0x10000,
  /** seg_max: data buffers in one request (queue size minus header and status). */
  segMax: 126,
  /** Sectors one DISCARD / WRITE_ZEROES segment may cover (4 MiB: they are written as zeros). */
  maxDiscardSectors: 8192,
  maxDiscardSeg: 1,
  maxWriteZeroesSectors: 8192,
  maxWriteZeroesSeg: 1,
} as const;

/** Config space (5.2.4) byte offsets; 60 bytes up to write_zeroes_may_unmap and padding. */
const CFG = {
  capacity: 0,
  size_max: 8,
  seg_max: 12,
  blk_size: 20,
  num_queues: 34,
  max_discard_sectors: 36,
  max_discard_seg: 40,
  discard_sector_alignment: 44,
  max_write_zeroes_sectors: 48,
  max_write_zeroes_seg: 52,
  write_zeroes_may_unmap: 56,
  size: 60,
} as const;

export interface VirtioBlkStats {
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  errors: number;
  unsupported: number;
}

export class VirtioBlk implements VirtioBackend {
  readonly deviceId = VIRTIO_ID_BLOCK;
  readonly numQueues = 1;
  readonly queueMax = VIRTIO_BLK_LIMITS.queueMax;
  readonly configSize = CFG.size;
  readonly deviceFeatures: bigint;
  readonly stats: VirtioBlkStats = { requests: 0, reads: 0, writes: 0, flushes: 0, errors: 0, unsupported: 0 };
  private readonly config = new Uint8Array(CFG.size);
  private dev: VirtioMmio | null = null;

  constructor(
    readonly store: BlockStore,
    /** GET_ID's answer (at most 20 bytes; NUL-padded). */
    readonly serial: string = '',
  ) {
    let f = bit(VIRTIO_BLK_F.SIZE_MAX) | bit(VIRTIO_BLK_F.SEG_MAX) | bit(VIRTIO_BLK_F.BLK_SIZE) | bit(VIRTIO_BLK_F.FLUSH);
    f |= store.readonly ? bit(VIRTIO_BLK_F.RO) : bit(VIRTIO_BLK_F.DISCARD) | bit(VIRTIO_BLK_F.WRITE_ZEROES);
    this.deviceFeatures = f;
    const dv = new DataView(this.config.buffer);
    dv.setBigUint64(CFG.capacity, BigInt(store.sectors), true);
    dv.setUint32(CFG.size_max, VIRTIO_BLK_LIMITS.sizeMax, true);
    dv.setUint32(CFG.seg_max, VIRTIO_BLK_LIMITS.segMax, true);
    dv.setUint32(CFG.blk_size, SECTOR, true);
    dv.setUint16(CFG.num_queues, 1, true);
    dv.setUint32(CFG.max_discard_sectors, VIRTIO_BLK_LIMITS.maxDiscardSectors, true);
    dv.setUint32(CFG.max_discard_seg, VIRTIO_BLK_LIMITS.maxDiscardSeg, true);
    dv.setUint32(CFG.discard_sector_alignment, 1, true);
    dv.setUint32(CFG.max_write_zeroes_sectors, VIRTIO_BLK_LIMITS.maxWriteZeroesSectors, true);
    dv.setUint32(CFG.max_write_zeroes_seg, VIRTIO_BLK_LIMITS.maxWriteZeroesSeg, true);
    dv.setUint8(CFG.write_zeroes_may_unmap, 0);
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    return readConfigLe(this.config, offset, size);
  }

  activate(dev: VirtioMmio): void {
    this.dev = dev;
  }

  reset(): void {
    // Requests complete synchronously: nothing is in flight to forget.
  }

  notify(q: number): void {
    const dev = this.dev;
    const vq = dev?.queue(q);
    if (!dev || !vq) return;
    for (;;) {
      for (let chain = vq.pop(); chain; chain = vq.pop()) {
        const written = this.serve(dev, chain);
        vq.push(chain.head, written);
      }
      vq.enableNotify();
      // A request made available between the last pop and enableNotify would get no notify.
      if (vq.pending() === 0) break;
    }
    dev.signalUsed(q);
  }

  /** Serves one request; returns the bytes written into its device-writable buffers. */
  private serve(dev: VirtioMmio, c: DescChain): number {
    const vq = dev.queue(0)!;
    this.stats.requests++;
    if (c.writeBytes === 0) {
      // No status byte to answer in: the driver broke the protocol.
      throw new VirtqueueError(`virtio-blk request at head ${c.head} has no device-writable status byte`);
    }
    const statusAt = c.writeBytes - 1;
    const answer = (status: number, dataBytes = 0): number => {
      if (status === VIRTIO_BLK_S.IOERR) this.stats.errors++;
      if (status === VIRTIO_BLK_S.UNSUPP) this.stats.unsupported++;
      vq.writeTo(c.writable, statusAt, Uint8Array.of(status));
      return dataBytes + 1;
    };
    if (c.readBytes < 16) return answer(VIRTIO_BLK_S.IOERR);
    const hdr = vq.readFrom(c.readable, 0, 16);
    const dv = new DataView(hdr.buffer, hdr.byteOffset, 16);
    const type = dv.getUint32(0, true);
    const sector = dv.getBigUint64(8, true);
    const inBytes = c.writeBytes - 1; // device-writable data before the status byte
    const outBytes = c.readBytes - 16; // device-readable data after the header
    const maxData = VIRTIO_BLK_LIMITS.sizeMax * VIRTIO_BLK_LIMITS.segMax;
    const inRange = (bytes: number) => bytes % SECTOR === 0 && bytes <= maxData && sector + BigInt(bytes / SECTOR) <= BigInt(this.store.sectors);
    try {
      switch (type) {
        case VIRTIO_BLK_T.IN: {
          if (!inRange(inBytes)) return answer(VIRTIO_BLK_S.IOERR);
          const data = inBytes ? this.store.read(Number(sector), inBytes) : new Uint8Array(0);
          vq.writeTo(c.writable, 0, data);
          this.stats.reads++;
          return answer(VIRTIO_BLK_S.OK, inBytes);
        }
        case VIRTIO_BLK_T.OUT: {
          if (this.store.readonly || !inRange(outBytes)) return answer(VIRTIO_BLK_S.IOERR);
          if (outBytes) this.store.write(Number(sector), vq.readFrom(c.readable, 16, outBytes));
          this.stats.writes++;
          return answer(VIRTIO_BLK_S.OK);
        }
        case VIRTIO_BLK_T.FLUSH:
          // fsync returns before the completion is published: acknowledged data is on disk.
          this.store.flush();
          this.stats.flushes++;
          return answer(VIRTIO_BLK_S.OK);
        case VIRTIO_BLK_T.GET_ID: {
          if (inBytes < VIRTIO_BLK_ID_BYTES) return answer(VIRTIO_BLK_S.IOERR);
          const id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
          id.set(new TextEncoder().encode(this.serial).subarray(0, VIRTIO_BLK_ID_BYTES));
          vq.writeTo(c.writable, 0, id);
          return answer(VIRTIO_BLK_S.OK, VIRTIO_BLK_ID_BYTES);
        }
        case VIRTIO_BLK_T.DISCARD:
        case VIRTIO_BLK_T.WRITE_ZEROES:
          return answer(this.discardOrZero(dev, c, type, outBytes));
        default:
          return answer(VIRTIO_BLK_S.UNSUPP);
      }
    } catch (e) {
      if (e instanceof BlockStoreError) return answer(VIRTIO_BLK_S.IOERR);
      throw e;
    }
  }

  private discardOrZero(dev: VirtioMmio, c: DescChain, type: number, outBytes: number): number {
    const discard = type === VIRTIO_BLK_T.DISCARD;
    if (!dev.has(discard ? VIRTIO_BLK_F.DISCARD : VIRTIO_BLK_F.WRITE_ZEROES) || this.store.readonly) return VIRTIO_BLK_S.UNSUPP;
    const maxSeg = discard ? VIRTIO_BLK_LIMITS.maxDiscardSeg : VIRTIO_BLK_LIMITS.maxWriteZeroesSeg;
    const maxSectors = discard ? VIRTIO_BLK_LIMITS.maxDiscardSectors : VIRTIO_BLK_LIMITS.maxWriteZeroesSectors;
    if (outBytes === 0 || outBytes % 16 !== 0 || outBytes / 16 > maxSeg) return VIRTIO_BLK_S.IOERR;
    const segs = dev.queue(0)!.readFrom(c.readable, 16, outBytes);
    const dv = new DataView(segs.buffer, segs.byteOffset, segs.byteLength);
    const ranges: [number, number][] = [];
    for (let i = 0; i < outBytes / 16; i++) {
      const start = dv.getBigUint64(16 * i, true);
      const n = dv.getUint32(16 * i + 8, true);
      const flags = dv.getUint32(16 * i + 12, true);
      if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) return VIRTIO_BLK_S.UNSUPP;
      if (discard && flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) return VIRTIO_BLK_S.UNSUPP;
      if (n > maxSectors || start + BigInt(n) > BigInt(this.store.sectors)) return VIRTIO_BLK_S.IOERR;
      ranges.push([Number(start), n]);
    }
    // Both leave zeros (the file layer writes them): a discarded range reads as zeros too.
    for (const [s, n] of ranges) if (n) this.store.discard(s, n);
    return VIRTIO_BLK_S.OK;
  }
}
