// Backends read each request slot of a shared ring once (issue 10, point 5; Xen's XSA-155):
// a frontend may rewrite a slot it published at any moment, so a backend that reads it twice
// can validate one request and carry out another. Here a hostile frontend rewrites the slot
// (and the indirect page) as soon as the backend reads it a second time and again while the
// backend awaits its grant copies; the backends must act on what they read first, and every
// byte of every request slot must be read once only.
//
// How reads are seen: the ring pages live in their own ArrayBuffers, and while a pass runs
// DataView's getters, %TypedArray%.prototype.slice/set and ArrayBuffer.prototype.slice are
// wrapped to report reads of those buffers before they happen (the hostile rewrite goes in
// between). Indexed element reads (page[i]) cannot be seen; no backend code reads rings so.

import { describe, expect, it } from 'vitest';
import { BlkbackRing } from '../../dom0/backends/blk/blkback.ts';
import type { BlockStore } from '../../dom0/backends/blk/store.ts';
import { NetbackVif } from '../../dom0/backends/net/netback.ts';
import type { Dom0Platform, GrantCopyOp, GrantCopyResult, MappedPage } from '../../dom0/platform.ts';
import { ByteMemory } from '../../protocol/guest_memory.ts';
import { FrontRing, RING_HEADER_BYTES, SharedRing } from '../../protocol/ring.ts';
import {
  BLKIF_OP,
  BLKIF_REQUEST_SEGMENT,
  BLKIF_RING_ENTRY_SIZE,
  BLKIF_RSP,
  readBlkifResponse,
  writeBlkifRequest,
  writeBlkifRequestDiscard,
  writeBlkifRequestIndirect,
  writeBlkifSegment,
  type BlkifRequest,
} from '../../protocol/xen/blkif.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';
import {
  NETIF_RSP,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETTXF,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE,
  readNetifRxResponse,
  readNetifTxResponse,
  writeNetifExtraInfo,
  writeNetifRxRequest,
  writeNetifTxRequest,
} from '../../protocol/xen/netif.ts';

const PAGE = 4096;
const SECTOR = 512;

/** Reads of `page` (its own ArrayBuffer), per byte, while `on`; `beforeRead` runs before each. */
class ReadWatch {
  on = false;
  readonly count = new Uint16Array(PAGE);
  beforeRead: (off: number, len: number) => void = () => {};

  constructor(readonly page: Uint8Array) {}

  seen(buffer: ArrayBufferLike, byteOff: number, len: number): void {
    if (!this.on || buffer !== this.page.buffer || len <= 0) return;
    const off = byteOff - this.page.byteOffset;
    this.beforeRead(off, len);
    for (let i = Math.max(0, off); i < Math.min(PAGE, off + len); i++) this.count[i]!++;
  }

  /** Most reads of any byte of [off, off+len). */
  maxReads(off: number, len: number): number {
    return Math.max(...this.count.subarray(off, off + len));
  }

  /** Fewest reads of any byte of [off, off+len). */
  minReads(off: number, len: number): number {
    return Math.min(...this.count.subarray(off, off + len));
  }

  reset(off: number, len: number): void {
    this.count.fill(0, off, off + len);
  }
}

/** Wraps the read paths of DataView, typed arrays and ArrayBuffer for `watches`; returns the undo. */
function instrumentReads(watches: ReadWatch[]): () => void {
  const undo: (() => void)[] = [];
  const seen = (buffer: ArrayBufferLike, off: number, len: number) => {
    for (const w of watches) w.seen(buffer, off, len);
  };
  const wrap = <T extends object>(proto: T, name: string, report: (self: never, args: never[]) => void) => {
    const orig = Reflect.get(proto, name) as (...a: unknown[]) => unknown;
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: function (this: never, ...args: never[]) {
        report(this, args);
        return orig.apply(this, args);
      },
    });
    undo.push(() => Object.defineProperty(proto, name, { configurable: true, writable: true, value: orig }));
  };
  const sizes: Record<string, number> = { getInt8: 1, getUint8: 1, getInt16: 2, getUint16: 2, getInt32: 4, getUint32: 4, getFloat32: 4, getFloat64: 8, getBigInt64: 8, getBigUint64: 8 };
  for (const [name, n] of Object.entries(sizes)) wrap(DataView.prototype, name, (dv: DataView, [off]: number[]) => seen(dv.buffer, dv.byteOffset + off!, n));
  const typed = Object.getPrototypeOf(Uint8Array.prototype) as object;
  const clamp = (v: number | undefined, dflt: number, n: number) => (v === undefined ? dflt : v < 0 ? Math.max(0, n + v) : Math.min(v, n));
  wrap(typed, 'slice', (a: Uint8Array, [s, e]: number[]) => {
    const b = clamp(s, 0, a.length);
    const f = clamp(e, a.length, a.length);
    seen(a.buffer, a.byteOffset + b * a.BYTES_PER_ELEMENT, (f - b) * a.BYTES_PER_ELEMENT);
  });
  wrap(typed, 'set', (_a: Uint8Array, [src]: ArrayLike<number>[]) => {
    if (ArrayBuffer.isView(src)) seen(src.buffer, src.byteOffset, src.byteLength);
  });
  wrap(ArrayBuffer.prototype, 'slice', (b: ArrayBuffer, [s, e]: number[]) => {
    const x = clamp(s, 0, b.byteLength);
    seen(b, x, clamp(e, b.byteLength, b.byteLength) - x);
  });
  return () => undo.reverse().forEach((u) => u());
}

/** Runs `f` with the watches on and the read paths wrapped. */
async function watched<T>(watches: ReadWatch[], f: () => Promise<T>): Promise<T> {
  const undo = instrumentReads(watches);
  for (const w of watches) w.on = true;
  try {
    return await f();
  } finally {
    for (const w of watches) w.on = false;
    undo();
  }
}

/** A page of its own (its own ArrayBuffer, so its reads can be told apart). */
const ownPage = () => new Uint8Array(new ArrayBuffer(PAGE));

/** Dom0's platform played by the test: grants are pages by reference; hooks around copies. */
class FakePlatform implements Dom0Platform {
  readonly grants = new Map<number, Uint8Array>();
  readonly copiesFrom = new Map<number, number>();
  /** Runs while a grant copy is under way (the frontend may change its pages meanwhile). */
  duringCopy: (ref: number, dir: 'to' | 'from') => void = () => {};
  notified = 0;
  private handles = 1;

  page(ref: number): Uint8Array {
    const p = ownPage();
    this.grants.set(ref, p);
    return p;
  }
  mapped(ref: number): MappedPage {
    return { mem: new ByteMemory(this.grants.get(ref)!), unmap: () => {} };
  }
  mapForeign(): Promise<MappedPage> {
    return Promise.reject(new Error('not here'));
  }
  bindInterdomain(): Promise<number> {
    return Promise.resolve(5);
  }
  onEvent(): void {}
  notify(): void {
    this.notified++;
  }
  closePort(): void {}
  async mapGrant(_domid: number, ref: number): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    return this.grants.has(ref) ? { status: GNTST.okay, handle: this.handles++, page: this.mapped(ref) } : { status: GNTST.bad_gntref, handle: -1, page: null };
  }
  async unmapGrant(): Promise<number> {
    return GNTST.okay;
  }
  /** A batch as its entries one by one, in order (as Xen carries out GNTTABOP_copy). */
  async copyGrants(ops: readonly GrantCopyOp[]): Promise<GrantCopyResult[]> {
    const out: GrantCopyResult[] = [];
    for (const o of ops) out.push(o.to ? { status: await this.copyToGrant(o.domid, o.ref, o.offset, o.data), data: new Uint8Array(0) } : await this.copyFromGrant(o.domid, o.ref, o.offset, o.len));
    return out;
  }
  async copyToGrant(_domid: number, ref: number, offset: number, data: Uint8Array): Promise<number> {
    await Promise.resolve();
    this.duringCopy(ref, 'to');
    const p = this.grants.get(ref);
    if (!p || offset + data.length > PAGE) return GNTST.bad_gntref;
    p.set(data, offset);
    return GNTST.okay;
  }
  async copyFromGrant(_domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    const p = this.grants.get(ref);
    if (!p || offset + len > PAGE) return { status: GNTST.bad_gntref, data: new Uint8Array(0) };
    this.copiesFrom.set(ref, (this.copiesFrom.get(ref) ?? 0) + 1);
    const data = p.slice(offset, offset + len);
    await Promise.resolve();
    this.duringCopy(ref, 'from'); // the copy is taken: changing the page now is too late for it
    return { status: GNTST.okay, data };
  }
  now(): number {
    return 0;
  }
}

/** A disk in memory that records every write and discard. */
class MemDisk implements BlockStore {
  readonly path = 'mem';
  readonly readonly = false;
  readonly identity = 'mem';
  readonly data: Uint8Array;
  readonly writes: { sector: number; bytes: number }[] = [];
  readonly discards: { sector: number; count: number }[] = [];
  constructor(readonly sectors: number) {
    this.data = Uint8Array.from({ length: sectors * SECTOR }, (_, i) => (i >> 9) * 13 + (i & 0xff));
  }
  read(sector: number, bytes: number): Uint8Array {
    return this.data.slice(sector * SECTOR, sector * SECTOR + bytes);
  }
  write(sector: number, data: Uint8Array): void {
    this.writes.push({ sector, bytes: data.length });
    this.data.set(data, sector * SECTOR);
  }
  discard(sector: number, count: number): void {
    this.discards.push({ sector, count });
  }
  flush(): void {}
  close(): void {}
}

function blkSetup() {
  const platform = new FakePlatform();
  const ringPage = platform.page(1);
  const sring = new SharedRing(ringPage, BLKIF_RING_ENTRY_SIZE);
  sring.init();
  const front = new FrontRing(sring);
  const dv = new DataView(ringPage.buffer);
  const disk = new MemDisk(64);
  const back = new BlkbackRing(platform, 3, platform.mapped(1), 5, disk);
  const watch = new ReadWatch(ringPage);
  const slotOf = (off: number) => Math.floor((off - RING_HEADER_BYTES) / BLKIF_RING_ENTRY_SIZE);
  /** Queues a request written by `write` into the next slot; returns its slot's offset. */
  const put = (write: (off: number) => void) => {
    const off = front.nextRequest();
    write(off);
    watch.reset(off, BLKIF_RING_ENTRY_SIZE); // a new request: its reads are counted afresh
    front.produced();
    return off;
  };
  const responses = () => {
    const out = [];
    while (front.unconsumedResponses() > 0) {
      out.push(readBlkifResponse(dv, front.nextResponse()));
      front.consumed();
    }
    return out;
  };
  return { platform, ringPage, front, dv, disk, back, watch, slotOf, put, responses };
}

describe('blkback reads each request slot once', () => {
  // The hostile rewrite: what the frontend puts in the slot once the backend has read it.
  const rewrites: [string, BlkifRequest][] = [
    ['a WRITE of sector 2^40, 11 segments', { operation: BLKIF_OP.WRITE, nr_segments: 11, handle: 0, id: 666n, sector_number: 1n << 40n, seg: Array.from({ length: 11 }, () => ({ gref: 20, first_sect: 0, last_sect: 7 })) }],
    ['a WRITE of sector 2 (valid on its own)', { operation: BLKIF_OP.WRITE, nr_segments: 1, handle: 0, id: 666n, sector_number: 2n, seg: [{ gref: 20, first_sect: 0, last_sect: 7 }] }],
  ];

  it.each(rewrites)('a validated READ of sector 0 is carried out as read, though the frontend rewrites its slot to %s', async (_what, hostile) => {
    const { platform, front, dv, disk, back, watch, put, responses } = blkSetup();
    const data = platform.page(10);
    platform.page(20).fill(0xee);
    const good: BlkifRequest = { operation: BLKIF_OP.READ, nr_segments: 1, handle: 0, id: 7n, sector_number: 0n, seg: [{ gref: 10, first_sect: 0, last_sect: 7 }] };
    const off = put((o) => writeBlkifRequest(dv, o, good));
    front.pushRequestsAndCheckNotify();
    const rewrite = () => writeBlkifRequest(dv, off, hostile);
    // A second read of any byte of the slot sees the hostile request; so does anything read
    // after the backend's first grant copy began (between validation and the I/O).
    watch.beforeRead = (o, len) => {
      if (o < off + BLKIF_RING_ENTRY_SIZE && o + len > off && watch.maxReads(Math.max(o, off), Math.min(o + len, off + BLKIF_RING_ENTRY_SIZE) - Math.max(o, off)) > 0) rewrite();
    };
    platform.duringCopy = rewrite;
    await watched([watch], () => back.service());
    expect(watch.maxReads(off, BLKIF_RING_ENTRY_SIZE)).toBe(1); // one fetch
    expect(responses()).toEqual([{ id: 7n, operation: BLKIF_OP.READ, status: BLKIF_RSP.OKAY }]);
    expect(disk.writes).toEqual([]);
    expect([...data]).toEqual([...disk.data.subarray(0, PAGE)]);
    expect(back.stats).toMatchObject({ reads: 1, writes: 0, errors: 0 });
  });

  it('an indirect READ is carried out as read, though the frontend rewrites its slot and its indirect page; each is read once', async () => {
    const { platform, front, dv, disk, back, watch, put, responses } = blkSetup();
    const data = [platform.page(10), platform.page(11)];
    platform.page(20).fill(0xee);
    const ind = platform.page(30);
    const indDv = new DataView(ind.buffer);
    const segs = (refs: number[]) => refs.forEach((gref, i) => writeBlkifSegment(indDv, i * BLKIF_REQUEST_SEGMENT.SIZE, { gref, first_sect: 0, last_sect: 7 }));
    segs([10, 11]);
    const off = put((o) => writeBlkifRequestIndirect(dv, o, { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.READ, nr_segments: 2, id: 9n, sector_number: 0n, handle: 0, indirect_grefs: [30] }));
    front.pushRequestsAndCheckNotify();
    const rewrite = () => {
      writeBlkifRequestIndirect(dv, off, { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.WRITE, nr_segments: 200, id: 666n, sector_number: 1n << 40n, handle: 0, indirect_grefs: [30, 30] });
      segs(Array.from({ length: 200 }, () => 20)); // and the segments point at the hostile page
    };
    watch.beforeRead = (o, len) => {
      if (o < off + BLKIF_RING_ENTRY_SIZE && o + len > off && watch.maxReads(Math.max(o, off), Math.min(o + len, off + BLKIF_RING_ENTRY_SIZE) - Math.max(o, off)) > 0) rewrite();
    };
    platform.duringCopy = rewrite;
    await watched([watch], () => back.service());
    expect(watch.maxReads(off, BLKIF_RING_ENTRY_SIZE)).toBe(1);
    expect(platform.copiesFrom.get(30)).toBe(1); // the indirect page: one grant copy
    expect(responses()).toEqual([{ id: 9n, operation: BLKIF_OP.READ, status: BLKIF_RSP.OKAY }]);
    expect(disk.writes).toEqual([]);
    expect([...data[0]!, ...data[1]!]).toEqual([...disk.data.subarray(0, 2 * PAGE)]);
  });

  it('every operation (READ, WRITE, FLUSH, DISCARD, INDIRECT, a bad one) reads its slot exactly once', async () => {
    const { platform, front, dv, back, watch, put, responses } = blkSetup();
    platform.page(10);
    const ind = platform.page(30);
    writeBlkifSegment(new DataView(ind.buffer), 0, { gref: 10, first_sect: 0, last_sect: 7 });
    const seg = [{ gref: 10, first_sect: 0, last_sect: 7 }];
    const offs = [
      put((o) => writeBlkifRequest(dv, o, { operation: BLKIF_OP.READ, nr_segments: 1, handle: 0, id: 1n, sector_number: 0n, seg })),
      put((o) => writeBlkifRequest(dv, o, { operation: BLKIF_OP.WRITE, nr_segments: 1, handle: 0, id: 2n, sector_number: 8n, seg })),
      put((o) => writeBlkifRequest(dv, o, { operation: BLKIF_OP.FLUSH_DISKCACHE, nr_segments: 0, handle: 0, id: 3n, sector_number: 0n, seg: [] })),
      put((o) => writeBlkifRequestDiscard(dv, o, { operation: BLKIF_OP.DISCARD, flag: 0, handle: 0, id: 4n, sector_number: 16n, nr_sectors: 8n })),
      put((o) => writeBlkifRequestIndirect(dv, o, { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.READ, nr_segments: 1, id: 5n, sector_number: 0n, handle: 0, indirect_grefs: [30] })),
      put((o) => writeBlkifRequest(dv, o, { operation: BLKIF_OP.WRITE_BARRIER, nr_segments: 1, handle: 0, id: 6n, sector_number: 0n, seg })),
    ];
    front.pushRequestsAndCheckNotify();
    await watched([watch], () => back.service());
    for (const off of offs) {
      expect(watch.minReads(off, BLKIF_RING_ENTRY_SIZE)).toBe(1);
      expect(watch.maxReads(off, BLKIF_RING_ENTRY_SIZE)).toBe(1);
    }
    expect(responses().map((r) => [r.id, r.status])).toEqual([
      [1n, BLKIF_RSP.OKAY],
      [2n, BLKIF_RSP.OKAY],
      [3n, BLKIF_RSP.OKAY],
      [4n, BLKIF_RSP.OKAY],
      [5n, BLKIF_RSP.OKAY],
      [6n, BLKIF_RSP.EOPNOTSUPP],
    ]);
    expect(platform.copiesFrom.get(30)).toBe(1);
  });
});

function netSetup() {
  const platform = new FakePlatform();
  const txRing = platform.page(1);
  const rxRing = platform.page(2);
  const ts = new SharedRing(txRing, NETIF_TX_RING_ENTRY_SIZE);
  ts.init();
  const rs = new SharedRing(rxRing, NETIF_RX_RING_ENTRY_SIZE);
  rs.init();
  const tx = new FrontRing(ts);
  const rx = new FrontRing(rs);
  const txDv = new DataView(txRing.buffer);
  const rxDv = new DataView(rxRing.buffer);
  const frames: Uint8Array[] = [];
  const vif = new NetbackVif(platform, 3, platform.mapped(1), platform.mapped(2), 5, { name: 'vif3.0', sg: true, onFrame: (f) => void frames.push(f) });
  const txWatch = new ReadWatch(txRing);
  const rxWatch = new ReadWatch(rxRing);
  const txPut = (write: (off: number) => void) => {
    const off = tx.nextRequest();
    write(off);
    txWatch.reset(off, NETIF_TX_RING_ENTRY_SIZE);
    tx.produced();
    tx.pushRequestsAndCheckNotify();
    return off;
  };
  const txResponses = () => {
    const out = [];
    while (tx.unconsumedResponses() > 0) {
      out.push(readNetifTxResponse(txDv, tx.nextResponse()));
      tx.consumed();
    }
    return out;
  };
  /** A page of recognisable bytes as grant `ref`. */
  const filled = (ref: number, seed: number) => {
    const p = platform.page(ref);
    for (let i = 0; i < PAGE; i++) p[i] = (i * 7 + seed) & 0xff;
    return p;
  };
  return { platform, tx, rx, txDv, rxDv, frames, vif, txWatch, rxWatch, txPut, txResponses, filled };
}

describe('netback reads each request slot once', () => {
  it('a packet completed in a later pass is sent as first read, though the frontend rewrote its first slot meanwhile', async () => {
    const { platform, txDv, frames, vif, txWatch, txPut, txResponses, filled } = netSetup();
    const a = filled(10, 1);
    const b = filled(11, 2);
    filled(12, 3); // the hostile rewrite's page
    // The first slot of a two-slot packet: the pass finds it incomplete and waits.
    const first = txPut((o) => writeNetifTxRequest(txDv, o, { gref: 10, offset: 0, flags: NETTXF.more_data, id: 1, size: 100 }));
    await watched([txWatch], () => vif.service());
    expect(txResponses()).toEqual([]);
    // Any later read of the first slot, and any read during a grant copy, sees a rewrite.
    const rewrite = () => writeNetifTxRequest(txDv, first, { gref: 12, offset: 8, flags: NETTXF.more_data, id: 1, size: 100 });
    txWatch.beforeRead = (o, len) => {
      if (o < first + NETIF_TX_RING_ENTRY_SIZE && o + len > first) rewrite();
    };
    platform.duringCopy = rewrite;
    const second = txPut((o) => writeNetifTxRequest(txDv, o, { gref: 11, offset: 0, flags: 0, id: 2, size: 40 }));
    await watched([txWatch], () => vif.service());
    expect(txWatch.maxReads(first, NETIF_TX_RING_ENTRY_SIZE)).toBe(1);
    expect(txWatch.maxReads(second, NETIF_TX_RING_ENTRY_SIZE)).toBe(1);
    expect(txResponses()).toEqual([
      { id: 1, status: NETIF_RSP.OKAY },
      { id: 2, status: NETIF_RSP.OKAY },
    ]);
    expect(frames.map((f) => [...f])).toEqual([[...a.subarray(0, 60), ...b.subarray(0, 40)]]);
  });

  it('every tx slot (data, extra-info, a bad packet skipped slot by slot) and rx slot is read exactly once', async () => {
    const { txDv, rx, rxDv, vif, txWatch, rxWatch, txPut, txResponses, filled } = netSetup();
    filled(10, 1);
    filled(11, 2);
    filled(13, 4);
    const offs: number[] = [];
    const watches = [txWatch, rxWatch];
    // A good packet with an extra-info slot and two fragments, published one slot per pass.
    offs.push(txPut((o) => writeNetifTxRequest(txDv, o, { gref: 10, offset: 0, flags: NETTXF.extra_info | NETTXF.more_data, id: 1, size: 90 })));
    await watched(watches, () => vif.service());
    offs.push(txPut((o) => writeNetifExtraInfo(txDv, o, { type: XEN_NETIF_EXTRA_TYPE.MCAST_ADD, flags: 0, mcast: { addr: Uint8Array.of(1, 0, 0x5e, 0, 0, 1) } })));
    await watched(watches, () => vif.service());
    offs.push(txPut((o) => writeNetifTxRequest(txDv, o, { gref: 11, offset: 0, flags: 0, id: 2, size: 30 })));
    await watched(watches, () => vif.service());
    // A bad packet (a GSO extra, not offered) found bad before its end: the rest is skipped as it comes.
    offs.push(txPut((o) => writeNetifTxRequest(txDv, o, { gref: 10, offset: 0, flags: NETTXF.extra_info | NETTXF.more_data, id: 3, size: 90 })));
    offs.push(txPut((o) => writeNetifExtraInfo(txDv, o, { type: XEN_NETIF_EXTRA_TYPE.GSO, flags: XEN_NETIF_EXTRA_FLAG_MORE, gso: { size: 1400, type: 1, features: 0 } })));
    await watched(watches, () => vif.service());
    offs.push(txPut((o) => writeNetifExtraInfo(txDv, o, { type: XEN_NETIF_EXTRA_TYPE.MCAST_DEL, flags: 0, mcast: { addr: Uint8Array.of(1, 0, 0x5e, 0, 0, 1) } })));
    await watched(watches, () => vif.service());
    offs.push(txPut((o) => writeNetifTxRequest(txDv, o, { gref: 13, offset: 0, flags: 0, id: 4, size: 20 })));
    await watched(watches, () => vif.service());
    for (const off of offs) {
      expect(txWatch.minReads(off, NETIF_TX_RING_ENTRY_SIZE)).toBe(1);
      expect(txWatch.maxReads(off, NETIF_TX_RING_ENTRY_SIZE)).toBe(1);
    }
    expect(txResponses().map((r) => [r.id, r.status])).toEqual([
      [1, NETIF_RSP.OKAY],
      [0, NETIF_RSP.NULL],
      [2, NETIF_RSP.OKAY],
      [3, NETIF_RSP.ERROR],
      [0, NETIF_RSP.NULL],
      [0, NETIF_RSP.NULL],
      [4, NETIF_RSP.ERROR],
    ]);
    // rx: two posted buffers, a frame over a page spanning both.
    filled(40, 0);
    filled(41, 0);
    const rxOffs = [0, 1].map((k) => {
      const off = rx.nextRequest();
      writeNetifRxRequest(rxDv, off, { id: k, gref: 40 + k });
      rx.produced();
      return off;
    });
    rx.pushRequestsAndCheckNotify();
    await watched(watches, () => vif.deliver(new Uint8Array(PAGE + 100).fill(0x5a)));
    for (const off of rxOffs) expect(rxWatch.maxReads(off, NETIF_RX_RING_ENTRY_SIZE)).toBe(1);
    const rsp = [0, 1].map(() => {
      const r = readNetifRxResponse(rxDv, rx.nextResponse());
      rx.consumed();
      return r.status;
    });
    expect(rsp).toEqual([PAGE, 100]);
  });
});
