// Grant tables: the API the rest of the hypervisor uses.
//
//   gnttabInit             a new domain's table (the builder)
//   gnttabReleaseMappings  domain destruction: what the dying domain had mapped (mm teardown)
//   mapGrantRef / unmapGrantRef + unmapComplete / gnttabCopy / setupTable / querySize
//                          the operations behind GNTTABOP_* (hypercall/grant_table_op.ts)
//   gnttabMapForDomain / gnttabUnmapForDomain / gnttabCopyForDomain
//                          the same for a domain with no vCPUs (the control domain, whose
//                          backends run in the dom0 process): device mappings, no page tables
//
// table.ts holds a domain's table (shared entries, active entries, maptrack); ops.ts the
// operations, with Xen's statuses and reference rules.

import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { GNTMAP, GNTST } from '../../protocol/xen/grant_table.ts';
import { gnttabCopy, gnttabPeek, mapGrantRef, unmapComplete, unmapGrantRef, type CopyOp, type MapGrantOp } from './ops.ts';
import { DomainGnttab, type GnttabOptions } from './table.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';

export { DomainGnttab, DEFAULT_MAX_GRANT_FRAMES, DEFAULT_MAX_MAPTRACK_FRAMES, GNTPIN, type GnttabOptions } from './table.ts';
export { gnttabCopy, gnttabReleaseMappings, mapGrantRef, querySize, setupTable, unmapComplete, unmapGrantRef } from './ops.ts';
export type { CopyOp, CopyPtr, MapGrantOp, UnmapDone, UnmapGrantOp } from './ops.ts';

/** Gives a new domain its grant table (one frame, allocated when the domain asks for it with setup_table). */
export function gnttabInit(domain: Domain, opts: GnttabOptions = {}): void {
  domain.gnttab = new DomainGnttab(domain.domid, opts);
}

/**
 * Maps grant `ref` of domain `dom` for `mapper` as a device mapping (GNTMAP_device_map, no
 * PTE): the grant is pinned, GTF_reading (and GTF_writing unless `readonly`) set, and the
 * frame referenced until gnttabUnmapForDomain. Returns the GNTST status, the handle and the
 * granted machine frame.
 */
export function gnttabMapForDomain(hv: HypervisorServices, mapper: Domain, dom: number, ref: number, readonly: boolean): { status: number; handle: number; mfn: number } {
  const ctx = mmContext(hv);
  const op: MapGrantOp = { hostAddr: 0, flags: GNTMAP.device_map | (readonly ? GNTMAP.readonly : 0), ref, dom, status: 0, handle: 0, devBusAddr: 0 };
  mapGrantRef(ctx, mapper, null, op);
  finishMm(ctx);
  return { status: op.status, handle: op.handle, mfn: op.status === GNTST.okay ? op.devBusAddr / PAGE_SIZE : 0 };
}

/** Ends a gnttabMapForDomain mapping. Returns the GNTST status. */
export function gnttabUnmapForDomain(hv: HypervisorServices, mapper: Domain, handle: number): number {
  const ctx = mmContext(hv);
  const map = mapper.gnttab?.maptrack[handle];
  const act = map ? map.rgt.active.get(map.ref) : undefined;
  const op = { hostAddr: 0, devBusAddr: act ? act.mfn * PAGE_SIZE : 1, handle, status: 0 };
  const done = unmapGrantRef(ctx, mapper, null, op);
  finishMm(ctx);
  if (done) unmapComplete(ctx, done);
  return op.status;
}

/** GNTTABOP_copy on behalf of `caller` (frames by number must be the caller's own). */
export function gnttabCopyForDomain(hv: HypervisorServices, caller: Domain, op: CopyOp): number {
  return gnttabCopy(mmContext(hv), caller, op);
}

/** What a copy out of `domid`'s grant `ref` by `caller` would read now, counting nothing (ops.ts gnttabPeek). */
export function gnttabPeekForDomain(hv: HypervisorServices, caller: Domain, domid: number, ref: number, offset: number, len: number): { mfn: number; data: Uint8Array } | number {
  return gnttabPeek(mmContext(hv), caller, domid, ref, offset, len);
}
