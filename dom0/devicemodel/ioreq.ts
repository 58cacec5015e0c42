// The device model's core, transport-agnostic: devices that serve Xen-style I/O requests
// (ioreq_t: an address, a size, a direction, the data of a write, count 1), reach the HVM
// guest's RAM through dom0's privileged foreign mapping of the domain's frames (GuestRam),
// and raise interrupt lines (a level per device). The same objects run in-process under a
// test and behind the ioreq wire (the transport calls DeviceModel.handle for each request
// and completes the vCPU's access with what it resolves to).

/** One trapped access (Xen's ioreq_t, without the fields a single MMIO access does not use). */
export interface Ioreq {
  /** Guest-physical address. */
  addr: number;
  size: 1 | 2 | 4;
  dir: 'read' | 'write';
  /** A write's value (the low `size` bytes); ignored for a read. */
  data: number;
  /** Repetitions: always 1 (a single load or store; no rep string instructions on RISC-V). */
  count: 1;
}

/** A device's register window: offsets relative to its base, values little-endian. */
export interface IoreqDevice {
  /** For logs, e.g. `virtio-blk@0x10001000`. */
  readonly name: string;
  /** A load: resolves with the value (only the low `size` bytes count). */
  read(offset: number, size: 1 | 2 | 4): number | Promise<number>;
  /** A store. Resolves when the device has taken it (the vCPU resumes after). */
  write(offset: number, size: 1 | 2 | 4, value: number): void | Promise<void>;
}

/** An interrupt line's level, as a device drives it (the board's PLIC source behind it). */
export type IrqLine = (level: boolean) => void;

/** A guest access outside the domain's RAM (or a bad length): the device treats it as the guest's error. */
export class GuestRamFault extends Error {
  override readonly name = 'GuestRamFault';
}

/**
 * The HVM domain's RAM as the device model reaches it: guest-physical bytes in
 * [base, base + size), nothing else. Every method checks its whole range first and throws
 * GuestRamFault (touching nothing) for any byte outside, for a negative or non-integer
 * address or length, and for a range that wraps.
 */
export interface GuestRam {
  readonly base: number;
  readonly size: number;
  /** True when [gpa, gpa + len) lies inside RAM. */
  contains(gpa: number, len: number): boolean;
  /** A copy of [gpa, gpa + len). */
  read(gpa: number, len: number): Uint8Array;
  write(gpa: number, data: Uint8Array): void;
}

export function ramContains(base: number, size: number, gpa: number, len: number): boolean {
  return Number.isSafeInteger(gpa) && Number.isSafeInteger(len) && len >= 0 && gpa >= base && gpa + len <= base + size;
}

/** RAM over one buffer: tests, and an in-process board that holds the domain's RAM contiguously. */
export class ByteGuestRam implements GuestRam {
  readonly size: number;
  /** Every range read or written, when `trace` is on: tests check nothing strays outside RAM. */
  readonly accesses: { gpa: number; len: number; write: boolean }[] = [];
  trace = false;

  constructor(
    readonly base: number,
    readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }

  contains(gpa: number, len: number): boolean {
    return ramContains(this.base, this.size, gpa, len);
  }

  private check(gpa: number, len: number, write: boolean): number {
    if (!this.contains(gpa, len)) throw new GuestRamFault(`guest-physical [0x${gpa.toString(16)}, +${len}) is outside RAM [0x${this.base.toString(16)}, +0x${this.size.toString(16)})`);
    if (this.trace) this.accesses.push({ gpa, len, write });
    return gpa - this.base;
  }

  read(gpa: number, len: number): Uint8Array {
    const off = this.check(gpa, len, false);
    return this.bytes.slice(off, off + len);
  }

  write(gpa: number, data: Uint8Array): void {
    const off = this.check(gpa, data.length, true);
    this.bytes.set(data, off);
  }
}

/** One mapped guest frame as dom0 sees it (dom0/platform.ts MappedPage.mem has this shape). */
export interface FrameView {
  read(offset: number, len: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
}

const PAGE = 4096;

/**
 * RAM through dom0's foreign mappings of the domain's frames, one view per 4 KiB page from
 * `base` (what QEMU's mapcache holds in Xen). Accesses are split at page boundaries; the
 * whole range is checked before any byte moves. `ForeignGuestRam.map` maps every frame up
 * front, so device code never waits on a mapping in the middle of a request.
 */
export class ForeignGuestRam implements GuestRam {
  /** Bytes the devices moved to or from RAM (their DMA), for the domain's counters. */
  dmaBytes = 0;

  constructor(
    readonly base: number,
    readonly size: number,
    private readonly pages: readonly FrameView[],
  ) {
    if (base % PAGE !== 0 || size % PAGE !== 0 || pages.length !== size / PAGE) throw new RangeError('ForeignGuestRam: base and size must be whole pages, one view per page');
  }

  /** Maps the `size` bytes of RAM from `base` with `mapFrame(gfn)` (e.g. over Dom0Platform.mapForeign). */
  static async map(base: number, size: number, mapFrame: (gfn: number) => Promise<{ mem: FrameView }>): Promise<ForeignGuestRam> {
    const pages: FrameView[] = [];
    for (let i = 0; i < size / PAGE; i++) pages.push((await mapFrame(base / PAGE + i)).mem);
    return new ForeignGuestRam(base, size, pages);
  }

  contains(gpa: number, len: number): boolean {
    return ramContains(this.base, this.size, gpa, len);
  }

  private check(gpa: number, len: number): void {
    if (!this.contains(gpa, len)) throw new GuestRamFault(`guest-physical [0x${gpa.toString(16)}, +${len}) is outside RAM`);
  }

  read(gpa: number, len: number): Uint8Array {
    this.check(gpa, len);
    this.dmaBytes += len;
    const out = new Uint8Array(len);
    for (let done = 0; done < len; ) {
      const off = gpa + done - this.base;
      const n = Math.min(len - done, PAGE - (off % PAGE));
      out.set(this.pages[Math.floor(off / PAGE)]!.read(off % PAGE, n), done);
      done += n;
    }
    return out;
  }

  write(gpa: number, data: Uint8Array): void {
    this.check(gpa, data.length);
    this.dmaBytes += data.length;
    for (let done = 0; done < data.length; ) {
      const off = gpa + done - this.base;
      const n = Math.min(data.length - done, PAGE - (off % PAGE));
      this.pages[Math.floor(off / PAGE)]!.write(off % PAGE, data.subarray(done, done + n));
      done += n;
    }
  }
}

export interface DeviceModelStats {
  reads: number;
  writes: number;
  /** Requests for an address no device claims (reads answered all ones, writes dropped: Xen's behaviour). */
  unclaimed: number;
  /** Requests a device failed to serve (a device-model bug): answered as unclaimed, logged. */
  failed: number;
}

interface Mapping {
  base: number;
  size: number;
  device: IoreqDevice;
}

const MASK: Record<1 | 2 | 4, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };

/**
 * The ioreq server of one HVM domain: the MMIO ranges its devices occupy and the dispatch
 * of each request. `handle` never throws and never rejects: an unclaimed address reads as
 * all ones and ignores writes (as Xen does for an access no ioreq server claims), and a
 * device that throws is logged and answered the same way, so the vCPU always resumes.
 */
export class DeviceModel {
  private readonly maps: Mapping[] = [];
  readonly stats: DeviceModelStats = { reads: 0, writes: 0, unclaimed: 0, failed: 0 };

  constructor(private readonly log: (line: string) => void = () => {}) {}

  /** Places `device` at [base, base + size); ranges may not overlap. */
  add(base: number, size: number, device: IoreqDevice): void {
    if (!(Number.isSafeInteger(base) && Number.isSafeInteger(size) && base >= 0 && size > 0)) throw new RangeError(`bad range for ${device.name}`);
    for (const m of this.maps) {
      if (base < m.base + m.size && m.base < base + size) throw new RangeError(`${device.name} at 0x${base.toString(16)} overlaps ${m.device.name}`);
    }
    this.maps.push({ base, size, device });
  }

  /** The ranges served, for the transport to register with the hypervisor (board.addIoreqServer). */
  ranges(): { base: number; size: number; name: string }[] {
    return this.maps.map((m) => ({ base: m.base, size: m.size, name: m.device.name }));
  }

  private find(addr: number, size: number): Mapping | undefined {
    return this.maps.find((m) => addr >= m.base && addr + size <= m.base + m.size);
  }

  /** Serves one request; resolves with a read's value (masked to its size) or 0 for a write. */
  async handle(req: Ioreq): Promise<number> {
    const size = req.size;
    if (size !== 1 && size !== 2 && size !== 4) {
      this.stats.unclaimed++;
      return 0xffffffff;
    }
    const m = Number.isSafeInteger(req.addr) ? this.find(req.addr, size) : undefined;
    if (req.dir === 'read') this.stats.reads++;
    else this.stats.writes++;
    if (!m) {
      this.stats.unclaimed++;
      return req.dir === 'read' ? MASK[size] : 0;
    }
    const off = req.addr - m.base;
    try {
      if (req.dir === 'read') return ((await m.device.read(off, size)) & MASK[size]) >>> 0;
      await m.device.write(off, size, (req.data & MASK[size]) >>> 0);
      return 0;
    } catch (e) {
      this.stats.failed++;
      this.log(`${m.device.name}: ${req.dir} at +0x${off.toString(16)} failed: ${(e as Error).message}`);
      return req.dir === 'read' ? MASK[size] : 0;
    }
  }
}
