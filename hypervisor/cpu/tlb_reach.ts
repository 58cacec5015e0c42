// The modelled TLB's large-page entries: what a hardware TLB would hold for 4 MiB
// translations, kept for cost accounting only. The software TLB (mmu.ts) stays the
// interpreter's cache and keeps 4 KiB entries, so on its own it gives a megapage no more
// reach than a 4 KiB page. A software-TLB refill whose translation came from a 4 MiB leaf
// (1-D Sv32; two-stage: a guest megapage, or a bare vsatp, over a G-stage megapage) looks
// here: a hit means real hardware would not have walked, so the walk's memory references
// are not counted (the interpreter still walks, for the address and the A/D bits).
//
// Shape: a small fully associative array of 4 MiB entries, separate from the 4 KiB
// entries (as the separate large-page L1 DTLBs of x86 cores, or the page-size-agnostic
// fully associative L1 TLB of CVA6, openhwgroup/cva6 docs/03_cva6_design/MMU.rst).
// Tag: the regime (0 = V=0, U and S share entries as they share a hardware TLB; 1 = V=1)
// and VA bits 31:22. Replacement: round robin (FIFO), deterministic. Consulted only on the
// software TLB's miss path, so it costs nothing on hits.
// Flushed on the same events as the software TLB's sets (mmu.ts: satp, vsatp and hgatp
// writes, sfence.vma, hfence, SUM/MXR and PMP changes), which is a superset of what
// hardware needs: a flush can only add walks, never hide one.

/** Regime of V=0 translations (the U and S sets). */
export const REACH_HOST = 0;
/** Regime of V=1 translations (the VU and VS sets). */
export const REACH_GUEST = 1;
/** Large-page entries when nobody says (the cost model's `tlbMegaEntries` default). */
export const TLB_MEGA_ENTRIES_DEFAULT = 16;

export class TlbReach {
  /** regime << 10 | VA[31:22], or -1 when empty. */
  private readonly tags: Int32Array;
  private next = 0;
  /** Refills the modelled TLB served without a walk (for reports). */
  hits = 0;

  constructor(readonly size: number = TLB_MEGA_ENTRIES_DEFAULT) {
    if (!Number.isInteger(size) || size < 0 || size > 4096) throw new RangeError(`modelled TLB: ${size} large-page entries is out of range (0..4096)`);
    this.tags = new Int32Array(size).fill(-1);
  }

  /**
   * A software-TLB refill from a 4 MiB translation of `va` in `regime`: true when the
   * modelled TLB holds it (no walk on real hardware), else false after inserting it.
   */
  refill(regime: number, va: number): boolean {
    const tag = (regime << 10) | (va >>> 22);
    const tags = this.tags;
    for (let i = 0; i < tags.length; i++) {
      if (tags[i] === tag) {
        this.hits++;
        return true;
      }
    }
    if (tags.length !== 0) {
      tags[this.next] = tag;
      this.next = this.next + 1 === tags.length ? 0 : this.next + 1;
    }
    return false;
  }

  /** Drops every entry of `regime`. */
  flushRegime(regime: number): void {
    const tags = this.tags;
    for (let i = 0; i < tags.length; i++) if (tags[i]! >>> 10 === regime) tags[i] = -1;
  }

  /** Drops the entry of `regime` covering `va`. */
  flushPage(regime: number, va: number): void {
    const tag = (regime << 10) | (va >>> 22);
    const tags = this.tags;
    for (let i = 0; i < tags.length; i++) if (tags[i] === tag) tags[i] = -1;
  }

  flushAll(): void {
    this.tags.fill(-1);
  }
}
