// Extended MMU operations (xen/arch/x86/mm.c do_mmuext_op, new_guest_cr3): pinning page
// tables, switching a vCPU's base pointer, TLB flushes, clearing and copying frames.
//
// Sv32 has two paging levels, so MMUEXT_PIN_L3_TABLE and MMUEXT_PIN_L4_TABLE are ignored
// (Xen skips pin requests beyond CONFIG_PAGING_LEVELS and reports success). x86-only
// operations (SET_LDT, NEW_USER_BASEPTR) are -ENOSYS; MARK/UNMARK_SUPER -EOPNOTSUPP as in Xen.

import { CSR_SATP } from '../cpu/csr.ts';
import type { Domain, Vcpu } from '../domain/domain.ts';
import { FrameType } from './frame_table.ts';
import { getPageAndType, getPageType, putPageAndType, putPageType, type MmCtx } from './page_types.ts';
import { flushVcpus, getPgOwner, mayActOn, type BatchResult } from './mmu_update.ts';
import { SATP_MODE_SV32 } from '../cpu/csr.ts';
import { MMUEXT } from '../../protocol/xen/mm.ts';
import { xenErr } from '../../protocol/xen/errno.ts';

/** One struct mmuext_op. */
export interface MmuextOp {
  cmd: number;
  arg1: number;
  arg2: number;
}

/** MMUEXT_PIN_L{1,2}_TABLE: a type reference that stays until unpinned (one pin per frame). */
export function pinTable(ctx: MmCtx, owner: Domain, mfn: number, type: FrameType): number {
  if (!ctx.frames.getPage(mfn, owner.domid)) return xenErr('EINVAL');
  const rc = getPageType(ctx, mfn, type);
  if (rc < 0) {
    ctx.frames.putPage(mfn);
    return rc;
  }
  if (ctx.frames.isPinned(mfn)) {
    putPageAndType(ctx, mfn);
    return xenErr('EINVAL');
  }
  ctx.frames.setPinned(mfn, true);
  return 0;
}

/** MMUEXT_UNPIN_TABLE. */
export function unpinTable(ctx: MmCtx, owner: Domain, mfn: number): number {
  const f = ctx.frames;
  if (!f.getPage(mfn, owner.domid)) return xenErr('EINVAL');
  if (!f.isPinned(mfn)) {
    f.putPage(mfn);
    return xenErr('EINVAL');
  }
  f.setPinned(mfn, false);
  putPageAndType(ctx, mfn);
  f.putPage(mfn);
  return 0;
}

/**
 * Points vCPU `vcpu`'s satp at L2 `mfn` (Xen's new_guest_cr3, also what VCPUOP_initialise
 * should use): takes an L2 type reference on the new table (validating it if needed) and
 * drops the one on the old. The local TLB is flushed. Returns 0 or a negative errno.
 */
export function setBaseptr(ctx: MmCtx, vcpu: Vcpu, mfn: number): number {
  const d = vcpu.domain;
  const mm = d.mm;
  if (!mm) return xenErr('EINVAL');
  const old = mm.base[vcpu.vcpuId] ?? 0;
  if (old !== mfn) {
    const rc = getPageAndType(ctx, mfn, FrameType.L2PageTable, d);
    if (rc < 0) return rc;
    mm.base[vcpu.vcpuId] = mfn;
  }
  vcpu.hart.writeCsr(CSR_SATP, (SATP_MODE_SV32 | mfn) >>> 0);
  vcpu.hart.flushTlb();
  if (old !== 0 && old !== mfn) putPageAndType(ctx, old);
  return 0;
}

/** Drops vCPU `vcpu`'s base reference (vCPU teardown). */
export function dropBaseptr(ctx: MmCtx, vcpu: Vcpu): void {
  const mm = vcpu.domain.mm;
  const old = mm?.base[vcpu.vcpuId] ?? 0;
  if (!mm || old === 0) return;
  mm.base[vcpu.vcpuId] = 0;
  putPageAndType(ctx, old);
}

/** do_mmuext_op(): `read(i)` returns op i or null (-EFAULT); `readMask(ptr)` reads a vCPU bitmap. */
export function doMmuextOp(
  ctx: MmCtx,
  vcpu: Vcpu,
  count: number,
  foreigndom: number,
  read: (i: number) => MmuextOp | null,
  readMask: (ptr: number) => number | null,
): BatchResult {
  const d = vcpu.domain;
  const pgOwner = getPgOwner(ctx, d, foreigndom & 0xffff);
  if (!pgOwner) return { rc: xenErr('ESRCH'), done: null };
  if (!mayActOn(d, pgOwner)) return { rc: xenErr('EPERM'), done: null };
  let rc = 0;
  let i = 0;
  for (; i < count; i++) {
    const op = read(i);
    if (op === null) {
      rc = xenErr('EFAULT');
      break;
    }
    rc = oneOp(ctx, vcpu, pgOwner, op, readMask);
    if (rc !== 0) break;
  }
  return { rc, done: i };
}

function oneOp(ctx: MmCtx, vcpu: Vcpu, pgOwner: Domain, op: MmuextOp, readMask: (ptr: number) => number | null): number {
  const d = vcpu.domain;
  const self = d === pgOwner;
  const f = ctx.frames;
  switch (op.cmd) {
    case MMUEXT.PIN_L1_TABLE:
      return pinTable(ctx, pgOwner, op.arg1, FrameType.L1PageTable);
    case MMUEXT.PIN_L2_TABLE:
      return pinTable(ctx, pgOwner, op.arg1, FrameType.L2PageTable);
    case MMUEXT.PIN_L3_TABLE:
    case MMUEXT.PIN_L4_TABLE:
      return 0;
    case MMUEXT.UNPIN_TABLE:
      return unpinTable(ctx, pgOwner, op.arg1);
    case MMUEXT.NEW_BASEPTR:
      return self ? setBaseptr(ctx, vcpu, op.arg1) : xenErr('EPERM');
    case MMUEXT.TLB_FLUSH_LOCAL:
    case MMUEXT.INVLPG_LOCAL:
      if (!self) return xenErr('EPERM');
      vcpu.hart.flushTlb();
      return 0;
    case MMUEXT.TLB_FLUSH_MULTI:
    case MMUEXT.INVLPG_MULTI: {
      if (!self) return xenErr('EPERM');
      const mask = readMask(op.arg2);
      if (mask === null) return xenErr('EINVAL');
      flushVcpus(d, mask);
      return 0;
    }
    case MMUEXT.TLB_FLUSH_ALL:
    case MMUEXT.INVLPG_ALL:
      if (!self) return xenErr('EPERM');
      flushVcpus(d, 0xffff_ffff);
      return 0;
    case MMUEXT.FLUSH_CACHE:
      // No caches to write back; Xen lets only domains with I/O memory ask.
      if (!self) return xenErr('EPERM');
      return d.privileged ? 0 : xenErr('EACCES');
    case MMUEXT.FLUSH_CACHE_GLOBAL:
      if (!self) return xenErr('EPERM');
      return d.privileged ? 0 : xenErr('EINVAL');
    case MMUEXT.CLEAR_PAGE: {
      const mfn = op.arg1;
      if (!f.getPage(mfn, pgOwner.domid)) return xenErr('EINVAL');
      if (getPageType(ctx, mfn, FrameType.Writable) < 0) {
        f.putPage(mfn);
        return xenErr('EINVAL');
      }
      f.frameData(mfn)?.fill(0);
      putPageAndType(ctx, mfn);
      return 0;
    }
    case MMUEXT.COPY_PAGE: {
      const dst = op.arg1;
      const src = op.arg2;
      if (!f.getPage(src, pgOwner.domid)) return xenErr('EINVAL');
      if (!f.getPage(dst, pgOwner.domid)) {
        f.putPage(src);
        return xenErr('EINVAL');
      }
      if (getPageType(ctx, dst, FrameType.Writable) < 0) {
        f.putPage(src);
        f.putPage(dst);
        return xenErr('EINVAL');
      }
      const from = f.frameData(src);
      if (from) f.frameStorage(dst).set(from);
      else f.frameData(dst)?.fill(0);
      putPageType(ctx, dst);
      f.putPage(dst);
      f.putPage(src);
      return 0;
    }
    case MMUEXT.MARK_SUPER:
    case MMUEXT.UNMARK_SUPER:
      return xenErr('EOPNOTSUPP');
    default:
      return xenErr('ENOSYS');
  }
}
