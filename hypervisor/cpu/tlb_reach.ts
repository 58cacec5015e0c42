// The modelled TLB: what a hardware TLB would hold, kept for cost accounting only. The
// software TLB (mmu.ts) is the interpreter's cache: it keeps 4 KiB entries, one table per
// access kind and privilege, and it also drops entries for host reasons a real TLB never
// sees (PhysMemory.generation: any frame watched or freed anywhere on the machine; SUM/MXR
// changes). So whether a refill of it costs a walk is decided here: on every software-TLB
// miss that walked, the MMU asks the model; a hit means real hardware would not have
// walked, and the walk's memory references are not counted (the interpreter still walks,
// for the address and the A/D bits). Virtual time then depends only on the guest's own
// accesses and architectural flushes, never on the host cache's state.
//
// Shape:
//   * 4 KiB entries: direct mapped, TLB_MODEL_PAGES per regime, one array for data (loads
//     and stores share an entry, as in hardware) and one for instruction fetch. The same
//     geometry as the software TLB's tables, so without host flushes the two agree.
//   * 4 MiB entries: a small fully associative array (`size`, the cost model's
//     tlbMegaEntries), round-robin replacement, shared by fetches and data. A translation
//     from a 4 MiB leaf (1-D Sv32; two-stage: a guest megapage, or a bare vsatp, over a
//     G-stage megapage) lives here, so a megapage gives 4 MiB of reach per entry.
//   * Regime: 0 = V=0 (U and S share entries, as they share a hardware TLB), 1 = V=1.
//   * Flushed by the architectural events only (mmu.ts: satp, vsatp and hgatp writes,
//     sfence.vma, hfence, SUM/MXR and PMP changes, and the hypervisor's own flushes of a
//     hart: PV TLB-flush hypercalls, shadow and p2m changes), not by PhysMemory.generation.
// Consulted only on the software TLB's miss path: nothing on hits. Deterministic.
//
// Invariant: every software-TLB entry is held by the model too (the model is a superset).
// Then a software hit is a model hit, the model changes only on its own misses, and its
// state is the same whatever the host flushed. The MMU keeps it: when the model replaces a
// 4 KiB entry it drops the software entries at that index of the regime's sets
// (`lastSlot`), and when a 4 MiB entry is replaced it flushes the evicted entry's regime
// from the software TLB (`lastEvicted`), rare and costing only host time.

/** Regime of V=0 translations (the U and S sets). */
export const REACH_HOST = 0;
/** Regime of V=1 translations (the VU and VS sets). */
export const REACH_GUEST = 1;
/** Large-page entries when nobody says (the cost model's `tlbMegaEntries` default). */
export const TLB_MEGA_ENTRIES_DEFAULT = 16;
/** 4 KiB entries per regime and kind (data, fetch): the software TLB's table size. */
export const TLB_MODEL_PAGES = 256;

export class TlbReach {
  /** 4 MiB entries: regime << 10 | VA[31:22], or -1 when empty. */
  private readonly tags: Int32Array;
  private next = 0;
  /** 4 KiB entries, [regime * TLB_MODEL_PAGES + (vpn & mask)] = vpn, or -1. */
  private readonly data = new Int32Array(2 * TLB_MODEL_PAGES).fill(-1);
  private readonly fetch = new Int32Array(2 * TLB_MODEL_PAGES).fill(-1);
  /** Software-TLB refills the model served without a walk, by 4 MiB entries and by 4 KiB entries (for reports). */
  hits = 0;
  pageHits = 0;
  /** After a refill that missed: the 4 KiB index it filled (vpn & mask), or -1 (a 4 MiB entry). */
  lastSlot = -1;
  /** After a refill that missed: the regime of the 4 MiB entry it replaced, or -1. */
  lastEvicted = -1;

  constructor(readonly size: number = TLB_MEGA_ENTRIES_DEFAULT) {
    if (!Number.isInteger(size) || size < 0 || size > 4096) throw new RangeError(`modelled TLB: ${size} large-page entries is out of range (0..4096)`);
    this.tags = new Int32Array(size).fill(-1);
  }

  /**
   * A software-TLB refill of `va` in `regime` that walked (`exec`: an instruction fetch;
   * `mega`: the translation spans 4 MiB). True when the model holds it (no walk on real
   * hardware), else false after filling it.
   */
  refill(regime: number, va: number, exec: boolean, mega: boolean): boolean {
    this.lastSlot = -1;
    this.lastEvicted = -1;
    if (mega) {
      const tag = (regime << 10) | (va >>> 22);
      const tags = this.tags;
      for (let i = 0; i < tags.length; i++) {
        if (tags[i] === tag) {
          this.hits++;
          return true;
        }
      }
      if (tags.length !== 0) {
        const old = tags[this.next]!;
        if (old >= 0) this.lastEvicted = old >>> 10;
        tags[this.next] = tag;
        this.next = this.next + 1 === tags.length ? 0 : this.next + 1;
        return false;
      }
      // No large-page entries: a megapage is held as 4 KiB entries, no more reach than those.
    }
    const vpn = va >>> 12;
    const pages = exec ? this.fetch : this.data;
    const i = regime * TLB_MODEL_PAGES + (vpn & (TLB_MODEL_PAGES - 1));
    if (pages[i] === vpn) {
      this.pageHits++;
      return true;
    }
    pages[i] = vpn;
    this.lastSlot = vpn & (TLB_MODEL_PAGES - 1);
    return false;
  }

  /** Drops every entry of `regime`. */
  flushRegime(regime: number): void {
    const tags = this.tags;
    for (let i = 0; i < tags.length; i++) if (tags[i]! >>> 10 === regime) tags[i] = -1;
    this.data.fill(-1, regime * TLB_MODEL_PAGES, (regime + 1) * TLB_MODEL_PAGES);
    this.fetch.fill(-1, regime * TLB_MODEL_PAGES, (regime + 1) * TLB_MODEL_PAGES);
  }

  /**
   * Drops the entries of `regime` covering `va`. True when that was a 4 MiB entry: the
   * caller drops the regime's software entries too (they may hold other pages of it).
   */
  flushPage(regime: number, va: number): boolean {
    const tag = (regime << 10) | (va >>> 22);
    const tags = this.tags;
    let mega = false;
    for (let i = 0; i < tags.length; i++) {
      if (tags[i] === tag) {
        tags[i] = -1;
        mega = true;
      }
    }
    const vpn = va >>> 12;
    const i = regime * TLB_MODEL_PAGES + (vpn & (TLB_MODEL_PAGES - 1));
    if (this.data[i] === vpn) this.data[i] = -1;
    if (this.fetch[i] === vpn) this.fetch[i] = -1;
    return mega;
  }

  flushAll(): void {
    this.tags.fill(-1);
    this.data.fill(-1);
    this.fetch.fill(-1);
  }
}
