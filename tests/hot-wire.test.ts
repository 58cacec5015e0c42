// The hot path's binary framing (protocol/hot_wire.ts), both ways: every frame decodes to
// what was encoded, and any bytes either decode to a frame that encodes back to the same
// bytes or are refused with a HotWireError (never another exception, never a partial frame).

import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeHot, encodeHot, HotWireError, HOT_MAGIC, isHotFrame, type HotFrame, type HotOp } from '../protocol/hot_wire.ts';
import { FrameType } from '../protocol/wire.ts';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect, type Peer } from '../protocol/session.ts';
import { BATCH_BYTES, RemotePlatform } from '../dom0/remote_platform.ts';

const span = fc.integer({ min: 0, max: 4096 }).chain((offset) => fc.tuple(fc.constant(offset), fc.uint8Array({ maxLength: Math.min(64, 4096 - offset) })));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const op: fc.Arbitrary<HotOp> = fc.oneof(
  fc.tuple(u32, span).map(([mfn, [offset, data]]) => ({ op: 'write' as const, mfn, offset, data })),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), u32, span).map(([domid, ref, [offset, data]]) => ({ op: 'copyTo' as const, domid, ref, offset, data })),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), u32, fc.integer({ min: 0, max: 4096 })).chain(([domid, ref, offset]) => fc.integer({ min: 0, max: 4096 - offset }).map((len) => ({ op: 'copyFrom' as const, domid, ref, offset, len }))),
  u32.map((port) => ({ op: 'send' as const, port })),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.boolean()).map(([domid, source, level]) => ({ op: 'irq' as const, domid, source, level })),
  fc.tuple(u32, u32, u32, span).map(([first, count, mfn, [offset, data]]) => ({ op: 'writeIfFailed' as const, first, count, mfn, offset, data })),
  fc.tuple(u32, fc.integer({ min: 0, max: 0xffff }), u32, fc.constantFrom('none' as const, 'blkif' as const, 'netifTx' as const)).map(([port, domid, mfn, layout]) => ({ op: 'prefetchRing' as const, port, domid, mfn, layout })),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), u32, fc.integer({ min: 0, max: 4096 })).chain(([domid, ref, offset]) => fc.integer({ min: 0, max: 4096 - offset }).map((len) => ({ op: 'copyFromUsed' as const, domid, ref, offset, len }))),
);
const ioreq = fc.record({
  domid: fc.integer({ min: 0, max: 0xffff }),
  vcpu: fc.integer({ min: 0, max: 0xffff }),
  addr: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  size: fc.constantFrom(1 as const, 2 as const, 4 as const),
  dir: fc.constantFrom('read' as const, 'write' as const),
  data: u32,
  count: u32,
});
const frame: fc.Arbitrary<HotFrame> = fc.oneof(
  fc.record({ kind: fc.constant('dispatch' as const), id: u32, port: u32, timeNs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), pages: fc.array(fc.tuple(u32, span).map(([mfn, [offset, data]]) => ({ mfn, offset, data })), { maxLength: 6 }), copiesDone: u32, failedCopies: fc.array(u32, { maxLength: 4 }), prefetched: fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), u32, u32, span).map(([domid, ref, mfn, [offset, data]]) => ({ domid, ref, offset, mfn, data })), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('dispatchDone' as const), id: u32, ops: fc.array(op, { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('batch' as const), id: u32, ops: fc.array(op, { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('ioreq' as const), id: u32, req: ioreq, timeNs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), pages: fc.array(fc.tuple(u32, span).map(([mfn, [offset, data]]) => ({ mfn, offset, data })), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('ioreqDone' as const), id: u32, value: u32, ops: fc.array(op, { maxLength: 8 }) }),
  fc.record({ kind: fc.constant('batchDone' as const), id: u32, rc: fc.integer({ min: -0x80000000, max: 0x7fffffff }), error: fc.string({ maxLength: 20 }), results: fc.array(fc.record({ status: fc.integer({ min: -0x80000000, max: 0x7fffffff }), data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 6 }) }),
);

describe('hot wire framing', () => {
  it('decodes every frame to what was encoded', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const bytes = encodeHot(f);
        expect(isHotFrame(bytes)).toBe(true);
        expect(decodeHot(bytes)).toEqual(f);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses any other bytes with a HotWireError, or decodes them to a frame that encodes back to them', () => {
    const mutated = fc.tuple(frame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), fc.boolean()).map(([f, flips, cut, truncate]) => {
      const b = encodeHot(f).slice();
      for (const [i, v] of flips) if (b.length > 2) b[2 + (i % (b.length - 2))] = v;
      return truncate ? b.subarray(0, cut % (b.length + 1)) : b;
    });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 80 }).map((b) => Uint8Array.from([HOT_MAGIC, ...b]))), (bytes) => {
        let f: HotFrame;
        try {
          f = decodeHot(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(HotWireError);
          return;
        }
        expect(encodeHot(f)).toEqual(Uint8Array.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses spans past their page, and never collides with a protobuf frame', () => {
    expect(() => encodeHot({ kind: 'batch', id: 1, ops: [{ op: 'write', mfn: 1, offset: 4000, data: new Uint8Array(97) }] })).toThrow(HotWireError);
    const b = encodeHot({ kind: 'batch', id: 1, ops: [{ op: 'copyFrom', domid: 1, ref: 2, offset: 0, len: 8 }] });
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    dv.setUint16(b.length - 2, 4097, true);
    expect(() => decodeHot(b)).toThrow(/not inside a page/);
    // A protobuf Frame never starts with the magic byte (its fields are 1..6).
    const pb = FrameType.encode(FrameType.fromObject({ request: { id: 1, pageWrite: {} } })).finish();
    expect(isHotFrame(pb)).toBe(false);
    // A count promising more entries than the frame holds is refused before any allocation.
    const lie = encodeHot({ kind: 'batch', id: 1, ops: [] });
    new DataView(lie.buffer, lie.byteOffset, lie.byteLength).setUint32(6, 0xffffffff, true);
    expect(() => decodeHot(lie)).toThrow(/cannot hold/);
  });
});

describe('hot frames from a peer', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it('the hypervisor answers a bad batch with an errno and closes on a malformed hot frame, then serves a new dom0', async () => {
    const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: 64 * 1024 * 1024 });
    const h = await server.start();
    closers.push(h.close);
    const { peer } = await connect(h.url, 'dom0', 't');
    // A store to a page dom0 has not mapped refuses the batch; a bad port and a bad grant get their own status.
    const r = await peer.requestHot<Extract<HotFrame, { kind: 'batch' }>>({ kind: 'batch', ops: [{ op: 'send', port: 4000 }, { op: 'copyFrom', domid: 7, ref: 1, offset: 0, len: 8 }, { op: 'write', mfn: 5, offset: 0, data: new Uint8Array(4) }, { op: 'send', port: 1 }] });
    expect(r.rc).toBe(-1); // EPERM
    expect(r.error).toMatch(/not mapped/);
    expect(r.results.length).toBe(2); // nothing after the refused store ran
    expect(r.results[0]!.status).toBeLessThan(0);
    expect(r.results[1]!.status).toBeLessThan(0);
    // A status store may name only COPY_TO entries already made on this connection: the two
    // above were refused (numbered 0 and 1 all the same), so copy 2 is not one.
    const early = await peer.requestHot<Extract<HotFrame, { kind: 'batch' }>>({ kind: 'batch', ops: [{ op: 'copyTo', domid: 7, ref: 1, offset: 0, data: new Uint8Array(4) }, { op: 'copyTo', domid: 7, ref: 2, offset: 0, data: new Uint8Array(4) }] });
    expect(early.results.map((x) => x.status < 0)).toEqual([true, true]);
    const ahead = await peer.requestHot<Extract<HotFrame, { kind: 'batch' }>>({ kind: 'batch', ops: [{ op: 'writeIfFailed', first: 1, count: 2, mfn: 5, offset: 0, data: new Uint8Array(2) }] });
    expect(ahead.rc).toBe(-22); // EINVAL
    expect(ahead.error).toMatch(/names copies 1\.\.2; 2 were made/);
    // Naming made (failed) copies: the store is attempted, and refused here as one to an unmapped page.
    const made = await peer.requestHot<Extract<HotFrame, { kind: 'batch' }>>({ kind: 'batch', ops: [{ op: 'writeIfFailed', first: 0, count: 2, mfn: 5, offset: 0, data: new Uint8Array(2) }] });
    expect(made.rc).toBe(-1);
    expect(made.error).toMatch(/not mapped/);
    // A truncated hot frame: the connection is closed as for a bad protobuf frame.
    const closed = new Promise<string>((res) => (peer.onClose = res));
    (peer as unknown as { ws: { send(b: Uint8Array): void } }).ws.send(Uint8Array.from([HOT_MAGIC, 3, 1, 0, 0, 0, 9]));
    expect(await closed).toMatch(/1002|truncated/);
    const again = await connect(h.url, 'dom0', 't');
    closers.push(() => again.peer.close());
    expect((await again.peer.request('info', {})).rc).toBe(0);
  });
});

describe('batches larger than a frame should carry', () => {
  it('RemotePlatform splits a GNTTABOP_copy batch of 8 MiB into batches of at most BATCH_BYTES, in order', async () => {
    const sizes: number[] = [];
    let next = 0;
    const peer = {
      hotHandler: null,
      requestHot(req: { kind: 'batch'; ops: HotOp[] }): Promise<HotFrame> {
        const f = decodeHot(encodeHot({ ...req, id: 1 }));
        if (f.kind !== 'batch') throw new Error('not a batch');
        sizes.push(f.ops.reduce((n, o) => n + (o.op === 'copyTo' ? o.data.length : 0), 0));
        // Each entry answered with its place in the whole sequence, to check the order.
        return Promise.resolve({ kind: 'batchDone', id: 1, rc: 0, error: '', results: f.ops.map(() => ({ status: next++, data: new Uint8Array(0) })) });
      },
    };
    const platform = new RemotePlatform(peer as unknown as Peer);
    const ops = Array.from({ length: 2048 }, (_, i) => ({ to: true as const, domid: 1, ref: i, offset: 0, data: new Uint8Array(4096) }));
    const r = await platform.copyGrants(ops);
    expect(sizes.length).toBe(2);
    for (const s of sizes) expect(s).toBeLessThanOrEqual(BATCH_BYTES);
    expect(r.map((x) => x.status)).toEqual(ops.map((_, i) => i));
  });
});
