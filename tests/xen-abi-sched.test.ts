// sched_op, vcpu_op and multicall layouts against Xen's headers.

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import { SCHED_POLL, SCHED_REMOTE_SHUTDOWN, SCHED_SHUTDOWN } from '../protocol/xen/sched.ts';
import { RUNSTATE, VCPUOP, VCPU_RUNSTATE_INFO, VCPU_SET_PERIODIC_TIMER, VCPU_SET_SINGLESHOT_TIMER, VCPU_SSHOTTMR_future, VGCF_online } from '../protocol/xen/vcpu.ts';
import { MULTICALL_ENTRY } from '../protocol/xen/multicall.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs the Xen ABI oracle');

describe.skipIf(!available)('sched/vcpu/multicall layouts match Xen', () => {
  it('struct offsets and sizes', () => {
    const checks: [number, string][] = [
      [SCHED_SHUTDOWN.SIZE, 'sizeof(struct sched_shutdown)'],
      [SCHED_POLL.ports, 'offsetof(struct sched_poll, ports)'],
      [SCHED_POLL.nr_ports, 'offsetof(struct sched_poll, nr_ports)'],
      [SCHED_POLL.timeout, 'offsetof(struct sched_poll, timeout)'],
      [SCHED_POLL.SIZE, 'sizeof(struct sched_poll)'],
      [SCHED_REMOTE_SHUTDOWN.domain_id, 'offsetof(struct sched_remote_shutdown, domain_id)'],
      [SCHED_REMOTE_SHUTDOWN.reason, 'offsetof(struct sched_remote_shutdown, reason)'],
      [SCHED_REMOTE_SHUTDOWN.SIZE, 'sizeof(struct sched_remote_shutdown)'],
      [VCPU_RUNSTATE_INFO.state_entry_time, 'offsetof(struct vcpu_runstate_info, state_entry_time)'],
      [VCPU_RUNSTATE_INFO.time, 'offsetof(struct vcpu_runstate_info, time)'],
      [VCPU_RUNSTATE_INFO.SIZE, 'sizeof(struct vcpu_runstate_info)'],
      [VCPU_SET_SINGLESHOT_TIMER.flags, 'offsetof(struct vcpu_set_singleshot_timer, flags)'],
      [VCPU_SET_SINGLESHOT_TIMER.SIZE, 'sizeof(struct vcpu_set_singleshot_timer)'],
      [VCPU_SET_PERIODIC_TIMER.SIZE, 'sizeof(struct vcpu_set_periodic_timer)'],
      [VCPU_SSHOTTMR_future, 'VCPU_SSHOTTMR_future'],
      [VGCF_online, 'VGCF_online'],
      [MULTICALL_ENTRY.result, 'offsetof(struct multicall_entry, result)'],
      [MULTICALL_ENTRY.args, 'offsetof(struct multicall_entry, args)'],
      [MULTICALL_ENTRY.SIZE, 'sizeof(struct multicall_entry)'],
    ];
    const got = evalXenExpressions(['xen/xen.h', 'xen/sched.h', 'xen/vcpu.h'], checks.map((c) => c[1]));
    expect(Object.fromEntries(checks.map((c, i) => [c[1], got[i]]))).toEqual(Object.fromEntries(checks.map((c) => [c[1], c[0]])));
  });

  it('VCPUOP and RUNSTATE numbers', () => {
    const names = Object.keys(VCPUOP) as (keyof typeof VCPUOP)[];
    const rs = Object.keys(RUNSTATE) as (keyof typeof RUNSTATE)[];
    const got = evalXenExpressions(['xen/xen.h', 'xen/vcpu.h'], [...names.map((n) => `VCPUOP_${n}`), ...rs.map((n) => `RUNSTATE_${n}`)]);
    expect(got).toEqual([...names.map((n) => VCPUOP[n]), ...rs.map((n) => RUNSTATE[n])]);
  });
});
