// Hard and soft affinity as every policy reads them (Xen's affinity_balance_cpumask): a vCPU
// runs only on its hard affinity; among those pCPUs it prefers its soft affinity, when the
// two meet (a soft affinity outside the hard one is no preference at all). `cpus` are the
// pCPUs of the policy's cpupool (all of them without cpupools): a vCPU runs only there, and
// a hard affinity naming none of them counts as all of them (Xen resets the affinity of a
// domain moved to a pool it has none in).

import type { Vcpu } from '../domain/domain.ts';

/** The pCPUs `v` may run on, ascending. */
export function hardCpus(v: Vcpu, cpus: readonly number[]): readonly number[] {
  const h = v.domain.sched.hardAffinity;
  if (h === null) return cpus;
  const valid = cpus.filter((c) => h.includes(c));
  // A mask naming no pCPU of the pool would strand the vCPU: Xen refuses such a mask;
  // the toolstack checks it too (validate.ts), so this only guards direct callers.
  return valid.length > 0 ? valid : cpus;
}

/** The pCPUs `v` prefers (soft within hard), or null when it has no useful soft affinity. */
export function softCpus(v: Vcpu, cpus: readonly number[]): readonly number[] | null {
  const s = v.domain.sched.softAffinity;
  if (s === null) return null;
  const hard = hardCpus(v, cpus);
  const both = hard.filter((c) => s.includes(c));
  return both.length > 0 && both.length < hard.length ? both : null;
}

export function mayRunOn(v: Vcpu, cpu: number, cpus: readonly number[]): boolean {
  if (!cpus.includes(cpu)) return false;
  const h = v.domain.sched.hardAffinity;
  return h === null || h.includes(cpu) || !cpus.some((c) => h.includes(c));
}

/**
 * The pool's pCPUs in ring order after `from` (from itself excluded, or first when
 * `withFrom`): what `(from + i) % n` gives on a machine of n pCPUs in one pool.
 */
export function ringFrom(cpus: readonly number[], from: number, withFrom = false): number[] {
  let k = cpus.findIndex((c) => c > from);
  if (k < 0) k = 0;
  const out: number[] = [];
  for (let i = 0; i < cpus.length; i++) {
    const c = cpus[(k + i) % cpus.length]!;
    if (c !== from) out.push(c);
  }
  return withFrom && cpus.includes(from) ? [from, ...out] : out;
}
