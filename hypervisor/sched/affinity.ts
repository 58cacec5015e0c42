// Hard and soft affinity as every policy reads them (Xen's affinity_balance_cpumask): a vCPU
// runs only on its hard affinity; among those pCPUs it prefers its soft affinity, when the
// two meet (a soft affinity outside the hard one is no preference at all).

import type { Vcpu } from '../domain/domain.ts';

/** The pCPUs `v` may run on, ascending. */
export function hardCpus(v: Vcpu, nrPcpus: number): readonly number[] {
  const h = v.domain.sched.hardAffinity;
  const all = Array.from({ length: nrPcpus }, (_, i) => i);
  if (h === null) return all;
  const valid = h.filter((c) => c < nrPcpus);
  // A mask naming no pCPU of this machine would strand the vCPU: Xen refuses such a mask;
  // the toolstack checks it too (validate.ts), so this only guards direct callers.
  return valid.length > 0 ? valid : all;
}

/** The pCPUs `v` prefers (soft within hard), or null when it has no useful soft affinity. */
export function softCpus(v: Vcpu, nrPcpus: number): readonly number[] | null {
  const s = v.domain.sched.softAffinity;
  if (s === null) return null;
  const hard = hardCpus(v, nrPcpus);
  const both = hard.filter((c) => s.includes(c));
  return both.length > 0 && both.length < hard.length ? both : null;
}

export function mayRunOn(v: Vcpu, cpu: number, nrPcpus: number): boolean {
  const h = v.domain.sched.hardAffinity;
  return h === null || !h.some((c) => c < nrPcpus) || h.includes(cpu);
}
