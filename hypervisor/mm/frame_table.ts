// Machine frames: who owns each one, what it is used as, and who holds references to it
// (Xen's struct page_info and frame table, xen/arch/x86/mm.c). Per frame:
//
//   owner        the domain it belongs to (DOMID_INVALID when free)
//   count        general references. The allocation itself holds one (Xen's PGC_allocated);
//                so does every PTE mapping the frame, every pin, every vCPU base pointer,
//                every L2 entry pointing at it (an L1), every grant mapping and copy in
//                flight. The frame is freed when the count drops to zero, and only then.
//   type, typeCount
//                what the frame is used as: writable (mapped writable by some PTE), an L1 or
//                L2 page table, or one of the hypervisor's shared pages (shared_info, grant
//                table). The type can change only while typeCount is zero, so a frame is
//                never a page table and writable at once. Page-table types are validated
//                (every entry checked and referenced) when the count leaves zero and
//                devalidated (the references dropped) when it returns to zero.
//   pinned       a pin holds one type reference (MMUEXT_PIN_*); at most one per frame.
//   m2p          the pseudo-physical frame the owner says the frame backs (MMU_MACHPHYS_UPDATE).
//
// The rules live in page_types.ts; this file is storage plus allocation. Frames get their
// memory from PhysMemory only when allocated, or (lazy mode) only when first touched, so an
// idle machine, or an idle domain, costs little host memory.

import { MAX_FRAMES, type PhysMemory } from '../cpu/memory.ts';
import { INVALID_M2P_ENTRY } from '../../protocol/xen/mm.ts';
import { DOMID, PAGE_SIZE } from '../../protocol/xen/xen.ts';

/** Machine frames start at 2 GiB, so a machine address never looks like a small integer. */
export const FIRST_MFN = 0x80000;
/**
 * The most machine memory a hypervisor can have: frames from FIRST_MFN up to the end of
 * Sv32's 34-bit physical address space (14,336 MiB).
 */
export const MAX_MACHINE_MEMORY_MIB = ((MAX_FRAMES - FIRST_MFN) * PAGE_SIZE) / (1024 * 1024);

/** The first frame a 32-bit machine address cannot name (4 GiB). */
export const LOW_LIMIT_MFN = 2 ** 32 / PAGE_SIZE;
/** Fresh frames below 4 GiB that unlimited allocations leave alone while there are frames above (64 MiB). */
export const LOW_RESERVE_FRAMES = 16384;

/** What a frame is used as (Xen's PGT_* types, plus the hypervisor's shared pages). */
export const FrameType = {
  Free: 0,
  /** An ordinary frame: mapped writable while typeCount > 0 (PGT_writable_page / PGT_none). */
  Writable: 1,
  L1PageTable: 2,
  L2PageTable: 3,
  /** The domain's shared_info page: permanently writable-typed, never a page table. */
  SharedInfo: 4,
  /** A grant-table frame shared with its domain: permanently writable-typed. */
  GrantTable: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** True for the types a writable PTE may map (a request for Writable matches them). */
export function isWritableClass(t: FrameType): boolean {
  return t === FrameType.Writable || t === FrameType.SharedInfo || t === FrameType.GrantTable;
}

export function isPageTable(t: FrameType): boolean {
  return t === FrameType.L1PageTable || t === FrameType.L2PageTable;
}

export class OutOfMemoryError extends Error {
  override readonly name = 'OutOfMemoryError';
}

const F_ALLOCATED = 1; // the allocation reference is held (PGC_allocated)
const F_PINNED = 2;
const F_VALIDATED = 4;
const F_XENHEAP = 8; // a hypervisor page shared with the owner (not counted in tot_pages)

const NIL = -1;

/** Bits needed to write n (0 for 0). */
function bitLength(n: number): number {
  return 32 - Math.clz32(n);
}
/** Extent orders whose freed runs are tracked (a domU's largest, Xen's DOMU_MAX_ORDER). */
const RUN_ORDERS = 9;

/** A domain's frames: a list threaded through the frame table (Xen's d->page_list). */
interface DomainFrames {
  head: number;
  /** Frames counted against the domain's reservation (tot_pages). */
  pages: number;
  /** Hypervisor pages shared with it (shared_info, grant-table frames). */
  xenheap: number;
}

export class FrameTable {
  private readonly owner: Uint16Array;
  private readonly type: Uint8Array;
  private readonly tcount: Int32Array;
  private readonly count: Int32Array;
  private readonly flags: Uint8Array;
  private readonly m2p: Uint32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly lists = new Map<number, DomainFrames>();
  /**
   * Freed frame indices, one list per zone; entries may be stale (taken by an extent
   * allocation since). At most one entry per frame (`onFreeList`), so the lists are bounded
   * by the machine's size.
   */
  private readonly freeLists: number[][];
  private readonly onFreeList: Uint8Array;
  /** Free frames below `bump` (what extents can reuse). */
  private freeBelowBump = 0;
  /** Where findFreeRun starts looking. */
  private runCursor = 0;
  /**
   * Per order 1..RUN_ORDERS and zone: aligned runs a free may have made wholly free (at most
   * one entry per run).
   */
  private readonly runCandidates: Set<number>[][];
  /**
   * Zones, as Xen's heap has them: zone z holds the frames whose mfn has bit length
   * zoneBits0 + z (mfns [2^(b-1), 2^b)), so an address-restricted request (all below
   * 2^address_bits) looks only at the zones wholly below its limit, never past frames above it.
   */
  private readonly zoneBits0: number;
  readonly nrZones: number;
  /** Frames at or above this index have never been handed out. */
  private bump = 0;
  private used = 0;
  /**
   * Frames below 4 GiB (index `lowSplit`) are the only home of pages a 32-bit machine
   * address must name (shared_info: start_info.shared_info). On a machine reaching past
   * 4 GiB, allocations without a limit leave the last LOW_RESERVE_FRAMES fresh low frames
   * alone and go above 4 GiB while they can, so 10,000 domains still each find a low
   * shared_info page (before this, guest RAM filled low memory after about 2,040 domains).
   */
  private readonly lowSplit: number;
  /** Index one past each zone's last frame. */
  private readonly zoneEnds: number[];
  /**
   * Lazy mode: a newly allocated frame gets no storage until first touched (PhysMemory's
   * `populate` hook, called by the CPU on a TLB fill; hypervisor-side writes populate, reads
   * see zeros). Needs the CPU to call `mem.populate`, so it is off by default.
   */
  lazy = false;
  /** Frames given storage on first touch (lazy mode). */
  populatedOnDemand = 0;
  /** Frames (and free-list entries) looked at while searching for free extents (what a guest's requests cost the host). */
  extentSearchSteps = 0;

  /** Manages machine frames [firstMfn, firstMfn + nrFrames). */
  constructor(readonly mem: PhysMemory, readonly firstMfn: number, readonly nrFrames: number) {
    this.owner = new Uint16Array(nrFrames).fill(DOMID.INVALID);
    this.type = new Uint8Array(nrFrames);
    this.tcount = new Int32Array(nrFrames);
    this.count = new Int32Array(nrFrames);
    this.flags = new Uint8Array(nrFrames);
    this.m2p = new Uint32Array(nrFrames).fill(INVALID_M2P_ENTRY);
    this.next = new Int32Array(nrFrames).fill(NIL);
    this.prev = new Int32Array(nrFrames).fill(NIL);
    this.onFreeList = new Uint8Array(nrFrames);
    this.lowSplit = Math.max(0, Math.min(nrFrames, LOW_LIMIT_MFN - firstMfn));
    this.zoneBits0 = bitLength(firstMfn);
    this.nrZones = Math.max(1, bitLength(firstMfn + nrFrames - 1) - this.zoneBits0 + 1);
    this.freeLists = Array.from({ length: this.nrZones }, () => []);
    // Each allocation looks at the zones' ends: computed once (2 ** per call showed in profiles).
    this.zoneEnds = Array.from({ length: this.nrZones }, (_, z) => Math.min(nrFrames, 2 ** (this.zoneBits0 + z) - firstMfn));
    this.runCandidates = Array.from({ length: RUN_ORDERS + 1 }, () => Array.from({ length: this.nrZones }, () => new Set<number>()));
    if (!Number.isInteger(firstMfn) || firstMfn < 1 || firstMfn + nrFrames > mem.nrFrames) {
      throw new RangeError(`frame table [0x${firstMfn.toString(16)}, +${nrFrames}) does not fit in physical memory of ${mem.nrFrames} frames`);
    }
    mem.populate = (pfn) => this.populateOnDemand(pfn);
  }

  /** Frames in use (allocated and not yet freed). */
  get allocated(): number {
    return this.used;
  }

  // --- Allocation ---------------------------------------------------------------------

  /**
   * Allocates a zeroed frame for `domid`, holding its allocation reference. `SharedInfo` and
   * `GrantTable` frames are hypervisor pages shared with the domain: permanently
   * writable-typed and not counted in its reservation. Throws OutOfMemoryError when machine
   * memory is exhausted.
   */
  alloc(domid: number, type: FrameType = FrameType.Writable): number {
    const mfn = this.allocExtent(domid, 0, type);
    if (mfn < 0) throw new OutOfMemoryError(`out of machine memory (${this.nrFrames} frames)`);
    return mfn;
  }

  /**
   * Allocates 2^order contiguous frames, naturally aligned, all below `limitMfn` (exclusive);
   * returns the first mfn or -1. Reservation limits are the caller's business.
   */
  allocExtent(domid: number, order: number, type: FrameType = FrameType.Writable, limitMfn = Infinity): number {
    if (!Number.isInteger(order) || order < 0 || order > 30) return -1;
    const n = 2 ** order;
    const limit = Math.min(this.nrFrames, limitMfn - this.firstMfn);
    let first = NIL;
    let reused = true;
    // Zones wholly below the limit, highest first (Xen keeps low memory for those that need it).
    let zones = this.nrZones;
    while (zones > 0 && this.zoneEnd(zones - 1) > limit) zones--;
    const unlimited = limit === this.nrFrames;
    // Fresh frames above 4 GiB remain: freed low frames stay for those that need them.
    const spareHigh = unlimited && this.lowSplit < this.nrFrames && this.bump >= this.lowSplit && this.bump < this.nrFrames;
    if (n === 1) {
      for (let z = zones - 1; z >= 0 && first === NIL; z--) {
        if (spareHigh && this.zoneEnd(z) <= this.lowSplit) break;
        const list = this.freeLists[z]!;
        while (list.length > 0) {
          const i = list.pop()!;
          this.extentSearchSteps++;
          this.onFreeList[i] = 0;
          if (this.type[i] === FrameType.Free) {
            first = i;
            break;
          }
        }
      }
    } else if (this.freeBelowBump >= n) {
      // Freed frames first: taking fresh ones while freed runs exist would walk the whole
      // machine (and past it) for a guest that gives back and takes again the same extent.
      if (order <= RUN_ORDERS) {
        for (let z = zones - 1; z >= 0 && first === NIL; z--) first = this.takeCandidateRun(order, z, limit);
      } else {
        first = this.findFreeRun(n, limit);
      }
    }
    if (first === NIL && n === 1 && unlimited && this.bump < this.lowSplit && this.lowSplit < this.nrFrames && this.lowSplit - this.bump <= LOW_RESERVE_FRAMES) {
      // The low reserve is reached by single frames (what domain builds take): hand it to the
      // free lists and continue above 4 GiB. Larger extents keep taking fresh frames in order.
      for (let i = this.bump; i < this.lowSplit; i++) this.pushFree(i);
      this.bump = this.lowSplit;
    }
    if (first === NIL) {
      // Fresh frames from the never-used top, aligned on the extent size (in mfn terms).
      const alignedMfn = Math.ceil((this.firstMfn + this.bump) / n) * n;
      const start = alignedMfn - this.firstMfn;
      if (start + n <= limit) {
        for (let i = this.bump; i < start; i++) this.pushFree(i);
        this.bump = start + n;
        first = start;
        reused = false;
      }
    }
    if (first === NIL) return -1;
    if (reused) this.freeBelowBump -= n;
    for (let i = first; i < first + n; i++) this.initFrame(i, domid, type);
    return this.firstMfn + first;
  }

  /**
   * A free, naturally aligned run of 2^order frames below the bump pointer, or NIL, from the
   * runs a free may have completed. Each candidate is looked at once per free that named it
   * (it is dropped when found not wholly free: the free of its last busy frame names it
   * again), so a guest cannot make a failing request cost more than its own frees did.
   */
  private takeCandidateRun(order: number, zone: number, limit: number): number {
    const set = this.runCandidates[order]![zone]!;
    const n = 2 ** order;
    for (const base of set) {
      // Reaches into never-used frames (not a run yet), or past the limit (only on machines
      // whose first mfn is small enough for a run to span zones).
      if (base + n > Math.min(this.bump, limit)) continue;
      set.delete(base);
      let ok = true;
      for (let i = base; i < base + n && ok; i++, this.extentSearchSteps++) ok = this.type[i] === FrameType.Free;
      if (ok) return base;
    }
    return NIL;
  }

  /**
   * A naturally aligned run of n free frames below the bump pointer and `limit`, or NIL, by
   * scanning (extents above RUN_ORDERS, which only the control domain may ask for).
   * Next-fit: starts where the last run was found.
   */
  private findFreeRun(n: number, limit: number): number {
    const end = Math.min(limit, this.bump);
    const lo = Math.ceil(this.firstMfn / n) * n - this.firstMfn;
    if (lo + n > end) return NIL;
    const span = Math.floor((end - lo) / n);
    const startSlot = Math.min(Math.floor(Math.max(0, this.runCursor - lo) / n), span - 1);
    for (let k = 0; k < span; k++) {
      const base = lo + ((startSlot + k) % span) * n;
      let ok = true;
      for (let i = base; i < base + n && ok; i++, this.extentSearchSteps++) ok = this.type[i] === FrameType.Free;
      if (ok) {
        this.runCursor = base;
        return base;
      }
    }
    return NIL;
  }

  /** Records a free frame for order-0 reuse, once (a frame's entry may outlive its reuse by an extent). */
  private pushFree(i: number): void {
    this.freeBelowBump++;
    // The aligned run of each order this frame belongs to may now be wholly free. Not if the
    // first frame of its other half is busy: then neither it nor any larger run is, and the
    // free that completes it will name it (every check passes once the run is wholly free).
    for (let k = 1; k <= RUN_ORDERS; k++) {
      const n = 2 ** k;
      const base = Math.floor((this.firstMfn + i) / n) * n - this.firstMfn;
      if (base < 0) break;
      const otherHalf = i - base < n / 2 ? base + n / 2 : base;
      if (this.type[otherHalf] !== FrameType.Free && otherHalf !== i) break;
      this.runCandidates[k]![this.zoneOf(base)]!.add(base);
    }
    if (this.onFreeList[i]) return;
    this.onFreeList[i] = 1;
    this.freeLists[this.zoneOf(i)]!.push(i);
  }

  /** The zone of frame index i (a naturally aligned run of up to 2^RUN_ORDERS frames lies in one). */
  private zoneOf(i: number): number {
    return Math.min(this.nrZones - 1, bitLength(this.firstMfn + i) - this.zoneBits0);
  }

  /** The frame index just past zone z (or the machine's end). */
  private zoneEnd(z: number): number {
    return this.zoneEnds[z]!;
  }

  private initFrame(i: number, domid: number, type: FrameType): void {
    const mfn = this.firstMfn + i;
    const xenheap = type === FrameType.SharedInfo || type === FrameType.GrantTable;
    this.owner[i] = domid;
    this.type[i] = type;
    this.tcount[i] = xenheap ? 1 : 0;
    this.count[i] = 1;
    this.flags[i] = F_ALLOCATED | F_VALIDATED | (xenheap ? F_XENHEAP : 0);
    this.m2p[i] = INVALID_M2P_ENTRY;
    if (this.lazy) {
      this.mem.reserveFrame(mfn);
    } else {
      this.mem.ensureFrame(mfn).fill(0);
    }
    const list = this.listOf(domid);
    this.next[i] = list.head;
    this.prev[i] = NIL;
    if (list.head !== NIL) this.prev[list.head] = i;
    list.head = i;
    if (xenheap) list.xenheap++;
    else list.pages++;
    this.used++;
  }

  private listOf(domid: number): DomainFrames {
    let l = this.lists.get(domid);
    if (!l) {
      l = { head: NIL, pages: 0, xenheap: 0 };
      this.lists.set(domid, l);
    }
    return l;
  }

  /** Returns a frame to the free pool, whatever references it still has (failed builds). */
  release(mfn: number): void {
    if (!this.isValid(mfn) || this.type[mfn - this.firstMfn] === FrameType.Free) return;
    this.free(mfn - this.firstMfn);
  }

  private free(i: number): void {
    const domid = this.owner[i]!;
    const list = this.lists.get(domid);
    if (list) {
      if (this.prev[i] !== NIL) this.next[this.prev[i]!] = this.next[i]!;
      else list.head = this.next[i]!;
      if (this.next[i] !== NIL) this.prev[this.next[i]!] = this.prev[i]!;
      if (this.flags[i]! & F_XENHEAP) list.xenheap--;
      else list.pages--;
      if (list.head === NIL) this.lists.delete(domid);
    }
    this.next[i] = this.prev[i] = NIL;
    this.owner[i] = DOMID.INVALID;
    this.type[i] = FrameType.Free;
    this.tcount[i] = 0;
    this.count[i] = 0;
    this.flags[i] = 0;
    this.m2p[i] = INVALID_M2P_ENTRY;
    this.mem.removeFrame(this.firstMfn + i);
    this.pushFree(i);
    this.used--;
  }

  // --- Domains' frames ----------------------------------------------------------------

  /** Frames counted against `domid`'s reservation (Xen's tot_pages), including ones still referenced after being given back. */
  totPages(domid: number): number {
    return this.lists.get(domid)?.pages ?? 0;
  }

  /** Hypervisor pages shared with `domid` (shared_info, grant-table frames). */
  xenheapPages(domid: number): number {
    return this.lists.get(domid)?.xenheap ?? 0;
  }

  /** Every frame `domid` owns, in no particular order (a snapshot). */
  framesOf(domid: number): number[] {
    const out: number[] = [];
    for (let i = this.lists.get(domid)?.head ?? NIL; i !== NIL; i = this.next[i]!) out.push(this.firstMfn + i);
    return out;
  }

  // --- References -----------------------------------------------------------------------

  isValid(mfn: number): boolean {
    return Number.isInteger(mfn) && mfn >= this.firstMfn && mfn < this.firstMfn + this.nrFrames;
  }

  /** Xen's get_page(): takes a general reference if `domid` owns the (allocated) frame. */
  getPage(mfn: number, domid: number): boolean {
    if (!this.isValid(mfn)) return false;
    const i = mfn - this.firstMfn;
    if (this.count[i]! <= 0 || this.owner[i] !== domid) return false;
    this.count[i]!++;
    return true;
  }

  /** Xen's page_get_owner_and_reference(): a reference and the owner, or -1 for a free frame. */
  getPageAnyOwner(mfn: number): number {
    if (!this.isValid(mfn)) return -1;
    const i = mfn - this.firstMfn;
    if (this.count[i]! <= 0) return -1;
    this.count[i]!++;
    return this.owner[i]!;
  }

  /** Drops a general reference; the last one frees the frame. */
  putPage(mfn: number): void {
    if (!this.isValid(mfn)) return;
    const i = mfn - this.firstMfn;
    if (this.count[i]! <= 0) throw new Error(`put_page on frame 0x${mfn.toString(16)} with no references`);
    if (--this.count[i]! === 0) this.free(i);
  }

  /** Clears the allocation reference flag (Xen's test_and_clear PGC_allocated); the caller drops the reference. */
  clearAllocated(mfn: number): boolean {
    if (!this.isValid(mfn)) return false;
    const i = mfn - this.firstMfn;
    if (!(this.flags[i]! & F_ALLOCATED)) return false;
    this.flags[i]! &= ~F_ALLOCATED;
    return true;
  }

  isAllocatedRef(mfn: number): boolean {
    return this.isValid(mfn) && (this.flags[mfn - this.firstMfn]! & F_ALLOCATED) !== 0;
  }

  refCount(mfn: number): number {
    return this.isValid(mfn) ? this.count[mfn - this.firstMfn]! : 0;
  }

  ownerOf(mfn: number): number {
    return this.isValid(mfn) ? this.owner[mfn - this.firstMfn]! : DOMID.INVALID;
  }

  // --- Type state (page_types.ts applies the rules) -----------------------------------------

  typeOf(mfn: number): FrameType {
    return this.isValid(mfn) ? (this.type[mfn - this.firstMfn]! as FrameType) : FrameType.Free;
  }

  typeCount(mfn: number): number {
    return this.isValid(mfn) ? this.tcount[mfn - this.firstMfn]! : 0;
  }

  /** Sets type and type count directly; for page_types.ts, which keeps the invariants. */
  setTypeState(mfn: number, type: FrameType, typeCount: number): void {
    const i = mfn - this.firstMfn;
    this.type[i] = type;
    this.tcount[i] = typeCount;
  }

  isValidated(mfn: number): boolean {
    return this.isValid(mfn) && (this.flags[mfn - this.firstMfn]! & F_VALIDATED) !== 0;
  }

  setValidated(mfn: number, on: boolean): void {
    this.setFlag(mfn, F_VALIDATED, on);
  }

  isPinned(mfn: number): boolean {
    return this.isValid(mfn) && (this.flags[mfn - this.firstMfn]! & F_PINNED) !== 0;
  }

  setPinned(mfn: number, on: boolean): void {
    this.setFlag(mfn, F_PINNED, on);
  }

  /** True for hypervisor pages shared with their owner (shared_info, grant-table frames). */
  isXenheap(mfn: number): boolean {
    return this.isValid(mfn) && (this.flags[mfn - this.firstMfn]! & F_XENHEAP) !== 0;
  }

  /** True if `mfn` is an in-use, validated page table of `type` (Xen's page_lock() + type check). */
  isActiveTable(mfn: number, type: FrameType): boolean {
    if (!this.isValid(mfn)) return false;
    const i = mfn - this.firstMfn;
    return this.type[i] === type && this.tcount[i]! > 0 && (this.flags[i]! & F_VALIDATED) !== 0;
  }

  private setFlag(mfn: number, flag: number, on: boolean): void {
    if (!this.isValid(mfn)) return;
    const i = mfn - this.firstMfn;
    if (on) this.flags[i]! |= flag;
    else this.flags[i]! &= ~flag;
  }

  // --- M2P --------------------------------------------------------------------------------

  m2pOf(mfn: number): number {
    return this.isValid(mfn) ? this.m2p[mfn - this.firstMfn]! : INVALID_M2P_ENTRY;
  }

  setM2p(mfn: number, pfn: number): void {
    if (this.isValid(mfn)) this.m2p[mfn - this.firstMfn] = pfn >>> 0;
  }

  // --- Contents -----------------------------------------------------------------------------

  /** The frame's bytes, or null if it has no storage yet (it reads as zeros). */
  frameData(mfn: number): Uint8Array | null {
    return this.mem.frames[mfn] ?? null;
  }

  /** The frame's bytes, giving it storage first if it has none (for writes). */
  frameStorage(mfn: number): Uint8Array {
    const f = this.isValid(mfn) ? this.mem.frames[mfn] : undefined;
    if (f) return f;
    if (!this.isValid(mfn) || !this.mem.isAllocated(mfn)) throw new RangeError(`frame ${mfn} is not allocated`);
    return this.mem.ensureFrame(mfn);
  }

  /** Little-endian words of the frame, giving it storage first if needed. */
  frameWords(mfn: number): Int32Array {
    this.frameStorage(mfn);
    return this.mem.words[mfn]!;
  }

  /** PhysMemory's populate hook: storage for an allocated frame on its first touch. */
  private populateOnDemand(pfn: number): Uint8Array | null {
    if (!this.mem.unpopulated[pfn]) return null;
    this.populatedOnDemand++;
    return this.mem.ensureFrame(pfn);
  }
}
