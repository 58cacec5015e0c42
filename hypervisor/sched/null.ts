// Xen's null scheduler (xen/common/sched/null.c), reimplemented from what its sources do (no
// code taken): each vCPU is assigned one pCPU of its own and runs there whenever it is
// runnable; no time slicing, no migration. A vCPU that finds every pCPU it may use taken
// waits in a FIFO (the waitqueue) until one is freed (a vCPU leaves), then takes it. A
// blocked vCPU keeps its pCPU, which idles meanwhile.

import type { Vcpu } from '../domain/domain.ts';
import type { SchedDecision, SchedHost, Scheduler } from './scheduler.ts';
import { hardCpus, mayRunOn, softCpus } from './affinity.ts';

/** How long an assigned vCPU runs before the pCPU looks again (nothing preempts it). */
const NULL_SLICE_NS = 1_000_000_000;

export class NullScheduler implements Scheduler {
  readonly name = 'null';
  readonly schedId = 9; // XEN_SCHEDULER_NULL
  private host!: SchedHost;
  /** The vCPU each pCPU is assigned (null: free). */
  private assigned: (Vcpu | null)[] = [];
  /** vCPUs with no pCPU, in arrival order. */
  readonly waitq: Vcpu[] = [];

  init(host: SchedHost): void {
    this.host = host;
    this.assigned = Array.from({ length: host.nrPcpus }, () => null);
  }

  /** The pCPU `v` holds, or -1 while it waits. */
  assignment(v: Vcpu): number {
    return this.assigned.indexOf(v);
  }

  insertVcpu(v: Vcpu): void {
    const cpu = this.pickFree(v);
    if (cpu < 0) {
      this.waitq.push(v);
      return;
    }
    this.assign(v, cpu);
  }

  removeVcpu(v: Vcpu): void {
    const w = this.waitq.indexOf(v);
    if (w >= 0) this.waitq.splice(w, 1);
    const cpu = this.assigned.indexOf(v);
    if (cpu < 0) return;
    this.assigned[cpu] = null;
    this.host.tickle(cpu);
    // The first waiter that may run there takes the pCPU.
    const i = this.waitq.findIndex((o) => mayRunOn(o, cpu, this.host.cpus));
    if (i >= 0) this.assign(this.waitq.splice(i, 1)[0]!, cpu);
  }

  wake(v: Vcpu): void {
    const cpu = this.assigned.indexOf(v);
    if (cpu >= 0 && this.host.current(cpu) !== v) this.host.tickle(cpu);
  }

  sleep(): void {
    // Nothing queued to take it out of: its pCPU idles while it cannot run.
  }

  paramsChanged(v: Vcpu): void {
    // A new hard affinity that excludes its pCPU: it gives it up and is placed again.
    const cpu = this.assigned.indexOf(v);
    if (cpu >= 0 && !mayRunOn(v, cpu, this.host.cpus)) {
      this.removeVcpu(v);
      this.insertVcpu(v);
    }
  }

  schedule(cpu: number, _now: number, _prev: Vcpu | null, _prevRunnable: boolean): SchedDecision {
    const v = this.assigned[cpu] ?? null;
    const next = v && v.online && !v.blocked && v.domain.state === 'running' ? v : null;
    return { next, sliceNs: NULL_SLICE_NS };
  }

  private assign(v: Vcpu, cpu: number): void {
    this.assigned[cpu] = v;
    v.pcpu = cpu;
    this.host.tickle(cpu);
  }

  /** A free pCPU it may use, soft-affine first, its current one first. */
  private pickFree(v: Vcpu): number {
    const n = this.host.cpus;
    for (const set of [softCpus(v, n), hardCpus(v, n)]) {
      if (!set) continue;
      if (set.includes(v.pcpu) && this.assigned[v.pcpu] === null) return v.pcpu;
      const c = set.find((x) => this.assigned[x] === null);
      if (c !== undefined) return c;
    }
    return -1;
  }
}
