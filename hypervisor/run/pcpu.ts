// Simulated physical CPUs and virtual time. Each pCPU keeps its own clock (ns); the run
// loop (loop.ts) always advances the one furthest behind. "Now", for whatever the
// hypervisor is doing, is the clock of the pCPU it serves, or the machine clock when no
// pCPU is active (a timed event, a call from dom0 or a test between runs).

import type { Vcpu } from '../domain/domain.ts';

export class Pcpu {
  now = 0;
  current: Vcpu | null = null;
  sliceEnd = 0;
  needResched = true;
  yielded = false;
  /** ns spent running guests. */
  busyNs = 0;
  /** An exit (ExitReason) that stopped this pCPU in dom0's lookahead window, not yet served; -1: none. */
  deferredExit = -1;
  /** That exit came from a trap-mode HVM vCPU (its emulated instructions count as kernel's). */
  deferredTrapMode = false;
  /** A store to a frame dom0 maps ended this pCPU's part of the current window. */
  windowStopped = false;
  constructor(readonly id: number) {}
}

export class PcpuClocks {
  readonly pcpus: Pcpu[];
  /** The virtual time of whatever is being served right now (a vCPU's trap, an event). */
  clock = 0;
  /** The pCPU whose vCPU is executing or being served, if any. */
  active: Pcpu | null = null;

  constructor(nrPcpus: number) {
    if (!Number.isInteger(nrPcpus) || nrPcpus < 1 || nrPcpus > 256) throw new RangeError(`pcpus must be 1..256, got ${nrPcpus}`);
    this.pcpus = Array.from({ length: nrPcpus }, (_, i) => new Pcpu(i));
  }

  /** Current virtual time in ns, as seen by what is being served. */
  now(): number {
    return this.active ? this.active.now : this.clock;
  }

  /** The pCPU a trace record made now is filed under. */
  get activeId(): number {
    return this.active?.id ?? 0;
  }
}
