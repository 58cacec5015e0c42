// Per-domain counts of HVM exits by reason, and the virtual time each reason cost. Both
// modes count into the same table, so a report can set them side by side (and the next
// issue's `pvsim compare` reads them from the run report).

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

export class HvmStats {
  readonly count: Record<HvmExitReason, number>;
  readonly ns: Record<HvmExitReason, number>;

  constructor() {
    this.count = Object.fromEntries(HVM_EXIT_REASONS.map((r) => [r, 0])) as Record<HvmExitReason, number>;
    this.ns = Object.fromEntries(HVM_EXIT_REASONS.map((r) => [r, 0])) as Record<HvmExitReason, number>;
  }

  /** Counts one `reason` and charges `ns` of virtual time to `clock`. */
  charge(clock: { now: number }, reason: HvmExitReason, ns: number): void {
    this.count[reason]++;
    this.ns[reason] += ns;
    clock.now += ns;
  }

  /** Counts `n` of `reason` at `nsEach` (page-walk references). */
  chargeMany(clock: { now: number }, reason: HvmExitReason, n: number, nsEach: number): void {
    if (n <= 0) return;
    this.count[reason] += n;
    this.ns[reason] += n * nsEach;
    clock.now += n * nsEach;
  }

  /** Exits in total (each one a world switch). */
  get exits(): number {
    return this.count.world_switch;
  }
}
