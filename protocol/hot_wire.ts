// The dom0 boundary's hot path in a fixed binary layout, beside protobuf (protocol/wire.ts):
// a dispatch and its answer, and dom0's batches of privcmd work (page writes, GNTTABOP_copy
// entries, event sends). These frames run thousands of times a second with page data in
// them; protobufjs's verify + fromObject + encode cost 13-25 µs for a 4 KiB frame and copy
// every byte field, where this layout is one pass over a DataView and page data is
// carried as raw bytes. Everything else (control, setup, maps) stays protobuf.
//
// A hot frame starts with HOT_MAGIC, which is never the first byte of a protobuf Frame
// (it would be field 31, varint: Frame has fields 1..6), so one WebSocket carries both.
// All integers are little-endian. Layout, after the magic byte and the kind byte:
//
//   DISPATCH        u32 id, u32 port, f64 time_ns, u32 n, n x PAGE, u32 copies_done,
//                   u32 m, m x u32 (the COPY_TO entries that failed, of those below copies_done
//                   not yet reported: how dom0 learns the fate of copies it did not wait for),
//                   u32 k, k x PREFETCHED (granted bytes read at the dispatch's instant for
//                   the new requests on a ring dom0 asked to be served so: PREFETCH_RING)
//   PREFETCHED      u16 domid, u32 ref, u16 offset, u16 len, u32 mfn, len bytes
//   DISPATCH_DONE   u32 id, u32 n, n x OP        (dom0's stores and sends, end of dispatch)
//   BATCH           u32 id, u32 n, n x OP        (dom0's work that needs answers)
//   BATCH_DONE      u32 id, i32 rc, u16 errlen, err (utf-8), u32 n, n x RESULT
//   PAGE            u32 mfn, u16 offset, u16 len, len bytes
//   OP              u8 type, then WRITE: PAGE | COPY_TO: u16 domid, u32 ref, u16 offset,
//                   u16 len, len bytes | COPY_FROM: u16 domid, u32 ref, u16 offset, u16 len
//                   | SEND: u32 port | WRITE_IF_FAILED: u32 first, u32 count, PAGE
//                   | PREFETCH_RING: u32 port, u16 domid, u32 mfn, u8 layout (0 none, 1 blkif,
//                   2 netif tx) | COPY_FROM_USED: u16 domid, u32 ref, u16 offset, u16 len
//   RESULT          i32 status, u16 len, len bytes (the data of a COPY_FROM; else 0)
//   IOREQ           u32 id, u16 domid, u16 vcpu, u32 addr_lo, u32 addr_hi, u8 size, u8 dir,
//                   u32 data, u32 count, f64 time_ns, u32 n, n x PAGE   (Xen's ioreq_t for
//                   the device model; dir 0 = write, 1 = read, as IOREQ_WRITE/IOREQ_READ;
//                   pages as in DISPATCH: the guest's stores to mapped frames since the last)
//   IOREQ_DONE      u32 id, u32 data (a read's value), u32 n, n x OP   (as DISPATCH_DONE)
//   OP IRQ          u16 domid, u16 source, u8 level   (XEN_DMOP_set_irq_level)
//
// WRITE_IF_FAILED is a store made only if one of COPY_TO entries first .. first+count-1 failed:
// the COPY_TO entries dom0 sends on a connection are numbered from 0 in the order the
// hypervisor reaches them (BATCH and DISPATCH_DONE alike), so a ring response can be sent
// with its data copies in one answer and its status patched when a copy fails.
//
// PREFETCHED entries spare dom0 a BATCH round trip for the data of a ring's new write
// requests (blkif writes, netif transmits): with each dispatch of a port dom0 named in a
// PREFETCH_RING, the hypervisor reads the new requests on that ring and sends the bytes
// their grants name, read as a GNTTABOP_copy out of the guest would read them at that
// instant (the machine stands still for the dispatch). dom0 takes a copy from them only
// while nothing it sent since could have changed them, and reports each one it takes as a
// COPY_FROM_USED, which the hypervisor counts as the copy it stands for (dom0's cost, the
// granter's counters) and does not make. Which requests are read is only a guess: a copy
// dom0 does not find among them goes out as usual.
//
// A page span never passes its page (offset + len <= 4096) and a frame holds at most
// MAX_HOT_ENTRIES entries; a decoder refuses a frame that
// does not follow this layout exactly (short, long, an unknown kind or op) with a
// HotWireError, and its caller closes the connection, as for a bad protobuf frame.

export const HOT_MAGIC = 0xf8;
/**
 * Bytes of COPY_FROM data one BATCH or DISPATCH_DONE may ask for. An entry is 11 bytes on
 * the wire and asks for up to 4 KiB back, so without a bound a 24 MiB frame could make the
 * hypervisor gather 9 GiB for one answer. dom0 splits its batches at 4 MiB
 * (dom0/remote_platform.ts BATCH_BYTES); this is twice that, and an answer stays far below
 * MAX_FRAME_BYTES.
 */
/**
 * Entries (pages, operations, results) one hot frame may hold. An operation can be 5 bytes,
 * so a 24 MiB frame could hold 5 million: decoding and applying them held the hypervisor's
 * event loop (and the machine) for about 6 s and half a gigabyte. Senders split longer
 * lists into several frames, in order.
 */
export const MAX_HOT_ENTRIES = 65_536;
export const MAX_COPY_OUT_BYTES = 8 * 1024 * 1024;
const PAGE = 4096;

export const HOT_KIND = { DISPATCH: 1, DISPATCH_DONE: 2, BATCH: 3, BATCH_DONE: 4, IOREQ: 5, IOREQ_DONE: 6 } as const;
export const HOT_OP = { WRITE: 1, COPY_TO: 2, COPY_FROM: 3, SEND: 4, IRQ: 5, WRITE_IF_FAILED: 6, PREFETCH_RING: 7, COPY_FROM_USED: 8 } as const;
/** Ring layouts the hypervisor can read new requests of (PREFETCH_RING). */
export const PREFETCH_LAYOUT = { none: 0, blkif: 1, netifTx: 2 } as const;
export type PrefetchLayout = keyof typeof PREFETCH_LAYOUT;
const LAYOUT_NAME: readonly PrefetchLayout[] = ['none', 'blkif', 'netifTx'];

export interface HotPage { mfn: number; offset: number; data: Uint8Array }
export type HotOp =
  | { op: 'write'; mfn: number; offset: number; data: Uint8Array }
  | { op: 'copyTo'; domid: number; ref: number; offset: number; data: Uint8Array }
  | { op: 'copyFrom'; domid: number; ref: number; offset: number; len: number }
  | { op: 'send'; port: number }
  | { op: 'irq'; domid: number; source: number; level: boolean }
  | { op: 'writeIfFailed'; first: number; count: number; mfn: number; offset: number; data: Uint8Array }
  | { op: 'prefetchRing'; port: number; domid: number; mfn: number; layout: PrefetchLayout }
  | { op: 'copyFromUsed'; domid: number; ref: number; offset: number; len: number };
export interface HotResult { status: number; data: Uint8Array }
/** Granted bytes sent with a dispatch: what a copy of (domid, ref, offset, data.length) would read; `mfn` the frame read. */
export interface HotPrefetched { domid: number; ref: number; offset: number; mfn: number; data: Uint8Array }

export type HotFrame =
  | { kind: 'dispatch'; id: number; port: number; timeNs: number; pages: HotPage[]; copiesDone: number; failedCopies: number[]; prefetched: HotPrefetched[] }
  | { kind: 'dispatchDone'; id: number; ops: HotOp[] }
  | { kind: 'batch'; id: number; ops: HotOp[] }
  | { kind: 'batchDone'; id: number; rc: number; error: string; results: HotResult[] }
  | { kind: 'ioreq'; id: number; req: HotIoreq; timeNs: number; pages: HotPage[] }
  | { kind: 'ioreqDone'; id: number; value: number; ops: HotOp[] };

/** One trapped access of an HVM guest for dom0's device model (Xen's ioreq_t, count 1). */
export interface HotIoreq {
  domid: number;
  vcpu: number;
  addr: number;
  size: 1 | 2 | 4;
  dir: 'read' | 'write';
  data: number;
  count: number;
}

/** The frame kind that answers each hot request. */
export const HOT_ANSWER = { dispatch: 'dispatchDone', batch: 'batchDone', ioreq: 'ioreqDone' } as const;

export class HotWireError extends Error {
  override readonly name = 'HotWireError';
}

export function isHotFrame(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === HOT_MAGIC;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);

function checkSpan(offset: number, len: number): void {
  if (!(Number.isInteger(offset) && Number.isInteger(len) && offset >= 0 && len >= 0 && offset + len <= PAGE)) {
    throw new HotWireError(`span [${offset}, ${offset + len}) is not inside a page`);
  }
}

function u32ok(v: number, what: string): void {
  if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new HotWireError(`${what} ${v} is not a u32`);
}

function u16ok(v: number, what: string): void {
  if (!(Number.isInteger(v) && v >= 0 && v <= 0xffff)) throw new HotWireError(`${what} ${v} is not a u16`);
}

function opSize(o: HotOp): number {
  switch (o.op) {
    case 'write':
      return 1 + 8 + o.data.length;
    case 'copyTo':
      return 1 + 10 + o.data.length;
    case 'copyFrom':
    case 'copyFromUsed':
      return 1 + 10;
    case 'send':
      return 1 + 4;
    case 'irq':
      return 1 + 5;
    case 'writeIfFailed':
      return 1 + 8 + 8 + o.data.length;
    case 'prefetchRing':
      return 1 + 11;
  }
}

// The encoder's writers: module functions over (bytes, view, position) returning the next
// position, not closures made per frame (a dispatch is encoded thousands of times a second).

function putPage(out: Uint8Array, dv: DataView, p: number, mfn: number, offset: number, data: Uint8Array): number {
  u32ok(mfn, 'mfn');
  checkSpan(offset, data.length);
  dv.setUint32(p, mfn, true);
  dv.setUint16(p + 4, offset, true);
  dv.setUint16(p + 6, data.length, true);
  out.set(data, p + 8);
  return p + 8 + data.length;
}

function putGrant(dv: DataView, p: number, domid: number, ref: number, offset: number, len: number): number {
  u16ok(domid, 'domid');
  u32ok(ref, 'ref');
  checkSpan(offset, len);
  dv.setUint16(p, domid, true);
  dv.setUint32(p + 2, ref, true);
  dv.setUint16(p + 6, offset, true);
  dv.setUint16(p + 8, len, true);
  return p + 10;
}

function putOps(out: Uint8Array, dv: DataView, p: number, list: readonly HotOp[]): number {
  dv.setUint32(p, list.length, true);
  p += 4;
  for (const o of list) {
    switch (o.op) {
      case 'write':
        out[p++] = HOT_OP.WRITE;
        p = putPage(out, dv, p, o.mfn, o.offset, o.data);
        break;
      case 'copyTo':
        out[p++] = HOT_OP.COPY_TO;
        p = putGrant(dv, p, o.domid, o.ref, o.offset, o.data.length);
        out.set(o.data, p);
        p += o.data.length;
        break;
      case 'copyFrom':
        out[p++] = HOT_OP.COPY_FROM;
        p = putGrant(dv, p, o.domid, o.ref, o.offset, o.len);
        break;
      case 'copyFromUsed':
        out[p++] = HOT_OP.COPY_FROM_USED;
        p = putGrant(dv, p, o.domid, o.ref, o.offset, o.len);
        break;
      case 'send':
        out[p++] = HOT_OP.SEND;
        u32ok(o.port, 'port');
        dv.setUint32(p, o.port, true);
        p += 4;
        break;
      case 'irq':
        out[p++] = HOT_OP.IRQ;
        u16ok(o.domid, 'domid');
        u16ok(o.source, 'irq source');
        dv.setUint16(p, o.domid, true);
        dv.setUint16(p + 2, o.source, true);
        out[p + 4] = o.level ? 1 : 0;
        p += 5;
        break;
      case 'writeIfFailed':
        out[p++] = HOT_OP.WRITE_IF_FAILED;
        u32ok(o.first, 'first copy');
        u32ok(o.count, 'copy count');
        dv.setUint32(p, o.first, true);
        dv.setUint32(p + 4, o.count, true);
        p = putPage(out, dv, p + 8, o.mfn, o.offset, o.data);
        break;
      case 'prefetchRing': {
        out[p++] = HOT_OP.PREFETCH_RING;
        u32ok(o.port, 'port');
        u16ok(o.domid, 'domid');
        u32ok(o.mfn, 'mfn');
        const layout = PREFETCH_LAYOUT[o.layout];
        if (layout === undefined) throw new HotWireError(`unknown ring layout ${String(o.layout)}`);
        dv.setUint32(p, o.port, true);
        dv.setUint16(p + 4, o.domid, true);
        dv.setUint32(p + 6, o.mfn, true);
        out[p + 10] = layout;
        p += 11;
        break;
      }
    }
  }
  return p;
}

/** Encodes a hot frame; throws HotWireError on a value the layout cannot carry. */
export function encodeHot(f: HotFrame): Uint8Array {
  u32ok(f.id, 'id');
  const entries = f.kind === 'dispatch' || f.kind === 'ioreq' ? f.pages.length : f.kind === 'batchDone' ? f.results.length : f.ops.length;
  if (entries > MAX_HOT_ENTRIES) throw new HotWireError(`${entries} entries do not fit one hot frame (at most ${MAX_HOT_ENTRIES})`);
  let size = 2 + 4;
  let errBytes: Uint8Array | null = null;
  switch (f.kind) {
    case 'dispatch':
      size += 4 + 8 + 4 + 8 + 4 * f.failedCopies.length + 4;
      for (const p of f.pages) size += 8 + p.data.length;
      for (const x of f.prefetched) size += 14 + x.data.length;
      if (f.failedCopies.length > MAX_HOT_ENTRIES) throw new HotWireError(`${f.failedCopies.length} failed copies do not fit one hot frame`);
      if (f.prefetched.length > MAX_HOT_ENTRIES) throw new HotWireError(`${f.prefetched.length} prefetched spans do not fit one hot frame`);
      break;
    case 'dispatchDone':
    case 'batch':
      size += 4;
      for (const o of f.ops) size += opSize(o);
      break;
    case 'ioreq':
      size += 2 + 2 + 8 + 1 + 1 + 4 + 4 + 8 + 4;
      for (const p of f.pages) size += 8 + p.data.length;
      break;
    case 'ioreqDone':
      size += 4 + 4;
      for (const o of f.ops) size += opSize(o);
      break;
    case 'batchDone':
      errBytes = f.error.length ? enc.encode(f.error.slice(0, 1000)) : EMPTY; // at most 4,000 bytes: never cut inside a character
      size += 4 + 2 + errBytes.length + 4;
      for (const r of f.results) size += 6 + r.data.length;
      break;
  }
  // A pooled Buffer where there is one (Node): a small Uint8Array lives on V8's heap and
  // the DataView over it moves its bytes off the heap first, which cost more than the rest
  // of encoding a dispatch. Every byte is written below (the position must end at `size`).
  const pooled = typeof Buffer === 'function' ? Buffer.allocUnsafe(size) : null;
  const out = pooled ? new Uint8Array(pooled.buffer, pooled.byteOffset, size) : new Uint8Array(size);
  const dv = new DataView(out.buffer, out.byteOffset, size);
  let p = 0;
  out[p++] = HOT_MAGIC;
  switch (f.kind) {
    case 'dispatch':
      out[p++] = HOT_KIND.DISPATCH;
      dv.setUint32(p, f.id, true);
      u32ok(f.port, 'port');
      dv.setUint32(p + 4, f.port, true);
      dv.setFloat64(p + 8, f.timeNs, true);
      dv.setUint32(p + 16, f.pages.length, true);
      p += 20;
      for (const pg of f.pages) p = putPage(out, dv, p, pg.mfn, pg.offset, pg.data);
      u32ok(f.copiesDone, 'copies done');
      dv.setUint32(p, f.copiesDone, true);
      dv.setUint32(p + 4, f.failedCopies.length, true);
      p += 8;
      for (const k of f.failedCopies) {
        u32ok(k, 'failed copy');
        dv.setUint32(p, k, true);
        p += 4;
      }
      dv.setUint32(p, f.prefetched.length, true);
      p += 4;
      for (const x of f.prefetched) {
        p = putGrant(dv, p, x.domid, x.ref, x.offset, x.data.length);
        u32ok(x.mfn, 'mfn');
        dv.setUint32(p, x.mfn, true);
        out.set(x.data, p + 4);
        p += 4 + x.data.length;
      }
      break;
    case 'dispatchDone':
    case 'batch':
      out[p++] = f.kind === 'batch' ? HOT_KIND.BATCH : HOT_KIND.DISPATCH_DONE;
      dv.setUint32(p, f.id, true);
      p = putOps(out, dv, p + 4, f.ops);
      break;
    case 'ioreq': {
      const q = f.req;
      out[p++] = HOT_KIND.IOREQ;
      dv.setUint32(p, f.id, true);
      u16ok(q.domid, 'domid');
      u16ok(q.vcpu, 'vcpu');
      if (!(Number.isSafeInteger(q.addr) && q.addr >= 0)) throw new HotWireError(`ioreq address ${q.addr} is not an address`);
      if (q.size !== 1 && q.size !== 2 && q.size !== 4) throw new HotWireError(`ioreq size ${String(q.size)} is not 1, 2 or 4`);
      u32ok(q.data, 'ioreq data');
      u32ok(q.count, 'ioreq count');
      dv.setUint16(p + 4, q.domid, true);
      dv.setUint16(p + 6, q.vcpu, true);
      dv.setUint32(p + 8, q.addr % 0x1_0000_0000, true);
      dv.setUint32(p + 12, Math.floor(q.addr / 0x1_0000_0000), true);
      out[p + 16] = q.size;
      out[p + 17] = q.dir === 'read' ? 1 : 0;
      dv.setUint32(p + 18, q.data, true);
      dv.setUint32(p + 22, q.count, true);
      dv.setFloat64(p + 26, f.timeNs, true);
      dv.setUint32(p + 34, f.pages.length, true);
      p += 38;
      for (const pg of f.pages) p = putPage(out, dv, p, pg.mfn, pg.offset, pg.data);
      break;
    }
    case 'ioreqDone':
      out[p++] = HOT_KIND.IOREQ_DONE;
      dv.setUint32(p, f.id, true);
      u32ok(f.value, 'ioreq value');
      dv.setUint32(p + 4, f.value, true);
      p = putOps(out, dv, p + 8, f.ops);
      break;
    case 'batchDone':
      out[p++] = HOT_KIND.BATCH_DONE;
      dv.setUint32(p, f.id, true);
      dv.setInt32(p + 4, f.rc, true);
      dv.setUint16(p + 8, errBytes!.length, true);
      out.set(errBytes!, p + 10);
      p += 10 + errBytes!.length;
      dv.setUint32(p, f.results.length, true);
      p += 4;
      for (const r of f.results) {
        u16ok(r.data.length, 'result length');
        dv.setInt32(p, r.status, true);
        dv.setUint16(p + 4, r.data.length, true);
        out.set(r.data, p + 6);
        p += 6 + r.data.length;
      }
      break;
  }
  if (p !== size) throw new HotWireError(`hot frame encoded to ${p} of ${size} bytes`);
  return out;
}

/** Decodes a hot frame; anything but the exact layout is a HotWireError. Data are copies. */
export function decodeHot(input: Uint8Array): HotFrame {
  // A Buffer's slice is a view: as a plain Uint8Array, the data taken below are copies.
  const bytes = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const need = (n: number) => {
    if (p + n > bytes.length) throw new HotWireError('hot frame is truncated');
  };
  const u8 = () => (need(1), bytes[p++]!);
  const u16 = () => (need(2), (p += 2), dv.getUint16(p - 2, true));
  const u32 = () => (need(4), (p += 4), dv.getUint32(p - 4, true));
  const take = (n: number) => (need(n), (p += n), bytes.slice(p - n, p));
  // A count can promise no more entries than the bytes left could hold (each is >= 4 bytes).
  const count = (min: number) => {
    const n = u32();
    if (n * min > bytes.length - p) throw new HotWireError(`hot frame promises ${n} entries it cannot hold`);
    if (n > MAX_HOT_ENTRIES) throw new HotWireError(`hot frame has ${n} entries, more than ${MAX_HOT_ENTRIES}`);
    return n;
  };
  const span = () => {
    const offset = u16();
    const len = u16();
    checkSpan(offset, len);
    return { offset, len };
  };
  // The pages a dispatch or an ioreq carries: mfn, span, the span's bytes.
  const pageList = (): HotPage[] => {
    const n = count(8);
    const pages: HotPage[] = [];
    for (let i = 0; i < n; i++) {
      const mfn = u32();
      const s = span();
      pages.push({ mfn, offset: s.offset, data: take(s.len) });
    }
    return pages;
  };
  if (u8() !== HOT_MAGIC) throw new HotWireError('not a hot frame');
  const kind = u8();
  const id = u32();
  let f: HotFrame;
  if (kind === HOT_KIND.DISPATCH) {
    const port = u32();
    need(8);
    const timeNs = dv.getFloat64(p, true);
    p += 8;
    if (!Number.isFinite(timeNs) || timeNs < 0) throw new HotWireError('dispatch time is not a time');
    const pages = pageList();
    const copiesDone = u32();
    const m = count(4);
    const failedCopies: number[] = [];
    for (let i = 0; i < m; i++) failedCopies.push(u32());
    const k = count(14);
    const prefetched: HotPrefetched[] = [];
    for (let i = 0; i < k; i++) {
      const domid = u16();
      const ref = u32();
      const s = span();
      const mfn = u32();
      prefetched.push({ domid, ref, offset: s.offset, mfn, data: take(s.len) });
    }
    f = { kind: 'dispatch', id, port, timeNs, pages, copiesDone, failedCopies, prefetched };
  } else if (kind === HOT_KIND.IOREQ) {
    const domid = u16();
    const vcpu = u16();
    const lo = u32();
    const hi = u32();
    const size = u8();
    const dir = u8();
    const data = u32();
    const cnt = u32();
    need(8);
    const timeNs = dv.getFloat64(p, true);
    p += 8;
    if (size !== 1 && size !== 2 && size !== 4) throw new HotWireError(`ioreq size ${size} is not 1, 2 or 4`);
    if (dir > 1) throw new HotWireError(`ioreq direction ${dir} is neither write (0) nor read (1)`);
    if (hi >= 0x200000) throw new HotWireError('ioreq address is past 2^53');
    if (!Number.isFinite(timeNs) || timeNs < 0) throw new HotWireError('ioreq time is not a time');
    const pages = pageList();
    f = { kind: 'ioreq', id, req: { domid, vcpu, addr: hi * 0x1_0000_0000 + lo, size: size as 1 | 2 | 4, dir: dir === 1 ? 'read' : 'write', data, count: cnt }, timeNs, pages };
  } else if (kind === HOT_KIND.DISPATCH_DONE || kind === HOT_KIND.BATCH || kind === HOT_KIND.IOREQ_DONE) {
    const value = kind === HOT_KIND.IOREQ_DONE ? u32() : 0;
    const n = count(5);
    const ops: HotOp[] = [];
    for (let i = 0; i < n; i++) {
      const t = u8();
      if (t === HOT_OP.WRITE) {
        const mfn = u32();
        const s = span();
        ops.push({ op: 'write', mfn, offset: s.offset, data: take(s.len) });
      } else if (t === HOT_OP.COPY_TO || t === HOT_OP.COPY_FROM || t === HOT_OP.COPY_FROM_USED) {
        const domid = u16();
        const ref = u32();
        const s = span();
        if (t === HOT_OP.COPY_TO) ops.push({ op: 'copyTo', domid, ref, offset: s.offset, data: take(s.len) });
        else ops.push({ op: t === HOT_OP.COPY_FROM ? 'copyFrom' : 'copyFromUsed', domid, ref, offset: s.offset, len: s.len });
      } else if (t === HOT_OP.PREFETCH_RING) {
        const port = u32();
        const domid = u16();
        const mfn = u32();
        const layout = LAYOUT_NAME[u8()];
        if (layout === undefined) throw new HotWireError('unknown ring layout');
        ops.push({ op: 'prefetchRing', port, domid, mfn, layout });
      } else if (t === HOT_OP.SEND) {
        ops.push({ op: 'send', port: u32() });
      } else if (t === HOT_OP.IRQ) {
        const domid = u16();
        const source = u16();
        const level = u8();
        if (level > 1) throw new HotWireError(`irq level ${level} is neither 0 nor 1`);
        ops.push({ op: 'irq', domid, source, level: level === 1 });
      } else if (t === HOT_OP.WRITE_IF_FAILED) {
        const first = u32();
        const count = u32();
        const mfn = u32();
        const s = span();
        ops.push({ op: 'writeIfFailed', first, count, mfn, offset: s.offset, data: take(s.len) });
      } else throw new HotWireError(`unknown hot operation ${t}`);
    }
    f = kind === HOT_KIND.BATCH ? { kind: 'batch', id, ops } : kind === HOT_KIND.IOREQ_DONE ? { kind: 'ioreqDone', id, value, ops } : { kind: 'dispatchDone', id, ops };
  } else if (kind === HOT_KIND.BATCH_DONE) {
    need(4);
    const rc = dv.getInt32(p, true);
    p += 4;
    let error: string;
    try {
      error = dec.decode(take(u16()));
    } catch (e) {
      if (e instanceof HotWireError) throw e;
      throw new HotWireError('a batch error is not UTF-8');
    }
    const n = count(6);
    const results: HotResult[] = [];
    for (let i = 0; i < n; i++) {
      need(4);
      const status = dv.getInt32(p, true);
      p += 4;
      const len = u16();
      if (len > PAGE) throw new HotWireError('a result is longer than a page');
      results.push({ status, data: take(len) });
    }
    f = { kind: 'batchDone', id, rc, error, results };
  } else throw new HotWireError(`unknown hot frame kind ${kind}`);
  if (p !== bytes.length) throw new HotWireError(`hot frame has ${bytes.length - p} bytes past its end`);
  return f;
}
