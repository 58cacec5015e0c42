// The control domain's service: what Xen's privcmd device (and the hypercalls behind it)
// offers dom0's daemons, written once. Foreign mappings, event channels as domain 0 (bind,
// send, close, and notifications handed to dom0 as coalesced dispatches), grant map, unmap
// and copy, and the page updates that keep mapped pages in step when dom0 lives in another
// process. Two thin adapters carry it: dom0/local_platform.ts calls it in the hypervisor's
// process; hypervisor/server/dom0_bridge.ts decodes dom0's protocol requests into calls.
//
// How dom0 sees a page it maps depends on where dom0 runs, and is the one thing the
// adapters choose:
//   shared    the frame's own bytes (dom0 in this process: its stores are the guest's);
//   mirrored  a copy (dom0 in its own process). Guest stores to the frame are recorded and
//             handed out as page updates with the next dispatch; dom0's stores come back as
//             page updates ahead of its next request and are applied to the frame.

import type { Hypervisor } from '../hypervisor.ts';
import type { Domain } from '../domain/domain.ts';
import type { PageUpdate } from '../../protocol/wire.ts';
import { evtchnBindInterdomain, evtchnClose, evtchnSend } from '../evtchn/ops.ts';
import { clearPending } from '../evtchn/two_level.ts';
import { Dom0PortDispatcher } from '../evtchn/dom0_dispatch.ts';
import { ECS } from '../evtchn/state.ts';
import { gnttabMapForDomain, gnttabUnmapForDomain } from '../gnttab/index.ts';
import { copyFromGrant, copyToGrant } from '../gnttab/dom0_copy.ts';
import { PAGE_SIZE } from '../cpu/memory.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';

export type ControlPages = 'shared' | 'mirrored';

/** A refused control operation; `rc` is what the wire carries back (a negative errno). */
export class ControlServiceError extends Error {
  override readonly name = 'ControlServiceError';
  constructor(
    readonly rc: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ControlServiceOptions {
  pages: ControlPages;
  /** Serves a notification of dom0's `port`; runs as a dom0 dispatch. */
  serve: (port: number) => void | Promise<void>;
}

/** A frame dom0 has mapped, by any number of foreign and grant mappings. */
interface MappedFrame {
  refs: number;
  /** Bytes guests stored to since the last dispatch (mirrored pages only): [lo, hi). */
  lo: number;
  hi: number;
}

export class ControlService {
  /** Domain 0: dom0's ports and grant mappings are its. */
  readonly control: Domain;
  /** Coalesces notifications and holds back floods (hypervisor/evtchn/dom0_dispatch.ts). */
  readonly dispatcher: Dom0PortDispatcher;
  readonly pages: ControlPages;
  private readonly mapped = new Map<number, MappedFrame>();
  /** Grant handles dom0 holds, and the frame each one maps. */
  private readonly grants = new Map<number, { mfn: number; readonly: boolean }>();

  constructor(
    private readonly hv: Hypervisor,
    opts: ControlServiceOptions,
  ) {
    this.pages = opts.pages;
    this.control = hv.domain(0) ?? hv.createControlDomain();
    this.dispatcher = new Dom0PortDispatcher(hv, opts.serve);
    this.control.onEvent = (port) => {
      // dom0 sees one event per dispatch however many sends came before (a pending bit).
      clearPending(this.control, port);
      this.dispatcher.notify(port);
    };
  }

  // --- event channels as domain 0 -------------------------------------------------------

  /** EVTCHNOP_bind_interdomain from domain 0; returns the new dom0 port. */
  bindInterdomain(domid: number, remotePort: number): number {
    const port = evtchnBindInterdomain(this.hv, this.control, domid, remotePort);
    if (port < 0) throw new ControlServiceError(port, `bind_interdomain(d${domid}, ${remotePort}) failed: ${port}`);
    // Binding sets the new local port pending; nothing has happened yet.
    clearPending(this.control, port);
    return port;
  }

  /** EVTCHNOP_send on a dom0 port; returns 0 or a negative errno. */
  send(port: number): number {
    return evtchnSend(this.hv, this.control, port);
  }

  /** EVTCHNOP_close on a dom0 port; returns 0 or a negative errno. */
  close(port: number): number {
    return evtchnClose(this.hv, this.control, port);
  }

  // --- foreign mappings -----------------------------------------------------------------

  /**
   * Maps frame `mfn` of domain `domid` into dom0 (a privileged foreign mapping): the frame
   * itself (shared) or a copy of it (mirrored).
   */
  mapForeign(domid: number, mfn: number): Uint8Array {
    if (!this.hv.domain(domid)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `no domain ${domid}`);
    if (this.hv.frames.ownerOf(mfn) !== domid) throw new ControlServiceError(-XEN_ERRNO.EPERM, `mfn 0x${mfn.toString(16)} does not belong to d${domid}`);
    return this.map(mfn);
  }

  /** Ends one foreign mapping of `mfn` (one that was never made is ignored). */
  unmapForeign(mfn: number): void {
    this.unmap(mfn);
  }

  // --- grant tables ---------------------------------------------------------------------

  /**
   * GNTTABOP_map_grant_ref of `ref` of `domid` as a device mapping for domain 0. With
   * GNTST_okay, `page` is what dom0 sees; a read-only grant shared in-process is a private
   * copy, so dom0's stores cannot reach the guest.
   */
  mapGrant(domid: number, ref: number, readonly: boolean): { status: number; handle: number; mfn: number; page: Uint8Array | null } {
    const r = gnttabMapForDomain(this.hv, this.control, domid, ref, readonly);
    if (r.status !== GNTST.okay) return { status: r.status, handle: 0, mfn: 0, page: null };
    this.grants.set(r.handle, { mfn: r.mfn, readonly });
    const page = this.map(r.mfn);
    return { status: r.status, handle: r.handle, mfn: r.mfn, page: readonly && this.pages === 'shared' ? page.slice() : page };
  }

  /** GNTTABOP_unmap_grant_ref of a handle domain 0 holds; returns the GNTST status. */
  unmapGrant(handle: number): number {
    const g = this.grants.get(handle);
    const status = gnttabUnmapForDomain(this.hv, this.control, handle);
    if (status === GNTST.okay && g !== undefined) {
      this.grants.delete(handle);
      this.unmap(g.mfn);
    }
    return status;
  }

  /** GNTTABOP_copy from dom0's bytes into a granted page; returns the GNTST status. */
  copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): number {
    return copyToGrant(this.hv, this.control, domid, ref, offset, data);
  }

  /** GNTTABOP_copy out of a granted page into dom0. */
  copyFromGrant(domid: number, ref: number, offset: number, len: number): { status: number; data: Uint8Array } {
    return copyFromGrant(this.hv, this.control, domid, ref, offset, len);
  }

  // --- page updates (mirrored pages) ----------------------------------------------------

  /** The guests' stores to mapped pages since the last call: they go with the next dispatch. */
  takePageUpdates(): PageUpdate[] {
    const out: PageUpdate[] = [];
    if (this.pages !== 'mirrored') return out;
    for (const [mfn, m] of this.mapped) {
      if (m.hi <= m.lo) continue;
      const frame = this.hv.mem.frames[mfn];
      if (frame) out.push({ mfn, offset: m.lo, data: frame.slice(m.lo, m.hi) });
      m.lo = PAGE_SIZE;
      m.hi = 0;
    }
    return out;
  }

  /**
   * Applies dom0's stores to its mirrored pages. Refuses the whole batch at the first one to
   * a page dom0 has not mapped, reaches only read-only, or that runs past its page.
   */
  applyPageUpdates(writes: readonly PageUpdate[]): void {
    for (const w of writes) {
      if (!this.mapped.has(w.mfn)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `write to mfn 0x${w.mfn.toString(16)}, which dom0 has not mapped`);
      if (this.onlyReadonly(w.mfn)) throw new ControlServiceError(-XEN_ERRNO.EPERM, `write to mfn 0x${w.mfn.toString(16)}, which dom0 mapped read-only`);
      if (w.offset + w.data.length > PAGE_SIZE) throw new ControlServiceError(-XEN_ERRNO.EINVAL, 'write past the end of the page');
      const frame = this.hv.mem.frames[w.mfn];
      if (!frame) continue;
      frame.set(w.data, w.offset);
    }
  }

  // --- dom0's end -----------------------------------------------------------------------

  /**
   * dom0 went away: what it held is let go, as Xen does for a dying domain. Its event
   * channels close (each guest end becomes unbound, for a new dom0 to bind), its grant
   * mappings are unmapped (guests can end access to those pages), mapped pages stop being
   * tracked and pending dispatches are forgotten.
   */
  release(): void {
    const e = this.control.evtchn;
    if (e) for (let port = 1; e.portIsValid(port); port++) if (e.state[port] !== ECS.FREE) evtchnClose(this.hv, this.control, port);
    for (const handle of [...this.grants.keys()]) gnttabUnmapForDomain(this.hv, this.control, handle);
    this.grants.clear();
    if (this.pages === 'mirrored') for (const mfn of this.mapped.keys()) this.hv.unwatchFrame(mfn);
    this.mapped.clear();
    this.dispatcher.reset();
  }

  /** Counts another mapping of `mfn`; returns what dom0 sees of it. */
  private map(mfn: number): Uint8Array {
    const frame = this.hv.mem.ensureFrame(mfn);
    const m = this.mapped.get(mfn);
    if (m) m.refs++;
    else {
      this.mapped.set(mfn, { refs: 1, lo: PAGE_SIZE, hi: 0 });
      if (this.pages === 'mirrored') {
        this.hv.watchFrame(mfn, (pa, size) => {
          const e = this.mapped.get(mfn);
          if (e) {
            const off = pa % PAGE_SIZE;
            e.lo = Math.min(e.lo, off);
            e.hi = Math.max(e.hi, Math.min(PAGE_SIZE, off + size));
          }
          return false;
        });
      }
    }
    return this.pages === 'mirrored' ? frame.slice() : frame;
  }

  private unmap(mfn: number): void {
    const m = this.mapped.get(mfn);
    if (m && --m.refs === 0) {
      this.mapped.delete(mfn);
      if (this.pages === 'mirrored') this.hv.unwatchFrame(mfn);
    }
  }

  /** True if dom0 reaches `mfn` only through read-only grant mappings. */
  private onlyReadonly(mfn: number): boolean {
    let grants = 0;
    let ro = 0;
    for (const g of this.grants.values()) {
      if (g.mfn !== mfn) continue;
      grants++;
      if (g.readonly) ro++;
    }
    const m = this.mapped.get(mfn);
    // Writable if any mapping of it is: a foreign map, or a writable grant map.
    return grants > 0 && ro === grants && m !== undefined && m.refs === grants;
  }
}
