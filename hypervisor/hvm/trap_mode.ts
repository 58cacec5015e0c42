// Trap-and-emulate (`hvm_mode = "trap"`): the guest's virtual S-mode and U-mode both run in
// the real hart's U-mode, with hostTraps on and nothing delegated, so every trap exits to
// the hypervisor. The virtual hart's supervisor CSRs live here; the real hart's satp is
// the shadow of the guest's (hvm/shadow/, through GuestPaging). On each exit:
//   - illegal instruction: CSR instructions, sret, wfi and sfence.vma are emulated from
//     virtual S (the instruction bits come from mtval, which this hart fills on an
//     illegal-instruction trap, as the privileged spec allows); from virtual U, or any
//     other instruction, the guest gets the illegal-instruction trap a real hart gives;
//   - ecall: from virtual S an SBI call (sbi.ts), from virtual U reflected (cause 8);
//   - page faults: the shadow fixes them, or they are the guest's (reflected), MMIO
//     (decoded and emulated), or a write to a write-protected guest page table (emulated);
//   - anything else is reflected to the guest's stvec as a real hart delivers it.
// Counters: cycle/time/instret are read natively (mcounteren allows them; scounteren is the
// guest's own while it runs in virtual U), time in the board's 1 GHz timebase.

import {
  CAUSE_BREAKPOINT, CAUSE_FETCH_ACCESS, CAUSE_MISALIGNED_STORE, CAUSE_FETCH_PAGE_FAULT, CAUSE_ILLEGAL_INSTRUCTION, CAUSE_INTERRUPT,
  CAUSE_LOAD_ACCESS, CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_ACCESS, CAUSE_STORE_PAGE_FAULT, CAUSE_USER_ECALL,
  CSR_CYCLE, CSR_CYCLEH, CSR_HPMCOUNTER31, CSR_HPMCOUNTER31H, CSR_INSTRET, CSR_INSTRETH, CSR_MCOUNTEREN,
  CSR_MEDELEG, CSR_MIDELEG, CSR_MIE, CSR_MSTATUS, CSR_SATP, CSR_SCAUSE, CSR_SCOUNTEREN, CSR_SENVCFG, CSR_SEPC,
  CSR_SIE, CSR_SIP, CSR_SSCRATCH, CSR_SSTATUS, CSR_STVAL, CSR_STVEC, CSR_TIME, CSR_TIMEH, IRQ_SEI, IRQ_SSI,
  IRQ_STI, MIP_SSIP, MSTATUS_MXR, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_SUM, TVEC_MODE_VECTORED,
} from '../cpu/csr.ts';
import { PRIV_S, PRIV_U, type Hart } from '../cpu/hart.ts';
import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { amoResult, decodeMemAccess, memAccessAddress, systemInsnName } from './decode.ts';
import { deviceAccess, ProgressWatch, retireInstruction, traceHvmWake } from './exits.ts';
import type { ExitClock, VirtMode } from './mode.ts';
import type { GuestMode, GuestPaging } from './paging.ts';
import { sbiCall, SBI_EXT } from './sbi.ts';
import { guestWalkSv32 } from './xen_platform.ts';
import { TRC } from '../trace/trace.ts';
import type { HvmVcpu } from './vcpu.ts';
import type { HvmBoard } from './board.ts';

/** sstatus bits a virtual S-mode may write (as the real hart's SSTATUS_WMASK). */
const VSSTATUS_WMASK = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR;
/** Supervisor interrupt enables and pendings: SSIE/SSIP, STIE/STIP, SEIE/SEIP. */
const S_IRQ_MASK = (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI);
/** satp bits kept: MODE and PPN (ASID is WARL zero, as on the real hart). */
const VSATP_WMASK = 0x803fffff;
/** Virtual interrupts in priority order (privileged spec 3.1.9: SEI, SSI, STI). */
const IRQ_ORDER = [IRQ_SEI, IRQ_SSI, IRQ_STI];

const SRET = 0x10200073;
const WFI = 0x10500073;

export class TrapMode implements VirtMode {
  readonly kind = 'trap' as const;
  /** Virtual privilege: PRIV_S or PRIV_U (the real hart is always in U). */
  vpriv: number = PRIV_S;
  // The virtual hart's supervisor CSRs.
  sstatus = 0;
  sie = 0;
  stvec = 0;
  sscratch = 0;
  sepc = 0;
  scause = 0;
  stval = 0;
  satp = 0;
  scounteren = 0;
  /** senvcfg: no fields implemented (WARL zero), as on the real hart. */
  readonly senvcfg = 0;
  /** Blocked in wfi until an enabled interrupt is pending. */
  inWfi = false;
  /** Blocked until an ioreq server answers this vCPU's MMIO access. */
  ioWait = false;
  private readonly watch: ProgressWatch;

  constructor(
    private readonly v: HvmVcpu,
    private readonly board: HvmBoard,
    private readonly paging: GuestPaging,
  ) {
    this.watch = new ProgressWatch(board, v.id);
    const hart = this.hart;
    hart.hostTraps = true;
    hart.writeCsr(CSR_MEDELEG, 0);
    hart.writeCsr(CSR_MIDELEG, 0);
    hart.writeCsr(CSR_MIE, 0);
    hart.writeCsr(CSR_MCOUNTEREN, 0b111); // cycle, time, instret readable below M
    hart.priv = PRIV_U;
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

  guestMode(): GuestMode {
    return { priv: this.vpriv === PRIV_S ? 1 : 0, sum: (this.sstatus & MSTATUS_SUM) !== 0, mxr: (this.sstatus & MSTATUS_MXR) !== 0 };
  }

  /** Loads the shadow of (satp, privilege, SUM/MXR) into the real hart. */
  private activate(): void {
    const hart = this.hart;
    const msatp = this.paging.activate(this.satp, this.guestMode(), this.v.id);
    hart.writeCsr(CSR_SATP, msatp >>> 0);
    hart.writeCsr(CSR_MSTATUS, 0); // MXR stays 0 on the real hart: the shadow encodes the guest's
    // In virtual S every counter is readable (its "M-mode" allows them); in virtual U the guest's scounteren decides.
    hart.writeCsr(CSR_SCOUNTEREN, this.vpriv === PRIV_S ? 0b111 : this.scounteren & 0b111);
    hart.priv = PRIV_U;
    hart.flushTlb();
  }

  reset(pc: number, a0: number, a1: number): void {
    this.vpriv = PRIV_S;
    this.sstatus = 0;
    this.sie = 0;
    this.satp = 0;
    this.inWfi = false;
    const hart = this.hart;
    hart.x.fill(0);
    hart.x[10] = a0 | 0;
    hart.x[11] = a1 | 0;
    hart.pc = pc >>> 0;
    this.activate();
  }

  // --- interrupts --------------------------------------------------------------------

  private pendingEnabled(): number {
    return this.v.lines & this.sie & S_IRQ_MASK;
  }

  virtualPriv(): number {
    return this.vpriv;
  }

  enter(clock: ExitClock): void {
    const pend = this.pendingEnabled();
    if (pend === 0) return;
    if (this.vpriv === PRIV_S && (this.sstatus & MSTATUS_SIE) === 0) return;
    const irq = IRQ_ORDER.find((i) => (pend & (1 << i)) !== 0)!;
    this.stats.charge(clock, 'irq_inject', this.costs.hvmInjectNs);
    this.deliver((CAUSE_INTERRUPT | irq) >>> 0, 0);
    this.board.chargeWalks(clock);
  }

  linesChanged(): void {
    if (this.inWfi && this.pendingEnabled() !== 0) {
      this.inWfi = false;
      traceHvmWake(this.board, this.v);
      this.board.deps.hv.wakeVcpu(this.v.vcpu);
    }
  }

  remoteSfence(va: number | null): void {
    this.board.domain.perf.shadowFlush(va === null ? 'rfence all' : 'rfence page');
    this.paging.sfence(va);
  }

  // --- traps into the guest ------------------------------------------------------------

  /** Delivers a trap to the virtual S-mode at the current pc, as a hart does (privileged spec 4.1.1, 12.1). */
  private deliver(cause: number, tval: number): void {
    const hart = this.hart;
    const isInterrupt = (cause & CAUSE_INTERRUPT) !== 0;
    const code = cause & 0x7fffffff;
    this.sepc = hart.pc >>> 0;
    this.scause = cause >>> 0;
    this.stval = tval >>> 0;
    let s = this.sstatus & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE);
    if ((this.sstatus & MSTATUS_SIE) !== 0) s |= MSTATUS_SPIE;
    if (this.vpriv === PRIV_S) s |= MSTATUS_SPP;
    this.sstatus = s;
    const base = this.stvec & ~3;
    hart.pc = (isInterrupt && (this.stvec & 3) === TVEC_MODE_VECTORED ? base + 4 * code : base) >>> 0;
    hart.mmu.resValid = false;
    const wasU = this.vpriv === PRIV_U;
    this.vpriv = PRIV_S;
    if (wasU) this.activate();
    else hart.resync = true;
  }

  private reflect(clock: ExitClock, cause: number, tval: number): void {
    this.stats.charge(clock, 'reflect', this.costs.hvmInjectNs);
    this.deliver(cause, tval);
  }

  // --- exits -------------------------------------------------------------------------

  handleExit(clock: ExitClock): void {
    try {
      this.serveExit(clock);
    } finally {
      this.board.chargeWalks(clock);
    }
  }

  private serveExit(clock: ExitClock): void {
    const hart = this.hart;
    const cause = hart.trapCause >>> 0;
    const tval = hart.trapTval >>> 0;
    this.stats.charge(clock, 'world_switch', this.costs.hvmExitNs);
    this.board.deps.hv.trace(TRC.HVM_VMEXIT, this.board.domain.domid, this.v.id, cause, tval);
    if (!this.watch.progressed(this.hart, cause)) return;
    if ((cause & CAUSE_INTERRUPT) !== 0) return; // mie is 0: the real hart takes no interrupt
    switch (cause) {
      case CAUSE_ILLEGAL_INSTRUCTION:
        this.emulateInstruction(clock, tval);
        return;
      case CAUSE_USER_ECALL:
        if (this.vpriv === PRIV_S) this.sbi(clock);
        else this.reflect(clock, CAUSE_USER_ECALL, 0);
        return;
      case CAUSE_FETCH_PAGE_FAULT:
      case CAUSE_LOAD_PAGE_FAULT:
      case CAUSE_STORE_PAGE_FAULT:
        this.pageFault(clock, cause, tval);
        return;
      case CAUSE_BREAKPOINT:
      default:
        this.reflect(clock, cause, tval);
    }
  }


  private retire(): void {
    retireInstruction(this.hart);
  }

  private emulateInstruction(clock: ExitClock, inst: number): void {
    // Every illegal-instruction exit by the instruction behind it (emulated or reflected).
    this.board.domain.perf.illegal(systemInsnName(inst));
    const illegal = () => this.reflect(clock, CAUSE_ILLEGAL_INSTRUCTION, inst);
    if ((inst & 0x7f) !== 0x73) return illegal();
    const f3 = (inst >>> 12) & 7;
    if (f3 === 4) return illegal();
    if (f3 !== 0) return this.csr(clock, inst);
    if (this.vpriv !== PRIV_S) return illegal(); // sret, wfi, sfence.vma from U: illegal on a real hart too
    if (inst === SRET) {
      this.stats.charge(clock, 'priv', this.costs.hvmPrivNs);
      const s = this.sstatus;
      const spp = (s & MSTATUS_SPP) !== 0 ? PRIV_S : PRIV_U;
      let n = s & ~(MSTATUS_SPP | MSTATUS_SIE);
      if ((s & MSTATUS_SPIE) !== 0) n |= MSTATUS_SIE;
      n |= MSTATUS_SPIE;
      this.sstatus = n;
      this.vpriv = spp;
      const hart = this.hart;
      hart.pc = this.sepc >>> 0;
      hart.instret++;
      hart.mmu.resValid = false;
      this.activate();
      return;
    }
    if (inst === WFI) {
      this.stats.charge(clock, 'priv', this.costs.hvmPrivNs);
      this.retire();
      // Wakes on any pending interrupt the guest has enabled in sie, whatever sstatus.SIE says.
      if (this.pendingEnabled() === 0) {
        this.inWfi = true;
        this.board.deps.hv.blockVcpu(this.v.vcpu);
      }
      return;
    }
    if ((inst & 0xfe007fff) === 0x12000073) { // sfence.vma rs1, rs2
      this.stats.charge(clock, 'priv', this.costs.hvmPrivNs);
      const rs1 = (inst >>> 15) & 31;
      this.board.domain.perf.shadowFlush(rs1 === 0 ? 'sfence.vma all' : 'sfence.vma page');
      this.paging.sfence(rs1 === 0 ? null : this.hart.x[rs1]! >>> 0);
      this.retire();
      return;
    }
    illegal(); // mret, unknown SYSTEM encodings
  }

  // --- CSRs --------------------------------------------------------------------------

  private static exists(csr: number): boolean {
    switch (csr) {
      case CSR_SSTATUS: case CSR_SIE: case CSR_STVEC: case CSR_SCOUNTEREN: case CSR_SENVCFG:
      case CSR_SSCRATCH: case CSR_SEPC: case CSR_SCAUSE: case CSR_STVAL: case CSR_SIP: case CSR_SATP:
        return true;
      default:
        return (csr >= CSR_CYCLE && csr <= CSR_HPMCOUNTER31) || (csr >= CSR_CYCLEH && csr <= CSR_HPMCOUNTER31H);
    }
  }

  /** Zicsr from the guest: the rules a real hart applies, against the virtual hart. */
  private csr(clock: ExitClock, inst: number): void {
    const hart = this.hart;
    const f3 = (inst >>> 12) & 7;
    const rd = (inst >>> 7) & 31;
    const rs1 = (inst >>> 15) & 31;
    const csr = inst >>> 20;
    const op = f3 & 3; // 1 RW, 2 RS, 3 RC
    const src = (f3 & 4) !== 0 ? rs1 : hart.x[rs1]!;
    const writes = op === 1 || rs1 !== 0;
    const counter = csr >>> 8 === 0xc;
    let ok = TrapMode.exists(csr) && ((csr >>> 8) & 3) <= this.vpriv && !(writes && csr >>> 10 === 3);
    // A counter from virtual U needs the guest's scounteren bit (its M-level grant is all).
    if (ok && counter && this.vpriv === PRIV_U && ((this.scounteren >>> (csr & 31)) & 1) === 0) ok = false;
    if (!ok) {
      this.reflect(clock, CAUSE_ILLEGAL_INSTRUCTION, inst);
      return;
    }
    this.stats.charge(clock, 'csr', this.costs.hvmCsrNs);
    const old = op === 1 && rd === 0 ? 0 : this.readCsr(csr, clock.now);
    if (writes) {
      const base = csr === CSR_SIP ? this.v.lines & MIP_SSIP : old;
      const nv = op === 1 ? src : op === 2 ? base | src : base & ~src;
      this.writeCsr(csr, nv | 0);
    }
    if (rd !== 0) hart.x[rd] = old | 0;
    this.retire();
  }

  readCsr(csr: number, now: number): number {
    const hart = this.hart;
    switch (csr) {
      case CSR_SSTATUS: return this.sstatus >>> 0;
      case CSR_SIE: return this.sie >>> 0;
      case CSR_STVEC: return this.stvec >>> 0;
      case CSR_SCOUNTEREN: return this.scounteren >>> 0;
      case CSR_SENVCFG: return this.senvcfg;
      case CSR_SSCRATCH: return this.sscratch >>> 0;
      case CSR_SEPC: return this.sepc >>> 0;
      case CSR_SCAUSE: return this.scause >>> 0;
      case CSR_STVAL: return this.stval >>> 0;
      case CSR_SIP: return (this.v.lines & S_IRQ_MASK) >>> 0;
      case CSR_SATP: return this.satp >>> 0;
      case CSR_CYCLE: return hart.cycle >>> 0;
      case CSR_CYCLEH: return Math.floor(hart.cycle / 2 ** 32) >>> 0;
      case CSR_INSTRET: return hart.instret >>> 0;
      case CSR_INSTRETH: return Math.floor(hart.instret / 2 ** 32) >>> 0;
      case CSR_TIME: return now >>> 0;
      case CSR_TIMEH: return Math.floor(now / 2 ** 32) >>> 0;
      default: return 0; // hpmcounters: read-only zero
    }
  }

  writeCsr(csr: number, v: number): void {
    switch (csr) {
      case CSR_SSTATUS: {
        const before = this.sstatus;
        this.sstatus = (before & ~VSSTATUS_WMASK) | (v & VSSTATUS_WMASK);
        // SUM and MXR change what a page means: another shadow (or the same, re-checked).
        if (((before ^ this.sstatus) & (MSTATUS_SUM | MSTATUS_MXR)) !== 0) this.activate();
        break;
      }
      case CSR_SIE: this.sie = v & S_IRQ_MASK; break;
      case CSR_SIP: if ((v & MIP_SSIP) === 0) this.v.clearSsip(); else this.v.sendIpi(); break;
      case CSR_STVEC: this.stvec = ((v & ~3) | ((v & 3) === TVEC_MODE_VECTORED ? 1 : 0)) >>> 0; break;
      case CSR_SSCRATCH: this.sscratch = v >>> 0; break;
      case CSR_SEPC: this.sepc = (v & ~3) >>> 0; break;
      case CSR_SCAUSE: this.scause = v >>> 0; break;
      case CSR_STVAL: this.stval = v >>> 0; break;
      case CSR_SCOUNTEREN: this.scounteren = v >>> 0; break;
      case CSR_SATP:
        this.satp = (v & VSATP_WMASK) >>> 0;
        this.activate();
        break;
      default: break; // senvcfg: WARL zero
    }
  }

  /** Hypercall pointers: a software walk of the guest's own tables (the shadow may not hold the page yet). */
  guestTranslate(va: number, access: 'r' | 'w'): number {
    const mem = this.board.deps.hv.mem;
    const toMachine = (gpa: number): number => {
      const mfn = this.board.gfnToMfn(Math.floor(gpa / PAGE_SIZE));
      return mfn < 0 ? -1 : mfn * PAGE_SIZE + (gpa % PAGE_SIZE);
    };
    const gpa = guestWalkSv32(this.satp, va, access, (this.sstatus & MSTATUS_SUM) !== 0, (this.sstatus & MSTATUS_MXR) !== 0, (pteGpa) => {
      const pa = toMachine(pteGpa);
      return pa < 0 ? null : mem.read32(pa) >>> 0;
    });
    if (gpa < 0) return -1;
    // The hypercall is about to store there: shadows of a guest page table on that page go
    // first (the vCPU is stopped, so dropping before the store is the same as after).
    if (access === 'w') this.board.paging?.noteGuestWrite?.(gpa, PAGE_SIZE - (gpa % PAGE_SIZE));
    return toMachine(gpa);
  }

  // --- SBI ---------------------------------------------------------------------------

  private sbi(clock: ExitClock): void {
    this.stats.charge(clock, 'sbi', this.costs.hvmSbiNs);
    const hart = this.hart;
    const eid = hart.x[17]! >>> 0;
    const r = sbiCall(this.v, this.board, clock.now);
    if (r.kind === 'gone') {
      this.retire();
      return;
    }
    hart.x[10] = r.error | 0;
    // Legacy extensions return in a0 only (SBI v2.0, chapter 5).
    if (eid > SBI_EXT.legacyShutdown) hart.x[11] = (r.value ?? 0) | 0;
    this.retire();
  }

  // --- page faults, MMIO and page-table writes ------------------------------------------

  private pageFault(clock: ExitClock, cause: number, va: number): void {
    const acc = cause === CAUSE_FETCH_PAGE_FAULT ? 'x' : cause === CAUSE_LOAD_PAGE_FAULT ? 'r' : 'w';
    const r = this.paging.fault(va, acc, this.guestMode(), this.v.id);
    switch (r.kind) {
      case 'fixed':
        // The shadow flushes what it removes (flushHostTlb); an entry it upgraded (a write
        // after D was set) may still sit read-only in this hart's TLB.
        this.stats.charge(clock, 'shadow_fill', this.costs.hvmShadowFillNs);
        this.hart.mmu.flushVirtualPage(va >>> 0);
        this.hart.resync = true;
        return;
      case 'guest':
        this.stats.countOnly('guest_pf');
        this.reflect(clock, r.cause, va);
        return;
      case 'mmio':
        if (acc === 'x') {
          // Executing from a device: the bus refuses the fetch.
          this.reflect(clock, CAUSE_FETCH_ACCESS, va);
          return;
        }
        this.emulateMmio(clock, r.gpa, va, acc);
        return;
      case 'ptwrite':
        this.emulatePtWrite(clock, r.gpa, va);
        return;
    }
  }

  /** The trapping instruction, read from guest memory through the shadow (and charged); null if unreadable. */
  private fetchInstruction(clock: ExitClock): number | null {
    this.stats.charge(clock, 'insn_fetch', this.costs.hvmInsnFetchNs);
    const hart = this.hart;
    const pa = hart.translate(hart.pc, 'x', PRIV_U);
    if (pa < 0 || !hart.mem.isBacked(pa, 4)) return null;
    return hart.mem.read32(pa) | 0;
  }

  private emulateMmio(clock: ExitClock, gpa: number, va: number, acc: 'r' | 'w'): void {
    const inst = this.fetchInstruction(clock);
    const accessFault = acc === 'r' ? CAUSE_LOAD_ACCESS : CAUSE_STORE_ACCESS;
    if (inst === null) return; // the fetch itself faults when the guest retries
    const d = decodeMemAccess(inst);
    // Devices take plain loads and stores; AMOs and LR/SC to I/O are bus errors here.
    if (d === null || (d.kind !== 'load' && d.kind !== 'store')) {
      this.reflect(clock, accessFault, va);
      return;
    }
    const x = this.hart.x;
    // A misaligned access touching a device is a bus error, as the hart gives one outside
    // the HVM case (its part in RAM, if any, is not done either); without this a load split
    // at a page boundary read the device from the second part's address at the full size.
    if ((memAccessAddress(inst, x)! & (d.size - 1)) !== 0) {
      this.reflect(clock, accessFault, va);
      return;
    }
    this.stats.charge(clock, 'mmio', this.costs.hvmMmioNs);
    if (deviceAccess(this.v, this.board, gpa, d, (on) => (this.ioWait = on)) === 'fault') this.reflect(clock, accessFault, va);
  }

  /**
   * A store (or AMO, or SC) to a write-protected guest page table: performed on guest
   * memory and handed to the shadow, which updates what it derived from the old entry.
   * An SC always succeeds here (the reservation was taken by the guest's LR, a load).
   */
  private emulatePtWrite(clock: ExitClock, gpa: number, va: number): void {
    const inst = this.fetchInstruction(clock);
    if (inst === null) return;
    const d = decodeMemAccess(inst);
    if (d === null || d.kind === 'load' || d.kind === 'lr') {
      this.reflect(clock, CAUSE_STORE_ACCESS, va);
      return;
    }
    const x = this.hart.x;
    // A store split at a page boundary: its other part is another guest page, reached
    // through another PTE, which `gpa` says nothing about (the bytes went to the
    // guest-physically next frame). A hart may raise address-misaligned for any
    // misaligned access (privileged spec 3.6.3.1), so the guest gets that.
    const ea = memAccessAddress(inst, x)!;
    if (d.kind === 'store' && (ea & (PAGE_SIZE - 1)) + d.size > PAGE_SIZE) {
      this.reflect(clock, CAUSE_MISALIGNED_STORE, ea);
      return;
    }
    this.stats.charge(clock, 'wp_fault', this.costs.hvmWpFaultNs);
    const board = this.board;
    const mfn = board.gfnToMfn(Math.floor(gpa / PAGE_SIZE));
    if (mfn < 0) return this.reflect(clock, CAUSE_STORE_ACCESS, va);
    const mem = this.hart.mem;
    const pa = mfn * PAGE_SIZE + (gpa % PAGE_SIZE);
    let size: 1 | 2 | 4 = 4;
    let value: number;
    if (d.kind === 'store') {
      size = d.size;
      value = size === 4 ? x[d.rs2]! : x[d.rs2]! & ((1 << (size * 8)) - 1);
    } else if (d.kind === 'amo') {
      const old = mem.read32(pa) | 0;
      value = amoResult(d.f5, old, x[d.rs2]!);
      if (d.rd !== 0) x[d.rd] = old;
    } else {
      value = x[d.rs2]!;
      if (d.rd !== 0) x[d.rd] = 0;
    }
    // The shadow performs the store on guest memory and re-derives its entries (flushing what it drops).
    this.paging.ptWrite(gpa, size, value >>> 0);
    this.retire();
  }

  stop(): void {
    this.inWfi = false;
    this.paging.deactivate?.(this.v.id);
  }

  destroy(): void {
    this.inWfi = false; // the shadow is the domain's: the board destroys it
  }
}
