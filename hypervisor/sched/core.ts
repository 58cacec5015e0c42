// The scheduler core (Xen's common/sched/core.c). It owns what every policy shares: vCPU
// run states and their accounting, block / wake / poll / yield, bringing vCPUs up and
// down, and the schedule step that asks the policy (credit.ts or rr.ts, behind
// scheduler.ts) which vCPU a pCPU runs next and for how long.

import { RUNSTATES, type Domain, type Runstate, type Vcpu } from '../domain/domain.ts';
import type { EventQueue } from '../time/event_queue.ts';
import type { CostModel } from '../time/cost_model.ts';
import type { Pcpu, PcpuClocks } from '../run/pcpu.ts';
import { TRC, type TraceBuffer } from '../trace/trace.ts';
import type { Scheduler, SchedHost } from './scheduler.ts';
import { CreditScheduler } from './credit.ts';
import { Credit2Scheduler } from './credit2.ts';
import { RtdsScheduler } from './rtds.ts';
import { NullScheduler } from './null.ts';
import { RoundRobinScheduler } from './rr.ts';
import { DEFAULT_SCHED_OPTIONS, type SchedOptions, type SchedulerName } from './options.ts';
import { SchedMetrics } from './metrics.ts';

export type { SchedulerName } from './options.ts';

/** The policy a machine runs (Xen's sched= option), with its boot parameters. */
export function schedulerByName(name: SchedulerName, opts: SchedOptions = DEFAULT_SCHED_OPTIONS): Scheduler {
  switch (name) {
    case 'credit':
      return new CreditScheduler(opts);
    case 'credit2':
      return new Credit2Scheduler(opts);
    case 'rtds':
      return new RtdsScheduler();
    case 'null':
      return new NullScheduler();
    case 'rr':
      return new RoundRobinScheduler();
  }
}

/**
 * A cpupool (Xen's cpupool.c): pCPUs with a scheduler of their own. Every pCPU is in one
 * pool; every domain in one (`Domain.sched.cpupool`, its id); a domain's vCPUs run only on
 * its pool's pCPUs, scheduled by its pool's policy. Pool-0 (id 0) has every pCPU no other
 * pool was given; without cpupools it is the machine.
 */
export interface Cpupool {
  readonly id: number;
  readonly name: string;
  readonly policy: Scheduler;
  /** Its pCPUs, ascending (the array its policy reads as SchedHost.cpus). */
  readonly cpus: number[];
}

/** A pool to create with the machine (a scenario's `pools`): Pool-0 keeps the other pCPUs. */
export interface CpupoolSpec {
  name: string;
  policy: Scheduler;
  cpus: readonly number[];
}

export class CpupoolError extends Error {
  override readonly name = 'CpupoolError';
}

export interface SchedCoreDeps {
  readonly clocks: PcpuClocks;
  readonly events: EventQueue;
  readonly trace: TraceBuffer;
  readonly costs: CostModel;
  /** Re-evaluates a vCPU's upcall line when it is scheduled in (the event layer's). */
  updateUpcallLine(vcpu: Vcpu): void;
}

export class SchedCore {
  /** Scheduler decisions taken (one per pCPU schedule call). */
  decisions = 0;
  /** CPU share and utilisation over time, wake-to-run latency (metrics.ts): bookkeeping only. */
  readonly metrics = new SchedMetrics();
  private readonly clocks: PcpuClocks;
  private readonly events: EventQueue;
  private readonly trace: TraceBuffer;
  private readonly costs: CostModel;

  /** The cpupools, Pool-0 first; `policy` is Pool-0's. */
  readonly pools: Cpupool[] = [];
  /** pCPU id -> its pool (undefined: a free pCPU, in no pool; it idles). */
  private readonly poolOfCpu: (Cpupool | undefined)[] = [];

  constructor(
    readonly policy: Scheduler,
    private readonly deps: SchedCoreDeps,
    extraPools: readonly CpupoolSpec[] = [],
  ) {
    this.clocks = deps.clocks;
    this.events = deps.events;
    this.trace = deps.trace;
    this.costs = deps.costs;
    const n = this.clocks.pcpus.length;
    const taken = new Map<number, string>();
    for (const x of extraPools) {
      if (x.cpus.length === 0) throw new CpupoolError(`cpupool ${x.name}: no pCPUs`);
      for (const c of x.cpus) {
        if (!Number.isInteger(c) || c < 0 || c >= n) throw new CpupoolError(`cpupool ${x.name}: pCPU ${c} does not exist (the machine has ${n}: 0-${n - 1})`);
        if (taken.has(c)) throw new CpupoolError(`cpupool ${x.name}: pCPU ${c} is already in cpupool ${taken.get(c)}`);
        taken.set(c, x.name);
      }
    }
    const rest = Array.from({ length: n }, (_, c) => c).filter((c) => !taken.has(c));
    if (rest.length === 0) throw new CpupoolError('Pool-0 would have no pCPU left: leave it at least one');
    // Pool-0 first, then the others in order: each policy starts with its own pCPUs.
    this.addPool('Pool-0', policy, rest);
    for (const x of extraPools) this.addPool(x.name, x.policy, [...x.cpus].sort((a, b) => a - b));
  }

  private addPool(name: string, policy: Scheduler, cpus: number[]): Cpupool {
    const pcpus = this.clocks.pcpus;
    const host: SchedHost = {
      nrPcpus: pcpus.length,
      cpus,
      tickle: (cpu) => {
        pcpus[cpu]!.needResched = true;
      },
      current: (cpu) => pcpus[cpu]!.current,
      timer: (time, fn) => this.events.schedule(time, fn, true),
      cancel: (ev) => this.events.cancel(ev),
    };
    const pool: Cpupool = { id: this.pools.length, name, policy, cpus };
    this.pools.push(pool);
    for (const c of cpus) this.poolOfCpu[c] = pool;
    policy.init(host, this.clocks.clock);
    return pool;
  }

  /** The pool a domain is in (Pool-0 unless it was put or moved elsewhere). */
  poolOf(d: Domain): Cpupool {
    return this.pools[d.sched.cpupool] ?? this.pools[0]!;
  }

  /** The policy scheduling `v` (its domain's pool's). */
  policyOf(v: Vcpu): Scheduler {
    return this.poolOf(v.domain).policy;
  }

  /** The pool pCPU `cpu` is in, or undefined when it is free. */
  poolOfPcpu(cpu: number): Cpupool | undefined {
    return this.poolOfCpu[cpu];
  }

  /** pCPUs in no pool (taken out with cpupool-cpu-remove): what cpupool-create may use. */
  freeCpus(): number[] {
    return this.clocks.pcpus.map((p) => p.id).filter((c) => this.poolOfCpu[c] === undefined);
  }

  /** XEN_SYSCTL_CPUPOOL_OP_CREATE with its pCPUs (which must be free): a new policy on them. */
  createPool(name: string, policy: Scheduler, cpus: readonly number[]): Cpupool {
    if (this.pools.some((p) => p.name === name)) throw new CpupoolError(`Pool name "${name}" already exists`);
    for (const c of cpus) if (!(c >= 0 && c < this.clocks.pcpus.length) || this.poolOfCpu[c] !== undefined) throw new CpupoolError(`cpu ${c} illegal or not free`);
    const pool = this.addPool(name, policy, [...new Set(cpus)].sort((a, b) => a - b));
    for (const c of pool.cpus) this.clocks.pcpus[c]!.needResched = true;
    return pool;
  }

  /**
   * XEN_SYSCTL_CPUPOOL_OP_RMCPU: pCPU `cpu` leaves `pool` and becomes free. The pool's
   * vCPUs (of `domains`) leave its policy and join again, so none stays queued on it; the
   * last pCPU of a pool stays (Xen: EBUSY while domains are in it).
   */
  removeCpu(pool: Cpupool, cpu: number, domains: readonly Domain[]): void {
    const k = pool.cpus.indexOf(cpu);
    if (k < 0) throw new CpupoolError(`cpu ${cpu} is not in cpupool ${pool.name}`);
    if (pool.cpus.length === 1) throw new CpupoolError(`cpu ${cpu} is the last pCPU of cpupool ${pool.name}`);
    const vcpus = domains.filter((d) => this.poolOf(d) === pool).flatMap((d) => d.vcpus);
    for (const v of vcpus) this.detach(v, pool);
    pool.cpus.splice(k, 1);
    this.poolOfCpu[cpu] = undefined;
    this.clocks.pcpus[cpu]!.needResched = true;
    for (const v of vcpus) this.attach(v, pool);
  }

  /** Takes `v` off its pCPU and out of `pool`'s policy; its run state is left not runnable. */
  private detach(v: Vcpu, pool: Cpupool): void {
    const now = this.now();
    for (const p of this.clocks.pcpus) if (p.current === v) {
      if (v.runstate === 'running') this.metrics.ran(v, p.id, v.runstateEntry, now);
      p.current = null;
      p.needResched = true;
    }
    this.metrics.forget(v);
    pool.policy.removeVcpu(v);
    // Neither runnable nor running: attach's refresh queues it again if it may run.
    this.setRunstate(v, this.idleState(v));
  }

  /** Puts `v` into `pool`'s policy and queues it if it may run. */
  private attach(v: Vcpu, pool: Cpupool): void {
    v.pcpu = pool.cpus[0]!;
    pool.policy.insertVcpu(v, this.now());
    this.refresh(v);
  }

  /**
   * Moves a domain to another pool (XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN, sched_move_domain):
   * each vCPU leaves its pCPU and old policy and joins the new one; its affinities are
   * reset to all (as Xen does), and a runnable vCPU is queued there at once.
   */
  moveDomain(d: Domain, to: Cpupool): void {
    const from = this.poolOf(d);
    if (from === to) return;
    if (to.cpus.length === 0) throw new CpupoolError(`cpupool ${to.name} has no pCPU`);
    for (const v of d.vcpus) this.detach(v, from);
    d.sched.cpupool = to.id;
    d.sched.hardAffinity = null;
    d.sched.softAffinity = null;
    for (const v of d.vcpus) this.attach(v, to);
  }

  private now(): number {
    return this.clocks.now();
  }

  // --- vCPUs joining and leaving ----------------------------------------------------------

  /** A built domain's vCPU joins the scheduler (it runs once its domain is unpaused). */
  insertVcpu(v: Vcpu): void {
    v.runstateEntry = this.clocks.clock;
    this.policyOf(v).insertVcpu(v, this.clocks.clock);
  }

  /** A dying domain's vCPU leaves: its poll ends, its pCPU reschedules, it goes offline. */
  removeVcpu(v: Vcpu): void {
    this.events.cancel(v.poll?.timeout);
    v.poll = null;
    for (const p of this.clocks.pcpus) if (p.current === v) {
      if (v.runstate === 'running') this.metrics.ran(v, p.id, v.runstateEntry, this.now());
      p.current = null;
      p.needResched = true;
    }
    this.setRunstate(v, 'offline');
    this.policyOf(v).removeVcpu(v);
  }

  // --- Block, wake, poll, yield -----------------------------------------------------------

  /** Ends the vCPU's current slice; it stays runnable (SCHEDOP_yield, wfi). */
  yieldVcpu(vcpu: Vcpu): void {
    const p = this.clocks.pcpus[vcpu.pcpu]!;
    if (p.current !== vcpu) return;
    p.yielded = true;
    p.needResched = true;
    this.trace.record(this.now(), p.id, TRC.SCHED_YIELD, vcpu.domain.domid, vcpu.vcpuId);
  }

  /** Deschedules the vCPU until wakeVcpu (SCHEDOP_block, poll). */
  blockVcpu(vcpu: Vcpu): void {
    if (vcpu.blocked) return;
    vcpu.blocked = true;
    this.trace.record(this.now(), vcpu.pcpu, TRC.SCHED_BLOCK, vcpu.domain.domid, vcpu.vcpuId);
    this.refresh(vcpu);
  }

  /** Makes a blocked vCPU runnable (an event or timer arrived); no effect otherwise. */
  wakeVcpu(vcpu: Vcpu): void {
    if (!vcpu.blocked) return;
    vcpu.blocked = false;
    if (vcpu.poll) {
      this.events.cancel(vcpu.poll.timeout);
      vcpu.poll = null;
    }
    vcpu.wakeTime = this.now();
    this.trace.record(vcpu.wakeTime, vcpu.pcpu, TRC.SCHED_WAKE, vcpu.domain.domid, vcpu.vcpuId);
    this.refresh(vcpu);
  }

  /** SCHEDOP_poll: block until one of `ports` is pending or `timeout` (absolute ns, 0 = none). */
  pollVcpu(vcpu: Vcpu, ports: number[], timeout: number): void {
    const t = timeout === 0 ? null : this.events.schedule(Math.max(timeout, this.now()), () => this.wakeVcpu(vcpu));
    vcpu.poll = { ports, timeout: t };
    this.trace.side(this.now(), vcpu.pcpu, TRC.PVSIM_POLL, vcpu.domain.domid, vcpu.vcpuId, ports.length, timeout);
    this.blockVcpu(vcpu);
  }

  /** Brings a vCPU up or down (VCPUOP_up/down). */
  setVcpuOnline(vcpu: Vcpu, online: boolean): void {
    if (vcpu.online === online) return;
    vcpu.online = online;
    if (online) vcpu.wakeTime = this.now();
    this.refresh(vcpu);
  }

  // --- Run states ---------------------------------------------------------------------

  isRunnable(v: Vcpu): boolean {
    return v.online && !v.blocked && v.domain.state === 'running';
  }

  private idleState(v: Vcpu): Runstate {
    return v.online && v.blocked && v.domain.state === 'running' ? 'blocked' : 'offline';
  }

  /** Reconciles a vCPU's run state and the policy with whether it may run now. */
  refresh(v: Vcpu): void {
    const runnable = this.isRunnable(v);
    const p = this.clocks.pcpus[v.pcpu]!;
    if (p.current === v) {
      if (!runnable) p.needResched = true;
      return;
    }
    if (runnable && v.runstate !== 'runnable') {
      // Wake-to-run latency counts wake-ups from blocked (not unpauses or vCPUs brought up).
      if (v.runstate === 'blocked') this.metrics.woke(v, this.now());
      this.setRunstate(v, 'runnable');
      this.policyOf(v).wake(v, this.now());
    } else if (!runnable && v.runstate === 'runnable') {
      this.metrics.forget(v);
      this.policyOf(v).sleep(v, this.now());
      this.setRunstate(v, this.idleState(v));
    } else if (!runnable) {
      this.setRunstate(v, this.idleState(v));
    }
  }

  private setRunstate(v: Vcpu, state: Runstate, at = this.now()): void {
    if (v.runstate === state) return;
    const t = Math.max(at, v.runstateEntry);
    v.runstateTime[RUNSTATES.indexOf(v.runstate)]! += t - v.runstateEntry;
    this.trace.side(t, v.pcpu, TRC.PVSIM_RUNSTATE, v.domain.domid, v.vcpuId, RUNSTATES.indexOf(v.runstate), RUNSTATES.indexOf(state));
    v.runstate = state;
    v.runstateEntry = t;
  }

  /** Run-state times up to now, for reports (Xen's vcpu_runstate_info.time[]). */
  runstateTimes(v: Vcpu): number[] {
    const t = [...v.runstateTime];
    t[RUNSTATES.indexOf(v.runstate)]! += Math.max(0, this.now() - v.runstateEntry);
    return t;
  }

  // --- The schedule step --------------------------------------------------------------

  /** pCPU `p` chooses what to run from its clock on (Xen's schedule()), paying the switch costs. */
  schedule(p: Pcpu): void {
    const prev = p.current;
    const prevRunnable = prev !== null && this.isRunnable(prev);
    this.clocks.active = p;
    const pool = this.poolOfCpu[p.id];
    // A free pCPU (in no pool) idles.
    const { next, sliceNs } = pool ? pool.policy.schedule(p.id, p.now, prev, prevRunnable, p.yielded) : { next: null, sliceNs: 10_000_000 };
    this.decisions++;
    p.now += this.costs.scheduleNs;
    if (prev && prev !== next) {
      if (prev.runstate === 'running') this.metrics.ran(prev, p.id, prev.runstateEntry, p.now);
      this.setRunstate(prev, prevRunnable ? 'runnable' : this.idleState(prev), p.now);
    }
    if (next && next !== prev) {
      p.now = Math.max(p.now, next.wakeTime);
      p.now += prev && prev.domain === next.domain ? this.costs.vcpuSwitchNs : this.costs.contextSwitchNs;
      this.setRunstate(next, 'running', p.now);
      this.metrics.started(next, p.now);
      this.deps.updateUpcallLine(next);
    }
    if (next !== prev) {
      this.trace.record(p.now, p.id, TRC.SCHED_SWITCH, prev?.domain.domid ?? -1, prev?.vcpuId ?? -1, next?.domain.domid ?? -1, next?.vcpuId ?? -1);
    }
    if (this.trace.detail && pool) {
      const policy = pool.policy;
      const credit = next ? policy.creditOf?.(next) : undefined;
      this.trace.side(p.now, p.id, TRC.PVSIM_SCHED_STATE, policy.runqLength?.(p.id) ?? -1, next?.domain.domid ?? -1, next?.vcpuId ?? -1, credit ?? NaN);
    }
    p.current = next;
    p.sliceEnd = p.now + sliceNs;
    p.needResched = false;
    p.yielded = false;
    this.clocks.active = null;
  }
}
