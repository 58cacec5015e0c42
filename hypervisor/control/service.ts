// The control domain's service: what Xen's privcmd device (and the hypercalls behind it)
// offers dom0, written once. domctl and sysctl (build, destroy, pause, shutdown, scheduler
// parameters, domain and host information), foreign mappings, event channels as domain 0
// (bind, send, close, and notifications handed to dom0 as coalesced dispatches), grant map,
// unmap and copy, and the page updates that keep mapped pages in step when dom0 lives in
// another process. Thin adapters carry it: dom0/local_platform.ts calls it in the
// hypervisor's process; hypervisor/server/dom0_bridge.ts and server.ts decode dom0's
// protocol requests into calls.
//
// How dom0 sees a page it maps depends on where dom0 runs, and is the one thing the
// adapters choose:
//   shared    the frame's own bytes (dom0 in this process: its stores are the guest's);
//   mirrored  a copy (dom0 in its own process). Guest stores to the frame are recorded as
//             exact spans and handed out as page updates (one per span) with the next
//             dispatch; dom0's stores come back the same way ahead of its next request and
//             are applied to the frame. Neither side's update carries bytes it did not
//             write, so neither overwrites what the other side stored meanwhile.

import type { Hypervisor } from '../hypervisor.ts';
import { ENGINE_KINDS, isEngineKind, type EngineKind } from '../cpu/engines.ts';
import type { Domain } from '../domain/domain.ts';
import { HVM_BOARD, HVM_MODES, SHADOW_SYNCS, type HvmMode, type ShadowSync } from '../../xenguest/hvm_image.ts';
import { checkHvmMode, HvmModeUnavailable } from '../hvm/index.ts';
import type { CreateDomain, DomainBuild, DomainCreateEmpty, DomainRef, HostInfo, PageUpdate, SchedCredit, SchedCreditInfo } from '../../protocol/wire.ts';
import { evtchnBindInterdomain, evtchnClose, evtchnSend } from '../evtchn/ops.ts';
import { clearPending } from '../evtchn/port.ts';
import { fifoConsume, fifoExpandHost, fifoInitHost } from '../evtchn/fifo.ts';
import { evtchnSetMaxPort } from '../evtchn/index.ts';
import { Dom0PortDispatcher } from '../evtchn/dom0_dispatch.ts';
import { ringFaultsAround } from '../evtchn/ring_faults.ts';
import { ECS } from '../evtchn/state.ts';
import { gnttabMapForDomain, gnttabPeekForDomain, gnttabUnmapForDomain } from '../gnttab/index.ts';
import { copyFromGrant, copyToGrant } from '../gnttab/dom0_copy.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { isPageTable } from '../mm/frame_table.ts';
import { SpanSet } from '../../protocol/guest_memory.ts';
import { wireStats } from '../../protocol/wire_stats.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';
import { XEN_ERRNO, type XenErrno } from '../../protocol/xen/errno.ts';
import { SHUTDOWN_NAMES } from '../../protocol/xen/hypercall.ts';
import { MAX_VIRT_CPUS } from '../../xenguest/pv_bootstrap.ts';
import { ControlError, setCreditParams, setRtdsParams } from '../domain/control.ts';
import { XEN_CAPABILITIES, XEN_EXTRAVERSION, XEN_MAJOR, XEN_MINOR } from '../hypercall/xen_version.ts';

export type ControlPages = 'shared' | 'mirrored';

/** A refused control operation; `rc` is what the wire carries back (a negative errno). */
export class ControlServiceError extends Error {
  override readonly name = 'ControlServiceError';
  constructor(
    readonly rc: number,
    message: string,
  ) {
    super(message);
  }
}

/** dom0's sends held in one dispatch before repeats are dropped (2-level ports: at most 1,024). */
const MAX_DEFERRED_SENDS = 8192;

const refuse = (e: XenErrno, message: string): ControlServiceError => new ControlServiceError(-XEN_ERRNO[e], message);

/** A create request's cpu_engine: empty = the machine's; anything else must name an engine. */
function engineOf(e: string | undefined): EngineKind | undefined {
  if (!e) return undefined;
  if (!isEngineKind(e)) throw refuse('EINVAL', `unknown cpu_engine "${e}" (${ENGINE_KINDS.join(' or ')})`);
  return e;
}

export interface ControlServiceOptions {
  pages: ControlPages;
  /** Serves a notification of dom0's `port`; runs as a dom0 dispatch. */
  serve: (port: number) => void | Promise<void>;
}

/** dom0's work in the dispatch it is serving: what its cost is made of (cost_model.ts). */
export interface Dom0Work {
  copies: number;
  copyBytes: number;
  sends: number;
  maps: number;
  unmaps: number;
  /** The domain at the other end of the port served (its Domain.perf.dom0Ns gets the cost), or -1. */
  forDomid: number;
}

/** A frame dom0 has mapped, by any number of foreign and grant mappings. */
interface MappedFrame {
  refs: number;
  /** Bytes guests stored to since the last dispatch (mirrored pages only). */
  readonly stored: SpanSet;
  /** Its place in mapping order (page updates go out in that order). */
  readonly order: number;
  /** Hears guest stores to it (mirrored pages only); the frame may have other watchers. */
  watcher: ((pa: number, size: number) => boolean) | null;
  /** Of `refs`, the grant mappings, and of those the read-only ones (checked per store). */
  grants: number;
  roGrants: number;
}

/** A request's hvm_mode (empty = trap; "trap" or "hw"); anything else is refused. */
function hvmModeOf(m: string | undefined): HvmMode {
  const mode = m || 'trap';
  if (!(HVM_MODES as readonly string[]).includes(mode)) throw refuse('EINVAL', `unknown hvm_mode "${mode}" (trap or hw)`);
  try {
    checkHvmMode(mode as HvmMode);
  } catch (e) {
    if (e instanceof HvmModeUnavailable) throw refuse('EOPNOTSUPP', e.message);
    throw e;
  }
  return mode as HvmMode;
}

function shadowSyncOf(s: string | undefined): ShadowSync {
  const sync = s || 'wp';
  if (!(SHADOW_SYNCS as readonly string[]).includes(sync)) throw refuse('EINVAL', `unknown shadow_sync "${sync}" (wp or lazy)`);
  return sync as ShadowSync;
}

export class ControlService {
  /** Domain 0: dom0's ports and grant mappings are its. */
  readonly control: Domain;
  /** Coalesces notifications and holds back floods (hypervisor/evtchn/dom0_dispatch.ts). */
  readonly dispatcher: Dom0PortDispatcher;
  readonly pages: ControlPages;
  private readonly mapped = new Map<number, MappedFrame>();
  /** Frames dom0 maps by their owner (at map time): armed per lookahead window (armWindow). */
  private readonly byOwner = new Map<number, Set<number>>();
  /** Mapped frames with stores not yet taken by takePageUpdates. */
  private readonly dirty = new Set<number>();
  private mapOrder = 0;
  /**
   * Foreign mappings dom0 holds, per frame: each holds a general reference on the frame (as
   * Xen's privcmd mappings do), so a frame dom0 still maps is not freed with its domain
   * and handed to another while dom0's stores (in flight, or hostile) still reach it.
   */
  private readonly foreign = new Map<number, number>();
  /** Grant handles dom0 holds, and the frame each one maps. */
  private readonly grants = new Map<number, { mfn: number; readonly: boolean }>();
  /** Domains dom0's builder has created and not yet finished. */
  private readonly building = new Set<number>();
  /** The work of the port dispatch being served (null outside one). */
  private work: Dom0Work | null = null;
  /** dom0's event sends in that dispatch: they take effect when its work is done. */
  private deferredSends: number[] = [];
  /** Virtual ns of work charged to dom0's vCPU so far (its CPU time, as `xl list` shows). */
  dom0CpuNs = 0;

  constructor(
    private readonly hv: Hypervisor,
    opts: ControlServiceOptions,
  ) {
    this.pages = opts.pages;
    this.control = hv.domain(0) ?? hv.createControlDomain();
    // The frames whose guest stores end a lookahead window (run/lookahead.ts).
    hv.loop.dom0Mapped = (mfn) => this.mapped.has(mfn);
    hv.loop.dom0Arm = (domids) => this.armWindow(domids);
    this.dispatcher = new Dom0PortDispatcher(hv, async (port) => {
      const e = this.control.evtchn;
      const forDomid = e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN ? e.remoteDomid[port]! : -1;
      this.work = { copies: 0, copyBytes: 0, sends: 0, maps: 0, unmaps: 0, forDomid };
      this.deferredSends = [];
      // A scenario's faults on the served device's ring pages (evtchn/ring_faults.ts).
      const ringFaults = ringFaultsAround(this.hv, this.control, port);
      try {
        await opts.serve(port);
        ringFaults?.();
      } catch (e) {
        // The guest gets its ring bytes back even from a failed dispatch (a view shown to dom0).
        try {
          ringFaults?.();
        } catch {
          /* the dispatch's own error is the one reported */
        }
        this.finishWork();
        // Name the port's other end: the run's report says which domain's event failed.
        const e0 = this.control.evtchn;
        const peer = e0 && e0.portIsValid(port) && e0.state[port] === ECS.INTERDOMAIN ? this.hv.domain(e0.remoteDomid[port]!) : undefined;
        const who = peer ? ` (from d${peer.domid} ${peer.name})` : '';
        throw new Error(`d0 port ${port}${who}: ${e instanceof Error ? e.message : String(e)}`);
      }
      return this.finishWork();
    });
    // dom0 uses the FIFO event ABI, as a Linux dom0 does whenever Xen offers it: 2^17
    // ports, where 2-level's 1,024 would stop at 511 guests (two ports each). Its event
    // words live in host memory (dom0 has no guest frames); its "upcall" consumes the
    // queues here, each port handed to the dispatcher once per event.
    if (this.control.evtchn) {
      evtchnSetMaxPort(this.control, 0x7fff_ffff);
      fifoInitHost(this.control, 1);
    }
    let consuming = false;
    this.control.onEvent = (port) => {
      if (!this.control.evtchn?.fifo) {
        // dom0 sees one event per dispatch however many sends came before (a pending bit).
        clearPending(this.hv, this.control, port);
        this.dispatcher.notify(port);
        return;
      }
      // Events raised while the queues are being consumed are picked up by the same loop.
      if (consuming) return;
      consuming = true;
      try {
        fifoConsume(this.hv, this.control, 0, (p) => this.dispatcher.notify(p));
      } finally {
        consuming = false;
      }
    };
  }

  // --- domctl and sysctl ---------------------------------------------------------------

  /** The domain a request names (by name, else by domid); ESRCH if there is none. */
  findDomain(ref: DomainRef | undefined): Domain {
    let d: Domain | undefined;
    if (ref?.name) d = [...this.hv.domains.values()].find((x) => x.name === ref.name);
    else if (ref) d = this.hv.domain(ref.domid ?? 0);
    if (!d) throw refuse('ESRCH', `no such domain: ${ref?.name || ref?.domid}`);
    return d;
  }

  /** Builds a whole PV or HVM domain from a kernel image in the hypervisor (pvsim's shortcut). */
  createDomain(c: CreateDomain): Domain {
    this.checkNewName(c.name);
    this.checkAffinity(c);
    if (!(c.memoryMib >= 1 && c.memoryMib <= 65536)) throw refuse('EINVAL', `memory ${c.memoryMib} MiB out of range`);
    if (c.type && c.type !== 'pv' && c.type !== 'hvm') throw refuse('EINVAL', `type "${c.type}" is not supported (pv or hvm)`);
    const cpuEngine = engineOf(c.cpuEngine);
    const base = {
      name: c.name,
      memoryBytes: c.memoryMib * 1024 * 1024,
      cmdline: c.cmdline ?? '',
      vcpus: c.vcpus || 1,
      weight: c.weight || undefined,
      cap: c.cap || undefined,
      hardAffinity: c.cpus?.length ? c.cpus : null,
      softAffinity: c.cpusSoft?.length ? c.cpusSoft : null,
      cpupool: this.cpupoolId(c.pool),
    };
    const domain =
      c.type === 'hvm'
        ? this.hv.createHvmDomain(c.kernel, { ...base, hvm: { mode: hvmModeOf(c.hvmMode), shadowSync: shadowSyncOf(c.shadowSync), xenPlatform: !c.noXenPlatform } })
        : this.hv.createPvDomain(c.kernel, base).domain;
    if (c.maxmemMib && c.maxmemMib > c.memoryMib) domain.maxPages = c.maxmemMib * 256;
    domain.cpuEngine = cpuEngine;
    if (!c.paused) this.hv.unpause(domain);
    return domain;
  }

  /** XEN_DOMCTL_createdomain and its memory, for dom0's builder to fill (domainBuild). */
  createEmptyDomain(c: DomainCreateEmpty): Domain {
    this.checkNewName(c.name);
    this.checkAffinity(c);
    if (!(c.nrPages >= 1 && c.nrPages <= 16 * 1024 * 1024)) throw refuse('EINVAL', `${c.nrPages} pages is out of range`);
    const cpuEngine = engineOf(c.cpuEngine);
    const d = this.hv.createEmptyDomain({
      name: c.name,
      nrPages: c.nrPages,
      weight: c.weight || undefined,
      cap: c.cap || undefined,
      hardAffinity: c.cpus?.length ? c.cpus : null,
      softAffinity: c.cpusSoft?.length ? c.cpusSoft : null,
      superpages: c.superpages || undefined,
      cpupool: this.cpupoolId(c.pool),
    });
    if (c.maxmemPages && c.maxmemPages > c.nrPages) d.maxPages = c.maxmemPages;
    d.cpuEngine = cpuEngine;
    this.building.add(d.domid);
    return d;
  }

  /**
   * Writes the bootstrap pages dom0's builder laid out and starts the domain's vCPUs. A
   * build that fails removes the half-built domain.
   */
  buildDomain(b: DomainBuild): Domain {
    const hv = this.hv;
    const d = hv.domain(b.domid);
    if (!d || !this.building.has(b.domid)) throw refuse('ESRCH', `domain ${b.domid} is not being built`);
    for (const pg of b.pages) {
      if (hv.frames.ownerOf(pg.mfn) !== d.domid) {
        this.abandon(d);
        throw refuse('EPERM', `mfn 0x${pg.mfn.toString(16)} does not belong to d${d.domid}`);
      }
      if (pg.offset + pg.data.length > PAGE_SIZE) {
        this.abandon(d);
        throw refuse('EINVAL', 'a page write runs past its page');
      }
      hv.frames.frameStorage(pg.mfn).set(pg.data, pg.offset);
    }
    this.building.delete(b.domid);
    if (!((b.vcpus || 1) >= 1 && (b.vcpus || 1) <= MAX_VIRT_CPUS)) {
      hv.destroyDomain(d);
      throw refuse('EINVAL', `vcpus must be 1..${MAX_VIRT_CPUS}`);
    }
    try {
      if (b.hvmMode) {
        // An HVM build: RAM written by dom0's builder; the board and vCPU 0 made here.
        const dtbAddr = b.dtbAddr ?? 0;
        const ramEnd = HVM_BOARD.ramBase + d.nrPages * PAGE_SIZE;
        if (!(dtbAddr >= HVM_BOARD.ramBase && dtbAddr < ramEnd) || !(b.entry >= HVM_BOARD.ramBase && b.entry < ramEnd)) {
          throw new Error(`entry 0x${(b.entry >>> 0).toString(16)} and device tree 0x${dtbAddr.toString(16)} must lie in guest RAM`);
        }
        hv.finishHvmBuild(d, { entry: b.entry, dtbAddr, vcpus: b.vcpus || 1 }, { mode: hvmModeOf(b.hvmMode), shadowSync: shadowSyncOf(b.shadowSync) });
      } else hv.finishBuild(d, { entry: b.entry, startInfoVa: b.startInfoVa, stackTop: b.stackTop, l2Mfn: b.l2Mfn, vcpus: b.vcpus || 1 }, b);
    } catch (e) {
      hv.destroyDomain(d);
      throw refuse('EINVAL', `domain ${d.name} cannot start: ${(e as Error).message}`);
    }
    if (!b.paused) hv.unpause(d);
    return d;
  }

  /** Domains dom0's builder had not finished cannot be finished by another dom0. */
  abandonBuilds(): void {
    for (const domid of [...this.building]) {
      const d = this.hv.domain(domid);
      if (d) this.abandon(d);
      else this.building.delete(domid);
    }
  }

  /** XEN_DOMCTL_destroydomain. */
  destroyDomain(d: Domain): void {
    this.building.delete(d.domid); // a build dom0 gave up on
    this.hv.destroyDomain(d);
  }

  /** XEN_DOMCTL_pausedomain. */
  pauseDomain(d: Domain): void {
    if (d.state !== 'running') throw refuse('EINVAL', `domain ${d.name} is not running (${d.state})`);
    this.hv.pause(d);
  }

  /** XEN_DOMCTL_unpausedomain. */
  unpauseDomain(d: Domain): void {
    if (d.state !== 'paused') throw refuse('EINVAL', `domain ${d.name} is not paused (${d.state})`);
    this.hv.unpause(d);
  }

  /** SCHEDOP_remote_shutdown with a SHUTDOWN_* code. */
  shutdownDomain(d: Domain, code: number): void {
    const reason = SHUTDOWN_NAMES.get(code);
    if (!reason) throw refuse('EINVAL', `unknown shutdown reason ${code}`);
    this.hv.shutdownDomain(d, reason);
  }

  /** XEN_DOMCTL_scheduler_op for credit: sets (0 weight, 0xffff cap: leave as is) and reads. */
  schedCredit(d: Domain, set: boolean, weight: number, cap: number): { weight: number; cap: number } {
    const r = this.schedOp(d, { domain: { domid: d.domid }, set, weight, cap, scheduler: 'credit' });
    return { weight: r.weight, cap: r.cap };
  }

  /**
   * XEN_DOMCTL_scheduler_op (and, with schedparam, XEN_SYSCTL_scheduler_op) for xl
   * sched-credit, sched-credit2 and sched-rtds: sets what the request carries and reads the
   * domain's parameters back. The scheduler named must be the one the machine runs, as
   * Xen refuses a domctl for another (EINVAL); pvsim's rr takes credit's parameters and
   * ignores them.
   */
  schedOp(d: Domain, a: SchedCredit): SchedCreditInfo {
    // The scheduler of the domain's cpupool (Pool-0's without cpupools).
    const policy = this.hv.sched.poolOf(d).policy;
    const want = a.scheduler || 'credit';
    if (!['credit', 'credit2', 'rtds'].includes(want)) throw refuse('EINVAL', `unknown scheduler "${want}" (credit, credit2 or rtds)`);
    if (want !== policy.name && !(policy.name === 'rr' && want === 'credit')) throw refuse('EINVAL', `the machine runs the ${policy.name} scheduler, not ${want}`);
    const now = this.hv.now();
    const opts = policy.opts;
    try {
      if (a.set && a.schedparam) {
        const r = a.ratelimitUs ?? -1;
        if (r >= 0) {
          if (!opts) throw new ControlError('EINVAL', `the ${policy.name} scheduler has no ratelimit`);
          // XEN_SYSCTL_SCHED_RATELIMIT_MIN/MAX; credit also keeps it within its timeslice.
          if (r !== 0 && (r < 100 || r > 500_000)) throw new ControlError('EINVAL', `ratelimit ${r} us out of range (0 = off, or 100-500000)`);
          if (want === 'credit' && r > opts.creditTsliceMs * 1000) throw new ControlError('EINVAL', `ratelimit ${r} us is longer than the ${opts.creditTsliceMs} ms timeslice`);
          opts.ratelimitUs = r;
        }
      } else if (a.set && want === 'rtds') {
        const ext = a.extratime === 2 ? true : a.extratime === 1 ? false : undefined;
        for (const v of setRtdsParams(d, a.vcpus ?? [], a.period ?? 0, a.budget ?? 0, ext)) policy.paramsChanged?.(v, now);
      } else if (a.set) {
        setCreditParams(d, a.weight ?? 0, a.cap ?? 0xffff);
        for (const v of d.vcpus) policy.paramsChanged?.(v, now);
      }
    } catch (e) {
      if (e instanceof ControlError) throw refuse(e.errno, e.message);
      throw e;
    }
    const ids = a.vcpus?.length ? a.vcpus : d.vcpus.map((v) => v.vcpuId);
    for (const id of ids) if (!d.vcpus[id]) throw refuse('EINVAL', `vcpu ${id} does not exist (d${d.domid} has ${d.vcpus.length})`);
    return {
      domain: d.name,
      domid: d.domid,
      weight: d.sched.weight,
      cap: d.sched.cap,
      scheduler: policy.name,
      cpupool: this.hv.sched.poolOf(d).name,
      ratelimitUs: opts?.ratelimitUs ?? 0,
      tsliceMs: opts?.creditTsliceMs ?? 0,
      vcpus: want === 'rtds' ? ids.map((id) => {
        const v = d.vcpus[id]!;
        return { vcpu: id, period: v.rtds.periodUs, budget: v.rtds.budgetUs, extratime: v.rtds.extratime, deadlineMisses: v.deadlineMisses };
      }) : [],
    };
  }

  /** XEN_SYSCTL_physinfo with the version and the clock, as `xl info` shows them. */
  physinfo(): HostInfo {
    const hv = this.hv;
    return {
      nrCpus: hv.nrPcpus,
      totalPages: hv.frames.nrFrames,
      freePages: hv.frames.nrFrames - hv.frames.allocated,
      scheduler: hv.scheduler.name,
      xenMajor: XEN_MAJOR,
      xenMinor: XEN_MINOR,
      xenExtra: XEN_EXTRAVERSION,
      xenCaps: XEN_CAPABILITIES,
      commandline: hv.commandLine,
      nowNs: Math.floor(hv.now()),
    };
  }

  /** Xen refuses an affinity naming no pCPU of the machine (EINVAL). */
  /** xl.cfg pool=: the pool's id (Pool-0 for none); a pool that does not exist is refused, nothing created. */
  private cpupoolId(name: string | undefined): number {
    if (!name) return 0;
    const p = this.hv.cpupools.find((x) => x.name === name);
    if (!p) throw refuse('EINVAL', `cpupool "${name}" does not exist`);
    if (p.cpus.length === 0) throw refuse('EINVAL', `cpupool "${name}" has no pCPU`);
    return p.id;
  }

  private checkAffinity(c: { cpus?: number[]; cpusSoft?: number[] }): void {
    const n = this.hv.nrPcpus;
    for (const [what, mask] of [['cpus', c.cpus], ['cpus_soft', c.cpusSoft]] as const) {
      if (!mask?.length) continue;
      const bad = mask.find((x) => !Number.isInteger(x) || x < 0 || x >= n);
      if (bad !== undefined) throw refuse('EINVAL', `${what}: pCPU ${bad} does not exist (the machine has ${n}: 0-${n - 1})`);
    }
  }

  private checkNewName(name: string): void {
    if (!name) throw refuse('EINVAL', 'a domain needs a name');
    if ([...this.hv.domains.values()].some((d) => d.name === name)) throw refuse('EEXIST', `a domain named "${name}" already exists`);
  }

  private abandon(d: Domain): void {
    this.building.delete(d.domid);
    this.hv.destroyDomain(d);
  }

  // --- event channels as domain 0 -------------------------------------------------------

  /** EVTCHNOP_bind_interdomain from domain 0; returns the new dom0 port. */
  bindInterdomain(domid: number, remotePort: number): number {
    const port = evtchnBindInterdomain(this.hv, this.control, domid, remotePort);
    if (port < 0) throw new ControlServiceError(port, `bind_interdomain(d${domid}, ${remotePort}) failed: ${port}`);
    // The new port needs its event word (Linux's evtchn_fifo_setup expands the array so).
    if (this.control.evtchn?.fifo) fifoExpandHost(this.hv, this.control, port);
    // Binding sets the new local port pending; nothing has happened yet.
    clearPending(this.hv, this.control, port);
    this.hv.traceRings.bound(this.hv.now(), domid, remotePort, port);
    return port;
  }

  /**
   * EVTCHNOP_send on a dom0 port; returns 0 or a negative errno. Inside a port dispatch a
   * good send takes effect when dom0's work for the dispatch is done (finishWork), in order.
   */
  send(port: number): number {
    const e = this.control.evtchn;
    if (this.work && e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN) {
      this.work.sends++;
      this.deferredSends.push(port);
      // A dispatch's sends are held until its end, and dom0 may send batches all the while
      // the machine waits: past a bound no backend reaches, repeats of a port are dropped
      // (a second send to a pending port changes nothing but a trace record), so the queue
      // holds at most one entry per port.
      if (this.deferredSends.length > MAX_DEFERRED_SENDS) this.deferredSends = [...new Set(this.deferredSends)];
      return 0;
    }
    return evtchnSend(this.hv, this.control, port);
  }

  /**
   * The cost of the dispatch just served (cost_model.ts: dom0PassNs, dom0CopyOpNs, bytes,
   * maps, sends), charged to dom0's vCPU; dom0's sends take effect at its end.
   */
  private finishWork(): number {
    const w = this.work;
    this.work = null;
    if (!w) return 0;
    const c = this.hv.costs;
    const cost = Math.round(c.dom0PassNs + w.copies * c.dom0CopyOpNs + w.copyBytes * c.grantCopyNsPerByte + w.maps * c.grantMapNs + w.unmaps * c.grantUnmapNs + w.sends * c.eventSendNs);
    this.dom0CpuNs += cost;
    // Counted for the domain served (pvsim compare's dom0 time per request); no effect on time.
    const served = w.forDomid >= 0 ? this.hv.domain(w.forDomid) : undefined;
    if (served) served.perf.dom0Ns += cost;
    const sends = this.deferredSends;
    this.deferredSends = [];
    if (sends.length) {
      this.hv.events.schedule(this.hv.now() + cost, () => {
        // A port dom0 closed meanwhile, or that dom0 lost, is simply not notified.
        for (const port of sends) evtchnSend(this.hv, this.control, port);
      });
    }
    return cost;
  }

  /** EVTCHNOP_close on a dom0 port; returns 0 or a negative errno. */
  close(port: number): number {
    return evtchnClose(this.hv, this.control, port);
  }

  // --- foreign mappings -----------------------------------------------------------------

  /**
   * Maps frame `mfn` of domain `domid` into dom0 (a privileged foreign mapping): the frame
   * itself (shared) or a copy of it (mirrored).
   */
  mapForeign(domid: number, mfn: number): Uint8Array {
    if (this.work) this.work.maps++;
    const d = this.hv.domain(domid);
    if (!d) throw new ControlServiceError(-XEN_ERRNO.EPERM, `no domain ${domid}`);
    if (this.hv.frames.ownerOf(mfn) === domid && !this.isDomainPage(d, mfn)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `mfn 0x${mfn.toString(16)} is the hypervisor's (a table it keeps for d${domid}), not the domain's memory`);
    if (!this.hv.frames.getPage(mfn, domid)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `mfn 0x${mfn.toString(16)} does not belong to d${domid}`);
    this.foreign.set(mfn, (this.foreign.get(mfn) ?? 0) + 1);
    return this.map(mfn);
  }

  /**
   * A frame a privileged mapping may name: the domain's memory (its p2m), its rings, and
   * the pages the hypervisor shares with it (shared_info, grant frames). Not the frames the
   * hypervisor keeps for it (shadow and G-stage tables), which are charged to the domain
   * but freed by the hypervisor whenever it likes: in Xen they belong to no domain.
   */
  private isDomainPage(d: Domain, mfn: number): boolean {
    const f = this.hv.frames;
    if (f.isXenheap(mfn) || mfn === d.storeMfn || mfn === d.consoleMfn) return true;
    const pfn = f.m2pOf(mfn);
    if (pfn < d.p2m.length && d.p2m[pfn] === mfn) return true;
    return d.p2m.indexOf(mfn) >= 0; // HVM RAM has no m2p entries
  }

  /**
   * A domain is being destroyed (called before its frames are freed). dom0 as a process
   * holds mirrors, not the frames: its foreign mappings of the domain's frames end here, so
   * the frames are freed at the destroy, at the same instant whichever process dom0 runs
   * in (dom0 in this process lets go in its own hook, before this), and a store dom0 makes
   * through a stale mirror afterwards is refused as unmapped. In-process dom0's pages are
   * the frames themselves, so there the references stay until dom0 unmaps.
   */
  forgetDomain(domid: number): void {
    if (this.pages !== 'mirrored') return;
    const f = this.hv.frames;
    for (const [mfn, n] of [...this.foreign]) {
      if (f.ownerOf(mfn) !== domid) continue;
      this.foreign.delete(mfn);
      for (let i = 0; i < n; i++) {
        this.unmap(mfn);
        f.putPage(mfn);
      }
    }
  }

  /** Ends one foreign mapping of `mfn` (one that was never made is ignored). */
  unmapForeign(mfn: number): void {
    if (this.work) this.work.unmaps++;
    const n = this.foreign.get(mfn);
    if (!n) return;
    if (n === 1) this.foreign.delete(mfn);
    else this.foreign.set(mfn, n - 1);
    this.unmap(mfn);
    this.hv.frames.putPage(mfn); // the last reference of a dead domain's frame frees it
  }

  // --- grant tables ---------------------------------------------------------------------

  /**
   * GNTTABOP_map_grant_ref of `ref` of `domid` as a device mapping for domain 0. With
   * GNTST_okay, `page` is what dom0 sees; a read-only grant shared in-process is a private
   * copy, so dom0's stores cannot reach the guest.
   */
  mapGrant(domid: number, ref: number, readonly: boolean): { status: number; handle: number; mfn: number; page: Uint8Array | null } {
    if (this.work) this.work.maps++;
    const r = gnttabMapForDomain(this.hv, this.control, domid, ref, readonly);
    if (r.status !== GNTST.okay) return { status: r.status, handle: 0, mfn: 0, page: null };
    this.grants.set(r.handle, { mfn: r.mfn, readonly });
    this.hv.traceRings.mapped(domid, r.mfn);
    const page = this.map(r.mfn);
    const m = this.mapped.get(r.mfn)!;
    m.grants++;
    if (readonly) m.roGrants++;
    return { status: r.status, handle: r.handle, mfn: r.mfn, page: readonly && this.pages === 'shared' ? page.slice() : page };
  }

  /** GNTTABOP_unmap_grant_ref of a handle domain 0 holds; returns the GNTST status. */
  unmapGrant(handle: number): number {
    if (this.work) this.work.unmaps++;
    const g = this.grants.get(handle);
    const status = gnttabUnmapForDomain(this.hv, this.control, handle);
    if (status === GNTST.okay && g !== undefined) {
      this.grants.delete(handle);
      const m = this.mapped.get(g.mfn);
      if (m) {
        m.grants--;
        if (g.readonly) m.roGrants--;
      }
      this.unmap(g.mfn);
    }
    return status;
  }

  /** GNTTABOP_copy from dom0's bytes into a granted page; returns the GNTST status. */
  copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): number {
    if (this.work) {
      this.work.copies++;
      this.work.copyBytes += data.length;
    }
    if (wireStats) {
      wireStats.grantCopies++;
      wireStats.grantCopyToBytes += data.length;
    }
    return copyToGrant(this.hv, this.control, domid, ref, offset, data);
  }

  /** GNTTABOP_copy out of a granted page into dom0. */
  copyFromGrant(domid: number, ref: number, offset: number, len: number): { status: number; data: Uint8Array } {
    if (this.work) {
      this.work.copies++;
      this.work.copyBytes += len;
    }
    if (wireStats) {
      wireStats.grantCopies++;
      wireStats.grantCopyFromBytes += len;
    }
    return copyFromGrant(this.hv, this.control, domid, ref, offset, len);
  }

  /**
   * What copyFromGrant would read now, counting nothing: the frame and bytes, or null where
   * the copy would fail (the bridge's prefetch for dom0 as a process; see countCopyFrom).
   */
  peekGrant(domid: number, ref: number, offset: number, len: number): { mfn: number; data: Uint8Array } | null {
    const r = gnttabPeekForDomain(this.hv, this.control, domid, ref, offset, len);
    return typeof r === 'number' ? null : r;
  }

  /**
   * A good copy out of `domid`'s grant that dom0 took from a prefetch rather than making:
   * counted as copyFromGrant and GNTTABOP_copy count one (dom0's work, the granter's
   * counters), so the cost and the counters do not depend on where dom0 runs.
   */
  countCopyFrom(domid: number, len: number): void {
    if (!(Number.isInteger(len) && len > 0 && len <= PAGE_SIZE)) return;
    if (this.work) {
      this.work.copies++;
      this.work.copyBytes += len;
    }
    if (wireStats) {
      wireStats.grantCopies++;
      wireStats.grantCopyFromBytes += len;
    }
    const d = this.hv.domain(domid);
    if (d) {
      d.perf.grantOps++;
      d.perf.bytesCopied += len;
    }
  }

  /** Whether dom0 maps frame `mfn` (by any mapping). */
  isMapped(mfn: number): boolean {
    return this.mapped.has(mfn);
  }

  // --- page updates (mirrored pages) ----------------------------------------------------

  /** The guests' stores to mapped pages since the last call: they go with the next dispatch. */
  takePageUpdates(): PageUpdate[] {
    const out: PageUpdate[] = [];
    if (this.pages !== 'mirrored') return out;
    // Only the pages stored to since the last call: with 10,000 guests dom0 maps 20,000
    // rings, and a walk over all of them on every dispatch grew with the square of the guests.
    if (this.dirty.size === 0) return out;
    const dirty = [...this.dirty].sort((a, b) => (this.mapped.get(a)?.order ?? 0) - (this.mapped.get(b)?.order ?? 0));
    this.dirty.clear();
    for (const mfn of dirty) {
      const m = this.mapped.get(mfn);
      if (!m || !m.stored.size) continue;
      const spans = m.stored.take();
      const frame = this.hv.mem.frames[mfn];
      if (frame) for (const s of spans) out.push({ mfn, offset: s.lo, data: frame.slice(s.lo, s.hi) });
    }
    if (wireStats) {
      wireStats.pageUpdatesOut += out.length;
      for (const u of out) wireStats.pageBytesOut += u.data.length;
    }
    return out;
  }

  /**
   * Applies dom0's stores to its mirrored pages. Refuses the whole batch at the first one to
   * a page dom0 has not mapped, reaches only read-only, or that runs past its page.
   */
  applyPageUpdates(writes: readonly PageUpdate[]): void {
    for (const w of writes) {
      if (!this.mapped.has(w.mfn)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `write to mfn 0x${w.mfn.toString(16)}, which dom0 has not mapped`);
      if (this.onlyReadonly(w.mfn)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `write to mfn 0x${w.mfn.toString(16)}, which dom0 mapped read-only`);
      if (w.offset + w.data.length > PAGE_SIZE) throw new ControlServiceError(-XEN_ERRNO.EINVAL, 'write past the end of the page');
      // A validated page table changes only through mmu_update (as Xen refuses a writable
      // mapping of one): a raw store could point the guest at any frame.
      const f = this.hv.frames;
      if (f.typeCount(w.mfn) > 0 && isPageTable(f.typeOf(w.mfn))) throw new ControlServiceError(-XEN_ERRNO.EPERM, `write to mfn 0x${w.mfn.toString(16)}, a page table in use`);
      const frame = this.hv.mem.frames[w.mfn];
      if (!frame) continue;
      frame.set(w.data, w.offset);
      if (wireStats) {
        wireStats.pageWritesIn++;
        wireStats.pageBytesIn += w.data.length;
      }
    }
  }

  // --- dom0's end -----------------------------------------------------------------------

  /**
   * dom0 went away: what it held is let go, as Xen does for a dying domain. Its event
   * channels close (each guest end becomes unbound, for a new dom0 to bind), its grant
   * mappings are unmapped (guests can end access to those pages), mapped pages stop being
   * tracked and pending dispatches are forgotten.
   */
  release(): void {
    const e = this.control.evtchn;
    if (e) for (let port = 1; e.portIsValid(port); port++) if (e.state[port] !== ECS.FREE) evtchnClose(this.hv, this.control, port);
    for (const handle of [...this.grants.keys()]) gnttabUnmapForDomain(this.hv, this.control, handle);
    this.grants.clear();
    for (const [mfn, m] of this.mapped) if (m.watcher) this.hv.unwatchFrame(mfn, m.watcher);
    this.mapped.clear();
    this.byOwner.clear();
    for (const [mfn, n] of this.foreign) for (let i = 0; i < n; i++) this.hv.frames.putPage(mfn);
    this.foreign.clear();
    this.work = null;
    this.deferredSends = [];
    this.dispatcher.reset();
  }

  /** Counts another mapping of `mfn`; returns what dom0 sees of it. */
  private map(mfn: number): Uint8Array {
    const frame = this.hv.mem.ensureFrame(mfn);
    const m = this.mapped.get(mfn);
    if (m) m.refs++;
    else {
      const entry: MappedFrame = { refs: 1, stored: new SpanSet(), order: this.mapOrder++, watcher: null, grants: 0, roGrants: 0 };
      this.mapped.set(mfn, entry);
      const owner = this.hv.frames.ownerOf(mfn);
      let own = this.byOwner.get(owner);
      if (!own) this.byOwner.set(owner, (own = new Set()));
      own.add(mfn);
      if (this.pages === 'mirrored') {
        entry.watcher = (pa, size) => {
          const off = pa % PAGE_SIZE;
          entry.stored.add(off, Math.min(PAGE_SIZE, off + size));
          this.dirty.add(mfn);
          return false;
        };
        this.hv.watchFrame(mfn, entry.watcher);
      }
    }
    return this.pages === 'mirrored' ? frame.slice() : frame;
  }

  private unmap(mfn: number): void {
    const m = this.mapped.get(mfn);
    if (m && --m.refs === 0) {
      this.mapped.delete(mfn);
      for (const [owner, own] of this.byOwnerOf(mfn)) {
        own.delete(mfn);
        if (own.size === 0) this.byOwner.delete(owner);
      }
      if (m.watcher) this.hv.unwatchFrame(mfn, m.watcher);
    }
  }

  /** The owner index entry holding `mfn` (its owner at map time, which a transfer may have changed). */
  private byOwnerOf(mfn: number): [number, Set<number>][] {
    const owner = this.hv.frames.ownerOf(mfn);
    const own = this.byOwner.get(owner);
    if (own?.has(mfn)) return [[owner, own]];
    return [...this.byOwner].filter(([, s]) => s.has(mfn));
  }

  /**
   * Makes the frames dom0 maps that `domids`' vCPUs can store to watched for a lookahead
   * window (hypervisor/run/lookahead.ts), so that a store to one ends it; returns what undoes
   * that. Mirrored pages are always watched (their spans are recorded), so only shared
   * (in-process) pages are armed, per window, and only for the domains running in it:
   * watching every ring all the time made each guest ring store take the slow path (about
   * 15 % of the in-process block path's CPU). A vCPU reaches another domain's frames only
   * through grant or foreign mappings: a domain that holds any (or is privileged) arms them all.
   */
  armWindow(domids: readonly number[]): (() => void) | null {
    if (this.pages === 'mirrored' || this.mapped.size === 0) return null;
    let frames: Iterable<number> | null = null;
    const some: number[] = [];
    for (const id of domids) {
      const d = this.hv.domain(id);
      if (!d) continue;
      if (d.privileged || (d.gnttab?.maptrack.length ?? 0) > 0) {
        frames = this.mapped.keys();
        break;
      }
      const own = this.byOwner.get(id);
      if (own) some.push(...own);
    }
    const armed = [...(frames ?? some)];
    if (armed.length === 0) return null;
    for (const mfn of armed) this.hv.watchFrame(mfn, this.windowWatcher);
    return () => {
      for (const mfn of armed) this.hv.unwatchFrame(mfn, this.windowWatcher);
    };
  }

  /** Watches a shared page during a lookahead window (the stop is the run loop's). */
  private readonly windowWatcher = (): boolean => false;

  /** True if dom0 reaches `mfn` only through read-only grant mappings. */
  private onlyReadonly(mfn: number): boolean {
    // Counted per frame, not by walking every grant dom0 holds: this runs for each store
    // of a batch (65,536 stores with 500 grants held took 255 ms, now 136 ms in all).
    const m = this.mapped.get(mfn);
    return m !== undefined && m.grants > 0 && m.roGrants === m.grants && m.refs === m.grants;
  }
}
