// A virtio-mmio driver played from a test, as Linux's virtio_mmio + virtio_ring do it: every
// register access is an ioreq to the DeviceModel, the rings live in a ByteGuestRam.

import { ByteGuestRam, DeviceModel } from '../../dom0/devicemodel/ioreq.ts';
import { VIRTIO_F, VIRTIO_MMIO, VIRTIO_STATUS, bit } from '../../dom0/devicemodel/virtio/mmio.ts';
import { areaBytes, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../dom0/devicemodel/virtio/virtqueue.ts';

export const RAM_BASE = 0x8000_0000;

export function makeRam(bytes = 1 << 20): ByteGuestRam {
  return new ByteGuestRam(RAM_BASE, new Uint8Array(bytes));
}

/** A bump allocator over guest RAM (from 64 KiB up, 16-byte aligned). */
export class Alloc {
  private next: number;
  constructor(private readonly ram: ByteGuestRam, start = 0x10000) {
    this.next = ram.base + start;
  }
  take(len: number, align = 16): number {
    this.next = Math.ceil(this.next / align) * align;
    const a = this.next;
    this.next += len;
    if (this.next > this.ram.base + this.ram.size) throw new Error('test RAM exhausted');
    return a;
  }
}

export interface Seg {
  /** Device-readable bytes. */
  out?: Uint8Array;
  /** Device-writable length. */
  in?: number;
}

export interface GuestQueue {
  size: number;
  desc: number;
  avail: number;
  used: number;
  nextDesc: number;
  availIdx: number;
  lastUsed: number;
}

export class VirtioGuest {
  readonly queues = new Map<number, GuestQueue>();
  readonly alloc: Alloc;
  private readonly dv: DataView;

  constructor(
    readonly model: DeviceModel,
    readonly ram: ByteGuestRam,
    readonly base: number,
    alloc?: Alloc,
  ) {
    this.alloc = alloc ?? new Alloc(ram);
    this.dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, ram.bytes.byteLength);
  }

  read32(off: number): Promise<number> {
    return this.model.handle({ addr: this.base + off, size: 4, dir: 'read', data: 0, count: 1 });
  }
  async write32(off: number, v: number): Promise<void> {
    await this.model.handle({ addr: this.base + off, size: 4, dir: 'write', data: v >>> 0, count: 1 });
  }
  config(off: number, size: 1 | 2 | 4): Promise<number> {
    return this.model.handle({ addr: this.base + VIRTIO_MMIO.Config + off, size, dir: 'read', data: 0, count: 1 });
  }

  async deviceFeatures(): Promise<bigint> {
    await this.write32(VIRTIO_MMIO.DeviceFeaturesSel, 0);
    const lo = await this.read32(VIRTIO_MMIO.DeviceFeatures);
    await this.write32(VIRTIO_MMIO.DeviceFeaturesSel, 1);
    const hi = await this.read32(VIRTIO_MMIO.DeviceFeatures);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features (`want` & offered), FEATURES_OK; returns whether FEATURES_OK stuck. */
  async negotiate(want: bigint | ((offered: bigint) => bigint) = (o) => o): Promise<boolean> {
    await this.write32(VIRTIO_MMIO.Status, 0);
    await this.write32(VIRTIO_MMIO.Status, VIRTIO_STATUS.ACKNOWLEDGE);
    await this.write32(VIRTIO_MMIO.Status, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
    const offered = await this.deviceFeatures();
    const f = typeof want === 'function' ? want(offered) : want;
    await this.write32(VIRTIO_MMIO.DriverFeaturesSel, 0);
    await this.write32(VIRTIO_MMIO.DriverFeatures, Number(f & 0xffffffffn));
    await this.write32(VIRTIO_MMIO.DriverFeaturesSel, 1);
    await this.write32(VIRTIO_MMIO.DriverFeatures, Number(f >> 32n));
    await this.write32(VIRTIO_MMIO.Status, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.FEATURES_OK);
    return ((await this.read32(VIRTIO_MMIO.Status)) & VIRTIO_STATUS.FEATURES_OK) !== 0;
  }

  /** Allocates and registers queue `q` with `size` entries; returns whether QueueReady reads 1. */
  async setupQueue(q: number, size: number, at?: { desc: number; avail: number; used: number }): Promise<boolean> {
    const a = areaBytes(size);
    const desc = at?.desc ?? this.alloc.take(a.desc, 16);
    const avail = at?.avail ?? this.alloc.take(a.driver, 2);
    const used = at?.used ?? this.alloc.take(a.device, 4);
    await this.write32(VIRTIO_MMIO.QueueSel, q);
    await this.write32(VIRTIO_MMIO.QueueNum, size);
    await this.write32(VIRTIO_MMIO.QueueDescLow, desc);
    await this.write32(VIRTIO_MMIO.QueueDescHigh, 0);
    await this.write32(VIRTIO_MMIO.QueueDriverLow, avail);
    await this.write32(VIRTIO_MMIO.QueueDriverHigh, 0);
    await this.write32(VIRTIO_MMIO.QueueDeviceLow, used);
    await this.write32(VIRTIO_MMIO.QueueDeviceHigh, 0);
    await this.write32(VIRTIO_MMIO.QueueReady, 1);
    this.queues.set(q, { size, desc, avail, used, nextDesc: 0, availIdx: 0, lastUsed: 0 });
    return (await this.read32(VIRTIO_MMIO.QueueReady)) === 1;
  }

  async driverOk(): Promise<void> {
    const s = await this.read32(VIRTIO_MMIO.Status);
    await this.write32(VIRTIO_MMIO.Status, s | VIRTIO_STATUS.DRIVER_OK);
  }

  /** The whole bring-up with every offered feature (or `want`) and `queues` queues of `size`. */
  async init(queues: number, size = 16, want?: bigint | ((offered: bigint) => bigint)): Promise<void> {
    if (!(await this.negotiate(want))) throw new Error('FEATURES_OK refused');
    for (let q = 0; q < queues; q++) if (!(await this.setupQueue(q, size))) throw new Error(`queue ${q} not ready`);
    await this.driverOk();
  }

  u16(gpa: number): number {
    return this.dv.getUint16(gpa - this.ram.base, true);
  }
  setU16(gpa: number, v: number): void {
    this.dv.setUint16(gpa - this.ram.base, v, true);
  }
  u32(gpa: number): number {
    return this.dv.getUint32(gpa - this.ram.base, true);
  }

  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const o = table + 16 * i - this.ram.base;
    this.dv.setUint32(o, addr >>> 0, true);
    this.dv.setUint32(o + 4, Math.floor(addr / 2 ** 32), true);
    this.dv.setUint32(o + 8, len >>> 0, true);
    this.dv.setUint16(o + 12, flags, true);
    this.dv.setUint16(o + 14, next, true);
  }

  /**
   * Places a chain of `segs` (fresh buffers; `out` copied in) in queue `q`, directly or
   * through one indirect table; returns its head and the buffers' addresses. Does not notify.
   */
  /** `tableAt`: where an indirect table goes (default: the allocator's next 16-aligned bytes). */
  addChain(q: number, segs: Seg[], indirect = false, tableAt?: number): { head: number; addrs: number[] } {
    const Q = this.queues.get(q)!;
    const addrs = segs.map((s) => {
      const len = s.out ? s.out.length : s.in!;
      const a = this.alloc.take(Math.max(len, 1));
      if (s.out) this.ram.bytes.set(s.out, a - this.ram.base);
      return a;
    });
    const flagsOf = (s: Seg) => (s.in !== undefined ? VIRTQ_DESC_F_WRITE : 0);
    const head = Q.nextDesc;
    if (indirect) {
      const table = tableAt ?? this.alloc.take(16 * segs.length, 16);
      segs.forEach((s, i) => this.writeDesc(table, i, addrs[i]!, s.out ? s.out.length : s.in!, flagsOf(s) | (i + 1 < segs.length ? VIRTQ_DESC_F_NEXT : 0), i + 1));
      this.writeDesc(Q.desc, head, table, 16 * segs.length, VIRTQ_DESC_F_INDIRECT, 0);
      Q.nextDesc = (Q.nextDesc + 1) % Q.size;
    } else {
      segs.forEach((s, i) => {
        const d = (head + i) % Q.size;
        this.writeDesc(Q.desc, d, addrs[i]!, s.out ? s.out.length : s.in!, flagsOf(s) | (i + 1 < segs.length ? VIRTQ_DESC_F_NEXT : 0), (d + 1) % Q.size);
      });
      Q.nextDesc = (Q.nextDesc + segs.length) % Q.size;
    }
    this.publish(q, head);
    return { head, addrs };
  }

  /** Puts `head` in the available ring and bumps idx. */
  publish(q: number, head: number): void {
    const Q = this.queues.get(q)!;
    this.setU16(Q.avail + 4 + 2 * (Q.availIdx % Q.size), head);
    Q.availIdx = (Q.availIdx + 1) & 0xffff;
    this.setU16(Q.avail + 2, Q.availIdx);
  }

  async notify(q: number): Promise<void> {
    await this.write32(VIRTIO_MMIO.QueueNotify, q);
  }

  /** Used entries published since the last call. */
  takeUsed(q: number): { id: number; len: number }[] {
    const Q = this.queues.get(q)!;
    const out: { id: number; len: number }[] = [];
    const idx = this.u16(Q.used + 2);
    while (Q.lastUsed !== idx) {
      const e = Q.used + 4 + 8 * (Q.lastUsed % Q.size);
      out.push({ id: this.u32(e), len: this.u32(e + 4) });
      Q.lastUsed = (Q.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  bytes(gpa: number, len: number): Uint8Array {
    return this.ram.bytes.slice(gpa - this.ram.base, gpa - this.ram.base + len);
  }

  /** Sets the driver's used_event (event-idx): interrupt only once used idx passes it. */
  setUsedEvent(q: number, v: number): void {
    const Q = this.queues.get(q)!;
    this.setU16(Q.avail + 4 + 2 * Q.size, v);
  }
}

export const ALL_TRANSPORT = bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_INDIRECT_DESC) | bit(VIRTIO_F.RING_EVENT_IDX);
