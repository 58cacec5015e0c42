// The hypervisor process's server: runs the machine in realtime mode and serves the one
// privileged peer, dom0, over the protocol in protocol/: its requests are decoded into calls
// on the control domain's service (hypervisor/control/service.ts; the mapping, grant and
// event channel ones through Dom0Bridge). Every request is checked; a bad one gets an errno
// and a reason, never an exception that reaches the machine.

import { Hypervisor, type HypervisorOptions } from '../hypervisor.ts';
import { CpupoolError } from '../sched/core.ts';
import { SCHEDULER_NAMES, type SchedulerName } from '../sched/options.ts';
import { DOM0_VCPUS } from '../domain/lifecycle.ts';
import type { Domain } from '../domain/domain.ts';
import { domainInfo, ControlError } from '../domain/control.ts';
import { BuildError } from '../../xenguest/pv_bootstrap.ts';
import { ElfError } from '../../xenguest/elf.ts';
import { OutOfMemoryError } from '../mm/frame_table.ts';
import { RUNSTATES } from '../domain/domain.ts';
import { serve, type Peer } from '../../protocol/session.ts';
import { Dom0Bridge } from './dom0_bridge.ts';
import { hvmDomainStats } from '../hvm/index.ts';
import { domainTables } from '../control/tables.ts';
import { CONSOLE_LOG_BYTES, dispatchRequest, type DomainRef, type OpTable, type Request, type Response, type DomainInfo as WireDomainInfo } from '../../protocol/wire.ts';
import { XEN_ERRNO, type XenErrno } from '../../protocol/xen/errno.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { wireStats } from '../../protocol/wire_stats.ts';
import { ControlServiceError, type ControlService } from '../control/service.ts';

type Result = Omit<Response, 'id'>;

const err = (e: XenErrno, error: string): Result => ({ rc: -XEN_ERRNO[e], error });

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

  /** The control domain's service while a dom0 has ever connected (benches, tests). */
  get control(): ControlService | null {
    return this.bridge?.service ?? null;
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
    if (wireStats) wireStats.role = 'hypervisor';
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
        const bridge = this.bridge;
        // dom0's batches: privcmd work on the hot path (the hypervisor serves no dispatches).
        peer.hotHandler = (req) =>
          req.kind === 'batch' ? { kind: 'batchDone', id: req.id, ...bridge.applyOps(req.ops) } : req.kind === 'ioreq' ? { kind: 'ioreqDone', id: req.id, value: 0xffffffff, ops: [] } : { kind: 'dispatchDone', id: req.id, ops: [] };
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
          this.bridge?.service.abandonBuilds();
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
    const { sharedInfoFrame: _hypercallOnly, ...i } = domainInfo(this.hv, d);
    // Virtual time may be fractional (realtime pacing); the wire carries integers.
    return { ...i, cpuTimeNs: Math.floor(i.cpuTimeNs) };
  }

  private handle(req: Request): Result {
    // Requests come only from dom0, whose connection made the bridge.
    if (!this.bridge) return err('ENOSYS', 'dom0 is not connected');
    try {
      const r = this.bridge.handle(req);
      if (r) return r;
      return this.dispatch(this.bridge.service, req);
    } catch (e) {
      if (e instanceof ControlServiceError) return { rc: e.rc, error: e.message };
      if (e instanceof ControlError) return err(e.errno, e.message);
      if (e instanceof BuildError || e instanceof ElfError) return err('EINVAL', e.message);
      if (e instanceof OutOfMemoryError) return err('ENOMEM', e.message);
      throw e;
    }
  }

  /** domctl and sysctl requests, decoded into calls on the service (one handler per operation). */
  private dispatch(svc: ControlService, req: Request): Result {
    if (this.opsFor?.svc !== svc) this.opsFor = { svc, table: this.controlOps(svc) };
    return dispatchRequest(this.opsFor.table, req)?.result ?? err('ENOSYS', 'unknown operation');
  }

  /** The dispatch table, built once per service (a new dom0 connection has a new one). */
  private opsFor: { svc: ControlService; table: Partial<OpTable<Result>> } | null = null;

  private controlOps(svc: ControlService): Partial<OpTable<Result>> {
    const hv = this.hv;
    return {
      createDomain: (a) => {
        const d = svc.createDomain(a);
        this.kick();
        return { rc: 0, domain: this.info(d) };
      },
      domainCreateEmpty: (a) => {
        const d = svc.createEmptyDomain(a);
        return { rc: 0, emptyDomain: { domid: d.domid, p2m: [...d.p2m], sharedInfoMfn: d.sharedInfoMfn, storePort: d.storeEvtchn, consolePort: d.consoleEvtchn } };
      },
      domainBuild: (a) => {
        const d = svc.buildDomain(a);
        this.kick();
        return { rc: 0, domain: this.info(d) };
      },
      listDomains: () => {
        const list = [...hv.domains.values()].sort((a, b) => a.domid - b.domid).map((d) => this.info(d));
        // dom0 is a process, not a built domain; it is listed as Xen lists Domain-0. Its CPU
        // time is not charged to a vCPU yet.
        if (!hv.domain(0)) list.unshift({ domid: 0, name: 'Domain-0', flags: XEN_DOMINF.running, totPages: 0, maxPages: 0, cpuTimeNs: 0, onlineVcpus: DOM0_VCPUS, maxVcpuId: DOM0_VCPUS - 1, weight: 256, cap: 0 });
        return { rc: 0, domains: { domains: list } };
      },
      info: () => ({ rc: 0, info: svc.physinfo() }),
      dmesg: () => ({ rc: 0, lines: { lines: [...hv.dmesg()] } }),
      hvmStats: (ref) => {
        const one = (d: Domain) => {
          const st = hvmDomainStats(d);
          return st ? [st] : [];
        };
        if (!ref.name && !ref.domid) return { rc: 0, hvmStats: { domains: [...hv.domains.values()].flatMap(one) } };
        return this.onDomain(svc, ref, false, (d) => (d.hvm ? { rc: 0, hvmStats: { domains: one(d) } } : { rc: -XEN_ERRNO.EINVAL, error: `${d.name} is not an HVM domain` }));
      },
      domainTables: (ref) => {
        if (!ref.name && !ref.domid) return { rc: 0, domainTables: { domains: [...hv.domains.values()].map((d) => domainTables(hv, d)) } };
        return this.onDomain(svc, ref, false, (d) => ({ rc: 0, domainTables: { domains: [domainTables(hv, d)] } }));
      },
      vcpuList: (ref) => {
        if (!ref.name && !ref.domid) return { rc: 0, vcpus: { vcpus: [...hv.domains.values()].flatMap((d) => this.vcpus(d)) } };
        return this.onDomain(svc, ref, false, (d) => ({ rc: 0, vcpus: { vcpus: this.vcpus(d) } }));
      },
      destroyDomain: (ref) =>
        this.onDomain(svc, ref, true, (d) => {
          svc.destroyDomain(d);
          this.consoles.delete(d.domid);
          return { rc: 0 };
        }),
      pauseDomain: (ref) =>
        this.onDomain(svc, ref, true, (d) => {
          svc.pauseDomain(d);
          return { rc: 0, domain: this.info(d) };
        }),
      unpauseDomain: (ref) =>
        this.onDomain(svc, ref, true, (d) => {
          svc.unpauseDomain(d);
          this.kick();
          return { rc: 0, domain: this.info(d) };
        }),
      shutdownDomain: (a) =>
        this.onDomain(svc, a.domain, true, (d) => {
          svc.shutdownDomain(d, a.reason);
          return { rc: 0, domain: this.info(d) };
        }),
      schedCredit: (a) =>
        this.onDomain(svc, a.domain, false, (d) => {
          // Fields a client leaves out decode as 0: weight 0 leaves it, an absent cap is sent as 0xffff by xl.
          return { rc: 0, schedCredit: svc.schedOp(d, { ...a, weight: a.weight ?? 0, cap: a.cap ?? 0xffff }) };
        }),
      cpupool: (a) => {
        const list = (): Result => ({
          rc: 0,
          cpupools: {
            pools: hv.cpupools.map((p) => ({
              id: p.id,
              name: p.name,
              scheduler: p.policy.name,
              cpus: [...p.cpus],
              // Domain-0 (the dom0 process) is in Pool-0, as Xen's is.
              nDom: [...hv.domains.values()].filter((d) => d.vcpus.length > 0 && hv.sched.poolOf(d) === p).length + (p.id === 0 ? 1 : 0),
            })),
            freeCpus: hv.freeCpus,
          },
        });
        const refuse = (e: unknown): Result => {
          if (e instanceof CpupoolError) return { rc: -XEN_ERRNO.EINVAL, error: e.message };
          throw e;
        };
        try {
          switch (a.op) {
            case 'list':
              return list();
            case 'create': {
              const sched = a.scheduler ?? '';
              if (!(SCHEDULER_NAMES as readonly string[]).includes(sched)) return { rc: -XEN_ERRNO.EINVAL, error: `unknown scheduler "${sched}" (${SCHEDULER_NAMES.join(', ')})` };
              hv.cpupoolCreate(a.pool ?? '', sched as SchedulerName, a.cpus ?? []);
              this.kick();
              return list();
            }
            case 'cpu-remove':
              for (const c of a.cpus ?? []) hv.cpupoolCpuRemove(a.pool ?? '', c);
              this.kick();
              return list();
            case 'migrate':
              return this.onDomain(svc, a.domain ?? {}, true, (d) => {
                try {
                  hv.cpupoolMigrate(d, a.pool ?? '');
                } catch (e) {
                  return refuse(e);
                }
                this.kick();
                return list();
              });
            default:
              return { rc: -XEN_ERRNO.EINVAL, error: `unknown cpupool operation "${a.op}"` };
          }
        } catch (e) {
          return refuse(e);
        }
      },
      consoleRead: (a) =>
        this.onDomain(svc, a.domain, false, (d) => {
          const log = this.consoles.get(d.domid) ?? { base: 0, bytes: [] };
          const from = Math.max(0, (a.offset ?? 0) - log.base);
          return { rc: 0, console: Uint8Array.from(log.bytes.slice(from)) };
        }),
    };
  }

  /**
   * Runs `op` on the domain `ref` names. With `notDom0`, domain 0 is refused: it is the
   * caller itself, and Xen's domctl refuses to destroy or pause the domain that asks
   * (d == current->domain), and its shutdown is the host's. Destroying it here would close
   * dom0's event channels and grant maps under every backend.
   */
  private onDomain(svc: ControlService, ref: DomainRef | undefined | null, notDom0: boolean, op: (d: Domain) => Result): Result {
    if (!ref) return err('ENOSYS', 'unknown operation');
    const d = svc.findDomain(ref);
    if (notDom0 && d.domid === 0) {
      return err('EINVAL', 'domain 0 (Domain-0) is the control domain: it cannot be destroyed, paused or shut down from the toolstack (stop pvsim up instead)');
    }
    return op(d);
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
      hardAffinity: [...(d.sched.hardAffinity ?? [])],
      softAffinity: [...(d.sched.softAffinity ?? [])],
    }));
  }
}
