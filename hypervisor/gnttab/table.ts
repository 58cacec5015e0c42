// A domain's grant table (xen/common/grant_table.c, version 1): the shared entries live in
// frames the domain owns and writes directly; the hypervisor's private state is the active
// entries (one per grant in use, with its pin counts) and the maptrack (one per mapping this
// domain made of another's grant, named by its handle).

import { GRANT_ENTRIES_PER_FRAME, GRANT_ENTRY_V1 } from '../../protocol/xen/grant_table.ts';
import { FrameType } from '../mm/frame_table.ts';
import type { FrameTable } from '../mm/frame_table.ts';
import type { PhysMemory } from '../cpu/memory.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';

/** What the table's own methods use of the memory context (an MmCtx is one). */
export interface GnttabMem {
  readonly frames: FrameTable;
  readonly mem: PhysMemory;
}

/** Xen's INITIAL_NR_GRANT_FRAMES: every table starts with one frame. */
export const INITIAL_NR_GRANT_FRAMES = 1;
/** xl.cfg max_grant_frames default used by pvsim (Xen 4.17's own default is 64). */
export const DEFAULT_MAX_GRANT_FRAMES = 32;
/** xl.cfg max_maptrack_frames default (Xen: 1024 frames of 256 handles). */
export const DEFAULT_MAX_MAPTRACK_FRAMES = 1024;
export const MAPTRACK_PER_FRAME = PAGE_SIZE / 16;

/** Pin counts of an active grant, packed as in Xen (8 bits each). */
export const GNTPIN = {
  hstw_inc: 1 << 0,
  hstw_mask: 0xff << 0,
  hstr_inc: 1 << 8,
  hstr_mask: 0xff << 8,
  devw_inc: 1 << 16,
  devw_mask: 0xff << 16,
  devr_inc: 1 << 24,
  devr_mask: 0xff << 24,
} as const;
export const GNTPIN_WRITE_MASK = GNTPIN.hstw_mask | GNTPIN.devw_mask;
/** Any count at 128 or more: refuse more pins before it overflows (Xen's 0x80808080 check). */
export const GNTPIN_OVERFLOW = 0x8080_8080;

/** A grant in use: who has it pinned, how, and which frame it stands for. */
export interface ActiveGrant {
  /** Packed GNTPIN counts (uint32). */
  pin: number;
  /** The domain the grant is pinned for. */
  domid: number;
  mfn: number;
}

/** One mapping this domain made (a maptrack entry). */
export interface GrantMapping {
  ref: number;
  /** The granting domain. */
  dom: number;
  /** GNTMAP_* still in effect (host_map / device_map cleared as they are unmapped). */
  flags: number;
  /** The granter's table (kept so the mapping can be undone after the granter is gone). */
  rgt: DomainGnttab;
}

export interface GnttabOptions {
  /** xl.cfg max_grant_frames. */
  maxGrantFrames?: number;
  /** xl.cfg max_maptrack_frames (each holds 256 handles). */
  maxMaptrackFrames?: number;
  /** Exact handle limit (overrides maxMaptrackFrames; for tests). */
  maxHandles?: number;
}

export class DomainGnttab {
  /** Machine frames of the shared table (allocated on demand; entries beyond read as zero). */
  readonly frames: number[] = [];
  /** Size of the table in frames (what GNTTABOP_query_size reports). */
  nrFrames = INITIAL_NR_GRANT_FRAMES;
  readonly maxFrames: number;
  readonly maxHandles: number;
  /** ref -> active grant; absent = not pinned. */
  readonly active = new Map<number, ActiveGrant>();
  /** handle -> mapping; null = free. */
  readonly maptrack: (GrantMapping | null)[] = [];
  private readonly freeHandles: number[] = [];
  /** Set when the domain is destroyed: its entries can no longer be written. */
  dying = false;

  constructor(readonly domid: number, opts: GnttabOptions = {}) {
    this.maxFrames = Math.max(INITIAL_NR_GRANT_FRAMES, opts.maxGrantFrames ?? DEFAULT_MAX_GRANT_FRAMES);
    this.maxHandles = opts.maxHandles ?? (opts.maxMaptrackFrames ?? DEFAULT_MAX_MAPTRACK_FRAMES) * MAPTRACK_PER_FRAME;
  }

  get nrEntries(): number {
    return this.nrFrames * GRANT_ENTRIES_PER_FRAME;
  }

  /** A free maptrack handle, or -1 when the domain has used all it may have. */
  allocHandle(): number {
    const h = this.freeHandles.pop();
    if (h !== undefined) return h;
    if (this.maptrack.length >= this.maxHandles) return -1;
    this.maptrack.push(null);
    return this.maptrack.length - 1;
  }

  freeHandle(handle: number): void {
    this.maptrack[handle] = null;
    this.freeHandles.push(handle);
  }

  /** Grows the table to `nr` frames (gnttab_grow_table); false when machine memory runs out. */
  grow(ctx: GnttabMem, nr: number): boolean {
    while (this.frames.length < nr) {
      const mfn = ctx.frames.allocExtent(this.domid, 0, FrameType.GrantTable);
      if (mfn < 0) return false;
      this.frames.push(mfn);
    }
    this.nrFrames = Math.max(this.nrFrames, nr);
    return true;
  }

  // --- Shared entries (the granter writes them; the hypervisor sets/clears GTF_reading/writing) --

  private entryAt(ref: number): { mfn: number; off: number } | null {
    const mfn = this.frames[Math.floor(ref / GRANT_ENTRIES_PER_FRAME)];
    if (mfn === undefined || this.dying) return null;
    return { mfn, off: (ref % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_V1.SIZE };
  }

  /** Reads grant entry `ref` (zeros when its frame was never handed out). */
  readEntry(ctx: GnttabMem, ref: number): { flags: number; domid: number; frame: number } {
    const at = this.entryAt(ref);
    const f = at ? ctx.frames.frameData(at.mfn) : null;
    if (!at || !f) return { flags: 0, domid: 0, frame: 0 };
    const dv = new DataView(f.buffer, f.byteOffset + at.off, GRANT_ENTRY_V1.SIZE);
    return {
      flags: dv.getUint16(GRANT_ENTRY_V1.flags, true),
      domid: dv.getUint16(GRANT_ENTRY_V1.domid, true),
      frame: dv.getUint32(GRANT_ENTRY_V1.frame, true),
    };
  }

  /** Sets and clears bits of entry `ref`'s flags (as Xen's cmpxchg / gnttab_clear_flags). */
  updateFlags(ctx: GnttabMem, ref: number, set: number, clear: number): void {
    const at = this.entryAt(ref);
    if (!at) return;
    const f = ctx.frames.frameStorage(at.mfn);
    const dv = new DataView(f.buffer, f.byteOffset + at.off, 2);
    const old = dv.getUint16(0, true);
    const v = (old | set) & ~clear & 0xffff;
    if (v === old) return;
    dv.setUint16(0, v, true);
    ctx.mem.noteStore(at.mfn * PAGE_SIZE + at.off, 2);
  }
}
