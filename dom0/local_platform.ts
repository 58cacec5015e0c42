// Dom0Platform inside the hypervisor's process: foreign pages are the frames themselves,
// dom0's ports belong to the control domain (domain 0), and its event handlers run as
// dom0 dispatches (Hypervisor.dispatch) a dispatch latency after the notification, so
// dom0's work happens in virtual time, exactly as with dom0 in its own process.

import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import { evtchnBindInterdomain, evtchnClose, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { clearPending } from '../hypervisor/evtchn/two_level.ts';
import type { Dom0Platform, MappedPage } from './platform.ts';

export class PlatformError extends Error {
  override readonly name = 'PlatformError';
}

export class LocalPlatform implements Dom0Platform {
  readonly control: Domain;
  private readonly handlers = new Map<number, () => void | Promise<void>>();
  private readonly scheduled = new Set<number>();

  constructor(private readonly hv: Hypervisor) {
    this.control = hv.domain(0) ?? hv.createControlDomain();
    this.control.onEvent = (port) => {
      clearPending(this.control, port);
      if (this.scheduled.has(port)) return; // coalesce, as a pending bit would
      this.scheduled.add(port);
      hv.dispatch(() => {
        this.scheduled.delete(port);
        return this.handlers.get(port)?.();
      });
    };
  }

  async mapForeign(domid: number, mfn: number): Promise<MappedPage> {
    const d = this.hv.domain(domid);
    if (!d) throw new PlatformError(`no domain ${domid}`);
    if (this.hv.frames.ownerOf(mfn) !== domid) throw new PlatformError(`mfn 0x${mfn.toString(16)} does not belong to d${domid}`);
    const bytes = this.hv.mem.ensureFrame(mfn);
    return { bytes, dirty: () => {}, unmap: () => {} };
  }

  async bindInterdomain(domid: number, remotePort: number): Promise<number> {
    const port = evtchnBindInterdomain(this.hv, this.control, domid, remotePort);
    if (port < 0) throw new PlatformError(`bind_interdomain(d${domid}, ${remotePort}) failed: ${port}`);
    // Binding sets the new local port pending; nothing has happened yet.
    clearPending(this.control, port);
    return port;
  }

  onEvent(port: number, handler: () => void | Promise<void>): void {
    this.handlers.set(port, handler);
  }

  notify(port: number): void {
    evtchnSend(this.hv, this.control, port);
  }

  closePort(port: number): void {
    this.handlers.delete(port);
    evtchnClose(this.hv, this.control, port);
  }
}
