// Xen's page-type rules (xen/arch/x86/mm.c: get_page_type, get_page_from_l1e/l2e,
// alloc/free_l1/l2_table), in Sv32 terms. Everything that changes a frame's type or
// references goes through here; mmu_update.ts, mmuext.ts, the grant tables and the
// reservation code call these functions and never touch the counts themselves.
//
// Sv32 PTE rules for a PV guest:
//   L1 (leaf level) entry, present: a leaf (R, W or X set), not W without R (reserved),
//     not PTE_GNTTAB (the hypervisor marks grant mappings with it). It may map a frame
//     of the domain whose page tables these are, or of `foreigndom` (privileged callers).
//     A writable one takes a writable type reference: it fails (-EBUSY, Xen's
//     "could not pin") while the frame is a page table.
//   L2 entry, present: a pointer to an L1 of the same domain (R/W/X set would be a 4 MiB
//     leaf: -EINVAL; U/A/D are reserved in non-leaf entries: -EINVAL). It takes an L1 type
//     reference, validating the L1 if its count was zero. Slot 1023, covering
//     HYPERVISOR_VIRT_START, is the hypervisor's: updates are -EPERM and validation
//     clears it. L2-to-L2 ("linear") entries are refused: an Sv32 walk would read the L2's
//     pointer entries as leaves.
//
// TLB coherence: pvsim flushes eagerly. Any change to a present entry adds the table
// owner's domain to ctx.flush; finishMm() then flushes every vCPU of those domains before
// the hypercall returns. No vCPU ever keeps a translation its page tables no longer allow,
// so the type invariant holds for what the CPU can reach, not only for the tables (Xen gets
// the same guarantee from its TLB-flush timestamps on type changes). Guests that issue the
// flushes Xen requires (UVMF_*, MMUEXT_TLB_FLUSH_*) see no difference.

import type { PhysMemory } from '../cpu/memory.ts';
import { PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X } from '../../protocol/sv32.ts';
import { FrameType, isPageTable, isWritableClass, type FrameTable } from './frame_table.ts';
import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { HYPERVISOR_L2_SLOT } from '../../protocol/xen/arch_riscv32.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';

/** Software PTE bit (RSW, bit 9) the hypervisor sets on grant mappings; guests may not set it. */
export const PTE_GNTTAB = 1 << 9;
/** Software PTE bit (RSW, bit 8) left to the guest. */
export const PTE_SOFT = 1 << 8;
export const PTES_PER_TABLE = 1024;
/** Flags an L2 (non-leaf) entry may not have. */
const L2_DISALLOW = PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D | PTE_GNTTAB;
const MAX_TYPE_COUNT = 0x7fff_ffff;

/** What the page-table code needs: frames, memory, domains, and where to record TLB flushes. */
export interface MmCtx {
  readonly frames: FrameTable;
  readonly mem: PhysMemory;
  domain(domid: number): Domain | undefined;
  /** Domains whose vCPUs must drop cached translations before the operation returns. */
  readonly flush: Set<Domain>;
  /** Crashes a domain for something it cannot be told about (an implicit grant unmap). */
  crash(domain: Domain, why: string): void;
}

export function mmContext(hv: HypervisorServices): MmCtx {
  return {
    frames: hv.frames,
    mem: hv.mem,
    domain: (id) => hv.domain(id),
    flush: new Set(),
    crash: (d, why) => {
      if (!d.isAlive) return;
      d.crashMessage = why;
      hv.shutdownDomain(d, 'crash');
    },
  };
}

/** Ends an operation: every vCPU of every domain whose page tables lost a mapping flushes its TLB. */
export function finishMm(ctx: MmCtx): void {
  for (const d of ctx.flush) for (const v of d.vcpus) v.hart.flushTlb();
  ctx.flush.clear();
}

// --- PTE access -------------------------------------------------------------------------

export function readPte(ctx: MmCtx, mfn: number, index: number): number {
  const w = ctx.mem.words[mfn];
  return w ? w[index]! >>> 0 : 0;
}

/** Writes a PTE (giving the frame storage if needed) and reports the store to a watcher. */
export function writePte(ctx: MmCtx, mfn: number, index: number, value: number): void {
  ctx.frames.frameWords(mfn)[index] = value | 0;
  ctx.mem.noteStore(mfn * PAGE_SIZE + index * 4, 4);
}

export function pteMfn(pte: number): number {
  return pte >>> 10;
}

/** True if a present L1 entry is malformed: not a leaf, W without R, or the grant bit. */
export function l1Malformed(pte: number): boolean {
  return (pte & PTE_GNTTAB) !== 0 || (pte & (PTE_R | PTE_W | PTE_X)) === 0 || (pte & (PTE_R | PTE_W)) === PTE_W;
}

/** True if a present L2 entry is not a plain pointer (a 4 MiB leaf, reserved bits, the grant bit). */
export function l2Malformed(pte: number): boolean {
  return (pte & L2_DISALLOW) !== 0;
}

function owningDomain(ctx: MmCtx, mfn: number): Domain | undefined {
  return ctx.domain(ctx.frames.ownerOf(mfn));
}

// --- Types ------------------------------------------------------------------------------

/**
 * Xen's get_page_type(): takes a type reference of `type`. With no type references the
 * frame may change type (a page table is validated first); otherwise the type must match
 * (a Writable request matches the shared writable pages). Returns 0 or a negative errno.
 */
export function getPageType(ctx: MmCtx, mfn: number, type: FrameType): number {
  const f = ctx.frames;
  const cur = f.typeOf(mfn);
  const n = f.typeCount(mfn);
  const matches = cur === type || (type === FrameType.Writable && isWritableClass(cur));
  if (n >= MAX_TYPE_COUNT) return xenErr('EINVAL');
  if (n === 0 && !matches) {
    f.setTypeState(mfn, type, 0);
    f.setValidated(mfn, !isPageTable(type));
  } else if (!matches) {
    return xenErr('EINVAL');
  }
  f.setTypeState(mfn, f.typeOf(mfn), n + 1);
  if (!f.isValidated(mfn)) {
    const rc = type === FrameType.L1PageTable ? validateL1(ctx, mfn) : validateL2(ctx, mfn);
    if (rc < 0) {
      // Xen leaves the frame with no type at all (PGT_none): free to become anything.
      f.setTypeState(mfn, FrameType.Writable, 0);
      f.setValidated(mfn, true);
      return rc;
    }
    f.setValidated(mfn, true);
  }
  return 0;
}

/** Xen's put_page_type(): the last reference to a page table devalidates it. */
export function putPageType(ctx: MmCtx, mfn: number): void {
  const f = ctx.frames;
  const n = f.typeCount(mfn);
  if (n <= 0) throw new Error(`put_page_type on frame 0x${mfn.toString(16)} with no type references`);
  const type = f.typeOf(mfn);
  if (n === 1 && isPageTable(type) && f.isValidated(mfn)) {
    // Clear `validated` first so nothing can take the table while its entries are dropped.
    f.setValidated(mfn, false);
    freePageTable(ctx, mfn, type);
  }
  f.setTypeState(mfn, type, n - 1);
}

/** Xen's get_page_and_type(): a reference on a frame `d` owns, then a type reference. */
export function getPageAndType(ctx: MmCtx, mfn: number, type: FrameType, d: Domain): number {
  if (!ctx.frames.getPage(mfn, d.domid)) return xenErr('EINVAL');
  const rc = getPageType(ctx, mfn, type);
  if (rc < 0) ctx.frames.putPage(mfn);
  return rc;
}

export function putPageAndType(ctx: MmCtx, mfn: number): void {
  putPageType(ctx, mfn);
  ctx.frames.putPage(mfn);
}

// --- Entries ----------------------------------------------------------------------------

/**
 * Xen's get_page_from_l1e(): the references a present L1 entry holds on what it maps.
 * `l1eOwner` owns the page table, `pgOwner` is whose frames it may map. Returns 0 or a
 * negative errno (-EINVAL malformed, -EPERM no frame there, -EBUSY not the owner's or
 * cannot be writable now).
 */
export function getPageFromL1e(ctx: MmCtx, pte: number, l1eOwner: Domain, pgOwner: Domain): number {
  if ((pte & PTE_V) === 0) return 0;
  if (l1Malformed(pte)) return xenErr('EINVAL');
  const f = ctx.frames;
  const mfn = pteMfn(pte);
  if (!f.isValid(mfn)) {
    // No RAM frame behind it: I/O space, which only privileged domains may map (no references).
    return pgOwner.privileged && l1eOwner.privileged ? 0 : xenErr('EPERM');
  }
  const real = f.getPageAnyOwner(mfn);
  if (real < 0) return xenErr('EBUSY');
  if (real !== pgOwner.domid) {
    // A privileged pg_owner may hand on the right to map its target's frames (Xen's
    // xsm_priv_mapping); nobody else maps frames they do not own.
    if (pgOwner === l1eOwner || !pgOwner.privileged) {
      f.putPage(mfn);
      return xenErr('EBUSY');
    }
  }
  if (pte & PTE_W && getPageType(ctx, mfn, FrameType.Writable) < 0) {
    f.putPage(mfn);
    return xenErr('EBUSY');
  }
  return 0;
}

/** Xen's put_page_from_l1e(). A grant mapping dropped by anything but the grant code crashes a live owner. */
export function putPageFromL1e(ctx: MmCtx, pte: number, l1eOwner: Domain | undefined): void {
  if ((pte & PTE_V) === 0) return;
  const mfn = pteMfn(pte);
  if (!ctx.frames.isValid(mfn)) return;
  if (pte & PTE_GNTTAB && l1eOwner?.isAlive) {
    ctx.crash(l1eOwner, `attempt to implicitly unmap a granted PTE 0x${(pte >>> 0).toString(16)}`);
  }
  if (pte & PTE_W) putPageAndType(ctx, mfn);
  else ctx.frames.putPage(mfn);
}

/** Xen's get_page_from_l2e(): a present L2 entry holds an L1 type reference on the table it points to. */
export function getPageFromL2e(ctx: MmCtx, pte: number, d: Domain): number {
  if ((pte & PTE_V) === 0) return 0;
  if (l2Malformed(pte)) return xenErr('EINVAL');
  return getPageAndType(ctx, pteMfn(pte), FrameType.L1PageTable, d);
}

export function putPageFromL2e(ctx: MmCtx, pte: number, l2mfn: number): void {
  if ((pte & PTE_V) === 0 || pteMfn(pte) === l2mfn) return;
  putPageAndType(ctx, pteMfn(pte));
}

// --- Whole tables -----------------------------------------------------------------------

/** Xen's alloc_l1_table(): every present entry must be acceptable; all or nothing. */
function validateL1(ctx: MmCtx, mfn: number): number {
  const d = owningDomain(ctx, mfn);
  if (!d) return xenErr('EINVAL');
  const words = ctx.frames.frameWords(mfn);
  for (let i = 0; i < PTES_PER_TABLE; i++) {
    const rc = getPageFromL1e(ctx, words[i]! >>> 0, d, d);
    if (rc < 0) {
      while (i-- > 0) putPageFromL1e(ctx, words[i]! >>> 0, d);
      return rc;
    }
  }
  return 0;
}

/** Xen's alloc_l2_table(): guest slots validated, the hypervisor's slot cleared. */
function validateL2(ctx: MmCtx, mfn: number): number {
  const d = owningDomain(ctx, mfn);
  if (!d) return xenErr('EINVAL');
  const words = ctx.frames.frameWords(mfn);
  for (let i = 0; i < HYPERVISOR_L2_SLOT; i++) {
    const rc = getPageFromL2e(ctx, words[i]! >>> 0, d);
    if (rc < 0) {
      while (i-- > 0) putPageFromL2e(ctx, words[i]! >>> 0, mfn);
      return rc;
    }
  }
  if (words[HYPERVISOR_L2_SLOT] !== 0) writePte(ctx, mfn, HYPERVISOR_L2_SLOT, 0);
  return 0;
}

/** Xen's free_page_type(): a table that is no longer in use drops what its entries held. */
function freePageTable(ctx: MmCtx, mfn: number, type: FrameType): void {
  const words = ctx.mem.words[mfn];
  if (!words) return;
  if (type === FrameType.L1PageTable) {
    const d = owningDomain(ctx, mfn);
    for (let i = 0; i < PTES_PER_TABLE; i++) putPageFromL1e(ctx, words[i]! >>> 0, d);
  } else {
    for (let i = 0; i < HYPERVISOR_L2_SLOT; i++) putPageFromL2e(ctx, words[i]! >>> 0, mfn);
  }
}

/**
 * Forcibly devalidates a page table of a dying domain that nothing should reference any
 * more (Xen's relinquish_memory does the same for tables left with a type count).
 */
export function forceDevalidate(ctx: MmCtx, mfn: number): void {
  const f = ctx.frames;
  const type = f.typeOf(mfn);
  if (!isPageTable(type) || f.typeCount(mfn) === 0) return;
  if (f.isValidated(mfn)) {
    f.setValidated(mfn, false);
    freePageTable(ctx, mfn, type);
  }
  f.setTypeState(mfn, type, 0);
}
