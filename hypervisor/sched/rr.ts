// Round-robin: the baseline. One FIFO per pCPU, a fixed slice, no weights, no caps,
// no boost; an idle pCPU takes work from the longest queue. Hard affinity is kept.

import type { Vcpu } from '../domain/domain.ts';
import type { SchedDecision, SchedHost, Scheduler } from './scheduler.ts';
import { hardCpus, mayRunOn, ringFrom } from './affinity.ts';

export class RoundRobinScheduler implements Scheduler {
  readonly name = 'rr';
  readonly schedId = 0x7f; // not a Xen scheduler
  private host!: SchedHost;
  private queues: Vcpu[][] = [];

  constructor(readonly sliceNs = 30_000_000) {}

  init(host: SchedHost): void {
    this.host = host;
    this.queues = Array.from({ length: host.nrPcpus }, () => []);
  }

  insertVcpu(v: Vcpu): void {
    const cpus = this.host.cpus;
    const hard = hardCpus(v, cpus);
    const home = cpus[v.vcpuId % cpus.length]!;
    v.pcpu = hard.includes(home) ? home : hard[0]!;
  }

  removeVcpu(v: Vcpu): void {
    this.dequeue(v);
  }

  wake(v: Vcpu): void {
    if (this.queues.some((q) => q.includes(v))) return;
    // Prefer an idle pCPU, starting with the one it last ran on.
    const n = this.host.cpus;
    // Where it last ran may be outside its pool (moved by cpupool-migrate): then its first pCPU.
    if (!mayRunOn(v, v.pcpu, n)) v.pcpu = hardCpus(v, n)[0]!;
    for (const cpu of ringFrom(n, v.pcpu, true)) {
      if (mayRunOn(v, cpu, n) && this.host.current(cpu) === null && this.queues[cpu]!.length === 0) {
        v.pcpu = cpu;
        break;
      }
    }
    this.queues[v.pcpu]!.push(v);
    if (this.host.current(v.pcpu) === null) this.host.tickle(v.pcpu);
  }

  sleep(v: Vcpu): void {
    this.dequeue(v);
  }

  runqLength(cpu: number): number {
    return this.queues[cpu]?.length ?? 0;
  }

  schedule(cpu: number, _now: number, prev: Vcpu | null, prevRunnable: boolean): SchedDecision {
    const q = this.queues[cpu]!;
    if (prev && prevRunnable) q.push(prev);
    let next = q.shift() ?? null;
    if (!next) {
      let longest = -1;
      const n = this.host.cpus;
      const movable = (i: number) => this.queues[i]!.filter((v) => mayRunOn(v, cpu, n)).length;
      for (let i = 0; i < this.queues.length; i++) {
        if (i !== cpu && movable(i) > (longest < 0 ? 0 : movable(longest))) longest = i;
      }
      if (longest >= 0) {
        const lq = this.queues[longest]!;
        const k = lq.findIndex((v) => mayRunOn(v, cpu, n));
        next = lq.splice(k, 1)[0] ?? null;
      }
    }
    if (next) next.pcpu = cpu;
    return { next, sliceNs: this.sliceNs };
  }

  private dequeue(v: Vcpu): void {
    for (const q of this.queues) {
      const i = q.indexOf(v);
      if (i >= 0) q.splice(i, 1);
    }
  }
}
