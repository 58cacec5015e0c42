// Memory reservations (xen/common/memory.c): a domain's frames grow and shrink within its
// maximum (Domain.maxPages: xl's maxmem; XEN_DOMCTL_max_mem changes it, domain/control.ts).
//
// PV semantics: the guest keeps its own pfn->mfn table. increase_reservation hands out
// machine frames and writes their mfns back; decrease_reservation takes mfns and gives the
// frames back; populate_physmap takes pfns, allocates a frame for each, records mfn->pfn in
// the M2P and writes the mfns back. An extent is 2^extent_order contiguous, naturally aligned
// frames (up to DOMU_MAX_ORDER, or CTLDOM_MAX_ORDER for the control domain). Each returns
// the number of extents done; it stops at the first that fails (over the maximum, out of
// memory, an unreadable or unwritable list element, a frame that is not the domain's).
//
// A frame given back is freed when its last reference goes (Xen's guest_remove_page): a
// pin is dropped, the allocation reference is dropped, and a frame still mapped somewhere
// stays allocated, and counted, until that mapping goes.

import type { Domain } from '../domain/domain.ts';
import { FrameType } from './frame_table.ts';
import { putPageAndType, type MmCtx } from './page_types.ts';
import { xenErr } from '../../protocol/xen/errno.ts';

/** Xen's CONFIG_DOMU_MAX_ORDER (x86) and the control domain's limit. */
export const DOMU_MAX_ORDER = 9;
export const CTLDOM_MAX_ORDER = 18;

export function maxOrder(d: Domain): number {
  return d.privileged ? CTLDOM_MAX_ORDER : DOMU_MAX_ORDER;
}

/** Guest-side access to extent_start[]: element reads/writes, null/false on a fault. */
export interface ExtentList {
  read(i: number): number | null;
  write(i: number, value: number): boolean;
}

export interface ReservationArgs {
  /** null: a NULL extent_start (increase_reservation only). */
  list: ExtentList | null;
  nrExtents: number;
  extentOrder: number;
  /** Where to start (a resumed call's start_extent). */
  start: number;
  /** XENMEMF_address_bits: frames must lie below 2^bits bytes (0 = anywhere). */
  addressBits: number;
}

/** Frames `d` holds that count against its maximum (Xen's tot_pages). */
export function currentReservation(ctx: MmCtx, d: Domain): number {
  return ctx.frames.totPages(d.domid);
}

function limitMfn(bits: number): number {
  return bits === 0 ? Infinity : 2 ** (bits - 12);
}

/** alloc_domheap_pages(): an extent for `d`, or -1 (over the maximum, dying, out of memory). */
function allocExtent(ctx: MmCtx, d: Domain, order: number, addressBits: number): number {
  if (d.state === 'dying') return -1;
  if (ctx.frames.totPages(d.domid) + 2 ** order > d.maxPages) return -1;
  return ctx.frames.allocExtent(d.domid, order, FrameType.Writable, limitMfn(addressBits));
}

export function increaseReservation(ctx: MmCtx, caller: Domain, d: Domain, a: ReservationArgs): number {
  if (a.extentOrder > maxOrder(caller)) return a.start;
  let i = a.start;
  for (; i < a.nrExtents; i++) {
    const mfn = allocExtent(ctx, d, a.extentOrder, a.addressBits);
    if (mfn < 0) break;
    if (a.list && !a.list.write(i, mfn)) break; // Xen keeps the extent; the guest lost its mfn
  }
  return i;
}

export function populatePhysmap(ctx: MmCtx, caller: Domain, d: Domain, a: ReservationArgs): number {
  if (!a.list || a.extentOrder > maxOrder(caller)) return a.start;
  let i = a.start;
  for (; i < a.nrExtents; i++) {
    const gpfn = a.list.read(i);
    if (gpfn === null) break;
    const mfn = allocExtent(ctx, d, a.extentOrder, a.addressBits);
    if (mfn < 0) break;
    for (let j = 0; j < 2 ** a.extentOrder; j++) ctx.frames.setM2p(mfn + j, gpfn + j);
    if (!a.list.write(i, mfn)) break;
  }
  return i;
}

export function decreaseReservation(ctx: MmCtx, caller: Domain, d: Domain, a: ReservationArgs): number {
  if (!a.list || a.extentOrder > maxOrder(caller)) return a.start;
  // An HVM domain's RAM is its p2m, which its G-stage or shadow tables map and which never
  // changes (no HVM ballooning): a frame freed here would reach the next allocation while
  // the guest still maps it. None is given back (Xen would edit the p2m instead).
  if (d.hvm) return a.start;
  let i = a.start;
  outer: for (; i < a.nrExtents; i++) {
    const gmfn = a.list.read(i);
    if (gmfn === null) break;
    for (let j = 0; j < 2 ** a.extentOrder; j++) if (guestRemovePage(ctx, d, gmfn + j) !== 0) break outer;
  }
  return i;
}

/**
 * Xen's guest_remove_page() for a PV domain: drops a pin and the allocation reference; the
 * frame is freed once nothing else references it. The hypervisor's shared pages
 * (shared_info, grant-table frames) are not the guest's to give back (-EINVAL).
 */
export function guestRemovePage(ctx: MmCtx, d: Domain, mfn: number): number {
  const f = ctx.frames;
  if (!f.isValid(mfn)) return xenErr('EINVAL');
  if (!f.getPage(mfn, d.domid)) return xenErr('ENXIO');
  if (f.isXenheap(mfn)) {
    f.putPage(mfn);
    return xenErr('EINVAL');
  }
  if (f.isPinned(mfn)) {
    f.setPinned(mfn, false);
    putPageAndType(ctx, mfn);
  }
  if (f.clearAllocated(mfn)) f.putPage(mfn);
  f.putPage(mfn);
  return 0;
}
