// Two-stage address translation of the H extension (privileged spec 20211203, 8.5): a
// VS-stage Sv32 walk through vsatp whose page-table reads (and A/D writes) are themselves
// guest-physical accesses, followed by the G-stage Sv32x4 walk through hgatp.
//
// Sv32x4: a 34-bit guest physical address (GPA); VPN[1] has 12 bits, so the root table is
// 16 KiB (4096 PTEs) and 16 KiB-aligned (hgatp.PPN[1:0] read as zero). Every G-stage access
// counts as a U-mode access: a G-stage leaf must have U=1. Faults in the G-stage are
// guest-page faults; faults in the VS-stage are ordinary page faults.
//
// Choices (documented in docs/fullvirt.md):
//   * A/D: hardware-managed at both stages, as for Sv32 (see mmu.ts). A VS-stage A/D update
//     is an implicit store to the VS page table: its G-stage translation needs W (and sets
//     the G-stage D bit); if it faults, the guest-page fault is reported for the original
//     access type with the write pseudoinstruction in htinst. The VS-stage A/D update is
//     made before the final G-stage translation (spec order), so a G-stage fault on the
//     data page leaves the VS PTE's A (and D) set.
//   * HS-level mstatus.MXR applies to both stages, including the G-stage check of implicit
//     page-table reads; vsstatus.MXR applies to the VS stage only.
//   * Non-leaf PTEs with A, D or U set are not faulted (the spec asks software to clear
//     them), the same as the existing Sv32 walk.
//   * PMP (privileged spec 3.7.1: page-table accesses are S-mode accesses) checks every
//     implicit access of both stages: each G-stage PTE read, each VS-stage PTE read at the
//     address the G-stage gave, and the A/D writes of either stage. A denied one is an
//     access fault of the original access type (1, 5, 7), as for the Sv32 walk (mmu.ts).
//     The final access is checked by the caller, with the effective privilege (VS -> S,
//     VU -> U).
//
// Results: a physical address >= 0, or WALK_PAGE_FAULT, WALK_ACCESS_FAULT or
// WALK_GUEST_PAGE_FAULT. For a guest-page fault the walker records the faulting GPA and
// whether it was an implicit VS-stage page-table access (read or A/D write).

import { PAGE_SIZE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X } from '../../protocol/sv32.ts';
import { HGATP_MODE_SV32X4, HGATP_PPN_MASK, MSTATUS_MXR, MSTATUS_SUM, SATP_MODE_SV32, SATP_PPN_MASK } from './csr.ts';
import { pfnOf, type PhysMemory } from './memory.ts';
import type { Pmp } from './pmp.ts';

const PAGE_FAULT = -1;
const ACCESS_FAULT = -2;
/** A G-stage fault (causes 20, 21, 23 by access type). */
export const WALK_GUEST_PAGE_FAULT = -3;

/** Permission a walk checks. HLVX reads check PERM_EXEC (and still report load faults). */
const PERM_READ = 0;
const PERM_WRITE = 1;
/** Implicit page-table accesses are checked by PMP as S-mode accesses. */
const PMP_PRIV_S = 1;

/** `implicit` values of a guest-page fault. */
export const GPF_EXPLICIT = 0;
export const GPF_PT_READ = 1;
export const GPF_PT_WRITE = 2;

/** The translation registers a two-stage walk reads. */
export interface TwoStageRegs {
  vsatp: number;
  hgatp: number;
  /** vsstatus: SUM and MXR apply to the VS stage. */
  vsstatus: number;
  /** HS-level mstatus: MXR applies to both stages. */
  mstatus: number;
}

export class TwoStageWalker {
  /** GPA of the last guest-page fault (34-bit). */
  gpa = 0;
  /** GPF_EXPLICIT, GPF_PT_READ or GPF_PT_WRITE for the last guest-page fault. */
  implicit = GPF_EXPLICIT;
  /** Memory references made by walks (PTE reads), for cost accounting by a host. */
  refs = 0;
  /**
   * Set by translate(): its translation spans 4 MiB at both stages (a VS megapage, or
   * vsatp bare, over a G-stage megapage, or hgatp bare), so a hardware TLB would hold it as
   * one 4 MiB entry (mmu.ts's modelled TLB, tlb_reach.ts).
   */
  mega = false;
  /**
   * Set by translate(): the VS-stage leaf was a megapage (whatever the G-stage's page size),
   * so an SFENCE.VMA of any address in it must drop every page cached from it.
   */
  vsMega = false;
  /** Set by gstage(): its last successful translation ended at a megapage (or hgatp is bare). */
  private gMega = false;

  constructor(
    private readonly mem: PhysMemory,
    /** Reports an A/D write to a watched frame (same as a store). */
    private readonly onPteStore: (pa: number) => void,
    /** The hart's PMP, for the implicit accesses (null or no entries: nothing checked). */
    private readonly pmp: Pmp | null = null,
  ) {}

  /** PMP's verdict on an implicit 4-byte page-table access at `pa` (read or write). */
  private pmpOk(pa: number, perm: number): boolean {
    const pmp = this.pmp;
    return pmp === null || pmp.entries === 0 || pmp.check(pa, 4, perm === PERM_WRITE ? 1 : 0, PMP_PRIV_S);
  }

  /**
   * The word array holding physical address `pa` if it is ordinary RAM (populating a lazily
   * allocated frame), else null (access fault).
   */
  private ptWords(pa: number): Int32Array | null {
    const mem = this.mem;
    if (pa >= mem.paLimit) return null;
    const pfn = pfnOf(pa);
    let words = mem.words[pfn] ?? null;
    if (words === null && mem.populate !== null && mem.isAllocated(pfn)) {
      mem.populate(pfn);
      words = mem.words[pfn] ?? null;
    }
    if (words === null || (mem.regions.length !== 0 && mem.findMmio(pa))) return null;
    return words;
  }

  /**
   * G-stage translation of `gpa` for permission `perm` (0 read, 1 write, 2 execute), as a
   * U-mode access. `implicit` says what the access is for, to be recorded on a fault.
   */
  gstage(gpa: number, perm: number, implicit: number, r: TwoStageRegs): number {
    const hgatp = r.hgatp;
    if ((hgatp & HGATP_MODE_SV32X4) === 0) {
      this.gMega = true;
      return gpa;
    }
    let table = (hgatp & HGATP_PPN_MASK) * PAGE_SIZE;
    let level = 1;
    let pte = 0;
    let pteAddr = 0;
    let words: Int32Array | null = null;
    for (;;) {
      const index = level === 1 ? Math.floor(gpa / 0x400000) & 0xfff : Math.floor(gpa / PAGE_SIZE) & 0x3ff;
      pteAddr = table + index * 4;
      words = this.ptWords(pteAddr);
      this.refs++;
      if (words === null || !this.pmpOk(pteAddr, PERM_READ)) return ACCESS_FAULT;
      pte = words[(pteAddr & 0xfff) >>> 2]!;
      if ((pte & PTE_V) === 0 || (pte & (PTE_R | PTE_W)) === PTE_W) return this.gpf(gpa, implicit);
      if ((pte & (PTE_R | PTE_X)) !== 0) break;
      if (--level < 0) return this.gpf(gpa, implicit);
      table = (pte >>> 10) * PAGE_SIZE;
    }
    if (!permits(pte, perm, (r.mstatus & MSTATUS_MXR) !== 0) || (pte & PTE_U) === 0) return this.gpf(gpa, implicit);
    const ppn = pte >>> 10;
    if (level === 1 && (ppn & 0x3ff) !== 0) return this.gpf(gpa, implicit);
    if (!this.setAd(words, pteAddr, pte, perm)) return ACCESS_FAULT;
    this.gMega = level === 1;
    return level === 1 ? (ppn >>> 10) * 0x400000 + (gpa % 0x400000) : ppn * PAGE_SIZE + (gpa % PAGE_SIZE);
  }

  /**
   * Full two-stage translation of guest virtual address `va` from VS (vsPriv 1) or VU
   * (vsPriv 0) for permission `perm`.
   */
  translate(va: number, perm: number, vsPriv: number, r: TwoStageRegs): number {
    va >>>= 0;
    this.mega = false;
    this.vsMega = false;
    const vsatp = r.vsatp;
    if ((vsatp & SATP_MODE_SV32) === 0) {
      const spa = this.gstage(va, perm, GPF_EXPLICIT, r);
      this.mega = spa >= 0 && this.gMega;
      return spa;
    }
    let table = (vsatp & SATP_PPN_MASK) * PAGE_SIZE;
    let level = 1;
    let pte = 0;
    let pteGpa = 0;
    let pteSpa = 0;
    let words: Int32Array | null = null;
    for (;;) {
      const index = level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff;
      pteGpa = table + index * 4;
      pteSpa = this.gstage(pteGpa, PERM_READ, GPF_PT_READ, r);
      if (pteSpa < 0) return pteSpa;
      words = this.ptWords(pteSpa);
      this.refs++;
      if (words === null || !this.pmpOk(pteSpa, PERM_READ)) return ACCESS_FAULT;
      pte = words[(pteSpa & 0xfff) >>> 2]!;
      if ((pte & PTE_V) === 0 || (pte & (PTE_R | PTE_W)) === PTE_W) return PAGE_FAULT;
      if ((pte & (PTE_R | PTE_X)) !== 0) break;
      if (--level < 0) return PAGE_FAULT;
      table = (pte >>> 10) * PAGE_SIZE;
    }
    const mxr = ((r.vsstatus | r.mstatus) & MSTATUS_MXR) !== 0;
    if (!permits(pte, perm, mxr)) return PAGE_FAULT;
    if (vsPriv === 0) {
      if ((pte & PTE_U) === 0) return PAGE_FAULT;
    } else if ((pte & PTE_U) !== 0) {
      if (perm === 2 || (r.vsstatus & MSTATUS_SUM) === 0) return PAGE_FAULT;
    }
    const ppn = pte >>> 10;
    if (level === 1 && (ppn & 0x3ff) !== 0) return PAGE_FAULT;
    const need = perm === PERM_WRITE ? PTE_A | PTE_D : PTE_A;
    if ((pte & need) !== need) {
      // The A/D update is an implicit store to the VS page table: translate it as one.
      const spa = this.gstage(pteGpa, PERM_WRITE, GPF_PT_WRITE, r);
      if (spa < 0) return spa;
      const w = this.ptWords(spa);
      if (w === null || !this.pmpOk(spa, PERM_WRITE)) return ACCESS_FAULT;
      if (this.mem.watched[pfnOf(spa)] !== 0 && this.mem.beforeWatchedStore !== null) this.mem.beforeWatchedStore(spa, 4);
      w[(spa & 0xfff) >>> 2] = pte | need;
      if (this.mem.watched[pfnOf(spa)] || this.mem.code[pfnOf(spa)]) this.onPteStore(spa);
    }
    const gpa = level === 1 ? (ppn >>> 10) * 0x400000 + (va & 0x3fffff) : ppn * PAGE_SIZE + (va & 0xfff);
    const spa = this.gstage(gpa, perm, GPF_EXPLICIT, r);
    this.mega = spa >= 0 && level === 1 && this.gMega;
    this.vsMega = spa >= 0 && level === 1;
    return spa;
  }

  private gpf(gpa: number, implicit: number): number {
    this.gpa = gpa;
    this.implicit = implicit;
    return WALK_GUEST_PAGE_FAULT;
  }

  /** Sets a G-stage leaf's A (and D for writes); false if PMP denies that store. */
  private setAd(words: Int32Array, pteAddr: number, pte: number, perm: number): boolean {
    const need = perm === PERM_WRITE ? PTE_A | PTE_D : PTE_A;
    if ((pte & need) === need) return true;
    if (!this.pmpOk(pteAddr, PERM_WRITE)) return false;
    if (this.mem.watched[pfnOf(pteAddr)] !== 0 && this.mem.beforeWatchedStore !== null) this.mem.beforeWatchedStore(pteAddr, 4);
    words[(pteAddr & 0xfff) >>> 2] = pte | need;
    if (this.mem.watched[pfnOf(pteAddr)] || this.mem.code[pfnOf(pteAddr)]) this.onPteStore(pteAddr);
    return true;
  }
}

/** Leaf permission for `perm`; `mxr` makes executable pages readable. */
function permits(pte: number, perm: number, mxr: boolean): boolean {
  if (perm === 2) return (pte & PTE_X) !== 0;
  if (perm === PERM_READ) return (pte & PTE_R) !== 0 || (mxr && (pte & PTE_X) !== 0);
  return (pte & PTE_W) !== 0;
}
