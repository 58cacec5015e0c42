// The hypervisor process's server: runs the machine in realtime mode and serves the one
// privileged peer, dom0, over the protocol in protocol/. Every request is checked; a bad
// one gets an errno and a reason, never an exception that reaches the machine.

import { DOM0_VCPUS, Hypervisor, type HypervisorOptions } from '../hypervisor.ts';
import type { Domain } from '../domain/domain.ts';
import { domainInfo, ControlError, setCreditParams } from '../domain/control.ts';
import { BuildError, MAX_VIRT_CPUS } from '../domain/builder.ts';
import { ElfError } from '../../xenguest/elf.ts';
import { OutOfMemoryError } from '../mm/frame_table.ts';
import { RUNSTATES } from '../domain/domain.ts';
import { serve, type Peer } from '../../protocol/session.ts';
import { Dom0Bridge } from './dom0_bridge.ts';
import type { DomainRef, Request, Response, DomainInfo as WireDomainInfo } from '../../protocol/wire.ts';
import { XEN_ERRNO, type XenErrno } from '../../protocol/xen/errno.ts';
import { SHUTDOWN_NAMES } from '../../protocol/xen/hypercall.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { XEN_CAPABILITIES, XEN_EXTRAVERSION, XEN_MAJOR, XEN_MINOR } from '../hypercall/xen_version.ts';

type Result = Omit<Response, 'id'>;

const err = (e: XenErrno, error: string): Result => ({ rc: -XEN_ERRNO[e], error });

/** Bytes of console output kept per domain for `xl console` after the fact. */
export const CONSOLE_LOG_BYTES = 64 * 1024;

export interface HypervisorServerOptions extends HypervisorOptions {
  /** Drive the machine yourself (a deterministic scenario) instead of the realtime loop. */
  manual?: boolean;
  host?: string;
  port?: number;
  /** Token dom0 must present. */
  token: string;
  /** Virtual seconds per wall second. */
  speed?: number;
}

export class HypervisorServer {
  readonly hv: Hypervisor;
  private dom0: Peer | null = null;
  private bridge: Dom0Bridge | null = null;
  private readonly consoles = new Map<number, { base: number; bytes: number[] }>();
  private running = false;
  private wake: (() => void) | null = null;
  private stopping = false;
  private dom0Ready: (() => void) | null = null;
  /** Domains dom0's builder has created and not yet finished. */
  private readonly building = new Set<number>();

  private abandon(d: Domain): void {
    this.building.delete(d.domid);
    this.hv.destroyDomain(d);
  }

  /** Resolves once dom0 has connected (and domain 0 exists to serve guests). */
  waitForDom0(timeoutMs = 30_000): Promise<void> {
    if (this.dom0 && !this.dom0.closed) return Promise.resolve();
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`dom0 did not connect within ${timeoutMs / 1000} s`)), timeoutMs);
      this.dom0Ready = () => {
        clearTimeout(t);
        res();
      };
    });
  }

  constructor(private readonly opts: HypervisorServerOptions) {
    this.hv = new Hypervisor(opts);
    this.hv.onConsole = (d, bytes) => this.recordConsole(d, bytes);
    this.hv.onShutdown = (d) => this.dom0?.notify({ domainState: this.info(d) });
  }

  async start(): Promise<{ url: string; close: () => Promise<void> }> {
    const server = await serve({
      host: this.opts.host,
      port: this.opts.port,
      role: 'dom0',
      token: this.opts.token,
      name: 'pvsim-hypervisor',
      now: () => this.hv.now(),
      onPeer: (peer) => {
        if (this.dom0 && !this.dom0.closed) {
          peer.close('dom0 is already connected');
          return;
        }
        this.dom0 = peer;
        const again = this.bridge !== null;
        this.bridge ??= new Dom0Bridge(this.hv, () => this.dom0);
        this.hv.printk(again ? 'dom0 connected again: serving its domains to it' : 'dom0 connected');
        if (again) {
          this.bridge.reattach();
          // Shutdowns it missed: its toolstack acts on them now (on_poweroff, on_reboot...).
          for (const d of this.hv.domains.values()) if (d.domid !== 0 && (d.state === 'shutdown' || d.state === 'crashed')) peer.notify({ domainState: this.info(d) });
          this.kick();
        }
        this.dom0Ready?.();
        peer.onClose = (why) => {
          this.hv.printk(`dom0 disconnected: ${why}`);
          if (this.dom0 !== peer) return;
          // Domains dom0's builder had not finished cannot be finished by another dom0.
          for (const domid of [...this.building]) {
            const d = this.hv.domain(domid);
            if (d) this.abandon(d);
          }
          this.bridge?.dom0Lost();
          this.kick();
        };
      },
      handler: (req) => this.handle(req),
    });
    if (!this.opts.manual) void this.loop();
    return {
      url: server.url,
      close: async () => {
        this.stopping = true;
        this.hv.stopRealtime = true;
        this.wake?.();
        await server.close();
      },
    };
  }

  /** Runs the machine whenever there is something to run, paced to wall time. */
  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    while (!this.stopping) {
      this.hv.stopRealtime = false;
      const r = await this.hv.runRealtime({ speed: this.opts.speed });
      if (this.stopping) break;
      if (r.kind === 'idle') await new Promise<void>((res) => (this.wake = res));
    }
    this.running = false;
  }

  private kick(): void {
    this.hv.stopRealtime = true; // re-enter the loop so new work is seen at once
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private recordConsole(d: Domain, bytes: Uint8Array): void {
    let log = this.consoles.get(d.domid);
    if (!log) this.consoles.set(d.domid, (log = { base: 0, bytes: [] }));
    for (const b of bytes) log.bytes.push(b);
    const over = log.bytes.length - CONSOLE_LOG_BYTES;
    if (over > 0) {
      log.bytes.splice(0, over);
      log.base += over;
    }
  }

  private info(d: Domain): WireDomainInfo {
    const i = domainInfo(this.hv, d);
    return {
      domid: i.domid,
      name: i.name,
      flags: i.flags,
      totPages: i.totPages,
      maxPages: i.maxPages,
      cpuTimeNs: Math.floor(i.cpuTimeNs), // virtual time may be fractional (realtime pacing); the wire carries integers
      onlineVcpus: i.nrOnlineVcpus,
      maxVcpuId: i.maxVcpuId,
      weight: i.weight,
      cap: i.cap,
    };
  }

  private find(ref: DomainRef | undefined): Domain | undefined {
    if (!ref) return undefined;
    if (ref.name) return [...this.hv.domains.values()].find((d) => d.name === ref.name);
    return this.hv.domain(ref.domid ?? 0);
  }

  private handle(req: Request): Result {
    try {
      if (this.bridge) {
        const bad = this.bridge.applyWrites(req.writes);
        if (bad) return bad;
        const r = this.bridge.handle(req);
        if (r) return r;
      }
      return this.dispatch(req);
    } catch (e) {
      if (e instanceof ControlError) return err(e.errno, e.message);
      if (e instanceof BuildError || e instanceof ElfError) return err('EINVAL', e.message);
      if (e instanceof OutOfMemoryError) return err('ENOMEM', e.message);
      throw e;
    }
  }

  private dispatch(req: Request): Result {
    const hv = this.hv;
    if (req.createDomain) {
      const c = req.createDomain;
      if (!c.name) return err('EINVAL', 'a domain needs a name');
      if ([...hv.domains.values()].some((d) => d.name === c.name)) return err('EEXIST', `a domain named "${c.name}" already exists`);
      if (!(c.memoryMib >= 1 && c.memoryMib <= 65536)) return err('EINVAL', `memory ${c.memoryMib} MiB out of range`);
      const { domain } = hv.createPvDomain(c.kernel, {
        name: c.name,
        memoryBytes: c.memoryMib * 1024 * 1024,
        cmdline: c.cmdline ?? '',
        vcpus: c.vcpus || 1,
        weight: c.weight || undefined,
        cap: c.cap || undefined,
      });
      if (c.maxmemMib && c.maxmemMib > c.memoryMib) domain.maxPages = c.maxmemMib * 256;
      if (!c.paused) hv.unpause(domain);
      this.kick();
      return { rc: 0, domain: this.info(domain) };
    }
    if (req.domainCreateEmpty) {
      const c = req.domainCreateEmpty;
      if (!c.name) return err('EINVAL', 'a domain needs a name');
      if ([...hv.domains.values()].some((d) => d.name === c.name)) return err('EEXIST', `a domain named "${c.name}" already exists`);
      if (!(c.nrPages >= 1 && c.nrPages <= 16 * 1024 * 1024)) return err('EINVAL', `${c.nrPages} pages is out of range`);
      const d = hv.createEmptyDomain({ name: c.name, nrPages: c.nrPages, weight: c.weight || undefined, cap: c.cap || undefined });
      if (c.maxmemPages && c.maxmemPages > c.nrPages) d.maxPages = c.maxmemPages;
      this.building.add(d.domid);
      return { rc: 0, emptyDomain: { domid: d.domid, p2m: [...d.p2m], sharedInfoMfn: d.sharedInfoMfn, storePort: d.storeEvtchn, consolePort: d.consoleEvtchn } };
    }
    if (req.domainBuild) {
      const b = req.domainBuild;
      const d = hv.domain(b.domid);
      if (!d || !this.building.has(b.domid)) return err('ESRCH', `domain ${b.domid} is not being built`);
      for (const pg of b.pages) {
        if (hv.frames.ownerOf(pg.mfn) !== d.domid) {
          this.abandon(d);
          return err('EPERM', `mfn 0x${pg.mfn.toString(16)} does not belong to d${d.domid}`);
        }
        if (pg.offset + pg.data.length > 4096) {
          this.abandon(d);
          return err('EINVAL', 'a page write runs past its page');
        }
        hv.frames.frameStorage(pg.mfn).set(pg.data, pg.offset);
      }
      this.building.delete(b.domid);
      if (!((b.vcpus || 1) >= 1 && (b.vcpus || 1) <= MAX_VIRT_CPUS)) {
        hv.destroyDomain(d);
        return err('EINVAL', `vcpus must be 1..${MAX_VIRT_CPUS}`);
      }
      try {
        hv.finishBuild(d, { entry: b.entry, startInfoVa: b.startInfoVa, stackTop: b.stackTop, l2Mfn: b.l2Mfn, vcpus: b.vcpus || 1 }, b);
      } catch (e) {
        hv.destroyDomain(d);
        return err('EINVAL', `domain ${d.name} cannot start: ${(e as Error).message}`);
      }
      if (!b.paused) hv.unpause(d);
      this.kick();
      return { rc: 0, domain: this.info(d) };
    }
    if (req.listDomains) {
      const list = [...hv.domains.values()].sort((a, b) => a.domid - b.domid).map((d) => this.info(d));
      // dom0 is a process, not a built domain; it is listed as Xen lists Domain-0. Its CPU
      // time is not charged to a vCPU yet.
      if (!hv.domain(0)) list.unshift({ domid: 0, name: 'Domain-0', flags: XEN_DOMINF.running, totPages: 0, maxPages: 0, cpuTimeNs: 0, onlineVcpus: DOM0_VCPUS, maxVcpuId: DOM0_VCPUS - 1, weight: 256, cap: 0 });
      return { rc: 0, domains: { domains: list } };
    }
    if (req.info) {
      return {
        rc: 0,
        info: {
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
        },
      };
    }
    if (req.dmesg) return { rc: 0, lines: { lines: [...hv.dmesg()] } };
    const ref = req.destroyDomain ?? req.pauseDomain ?? req.unpauseDomain ?? req.shutdownDomain?.domain ?? req.schedCredit?.domain ?? req.consoleRead?.domain ?? req.vcpuList;
    if (req.vcpuList && !req.vcpuList.name && !req.vcpuList.domid) {
      return { rc: 0, vcpus: { vcpus: [...hv.domains.values()].flatMap((d) => this.vcpus(d)) } };
    }
    const d = this.find(ref);
    if (!d) return err('ESRCH', `no such domain: ${ref?.name || ref?.domid}`);
    if (req.destroyDomain) {
      this.building.delete(d.domid); // a build dom0 gave up on
      hv.destroyDomain(d);
      this.consoles.delete(d.domid);
      return { rc: 0 };
    }
    if (req.pauseDomain) {
      if (d.state !== 'running') return err('EINVAL', `domain ${d.name} is not running (${d.state})`);
      hv.pause(d);
      return { rc: 0, domain: this.info(d) };
    }
    if (req.unpauseDomain) {
      if (d.state !== 'paused') return err('EINVAL', `domain ${d.name} is not paused (${d.state})`);
      hv.unpause(d);
      this.kick();
      return { rc: 0, domain: this.info(d) };
    }
    if (req.shutdownDomain) {
      const reason = SHUTDOWN_NAMES.get(req.shutdownDomain.reason);
      if (!reason) return err('EINVAL', `unknown shutdown reason ${req.shutdownDomain.reason}`);
      hv.shutdownDomain(d, reason);
      return { rc: 0, domain: this.info(d) };
    }
    if (req.schedCredit) {
      if (req.schedCredit.set) setCreditParams(d, req.schedCredit.weight ?? 0, req.schedCredit.cap ?? 0xffff);
      return { rc: 0, schedCredit: { domain: d.name, domid: d.domid, weight: d.sched.weight, cap: d.sched.cap } };
    }
    if (req.consoleRead) {
      const log = this.consoles.get(d.domid) ?? { base: 0, bytes: [] };
      const from = Math.max(0, (req.consoleRead.offset ?? 0) - log.base);
      return { rc: 0, console: Uint8Array.from(log.bytes.slice(from)) };
    }
    if (req.vcpuList) return { rc: 0, vcpus: { vcpus: this.vcpus(d) } };
    return err('ENOSYS', 'unknown operation');
  }

  private vcpus(d: Domain) {
    return d.vcpus.map((v) => ({
      domain: d.name,
      domid: d.domid,
      vcpu: v.vcpuId,
      pcpu: v.pcpu,
      state: RUNSTATES.indexOf(v.runstate),
      cpuTimeNs: Math.floor(this.hv.runstateTimes(v)[0]!),
      online: v.online,
    }));
  }
}
