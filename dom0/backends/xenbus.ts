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
// A frontend that writes nonsense gets the device closed with an error node, never a crash.

import type { Xenstored } from '../xenstore/index.ts';
import { parsePerms, type Caller } from '../xenstore/index.ts';
import { XenbusState } from '../../protocol/xen/xenbus.ts';
import { frontendPath } from '../toolstack/devices.ts';

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
}

export interface BackendDriver {
  /** `vbd`, `vif`, ... */
  readonly kind: string;
  /** Feature keys published before InitWait (feature-persistent, sectors, ...). */
  features(dev: DeviceInstance): Record<string, string>;
  /** The frontend is ready: map its ring, bind its event channel. Throw to fail the device. */
  connect(dev: DeviceInstance, read: (key: string) => string | undefined): Promise<void> | void;
  disconnect(dev: DeviceInstance): Promise<void> | void;
}

export class XenbusBackend {
  readonly devices = new Map<string, DeviceInstance>();
  private readonly base: string;
  private busy: Promise<void> = Promise.resolve();

  constructor(private readonly xs: Xenstored, private readonly driver: BackendDriver) {
    this.base = `/local/domain/0/backend/${driver.kind}`;
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

  /** Re-examines every device; call whenever XenStore may have changed (a watch fired). */
  scan(): Promise<void> {
    this.busy = this.busy.then(() => this.scanOnce()).catch(() => {});
    return this.busy;
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
          }
        }
        await this.step(dev);
      }
    }
    for (const [path, dev] of this.devices) if (!seen.has(path)) {
      if (dev.state === XenbusState.Connected) await this.driver.disconnect(dev);
      this.devices.delete(path);
    }
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
    const fe = Number(this.read(`${dev.frontend}/state`) ?? XenbusState.Unknown);
    if (dev.state === XenbusState.Initialising && online) {
      for (const [k, v] of Object.entries(this.driver.features(dev))) this.write(`${dev.backend}/${k}`, v);
      this.setState(dev, XenbusState.InitWait);
    }
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
        this.write(`${dev.backend}/error`, (e as Error).message);
        this.setState(dev, XenbusState.Closing);
        this.setState(dev, XenbusState.Closed);
      }
    }
    if (dev.state === XenbusState.Closed && online && fe === XenbusState.Initialising) {
      // The frontend started over (a reconnect): offer the device again, with what this
      // backend offers (a restarted dom0's may differ from its predecessor's).
      for (const [k, v] of Object.entries(this.driver.features(dev))) this.write(`${dev.backend}/${k}`, v);
      this.setState(dev, XenbusState.InitWait);
    }
  }
}

/** Sets the XenStore permissions that let dom0 watch a guest's frontend directory. */
export function frontendReadable(xs: Xenstored, path: string, domid: number): void {
  xs.fire(xs.store.setPerms(DOM0, path, parsePerms([`n${domid}`, 'r0'])!));
}
