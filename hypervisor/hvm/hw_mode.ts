// Hardware-assisted mode (`hvm_mode = "hw"`): the vCPU's hart implements the H extension
// (Hart option hExt) and the guest runs at V=1, its S-mode in VS and its U-mode in VU, on
// its own satp (vsatp) over the domain's G-stage tables (gstage_tables.ts). The
// hypervisor is the HS-mode software; as KVM does (Linux arch/riscv/kvm), it delegates to
// VS through hedeleg/hideleg what the guest handles itself, so those never exit:
//   hedeleg: misaligned fetch (0), illegal instruction (2), breakpoint (3), ecall from
//            VU (8), fetch/load/store page faults (12, 13, 15) — KVM_HEDELEG_DEFAULT
//            (older KVM left 2 out and redirected it by hand, which the
//            guest cannot tell apart);
//   hideleg: VSSIP, VSTIP, VSEIP.
// Every other trap from V=1 exits to the hypervisor (Hart.hostTraps), which serves:
//   - ecall from VS (10): the board's SBI (sbi.ts), pc += 4;
//   - guest-page faults (20, 21, 23) at GPA = htval << 2 | stval & 3: a load or store to a
//     device is emulated through the board's MMIO dispatch, its access decoded from
//     htinst's transformed instruction, or, when htinst is 0, from the instruction read
//     through the guest's two-stage translation (both paths charged and counted); a fetch
//     from a device, a VS page-table access outside RAM, or an address that is neither RAM
//     nor a device gets the access fault (1, 5, 7) a real machine's bus gives;
//   - virtual instruction (22): wfi (hstatus.VTW) blocks the vCPU until a virtual
//     interrupt it enabled is pending; cycle/instret reads (hcounteren grants only TM,
//     as KVM sets it) are emulated; anything else becomes the illegal-instruction trap
//     the spec asks a hypervisor to give (privileged spec 8.6.1);
//   - misaligned loads/stores and access faults (4, 6, 1, 5, 7): redirected to VS, as KVM does.
// Virtual interrupts: the platform lines (HvmVcpu.lines: SBI IPI, SBI timer, PLIC) are
// folded into hvip (SSIP -> VSSIP, STIP -> VSTIP, SEIP -> VSEIP) when they change and at
// each entry; the hart takes them itself. A guest clearing or setting its sip.SSIP writes
// hvip.VSSIP, which is folded back into the line. Time: the time CSR is read natively,
// time + htimedelta with htimedelta 0, since the board's timebase is the virtual clock
// the CLINT and SBI set_timer use (1 GHz, HVM_BOARD.timebaseHz).

import {
  CAUSE_FETCH_ACCESS, CAUSE_FETCH_GUEST_PAGE_FAULT, CAUSE_ILLEGAL_INSTRUCTION, CAUSE_INTERRUPT, CAUSE_LOAD_ACCESS,
  CAUSE_LOAD_GUEST_PAGE_FAULT, CAUSE_STORE_ACCESS, CAUSE_STORE_GUEST_PAGE_FAULT, CAUSE_VIRTUAL_INSTRUCTION,
  CAUSE_VIRTUAL_SUPERVISOR_ECALL, CSR_CYCLE, CSR_CYCLEH, CSR_HCOUNTEREN, CSR_HEDELEG, CSR_HGATP, CSR_HIDELEG,
  CSR_HPMCOUNTER31, CSR_HPMCOUNTER31H, CSR_HSTATUS, CSR_HTIMEDELTA, CSR_HTIMEDELTAH, CSR_HVIP, CSR_INSTRET,
  CSR_INSTRETH, CSR_MCOUNTEREN, CSR_MEDELEG, CSR_MIDELEG, CSR_MIE, CSR_SCOUNTEREN, CSR_VSATP, CSR_VSSTATUS,
  CSR_VSTVEC, HSTATUS_VTW, MEDELEG_H_BITS, MEDELEG_MASK, MIP_SEIP, MIP_SSIP, MIP_STIP, MIP_VSEIP, MIP_VSSIP,
  MIP_VSTIP, VS_INTERRUPTS,
} from '../cpu/csr.ts';
import { PRIV_S, PRIV_U, type Hart } from '../cpu/hart.ts';
import { PAGE_SIZE } from '../../protocol/sv32.ts';
import type { HvmBoard } from './board.ts';
import { decodeMemAccess, memAccessAddress, systemInsnName } from './decode.ts';
import type { GStageTables } from './gstage_tables.ts';
import type { ExitClock, VirtMode } from './mode.ts';
import { sbiCall, SBI_EXT } from './sbi.ts';
import { deviceAccess, ProgressWatch, retireInstruction, traceHvmWake } from './exits.ts';
import type { HvmVcpu } from './vcpu.ts';
import { TRC } from '../trace/trace.ts';

/** KVM_HEDELEG_DEFAULT: misaligned fetch, illegal instruction, breakpoint, ecall from VU, page faults. */
export const HW_HEDELEG = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15);
/** KVM_HIDELEG_DEFAULT: the three VS-level interrupts. */
export const HW_HIDELEG = VS_INTERRUPTS;
/** hcounteren: TM only (KVM since its SBI PMU support); cycle and instret reads exit and are emulated. */
export const HW_HCOUNTEREN = 1 << 1;

const WFI = 0x10500073;

export class HwMode implements VirtMode {
  readonly kind = 'hw' as const;
  /** Blocked in wfi until a virtual interrupt the guest enabled is pending. */
  inWfi = false;
  /** Waiting for an ioreq server's answer to an MMIO access (the vCPU is blocked). */
  ioWait = false;
  /**
   * Decode MMIO accesses from htinst when the CPU gives a transformed instruction. Tests
   * turn it off to exercise the other path (reading the instruction from guest memory),
   * which a real hypervisor needs for CPUs that write htinst as zero.
   */
  useHtinst = true;
  /** The hvip bits last folded in from the platform lines. */
  private injected = 0;
  /** hvip bits raised since the last entry, charged there as injections. */
  private raised = 0;
  private readonly watch: ProgressWatch;

  constructor(
    private readonly v: HvmVcpu,
    private readonly board: HvmBoard,
    private readonly gstage: GStageTables,
  ) {
    this.watch = new ProgressWatch(board, v.id);
    const hart = this.hart;
    if (!hart.hExt) throw new RangeError('hw mode needs a hart with the H extension');
    hart.hostTraps = true;
    // Everything goes to HS (or on to VS); traps at HS from V=1 exit to the host.
    hart.writeCsr(CSR_MEDELEG, MEDELEG_MASK | MEDELEG_H_BITS);
    hart.writeCsr(CSR_MIDELEG, 0); // HS-level interrupts stay with M: none is ever enabled (mie)
    hart.writeCsr(CSR_MIE, 0);
    hart.writeCsr(CSR_HEDELEG, HW_HEDELEG);
    hart.writeCsr(CSR_HIDELEG, HW_HIDELEG);
    hart.writeCsr(CSR_MCOUNTEREN, 0b111);
    hart.writeCsr(CSR_HCOUNTEREN, HW_HCOUNTEREN);
    hart.writeCsr(CSR_HTIMEDELTA, 0);
    hart.writeCsr(CSR_HTIMEDELTAH, 0);
    hart.writeCsr(CSR_HSTATUS, HSTATUS_VTW);
    hart.writeCsr(CSR_HVIP, 0);
    hart.writeCsr(CSR_HGATP, gstage.hgatp);
  }

  private get hart(): Hart {
    return this.v.vcpu.hart;
  }

  private get stats() {
    return this.board.stats;
  }

  private get costs() {
    return this.board.deps.costs;
  }

  reset(pc: number, a0: number, a1: number): void {
    const hart = this.hart;
    this.inWfi = false;
    hart.priv = PRIV_S;
    hart.setVirt(true);
    hart.writeCsr(CSR_VSSTATUS, 0);
    hart.writeCsr(CSR_VSATP, 0);
    hart.writeCsr(CSR_VSTVEC, 0);
    hart.writeCsr(CSR_SCOUNTEREN, 0);
    hart.writeCsr(CSR_MIE, 0); // vsie
    hart.x.fill(0);
    hart.x[10] = a0 | 0;
    hart.x[11] = a1 | 0;
    hart.pc = pc >>> 0;
    hart.mmu.resValid = false;
    hart.flushTlb();
  }

  // --- interrupts --------------------------------------------------------------------

  /**
   * Folds the platform lines into hvip, after taking back what the guest did to VSSIP
   * through its sip (a clear lowers the IPI line, a set raises it, as trap mode's sip).
   */
  private syncLines(): void {
    const hart = this.hart;
    const v = this.v;
    this.syncFromGuest();
    const l = v.lines;
    const want = (l & MIP_SSIP ? MIP_VSSIP : 0) | (l & MIP_STIP ? MIP_VSTIP : 0) | (l & MIP_SEIP ? MIP_VSEIP : 0);
    this.raised |= want & ~this.injected;
    this.injected = want;
    if (hart.hvip !== want) hart.writeCsr(CSR_HVIP, want);
  }

  /**
   * Takes back what the guest did to VSSIP through its sip since the last fold (a clear
   * lowers the IPI line, a set raises it) and records it as folded, so that a line raised
   * after this (an SBI IPI) is a new edge and is not lost.
   */
  syncFromGuest(): void {
    const guestSsip = this.hart.hvip & MIP_VSSIP;
    if (guestSsip === (this.injected & MIP_VSSIP)) return;
    if (guestSsip !== 0) this.v.lines |= MIP_SSIP;
    else this.v.clearSsip();
    this.injected = (this.injected & ~MIP_VSSIP) | guestSsip;
  }

  /** A virtual interrupt is pending and enabled in vsie (what ends a wfi, whatever vsstatus.SIE says). */
  private wakeable(): boolean {
    const hart = this.hart;
    return (hart.hvip & hart.mie & hart.hideleg & VS_INTERRUPTS) !== 0;
  }

  enter(clock: ExitClock): void {
    this.syncLines();
    // One hvip write per entry that raised something (KVM's kvm_riscv_vcpu_flush_interrupts).
    if (this.raised !== 0) {
      this.raised = 0;
      this.stats.charge(clock, 'irq_inject', this.costs.hvmHwInjectNs);
    }
  }

  linesChanged(): void {
    this.syncLines();
    if (this.inWfi && this.wakeable()) {
      this.inWfi = false;
      traceHvmWake(this.board, this.v);
      this.board.deps.hv.wakeVcpu(this.v.vcpu);
    }
  }

  remoteSfence(va: number | null): void {
    // What the guest's own sfence.vma at VS would drop (KVM issues HFENCE.VVMA).
    const mmu = this.hart.mmu;
    if (va === null) mmu.flushGuest();
    else mmu.flushGuestPage(va >>> 0);
    this.hart.resync = true;
  }

  // --- exits -------------------------------------------------------------------------

  handleExit(clock: ExitClock): void {
    const hart = this.hart;
    const cause = hart.trapCause >>> 0;
    this.stats.charge(clock, 'world_switch', this.costs.hvmHwExitNs);
    // A side record (never hashed): hw mode traced no exit before, and its hashes stay.
    this.board.deps.hv.traceSide?.(TRC.PVSIM_HVM_EXIT, this.board.domain.domid, this.v.id, cause, hart.trapTval >>> 0);
    if (this.gstage.isDestroyed || !hart.trapVirt) return; // the domain is going; nothing runs at V=0
    if (!this.watch.progressed(this.hart, cause)) return;
    if ((cause & CAUSE_INTERRUPT) !== 0) return; // no HS-level interrupt is enabled
    switch (cause) {
      case CAUSE_VIRTUAL_SUPERVISOR_ECALL:
        this.sbi(clock);
        return;
      case CAUSE_FETCH_GUEST_PAGE_FAULT:
      case CAUSE_LOAD_GUEST_PAGE_FAULT:
      case CAUSE_STORE_GUEST_PAGE_FAULT:
        this.guestPageFault(clock, cause);
        return;
      case CAUSE_VIRTUAL_INSTRUCTION:
        this.virtualInstruction(clock, hart.trapTval >>> 0);
        return;
      default:
        // Misaligned loads/stores and access faults: the guest's, as KVM redirects them.
        this.reflect(clock, cause, hart.trapTval);
    }
  }


  /** Delivers `cause` to VS-mode as a real hart would have (charged as a reflection). */
  private reflect(clock: ExitClock, cause: number, tval: number): void {
    this.stats.charge(clock, 'reflect', this.costs.hvmInjectNs);
    this.hart.deliverToVs(cause >>> 0, tval >>> 0);
  }

  private retire(): void {
    retireInstruction(this.hart);
  }

  /** Hypercall pointers: the two-stage walk a VS-mode load or store would make (vsatp, vsstatus.SUM/MXR, hgatp). */
  guestTranslate(va: number, access: 'r' | 'w'): number {
    return this.hart.translate(va >>> 0, access, PRIV_S, { virt: true });
  }

  private sbi(clock: ExitClock): void {
    this.stats.charge(clock, 'sbi', this.costs.hvmSbiNs);
    const hart = this.hart;
    const eid = hart.x[17]! >>> 0;
    const r = sbiCall(this.v, this.board, clock.now);
    if (r.kind === 'ret') {
      hart.x[10] = r.error | 0;
      // Legacy extensions return in a0 only (SBI v2.0, chapter 5).
      if (eid > SBI_EXT.legacyShutdown) hart.x[11] = (r.value ?? 0) | 0;
    }
    this.retire();
  }

  // --- guest-page faults and MMIO --------------------------------------------------------

  private guestPageFault(clock: ExitClock, cause: number): void {
    const hart = this.hart;
    this.stats.charge(clock, 'guest_pf', this.costs.hvmGuestPageFaultNs);
    const va = hart.trapTval >>> 0;
    // htval holds the GPA shifted right by 2; stval supplies the low bits (spec 8.6.3).
    const gpa = hart.trapTval2 * 4 + (va & 3);
    const tinst = hart.trapTinst >>> 0;
    const accessFault = cause === CAUSE_FETCH_GUEST_PAGE_FAULT ? CAUSE_FETCH_ACCESS : cause === CAUSE_LOAD_GUEST_PAGE_FAULT ? CAUSE_LOAD_ACCESS : CAUSE_STORE_ACCESS;
    if (gpa < 2 ** 32 && this.board.gfnToMfn(Math.floor(gpa / PAGE_SIZE)) >= 0) {
      // All RAM is mapped at build time and never unmapped: a fault here is a hypervisor bug.
      const d = this.board.domain;
      this.board.deps.crashDomain(d, `d${d.domid}v${this.v.id}: guest-page fault at mapped RAM 0x${gpa.toString(16)}`);
      return;
    }
    // A fetch from a device, or a VS page-table access (htinst is a pseudoinstruction,
    // bit 0 clear) outside RAM: the bus refuses it.
    if (cause === CAUSE_FETCH_GUEST_PAGE_FAULT || (tinst !== 0 && (tinst & 1) === 0)) {
      this.reflect(clock, accessFault, va);
      return;
    }
    let inst: number | null;
    // The whole access's virtual address: the fault names the part that faulted.
    let ea: number;
    if (this.useHtinst && (tinst & 3) === 3) {
      // A transformed 32-bit load or store: rd, rs2, funct3 and opcode as the original's,
      // rs1 the faulting address's offset from the access's (spec 8.6.3).
      this.stats.charge(clock, 'htinst_decode', this.costs.hvmHtinstDecodeNs);
      inst = tinst;
      ea = (va - ((tinst >>> 15) & 31)) >>> 0;
    } else {
      inst = this.fetchInstruction(clock);
      if (inst === null) return; // the fetch itself faults when the guest retries
      ea = memAccessAddress(inst, hart.x) ?? va;
    }
    const d = decodeMemAccess(inst);
    // Devices take plain loads and stores; AMOs and LR/SC to I/O are bus errors here.
    if (d === null || (d.kind !== 'load' && d.kind !== 'store')) {
      this.reflect(clock, accessFault, va);
      return;
    }
    this.stats.charge(clock, 'mmio', this.costs.hvmMmioNs);
    const accessFaultOf = d.kind === 'load' ? CAUSE_LOAD_ACCESS : CAUSE_STORE_ACCESS;
    if (gpa >= 2 ** 32) return this.reflect(clock, accessFaultOf, va);
    // A misaligned access touching a device is a bus error, as on the hart outside V=1
    // (split at a page boundary, the device was read at the second part's address).
    if ((ea & (d.size - 1)) !== 0) return this.reflect(clock, accessFaultOf, va);
    if (deviceAccess(this.v, this.board, gpa, d, (on) => (this.ioWait = on)) === 'fault') this.reflect(clock, accessFaultOf, va);
  }

  /** The trapping instruction read through the guest's two-stage translation as VS/VU would fetch it (charged); null if unreadable. */
  private fetchInstruction(clock: ExitClock): number | null {
    this.stats.charge(clock, 'insn_fetch', this.costs.hvmHwInsnFetchNs);
    const hart = this.hart;
    const pa = hart.translate(hart.pc, 'x', hart.priv, { virt: true });
    if (pa < 0 || !hart.mem.isBacked(pa, 4) || hart.mem.findMmio(pa)) return null;
    return hart.mem.read32(pa) | 0;
  }

  // --- virtual instructions ------------------------------------------------------------

  private virtualInstruction(clock: ExitClock, inst: number): void {
    const hart = this.hart;
    this.board.domain.perf.illegal(systemInsnName(inst));
    const illegal = () => this.reflect(clock, CAUSE_ILLEGAL_INSTRUCTION, inst);
    if (inst === WFI && hart.priv === PRIV_S) { // from VU: illegal, as U-mode wfi on a hart without H
      this.stats.charge(clock, 'virt_insn', this.costs.hvmVirtInsnNs);
      this.retire();
      this.syncLines();
      if (!this.wakeable()) {
        this.inWfi = true;
        this.board.deps.hv.blockVcpu(this.v.vcpu);
      }
      return;
    }
    const f3 = (inst >>> 12) & 7;
    if ((inst & 0x7f) !== 0x73 || f3 === 0 || f3 === 4) return illegal();
    // A Zicsr instruction: only the counters hcounteren withholds are emulated.
    const csr = inst >>> 20;
    const rd = (inst >>> 7) & 31;
    const counter = (csr >= CSR_CYCLE && csr <= CSR_HPMCOUNTER31) || (csr >= CSR_CYCLEH && csr <= CSR_HPMCOUNTER31H);
    if (!counter) return illegal();
    // From VU the guest's own scounteren decides (its "M-level" grant is all).
    if (hart.priv === PRIV_U && ((hart.scounteren >>> (csr & 31)) & 1) === 0) return illegal();
    this.stats.charge(clock, 'virt_insn', this.costs.hvmVirtInsnNs);
    let value = 0; // hpmcounters: read-only zero
    if (csr === CSR_CYCLE) value = hart.cycle >>> 0;
    else if (csr === CSR_CYCLEH) value = Math.floor(hart.cycle / 2 ** 32) >>> 0;
    else if (csr === CSR_INSTRET) value = hart.instret >>> 0;
    else if (csr === CSR_INSTRETH) value = Math.floor(hart.instret / 2 ** 32) >>> 0;
    if (rd !== 0) hart.x[rd] = value | 0;
    this.retire();
  }

  /** SBI HSM hart_stop: nothing per-vCPU to let go of (the G-stage tables are the domain's). */
  stop(): void {
    this.inWfi = false;
  }

  destroy(): void {
    this.inWfi = false;
    this.gstage.destroy(); // the domain's tables: the first vCPU's destroy frees them
  }
}
