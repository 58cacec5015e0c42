// The run loop: advances the machine in virtual time and waits for dom0.
//
// Time is simulated conservatively: the pCPU with the earliest clock always goes next,
// runs its vCPU for at most a short quantum (never past the next queued event), and timed
// events fire in (time, sequence) order before any pCPU passes them. Nothing depends on
// wall time or host speed, so a run is a pure function of its inputs. A dom0 dispatch
// (dispatch) stops the machine until dom0's handler is done; run returns 'blocked' with a
// promise to wait on, and runAsync does that waiting. A port dispatch first lets the
// machine run on for its lookahead window (lookahead.ts: guest instructions only, up to the
// least dom0's work can cost). Realtime pacing is in realtime.ts.

import { createEngine, DEFAULT_ENGINE, type EngineKind } from '../cpu/engines.ts';
import { ExitReason, type Engine } from '../cpu/engine.ts';
import type { Domain, Vcpu } from '../domain/domain.ts';
import { PRIV_M, PRIV_S, PRIV_U } from '../cpu/hart.ts';
import type { EventQueue, TimedEvent } from '../time/event_queue.ts';
import type { CostModel } from '../time/cost_model.ts';
import type { SchedCore } from '../sched/core.ts';
import type { Traps } from '../traps.ts';
import type { Pcpu, PcpuClocks } from './pcpu.ts';
import { wallNs, wireStats } from '../../protocol/wire_stats.ts';
import { pfnOf, type PhysMemory } from '../cpu/memory.ts';
import { StoreRollback } from './lookahead.ts';

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

/** Longest a vCPU runs without the loop looking at other pCPUs (bounds cross-pCPU skew). */
const MAX_QUANTUM_NS = 50_000;

export interface RunLoopDeps {
  readonly clocks: PcpuClocks;
  readonly events: EventQueue;
  readonly costs: CostModel;
  readonly sched: SchedCore;
  readonly traps: Traps;
  readonly domains: ReadonlyMap<number, Domain>;
  readonly mem: PhysMemory;
  printk(line: string): void;
  /** The engine of domains that name none (Domain.cpuEngine); default DEFAULT_ENGINE. */
  readonly cpu?: EngineKind;
  /** Use `cpu` for every domain, whatever it names (`--cpu` given on the command line). */
  readonly forceCpu?: boolean;
}

/** What dom0's lookahead windows did (lookahead.ts). */
export interface LookaheadStats {
  /** Port dispatches that opened a window. */
  windows: number;
  /** Guest instructions run inside windows. */
  instructions: number;
  /** pCPUs a store to a frame dom0 maps stopped (that store is rolled back, then replayed). */
  mappedStores: number;
  /** pCPUs an exit (hypercall, WFI, fault) stopped: served once dom0 has answered. */
  exits: number;
}

/** One window: opened at dispatch time `t0`, guests may run to `end`. */
interface Window {
  readonly t0: number;
  readonly end: number;
  ran: boolean;
  instructions: number;
}

/**
 * Adds a slice's guest instructions (by privilege) and the hart's TLB misses, walks and walk
 * references to the domain's counters (Domain.perf); returns trap mode's virtual privilege
 * during the slice (undefined elsewhere). Once per slice: nothing in the interpreter's loop.
 */
function countSlice(v: Vcpu, ran: number): number | undefined {
  const perf = v.domain.perf;
  const hart = v.hart;
  const m = v.perfMark;
  const gp = v.arch?.guestPriv();
  if (gp !== undefined) {
    // The real hart runs all of it in U; the virtual privilege is the mode's (constant between exits).
    if (gp === PRIV_U) perf.instrUser += ran;
    else perf.instrKernel += ran;
  } else {
    hart.notePriv();
    const r = hart.retiredByPriv;
    const user = r[PRIV_U]! + r[PRIV_U + 4]!; // U and VU
    const kernel = r[PRIV_S]! + r[PRIV_S + 4]! + r[PRIV_M]!; // S and VS (M: never a guest's)
    perf.instrUser += user - m.user;
    perf.instrKernel += kernel - m.kernel;
    m.user = user;
    m.kernel = kernel;
  }
  const mmu = hart.mmu;
  const refs = mmu.walkRefs + mmu.walker.refs;
  perf.pageWalks += mmu.walks - m.walks;
  perf.walkRefs += refs - m.walkRefs;
  // The misses hardware would have had (the modelled TLB's), not the host cache's.
  perf.tlbMisses += mmu.reach.misses - m.tlbMisses;
  m.walks = mmu.walks;
  m.walkRefs = refs;
  m.tlbMisses = mmu.reach.misses;
  return gp;
}

export class RunLoop {
  totalInstructions = 0;
  /** dom0 dispatches run (each one a round trip when dom0 is a process). */
  dispatches = 0;
  /** The machine's engine kind (domains may name their own unless forceCpu). */
  readonly cpu: EngineKind;
  private readonly forceCpu: boolean;
  /** One engine per kind in use, made on first use (a translator keeps its caches across slices). */
  private readonly engines = new Map<EngineKind, Engine>();
  /**
   * Called about once a wall second during a run with the virtual time reached (the
   * earliest pCPU clock). It only observes: the run does the same with or without it.
   */
  onProgress: ((virtualNs: number) => void) | null = null;
  /** Wall milliseconds between onProgress calls. */
  progressIntervalMs = 1000;
  private progressTick = 0;
  private nextProgressAt = 0;
  /** dom0 dispatches whose handler failed (each also in the hypervisor log). */
  dispatchFailures = 0;
  /** Told of each failed dom0 dispatch (the scenario runner fails the run with it). */
  onDispatchFailed: ((message: string) => void) | null = null;
  /** The dom0 dispatch being waited for, if any. */
  private blockedOn: Promise<void> | null = null;
  private dispatchChain: Promise<void> = Promise.resolve();
  private readonly clocks: PcpuClocks;
  private readonly pcpus: readonly Pcpu[];
  private readonly events: EventQueue;
  /**
   * Lookahead (design sec. 3): a port dispatch lets guests run on while dom0 works, up to
   * the least its work can cost (lookahead.ts). Off (or PVSIM_LOOKAHEAD=0 in the
   * environment, for comparisons): the machine stands still at once.
   */
  lookahead = process.env.PVSIM_LOOKAHEAD !== '0';
  readonly lookaheadStats: LookaheadStats = { windows: 0, instructions: 0, mappedStores: 0, exits: 0 };
  /** Frames dom0 maps (set by the control service): a guest store to one ends its pCPU's window. */
  dom0Mapped: ((mfn: number) => boolean) | null = null;
  /**
   * Makes the frames dom0 maps that these domains can store to watched for a window (the
   * control service; in-process pages are not watched otherwise); returns the undo, if any.
   */
  dom0Arm: ((domids: number[]) => (() => void) | null) | null = null;
  /** Told when a window has run, before dom0 is waited for (tests observe the machine here). */
  onWindowRun: ((info: { t0: number; end: number; instructions: number }) => void) | null = null;
  private win: Window | null = null;
  private readonly rollback = new StoreRollback();
  /** The hart running inside the window (a store to a dom0-mapped frame stops it). */
  private windowHart: Vcpu['hart'] | null = null;
  /** pCPUs stopped in a window by an exit not yet served. */
  private deferred = 0;

  constructor(private readonly deps: RunLoopDeps) {
    this.clocks = deps.clocks;
    this.pcpus = deps.clocks.pcpus;
    this.events = deps.events;
    this.cpu = deps.cpu ?? DEFAULT_ENGINE;
    this.forceCpu = deps.forceCpu ?? false;
  }

  /** The engine kind that runs `d`'s vCPUs. */
  engineKind(d: Domain): EngineKind {
    return this.forceCpu ? this.cpu : (d.cpuEngine ?? this.cpu);
  }

  private engineFor(d: Domain): Engine {
    const kind = this.engineKind(d);
    let e = this.engines.get(kind);
    if (!e) this.engines.set(kind, (e = createEngine(kind)));
    return e;
  }

  /** Runs the machine until nothing is runnable, `until`, or `maxInstructions`. */
  run(opts: RunOptions | number = {}): RunResult {
    const r = this.runLoop(typeof opts === 'number' ? { maxInstructions: opts } : opts);
    // Between runs, "now" is the time every pCPU has reached; while a window's dispatch is
    // waited for, the dispatch's own time (dom0's requests happen then, whatever ran ahead).
    if (this.win !== null) this.clocks.clock = this.win.t0;
    else this.clocks.clock = Math.max(this.clocks.clock, Math.min(...this.pcpus.map((p) => p.now)));
    return r;
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

  /**
   * Runs dom0's handler `fn` `delayNs` from now. The machine stands still while it runs;
   * whatever it asks of the hypervisor happens at that virtual instant. Local and remote
   * dom0 behave the same way, so a scenario gives the same trace hash with dom0 in this
   * process or in its own.
   */
  dispatch(fn: () => Promise<void> | void, delayNs: number, lookaheadNs = 0): void {
    this.events.schedule(this.clocks.now() + delayNs, () => {
      this.dispatches++;
      const w0 = wireStats ? wallNs() : 0;
      let started: Promise<void>;
      if (lookaheadNs > 0 && this.lookahead) {
        // Started here, before the window runs, so that a dom0 in its own process hears of
        // the dispatch and works while the machine runs on. (The previous dispatch is done:
        // events fire only while nothing is waited for.) In-process dom0 starts after the
        // window (sim/local_platform.ts), reading what a remote one reads.
        let r: Promise<void> | void;
        try {
          r = fn();
        } catch (e) {
          r = Promise.reject(e);
        }
        started = r instanceof Promise ? r : Promise.resolve();
        if (r instanceof Promise) {
          const t0 = this.clocks.now();
          this.win = { t0, end: t0 + lookaheadNs, ran: false, instructions: 0 };
          this.lookaheadStats.windows++;
        }
      } else started = this.dispatchChain.then(() => fn());
      const wait = started.then(
        () => {},
        (e: unknown) => {
          const message = e instanceof Error ? e.message : String(e);
          this.deps.printk(`dom0 dispatch failed: ${message}`);
          // Counted and handed on: a scenario run fails with it rather than running on.
          this.dispatchFailures++;
          this.onDispatchFailed?.(message);
        },
      );
      this.dispatchChain = wait;
      this.blockedOn = wait.finally(() => {
        if (wireStats) {
          wireStats.dispatches++;
          wireStats.dispatchWaitNs += wallNs() - w0;
        }
        this.closeWindow();
        this.blockedOn = null;
      });
    });
  }

  private runLoop(o: RunOptions): RunResult {
    const { sched } = this.deps;
    const until = o.until ?? Infinity;
    const instrLimit = this.totalInstructions + (o.maxInstructions ?? Infinity);
    for (;;) {
      const p = this.nextPcpu();
      if (this.onProgress !== null && (++this.progressTick & 1023) === 0) {
        const t = Date.now();
        if (t >= this.nextProgressAt) {
          this.nextProgressAt = t + this.progressIntervalMs;
          this.onProgress(Math.min(p.now, until));
        }
      }
      if (p.now >= until) return { kind: 'time' };
      if (this.totalInstructions >= instrLimit) return { kind: 'limit' };
      if (this.blockedOn === null && this.deferred > 0) {
        this.serveDeferredExits();
        continue;
      }
      this.fireEventsUpTo(p.now);
      if (this.blockedOn) {
        if (this.win !== null && !this.win.ran) this.runWindow();
        return { kind: 'blocked', wait: this.blockedOn };
      }
      if (p.needResched || p.current === null || p.now >= p.sliceEnd || !sched.isRunnable(p.current)) sched.schedule(p);
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
      this.runQuantum(p, until, instrLimit);
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
    for (const d of this.deps.domains.values()) for (const v of d.vcpus) if (v.runstate === 'runnable') return true;
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
        this.deps.printk(`timed event failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      this.clocks.active = saved;
    }
  }

  // --- dom0's lookahead window (lookahead.ts) ---------------------------------------------

  /**
   * Runs the window of the dispatch just issued: each pCPU's vCPU runs guest instructions
   * until the window's end, the next timed event, its slice's end or an exit, earliest pCPU
   * first; a store to a frame dom0 maps ends the window for all. Neither `until` nor an
   * instruction limit cuts it (so how a caller slices a run never changes what a window
   * holds). Then that store is rolled back: dom0 reads the pages it maps as of T.
   */
  private runWindow(): void {
    const w = this.win!;
    w.ran = true;
    const mem = this.deps.mem;
    const mapped = this.dom0Mapped;
    mem.beforeWatchedStore = (pa, size) => {
      const pfn = pfnOf(pa);
      const frame = mem.frames[pfn];
      if (mapped === null || !mapped(pfn) || !frame || this.windowHart === null) return;
      this.rollback.keep(pfn, frame, pa & 0xfff, size);
      // The engine stops after this instruction (the store reaches a watcher: it re-syncs).
      this.windowHart.stopRequested = true;
    };
    const i0 = this.totalInstructions;
    const end0 = Math.min(w.end, this.events.peekTime());
    const running = this.pcpus.filter((q) => this.runsInWindow(q, end0)).map((q) => q.current!.domain.domid);
    const disarm = running.length > 0 ? (this.dom0Arm?.(running) ?? null) : null;
    try {
      for (;;) {
        const end = Math.min(w.end, this.events.peekTime());
        let p: Pcpu | null = null;
        for (const q of this.pcpus) if (this.runsInWindow(q, end) && (p === null || q.now < p.now)) p = q;
        if (p === null) break;
        this.windowHart = p.current!.hart;
        const kept = this.rollback.size;
        this.runQuantum(p, end, Infinity, true);
        if (this.rollback.size > kept) {
          // The window ends for every pCPU: one that ran on could load what this store
          // wrote, and its instructions come before dom0's dispatch in the serial order
          // (lookahead.ts) while this store comes after.
          p.windowStopped = true;
          this.lookaheadStats.mappedStores++;
          break;
        }
      }
    } finally {
      this.windowHart = null;
      mem.beforeWatchedStore = null;
      disarm?.();
    }
    w.instructions = this.totalInstructions - i0;
    this.lookaheadStats.instructions += w.instructions;
    this.rollback.rollBack();
    this.clocks.active = null;
    this.clocks.clock = w.t0;
    this.onWindowRun?.({ t0: w.t0, end: w.end, instructions: w.instructions });
  }

  private runsInWindow(q: Pcpu, end: number): boolean {
    const v = q.current;
    return v !== null && q.deferredExit < 0 && !q.windowStopped && q.now < end && q.now < q.sliceEnd && !q.needResched && this.deps.sched.isRunnable(v);
  }

  /** dom0 has answered (its stores and copies have landed): the rolled-back guest stores land again. */
  private closeWindow(): void {
    if (this.win === null) return;
    this.win = null;
    this.rollback.replay(this.deps.mem.frames);
    for (const q of this.pcpus) q.windowStopped = false;
  }

  /** Serves the exits that stopped pCPUs in the last window, earliest first, each at its time. */
  private serveDeferredExits(): void {
    const stopped = this.pcpus.filter((q) => q.deferredExit >= 0).sort((a, b) => a.now - b.now || a.id - b.id);
    const { sched, traps } = this.deps;
    for (const p of stopped) {
      const why = p.deferredExit;
      p.deferredExit = -1;
      this.deferred--;
      const v = p.current;
      // A vCPU paused or destroyed meanwhile (by dom0's requests) is not served: its hart
      // is still at the trapping instruction, which traps again if it ever runs.
      if (v === null || !sched.isRunnable(v)) continue;
      this.clocks.active = p;
      try {
        v.walks.charge(p, this.deps.costs);
        if (why === ExitReason.HostTrap) {
          const i0 = v.hart.instret;
          traps.handle(v, p);
          if (p.deferredTrapMode) v.domain.perf.instrKernel += v.hart.instret - i0;
        } else sched.yieldVcpu(v);
      } catch (e) {
        traps.crashOnError(v, e);
      }
      this.clocks.active = null;
    }
  }

  private runQuantum(p: Pcpu, until: number, instrLimit: number, inWindow = false): void {
    const { sched, traps } = this.deps;
    const v = p.current!;
    const hart = v.hart;
    const engine = this.engineFor(v.domain);
    const ins = this.deps.costs.instructionNs;
    // Where the quantum must stop whoever runs the machine: the next event, the slice's end,
    // the quantum cap (on a fixed grid of virtual time, so that it falls on the same
    // instants however earlier quanta were cut).
    const due = Math.min(this.events.peekTime(), p.sliceEnd, (Math.floor(p.now / MAX_QUANTUM_NS) + 1) * MAX_QUANTUM_NS);
    const end = Math.min(until, due);
    this.clocks.active = p;
    const kept = this.rollback.size;
    while (p.now < end && p.current === v && !p.needResched && sched.isRunnable(v)) {
      const budget = Math.max(1, Math.min(Math.ceil((end - p.now) / ins), instrLimit - this.totalInstructions));
      const before = hart.instret;
      hart.timeSource = () => p.now + (hart.instret - before) * ins;
      try {
        // An HVM vCPU takes a virtual interrupt now if it can (its mode injects it); not in
        // a lookahead window, which holds guest instructions only (it waits for the next quantum).
        if (!inWindow) v.arch?.enter(p);
        const why = engine.run(hart, budget);
        const ran = hart.instret - before;
        this.totalInstructions += ran;
        v.stats.instructions += ran;
        p.now += ran * ins;
        p.busyNs += ran * ins;
        const guestPriv = countSlice(v, ran);
        if (inWindow && (why === ExitReason.HostTrap || why === ExitReason.Wfi)) {
          // Served once dom0 has answered: hypervisor state does not move in a window.
          p.deferredExit = why;
          p.deferredTrapMode = guestPriv !== undefined;
          this.deferred++;
          this.lookaheadStats.exits++;
          break;
        }
        if (why === ExitReason.HostTrap) {
          // Page walks are charged before the exit is served (PV trap or hypercall, HVM exit).
          v.walks.charge(p, this.deps.costs);
          const i0 = hart.instret;
          traps.handle(v, p);
          // Trap mode: instructions the hypervisor emulated are the virtual kernel's.
          if (guestPriv !== undefined) v.domain.perf.instrKernel += hart.instret - i0;
        } else if (why === ExitReason.Wfi) {
          v.walks.charge(p, this.deps.costs);
          sched.yieldVcpu(v);
        }
      } catch (e) {
        // A bug met while running or serving this vCPU costs its domain, not the machine.
        traps.crashOnError(v, e);
        break;
      }
      if (this.totalInstructions >= instrLimit) break;
      // A store to a frame dom0 maps ends this pCPU's part of the window (lookahead.ts).
      if (inWindow && this.rollback.size > kept) break;
    }
    // The vCPU's page walks are charged where its quantum ends at an instant every run of
    // the machine shares (an event, the slice's end, the quantum cap's grid, a reschedule
    // or block); a quantum cut short by `until` (how far a caller, e.g. dom0's lookahead,
    // lets the machine run) keeps them for the next such point. So where a run is sliced
    // never moves a guest instruction in virtual time, as for instructions (time = count *
    // ns). The guest's clock sees a walk at most one quantum cap (50 us) late.
    if (p.now >= due || p.current !== v || p.needResched || !sched.isRunnable(v)) v.walks.charge(p, this.deps.costs);
    this.clocks.active = null;
  }
}
