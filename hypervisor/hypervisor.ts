// The hypervisor core: machine memory, the domain table, simulated pCPUs with their own
// virtual clocks, the global event queue, and the loop that runs vCPUs and serves what
// they trap for.
//
// Time is simulated conservatively: the pCPU with the earliest clock always goes next,
// runs its vCPU for at most a short quantum (never past the next queued event), and timed
// events fire in (time, sequence) order before any pCPU passes them. Nothing depends on
// wall time or host speed, so a run is a pure function of its inputs.

import { Interpreter } from './cpu/index.ts';
import { ExitReason, type Engine } from './cpu/engine.ts';
import { MAX_FRAMES, PhysMemory } from './cpu/memory.ts';
import { FIRST_MFN, MAX_MACHINE_MEMORY_MIB } from './mm/frame_table.ts';
import {
  CAUSE_FETCH_ACCESS,
  CAUSE_FETCH_PAGE_FAULT,
  CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_INTERRUPT,
  CAUSE_SUPERVISOR_ECALL,
  CSR_STVEC,
} from './cpu/csr.ts';
import { FrameTable } from './mm/frame_table.ts';
import type { Domain, Vcpu } from './domain/domain.ts';
import type { PvBoot, PvLayout } from './domain/builder.ts';
import { dispatchHypercall, type HypervisorServices } from './hypercall/index.ts';
import type { FrameWatcher } from './hypercall/types.ts';
import type { ShutdownReason } from '../protocol/xen/hypercall.ts';
import { EventQueue, type TimedEvent } from './time/event_queue.ts';
import { costModel, type CostModel } from './time/cost_model.ts';
import type { Scheduler } from './sched/scheduler.ts';
import { SchedCore, schedulerByName, type SchedulerName } from './sched/core.ts';
import { TRC, TraceBuffer } from './trace/trace.ts';
import { evtchnHooks } from './evtchn/index.ts';
import type { EventHooks } from './evtchn/hooks.ts';
import { Pcpu, PcpuClocks } from './run/pcpu.ts';
import { DomainLifecycle, type CreateDomainOptions } from './domain/lifecycle.ts';
import { VIRQ } from '../protocol/xen/event_channel.ts';
import { Console } from './console.ts';
import { VcpuTimers } from './time/vcpu_timer.ts';

export type { SchedulerName } from './sched/core.ts';

export interface HypervisorOptions {
  /** Machine memory in bytes (frames are only populated when a domain takes them). */
  machineMemoryBytes?: number;
  commandLine?: string;
  /** Simulated physical CPUs. */
  pcpus?: number;
  scheduler?: SchedulerName;
  costs?: Partial<CostModel>;
  /** Records kept in the trace ring (the hash covers all of them). */
  traceCapacity?: number;
  /** Lines kept in the hypervisor log (`xl dmesg`). */
  logLines?: number;
}

export { DOM0_VCPUS, type CreateDomainOptions } from './domain/lifecycle.ts';

export type RunResult =
  /** Nothing left to do: every vCPU is blocked with no timer pending, or gone. */
  | { kind: 'idle' }
  /** The instruction limit was reached first. */
  | { kind: 'limit' }
  /** Virtual time reached `until`. */
  | { kind: 'time' }
  /**
   * A dom0 dispatch is under way (its daemon runs outside this call, perhaps in another
   * process): await `wait`, then call run again. Nothing advances meanwhile, which is what
   * keeps runs with dom0 deterministic. runAsync does this loop.
   */
  | { kind: 'blocked'; wait: Promise<void> };

export interface RunOptions {
  /** Stop when every pCPU's clock has reached this virtual time (ns). */
  until?: number;
  /** Stop after this many guest instructions in total (counted from this call). */
  maxInstructions?: number;
}

const WFI_ENCODING = 0x1050_0073;
/** Longest a vCPU runs without the loop looking at other pCPUs (bounds cross-pCPU skew). */
const MAX_QUANTUM_NS = 50_000;

export type { EventHooks } from './evtchn/hooks.ts';

export { Pcpu } from './run/pcpu.ts';


export class Hypervisor implements HypervisorServices {
  readonly mem: PhysMemory;
  readonly frames: FrameTable;
  /** The domain table and life cycle (create, pause, shutdown, destroy). */
  readonly lifecycle: DomainLifecycle;
  readonly domains: Map<number, Domain>;
  readonly commandLine: string;
  /** pCPUs and their virtual clocks. */
  readonly clocks: PcpuClocks;
  readonly pcpus: Pcpu[];
  /** The scheduler core (run states, block/wake/poll, the schedule step) and its policy. */
  readonly sched: SchedCore;
  readonly scheduler: Scheduler;
  readonly costs: CostModel;
  readonly events = new EventQueue();
  /** vCPU single-shot and periodic timers. */
  readonly timers: VcpuTimers;
  /** The trace ring (xentrace-like). */
  readonly traceBuffer: TraceBuffer;
  totalInstructions = 0;
  /** dom0 dispatches run (each one a round trip when dom0 is a process). */
  dispatches = 0;
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
  /** Called when a domain shuts down or is crashed. */
  onShutdown: ((domain: Domain) => void) | null = null;
  eventHooks: EventHooks | null = null;
  /** Set to make a running runRealtime() return at its next step. */
  stopRealtime = false;

  /** The log (`xl dmesg`) and console input. */
  readonly console: Console;
  private readonly engine: Engine = new Interpreter();
  private readonly watchers = new Map<number, FrameWatcher>();
  /** The dom0 dispatch being waited for, if any. */
  private blockedOn: Promise<void> | null = null;
  private dispatchChain: Promise<void> = Promise.resolve();
  /** What the running vCPU is being served for, named in a domain_crash log line. */
  private serving = 'guest execution';

  constructor(opts: HypervisorOptions = {}) {
    const bytes = opts.machineMemoryBytes ?? 1024 * 1024 * 1024;
    const nrFrames = Math.floor(bytes / 4096);
    // Refused here, at start, rather than discovered when a guest reaches the top frame.
    if (!Number.isSafeInteger(bytes) || nrFrames < 1 || nrFrames > MAX_FRAMES - FIRST_MFN) {
      throw new RangeError(`machine memory of ${Math.floor(bytes / 2 ** 20)} MiB is not supported: it must be 1..${MAX_MACHINE_MEMORY_MIB} MiB (machine frames 0x${FIRST_MFN.toString(16)}.. up to Sv32's 34-bit physical addresses)`);
    }
    this.mem = new PhysMemory(FIRST_MFN + nrFrames);
    this.frames = new FrameTable(this.mem, FIRST_MFN, nrFrames);
    // Frames get host storage when first touched, so idle domains cost little.
    this.frames.lazy = true;
    this.commandLine = opts.commandLine ?? '';
    this.console = new Console(opts.logLines ?? 10_000, (d, bytes) => this.onConsole?.(d, bytes));
    this.costs = costModel(opts.costs);
    this.traceBuffer = new TraceBuffer(opts.traceCapacity);
    const n = opts.pcpus ?? 1;
    this.clocks = new PcpuClocks(n);
    this.pcpus = this.clocks.pcpus;
    this.sched = new SchedCore(schedulerByName(opts.scheduler ?? 'credit'), {
      clocks: this.clocks,
      events: this.events,
      trace: this.traceBuffer,
      costs: this.costs,
      updateUpcallLine: (v) => this.eventHooks?.updateUpcallLine(v),
    });
    this.scheduler = this.sched.policy;
    this.timers = new VcpuTimers(this.events, this.clocks, this.traceBuffer, (d, virq, vcpuId) => this.eventHooks?.sendVirq(d, virq, vcpuId));
    this.lifecycle = new DomainLifecycle({
      hv: this,
      clocks: this.clocks,
      sched: this.sched,
      timers: this.timers,
      trace: this.traceBuffer,
      observers: this,
      printk: (line) => this.printk(line),
    });
    this.domains = this.lifecycle.domains;
    this.printk(`pvsim hypervisor: ${bytes >> 20} MiB machine memory, ${n} pCPU(s), scheduler ${this.scheduler.name}`);
    this.mem.onStore = (pa, size) => {
      const w = this.watchers.get(Math.floor(pa / 4096));
      return w ? w(pa, size) : false;
    };
    // Event channels are part of the core PV interface: always on.
    this.eventHooks = evtchnHooks(this);
  }

  /** Appends a line to the hypervisor log, dropping the oldest beyond the limit. */
  printk(line: string): void {
    this.console.printk(line);
  }

  dmesg(): readonly string[] {
    return this.console.dmesg();
  }

  // --- Domains --------------------------------------------------------------------------

  /**
   * Builds a PV domain in this process: the same steps dom0's builder drives from its own
   * process (createEmptyDomain, writing the bootstrap pages, finishBuild).
   */
  createPvDomain(image: Uint8Array, opts: CreateDomainOptions): { domain: Domain; layout: PvLayout } {
    return this.lifecycle.createPvDomain(image, opts);
  }

  /** XEN_DOMCTL_createdomain plus populating its memory (lifecycle.ts). */
  createEmptyDomain(opts: { name: string; nrPages: number; privileged?: boolean; weight?: number; cap?: number }): Domain {
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
  }

  // --- HypervisorServices -------------------------------------------------------------

  now(): number {
    return this.clocks.now();
  }

  domain(domid: number): Domain | undefined {
    return this.domains.get(domid);
  }

  trace(event: number, d0 = 0, d1 = 0, d2 = 0, d3 = 0): void {
    this.traceBuffer.record(this.now(), this.clocks.active?.id ?? 0, event, d0, d1, d2, d3);
  }

  allDomains(): Iterable<Domain> {
    return this.domains.values();
  }

  get nrPcpus(): number {
    return this.pcpus.length;
  }

  /** Scheduler decisions taken (one per pCPU schedule call). */
  get schedDecisions(): number {
    return this.sched.decisions;
  }

  get schedulerId(): number {
    return this.scheduler.schedId;
  }

  watchFrame(mfn: number, watcher: FrameWatcher): void {
    this.watchers.set(mfn, watcher);
    this.mem.setWatched(mfn, true);
  }

  unwatchFrame(mfn: number): void {
    if (!this.watchers.delete(mfn)) return;
    this.mem.setWatched(mfn, false);
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

  shutdownDomain(domain: Domain, reason: ShutdownReason): void {
    this.lifecycle.shutdown(domain, reason);
  }

  /** Crashes a domain for something it did that cannot be reflected back to it. */
  crashDomain(domain: Domain, why: string): void {
    this.lifecycle.crash(domain, why);
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

  /** Arms (or, with 0, cancels) the vCPU's single-shot timer; expiry sends VIRQ_TIMER. */
  setSingleshotTimer(vcpu: Vcpu, deadline: number): void {
    this.timers.setSingleshot(vcpu, deadline);
  }

  setPeriodicTimer(vcpu: Vcpu, periodNs: number): void {
    this.timers.setPeriodic(vcpu, periodNs);
  }

  isPortPending(domain: Domain, port: number): boolean {
    return this.eventHooks?.isPortPending(domain, port) ?? false;
  }

  /** SCHEDOP_poll: block until one of `ports` is pending or `timeout` (absolute ns, 0 = none). */
  pollVcpu(vcpu: Vcpu, ports: number[], timeout: number): void {
    this.sched.pollVcpu(vcpu, ports, timeout);
  }

  /** Brings a vCPU up or down (VCPUOP_up/down). */
  setVcpuOnline(vcpu: Vcpu, online: boolean): void {
    this.sched.setVcpuOnline(vcpu, online);
  }

  /** Run-state times up to now, for reports (Xen's vcpu_runstate_info.time[]). */
  runstateTimes(v: Vcpu): number[] {
    return this.sched.runstateTimes(v);
  }

  // --- Running ------------------------------------------------------------------------

  /** Runs the machine until nothing is runnable, `until`, or `maxInstructions`. */
  run(opts: RunOptions | number = {}): RunResult {
    const r = this.runLoop(typeof opts === 'number' ? { maxInstructions: opts } : opts);
    // Between runs, "now" is the time every pCPU has reached.
    this.clocks.clock = Math.max(this.clocks.clock, Math.min(...this.pcpus.map((p) => p.now)));
    return r;
  }

  private runLoop(o: RunOptions): RunResult {
    const until = o.until ?? Infinity;
    const instrLimit = this.totalInstructions + (o.maxInstructions ?? Infinity);
    for (;;) {
      const p = this.nextPcpu();
      if (p.now >= until) return { kind: 'time' };
      if (this.totalInstructions >= instrLimit) return { kind: 'limit' };
      this.fireEventsUpTo(p.now);
      if (this.blockedOn) return { kind: 'blocked', wait: this.blockedOn };
      if (p.needResched || p.current === null || p.now >= p.sliceEnd || !this.sched.isRunnable(p.current)) this.sched.schedule(p);
      if (p.current === null) {
        // Housekeeping timers (scheduler ticks) alone do not keep the machine going.
        const quiet = this.events.pendingWork === 0 && !this.anyBusy() && !this.anyRunnable();
        if (quiet && until === Infinity) return { kind: 'idle' };
        if (quiet) {
          for (const q of this.pcpus) q.now = Math.max(q.now, until);
          this.clocks.clock = until;
          return { kind: 'time' };
        }
        const next = Math.min(this.events.peekTime(), this.earliestBusyClock(p), until);
        if (next === Infinity) return { kind: 'idle' };
        p.now = Math.max(p.now, next);
        continue;
      }
      this.runQuantum(p, Math.min(until, p.sliceEnd), instrLimit);
    }
  }

  /**
   * Realtime mode: the same simulation, paced so that virtual time does not run ahead of
   * wall time (times `speed`). For interactive consoles and demos; results are no longer
   * tied to the seed alone, since wall time decides how far each step goes.
   */
  async runRealtime(opts: { until?: number; speed?: number; stepNs?: number } = {}): Promise<Exclude<RunResult, { kind: 'blocked' }>> {
    const until = opts.until ?? Infinity;
    const speed = opts.speed ?? 1;
    const step = opts.stepNs ?? 2_000_000;
    const wall0 = performance.now();
    const virt0 = this.now();
    for (;;) {
      const allowed = virt0 + (performance.now() - wall0) * 1e6 * speed;
      const target = Math.min(until, Math.max(allowed, this.now()) + step);
      const r = this.run({ until: target });
      // A dom0 dispatch is waited out and then paced like any step: continuing at once would
      // let a guest that keeps dom0 busy run virtual time ahead of wall time.
      if (r.kind === 'blocked') await r.wait;
      else if (r.kind !== 'time' || target >= until) return r;
      const ahead = (this.now() - virt0) / (1e6 * speed) - (performance.now() - wall0);
      // Always give the event loop a turn, so that sockets are served even when the
      // simulation runs slower than wall time.
      await new Promise((res) => (ahead >= 1 ? setTimeout(res, ahead) : setImmediate(res)));
      if (this.stopRealtime) return { kind: 'time' };
    }
  }

  /**
   * The pCPU to advance: earliest clock first; at equal clocks a busy pCPU, then one asked
   * to reschedule, then an idle one, then the lowest id. An idle pCPU therefore never
   * jumps ahead while another one at the same instant still has work to start.
   */
  private nextPcpu(): Pcpu {
    const rank = (q: Pcpu) => (q.current !== null ? 0 : q.needResched ? 1 : 2);
    let best = this.pcpus[0]!;
    for (let i = 1; i < this.pcpus.length; i++) {
      const q = this.pcpus[i]!;
      if (q.now < best.now || (q.now === best.now && rank(q) < rank(best))) best = q;
    }
    return best;
  }

  /**
   * The earliest clock among other pCPUs that have work (running, or asked to reschedule).
   * An idle pCPU never advances past it: those pCPUs may still wake something for it, and
   * a wake-up must not be seen after the time it happened.
   */
  private earliestBusyClock(except: Pcpu): number {
    let t = Infinity;
    for (const q of this.pcpus) if (q !== except && (q.current !== null || q.needResched)) t = Math.min(t, q.now);
    return t;
  }

  private anyBusy(): boolean {
    return this.pcpus.some((q) => q.current !== null);
  }

  private anyRunnable(): boolean {
    for (const d of this.domains.values()) for (const v of d.vcpus) if (v.runstate === 'runnable') return true;
    return false;
  }

  private fireEventsUpTo(t: number): void {
    while (this.blockedOn === null && this.events.peekTime() <= t) {
      const ev: TimedEvent = this.events.pop()!;
      const saved = this.clocks.active;
      this.clocks.active = null;
      this.clocks.clock = ev.time;
      try {
        ev.fire();
      } catch (e) {
        // Timers belong to no single caller here: log and carry on rather than end the machine.
        this.printk(`timed event failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      this.clocks.active = saved;
    }
  }

  /**
   * Runs dom0's handler `fn` a dispatch latency from now (cost model: dom0DispatchNs). The
   * machine stands still while it runs; whatever it asks of the hypervisor happens at that
   * virtual instant. Local and remote dom0 behave the same way, so a scenario gives the same
   * trace hash with dom0 in this process or in its own.
   */
  dispatch(fn: () => Promise<void> | void, delayNs = this.costs.dom0DispatchNs): void {
    this.events.schedule(this.now() + delayNs, () => {
      this.dispatches++;
      const started = this.dispatchChain.then(() => fn());
      const wait = started.then(
        () => {},
        (e: unknown) => this.printk(`dom0 dispatch failed: ${(e as Error).message}`),
      );
      this.dispatchChain = wait;
      this.blockedOn = wait.finally(() => {
        this.blockedOn = null;
      });
    });
  }

  /** Like run, but waits out dom0 dispatches until a real stop (idle, limit or time). */
  async runAsync(opts: RunOptions = {}): Promise<Exclude<RunResult, { kind: 'blocked' }>> {
    const start = this.totalInstructions;
    for (;;) {
      const left = opts.maxInstructions === undefined ? undefined : Math.max(0, opts.maxInstructions - (this.totalInstructions - start));
      const r = this.run({ until: opts.until, maxInstructions: left });
      if (r.kind !== 'blocked') return r;
      await r.wait;
    }
  }

  private runQuantum(p: Pcpu, until: number, instrLimit: number): void {
    const v = p.current!;
    const hart = v.hart;
    const ins = this.costs.instructionNs;
    const end = Math.min(until, this.events.peekTime(), p.now + MAX_QUANTUM_NS);
    this.clocks.active = p;
    while (p.now < end && p.current === v && !p.needResched && this.sched.isRunnable(v)) {
      const budget = Math.max(1, Math.min(Math.ceil((end - p.now) / ins), instrLimit - this.totalInstructions));
      const before = hart.instret;
      hart.timeSource = () => p.now + (hart.instret - before) * ins;
      try {
        const why = this.engine.run(hart, budget);
        const ran = hart.instret - before;
        this.totalInstructions += ran;
        v.stats.instructions += ran;
        p.now += ran * ins;
        p.busyNs += ran * ins;
        if (why === ExitReason.HostTrap) this.handleTrap(v, p);
        else if (why === ExitReason.Wfi) this.yieldVcpu(v);
      } catch (e) {
        // A bug met while running or serving this vCPU costs its domain, not the machine.
        this.domainCrashOnError(v, this.serving, e);
        this.serving = 'guest execution';
        break;
      }
      if (this.totalInstructions >= instrLimit) break;
    }
    this.clocks.active = null;
  }

  /**
   * Xen's domain_crash() for an unexpected error met on a guest's behalf (a hypercall
   * handler, trap handling, the CPU): the domain goes to crashed shutdown (the toolstack's
   * on_crash decides what happens next) and the log names it and the error. The hypervisor
   * and every other domain carry on.
   */
  private domainCrashOnError(vcpu: Vcpu, during: string, e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const where = err.stack?.split('\n')[1]?.trim() ?? '';
    this.printk(`d${vcpu.domain.domid}v${vcpu.vcpuId}: hypervisor error during ${during}: ${err.name}: ${err.message}${where ? ` (${where})` : ''}`);
    this.crashDomain(vcpu.domain, `hypervisor error during ${during}: ${err.message}`);
  }

  private handleTrap(vcpu: Vcpu, p: Pcpu): void {
    const hart = vcpu.hart;
    const cause = hart.trapCause >>> 0;
    vcpu.stats.traps.set(cause, (vcpu.stats.traps.get(cause) ?? 0) + 1);
    if (cause === CAUSE_SUPERVISOR_ECALL) {
      vcpu.stats.hypercalls++;
      p.now += this.costs.hypercallNs;
      const x = hart.x;
      const nr = x[17]! >>> 0;
      this.traceBuffer.record(p.now, p.id, TRC.PV_HYPERCALL, vcpu.domain.domid, vcpu.vcpuId, nr, x[10]! >>> 0);
      this.serving = `hypercall ${nr}`;
      const result = dispatchHypercall({ hv: this, vcpu }, nr, x[10]!, x[11]!, x[12]!, x[13]!, x[14]!);
      this.serving = 'guest execution';
      x[10] = result | 0;
      hart.pc = (hart.pc + 4) >>> 0;
      return;
    }
    p.now += this.costs.trapReflectNs;
    this.traceBuffer.record(p.now, p.id, TRC.PV_TRAP, vcpu.domain.domid, vcpu.vcpuId, cause, hart.trapTval >>> 0);
    if (cause === CAUSE_ILLEGAL_INSTRUCTION && hart.trapTval >>> 0 === WFI_ENCODING) {
      // mstatus.TW makes wfi trap: idling is a scheduling decision, so the vCPU gives up
      // the pCPU (PV kernels idle with SCHEDOP_block, which waits for events).
      hart.pc = (hart.pc + 4) >>> 0;
      this.yieldVcpu(vcpu);
      return;
    }
    if (cause & CAUSE_INTERRUPT) {
      this.printk(`d${vcpu.domain.domid}v${vcpu.vcpuId}: unexpected M-level interrupt ${cause & 0x7fffffff}`);
      return;
    }
    if (cause === CAUSE_FETCH_PAGE_FAULT || cause === CAUSE_FETCH_ACCESS) {
      const stvec = hart.readCsr(CSR_STVEC) & ~3;
      if (stvec === 0 || hart.pc >>> 0 === stvec >>> 0) {
        this.crashDomain(
          vcpu.domain,
          `instruction fault (cause ${cause}) at 0x${(hart.pc >>> 0).toString(16)} with ` +
            (stvec === 0 ? 'no trap vector set' : 'the fault at its own trap vector'),
        );
        return;
      }
    }
    // Everything else is the guest kernel's to handle, as if it had been delegated.
    hart.deliverToSupervisor(cause, hart.trapTval);
  }
}
