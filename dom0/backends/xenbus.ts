// The backend half of the XenbusState handshake, common to every split device (blkback
// and netback plug their data paths into it). It watches its backend directory in
// XenStore and follows Xen's protocol (see protocol/xen/xenbus.ts):
//
//   new device (Initialising) -> publish features, InitWait
//   frontend Initialised or Connected -> connect() (read ring-ref, event-channel) -> Connected
//   frontend Closing, or online = 0 -> disconnect() -> Closing -> Closed
//   Closed, frontend back to Initialising (a reconnect) -> InitWait again
//   found Connected by a backend that has no ring for it (dom0 restarted) -> Closed, so
//   the frontend reconnects
//
// A device that fails (its image cannot be opened, a frontend writes nonsense) is failed
// as Linux's xenbus_dev_fatal does: "<errno> <message>" in the error node
// /local/domain/0/error/backend/<kind>/<domid>/<devid>/error (and, for the guest to read,
// in the backend directory's `error`), then Closing and Closed. It is not offered again
// until its frontend changes state. Each device is handled on its own: a throw while
// handling one is logged and the scan goes on to the others.
//
// XenStore is reached through an XsHandle (dom0's connection to xenstored, served by the
// daemon's request path as any client's), and its failures are results: a switch of state
// and the keys that go with it (features and InitWait; the error nodes and Closed) are one
// transaction, and one that fails fails the device or is logged, never thrown.

import type { XsHandle, XsOps, XsResult } from '../xenstore/index.ts';
import type { XsErrorName } from '../../protocol/xen/xs_wire.ts';
import { XenbusState } from '../../protocol/xen/xenbus.ts';
import { backendErrorPath, frontendPath } from '../toolstack/devices.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';
import { RateLimitedLog } from './ratelimit.ts';


export interface DeviceInstance {
  kind: string;
  domid: number;
  devid: number;
  backend: string;
  frontend: string;
  state: XenbusState;
  /** The frontend's state when this device failed: it is not offered again until that changes. */
  failedFe?: XenbusState;
}

export interface BackendDriver {
  /** `vbd`, `vif`, ... */
  readonly kind: string;
  /** Feature keys published before InitWait (feature-persistent, sectors, ...). */
  features(dev: DeviceInstance): Record<string, string>;
  /** The frontend is ready: map its ring, bind its event channel. Throw to fail the device. */
  connect(dev: DeviceInstance, read: (key: string) => string | undefined): Promise<void> | void;
  disconnect(dev: DeviceInstance): Promise<void> | void;
  /** The device's backend directory is gone (its domain destroyed): let go of what it held. */
  remove?(dev: DeviceInstance): void;
  /**
   * A device a previous dom0 had connected, found by this one: take back what the device
   * holds on the host (blkback: its image, so the sharing rule still sees it in use), before
   * its frontend reconnects. Throw if that cannot be done; the device is failed at reconnect.
   */
  claim?(dev: DeviceInstance): void;
}

export class XenbusBackend {
  readonly devices = new Map<string, DeviceInstance>();
  private readonly base: string;
  private busy: Promise<void> = Promise.resolve();
  /** A pass queued behind `busy` that has not started yet (see scan). */
  private queued: Promise<void> | null = null;

  /**
   * Told when a device appears (true) or goes (false), with its frontend's directory: the
   * daemon watches that frontend's `state` (as Linux's backends watch the other end), so
   * a write elsewhere under /local/domain costs the backends nothing.
   */
  onFrontend: ((frontend: string, watched: boolean) => void) | null = null;

  /** dom0's log, rate-limited: a frontend failing its device over and over costs no flood. */
  private readonly log: (line: string) => void;

  constructor(
    private readonly xs: XsHandle,
    private readonly driver: BackendDriver,
    log?: (line: string) => void,
  ) {
    this.base = `/local/domain/0/backend/${driver.kind}`;
    const limited = log ? new RateLimitedLog(log) : null;
    this.log = (line) => limited?.log(line);
  }

  private read(path: string): string | undefined {
    const r = this.xs.read(path);
    return r.ok ? r.value : undefined;
  }

  /**
   * Moves the device through `states` (written in order, so a watcher sees each), after
   * `keys` of its backend directory, in one transaction. The device's state here is the
   * last one whatever XenStore said: the caller handles a failure.
   */
  private switchState(dev: DeviceInstance, states: readonly XenbusState[], before?: (tx: XsOps) => void): XsResult<void> {
    dev.state = states[states.length - 1]!;
    return this.xs.transaction((tx) => {
      before?.(tx);
      for (const st of states) tx.write(`${dev.backend}/state`, String(st));
    });
  }

  /**
   * Re-examines every device; call whenever XenStore may have changed (a watch fired).
   * Calls while a pass is queued and not yet started share it: it reads XenStore when it
   * starts, so it sees their changes too. (One pass per watch event made each XenStore
   * write of a guest cost dom0 a pass over every device of every domain.)
   */
  scan(): Promise<void> {
    if (this.queued) return this.queued;
    const pass = this.busy
      .then(() => {
        this.queued = null;
        return this.scanOnce();
      })
      .catch((e: unknown) => this.log(`xenbus: ${this.base}: scan: ${(e as Error).message}`));
    this.queued = pass;
    this.busy = pass;
    return pass;
  }

  /**
   * What a restarted dom0 does to one device, without restarting anything (for tests and
   * tools): the device's ring is let go as a dying dom0's is (the driver disconnects it if
   * it was connected here) and the instance is forgotten; then the device is examined
   * afresh, as a new dom0 finds it. XenStore still says Connected, so the restart rule
   * below says Closed, and the frontend is expected to reconnect. Resolves once done.
   */
  async restartDevice(backend: string): Promise<void> {
    this.busy = this.busy
      .then(async () => {
        const dev = this.devices.get(backend);
        if (!dev) return;
        this.devices.delete(backend);
        this.onFrontend?.(dev.frontend, false);
        if (dev.state === XenbusState.Connected) await this.driver.disconnect(dev);
      })
      .catch(() => {});
    this.queued = null; // a pass queued before this one would not see the device forgotten
    await this.scan();
  }

  /**
   * The driver gave up on a device outside a handshake step (a user backend's event
   * handler failed): disconnected if connected, then failed as fatal() does, in turn with
   * the passes. Resolves once done.
   */
  failDevice(backend: string, message: string): Promise<void> {
    const done = this.busy
      .then(async () => {
        const dev = this.devices.get(backend);
        if (!dev || dev.state === XenbusState.Closed) return;
        if (dev.state === XenbusState.Connected) await this.driver.disconnect(dev);
        const raw = Number(this.read(`${dev.frontend}/state`) ?? XenbusState.Unknown);
        const fe: XenbusState = Number.isInteger(raw) && raw >= XenbusState.Unknown && raw <= XenbusState.Reconfigured ? (raw as XenbusState) : XenbusState.Unknown;
        this.fail(dev, undefined, message, fe);
      })
      .catch((e: unknown) => this.log(`xenbus: ${backend}: failing it: ${(e as Error).message}`));
    this.busy = done;
    this.queued = null;
    return done;
  }

  private async scanOnce(): Promise<void> {
    const seen = new Set<string>();
    // A listing that failed for another reason than absence (the connection closed as dom0
    // stops) says nothing of which devices are gone: none is torn down on its word.
    let unsure = false;
    const list = (path: string): string[] => {
      const r = this.xs.directory(path);
      if (r.ok) return r.value;
      if (r.error !== 'ENOENT') unsure = true;
      return [];
    };
    for (const dom of list(this.base)) {
      for (const id of list(`${this.base}/${dom}`)) {
        const backend = `${this.base}/${dom}/${id}`;
        seen.add(backend);
        let dev = this.devices.get(backend);
        if (!dev) {
          const domid = Number(dom);
          const devid = Number(id);
          dev = { kind: this.driver.kind, domid, devid, backend, frontend: this.read(`${backend}/frontend`) ?? frontendPath(this.driver.kind, domid, devid), state: XenbusState.Initialising };
          this.devices.set(backend, dev);
          this.onFrontend?.(dev.frontend, true);
          if (Number(this.read(`${backend}/state`)) === XenbusState.Connected) {
            // XenStore says Connected, but no ring is attached here: a previous dom0 served it
            // and died. Its ring is not ours to trust (responses may be half written), so the
            // device is Closed and the frontend sets up a new ring and re-issues what was in
            // flight (it goes back to Initialising; below we then offer InitWait again).
            const r = this.switchState(dev, [XenbusState.Closed]);
            if (!r.ok) this.log(`xenbus: ${backend}: writing Closed after a dom0 restart: ${r.error}`);
            // Until its frontend reconnects, the device still has its host resources: claimed
            // now, or a create in that window could take its image (one writable user only).
            try {
              this.driver.claim?.(dev);
            } catch (e) {
              this.log(`xenbus: ${backend}: claim after a dom0 restart: ${(e as Error).message}`);
            }
          }
        }
        try {
          await this.step(dev);
        } catch (e) {
          // Never ends the pass: the other devices are still handled.
          this.log(`xenbus: ${backend}: ${(e as Error).message}`);
        }
      }
    }
    if (unsure) {
      this.log(`xenbus: ${this.base}: cannot list the devices; none is removed this pass`);
      return;
    }
    for (const [path, dev] of this.devices) if (!seen.has(path)) {
      this.devices.delete(path);
      this.onFrontend?.(dev.frontend, false);
      try {
        if (dev.state === XenbusState.Connected) await this.driver.disconnect(dev);
      } catch (e) {
        this.log(`xenbus: ${path}: disconnect: ${(e as Error).message}`);
      }
      try {
        this.driver.remove?.(dev);
      } catch (e) {
        this.log(`xenbus: ${path}: remove: ${(e as Error).message}`);
      }
    }
  }

  /**
   * xenbus_dev_fatal: the error node gets "<errno> <message>", and the device goes Closing,
   * then Closed (nothing of it is connected). The toolstack reads the node to say why.
   */
  private fatal(dev: DeviceInstance, e: unknown, fe: XenbusState): void {
    const message = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: unknown }).code;
    this.fail(dev, typeof code === 'string' ? code : undefined, message, fe);
  }

  /** fatal() for a failure given as Xen's error name (`code`) and a message. */
  private fail(dev: DeviceInstance, code: string | undefined, message: string, fe: XenbusState): void {
    const errno = (code !== undefined && (XEN_ERRNO as Record<string, number>)[code]) || XEN_ERRNO.EIO;
    const text = `${errno} ${message}`;
    dev.failedFe = fe;
    const r = this.switchState(dev, [XenbusState.Closing, XenbusState.Closed], (tx) => {
      tx.write(`${backendErrorPath(dev.kind, dev.domid, dev.devid)}/error`, text);
      tx.write(`${dev.backend}/error`, text);
    });
    this.log(`xenbus: ${dev.backend}: ${message}`);
    if (!r.ok) this.log(`xenbus: ${dev.backend}: reporting the failure: ${r.error}`);
  }

  /** A XenStore operation of the handshake failed: the device fails with its error. */
  private xsFailed(dev: DeviceInstance, what: string, error: XsErrorName, fe: XenbusState): void {
    this.fail(dev, error, `${what}: ${error}`, fe);
  }

  /** Publishes the driver's features and goes InitWait; false if the device failed. */
  private offer(dev: DeviceInstance, fe: XenbusState): boolean {
    let features: Record<string, string>;
    try {
      features = this.driver.features(dev);
    } catch (e) {
      this.fatal(dev, e, fe);
      return false;
    }
    const r = this.switchState(dev, [XenbusState.InitWait], (tx) => {
      for (const [k, v] of Object.entries(features)) tx.write(`${dev.backend}/${k}`, v);
    });
    if (!r.ok) {
      this.xsFailed(dev, 'publishing features', r.error, fe);
      return false;
    }
    return true;
  }

  private async step(dev: DeviceInstance): Promise<void> {
    const online = this.read(`${dev.backend}/online`) !== '0';
    const raw = Number(this.read(`${dev.frontend}/state`) ?? XenbusState.Unknown);
    // The guest writes this node: anything but a XenbusState reads as Unknown.
    const fe: XenbusState = Number.isInteger(raw) && raw >= XenbusState.Unknown && raw <= XenbusState.Reconfigured ? (raw as XenbusState) : XenbusState.Unknown;
    if (dev.failedFe !== undefined && fe !== dev.failedFe) dev.failedFe = undefined;
    if (dev.state === XenbusState.Initialising && online && !this.offer(dev, fe)) return;
    const closing = !online || fe === XenbusState.Closing || fe === XenbusState.Closed;
    if (closing && dev.state !== XenbusState.Closed) {
      if (dev.state === XenbusState.Connected) await this.driver.disconnect(dev);
      const r = this.switchState(dev, [XenbusState.Closing, XenbusState.Closed]);
      if (!r.ok) this.log(`xenbus: ${dev.backend}: writing Closed: ${r.error}`);
      return;
    }
    if (dev.state === XenbusState.InitWait && (fe === XenbusState.Initialised || fe === XenbusState.Connected)) {
      try {
        await this.driver.connect(dev, (key) => this.read(`${dev.frontend}/${key}`));
      } catch (e) {
        this.fatal(dev, e, fe);
        return;
      }
      const r = this.switchState(dev, [XenbusState.Connected]);
      if (!r.ok) {
        // The frontend would never learn it is connected: let the ring go and fail the device.
        await this.driver.disconnect(dev);
        this.xsFailed(dev, 'writing Connected', r.error, fe);
      }
    }
    if (dev.state === XenbusState.Closed && online && fe === XenbusState.Initialising && dev.failedFe === undefined) {
      // The frontend started over (a reconnect): offer the device again, with what this
      // backend offers (a restarted dom0's may differ from its predecessor's).
      this.offer(dev, fe);
    }
  }
}
