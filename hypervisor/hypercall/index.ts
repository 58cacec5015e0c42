// The hypercall table: Xen's numbers to handlers, built here once (Xen's hypercall_table).
// Every handler the hypervisor serves is listed below; nothing registers itself at import
// time or from a constructor. An unknown number is -ENOSYS.

import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { consoleIo } from './console_io.ts';
import { schedOp } from './sched_op.ts';
import { setTimerOp } from './set_timer_op.ts';
import { vcpuOp } from './vcpu_op.ts';
import { makeMulticall } from './multicall.ts';
import { xenVersion } from './xen_version.ts';
import { domctl, sysctl } from './domctl.ts';
import { eventChannelOp } from './event_channel_op.ts';
import { mmuUpdate } from './mmu_update.ts';
import { updateVaMappingHandler, updateVaMappingOtherdomain } from './update_va_mapping.ts';
import { mmuextOp } from './mmuext_op.ts';
import { memoryOp } from './memory_op.ts';
import { grantTableOp } from './grant_table_op.ts';
import type { HypercallContext, HypercallHandler } from './types.ts';

export type { HypercallContext, HypercallHandler, HypervisorServices } from './types.ts';

const table: ReadonlyMap<number, HypercallHandler> = new Map<number, HypercallHandler>([
  [HYPERVISOR.console_io, consoleIo],
  [HYPERVISOR.sched_op, schedOp],
  [HYPERVISOR.set_timer_op, setTimerOp],
  [HYPERVISOR.vcpu_op, vcpuOp],
  [HYPERVISOR.xen_version, xenVersion],
  [HYPERVISOR.domctl, domctl],
  [HYPERVISOR.sysctl, sysctl],
  [HYPERVISOR.multicall, makeMulticall(dispatchHypercall)],
  // Event channels.
  [HYPERVISOR.event_channel_op, eventChannelOp],
  // The PV MMU, memory reservations and grant tables.
  [HYPERVISOR.mmu_update, mmuUpdate],
  [HYPERVISOR.update_va_mapping, updateVaMappingHandler],
  [HYPERVISOR.update_va_mapping_otherdomain, updateVaMappingOtherdomain],
  [HYPERVISOR.mmuext_op, mmuextOp],
  [HYPERVISOR.memory_op, memoryOp],
  [HYPERVISOR.grant_table_op, grantTableOp],
]);

export function dispatchHypercall(ctx: HypercallContext, nr: number, a0: number, a1: number, a2: number, a3: number, a4: number): number {
  const h = table.get(nr);
  if (h === undefined) return xenErr('ENOSYS');
  return h(ctx, a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0, a4 >>> 0);
}
