// netback's data path for one vif: the frontend's tx and rx rings (xen/io/netif.h), one
// event channel for both. Data moves only by grant copy (no mapping of guest buffers).
//
//   tx  guest -> bridge. A packet is one or more netif_tx_requests: NETTXF_more_data on
//       every slot but the last; the first slot's `size` is the whole packet's length, each
//       later slot's its own (so the first fragment holds first.size - sum(later sizes)).
//       NETTXF_extra_info on the first slot: netif_extra_info slots follow it (answered
//       NETIF_RSP_NULL). Every consumed slot gets exactly one response: OKAY for each slot
//       of a good packet, ERROR for each slot of a bad one.
//   rx  bridge -> guest. The frontend posts netif_rx_requests {id, gref}; a frame is copied
//       into the posted page at offset 0 and answered {id, 0, flags, status = length}. A
//       frame over one page spans several slots (NETRXF_more_data) when the frontend offered
//       feature-sg, and is dropped otherwise. Frames wait in a bounded queue for buffers;
//       the rx ring's req_event asks the frontend to notify when it posts enough of them.
//
// A hostile frontend gets error responses; nothing it writes makes this throw or touches
// another vif. A frontend that pushes req_prod past the ring is halted, as Xen's is.

import { OnePassAtATime } from '../one_pass.ts';
import { BackRing, SharedRing } from '../../../protocol/ring.ts';
import { writeStruct } from '../../../protocol/guest_memory.ts';
import {
  NETIF_RSP,
  NETIF_RX_RESPONSE,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_RESPONSE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETRXF,
  NETTXF,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
  readNetifExtraInfo,
  readNetifRxRequest,
  readNetifTxRequest,
  writeNetifRxResponse,
  writeNetifTxResponse,
  type NetifTxRequest,
} from '../../../protocol/xen/netif.ts';
import { GNTST } from '../../../protocol/xen/grant_table.ts';
import type { Dom0Platform, MappedPage } from '../../platform.ts';
import { copyOut, int16le } from '../copy_out.ts';
import { ETH_HLEN, type BridgePort } from './bridge.ts';
import { completePartialChecksum } from './csum.ts';
import { PAGE_SIZE as XEN_PAGE_SIZE } from '../../../protocol/xen/xen.ts';

/** Frames a vif keeps waiting for rx buffers; beyond, new frames are dropped (rx_dropped). */
export const RX_QUEUE_MAX = 256;
/**
 * A frame that has waited this long (virtual time) for rx buffers is dropped, with every
 * other frame as old: a frontend that stops posting buffers does not keep stale traffic
 * queued (Linux netback's rx_drain_timeout_msecs, 10 s).
 */
export const RX_DRAIN_NS = 10e9;
/** Extra-info slots one tx packet may carry (one of each type at most). */
const MAX_EXTRAS = XEN_NETIF_EXTRA_TYPE.MAX - 1;

/** Per-vif counters, from the guest's point of view (tx = sent by the guest), as xentop shows them. */
export interface NetbackStats {
  tx_packets: number;
  tx_bytes: number;
  /** tx packets answered NETIF_RSP_ERROR. */
  tx_errors: number;
  rx_packets: number;
  rx_bytes: number;
  /** Frames for the guest that were not delivered: no room in the queue, too big without feature-sg, vif halted. */
  rx_dropped: number;
  /** rx slots answered NETIF_RSP_ERROR (a posted buffer whose grant would not take the copy). */
  rx_errors: number;
}

export function emptyNetStats(): NetbackStats {
  return { tx_packets: 0, tx_bytes: 0, tx_errors: 0, rx_packets: 0, rx_bytes: 0, rx_dropped: 0, rx_errors: 0 };
}

export interface VifOptions {
  /** `vif<domid>.<devid>`, as Xen names the backend interface. */
  name: string;
  /** The frontend's feature-sg: rx frames may span several slots. */
  sg: boolean;
  /** A good tx frame (to the bridge); `validated` when its checksum is known good (see deliver). */
  onFrame: (frame: Uint8Array, validated: boolean) => void | Promise<void>;
  rxQueueMax?: number;
}

/** One consumed tx slot: a data request or an extra-info slot. */
type TxSlot = { extra: false; req: NetifTxRequest } | { extra: true };

export class NetbackVif implements BridgePort {
  readonly name: string;
  readonly tx: BackRing;
  readonly rx: BackRing;
  readonly stats: NetbackStats = emptyNetStats();
  lastError = '';
  /** The frontend broke a ring's rules; the vif is served no more (as Xen's netback). */
  halted = false;
  private closed = false;
  private readonly rxQueue: { frame: Uint8Array; validated: boolean; at: number }[] = [];
  private readonly rxQueueMax: number;
  /** A packet found bad before its last slot was published: its remaining slots are answered ERROR as they come. */
  /**
   * The rest of a bad packet still to be answered ERROR as its slots come: `extras` while
   * inside its extra-info chain (those slots are netif_extra_info, answered NULL), then
   * `data` while its fragments continue (NETTXF_more_data).
   */
  private txSkip: { extras: boolean; dataFollows: boolean } | null = null;
  /**
   * Private copies of the tx slots from req_cons on that have been read (BackRing.copyRequest),
   * kept until consumed: a packet whose last slot is published in a later pass is not read
   * from the shared ring again, so what is checked and sent is what was first read (XSA-155).
   * At most the ring's size.
   */
  private readonly txCopies: Uint8Array[] = [];
  private readonly passes = new OnePassAtATime(() => this.servicePass(), () => !this.halted && !this.closed);

  constructor(
    private readonly platform: Dom0Platform,
    readonly domid: number,
    private readonly txPage: MappedPage,
    private readonly rxPage: MappedPage,
    readonly port: number,
    private readonly opts: VifOptions,
  ) {
    this.name = opts.name;
    this.rxQueueMax = opts.rxQueueMax ?? RX_QUEUE_MAX;
    this.tx = new BackRing(new SharedRing(txPage.mem, NETIF_TX_RING_ENTRY_SIZE));
    this.rx = new BackRing(new SharedRing(rxPage.mem, NETIF_RX_RING_ENTRY_SIZE));
    // Transmitted packets' data with the dispatch (dom0 as a process): no batch round trip each.
    platform.prefetchRing?.(port, domid, txPage, 'netifTx');
  }

  get sg(): boolean {
    return this.opts.sg;
  }

  /** Frames waiting for rx buffers. */
  get rxQueued(): number {
    return this.rxQueue.length;
  }

  /**
   * A frame from the bridge for this guest: queued, then delivered as far as buffers allow.
   * `validated`: its sender's checksum is known good (the sender asked netback to fill it in,
   * or said it was validated), so the guest is told NETRXF_data_validated; a frame a guest
   * sent without either is passed on unvouched for, as Linux's netback does.
   */
  async deliver(frame: Uint8Array, validated = false): Promise<void> {
    if (this.halted || this.closed || (!this.opts.sg && frame.length > XEN_PAGE_SIZE) || this.rxQueue.length >= this.rxQueueMax) {
      this.stats.rx_dropped++;
      return;
    }
    this.drainStale();
    this.rxQueue.push({ frame, validated, at: this.now() });
    await this.service();
  }

  private now(): number {
    return typeof this.platform.now === 'function' ? this.platform.now() : 0;
  }

  /** Drops queued frames that waited RX_DRAIN_NS or more for buffers. */
  private drainStale(): void {
    const t = this.now();
    while (this.rxQueue.length > 0 && t - this.rxQueue[0]!.at >= RX_DRAIN_NS) {
      this.rxQueue.shift();
      this.stats.rx_dropped++;
    }
  }

  /**
   * Stops serving (the frontend disconnected): takes no further request, drops queued
   * frames, and resolves once the pass under way (if any) is done, the packet or frame it
   * was serving answered while the rings are still mapped and the port still bound. The
   * caller unmaps only after: a pass awaiting a grant copy would otherwise write its
   * responses to pages dom0 no longer maps (as blkback's stop).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stats.rx_dropped += this.rxQueue.length;
    this.rxQueue.length = 0;
    await this.passes.idle();
  }

  /**
   * Serves both rings. An event (or a frame from the bridge) that arrives while a pass
   * awaits a grant copy asks for one more pass instead of starting a second one, which
   * would take the same unconsumed request again.
   */
  async service(): Promise<void> {
    try {
      await this.passes.run();
    } catch (e) {
      // Only the platform can throw here (a lost hypervisor); nothing a frontend writes does.
      this.halted = true;
      this.lastError = `halted: ${(e as Error).message}`;
    }
  }

  private async servicePass(): Promise<void> {
    for (;;) {
      if (this.halted || this.closed) return;
      if (this.tx.requestProdOverflow() || this.rx.requestProdOverflow()) {
        const which = this.tx.requestProdOverflow() ? 'tx' : 'rx';
        this.halted = true;
        this.lastError = `frontend published ${which} req_prod ${(which === 'tx' ? this.tx : this.rx).sring.reqProd} past the ring; halting the vif`;
        this.stats.rx_dropped += this.rxQueue.length;
        this.rxQueue.length = 0;
        return;
      }
      const txWaiting = await this.txWork();
      await this.rxWork();
      const txNotify = this.tx.pushResponsesAndCheckNotify();
      const rxNotify = this.rx.pushResponsesAndCheckNotify();
      if (txNotify || rxNotify) await this.platform.notify(this.port);
      if (this.closed) return;
      let more: boolean;
      if (txWaiting) {
        // A packet's last slot is not published yet: be told when req_prod moves on.
        const seen = this.tx.sring.reqProd;
        this.tx.sring.reqEvent = seen + 1;
        more = this.tx.sring.reqProd !== seen;
      } else more = this.tx.finalCheckForRequests();
      if (this.rxQueue.length > 0) {
        // Frames wait for buffers: ask to be notified once enough are posted (feature-rx-notify).
        const need = this.slotsFor(this.rxQueue[0]!.frame);
        if (this.rx.unconsumedRequests() >= need) more = true;
        else {
          this.rx.sring.reqEvent = this.rx.reqCons + need;
          if (this.rx.unconsumedRequests() >= need) more = true;
        }
      }
      if (!more) return;
    }
  }

  // --- tx --------------------------------------------------------------------------------

  /** Consumes every complete packet published; true if it stopped at an incomplete one. */
  private async txWork(): Promise<boolean> {
    for (;;) {
      if (this.closed) return false;
      const avail = this.tx.unconsumedRequests();
      if (avail === 0) return false;
      if (this.txSkip) {
        const slot = this.txSlot(0);
        this.txConsumed();
        if (this.txSkip.extras) {
          const e = readNetifExtraInfo(slot, 0);
          this.txRespond(0, NETIF_RSP.NULL);
          if (!(e.flags & XEN_NETIF_EXTRA_FLAG_MORE)) this.txSkip = this.txSkip.dataFollows ? { extras: false, dataFollows: true } : null;
        } else {
          const req = readNetifTxRequest(slot, 0);
          this.txRespond(req.id, NETIF_RSP.ERROR);
          if (!(req.flags & NETTXF.more_data)) this.txSkip = null;
        }
        continue;
      }
      const p = this.gatherTx(avail);
      if (p.incomplete && !p.error) return true;
      let frame: Uint8Array | null = null;
      let error = p.error;
      if (!error) {
        const r = await this.buildFrame(p.slots);
        if (typeof r === 'string') error = r;
        else frame = r;
      }
      // One response per slot, in ring order.
      for (const s of p.slots) {
        this.txConsumed();
        if (s.extra) this.txRespond(0, NETIF_RSP.NULL);
        else this.txRespond(s.req.id, error ? NETIF_RSP.ERROR : NETIF_RSP.OKAY);
      }
      if (error) {
        this.stats.tx_errors++;
        this.lastError = error;
        if (p.incomplete) this.txSkip = { extras: p.inExtras, dataFollows: p.inExtras ? (p.slots[0]!.extra ? false : (p.slots[0]!.req.flags & NETTXF.more_data) !== 0) : true };
        continue;
      }
      this.stats.tx_packets++;
      this.stats.tx_bytes += frame!.length;
      const first = p.slots[0]!;
      const flags = first.extra === false ? first.req.flags : 0;
      if (flags & NETTXF.csum_blank) completePartialChecksum(frame!);
      try {
        await this.opts.onFrame(frame!, (flags & (NETTXF.csum_blank | NETTXF.data_validated)) !== 0);
      } catch {
        // the bridge's trouble is not the frontend's
      }
    }
  }

  /**
   * The tx slot `ahead` past req_cons (ahead < unconsumedRequests()), from its private copy:
   * the shared slot is copied the first time it is looked at, never read again.
   */
  private txSlot(ahead: number): DataView {
    while (this.txCopies.length <= ahead) this.txCopies.push(this.tx.copyRequest(this.txCopies.length));
    const c = this.txCopies[ahead]!;
    return new DataView(c.buffer, c.byteOffset, c.byteLength);
  }

  /** req_cons moves past the oldest slot; its copy goes with it. */
  private txConsumed(): void {
    this.tx.consumed();
    this.txCopies.shift();
  }

  /**
   * Looks at (without consuming) the slots of the packet at req_cons, each read from the
   * ring once (txSlot), even when the packet is completed in a later pass.
   * `incomplete`: its last slot is not published yet. `error`: the packet is bad (then all
   * slots read so far are to be answered ERROR).
   */
  private gatherTx(avail: number): { slots: TxSlot[]; incomplete: boolean; inExtras: boolean; error?: string } {
    const slots: TxSlot[] = [];
    const first = readNetifTxRequest(this.txSlot(0), 0);
    slots.push({ extra: false, req: first });
    let i = 1;
    let error: string | undefined;
    if (first.flags & NETTXF.extra_info) {
      for (let n = 0; ; n++) {
        if (i >= avail) return { slots, incomplete: true, inExtras: true, error };
        const e = readNetifExtraInfo(this.txSlot(i++), 0);
        slots.push({ extra: true });
        if (!error) {
          if (n >= MAX_EXTRAS) error = `more than ${MAX_EXTRAS} extra-info slots`;
          else if (e.type === XEN_NETIF_EXTRA_TYPE.NONE || e.type >= XEN_NETIF_EXTRA_TYPE.MAX) error = `extra-info type ${e.type}`;
          else if (e.type === XEN_NETIF_EXTRA_TYPE.GSO) error = 'GSO packet (feature-gso-tcpv4/6 not offered)';
          // MCAST_ADD/DEL (no multicast control offered) and HASH carry nothing for us: ignored.
        }
        if (!(e.flags & XEN_NETIF_EXTRA_FLAG_MORE)) break;
      }
    }
    let flags = first.flags;
    let data = 1;
    while (flags & NETTXF.more_data) {
      if (i >= avail) {
        // The whole ring is published and the packet still has not ended: it never will fit.
        if (avail >= this.tx.size) error ??= `a packet of more than ${this.tx.size} slots`;
        return { slots, incomplete: true, inExtras: false, error };
      }
      const r = readNetifTxRequest(this.txSlot(i++), 0);
      slots.push({ extra: false, req: r });
      flags = r.flags;
      if (++data > XEN_NETIF_NR_SLOTS_MIN) error ??= `a packet of more than ${XEN_NETIF_NR_SLOTS_MIN} slots`;
    }
    return { slots, incomplete: false, inExtras: false, error };
  }

  /** Checks a whole packet's slots and copies its fragments out; the frame, or why it is bad. */
  private async buildFrame(slots: TxSlot[]): Promise<Uint8Array | string> {
    const reqs = slots.flatMap((s) => (s.extra ? [] : [s.req]));
    const total = reqs[0]!.size;
    let rest = 0;
    for (const r of reqs.slice(1)) rest += r.size;
    if (rest > total) return `fragment sizes ${rest} exceed the packet size ${total} in the first slot`;
    if (total < ETH_HLEN) return `a ${total}-byte frame (less than an Ethernet header)`;
    if (total > XEN_NETIF_MAX_TX_SIZE) return `a ${total}-byte packet`;
    const frags = reqs.map((r, k) => ({ gref: r.gref, offset: r.offset, len: k === 0 ? total - rest : r.size }));
    for (const f of frags) if (f.offset + f.len > XEN_PAGE_SIZE) return `fragment at offset ${f.offset}, ${f.len} bytes, crosses its page`;
    const frame = new Uint8Array(total);
    let pos = 0;
    // Every fragment in one GNTTABOP_copy batch (one round trip across the process boundary).
    const copies = frags.filter((f) => f.len > 0);
    const results = await this.platform.copyGrants(copies.map((f) => ({ to: false as const, domid: this.domid, ref: f.gref, offset: f.offset, len: f.len })));
    for (let k = 0; k < copies.length; k++) {
      const f = copies[k]!;
      const r = results[k]!;
      if (r.status !== GNTST.okay || r.data.length !== f.len) return `grant ${f.gref}: copy status ${r.status}`;
      frame.set(r.data, pos);
      pos += f.len;
    }
    return frame;
  }

  private txRespond(id: number, status: number): void {
    const off = this.tx.nextResponse();
    writeStruct(this.txPage.mem, off, NETIF_TX_RESPONSE.SIZE, (dv) => writeNetifTxResponse(dv, 0, { id, status }));
    this.tx.produced();
  }

  // --- rx --------------------------------------------------------------------------------

  /** rx slots a frame needs. */
  private slotsFor(frame: Uint8Array): number {
    return Math.max(1, Math.ceil(frame.length / XEN_PAGE_SIZE));
  }

  /** Delivers queued frames while the frontend has posted enough buffers for the next one. */
  private async rxWork(): Promise<void> {
    this.drainStale();
    // Every frame that has buffers now, its chunks copied into them and answered in ring
    // order; the copies are not waited for (across the process boundary they ride in the
    // dispatch's answer: no round trip of their own).
    const planned: { frame: Uint8Array; validated: boolean; slots: { req: ReturnType<typeof readNetifRxRequest>; chunk: Uint8Array }[] }[] = [];
    while (this.rxQueue.length > 0 && !this.closed) {
      const { frame, validated } = this.rxQueue[0]!;
      const need = this.slotsFor(frame);
      if (this.rx.unconsumedRequests() < need) break;
      this.rxQueue.shift();
      const slots = [];
      for (let s = 0, pos = 0; s < need; s++) {
        // One read of the slot (a private copy), then it is consumed.
        const copy = this.rx.copyRequest();
        const req = readNetifRxRequest(new DataView(copy.buffer, copy.byteOffset, copy.byteLength), 0);
        this.rx.consumed();
        const chunk = frame.subarray(pos, Math.min(pos + XEN_PAGE_SIZE, frame.length));
        pos += chunk.length;
        slots.push({ req, chunk });
      }
      planned.push({ frame, validated, slots });
    }
    if (!planned.length) return;
    // Status patches for copies not waited for go after all the responses (one span).
    const patches: (() => void)[] = [];
    for (const { frame, validated, slots } of planned) {
      const need = slots.length;
      let ok = true;
      // A slot's copy failure reported later (dom0 as a process): the frame was counted
      // delivered, and is moved to the dropped ones once.
      let counted = false;
      const lateFailure = (gref: number) => (failed: boolean) => {
        if (!failed) return;
        this.stats.rx_errors++;
        this.lastError = `rx buffer grant ${gref}: copy failed`;
        if (counted) {
          counted = false;
          this.stats.rx_packets--;
          this.stats.rx_bytes -= frame.length;
          this.stats.rx_dropped++;
        }
      };
      for (let s = 0; s < need; s++) {
        const { req, chunk } = slots[s]!;
        // Each slot's copy is not waited for (with dom0 as a process it travels with the
        // dispatch's answer): a failed one turns its response's status into an error there.
        const t = await copyOut(this.platform, [{ domid: this.domid, ref: req.gref, offset: 0, data: chunk }]);
        if (t.failed === true) {
          ok = false;
          this.stats.rx_errors++;
          this.lastError = `rx buffer grant ${req.gref}: copy failed`;
        }
        // As Linux's netback: the checksum flag (when vouched for) on the first slot, more_data on all but the last.
        const flags = (s === 0 && validated ? NETRXF.data_validated : 0) | (s < need - 1 ? NETRXF.more_data : 0);
        const off = this.rx.nextResponse();
        const rsp = { id: req.id, offset: 0, flags, status: t.failed === true ? NETIF_RSP.ERROR : chunk.length };
        writeStruct(this.rxPage.mem, off, NETIF_RX_RESPONSE.SIZE, (dv) => writeNetifRxResponse(dv, 0, rsp));
        if (t.failed === null) {
          patches.push(() => t.onFail(this.rxPage.mem, off + NETIF_RX_RESPONSE.status, int16le(NETIF_RSP.ERROR)));
          t.onSettled(lateFailure(req.gref));
        }
        this.rx.produced();
      }
      counted = ok;
      if (ok) {
        this.stats.rx_packets++;
        this.stats.rx_bytes += frame.length;
      } else this.stats.rx_dropped++;
    }
    for (const p of patches) p();
  }
}
