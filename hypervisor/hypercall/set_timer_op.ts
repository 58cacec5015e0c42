// HYPERVISOR_set_timer_op(deadline_lo, deadline_hi): the vCPU's single-shot timer at an
// absolute system time in ns; 0 cancels it. Expiry sends VIRQ_TIMER.

import type { HypercallHandler } from './types.ts';

export const setTimerOp: HypercallHandler = (ctx, lo, hi) => {
  ctx.hv.setSingleshotTimer(ctx.vcpu, hi * 2 ** 32 + lo);
  return 0;
};
