// Machine (physical) memory as the CPU engine sees it: 4 KiB frames, allocated on demand,
// indexed by frame number, plus MMIO regions. The engine reads frames directly (hot path);
// everything else goes through the helpers below.

import { PAGE_SIZE } from '../../protocol/sv32.ts';

export const PAGE_MASK = PAGE_SIZE - 1;
/** Frames addressable with a 32-bit physical address (M-mode and bare machines). */
export const FRAMES_32BIT = 1 << 20;
/**
 * Frames addressable at all: Sv32 PTEs hold 22-bit PPNs, so physical addresses have 34 bits
 * (16 GiB). Machine memory above 4 GiB is reachable only through page tables.
 */
export const MAX_FRAMES = 1 << 22;

/** Frame number of a physical address (which may be >= 2^32, so no `>>> 12`). */
export function pfnOf(pa: number): number {
  return (pa / PAGE_SIZE) >>> 0;
}

/** A device mapped at a physical address range. Offsets are relative to the region base. */
export interface MmioDevice {
  /** Returns the value read (zero-extended to `size` bytes). */
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
}

export interface MmioRegion {
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

/**
 * Called after a guest store lands in a watched frame. Returning true asks the engine to
 * stop after the current instruction (HTIF tohost, page tracking for dom0 mirrors).
 */
export type StoreWatcher = (pa: number, size: number) => boolean;

export class PhysMemory {
  /** Frames this memory can hold: [0, nrFrames). Physical addresses end at nrFrames * PAGE_SIZE. */
  readonly nrFrames: number;
  /** Frame contents by frame number; null where no frame exists (access fault). */
  readonly frames: Array<Uint8Array | null>;
  /** Little-endian 32-bit views of the same frames, for aligned word access. */
  readonly words: Array<Int32Array | null>;
  /** Non-zero for frames whose stores must be reported to `onStore` (never cached as writable). */
  readonly watched: Uint8Array;
  /**
   * Non-zero for frames the block translator (cpu/jit) compiled code from. Like a watched
   * frame, such a frame is never cached as writable (W_SLOW), so every guest store to it
   * takes the MMU's slow path, which raises `Mmu.attention`: the translator then re-checks
   * its blocks before running one again.
   */
  readonly code: Uint8Array;
  readonly regions: MmioRegion[] = [];
  onStore: StoreWatcher | null = null;
  /**
   * Told of a guest store to a watched frame before it lands ([pa, pa+size), within one
   * frame): dom0's lookahead window keeps the bytes it overwrites (hypervisor/run/lookahead.ts).
   * Null outside a window, so the slow path pays one compare.
   */
  beforeWatchedStore: ((pa: number, size: number) => void) | null = null;
  /** Bumped whenever a mapping changes, so engines can drop cached translations. */
  generation = 0;
  /**
   * The hart that last ran on this memory (set by the engine at run() entry). When another
   * hart has run since, a hart drops its LR reservation: stores by other harts to the
   * reserved word are not tracked individually, so an intervening run counts as one.
   */
  lastRunner: object | null = null;
  /**
   * Non-zero for frames that are allocated but have no storage yet (lazily populated): they
   * read as zeros and get their storage on first touch, so memory a guest never writes costs
   * the host nothing. `frames[pfn]` stays null until then.
   */
  readonly unpopulated: Uint8Array;
  /**
   * Gives an allocated-but-unpopulated frame its storage. The CPU's slow path calls it when
   * a translation lands on `frames[pfn] === null`: it returns the (zeroed) frame, or null
   * when nothing is allocated there (access fault). Installed by the frame allocator
   * (hypervisor/mm/frame_table.ts); null = no lazy frames.
   */
  populate: ((pfn: number) => Uint8Array | null) | null = null;
  private populated = 0;
  /** Frame views ready for reuse: allocating a fresh ArrayBuffer per frame is slow. */
  private readonly spare: { bytes: Uint8Array; words: Int32Array }[] = [];

  /** `nrFrames`: the physical address space in frames (default: the 32-bit space). */
  constructor(nrFrames: number = FRAMES_32BIT) {
    if (!Number.isInteger(nrFrames) || nrFrames < 1 || nrFrames > MAX_FRAMES) {
      throw new RangeError(`physical memory of ${nrFrames} frames: must be 1..${MAX_FRAMES} (Sv32 has 34-bit physical addresses)`);
    }
    this.nrFrames = nrFrames;
    this.frames = new Array<Uint8Array | null>(nrFrames).fill(null);
    this.words = new Array<Int32Array | null>(nrFrames).fill(null);
    this.watched = new Uint8Array(nrFrames);
    this.code = new Uint8Array(nrFrames);
    this.unpopulated = new Uint8Array(nrFrames);
  }

  /** First physical address past the end of this memory. */
  get paLimit(): number {
    return this.nrFrames * PAGE_SIZE;
  }

  get frameCount(): number {
    return this.populated;
  }

  /** Creates a zeroed frame at `pfn` (or returns the existing one). */
  ensureFrame(pfn: number): Uint8Array {
    const have = this.frames[pfn];
    if (have) return have;
    if (!(pfn >= 0 && pfn < this.nrFrames)) throw new RangeError(`frame number ${pfn} out of range`);
    this.unpopulated[pfn] = 0;
    let v = this.spare.pop();
    if (v) v.bytes.fill(0);
    else v = this.newSlab();
    this.frames[pfn] = v.bytes;
    this.words[pfn] = v.words;
    this.populated++;
    return v.bytes;
  }

  /** Makes `pfn` an allocated frame without storage: it reads as zeros until first written. */
  reserveFrame(pfn: number): void {
    if (!(pfn >= 0 && pfn < this.nrFrames)) throw new RangeError(`frame number ${pfn} out of range`);
    if (!this.frames[pfn]) this.unpopulated[pfn] = 1;
  }

  /** True if a frame exists at `pfn`, populated or not. */
  isAllocated(pfn: number): boolean {
    return this.frames[pfn] != null || this.unpopulated[pfn] === 1; // false beyond the end, too
  }

  /** Populates every frame in [base, base+size). */
  addRam(base: number, size: number): void {
    const first = Math.floor(base / PAGE_SIZE);
    const last = Math.floor((base + size - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) this.ensureFrame(p);
  }

  /** Carves a slab of 64 frames out of one buffer; returns one and keeps the rest spare. */
  private newSlab(): { bytes: Uint8Array; words: Int32Array } {
    const SLAB = 64;
    const buf = new ArrayBuffer(SLAB * PAGE_SIZE);
    for (let i = SLAB - 1; i > 0; i--) {
      this.spare.push({ bytes: new Uint8Array(buf, i * PAGE_SIZE, PAGE_SIZE), words: new Int32Array(buf, i * PAGE_SIZE, PAGE_SIZE >> 2) });
    }
    return { bytes: new Uint8Array(buf, 0, PAGE_SIZE), words: new Int32Array(buf, 0, PAGE_SIZE >> 2) };
  }

  removeFrame(pfn: number): void {
    this.unpopulated[pfn] = 0;
    const bytes = this.frames[pfn];
    const words = this.words[pfn];
    if (!bytes || !words) return;
    this.spare.push({ bytes, words });
    this.frames[pfn] = null;
    this.words[pfn] = null;
    this.watched[pfn] = 0;
    this.code[pfn] = 0;
    this.populated--;
    this.generation++;
  }

  /**
   * The one way a store the hypervisor makes into guest memory (a PTE, a grant entry's
   * flags, a grant copy, a copy to a guest buffer) reaches the watcher of its frame, as the
   * CPU reports a guest's own store: [pa, pa+len) exactly, within one frame. True = the
   * watcher asked to stop the vCPU.
   */
  noteStore(pa: number, len: number): boolean {
    if (len <= 0 || !this.watched[pfnOf(pa)]) return false;
    return this.onStore?.(pa, len) ?? false;
  }

  setWatched(pfn: number, on: boolean): void {
    if (this.watched[pfn] === (on ? 1 : 0)) return;
    this.watched[pfn] = on ? 1 : 0;
    // Not `generation`: the TLBs keep their entries and only re-mark which write entries
    // must take the slow path (Mmu.rewatch), so watching a frame costs the guest no walks.
    this.watchGeneration++;
  }

  /**
   * Marks `pfn` as holding translated code: write entries for it are re-marked W_SLOW
   * (by Mmu.rewatch, as for a watch). The caller rewatches its own MMU at once.
   */
  markCode(pfn: number): void {
    if (this.code[pfn]) return;
    this.code[pfn] = 1;
    this.watchGeneration++;
  }

  /** Bumped whenever a frame's watched or code flag changes (Mmu.rewatch). */
  watchGeneration = 0;

  addMmio(base: number, size: number, device: MmioDevice): void {
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new RangeError(`MMIO region 0x${base.toString(16)} overlaps 0x${r.base.toString(16)}`);
      }
    }
    this.regions.push({ base, size, device });
    this.generation++;
  }

  findMmio(pa: number): MmioRegion | undefined {
    for (const r of this.regions) if (pa >= r.base && pa < r.base + r.size) return r;
    return undefined;
  }

  /** True if every byte of [pa, pa+len) is backed by a frame. */
  isBacked(pa: number, len: number): boolean {
    if (len <= 0) return true;
    if (pa < 0 || pa + len > this.paLimit) return false;
    for (let p = Math.floor(pa / PAGE_SIZE); p <= Math.floor((pa + len - 1) / PAGE_SIZE); p++) {
      if (!this.frames[p] && !this.unpopulated[p]) return false;
    }
    return true;
  }

  /**
   * Host-side copy out of machine memory (unpopulated frames read as zeros); throws
   * RangeError on an unbacked byte.
   */
  readBytes(pa: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = pa + done;
      const p = Math.floor(a / PAGE_SIZE);
      const f = this.frames[p];
      if (!f && !this.unpopulated[p]) throw new RangeError(`no frame at 0x${a.toString(16)}`);
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, len - done);
      if (f) out.set(f.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  /** Host-side copy into machine memory (populating frames as needed); throws RangeError on an unbacked byte. */
  writeBytes(pa: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const a = pa + done;
      const p = Math.floor(a / PAGE_SIZE);
      const f = this.frames[p] ?? (this.unpopulated[p] ? this.ensureFrame(p) : null);
      if (!f) throw new RangeError(`no frame at 0x${a.toString(16)}`);
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      f.set(data.subarray(done, done + n), off);
      done += n;
    }
  }

  read32(pa: number): number {
    const b = this.readBytes(pa, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  write32(pa: number, value: number): void {
    this.writeBytes(pa, new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff]));
  }
}
