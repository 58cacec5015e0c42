// Charging hardware page walks: the one place every mode turns the walk references a
// hart's MMU counted (hypervisor/cpu/mmu.ts: Sv32 walks at V=0; gstage.ts: two-stage walks
// at V=1) into virtual time, at walkMemRefNs each. PV vCPUs are charged by the run loop
// after each quantum, HVM vCPUs at their entries and exits (hvm/vcpu.ts), the native board
// by its own loop: the same counters, the same price. A refill the modelled TLB covers
// (tlb_reach.ts) counted no references, so it costs nothing here.

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
    clock.now += n * costs.walkMemRefNs;
    return n;
  }
}
