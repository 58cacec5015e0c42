// HYPERVISOR_mmuext_op(ops, count, done, foreigndom): pin/unpin page tables, switch the
// base pointer, flush TLBs (hypervisor/mm/mmuext.ts has the rules). Batch semantics as
// mmu_update: stops at the first failing op, `done` counts the completed ones.

import { copyFromGuest, copyToGuest, guestHandleOkay, readGuestU32 } from '../mm/guest_access.ts';
import { doMmuextOp, type MmuextOp } from '../mm/mmuext.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { MMUEXT_OP, MMU_UPDATE_PREEMPTED } from '../../protocol/xen/mm.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { u32le } from './mmu_update.ts';
import type { HypercallHandler } from './types.ts';

export const mmuextOp: HypercallHandler = (ctx, ops, count, pdone, foreigndom) => {
  const { hv, vcpu } = ctx;
  const hart = vcpu.hart;
  let before = 0;
  if (count & MMU_UPDATE_PREEMPTED) {
    count = (count & ~MMU_UPDATE_PREEMPTED) >>> 0;
    if (pdone !== 0) before = readGuestU32(hart, pdone) ?? 0;
  }
  if (!guestHandleOkay(ops, count, MMUEXT_OP.SIZE)) return xenErr('EFAULT');
  const mm = mmContext(hv);
  const r = doMmuextOp(
    mm,
    vcpu,
    count,
    foreigndom,
    (i): MmuextOp | null => {
      const b = copyFromGuest(hart, ops + i * MMUEXT_OP.SIZE, MMUEXT_OP.SIZE);
      if (b === null) return null;
      const dv = new DataView(b.buffer);
      return { cmd: dv.getUint32(MMUEXT_OP.cmd, true), arg1: dv.getUint32(MMUEXT_OP.arg1, true), arg2: dv.getUint32(MMUEXT_OP.arg2, true) };
    },
    (p) => readGuestU32(hart, p),
  );
  finishMm(mm);
  if (r.done !== null && pdone !== 0) copyToGuest(hart, pdone, u32le(before + r.done));
  return r.rc;
};
