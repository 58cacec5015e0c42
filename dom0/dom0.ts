// The dom0 process: connects to the hypervisor as the privileged domain, runs xenstored,
// and serves pvsim's own clients (pvsim xl) over the protocol. The toolstack here keeps
// XenStore's view of domains (/local/domain/<domid>/...) in step with what it asks the
// hypervisor to do, as xl/libxl does in Xen's dom0.

import { connect, serve, type Peer } from '../protocol/session.ts';
import { dispatchRequest, type DomainInfo, type OpName, type OpTable, type Request, type RequestOps, type Response } from '../protocol/wire.ts';
import { startXenstored, XsClient, type XenstoredServer } from './xenstore/index.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';
import { SHUTDOWN } from '../protocol/xen/hypercall.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { XENSTORE_PAYLOAD_MAX } from '../protocol/xen/xs_wire.ts';
import { RemotePlatform } from './remote_platform.ts';
import { DeviceSetupError, Dom0Daemons } from './daemons.ts';
import { ConsoleInputBusy, ConsoleInputTooLarge } from './backends/console/backend.ts';
import { buildDomain } from './toolstack/builder.ts';
import { addDevice, USER_DRIVER_KEY } from './toolstack/devices.ts';
import { CreateRequestError, CREATE_LIMITS, deviceEmulation, validateCreateDomain } from './toolstack/validate.ts';
import { EMULATION_NEEDS_IN_PROCESS, emulatedDevices } from './toolstack/emulated.ts';
import { DomainConfigs } from './toolstack/configs.ts';

export interface Dom0Options {
  hypervisorUrl: string;
  hypervisorToken: string;
  clientToken: string;
  xenstoredPath: string;
  /** XenStore's state file: kept up to date, and started from when it exists (a restart). */
  stateFile?: string;
  host?: string;
  port?: number;
  log?: (line: string) => void;
  /** Capture every frame crossing dom0's bridges to this pcap file. */
  pcap?: string;
}

export interface Dom0Handle {
  url: string;
  xenstoredPath: string;
  close(): Promise<void>;
  /** Resolves when the hypervisor connection is lost. */
  lost: Promise<string>;
}

/** The operations dom0 serves its clients (xl and pvsim's tools); others are refused. */
type ClientOp =
  | 'createDomain'
  | 'destroyDomain'
  | 'pauseDomain'
  | 'unpauseDomain'
  | 'shutdownDomain'
  | 'listDomains'
  | 'schedCredit'
  | 'info'
  | 'dmesg'
  | 'vcpuList'
  | 'consoleRead'
  | 'consoleInput'
  | 'xenstore'
  | 'deviceStats'
  | 'hvmStats'
  | 'domainTables'
  | 'backendRings'
  | 'cpupool';

export async function startDom0(opts: Dom0Options): Promise<Dom0Handle> {
  const log = opts.log ?? (() => {});
  // The hypervisor dispatches dom0's work to us as requests; they are served by the daemons.
  let daemons: Dom0Daemons | null = null;
  let platform: RemotePlatform | null = null;
  // xl's configs (set once loaded): a restarted dom0 makes the device model of the HVM
  // domains it created again from them.
  let savedConfigs: DomainConfigs | null = null;
  // A restarted dom0 is told of running domains as soon as it connects: those dispatches
  // wait until the daemons exist rather than fail.
  let started!: () => void;
  const ready = new Promise<void>((res) => (started = res));
  const fromHypervisor = async (req: Request): Promise<Omit<Response, 'id'>> => {
    await ready;
    if (!daemons || !platform) return { rc: -11, error: 'dom0 is still starting' };
    try {
      if (req.dom0Event) await platform.event(req.dom0Event);
      else if (req.domainCreated) {
        const s = req.domainCreated;
        // savedDevices: a domain xl created through this toolstack, served again after a restart.
        await daemons.domainCreated({ domid: s.domain.domid, name: s.domain.name, memoryKb: s.memoryKb, vcpus: s.vcpus, storeMfn: s.storeMfn, storePort: s.storePort, consoleMfn: s.consoleMfn, consolePort: s.consolePort, devices: s.devices, savedDevices: savedConfigs?.get(s.domain.domid)?.devices });
        await platform.flush();
        log(`dom0: serving d${s.domain.domid} ${s.domain.name}`);
      } else if (req.domainDestroyed) await daemons.domainDestroyed(req.domainDestroyed.domid ?? 0);
      else if (req.deviceRestart) {
        const r = req.deviceRestart;
        await daemons.restartDevice(r.domid ?? 0, r.kind ?? '', r.devid ?? 0);
        await platform.flush();
      }
      else return { rc: -38, error: 'not a dom0 dispatch' };
      daemons.saveState(); // what the guest will see acknowledged is on disk first
      return { rc: 0 };
    } catch (e) {
      return { rc: -5, error: (e as Error).message };
    }
  };
  const { peer: hv } = await connect(opts.hypervisorUrl, 'dom0', opts.hypervisorToken, fromHypervisor);
  platform = new RemotePlatform(hv);
  // Hot dispatches (protocol/hot_wire.ts) are served by the platform itself; what the guest
  // will see acknowledged is saved before the answer goes.
  platform.afterDispatch = () => daemons?.saveState();
  platform.onDispatchError = (port, e) => log(`dom0: dispatch of port ${port} failed: ${e.message}`);
  daemons = new Dom0Daemons(platform, { log, stateFile: opts.stateFile, pcap: opts.pcap });
  if (daemons.restored) log(`dom0: restarted from saved XenStore ${opts.stateFile}`);
  // What each domain was created with, for on_poweroff / on_reboot / on_crash (and, after a
  // restart, the device models to make again): loaded before any dispatch is served.
  savedConfigs = new DomainConfigs(opts.stateFile ? `${opts.stateFile}.domains` : undefined);
  started();
  let xs: XenstoredServer;
  try {
    xs = await startXenstored({ socketPath: opts.xenstoredPath, daemon: daemons.xenstored });
  } catch (e) {
    daemons.close();
    hv.close();
    throw e;
  }
  const store = new XsClient(xs.daemon, { domid: 0, label: 'toolstack' });
  const lost = new Promise<string>((res) => (hv.onClose = res));
  const clients = new Set<Peer>();
  const d = daemons;

  const configs = savedConfigs;
  hv.onNotice = (n) => {
    if (!n.domainState) return;
    // As Xen's xenstored on VIRQ_DOM_EXC: a shutdown fires @releaseDomain, which toolstacks
    // (xl, `pvsim demo`, xenstore-watch) wait on instead of polling.
    if (n.domainState.flags & XEN_DOMINF.shutdown) d.xenstored.domainShutdown(n.domainState.domid);
    void onDomainState(hv, d, store, configs, n.domainState, log);
  };

  type Result = Omit<Response, 'id'>;
  /** The hypervisor's answer to the same request (domctl and sysctl are Xen's, not dom0's). */
  const toHypervisor = async <K extends OpName>(op: K, arg: RequestOps[K]): Promise<Result> => {
    const { id: _id, ...rest } = await hv.request(op, arg);
    return rest;
  };
  const viaHypervisor = <K extends OpName>(op: K) => (arg: RequestOps[K]) => toHypervisor(op, arg);
  const clientOps: OpTable<Promise<Result>, ClientOp> = {
    // xl create: dom0's own domain builder writes the guest's bootstrap pages (libxc's job in Xen).
    createDomain: (c) => createDomain(hv, d, configs, c, log),
    destroyDomain: async (ref) => {
      // The domain destroyed, found before it goes (a name no longer resolves afterwards). By
      // name if one is given, as the hypervisor finds it: the domid of a request by name reads
      // as 0 on the wire, and taking that tore down dom0's own XenStore directory while the
      // named domain's nodes waited for the hypervisor's notice (after xl had its answer).
      const destroyed = await resolveDomid(hv, ref);
      const r = await toHypervisor('destroyDomain', ref);
      if (r.rc === 0) {
        const id = destroyed ?? configs.byName(ref.name ?? '');
        if (id !== undefined) {
          configs.delete(id);
          // Unplugged before xl hears back: its images are closed, so they are free for the
          // next create (the hypervisor's own notice of the destroy may still be on its way).
          await d.domainDestroyed(id);
        }
      }
      return r;
    },
    pauseDomain: viaHypervisor('pauseDomain'),
    unpauseDomain: viaHypervisor('unpauseDomain'),
    shutdownDomain: viaHypervisor('shutdownDomain'),
    listDomains: viaHypervisor('listDomains'),
    schedCredit: viaHypervisor('schedCredit'),
    info: viaHypervisor('info'),
    dmesg: viaHypervisor('dmesg'),
    vcpuList: viaHypervisor('vcpuList'),
    hvmStats: viaHypervisor('hvmStats'),
    domainTables: viaHypervisor('domainTables'),
    cpupool: viaHypervisor('cpupool'),
    // The PV console is dom0's (xenconsoled): served here for domains with a console ring,
    // by the hypervisor's own log otherwise.
    consoleRead: async (a) => {
      const id = await resolveDomid(hv, a.domain);
      const c = id === undefined ? undefined : d.consoles.get(id);
      if (c) return { rc: 0, console: c.read(a.offset ?? 0).bytes };
      return toHypervisor('consoleRead', a);
    },
    consoleInput: async (a) => {
      const id = await resolveDomid(hv, a.domain);
      const c = id === undefined ? undefined : d.consoles.get(id);
      if (!c) return { rc: -3, error: 'no such domain, or it has no PV console' };
      // Answered once every byte is queued for the guest: a writer that waits for the answer
      // is held back while the guest does not read (xenconsoled stops reading the pty).
      try {
        await c.input(a.data);
      } catch (e) {
        return { rc: e instanceof ConsoleInputBusy ? -11 : e instanceof ConsoleInputTooLarge ? -22 : -5, error: (e as Error).message };
      }
      return { rc: 0 };
    },
    xenstore: (a) => xenstoreOp(store, a),
    deviceStats: async () => ({ rc: 0, deviceStats: { domains: d.deviceStats() } }),
    backendRings: async () => ({ rc: 0, backendRings: { rings: d.backendRings() } }),
  };
  const forward = async (req: Request): Promise<Result> =>
    (await dispatchRequest<Promise<Result>>(clientOps, req)?.result) ?? { rc: -38, error: 'unknown operation' };

  const server = await serve({
    host: opts.host,
    port: opts.port,
    role: 'client',
    token: opts.clientToken,
    name: 'pvsim-dom0',
    now: () => 0,
    onPeer: (p) => {
      clients.add(p);
      p.onClose = () => clients.delete(p);
    },
    handler: forward,
  });
  log(`dom0: serving clients at ${server.url}, xenstored at ${opts.xenstoredPath}`);
  return {
    url: server.url,
    xenstoredPath: opts.xenstoredPath,
    lost,
    close: async () => {
      for (const c of clients) c.close('dom0 stopping');
      await server.close();
      store.close();
      await xs.close();
      d.close();
      hv.close('dom0 stopping');
    },
  };
}

/**
 * xl create, whoever asks: check the request (validate.ts; a client need not be xl), build
 * the domain paused, announce its devices in XenStore (libxl's layout, so the XenbusState
 * handshake can start when the guest's frontends appear), record its config, then run it.
 * If anything fails once the domain exists, it is destroyed and everything written for it
 * removed, as libxl's create does on error: a failed create leaves nothing behind.
 */
async function createDomain(
  hv: Peer,
  d: Dom0Daemons,
  configs: DomainConfigs,
  c: RequestOps['createDomain'],
  log: (line: string) => void,
): Promise<Omit<Response, 'id'>> {
  const info = await hv.request('info', {});
  const machineMiB = info.info ? Math.floor(info.info.totalPages / 256) : CREATE_LIMITS.maxMemoryMiB;
  try {
    validateCreateDomain(c, machineMiB);
  } catch (e) {
    if (e instanceof CreateRequestError) return { rc: -XEN_ERRNO.EINVAL, error: e.message };
    throw e;
  }
  // Refused before anything is built: a dom0 platform without the ioreq path.
  if (!d.canEmulate && emulatedDevices(c.devices ?? []).length > 0) return { rc: -XEN_ERRNO.EOPNOTSUPP, error: EMULATION_NEEDS_IN_PROCESS };
  let domid: number | undefined;
  try {
    const r = await buildDomain(hv, { ...c, paused: true }, (id) => (domid = id));
    if (r.rc !== 0 || !r.domain) return r;
    // Emulated devices go to the device model (as libxl starts QEMU), the rest to XenStore.
    if (emulatedDevices(c.devices ?? []).length > 0) {
      try {
        await d.attachEmulatedFor(r.domain.domid, c.name, c.devices ?? []);
      } catch (e) {
        if (!(e instanceof DeviceSetupError)) throw e;
        log(`dom0: d${r.domain.domid} ${c.name}: ${e.reason}; destroying it`);
        await rollbackCreate(hv, d, configs, r.domain.domid);
        return { rc: -e.errno, error: e.reason };
      }
    }
    for (const dev of (c.devices ?? []).filter((x) => deviceEmulation(x) === null)) {
      // A user backend's device (xl.cfg vdev): its module is loaded (once per type) first.
      if (dev.kind !== 'vbd' && dev.kind !== 'vif') await d.loadUserBackend(dev.kind, dev.backend[USER_DRIVER_KEY] ?? '');
      const added = addDevice(d.xs, r.domain.domid, { kind: dev.kind, devid: dev.devid, backend: dev.backend, frontend: dev.frontend });
      if (!added.ok) throw new Error(added.problem ?? `${dev.kind} ${dev.devid}: writing its XenStore entries: ${added.error}`);
    }
    if ((c.devices ?? []).some((x) => deviceEmulation(x) === null)) {
      // As libxl waits for each backend to come up: one that failed (its error node, Closed)
      // fails the create with its reason, and the half-built domain is destroyed.
      await d.settle();
      const failed = d.deviceFailure(r.domain.domid);
      if (failed) {
        log(`dom0: d${r.domain.domid} ${c.name}: ${failed.message}; destroying it`);
        await rollbackCreate(hv, d, configs, r.domain.domid);
        return { rc: -failed.errno, error: failed.message };
      }
    }
    configs.set(r.domain.domid, c);
    if (c.paused) return r;
    const u = await hv.request('unpauseDomain', { domid: r.domain.domid });
    if (u.rc !== 0) throw new Error(`cannot unpause it: ${u.error}`);
    return { ...r, domain: u.domain ?? r.domain };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (domid === undefined) return { rc: -XEN_ERRNO.EIO, error: why };
    log(`dom0: create of ${c.name} (d${domid}) failed: ${why}; destroying it`);
    await rollbackCreate(hv, d, configs, domid);
    return { rc: -XEN_ERRNO.EIO, error: `${why} (domain ${domid} destroyed; nothing was kept)` };
  }
}

/** Undoes a create that failed after the domain was made: the domain, its XenStore nodes, its config. */
async function rollbackCreate(hv: Peer, d: Dom0Daemons, configs: DomainConfigs, domid: number): Promise<void> {
  try {
    configs.delete(domid);
  } catch {
    // its file could not be removed; the domain it names is gone below
  }
  await hv.request('destroyDomain', { domid }).catch(() => undefined);
  // The hypervisor's domainDestroyed dispatch does the same; doing it here too means the
  // failure is answered only once the domain's nodes are gone (it is idempotent).
  await d.domainDestroyed(domid).catch(() => undefined);
}

async function resolveDomid(hv: Peer, ref: { domid?: number; name?: string }): Promise<number | undefined> {
  if (!ref.name) return ref.domid;
  const r = await hv.request('listDomains', {});
  return r.domains?.domains.find((x) => x.name === ref.name)?.domid;
}

/** XenStore for pvsim's own tools over the protocol; errors carry Xen's names (ENOENT, EACCES...). */
async function xenstoreOp(xs: XsClient, op: RequestOps['xenstore']): Promise<Omit<Response, 'id'>> {
  // What one xenstored message may carry, as on its socket and rings: the toolstack's own
  // connection is in-process and unchecked, so a client's 20 MiB value would otherwise be
  // stored (and saved with every later write).
  const payload = Buffer.byteLength(op.path ?? '') + 1 + (op.value?.length ?? 0) + (op.perms ?? []).reduce((n, p) => n + Buffer.byteLength(p) + 1, 0);
  if (payload > XENSTORE_PAYLOAD_MAX) return { rc: -XEN_ERRNO.E2BIG, error: `E2BIG: a xenstore ${op.op} of ${payload} bytes; one message carries at most ${XENSTORE_PAYLOAD_MAX}` };
  try {
    switch (op.op) {
      case 'read':
        return { rc: 0, xenstore: { value: await xs.readBytes(op.path) } };
      case 'write':
        await xs.write(op.path, op.value ?? new Uint8Array(0));
        return { rc: 0, xenstore: {} };
      case 'mkdir':
        await xs.mkdir(op.path);
        return { rc: 0, xenstore: {} };
      case 'rm':
        await xs.rm(op.path);
        return { rc: 0, xenstore: {} };
      case 'directory':
        return { rc: 0, xenstore: { list: await xs.directory(op.path) } };
      case 'get-perms':
        return { rc: 0, xenstore: { list: await xs.getPerms(op.path) } };
      case 'set-perms':
        await xs.setPerms(op.path, op.perms ?? []);
        return { rc: 0, xenstore: {} };
      default:
        return { rc: -22, error: `unknown xenstore operation "${op.op}"` };
    }
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'EIO';
    return { rc: -(XEN_ERRNO[code as keyof typeof XEN_ERRNO] ?? 5), error: `${code}: ${(e as Error).message}` };
  }
}

/** xl's actions on a domain's shutdown, by reason (xl.cfg on_poweroff/on_reboot/on_crash). */
export function shutdownAction(reason: number, c: RequestOps['createDomain'] | undefined): string {
  if (reason === SHUTDOWN.reboot) return c?.onReboot || 'restart';
  if (reason === SHUTDOWN.crash) return c?.onCrash || 'destroy';
  if (reason === SHUTDOWN.poweroff) return c?.onPoweroff || 'destroy';
  return 'preserve'; // suspend, watchdog without a policy, soft_reset: leave it be
}

async function onDomainState(
  hv: Peer,
  daemons: Dom0Daemons,
  xs: XsClient,
  configs: DomainConfigs,
  d: DomainInfo,
  log: (l: string) => void,
): Promise<void> {
  if (!(d.flags & XEN_DOMINF.shutdown)) return;
  const reason = (d.flags >>> XEN_DOMINF.shutdownshift) & XEN_DOMINF.shutdownmask;
  await xs.write(`/local/domain/${d.domid}/control/shutdown-reason`, String(reason)).catch(() => {});
  const cfg = configs.get(d.domid);
  if (!cfg) {
    log(`dom0: d${d.domid} ${d.name} shut down (reason ${reason}); not created by this toolstack, left as is`);
    return;
  }
  let action = shutdownAction(reason, cfg);
  if (action.startsWith('coredump-')) {
    log(`dom0: d${d.domid}: core dumps are not supported; doing ${action.slice(9)} only`);
    action = action.slice(9);
  }
  log(`dom0: d${d.domid} ${d.name} shut down (reason ${reason}): ${action}`);
  if (action === 'preserve') return;
  configs.delete(d.domid);
  const gone = await hv.request('destroyDomain', { domid: d.domid });
  // Someone else (xl destroy) got there first: that destroy wins, nothing is restarted.
  if (gone.rc !== 0) {
    log(`dom0: d${d.domid} ${d.name} was destroyed meanwhile; not restarting it`);
    return;
  }
  // Its devices are unplugged (images closed) before the new instance claims them again.
  await daemons.domainDestroyed(d.domid).catch(() => undefined);
  if (action === 'restart' || action === 'rename-restart' || action === 'soft-reset') {
    // Through the same create as xl's, so the new instance gets its disks and vifs back.
    const r = await createDomain(hv, daemons, configs, { ...cfg, paused: false }, log);
    if (r.rc === 0 && r.domain) log(`dom0: restarted ${cfg.name} as d${r.domain.domid}`);
    else log(`dom0: restart of ${cfg.name} failed: ${r.error}`);
  }
}
