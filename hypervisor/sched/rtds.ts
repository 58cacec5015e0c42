// Xen's RTDS scheduler (xen/common/sched/rt.c), reimplemented from what its sources do (no
// code taken): global preemptive EDF over deferrable servers.
//
// - Each vCPU has a budget and a period (xl sched-rtds -b -p, microseconds; Xen's defaults
//   4 ms every 10 ms). Its deadline is the end of its current period; at the deadline its
//   budget is refilled and the next period begins (rt_update_deadline).
// - One run queue for the machine, ordered by priority level, then earliest deadline; every
//   pCPU runs the highest-priority vCPU it may (global EDF). A vCPU that wakes or is
//   replenished preempts the lowest-priority running vCPU if it beats it.
// - Running burns budget 1:1. A vCPU out of budget waits for its next period (depleted),
//   unless it has extratime: then it goes on at the next priority level down with a fresh
//   budget, running only in time no vCPU of a higher level wants.
// - A blocked vCPU's period does not run on: when it wakes after its deadline it starts a
//   new period with a full budget.
// - Deadline misses (pvsim's count; Xen keeps none): a period that ends while the vCPU
//   wanted to run and had not yet received its budget. Reported per vCPU
//   (Vcpu.deadlineMisses) and in a scenario's report.

import type { Vcpu } from '../domain/domain.ts';
import type { TimedEvent } from '../time/event_queue.ts';
import type { SchedDecision, SchedHost, Scheduler } from './scheduler.ts';
import { hardCpus, mayRunOn, softCpus } from './affinity.ts';

interface RtVcpu {
  vcpu: Vcpu;
  deadline: number;
  budget: number;
  level: number;
  depleted: boolean;
  queued: boolean;
  lastStart: number;
  repl: TimedEvent | null;
}

/** a before b: lower level, then earlier deadline. */
function higher(a: RtVcpu, b: RtVcpu): boolean {
  return a.level < b.level || (a.level === b.level && a.deadline < b.deadline);
}

export class RtdsScheduler implements Scheduler {
  readonly name = 'rtds';
  readonly schedId = 8; // XEN_SCHEDULER_RTDS
  private host!: SchedHost;
  private runq: RtVcpu[] = [];
  private readonly svcs = new Map<Vcpu, RtVcpu>();
  private inserted = 0;

  init(host: SchedHost): void {
    this.host = host;
  }

  inspect(v: Vcpu): { deadline: number; budget: number; level: number; depleted: boolean } | undefined {
    const s = this.svcs.get(v);
    return s && { deadline: s.deadline, budget: s.budget, level: s.level, depleted: s.depleted };
  }

  insertVcpu(v: Vcpu, now: number): void {
    const where = softCpus(v, this.host.cpus) ?? hardCpus(v, this.host.cpus);
    v.pcpu = where[this.inserted++ % where.length]!;
    const s: RtVcpu = { vcpu: v, deadline: 0, budget: 0, level: 0, depleted: false, queued: false, lastStart: now, repl: null };
    this.svcs.set(v, s);
    this.newPeriod(s, now);
  }

  removeVcpu(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (!s) return;
    this.dequeue(s);
    this.host.cancel(s.repl);
    this.svcs.delete(v);
  }

  wake(v: Vcpu, now: number): void {
    const s = this.svcs.get(v);
    if (!s || s.queued || this.isRunning(v)) return;
    if (now >= s.deadline) this.newPeriod(s, now);
    this.armRepl(s);
    if (s.depleted) return; // back at its next period
    this.insertRunq(s);
    this.tickle(s);
  }

  sleep(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (!s) return;
    this.dequeue(s);
    this.host.cancel(s.repl);
    s.repl = null;
  }

  paramsChanged(v: Vcpu, now: number): void {
    const s = this.svcs.get(v);
    if (!s) return;
    // As Xen: new parameters take effect with a new period from now.
    s.deadline = 0;
    this.newPeriod(s, now);
    if (s.repl) this.armRepl(s);
    if (s.queued) {
      this.dequeue(s);
      this.insertRunq(s);
    }
  }

  /** RTDS has one global runqueue. */
  runqLength(_cpu: number): number {
    return this.runq.length;
  }

  schedule(cpu: number, now: number, prev: Vcpu | null, prevRunnable: boolean): SchedDecision {
    const sp = prev ? this.svcs.get(prev) : undefined;
    if (sp) {
      this.burn(sp, now);
      if (!prevRunnable) {
        this.host.cancel(sp.repl);
        sp.repl = null;
      } else if (!sp.depleted) this.insertRunq(sp);
    }
    const n = this.host.cpus;
    const next = this.runq.find((s) => mayRunOn(s.vcpu, cpu, n));
    if (!next) return { next: null, sliceNs: 10_000_000 };
    this.dequeue(next);
    next.vcpu.pcpu = cpu;
    next.lastStart = now;
    return { next: next.vcpu, sliceNs: Math.max(1000, Math.min(next.budget, next.deadline - now)) };
  }

  private burn(s: RtVcpu, now: number): void {
    const delta = now - s.lastStart;
    if (delta <= 0) return;
    s.budget -= delta;
    s.lastStart = now;
    if (s.budget <= 0) {
      if (s.vcpu.rtds.extratime) {
        s.level++;
        s.budget = s.vcpu.rtds.budgetUs * 1000;
      } else {
        s.budget = 0;
        s.depleted = true;
      }
    }
  }

  /** rt_update_deadline: the period containing `now` ends; a full budget at level 0. */
  private newPeriod(s: RtVcpu, now: number): void {
    const period = s.vcpu.rtds.periodUs * 1000;
    if (s.deadline <= now) s.deadline += (Math.floor((now - s.deadline) / period) + 1) * period;
    if (s.deadline - now > period) s.deadline = now + period;
    s.budget = s.vcpu.rtds.budgetUs * 1000;
    s.level = 0;
    s.depleted = false;
    s.lastStart = now;
  }

  private armRepl(s: RtVcpu): void {
    this.host.cancel(s.repl);
    const when = s.deadline;
    s.repl = this.host.timer(when, () => this.replenish(s, when));
  }

  /** The deadline is reached: count a miss if it wanted its budget, then a new period. */
  private replenish(s: RtVcpu, now: number): void {
    s.repl = null;
    if (!this.svcs.has(s.vcpu)) return;
    const running = this.isRunning(s.vcpu);
    if (running) this.burn(s, now);
    if (s.level === 0 && !s.depleted && s.budget > 0) s.vcpu.deadlineMisses++;
    this.newPeriod(s, now);
    this.armRepl(s);
    if (running) {
      this.host.tickle(s.vcpu.pcpu);
      return;
    }
    if (s.queued) this.dequeue(s);
    if (s.vcpu.runstate === 'runnable') {
      this.insertRunq(s);
      this.tickle(s);
    }
  }

  private insertRunq(s: RtVcpu): void {
    if (s.queued) return;
    let i = 0;
    while (i < this.runq.length && !higher(s, this.runq[i]!)) i++;
    this.runq.splice(i, 0, s);
    s.queued = true;
  }

  private dequeue(s: RtVcpu): void {
    if (!s.queued) return;
    this.runq.splice(this.runq.indexOf(s), 1);
    s.queued = false;
  }

  /** runq_tickle: an idle pCPU it may use (soft-affine first), else the lowest-priority one it beats. */
  private tickle(s: RtVcpu): void {
    const n = this.host.cpus;
    const v = s.vcpu;
    const idle = (c: number) => this.host.current(c) === null;
    if (mayRunOn(v, v.pcpu, n) && idle(v.pcpu)) {
      this.host.tickle(v.pcpu);
      return;
    }
    for (const set of [softCpus(v, n), hardCpus(v, n)]) {
      const c = set?.find(idle);
      if (c !== undefined) {
        this.host.tickle(c);
        return;
      }
    }
    let worst: RtVcpu | undefined;
    for (const c of hardCpus(v, n)) {
      const cur = this.svcs.get(this.host.current(c)!);
      if (cur && (!worst || higher(worst, cur))) worst = cur;
    }
    if (worst && higher(s, worst)) this.host.tickle(worst.vcpu.pcpu);
  }

  private isRunning(v: Vcpu): boolean {
    return this.host.current(v.pcpu) === v;
  }
}
