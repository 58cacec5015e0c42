// What a hypercall handler (and any per-domain subsystem: event channels, grant tables,
// the PV MMU) may ask of the hypervisor. Handlers never throw for guest mistakes: they
// return a negative Xen errno.

import type { Domain, Vcpu } from '../domain/domain.ts';
import type { ShutdownReason } from '../../protocol/xen/hypercall.ts';
import type { FrameTable } from '../mm/frame_table.ts';
import type { PhysMemory } from '../cpu/memory.ts';

/** Called after a guest store lands in a watched machine frame; true = stop the vCPU after this instruction. */
export type FrameWatcher = (pa: number, size: number) => boolean;

export interface HypervisorServices {
  /** The hypervisor's own command line (XENVER_commandline). */
  readonly commandLine: string;
  readonly frames: FrameTable;
  readonly mem: PhysMemory;
  /** Current virtual time in ns, as seen by the vCPU being served. */
  now(): number;
  domain(domid: number): Domain | undefined;
  /** Appends guest console_io output to the hypervisor log (what `xl dmesg` shows). */
  consoleWrite(domain: Domain, bytes: Uint8Array): void;
  /** Bytes waiting in the hypervisor's console input, for CONSOLEIO_read by dom0. */
  consoleRead(max: number): Uint8Array;
  shutdownDomain(domain: Domain, reason: ShutdownReason): void;
  /** Ends the vCPU's current slice after this hypercall; it stays runnable. */
  yieldVcpu(vcpu: Vcpu): void;
  /** Deschedules the vCPU until `wakeVcpu` (SCHEDOP_block, poll). */
  blockVcpu(vcpu: Vcpu): void;
  /** Makes a blocked vCPU runnable (an event or timer arrived); no effect otherwise. */
  wakeVcpu(vcpu: Vcpu): void;
  /**
   * Routes guest stores to machine frame `mfn` through `watcher` (e.g. shared_info, so
   * that clearing evtchn_upcall_mask takes effect at once). A frame may have several
   * watchers (the event channels' and dom0's mirror of the same shared_info); each is
   * removed by passing it to unwatchFrame (without one: all of the frame's).
   */
  watchFrame(mfn: number, watcher: FrameWatcher): void;
  unwatchFrame(mfn: number, watcher?: FrameWatcher): void;
  /** Arms the vCPU's single-shot timer at `deadline` (absolute ns; 0 cancels). */
  setSingleshotTimer(vcpu: Vcpu, deadline: number): void;
  /** Arms (period > 0) or stops (0) the vCPU's periodic VIRQ_TIMER. */
  setPeriodicTimer(vcpu: Vcpu, periodNs: number): void;
  /** Blocks the vCPU until one of `ports` is pending or `timeout` (absolute ns; 0 = none). */
  pollVcpu(vcpu: Vcpu, ports: number[], timeout: number): void;
  /** True if `port` of `domain` is pending (for SCHEDOP_poll's early return). */
  isPortPending(domain: Domain, port: number): boolean;
  /** Brings a vCPU up or takes it down (VCPUOP_up/down). */
  setVcpuOnline(vcpu: Vcpu, online: boolean): void;
  /** ns spent in each run state (running, runnable, blocked, offline) up to now. */
  runstateTimes(vcpu: Vcpu): number[];

  // Control operations (domctl/sysctl, and the toolstack through dom0).
  allDomains(): Iterable<Domain>;
  pause(domain: Domain): void;
  unpause(domain: Domain): void;
  destroyDomain(domain: Domain): void;
  readonly nrPcpus: number;
  /** Xen's id of the running scheduler (XEN_SCHEDULER_*). */
  readonly schedulerId: number;
  /** The scheduler id of the cpupool domain `d` is in (Pool-0's without cpupools). */
  domainSchedulerId(d: Domain): number;
  /** A domain's scheduling parameters changed (XEN_DOMCTL_SCHEDOP_putinfo): the policy re-reads them. */
  schedParamsChanged?(d: Domain): void;
  /** Appends a trace record at the current virtual time (event ids: trace/trace.ts TRC). */
  trace(event: number, d0?: number, d1?: number, d2?: number, d3?: number): void;
  /** Appends a side record (not hashed; kept only when a trace file is asked for). */
  traceSide?(event: number, d0?: number, d1?: number, d2?: number, d3?: number, d4?: number): void;
  /** An event on `port` of `domid`: a detailed trace records the indices of the backend rings behind it. */
  traceRingEvent?(domid: number, port: number): void;
}

export interface HypercallContext {
  hv: HypervisorServices;
  vcpu: Vcpu;
}

/** A handler gets the five argument registers a0..a4 as unsigned 32-bit numbers. */
export type HypercallHandler = (ctx: HypercallContext, a0: number, a1: number, a2: number, a3: number, a4: number) => number;
