// Charging hardware page walks: the one place every mode turns the walk references a
// hart's MMU counted (hypervisor/cpu/mmu.ts: Sv32 walks at V=0; gstage.ts: two-stage walks
// at V=1) into virtual time, at walkMemRefNs each. The run loop (run/loop.ts) charges
// every vCPU, PV or HVM, before an exit or trap is served and where a quantum ends at an
// instant every run shares (never where a caller's `until` cut it: see runQuantum); the
// native board's loop calls the same. A refill the modelled TLB holds (tlb_reach.ts)
// counted no references, so it costs nothing here.

import type { CostModel } from './cost_model.ts';

/** The walk counters of a hart's MMU (hypervisor/cpu/mmu.ts's Mmu has them). */
export interface WalkRefCounters {
  readonly walkRefs: number;
  readonly walker: { readonly refs: number };
}

/** One hart's walk references, charged once each. */
export class PageWalkCharge {
  /** References charged so far (the MMU's counters at the last charge). */
  private charged = 0;
  /** References charged in all (for reports). */
  total = 0;
  /** Told of each charge (references, ns): an HVM board counts them as `walk` exits. */
  onCharge: ((refs: number, ns: number) => void) | null = null;

  constructor(private readonly mmu: WalkRefCounters) {
    this.charged = mmu.walkRefs + mmu.walker.refs;
  }

  /**
   * Adds to `clock` the references made since the last call at `costs.walkMemRefNs` each;
   * returns how many it charged (the caller may count them by reason).
   */
  charge(clock: { now: number }, costs: Pick<CostModel, 'walkMemRefNs'>): number {
    const refs = this.mmu.walkRefs + this.mmu.walker.refs;
    const n = refs - this.charged;
    this.charged = refs;
    if (n <= 0) return 0;
    this.total += n;
    const ns = n * costs.walkMemRefNs;
    clock.now += ns;
    this.onCharge?.(n, ns);
    return n;
  }
}
