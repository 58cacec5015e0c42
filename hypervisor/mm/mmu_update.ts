// PTE updates: mmu_update and update_va_mapping (xen/arch/x86/mm.c do_mmu_update,
// mod_l1_entry, mod_l2_entry, __do_update_va_mapping), in Sv32 terms.
//
// A batch stops at the first request that fails: that request changes nothing, the ones
// before it stay done, `done` counts them, and the hypercall returns the failure's errno.
// Errnos are Xen's: -EINVAL malformed entry or not a page table of the right owner,
// -EPERM hypervisor slot / foreign domain without privilege / I/O space, -EBUSY a frame that
// cannot be mapped (not the owner's, or writable while a page table), -ESRCH unknown
// domain, -ENOSYS unknown command, -EFAULT unreadable request.

import { SATP_MODE_SV32, SATP_PPN_MASK } from '../cpu/csr.ts';
import type { Domain, Vcpu } from '../domain/domain.ts';
import { FrameType } from './frame_table.ts';
import {
  PTE_SOFT,
  getPageFromL1e,
  getPageFromL2e,
  getPageType,
  l1Malformed,
  l2Malformed,
  putPageFromL1e,
  putPageFromL2e,
  putPageType,
  readPte,
  writePte,
  type MmCtx,
} from './page_types.ts';
import { PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X } from '../../protocol/sv32.ts';
import { HYPERVISOR_L2_SLOT, HYPERVISOR_VIRT_START } from '../../protocol/xen/arch_riscv32.ts';
import { MMU, UVMF } from '../../protocol/xen/mm.ts';
import { DOMID } from '../../protocol/xen/xen.ts';
import { xenErr } from '../../protocol/xen/errno.ts';

/** Bits a present entry may change without new references (Xen's FASTPATH_FLAG_WHITELIST). */
const L1_FASTPATH = PTE_X | PTE_U | PTE_G | PTE_A | PTE_D | PTE_SOFT;
const L2_FASTPATH = PTE_G | PTE_SOFT;

/** Xen's get_pg_owner(): DOMID_SELF is the caller; naming oneself explicitly, or an unknown domain, is no one. */
export function getPgOwner(ctx: MmCtx, caller: Domain, domid: number): Domain | undefined {
  if (domid === DOMID.SELF) return caller;
  if (domid === caller.domid) return undefined;
  if (domid === DOMID.IO || domid === DOMID.XEN) return undefined; // not modelled
  return ctx.domain(domid);
}

/** Xen's XSM_TARGET check: acting on another domain needs the control domain. */
export function mayActOn(caller: Domain, target: Domain): boolean {
  return caller === target || caller.privileged;
}

/** Adds the owner of page table `mfn` to the domains whose TLBs are flushed. */
function noteFlush(ctx: MmCtx, mfn: number): void {
  const d = ctx.domain(ctx.frames.ownerOf(mfn));
  if (d) ctx.flush.add(d);
}

/** Xen's mod_l1_entry(): entry `index` of validated L1 `l1mfn`, owned by `ptDom`, becomes `nl1e`. */
export function modL1Entry(ctx: MmCtx, l1mfn: number, index: number, nl1e: number, preserveAd: boolean, ptDom: Domain, pgDom: Domain): number {
  nl1e >>>= 0;
  const ol1e = readPte(ctx, l1mfn, index);
  if (nl1e & PTE_V) {
    if (l1Malformed(nl1e)) return xenErr('EINVAL');
    if (preserveAd) nl1e = (nl1e | (ol1e & (PTE_A | PTE_D))) >>> 0;
    if (ol1e & PTE_V && ((ol1e ^ nl1e) & ~L1_FASTPATH) === 0) {
      // Same frame, same permissions that references depend on: no reference changes.
      writePte(ctx, l1mfn, index, nl1e);
      if (ol1e !== nl1e) noteFlush(ctx, l1mfn);
      return 0;
    }
    const rc = getPageFromL1e(ctx, nl1e, ptDom, pgDom);
    if (rc < 0) return rc;
  } else if (preserveAd) {
    nl1e = (nl1e | (ol1e & (PTE_A | PTE_D))) >>> 0;
  }
  writePte(ctx, l1mfn, index, nl1e);
  if (ol1e & PTE_V) noteFlush(ctx, l1mfn);
  putPageFromL1e(ctx, ol1e, ptDom);
  return 0;
}

/** Xen's mod_l2_entry(): entry `index` of validated L2 `l2mfn` (owned by `d`) becomes `nl2e`. */
export function modL2Entry(ctx: MmCtx, l2mfn: number, index: number, nl2e: number, preserveAd: boolean, d: Domain): number {
  if (index === HYPERVISOR_L2_SLOT) return xenErr('EPERM');
  nl2e >>>= 0;
  const ol2e = readPte(ctx, l2mfn, index);
  if (nl2e & PTE_V) {
    if (l2Malformed(nl2e)) return xenErr('EINVAL');
    if (ol2e & PTE_V && ((ol2e ^ nl2e) & ~L2_FASTPATH) === 0) {
      writePte(ctx, l2mfn, index, nl2e);
      if (ol2e !== nl2e) noteFlush(ctx, l2mfn);
      return 0;
    }
    const rc = getPageFromL2e(ctx, nl2e, d);
    if (rc < 0) return rc;
  } else if (preserveAd) {
    nl2e = (nl2e | (ol2e & (PTE_A | PTE_D))) >>> 0;
  }
  writePte(ctx, l2mfn, index, nl2e);
  if (ol2e & PTE_V) noteFlush(ctx, l2mfn);
  putPageFromL2e(ctx, ol2e, l2mfn);
  return 0;
}

/** One struct mmu_update, as two 64-bit fields split in 32-bit halves. */
export interface MmuUpdateReq {
  ptrLo: number;
  ptrHi: number;
  valLo: number;
  valHi: number;
}

/** The outcome of a batch: the hypercall's return value and how many requests completed (null: leave `done` alone). */
export interface BatchResult {
  rc: number;
  done: number | null;
}

/**
 * do_mmu_update(): `read(i)` returns request i or null (unreadable: -EFAULT). `foreigndom`:
 * low 16 bits name the domain whose frames may be mapped (DOMID.SELF = the caller), high 16
 * bits are 1 + the domain whose page tables change (0 = the caller).
 */
export function doMmuUpdate(ctx: MmCtx, vcpu: Vcpu, count: number, foreigndom: number, read: (i: number) => MmuUpdateReq | null): BatchResult {
  const d = vcpu.domain;
  let ptOwner: Domain = d;
  const ptDom = foreigndom >>> 16;
  if (ptDom !== 0) {
    const o = ctx.domain(ptDom - 1);
    if (!o) return { rc: xenErr('ESRCH'), done: null };
    if (o !== d && o.vcpus.length === 0) return { rc: xenErr('EINVAL'), done: 0 };
    ptOwner = o;
  }
  const pgOwner = getPgOwner(ctx, d, foreigndom & 0xffff);
  if (!pgOwner) return { rc: xenErr('ESRCH'), done: 0 };

  let rc = 0;
  let i = 0;
  for (; i < count; i++) {
    const req = read(i);
    if (req === null) {
      rc = xenErr('EFAULT');
      break;
    }
    const cmd = req.ptrLo & 3;
    switch (cmd) {
      case MMU.NORMAL_PT_UPDATE:
      case MMU.PT_UPDATE_PRESERVE_AD:
        rc = normalPtUpdate(ctx, d, ptOwner, pgOwner, req, cmd === MMU.PT_UPDATE_PRESERVE_AD);
        break;
      case MMU.MACHPHYS_UPDATE:
        rc = machphysUpdate(ctx, d, ptOwner, pgOwner, req);
        break;
      default:
        rc = xenErr('ENOSYS');
    }
    if (rc !== 0) break;
  }
  return { rc, done: i };
}

/** The frame of a 64-bit machine address (Sv32 machine addresses have 34 bits); -1 beyond. */
function maddrToMfn(hi: number, lo: number): number {
  return hi >>> 0 > 3 ? -1 : (hi >>> 0) * 0x10_0000 + (lo >>> 12);
}

function normalPtUpdate(ctx: MmCtx, d: Domain, ptOwner: Domain, pgOwner: Domain, req: MmuUpdateReq, preserveAd: boolean): number {
  if (!mayActOn(d, ptOwner) || !mayActOn(d, pgOwner)) return xenErr('EPERM');
  // Sv32 PTEs are 32 bits: a non-zero high word would be reserved bits.
  if (req.valHi !== 0) return xenErr('EINVAL');
  const f = ctx.frames;
  const ptr = (req.ptrLo & ~3) >>> 0;
  const mfn = maddrToMfn(req.ptrHi, ptr);
  const index = (ptr & 0xfff) >>> 2;
  if (!f.getPage(mfn, ptOwner.domid)) return xenErr('EINVAL');
  let rc = xenErr('EINVAL');
  if (f.isActiveTable(mfn, FrameType.L1PageTable)) {
    rc = modL1Entry(ctx, mfn, index, req.valLo, preserveAd, ptOwner, pgOwner);
  } else if (f.isActiveTable(mfn, FrameType.L2PageTable)) {
    if (pgOwner === ptOwner) rc = modL2Entry(ctx, mfn, index, req.valLo, preserveAd, ptOwner);
  } else if (getPageType(ctx, mfn, FrameType.Writable) === 0) {
    // Not a page table in use: an ordinary store into the owner's frame.
    writePte(ctx, mfn, index, req.valLo);
    putPageType(ctx, mfn);
    rc = 0;
  }
  f.putPage(mfn);
  return rc;
}

function machphysUpdate(ctx: MmCtx, d: Domain, ptOwner: Domain, pgOwner: Domain, req: MmuUpdateReq): number {
  if (d !== ptOwner || !mayActOn(d, pgOwner)) return xenErr('EPERM');
  if (req.valHi !== 0) return xenErr('EINVAL');
  const f = ctx.frames;
  const mfn = maddrToMfn(req.ptrHi, req.ptrLo);
  if (!f.getPage(mfn, pgOwner.domid)) return xenErr('EINVAL');
  f.setM2p(mfn, req.valLo);
  f.putPage(mfn);
  return 0;
}

/**
 * Xen's map_guest_l1e(): the L1 slot that maps `va` in the vCPU's current address space,
 * or null if the L2 entry is not a present pointer (or `va` is the hypervisor's).
 */
export function guestL1Slot(ctx: MmCtx, vcpu: Vcpu, va: number): { l1mfn: number; index: number } | null {
  va >>>= 0;
  if (va >= HYPERVISOR_VIRT_START) return null;
  const satp = vcpu.hart.satp;
  if ((satp & SATP_MODE_SV32) === 0) return null;
  const l2mfn = satp & SATP_PPN_MASK;
  if (!ctx.frames.isValid(l2mfn)) return null;
  const l2e = readPte(ctx, l2mfn, va >>> 22);
  if ((l2e & PTE_V) === 0 || (l2e & (PTE_R | PTE_W | PTE_X)) !== 0) return null;
  return { l1mfn: l2e >>> 10, index: (va >>> 12) & 0x3ff };
}

/** Flushes the TLBs of the vCPUs of `d` whose bit is set in `mask` (bit i = vCPU i). */
export function flushVcpus(d: Domain, mask: number): void {
  for (const v of d.vcpus) if (v.vcpuId < 32 && (mask >>> v.vcpuId) & 1) v.hart.flushTlb();
}

/**
 * __do_update_va_mapping(): the L1 entry mapping `va` in the caller's current address
 * space becomes `val`, then the flush `flags` asks for happens (even if the update failed,
 * as in Xen). `readMask(ptr)` reads a vCPU bitmap for a pointer in `flags` (null: -EFAULT).
 */
export function updateVaMapping(
  ctx: MmCtx,
  vcpu: Vcpu,
  va: number,
  valLo: number,
  valHi: number,
  flags: number,
  pgOwner: Domain,
  readMask: (ptr: number) => number | null,
): number {
  const d = vcpu.domain;
  if (!mayActOn(d, pgOwner)) return xenErr('EPERM');
  let rc = xenErr('EINVAL');
  const slot = valHi === 0 ? guestL1Slot(ctx, vcpu, va) : null;
  if (slot && ctx.frames.getPage(slot.l1mfn, d.domid)) {
    if (ctx.frames.isActiveTable(slot.l1mfn, FrameType.L1PageTable)) {
      rc = modL1Entry(ctx, slot.l1mfn, slot.index, valLo, false, d, pgOwner);
    }
    ctx.frames.putPage(slot.l1mfn);
  }
  const type = flags & UVMF.FLUSHTYPE_MASK;
  if (type === UVMF.TLB_FLUSH || type === UVMF.INVLPG) {
    const target = (flags & ~UVMF.FLUSHTYPE_MASK) >>> 0;
    if (target === UVMF.LOCAL) vcpu.hart.flushTlb();
    else if (target === UVMF.ALL) flushVcpus(d, 0xffff_ffff);
    else {
      const mask = readMask(target);
      if (mask === null) rc = xenErr('EFAULT');
      else flushVcpus(d, mask);
    }
  }
  return rc;
}
