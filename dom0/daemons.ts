// dom0's daemons, the same in the hypervisor's process and in dom0's own: xenstored with
// a ring per guest, a console backend per guest, and the toolstack's XenStore layout.
// They reach the hypervisor only through a Dom0Platform.

import { Xenstored, attachRing, openXsHandle, type RingTransport, type XsHandle } from './xenstore/index.ts';
import { ConsoleBackend } from './backends/console/backend.ts';
import { removeDomainLayout, writeDom0Layout, writeDomainLayout, type DomainLayout } from './toolstack/xs_layout.ts';
import type { Dom0Platform, MappedPage } from './platform.ts';
import { XenbusBackend, type BackendDriver } from './backends/xenbus.ts';
import { BlkbackDriver } from './backends/blk/driver.ts';
import { NetbackDriver } from './backends/net/driver.ts';
import { UserBackendDriver, loadBackendModule, type UserBackendOptions } from './driver/host.ts';
import { deviceTypeProblem } from './driver/index.ts';
import { addDevice, backendPath, failedDevices, offlineDevices, removeDevices, USER_DRIVER_KEY } from './toolstack/devices.ts';
import { XsClient } from './xenstore/index.ts';
import type { BackendRing, Device, DeviceStats } from '../protocol/wire.ts';
import type { BackRing } from '../protocol/ring.ts';
import { XENCONS } from '../protocol/xen/console.ts';
import { XenstoreStateFile } from './xenstore/persist.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { attachEmulatedDevices, emulatedDevices, EmulationError, type EmulatedDomain } from './toolstack/emulated.ts';
import { deviceEmulation } from './toolstack/validate.ts';

export interface DomainSetupInfo extends DomainLayout {
  storeMfn: number;
  storePort: number;
  consoleMfn: number;
  consolePort: number;
  /** Split devices to announce (libxl's layout) before the domain runs. */
  devices?: readonly Device[];
  /**
   * For a domain a previous dom0 served: the devices its toolstack created it with (xl's
   * saved config), when the hypervisor did not carry them (dom0's builder made it).
   */
  savedDevices?: readonly Device[];
}

/** A domain's devices did not come up (dom0's setup of it failed). */
export class DeviceSetupError extends Error {
  override readonly name = 'DeviceSetupError';
  constructor(
    readonly domid: number,
    readonly domainName: string,
    readonly errno: number,
    readonly reason: string,
  ) {
    super(`domain ${domainName} (d${domid}): ${reason}`);
  }
}

/** Xen's errno for a XenStore error name (EIO for one it has no number for). */
function xsErrno(name: string): number {
  return (XEN_ERRNO as Record<string, number>)[name] ?? XEN_ERRNO.EIO;
}

export class Dom0Daemons {
  readonly xenstored: Xenstored;
  /**
   * The toolstack's connection to xenstored (libxl's xs_handle): domain layouts and devices
   * are written through it, by the daemon's request path, as dom0 (privileged).
   */
  readonly xs: XsHandle;
  /** The backends' connection (Linux's xenbus in dom0's kernel). */
  private readonly backendXs: XsHandle;
  readonly consoles = new Map<number, ConsoleBackend>();
  private readonly rings = new Map<number, { ring: RingTransport; port: number; page: MappedPage }>();
  /** Ring page and dom0 port prepared for a domain about to be introduced. */
  private readonly prepared = new Map<number, { page: MappedPage; port: number }>();
  /**
   * The set-up in progress or done for each live domain (a fresh object per domainCreated).
   * domainDestroyed removes it, so a set-up that resumes after an await finds it gone (or
   * replaced) and undoes what it did instead of introducing a destroyed domain.
   */
  private readonly lives = new Map<number, object>();
  /** Split-device backends (the XenbusState handshake), one per device kind. */
  readonly backends = new Map<string, XenbusBackend>();
  private watcher: XsClient | null = null;
  /** Frontend state paths the backends watch, and how many devices use each. */
  private readonly frontendWatches = new Map<string, number>();
  private state: XenstoreStateFile | null = null;
  /** Started from a saved XenStore (a dom0 restart). */
  readonly restored: boolean = false;
  readonly blkback: BlkbackDriver | null = null;
  /** netback: the vifs, their bridges (xenbr0, ...) and the pcap capture. */
  readonly netback: NetbackDriver | null = null;
  /** HVM domains' emulated devices (the device model), by domid. */
  readonly emulated = new Map<number, EmulatedDomain>();

  constructor(
    private readonly platform: Dom0Platform,
    private readonly opts: {
      onConsole?: (domid: number, bytes: Uint8Array) => void;
      log?: (line: string) => void;
      /** Serve block devices (blkback); default on. */
      blockBackend?: boolean;
      /**
       * Keep XenStore in this file and, if it exists, start from it: a dom0 that restarts
       * serves the same store, and its backends make the frontends reconnect.
       */
      stateFile?: string;
      /** Serve network devices (netback and its bridges); default on. */
      netBackend?: boolean;
      /** With netback: capture every frame crossing a bridge to this pcap file. */
      pcap?: string;
    } = {},
  ) {
    this.xenstored = new Xenstored({
      log: opts.log,
      onIntroduce: (domid) => this.attachStore(domid),
      onRelease: (domid) => this.detachStore(domid),
    });
    if (opts.stateFile) {
      this.state = new XenstoreStateFile(opts.stateFile, this.xenstored, opts.log);
      this.restored = this.state.restore();
      this.state.track();
    }
    this.xs = openXsHandle(this.xenstored, { label: 'toolstack' });
    this.backendXs = openXsHandle(this.xenstored, { label: 'xenbus-backends' });
    if (!this.restored) {
      const r = writeDom0Layout(this.xs);
      if (!r.ok) opts.log?.(`dom0: writing dom0's XenStore entries: ${r.error}`);
    }
    const readValue = (path: string): string | undefined => {
      const r = this.backendXs.read(path);
      return r.ok ? r.value : undefined;
    };
    const backendKey = (dev: { backend: string }, key: string) => readValue(`${dev.backend}/${key}`);
    if (opts.blockBackend !== false) {
      this.blkback = new BlkbackDriver(platform, backendKey, {
        log: opts.log,
        domainName: (domid) => readValue(`/local/domain/${domid}/name`),
      });
      this.registerBackend(this.blkback);
    }
    if (opts.netBackend !== false) {
      this.netback = new NetbackDriver(platform, backendKey, { pcap: opts.pcap, pcapAppend: this.restored, log: opts.log });
      this.registerBackend(this.netback);
    }
    if (this.restored) this.userBackendsReloaded = this.reloadUserBackends();
  }

  /** Resolves once the user backends a previous dom0 served are loaded again (restored XenStore). */
  readonly userBackendsReloaded: Promise<void> = Promise.resolve();

  /**
   * A restarted dom0 serves the user devices its predecessor served: each device type under
   * /local/domain/0/backend other than vbd and vif is loaded again from the `driver` key of
   * its devices (as xl create wrote it), so their frontends reconnect as blkfront's do. A
   * module that no longer loads is logged; its devices stay unserved.
   */
  private async reloadUserBackends(): Promise<void> {
    const kinds = this.backendXs.directory('/local/domain/0/backend');
    if (!kinds.ok) return;
    for (const kind of kinds.value) {
      if (kind === 'vbd' || kind === 'vif' || this.backends.has(kind)) continue;
      let driver: string | undefined;
      const doms = this.backendXs.directory(`/local/domain/0/backend/${kind}`);
      for (const dom of doms.ok ? doms.value : []) {
        const ids = this.backendXs.directory(`/local/domain/0/backend/${kind}/${dom}`);
        for (const id of ids.ok ? ids.value : []) {
          const r = this.backendXs.read(`/local/domain/0/backend/${kind}/${dom}/${id}/${USER_DRIVER_KEY}`);
          if (r.ok && r.value) driver ??= r.value;
        }
      }
      if (!driver) continue;
      try {
        await this.loadUserBackend(kind, driver);
      } catch (e) {
        this.opts.log?.(`dom0: device type ${kind}: ${(e as Error).message}; its devices stay unserved`);
      }
    }
  }

  /** Whether this dom0 can emulate an HVM domain's devices (its platform has the ioreq path). */
  get canEmulate(): boolean {
    return this.platform.ioreq !== undefined;
  }

  /** dom0 stopping: disk images closed, the pcap capture completed, XenStore saved. */
  close(): void {
    for (const e of this.emulated.values()) e.destroy();
    this.emulated.clear();
    this.blkback?.close();
    this.netback?.close();
    this.state?.close();
  }

  /** User backends (pvsim/driver) by type, and the module each was loaded from. */
  readonly userBackends = new Map<string, { path: string; driver: UserBackendDriver }>();

  /**
   * Serves device type `type` with the backend module at `path` (pvsim/driver; xl.cfg's
   * `vdev = [ 'type=...,driver=...' ]`). Loading the same module again for the type is a
   * no-op; another module for a type already served is refused, as is a type pvsim's own
   * backends serve. The module's code runs in dom0, contained (dom0/driver/host.ts).
   */
  async loadUserBackend(type: string, path: string, opts: Pick<UserBackendOptions, 'syncBoundMs' | 'asyncBoundMs'> = {}): Promise<UserBackendDriver> {
    const bad = deviceTypeProblem(type);
    if (bad) throw new Error(bad);
    const known = this.userBackends.get(type);
    if (known) {
      if (known.path !== path) throw new Error(`device type ${type} is already served by ${known.path}`);
      return known.driver;
    }
    if (this.backends.has(type)) throw new Error(`device type ${type} is already served`);
    const def = await loadBackendModule(path, type, opts.asyncBoundMs);
    // Loaded meanwhile by another create: the same check as above, or a create naming
    // another module would have its devices served by the first one's code.
    const again = this.userBackends.get(type);
    if (again) {
      if (again.path !== path) throw new Error(`device type ${type} is already served by ${again.path}`);
      return again.driver;
    }
    if (this.backends.has(type)) throw new Error(`device type ${type} is already served`);
    const backendKey = (dev: { backend: string }, key: string) => {
      const r = this.backendXs.read(`${dev.backend}/${key}`);
      return r.ok ? r.value : undefined;
    };
    let xb: XenbusBackend | null = null;
    const driver = new UserBackendDriver(def, this.platform, backendKey, {
      ...opts,
      log: this.opts.log,
      onFatal: (dev, message) => void xb?.failDevice(dev.backend, message),
    });
    this.userBackends.set(type, { path, driver });
    xb = this.registerBackend(driver);
    return driver;
  }

  /**
   * Serves a kind of split device: the backend follows the XenbusState handshake for every
   * device of that kind in XenStore, calling `driver` to connect and disconnect.
   */
  registerBackend(driver: BackendDriver): XenbusBackend {
    const b = new XenbusBackend(this.backendXs, driver, this.opts.log);
    this.backends.set(driver.kind, b);
    const scanAll = () => {
      for (const be of this.backends.values()) void be.scan();
    };
    if (!this.watcher) {
      // Backend directories (the toolstack adding or removing devices) and, per device, its
      // frontend's state: not the whole of /local/domain, where every write of every guest
      // made each backend list its devices again (a cost growing with the domains).
      this.watcher = new XsClient(this.xenstored, { domid: 0, label: 'xenbus-backends' });
      void this.watcher.watch('/local/domain/0/backend', 'xenbus', scanAll);
    }
    const watcher = this.watcher;
    const frontends = this.frontendWatches;
    b.onFrontend = (frontend, watched) => {
      const path = `${frontend}/state`;
      const n = frontends.get(path) ?? 0;
      if (watched) {
        frontends.set(path, n + 1);
        if (n === 0) void watcher.watch(path, 'xenbus-fe', scanAll).catch(() => {});
      } else if (n > 0) {
        if (n === 1) {
          frontends.delete(path);
          void watcher.unwatch(path, 'xenbus-fe').catch(() => {});
        } else frontends.set(path, n - 1);
      }
    };
    void b.scan();
    return b;
  }

  /** Every ring dom0's own backends serve, with its indices now (`pvsim up --web`). */
  backendRings(): BackendRing[] {
    const out: BackendRing[] = [];
    const view = (domid: number, device: string, ring: string, r: BackRing, port: number): BackendRing => ({
      domid, device, ring, size: r.size, port,
      reqProd: r.sring.reqProd, reqCons: r.reqCons, rspProd: r.sring.rspProd, rspProdPvt: r.rspProdPvt, reqEvent: r.sring.reqEvent, rspEvent: r.sring.rspEvent,
    });
    for (const [path, a] of this.blkback?.attached ?? []) out.push(view(a.ring.domid, `vbd/${path.slice(path.lastIndexOf('/') + 1)}`, '', a.ring.back, a.port));
    for (const a of this.netback?.attached.values() ?? []) {
      out.push(view(a.vif.domid, `vif/${a.devid}`, 'tx', a.vif.tx, a.vif.port));
      out.push(view(a.vif.domid, `vif/${a.devid}`, 'rx', a.vif.rx, a.vif.port));
    }
    // The console's byte rings: "out" is the guest's output (a request ring's prod/cons), "in" dom0's input.
    for (const [domid, c] of this.consoles) {
      const r = c.ringIndices();
      const none = { rspProd: 0, rspProdPvt: 0, reqEvent: 0, rspEvent: 0 };
      out.push({ domid, device: 'console', ring: 'out', size: XENCONS.OUT_SIZE, port: r.port, reqProd: r.outProd, reqCons: r.outCons, ...none });
      out.push({ domid, device: 'console', ring: 'in', size: XENCONS.IN_SIZE, port: r.port, reqProd: r.inProd, reqCons: r.inCons, ...none });
    }
    return out.sort((a, b) => a.domid - b.domid || a.device.localeCompare(b.device) || a.ring.localeCompare(b.ring));
  }

  /** Split-device counters per domain, for xentop: vbds and vifs known, I/O served. */
  deviceStats(): DeviceStats[] {
    const by = new Map<number, DeviceStats>();
    const get = (domid: number): DeviceStats => {
      let s = by.get(domid);
      if (!s) by.set(domid, (s = { domid, vbds: 0, vbdReads: 0, vbdWrites: 0, vbdFlushes: 0, vbdErrors: 0, nets: 0, netTxPackets: 0, netTxBytes: 0, netRxPackets: 0, netRxBytes: 0, netRxDropped: 0, vbdRdSect: 0, vbdWrSect: 0, netTxErrors: 0, netRxErrors: 0, vbd: [], vif: [] }));
      return s;
    };
    for (const dev of this.backends.get('vbd')?.devices.values() ?? []) get(dev.domid).vbds++;
    for (const dev of this.backends.get('vif')?.devices.values() ?? []) get(dev.domid).nets++;
    for (const a of this.blkback?.attached.values() ?? []) {
      const s = get(a.ring.domid);
      s.vbdReads += a.ring.stats.reads;
      s.vbdWrites += a.ring.stats.writes;
      s.vbdFlushes += a.ring.stats.flushes;
      s.vbdErrors += a.ring.stats.errors;
      s.vbdRdSect! += a.ring.stats.rdSect;
      s.vbdWrSect! += a.ring.stats.wrSect;
      const st = a.ring.stats;
      s.vbd!.push({ devid: a.devid, rdReqs: st.reads, wrReqs: st.writes, rdSect: st.rdSect, wrSect: st.wrSect, ooReqs: 0, flushes: st.flushes, errors: st.errors });
    }
    if (this.netback) {
      for (const s of by.values()) {
        const n = this.netback.statsFor(s.domid);
        s.netTxPackets = n.tx_packets;
        s.netTxBytes = n.tx_bytes;
        s.netRxPackets = n.rx_packets;
        s.netRxBytes = n.rx_bytes;
        s.netRxDropped = n.rx_dropped;
        s.netTxErrors = n.tx_errors;
        s.netRxErrors = n.rx_errors;
      }
      // netback's rx_dropped is the only drop it counts: frames for the guest it could not deliver.
      for (const v of this.netback.vifs()) {
        const s = by.get(v.domid);
        if (!s) continue;
        const n = v.stats;
        s.vif!.push({ devid: v.devid, rxBytes: n.rx_bytes, rxPackets: n.rx_packets, rxErrs: n.rx_errors, rxDrop: n.rx_dropped, txBytes: n.tx_bytes, txPackets: n.tx_packets, txErrs: n.tx_errors, txDrop: 0 });
      }
    }
    for (const s of by.values()) {
      s.vbd!.sort((a, b) => a.devid - b.devid);
      s.vif!.sort((a, b) => a.devid - b.devid);
    }
    return [...by.values()].sort((a, b) => a.domid - b.domid);
  }

  /**
   * Why `domid`'s devices did not come up, if one failed (its backend Closed with an error
   * node: an image that cannot be opened, or is another domain's), or null. As libxl after
   * adding a domain's devices: the create fails with this, and the domain is destroyed.
   * Call after settle().
   */
  deviceFailure(domid: number): { errno: number; message: string } | null {
    const failed = failedDevices(this.xs, domid);
    if (failed.length === 0) return null;
    const what = failed.map((f) => (f.kind === 'vbd' ? `disk ${f.vdev ?? f.devid} (vbd ${f.devid}): ${f.message}` : `${f.kind} ${f.devid}: ${f.message}`));
    return { errno: failed[0]!.errno, message: what.join('; ') };
  }

  /** Resolves when every backend has acted on what XenStore says now. */
  async settle(): Promise<void> {
    for (const b of this.backends.values()) await b.scan();
  }

  private attachStore(domid: number): void {
    const p = this.prepared.get(domid);
    if (!p) return; // introduced by a tool without a ring prepared here: nothing to serve yet
    this.prepared.delete(domid);
    this.detachStore(domid);
    const { page, port } = p;
    // The guest sees a reply once notified: what it acknowledged is saved first.
    const notify = () => {
      this.state?.flush();
      void this.platform.notify(port);
    };
    const ring = attachRing(this.xenstored, domid, page.mem, notify);
    // A guest's XenStore requests may move a device handshake on: let the backends act
    // within the same dispatch, so their answers are part of it.
    this.platform.onEvent(port, async () => {
      ring.kick();
      await this.settle();
    });
    this.rings.set(domid, { ring, port, page });
  }

  private detachStore(domid: number): void {
    const r = this.rings.get(domid);
    if (!r) return;
    this.rings.delete(domid);
    r.ring.detach();
    void this.platform.closePort(r.port);
    r.page.unmap();
  }

  /** Saves XenStore now if it changed (before dom0 answers a dispatch). */
  saveState(): void {
    this.state?.flush();
  }

  /**
   * A new domain: its XenStore entries, its store ring served, its console drained. For a
   * domain a previous dom0 served (this one restored XenStore), the entries are already
   * there: its rings are served again where the guest left them, and its watches with them.
   */
  async domainCreated(d: DomainSetupInfo): Promise<void> {
    const life = {};
    this.lives.set(d.domid, life);
    // Set-up awaits the hypervisor (mappings, bindings); the domain may be destroyed meanwhile.
    const gone = () => this.lives.get(d.domid) !== life;
    const again = this.restored && this.xenstored.isIntroduced(d.domid) && !this.rings.has(d.domid);
    if (!again) {
      const layout = writeDomainLayout(this.xs, d);
      if (!layout.ok) throw new DeviceSetupError(d.domid, d.name, xsErrno(layout.error), `writing its XenStore entries: ${layout.error}`);
      const all = (d.devices ?? []).filter((dev) => dev.kind === 'vbd' || dev.kind === 'vif');
      // An HVM domain's emulated devices go to the device model, not to XenStore's backends.
      const emulated = emulatedDevices(all);
      const devices = all.filter((dev) => deviceEmulation(dev) === null);
      if (emulated.length > 0) {
        await this.attachEmulated(d, emulated, gone);
        if (gone()) return;
      }
      for (const dev of devices) {
        const r = addDevice(this.xs, d.domid, { ...dev, kind: dev.kind as 'vbd' | 'vif' });
        if (!r.ok) throw new DeviceSetupError(d.domid, d.name, xsErrno(r.error), r.problem ?? `${dev.kind} ${dev.devid}: writing its XenStore entries: ${r.error}`);
      }
      if (devices.length > 0) {
        // The devices' backends act now (open the images), so a device that cannot come up
        // fails this domain's setup with its reason, before the domain runs.
        await this.settle();
        const failed = this.deviceFailure(d.domid);
        if (failed) throw new DeviceSetupError(d.domid, d.name, failed.errno, failed.message);
      }
    }
    else {
      // A domain a previous dom0 served: its device model is made again, as a restarted QEMU
      // would be, over the same images and bridges. What the devices held in their registers
      // is gone (see docs/fullvirt.md, "dom0 restarts").
      const emulated = emulatedDevices(d.devices?.length ? d.devices : (d.savedDevices ?? []));
      if (emulated.length > 0) {
        await this.attachEmulated(d, emulated, gone, true);
        if (gone()) return;
      }
    }
    if (d.storePort) {
      const [page, port] = await this.mapAndBind(d.domid, d.storeMfn, d.storePort, gone);
      if (gone()) return;
      this.prepared.set(d.domid, { page, port });
      if (again) {
        this.attachStore(d.domid);
        this.rings.get(d.domid)?.ring.kick(); // requests the guest made while dom0 was away
      } else this.xenstored.introduceDomain(d.domid, d.storeMfn, d.storePort);
    }
    if (d.consolePort) {
      const [page, port] = await this.mapAndBind(d.domid, d.consoleMfn, d.consolePort, gone);
      if (gone()) return;
      const c = new ConsoleBackend(this.platform, d.domid, page, port);
      if (this.opts.onConsole) c.listeners.add((b) => this.opts.onConsole!(d.domid, b));
      this.consoles.set(d.domid, c);
    }
  }

  /**
   * The device model for a domain dom0's own toolstack built (xl create): its emulated
   * devices, before it first runs. A failure is a DeviceSetupError.
   */
  attachEmulatedFor(domid: number, name: string, devs: readonly Device[]): Promise<void> {
    return this.attachEmulated({ domid, name, memoryKb: 0, vcpus: 0, storeMfn: 0, storePort: 0, consoleMfn: 0, consolePort: 0 }, emulatedDevices(devs), () => false);
  }

  /** The device model for `d`'s emulated devices (`restarted`: a previous dom0's devices lost their state). */
  private async attachEmulated(d: DomainSetupInfo, emulated: Device[], gone: () => boolean, restarted = false): Promise<void> {
    try {
      const e = await attachEmulatedDevices(this.platform, d.domid, emulated, this.netback ? (name) => this.netback!.bridge(name) : null, this.opts.log, restarted);
      if (gone()) e.destroy();
      else {
        this.emulated.set(d.domid, e);
        if (restarted) this.opts.log?.(`dom0: d${d.domid} ${d.name}: device model made again (${e.devices.virtio.length} virtio device(s) report DEVICE_NEEDS_RESET${e.devices.ata ? ', the ATA disk is as after a power-on reset' : ''})`);
      }
    } catch (err) {
      if (err instanceof EmulationError) throw new DeviceSetupError(d.domid, d.name, err.errno, err.message);
      throw err;
    }
  }

  /**
   * Maps `mfn` of `domid` and binds a dom0 port to its `remotePort`. If the domain is
   * destroyed meanwhile (`gone`) or the second step fails, what was taken is given back.
   */
  private async mapAndBind(domid: number, mfn: number, remotePort: number, gone: () => boolean): Promise<[MappedPage, number]> {
    const page = await this.platform.mapForeign(domid, mfn);
    let port: number;
    try {
      port = await this.platform.bindInterdomain(domid, remotePort);
    } catch (e) {
      page.unmap();
      throw e;
    }
    if (gone()) {
      page.unmap();
      void this.platform.closePort(port);
    }
    return [page, port];
  }

  /**
   * One device's backend torn down and found again as a restarted dom0 finds it
   * (XenbusBackend.restartDevice: the ring let go, the device Closed for its frontend to
   * reconnect): a scenario's crash-backend fault. Resolves when done; an unknown device or
   * kind does nothing.
   */
  async restartDevice(domid: number, kind: string, devid: number): Promise<void> {
    const b = this.backends.get(kind);
    if (!b || !Number.isInteger(domid) || !Number.isInteger(devid)) return;
    await b.restartDevice(backendPath(kind, domid, devid));
  }

  /**
   * A domain is gone: its devices are unplugged as libxl does (backend `online` = 0, each
   * backend disconnects and goes Closing, then Closed; then the backend directories go);
   * its store and console rings and its XenStore entries go at once. Resolves when the
   * backends are done.
   */
  domainDestroyed(domid: number): Promise<void> {
    this.lives.delete(domid); // a set-up still awaiting the hypervisor stops there
    this.emulated.get(domid)?.destroy();
    this.emulated.delete(domid);
    const p = this.prepared.get(domid);
    if (p) {
      this.prepared.delete(domid);
      p.page.unmap();
      void this.platform.closePort(p.port);
    }
    offlineDevices(this.xs, domid);
    const unplugged = this.settle().then(() => {
      removeDevices(this.xs, domid);
      return this.settle();
    });
    this.consoles.get(domid)?.close();
    this.consoles.delete(domid);
    if (this.xenstored.isIntroduced(domid)) this.xenstored.releaseDomain(domid);
    removeDomainLayout(this.xs, domid); // what is already gone is not an error
    return unplugged;
  }
}
