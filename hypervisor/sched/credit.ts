// Xen's credit scheduler (credit1, xen/common/sched/credit.c), reimplemented from what its
// sources do (no code taken):
//
// - Every accounting period (one timeslice, 30 ms) credit is shared out among *active*
//   domains in proportion to their weight (csched_acct). A domain never earns more than its
//   active vCPUs can burn in a period (one pCPU each) nor more than its cap; what it cannot
//   use goes back into the pot for the domains after it, so weights divide what is left.
//   When the machine overspent (the credit balance is negative) the pot grows to repay it.
// - Running burns 10 credits per ms. Priorities change only at accounting: UNDER with credit
//   left, OVER without; a vCPU waking while UNDER is BOOSTed until a tick finds it running.
// - A vCPU becomes active (earns credit) when a 10 ms tick finds it running
//   (csched_unit_acct). One whose credit climbs past a timeslice's worth leaves the active
//   set keeping half: a mostly idle vCPU stops earning until a tick sees it run again.
//   `sched_credit_wake_active` (pvsim's own option) also activates a vCPU when it wakes.
// - A capped vCPU that overdraws by more than its share of the cap is parked (not run)
//   until accounting brings its credit back to zero or above.
// - One runqueue per pCPU, by priority, FIFO within one. Ratelimit: a vCPU runs at least
//   sched_ratelimit_us (1 ms) before preemption unless it blocks or yields.
// - Load balancing (csched_load_balance): a pCPU whose best local work is OVER, or that has
//   none, steals the first queued vCPU of strictly higher priority from a busy peer, soft-
//   affine work first, then hard-affine; at most once per load-balance-ratelimit (1 ms).

import type { Domain, Vcpu } from '../domain/domain.ts';
import type { SchedDecision, SchedHost, Scheduler } from './scheduler.ts';
import { DEFAULT_SCHED_OPTIONS, type SchedOptions } from './options.ts';
import { hardCpus, mayRunOn, ringFrom, softCpus } from './affinity.ts';

export const CREDIT = {
  ticksPerTslice: 3,
  creditsPerMsec: 10,
  /** CSCHED_MIN_TIMER (XEN_SYSCTL_SCHED_RATELIMIT_MIN): 100 us. */
  minTimerNs: 100_000,
  defaultWeight: 256,
} as const;

export const PRI = { BOOST: 0, UNDER: -1, OVER: -2, IDLE: -64 } as const;

interface CreditVcpu {
  vcpu: Vcpu;
  credit: number;
  pri: number;
  active: boolean;
  parked: boolean;
  queued: boolean;
  /** Queued after SCHEDOP_yield (Xen's CSCHED_FLAG_UNIT_YIELD): not stolen, behind one lower. */
  yielding: boolean;
  /** When it was last given a pCPU (for the ratelimit). */
  runStart: number;
  /** Up to when its credit has been burnt. */
  start: number;
  /** Credit is burnt in whole credits; the remainder (ns x credits/ms) carries over. */
  residual: number;
}

export class CreditScheduler implements Scheduler {
  readonly name = 'credit';
  readonly schedId = 5; // XEN_SCHEDULER_CREDIT
  readonly tickNs: number;
  readonly tsliceNs: number;
  readonly creditsPerTslice: number;
  private host!: SchedHost;
  private runq: CreditVcpu[][] = [];
  private readonly svcs = new Map<Vcpu, CreditVcpu>();
  /** Active domains in Xen's list order (domains with spare credit move to the head). */
  private activeDoms: Domain[] = [];
  private readonly activeVcpus = new Map<Domain, CreditVcpu[]>();
  /** Sum of the credit left over by the last accounting (prv->credit_balance). */
  private creditBalance = 0;
  private lastLoadBalance: number[] = [];
  private inserted = 0;

  constructor(readonly opts: SchedOptions = DEFAULT_SCHED_OPTIONS) {
    this.tsliceNs = opts.creditTsliceMs * 1_000_000;
    this.tickNs = this.tsliceNs / CREDIT.ticksPerTslice;
    this.creditsPerTslice = CREDIT.creditsPerMsec * opts.creditTsliceMs;
  }

  init(host: SchedHost, now: number): void {
    this.host = host;
    this.runq = Array.from({ length: host.nrPcpus }, () => []);
    this.lastLoadBalance = Array.from({ length: host.nrPcpus }, () => -Infinity);
    for (const cpu of host.cpus) this.armTick(cpu, now + this.tickNs);
    this.armAcct(now + this.tsliceNs);
  }

  insertVcpu(v: Vcpu, now: number): void {
    const where = softCpus(v, this.host.cpus) ?? hardCpus(v, this.host.cpus);
    v.pcpu = where[this.inserted++ % where.length]!;
    this.svcs.set(v, { vcpu: v, credit: 0, pri: PRI.UNDER, active: false, parked: false, queued: false, yielding: false, runStart: now, start: now, residual: 0 });
  }

  removeVcpu(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (!s) return;
    this.dequeue(s);
    this.acctStop(s);
    this.svcs.delete(v);
  }

  /** Credit and priority of a vCPU, for tests and `xl sched-credit`-like views. */
  inspect(v: Vcpu): { credit: number; pri: number; active: boolean; parked: boolean } | undefined {
    const s = this.svcs.get(v);
    return s && { credit: s.credit, pri: s.pri, active: s.active, parked: s.parked };
  }

  runqLength(cpu: number): number {
    return this.runq[cpu]?.length ?? 0;
  }

  creditOf(v: Vcpu): number | undefined {
    return this.svcs.get(v)?.credit;
  }

  wake(v: Vcpu, _now: number): void {
    const s = this.svcs.get(v);
    if (!s || s.queued || this.isRunning(v)) return;
    if (this.opts.creditWakeActive) this.acctStart(s);
    // A vCPU waking with credit left is boosted so it preempts CPU hogs (I/O latency); a
    // parked one is not (it wakes when accounting unparks it).
    if (s.pri === PRI.UNDER && !s.parked && this.opts.creditBoost) s.pri = PRI.BOOST;
    if (s.parked) return;
    this.queueAndTickle(s);
  }

  sleep(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (s) this.dequeue(s);
  }

  paramsChanged(v: Vcpu): void {
    // Weight and cap are read at each accounting; a new hard affinity moves a queued vCPU.
    const s = this.svcs.get(v);
    if (s?.queued && !mayRunOn(v, v.pcpu, this.host.cpus)) {
      this.dequeue(s);
      this.queueAndTickle(s);
    }
  }

  schedule(cpu: number, now: number, prev: Vcpu | null, prevRunnable: boolean, yielded: boolean): SchedDecision {
    const sp = prev ? this.svcs.get(prev) : undefined;
    if (sp) {
      this.burn(sp, now);
      const ran = now - sp.runStart;
      const ratelimit = this.opts.ratelimitUs * 1000;
      const stay = prevRunnable && !sp.parked && mayRunOn(sp.vcpu, cpu, this.host.cpus);
      if (stay && !yielded && ratelimit > 0 && ran < ratelimit) {
        return { next: prev, sliceNs: ran < CREDIT.minTimerNs ? CREDIT.minTimerNs : ratelimit - ran };
      }
      if (stay) this.enqueue(cpu, sp, yielded);
    }
    const q = this.runq[cpu]!;
    let snext: CreditVcpu | undefined = q[0];
    const pri = snext ? snext.pri : PRI.IDLE;
    const lbRatelimit = this.opts.loadBalanceRatelimitUs * 1000;
    if (pri <= PRI.OVER && now - this.lastLoadBalance[cpu]! > lbRatelimit) {
      this.lastLoadBalance[cpu] = now;
      const stolen = this.loadBalance(cpu, pri);
      if (stolen) snext = stolen;
    }
    if (!snext) return { next: null, sliceNs: this.tsliceNs };
    this.dequeue(snext);
    snext.vcpu.pcpu = cpu;
    snext.start = now;
    snext.runStart = now;
    return { next: snext.vcpu, sliceNs: this.tsliceNs };
  }

  // --- credit accounting ---------------------------------------------------------------

  private burn(s: CreditVcpu, now: number): void {
    if (now <= s.start) return;
    // Whole credits from ns x credits-per-ms, the remainder kept (burn_credits).
    const val = (now - s.start) * CREDIT.creditsPerMsec + s.residual;
    const credits = Math.floor(val / 1_000_000);
    s.residual = val - credits * 1_000_000;
    s.credit -= credits;
    s.start = now;
  }

  private acctStart(s: CreditVcpu): void {
    if (s.active) return;
    s.active = true;
    const d = s.vcpu.domain;
    const list = this.activeVcpus.get(d);
    if (list) list.unshift(s);
    else {
      this.activeVcpus.set(d, [s]);
      this.activeDoms.unshift(d);
    }
  }

  private acctStop(s: CreditVcpu): void {
    if (!s.active) return;
    s.active = false;
    const d = s.vcpu.domain;
    const list = this.activeVcpus.get(d)!;
    list.splice(list.indexOf(s), 1);
    if (list.length === 0) {
      this.activeVcpus.delete(d);
      this.activeDoms.splice(this.activeDoms.indexOf(d), 1);
    }
  }

  private armTick(cpu: number, when: number): void {
    this.host.timer(when, () => {
      this.tick(cpu, when);
      this.armTick(cpu, when + this.tickNs);
    });
  }

  /** csched_tick: the running vCPU is charged, loses BOOST and is (again) active. */
  private tick(cpu: number, now: number): void {
    const cur = this.host.current(cpu);
    const s = cur ? this.svcs.get(cur) : undefined;
    if (!s) return;
    if (s.pri === PRI.BOOST) s.pri = PRI.UNDER;
    this.burn(s, now);
    this.acctStart(s);
    // Xen's tick preempts nobody: a vCPU that became OVER runs out its timeslice. Only a
    // parked one (paused by accounting) leaves at once.
    if (s.parked) this.host.tickle(cpu);
  }

  private armAcct(when: number): void {
    this.host.timer(when, () => {
      this.account(when);
      this.armAcct(when + this.tsliceNs);
    });
  }

  /** csched_acct, step by step (integer arithmetic rounding up as Xen's does). */
  private account(now: number): void {
    for (const cpu of this.host.cpus) {
      const cur = this.host.current(cpu);
      const s = cur ? this.svcs.get(cur) : undefined;
      if (s) this.burn(s, now);
    }
    let weightTotal = 0;
    for (const d of this.activeDoms) weightTotal += d.sched.weight * this.activeVcpus.get(d)!.length;
    if (weightTotal === 0) {
      this.creditBalance = 0;
      return;
    }
    const perTslice = this.creditsPerTslice;
    let creditTotal = perTslice * this.host.cpus.length;
    // Converge the balance towards 0 when the machine overspent.
    if (this.creditBalance < 0) creditTotal -= this.creditBalance;
    let weightLeft = weightTotal;
    let balance = 0;
    let xtra = false;
    for (const d of [...this.activeDoms]) {
      const list = this.activeVcpus.get(d)!;
      const n = list.length;
      const w = d.sched.weight;
      weightLeft -= w * n;
      let peak = n * perTslice;
      if (this.creditBalance < 0) peak += Math.floor((-this.creditBalance * w * n + weightTotal - 1) / weightTotal);
      let capPerVcpu = 0;
      if (d.sched.cap > 0) {
        const cap = Math.floor((d.sched.cap * perTslice + 99) / 100);
        if (cap < peak) peak = cap;
        capPerVcpu = Math.floor((cap + n - 1) / n);
      }
      let fair = Math.floor((creditTotal * w * n + weightTotal - 1) / weightTotal);
      if (fair < peak) xtra = true;
      else {
        // What it cannot use goes to the domains after it.
        if (weightLeft !== 0) creditTotal += Math.floor(((fair - peak) * weightTotal + weightLeft - 1) / weightLeft);
        if (xtra) {
          // Domains left with spare credit go to the head, to be offered it first next time.
          this.activeDoms.splice(this.activeDoms.indexOf(d), 1);
          this.activeDoms.unshift(d);
        }
        fair = peak;
      }
      const share = Math.floor((fair + n - 1) / n);
      for (const s of [...list]) {
        s.credit += share;
        if (s.credit < 0) {
          s.pri = PRI.OVER;
          if (d.sched.cap > 0 && s.credit < -capPerVcpu && !s.parked) {
            s.parked = true;
            this.dequeue(s);
            if (this.isRunning(s.vcpu)) this.host.tickle(s.vcpu.pcpu);
          }
          if (s.credit < -perTslice) s.credit = -perTslice;
        } else {
          s.pri = PRI.UNDER;
          if (s.parked) {
            s.parked = false;
            if (this.isRunnableIdle(s.vcpu)) this.queueAndTickle(s);
          }
          if (s.credit > perTslice) {
            // Upper bound: it stops earning until a tick sees it run again, keeping half.
            this.acctStop(s);
            s.credit = Math.floor(s.credit / 2);
          }
        }
        balance += s.credit;
      }
    }
    this.creditBalance = balance;
    // Priorities changed: re-sort the queues (csched_runq_sort: UNDER and BOOST ahead of
    // OVER, order kept within each). Nothing is preempted for it; an idle pCPU looks again.
    for (let cpu = 0; cpu < this.runq.length; cpu++) {
      const q = this.runq[cpu]!;
      q.sort((a, b) => (b.pri >= PRI.UNDER ? 1 : 0) - (a.pri >= PRI.UNDER ? 1 : 0));
      if (q[0] && this.host.current(cpu) === null) this.host.tickle(cpu);
    }
  }

  // --- runqueues -------------------------------------------------------------------------

  /** Inserts after every entry of equal or higher priority; a yielder behind one lower one too. */
  private enqueue(cpu: number, s: CreditVcpu, yielded = false): void {
    if (s.queued) this.dequeue(s);
    const q = this.runq[cpu]!;
    let i = 0;
    while (i < q.length && q[i]!.pri >= s.pri) i++;
    if (yielded && i < q.length) i++;
    q.splice(i, 0, s);
    s.queued = true;
    s.yielding = yielded;
    s.vcpu.pcpu = cpu;
  }

  private dequeue(s: CreditVcpu): void {
    if (!s.queued) return;
    const q = this.runq[s.vcpu.pcpu]!;
    const i = q.indexOf(s);
    if (i >= 0) q.splice(i, 1);
    else for (const other of this.runq) {
      const j = other.indexOf(s);
      if (j >= 0) {
        other.splice(j, 1);
        break;
      }
    }
    s.queued = false;
    s.yielding = false;
  }

  /** Runnable vCPUs of pCPU `cpu`: its queue and what it runs (nr_runnable). */
  private nrRunnable(cpu: number): number {
    return this.runq[cpu]!.length + (this.host.current(cpu) ? 1 : 0);
  }

  /** csched_load_balance: soft-affine work first, then hard-affine, from busy peers. */
  private loadBalance(cpu: number, pri: number): CreditVcpu | undefined {
    const n = this.host.cpus;
    for (const step of ['soft', 'hard'] as const) {
      for (const peer of ringFrom(n, cpu)) {
        // An idle peer is about to take its own work; one runnable vCPU is its own.
        if (this.host.current(peer) === null || this.nrRunnable(peer) <= 1) continue;
        for (const speer of this.runq[peer]!) {
          if (speer.pri <= pri) break;
          if (speer.yielding) continue;
          const v = speer.vcpu;
          if (step === 'soft') {
            const soft = softCpus(v, n);
            if (!soft || !soft.includes(cpu)) continue;
          } else if (!mayRunOn(v, cpu, n)) continue;
          return speer;
        }
      }
    }
    return undefined;
  }

  /** Where a waking vCPU is queued: an idle pCPU (soft-affine first) or where it was. */
  private pickCpu(v: Vcpu): number {
    const n = this.host.cpus;
    const idle = (cpu: number) => this.host.current(cpu) === null && this.runq[cpu]!.length === 0;
    for (const set of [softCpus(v, n), hardCpus(v, n)]) {
      if (!set) continue;
      if (set.includes(v.pcpu) && idle(v.pcpu)) return v.pcpu;
      for (const cpu of ringFrom(n, v.pcpu)) {
        if (set.includes(cpu) && idle(cpu)) return cpu;
      }
    }
    return mayRunOn(v, v.pcpu, n) ? v.pcpu : hardCpus(v, n)[0]!;
  }

  private queueAndTickle(s: CreditVcpu): void {
    const cpu = this.pickCpu(s.vcpu);
    this.enqueue(cpu, s);
    const cur = this.host.current(cpu);
    const curPri = cur ? (this.svcs.get(cur)?.pri ?? PRI.OVER) : PRI.IDLE;
    if (s.pri > curPri) this.host.tickle(cpu);
  }

  private isRunning(v: Vcpu): boolean {
    return this.host.current(v.pcpu) === v;
  }

  private isRunnableIdle(v: Vcpu): boolean {
    return v.runstate === 'runnable' && !this.isRunning(v);
  }
}
