// Grant-table operations (xen/common/grant_table.c, xen/arch/x86/pv/grant_table.c), v1.
//
// Statuses follow Xen: a ref beyond the table is GNTST_bad_gntref; an unknown domain
// GNTST_bad_domain; an entry that does not grant access to the caller (not
// GTF_permit_access, another domid, or GTF_readonly for a writable request) is
// GNTST_general_error, as are a host_addr with no L1 entry behind it and a frame that
// cannot be referenced as asked (a writable mapping of a page table); a granted frame the
// granter does not own is GNTST_bad_page; a handle that maps nothing GNTST_bad_handle;
// running out of handles GNTST_no_device_space; asking for another domain's table without
// privilege, or a GNTTABOP_copy by frame number of another domain's frame,
// GNTST_permission_denied; a copy past the end of a frame GNTST_bad_copy_arg;
// GNTST_bad_virt_addr an unwritable frame_list element in setup_table.
//
// References: a host mapping holds a general reference on the frame (and a writable type
// reference unless read-only), kept by its PTE, which carries PTE_GNTTAB; a device mapping
// holds its own. GTF_reading is set while any mapping or copy is active, GTF_writing while
// a writable one is.

import type { Domain, Vcpu } from '../domain/domain.ts';
import { FrameType } from '../mm/frame_table.ts';
import { guestL1Slot } from '../mm/mmu_update.ts';
import { PTE_GNTTAB, getPageType, putPageAndType, putPageFromL1e, putPageType, readPte, writePte, type MmCtx } from '../mm/page_types.ts';
import { PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, pte } from '../../protocol/sv32.ts';
import { DOMID, PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { GNTCOPY, GNTMAP, GNTST, GTF } from '../../protocol/xen/grant_table.ts';
import { DomainGnttab, GNTPIN, GNTPIN_OVERFLOW, GNTPIN_WRITE_MASK, type ActiveGrant } from './table.ts';

/** struct gnttab_map_grant_ref, decoded (64-bit fields as numbers). */
export interface MapGrantOp {
  hostAddr: number;
  flags: number;
  ref: number;
  dom: number;
  status: number;
  handle: number;
  devBusAddr: number;
}

export interface UnmapGrantOp {
  hostAddr: number;
  devBusAddr: number;
  handle: number;
  status: number;
}

export interface CopyPtr {
  /** grant ref (GNTCOPY_*_gref) or machine frame number. */
  u: number;
  domid: number;
  offset: number;
}

export interface CopyOp {
  source: CopyPtr;
  dest: CopyPtr;
  len: number;
  flags: number;
  status: number;
}

/** Xen's rcu_lock_domain_by_any_id(): DOMID_SELF or any live domain. */
function byAnyId(ctx: MmCtx, caller: Domain, domid: number): Domain | undefined {
  return domid === DOMID.SELF ? caller : ctx.domain(domid);
}

function liveTable(d: Domain | undefined): DomainGnttab | null {
  return d && d.gnttab && !d.gnttab.dying ? d.gnttab : null;
}

function pinInc(flags: number): number {
  const ro = (flags & GNTMAP.readonly) !== 0;
  let inc = 0;
  if (flags & GNTMAP.device_map) inc += ro ? GNTPIN.devr_inc : GNTPIN.devw_inc;
  if (flags & GNTMAP.host_map) inc += ro ? GNTPIN.hstr_inc : GNTPIN.hstw_inc;
  return inc;
}

/**
 * Xen's _set_status_v1(): checks that entry `ref` grants `ldomid` the access asked for
 * (when not already pinned) and marks it in use (GTF_reading, and GTF_writing if writable).
 */
function setStatus(ctx: MmCtx, rgt: DomainGnttab, ref: number, act: ActiveGrant, readonly: boolean, mapping: boolean, ldomid: number): number {
  const e = rgt.readEntry(ctx, ref);
  const mask = GTF.type_mask | (mapping ? GTF.sub_page : 0);
  if (act.pin === 0 && ((e.flags & mask) !== GTF.permit_access || e.domid !== ldomid)) return GNTST.general_error;
  if (!readonly && e.flags & GTF.readonly) return GNTST.general_error;
  rgt.updateFlags(ctx, ref, GTF.reading | (readonly ? 0 : GTF.writing), 0);
  return GNTST.okay;
}

/** Clears GTF_writing / GTF_reading as the pins that needed them go. */
function clearBusy(ctx: MmCtx, rgt: DomainGnttab, ref: number, act: ActiveGrant, wasWritable: boolean): void {
  let clear = 0;
  if (wasWritable && (act.pin & GNTPIN_WRITE_MASK) === 0) clear |= GTF.writing;
  if (act.pin === 0) clear |= GTF.reading;
  if (clear) rgt.updateFlags(ctx, ref, 0, clear);
  if (act.pin === 0) rgt.active.delete(ref);
}

/**
 * The machine frame a grant entry's `frame` names: a PV granter's own mfn, an HVM granter's
 * guest frame through its p2m (as Xen translates an HVM guest's gfn); -1 if not its memory.
 */
function grantFrame(rd: Domain, frame: number): number {
  return rd.hvm ? rd.hvm.gfnToMfn(frame) : frame;
}

function activeEntry(rgt: DomainGnttab, ref: number): ActiveGrant {
  let act = rgt.active.get(ref);
  if (!act) {
    act = { pin: 0, domid: 0, mfn: 0 };
    rgt.active.set(ref, act);
  }
  return act;
}

/** The L1 slot a grant host mapping uses: a VA in the current address space, or a PTE's machine address. */
function hostSlot(ctx: MmCtx, vcpu: Vcpu | null, addr: number, flags: number): { l1mfn: number; index: number } | null {
  if (flags & GNTMAP.contains_pte) {
    if (addr % 4 !== 0 || addr >= ctx.mem.paLimit) return null;
    return { l1mfn: Math.floor(addr / PAGE_SIZE), index: (addr % PAGE_SIZE) / 4 };
  }
  if (addr >= 2 ** 32 || !vcpu) return null;
  return guestL1Slot(ctx, vcpu, addr);
}

/** Xen's create_grant_pv_mapping(): installs the grant PTE in a validated L1 of the caller's. */
function createHostMapping(ctx: MmCtx, ld: Domain, vcpu: Vcpu | null, addr: number, mfn: number, flags: number): number {
  const f = ctx.frames;
  const slot = hostSlot(ctx, vcpu, addr, flags);
  if (!slot || !f.getPage(slot.l1mfn, ld.domid)) return GNTST.general_error;
  if (!f.isActiveTable(slot.l1mfn, FrameType.L1PageTable)) {
    f.putPage(slot.l1mfn);
    return GNTST.general_error;
  }
  let bits = PTE_V | PTE_R | PTE_A | PTE_D | PTE_GNTTAB;
  if (!(flags & GNTMAP.readonly)) bits |= PTE_W;
  if (flags & GNTMAP.application_map) bits |= PTE_U;
  const old = readPte(ctx, slot.l1mfn, slot.index);
  writePte(ctx, slot.l1mfn, slot.index, pte(mfn, bits));
  f.putPage(slot.l1mfn);
  if (old & PTE_V) {
    ctx.flush.add(ld);
    putPageFromL1e(ctx, old, ld);
  }
  return GNTST.okay;
}

/** Xen's replace_grant_pv_mapping() with no new address: clears the grant PTE, which must map `mfn` as granted. */
function destroyHostMapping(ctx: MmCtx, ld: Domain, vcpu: Vcpu | null, addr: number, mfn: number, flags: number): number {
  const f = ctx.frames;
  const slot = hostSlot(ctx, vcpu, addr, flags);
  if (!slot || !f.getPage(slot.l1mfn, ld.domid)) return GNTST.general_error;
  let rc: number = GNTST.general_error;
  if (f.isActiveTable(slot.l1mfn, FrameType.L1PageTable)) {
    const old = readPte(ctx, slot.l1mfn, slot.index);
    const writable = (flags & GNTMAP.readonly) === 0;
    if (old >>> 10 === mfn && old & PTE_V && (old & PTE_W) !== 0 === writable) {
      writePte(ctx, slot.l1mfn, slot.index, 0);
      ctx.flush.add(ld);
      rc = GNTST.okay;
    }
  }
  f.putPage(slot.l1mfn);
  return rc;
}

/**
 * GNTTABOP_map_grant_ref for one op (Xen's map_grant_ref): fills status, handle and
 * dev_bus_addr. `vcpu` gives the address space a host_addr refers to; hypervisor-side users
 * acting for a domain without vCPUs (the control domain served by the dom0 process) pass
 * null and use GNTMAP_device_map.
 */
export function mapGrantRef(ctx: MmCtx, ld: Domain, vcpu: Vcpu | null, op: MapGrantOp): void {
  const lgt = (ld.gnttab ??= new DomainGnttab(ld.domid));
  const f = ctx.frames;
  if ((op.flags & (GNTMAP.device_map | GNTMAP.host_map)) === 0) {
    op.status = GNTST.bad_gntref;
    return;
  }
  const rd = ctx.domain(op.dom);
  const rgt = liveTable(rd);
  if (!rd || !rgt) {
    op.status = GNTST.bad_domain;
    return;
  }
  const handle = lgt.allocHandle();
  if (handle < 0) {
    op.status = GNTST.no_device_space;
    return;
  }
  const fail = (status: number) => {
    op.status = status;
    lgt.freeHandle(handle);
  };
  const ref = op.ref >>> 0;
  if (ref >= rgt.nrEntries) return fail(GNTST.bad_gntref);
  const ro = (op.flags & GNTMAP.readonly) !== 0;
  const act = activeEntry(rgt, ref);
  if (act.pin !== 0 && (act.domid !== ld.domid || (act.pin & GNTPIN_OVERFLOW) !== 0)) return fail(GNTST.general_error);

  let refs = 0; // general references taken on the frame
  if (act.pin === 0 || (!ro && (act.pin & GNTPIN_WRITE_MASK) === 0)) {
    const rc = setStatus(ctx, rgt, ref, act, ro, true, ld.domid);
    if (rc !== GNTST.okay) {
      if (act.pin === 0) rgt.active.delete(ref);
      return fail(rc);
    }
    if (act.pin === 0) {
      const gfn = grantFrame(rd, rgt.readEntry(ctx, ref).frame);
      if (gfn < 0 || !f.getPage(gfn, rd.domid)) {
        clearBusy(ctx, rgt, ref, act, !ro);
        return fail(GNTST.bad_page);
      }
      refs++;
      act.domid = ld.domid;
      act.mfn = gfn;
    }
  }
  const inc = pinInc(op.flags);
  act.pin = (act.pin + inc) >>> 0;
  const mfn = act.mfn;
  let types = 0;

  const undo = (status: number) => {
    while (types-- > 0) putPageType(ctx, mfn);
    while (refs-- > 0) f.putPage(mfn);
    act.pin = (act.pin - inc) >>> 0;
    clearBusy(ctx, rgt, ref, act, !ro);
    fail(status);
  };

  if (refs === 0) {
    // Already pinned: the frame may have been given back since; it must still be the granter's.
    const owner = f.getPageAnyOwner(mfn);
    if (owner !== rd.domid) {
      if (owner >= 0) f.putPage(mfn);
      return undo(GNTST.general_error);
    }
    refs++;
  }
  if (op.flags & GNTMAP.device_map && !ro) {
    if (getPageType(ctx, mfn, FrameType.Writable) < 0) return undo(GNTST.general_error);
    types++;
  }
  if (op.flags & GNTMAP.host_map) {
    if (op.flags & GNTMAP.device_map) {
      if (!f.getPage(mfn, rd.domid)) return undo(GNTST.general_error);
      refs++;
    }
    if (!ro) {
      if (getPageType(ctx, mfn, FrameType.Writable) < 0) return undo(GNTST.general_error);
      types++;
    }
    const rc = createHostMapping(ctx, ld, vcpu, op.hostAddr, mfn, op.flags);
    if (rc !== GNTST.okay) return undo(rc);
  }
  lgt.maptrack[handle] = { ref, dom: rd.domid, flags: op.flags & 0x1f, rgt };
  op.devBusAddr = mfn * PAGE_SIZE;
  op.handle = handle;
  op.status = GNTST.okay;
  rd.perf.grantOps++; // a map of the granter's grant (pvsim compare's grant operations)
}

/** What unmapGrantRef did, for unmapComplete to drop once the TLBs are flushed. */
export interface UnmapDone {
  rgt: DomainGnttab;
  ref: number;
  mfn: number;
  /** GNTMAP_host_map / device_map undone, with GNTMAP_readonly if the mapping was. */
  done: number;
}

/**
 * GNTTABOP_unmap_grant_ref for one op, first half (Xen's unmap_common): checks the handle,
 * removes the PTE (host_addr must be where it was mapped) and forgets the mapping. Call
 * unmapComplete with the result after the caller's TLBs are flushed.
 */
export function unmapGrantRef(ctx: MmCtx, ld: Domain, vcpu: Vcpu | null, op: UnmapGrantOp): UnmapDone | null {
  const lgt = ld.gnttab;
  const map = lgt && op.handle >>> 0 < lgt.maptrack.length ? lgt.maptrack[op.handle >>> 0] : null;
  if (!lgt || !map || map.flags === 0) {
    op.status = GNTST.bad_handle;
    return null;
  }
  const act = map.rgt.active.get(map.ref);
  if (!act) {
    op.status = GNTST.bad_handle;
    return null;
  }
  if (op.devBusAddr !== 0 && op.devBusAddr !== act.mfn * PAGE_SIZE) {
    op.status = GNTST.general_error;
    return null;
  }
  const flags = map.flags;
  let done = 0;
  if (op.hostAddr !== 0 && flags & GNTMAP.host_map) {
    const rc = destroyHostMapping(ctx, ld, vcpu, op.hostAddr, act.mfn, flags);
    if (rc !== GNTST.okay) {
      op.status = rc;
      return null;
    }
    map.flags &= ~GNTMAP.host_map;
    done |= GNTMAP.host_map | (flags & GNTMAP.readonly);
  }
  if (op.devBusAddr !== 0 && flags & GNTMAP.device_map) {
    map.flags &= ~GNTMAP.device_map;
    done |= GNTMAP.device_map | (flags & GNTMAP.readonly);
  }
  if ((map.flags & (GNTMAP.host_map | GNTMAP.device_map)) === 0) lgt.freeHandle(op.handle >>> 0);
  op.status = GNTST.okay;
  const granter = ctx.domain(map.rgt.domid);
  if (granter) granter.perf.grantOps++;
  return done ? { rgt: map.rgt, ref: map.ref, mfn: act.mfn, done } : null;
}

/** Second half of an unmap (Xen's unmap_common_complete): drops references and pins, clears GTF flags. */
export function unmapComplete(ctx: MmCtx, u: UnmapDone): void {
  const act = u.rgt.active.get(u.ref);
  if (!act) return;
  const ro = (u.done & GNTMAP.readonly) !== 0;
  if (u.done & GNTMAP.device_map) {
    if (ro) ctx.frames.putPage(u.mfn);
    else putPageAndType(ctx, u.mfn);
    act.pin = (act.pin - (ro ? GNTPIN.devr_inc : GNTPIN.devw_inc)) >>> 0;
  }
  if (u.done & GNTMAP.host_map) {
    if (!ro) putPageType(ctx, u.mfn);
    ctx.frames.putPage(u.mfn);
    act.pin = (act.pin - (ro ? GNTPIN.hstr_inc : GNTPIN.hstw_inc)) >>> 0;
  }
  clearBusy(ctx, u.rgt, u.ref, act, !ro);
}

/**
 * Xen's acquire_grant_for_copy(): pins grant `ref` of `rd` for a copy by `ldomid` and takes
 * a reference on its frame. Returns the frame or a (negative) GNTST status.
 */
function acquireForCopy(ctx: MmCtx, rd: Domain, ref: number, ldomid: number, readonly: boolean): number {
  const rgt = liveTable(rd);
  if (!rgt) return GNTST.bad_domain;
  if (ref >= rgt.nrEntries) return GNTST.bad_gntref;
  const act = activeEntry(rgt, ref);
  if (act.pin !== 0 && (act.domid !== ldomid || (act.pin & GNTPIN_OVERFLOW) !== 0)) return GNTST.general_error;
  const f = ctx.frames;
  if (act.pin === 0 || (!readonly && (act.pin & GNTPIN_WRITE_MASK) === 0)) {
    const rc = setStatus(ctx, rgt, ref, act, readonly, false, ldomid);
    if (rc !== GNTST.okay) {
      if (act.pin === 0) rgt.active.delete(ref);
      return rc;
    }
    const mfn = act.pin === 0 ? grantFrame(rd, rgt.readEntry(ctx, ref).frame) : act.mfn;
    if (mfn < 0 || !f.getPage(mfn, rd.domid)) {
      clearBusy(ctx, rgt, ref, act, !readonly);
      return GNTST.bad_page;
    }
    if (act.pin === 0) {
      act.domid = ldomid;
      act.mfn = mfn;
    }
  } else if (!f.getPage(act.mfn, rd.domid)) {
    return GNTST.bad_domain;
  }
  act.pin = (act.pin + (readonly ? GNTPIN.hstr_inc : GNTPIN.hstw_inc)) >>> 0;
  return act.mfn;
}

function releaseForCopy(ctx: MmCtx, rd: Domain, ref: number, readonly: boolean): void {
  const rgt = rd.gnttab;
  const act = rgt?.active.get(ref);
  if (!rgt || !act) return;
  act.pin = (act.pin - (readonly ? GNTPIN.hstr_inc : GNTPIN.hstw_inc)) >>> 0;
  clearBusy(ctx, rgt, ref, act, !readonly);
}

/** One side of a copy: the domain, the frame, and what to give back afterwards. */
interface CopyBuf {
  domain: Domain;
  mfn: number;
  viaGrant: boolean;
  typed: boolean;
}

function claimBuf(ctx: MmCtx, ld: Domain, p: CopyPtr, viaGrant: boolean, readonly: boolean): CopyBuf | number {
  // Only DOMID.SELF may name a frame by number.
  if (!viaGrant && p.domid !== DOMID.SELF) return GNTST.permission_denied;
  const domain = byAnyId(ctx, ld, p.domid);
  if (!domain) return GNTST.bad_domain;
  let mfn: number;
  if (viaGrant) {
    mfn = acquireForCopy(ctx, domain, p.u >>> 0, ld.domid, readonly);
    if (mfn < 0) return mfn;
  } else {
    mfn = p.u >>> 0;
    if (!ctx.frames.getPage(mfn, domain.domid)) return GNTST.bad_page;
  }
  const buf: CopyBuf = { domain, mfn, viaGrant, typed: false };
  if (!readonly) {
    if (getPageType(ctx, mfn, FrameType.Writable) < 0) {
      releaseBuf(ctx, buf, p, readonly);
      return GNTST.general_error;
    }
    buf.typed = true;
  }
  return buf;
}

function releaseBuf(ctx: MmCtx, b: CopyBuf, p: CopyPtr, readonly: boolean): void {
  if (b.viaGrant) releaseForCopy(ctx, b.domain, p.u >>> 0, readonly);
  if (b.typed) putPageType(ctx, b.mfn);
  ctx.frames.putPage(b.mfn);
}

/** GNTTABOP_copy for one op (Xen's gnttab_copy_one) by domain `ld`: returns the GNTST status. */
export function gnttabCopy(ctx: MmCtx, ld: Domain, op: CopyOp): number {
  const srcGref = (op.flags & GNTCOPY.source_gref) !== 0;
  const dstGref = (op.flags & GNTCOPY.dest_gref) !== 0;
  // Both domains are looked up before either buffer is claimed, as Xen locks them first.
  if (!srcGref && op.source.domid !== DOMID.SELF) return GNTST.permission_denied;
  if (!byAnyId(ctx, ld, op.source.domid)) return GNTST.bad_domain;
  if (!dstGref && op.dest.domid !== DOMID.SELF) return GNTST.permission_denied;
  if (!byAnyId(ctx, ld, op.dest.domid)) return GNTST.bad_domain;
  const src = claimBuf(ctx, ld, op.source, srcGref, true);
  if (typeof src === 'number') return src;
  const dst = claimBuf(ctx, ld, op.dest, dstGref, false);
  if (typeof dst === 'number') {
    releaseBuf(ctx, src, op.source, true);
    return dst;
  }
  let rc: number = GNTST.okay;
  if (op.source.offset + op.len > PAGE_SIZE || op.dest.offset + op.len > PAGE_SIZE) {
    rc = GNTST.bad_copy_arg;
  } else if (op.len > 0) {
    const from = ctx.frames.frameData(src.mfn);
    const bytes = from ? from.slice(op.source.offset, op.source.offset + op.len) : new Uint8Array(op.len);
    ctx.frames.frameStorage(dst.mfn).set(bytes, op.dest.offset);
    ctx.mem.noteStore(dst.mfn * PAGE_SIZE + op.dest.offset, op.len);
    // Counted for each granter whose grant the copy went through (pvsim compare).
    for (const b of [src, dst]) {
      if (!b.viaGrant) continue;
      b.domain.perf.grantOps++;
      b.domain.perf.bytesCopied += op.len;
    }
  }
  releaseBuf(ctx, dst, op.dest, false);
  releaseBuf(ctx, src, op.source, true);
  return rc;
}

/**
 * What a GNTTABOP_copy of `len` bytes at `offset` of `domid`'s grant `ref` into a frame of
 * `ld`'s would read now: the frame and the bytes, or the GNTST status the copy would fail
 * with. The same claims and checks as gnttabCopy (taken and given back), nothing stored and
 * nothing counted: the hypervisor's prefetch for dom0 as a process (dom0_bridge.ts), whose
 * copies are counted when dom0 takes them.
 */
export function gnttabPeek(ctx: MmCtx, ld: Domain, domid: number, ref: number, offset: number, len: number): { mfn: number; data: Uint8Array } | number {
  if (!(len > 0 && offset >= 0 && offset + len <= PAGE_SIZE)) return GNTST.bad_copy_arg;
  if (!byAnyId(ctx, ld, domid)) return GNTST.bad_domain;
  const ptr: CopyPtr = { u: ref, domid, offset };
  const src = claimBuf(ctx, ld, ptr, true, true);
  if (typeof src === 'number') return src;
  const from = ctx.frames.frameData(src.mfn);
  const data = from ? from.slice(offset, offset + len) : new Uint8Array(len);
  releaseBuf(ctx, src, ptr, true);
  return { mfn: src.mfn, data };
}

/** GNTTABOP_setup_table: grows `dom`'s table to `nrFrames` and returns its frames, or a GNTST status. */
export function setupTable(ctx: MmCtx, caller: Domain, dom: number, nrFrames: number): number[] | number {
  const d = byAnyId(ctx, caller, dom);
  const gt = liveTable(d);
  if (!d || !gt) return GNTST.bad_domain;
  if (d !== caller && !caller.privileged) return GNTST.permission_denied;
  if (nrFrames > gt.maxFrames) return GNTST.general_error;
  if (!gt.grow(ctx, nrFrames)) return GNTST.general_error;
  return gt.frames.slice(0, nrFrames);
}

/** GNTTABOP_query_size: [nr_frames, max_nr_frames] or a GNTST status. */
export function querySize(ctx: MmCtx, caller: Domain, dom: number): [number, number] | number {
  const d = byAnyId(ctx, caller, dom);
  const gt = liveTable(d);
  if (!d || !gt) return GNTST.bad_domain;
  if (d !== caller && !caller.privileged) return GNTST.permission_denied;
  return [gt.nrFrames, gt.maxFrames];
}

/**
 * Domain destruction, mapper side (Xen's gnttab_release_mappings): every grant the dying
 * domain still has mapped is released in its granter's table (pins, GTF flags, device-map
 * references). Host mappings' references belong to their PTEs and go with its page tables.
 */
export function gnttabReleaseMappings(ctx: MmCtx, d: Domain): void {
  const gt = d.gnttab;
  if (!gt) return;
  for (let h = 0; h < gt.maptrack.length; h++) {
    const map = gt.maptrack[h];
    if (!map) continue;
    gt.maptrack[h] = null;
    const act = map.rgt.active.get(map.ref);
    if (!act) continue;
    const ro = (map.flags & GNTMAP.readonly) !== 0;
    if (map.flags & GNTMAP.device_map) {
      act.pin = (act.pin - (ro ? GNTPIN.devr_inc : GNTPIN.devw_inc)) >>> 0;
      if (ro) ctx.frames.putPage(act.mfn);
      else putPageAndType(ctx, act.mfn);
    }
    if (map.flags & GNTMAP.host_map) act.pin = (act.pin - (ro ? GNTPIN.hstr_inc : GNTPIN.hstw_inc)) >>> 0;
    clearBusy(ctx, map.rgt, map.ref, act, !ro);
  }
  gt.dying = true;
}
