// Architectural state of one RV32IMA hart with M, S and U modes: registers, CSRs, trap
// entry/return and interrupt selection. Instruction execution lives in an Engine
// (interpreter.ts); translation and the TLB in mmu.ts.
//
// Documented choices:
//   * tval for EBREAK is the address of the ebreak instruction; for ECALL it is 0.
//   * LR/SC: the reservation is one physical word. It is set by LR and cleared by any SC
//     (success or failure), by every trap taken into the guest, by MRET/SRET, and at
//     run() entry when another hart ran on the same memory since (see mmu.ts / memory.ts).
//     Stores by this hart do not clear it.
//   * A/D bits are updated by the page walk (see mmu.ts).
//   * mip: MSIP/MTIP/MEIP and the external SEIP line come only from setInterruptPending;
//     SSIP/STIP and a software SEIP bit are writable by M-mode (SSIP also via sip from S).
//     Reads of mip/sip see the OR of the software SEIP bit and the external line.
//   * A write to minstret/mcycle by an instruction takes precedence over that instruction's
//     own increment: the next instruction reads the written value.
//
// H extension (privileged spec 20211203, chapter 8), with `new Hart(mem, { hExt: true })`:
// misa.H, the V bit (`virt`; priv S + virt = VS-mode, priv U + virt = VU-mode), the H and VS
// CSRs, mstatush.MPV/GVA, mtval2, mtinst, two-stage translation (gstage.ts), HLV/HLVX/HSV,
// HFENCE.VVMA/GVMA, causes 10, 20-23 and the VS-level interrupts (trap rules in hext.ts).
// Without hExt none of it exists: H CSRs and instructions are illegal and the hart runs the
// same code paths as before H was added. Choices: GEILEN = 0 (VGEIN, hgeie, hgeip read
// zero; no SGEI), VMIDLEN = 7 (VMID is stored, not used to tag the TLB: V=1 translations
// are flushed on every hgatp/vsatp write instead), henvcfg(h) read-only zero (like
// menvcfg), VSBE = 0, HFENCE.* are global fences, htinst/mtinst get the transformed
// instruction for faulting explicit loads/stores/AMOs/HLV/HSV (causes 4-7, 13, 15, 21,
// 23), the pseudoinstructions 0x2000/0x2020 for implicit VS-stage page-table accesses,
// and zero otherwise.
//
// Host interface for a hypervisor acting as the HS-mode software (hw mode):
//   * `hostTraps`: M-targeted traps exit to the host (ExitReason.HostTrap); with hExt also
//     every trap that would be taken into HS-mode from V=1. Traps at V=0 delegated to S
//     still vector to stvec (PV guests rely on it). On an exit nothing architectural
//     changed (pc at the trapping instruction, priv and virt as they were) and the hart
//     records `trapCause`, `trapTval`, `trapTval2` (the htval value: GPA >> 2 or 0),
//     `trapTinst` (the htinst value), `trapGva` (tval is a guest virtual address) and
//     `trapVirt` (V at the trap).
//   * `deliverToVs(cause, tval)`: takes a trap into VS-mode as if delegated (needs V=1);
//     VS-level interrupt causes 2/6/10 arrive as 1/5/9.
//   * `setVirt(on)`: enters/leaves V=1 without a trap (world switch); TLB sets and
//     interrupt state are re-derived by the engine.
//   * `readCsr`/`writeCsr` accept every H and VS CSR by number (no V=1 substitution for
//     the host: 0x100 is always the HS sstatus).
//   * `translate(va, access, priv?, { virt: true })`: a two-stage walk as VS (priv S) or
//     VU (priv U) with the current vsatp/hgatp/vsstatus, no TLB, -1 on any fault.
//   * After editing G-stage (or VS) page tables from the host, call `flushTlb()` (what
//     HFENCE.GVMA would do); writing hgatp or vsatp flushes the V=1 TLB sets by itself.

import {
  CAUSE_INTERRUPT, CSR_CYCLE, CSR_CYCLEH, CSR_HPMCOUNTER3, CSR_HPMCOUNTER31,
  CSR_HPMCOUNTER31H, CSR_HPMCOUNTER3H, CSR_INSTRET, CSR_INSTRETH, CSR_MARCHID, CSR_MCAUSE,
  CSR_MCONFIGPTR, CSR_MCOUNTEREN, CSR_MCOUNTINHIBIT, CSR_MCYCLE, CSR_MCYCLEH, CSR_MEDELEG,
  CSR_MENVCFG, CSR_MENVCFGH, CSR_MEPC, CSR_MHARTID, CSR_MHPMCOUNTER3, CSR_MHPMCOUNTER31,
  CSR_MHPMCOUNTER31H, CSR_MHPMCOUNTER3H, CSR_MHPMEVENT3, CSR_MHPMEVENT31, CSR_MIDELEG, CSR_MIE,
  CSR_MIMPID, CSR_MINSTRET, CSR_MINSTRETH, CSR_MIP, CSR_MISA, CSR_MSCRATCH, CSR_MSTATUS,
  CSR_MSTATUSH, CSR_MTVAL, CSR_MTVEC, CSR_MVENDORID, CSR_PMPADDR0, CSR_PMPADDR63, CSR_PMPCFG0,
  CSR_PMPCFG15, CSR_SATP, CSR_SCAUSE, CSR_SCOUNTEREN, CSR_SENVCFG, CSR_SEPC, CSR_SIE, CSR_SIP,
  CSR_SSCRATCH, CSR_SSTATUS, CSR_STVAL, CSR_STVEC, CSR_TIME, CSR_TIMEH, IRQ_MEI, IRQ_MSI,
  IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI, MEDELEG_MASK, MIE_MASK, MIP_MEIP, MIP_MSIP, MIP_MTIP,
  MIP_SEIP, MIP_SSIP, MIP_WMASK, MISA_VALUE, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP,
  MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_MXR, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP,
  MSTATUS_SUM, MSTATUS_TSR, MSTATUS_TVM, MSTATUS_TW, MSTATUS_WMASK, SATP_MODE_SV32, SATP_WMASK,
  SSTATUS_MASK, SSTATUS_WMASK, S_INTERRUPTS, TVEC_MODE_VECTORED,
} from './csr.ts';
import {
  CSR_HCOUNTEREN, CSR_HEDELEG, CSR_HENVCFG, CSR_HENVCFGH, CSR_HGATP, CSR_HGEIE, CSR_HGEIP,
  CSR_HIDELEG, CSR_HIE, CSR_HIP, CSR_HSTATUS, CSR_HTIMEDELTA, CSR_HTIMEDELTAH, CSR_HTINST,
  CSR_HTVAL, CSR_HVIP, CSR_MTINST, CSR_MTVAL2, CSR_VSATP, CSR_VSCAUSE, CSR_VSEPC, CSR_VSIE,
  CSR_VSIP, CSR_VSSCRATCH, CSR_VSSTATUS, CSR_VSTVAL, CSR_VSTVEC, CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_VIRTUAL_INSTRUCTION, HEDELEG_MASK, HGATP_WMASK, HSTATUS_HU, HSTATUS_VTSR, HSTATUS_VTVM,
  HSTATUS_VTW, HSTATUS_WMASK, MEDELEG_H_BITS, MIP_VSSIP, MISA_H, MSTATUSH_GVA, MSTATUSH_MPV,
  VS_INTERRUPTS,
} from './csr.ts';
import { enterHs, enterVs, mretH, pendingInterruptH, sretH, takeTrapH } from './hext.ts';
import { pfnOf, type PhysMemory } from './memory.ts';
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, Mmu, SET_VIRT } from './mmu.ts';
import { Triggers } from './trigger.ts';

export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

const TWO32 = 0x1_0000_0000;

/** Interrupts in decreasing priority order (privileged spec 3.1.9). */
const IRQ_PRIORITY = [IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI];
/** mip bits driven by the platform (host) rather than by CSR writes. */
const MIP_HW_MASK = MIP_MSIP | MIP_MTIP | MIP_MEIP | MIP_SEIP;

export interface HartOptions {
  hartId?: number;
  /** PMP entries, 0..16 (default 0: no PMP, nothing denied); see pmp.ts. */
  pmpEntries?: number;
  /** Large-page (4 MiB) entries of the modelled TLB (tlb_reach.ts; the cost model's tlbMegaEntries). */
  tlbMegaEntries?: number;
  /** Debug triggers (Sdtrig), 0..16 (default 0: no trigger CSRs); see trigger.ts. */
  triggers?: number;
  /** Implement the H extension (misa.H): HS/VS/VU, two-stage translation, H CSRs and instructions. */
  hExt?: boolean;
}

export class Hart {
  readonly mem: PhysMemory;
  readonly mmu: Mmu;
  readonly hartId: number;
  /** The hart implements the H extension. Fixed at construction. */
  readonly hExt: boolean;

  /** Integer registers; x[0] always reads 0 (engines never write it). */
  x = new Int32Array(32);
  /** Program counter, unsigned 32-bit. */
  pc = 0;
  priv: number = PRIV_M;

  /**
   * M-mode-targeted traps exit to the host instead of vectoring (see ExitReason.HostTrap);
   * with H, so do traps that would be taken into HS-mode from V=1.
   */
  hostTraps = false;
  /** mcause encoding of the trap behind the last HostTrap exit. */
  trapCause = 0;
  trapTval = 0;
  /** htval/mtval2 value of the last HostTrap (guest physical address >> 2, or 0). */
  trapTval2 = 0;
  /** htinst/mtinst value of the last HostTrap. */
  trapTinst = 0;
  /** The last HostTrap's tval is a guest virtual address (hstatus.GVA). */
  trapGva = false;
  /** V at the last HostTrap. */
  trapVirt = false;
  /** Set by devices or watchers; run() returns ExitReason.Stop after the current instruction. */
  stopRequested = false;

  /** Instructions retired. */
  instret = 0;
  /** Instructions retired by engines on this hart, unaffected by software writes to minstret. */
  retired = 0;
  /**
   * Instructions retired per privilege, for a host's accounting (index: priv, plus 4 at V=1:
   * 0 U, 1 S, 3 M, 4 VU, 5 VS). Counted when the privilege changes (notePriv), never per
   * instruction, so the interpreter's hot loop is untouched; read after notePriv().
   */
  readonly retiredByPriv = [0, 0, 0, 0, 0, 0, 0, 0];
  /** instret at the last notePriv. */
  private privMark = 0;
  /** cycle - instret (non-zero only after software writes mcycle). */
  cycleOffset = 0;
  /** Virtual time in ns (1 GHz timebase) for the time CSR. */
  timeSource: () => number;

  // ---- CSR state (engine-internal; hosts use readCsr/writeCsr) ----
  mstatus = 0;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** Software-written mip bits (SSIP, STIP, SEIP). */
  mipSw = 0;
  /** Platform interrupt lines (MSIP, MTIP, MEIP, external SEIP). */
  mipHw = 0;
  mtvec = 0;
  stvec = 0;
  mscratch = 0;
  sscratch = 0;
  mepc = 0;
  sepc = 0;
  mcause = 0;
  scause = 0;
  mtval = 0;
  stval = 0;
  satp = 0;
  mcounteren = 0;
  scounteren = 0;

  // ---- H extension (all zero and unused without hExt) ----
  /** The virtualization mode V: with priv S it is VS-mode, with U VU-mode. */
  virt = false;
  /** mstatush: MPV and GVA. */
  mstatush = 0;
  hstatus = 0;
  hedeleg = 0;
  hideleg = 0;
  /** hvip: VSSIP, VSTIP, VSEIP (they appear in mip/hip). */
  hvip = 0;
  hcounteren = 0;
  htimedeltaLo = 0;
  htimedeltaHi = 0;
  htval = 0;
  htinst = 0;
  hgatp = 0;
  vsstatus = 0;
  vstvec = 0;
  vsscratch = 0;
  vsepc = 0;
  vscause = 0;
  vstval = 0;
  vsatp = 0;
  mtval2 = 0;
  mtinst = 0;

  /**
   * Set when interrupt or translation context may have changed (CSR writes, traps, xRET,
   * setInterruptPending); an engine re-checks interrupts and TLB selection when it sees it.
   */
  resync = false;

  /**
   * `pmpEntries` (0..16, default 0: no PMP, nothing denied) and `triggers` (0..16 debug
   * triggers, default 0: no Sdtrig CSRs) - see pmp.ts and trigger.ts.
   */
  constructor(mem: PhysMemory, opts?: HartOptions) {
    this.mem = mem;
    this.hartId = opts?.hartId ?? 0;
    this.hExt = opts?.hExt ?? false;
    // VS-level interrupts are always delegated past M (mideleg bits 10, 6, 2 read-only one).
    if (this.hExt) this.mideleg = VS_INTERRUPTS;
    this.mmu = new Mmu(mem, this, { pmpEntries: opts?.pmpEntries ?? 0, triggers: opts?.triggers ?? 0, tlbMegaEntries: opts?.tlbMegaEntries });
    this.timeSource = () => this.instret;
  }

  /**
   * Adds the instructions retired since the last call to the current privilege's count.
   * The hart calls it before every privilege or V change it makes (traps, xRET, setVirt); a
   * host that assigns `priv` or `virt` itself calls it first, and before reading the counts.
   */
  notePriv(): void {
    const i = this.virt ? this.priv + 4 : this.priv;
    this.retiredByPriv[i] += this.instret - this.privMark;
    this.privMark = this.instret;
  }

  get cycle(): number {
    return this.instret + this.cycleOffset;
  }

  set cycle(v: number) {
    this.cycleOffset = v - this.instret;
  }

  /** mip as software sees it (with H, hvip's VS bits too). */
  get mip(): number {
    return this.mipSw | this.mipHw | this.hvip;
  }

  /** TLB set of instruction fetch: the privilege, plus SET_VIRT at V=1. */
  fetchSet(): number {
    return this.virt ? this.priv + SET_VIRT : this.priv;
  }

  /** TLB set of explicit loads and stores: MPRV makes M-mode use MPP (and MPV). */
  dataSet(): number {
    if (this.priv === PRIV_M && (this.mstatus & MSTATUS_MPRV) !== 0) {
      const mpp = (this.mstatus & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
      return mpp !== PRIV_M && (this.mstatush & MSTATUSH_MPV) !== 0 ? mpp + SET_VIRT : mpp;
    }
    return this.virt ? this.priv + SET_VIRT : this.priv;
  }

  /** Privilege used for loads and stores (MPRV makes M-mode use MPP's). */
  dataPriv(): number {
    if (this.priv === PRIV_M && (this.mstatus & MSTATUS_MPRV) !== 0) {
      return (this.mstatus & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    }
    return this.priv;
  }

  // ---------------------------------------------------------------------------------
  // Interrupts and traps

  /** Raises or lowers interrupt line `bit` (mip bit number), e.g. 9 = SEIP, 7 = MTIP. */
  setInterruptPending(bit: number, on: boolean): void {
    const m = 1 << bit;
    if ((MIP_HW_MASK & m) !== 0) {
      this.mipHw = on ? this.mipHw | m : this.mipHw & ~m;
    } else if ((MIP_WMASK & m) !== 0) {
      this.mipSw = on ? this.mipSw | m : this.mipSw & ~m;
    } else {
      throw new RangeError(`no interrupt ${bit}`);
    }
    this.resync = true;
  }

  /**
   * The interrupt to take now, as a code (not yet ORed with the interrupt bit), or -1.
   * M-level interrupts are enabled below M or with MIE in M; delegated ones below S or with
   * SIE in S, never in M. M-level interrupts win over S-level; within a level, IRQ_PRIORITY.
   */
  pendingInterrupt(): number {
    if (this.hExt) return pendingInterruptH(this);
    const pend = (this.mipSw | this.mipHw) & this.mie;
    if (pend === 0) return -1;
    const priv = this.priv;
    const mLevel = pend & ~this.mideleg;
    if (mLevel !== 0 && (priv < PRIV_M || (this.mstatus & MSTATUS_MIE) !== 0)) return highest(mLevel);
    const sLevel = pend & this.mideleg;
    if (sLevel !== 0 && (priv < PRIV_S || (priv === PRIV_S && (this.mstatus & MSTATUS_SIE) !== 0))) {
      return highest(sLevel);
    }
    return -1;
  }

  /**
   * Takes trap `cause` (mcause encoding) at the current pc. Returns true if it is an
   * M-mode trap and hostTraps is set: then only trapCause/trapTval changed.
   */
  takeTrap(cause: number, tval: number): boolean {
    this.notePriv();
    if (this.hExt) return takeTrapH(this, cause, tval);
    const isInterrupt = (cause & CAUSE_INTERRUPT) !== 0;
    const code = cause & 0x7fffffff;
    const delegated =
      this.priv <= PRIV_S && code < 32 && (((isInterrupt ? this.mideleg : this.medeleg) >>> code) & 1) !== 0;
    if (delegated) {
      this.deliverToSupervisor(cause, tval);
      return false;
    }
    if (this.hostTraps) {
      this.trapCause = cause >>> 0;
      this.trapTval = tval >>> 0;
      return true;
    }
    this.mmu.resValid = false;
    this.mepc = this.pc >>> 0;
    this.mcause = cause >>> 0;
    this.mtval = tval >>> 0;
    let s = this.mstatus & ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE);
    if ((this.mstatus & MSTATUS_MIE) !== 0) s |= MSTATUS_MPIE;
    s |= this.priv << MSTATUS_MPP_SHIFT;
    this.mstatus = s;
    this.priv = PRIV_M;
    this.pc = vector(this.mtvec, isInterrupt, code);
    this.resync = true;
    return false;
  }

  /** Take a trap into S-mode as if it were delegated (used by the hypervisor to reflect a trap to a PV guest kernel): sepc=pc, scause, stval, SPP/SPIE/SIE, priv=S, pc=stvec. */
  deliverToSupervisor(cause: number, tval: number): void {
    this.notePriv();
    if (this.hExt) {
      // With H this is a trap into HS-mode: hstatus.SPV/SPVP/GVA, htval and htinst too.
      enterHs(this, cause, tval, 0, 0, false);
      return;
    }
    const isInterrupt = (cause & CAUSE_INTERRUPT) !== 0;
    this.mmu.resValid = false;
    this.sepc = this.pc >>> 0;
    this.scause = cause >>> 0;
    this.stval = tval >>> 0;
    let s = this.mstatus & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE);
    if ((this.mstatus & MSTATUS_SIE) !== 0) s |= MSTATUS_SPIE;
    if (this.priv !== PRIV_U) s |= MSTATUS_SPP;
    this.mstatus = s;
    this.priv = PRIV_S;
    this.pc = vector(this.stvec, isInterrupt, cause & 0x7fffffff);
    this.resync = true;
  }

  /** MRET. Returns 0, or the exception it raises instead (illegal instruction below M). */
  mret(): number {
    this.notePriv();
    if (this.hExt) return mretH(this);
    if (this.priv !== PRIV_M) return CAUSE_ILLEGAL_INSTRUCTION;
    const s = this.mstatus;
    const mpp = (s & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    let n = s & ~(MSTATUS_MPP | MSTATUS_MIE);
    if ((s & MSTATUS_MPIE) !== 0) n |= MSTATUS_MIE;
    n |= MSTATUS_MPIE;
    if (mpp !== PRIV_M) n &= ~MSTATUS_MPRV;
    this.mstatus = n;
    this.priv = mpp;
    this.pc = this.mepc >>> 0;
    this.mmu.resValid = false;
    this.resync = true;
    return 0;
  }

  /**
   * SRET. Returns 0, or the exception it raises instead: illegal instruction in U-mode or
   * in S-mode with TSR; with H, virtual instruction in VU-mode or VS-mode with VTSR.
   */
  sret(): number {
    this.notePriv();
    if (this.hExt) return sretH(this);
    if (this.priv === PRIV_U) return CAUSE_ILLEGAL_INSTRUCTION;
    if (this.priv === PRIV_S && (this.mstatus & MSTATUS_TSR) !== 0) return CAUSE_ILLEGAL_INSTRUCTION;
    const s = this.mstatus;
    const spp = (s & MSTATUS_SPP) !== 0 ? PRIV_S : PRIV_U;
    let n = s & ~(MSTATUS_SPP | MSTATUS_SIE | MSTATUS_MPRV);
    if ((s & MSTATUS_SPIE) !== 0) n |= MSTATUS_SIE;
    n |= MSTATUS_SPIE;
    this.mstatus = n;
    this.priv = spp;
    this.pc = this.sepc >>> 0;
    this.mmu.resValid = false;
    this.resync = true;
    return 0;
  }

  /** WFI's exception, or 0 if it may execute (TW for all modes below M; VTW at VS). */
  wfiCheck(): number {
    const priv = this.priv;
    if (this.virt) {
      if ((this.mstatus & MSTATUS_TW) !== 0) return CAUSE_ILLEGAL_INSTRUCTION;
      if (priv === PRIV_U || (this.hstatus & HSTATUS_VTW) !== 0) return CAUSE_VIRTUAL_INSTRUCTION;
      return 0;
    }
    if (priv === PRIV_U || (priv === PRIV_S && (this.mstatus & MSTATUS_TW) !== 0)) return CAUSE_ILLEGAL_INSTRUCTION;
    return 0;
  }

  /**
   * SFENCE.VMA: checks (TVM at HS; VTVM at VS) and flushes the current regime's TLB sets
   * (one page when `hasAddr`). Returns 0 or the exception.
   */
  sfenceVma(hasAddr: boolean, addr: number): number {
    const priv = this.priv;
    if (this.virt) {
      if (priv === PRIV_U || (this.hstatus & HSTATUS_VTVM) !== 0) return CAUSE_VIRTUAL_INSTRUCTION;
      if (hasAddr) this.mmu.flushGuestPage(addr);
      else this.mmu.flushGuest();
      return 0;
    }
    if (priv === PRIV_U || (priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0)) return CAUSE_ILLEGAL_INSTRUCTION;
    if (hasAddr) this.mmu.flushVirtualPage(addr);
    else this.mmu.flushVirtual();
    return 0;
  }

  /**
   * HFENCE.VVMA / HFENCE.GVMA (`gvma`): both drop every two-stage translation (address,
   * ASID and VMID arguments are ignored: a global fence, which the spec allows).
   */
  hfence(gvma: boolean): number {
    if (!this.hExt) return CAUSE_ILLEGAL_INSTRUCTION;
    if (this.virt) return CAUSE_VIRTUAL_INSTRUCTION;
    if (this.priv === PRIV_U) return CAUSE_ILLEGAL_INSTRUCTION;
    if (gvma && this.priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0) return CAUSE_ILLEGAL_INSTRUCTION;
    this.mmu.flushGuest();
    this.resync = true;
    return 0;
  }

  /**
   * HLV.*, HLVX.*, HSV.* (SYSTEM, funct3 = 4). Returns 0 when done, an exception code for
   * an illegal or virtual instruction, or -1 for a memory fault left in `mmu.exc`.
   */
  execHlsv(inst: number): number {
    if (!this.hExt) return CAUSE_ILLEGAL_INSTRUCTION;
    const f7 = inst >>> 25;
    const rs2 = (inst >>> 20) & 31;
    const rd = (inst >>> 7) & 31;
    let size = 0;
    let store = false;
    let signed = false;
    let hlvx = false;
    switch (f7) {
      case 0x30: case 0x32: case 0x34: // HLV.B/BU, HLV.H/HU/HLVX.HU, HLV.W/HLVX.WU
        size = 1 << ((f7 >>> 1) & 3);
        if (rs2 === 0) signed = size < 4;
        else if (rs2 === 3 && size > 1) hlvx = true;
        else if (!(rs2 === 1 && size < 4)) return CAUSE_ILLEGAL_INSTRUCTION;
        break;
      case 0x31: case 0x33: case 0x35: // HSV.B/H/W
        if (rd !== 0) return CAUSE_ILLEGAL_INSTRUCTION;
        size = 1 << ((f7 >>> 1) & 3);
        store = true;
        break;
      default:
        return CAUSE_ILLEGAL_INSTRUCTION;
    }
    if (this.virt) return CAUSE_VIRTUAL_INSTRUCTION;
    if (this.priv === PRIV_U && (this.hstatus & HSTATUS_HU) === 0) return CAUSE_ILLEGAL_INSTRUCTION;
    const mmu = this.mmu;
    const va = this.x[(inst >>> 15) & 31]!;
    if (store) {
      mmu.hsvStore(va, size, this.x[rs2]!);
    } else {
      let v = mmu.hlvLoad(va, size, hlvx);
      if (mmu.exc < 0 && rd !== 0) {
        if (signed) v = size === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
        this.x[rd] = v;
      }
    }
    if (mmu.exc >= 0) {
      mmu.excInst = inst;
      return -1;
    }
    return 0;
  }

  // ---------------------------------------------------------------------------------
  // H extension host interface (see the header)

  /** Enters (true) or leaves V=1 without a trap: the hypervisor's world switch. */
  setVirt(on: boolean): void {
    if (!this.hExt) throw new RangeError('setVirt: this hart has no H extension');
    if (on && this.priv === PRIV_M) throw new RangeError('setVirt: V=1 needs privilege S or U, not M');
    this.notePriv();
    this.virt = on;
    this.resync = true;
  }

  /**
   * Takes a trap into VS-mode as if delegated by medeleg/mideleg and hedeleg/hideleg:
   * vsepc = pc, vscause, vstval, vsstatus.SPP/SPIE/SIE, priv = S, pc = vstvec (vectored for
   * interrupts). VS-level interrupt causes (2, 6, 10) are seen by VS as 1, 5, 9. Needs V=1.
   */
  deliverToVs(cause: number, tval: number): void {
    if (!this.hExt || !this.virt) throw new RangeError('deliverToVs: the hart is not at V=1');
    this.notePriv();
    enterVs(this, cause, tval);
  }


  // ---------------------------------------------------------------------------------
  // Translation (host helpers)

  /**
   * Translates `va` with the current satp as an access from `priv` (default: the current
   * privilege; MPRV is not applied) for 'r' | 'w' | 'x'. Returns the physical address, or
   * -1 on a page fault, access fault, or a target that is neither RAM nor MMIO. Sets A/D
   * like a hardware walk. Does not touch the TLB.
   */
  translate(va: number, access: 'r' | 'w' | 'x', priv?: number, opts?: { virt?: boolean }): number {
    const p = priv ?? this.priv;
    const acc = access === 'r' ? ACCESS_READ : access === 'w' ? ACCESS_WRITE : ACCESS_EXEC;
    const virt = opts?.virt ?? this.virt;
    va >>>= 0;
    // A host's software walk is not the hart's: keep it out of the walk-reference counters.
    const refs = this.mmu.walkRefs;
    const refs2 = this.mmu.walker.refs;
    try {
      return this.translateUncounted(va, acc, p, virt);
    } finally {
      this.mmu.walkRefs = refs;
      this.mmu.walker.refs = refs2;
    }
  }

  private translateUncounted(va: number, acc: typeof ACCESS_READ | typeof ACCESS_WRITE | typeof ACCESS_EXEC, p: number, virt: boolean): number {
    let pa: number;
    if (virt) {
      // Two-stage walk as VS (priv S) or VU (priv U), with vsatp, hgatp and vsstatus.
      if (!this.hExt) throw new RangeError('translate: V=1 needs the H extension');
      if (p === PRIV_M) throw new RangeError('translate: V=1 has no M-mode');
      pa = this.mmu.walker.translate(va, acc, p, this);
      if (pa < 0) return -1;
    } else if (p === PRIV_M || (this.satp & SATP_MODE_SV32) === 0) {
      pa = va;
    } else {
      pa = this.mmu.walk(va, acc, p, this.mstatus);
      if (pa < 0) return -1;
    }
    if (pa >= this.mem.paLimit) return -1;
    if (!this.mmu.pmp.check(pa, 1, acc, p)) return -1;
    if (!this.mem.isAllocated(pfnOf(pa)) && !this.mem.findMmio(pa)) return -1;
    return pa;
  }

  flushTlb(): void {
    this.mmu.flushAll();
    this.resync = true;
  }

  // ---------------------------------------------------------------------------------
  // CSRs

  /** Host read: no privilege checks. Throws RangeError for an unimplemented CSR. */
  readCsr(num: number): number {
    if (!this.implemented(num)) throw new RangeError(`unimplemented CSR 0x${num.toString(16)}`);
    return this.csrRead(num);
  }

  /** Host write: WARL masks and side effects applied; read-only CSRs ignore writes. */
  writeCsr(num: number, value: number): void {
    if (!this.implemented(num)) throw new RangeError(`unimplemented CSR 0x${num.toString(16)}`);
    this.csrWrite(num, value | 0, false);
  }

  /**
   * Executes a Zicsr instruction (SYSTEM opcode, funct3 != 0, 4). Returns 0, or the
   * exception it raises (illegal or virtual instruction), in which case nothing changed.
   * The engine must have synced `instret` before the call.
   */
  execCsr(inst: number): number {
    const f3 = (inst >>> 12) & 7;
    const rd = (inst >>> 7) & 31;
    const rs1 = (inst >>> 15) & 31;
    const op = f3 & 3; // 1 = RW, 2 = RS, 3 = RC
    const src = (f3 & 4) !== 0 ? rs1 : this.x[rs1]!;
    const writes = op === 1 || rs1 !== 0;
    const denied = this.csrCheck(inst >>> 20, writes);
    if (denied !== 0) return denied;
    // At V=1 the supervisor CSRs with a VS copy (0x100-0x180 -> 0x200-0x280) mean the copy.
    const csr = this.virt ? vsSubstitute(inst >>> 20) : inst >>> 20;
    // CSRRW with rd = x0 does not read (no read side effects).
    const old = op === 1 && rd === 0 ? 0 : this.csrRead(csr);
    if (writes) {
      let nv: number;
      if (op === 1) nv = src;
      else {
        // Read-modify-write of mip/sip uses the software-written bits, not the SEIP line.
        const base = csr === CSR_MIP || csr === CSR_SIP ? this.mipSw | this.hvip : old;
        nv = op === 2 ? base | src : base & ~src;
      }
      this.csrWrite(csr, nv | 0, true);
    }
    if (rd !== 0) this.x[rd] = old;
    return 0;
  }

  /** Privilege, read-only, counter-enable and TVM checks for an instruction access. */
  /** csrExists plus the CSRs of this hart's options (triggers). */
  implemented(csr: number): boolean {
    return csrExists(csr, this.hExt) || (this.mmu.trig !== null && Triggers.isTriggerCsr(csr));
  }

  csrAccessible(csr: number, write: boolean): boolean {
    return this.csrCheck(csr, write) === 0;
  }

  /**
   * The exception an instruction access to `csr` raises, or 0. At V=1 an access that
   * HS-mode could make (assuming TVM=0) but VS/VU may not is a virtual instruction.
   */
  csrCheck(csr: number, write: boolean): number {
    if (!this.implemented(csr)) return CAUSE_ILLEGAL_INSTRUCTION;
    const priv = this.priv;
    const level = (csr >>> 8) & 3;
    if (write && csr >>> 10 === 3) return CAUSE_ILLEGAL_INSTRUCTION;
    const counter = (csr >= CSR_CYCLE && csr <= CSR_HPMCOUNTER31) || (csr >= CSR_CYCLEH && csr <= CSR_HPMCOUNTER31H);
    if (this.virt) {
      if (level === 3) return CAUSE_ILLEGAL_INSTRUCTION;
      if (level === 2) return CAUSE_VIRTUAL_INSTRUCTION; // H and VS CSRs by their own numbers
      if (level === 1 && priv === PRIV_U) return CAUSE_VIRTUAL_INSTRUCTION;
      if (counter) {
        const bit = 1 << (csr & 31);
        if ((this.mcounteren & bit) === 0) return CAUSE_ILLEGAL_INSTRUCTION;
        if ((this.hcounteren & bit) === 0) return CAUSE_VIRTUAL_INSTRUCTION;
        if (priv === PRIV_U && (this.scounteren & bit) === 0) return CAUSE_VIRTUAL_INSTRUCTION;
      }
      if (csr === CSR_SATP && (this.hstatus & HSTATUS_VTVM) !== 0) return CAUSE_VIRTUAL_INSTRUCTION;
      return 0;
    }
    // Hypervisor-level CSRs (bits 9:8 = 2) belong to HS-mode.
    if ((level === 2 ? PRIV_S : level) > priv) return CAUSE_ILLEGAL_INSTRUCTION;
    if (counter) {
      const bit = 1 << (csr & 31);
      if (priv < PRIV_M && (this.mcounteren & bit) === 0) return CAUSE_ILLEGAL_INSTRUCTION;
      if (priv === PRIV_U && (this.scounteren & bit) === 0) return CAUSE_ILLEGAL_INSTRUCTION;
    }
    if ((csr === CSR_SATP || csr === CSR_HGATP) && priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0) {
      return CAUSE_ILLEGAL_INSTRUCTION;
    }
    return 0;
  }

  /** Reads an implemented CSR (unsigned 32-bit). */
  private csrRead(csr: number): number {
    switch (csr) {
      case CSR_CYCLE: case CSR_MCYCLE: return lo32(this.cycle);
      case CSR_CYCLEH: case CSR_MCYCLEH: return hi32(this.cycle);
      case CSR_INSTRET: case CSR_MINSTRET: return lo32(this.instret);
      case CSR_INSTRETH: case CSR_MINSTRETH: return hi32(this.instret);
      case CSR_TIME: return this.virt ? this.guestTime(false) : lo32(this.timeSource());
      case CSR_TIMEH: return this.virt ? this.guestTime(true) : hi32(this.timeSource());
      case CSR_SSTATUS: return (this.mstatus & SSTATUS_MASK) >>> 0;
      case CSR_SIE: return (this.mie & this.mideleg & S_INTERRUPTS) >>> 0;
      case CSR_STVEC: return this.stvec >>> 0;
      case CSR_SCOUNTEREN: return this.scounteren >>> 0;
      case CSR_SSCRATCH: return this.sscratch >>> 0;
      case CSR_SEPC: return this.sepc >>> 0;
      case CSR_SCAUSE: return this.scause >>> 0;
      case CSR_STVAL: return this.stval >>> 0;
      case CSR_SIP: return (this.mip & this.mideleg & S_INTERRUPTS) >>> 0;
      case CSR_SATP: return this.satp >>> 0;
      case CSR_MHARTID: return this.hartId >>> 0;
      case CSR_MSTATUS: return this.mstatus >>> 0;
      case CSR_MISA: return this.hExt ? (MISA_VALUE | MISA_H) >>> 0 : MISA_VALUE;
      case CSR_MSTATUSH: return this.mstatush >>> 0;
      case CSR_MEDELEG: return this.medeleg >>> 0;
      case CSR_MIDELEG: return this.mideleg >>> 0;
      case CSR_MIE: return this.mie >>> 0;
      case CSR_MTVEC: return this.mtvec >>> 0;
      case CSR_MCOUNTEREN: return this.mcounteren >>> 0;
      case CSR_MSCRATCH: return this.mscratch >>> 0;
      case CSR_MEPC: return this.mepc >>> 0;
      case CSR_MCAUSE: return this.mcause >>> 0;
      case CSR_MTVAL: return this.mtval >>> 0;
      case CSR_MIP: return this.mip >>> 0;
      // H extension
      case CSR_HSTATUS: return this.hstatus >>> 0;
      case CSR_HEDELEG: return this.hedeleg >>> 0;
      case CSR_HIDELEG: return this.hideleg >>> 0;
      case CSR_HIE: return (this.mie & VS_INTERRUPTS) >>> 0;
      case CSR_HIP: return (this.mip & VS_INTERRUPTS) >>> 0;
      case CSR_HVIP: return this.hvip >>> 0;
      case CSR_HCOUNTEREN: return this.hcounteren >>> 0;
      case CSR_HTIMEDELTA: return this.htimedeltaLo >>> 0;
      case CSR_HTIMEDELTAH: return this.htimedeltaHi >>> 0;
      case CSR_HTVAL: return this.htval >>> 0;
      case CSR_HTINST: return this.htinst >>> 0;
      case CSR_HGATP: return this.hgatp >>> 0;
      case CSR_VSSTATUS: return (this.vsstatus & SSTATUS_MASK) >>> 0;
      case CSR_VSIE: return ((this.mie & this.hideleg & VS_INTERRUPTS) >>> 1) >>> 0;
      case CSR_VSIP: return ((this.mip & this.hideleg & VS_INTERRUPTS) >>> 1) >>> 0;
      case CSR_VSTVEC: return this.vstvec >>> 0;
      case CSR_VSSCRATCH: return this.vsscratch >>> 0;
      case CSR_VSEPC: return this.vsepc >>> 0;
      case CSR_VSCAUSE: return this.vscause >>> 0;
      case CSR_VSTVAL: return this.vstval >>> 0;
      case CSR_VSATP: return this.vsatp >>> 0;
      case CSR_MTVAL2: return this.mtval2 >>> 0;
      case CSR_MTINST: return this.mtinst >>> 0;
      default:
        if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) return this.mmu.pmp.readCfgCsr(csr - CSR_PMPCFG0);
        if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) return this.mmu.pmp.readAddrCsr(csr - CSR_PMPADDR0);
        if (this.mmu.trig !== null && Triggers.isTriggerCsr(csr)) return this.mmu.trig.readCsr(csr);
        return 0; // read-only-zero CSRs (ids, envcfg, pmp, hpm counters/events)
    }
  }

  /** Writes an implemented CSR with WARL masks; `fromInsn` = written by an instruction. */
  private csrWrite(csr: number, v: number, fromInsn: boolean): void {
    switch (csr) {
      case CSR_MSTATUS: {
        let n = (this.mstatus & ~MSTATUS_WMASK) | (v & MSTATUS_WMASK);
        // MPP is WARL {U, S, M}: the reserved value 2 leaves it unchanged.
        if ((n & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT === 2) n = (n & ~MSTATUS_MPP) | (this.mstatus & MSTATUS_MPP);
        this.setMstatus(n);
        break;
      }
      case CSR_SSTATUS:
        this.setMstatus((this.mstatus & ~SSTATUS_WMASK) | (v & SSTATUS_WMASK));
        break;
      case CSR_MEDELEG: this.medeleg = v & (this.hExt ? MEDELEG_MASK | MEDELEG_H_BITS : MEDELEG_MASK); break;
      case CSR_MIDELEG:
        this.mideleg = (v & S_INTERRUPTS) | (this.hExt ? VS_INTERRUPTS : 0);
        this.resync = true;
        break;
      case CSR_MIE: this.mie = v & (this.hExt ? MIE_MASK | VS_INTERRUPTS : MIE_MASK); this.resync = true; break;
      case CSR_SIE: {
        const m = this.mideleg & S_INTERRUPTS;
        this.mie = (this.mie & ~m) | (v & m);
        this.resync = true;
        break;
      }
      case CSR_MIP:
        this.mipSw = (this.mipSw & ~MIP_WMASK) | (v & MIP_WMASK);
        if (this.hExt) this.hvip = (this.hvip & ~MIP_VSSIP) | (v & MIP_VSSIP); // alias of hip.VSSIP
        this.resync = true;
        break;
      case CSR_SIP: {
        const m = this.mideleg & MIP_SSIP;
        this.mipSw = (this.mipSw & ~m) | (v & m);
        this.resync = true;
        break;
      }
      case CSR_MTVEC: this.mtvec = tvecWarl(v); break;
      case CSR_STVEC: this.stvec = tvecWarl(v); break;
      case CSR_MSCRATCH: this.mscratch = v >>> 0; break;
      case CSR_SSCRATCH: this.sscratch = v >>> 0; break;
      case CSR_MEPC: this.mepc = (v & ~3) >>> 0; break;
      case CSR_SEPC: this.sepc = (v & ~3) >>> 0; break;
      case CSR_MCAUSE: this.mcause = v >>> 0; break;
      case CSR_SCAUSE: this.scause = v >>> 0; break;
      case CSR_MTVAL: this.mtval = v >>> 0; break;
      case CSR_STVAL: this.stval = v >>> 0; break;
      case CSR_MCOUNTEREN: this.mcounteren = v >>> 0; break;
      case CSR_SCOUNTEREN: this.scounteren = v >>> 0; break;
      case CSR_SATP:
        this.satp = (v & SATP_WMASK) >>> 0;
        this.mmu.flushVirtual();
        this.resync = true;
        break;
      case CSR_MCYCLE: case CSR_MCYCLEH: {
        const c = this.cycle;
        const target = csr === CSR_MCYCLE ? hi32(c) * TWO32 + (v >>> 0) : (v >>> 0) * TWO32 + lo32(c);
        this.cycleOffset = target - (fromInsn ? 1 : 0) - this.instret;
        break;
      }
      case CSR_MINSTRET: case CSR_MINSTRETH: {
        const c = this.cycle;
        const i = this.instret;
        const target = csr === CSR_MINSTRET ? hi32(i) * TWO32 + (v >>> 0) : (v >>> 0) * TWO32 + lo32(i);
        this.instret = target - (fromInsn ? 1 : 0);
        this.privMark += this.instret - i; // a software write is no instruction of any privilege
        this.cycleOffset = c - this.instret; // cycle keeps counting independently
        break;
      }
      default: {
        // PMP and trigger changes invalidate what the TLB cached (pmp.ts, trigger.ts).
        let flush = false;
        if (this.hExt) this.csrWriteH(csr, v);
        if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) flush = this.mmu.pmp.writeCfgCsr(csr - CSR_PMPCFG0, v);
        else if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) flush = this.mmu.pmp.writeAddrCsr(csr - CSR_PMPADDR0, v);
        else if (this.mmu.trig !== null && Triggers.isTriggerCsr(csr)) flush = this.mmu.trig.writeCsr(csr, v);
        if (flush) {
          this.mmu.flushAll();
          this.resync = true;
        }
        break; // misa, read-only-zero and WARL-zero CSRs ignore writes
      }
    }
  }

  /** Writes of the H extension's CSRs (and mstatush). */
  private csrWriteH(csr: number, v: number): void {
    switch (csr) {
      case CSR_MSTATUSH: this.mstatush = v & (MSTATUSH_MPV | MSTATUSH_GVA); this.resync = true; break;
      case CSR_HSTATUS: this.hstatus = v & HSTATUS_WMASK; break;
      case CSR_HEDELEG: this.hedeleg = v & HEDELEG_MASK; break;
      case CSR_HIDELEG: this.hideleg = v & VS_INTERRUPTS; this.resync = true; break;
      case CSR_HIE: this.mie = (this.mie & ~VS_INTERRUPTS) | (v & VS_INTERRUPTS); this.resync = true; break;
      case CSR_HIP: this.hvip = (this.hvip & ~MIP_VSSIP) | (v & MIP_VSSIP); this.resync = true; break;
      case CSR_HVIP: this.hvip = v & VS_INTERRUPTS; this.resync = true; break;
      case CSR_HCOUNTEREN: this.hcounteren = v >>> 0; break;
      case CSR_HTIMEDELTA: this.htimedeltaLo = v >>> 0; break;
      case CSR_HTIMEDELTAH: this.htimedeltaHi = v >>> 0; break;
      case CSR_HTVAL: this.htval = v >>> 0; break;
      case CSR_HTINST: this.htinst = v >>> 0; break;
      case CSR_HGATP:
        this.hgatp = (v & HGATP_WMASK) >>> 0;
        this.mmu.flushGuest();
        this.resync = true;
        break;
      case CSR_VSSTATUS: {
        const n = (this.vsstatus & ~SSTATUS_WMASK) | (v & SSTATUS_WMASK);
        if (((n ^ this.vsstatus) & (MSTATUS_SUM | MSTATUS_MXR)) !== 0) this.mmu.flushGuest();
        this.vsstatus = n;
        this.resync = true;
        break;
      }
      case CSR_VSIE: {
        const m = this.hideleg & VS_INTERRUPTS;
        this.mie = (this.mie & ~m) | ((v << 1) & m);
        this.resync = true;
        break;
      }
      case CSR_VSIP: {
        const m = this.hideleg & MIP_VSSIP;
        this.hvip = (this.hvip & ~m) | ((v << 1) & m);
        this.resync = true;
        break;
      }
      case CSR_VSTVEC: this.vstvec = tvecWarl(v); break;
      case CSR_VSSCRATCH: this.vsscratch = v >>> 0; break;
      case CSR_VSEPC: this.vsepc = (v & ~3) >>> 0; break;
      case CSR_VSCAUSE: this.vscause = v >>> 0; break;
      case CSR_VSTVAL: this.vstval = v >>> 0; break;
      case CSR_VSATP:
        this.vsatp = (v & SATP_WMASK) >>> 0;
        this.mmu.flushGuest();
        this.resync = true;
        break;
      case CSR_MTVAL2: this.mtval2 = v >>> 0; break;
      case CSR_MTINST: this.mtinst = v >>> 0; break;
      default: break; // hgeie, hgeip, henvcfg(h): read-only zero (GEILEN = 0, no envcfg fields)
    }
  }

  /** time + htimedelta (64-bit, wrapping), the time VS and VU read. */
  private guestTime(high: boolean): number {
    const t = this.timeSource();
    const lo = lo32(t) + this.htimedeltaLo;
    if (!high) return lo >>> 0;
    return (hi32(t) + this.htimedeltaHi + (lo >= TWO32 ? 1 : 0)) >>> 0;
  }

  private setMstatus(n: number): void {
    const changed = this.mstatus ^ n;
    this.mstatus = n;
    if ((changed & (MSTATUS_SUM | MSTATUS_MXR)) !== 0) this.mmu.flushVirtual();
    // HS-level MXR also applies to both stages of two-stage translation.
    if (this.hExt && (changed & MSTATUS_MXR) !== 0) this.mmu.flushGuest();
    this.resync = true;
  }
}

/** The VS CSR an S CSR number means at V=1 (sstatus, sie, stvec, sscratch, sepc, scause, stval, sip, satp). */
function vsSubstitute(csr: number): number {
  switch (csr) {
    case CSR_SSTATUS: case CSR_SIE: case CSR_STVEC: case CSR_SSCRATCH: case CSR_SEPC:
    case CSR_SCAUSE: case CSR_STVAL: case CSR_SIP: case CSR_SATP:
      return csr + 0x100;
    default:
      return csr;
  }
}

function highest(bits: number): number {
  for (const irq of IRQ_PRIORITY) if ((bits & (1 << irq)) !== 0) return irq;
  return -1;
}

function vector(tvec: number, isInterrupt: boolean, code: number): number {
  const base = tvec & ~3;
  if (isInterrupt && (tvec & 3) === TVEC_MODE_VECTORED) return (base + 4 * code) >>> 0;
  return base >>> 0;
}

/** Modes: 0 direct, 1 vectored; reserved modes (2, 3) become direct. */
function tvecWarl(v: number): number {
  return ((v & ~3) | ((v & 3) === TVEC_MODE_VECTORED ? 1 : 0)) >>> 0;
}

function lo32(v: number): number {
  return v >>> 0;
}

function hi32(v: number): number {
  return Math.floor(v / TWO32) >>> 0;
}

/** True for every CSR number this hart implements (`hExt`: with the H extension). */
export function csrExists(csr: number, hExt = false): boolean {
  if (hExt) {
    switch (csr) {
      case CSR_HSTATUS: case CSR_HEDELEG: case CSR_HIDELEG: case CSR_HIE: case CSR_HIP: case CSR_HVIP:
      case CSR_HCOUNTEREN: case CSR_HGEIE: case CSR_HGEIP: case CSR_HTIMEDELTA: case CSR_HTIMEDELTAH:
      case CSR_HTVAL: case CSR_HTINST: case CSR_HGATP: case CSR_HENVCFG: case CSR_HENVCFGH:
      case CSR_VSSTATUS: case CSR_VSIE: case CSR_VSIP: case CSR_VSTVEC: case CSR_VSSCRATCH:
      case CSR_VSEPC: case CSR_VSCAUSE: case CSR_VSTVAL: case CSR_VSATP:
      case CSR_MTVAL2: case CSR_MTINST:
        return true;
    }
  }
  switch (csr) {
    case CSR_CYCLE: case CSR_TIME: case CSR_INSTRET:
    case CSR_CYCLEH: case CSR_TIMEH: case CSR_INSTRETH:
    case CSR_SSTATUS: case CSR_SIE: case CSR_STVEC: case CSR_SCOUNTEREN: case CSR_SENVCFG:
    case CSR_SSCRATCH: case CSR_SEPC: case CSR_SCAUSE: case CSR_STVAL: case CSR_SIP: case CSR_SATP:
    case CSR_MVENDORID: case CSR_MARCHID: case CSR_MIMPID: case CSR_MHARTID: case CSR_MCONFIGPTR:
    case CSR_MSTATUS: case CSR_MISA: case CSR_MEDELEG: case CSR_MIDELEG: case CSR_MIE:
    case CSR_MTVEC: case CSR_MCOUNTEREN: case CSR_MENVCFG: case CSR_MSTATUSH: case CSR_MENVCFGH:
    case CSR_MCOUNTINHIBIT:
    case CSR_MSCRATCH: case CSR_MEPC: case CSR_MCAUSE: case CSR_MTVAL: case CSR_MIP:
    case CSR_MCYCLE: case CSR_MINSTRET: case CSR_MCYCLEH: case CSR_MINSTRETH:
      return true;
    default:
      return (
        (csr >= CSR_HPMCOUNTER3 && csr <= CSR_HPMCOUNTER31) ||
        (csr >= CSR_HPMCOUNTER3H && csr <= CSR_HPMCOUNTER31H) ||
        (csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
        (csr >= CSR_MHPMCOUNTER3H && csr <= CSR_MHPMCOUNTER31H) ||
        (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31) ||
        (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) ||
        (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63)
      );
  }
}

