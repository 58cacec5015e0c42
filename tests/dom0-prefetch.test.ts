// A write's data with the dispatch (hot_wire.ts PREFETCH_RING / PREFETCHED / COPY_FROM_USED):
// dom0 as a process across a real WebSocket takes a copy out of a guest's grant from the
// bytes the dispatch brought, with no batch round trip, the hypervisor counts it as the
// copy it stands for, and dom0 copies for real whenever something it sent since could have
// changed those bytes. The ring the hypervisor reads is the guest's: any bytes in it and any
// producer index leave it serving, within its bound.

import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect, type Peer } from '../protocol/session.ts';
import { RemotePlatform } from '../dom0/remote_platform.ts';
import type { HotPrefetched } from '../protocol/hot_wire.ts';
import { GNTST, GTF } from '../protocol/xen/grant_table.ts';
import { BLKIF_OP, BLKIF_REQUEST, BLKIF_REQUEST_SEGMENT, blkifRingSlot } from '../protocol/xen/blkif.ts';
import { SRING } from '../protocol/ring.ts';
import { MmGuest, SPARE_VA, MiB } from './mm_helpers.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const PORT = 77;

async function setup() {
  const server = new HypervisorServer({ token: 't0k3n', manual: true, machineMemoryBytes: 128 * MiB });
  const h = await server.start();
  const { peer } = await connect(h.url, 'dom0', 't0k3n');
  await server.waitForDom0();
  closers.push(() => peer.close(), h.close);
  const hv = server.hv;
  const platform = new RemotePlatform(peer);
  // What each dispatch brought, and how many batches dom0 sent.
  const seen: HotPrefetched[][] = [];
  let batches = 0;
  const serveHot = peer.hotHandler!;
  peer.hotHandler = (req) => {
    if (req.kind === 'dispatch') seen.push(req.prefetched);
    return serveHot(req);
  };
  const requestHot = peer.requestHot.bind(peer);
  (peer as { requestHot: Peer['requestHot'] }).requestHot = ((req: Parameters<Peer['requestHot']>[0], t?: number) => {
    if (req.kind === 'batch') batches++;
    return requestHot(req, t);
  }) as Peer['requestHot'];
  const g = MmGuest.create(hv, { name: 'granter' });
  // The test makes the guest's hypercalls and stores itself: its vCPU does not run, so a
  // run of the machine ends when dom0 has answered.
  hv.pause(g.domain);
  g.shareGrantTable(g.layout.virtBase + 3 * MiB);
  const data = g.mfnOfVa(SPARE_VA);
  const ringVa = SPARE_VA + 4096;
  const ringMfn = g.mfnOfVa(ringVa);
  g.grant(8, 0, data, GTF.permit_access); // the write's data
  g.grant(9, 0, ringMfn, GTF.permit_access); // the ring
  g.grant(10, 0, data, GTF.permit_access); // the data frame again, under another ref
  const ring = await platform.mapGrant(g.domid, 9, false);
  expect(ring.status).toBe(GNTST.okay);
  platform.prefetchRing(PORT, g.domid, ring.page!, 'blkif');
  await platform.flush();
  /** The guest publishes one blkif write of sectors first..last of grant 8. */
  let prod = 0;
  const publishWrite = (first = 0, last = 7) => {
    const r = new Uint8Array(BLKIF_REQUEST.SIZE);
    const dv = new DataView(r.buffer);
    r[BLKIF_REQUEST.operation] = BLKIF_OP.WRITE;
    r[BLKIF_REQUEST.nr_segments] = 1;
    dv.setUint32(BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.gref, 8, true);
    r[BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.first_sect] = first;
    r[BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.last_sect] = last;
    g.put(ringVa + blkifRingSlot(prod), r);
    g.putU32(ringVa + SRING.req_prod, ++prod);
  };
  /** One dispatch of PORT, its handler `fn`, the machine run until dom0 has answered. */
  const dispatch = async (fn: () => Promise<void>) => {
    let failed: unknown = null;
    platform.onEvent(PORT, () => fn().catch((e: unknown) => void (failed = e)));
    server.control!.dispatcher.notify(PORT);
    await hv.runAsync();
    if (failed) throw failed;
  };
  return { hv, g, platform, ring: ring.page!, seen, batches: () => batches, publishWrite, dispatch };
}

describe('prefetched write data (dom0 as a process)', () => {
  it('a copy out of a new write request costs no batch, reads what the guest wrote, and is counted as a copy', async () => {
    const { g, platform, seen, batches, publishWrite, dispatch } = await setup();
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);
    g.put(SPARE_VA, bytes);
    publishWrite();
    const before = { ops: g.domain.perf.grantOps, copied: g.domain.perf.bytesCopied, batches: batches() };
    let got: { status: number; data: Uint8Array }[] = [];
    await dispatch(async () => {
      got = await platform.copyGrants([{ to: false, domid: g.domid, ref: 8, offset: 0, len: 4096 }]);
    });
    expect(seen.at(-1)!.map((x) => [x.ref, x.offset, x.data.length])).toEqual([[8, 0, 4096]]);
    expect(got[0]!.status).toBe(GNTST.okay);
    expect([...got[0]!.data]).toEqual([...bytes]);
    expect(batches()).toBe(before.batches);
    // Counted as the copy it stands for, once.
    expect(g.domain.perf.grantOps - before.ops).toBe(1);
    expect(g.domain.perf.bytesCopied - before.copied).toBe(4096);
    // A span the dispatch did not bring (another offset) goes out as ever.
    publishWrite(1, 1);
    await dispatch(async () => {
      got = await platform.copyGrants([{ to: false, domid: g.domid, ref: 8, offset: 0, len: 1024 }]);
    });
    expect([...got[0]!.data]).toEqual([...bytes.subarray(0, 1024)]);
    expect(batches()).toBe(before.batches + 1);
  });

  it('copies for real once dom0 has copied into the same domain or stored to the frame since the dispatch', async () => {
    const { g, platform, batches, publishWrite, dispatch } = await setup();
    g.put(SPARE_VA, new Uint8Array(4096).fill(0x11));
    // A copy into the same frame (through ref 10) ahead of the copy out: the copy out sees it.
    publishWrite();
    let got: { status: number; data: Uint8Array }[] = [];
    let n = batches();
    await dispatch(async () => {
      platform.copyToGrantsLater!([{ domid: g.domid, ref: 10, offset: 0, data: new Uint8Array(512).fill(0x22) }]);
      got = await platform.copyGrants([{ to: false, domid: g.domid, ref: 8, offset: 0, len: 4096 }]);
    });
    expect(got[0]!.data[0]).toBe(0x22);
    expect(got[0]!.data[600]).toBe(0x11);
    expect(batches()).toBe(n + 1);
    // A store through dom0's own mapping of the frame ahead of the copy out: the same.
    const m = await platform.mapGrant(g.domid, 10, false);
    publishWrite();
    n = batches();
    await dispatch(async () => {
      m.page!.mem.write(1000, new Uint8Array([0x33, 0x34]));
      got = await platform.copyGrants([{ to: false, domid: g.domid, ref: 8, offset: 0, len: 4096 }]);
    });
    expect([...got[0]!.data.subarray(999, 1003)]).toEqual([0x11, 0x33, 0x34, 0x11]);
    expect(batches()).toBe(n + 1);
    // And the next dispatch's bytes are good again.
    publishWrite();
    n = batches();
    await dispatch(async () => {
      got = await platform.copyGrants([{ to: false, domid: g.domid, ref: 8, offset: 0, len: 4096 }]);
    });
    expect(got[0]!.data[1000]).toBe(0x33);
    expect(batches()).toBe(n);
  });

  it('any bytes in the ring and any producer index: the hypervisor keeps serving, within its bound', async () => {
    const { hv, g, platform, ring, seen, dispatch } = await setup();
    const ringVa = SPARE_VA + 4096;
    // Some of the ring's slots name grant 8 (valid) with random sector spans.
    const slotArb = fc.tuple(fc.nat({ max: 31 }), fc.nat({ max: 9 }), fc.nat({ max: 9 }), fc.nat({ max: 12 }));
    let brought = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), fc.array(slotArb, { maxLength: 8 }), fc.oneof(fc.nat({ max: 40 }), fc.integer({ min: 0, max: 0xffffffff })), async (page, slots, delta) => {
        for (const [slot, first, last, nseg] of slots) {
          const off = blkifRingSlot(slot);
          page[off + BLKIF_REQUEST.operation] = BLKIF_OP.WRITE;
          page[off + BLKIF_REQUEST.nr_segments] = nseg;
          new DataView(page.buffer).setUint32(off + BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.gref, 8, true);
          page[off + BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.first_sect] = first;
          page[off + BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.last_sect] = last;
        }
        g.put(ringVa, page);
        // Named again: read from the producer index the page holds.
        platform.prefetchRing(PORT, g.domid, ring, 'blkif');
        await platform.flush();
        g.putU32(ringVa + SRING.req_prod, (new DataView(page.buffer).getUint32(SRING.req_prod, true) + delta) >>> 0);
        await dispatch(async () => {});
        const got = seen.at(-1)!;
        if (got.length) brought++;
        expect(got.reduce((a, x) => a + x.data.length, 0)).toBeLessThanOrEqual(1024 * 1024);
        for (const x of got) {
          expect(x.ref).toBe(8);
          expect(x.offset % 512).toBe(0);
          expect(x.offset + x.data.length).toBeLessThanOrEqual(4096);
        }
      }),
      { numRuns: 60 },
    );
    expect(brought).toBeGreaterThan(0); // the property reached the reading, not only the refusals
    expect(hv.domain(g.domid)).toBeDefined();
    // Still serving dom0's requests.
    expect((await platform.copyGrants([{ to: false, domid: g.domid, ref: 8, offset: 0, len: 16 }]))[0]!.status).toBe(GNTST.okay);
  });
});

