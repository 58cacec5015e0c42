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
  MSTATUS_SUM, MSTATUS_TSR, MSTATUS_TVM, MSTATUS_WMASK, SATP_MODE_SV32, SATP_WMASK,
  SSTATUS_MASK, SSTATUS_WMASK, S_INTERRUPTS, TVEC_MODE_VECTORED,
} from './csr.ts';
import { pfnOf, type PhysMemory } from './memory.ts';
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, Mmu } from './mmu.ts';
import { Triggers } from './trigger.ts';

export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

const TWO32 = 0x1_0000_0000;

/** Interrupts in decreasing priority order (privileged spec 3.1.9). */
const IRQ_PRIORITY = [IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI];
/** mip bits driven by the platform (host) rather than by CSR writes. */
const MIP_HW_MASK = MIP_MSIP | MIP_MTIP | MIP_MEIP | MIP_SEIP;

export class Hart {
  readonly mem: PhysMemory;
  readonly mmu: Mmu;
  readonly hartId: number;

  /** Integer registers; x[0] always reads 0 (engines never write it). */
  x = new Int32Array(32);
  /** Program counter, unsigned 32-bit. */
  pc = 0;
  priv: number = PRIV_M;

  /** M-mode-targeted traps exit to the host instead of vectoring (see ExitReason.HostTrap). */
  hostTraps = false;
  /** mcause encoding of the trap behind the last HostTrap exit. */
  trapCause = 0;
  trapTval = 0;
  /** Set by devices or watchers; run() returns ExitReason.Stop after the current instruction. */
  stopRequested = false;

  /** Instructions retired. */
  instret = 0;
  /** Instructions retired by engines on this hart, unaffected by software writes to minstret. */
  retired = 0;
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

  /**
   * Set when interrupt or translation context may have changed (CSR writes, traps, xRET,
   * setInterruptPending); an engine re-checks interrupts and TLB selection when it sees it.
   */
  resync = false;

  /**
   * `pmpEntries` (0..16, default 0: no PMP, nothing denied) and `triggers` (0..16 debug
   * triggers, default 0: no Sdtrig CSRs) - see pmp.ts and trigger.ts.
   */
  constructor(mem: PhysMemory, opts?: { hartId?: number; pmpEntries?: number; triggers?: number }) {
    this.mem = mem;
    this.hartId = opts?.hartId ?? 0;
    this.mmu = new Mmu(mem, this, { pmpEntries: opts?.pmpEntries ?? 0, triggers: opts?.triggers ?? 0 });
    this.timeSource = () => this.instret;
  }

  get cycle(): number {
    return this.instret + this.cycleOffset;
  }

  set cycle(v: number) {
    this.cycleOffset = v - this.instret;
  }

  /** mip as software sees it. */
  get mip(): number {
    return this.mipSw | this.mipHw;
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

  /** MRET. Returns false if illegal (below M). */
  mret(): boolean {
    if (this.priv !== PRIV_M) return false;
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
    return true;
  }

  /** SRET. Returns false if illegal (U-mode, or S-mode with TSR). */
  sret(): boolean {
    if (this.priv === PRIV_U) return false;
    if (this.priv === PRIV_S && (this.mstatus & MSTATUS_TSR) !== 0) return false;
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
    return true;
  }

  // ---------------------------------------------------------------------------------
  // Translation (host helpers)

  /**
   * Translates `va` with the current satp as an access from `priv` (default: the current
   * privilege; MPRV is not applied) for 'r' | 'w' | 'x'. Returns the physical address, or
   * -1 on a page fault, access fault, or a target that is neither RAM nor MMIO. Sets A/D
   * like a hardware walk. Does not touch the TLB.
   */
  translate(va: number, access: 'r' | 'w' | 'x', priv?: number): number {
    const p = priv ?? this.priv;
    const acc = access === 'r' ? ACCESS_READ : access === 'w' ? ACCESS_WRITE : ACCESS_EXEC;
    va >>>= 0;
    let pa: number;
    if (p === PRIV_M || (this.satp & SATP_MODE_SV32) === 0) {
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
   * Executes a Zicsr instruction (SYSTEM opcode, funct3 != 0, 4). Returns false if it is
   * an illegal instruction, in which case nothing changed. The engine must have synced
   * `instret` before the call.
   */
  execCsr(inst: number): boolean {
    const f3 = (inst >>> 12) & 7;
    const rd = (inst >>> 7) & 31;
    const rs1 = (inst >>> 15) & 31;
    const csr = inst >>> 20;
    const op = f3 & 3; // 1 = RW, 2 = RS, 3 = RC
    const src = (f3 & 4) !== 0 ? rs1 : this.x[rs1]!;
    const writes = op === 1 || rs1 !== 0;
    if (!this.csrAccessible(csr, writes)) return false;
    // CSRRW with rd = x0 does not read (no read side effects).
    const old = op === 1 && rd === 0 ? 0 : this.csrRead(csr);
    if (writes) {
      let nv: number;
      if (op === 1) nv = src;
      else {
        // Read-modify-write of mip/sip uses the software-written bits, not the SEIP line.
        const base = csr === CSR_MIP || csr === CSR_SIP ? this.mipSw : old;
        nv = op === 2 ? base | src : base & ~src;
      }
      this.csrWrite(csr, nv | 0, true);
    }
    if (rd !== 0) this.x[rd] = old;
    return true;
  }

  /** Privilege, read-only, counter-enable and TVM checks for an instruction access. */
  /** csrExists plus the CSRs of this hart's options (triggers). */
  implemented(csr: number): boolean {
    return csrExists(csr) || (this.mmu.trig !== null && Triggers.isTriggerCsr(csr));
  }

  csrAccessible(csr: number, write: boolean): boolean {
    if (!this.implemented(csr)) return false;
    const priv = this.priv;
    if (((csr >>> 8) & 3) > priv) return false;
    if (write && csr >>> 10 === 3) return false;
    if ((csr >= CSR_CYCLE && csr <= CSR_HPMCOUNTER31) || (csr >= CSR_CYCLEH && csr <= CSR_HPMCOUNTER31H)) {
      const bit = 1 << (csr & 31);
      if (priv < PRIV_M && (this.mcounteren & bit) === 0) return false;
      if (priv === PRIV_U && (this.scounteren & bit) === 0) return false;
    }
    if (csr === CSR_SATP && priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0) return false;
    return true;
  }

  /** Reads an implemented CSR (unsigned 32-bit). */
  private csrRead(csr: number): number {
    switch (csr) {
      case CSR_CYCLE: case CSR_MCYCLE: return lo32(this.cycle);
      case CSR_CYCLEH: case CSR_MCYCLEH: return hi32(this.cycle);
      case CSR_INSTRET: case CSR_MINSTRET: return lo32(this.instret);
      case CSR_INSTRETH: case CSR_MINSTRETH: return hi32(this.instret);
      case CSR_TIME: return lo32(this.timeSource());
      case CSR_TIMEH: return hi32(this.timeSource());
      case CSR_SSTATUS: return (this.mstatus & SSTATUS_MASK) >>> 0;
      case CSR_SIE: return (this.mie & this.mideleg) >>> 0;
      case CSR_STVEC: return this.stvec >>> 0;
      case CSR_SCOUNTEREN: return this.scounteren >>> 0;
      case CSR_SSCRATCH: return this.sscratch >>> 0;
      case CSR_SEPC: return this.sepc >>> 0;
      case CSR_SCAUSE: return this.scause >>> 0;
      case CSR_STVAL: return this.stval >>> 0;
      case CSR_SIP: return (this.mip & this.mideleg) >>> 0;
      case CSR_SATP: return this.satp >>> 0;
      case CSR_MHARTID: return this.hartId >>> 0;
      case CSR_MSTATUS: return this.mstatus >>> 0;
      case CSR_MISA: return MISA_VALUE;
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
      case CSR_MEDELEG: this.medeleg = v & MEDELEG_MASK; break;
      case CSR_MIDELEG: this.mideleg = v & S_INTERRUPTS; this.resync = true; break;
      case CSR_MIE: this.mie = v & MIE_MASK; this.resync = true; break;
      case CSR_SIE: {
        const m = this.mideleg & S_INTERRUPTS;
        this.mie = (this.mie & ~m) | (v & m);
        this.resync = true;
        break;
      }
      case CSR_MIP: this.mipSw = (this.mipSw & ~MIP_WMASK) | (v & MIP_WMASK); this.resync = true; break;
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
        this.cycleOffset = c - this.instret; // cycle keeps counting independently
        break;
      }
      default: {
        // PMP and trigger changes invalidate what the TLB cached (pmp.ts, trigger.ts).
        let flush = false;
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

  private setMstatus(n: number): void {
    const changed = this.mstatus ^ n;
    this.mstatus = n;
    if ((changed & (MSTATUS_SUM | MSTATUS_MXR)) !== 0) this.mmu.flushVirtual();
    this.resync = true;
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

/** True for every CSR number this hart implements. */
export function csrExists(csr: number): boolean {
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

