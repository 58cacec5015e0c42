// The scheduler seam. The scheduler core (core.ts) owns vCPU run states, block/wake and
// the schedule step, and run/ owns pCPUs and virtual time; a Scheduler (a policy) only
// decides which runnable vCPU each pCPU runs next and for how long. Xen's credit2 (the
// default), credit, RTDS and null, and round-robin (the baseline) sit behind it.

import type { Vcpu } from '../domain/domain.ts';
import type { TimedEvent } from '../time/event_queue.ts';
import type { SchedOptions } from './options.ts';

export interface SchedHost {
  readonly nrPcpus: number;
  /**
   * The pCPUs this policy schedules, ascending: its cpupool's (all of them without
   * cpupools). Per-pCPU arrays stay indexed by pCPU id (0..nrPcpus-1).
   */
  readonly cpus: readonly number[];
  /** Asks pCPU `cpu` to call `schedule` at its next opportunity (Xen's tickle IPI). */
  tickle(cpu: number): void;
  /** The vCPU pCPU `cpu` is running, or null when idle. */
  current(cpu: number): Vcpu | null;
  /** Runs `fn` at virtual time `time` (scheduler ticks, accounting). */
  timer(time: number, fn: () => void): TimedEvent;
  /** Cancels a timer `timer` armed (a no-op once it fired). */
  cancel(ev: TimedEvent | null): void;
}

export interface SchedDecision {
  /** The vCPU to run, or null to idle. */
  next: Vcpu | null;
  /** How long `next` may run before the pCPU schedules again (ns). */
  sliceNs: number;
}

export interface Scheduler {
  readonly name: string;
  /** Its boot parameters (credit, credit2); pool-wide ones (the ratelimit) may be changed at run time. */
  readonly opts?: SchedOptions;
  /** Xen's scheduler id (XEN_SCHEDULER_*), as sysctl sched_id reports it. */
  readonly schedId: number;
  init(host: SchedHost, now: number): void;
  insertVcpu(v: Vcpu, now: number): void;
  removeVcpu(v: Vcpu): void;
  /** `v` became runnable (woken, unpaused, brought up): queue it and tickle a pCPU. */
  wake(v: Vcpu, now: number): void;
  /** `v`, not running, stopped being runnable (paused, taken down): dequeue it. */
  sleep(v: Vcpu, now: number): void;
  /**
   * pCPU `cpu` chooses what to run from `now`. `prev` is what it ran until now (null if
   * idle), `prevRunnable` whether it may go on running, `yielded` whether it asked to
   * give way (SCHEDOP_yield).
   */
  schedule(cpu: number, now: number, prev: Vcpu | null, prevRunnable: boolean, yielded: boolean): SchedDecision;
  /** `v`'s domain or vCPU parameters changed (xl sched-*): take them into account from `now`. */
  paramsChanged?(v: Vcpu, now: number): void;
  /** vCPUs queued to run on pCPU `cpu` (its runqueue's, shared ones included), for traces. */
  runqLength?(cpu: number): number;
  /** `v`'s credit as the policy counts it (credit, credit2), for traces. */
  creditOf?(v: Vcpu): number | undefined;
}
