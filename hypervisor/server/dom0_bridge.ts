// The hypervisor's side of a remote dom0: a thin adapter that decodes dom0's protocol
// requests into calls on the control domain's service (hypervisor/control/service.ts, the
// same service dom0/local_platform.ts calls in-process), with mirrored pages: guest stores
// to pages dom0 mapped travel ahead of the next dispatch; dom0's stores travel ahead of its
// next request and are applied before it (section 7 of the design). It also tells dom0 of
// domains built and destroyed, again when a dom0 reconnects.

import type { Hypervisor } from '../hypervisor.ts';
import { attachDom0Hooks, type Dom0DomainInfo } from '../domain/dom0_hooks.ts';
import { ControlService } from '../control/service.ts';
import type { Peer } from '../../protocol/session.ts';
import { dispatchRequest, type OpTable, type Request, type Response } from '../../protocol/wire.ts';
import { MAX_COPY_OUT_BYTES, MAX_HOT_ENTRIES, type HotFrame, type HotOp, type HotPage, type HotPrefetched, type HotResult, type PrefetchLayout } from '../../protocol/hot_wire.ts';
import { SRING } from '../../protocol/ring.ts';
import { BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP, BLKIF_REQUEST, BLKIF_REQUEST_SEGMENT, BLKIF_RING_SIZE, BLKIF_SECTOR_BYTES, blkifRingSlot } from '../../protocol/xen/blkif.ts';
import { NET_TX_RING_SIZE, NETIF_EXTRA_INFO, NETIF_TX_REQUEST, NETTXF, XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_NR_SLOTS_MIN, netifTxRingSlot } from '../../protocol/xen/netif.ts';
import type { Domain } from '../domain/domain.ts';
import type { HvmBoard, Ioreq, IoreqServer } from '../hvm/board.ts';
import { HVM_BOARD } from '../../xenguest/hvm_image.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { ControlServiceError } from '../control/service.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';
import { wireStats } from '../../protocol/wire_stats.ts';

type Result = Omit<Response, 'id'>;

/** Page data one dispatch frame carries at most (a frame may be 24 MiB: MAX_FRAME_BYTES). */
const PAGES_PER_DISPATCH_BYTES = 8 * 1024 * 1024;

/** A port no dom0 daemon serves: a dispatch to it only carries pages. */
const NO_PORT = 0xffffffff;
/** Guest frames one DmMapRam maps at most (4 MiB of pages in its answer). */
export const DM_MAP_MAX = 1024;

/** An HVM board's windows the device model may claim: the virtio slots and the ATA block. */
const B = HVM_BOARD;
const DM_WINDOWS: readonly [number, number][] = [
  [B.virtio.base, B.virtio.count * B.virtio.stride],
  [B.ata.base, B.ata.window],
];
/** PLIC sources the device model drives: virtio slot k raises k + 1; the ATA disk its own. */
function dmIrqSource(source: number): boolean {
  return (source >= B.virtioIrqBase && source < B.virtioIrqBase + B.virtio.count) || source === B.ata.irq;
}

/** An ioreq waiting for a device model (dom0 went away before it answered). */
interface ParkedIoreq {
  d: Domain;
  req: Ioreq;
  complete: (value: number) => void;
}
/** COPY_TO entries whose outcome a WRITE_IF_FAILED may still ask about (a ring of flags). */
const COPY_OUTCOMES = 65_536;
/** Rings dom0 may ask to have prefetched (PREFETCH_RING), and granted bytes one dispatch carries at most. */
const PREFETCH_RINGS = 4096;
const PREFETCH_BYTES = 1024 * 1024;

/** A ring whose new requests' data go with its port's dispatches, and how far it was read. */
interface PrefetchRing {
  domid: number;
  mfn: number;
  layout: Exclude<PrefetchLayout, 'none'>;
  /** The request index up to which the ring was read (free-running). */
  cursor: number;
}

export class Dom0Bridge {
  /** Domain 0's ports, mappings and dispatches. */
  readonly service: ControlService;
  /** What dom0 was told of each live domain, told again to a dom0 that restarts. */
  private readonly served = new Map<number, Dom0DomainInfo>();
  /** Domains destroyed while no dom0 was connected: a new dom0 is told of them. */
  private readonly goneWhileAway = new Set<number>();
  /**
   * Ioreqs a dom0 took with it (killed before answering) or that found no dom0: the vCPU
   * keeps waiting, and each goes to the device model a new dom0 registers for its range.
   */
  private parked: ParkedIoreq[] = [];
  /**
   * COPY_TO entries reached on this dom0's connection (hot_wire.ts numbers them from 0), and
   * whether each of the last COPY_OUTCOMES failed: a WRITE_IF_FAILED asks about a range.
   */
  private copySeq = 0;
  private readonly copyFailed = new Uint8Array(COPY_OUTCOMES);
  /** Failed COPY_TO entries not yet reported to dom0 (with its next dispatch; bounded). */
  private failedUnreported: number[] = [];
  /** dom0's ports whose rings are prefetched (PREFETCH_RING), at most PREFETCH_RINGS. */
  private readonly prefetchRings = new Map<number, PrefetchRing>();

  constructor(private readonly hv: Hypervisor, private readonly peer: () => Peer | null) {
    this.service = new ControlService(hv, {
      pages: 'mirrored',
      serve: (port) => this.dispatchHot(port),
    });
    attachDom0Hooks(
      hv,
      async (info) => {
        this.served.set(info.domid, info);
        await this.sendCreated(info);
      },
      async (domid) => {
        this.service.forgetDomain(domid); // before the frames go, whatever dom0 does next
        this.served.delete(domid);
        const p = this.peer();
        if (!p || p.closed) this.goneWhileAway.add(domid);
        else await this.call('domainDestroyed', { domid });
      },
      (domid, kind, devid) => this.call('deviceRestart', { domid, kind, devid }),
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
   * A dispatch on the hot path (protocol/hot_wire.ts): the guest's stores since the last one
   * go with it as raw spans; dom0's answer carries its stores and event sends, applied here
   * in order before the machine goes on. One round trip.
   */
  private async dispatchHot(port: number): Promise<void> {
    const p = this.peer();
    if (!p || p.closed) return;
    let r;
    try {
      const timeNs = Math.floor(this.hv.now());
      // Most dispatches' page updates fit one frame: sent before this returns, with no await,
      // so dom0 works while the machine runs its lookahead window (hypervisor/run/lookahead.ts).
      const pages = this.pagesFit() ?? (await this.pagesAhead(p, timeNs, `port ${port}`));
      r = await p.requestHot<Extract<HotFrame, { kind: 'dispatch' }>>({ kind: 'dispatch', port, timeNs, pages, ...this.copyReport(), prefetched: this.prefetch(port) });
    } catch (e) {
      this.hv.printk(`dom0 dispatch of port ${port} lost: ${(e as Error).message}`);
      return;
    }
    const done = this.applyOps(r.ops);
    if (done.rc !== 0) this.hv.printk(`dom0 dispatch of port ${port}: ${done.error}`);
  }

  /** What a dispatch tells dom0 of the copies it did not wait for: how many were made, which failed. */
  private copyReport(): { copiesDone: number; failedCopies: number[] } {
    const failedCopies = this.failedUnreported;
    this.failedUnreported = [];
    return { copiesDone: this.copySeq, failedCopies };
  }

  /**
   * The granted bytes of the requests published on `port`'s ring since its last dispatch,
   * read now (GNTTABOP_copy's checks, nothing counted: ControlService.peekGrant), for dom0 to
   * take instead of copying them out in a batch of its own. The ring is the guest's: every
   * field is checked and anything odd is skipped (dom0 copies what it does not find), and
   * one dispatch carries at most PREFETCH_BYTES.
   */
  private prefetch(port: number): HotPrefetched[] {
    const ring = this.prefetchRings.get(port);
    if (!ring) return [];
    const frame = this.service.isMapped(ring.mfn) ? this.hv.mem.frames[ring.mfn] : undefined;
    if (!frame) {
      this.prefetchRings.delete(port);
      return [];
    }
    const dv = new DataView(frame.buffer, frame.byteOffset, PAGE_SIZE);
    const prod = dv.getUint32(SRING.req_prod, true);
    const size = ring.layout === 'blkif' ? BLKIF_RING_SIZE : NET_TX_RING_SIZE;
    // More than a ring published since the last read (or the producer went back) is no
    // frontend's doing that keeps the ring's rules: this ring is read no more.
    if (((prod - ring.cursor) >>> 0) > size) {
      this.prefetchRings.delete(port);
      return [];
    }
    let i = ring.cursor;
    const out: HotPrefetched[] = [];
    let bytes = 0;
    const take = (ref: number, offset: number, len: number): boolean => {
      if (bytes + len > PREFETCH_BYTES) return false;
      const r = this.service.peekGrant(ring.domid, ref, offset, len);
      if (r) {
        out.push({ domid: ring.domid, ref, offset, mfn: r.mfn, data: r.data });
        bytes += len;
      }
      return true;
    };
    if (ring.layout === 'blkif') {
      for (; i !== prod; i = (i + 1) >>> 0) {
        const off = blkifRingSlot(i);
        if (frame[off + BLKIF_REQUEST.operation] !== BLKIF_OP.WRITE) continue;
        const n = frame[off + BLKIF_REQUEST.nr_segments]!;
        if (n < 1 || n > BLKIF_MAX_SEGMENTS_PER_REQUEST) continue;
        let full = false;
        for (let k = 0; k < n && !full; k++) {
          const so = off + BLKIF_REQUEST.seg + k * BLKIF_REQUEST_SEGMENT.SIZE;
          const first = frame[so + BLKIF_REQUEST_SEGMENT.first_sect]!;
          const last = frame[so + BLKIF_REQUEST_SEGMENT.last_sect]!;
          if (first > last || last >= PAGE_SIZE / BLKIF_SECTOR_BYTES) break;
          full = !take(dv.getUint32(so + BLKIF_REQUEST_SEGMENT.gref, true), first * BLKIF_SECTOR_BYTES, (last - first + 1) * BLKIF_SECTOR_BYTES);
        }
        if (full) break;
      }
    } else {
      // netif tx: a packet's slots (extra-info slots skipped); its first slot's size is the
      // packet's, so its own length is that less the others'. A packet not yet whole is read
      // again at the next dispatch.
      packets: while (i !== prod) {
        const start = i;
        const frags: { ref: number; offset: number; size: number }[] = [];
        let slots = 0;
        let flags = 0;
        do {
          if (i === prod || ++slots > XEN_NETIF_NR_SLOTS_MIN + 8) {
            i = start;
            break packets;
          }
          const off = netifTxRingSlot(i);
          i = (i + 1) >>> 0;
          flags = dv.getUint16(off + NETIF_TX_REQUEST.flags, true);
          frags.push({ ref: dv.getUint32(off + NETIF_TX_REQUEST.gref, true), offset: dv.getUint16(off + NETIF_TX_REQUEST.offset, true), size: dv.getUint16(off + NETIF_TX_REQUEST.size, true) });
          if (frags.length === 1 && flags & NETTXF.extra_info) {
            for (;;) {
              if (i === prod || ++slots > XEN_NETIF_NR_SLOTS_MIN + 8) {
                i = start;
                break packets;
              }
              const more = frame[netifTxRingSlot(i) + NETIF_EXTRA_INFO.flags]! & XEN_NETIF_EXTRA_FLAG_MORE;
              i = (i + 1) >>> 0;
              if (!more) break;
            }
          }
        } while (flags & NETTXF.more_data);
        let rest = 0;
        for (let k = 1; k < frags.length; k++) rest += frags[k]!.size;
        const first = frags[0]!;
        if (rest > first.size) continue;
        first.size -= rest;
        let full = false;
        for (const f of frags) {
          if (f.size === 0 || f.offset + f.size > PAGE_SIZE) continue;
          if ((full = !take(f.ref, f.offset, f.size))) break;
        }
        if (full) break;
      }
    }
    ring.cursor = i;
    if (wireStats) {
      wireStats.prefetchedOut += out.length;
      wireStats.prefetchedBytesOut += bytes;
    }
    return out;
  }

  /** PREFETCH_RING: `port`'s ring (a frame dom0 maps, of `domid`) read at its dispatches from now on, or no longer. */
  private setPrefetch(o: Extract<HotOp, { op: 'prefetchRing' }>): number {
    if (o.layout === 'none') {
      this.prefetchRings.delete(o.port);
      return 0;
    }
    const frame = this.service.isMapped(o.mfn) ? this.hv.mem.frames[o.mfn] : undefined;
    if (!frame || !this.hv.domain(o.domid)) return -XEN_ERRNO.EINVAL;
    if (!this.prefetchRings.has(o.port) && this.prefetchRings.size >= PREFETCH_RINGS) return -XEN_ERRNO.ENOSPC;
    const cursor = new DataView(frame.buffer, frame.byteOffset, PAGE_SIZE).getUint32(SRING.req_prod, true);
    this.prefetchRings.set(o.port, { domid: o.domid, mfn: o.mfn, layout: o.layout, cursor });
    return 0;
  }

  /** Page updates taken by pagesFit that did not fit one frame, for pagesAhead. */
  private heldPages: HotPage[] | null = null;

  /** The guests' stores since the last dispatch if they fit one frame; else null (held for pagesAhead). */
  private pagesFit(): HotPage[] | null {
    const pages = this.service.takePageUpdates();
    if (pages.length <= MAX_HOT_ENTRIES) {
      let bytes = 0;
      for (const pg of pages) bytes += pg.data.length;
      if (bytes <= PAGES_PER_DISPATCH_BYTES) return pages;
    }
    this.heldPages = pages;
    return null;
  }

  /**
   * The guests' stores to pages dom0 maps since its last dispatch, for the next frame: more
   * page data (or spans) than one frame should carry goes first, in dispatches of a port no
   * daemon serves (dom0 applies their pages and answers at once); the rest is returned.
   */
  private async pagesAhead(p: Peer, timeNs: number, what: string): Promise<HotPage[]> {
    const pages = this.heldPages ?? this.service.takePageUpdates();
    this.heldPages = null;
    let start = 0;
    let bytes = 0;
    for (let j = 0; j < pages.length; j++) {
      const n = pages[j]!.data.length;
      if ((bytes + n > PAGES_PER_DISPATCH_BYTES && j > start) || j - start === MAX_HOT_ENTRIES) {
        const ahead = await p.requestHot<Extract<HotFrame, { kind: 'dispatch' }>>({ kind: 'dispatch', port: NO_PORT, timeNs, pages: pages.slice(start, j), ...this.copyReport(), prefetched: [] });
        const done = this.applyOps(ahead.ops);
        if (done.rc !== 0) this.hv.printk(`dom0 dispatch of ${what}: ${done.error}`);
        start = j;
        bytes = 0;
      }
      bytes += n;
    }
    return pages.slice(start);
  }

  /**
   * The hypervisor's end of an ioreq server dom0's device model registered: each access is
   * served as a dom0 dispatch, as in-process (sim/local_ioreq.ts) — the vCPU waits, a
   * dispatch latency later the machine stands still while dom0 answers one IOREQ frame
   * (the guest's stores to mapped frames ride with it), and the answer's stores, copies,
   * sends and interrupt levels are applied in order before the access completes.
   */
  private ioreqServer(d: Domain): IoreqServer {
    return {
      send: (req, complete) => this.hv.dispatch(() => this.sendIoreq({ d, req, complete })),
    };
  }

  private async sendIoreq(q: ParkedIoreq): Promise<void> {
    if (this.hv.domain(q.d.domid) !== q.d) return; // gone: nobody waits
    const p = this.peer();
    if (!p || p.closed) {
      this.parked.push(q);
      return;
    }
    let r;
    try {
      const timeNs = Math.floor(this.hv.now());
      const pages = this.pagesFit() ?? (await this.pagesAhead(p, timeNs, `d${q.d.domid}'s ioreq`));
      r = await p.requestHot<Extract<HotFrame, { kind: 'ioreq' }>>({ kind: 'ioreq', req: { ...q.req, domid: q.d.domid }, timeNs, pages });
    } catch (e) {
      if (p.closed) {
        // dom0 died with the ioreq outstanding: the vCPU waits for the next device model.
        this.hv.printk(`d${q.d.domid}'s ioreq at 0x${q.req.addr.toString(16)} lost with dom0: ${(e as Error).message}; held for the next device model`);
        this.parked.push(q);
      } else {
        // A live dom0 that did not answer (time-out): answered as by no device (all ones), so
        // the vCPU goes on; a device model that cannot answer is its guest's problem only.
        this.hv.printk(`d${q.d.domid}'s ioreq at 0x${q.req.addr.toString(16)}: ${(e as Error).message}; answered as by no device`);
        q.complete(0xffffffff);
      }
      return;
    }
    const done = this.applyOps(r.ops);
    if (done.rc !== 0) this.hv.printk(`d${q.d.domid}'s ioreq at 0x${q.req.addr.toString(16)}: ${done.error}`);
    q.complete(r.value);
  }

  /** The HVM board of a live domain dom0 names, or a refusal. */
  private board(domid: number): { d: Domain; board: HvmBoard } {
    const d = this.hv.domain(domid);
    const board = (d?.hvm ?? null) as HvmBoard | null;
    if (!d || !board) throw new ControlServiceError(-XEN_ERRNO.ESRCH, `d${domid} is not a live HVM domain`);
    return { d, board };
  }

  /** XEN_DMOP_map_io_range_to_ioreq_server for dom0's device model (only inside the board's device windows). */
  private dmIoreqServer(domid: number, base: number, size: number): void {
    const { d, board } = this.board(domid);
    const inWindow = DM_WINDOWS.some(([wb, ws]) => base >= wb && size >= 1 && base + size <= wb + ws);
    if (!(Number.isSafeInteger(base) && Number.isInteger(size) && inWindow)) throw new ControlServiceError(-XEN_ERRNO.EINVAL, `range 0x${base.toString(16)}+0x${size.toString(16)} is not inside the board's device windows`);
    try {
      board.addIoreqServer(base, size, this.ioreqServer(d), true);
    } catch (e) {
      if (e instanceof RangeError) throw new ControlServiceError(-XEN_ERRNO.EINVAL, e.message);
      throw e;
    }
    // Requests the last dom0 took with it, for this range: to the new device model, in order.
    const mine = (q: ParkedIoreq) => q.d === d && q.req.addr >= base && q.req.addr < base + size;
    const again = this.parked.filter(mine);
    this.parked = this.parked.filter((q) => !mine(q) && this.hv.domain(q.d.domid) === q.d);
    for (const q of again) this.hv.dispatch(() => this.sendIoreq(q));
  }

  /** An HVM domain's RAM, and `count` of its frames from `gfn` mapped into dom0 (privcmd by gfn). */
  private dmMapRam(domid: number, gfn: number, count: number): { ramBase: number; ramBytes: number; mfns: number[]; pages: Uint8Array[] } {
    const { d, board } = this.board(domid);
    if (!(Number.isInteger(count) && count >= 0 && count <= DM_MAP_MAX)) throw new ControlServiceError(-XEN_ERRNO.E2BIG, `${count} frames in one map (at most ${DM_MAP_MAX})`);
    const mfns: number[] = [];
    const ramFirst = HVM_BOARD.ramBase / PAGE_SIZE;
    for (let i = 0; i < count; i++) {
      const g = gfn + i;
      const mfn = g >= ramFirst && g < ramFirst + d.nrPages ? board.gfnToMfn(g) : -1;
      if (mfn < 0) throw new ControlServiceError(-XEN_ERRNO.EINVAL, `gfn 0x${g.toString(16)} is not d${domid}'s RAM`);
      mfns.push(mfn);
    }
    // A frame of zeros goes as an empty page (dom0's mirror starts zeroed): a fresh domain's
    // RAM is mostly untouched, and this keeps its mapping from copying all of it.
    const pages = mfns.map((mfn) => {
      const page = this.service.mapForeign(domid, mfn);
      const words = new Int32Array(page.buffer, page.byteOffset, PAGE_SIZE / 4);
      for (let i = 0; i < words.length; i++) if (words[i] !== 0) return page;
      return new Uint8Array(0);
    });
    return { ramBase: HVM_BOARD.ramBase, ramBytes: d.nrPages * PAGE_SIZE, mfns, pages };
  }

  /**
   * dom0's batch (GNTTABOP_copy entries, its stores, its event sends), carried out in order,
   * one result each. A refused store (a page dom0 has not mapped writable, a span past its
   * page) refuses the rest of the batch: the answer says which, and nothing after it ran.
   */
  applyOps(ops: readonly HotOp[]): { rc: number; error: string; results: HotResult[] } {
    const svc = this.service;
    const none = new Uint8Array(0);
    const results: HotResult[] = [];
    // What the answer would carry back is bounded before anything runs: an 11-byte entry
    // asks for 4 KiB, so a frame of them could ask for gigabytes.
    let out = 0;
    for (const o of ops) if (o.op === 'copyFrom') out += o.len;
    // A refused batch still numbers its COPY_TO entries (each counts as failed), so both
    // sides keep counting alike.
    const skip = (from: number) => {
      for (let i = from; i < ops.length; i++) {
        if (ops[i]!.op !== 'copyTo') continue;
        this.copyFailed[this.copySeq % COPY_OUTCOMES] = 1;
        if (this.failedUnreported.length < COPY_OUTCOMES) this.failedUnreported.push(this.copySeq);
        this.copySeq = (this.copySeq + 1) >>> 0;
      }
    };
    if (out > MAX_COPY_OUT_BYTES) {
      skip(0);
      return { rc: -XEN_ERRNO.E2BIG, error: `the batch copies out ${out} bytes, more than ${MAX_COPY_OUT_BYTES}`, results };
    }
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      try {
        switch (o.op) {
          case 'write':
            svc.applyPageUpdates([o]);
            results.push({ status: 0, data: none });
            break;
          case 'copyTo': {
            const seq = this.copySeq;
            this.copySeq = (seq + 1) >>> 0;
            this.copyFailed[seq % COPY_OUTCOMES] = 1;
            const status = svc.copyToGrant(o.domid, o.ref, o.offset, o.data);
            this.copyFailed[seq % COPY_OUTCOMES] = status === 0 ? 0 : 1;
            if (status !== 0 && this.failedUnreported.length < COPY_OUTCOMES) this.failedUnreported.push(seq);
            results.push({ status, data: none });
            break;
          }
          case 'writeIfFailed': {
            // Only copies already reached, and still remembered, can be asked about.
            const age = (this.copySeq - o.first) >>> 0;
            if (!(o.count >= 1 && o.count <= age && age <= COPY_OUTCOMES)) {
              throw new ControlServiceError(-XEN_ERRNO.EINVAL, `write_if_failed names copies ${o.first}..${o.first + o.count - 1}; ${this.copySeq} were made`);
            }
            let failed = false;
            for (let k = 0; k < o.count && !failed; k++) failed = this.copyFailed[((o.first + k) >>> 0) % COPY_OUTCOMES] === 1;
            if (failed) svc.applyPageUpdates([o]);
            results.push({ status: failed ? 1 : 0, data: none });
            break;
          }
          case 'copyFrom':
            results.push(svc.copyFromGrant(o.domid, o.ref, o.offset, o.len));
            break;
          case 'copyFromUsed':
            svc.countCopyFrom(o.domid, o.len);
            results.push({ status: 0, data: none });
            break;
          case 'prefetchRing':
            results.push({ status: this.setPrefetch(o), data: none });
            break;
          case 'send':
            results.push({ status: svc.send(o.port), data: none });
            break;
          case 'irq': {
            // XEN_DMOP_set_irq_level: only an HVM domain's device-model lines.
            const board = (this.hv.domain(o.domid)?.hvm ?? null) as HvmBoard | null;
            const ok = board !== null && o.domid !== 0 && dmIrqSource(o.source);
            if (ok) board.plic.setIrq(o.source, o.level);
            results.push({ status: ok ? 0 : -XEN_ERRNO.EINVAL, data: none });
            break;
          }
        }
      } catch (e) {
        if (e instanceof ControlServiceError) {
          skip(i + 1);
          return { rc: e.rc, error: e.message, results };
        }
        throw e;
      }
    }
    return { rc: 0, error: '', results };
  }

  /** dom0 went away (its process died or closed): what it held is let go (ControlService.release). */
  dom0Lost(): void {
    this.service.release();
    this.prefetchRings.clear();
    this.copySeq = 0; // a new dom0 numbers its copies from 0
    this.failedUnreported = [];
  }

  /** A dom0 (re)connected: tells it of every live domain, so it serves their rings again. */
  reattach(): void {
    this.prefetchRings.clear();
    this.copySeq = 0; // the new dom0 numbers its copies from 0 (whether or not dom0Lost ran)
    this.failedUnreported = [];
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
  private async call<K extends 'dom0Event' | 'domainCreated' | 'domainDestroyed' | 'deviceRestart'>(op: K, arg: Parameters<Peer['request']>[1] & Request[K], refusals = false): Promise<void> {
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

  /**
   * Serves dom0's own requests: the page updates it carries first, then the operation;
   * null if `req` is not one of these. A refusal throws ControlServiceError (rc and reason).
   */
  handle(req: Request): Result | null {
    this.service.applyPageUpdates(req.writes ?? []);
    return this.decode(req);
  }

  private decode(req: Request): Result | null {
    return dispatchRequest(this.ops, req)?.result ?? null;
  }

  /** dom0's own operations: grant, foreign-page and event-channel calls on the service. */
  private readonly ops: Partial<OpTable<Result>> = {
    mapForeign: (a) => ({ rc: 0, page: this.service.mapForeign(a.domid, a.mfn) }),
    unmapForeign: (a) => {
      this.service.unmapForeign(a.mfn);
      return { rc: 0 };
    },
    grantMap: (g) => {
      const r = this.service.mapGrant(g.domid, g.ref, g.readonly ?? false);
      if (!r.page) return { rc: 0, grant: { status: r.status } };
      return { rc: 0, grant: { status: r.status, handle: r.handle, mfn: r.mfn, page: r.page } };
    },
    grantUnmap: (a) => ({ rc: 0, grant: { status: this.service.unmapGrant(a.handle) } }),
    grantCopy: (c) => {
      if (c.data && c.data.length) return { rc: 0, grant: { status: this.service.copyToGrant(c.domid, c.ref, c.offset, c.data) } };
      const r = this.service.copyFromGrant(c.domid, c.ref, c.offset, c.len ?? 0);
      return { rc: 0, grant: { status: r.status, data: r.data } };
    },
    bindInterdomain: (a) => ({ rc: 0, port: this.service.bindInterdomain(a.domid, a.remotePort) }),
    evtchnSend: (a) => {
      const rc = this.service.send(a.port);
      return rc < 0 ? { rc, error: `send on port ${a.port} failed` } : { rc: 0 };
    },
    evtchnClose: (a) => {
      this.prefetchRings.delete(a.port);
      const rc = this.service.close(a.port);
      return rc < 0 ? { rc, error: `close of port ${a.port} failed` } : { rc: 0 };
    },
    pageWrite: () => ({ rc: 0 }), // its writes were applied ahead of it
    dmMapRam: (a) => ({ rc: 0, dmRam: this.dmMapRam(a.domid, a.gfn ?? 0, a.count ?? 0) }),
    dmIoreqServer: (a) => {
      this.dmIoreqServer(a.domid, a.base, a.size);
      return { rc: 0 };
    },
  };
}
