// Dom0Platform inside the hypervisor's process: a thin adapter over the control domain's
// service (hypervisor/control/service.ts) with shared pages, so foreign pages are the frames
// themselves. dom0's event handlers run as dom0 dispatches a dispatch latency after the
// notification, so dom0's work happens in virtual time, exactly as with dom0 in its own
// process (where hypervisor/server/dom0_bridge.ts carries the same service over the wire).

import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import { ControlService } from '../hypervisor/control/service.ts';
import { ByteMemory } from '../protocol/guest_memory.ts';
import type { CopyOutTicket, Dom0Platform, GrantCopyOp, GrantCopyResult, GrantCopyToOp, MappedPage } from '../dom0/platform.ts';
import type { GuestMemory } from '../protocol/guest_memory.ts';
import { GNTST } from '../protocol/xen/grant_table.ts';
import { LocalIoreqHost } from './local_ioreq.ts';

export class LocalPlatform implements Dom0Platform {
  /** Domain 0's ports, mappings and dispatches (its `dispatcher.stats` count notifications). */
  readonly service: ControlService;
  private readonly handlers = new Map<number, () => void | Promise<void>>();
  /** The device model's ioreq path (in-process only until the ioreq wire lands). */
  readonly ioreq: LocalIoreqHost;

  constructor(private readonly hv: Hypervisor) {
    this.service = new ControlService(hv, {
      pages: 'shared',
      // After the lookahead window (hypervisor/run/lookahead.ts), which runs in the same
      // call that issued the dispatch: dom0 here reads and stores then, as a dom0 in its
      // own process does, whose requests can only be served once that call has returned.
      serve: async (port) => {
        await null;
        return this.handlers.get(port)?.();
      },
    });
    this.ioreq = new LocalIoreqHost(hv, (domid, mfn) => this.mapForeign(domid, mfn));
  }

  async mapForeign(domid: number, mfn: number): Promise<MappedPage> {
    const bytes = this.service.mapForeign(domid, mfn);
    let mapped = true;
    return {
      mem: new ByteMemory(bytes), // dom0's stores are the guest's: the page is the frame
      unmap: () => {
        if (mapped) this.service.unmapForeign(mfn);
        mapped = false;
      },
    };
  }

  async bindInterdomain(domid: number, remotePort: number): Promise<number> {
    return this.service.bindInterdomain(domid, remotePort);
  }

  onEvent(port: number, handler: () => void | Promise<void>): void {
    this.handlers.set(port, handler);
  }

  notify(port: number): void {
    this.service.send(port);
  }

  closePort(port: number): void {
    this.handlers.delete(port);
    this.service.close(port);
  }

  async mapGrant(domid: number, ref: number, readonly: boolean): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    const r = this.service.mapGrant(domid, ref, readonly);
    if (!r.page) return { status: r.status, handle: 0, page: null };
    // dom0 ends the mapping with unmapGrant(handle); the page's unmap does nothing here.
    return { status: r.status, handle: r.handle, page: { mem: new ByteMemory(r.page), unmap: () => {} } };
  }

  async unmapGrant(handle: number): Promise<number> {
    return this.service.unmapGrant(handle);
  }

  async copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): Promise<number> {
    return this.service.copyToGrant(domid, ref, offset, data);
  }

  async copyFromGrant(domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    return this.service.copyFromGrant(domid, ref, offset, len);
  }

  async copyGrants(ops: readonly GrantCopyOp[]): Promise<GrantCopyResult[]> {
    return ops.map((o) => (o.to ? { status: this.service.copyToGrant(o.domid, o.ref, o.offset, o.data), data: new Uint8Array(0) } : this.service.copyFromGrant(o.domid, o.ref, o.offset, o.len)));
  }

  /** Made at once, in order with dom0's stores (which reach the frames at once here too). */
  copyToGrantsLater(ops: readonly GrantCopyToOp[]): CopyOutTicket {
    let failed = false;
    for (const o of ops) if (this.service.copyToGrant(o.domid, o.ref, o.offset, o.data) !== GNTST.okay) failed = true;
    return {
      failed,
      onFail: (mem: GuestMemory, offset: number, data: Uint8Array) => {
        if (failed) mem.write(offset, data);
      },
      onSettled: (cb) => cb(failed),
    };
  }

  /** The machine stands still while dom0 serves a dispatch: its clock is the dispatch's time. */
  now(): number {
    return Math.floor(this.hv.now());
  }
}
