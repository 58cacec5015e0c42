// Xen's credit2 scheduler (xen/common/sched/credit2.c), Xen's default since 4.12,
// reimplemented from what its sources do (no code taken):
//
// - pCPUs are grouped into runqueues (credit2_runqueue=cpu|core|socket|node|all, at most
//   sched_credit2_max_cpus_runqueue = 16 pCPUs each). pvsim's machine is one socket and
//   one node of single-thread cores, so cpu and core give one runqueue per pCPU, and
//   socket (Xen's default), node and all give one runqueue per 16 pCPUs.
// - Each vCPU has credit in ns. Running burns it at max_weight / weight times real time,
//   so heavier vCPUs burn slower. A runqueue is kept in credit order; a pCPU runs the vCPU
//   with the most credit that may run there (a vCPU on another pCPU only if it beats the
//   current one by sched_credit2_migrate_resist, 500 us).
// - When the best vCPU's credit is <= 0 an epoch ends: every vCPU of the runqueue gets
//   CSCHED2_CREDIT_INIT (10 ms) more, clipped to 10 ms + 500 us of carry-over.
// - A vCPU runs until its credit falls to that of the next one waiting, at least 500 us
//   (CSCHED2_MIN_TIMER) and the ratelimit (sched_ratelimit_us, 1 ms), at most 10 ms.
// - Load: each runqueue's number of runnable vCPUs is averaged with an exponential decay
//   over 2^30 ns (credit2_load_window_shift); at each epoch end a runqueue whose average
//   differs from another's by at least one vCPU's worth moves a queued vCPU towards the
//   less loaded one (balance_load, simplified: one pull or push per epoch, no swaps).
// - Caps through budget: a capped domain gets cap% of credit2_cap_period_ms (10 ms) of
//   run time each period, handed to its vCPUs in quotas as they run; a vCPU that finds
//   no budget is parked until the next replenishment.
// - Hard affinity limits where a vCPU runs; soft affinity is preferred when a waking
//   vCPU is placed (runq_tickle). Xen's soft-affinity preemption of a running vCPU is not
//   modelled.

import type { Domain, Vcpu } from '../domain/domain.ts';
import type { SchedDecision, SchedHost, Scheduler } from './scheduler.ts';
import type { TimedEvent } from '../time/event_queue.ts';
import { DEFAULT_SCHED_OPTIONS, type SchedOptions } from './options.ts';
import { hardCpus, mayRunOn, softCpus } from './affinity.ts';

export const CREDIT2 = {
  creditInitNs: 10_000_000,
  minTimerNs: 500_000,
  carryoverMaxNs: 500_000,
  migrateCompensationNs: 50_000,
  ratelimitTickleToleranceNs: 50_000,
  maxTimerNs: 10_000_000,
  /** 2^30 ns: the load average's window (credit2_load_window_shift 30). */
  loadWindowNs: 2 ** 30,
} as const;

const CREDIT_MIN = -CREDIT2.creditInitNs;
const IDLE_CREDIT = CREDIT_MIN - 1;

interface C2Vcpu {
  vcpu: Vcpu;
  rq: C2Runq;
  credit: number;
  residual: number;
  start: number;
  /** When it was last given a pCPU (state_entry_time, for the ratelimit). */
  runStart: number;
  queued: boolean;
  /** Counted in its runqueue's load (runnable or running). */
  loaded: boolean;
  /** Budget in hand (ns); Infinity when its domain has no cap. */
  budget: number;
  parked: boolean;
  /** Load average of this vCPU alone (0..1), for balancing. */
  avgload: number;
  loadUpdate: number;
  /** The pCPU tickled to pick it up (-1: none); others leave it to that one meanwhile. */
  tickledCpu: number;
}

interface C2Runq {
  id: number;
  cpus: number[];
  runq: C2Vcpu[];
  members: Set<C2Vcpu>;
  maxWeight: number;
  load: number;
  avgload: number;
  loadUpdate: number;
}

interface C2Dom {
  budget: number;
  totBudget: number;
  timer: TimedEvent | null;
  parked: C2Vcpu[];
}

export class Credit2Scheduler implements Scheduler {
  readonly name = 'credit2';
  readonly schedId = 6; // XEN_SCHEDULER_CREDIT2
  private host!: SchedHost;
  private rqs: C2Runq[] = [];
  private rqOf: C2Runq[] = [];
  private readonly svcs = new Map<Vcpu, C2Vcpu>();
  private readonly doms = new Map<Domain, C2Dom>();
  private inserted = 0;
  /** pCPUs tickled that have not scheduled since (rqd->tickled). */
  private readonly tickled = new Set<number>();
  /** Epoch ends (credit resets) and vCPUs moved between runqueues, for tests and reports. */
  resets = 0;
  migrations = 0;

  constructor(readonly opts: SchedOptions = DEFAULT_SCHED_OPTIONS) {}

  init(host: SchedHost): void {
    this.host = host;
    const pool = host.cpus;
    const n = pool.length;
    const perCpu = this.opts.credit2Runqueue === 'cpu' || this.opts.credit2Runqueue === 'core';
    const nrRqs = perCpu ? n : Math.ceil(n / this.opts.credit2MaxCpusRunqueue);
    this.rqs = Array.from({ length: nrRqs }, (_, id) => ({ id, cpus: [], runq: [], members: new Set(), maxWeight: 0, load: 0, avgload: 0, loadUpdate: 0 }));
    // Contiguous, balanced groups (Xen fills runqueues evenly under the per-runqueue limit).
    for (const [k, cpu] of pool.entries()) {
      const rq = this.rqs[Math.floor((k * nrRqs) / n)]!;
      rq.cpus.push(cpu);
      this.rqOf[cpu] = rq;
    }
  }

  /** Runqueue, credit and budget of a vCPU, for tests. */
  inspect(v: Vcpu): { runq: number; credit: number; budget: number; parked: boolean } | undefined {
    const s = this.svcs.get(v);
    return s && { runq: s.rq.id, credit: s.credit, budget: s.budget, parked: s.parked };
  }

  runqLength(cpu: number): number {
    return this.rqOf[cpu]?.runq.length ?? 0;
  }

  creditOf(v: Vcpu): number | undefined {
    return this.svcs.get(v)?.credit;
  }

  /** Each runqueue's pCPUs. */
  runqueues(): number[][] {
    return this.rqs.map((r) => [...r.cpus]);
  }

  insertVcpu(v: Vcpu, now: number): void {
    const n = this.host.cpus;
    const hard = hardCpus(v, n);
    // The least loaded runqueue the vCPU may run in, then its pCPUs in turn.
    let best: C2Runq | undefined;
    for (const rq of this.rqs) {
      if (!rq.cpus.some((c) => hard.includes(c))) continue;
      if (!best || rq.members.size < best.members.size) best = rq;
    }
    const soft = softCpus(v, n);
    const softIn = soft ? best!.cpus.filter((c) => soft.includes(c)) : [];
    const cpus = softIn.length > 0 ? softIn : best!.cpus.filter((c) => hard.includes(c));
    v.pcpu = cpus[this.inserted++ % cpus.length]!;
    const s: C2Vcpu = { vcpu: v, rq: best!, credit: CREDIT2.creditInitNs, residual: 0, start: now, runStart: now, queued: false, loaded: false, budget: Infinity, parked: false, avgload: 0, loadUpdate: now, tickledCpu: -1 };
    this.svcs.set(v, s);
    this.join(s, best!);
    this.setupCap(v.domain, now);
    s.budget = this.hasCap(v) ? 0 : Infinity;
  }

  removeVcpu(v: Vcpu): void {
    const s = this.svcs.get(v);
    if (!s) return;
    this.dequeue(s);
    this.unload(s, 0);
    this.leave(s);
    const dom = this.doms.get(v.domain);
    if (dom) {
      const i = dom.parked.indexOf(s);
      if (i >= 0) dom.parked.splice(i, 1);
    }
    this.svcs.delete(v);
    if (!v.domain.vcpus.some((o) => this.svcs.has(o)) && dom) {
      this.host.cancel(dom.timer);
      this.doms.delete(v.domain);
    }
  }

  wake(v: Vcpu, now: number): void {
    const s = this.svcs.get(v);
    if (!s || s.queued || this.isRunning(v)) return;
    this.load(s, now);
    if (s.parked) return; // runs again once budget is replenished
    this.insertRunq(s);
    this.tickle(s, now);
  }

  sleep(v: Vcpu, now: number): void {
    const s = this.svcs.get(v);
    if (!s) return;
    this.dequeue(s);
    this.unload(s, now);
  }

  paramsChanged(v: Vcpu, now: number): void {
    const s = this.svcs.get(v);
    if (!s) return;
    this.recomputeMaxWeight(s.rq);
    this.setupCap(v.domain, now);
    if (!this.hasCap(v)) {
      s.budget = Infinity;
      if (s.parked) this.unpark(s, now);
    } else if (s.budget === Infinity) s.budget = 0;
    if (!s.rq.cpus.some((c) => mayRunOn(v, c, this.host.cpus))) {
      const to = this.rqs.find((r) => r.cpus.some((c) => mayRunOn(v, c, this.host.cpus)))!;
      this.migrate(s, to, now);
    }
    if (s.queued && !mayRunOn(v, v.pcpu, this.host.cpus)) v.pcpu = s.rq.cpus.find((c) => mayRunOn(v, c, this.host.cpus))!;
  }

  schedule(cpu: number, now: number, prev: Vcpu | null, prevRunnable: boolean, yielded: boolean): SchedDecision {
    const rq = this.rqOf[cpu]!;
    this.tickled.delete(cpu);
    const sp = prev ? this.svcs.get(prev) : undefined;
    if (sp) {
      this.burn(sp, now);
      if (sp.budget <= 0) this.grabBudget(sp);
      if (!prevRunnable) this.unload(sp, now);
    }
    const prevMay = !!sp && prevRunnable && !sp.parked && sp.rq === rq && mayRunOn(sp.vcpu, cpu, this.host.cpus);
    let snext = this.candidate(rq, sp, prevMay, cpu, now, yielded);
    const requeuePrev = !!sp && snext !== sp && prevRunnable && !sp.parked;
    let inflight = 0;
    if (snext) {
      if (snext !== sp) this.dequeue(snext);
      const head = rq.runq[0];
      const top = head ? Math.max(snext.credit, head.credit) : snext.credit;
      if (top <= 0) {
        this.resetCredit(rq, now, snext);
        this.balanceLoad(rq, now);
      }
      if (requeuePrev && sp!.rq === rq) inflight = sp!.credit;
      snext.start = Math.max(snext.start, now);
      if (snext.vcpu.pcpu !== cpu) {
        snext.credit += CREDIT2.migrateCompensationNs;
        snext.vcpu.pcpu = cpu;
      }
      if (snext !== sp) snext.runStart = now;
      snext.tickledCpu = -1;
    }
    if (requeuePrev) {
      // Back in the runqueue once switched out (Xen's delayed runq add), its budget returned.
      this.returnBudget(sp!, now);
      this.insertRunq(sp!);
      this.tickle(sp!, now);
    } else if (sp && snext !== sp) this.returnBudget(sp, now);
    if (!snext) return { next: null, sliceNs: CREDIT2.maxTimerNs };
    snext = snext!;
    return { next: snext.vcpu, sliceNs: this.runtime(rq, snext, now, inflight) };
  }

  // --- credit ---------------------------------------------------------------------------

  private burn(s: C2Vcpu, now: number): void {
    const delta = now - s.start;
    if (delta <= 0) return;
    const w = s.vcpu.domain.sched.weight;
    const val = delta * s.rq.maxWeight + s.residual;
    const credits = Math.floor(val / w);
    s.residual = val - credits * w;
    s.credit = Math.max(CREDIT_MIN, s.credit - credits);
    if (s.budget !== Infinity) s.budget -= delta;
    s.start = now;
  }

  /** reset_credit: a new epoch for every vCPU of the runqueue. */
  private resetCredit(rq: C2Runq, now: number, snext: C2Vcpu): void {
    this.resets++;
    const reset = snext.credit <= CREDIT_MIN ? 2 * CREDIT2.creditInitNs : CREDIT2.creditInitNs;
    for (const s of rq.members) {
      if (this.isRunning(s.vcpu)) {
        this.burn(s, now);
        if (s.budget <= 0) this.host.tickle(s.vcpu.pcpu);
      }
      s.credit = Math.min(s.credit + reset, CREDIT2.creditInitNs + CREDIT2.carryoverMaxNs);
      s.start = Math.max(s.start, now);
    }
  }

  /** runq_candidate: the vCPU pCPU `cpu` runs next (null: idle). */
  private candidate(rq: C2Runq, sp: C2Vcpu | undefined, prevMay: boolean, cpu: number, now: number, yielded: boolean): C2Vcpu | null {
    const ratelimit = this.opts.ratelimitUs * 1000;
    if (sp && prevMay && !yielded && ratelimit > 0 && now - sp.runStart < ratelimit) return sp;
    let snext: C2Vcpu | null = prevMay ? sp! : null;
    const resist = this.opts.credit2MigrateResistUs * 1000;
    for (const s of rq.runq) {
      const snextCredit = snext ? snext.credit : IDLE_CREDIT;
      if (!yielded && s.credit <= snextCredit) break;
      if (!mayRunOn(s.vcpu, cpu, this.host.cpus)) continue;
      // Meant for a pCPU that has not scheduled yet: left for it.
      if (s.tickledCpu !== -1 && s.tickledCpu !== cpu && this.tickled.has(s.tickledCpu)) continue;
      if (s.vcpu.pcpu !== cpu && snextCredit + resist > s.credit) continue;
      if (s.budget <= 0 && !this.grabBudget(s)) continue;
      snext = s;
      break;
    }
    return snext;
  }

  /** csched2_runtime: how long `snext` runs before the pCPU looks again. */
  private runtime(rq: C2Runq, snext: C2Vcpu, now: number, inflight: number): number {
    let minTime: number = CREDIT2.minTimerNs;
    const ratelimit = this.opts.ratelimitUs * 1000;
    if (ratelimit > 0) minTime = Math.max(minTime, snext.runStart + ratelimit - now);
    let waitCredit = 0;
    const head = rq.runq[0];
    if (head && head.credit > 0) waitCredit = head.credit;
    if (waitCredit < inflight) waitCredit = inflight;
    const rtCredit = waitCredit > 0 ? snext.credit - waitCredit : snext.credit;
    let time = rtCredit > 0 ? Math.floor((rtCredit * snext.vcpu.domain.sched.weight) / rq.maxWeight) : 0;
    if (snext.budget !== Infinity) time = Math.min(time, snext.budget);
    if (time < minTime) time = minTime;
    else if (time > CREDIT2.maxTimerNs) time = CREDIT2.maxTimerNs;
    return time;
  }

  // --- runqueues -------------------------------------------------------------------------

  /** In credit order, after vCPUs of equal credit. */
  private insertRunq(s: C2Vcpu): void {
    if (s.queued) return;
    const q = s.rq.runq;
    let i = 0;
    while (i < q.length && q[i]!.credit >= s.credit) i++;
    q.splice(i, 0, s);
    s.queued = true;
  }

  private dequeue(s: C2Vcpu): void {
    if (!s.queued) return;
    const q = s.rq.runq;
    q.splice(q.indexOf(s), 1);
    s.queued = false;
  }

  /** runq_tickle: an idle pCPU (its own, soft-affine, hard-affine), else the one running the least credit. */
  private tickle(s: C2Vcpu, now: number): void {
    const n = this.host.cpus;
    const v = s.vcpu;
    const cpus = s.rq.cpus.filter((c) => mayRunOn(v, c, n));
    const idle = (c: number) => this.host.current(c) === null;
    const kick = (c: number) => {
      s.tickledCpu = c;
      this.tickled.add(c);
      this.host.tickle(c);
    };
    if (cpus.includes(v.pcpu) && idle(v.pcpu) && (softCpus(v, n)?.includes(v.pcpu) ?? true)) {
      kick(v.pcpu);
      return;
    }
    const soft = softCpus(v, n);
    for (const set of [soft ? cpus.filter((c) => soft.includes(c)) : null, cpus]) {
      const c = set?.find(idle);
      if (c !== undefined) {
        kick(c);
        return;
      }
    }
    let best = -1;
    let bestScore = 0;
    const ratelimit = this.opts.ratelimitUs * 1000;
    for (const c of cpus) {
      const cur = this.svcs.get(this.host.current(c)!);
      if (!cur) continue;
      // A vCPU still inside its ratelimit (less a 50 us tolerance) is not preempted
      // (is_preemptable); the waker waits for that pCPU's next decision.
      const tol = CREDIT2.ratelimitTickleToleranceNs;
      if (ratelimit > tol && now - cur.runStart <= ratelimit - tol) continue;
      this.burn(cur, Math.max(now, cur.start));
      const score = s.credit - cur.credit;
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    if (best >= 0) kick(best);
  }

  private join(s: C2Vcpu, rq: C2Runq): void {
    s.rq = rq;
    rq.members.add(s);
    rq.maxWeight = Math.max(rq.maxWeight, s.vcpu.domain.sched.weight);
  }

  private leave(s: C2Vcpu): void {
    s.rq.members.delete(s);
    if (s.vcpu.domain.sched.weight >= s.rq.maxWeight) this.recomputeMaxWeight(s.rq);
  }

  private recomputeMaxWeight(rq: C2Runq): void {
    let m = 0;
    for (const o of rq.members) m = Math.max(m, o.vcpu.domain.sched.weight);
    rq.maxWeight = m;
  }

  private migrate(s: C2Vcpu, to: C2Runq, now: number): void {
    const wasQueued = s.queued;
    const wasLoaded = s.loaded;
    this.dequeue(s);
    if (wasLoaded) this.unload(s, now);
    this.leave(s);
    this.join(s, to);
    s.vcpu.pcpu = to.cpus.find((c) => mayRunOn(s.vcpu, c, this.host.cpus)) ?? to.cpus[0]!;
    if (wasLoaded) this.load(s, now);
    if (wasQueued) {
      this.insertRunq(s);
      this.tickle(s, now);
    }
    this.migrations++;
  }

  // --- load ------------------------------------------------------------------------------

  private decay(avg: number, load: number, last: number, now: number): number {
    const delta = now - last;
    const W = CREDIT2.loadWindowNs;
    if (delta <= 0) return avg;
    if (delta >= W) return load;
    return (delta * load + (W - delta) * avg) / W;
  }

  private updateLoad(s: C2Vcpu, change: number, now: number): void {
    const rq = s.rq;
    const t = Math.max(now, rq.loadUpdate);
    rq.avgload = this.decay(rq.avgload, rq.load, rq.loadUpdate, t);
    rq.loadUpdate = t;
    rq.load += change;
    const ts = Math.max(now, s.loadUpdate);
    s.avgload = this.decay(s.avgload, s.loaded ? 1 : 0, s.loadUpdate, ts);
    s.loadUpdate = ts;
  }

  private load(s: C2Vcpu, now: number): void {
    if (s.loaded) return;
    this.updateLoad(s, 1, now);
    s.loaded = true;
  }

  private unload(s: C2Vcpu, now: number): void {
    if (!s.loaded) return;
    this.updateLoad(s, -1, now);
    s.loaded = false;
  }

  /** balance_load, simplified: move one queued vCPU between this and the most different runqueue. */
  private balanceLoad(rq: C2Runq, now: number): void {
    if (this.rqs.length < 2) return;
    const avg = (r: C2Runq) => this.decay(r.avgload, r.load, r.loadUpdate, Math.max(now, r.loadUpdate));
    const mine = avg(rq);
    let other: C2Runq | undefined;
    let delta = 0;
    for (const r of this.rqs) {
      if (r === rq) continue;
      const d = Math.abs(mine - avg(r));
      if (d > delta) {
        delta = d;
        other = r;
      }
    }
    // Less than one vCPU's worth of difference: balanced enough (credit2_balance_under 0).
    if (!other || delta < 1) return;
    const [from, to] = mine > avg(other) ? [rq, other] : [other, rq];
    let pick: C2Vcpu | undefined;
    let bestAfter = delta;
    for (const s of from.runq) {
      if (!to.cpus.some((c) => mayRunOn(s.vcpu, c, this.host.cpus))) continue;
      const w = Math.max(s.avgload, 0.5);
      const after = Math.abs(delta - 2 * w);
      if (after < bestAfter) {
        bestAfter = after;
        pick = s;
      }
    }
    if (pick) this.migrate(pick, to, now);
  }

  // --- caps: budget ----------------------------------------------------------------------

  private hasCap(v: Vcpu): boolean {
    return v.domain.sched.cap > 0;
  }

  private setupCap(d: Domain, now: number): void {
    const periodNs = this.opts.credit2CapPeriodMs * 1_000_000;
    let dom = this.doms.get(d);
    if (d.sched.cap === 0) {
      if (dom) {
        this.host.cancel(dom.timer);
        dom.timer = null;
      }
      return;
    }
    const tot = Math.floor((periodNs * d.sched.cap) / 100);
    if (!dom) {
      dom = { budget: tot, totBudget: tot, timer: null, parked: [] };
      this.doms.set(d, dom);
    }
    dom.totBudget = tot;
    dom.budget = Math.min(dom.budget, tot);
    if (!dom.timer) this.armReplenish(d, dom, now + periodNs, periodNs);
  }

  private armReplenish(d: Domain, dom: C2Dom, when: number, periodNs: number): void {
    dom.timer = this.host.timer(when, () => {
      dom.timer = null;
      if (d.sched.cap === 0 || this.doms.get(d) !== dom) return;
      dom.budget = Math.min(dom.budget + dom.totBudget, dom.totBudget);
      if (dom.budget > 0) for (const s of dom.parked.splice(0)) this.unpark(s, when);
      this.armReplenish(d, dom, when + periodNs, periodNs);
    });
  }

  private quota(v: Vcpu, dom: C2Dom): number {
    return Math.max(Math.floor(dom.totBudget / v.domain.vcpus.length), CREDIT2.minTimerNs);
  }

  /** unit_grab_budget: true if `s` holds budget (taking its quota from the domain's). */
  private grabBudget(s: C2Vcpu): boolean {
    if (s.budget > 0) return true;
    const dom = this.doms.get(s.vcpu.domain);
    if (!dom) {
      s.budget = Infinity;
      return true;
    }
    dom.budget += s.budget; // an overrun is taken from the domain's budget
    if (dom.budget > 0) {
      const b = Math.min(this.quota(s.vcpu, dom), dom.budget);
      s.budget = b;
      dom.budget -= b;
      return true;
    }
    s.budget = 0;
    s.parked = true;
    this.dequeue(s);
    if (!dom.parked.includes(s)) dom.parked.push(s);
    return false;
  }

  /** unit_return_budget: what a vCPU switched out did not use goes back to its domain. */
  private returnBudget(s: C2Vcpu, now: number): void {
    if (s.budget === Infinity) return;
    const dom = this.doms.get(s.vcpu.domain);
    if (!dom) return;
    dom.budget += s.budget;
    s.budget = 0;
    if (dom.budget > 0) for (const p of dom.parked.splice(0)) if (p !== s) this.unpark(p, now);
  }

  private unpark(s: C2Vcpu, now: number): void {
    s.parked = false;
    const dom = this.doms.get(s.vcpu.domain);
    if (dom) {
      const i = dom.parked.indexOf(s);
      if (i >= 0) dom.parked.splice(i, 1);
    }
    if (s.vcpu.runstate === 'runnable' && !this.isRunning(s.vcpu)) {
      this.insertRunq(s);
      this.tickle(s, now);
    }
  }

  private isRunning(v: Vcpu): boolean {
    return this.host.current(v.pcpu) === v;
  }
}
