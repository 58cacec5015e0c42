// Xen's credit scheduler (credit1, xen/common/sched/credit.c), reimplemented from its
// documented behaviour:
//
// - Every 30 ms (the accounting period) credit is shared out among *active* domains in
//   proportion to their weight; a cap limits a domain to cap% of one pCPU per period.
//   Running burns credit at 10 credits per ms of pCPU time.
// - Priorities: BOOST (a vCPU woken with credit left preempts), UNDER (credit > 0),
//   OVER (credit spent), and the idle vCPU. One runqueue per pCPU, sorted by priority,
//   FIFO within a priority.
// - A 10 ms tick burns the running vCPU's credit, ends its BOOST and marks it active; a
//   vCPU whose credit climbs past one timeslice's worth stops earning (leaves the active
//   set) until it is seen running again, so mostly idle domains do not hoard credit.
// - A capped vCPU that overdraws by more than its cap is parked (not run) until its
//   credit is positive again.
// - Timeslice 30 ms; ratelimit 1 ms (a vCPU runs at least that long before preemption,
//   unless it blocks or yields).
// - A pCPU whose best local work is OVER (or none) steals UNDER/BOOST work from others.

import type { Vcpu } from '../domain/domain.ts';
import type { SchedDecision, SchedHost, Scheduler } from './scheduler.ts';

export const CREDIT = {
  tickNs: 10_000_000,
  ticksPerTslice: 3,
  ticksPerAcct: 3,
  creditsPerMsec: 10,
  ratelimitNs: 1_000_000,
  defaultWeight: 256,
} as const;

const TSLICE_NS = CREDIT.tickNs * CREDIT.ticksPerTslice;
const ACCT_NS = CREDIT.tickNs * CREDIT.ticksPerAcct;
const CREDITS_PER_TSLICE = (CREDIT.creditsPerMsec * TSLICE_NS) / 1_000_000;

export const PRI = { BOOST: 0, UNDER: -1, OVER: -2 } as const;

interface CreditVcpu {
  vcpu: Vcpu;
  credit: number;
  pri: number;
  active: boolean;
  parked: boolean;
  queued: boolean;
  /** When it was last given a pCPU (for the ratelimit). */
  runStart: number;
  /** Up to when its credit has been burnt. */
  start: number;
  /** Credit is burnt in whole credits; the remainder in ns carries over. */
  burnRemainderNs: number;
}

export class CreditScheduler implements Scheduler {
  readonly name = 'credit';
  readonly schedId = 5; // XEN_SCHEDULER_CREDIT
  private host!: SchedHost;
  private runq: CreditVcpu[][] = [];
  private readonly svcs = new Map<Vcpu, CreditVcpu>();

  init(host: SchedHost, now: number): void {
    this.host = host;
    this.runq = Array.from({ length: host.nrPcpus }, () => []);
    for (let cpu = 0; cpu < host.nrPcpus; cpu++) this.armTick(cpu, now + CREDIT.tickNs);
    this.armAcct(now + ACCT_NS);
  }

  insertVcpu(v: Vcpu, now: number): void {
    v.pcpu = this.svcs.size % this.host.nrPcpus;
    this.svcs.set(v, { vcpu: v, credit: 0, pri: PRI.UNDER, active: false, parked: false, queued: false, runStart: now, start: now, burnRemainderNs: 0 });
  }

  removeVcpu(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (s) this.dequeue(s);
    this.svcs.delete(v);
  }

  /** Credit and priority of a vCPU, for tests and `xl sched-credit`-like views. */
  inspect(v: Vcpu): { credit: number; pri: number; active: boolean; parked: boolean } | undefined {
    const s = this.svcs.get(v);
    return s && { credit: s.credit, pri: s.pri, active: s.active, parked: s.parked };
  }

  wake(v: Vcpu, _now: number): void {
    const s = this.svcs.get(v);
    if (!s || s.queued || this.isRunning(v)) return;
    // A vCPU waking with credit left is boosted so it preempts CPU hogs (I/O latency).
    if (s.pri === PRI.UNDER && !s.parked) s.pri = PRI.BOOST;
    // Xen only marks a vCPU active when a tick finds it running, so a vCPU that runs in
    // short bursts is rarely sampled, drifts below zero on residual burns and loses its
    // boost. pvsim also activates on wake-up: such a vCPU then earns its weighted share,
    // stays UNDER, and keeps the BOOST that credit1 means it to have (docs/scheduling.md).
    s.active = true;
    if (s.parked) return; // runs again once accounting unparks it
    const cpu = this.pickCpu(v);
    v.pcpu = cpu;
    this.enqueue(cpu, s);
    const cur = this.host.current(cpu);
    const curPri = cur ? (this.svcs.get(cur)?.pri ?? PRI.OVER) : -Infinity;
    if (s.pri > curPri) this.host.tickle(cpu);
  }

  sleep(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (s) this.dequeue(s);
  }

  schedule(cpu: number, now: number, prev: Vcpu | null, prevRunnable: boolean, yielded: boolean): SchedDecision {
    const sp = prev ? this.svcs.get(prev) : undefined;
    if (sp) {
      this.burn(sp, now);
      const ran = now - sp.runStart;
      if (prevRunnable && !yielded && !sp.parked && ran < CREDIT.ratelimitNs) {
        return { next: prev, sliceNs: CREDIT.ratelimitNs - ran };
      }
      if (prevRunnable && !sp.parked) this.enqueue(cpu, sp, yielded);
    }
    const q = this.runq[cpu]!;
    let snext = q[0];
    if (!snext || snext.pri < PRI.UNDER) {
      const stolen = this.steal(cpu, snext ? snext.pri : -Infinity);
      if (stolen) snext = stolen;
    }
    if (!snext) return { next: null, sliceNs: TSLICE_NS };
    this.dequeue(snext);
    snext.vcpu.pcpu = cpu;
    snext.start = now;
    snext.runStart = now;
    return { next: snext.vcpu, sliceNs: TSLICE_NS };
  }

  // --- credit accounting ---------------------------------------------------------------

  private burn(s: CreditVcpu, now: number): void {
    const ns = now - s.start + s.burnRemainderNs;
    if (ns <= 0) return;
    const credits = Math.floor((ns * CREDIT.creditsPerMsec) / 1_000_000);
    s.burnRemainderNs = ns - (credits * 1_000_000) / CREDIT.creditsPerMsec;
    s.credit -= credits;
    s.start = now;
    if (s.credit < 0 && s.pri !== PRI.OVER) s.pri = PRI.OVER;
  }

  private armTick(cpu: number, when: number): void {
    this.host.timer(when, () => {
      this.tick(cpu, when);
      this.armTick(cpu, when + CREDIT.tickNs);
    });
  }

  private tick(cpu: number, now: number): void {
    const cur = this.host.current(cpu);
    const s = cur ? this.svcs.get(cur) : undefined;
    if (!s) return;
    this.burn(s, now);
    // Running through a whole tick: no longer an I/O-bound waker.
    if (s.pri === PRI.BOOST) s.pri = PRI.UNDER;
    s.active = true;
    const head = this.runq[cpu]![0];
    if ((head && head.pri > s.pri) || s.parked) this.host.tickle(cpu);
  }

  private armAcct(when: number): void {
    this.host.timer(when, () => {
      this.account(when);
      this.armAcct(when + ACCT_NS);
    });
  }

  private account(now: number): void {
    // Bring running vCPUs' credit up to date first.
    for (let cpu = 0; cpu < this.host.nrPcpus; cpu++) {
      const cur = this.host.current(cpu);
      const s = cur ? this.svcs.get(cur) : undefined;
      if (s) this.burn(s, now);
    }
    const byDomain = new Map<Vcpu['domain'], CreditVcpu[]>();
    for (const s of this.svcs.values()) {
      if (!s.active) continue;
      const list = byDomain.get(s.vcpu.domain);
      if (list) list.push(s);
      else byDomain.set(s.vcpu.domain, [s]);
    }
    let weightTotal = 0;
    for (const [d, list] of byDomain) weightTotal += d.sched.weight * list.length;
    if (weightTotal === 0) return;
    const creditTotal = CREDITS_PER_TSLICE * this.host.nrPcpus;
    for (const [d, list] of byDomain) {
      const n = list.length;
      // A domain never earns more than its vCPUs could burn in a period (credit_peak),
      // nor more than its cap.
      let peak = n * CREDITS_PER_TSLICE;
      let capPerVcpu = Infinity;
      if (d.sched.cap > 0) {
        const cap = Math.ceil((d.sched.cap * CREDITS_PER_TSLICE) / 100);
        peak = Math.min(peak, cap);
        capPerVcpu = Math.ceil(cap / n);
      }
      const fair = Math.min(Math.ceil((creditTotal * d.sched.weight * n) / weightTotal), peak);
      const share = Math.ceil(fair / n);
      for (const s of list) {
        let credit = s.credit + share;
        if (credit < 0) {
          s.pri = PRI.OVER;
          if (d.sched.cap > 0 && credit < -capPerVcpu && !s.parked) {
            s.parked = true;
            this.dequeue(s);
            if (this.isRunning(s.vcpu)) this.host.tickle(s.vcpu.pcpu);
          }
          credit = Math.max(credit, -CREDITS_PER_TSLICE);
        } else {
          s.pri = PRI.UNDER;
          if (s.parked) {
            s.parked = false;
            if (this.isRunnableIdle(s.vcpu)) this.wakeQueued(s);
          }
          if (credit > CREDITS_PER_TSLICE) {
            // Upper bound: it stops earning until seen running again, keeping half.
            s.active = false;
            credit = Math.floor(credit / 2);
          }
        }
        s.credit = credit;
      }
    }
    // Re-sort queues: priorities changed.
    for (let cpu = 0; cpu < this.runq.length; cpu++) {
      const q = this.runq[cpu]!;
      q.sort((a, b) => b.pri - a.pri);
      const cur = this.host.current(cpu);
      const cs = cur ? this.svcs.get(cur) : undefined;
      if (q[0] && (!cs || q[0].pri > cs.pri)) this.host.tickle(cpu);
    }
  }

  // --- runqueues -------------------------------------------------------------------------

  /** Inserts after every entry of equal or higher priority (after lower ones too, if yielding). */
  private enqueue(cpu: number, s: CreditVcpu, yielded = false): void {
    if (s.queued) this.dequeue(s);
    const q = this.runq[cpu]!;
    let i = 0;
    while (i < q.length && q[i]!.pri >= s.pri) i++;
    // Xen: a yielding vCPU goes behind one lower-priority unit if there is one.
    if (yielded && i < q.length) i++;
    q.splice(i, 0, s);
    s.queued = true;
    s.vcpu.pcpu = cpu;
  }

  private dequeue(s: CreditVcpu): void {
    if (!s.queued) return;
    for (const q of this.runq) {
      const i = q.indexOf(s);
      if (i >= 0) {
        q.splice(i, 1);
        break;
      }
    }
    s.queued = false;
  }

  /** Takes the best queued vCPU on another pCPU with priority above `than`. */
  private steal(cpu: number, than: number): CreditVcpu | undefined {
    let best: CreditVcpu | undefined;
    const n = this.host.nrPcpus;
    for (let i = 1; i < n; i++) {
      const other = (cpu + i) % n;
      const head = this.runq[other]![0];
      if (head && head.pri > than && head.pri >= PRI.UNDER && (!best || head.pri > best.pri)) best = head;
    }
    return best;
  }

  private pickCpu(v: Vcpu): number {
    const n = this.host.nrPcpus;
    if (this.host.current(v.pcpu) === null && this.runq[v.pcpu]!.length === 0) return v.pcpu;
    for (let i = 1; i < n; i++) {
      const cpu = (v.pcpu + i) % n;
      if (this.host.current(cpu) === null && this.runq[cpu]!.length === 0) return cpu;
    }
    return v.pcpu;
  }

  private isRunning(v: Vcpu): boolean {
    return this.host.current(v.pcpu) === v;
  }

  private isRunnableIdle(v: Vcpu): boolean {
    return v.runstate === 'runnable' && !this.isRunning(v);
  }

  private wakeQueued(s: CreditVcpu): void {
    const cpu = this.pickCpu(s.vcpu);
    this.enqueue(cpu, s);
    this.host.tickle(cpu);
  }
}
