// Backend rings as a trace sees them. Xen has no notion of a ring; its backends do. pvsim
// finds them as dom0 connects a device: the pages dom0 grant-maps from a domain and then
// the channel it binds to it (Linux's blkback and netback map the ring, then bind). A page
// counts as a ring when its header is a freshly initialised shared ring (req_event =
// rsp_event = 1, no request answered yet). Then at every event on that channel, either way,
// the ring's req_prod and rsp_prod go into a side record: requests published, answered, and
// the occupancy between. Kept only while a trace file is asked for (TraceBuffer.detail).

import { TRC, type TraceBuffer } from './trace.ts';

/** Ring kinds in PVSIM_RING_ADD (data word 3). */
export const TRACE_RING_KIND = { unknown: 0, blkif: 1, netif_tx: 2, netif_rx: 3 } as const;

/** Rings tracked at most (a bound on what hostile toolstack traffic can make us keep). */
const MAX_RINGS = 4096;
/** Pages remembered per domain while waiting for the bind. */
const MAX_CANDIDATES = 2;

interface Ring {
  domid: number;
  fePort: number;
  mfn: number;
  kind: number;
}

export class TraceRings {
  private readonly candidates = new Map<number, number[]>();
  /** "domid:port" (either end of the channel) -> its rings. */
  private readonly byPort = new Map<string, Ring[]>();
  private count = 0;

  constructor(
    private readonly trace: TraceBuffer,
    private readonly read32: (pa: number) => number | null,
    private readonly pageSize: number,
  ) {}

  /** dom0 grant-mapped `mfn` of `domid`. */
  mapped(domid: number, mfn: number): void {
    if (!this.trace.detail) return;
    const header = [0, 4, 8, 12].map((o) => this.read32(mfn * this.pageSize + o));
    // SHARED_RING_INIT: req_event = rsp_event = 1; nothing answered yet.
    if (header[1] !== 1 || header[3] !== 1 || header[2] !== 0) return;
    const l = this.candidates.get(domid) ?? [];
    l.push(mfn);
    if (l.length > MAX_CANDIDATES) l.shift();
    this.candidates.set(domid, l);
  }

  /** dom0 bound its `port` to `fePort` of `domid`: the pages mapped just before are that device's rings. */
  bound(time: number, domid: number, fePort: number, port: number): void {
    const l = this.candidates.get(domid);
    this.candidates.delete(domid);
    if (!this.trace.detail || !l || this.count + l.length > MAX_RINGS) return;
    const kinds = l.length === 2 ? [TRACE_RING_KIND.netif_tx, TRACE_RING_KIND.netif_rx] : [TRACE_RING_KIND.blkif];
    const rings = l.map((mfn, i) => ({ domid, fePort, mfn, kind: kinds[i]! }));
    this.count += rings.length;
    this.byPort.set(`${domid}:${fePort}`, rings);
    this.byPort.set(`0:${port}`, rings);
    for (const r of rings) this.trace.side(time, -1, TRC.PVSIM_RING_ADD, r.domid, r.fePort, r.mfn, r.kind);
  }

  /** `domid` is gone: its rings with it (its domid and frames may be reused). */
  forget(domid: number): void {
    this.candidates.delete(domid);
    for (const [k, rings] of this.byPort) {
      if (rings[0]?.domid !== domid) continue;
      this.byPort.delete(k);
      this.count -= k.startsWith('0:') ? 0 : rings.length;
    }
  }

  /** An event on `port` of `domid`: the indices of the rings behind it. */
  event(time: number, pcpu: number, domid: number, port: number): void {
    const rings = this.byPort.get(`${domid}:${port}`);
    if (!rings) return;
    for (const r of rings) {
      const pa = r.mfn * this.pageSize;
      const reqProd = this.read32(pa);
      const rspProd = this.read32(pa + 8);
      if (reqProd === null || rspProd === null) continue;
      this.trace.side(time, pcpu, TRC.PVSIM_RING_INDEX, r.domid, r.fePort, r.mfn, reqProd, rspProd);
    }
  }
}
