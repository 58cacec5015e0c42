// Trap handling (Xen's arch traps.c and the hypercall entry): what the hypervisor does when
// a vCPU traps to it. An ecall is a hypercall, dispatched through the table in
// hypercall/index.ts; a trapped wfi gives up the pCPU; anything else is reflected to the
// guest kernel as if delegated, except an instruction fault the guest cannot take (no
// trap vector, or a fault at the vector itself), which crashes the domain. An unexpected
// error met on a guest's behalf crashes that domain only (crashOnError).

import {
  CAUSE_FETCH_ACCESS,
  CAUSE_FETCH_PAGE_FAULT,
  CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_INTERRUPT,
  CAUSE_SUPERVISOR_ECALL,
  CSR_STVEC,
} from './cpu/csr.ts';
import type { Domain, Vcpu } from './domain/domain.ts';
import { dispatchHypercall } from './hypercall/index.ts';
import type { HypervisorServices } from './hypercall/types.ts';
import type { Pcpu } from './run/pcpu.ts';
import type { SchedCore } from './sched/core.ts';
import type { CostModel } from './time/cost_model.ts';
import { TRC, type TraceBuffer } from './trace/trace.ts';

const WFI_ENCODING = 0x1050_0073;

/** A PV trap's reason in Domain.perf's exits (the mcause, named). */
function pvTrapReason(cause: number, tval: number): string {
  if (cause & CAUSE_INTERRUPT) return `irq_${cause & 0x7fffffff}`;
  if (cause === CAUSE_ILLEGAL_INSTRUCTION) return tval === WFI_ENCODING ? 'wfi' : 'illegal_insn';
  return PV_TRAP_NAMES[cause] ?? `trap_${cause}`;
}

const PV_TRAP_NAMES: Record<number, string> = {
  0: 'misaligned_fetch', 1: 'fetch_access', 3: 'breakpoint', 4: 'misaligned_load', 5: 'load_access',
  6: 'misaligned_store', 7: 'store_access', 8: 'ecall_u', 12: 'fetch_page_fault', 13: 'load_page_fault', 15: 'store_page_fault',
};
const GUEST_EXECUTION = 'guest execution';

export interface TrapDeps {
  /** What hypercall handlers are handed. */
  readonly hv: HypervisorServices;
  readonly sched: SchedCore;
  readonly costs: CostModel;
  readonly trace: TraceBuffer;
  /** Xen's domain_crash. */
  crashDomain(domain: Domain, why: string): void;
  printk(line: string): void;
}

export class Traps {
  /** What the running vCPU is being served for, named in a domain_crash log line. */
  private serving = GUEST_EXECUTION;

  constructor(private readonly deps: TrapDeps) {}

  /** Serves the host trap `vcpu` took on pCPU `p` (its cause is in the hart). */
  handle(vcpu: Vcpu, p: Pcpu): void {
    const { costs, trace } = this.deps;
    const hart = vcpu.hart;
    const cause = hart.trapCause >>> 0;
    vcpu.stats.traps.set(cause, (vcpu.stats.traps.get(cause) ?? 0) + 1);
    if (vcpu.arch) {
      // An HVM vCPU: its mode serves every exit (hypervisor/hvm/).
      this.serving = `HVM exit (cause ${cause & 0x7fffffff}${cause & CAUSE_INTERRUPT ? ', interrupt' : ''})`;
      vcpu.arch.handleExit(p);
      this.serving = GUEST_EXECUTION;
      return;
    }
    const perf = vcpu.domain.perf;
    if (cause === CAUSE_SUPERVISOR_ECALL) {
      vcpu.stats.hypercalls++;
      const t0 = p.now;
      p.now += costs.hypercallNs;
      const x = hart.x;
      const nr = x[17]! >>> 0;
      perf.hypercall(nr);
      trace.record(p.now, p.id, TRC.PV_HYPERCALL, vcpu.domain.domid, vcpu.vcpuId, nr, x[10]! >>> 0);
      this.serving = `hypercall ${nr}`;
      const result = dispatchHypercall({ hv: this.deps.hv, vcpu }, nr, x[10]!, x[11]!, x[12]!, x[13]!, x[14]!);
      this.serving = GUEST_EXECUTION;
      x[10] = result | 0;
      hart.pc = (hart.pc + 4) >>> 0;
      // One hypervisor entry: its entry cost and whatever the handler charged.
      perf.exit('hypercall', p.now - t0);
      trace.side(p.now, p.id, TRC.PVSIM_HYPERCALL_END, vcpu.domain.domid, vcpu.vcpuId, nr, p.now - t0);
      return;
    }
    p.now += costs.trapReflectNs;
    perf.exit(pvTrapReason(cause, hart.trapTval >>> 0), costs.trapReflectNs);
    trace.record(p.now, p.id, TRC.PV_TRAP, vcpu.domain.domid, vcpu.vcpuId, cause, hart.trapTval >>> 0);
    trace.side(p.now, p.id, TRC.PVSIM_EXIT_END, vcpu.domain.domid, vcpu.vcpuId, cause, costs.trapReflectNs);
    if (cause === CAUSE_ILLEGAL_INSTRUCTION && hart.trapTval >>> 0 === WFI_ENCODING) {
      // mstatus.TW makes wfi trap: idling is a scheduling decision, so the vCPU gives up
      // the pCPU (PV kernels idle with SCHEDOP_block, which waits for events).
      hart.pc = (hart.pc + 4) >>> 0;
      this.deps.sched.yieldVcpu(vcpu);
      return;
    }
    if (cause & CAUSE_INTERRUPT) {
      this.deps.printk(`d${vcpu.domain.domid}v${vcpu.vcpuId}: unexpected M-level interrupt ${cause & 0x7fffffff}`);
      return;
    }
    if (cause === CAUSE_FETCH_PAGE_FAULT || cause === CAUSE_FETCH_ACCESS) {
      const stvec = hart.readCsr(CSR_STVEC) & ~3;
      if (stvec === 0 || hart.pc >>> 0 === stvec >>> 0) {
        this.deps.crashDomain(
          vcpu.domain,
          `instruction fault (cause ${cause}) at 0x${(hart.pc >>> 0).toString(16)} with ` +
            (stvec === 0 ? 'no trap vector set' : 'the fault at its own trap vector'),
        );
        return;
      }
    }
    // Everything else is the guest kernel's to handle, as if it had been delegated.
    hart.deliverToSupervisor(cause, hart.trapTval);
  }

  /**
   * Xen's domain_crash() for an unexpected error met on a guest's behalf (a hypercall
   * handler, trap handling, the CPU): the domain goes to crashed shutdown (the toolstack's
   * on_crash decides what happens next) and the log names it and the error. The hypervisor
   * and every other domain carry on.
   */
  crashOnError(vcpu: Vcpu, e: unknown): void {
    const during = this.serving;
    this.serving = GUEST_EXECUTION;
    const err = e instanceof Error ? e : new Error(String(e));
    const where = err.stack?.split('\n')[1]?.trim() ?? '';
    this.deps.printk(`d${vcpu.domain.domid}v${vcpu.vcpuId}: hypervisor error during ${during}: ${err.name}: ${err.message}${where ? ` (${where})` : ''}`);
    this.deps.crashDomain(vcpu.domain, `hypervisor error during ${during}: ${err.message}`);
  }
}
