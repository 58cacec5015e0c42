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
//   * 4 KiB entries: the software TLB's geometry (per translation set U, S, VU, VS, per
//     table read, write, fetch, 256 direct-mapped entries), so the model never holds less
//     than the software TLB and thrashes no more. Cost rule: a load or store refill that
//     any data table of the same regime holds is a hit (loads and stores share an entry in
//     hardware: a load then a store to one page is one miss; U and S share the TLB); a
//     fetch refill that a fetch table of the regime holds is a hit (a separate ITLB).
//   * 4 MiB entries: a small fully associative array (`size`, the cost model's
//     tlbMegaEntries), round-robin replacement, shared by fetches and data. A translation
//     from a 4 MiB leaf (1-D Sv32; two-stage: a guest megapage, or a bare vsatp, over a
//     G-stage megapage) lives here, so a megapage gives 4 MiB of reach per entry.
//   * Regime: 0 = V=0 (sets U and S), 1 = V=1 (sets VU and VS).
//   * Flushed by the architectural events only (mmu.ts: satp, vsatp and hgatp writes,
//     sfence.vma, hfence, SUM/MXR and PMP changes, and the hypervisor's own flushes of a
//     hart: PV TLB-flush hypercalls, shadow and p2m changes), not by PhysMemory.generation.
//   * A megapage held as 4 KiB entries (no large-page entries, or a VS megapage over G-stage
//     4 KiB pages) marks its regime fragmented, as Rocket's TLB marks fragmented
//     superpages: an SFENCE.VMA of one address then drops the whole regime, because the
//     spec's fence of an address drops every cached piece of the leaf that maps it (other
//     pieces left behind would be stale translations after the guest remaps the megapage).
// Consulted only on the software TLB's miss path: nothing on hits. Deterministic.
//
// Invariant: every software-TLB entry is held by the model too (the model is a superset).
// Then a software hit is a model hit, the model changes only on its own refills, and its
// state is the same whatever the host flushed. The MMU keeps it: after a refill it drops
// the software entry of that set, table and index unless it is the page refilled (the
// software TLB does not cache some frames the model does), and when a 4 MiB entry is
// replaced it flushes the evicted entry's regime from the software TLB (`lastEvicted`),
// rare and costing only host time.

/** Regime of V=0 translations (the U and S sets). */
export const REACH_HOST = 0;
/** Regime of V=1 translations (the VU and VS sets). */
export const REACH_GUEST = 1;
/** Large-page entries when nobody says (the cost model's `tlbMegaEntries` default). */
export const TLB_MEGA_ENTRIES_DEFAULT = 16;
/** 4 KiB entries per regime and kind (data, fetch): the software TLB's table size. */
/** 4 KiB entries per set and table: the software TLB's table size. */
export const TLB_MODEL_PAGES = 256;
/** Translation sets (mmu.ts: U, S, -, M, VU, VS) and tables (read, write, fetch). */
const SETS = 6;
const TABLES = 3;

export class TlbReach {
  /** 4 MiB entries: regime << 10 | VA[31:22], or -1 when empty. */
  private readonly tags: Int32Array;
  private next = 0;
  /** 4 KiB entries, [(set * TABLES + table) * TLB_MODEL_PAGES + (vpn & mask)] = vpn, or -1. */
  private readonly pages = new Int32Array(SETS * TABLES * TLB_MODEL_PAGES).fill(-1);
  /** Software-TLB refills the model served without a walk, by 4 MiB entries and by 4 KiB entries (for reports). */
  hits = 0;
  pageHits = 0;
  /** Refills that missed the model: the TLB misses real hardware would have had (each a charged walk). */
  misses = 0;
  /** After a refill that missed: the regime of the 4 MiB entry it replaced, or -1. */
  lastEvicted = -1;
  /** Per regime: some 4 KiB entry is a piece of a megapage leaf (flushPage drops the regime). */
  private readonly fragmented = new Uint8Array(2);

  constructor(readonly size: number = TLB_MEGA_ENTRIES_DEFAULT) {
    if (!Number.isInteger(size) || size < 0 || size > 4096) throw new RangeError(`modelled TLB: ${size} large-page entries is out of range (0..4096)`);
    this.tags = new Int32Array(size).fill(-1);
  }

  /**
   * A software-TLB refill of `va` that walked, for translation set `set` (mmu.ts: 0 U,
   * 1 S, 4 VU, 5 VS) and table `table` (0 read, 1 write, 2 fetch); `mega`: the translation
   * spans 4 MiB; `superLeaf`: the leaf an SFENCE.VMA of `va` names (1-D, or the VS stage)
   * is a megapage, even if the translation is held as 4 KiB. True when the model holds it
   * (no walk on real hardware). Either way the model holds it afterwards.
   */
  refill(set: number, table: number, va: number, mega: boolean, superLeaf: boolean = mega): boolean {
    this.lastEvicted = -1;
    const regime = set >= 4 ? 1 : 0;
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
        this.misses++;
        return false;
      }
      // No large-page entries: a megapage is held as 4 KiB entries, no more reach than those.
    }
    if (superLeaf) this.fragmented[regime] = 1;
    const vpn = va >>> 12;
    const idx = vpn & (TLB_MODEL_PAGES - 1);
    const pages = this.pages;
    const own = (set * TABLES + table) * TLB_MODEL_PAGES + idx;
    if (pages[own] === vpn) {
      this.pageHits++;
      return true;
    }
    pages[own] = vpn;
    // The regime's other tables of the same kind: data (read, write) or fetch.
    const first = regime === 1 ? 4 : 0;
    for (let s = first; s <= first + 1; s++) {
      for (let t = table === 2 ? 2 : 0; t <= (table === 2 ? 2 : 1); t++) {
        if (pages[(s * TABLES + t) * TLB_MODEL_PAGES + idx] === vpn && (s !== set || t !== table)) {
          this.pageHits++;
          return true;
        }
      }
    }
    this.misses++;
    return false;
  }

  /** Drops every entry of `regime`. */
  flushRegime(regime: number): void {
    this.fragmented[regime] = 0;
    const tags = this.tags;
    for (let i = 0; i < tags.length; i++) if (tags[i]! >>> 10 === regime) tags[i] = -1;
    const first = regime === 1 ? 4 : 0;
    this.pages.fill(-1, first * TABLES * TLB_MODEL_PAGES, (first + 2) * TABLES * TLB_MODEL_PAGES);
  }

  /**
   * Drops the entries of `regime` covering `va`. True when that was a 4 MiB entry, or the
   * regime holds megapages in 4 KiB pieces (then all of it went): the caller drops the
   * regime's software entries too (they may hold other pages of it).
   */
  flushPage(regime: number, va: number): boolean {
    if (this.fragmented[regime]) {
      this.flushRegime(regime);
      return true;
    }
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
    const first = regime === 1 ? 4 : 0;
    for (let k = first * TABLES; k < (first + 2) * TABLES; k++) {
      const i = k * TLB_MODEL_PAGES + (vpn & (TLB_MODEL_PAGES - 1));
      if (this.pages[i] === vpn) this.pages[i] = -1;
    }
    return mega;
  }

  flushAll(): void {
    this.fragmented.fill(0);
    this.tags.fill(-1);
    this.pages.fill(-1);
  }
}
