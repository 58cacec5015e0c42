// HYPERVISOR_sched_op: yield and shutdown. Blocking, polling and remote shutdown arrive
// with event channels and the credit scheduler.

import { SCHEDOP, SHUTDOWN_NAMES } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { readGuestU32 } from '../mm/guest_access.ts';
import type { HypercallHandler } from './types.ts';

export const schedOp: HypercallHandler = (ctx, cmd, arg) => {
  const { vcpu, hv } = ctx;
  switch (cmd) {
    case SCHEDOP.yield:
      hv.yieldVcpu(vcpu);
      return 0;
    case SCHEDOP.shutdown: {
      // struct sched_shutdown { unsigned int reason; }
      const reason = readGuestU32(vcpu.hart, arg);
      if (reason === null) return xenErr('EFAULT');
      const name = SHUTDOWN_NAMES.get(reason);
      if (name === undefined) return xenErr('EINVAL');
      hv.shutdownDomain(vcpu.domain, name);
      return 0;
    }
    default:
      return xenErr('ENOSYS');
  }
};
