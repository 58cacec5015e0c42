// The H extension's trap, return and interrupt rules (privileged spec 20211203, 8.6), as
// functions of a Hart. hart.ts calls them only when the hart was built with `hExt`, so a
// hart without H runs exactly the code it always ran.

import {
  CAUSE_ILLEGAL_INSTRUCTION, CAUSE_INTERRUPT, CAUSE_VIRTUAL_INSTRUCTION, HSTATUS_GVA, HSTATUS_SPV,
  HSTATUS_SPVP, HSTATUS_VTSR, IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI, IRQ_VSEI,
  IRQ_VSSI, IRQ_VSTI, MSTATUSH_GVA, MSTATUSH_MPV, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP,
  MSTATUS_MPP_SHIFT, MSTATUS_MPRV, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_TSR,
  TVEC_MODE_VECTORED, VS_INTERRUPTS,
} from './csr.ts';
import type { Mmu } from './mmu.ts';

/**
 * The hart state these rules read and write. Declared here rather than importing Hart, so
 * hart.ts -> hext.ts stays one-way.
 */
export interface HHart {
  readonly mmu: Mmu;
  readonly mip: number;
  pc: number;
  priv: number;
  virt: boolean;
  resync: boolean;
  hostTraps: boolean;
  trapCause: number;
  trapTval: number;
  trapTval2: number;
  trapTinst: number;
  trapGva: boolean;
  trapVirt: boolean;
  mstatus: number;
  mstatush: number;
  medeleg: number;
  mideleg: number;
  mie: number;
  mtvec: number;
  mepc: number;
  mcause: number;
  mtval: number;
  mtval2: number;
  mtinst: number;
  stvec: number;
  sepc: number;
  scause: number;
  stval: number;
  hstatus: number;
  hedeleg: number;
  hideleg: number;
  htval: number;
  htinst: number;
  vsstatus: number;
  vstvec: number;
  vsepc: number;
  vscause: number;
  vstval: number;
}

const PRIV_U = 0;
const PRIV_S = 1;
const PRIV_M = 3;

/** Decreasing priority with H (privileged spec 3.1.9 and 8.4.3); SGEI never pends (GEILEN=0). */
const IRQ_PRIORITY_H = [IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI, IRQ_VSEI, IRQ_VSSI, IRQ_VSTI];

/**
 * Exception codes whose tval is a (guest) virtual address: misaligned, access faults,
 * breakpoint, page and guest-page faults. Taken from V=1 they set GVA.
 */
const TVAL_IS_VA = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) |
  (1 << 12) | (1 << 13) | (1 << 15) | (1 << 20) | (1 << 21) | (1 << 23);
/** Exceptions of explicit memory accesses, for which htinst/mtinst gets the transformed instruction. */
const TINST_TRANSFORMED = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 13) | (1 << 15) | (1 << 21) | (1 << 23);

/**
 * The transformed instruction (spec 8.6.3) for an explicit load, store, AMO or HLV/HSV that
 * faulted `offset` bytes past its address: immediates zeroed, rs1 replaced by the offset.
 */
export function transformInst(inst: number, offset: number): number {
  const off = (offset & 31) << 15;
  switch (inst & 0x7f) {
    case 0x03: return ((inst & 0x00007fff) | off) >>> 0; // funct3, rd, opcode
    case 0x23: return ((inst & 0x01f0707f) | off) >>> 0; // rs2, funct3, opcode
    case 0x2f: case 0x73: return ((inst & ~0x000f8000) | off) >>> 0; // all but rs1
    default: return 0;
  }
}

/** Takes trap `cause` with the H extension's routing. Returns true for a host exit. */
export function takeTrapH(h: HHart, cause: number, tval: number): boolean {
  const isInterrupt = (cause & CAUSE_INTERRUPT) !== 0;
  const code = cause & 0x7fffffff;
  const m = h.mmu;
  let tval2 = 0;
  let tinst = 0;
  let gva = false;
  if (!isInterrupt) {
    if (m.excGpa >= 0) tval2 = Math.floor(m.excGpa / 4) >>> 0;
    if (m.excPseudo !== 0) tinst = m.excPseudo;
    else if (m.excInst !== 0 && code < 32 && ((TINST_TRANSFORMED >>> code) & 1) !== 0) tinst = transformInst(m.excInst, m.excOffset);
    gva = m.excGva || (h.virt && code < 32 && ((TVAL_IS_VA >>> code) & 1) !== 0);
  }
  m.clearExcInfo();
  const delegated =
    h.priv <= PRIV_S && code < 32 && (((isInterrupt ? h.mideleg : h.medeleg) >>> code) & 1) !== 0;
  if (delegated) {
    if (h.virt && (((isInterrupt ? h.hideleg : h.hedeleg) >>> code) & 1) !== 0) {
      enterVs(h, cause, tval);
      return false;
    }
    if (h.virt && h.hostTraps) {
      recordHostTrap(h, cause, tval, tval2, tinst, gva);
      return true;
    }
    enterHs(h, cause, tval, tval2, tinst, gva);
    return false;
  }
  if (h.hostTraps) {
    recordHostTrap(h, cause, tval, tval2, tinst, gva);
    return true;
  }
  m.resValid = false;
  h.mepc = h.pc >>> 0;
  h.mcause = cause >>> 0;
  h.mtval = tval >>> 0;
  h.mtval2 = tval2;
  h.mtinst = tinst;
  let s = h.mstatus & ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE);
  if ((h.mstatus & MSTATUS_MIE) !== 0) s |= MSTATUS_MPIE;
  s |= h.priv << MSTATUS_MPP_SHIFT;
  h.mstatus = s;
  h.mstatush = (h.virt ? MSTATUSH_MPV : 0) | (gva ? MSTATUSH_GVA : 0);
  h.virt = false;
  h.priv = PRIV_M;
  h.pc = vector(h.mtvec, isInterrupt, code);
  h.resync = true;
  return false;
}

function recordHostTrap(h: HHart, cause: number, tval: number, tval2: number, tinst: number, gva: boolean): void {
  h.trapCause = cause >>> 0;
  h.trapTval = tval >>> 0;
  h.trapTval2 = tval2 >>> 0;
  h.trapTinst = tinst >>> 0;
  h.trapGva = gva;
  h.trapVirt = h.virt;
}

/** Trap entry into HS-mode (V becomes 0): sepc, scause, stval, htval, htinst, hstatus. */
export function enterHs(h: HHart, cause: number, tval: number, tval2: number, tinst: number, gva: boolean): void {
  const isInterrupt = (cause & CAUSE_INTERRUPT) !== 0;
  h.mmu.resValid = false;
  h.sepc = h.pc >>> 0;
  h.scause = cause >>> 0;
  h.stval = tval >>> 0;
  h.htval = tval2 >>> 0;
  h.htinst = tinst >>> 0;
  let hs = h.hstatus & ~(HSTATUS_SPV | HSTATUS_GVA);
  if (h.virt) {
    hs |= HSTATUS_SPV;
    hs = (hs & ~HSTATUS_SPVP) | (h.priv !== PRIV_U ? HSTATUS_SPVP : 0);
  }
  if (gva) hs |= HSTATUS_GVA;
  h.hstatus = hs;
  let s = h.mstatus & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE);
  if ((h.mstatus & MSTATUS_SIE) !== 0) s |= MSTATUS_SPIE;
  if (h.priv !== PRIV_U) s |= MSTATUS_SPP;
  h.mstatus = s;
  h.virt = false;
  h.priv = PRIV_S;
  h.pc = vector(h.stvec, isInterrupt, cause & 0x7fffffff);
  h.resync = true;
}

/**
 * Trap entry into VS-mode (V stays 1): vsepc, vscause, vstval, vsstatus. VS-level interrupt
 * codes 2, 6, 10 are seen by VS as 1, 5, 9.
 */
export function enterVs(h: HHart, cause: number, tval: number): void {
  const isInterrupt = (cause & CAUSE_INTERRUPT) !== 0;
  let code = cause & 0x7fffffff;
  if (isInterrupt && code < 32 && ((VS_INTERRUPTS >>> code) & 1) !== 0) code -= 1;
  h.mmu.resValid = false;
  h.vsepc = h.pc >>> 0;
  h.vscause = (isInterrupt ? CAUSE_INTERRUPT | code : code) >>> 0;
  h.vstval = tval >>> 0;
  let s = h.vsstatus & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE);
  if ((h.vsstatus & MSTATUS_SIE) !== 0) s |= MSTATUS_SPIE;
  if (h.priv !== PRIV_U) s |= MSTATUS_SPP;
  h.vsstatus = s;
  h.priv = PRIV_S;
  h.pc = vector(h.vstvec, isInterrupt, code);
  h.resync = true;
}

/** MRET with H: V becomes MPV unless MPP is M. Returns 0 or the exception code. */
export function mretH(h: HHart): number {
  // MRET is not valid in HS-mode either, so from VS/VU too it is an illegal instruction.
  if (h.priv !== PRIV_M) return CAUSE_ILLEGAL_INSTRUCTION;
  const s = h.mstatus;
  const mpp = (s & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
  let n = s & ~(MSTATUS_MPP | MSTATUS_MIE);
  if ((s & MSTATUS_MPIE) !== 0) n |= MSTATUS_MIE;
  n |= MSTATUS_MPIE;
  if (mpp !== PRIV_M) n &= ~MSTATUS_MPRV;
  h.mstatus = n;
  h.virt = mpp !== PRIV_M && (h.mstatush & MSTATUSH_MPV) !== 0;
  h.mstatush &= ~MSTATUSH_MPV;
  h.priv = mpp;
  h.pc = h.mepc >>> 0;
  h.mmu.resValid = false;
  h.resync = true;
  return 0;
}

/** SRET with H (from HS: V becomes SPV; from VS: returns within the guest). */
export function sretH(h: HHart): number {
  if (h.virt) {
    if (h.priv === PRIV_U) return CAUSE_VIRTUAL_INSTRUCTION;
    if ((h.hstatus & HSTATUS_VTSR) !== 0) return CAUSE_VIRTUAL_INSTRUCTION;
    const s = h.vsstatus;
    let n = s & ~(MSTATUS_SPP | MSTATUS_SIE);
    if ((s & MSTATUS_SPIE) !== 0) n |= MSTATUS_SIE;
    n |= MSTATUS_SPIE;
    h.vsstatus = n;
    h.mstatus &= ~MSTATUS_MPRV;
    h.priv = (s & MSTATUS_SPP) !== 0 ? PRIV_S : PRIV_U;
    h.pc = h.vsepc >>> 0;
  } else {
    if (h.priv === PRIV_U) return CAUSE_ILLEGAL_INSTRUCTION;
    if (h.priv === PRIV_S && (h.mstatus & MSTATUS_TSR) !== 0) return CAUSE_ILLEGAL_INSTRUCTION;
    const s = h.mstatus;
    let n = s & ~(MSTATUS_SPP | MSTATUS_SIE | MSTATUS_MPRV);
    if ((s & MSTATUS_SPIE) !== 0) n |= MSTATUS_SIE;
    n |= MSTATUS_SPIE;
    h.mstatus = n;
    h.virt = (h.hstatus & HSTATUS_SPV) !== 0;
    h.hstatus &= ~HSTATUS_SPV;
    h.priv = (s & MSTATUS_SPP) !== 0 ? PRIV_S : PRIV_U;
    h.pc = h.sepc >>> 0;
  }
  h.mmu.resValid = false;
  h.resync = true;
  return 0;
}

/**
 * The interrupt to take now (code, untranslated), or -1. Targets: M (not in mideleg),
 * HS (in mideleg, not in hideleg), VS (in both). An interrupt for a more privileged target
 * is always enabled when running below it; VS-level ones are taken only at V=1.
 */
export function pendingInterruptH(h: HHart): number {
  const pend = h.mip & h.mie;
  if (pend === 0) return -1;
  const priv = h.priv;
  const mLevel = pend & ~h.mideleg;
  if (mLevel !== 0 && (priv < PRIV_M || (h.mstatus & MSTATUS_MIE) !== 0)) return highestH(mLevel);
  const hsLevel = pend & h.mideleg & ~h.hideleg;
  if (hsLevel !== 0 && (h.virt || priv < PRIV_S || (priv === PRIV_S && (h.mstatus & MSTATUS_SIE) !== 0))) {
    return highestH(hsLevel);
  }
  const vsLevel = pend & h.mideleg & h.hideleg;
  if (vsLevel !== 0 && h.virt && (priv === PRIV_U || (h.vsstatus & MSTATUS_SIE) !== 0)) return highestH(vsLevel);
  return -1;
}

function highestH(bits: number): number {
  for (const irq of IRQ_PRIORITY_H) if ((bits & (1 << irq)) !== 0) return irq;
  return -1;
}

function vector(tvec: number, isInterrupt: boolean, code: number): number {
  const base = tvec & ~3;
  if (isInterrupt && (tvec & 3) === TVEC_MODE_VECTORED) return (base + 4 * code) >>> 0;
  return base >>> 0;
}
