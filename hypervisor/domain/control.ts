// Control operations on domains, shared by the domctl/sysctl hypercalls and (through the
// dom0 protocol) the toolstack: one implementation, two transports.

import type { Domain, Vcpu } from './domain.ts';
import { RTDS_LIMITS } from '../sched/params.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { SHUTDOWN } from '../../protocol/xen/hypercall.ts';
import type { DomainInfo as WireDomainInfo } from '../../protocol/wire.ts';

/**
 * XEN_DOMCTL_getdomaininfo's answer: the wire's DomainInfo (what dom0 sees) plus the
 * shared_info frame, which only the hypercall reports.
 */
export interface DomainInfo extends WireDomainInfo {
  sharedInfoFrame: number;
}

export function domainInfo(hv: HypervisorServices, d: Domain): DomainInfo {
  let flags = 0;
  if (d.state === 'dying') flags |= XEN_DOMINF.dying;
  if (d.hvm) flags |= XEN_DOMINF.hvm_guest; // as Xen marks HVM domains (XEN_DOMINF_hvm_guest)
  if (d.state === 'paused') flags |= XEN_DOMINF.paused;
  if (d.state === 'shutdown' || d.state === 'crashed') {
    flags |= XEN_DOMINF.shutdown;
    flags |= (SHUTDOWN[d.shutdownReason ?? 'crash'] & XEN_DOMINF.shutdownmask) << XEN_DOMINF.shutdownshift;
  }
  const online = d.vcpus.filter((v) => v.online);
  if (online.some((v) => v.runstate === 'running')) flags |= XEN_DOMINF.running;
  if (online.length > 0 && online.every((v) => v.runstate === 'blocked')) flags |= XEN_DOMINF.blocked;
  // A domain whose vCPUs are a process outside the simulator (dom0): online, and running
  // while it is not paused or dying.
  const external = d.vcpus.length === 0 ? d.externalVcpus : 0;
  if (external > 0 && d.state === 'running') flags |= XEN_DOMINF.running;
  let cpu = 0;
  for (const v of d.vcpus) cpu += hv.runstateTimes(v)[0]!;
  return {
    domid: d.domid,
    name: d.name,
    flags: flags >>> 0,
    totPages: hv.frames.totPages(d.domid),
    maxPages: d.maxPages,
    sharedInfoFrame: d.sharedInfoMfn,
    cpuTimeNs: cpu,
    onlineVcpus: online.length + external,
    maxVcpuId: d.vcpus.length + external - 1,
    weight: d.sched.weight,
    cap: d.sched.cap,
  };
}

export class ControlError extends Error {
  constructor(readonly errno: 'EINVAL' | 'ESRCH' | 'EPERM' | 'EBUSY', message: string) {
    super(message);
  }
}

/** xl sched-credit -w/-c: 0 weight or 0xffff cap means "leave as is", as in Xen. */
export function setCreditParams(d: Domain, weight: number, cap: number): void {
  if (weight !== 0) {
    if (weight < 1 || weight > 65535) throw new ControlError('EINVAL', `weight ${weight} out of range 1..65535`);
    d.sched.weight = weight;
  }
  if (cap !== 0xffff) {
    if (cap < 0 || cap > 100 * d.vcpus.length) throw new ControlError('EINVAL', `cap ${cap} out of range 0..${100 * d.vcpus.length}`);
    d.sched.cap = cap;
  }
}

/**
 * xl sched-rtds -p -b -e on `vcpus` (all when empty): 0 period or budget and extratime
 * undefined leave a value as is. rt.c's limits: period and budget at least 10 us, the
 * budget at most the period. Checked for every vCPU before any changes.
 */
export function setRtdsParams(d: Domain, vcpus: readonly number[], periodUs: number, budgetUs: number, extratime: boolean | undefined): Vcpu[] {
  const targets = vcpus.length === 0 ? d.vcpus : vcpus.map((id) => {
    const v = d.vcpus[id];
    if (!v) throw new ControlError('EINVAL', `vcpu ${id} does not exist (d${d.domid} has ${d.vcpus.length})`);
    return v;
  });
  for (const v of targets) {
    const p = periodUs || v.rtds.periodUs;
    const b = budgetUs || v.rtds.budgetUs;
    if (p < RTDS_LIMITS.minPeriodUs || p > RTDS_LIMITS.maxPeriodUs) throw new ControlError('EINVAL', `period ${p} us out of range (${RTDS_LIMITS.minPeriodUs}-${RTDS_LIMITS.maxPeriodUs})`);
    if (b < RTDS_LIMITS.minBudgetUs || b > p) throw new ControlError('EINVAL', `budget ${b} us out of range (${RTDS_LIMITS.minBudgetUs} us up to the period, ${p} us)`);
  }
  for (const v of targets) {
    if (periodUs) v.rtds.periodUs = periodUs;
    if (budgetUs) v.rtds.budgetUs = budgetUs;
    if (extratime !== undefined) v.rtds.extratime = extratime;
  }
  return targets;
}

export function setMaxMem(d: Domain, maxKb: number): void {
  const pages = Math.floor(maxKb / 4);
  if (pages < d.nrPages) throw new ControlError('EINVAL', `max_mem ${maxKb} KiB is below the domain's ${d.nrPages * 4} KiB`);
  d.maxPages = pages;
}
