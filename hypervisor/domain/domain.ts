// A domain and its vCPUs: the hypervisor's view of one guest.

import type { Device } from '../../protocol/wire.ts';
import type { Hart } from '../cpu/hart.ts';
import type { EngineKind } from '../cpu/engines.ts';
import type { ShutdownReason } from '../../protocol/xen/hypercall.ts';
import type { TimedEvent } from '../time/event_queue.ts';
import type { DomainEvtchn } from '../evtchn/state.ts';
import type { EvtchnFaultPlan } from '../evtchn/fault_plan.ts';
import type { DomainMm } from '../mm/state.ts';
import type { DomainGnttab } from '../gnttab/table.ts';
import { DEFAULT_RTDS_PARAMS, DEFAULT_SCHED_PARAMS, type RtdsParams, type SchedParams } from '../sched/params.ts';
import { DomainPerf } from './perf.ts';
import { PageWalkCharge } from '../time/page_walk.ts';

/** Xen's vCPU run states (vcpu.h RUNSTATE_*), in their numeric order. */
export const RUNSTATES = ['running', 'runnable', 'blocked', 'offline'] as const;
export type Runstate = (typeof RUNSTATES)[number];

/** Xen's domain life cycle, as `xl list` shows it (r, b, p, s, c, d). */
export type DomainState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'dying';

export interface VcpuStats {
  hypercalls: number;
  /** Traps taken by the hypervisor (host traps), by mcause. */
  traps: Map<number, number>;
  /** Events delivered to this vCPU (upcalls raised). */
  events: number;
  instructions: number;
}

/**
 * A vCPU's architecture part when it is not PV (an HVM vCPU: hypervisor/hvm/vcpu.ts). The
 * run loop calls `enter` before each run of the hart (interrupt injection) and traps.ts
 * hands it every host trap instead of the PV trap path.
 */
export interface VcpuArch {
  enter(clock: { now: number }): void;
  handleExit(clock: { now: number }): void;
  /** The guest's privilege while the hart runs in another (trap mode: U 0, S 1); undefined when the hart's own counts tell it. */
  guestPriv(): number | undefined;
}

/** A domain's HVM part (hypervisor/hvm/board.ts): torn down with the domain. */
export interface DomainArch {
  readonly kind: 'hvm';
  /** Frees what the hypervisor holds for it (shadow tables, timers). */
  destroy(): void;
  /** A pending event channel port of this domain: true if the board consumed it (the console ring's, from dom0), false for the guest's own. */
  onEvent(port: number): boolean;
  /** Machine frame of guest frame `gfn` (its p2m, RAM or frames placed outside it), or -1. */
  gfnToMfn(gfn: number): number;
  /** The upcall line of vCPU `id` (PVHVM: an interrupt of the board); true if it rose. */
  setUpcall(id: number, on: boolean): boolean;
}

export class Vcpu {
  readonly stats: VcpuStats = { hypercalls: 0, traps: new Map(), events: 0, instructions: 0 };
  /** Brought up (VCPUOP_up, or vCPU 0 at build); a down vCPU is RUNSTATE_offline. */
  online = true;
  /** Waiting for an event or timer (SCHEDOP_block / poll). */
  blocked = false;
  /** The pCPU it runs on or is queued for (the scheduler's choice). */
  pcpu = 0;
  /** Current run state, since `runstateEntry`; `runstateTime` accumulates ns per state. */
  runstate: Runstate = 'offline';
  runstateEntry = 0;
  readonly runstateTime = [0, 0, 0, 0];
  /** Earliest time it may run after a wake-up (a wake is not seen before it happens). */
  wakeTime = 0;
  /** set_timer_op / VCPUOP_set_singleshot_timer deadline. */
  singleshot: TimedEvent | null = null;
  /** VCPUOP_set_periodic_timer: the next tick and the period (0 = off). */
  periodic: TimedEvent | null = null;
  periodNs = 0;
  /** Set once it has a context to run (vCPU 0 at build, others by VCPUOP_initialise). */
  initialised = false;
  /** SCHEDOP_poll in progress: the ports watched and the time-out. */
  poll: { ports: number[]; timeout: TimedEvent | null } | null = null;
  /** Non-null for an HVM vCPU: runs before each quantum and serves its exits. */
  arch: VcpuArch | null = null;
  /** The hart's counters at the last Domain.perf update (the run loop adds the differences). */
  readonly perfMark = { user: 0, kernel: 0, walks: 0, walkRefs: 0, tlbMisses: 0 };
  /** Its RTDS server (xl sched-rtds -v); read only by the RTDS scheduler. */
  rtds: RtdsParams = { ...DEFAULT_RTDS_PARAMS };
  /** RTDS: periods that ended before it had received its budget while it wanted to run. */
  deadlineMisses = 0;
  /** Its hart's hardware page walks, charged at walkMemRefNs (PV: the run loop; HVM: entries and exits). */
  readonly walks: PageWalkCharge;
  constructor(readonly domain: Domain, readonly vcpuId: number, readonly hart: Hart) {
    this.walks = new PageWalkCharge(hart.mmu);
    // Hardware walk time is the guest's own, not the hypervisor's: reported apart (mmu.walkNs).
    this.walks.onCharge = (_n, ns) => {
      domain.perf.walkNs += ns;
    };
  }
}

export class Domain {
  state: DomainState = 'paused';
  shutdownReason: ShutdownReason | null = null;
  /** Why the hypervisor crashed the domain, when it did. */
  crashMessage: string | null = null;
  readonly vcpus: Vcpu[] = [];
  /** Scheduler parameters (credit weight and cap). */
  sched: SchedParams = { ...DEFAULT_SCHED_PARAMS };
  /** pfn -> mfn, as published to the guest in start_info.mfn_list. */
  p2m: Uint32Array = new Uint32Array(0);
  sharedInfoMfn = 0;
  /** Event channel ports (evtchnInit); null until set up. */
  evtchn: DomainEvtchn | null = null;
  /** Fault injection on this (guest) domain's device event channel (evtchn/faults.ts); null: none. */
  evtchnFaults: EvtchnFaultPlan | null = null;
  /**
   * For a domain with no guest code (the control domain served by the dom0 process): called
   * when one of its ports becomes pending, instead of raising an upcall.
   */
  onEvent: ((port: number) => boolean | void) | null = null;
  /**
   * vCPUs that run outside the simulator: the dom0 process's, for the control domain it
   * serves. They have no Vcpu here; getdomaininfo counts them online, and running while the
   * domain runs, as Xen shows Domain-0 (xl list runs on one of them).
   */
  externalVcpus = 0;
  /** The xenstore and console rings start_info names, and their (guest-side) ports. */
  storeMfn = 0;
  storeEvtchn = 0;
  consoleMfn = 0;
  consoleEvtchn = 0;
  /**
   * Split devices the toolstack asks dom0 to announce for this domain (a scenario's disks
   * and vifs), handed to dom0 with the domain's creation; the hypervisor does not read them.
   */
  dom0Devices: readonly Device[] = [];
  /** PV MMU state: each vCPU's base page table (mmInitDomain); null until built. */
  mm: DomainMm | null = null;
  /** Grant table (gnttabInit); null until set up. */
  gnttab: DomainGnttab | null = null;
  startInfoVa = 0;
  /** Non-null for an HVM domain (its board and virtualization mode). */
  hvm: DomainArch | null = null;
  /** xl.cfg cpu_engine: the engine running its vCPUs; undefined: the machine's (RunLoop.cpu). */
  cpuEngine: EngineKind | undefined = undefined;
  /** Bytes the guest wrote with CONSOLEIO_write that have not formed a full line yet. */
  consolePartial = '';
  /** Counters for reports (`pvsim compare`); never read by the simulation itself. */
  readonly perf = new DomainPerf();

  constructor(
    readonly domid: number,
    readonly name: string,
    public maxPages: number,
    readonly privileged: boolean,
  ) {}

  get nrPages(): number {
    return this.p2m.length;
  }

  get isAlive(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }
}
