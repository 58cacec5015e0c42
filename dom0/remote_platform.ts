// Dom0Platform across the process boundary. Mapped pages are mirrors: the hypervisor sends
// the page when it is mapped and, with every dispatch, the byte ranges guests stored to
// since; dom0's own stores are recorded by the mirror's view (TrackedMemory, exact spans)
// and travel with its next request, ahead of the operation (so data reaches the guest
// before the notification that announces it). Each span goes as its own page update: the
// bytes between two of dom0's writes are the guest's, and are never sent back over it.

import type { Peer } from '../protocol/session.ts';
import { MAX_HOT_ENTRIES, type HotFrame, type HotIoreq, type HotOp, type HotPage, type HotPrefetched } from '../protocol/hot_wire.ts';
import type { PageUpdate, Request } from '../protocol/wire.ts';
import { ByteMemory, TrackedMemory, type GuestMemory } from '../protocol/guest_memory.ts';
import type { CopyOutTicket, Dom0Platform, GrantCopyOp, GrantCopyResult, GrantCopyToOp, IoreqHost, MappedPage } from './platform.ts';
import type { Ioreq } from './devicemodel/ioreq.ts';
import { PAGE_SIZE } from '../protocol/xen/xen.ts';
import { GNTST } from '../protocol/xen/grant_table.ts';
import { wallNs, wireStats } from '../protocol/wire_stats.ts';

/** PVSIM_DOM0_PREFETCH=0: no ring is prefetched (to measure what prefetching saves; docs/benchmarks.md). */
const NO_PREFETCH = process.env.PVSIM_DOM0_PREFETCH === '0';

/** Page data one batch carries at most, each way (a frame may be 24 MiB: MAX_FRAME_BYTES). */
export const BATCH_BYTES = 4 * 1024 * 1024;

/** Page data an operation moves, either way. */
function opBytes(o: HotOp): number {
  return o.op === 'write' || o.op === 'copyTo' || o.op === 'writeIfFailed' ? o.data.length : o.op === 'copyFrom' ? o.len : 0;
}

/** The GNTST status an entry the wire layout cannot carry gets here (Xen would refuse it too), or null. */
function localCopyStatus(domid: number, ref: number, offset: number, len: number): number | null {
  if (!(Number.isInteger(offset) && Number.isInteger(len) && offset >= 0 && len >= 0 && offset + len <= PAGE_SIZE)) return GNTST.bad_copy_arg;
  if (!(Number.isInteger(domid) && domid >= 0 && domid <= 0xffff)) return GNTST.bad_domain;
  if (!(Number.isInteger(ref) && ref >= 0 && ref <= 0xffffffff)) return GNTST.bad_gntref;
  return null;
}

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
  /**
   * Event sends made during a dispatch, each behind dom0's stores that preceded it: they
   * travel with the next batch or with the dispatch's answer (one message), in order.
   */
  private queued: HotOp[] = [];
  /** Dispatches being served (their answers carry what is queued). */
  private serving = 0;
  /** COPY_TO entries queued on this connection: the hypervisor numbers them alike (hot_wire.ts). */
  private copySeq = 0;
  /** Tickets whose copies' fate the hypervisor has not yet reported, oldest first (bounded). */
  private unsettled: { first: number; count: number; cb: (failed: boolean) => void }[] = [];
  /** The frame of each writable mirror view (a view let go of stays here until collected). */
  private readonly mirrorOf = new WeakMap<GuestMemory, number>();
  /**
   * The granted bytes the dispatch being served carries (hot_wire.ts PREFETCHED), by
   * domid/ref/offset/len; null outside a dispatch. An entry stands for a copy made at the
   * dispatch's instant, so it is taken only while nothing dom0 has sent since could have
   * changed it: no store to its frame (taintedMfns) and no copy into its domain
   * (taintedDomids: a COPY_TO reaches only frames of the domain it names).
   */
  private prefetched: Map<string, HotPrefetched> | null = null;
  private readonly taintedMfns = new Set<number>();
  private readonly taintedDomids = new Set<number>();

  /** Runs after a dispatch's handler, before its answer is sent (dom0 saves its state). */
  afterDispatch: (() => void) | null = null;
  /** Hears a dispatch handler's failure (the answer still carries what it stored and sent). */
  onDispatchError: ((port: number, e: Error) => void) | null = null;

  constructor(private readonly hv: Peer) {
    if (wireStats) wireStats.role = 'dom0';
    hv.hotHandler = async (req) => {
      if (req.kind === 'ioreq') {
        const r = await this.hotIoreq(req);
        return { kind: 'ioreqDone', id: req.id, value: r.value, ops: r.ops };
      }
      if (req.kind !== 'dispatch') return { kind: 'batchDone', id: req.id, rc: -38, error: 'dom0 serves no batches', results: [] };
      return { kind: 'dispatchDone', id: req.id, ops: await this.hotDispatch(req) };
    };
  }

  /** The device model's ranges, per domain: who answers an ioreq. */
  private readonly ioreqServers = new Map<number, { base: number; size: number; handle: (req: Ioreq) => Promise<number> }[]>();

  /**
   * The device model's calls across the socket: RAM mapped by gfn (DmMapRam, mirrors as for
   * any foreign mapping), ranges registered (DmIoreqServer), each access an IOREQ hot frame
   * (hotIoreq) and each line level an IRQ operation riding with dom0's next answer or batch,
   * behind the stores that preceded it.
   */
  readonly ioreq: IoreqHost = {
    hvmRam: async (domid) => {
      const r = await this.hv.request('dmMapRam', { domid, gfn: 0, count: 0 });
      return r.rc === 0 && r.dmRam ? { base: r.dmRam.ramBase, bytes: r.dmRam.ramBytes } : null;
    },
    mapGuestFrames: async (domid, gfn, count) => {
      const r = await this.hv.request('dmMapRam', { domid, gfn, count }, undefined, await this.writesForRequest());
      const ram = r.dmRam;
      if (r.rc !== 0 || !ram || ram.mfns.length !== count || ram.pages.length !== count) throw new RemotePlatformError(`map of d${domid}'s gfn 0x${gfn.toString(16)}+${count} failed: ${r.error}`);
      return ram.mfns.map((mfn, i) => this.foreignPage(domid, mfn, ram.pages[i]!));
    },
    addIoreqServer: async (domid, base, size, handle) => {
      const list = this.ioreqServers.get(domid) ?? [];
      this.ioreqServers.set(domid, [...list.filter((s) => s.base !== base), { base, size, handle }]);
      const r = await this.hv.request('dmIoreqServer', { domid, base, size }, undefined, await this.writesForRequest());
      if (r.rc !== 0) throw new RemotePlatformError(`ioreq range 0x${base.toString(16)} of d${domid}: ${r.error}`);
    },
    setIrqLevel: (domid, source, level) => {
      this.queueWrites();
      this.queued.push({ op: 'irq', domid, source, level });
      if (this.serving === 0) void this.sendQueued().catch(() => {});
    },
    release: (domid) => {
      this.ioreqServers.delete(domid);
    },
  };


  /**
   * An ioreq on the hot path: the guest's stores are applied, the device model answers, and
   * the answer carries the value with dom0's stores, copies, sends and line levels, in order
   * (as a dispatch's). An address no range claims reads all ones (Xen's answer).
   */
  async hotIoreq(ev: { req: HotIoreq; timeNs: number; pages: HotPage[] }): Promise<{ value: number; ops: HotOp[] }> {
    let value = 0xffffffff;
    this.serving++;
    try {
      this.applyPages(ev.timeNs, ev.pages);
      const q = ev.req;
      const s = this.ioreqServers.get(q.domid)?.find((r) => q.addr >= r.base && q.addr + q.size <= r.base + r.size);
      if (s && q.count === 1) {
        const h0 = wireStats ? wallNs() : 0;
        value = (await s.handle({ addr: q.addr, size: q.size, dir: q.dir, data: q.data, count: 1 })) >>> 0;
        if (wireStats) wireStats.handlerNs += wallNs() - h0;
      }
      this.afterDispatch?.();
    } catch (e) {
      this.onDispatchError?.(-1, e as Error);
    } finally {
      this.serving--;
    }
    return { value: ev.req.dir === 'read' ? value : 0, ops: await this.answerOps() };
  }

  async mapForeign(domid: number, mfn: number): Promise<MappedPage> {
    let m = this.mirrors.get(mfn);
    if (m) m.refs++;
    else {
      const r = await this.hv.request('mapForeign', { domid, mfn });
      if (r.rc !== 0 || !r.page) throw new RemotePlatformError(`map of d${domid} mfn 0x${mfn.toString(16)} failed: ${r.error}`);
      m = this.newMirror(mfn, r.page);
    }
    return this.foreignView(domid, mfn, m);
  }

  /**
   * A frame the hypervisor mapped for dom0 (one reference there) with the page as it is
   * (empty: all zeros): a new mirror, or one more reference on the one dom0 holds.
   */
  private foreignPage(domid: number, mfn: number, page: Uint8Array): MappedPage {
    let m = this.mirrors.get(mfn);
    if (m) {
      // dom0 holds one hypervisor reference per mirror: the one this map took goes back.
      m.refs++;
      void this.hv.request('unmapForeign', { domid, mfn }).catch(() => {});
    } else m = this.newMirror(mfn, page);
    return this.foreignView(domid, mfn, m);
  }

  private foreignView(domid: number, mfn: number, m: Mirror): MappedPage {
    return {
      mem: m.mem,
      unmap: () => {
        const m = this.mirrors.get(mfn);
        if (m && --m.refs === 0) {
          // dom0's last stores to the page go with the unmap, ahead of it; queued sends
          // (and the stores before them) go first, in order.
          if (this.queued.length) {
            this.queueWrites();
            void this.sendQueued().catch(() => {});
          }
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
    this.queueWrites();
    this.queued.push({ op: 'send', port });
    // Inside a dispatch the send rides with its answer; outside one it goes now.
    if (this.serving === 0) await this.sendQueued();
  }

  /**
   * GNTTABOP_copy as one batch (one round trip), behind dom0's stores and sends so far. A
   * copy out that the dispatch's prefetched bytes hold is taken from them (no round trip if
   * all are) and goes as a COPY_FROM_USED in its place, for the hypervisor to count.
   */
  async copyGrants(ops: readonly GrantCopyOp[]): Promise<GrantCopyResult[]> {
    if (!ops.length) return [];
    // An entry the layout cannot carry is one Xen would refuse anyway: answered here.
    const local = ops.map((o) => localCopyStatus(o.domid, o.ref, o.offset, o.to ? o.data.length : o.len));
    this.queueWrites();
    const before = this.queued.length;
    const out: (GrantCopyResult | number)[] = [];
    let misses = 0;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      const st = local[i]!;
      if (st !== null) {
        out.push({ status: st, data: new Uint8Array(0) });
        continue;
      }
      if (o.to) {
        this.copySeq = (this.copySeq + 1) >>> 0;
        if (this.prefetched) this.taintedDomids.add(o.domid);
        out.push(this.queued.length - before);
        this.queued.push({ op: 'copyTo', domid: o.domid, ref: o.ref, offset: o.offset, data: o.data });
        misses++;
        continue;
      }
      const hit = this.prefetchedCopy(o.domid, o.ref, o.offset, o.len);
      if (hit) {
        out.push({ status: GNTST.okay, data: hit });
        this.queued.push({ op: 'copyFromUsed', domid: o.domid, ref: o.ref, offset: o.offset, len: o.len });
        continue;
      }
      out.push(this.queued.length - before);
      this.queued.push({ op: 'copyFrom', domid: o.domid, ref: o.ref, offset: o.offset, len: o.len });
      misses++;
    }
    if (!misses) return out as GrantCopyResult[];
    const sent = this.queued.length - before;
    const results = (await this.sendQueued()).slice(before);
    if (results.length !== sent) throw new RemotePlatformError(`grant copy batch answered ${results.length} of ${sent} entries`);
    return out.map((r) => (typeof r === 'number' ? { status: results[r]!.status, data: results[r]!.data } : r));
  }

  /** The bytes a copy out would read, from the dispatch's prefetched ones while still good; else null. */
  private prefetchedCopy(domid: number, ref: number, offset: number, len: number): Uint8Array | null {
    if (!this.prefetched) return null;
    const x = this.prefetched.get(`${domid}/${ref}/${offset}/${len}`);
    if (!x || this.taintedDomids.has(domid) || this.taintedMfns.has(x.mfn)) {
      if (wireStats) wireStats.prefetchMisses++;
      return null;
    }
    if (wireStats) wireStats.prefetchHits++;
    return x.data.slice();
  }

  /**
   * Asks for the data of new requests on `ring` (a writable mapping) to travel with the
   * dispatches of `port` (hot_wire.ts PREFETCH_RING): a write's data then costs no round
   * trip of its own. Ends when the port closes.
   */
  prefetchRing(port: number, domid: number, ring: MappedPage, layout: 'blkif' | 'netifTx'): void {
    const mfn = this.writableMfnOf(ring.mem);
    if (mfn === undefined || NO_PREFETCH) return;
    // Rides with dom0's next batch or answer (flush sends it now): no round trip of its own.
    this.queueWrites();
    this.queued.push({ op: 'prefetchRing', port, domid, mfn, layout });
  }

  /**
   * Copies into granted pages that travel with the dispatch's answer (or the next batch):
   * no round trip of their own. A failure is known only to the hypervisor, which makes the
   * ticket's onFail store (WRITE_IF_FAILED) when it applies the answer.
   */
  copyToGrantsLater(ops: readonly GrantCopyToOp[]): CopyOutTicket {
    this.queueWrites();
    let localFail = false;
    const first = this.copySeq;
    for (const o of ops) {
      if (localCopyStatus(o.domid, o.ref, o.offset, o.data.length) !== null) {
        localFail = true;
        continue;
      }
      this.copySeq = (this.copySeq + 1) >>> 0;
      if (this.prefetched) this.taintedDomids.add(o.domid);
      this.queued.push({ op: 'copyTo', domid: o.domid, ref: o.ref, offset: o.offset, data: o.data });
    }
    const count = (this.copySeq - first) >>> 0;
    if (this.serving === 0 && count) void this.sendQueued().catch(() => {});
    const known = localFail ? true : count === 0 ? false : null;
    return {
      failed: known,
      onSettled: (cb: (failed: boolean) => void) => {
        if (known !== null) return cb(known);
        if (this.unsettled.length >= MAX_HOT_ENTRIES) this.unsettled.shift(); // never heard of: dropped
        this.unsettled.push({ first, count, cb });
      },
      onFail: (mem: GuestMemory, offset: number, data: Uint8Array) => {
        if (localFail) return mem.write(offset, data);
        if (count === 0) return;
        const mfn = this.writableMfnOf(mem);
        if (mfn === undefined) throw new RemotePlatformError('a status to patch must be in a page dom0 has mapped writable');
        if (!(Number.isInteger(offset) && offset >= 0 && offset + data.length <= PAGE_SIZE)) throw new RemotePlatformError('a status to patch runs past its page');
        this.queueWrites(); // the response it patches goes first
        if (this.prefetched) this.taintedMfns.add(mfn);
        this.queued.push({ op: 'writeIfFailed', first, count, mfn, offset, data: data.slice() });
        if (this.serving === 0) void this.sendQueued().catch(() => {});
      },
    };
  }

  /** The frame whose writable mirror `mem` is. */
  private writableMfnOf(mem: GuestMemory): number | undefined {
    const mfn = this.mirrorOf.get(mem);
    return mfn !== undefined && this.mirrors.get(mfn)?.mem === mem ? mfn : undefined;
  }

  /**
   * Sends what is queued as one batch (several, in order, past BATCH_BYTES of page data
   * either way: a pass of 32 indirect requests can move 32 MiB, more than a frame may
   * carry; or past MAX_HOT_ENTRIES operations); the results, one per queued operation.
   */
  private async sendQueued(): Promise<{ status: number; data: Uint8Array }[]> {
    const all = this.queued;
    this.queued = [];
    const out: { status: number; data: Uint8Array }[] = [];
    for (let i = 0; i < all.length; ) {
      let bytes = 0;
      let j = i;
      while (j < all.length && j - i < MAX_HOT_ENTRIES && (j === i || bytes + opBytes(all[j]!) <= BATCH_BYTES)) bytes += opBytes(all[j++]!);
      const ops = all.slice(i, j);
      i = j;
      const t0 = wireStats ? wallNs() : 0;
      const r = await this.hv.requestHot<Extract<HotFrame, { kind: 'batch' }>>({ kind: 'batch', ops });
      if (wireStats) wireStats.handlerAwaitNs += wallNs() - t0;
      if (r.rc !== 0) throw new RemotePlatformError(r.error || `batch failed: ${r.rc}`);
      out.push(...r.results);
    }
    return out;
  }

  /** dom0's stores so far, as batch operations at the queue's end. */
  private queueWrites(): void {
    for (const w of this.takeWrites()) this.queued.push({ op: 'write', mfn: w.mfn, offset: w.offset, data: w.data });
  }

  /**
   * What the next protobuf request carries ahead of its operation: first any queued
   * operations go (as a batch), so nothing is applied out of order.
   */
  private async writesForRequest(): Promise<PageUpdate[]> {
    if (this.queued.length) {
      this.queueWrites();
      await this.sendQueued();
    }
    return this.takeWrites();
  }

  async closePort(port: number): Promise<void> {
    this.handlers.delete(port);
    await this.hv.request('evtchnClose', { port }, undefined, await this.writesForRequest().catch(() => [])).catch(() => {});
  }

  async mapGrant(domid: number, ref: number, readonly: boolean): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    const r = await this.hv.request('grantMap', { domid, ref, readonly }, undefined, await this.writesForRequest());
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
    if (this.queued.length) await this.sendQueued().catch(() => []);
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
    return (await this.copyGrants([{ to: true, domid, ref, offset, data }]))[0]!.status;
  }

  async copyFromGrant(domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    return (await this.copyGrants([{ to: false, domid, ref, offset, len }]))[0]!;
  }

  now(): number {
    return this.timeNs;
  }

  /** Sends writes and sends not yet carried by a request (outside a dispatch's answer). */
  async flush(): Promise<void> {
    this.queueWrites();
    await this.sendQueued();
  }

  /**
   * A dispatch on the hot path (protocol/hot_wire.ts): the guest's stores are applied, the
   * port's handler runs, and the answer carries dom0's stores and event sends, in order.
   * `after` runs once the handler is done, before the answer is made (saving state).
   */
  async hotDispatch(ev: { port: number; timeNs: number; pages: HotPage[]; copiesDone?: number; failedCopies?: number[]; prefetched?: HotPrefetched[] }, after?: () => void): Promise<HotOp[]> {
    // Prefetched bytes are the machine at this dispatch's instant: good for it alone (and
    // for none if dispatches overlap).
    this.setPrefetched(this.serving === 0 ? ev.prefetched : undefined);
    this.serving++;
    try {
      await this.event(ev, false);
      (after ?? this.afterDispatch)?.();
    } catch (e) {
      this.onDispatchError?.(ev.port, e as Error);
    } finally {
      this.serving--;
      this.setPrefetched(undefined);
    }
    return this.answerOps();
  }

  private setPrefetched(list: readonly HotPrefetched[] | undefined): void {
    this.taintedMfns.clear();
    this.taintedDomids.clear();
    if (!list || !list.length) {
      this.prefetched = null;
      return;
    }
    this.prefetched = new Map();
    for (const x of list) this.prefetched.set(`${x.domid}/${x.ref}/${x.offset}/${x.data.length}`, x);
    // What dom0 queued before the dispatch and has not sent goes ahead of its copies too.
    for (const o of this.queued) {
      if (o.op === 'write' || o.op === 'writeIfFailed') this.taintedMfns.add(o.mfn);
      else if (o.op === 'copyTo') this.taintedDomids.add(o.domid);
    }
  }

  /** What a dispatch's answer carries: what is queued (ahead as batches, in order, when too large for one frame). */
  private async answerOps(): Promise<HotOp[]> {
    this.queueWrites();
    if (this.queued.length > MAX_HOT_ENTRIES || this.queued.reduce((n, o) => n + opBytes(o), 0) > BATCH_BYTES) {
      await this.sendQueued();
      return [];
    }
    const ops = this.queued;
    this.queued = [];
    return ops;
  }

  /** Settles the tickets whose copies the hypervisor has made (all below `done`), failed or not. */
  private settleCopies(done: number, failed: readonly number[]): void {
    if (!this.unsettled.length) return;
    const bad = new Set(failed);
    const keep: typeof this.unsettled = [];
    for (const t of this.unsettled) {
      if (((done - t.first) >>> 0) < t.count || ((done - t.first) >>> 0) > 0x7fffffff) {
        keep.push(t);
        continue;
      }
      let f = false;
      for (let k = 0; k < t.count && !f; k++) f = bad.has((t.first + k) >>> 0);
      t.cb(f);
    }
    this.unsettled = keep;
  }

  /** A dispatch from the hypervisor: apply the guest's stores, then run the port's handler. */
  async event(ev: NonNullable<Request['dom0Event']> & { copiesDone?: number; failedCopies?: number[] }, flush = true): Promise<void> {
    if (ev.copiesDone !== undefined) this.settleCopies(ev.copiesDone, ev.failedCopies ?? []);
    this.applyPages(ev.timeNs, ev.pages);
    const h0 = wireStats ? wallNs() : 0;
    await this.handlers.get(ev.port)?.();
    if (flush) await this.flush();
    if (wireStats) wireStats.handlerNs += wallNs() - h0;
  }

  /** A dispatch's time and the guest's stores it carries. */
  private applyPages(timeNs: number | undefined, pages: readonly HotPage[]): void {
    if (timeNs !== undefined && timeNs > this.timeNs) this.timeNs = timeNs;
    for (const p of pages) {
      const m = this.mirrors.get(p.mfn);
      // Exactly the guest's bytes: dom0's own stores elsewhere on the page stay as they are.
      if (m && p.offset + p.data.length <= PAGE_SIZE) m.mem.applyRemote(p.offset, p.data);
    }
  }

  private newMirror(mfn: number, page: Uint8Array): Mirror {
    const bytes = new Uint8Array(4096);
    bytes.set(page.subarray(0, bytes.length));
    const mem = new TrackedMemory(bytes, () => {
      if (!this.written.has(mfn)) this.written.set(mfn, mem);
    });
    const m: Mirror = { bytes, mem, refs: 1 };
    this.mirrorOf.set(mem, mfn);
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
      if (this.prefetched) this.taintedMfns.add(mfn);
      for (const s of mem.takeSpans()) out.push({ mfn, offset: s.lo, data: mem.read(s.lo, s.hi - s.lo) });
    }
    this.written.clear();
    return out;
  }
}
