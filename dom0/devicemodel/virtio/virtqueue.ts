// The device's side of a split virtqueue (virtio 1.2, 2.7): the descriptor table, the
// driver area (available ring) and the device area (used ring), all in guest RAM.
//
//   desc   16 bytes each: addr u64, len u32, flags u16 (NEXT 1, WRITE 2, INDIRECT 4), next u16
//   avail  flags u16 (NO_INTERRUPT 1), idx u16, ring[size] u16, used_event u16 (EVENT_IDX)
//   used   flags u16 (NO_NOTIFY 1), idx u16, ring[size] {id u32, len u32}, avail_event u16
//
// Everything the driver wrote is checked before it is used: the descriptors of the queue's
// table are walked at most `size` times (2.7.5.3.1: no chain is longer than the queue size)
// and an indirect table's at most its own entry count (<= INDIRECT_MAX), so every loop
// ends; every buffer lies wholly inside guest RAM; an indirect table is a whole number of
// descriptors (at any address: the spec asks no alignment of it), not nested, not combined with NEXT; a device-readable buffer never follows
// a device-writable one; a chain's buffers total less than 2^32 bytes; the available index
// never runs more than `size` ahead. Breaking
// any of these is a VirtqueueError, which the transport turns into DEVICE_NEEDS_RESET.

import { GuestRamFault, type GuestRam } from '../ioreq.ts';

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
export const DESC_BYTES = 16;
/**
 * Entries an indirect table may have. Linux fills one with a whole request (virtio-blk:
 * seg_max + 2), which can exceed a small queue's size, so an indirect table is bounded by
 * its own length and this cap rather than by the queue size (as QEMU does).
 */
export const INDIRECT_MAX = 1024;

/** The driver broke the virtqueue's rules: the device needs a reset. */
export class VirtqueueError extends Error {
  override readonly name = 'VirtqueueError';
}

export interface Buffer {
  addr: number;
  len: number;
}

/** One descriptor chain, checked: its buffers in order, device-readable ones first. */
export interface DescChain {
  head: number;
  readable: Buffer[];
  writable: Buffer[];
  readBytes: number;
  writeBytes: number;
}

export interface VirtqueueConfig {
  size: number;
  desc: number;
  driver: number;
  device: number;
  /** VIRTIO_F_RING_INDIRECT_DESC negotiated. */
  indirect: boolean;
  /** VIRTIO_F_RING_EVENT_IDX negotiated. */
  eventIdx: boolean;
}

/** Byte sizes of the three areas for `size` entries (2.7, "Virtqueue Part Sizes"). */
export function areaBytes(size: number): { desc: number; driver: number; device: number } {
  return { desc: DESC_BYTES * size, driver: 6 + 2 * size, device: 6 + 8 * size };
}

export class SplitVirtqueue {
  /** Next available-ring slot the device will take. */
  private lastAvail = 0;
  /** The device's used index (what it last published). */
  private usedIdx = 0;
  /** The used index at the last interrupt decision (event-idx: the "old" of vring_need_event). */
  private signalledUsed = 0;

  constructor(
    private readonly ram: GuestRam,
    readonly cfg: Readonly<VirtqueueConfig>,
  ) {
    const a = areaBytes(cfg.size);
    // 2.7: alignment 16 / 2 / 4; and each area wholly in RAM, or nothing can be served.
    if (cfg.desc % 16 || cfg.driver % 2 || cfg.device % 4) throw new VirtqueueError('queue areas misaligned');
    if (!ram.contains(cfg.desc, a.desc) || !ram.contains(cfg.driver, a.driver) || !ram.contains(cfg.device, a.device)) throw new VirtqueueError('queue areas outside guest RAM');
  }

  private u16(gpa: number): number {
    const b = this.ram.read(gpa, 2);
    return b[0]! | (b[1]! << 8);
  }

  private setU16(gpa: number, v: number): void {
    this.ram.write(gpa, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff));
  }

  private availIdx(): number {
    return this.u16(this.cfg.driver + 2);
  }

  /** Entries the driver has made available and the device not yet taken (checked: at most size). */
  pending(): number {
    const n = (this.availIdx() - this.lastAvail) & 0xffff;
    if (n > this.cfg.size) throw new VirtqueueError(`available index ran ${n} entries ahead of a ${this.cfg.size}-entry queue`);
    return n;
  }

  /** Takes the next available chain, or null when there is none. Throws VirtqueueError. */
  pop(): DescChain | null {
    try {
      if (this.pending() === 0) return null;
      const head = this.u16(this.cfg.driver + 4 + 2 * (this.lastAvail % this.cfg.size));
      const chain = this.walk(head);
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      return chain;
    } catch (e) {
      if (e instanceof GuestRamFault) throw new VirtqueueError(e.message);
      throw e;
    }
  }

  /** Reads descriptor `i` of a table at `table` with `count` entries. */
  private desc(table: number, count: number, i: number): { addr: number; len: number; flags: number; next: number } {
    if (i >= count) throw new VirtqueueError(`descriptor index ${i} beyond a table of ${count}`);
    const b = this.ram.read(table + DESC_BYTES * i, DESC_BYTES);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const hi = dv.getUint32(4, true);
    // A 64-bit address above 2^53 cannot be RAM; keep it unrepresentable-safe as Infinity.
    const addr = hi >= 0x200000 ? Number.POSITIVE_INFINITY : hi * 2 ** 32 + dv.getUint32(0, true);
    return { addr, len: dv.getUint32(8, true), flags: dv.getUint16(12, true), next: dv.getUint16(14, true) };
  }

  private walk(head: number): DescChain {
    const chain: DescChain = { head, readable: [], writable: [], readBytes: 0, writeBytes: 0 };
    const size = this.cfg.size;
    if (head >= size) throw new VirtqueueError(`head ${head} beyond the ${size}-entry table`);
    let table = this.cfg.desc;
    let count = size;
    let i = head;
    let inIndirect = false;
    // Descriptors walked in the current table: a loop there runs out at its entry count.
    let walked = 0;
    for (;; walked++) {
      if (walked >= count) throw new VirtqueueError(`chain from head ${head} longer than its ${inIndirect ? 'indirect table' : 'queue size'} (${count}): a loop?`);
      const d = this.desc(table, count, i);
      if (d.flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.cfg.indirect) throw new VirtqueueError('indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC');
        if (inIndirect) throw new VirtqueueError('indirect descriptor inside an indirect table');
        if (d.flags & VIRTQ_DESC_F_NEXT) throw new VirtqueueError('indirect descriptor with NEXT set');
        if (d.len === 0 || d.len % DESC_BYTES !== 0 || d.len / DESC_BYTES > INDIRECT_MAX) throw new VirtqueueError(`indirect table of ${d.len} bytes`);
        // No alignment: virtio 1.2 (2.7.5.3) lets the driver store the table "anywhere in
        // memory"; only the queue's own descriptor table must be 16-aligned (2.7, checked in
        // the constructor). So a table may start mid-page and straddle a page boundary, and
        // its descriptors too: the RAM's reads split at pages. (guests/lib/virtio_blk.c's
        // request slots make 8-aligned tables; QEMU accepts them too.)
        if (!this.ram.contains(d.addr, d.len)) throw new VirtqueueError('indirect table outside guest RAM');
        table = d.addr;
        count = d.len / DESC_BYTES;
        i = 0;
        inIndirect = true;
        walked = -1; // the loop's increment starts the indirect table's count at 0
        continue;
      }
      if (!this.ram.contains(d.addr, d.len)) throw new VirtqueueError(`buffer [0x${d.addr.toString(16)}, +${d.len}) outside guest RAM`);
      if (d.flags & VIRTQ_DESC_F_WRITE) {
        chain.writable.push({ addr: d.addr, len: d.len });
        chain.writeBytes += d.len;
      } else {
        if (chain.writable.length > 0) throw new VirtqueueError('device-readable buffer after a device-writable one');
        chain.readable.push({ addr: d.addr, len: d.len });
        chain.readBytes += d.len;
      }
      // "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes in total" (split ring, descriptor table).
      if (chain.readBytes + chain.writeBytes > 0xffffffff) throw new VirtqueueError(`chain from head ${head} over 2^32 bytes`);
      if (!(d.flags & VIRTQ_DESC_F_NEXT)) return chain;
      i = d.next;
    }
  }

  /** Publishes `head` as used with `len` bytes written into its buffers. */
  push(head: number, len: number): void {
    try {
      const slot = this.cfg.device + 4 + 8 * (this.usedIdx % this.cfg.size);
      const e = new Uint8Array(8);
      const dv = new DataView(e.buffer);
      dv.setUint32(0, head, true);
      dv.setUint32(4, len >>> 0, true);
      this.ram.write(slot, e);
      this.usedIdx = (this.usedIdx + 1) & 0xffff;
      this.setU16(this.cfg.device + 2, this.usedIdx);
    } catch (e) {
      if (e instanceof GuestRamFault) throw new VirtqueueError(e.message);
      throw e;
    }
  }

  /**
   * Asks the driver to notify for the next available entry: with event-idx, avail_event =
   * the next index the device will take (2.7.10); without, used.flags cleared.
   */
  enableNotify(): void {
    if (this.cfg.eventIdx) this.setU16(this.cfg.device + 4 + 8 * this.cfg.size, this.lastAvail);
    else this.setU16(this.cfg.device, 0);
  }

  /**
   * Whether the used entries published since the last decision warrant an interrupt:
   * with event-idx, vring_need_event(used_event, new, old) (2.7.10); without, unless the
   * driver set VIRTQ_AVAIL_F_NO_INTERRUPT.
   */
  shouldInterrupt(): boolean {
    const old = this.signalledUsed;
    const now = this.usedIdx;
    this.signalledUsed = now;
    if (old === now) return false;
    if (this.cfg.eventIdx) {
      const event = this.u16(this.cfg.driver + 4 + 2 * this.cfg.size);
      return ((now - event - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (this.u16(this.cfg.driver) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Copies the chain's device-readable bytes from `skip` on, at most `max` bytes. */
  readFrom(bufs: readonly Buffer[], skip: number, max: number): Uint8Array {
    const out = new Uint8Array(max);
    let done = 0;
    let pos = 0;
    for (const b of bufs) {
      if (done >= max) break;
      const start = Math.max(0, skip - pos);
      pos += b.len;
      if (start >= b.len) continue;
      const n = Math.min(b.len - start, max - done);
      out.set(this.ram.read(b.addr + start, n), done);
      done += n;
    }
    return out.subarray(0, done);
  }

  /** Writes `data` into the device-writable buffers from byte `skip` on; returns bytes written. */
  writeTo(bufs: readonly Buffer[], skip: number, data: Uint8Array): number {
    let done = 0;
    let pos = 0;
    for (const b of bufs) {
      if (done >= data.length) break;
      const start = Math.max(0, skip - pos);
      pos += b.len;
      if (start >= b.len) continue;
      const n = Math.min(b.len - start, data.length - done);
      this.ram.write(b.addr + start, data.subarray(done, done + n));
      done += n;
    }
    return done;
  }
}
