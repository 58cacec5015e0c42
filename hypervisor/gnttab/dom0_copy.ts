// Grant copies between a domain's granted pages and dom0's own bytes. dom0 has no guest
// memory of its own, so the bytes pass through a bounce frame owned by the control domain
// and the copy itself is a real GNTTABOP_copy (same checks, same statuses as Xen's).

import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { FrameType } from '../mm/frame_table.ts';
import { gnttabCopyForDomain } from './index.ts';
import { DOMID, PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { GNTCOPY, GNTST } from '../../protocol/xen/grant_table.ts';

const bounce = new WeakMap<Domain, number>();

function bounceFrame(hv: HypervisorServices, control: Domain): number {
  let mfn = bounce.get(control);
  if (mfn === undefined) {
    mfn = hv.frames.alloc(control.domid, FrameType.Writable);
    bounce.set(control, mfn);
  }
  return mfn;
}

export function copyToGrant(hv: HypervisorServices, control: Domain, domid: number, ref: number, offset: number, data: Uint8Array): number {
  if (data.length === 0 || data.length > PAGE_SIZE || offset < 0 || offset + data.length > PAGE_SIZE) return GNTST.bad_copy_arg;
  const mfn = bounceFrame(hv, control);
  hv.mem.ensureFrame(mfn).set(data, 0);
  return gnttabCopyForDomain(hv, control, {
    source: { u: mfn, domid: DOMID.SELF, offset: 0 },
    dest: { u: ref, domid, offset },
    len: data.length,
    flags: GNTCOPY.dest_gref,
    status: 0,
  });
}

export function copyFromGrant(hv: HypervisorServices, control: Domain, domid: number, ref: number, offset: number, len: number): { status: number; data: Uint8Array } {
  if (len <= 0 || len > PAGE_SIZE || offset < 0 || offset + len > PAGE_SIZE) return { status: GNTST.bad_copy_arg, data: new Uint8Array(0) };
  const mfn = bounceFrame(hv, control);
  const status = gnttabCopyForDomain(hv, control, {
    source: { u: ref, domid, offset },
    dest: { u: mfn, domid: DOMID.SELF, offset: 0 },
    len,
    flags: GNTCOPY.source_gref,
    status: 0,
  });
  return { status, data: status === GNTST.okay ? hv.mem.ensureFrame(mfn).slice(0, len) : new Uint8Array(0) };
}
