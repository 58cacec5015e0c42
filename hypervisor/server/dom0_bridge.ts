// The hypervisor's side of a remote dom0: dom0's "hypercalls" (foreign mappings, event
// channels as domain 0) served from protocol requests, and dom0's work handed to it as
// dispatches that the machine waits for. Pages dom0 maps are mirrored (section 7 of the
// design): guest stores to them are tracked and travel ahead of the next dispatch; dom0's
// stores travel ahead of its next request and are applied before it.

import type { Hypervisor } from '../hypervisor.ts';
import type { Domain } from '../domain/domain.ts';
import { evtchnBindInterdomain, evtchnClose, evtchnSend } from '../evtchn/ops.ts';
import { clearPending } from '../evtchn/two_level.ts';
import { Dom0PortDispatcher } from '../evtchn/dom0_dispatch.ts';
import { attachDom0Hooks, type Dom0DomainInfo } from '../domain/dom0_hooks.ts';
import { ECS } from '../evtchn/state.ts';
import type { Peer } from '../../protocol/session.ts';
import type { PageUpdate, Request, Response } from '../../protocol/wire.ts';
import { PAGE_SIZE } from '../cpu/memory.ts';
import { gnttabMapForDomain, gnttabUnmapForDomain } from '../gnttab/index.ts';
import { copyFromGrant, copyToGrant } from '../gnttab/dom0_copy.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';

type Result = Omit<Response, 'id'>;

export class Dom0Bridge {
  readonly control: Domain;
  /** Frames dom0 has mapped: the byte range guests dirtied since the last dispatch. */
  private readonly mapped = new Map<number, { lo: number; hi: number; refs: number }>();
  /** Coalesces notifications and holds back floods (hypervisor/evtchn/dom0_dispatch.ts). */
  readonly dispatcher: Dom0PortDispatcher;
  /** Grant handles dom0 holds, and the frame each one maps. */
  private readonly grantMfns = new Map<number, { mfn: number; readonly: boolean }>();
  /** What dom0 was told of each live domain, told again to a dom0 that restarts. */
  private readonly served = new Map<number, Dom0DomainInfo>();
  /** Domains destroyed while no dom0 was connected: a new dom0 is told of them. */
  private readonly goneWhileAway = new Set<number>();

  constructor(private readonly hv: Hypervisor, private readonly peer: () => Peer | null) {
    this.control = hv.domain(0) ?? hv.createControlDomain();
    this.dispatcher = new Dom0PortDispatcher(hv, (port) => this.call('dom0Event', { port, timeNs: Math.floor(hv.now()), pages: this.collectDirty() }));
    this.control.onEvent = (port) => {
      clearPending(this.control, port);
      this.dispatcher.notify(port);
    };
    attachDom0Hooks(
      hv,
      async (info) => {
        this.served.set(info.domid, info);
        await this.sendCreated(info);
      },
      async (domid) => {
        this.served.delete(domid);
        const p = this.peer();
        if (!p || p.closed) this.goneWhileAway.add(domid);
        else await this.call('domainDestroyed', { domid });
      },
    );
  }

  private async sendCreated(info: Dom0DomainInfo): Promise<void> {
    if (!this.hv.domain(info.domid)) return; // destroyed since this was queued
    // dom0 refusing the domain (a device that did not come up) is the caller's to handle.
    await this.call('domainCreated', {
      domain: { domid: info.domid, name: info.name, flags: 0, totPages: 0, maxPages: 0, cpuTimeNs: 0, onlineVcpus: 0, maxVcpuId: 0, weight: 0, cap: 0 },
      memoryKb: info.memoryKb,
      vcpus: info.vcpus,
      storeMfn: info.storeMfn,
      storePort: info.storePort,
      consoleMfn: info.consoleMfn,
      consolePort: info.consolePort,
      devices: info.devices.map((d) => ({ ...d })),
    }, true);
  }

  /**
   * dom0 went away (its process died or closed): what it held in the hypervisor is let go,
   * as Xen does for a dying domain. Its event channels close, so each guest end becomes
   * unbound and may be bound again by a new dom0; its grant mappings are unmapped, so guests
   * can end access to those pages; mirrored pages stop being tracked.
   */
  dom0Lost(): void {
    const e = this.control.evtchn;
    if (e) for (let port = 1; e.portIsValid(port); port++) if (e.state[port] !== ECS.FREE) evtchnClose(this.hv, this.control, port);
    for (const handle of [...this.grantMfns.keys()]) gnttabUnmapForDomain(this.hv, this.control, handle);
    this.grantMfns.clear();
    for (const mfn of this.mapped.keys()) this.hv.unwatchFrame(mfn);
    this.mapped.clear();
    this.dispatcher.reset();
  }

  /** A dom0 (re)connected: tells it of every live domain, so it serves their rings again. */
  reattach(): void {
    for (const domid of this.goneWhileAway) this.hv.dispatch(() => this.call('domainDestroyed', { domid }), 0);
    this.goneWhileAway.clear();
    for (const info of this.served.values()) {
      if (!this.hv.domain(info.domid)) {
        this.served.delete(info.domid);
        continue;
      }
      this.hv.dispatch(() => this.sendCreated(info), 0);
    }
  }

  /** Sends a dispatch to dom0; with `refusals`, dom0 answering an error throws it. */
  private async call<K extends 'dom0Event' | 'domainCreated' | 'domainDestroyed'>(op: K, arg: Parameters<Peer['request']>[1] & Request[K], refusals = false): Promise<void> {
    const p = this.peer();
    if (!p || p.closed) return; // no dom0: nothing serves the rings (as with xenstored down)
    let r;
    try {
      r = await p.request(op, arg as never);
    } catch (e) {
      // dom0 died with the request outstanding: the guest's work waits for a new dom0.
      this.hv.printk(`dom0 ${op} lost: ${(e as Error).message}`);
      return;
    }
    if (r.rc === 0) return;
    if (refusals) throw new Error(r.error || `dom0 ${op} failed: ${r.rc}`);
    this.hv.printk(`dom0 ${op} failed: ${r.error}`);
  }

  /** True if dom0 reaches `mfn` only through read-only grant mappings. */
  private onlyReadonly(mfn: number): boolean {
    let grants = 0;
    let ro = 0;
    for (const g of this.grantMfns.values()) {
      if (g.mfn !== mfn) continue;
      grants++;
      if (g.readonly) ro++;
    }
    const m = this.mapped.get(mfn);
    // Writable if any mapping of it is: a foreign map, or a writable grant map.
    return grants > 0 && ro === grants && m !== undefined && m.refs === grants;
  }

  /** Starts (or counts another) mirroring of `mfn`; returns its current bytes. */
  private mirror(mfn: number): Uint8Array {
    const frame = this.hv.mem.ensureFrame(mfn);
    const m = this.mapped.get(mfn);
    if (m) m.refs++;
    else {
      this.mapped.set(mfn, { lo: PAGE_SIZE, hi: 0, refs: 1 });
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
    return frame.slice();
  }

  private unmirror(mfn: number): void {
    const m = this.mapped.get(mfn);
    if (m && --m.refs === 0) {
      this.mapped.delete(mfn);
      this.hv.unwatchFrame(mfn);
    }
  }

  private collectDirty(): PageUpdate[] {
    const out: PageUpdate[] = [];
    for (const [mfn, m] of this.mapped) {
      if (m.hi <= m.lo) continue;
      const frame = this.hv.mem.frames[mfn];
      if (frame) out.push({ mfn, offset: m.lo, data: frame.slice(m.lo, m.hi) });
      m.lo = PAGE_SIZE;
      m.hi = 0;
    }
    return out;
  }

  /** Applies dom0's writes; returns an error for a page it has not mapped. */
  applyWrites(writes: PageUpdate[] | undefined): Result | null {
    for (const w of writes ?? []) {
      if (!this.mapped.has(w.mfn)) return { rc: -1, error: `write to mfn 0x${w.mfn.toString(16)}, which dom0 has not mapped` };
      if (this.onlyReadonly(w.mfn)) return { rc: -1, error: `write to mfn 0x${w.mfn.toString(16)}, which dom0 mapped read-only` };
      if (w.offset + w.data.length > PAGE_SIZE) return { rc: -22, error: 'write past the end of the page' };
      const frame = this.hv.mem.frames[w.mfn];
      if (!frame) continue;
      frame.set(w.data, w.offset);
    }
    return null;
  }

  /** Serves dom0's own requests; null if `req` is not one of them. */
  handle(req: Request): Result | null {
    const hv = this.hv;
    if (req.mapForeign) {
      const { domid, mfn } = req.mapForeign;
      if (!hv.domain(domid) || hv.frames.ownerOf(mfn) !== domid) return { rc: -1, error: `mfn 0x${mfn.toString(16)} does not belong to d${domid}` };
      return { rc: 0, page: this.mirror(mfn) };
    }
    if (req.unmapForeign) {
      this.unmirror(req.unmapForeign.mfn);
      return { rc: 0 };
    }
    if (req.grantMap) {
      const g = req.grantMap;
      const r = gnttabMapForDomain(hv, this.control, g.domid, g.ref, g.readonly ?? false);
      if (r.status !== GNTST.okay) return { rc: 0, grant: { status: r.status } };
      this.grantMfns.set(r.handle, { mfn: r.mfn, readonly: g.readonly ?? false });
      return { rc: 0, grant: { status: r.status, handle: r.handle, mfn: r.mfn, page: this.mirror(r.mfn) } };
    }
    if (req.grantUnmap) {
      const g = this.grantMfns.get(req.grantUnmap.handle);
      const status = gnttabUnmapForDomain(hv, this.control, req.grantUnmap.handle);
      if (status === GNTST.okay && g !== undefined) {
        this.grantMfns.delete(req.grantUnmap.handle);
        this.unmirror(g.mfn);
      }
      return { rc: 0, grant: { status } };
    }
    if (req.grantCopy) {
      const c = req.grantCopy;
      if (c.data && c.data.length) return { rc: 0, grant: { status: copyToGrant(hv, this.control, c.domid, c.ref, c.offset, c.data) } };
      const r = copyFromGrant(hv, this.control, c.domid, c.ref, c.offset, c.len ?? 0);
      return { rc: 0, grant: { status: r.status, data: r.data } };
    }
    if (req.bindInterdomain) {
      const port = evtchnBindInterdomain(hv, this.control, req.bindInterdomain.domid, req.bindInterdomain.remotePort);
      if (port < 0) return { rc: port, error: `bind_interdomain(d${req.bindInterdomain.domid}, ${req.bindInterdomain.remotePort}) failed` };
      clearPending(this.control, port);
      return { rc: 0, port };
    }
    if (req.evtchnSend) {
      const rc = evtchnSend(hv, this.control, req.evtchnSend.port);
      return rc < 0 ? { rc, error: `send on port ${req.evtchnSend.port} failed` } : { rc: 0 };
    }
    if (req.evtchnClose) {
      const rc = evtchnClose(hv, this.control, req.evtchnClose.port);
      return rc < 0 ? { rc, error: `close of port ${req.evtchnClose.port} failed` } : { rc: 0 };
    }
    if (req.pageWrite) return { rc: 0 };
    return null;
  }
}
