// A domain's counters at one instant, and the difference of two: the window of a workload's
// measured section. Domain.perf (hypervisor/domain/perf.ts) is the source; while nothing
// fills it (an empty snapshot), a coarser picture is built from what the hypervisor already
// counts (vCPU statistics, the HVM board's exits by reason) so the comparison still works.

import type { Domain } from '../../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../../hypervisor/hvm/board.ts';
import type { CostModel } from '../../hypervisor/time/cost_model.ts';
import type { DomainPerfSnapshot, ExitCounter } from '../../hypervisor/domain/perf.ts';

export interface Counters {
  perf: DomainPerfSnapshot;
  /** True when `perf` was built from the older counters (Domain.perf was empty). */
  fallback: boolean;
}

/**
 * The board's reasons that are exits of their own. The others are charges inside an exit or
 * at entry (the world switch every exit pays, reading the instruction, decoding htinst,
 * injecting an interrupt, walk references): they count into hypervisor time, not as exits.
 */
const EXIT_REASONS = ['mmio', 'csr', 'priv', 'sbi', 'shadow_fill', 'wp_fault', 'virt_insn', 'reflect', 'guest_pf'] as const;

/** RISC-V mcause of the traps a PV domain takes into the hypervisor, by name. */
const TRAP_NAMES: Record<number, string> = { 2: 'illegal_insn', 3: 'breakpoint', 8: 'ecall_u', 9: 'ecall_s', 12: 'insn_page_fault', 13: 'load_page_fault', 15: 'store_page_fault' };

function perfIsEmpty(p: DomainPerfSnapshot): boolean {
  return p.instr.user + p.instr.kernel === 0 && Object.keys(p.exits).length === 0 && Object.keys(p.hypercalls).length === 0;
}

function emptyPerf(): DomainPerfSnapshot {
  return {
    instr: { user: 0, kernel: 0 },
    hypervisorNs: 0,
    dom0Ns: 0,
    exits: {},
    illegalInsn: {},
    hypercalls: {},
    mmu: { pageWalks: 0, walkRefs: 0, tlbMisses: 0, walkNs: 0, shadowFills: 0, shadowFlushes: {}, wpFaults: 0, mmuUpdateCalls: 0, mmuUpdatePtes: 0 },
    io: { notifications: 0, interrupts: 0, grantOps: 0, bytesCopied: 0, mmioAccesses: 0 },
  };
}

/** What the hypervisor counted before Domain.perf: instructions, traps, hypercalls, HVM exits. */
function fallbackPerf(d: Domain, costs: CostModel): DomainPerfSnapshot {
  const p = emptyPerf();
  let instructions = 0;
  let hypercalls = 0;
  let events = 0;
  const traps = new Map<number, number>();
  for (const v of d.vcpus) {
    instructions += v.stats.instructions;
    hypercalls += v.stats.hypercalls;
    events += v.stats.events;
    for (const [cause, n] of v.stats.traps) traps.set(cause, (traps.get(cause) ?? 0) + n);
  }
  // No privilege split without Domain.perf: all of it is counted as the guest kernel's.
  p.instr.kernel = instructions;
  p.io.interrupts = events;
  const add = (reason: string, count: number, totalNs: number) => {
    if (count <= 0) return;
    const avg = totalNs / count;
    p.exits[reason] = { count, totalNs, minNs: avg, maxNs: avg };
    p.hypervisorNs += totalNs;
  };
  if (d.hvm) {
    const b = d.hvm as HvmBoard;
    const s = b.stats;
    // Each exit pays one world switch, shared out by count; a hw MMIO exit is also counted
    // as a guest-page fault by the board, so those are taken out of guest_pf.
    const counts = new Map<string, number>(EXIT_REASONS.map((r) => [r, s.count[r]]));
    if (b.mode === 'hw') counts.set('guest_pf', Math.max(0, s.count.guest_pf - s.count.mmio));
    const named = [...counts.values()].reduce((a, c) => a + c, 0);
    const exits = Math.max(s.count.world_switch, named);
    const switchNs = s.count.world_switch ? s.ns.world_switch / s.count.world_switch : 0;
    for (const [r, c] of counts) {
      const own = r === 'guest_pf' && b.mode === 'hw' ? (s.ns.guest_pf * c) / (s.count.guest_pf || 1) : s.ns[r as keyof typeof s.ns];
      add(r, c, own + switchNs * c);
    }
    add('other', exits - named, switchNs * (exits - named));
    // The charges that are not exits of their own still are the hypervisor's time.
    for (const r of ['insn_fetch', 'htinst_decode', 'irq_inject', 'walk', 'walk_ref'] as const) p.hypervisorNs += s.ns[r];
    if (b.mode === 'hw') p.hypervisorNs += (s.ns.guest_pf * s.count.mmio) / (s.count.guest_pf || 1);
    p.mmu.walkRefs = s.count.walk_ref + s.count.walk;
    p.mmu.shadowFills = s.count.shadow_fill;
    p.mmu.wpFaults = s.count.wp_fault;
    p.io.mmioAccesses = s.count.mmio;
    p.io.interrupts = s.count.irq_inject;
  } else {
    add('hypercall', hypercalls, hypercalls * costs.hypercallNs);
    for (const [cause, c] of [...traps].sort((a, b) => a[0] - b[0])) {
      if (cause === 9) continue; // ecall from S: the hypercalls, counted above
      add(TRAP_NAMES[cause] ?? `trap_${cause}`, c, c * costs.trapReflectNs);
    }
  }
  return p;
}

export function readCounters(d: Domain, costs: CostModel): Counters {
  const perf = d.perf.snapshot();
  if (!perfIsEmpty(perf)) return { perf, fallback: false };
  return { perf: fallbackPerf(d, costs), fallback: true };
}

function subRecord(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(a)) {
    const v = a[k]! - (b[k] ?? 0);
    if (v !== 0) out[k] = v;
  }
  return out;
}

/**
 * end - start. Exit extremes cannot be taken apart: a window keeps the whole run's min and
 * max of each reason (its count, total and average are the window's).
 */
export function diffCounters(end: Counters, start: Counters): Counters {
  const e = end.perf;
  const s = start.perf;
  const exits: Record<string, ExitCounter> = {};
  for (const [k, c] of Object.entries(e.exits)) {
    const b = s.exits[k];
    const count = c.count - (b?.count ?? 0);
    if (count > 0) exits[k] = { count, totalNs: c.totalNs - (b?.totalNs ?? 0), minNs: c.minNs, maxNs: c.maxNs };
  }
  const hypercalls: Record<number, number> = {};
  for (const [k, v] of Object.entries(e.hypercalls)) {
    const n = v - (s.hypercalls[Number(k)] ?? 0);
    if (n > 0) hypercalls[Number(k)] = n;
  }
  return {
    fallback: end.fallback,
    perf: {
      instr: { user: e.instr.user - s.instr.user, kernel: e.instr.kernel - s.instr.kernel },
      hypervisorNs: e.hypervisorNs - s.hypervisorNs,
      dom0Ns: e.dom0Ns - s.dom0Ns,
      exits,
      illegalInsn: subRecord(e.illegalInsn, s.illegalInsn),
      hypercalls,
      mmu: {
        pageWalks: e.mmu.pageWalks - s.mmu.pageWalks,
        walkRefs: e.mmu.walkRefs - s.mmu.walkRefs,
        tlbMisses: e.mmu.tlbMisses - s.mmu.tlbMisses,
        walkNs: e.mmu.walkNs - s.mmu.walkNs,
        shadowFills: e.mmu.shadowFills - s.mmu.shadowFills,
        shadowFlushes: subRecord(e.mmu.shadowFlushes, s.mmu.shadowFlushes),
        wpFaults: e.mmu.wpFaults - s.mmu.wpFaults,
        mmuUpdateCalls: e.mmu.mmuUpdateCalls - s.mmu.mmuUpdateCalls,
        mmuUpdatePtes: e.mmu.mmuUpdatePtes - s.mmu.mmuUpdatePtes,
      },
      io: {
        notifications: e.io.notifications - s.io.notifications,
        interrupts: e.io.interrupts - s.io.interrupts,
        grantOps: e.io.grantOps - s.io.grantOps,
        bytesCopied: e.io.bytesCopied - s.io.bytesCopied,
        mmioAccesses: e.io.mmioAccesses - s.io.mmioAccesses,
      },
    },
  };
}

export const EMPTY_COUNTERS: Counters = { perf: emptyPerf(), fallback: false };
