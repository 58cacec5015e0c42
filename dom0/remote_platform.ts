// Dom0Platform across the process boundary. Mapped pages are mirrors: the hypervisor sends
// the page when it is mapped and, with every dispatch, the byte ranges guests stored to
// since; dom0's own stores are recorded by the mirror's view (TrackedMemory, exact spans)
// and travel with its next request, ahead of the operation (so data reaches the guest
// before the notification that announces it). Each span goes as its own page update: the
// bytes between two of dom0's writes are the guest's, and are never sent back over it.

import type { Peer } from '../protocol/session.ts';
import type { PageUpdate, Request } from '../protocol/wire.ts';
import { ByteMemory, TrackedMemory } from '../protocol/guest_memory.ts';
import type { Dom0Platform, MappedPage } from './platform.ts';
import { PAGE_SIZE } from '../protocol/xen/xen.ts';
import { wallNs, wireStats } from '../protocol/wire_stats.ts';

export class RemotePlatformError extends Error {
  override readonly name = 'RemotePlatformError';
}

/** dom0's copy of a frame it maps, however many times. */
interface Mirror {
  readonly bytes: Uint8Array;
  /** The writable view: records dom0's stores. */
  readonly mem: TrackedMemory;
  refs: number;
}

export class RemotePlatform implements Dom0Platform {
  private readonly mirrors = new Map<number, Mirror>();
  private readonly handlers = new Map<number, () => void | Promise<void>>();
  /** Mirrors dom0 stored to since the last request, in order of first store. */
  private readonly written = new Map<number, TrackedMemory>();
  private readonly grantMfn = new Map<number, number>();
  /** Virtual time of the last dispatch (Dom0Event.time_ns). */
  private timeNs = 0;

  constructor(private readonly hv: Peer) {
    if (wireStats) wireStats.role = 'dom0';
  }

  async mapForeign(domid: number, mfn: number): Promise<MappedPage> {
    let m = this.mirrors.get(mfn);
    if (m) m.refs++;
    else {
      const r = await this.hv.request('mapForeign', { domid, mfn });
      if (r.rc !== 0 || !r.page) throw new RemotePlatformError(`map of d${domid} mfn 0x${mfn.toString(16)} failed: ${r.error}`);
      m = this.newMirror(mfn, r.page);
    }
    return {
      mem: m.mem,
      unmap: () => {
        const m = this.mirrors.get(mfn);
        if (m && --m.refs === 0) {
          // dom0's last stores to the page go with the unmap, ahead of it.
          const writes = this.takeWrites();
          this.mirrors.delete(mfn);
          void this.hv.request('unmapForeign', { domid, mfn }, undefined, writes).catch(() => {});
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
    let m = this.mirrors.get(mfn);
    if (m) {
      m.refs++;
      // The page as it is now; dom0's stores not yet sent went ahead of this request.
      m.mem.applyRemote(0, g.page);
    } else m = this.newMirror(mfn, g.page);
    this.grantMfn.set(g.handle ?? 0, mfn);
    return {
      status: g.status,
      handle: g.handle ?? 0,
      // A read-only grant: dom0's stores stay local (the hypervisor would refuse them).
      page: { mem: readonly ? new ByteMemory(m.bytes) : m.mem, unmap: () => void this.unmapGrant(g.handle ?? 0) },
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
      // Exactly the guest's bytes: dom0's own stores elsewhere on the page stay as they are.
      if (m && p.offset + p.data.length <= PAGE_SIZE) m.mem.applyRemote(p.offset, p.data);
    }
    const h0 = wireStats ? wallNs() : 0;
    await this.handlers.get(ev.port)?.();
    await this.flush();
    if (wireStats) wireStats.handlerNs += wallNs() - h0;
  }

  private newMirror(mfn: number, page: Uint8Array): Mirror {
    const bytes = new Uint8Array(4096);
    bytes.set(page.subarray(0, bytes.length));
    const mem = new TrackedMemory(bytes, () => {
      if (!this.written.has(mfn)) this.written.set(mfn, mem);
    });
    const m: Mirror = { bytes, mem, refs: 1 };
    this.mirrors.set(mfn, m);
    return m;
  }

  /** dom0's stores since the last request: one page update per written span. */
  private takeWrites(): PageUpdate[] {
    if (!this.written.size) return [];
    const out: PageUpdate[] = [];
    for (const [mfn, mem] of this.written) {
      // A mirror already let go of (and perhaps replaced by a new mapping) sends nothing.
      if (this.mirrors.get(mfn)?.mem !== mem) continue;
      for (const s of mem.takeSpans()) out.push({ mfn, offset: s.lo, data: mem.read(s.lo, s.hi - s.lo) });
    }
    this.written.clear();
    return out;
  }
}
