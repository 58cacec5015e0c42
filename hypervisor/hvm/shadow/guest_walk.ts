// The guest's own Sv32 walk, as a hart would do it on guest-physical memory (privileged
// spec 20211203, 4.3.2), with hardware-style A/D updating. The shadow code fills shadows
// from it, and the trap-mode CPU emulation may use it to translate a guest virtual address
// (through Shadow.translate).
//
// Guest-physical memory is reached through the domain's p2m (`gfnToMfn`): a guest PTE read
// from a frame that is not guest RAM (MMIO or nothing) is an access fault, as a PMA check
// on the implicit PTE access gives on a real hart. Sv32 has at most two levels, so a
// guest-table loop costs at most two reads: no walk can run away.
//
// Sv32 PTEs have no reserved bits in 20211203 (non-leaf A/D/U are "reserved for future
// use" for software to clear, but the walk of that version does not check them), so none
// are checked here, as pvsim's MMU does not check them.

import {
  CAUSE_FETCH_ACCESS, CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_ACCESS, CAUSE_LOAD_PAGE_FAULT,
  CAUSE_STORE_ACCESS, CAUSE_STORE_PAGE_FAULT, SATP_MODE_SV32, SATP_PPN_MASK,
} from '../../cpu/csr.ts';
import type { PhysMemory } from '../../cpu/memory.ts';
import { PAGE_SIZE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X } from '../../../protocol/sv32.ts';

export type Access = 'r' | 'w' | 'x';

/** The guest's virtual privilege and the sstatus bits that change what a page means. */
export interface GuestMode { priv: 0 | 1; sum: boolean; mxr: boolean }

/** Permission bits of a shadow-side view of a leaf: what the guest may do through it. */
export const PERM_R = 1;
export const PERM_W = 2;
export const PERM_X = 4;

const PAGE_FAULT: Record<Access, number> = { r: CAUSE_LOAD_PAGE_FAULT, w: CAUSE_STORE_PAGE_FAULT, x: CAUSE_FETCH_PAGE_FAULT };
const ACCESS_FAULT: Record<Access, number> = { r: CAUSE_LOAD_ACCESS, w: CAUSE_STORE_ACCESS, x: CAUSE_FETCH_ACCESS };
const PERM_OF: Record<Access, number> = { r: PERM_R, w: PERM_W, x: PERM_X };

export function permOf(acc: Access): number {
  return PERM_OF[acc];
}

/** What guest memory the walk reads and writes through. */
export interface GuestPhys {
  readonly mem: PhysMemory;
  gfnToMfn(gfn: number): number;
}

/**
 * Accesses a valid leaf PTE allows in `mode` (PERM_* bits), ignoring A/D: R/W/X as
 * encoded, R also for X pages under MXR; U pages only from U, or from S for loads and
 * stores under SUM (never execute); S pages never from U.
 */
export function leafPerms(pte: number, mode: GuestMode): number {
  let p = 0;
  if ((pte & PTE_R) !== 0 || (mode.mxr && (pte & PTE_X) !== 0)) p |= PERM_R;
  if ((pte & PTE_W) !== 0) p |= PERM_W;
  if ((pte & PTE_X) !== 0) p |= PERM_X;
  if (mode.priv === 0) return (pte & PTE_U) !== 0 ? p : 0;
  if ((pte & PTE_U) === 0) return p;
  return mode.sum ? p & ~PERM_X : 0;
}

/** True for a PTE the walk stops at as a leaf (valid, not the reserved W-without-R, R or X). */
export function isLeaf(pte: number): boolean {
  return (pte & PTE_V) !== 0 && (pte & (PTE_R | PTE_W)) !== PTE_W && (pte & (PTE_R | PTE_X)) !== 0;
}

/** True for a PTE the walk follows to the next level. */
export function isPointer(pte: number): boolean {
  return (pte & (PTE_V | PTE_R | PTE_W | PTE_X)) === PTE_V;
}

export interface WalkOk {
  readonly ok: true;
  /** Guest-physical address of the access (up to 34 bits). */
  readonly gpa: number;
  /** Level of the leaf: 1 = 4 MiB superpage, 0 = 4 KiB page, -1 = bare (no tables). */
  readonly level: 1 | 0 | -1;
  /** The leaf PTE after the A/D update (0 when bare). */
  readonly pte: number;
  /** The root entry the walk read (0 when bare): a pointer, or the superpage leaf itself. */
  readonly rootPte: number;
  /** Guest frame of the level-0 table the walk read, or -1 (superpage, bare). */
  readonly l0Gfn: number;
}
export interface WalkFault { readonly ok: false; readonly cause: number }
export type WalkResult = WalkOk | WalkFault;

export interface WalkCounters { walkMemRefs: number; adUpdates: number }

/** Reads the guest word at `gpa` (4-aligned), or returns null if it is not guest RAM. */
export function readGuestWord(g: GuestPhys, gpa: number): number | null {
  const mfn = g.gfnToMfn(Math.floor(gpa / PAGE_SIZE));
  if (mfn < 0) return null;
  const words = g.mem.words[mfn];
  if (words) return words[(gpa & 0xfff) >>> 2]! >>> 0;
  // An allocated frame without storage yet reads as zeros; no frame at all is not RAM.
  return g.mem.isAllocated(mfn) ? 0 : null;
}

/** The machine frame's word view, populating a lazily allocated frame; null if none. */
export function frameWords(mem: PhysMemory, mfn: number): Int32Array | null {
  const have = mem.words[mfn];
  if (have) return have;
  if (!mem.isAllocated(mfn)) return null;
  if (mem.populate !== null) mem.populate(mfn);
  if (!mem.words[mfn]) mem.ensureFrame(mfn);
  return mem.words[mfn] ?? null;
}

/**
 * Walks guest virtual `va` for `acc` in `mode` under guest satp `gsatp`. With `setAD` the
 * walk sets A (and D on a store) in the leaf PTE as a hart managing them does, atomically
 * with the read (one JS step), and reports the store to the frame's watcher.
 */
export function guestWalk(g: GuestPhys, gsatp: number, va: number, acc: Access, mode: GuestMode, setAD: boolean, n: WalkCounters): WalkResult {
  va >>>= 0;
  if ((gsatp & SATP_MODE_SV32) === 0) return { ok: true, gpa: va, level: -1, pte: 0, rootPte: 0, l0Gfn: -1 };
  let table = (gsatp & SATP_PPN_MASK) * PAGE_SIZE;
  let level: 1 | 0 = 1;
  let rootPte = 0;
  let l0Gfn = -1;
  let pte = 0;
  let pteGpa = 0;
  for (;;) {
    pteGpa = table + (level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff) * 4;
    n.walkMemRefs++;
    const v = readGuestWord(g, pteGpa);
    if (v === null) return { ok: false, cause: ACCESS_FAULT[acc] };
    pte = v;
    if (level === 1) rootPte = v;
    if ((pte & PTE_V) === 0 || (pte & (PTE_R | PTE_W)) === PTE_W) return { ok: false, cause: PAGE_FAULT[acc] };
    if ((pte & (PTE_R | PTE_X)) !== 0) break;
    if (level === 0) return { ok: false, cause: PAGE_FAULT[acc] };
    level = 0;
    l0Gfn = pte >>> 10;
    table = l0Gfn * PAGE_SIZE;
  }
  if ((leafPerms(pte, mode) & PERM_OF[acc]) === 0) return { ok: false, cause: PAGE_FAULT[acc] };
  const ppn = pte >>> 10;
  if (level === 1 && (ppn & 0x3ff) !== 0) return { ok: false, cause: PAGE_FAULT[acc] }; // misaligned superpage
  const need = acc === 'w' ? PTE_A | PTE_D : PTE_A;
  if (setAD && (pte & need) !== need) {
    const mfn = g.gfnToMfn(Math.floor(pteGpa / PAGE_SIZE));
    const words = mfn < 0 ? null : frameWords(g.mem, mfn);
    if (words !== null) {
      pte = (pte | need) >>> 0;
      words[(pteGpa & 0xfff) >>> 2] = pte;
      if (level === 1) rootPte = pte;
      n.adUpdates++;
      g.mem.noteStore(mfn * PAGE_SIZE + (pteGpa & 0xfff), 4);
    }
  }
  const gpa = level === 1 ? (ppn >>> 10) * 0x400000 + (va & 0x3fffff) : ppn * PAGE_SIZE + (va & 0xfff);
  return { ok: true, gpa, level, pte, rootPte, l0Gfn: level === 0 ? l0Gfn : -1 };
}
