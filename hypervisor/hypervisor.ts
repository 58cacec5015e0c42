// The hypervisor: machine memory and the concepts of the core, composed. Each concept lives
// in its own module and this class wires them together and offers the one API that
// hypercall handlers (HypervisorServices), dom0's adapters, the CLI and tests use:
//
//   run/pcpu.ts          pCPUs and their virtual clocks ("now")
//   run/loop.ts          the run loop: conservative virtual time, quanta, the wait for dom0
//   run/realtime.ts      realtime pacing
//   sched/core.ts        the scheduler core: run states, block/wake/poll, the schedule step
//   sched/credit.ts, rr.ts   the policies behind sched/scheduler.ts
//   time/vcpu_timer.ts   vCPU single-shot and periodic timers
//   domain/lifecycle.ts  the domain table and life cycle
//   console.ts           the hypervisor log and console input
//   traps.ts             trap handling: hypercall entry, reflection, domain_crash
//   hypercall/index.ts   the hypercall table
//
// Dependencies point down that list and never back: the concept modules know each other
// through small interfaces, not through this class.

import type { EngineKind } from './cpu/engines.ts';
import { MAX_FRAMES, PhysMemory } from './cpu/memory.ts';
import { FIRST_MFN, FrameTable, MAX_MACHINE_MEMORY_MIB } from './mm/frame_table.ts';
import type { Domain, Vcpu } from './domain/domain.ts';
import type { PvBoot, PvLayout } from '../xenguest/pv_bootstrap.ts';
import type { FrameWatcher, HypervisorServices } from './hypercall/types.ts';
import type { ShutdownReason } from '../protocol/xen/hypercall.ts';
import { VIRQ } from '../protocol/xen/event_channel.ts';
import { EventQueue } from './time/event_queue.ts';
import { costModel, type CostModel } from './time/cost_model.ts';
import { VcpuTimers } from './time/vcpu_timer.ts';
import type { Scheduler } from './sched/scheduler.ts';
import { CpupoolError, SchedCore, schedulerByName, type Cpupool, type SchedulerName } from './sched/core.ts';
import { parseSchedOptions } from './sched/options.ts';
import { TraceBuffer } from './trace/trace.ts';
import { TraceRings } from './trace/rings.ts';
import { evtchnHooks } from './evtchn/index.ts';
import type { EventHooks } from './evtchn/hooks.ts';
import { Pcpu, PcpuClocks } from './run/pcpu.ts';
import { RunLoop, type RunOptions, type RunResult } from './run/loop.ts';
import { runRealtime, type RealtimeOptions } from './run/realtime.ts';
import { DomainLifecycle, type CreateDomainOptions, type EmptyDomainOptions, type HvmOptions } from './domain/lifecycle.ts';
import type { HvmBoot } from '../xenguest/hvm_image.ts';
import { Console } from './console.ts';
import { Traps } from './traps.ts';
import { PAGE_SIZE } from '../protocol/xen/xen.ts';

export type { SchedulerName } from './sched/core.ts';

export interface HypervisorOptions {
  /** Machine memory in bytes (frames are only populated when a domain takes them). */
  machineMemoryBytes?: number;
  commandLine?: string;
  /** Simulated physical CPUs. */
  pcpus?: number;
  /**
   * The scheduler; else the command line's sched=, else credit. (Xen's own default is
   * credit2: scenarios and `pvsim hypervisor` default to it; the library keeps credit so
   * that unit tests built on it keep their timing.)
   */
  scheduler?: SchedulerName;
  costs?: Partial<CostModel>;
  /** Records kept in the trace ring (the hash covers all of them). */
  traceCapacity?: number;
  /** Lines kept in the hypervisor log (`xl dmesg`). */
  logLines?: number;
  /** Cpupools besides Pool-0, each with its pCPUs and scheduler; Pool-0 keeps the other pCPUs. */
  cpupools?: readonly { name: string; scheduler: SchedulerName; cpus: readonly number[] }[];
  /** The engine running guest code (`--cpu`, a scenario's cpu): default DEFAULT_ENGINE. */
  cpu?: EngineKind;
  /** `cpu` for every domain, overriding a domain's own cpu_engine (`--cpu` was given). */
  forceCpu?: boolean;
}

export class Hypervisor implements HypervisorServices {
  readonly mem: PhysMemory;
  readonly frames: FrameTable;
  readonly commandLine: string;
  readonly costs: CostModel;
  /** Timed events in virtual time (timers, scheduler ticks, dom0 dispatches). */
  readonly events = new EventQueue();
  /** The trace ring (xentrace-like). */
  readonly traceBuffer: TraceBuffer;
  /** Backend rings a detailed trace follows (trace/rings.ts). */
  readonly traceRings: TraceRings;
  /** The log (`xl dmesg`) and console input. */
  readonly console: Console;
  /** pCPUs and their virtual clocks. */
  readonly clocks: PcpuClocks;
  readonly pcpus: Pcpu[];
  /** The scheduler core (run states, block/wake/poll, the schedule step) and its policy. */
  readonly sched: SchedCore;
  readonly scheduler: Scheduler;
  /** vCPU single-shot and periodic timers. */
  readonly timers: VcpuTimers;
  /** The domain table and life cycle (create, pause, shutdown, destroy). */
  readonly lifecycle: DomainLifecycle;
  readonly domains: Map<number, Domain>;
  /** What a vCPU's trap to the hypervisor is served with. */
  readonly traps: Traps;
  /** The run loop (virtual time, quanta, dom0 dispatches). */
  readonly loop: RunLoop;

  /** Guest console output as it arrives (raw bytes), e.g. for `pvsim boot` to print. */
  onConsole: ((domain: Domain, bytes: Uint8Array) => void) | null = null;
  /** Called when a domain has been built (before it is unpaused). */
  onDomainCreated: ((domain: Domain) => void) | null = null;
  /** Called when a domain is destroyed. */
  onDomainDestroyed: ((domain: Domain) => void) | null = null;
  /**
   * dom0 could not set a new domain up (a disk that cannot be opened, ...): what the
   * toolstack that asked for the domain does about it (a scenario fails its run). The
   * reason is in the log either way.
   */
  onDom0SetupFailed: ((domain: Domain, reason: string) => void) | null = null;
  /**
   * Has dom0 tear a device's backend down and find it again, as a restarted dom0 does (a
   * scenario's crash-backend fault); resolves when dom0 is done. Set by whichever home dom0 has.
   */
  dom0RestartDevice: ((domid: number, kind: string, devid: number) => Promise<void>) | null = null;
  /** Called when a domain shuts down or is crashed. */
  onShutdown: ((domain: Domain) => void) | null = null;
  /** The event-channel layer, as the core sees it (evtchn/hooks.ts). */
  eventHooks: EventHooks | null = null;
  /** Set to make a running runRealtime() return at its next step. */
  stopRealtime = false;

  private readonly watchers = new Map<number, FrameWatcher[]>();

  constructor(opts: HypervisorOptions = {}) {
    const bytes = opts.machineMemoryBytes ?? 1024 * 1024 * 1024;
    const nrFrames = Math.floor(bytes / PAGE_SIZE);
    // Refused here, at start, rather than discovered when a guest reaches the top frame.
    if (!Number.isSafeInteger(bytes) || nrFrames < 1 || nrFrames > MAX_FRAMES - FIRST_MFN) {
      throw new RangeError(`machine memory of ${Math.floor(bytes / 2 ** 20)} MiB is not supported: it must be 1..${MAX_MACHINE_MEMORY_MIB} MiB (machine frames 0x${FIRST_MFN.toString(16)}.. up to Sv32's 34-bit physical addresses)`);
    }
    this.mem = new PhysMemory(FIRST_MFN + nrFrames);
    this.frames = new FrameTable(this.mem, FIRST_MFN, nrFrames);
    // Frames get host storage when first touched, so idle domains cost little.
    this.frames.lazy = true;
    this.commandLine = opts.commandLine ?? '';
    this.console = new Console(opts.logLines ?? 10_000, (d, b) => this.onConsole?.(d, b));
    this.costs = costModel(opts.costs);
    this.traceBuffer = new TraceBuffer(opts.traceCapacity);
    this.traceRings = new TraceRings(this.traceBuffer, (pa) => (this.mem.isBacked(pa, 4) ? this.mem.read32(pa) >>> 0 : null), PAGE_SIZE);
    const n = opts.pcpus ?? 1;
    this.clocks = new PcpuClocks(n);
    this.pcpus = this.clocks.pcpus;
    // The event layer is reached through this.eventHooks, read at each use.
    // Scheduler parameters under Xen's boot-parameter names (sched_ratelimit_us=, ...).
    const schedOpts = parseSchedOptions(this.commandLine);
    this.sched = new SchedCore(
      schedulerByName(opts.scheduler ?? schedOpts.sched ?? 'credit', schedOpts),
      {
        clocks: this.clocks,
        events: this.events,
        trace: this.traceBuffer,
        costs: this.costs,
        updateUpcallLine: (v) => this.eventHooks?.updateUpcallLine(v),
      },
      // Each pool its own policy, with the machine's boot parameters (Xen's are global too).
      (opts.cpupools ?? []).map((p) => ({ name: p.name, cpus: p.cpus, policy: schedulerByName(p.scheduler, { ...schedOpts }) })),
    );
    this.scheduler = this.sched.policy;
    this.timers = new VcpuTimers(this.events, this.clocks, this.traceBuffer, (d, virq, vcpuId) => this.eventHooks?.sendVirq(d, virq, vcpuId));
    const printk = (line: string) => this.printk(line);
    this.lifecycle = new DomainLifecycle({
      hv: this,
      clocks: this.clocks,
      sched: this.sched,
      timers: this.timers,
      trace: this.traceBuffer,
      observers: this,
      hvm: {
        hv: this,
        events: this.events,
        costs: this.costs,
        crashDomain: (d, why) => this.crashDomain(d, why),
        printk,
      },
      printk,
    });
    this.domains = this.lifecycle.domains;
    this.traps = new Traps({
      hv: this,
      sched: this.sched,
      costs: this.costs,
      trace: this.traceBuffer,
      crashDomain: (d, why) => this.crashDomain(d, why),
      printk,
    });
    this.loop = new RunLoop({
      clocks: this.clocks,
      events: this.events,
      costs: this.costs,
      sched: this.sched,
      traps: this.traps,
      domains: this.domains,
      mem: this.mem,
      printk,
      ...(opts.cpu ? { cpu: opts.cpu } : {}),
      forceCpu: opts.forceCpu ?? false,
    });
    this.printk(`pvsim hypervisor: ${Math.floor(bytes / 2 ** 20)} MiB machine memory, ${n} pCPU(s), scheduler ${this.scheduler.name}`);
    this.mem.onStore = (pa, size) => {
      const ws = this.watchers.get(Math.floor(pa / PAGE_SIZE));
      if (!ws) return false;
      if (ws.length === 1) return ws[0]!(pa, size);
      let stop = false;
      for (const w of ws) if (w(pa, size)) stop = true;
      return stop;
    };
    // Event channels are part of the core PV interface: always on.
    this.eventHooks = evtchnHooks(this);
  }

  // --- Console (console.ts) ---------------------------------------------------------------

  /** Appends a line to the hypervisor log, dropping the oldest beyond the limit. */
  printk(line: string): void {
    this.console.printk(line);
  }

  dmesg(): readonly string[] {
    return this.console.dmesg();
  }

  consoleWrite(domain: Domain, bytes: Uint8Array): void {
    this.console.write(domain, bytes);
  }

  consoleRead(max: number): Uint8Array {
    return this.console.read(max);
  }

  /**
   * Queues bytes for CONSOLEIO_read (at most CONSOLE_INPUT_MAX waiting; returns how many were
   * taken) and, as Xen does, tells the control domain (VIRQ_CONSOLE).
   */
  consoleInputPush(bytes: Uint8Array): number {
    const n = this.console.pushInput(bytes);
    const dom0 = this.domains.get(0);
    if (dom0 && bytes.length) this.eventHooks?.sendVirq(dom0, VIRQ.CONSOLE, 0);
    return n;
  }

  // --- Domains (domain/lifecycle.ts) ------------------------------------------------------

  /**
   * Builds a PV domain in this process: the same steps dom0's builder drives from its own
   * process (createEmptyDomain, writing the bootstrap pages, finishBuild).
   */
  createPvDomain(image: Uint8Array, opts: CreateDomainOptions): { domain: Domain; layout: PvLayout } {
    return this.lifecycle.createPvDomain(image, opts);
  }

  /** Builds an HVM domain in this process (the steps dom0's builder drives: createEmptyDomain, RAM written, finishHvmBuild). */
  createHvmDomain(image: Uint8Array, opts: CreateDomainOptions & { hvm: HvmOptions }): Domain {
    return this.lifecycle.createHvmDomain(image, opts);
  }

  /** Ends an HVM build once its RAM is written; the domain stays paused. */
  finishHvmBuild(d: Domain, boot: HvmBoot, hvm: HvmOptions): void {
    this.lifecycle.finishHvmBuild(d, boot, hvm);
  }

  /** XEN_DOMCTL_createdomain plus populating its memory: a paused domain, no vCPU yet. */
  createEmptyDomain(opts: EmptyDomainOptions): Domain {
    return this.lifecycle.createEmptyDomain(opts);
  }

  /** Ends a build once the bootstrap pages are written; the domain stays paused. */
  finishBuild(d: Domain, boot: PvBoot, layout: { storeVa: number; consoleVa: number; virtBase: number }): void {
    this.lifecycle.finishBuild(d, boot, layout);
  }

  /** Creates domain 0 as a control domain served by the dom0 process. */
  createControlDomain(name = 'Domain-0'): Domain {
    return this.lifecycle.createControlDomain(name);
  }

  unpause(domain: Domain): void {
    this.lifecycle.unpause(domain);
  }

  pause(domain: Domain): void {
    this.lifecycle.pause(domain);
  }

  destroyDomain(domain: Domain): void {
    this.lifecycle.destroy(domain);
    this.traceRings.forget(domain.domid);
  }

  shutdownDomain(domain: Domain, reason: ShutdownReason): void {
    this.lifecycle.shutdown(domain, reason);
  }

  /** Crashes a domain for something it did that cannot be reflected back to it. */
  crashDomain(domain: Domain, why: string): void {
    this.lifecycle.crash(domain, why);
  }

  domain(domid: number): Domain | undefined {
    return this.domains.get(domid);
  }

  allDomains(): Iterable<Domain> {
    return this.domains.values();
  }

  // --- Time, trace, memory watchers -------------------------------------------------------

  now(): number {
    return this.clocks.now();
  }

  trace(event: number, d0 = 0, d1 = 0, d2 = 0, d3 = 0): void {
    this.traceBuffer.record(this.now(), this.clocks.activeId, event, d0, d1, d2, d3);
  }

  traceSide(event: number, d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0): void {
    this.traceBuffer.side(this.now(), this.clocks.activeId, event, d0, d1, d2, d3, d4);
  }

  traceRingEvent(domid: number, port: number): void {
    if (this.traceBuffer.detail) this.traceRings.event(this.now(), this.clocks.activeId, domid, port);
  }

  watchFrame(mfn: number, watcher: FrameWatcher): void {
    const ws = this.watchers.get(mfn);
    if (ws) ws.push(watcher);
    else this.watchers.set(mfn, [watcher]);
    this.mem.setWatched(mfn, true);
  }

  unwatchFrame(mfn: number, watcher?: FrameWatcher): void {
    const ws = this.watchers.get(mfn);
    if (!ws) return;
    if (watcher) {
      const i = ws.indexOf(watcher);
      if (i >= 0) ws.splice(i, 1);
    }
    if (watcher && ws.length) return;
    this.watchers.delete(mfn);
    this.mem.setWatched(mfn, false);
  }

  // --- Scheduling (sched/core.ts) and vCPU timers (time/vcpu_timer.ts) --------------------

  get nrPcpus(): number {
    return this.pcpus.length;
  }

  schedParamsChanged(d: Domain): void {
    for (const v of d.vcpus) this.sched.policyOf(v).paramsChanged?.(v, this.now());
  }

  /** The cpupools, Pool-0 first (`xl cpupool-list`). */
  get cpupools(): readonly Cpupool[] {
    return this.sched.pools;
  }

  private pool(pool: string | number): Cpupool {
    const p = this.sched.pools.find((x) => x.name === pool || x.id === pool);
    if (!p) throw new CpupoolError(`unknown cpupool '${pool}'`);
    return p;
  }

  /** `xl cpupool-create`: a pool on free pCPUs (see cpupoolCpuRemove) with its own scheduler. */
  cpupoolCreate(name: string, scheduler: SchedulerName, cpus: readonly number[]): Cpupool {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new CpupoolError(`cpupool name "${name}": 1-64 of A-Z a-z 0-9 _ . -`);
    const p = this.sched.createPool(name, schedulerByName(scheduler, parseSchedOptions(this.commandLine)), cpus);
    this.printk(`cpupool ${p.name} (id ${p.id}) created: ${p.policy.name} on pCPUs ${p.cpus.join(',') || 'none'}`);
    return p;
  }

  /** `xl cpupool-cpu-remove`: pCPU `cpu` leaves its pool and becomes free. */
  cpupoolCpuRemove(pool: string | number, cpu: number): void {
    const p = this.pool(pool);
    this.sched.removeCpu(p, cpu, [...this.domains.values()]);
    this.printk(`cpupool ${p.name}: pCPU ${cpu} removed (free)`);
  }

  /** pCPUs in no pool. */
  get freeCpus(): number[] {
    return this.sched.freeCpus();
  }

  /** `xl cpupool-migrate`: moves a domain to the pool named or numbered `pool`. */
  cpupoolMigrate(d: Domain, pool: string | number): Cpupool {
    const to = this.pool(pool);
    if (d.vcpus.length === 0) throw new CpupoolError(`d${d.domid} has no vCPU to move`);
    this.sched.moveDomain(d, to);
    this.printk(`d${d.domid}: moved to cpupool ${to.name} (${to.policy.name})`);
    return to;
  }

  domainSchedulerId(d: Domain): number {
    return this.sched.poolOf(d).policy.schedId;
  }

  get schedulerId(): number {
    return this.scheduler.schedId;
  }

  /** Scheduler decisions taken (one per pCPU schedule call). */
  get schedDecisions(): number {
    return this.sched.decisions;
  }

  yieldVcpu(vcpu: Vcpu): void {
    this.sched.yieldVcpu(vcpu);
  }

  blockVcpu(vcpu: Vcpu): void {
    this.sched.blockVcpu(vcpu);
  }

  wakeVcpu(vcpu: Vcpu): void {
    this.sched.wakeVcpu(vcpu);
  }

  /** SCHEDOP_poll: block until one of `ports` is pending or `timeout` (absolute ns, 0 = none). */
  pollVcpu(vcpu: Vcpu, ports: number[], timeout: number): void {
    this.sched.pollVcpu(vcpu, ports, timeout);
  }

  isPortPending(domain: Domain, port: number): boolean {
    return this.eventHooks?.isPortPending(domain, port) ?? false;
  }

  /** Brings a vCPU up or down (VCPUOP_up/down). */
  setVcpuOnline(vcpu: Vcpu, online: boolean): void {
    this.sched.setVcpuOnline(vcpu, online);
  }

  /** Run-state times up to now, for reports (Xen's vcpu_runstate_info.time[]). */
  runstateTimes(v: Vcpu): number[] {
    return this.sched.runstateTimes(v);
  }

  /** Arms (or, with 0, cancels) the vCPU's single-shot timer; expiry sends VIRQ_TIMER. */
  setSingleshotTimer(vcpu: Vcpu, deadline: number): void {
    this.timers.setSingleshot(vcpu, deadline);
  }

  setPeriodicTimer(vcpu: Vcpu, periodNs: number): void {
    this.timers.setPeriodic(vcpu, periodNs);
  }

  // --- Running (run/loop.ts, run/realtime.ts) ---------------------------------------------

  /** Guest instructions run so far. */
  get totalInstructions(): number {
    return this.loop.totalInstructions;
  }

  /** dom0 dispatches run (each one a round trip when dom0 is a process). */
  get dispatches(): number {
    return this.loop.dispatches;
  }

  /** Runs the machine until nothing is runnable, `until`, or `maxInstructions`. */
  run(opts: RunOptions | number = {}): RunResult {
    return this.loop.run(opts);
  }

  /** Like run, but waits out dom0 dispatches until a real stop (idle, limit or time). */
  runAsync(opts: RunOptions = {}): Promise<Exclude<RunResult, { kind: 'blocked' }>> {
    return this.loop.runAsync(opts);
  }

  /** Realtime mode: the same simulation, paced against wall time (run/realtime.ts). */
  runRealtime(opts: RealtimeOptions = {}): Promise<Exclude<RunResult, { kind: 'blocked' }>> {
    return runRealtime(this, opts);
  }

  /**
   * Runs dom0's handler `fn` a dispatch latency from now (cost model: dom0DispatchNs). The
   * machine stands still while it runs; whatever it asks of the hypervisor happens at that
   * virtual instant.
   */
  dispatch(fn: () => Promise<void> | void, delayNs = this.costs.dom0DispatchNs, lookaheadNs = 0): void {
    this.loop.dispatch(fn, delayNs, lookaheadNs);
  }

  /**
   * How far guests may run on while dom0 serves a port dispatch (run/lookahead.ts): the
   * least its work can cost (dom0PassNs); 0 with lookahead off.
   */
  lookaheadNs(): number {
    return this.loop.lookahead ? this.costs.dom0PassNs : 0;
  }
}
