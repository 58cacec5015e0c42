// HYPERVISOR_grant_table_op(cmd, uop, count) (xen/common/grant_table.c do_grant_table_op),
// grant tables version 1. Batched operations give each op its own status; the hypercall
// returns 0 unless the array cannot be read or written (-EFAULT, stopping there), `count`
// is negative or `cmd` carries continuation bits (-EINVAL). setup_table and query_size take
// exactly one op (count != 1: -EINVAL). Implemented: map_grant_ref, unmap_grant_ref,
// setup_table, copy, query_size, set_version (1 only) and get_version; others -ENOSYS.

import type { Domain } from '../domain/domain.ts';
import {
  gnttabCopy,
  mapGrantRef,
  querySize,
  setupTable,
  unmapComplete,
  unmapGrantRef,
  type CopyOp,
  type MapGrantOp,
  type UnmapDone,
  type UnmapGrantOp,
} from '../gnttab/index.ts';
import { copyFromGuest, copyToGuest, guestHandleOkay, writeGuestU32 } from '../mm/guest_access.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { DOMID } from '../../protocol/xen/xen.ts';
import {
  GNTST,
  GNTTABOP,
  GNTTABOP_CMD_MASK,
  GNTTAB_COPY,
  GNTTAB_GET_VERSION,
  GNTTAB_MAP_GRANT_REF,
  GNTTAB_QUERY_SIZE,
  GNTTAB_SETUP_TABLE,
  GNTTAB_UNMAP_GRANT_REF,
} from '../../protocol/xen/grant_table.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import type { HypercallContext, HypercallHandler } from './types.ts';

const u64 = (dv: DataView, off: number) => dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
const set64 = (dv: DataView, off: number, v: number) => {
  dv.setUint32(off, v % 2 ** 32, true);
  dv.setUint32(off + 4, Math.floor(v / 2 ** 32), true);
};

export const grantTableOp: HypercallHandler = (ctx, cmd, uop, count) => {
  if ((count | 0) < 0) return xenErr('EINVAL');
  if ((cmd & ~GNTTABOP_CMD_MASK) !== 0 && (cmd & GNTTABOP_CMD_MASK) !== GNTTABOP.cache_flush) return xenErr('EINVAL');
  switch (cmd & GNTTABOP_CMD_MASK) {
    case GNTTABOP.map_grant_ref:
      return mapBatch(ctx, uop, count);
    case GNTTABOP.unmap_grant_ref:
      return unmapBatch(ctx, uop, count);
    case GNTTABOP.setup_table:
      return setupTableOp(ctx, uop, count);
    case GNTTABOP.copy:
      return copyBatch(ctx, uop, count);
    case GNTTABOP.query_size:
      return querySizeOp(ctx, uop, count);
    case GNTTABOP.set_version: {
      // Version 1 only: pvsim behaves as Xen booted with gnttab=max-ver:1.
      const b = copyFromGuest(ctx.vcpu.hart, uop, 4);
      if (b === null) return xenErr('EFAULT');
      const version = new DataView(b.buffer).getUint32(0, true);
      const rc = version === 1 ? 0 : version === 2 ? xenErr('ENOSYS') : xenErr('EINVAL');
      return writeGuestU32(ctx.vcpu.hart, uop, 1) ? rc : xenErr('EFAULT');
    }
    case GNTTABOP.get_version: {
      const b = copyFromGuest(ctx.vcpu.hart, uop, GNTTAB_GET_VERSION.SIZE);
      if (b === null) return xenErr('EFAULT');
      const d = byAnyId(ctx, new DataView(b.buffer).getUint16(GNTTAB_GET_VERSION.dom, true));
      if (!d) return xenErr('ESRCH');
      if (d !== ctx.vcpu.domain && !ctx.vcpu.domain.privileged) return xenErr('EPERM');
      return writeGuestU32(ctx.vcpu.hart, uop + GNTTAB_GET_VERSION.version, 1) ? 0 : xenErr('EFAULT');
    }
    default:
      return xenErr('ENOSYS');
  }
};

function byAnyId(ctx: HypercallContext, domid: number): Domain | undefined {
  return domid === DOMID.SELF ? ctx.vcpu.domain : ctx.hv.domain(domid);
}

/**
 * The batch loop every GNTTABOP shares: copy op i in, let `serve` handle it and say what
 * to write back (the whole op or just its status), stop at the first bad pointer (-EFAULT),
 * as Xen does; earlier ops stay done.
 */
function eachOp(
  ctx: HypercallContext,
  uop: number,
  count: number,
  size: number,
  serve: (dv: DataView, b: Uint8Array) => { offset: number; data: Uint8Array } | 'whole',
): number {
  const hart = ctx.vcpu.hart;
  for (let i = 0; i < count; i++) {
    const va = uop + i * size;
    const b = copyFromGuest(hart, va, size);
    if (b === null) return xenErr('EFAULT');
    const out = serve(new DataView(b.buffer), b);
    const ok = out === 'whole' ? copyToGuest(hart, va, b) : copyToGuest(hart, va + out.offset, out.data);
    if (!ok) return xenErr('EFAULT');
  }
  return 0;
}

/** A little-endian int16 status, as the write-back of an op whose other fields are inputs. */
function status16(offset: number, status: number): { offset: number; data: Uint8Array } {
  const data = new Uint8Array(2);
  new DataView(data.buffer).setInt16(0, status, true);
  return { offset, data };
}

function mapBatch(ctx: HypercallContext, uop: number, count: number): number {
  const S = GNTTAB_MAP_GRANT_REF;
  if (!guestHandleOkay(uop, count, S.SIZE)) return xenErr('EFAULT');
  const mm = mmContext(ctx.hv);
  const rc = eachOp(ctx, uop, count, S.SIZE, (dv) => {
    const op: MapGrantOp = {
      hostAddr: u64(dv, S.host_addr),
      flags: dv.getUint32(S.flags, true),
      ref: dv.getUint32(S.ref, true),
      dom: dv.getUint16(S.dom, true),
      status: dv.getInt16(S.status, true),
      handle: dv.getUint32(S.handle, true),
      devBusAddr: u64(dv, S.dev_bus_addr),
    };
    mapGrantRef(mm, ctx.vcpu.domain, ctx.vcpu, op);
    dv.setInt16(S.status, op.status, true);
    dv.setUint32(S.handle, op.handle >>> 0, true);
    set64(dv, S.dev_bus_addr, op.devBusAddr);
    return 'whole';
  });
  finishMm(mm);
  return rc;
}

function unmapBatch(ctx: HypercallContext, uop: number, count: number): number {
  const S = GNTTAB_UNMAP_GRANT_REF;
  if (!guestHandleOkay(uop, count, S.SIZE)) return xenErr('EFAULT');
  const mm = mmContext(ctx.hv);
  const pending: UnmapDone[] = [];
  const rc = eachOp(ctx, uop, count, S.SIZE, (dv) => {
    const op: UnmapGrantOp = { hostAddr: u64(dv, S.host_addr), devBusAddr: u64(dv, S.dev_bus_addr), handle: dv.getUint32(S.handle, true), status: 0 };
    const done = unmapGrantRef(mm, ctx.vcpu.domain, ctx.vcpu, op);
    if (done) pending.push(done);
    return status16(S.status, op.status);
  });
  // The mappings are gone from the page tables; flush before the frames can be reused.
  finishMm(mm);
  for (const u of pending) unmapComplete(mm, u);
  return rc;
}

function setupTableOp(ctx: HypercallContext, uop: number, count: number): number {
  const hart = ctx.vcpu.hart;
  const S = GNTTAB_SETUP_TABLE;
  if (count !== 1) return xenErr('EINVAL');
  const b = copyFromGuest(hart, uop, S.SIZE);
  if (b === null) return xenErr('EFAULT');
  const dv = new DataView(b.buffer);
  const nr = dv.getUint32(S.nr_frames, true);
  const list = dv.getUint32(S.frame_list, true);
  if (!guestHandleOkay(list, nr, 4)) return xenErr('EFAULT');
  const mm = mmContext(ctx.hv);
  const r = setupTable(mm, ctx.vcpu.domain, dv.getUint16(S.dom, true), nr);
  let status: number;
  if (typeof r === 'number') status = r;
  else {
    status = GNTST.okay;
    r.forEach((mfn, i) => {
      if (!writeGuestU32(hart, list + i * 4, mfn)) status = GNTST.bad_virt_addr;
    });
  }
  const st = new Uint8Array(2);
  new DataView(st.buffer).setInt16(0, status, true);
  return copyToGuest(hart, uop + S.status, st) ? 0 : xenErr('EFAULT');
}

function querySizeOp(ctx: HypercallContext, uop: number, count: number): number {
  const hart = ctx.vcpu.hart;
  const S = GNTTAB_QUERY_SIZE;
  if (count !== 1) return xenErr('EINVAL');
  const b = copyFromGuest(hart, uop, S.SIZE);
  if (b === null) return xenErr('EFAULT');
  const dv = new DataView(b.buffer);
  const r = querySize(mmContext(ctx.hv), ctx.vcpu.domain, dv.getUint16(S.dom, true));
  if (typeof r === 'number') dv.setInt16(S.status, r, true);
  else {
    dv.setUint32(S.nr_frames, r[0], true);
    dv.setUint32(S.max_nr_frames, r[1], true);
    dv.setInt16(S.status, GNTST.okay, true);
  }
  return copyToGuest(hart, uop, b) ? 0 : xenErr('EFAULT');
}

function copyBatch(ctx: HypercallContext, uop: number, count: number): number {
  const S = GNTTAB_COPY;
  if (!guestHandleOkay(uop, count, S.SIZE)) return xenErr('EFAULT');
  const mm = mmContext(ctx.hv);
  const rc = eachOp(ctx, uop, count, S.SIZE, (dv) => {
    const op: CopyOp = {
      source: { u: dv.getUint32(S.source_u, true), domid: dv.getUint16(S.source_domid, true), offset: dv.getUint16(S.source_offset, true) },
      dest: { u: dv.getUint32(S.dest_u, true), domid: dv.getUint16(S.dest_domid, true), offset: dv.getUint16(S.dest_offset, true) },
      len: dv.getUint16(S.len, true),
      flags: dv.getUint16(S.flags, true),
      status: 0,
    };
    return status16(S.status, gnttabCopy(mm, ctx.vcpu.domain, op));
  });
  finishMm(mm);
  return rc;
}
