// HYPERVISOR_multicall(entries, count): a batch of hypercalls in one trap. Each entry's
// result is written back into it; a nested multicall is refused.

import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { MULTICALL_ENTRY } from '../../protocol/xen/multicall.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import type { HypercallContext, HypercallHandler } from './types.ts';

export const MULTICALL_MAX = 4096;

export function makeMulticall(dispatch: (ctx: HypercallContext, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number) => number): HypercallHandler {
  return (ctx, entries, count) => {
    const { vcpu } = ctx;
    if (count > MULTICALL_MAX) return xenErr('EINVAL');
    for (let i = 0; i < count; i++) {
      if (!vcpu.domain.isAlive) break;
      const va = entries + i * MULTICALL_ENTRY.SIZE;
      const e = copyFromGuest(vcpu.hart, va, MULTICALL_ENTRY.SIZE);
      if (e === null) return xenErr('EFAULT');
      const dv = new DataView(e.buffer);
      const op = dv.getUint32(MULTICALL_ENTRY.op, true);
      const a = (k: number) => dv.getUint32(MULTICALL_ENTRY.args + 4 * k, true);
      const result = op === HYPERVISOR.multicall ? xenErr('EINVAL') : dispatch(ctx, op, a(0), a(1), a(2), a(3), a(4));
      const r = new Uint8Array(4);
      new DataView(r.buffer).setInt32(0, result, true);
      if (!copyToGuest(vcpu.hart, va + MULTICALL_ENTRY.result, r)) return xenErr('EFAULT');
    }
    return 0;
  };
}
