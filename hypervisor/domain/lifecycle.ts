// The domain life cycle (Xen's common/domain.c): the domain table, creating a domain (an
// empty one for a builder to fill, a PV domain built here, the control domain), pause and
// unpause, shutdown and crash, and destruction. Observers (the toolstack, dom0) hear of
// each step through the callbacks in DomainObservers.

import { Domain } from './domain.ts';
import type { Device } from '../../protocol/wire.ts';
import { SHUTDOWN, type ShutdownReason } from '../../protocol/xen/hypercall.ts';
import { VIRQ } from '../../protocol/xen/event_channel.ts';
import { initSharedInfo } from '../../protocol/xen/shared_info.ts';
import { MAX_GUEST_CMDLINE } from '../../protocol/xen/start_info.ts';
import { allocPvDomain, finishPvDomain } from './builder.ts';
import { BuildError, planPvDomain, pvBoot, writePvBootstrap, type PvBoot, type PvLayout } from '../../xenguest/pv_bootstrap.ts';
import { FrameType, OutOfMemoryError } from '../mm/frame_table.ts';
import { mmDestroyDomain } from '../mm/domain_mm.ts';
import { evtchnAllocUnbound } from '../evtchn/ops.ts';
import type { EventHooks } from '../evtchn/hooks.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import type { SchedCore } from '../sched/core.ts';
import type { VcpuTimers } from '../time/vcpu_timer.ts';
import type { PcpuClocks } from '../run/pcpu.ts';
import { TRC, type TraceBuffer } from '../trace/trace.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { HVM_BOARD, HVM_MAX_MEMORY_BYTES, hvmBoot, planHvmDomain, writeHvmImage, type HvmBoot, type HvmMode, type ShadowSync } from '../../xenguest/hvm_image.ts';
import { gnttabInit } from '../gnttab/index.ts';
import { checkHvmMode, createHvmArch, type HvmDeps } from '../hvm/index.ts';
import type { GuestPagingFactory } from '../hvm/paging.ts';

/** vCPUs of the dom0 process (Xen's dom0_max_vcpus; pvsim's dom0 is one Node.js thread). */
export const DOM0_VCPUS = 1;

export interface CreateDomainOptions {
  name: string;
  memoryBytes: number;
  cmdline?: string;
  /**
   * The command line from the domain's own id, in place of `cmdline`: called once the
   * domain exists (libxl builds after XEN_DOMCTL_createdomain has given the domid).
   */
  cmdlineFor?: (domid: number) => string;
  privileged?: boolean;
  vcpus?: number;
  weight?: number;
  cap?: number;
  /** Hard and soft affinity (xl.cfg cpus=, cpus_soft=): pCPU numbers; absent = all pCPUs; none. */
  hardAffinity?: readonly number[] | null;
  softAffinity?: readonly number[] | null;
  /** The id of the cpupool to create it in (xl.cfg pool=; default Pool-0, 0). */
  cpupool?: number;
  /** Devices dom0 is to announce in XenStore before the domain runs. */
  devices?: readonly Device[];
}

/** XEN_DOMCTL_createdomain's part of a domain: its name, memory and scheduling parameters. */
export interface EmptyDomainOptions {
  name: string;
  nrPages: number;
  privileged?: boolean;
  weight?: number;
  cap?: number;
  hardAffinity?: readonly number[] | null;
  softAffinity?: readonly number[] | null;
  /** HVM RAM: aligned 4 MiB extents where free, so the G-stage can use megapages. */
  superpages?: boolean;
  /** The id of the cpupool to create it in (xl.cfg pool=; default Pool-0, 0). */
  cpupool?: number;
}

/** An HVM domain's virtualization choices (xl.cfg's hvm_mode and shadow_sync). */
export interface HvmOptions {
  mode: HvmMode;
  shadowSync: ShadowSync;
  /** Guest paging for trap mode (tests); default: the shadow code. */
  paging?: GuestPagingFactory;
  /** The domain has the legacy ATA disk: its node goes into the device tree. */
  ata?: boolean;
  /** The /hypervisor node (xl.cfg xen_platform_pci; default true). */
  xenPlatform?: boolean;
}

/** Who hears of life-cycle steps; read at each step, so they may be set at any time. */
export interface DomainObservers {
  /** A domain has been built (before it is unpaused). */
  readonly onDomainCreated: ((domain: Domain) => void) | null;
  /** A domain is being destroyed (before its pages and ports go). */
  readonly onDomainDestroyed: ((domain: Domain) => void) | null;
  /** A domain shut down or was crashed. */
  readonly onShutdown: ((domain: Domain) => void) | null;
  /** The event layer (ports set up and torn down with the domain, VIRQ_DOM_EXC). */
  readonly eventHooks: EventHooks | null;
}

export interface LifecycleDeps {
  /** The services per-domain subsystems (event channels, the PV MMU) are handed. */
  readonly hv: HypervisorServices;
  readonly clocks: PcpuClocks;
  readonly sched: SchedCore;
  readonly timers: VcpuTimers;
  readonly trace: TraceBuffer;
  readonly observers: DomainObservers;
  /** What an HVM domain's board needs of the core. */
  readonly hvm: HvmDeps;
  printk(line: string): void;
}

export class DomainLifecycle {
  readonly domains = new Map<number, Domain>();
  private nextDomid = 1;

  constructor(private readonly deps: LifecycleDeps) {}

  private get hv(): HypervisorServices {
    return this.deps.hv;
  }

  private get observers(): DomainObservers {
    return this.deps.observers;
  }

  /**
   * Builds a PV domain in this process: the same steps dom0's builder drives from its own
   * process (createEmptyDomain, writing the bootstrap pages, finishBuild).
   */
  createPvDomain(image: Uint8Array, opts: CreateDomainOptions): { domain: Domain; layout: PvLayout } {
    const plan = planPvDomain(image, opts);
    const d = this.createEmptyDomain({ ...opts, nrPages: plan.nrPages });
    d.dom0Devices = opts.devices ?? [];
    try {
      if (opts.cmdlineFor) {
        const cmdline = opts.cmdlineFor(d.domid);
        const bytes = new TextEncoder().encode(cmdline).length;
        if (bytes >= MAX_GUEST_CMDLINE) throw new BuildError(`command line is longer than ${MAX_GUEST_CMDLINE - 1} bytes`);
        plan.cmdline = cmdline;
      }
      writePvBootstrap(plan, d.p2m, d.sharedInfoMfn, { store: d.storeEvtchn, console: d.consoleEvtchn }, (pfn) => this.hv.frames.frameStorage(d.p2m[pfn]!));
      this.finishBuild(d, pvBoot(plan, d.p2m), plan.layout);
    } catch (e) {
      this.destroy(d);
      throw e;
    }
    return { domain: d, layout: plan.layout };
  }

  /**
   * Builds an HVM domain in this process: RAM at 0x80000000 (the domain's frames), the
   * kernel at its physical addresses and the device tree written into it, then the board
   * and vCPU 0 at the entry (finishHvmBuild). The same steps dom0's builder drives.
   */
  createHvmDomain(image: Uint8Array, opts: CreateDomainOptions & { hvm: HvmOptions }): Domain {
    checkHvmMode(opts.hvm.mode);
    const cmdline = opts.cmdline ?? '';
    // The command line goes into the device tree, so {domid}-style substitution needs the id first.
    const d = this.createEmptyDomain({ ...opts, nrPages: Math.floor(opts.memoryBytes / PAGE_SIZE), superpages: true });
    d.dom0Devices = opts.devices ?? [];
    try {
      const plan = planHvmDomain(image, { memoryBytes: opts.memoryBytes, cmdline: opts.cmdlineFor ? opts.cmdlineFor(d.domid) : cmdline, vcpus: opts.vcpus, ata: opts.hvm.ata, xenPlatform: opts.hvm.xenPlatform });
      writeHvmImage(plan, (pfn) => this.hv.frames.frameStorage(d.p2m[pfn]!));
      this.finishHvmBuild(d, hvmBoot(plan), opts.hvm);
    } catch (e) {
      this.destroy(d);
      throw e;
    }
    return d;
  }

  /**
   * Ends an HVM build once RAM is written: the console and store rings (hypervisor pages of
   * the domain, outside its guest-physical space, as Xen's HVM "special pages"), the board,
   * the vCPUs; the domain stays paused. Tells dom0 (onDomainCreated).
   */
  finishHvmBuild(d: Domain, boot: HvmBoot, hvm: HvmOptions): void {
    // dom0's builder plans at most this much (planHvmDomain); a domain made empty with more
    // pages would have RAM past 4 GiB guest-physical, which no device tree value or a1 can name.
    if (d.nrPages * PAGE_SIZE > HVM_MAX_MEMORY_BYTES) {
      throw new BuildError(`an HVM domain has at most ${HVM_MAX_MEMORY_BYTES / 2 ** 20} MiB of RAM (0x${HVM_BOARD.ramBase.toString(16)} up to 4 GiB), d${d.domid} has ${(d.nrPages * PAGE_SIZE) / 2 ** 20} MiB`);
    }
    const frames = this.hv.frames;
    d.storeMfn = frames.alloc(d.domid);
    d.consoleMfn = frames.alloc(d.domid);
    frames.frameStorage(d.storeMfn).fill(0);
    frames.frameStorage(d.consoleMfn).fill(0);
    // PVHVM: a grant table as a PV domain has (its frames placed by XENMEM_add_to_physmap).
    gnttabInit(d);
    createHvmArch(d, this.deps.hvm, { mode: hvm.mode, shadowSync: hvm.shadowSync, boot, paging: hvm.paging });
    for (const v of d.vcpus) this.deps.sched.insertVcpu(v);
    this.deps.trace.record(this.deps.clocks.clock, 0, TRC.SCHED_DOM_ADD, d.domid);
    this.deps.printk(`d${d.domid}: built HVM domain "${d.name}" (${hvm.mode === 'trap' ? `trap, shadow ${hvm.shadowSync}` : hvm.mode}), ${d.nrPages} pages, ${d.vcpus.length} vCPU(s)`);
    this.observers.onDomainCreated?.(d);
  }

  /**
   * XEN_DOMCTL_createdomain plus populating its memory: a paused domain with `nrPages`
   * frames, shared_info and event channels, and (with a dom0) its store and console ports,
   * allocated unbound for domain 0 as libxl does. No vCPU runs until finishBuild.
   */
  createEmptyDomain(opts: EmptyDomainOptions): Domain {
    const frames = this.hv.frames;
    const domid = opts.privileged ? 0 : this.nextDomid;
    if (this.domains.has(domid)) throw new RangeError(`domain ${domid} already exists`);
    if (!Number.isInteger(opts.nrPages) || opts.nrPages <= 0) throw new BuildError(`a domain needs a positive number of pages, got ${opts.nrPages}`);
    // Checked before taking anything, so a create that cannot fit allocates nothing (+1: shared_info).
    const free = frames.nrFrames - frames.allocated;
    if (opts.nrPages + 1 > free) {
      const mib = (n: number) => Math.floor((n * PAGE_SIZE) / 2 ** 20);
      throw new OutOfMemoryError(`out of machine memory: domain "${opts.name}" needs ${mib(opts.nrPages)} MiB, ${mib(free)} MiB free`);
    }
    // Xen refuses an affinity that names no pCPU of the machine (EINVAL), before anything is taken.
    const nrPcpus = this.deps.clocks.pcpus.length;
    for (const [what, mask] of [['cpus', opts.hardAffinity], ['cpus_soft', opts.softAffinity]] as const) {
      if (mask && mask.length > 0 && !mask.some((c) => c < nrPcpus)) throw new BuildError(`${what}: names no pCPU of this machine (it has ${nrPcpus}: 0-${nrPcpus - 1})`);
    }
    if (opts.cpupool !== undefined && !this.deps.sched.pools[opts.cpupool]) throw new BuildError(`cpupool ${opts.cpupool} does not exist`);
    const d = allocPvDomain(frames, domid, opts.name, opts.nrPages, opts.privileged ?? false, opts.superpages ?? false);
    if (!opts.privileged) this.nextDomid++;
    if (opts.weight !== undefined) d.sched.weight = opts.weight;
    if (opts.cap !== undefined) d.sched.cap = opts.cap;
    if (opts.hardAffinity?.length) d.sched.hardAffinity = [...opts.hardAffinity].sort((a, b) => a - b);
    if (opts.softAffinity?.length) d.sched.softAffinity = [...opts.softAffinity].sort((a, b) => a - b);
    if (opts.cpupool !== undefined) d.sched.cpupool = opts.cpupool;
    this.domains.set(domid, d);
    this.observers.eventHooks?.initDomain(d);
    const control = this.domains.get(0);
    if (control && control !== d && control.onEvent) {
      d.storeEvtchn = evtchnAllocUnbound(this.hv, d, d.domid, 0);
      d.consoleEvtchn = evtchnAllocUnbound(this.hv, d, d.domid, 0);
    }
    return d;
  }

  /**
   * Ends a build once the bootstrap pages are written: vCPUs, validated and pinned page
   * tables, grant table; the domain stays paused. Tells dom0 (onDomainCreated).
   */
  finishBuild(d: Domain, boot: PvBoot, layout: { storeVa: number; consoleVa: number; virtBase: number }): void {
    finishPvDomain(this.hv.frames, d, boot);
    for (const v of d.vcpus) this.deps.sched.insertVcpu(v);
    d.storeMfn = d.p2m[(layout.storeVa - layout.virtBase) / PAGE_SIZE]!;
    d.consoleMfn = d.p2m[(layout.consoleVa - layout.virtBase) / PAGE_SIZE]!;
    this.deps.trace.record(this.deps.clocks.clock, 0, TRC.SCHED_DOM_ADD, d.domid);
    this.deps.printk(`d${d.domid}: built PV domain "${d.name}", ${d.nrPages} pages, ${d.vcpus.length} vCPU(s)`);
    this.observers.onDomainCreated?.(d);
  }

  /**
   * Creates domain 0 as a control domain with no guest code: privileged, with event
   * channels and a shared_info page, its events handed to `onEvent` (the dom0 process).
   */
  createControlDomain(name = 'Domain-0'): Domain {
    if (this.domains.has(0)) throw new RangeError('domain 0 already exists');
    const d = new Domain(0, name, 0, true);
    d.externalVcpus = DOM0_VCPUS;
    d.sharedInfoMfn = this.hv.frames.alloc(0, FrameType.SharedInfo);
    initSharedInfo(this.hv.mem.ensureFrame(d.sharedInfoMfn), { maxPfn: 0 });
    d.state = 'running';
    this.domains.set(0, d);
    this.observers.eventHooks?.initDomain(d);
    this.deps.printk('d0: control domain (served by dom0)');
    return d;
  }

  unpause(domain: Domain): void {
    if (domain.state !== 'paused') return;
    domain.state = 'running';
    for (const v of domain.vcpus) this.deps.sched.refresh(v);
  }

  pause(domain: Domain): void {
    if (domain.state !== 'running') return;
    domain.state = 'paused';
    for (const v of domain.vcpus) this.deps.sched.refresh(v);
  }

  /** SCHEDOP_shutdown and friends: the domain stops running and dom0 is told (VIRQ_DOM_EXC). */
  shutdown(domain: Domain, reason: ShutdownReason): void {
    if (!domain.isAlive) return;
    domain.shutdownReason = reason;
    domain.state = reason === 'crash' ? 'crashed' : 'shutdown';
    for (const v of domain.vcpus) {
      this.deps.timers.stop(v);
      this.deps.sched.refresh(v);
    }
    this.deps.trace.record(this.deps.clocks.now(), this.deps.clocks.activeId, TRC.SCHED_SHUTDOWN, domain.domid, 0, SHUTDOWN[reason]);
    this.deps.printk(`d${domain.domid}: shutdown, reason ${reason}`);
    // Xen tells the control domain through the global VIRQ_DOM_EXC.
    const dom0 = this.domains.get(0);
    if (dom0 && dom0 !== domain) this.observers.eventHooks?.sendVirq(dom0, VIRQ.DOM_EXC, 0);
    this.observers.onShutdown?.(domain);
  }

  /** Crashes a domain for something it did that cannot be reflected back to it (domain_crash). */
  crash(domain: Domain, why: string): void {
    domain.crashMessage = why;
    this.deps.printk(`d${domain.domid}: crashed: ${why}`);
    this.shutdown(domain, 'crash');
  }

  /** Tears a domain down: vCPUs leave the scheduler, dom0 lets go, ports and memory are freed. */
  destroy(domain: Domain): void {
    if (domain.state === 'dying') return;
    domain.state = 'dying';
    for (const v of domain.vcpus) {
      this.deps.timers.stop(v);
      this.deps.sched.removeVcpu(v);
    }
    // dom0's backends let go of the domain's pages and ports before they are freed.
    this.observers.onDomainDestroyed?.(domain);
    domain.hvm?.destroy(); // shadow tables and timers, before the frames go
    this.observers.eventHooks?.destroyDomain(domain);
    mmDestroyDomain(this.hv, domain); // frames still mapped by others go when those mappings do
    this.hv.unwatchFrame(domain.sharedInfoMfn);
    domain.p2m = new Uint32Array(0);
    this.domains.delete(domain.domid);
    this.deps.trace.record(this.deps.clocks.clock, 0, TRC.SCHED_DOM_REM, domain.domid);
    this.deps.printk(`d${domain.domid}: destroyed`);
  }
}
