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

import type { Caller, Xenstored } from '../xenstore/index.ts';
import { XenbusState } from '../../protocol/xen/xenbus.ts';
import { backendErrorPath, frontendPath } from '../toolstack/devices.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';
import { RateLimitedLog } from './ratelimit.ts';

const DOM0: Caller = { domid: 0, privileged: true };
const enc = new TextEncoder();
const dec = new TextDecoder();

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

  /** dom0's log, rate-limited: a frontend failing its device over and over costs no flood. */
  private readonly log: (line: string) => void;

  constructor(
    private readonly xs: Xenstored,
    private readonly driver: BackendDriver,
    log?: (line: string) => void,
  ) {
    this.base = `/local/domain/0/backend/${driver.kind}`;
    const limited = log ? new RateLimitedLog(log) : null;
    this.log = (line) => limited?.log(line);
  }

  private read(path: string): string | undefined {
    try {
      return dec.decode(this.xs.store.read(DOM0, path));
    } catch {
      return undefined;
    }
  }

  private write(path: string, value: string): void {
    this.xs.fire(this.xs.store.write(DOM0, path, enc.encode(value)));
  }

  private setState(dev: DeviceInstance, state: XenbusState): void {
    dev.state = state;
    this.write(`${dev.backend}/state`, String(state));
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
        if (dev.state === XenbusState.Connected) await this.driver.disconnect(dev);
      })
      .catch(() => {});
    this.queued = null; // a pass queued before this one would not see the device forgotten
    await this.scan();
  }

  private async scanOnce(): Promise<void> {
    const seen = new Set<string>();
    for (const dom of this.list(this.base)) {
      for (const id of this.list(`${this.base}/${dom}`)) {
        const backend = `${this.base}/${dom}/${id}`;
        seen.add(backend);
        let dev = this.devices.get(backend);
        if (!dev) {
          const domid = Number(dom);
          const devid = Number(id);
          dev = { kind: this.driver.kind, domid, devid, backend, frontend: this.read(`${backend}/frontend`) ?? frontendPath(this.driver.kind, domid, devid), state: XenbusState.Initialising };
          this.devices.set(backend, dev);
          if (Number(this.read(`${backend}/state`)) === XenbusState.Connected) {
            // XenStore says Connected, but no ring is attached here: a previous dom0 served it
            // and died. Its ring is not ours to trust (responses may be half written), so the
            // device is Closed and the frontend sets up a new ring and re-issues what was in
            // flight (it goes back to Initialising; below we then offer InitWait again).
            this.setState(dev, XenbusState.Closed);
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
    for (const [path, dev] of this.devices) if (!seen.has(path)) {
      this.devices.delete(path);
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
    const errno = (typeof code === 'string' && (XEN_ERRNO as Record<string, number>)[code]) || XEN_ERRNO.EIO;
    const text = `${errno} ${message}`;
    this.write(`${backendErrorPath(dev.kind, dev.domid, dev.devid)}/error`, text);
    this.write(`${dev.backend}/error`, text);
    dev.failedFe = fe;
    this.setState(dev, XenbusState.Closing);
    this.setState(dev, XenbusState.Closed);
    this.log(`xenbus: ${dev.backend}: ${message}`);
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
    for (const [k, v] of Object.entries(features)) this.write(`${dev.backend}/${k}`, v);
    this.setState(dev, XenbusState.InitWait);
    return true;
  }

  private list(path: string): string[] {
    try {
      return [...this.xs.store.directory(DOM0, path)];
    } catch {
      return [];
    }
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
      this.setState(dev, XenbusState.Closing);
      this.setState(dev, XenbusState.Closed);
      return;
    }
    if (dev.state === XenbusState.InitWait && (fe === XenbusState.Initialised || fe === XenbusState.Connected)) {
      try {
        await this.driver.connect(dev, (key) => this.read(`${dev.frontend}/${key}`));
        this.setState(dev, XenbusState.Connected);
      } catch (e) {
        this.fatal(dev, e, fe);
      }
    }
    if (dev.state === XenbusState.Closed && online && fe === XenbusState.Initialising && dev.failedFe === undefined) {
      // The frontend started over (a reconnect): offer the device again, with what this
      // backend offers (a restarted dom0's may differ from its predecessor's).
      this.offer(dev, fe);
    }
  }
}
