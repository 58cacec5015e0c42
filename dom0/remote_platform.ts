// Dom0Platform across the process boundary. Mapped pages are mirrors: the hypervisor sends
// the page when it is mapped and, with every dispatch, the byte ranges guests stored to
// since; dom0's own stores are recorded and travel with its next request, ahead of the
// operation (so data reaches the guest before the notification that announces it).

import type { Peer } from '../protocol/session.ts';
import type { PageUpdate, Request } from '../protocol/wire.ts';
import type { Dom0Platform, MappedPage } from './platform.ts';
import { PAGE_SIZE } from '../protocol/xen/xen.ts';

export class RemotePlatformError extends Error {
  override readonly name = 'RemotePlatformError';
}

export class RemotePlatform implements Dom0Platform {
  private readonly mirrors = new Map<number, { bytes: Uint8Array; refs: number }>();
  private readonly handlers = new Map<number, () => void | Promise<void>>();
  private pending: { mfn: number; lo: number; hi: number }[] = [];
  private readonly grantMfn = new Map<number, number>();
  /** Virtual time of the last dispatch (Dom0Event.time_ns). */
  private timeNs = 0;

  constructor(private readonly hv: Peer) {}

  async mapForeign(domid: number, mfn: number): Promise<MappedPage> {
    const existing = this.mirrors.get(mfn);
    let bytes: Uint8Array;
    if (existing) {
      existing.refs++;
      bytes = existing.bytes;
    } else {
      const r = await this.hv.request('mapForeign', { domid, mfn });
      if (r.rc !== 0 || !r.page) throw new RemotePlatformError(`map of d${domid} mfn 0x${mfn.toString(16)} failed: ${r.error}`);
      bytes = new Uint8Array(PAGE_SIZE);
      bytes.set(r.page);
      this.mirrors.set(mfn, { bytes, refs: 1 });
    }
    return {
      bytes,
      dirty: (offset, len) => this.pending.push({ mfn, lo: offset, hi: offset + len }),
      unmap: () => {
        const m = this.mirrors.get(mfn);
        if (m && --m.refs === 0) {
          this.mirrors.delete(mfn);
          void this.hv.request('unmapForeign', { domid, mfn }).catch(() => {});
        }
      },
    };
  }

  async bindInterdomain(domid: number, remotePort: number): Promise<number> {
    const r = await this.hv.request('bindInterdomain', { domid, remotePort });
    if (r.rc !== 0 || r.port === undefined) throw new RemotePlatformError(r.error || `bind_interdomain failed: ${r.rc}`);
    return r.port;
  }

  onEvent(port: number, handler: () => void | Promise<void>): void {
    this.handlers.set(port, handler);
  }

  async notify(port: number): Promise<void> {
    await this.hv.request('evtchnSend', { port }, undefined, this.takeWrites());
  }

  async closePort(port: number): Promise<void> {
    this.handlers.delete(port);
    await this.hv.request('evtchnClose', { port }, undefined, this.takeWrites()).catch(() => {});
  }

  async mapGrant(domid: number, ref: number, readonly: boolean): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    const r = await this.hv.request('grantMap', { domid, ref, readonly }, undefined, this.takeWrites());
    const g = r.grant;
    if (r.rc !== 0 || !g) throw new RemotePlatformError(r.error || 'grant map failed');
    if (g.status !== 0 || !g.page || g.mfn === undefined) return { status: g.status, handle: 0, page: null };
    const mfn = g.mfn;
    const existing = this.mirrors.get(mfn);
    let bytes: Uint8Array;
    if (existing) {
      existing.refs++;
      bytes = existing.bytes;
      bytes.set(g.page);
    } else {
      bytes = new Uint8Array(PAGE_SIZE);
      bytes.set(g.page);
      this.mirrors.set(mfn, { bytes, refs: 1 });
    }
    this.grantMfn.set(g.handle ?? 0, mfn);
    return {
      status: g.status,
      handle: g.handle ?? 0,
      // A read-only grant: dom0's stores stay local (the hypervisor would refuse them).
      page: { bytes, dirty: readonly ? () => {} : (offset, len) => this.pending.push({ mfn, lo: offset, hi: offset + len }), unmap: () => void this.unmapGrant(g.handle ?? 0) },
    };
  }

  async unmapGrant(handle: number): Promise<number> {
    const writes = this.takeWrites(); // before the mirror goes
    const mfn = this.grantMfn.get(handle);
    if (mfn !== undefined) {
      this.grantMfn.delete(handle);
      const m = this.mirrors.get(mfn);
      if (m && --m.refs === 0) this.mirrors.delete(mfn);
    }
    const r = await this.hv.request('grantUnmap', { handle }, undefined, writes);
    return r.grant?.status ?? -1;
  }

  async copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): Promise<number> {
    const r = await this.hv.request('grantCopy', { domid, ref, offset, data }, undefined, this.takeWrites());
    return r.grant?.status ?? -1;
  }

  async copyFromGrant(domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    const r = await this.hv.request('grantCopy', { domid, ref, offset, len }, undefined, this.takeWrites());
    return { status: r.grant?.status ?? -1, data: r.grant?.data ?? new Uint8Array(0) };
  }

  now(): number {
    return this.timeNs;
  }

  /** Sends writes not yet carried by a request (end of a dispatch). */
  async flush(): Promise<void> {
    const writes = this.takeWrites();
    if (writes.length) await this.hv.request('pageWrite', {}, undefined, writes);
  }

  /** A dispatch from the hypervisor: apply the guest's stores, then run the port's handler. */
  async event(ev: NonNullable<Request['dom0Event']>): Promise<void> {
    if (ev.timeNs !== undefined && ev.timeNs > this.timeNs) this.timeNs = ev.timeNs;
    for (const p of ev.pages) {
      const m = this.mirrors.get(p.mfn);
      if (m && p.offset + p.data.length <= PAGE_SIZE) m.bytes.set(p.data, p.offset);
    }
    await this.handlers.get(ev.port)?.();
    await this.flush();
  }

  private takeWrites(): PageUpdate[] {
    if (!this.pending.length) return [];
    // Merge ranges per page, keeping the order of first write.
    const byPage = new Map<number, { lo: number; hi: number }>();
    for (const w of this.pending) {
      const r = byPage.get(w.mfn);
      if (r) {
        r.lo = Math.min(r.lo, w.lo);
        r.hi = Math.max(r.hi, w.hi);
      } else byPage.set(w.mfn, { lo: w.lo, hi: w.hi });
    }
    this.pending = [];
    const out: PageUpdate[] = [];
    for (const [mfn, r] of byPage) {
      const m = this.mirrors.get(mfn);
      if (m) out.push({ mfn, offset: r.lo, data: m.bytes.slice(r.lo, r.hi) });
    }
    return out;
  }
}
