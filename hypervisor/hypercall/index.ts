// The hypercall table: Xen's numbers to handlers. An unknown number is -ENOSYS.

import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { consoleIo } from './console_io.ts';
import { schedOp } from './sched_op.ts';
import { setTimerOp } from './set_timer_op.ts';
import { vcpuOp } from './vcpu_op.ts';
import { makeMulticall } from './multicall.ts';
import { xenVersion } from './xen_version.ts';
import { domctl, sysctl } from './domctl.ts';
import type { HypercallContext, HypercallHandler } from './types.ts';

export type { HypercallContext, HypercallHandler, HypervisorServices } from './types.ts';

const table = new Map<number, HypercallHandler>([
  [HYPERVISOR.console_io, consoleIo],
  [HYPERVISOR.sched_op, schedOp],
  [HYPERVISOR.set_timer_op, setTimerOp],
  [HYPERVISOR.vcpu_op, vcpuOp],
  [HYPERVISOR.xen_version, xenVersion],
  [HYPERVISOR.domctl, domctl],
  [HYPERVISOR.sysctl, sysctl],
]);
table.set(HYPERVISOR.multicall, makeMulticall(dispatchHypercall));

/** Registers a handler (used by subsystems that own a hypercall: event channels, grant tables, the PV MMU). */
export function registerHypercall(nr: number, handler: HypercallHandler): void {
  table.set(nr, handler);
}

export function dispatchHypercall(ctx: HypercallContext, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number): number {
  const h = table.get(nr);
  if (h === undefined) return xenErr('ENOSYS');
  return h(ctx, a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0, a4 >>> 0);
}
