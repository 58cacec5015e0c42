// Per-domain counts of HVM exits by reason, and the virtual time each reason cost. Both
// modes count into the same table, so a report can set them side by side (and the next
// issue's `pvsim compare` reads them from the run report).

import type { DomainPerf } from '../domain/perf.ts';

/** Why the hypervisor ran on an HVM guest's behalf. `world_switch` counts every exit. */
export const HVM_EXIT_REASONS = [
  'world_switch',
  'csr',
  'priv',
  'sbi',
  'shadow_fill',
  'walk_ref',
  'wp_fault',
  'guest_pf',
  'mmio',
  'insn_fetch',
  'irq_inject',
  'reflect',
  // hw mode (hw_mode.ts): virtual-instruction exits, MMIO accesses decoded from htinst,
  // and page-walk memory references on guest TLB misses (counted per reference; both modes).
  'virt_insn',
  'htinst_decode',
  'walk',
] as const;
export type HvmExitReason = (typeof HVM_EXIT_REASONS)[number];

/**
 * How telling each reason is of an exit that charged several (perf kvm stat names an exit by
 * one reason): an MMIO access beats the guest-page fault that found it, a guest's own page
 * fault the reflection that delivered it; world_switch, walks and fetches name nothing.
 */
const PRIMARY_RANK: Record<HvmExitReason, number> = {
  world_switch: 0, walk_ref: 0, walk: 0, insn_fetch: 1, htinst_decode: 1, irq_inject: 2, reflect: 3,
  csr: 4, priv: 4, virt_insn: 4, sbi: 5, guest_pf: 6, shadow_fill: 7, wp_fault: 8, mmio: 9,
};

export class HvmStats {
  readonly count: Record<HvmExitReason, number>;
  readonly ns: Record<HvmExitReason, number>;
  /** The most telling reason charged since beginExit (null: none yet). */
  private primary: HvmExitReason | null = null;

  /** `perf`: the domain's counters (Domain.perf), fed from the same charges; counting changes no time. */
  constructor(private readonly perf: DomainPerf | null = null) {
    this.count = Object.fromEntries(HVM_EXIT_REASONS.map((r) => [r, 0])) as Record<HvmExitReason, number>;
    this.ns = Object.fromEntries(HVM_EXIT_REASONS.map((r) => [r, 0])) as Record<HvmExitReason, number>;
  }

  /** Counts one `reason` and charges `ns` of virtual time to `clock`. */
  charge(clock: { now: number }, reason: HvmExitReason, ns: number): void {
    this.count[reason]++;
    this.ns[reason] += ns;
    clock.now += ns;
    this.note(reason);
  }

  /** Counts one `reason` that costs nothing of its own (trap mode's guest page faults, charged as their reflection). */
  countOnly(reason: HvmExitReason): void {
    this.count[reason]++;
    this.note(reason);
  }

  private note(reason: HvmExitReason): void {
    if (this.primary === null || PRIMARY_RANK[reason] > PRIMARY_RANK[this.primary]) this.primary = reason;
    const p = this.perf;
    if (p === null) return;
    if (reason === 'irq_inject') p.interrupts++;
    else if (reason === 'shadow_fill') p.shadowFills++;
    else if (reason === 'wp_fault') p.wpFaults++;
  }

  /** Starts an exit (or an entry's injection): the reasons charged from here name it. */
  beginExit(): void {
    this.primary = null;
  }

  /** The exit's reason, or null when nothing was charged since beginExit. */
  endExit(): HvmExitReason | null {
    const r = this.primary;
    this.primary = null;
    return r;
  }

  /** Counts `n` of `reason` at `nsEach` (page-walk references). */
  chargeMany(clock: { now: number }, reason: HvmExitReason, n: number, nsEach: number): void {
    if (n <= 0) return;
    this.count[reason] += n;
    this.ns[reason] += n * nsEach;
    clock.now += n * nsEach;
    // The hardware's walks on TLB misses run in the guest's time, not in an exit.
    if (reason === 'walk' && this.perf) this.perf.walkNs += n * nsEach;
  }

  /** Exits in total (each one a world switch). */
  get exits(): number {
    return this.count.world_switch;
  }
}
