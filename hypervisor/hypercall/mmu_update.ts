// HYPERVISOR_mmu_update(reqs, count, done, foreigndom): PTE updates and M2P updates in a
// batch (hypervisor/mm/mmu_update.ts has the rules). `done` (may be 0) receives the number
// of requests completed; the return value is 0 or the errno of the request that failed.

import { copyFromGuest, copyToGuest, guestHandleOkay, readGuestU32 } from '../mm/guest_access.ts';
import { doMmuUpdate, type MmuUpdateReq } from '../mm/mmu_update.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { MMU_UPDATE, MMU_UPDATE_PREEMPTED } from '../../protocol/xen/mm.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import type { HypercallHandler } from './types.ts';

export const mmuUpdate: HypercallHandler = (ctx, reqs, count, pdone, foreigndom) => {
  const { hv, vcpu } = ctx;
  const hart = vcpu.hart;
  let before = 0;
  if (count & MMU_UPDATE_PREEMPTED) {
    // A resumed call: `done` already counts the earlier part.
    count = (count & ~MMU_UPDATE_PREEMPTED) >>> 0;
    if (pdone !== 0) before = readGuestU32(hart, pdone) ?? 0;
  }
  if (!guestHandleOkay(reqs, count, MMU_UPDATE.SIZE)) return xenErr('EFAULT');
  const mm = mmContext(hv);
  const r = doMmuUpdate(mm, vcpu, count, foreigndom, (i): MmuUpdateReq | null => {
    const b = copyFromGuest(hart, reqs + i * MMU_UPDATE.SIZE, MMU_UPDATE.SIZE);
    if (b === null) return null;
    const dv = new DataView(b.buffer);
    return {
      ptrLo: dv.getUint32(MMU_UPDATE.ptr, true),
      ptrHi: dv.getUint32(MMU_UPDATE.ptr + 4, true),
      valLo: dv.getUint32(MMU_UPDATE.val, true),
      valHi: dv.getUint32(MMU_UPDATE.val + 4, true),
    };
  });
  finishMm(mm);
  // PV page-table batching (pvsim compare): one call, and the PTE updates it made.
  vcpu.domain.perf.mmuUpdateCalls++;
  vcpu.domain.perf.mmuUpdatePtes += r.done ?? 0;
  if (r.done !== null && pdone !== 0) copyToGuest(hart, pdone, u32le(before + r.done));
  return r.rc;
};

export function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
