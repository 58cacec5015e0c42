// Dom0Platform inside the hypervisor's process: foreign pages are the frames themselves,
// dom0's ports belong to the control domain (domain 0), and its event handlers run as
// dom0 dispatches (Hypervisor.dispatch) a dispatch latency after the notification, so
// dom0's work happens in virtual time, exactly as with dom0 in its own process.

import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import { evtchnBindInterdomain, evtchnClose, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { clearPending } from '../hypervisor/evtchn/two_level.ts';
import { Dom0PortDispatcher } from '../hypervisor/evtchn/dom0_dispatch.ts';
import type { Dom0Platform, MappedPage } from '../dom0/platform.ts';
import { gnttabMapForDomain, gnttabUnmapForDomain } from '../hypervisor/gnttab/index.ts';
import { copyFromGrant, copyToGrant } from '../hypervisor/gnttab/dom0_copy.ts';
import { GNTST } from '../protocol/xen/grant_table.ts';

export class PlatformError extends Error {
  override readonly name = 'PlatformError';
}

export class LocalPlatform implements Dom0Platform {
  readonly control: Domain;
  private readonly handlers = new Map<number, () => void | Promise<void>>();
  /** Coalesces notifications and holds back floods (hypervisor/evtchn/dom0_dispatch.ts). */
  readonly dispatcher: Dom0PortDispatcher;

  constructor(private readonly hv: Hypervisor) {
    this.control = hv.domain(0) ?? hv.createControlDomain();
    this.dispatcher = new Dom0PortDispatcher(hv, (port) => this.handlers.get(port)?.());
    this.control.onEvent = (port) => {
      clearPending(this.control, port);
      this.dispatcher.notify(port);
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

  async mapGrant(domid: number, ref: number, readonly: boolean): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    const r = gnttabMapForDomain(this.hv, this.control, domid, ref, readonly);
    if (r.status !== GNTST.okay) return { status: r.status, handle: 0, page: null };
    const bytes = this.hv.mem.ensureFrame(r.mfn);
    // A read-only grant is read-only for dom0 too: its stores go to a private copy.
    const page = readonly ? bytes.slice() : bytes;
    return { status: r.status, handle: r.handle, page: { bytes: page, dirty: () => {}, unmap: () => {} } };
  }

  async unmapGrant(handle: number): Promise<number> {
    return gnttabUnmapForDomain(this.hv, this.control, handle);
  }

  async copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): Promise<number> {
    return copyToGrant(this.hv, this.control, domid, ref, offset, data);
  }

  async copyFromGrant(domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    return copyFromGrant(this.hv, this.control, domid, ref, offset, len);
  }

  /** The machine stands still while dom0 serves a dispatch: its clock is the dispatch's time. */
  now(): number {
    return Math.floor(this.hv.now());
  }
}
