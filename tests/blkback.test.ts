// blkback's data path against Xen's blkif protocol, with a frontend played through a
// guest's own memory and grants: real files, real grant copies, one ring; every case runs
// with dom0 in-process and across a real WebSocket (RemotePlatform, mirrored pages).

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { machineAndPlatform, type PlatformKind } from './helpers/platforms.ts';
import { FileBlockStore } from '../dom0/backends/blk/store.ts';
import { BlkbackRing } from '../dom0/backends/blk/blkback.ts';
import { FrontRing, SharedRing } from '../protocol/ring.ts';
import { BLKIF_OP, BLKIF_REQUEST_SEGMENT, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, blkifRingSlot, readBlkifResponse, writeBlkifRequest, writeBlkifRequestDiscard, writeBlkifRequestIndirect, writeBlkifSegment, type BlkifSegment } from '../protocol/xen/blkif.ts';
import { GTF } from '../protocol/xen/grant_table.ts';
import { evtchnAllocUnbound, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { MmGuest, SPARE_VA, MiB } from './mm_helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-blk-'));
let n = 0;

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function setup(kind: PlatformKind, opts: { readonly?: boolean; persistent?: boolean } = {}) {
  const { hv, platform, stored, flush } = await machineAndPlatform(kind, closers);
  const g = MmGuest.create(hv, { name: 'front' });
  g.shareGrantTable(g.layout.virtBase + 3 * MiB);
  const ringMfn = g.mfnOfVa(SPARE_VA);
  const data = [1, 2, 3].map((i) => ({ va: SPARE_VA + i * 4096, mfn: g.mfnOfVa(SPARE_VA + i * 4096), ref: 8 + i }));
  g.grant(8, 0, ringMfn, GTF.permit_access);
  for (const d of data) g.grant(d.ref, 0, d.mfn, GTF.permit_access);
  const ringBytes = hv.frames.frameStorage(ringMfn);
  const sring = new SharedRing(ringBytes, BLKIF_RING_ENTRY_SIZE);
  sring.init();
  const front = new FrontRing(sring);
  const map = await platform.mapGrant(g.domid, 8, false);
  const gport = evtchnAllocUnbound(hv, g.domain, g.domid, 0);
  const port = await platform.bindInterdomain(g.domid, gport);
  const path = join(dir, `disk${n++}.img`);
  const store = new FileBlockStore(path, false, 1 * MiB);
  const disk = opts.readonly ? (store.close(), new FileBlockStore(path, true)) : store;
  const ring = new BlkbackRing(platform, g.domid, map.page!, port, disk, opts.persistent ?? false);
  // In-process, the test calls the backend's service directly. Across the socket, a pass
  // runs as it does for a guest: the test's stores to the ring and data pages are reported
  // (they are mirrored to dom0), the frontend's port is notified, the machine runs the
  // dispatch that carries those pages to dom0, and dom0's writes come back after.
  let chain = Promise.resolve();
  hv.pause(g.domain); // the frontend is played from here; the guest's own code need not run
  platform.onEvent(port, () => ring.service());
  const remotePass = () =>
    (chain = chain.then(async () => {
      for (const mfn of [ringMfn, ...data.map((d) => d.mfn)]) stored(mfn);
      evtchnSend(hv, g.domain, gport);
      await hv.runAsync({ until: hv.now() + 1_000_000 });
      await flush();
    }));
  const back = new Proxy(ring, {
    get(target, prop) {
      if (prop === 'service' && kind === 'remote') return remotePass;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const dv = new DataView(ringBytes.buffer, ringBytes.byteOffset, ringBytes.byteLength);
  let id = 1n;
  const submit = (operation: number, sector: number, seg: BlkifSegment[]) => {
    writeBlkifRequest(dv, front.nextRequest(), { operation, nr_segments: seg.length, handle: 0, id: id++, sector_number: BigInt(sector), seg });
    front.produced();
    front.pushRequestsAndCheckNotify();
  };
  const responses = () => {
    const out: { id: bigint; status: number }[] = [];
    while (front.unconsumedResponses() > 0) {
      const r = readBlkifResponse(dv, front.nextResponse());
      out.push({ id: r.id, status: r.status });
      front.consumed();
    }
    return out;
  };
  return { hv, g, data, back, disk, path, dv, front, submit, responses };
}

const whole = (ref: number): BlkifSegment => ({ gref: ref, first_sect: 0, last_sect: 7 });

describe.each(['local', 'remote'] as const)('blkback (dom0 %s)', (kind) => {
  it('writes a granted page to the image and reads it back into another', async () => {
    const { g, data, back, path, submit, responses } = await setup(kind);
    const pattern = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff);
    g.put(data[0]!.va, pattern);
    submit(BLKIF_OP.WRITE, 8, [whole(data[0]!.ref)]);
    await back.service();
    expect(responses()).toEqual([{ id: 1n, status: BLKIF_RSP.OKAY }]);
    expect([...readFileSync(path).subarray(8 * 512, 8 * 512 + 4096)]).toEqual([...pattern]);
    submit(BLKIF_OP.READ, 8, [whole(data[1]!.ref)]);
    submit(BLKIF_OP.FLUSH_DISKCACHE, 0, []);
    await back.service();
    expect(responses()).toEqual([
      { id: 2n, status: BLKIF_RSP.OKAY },
      { id: 3n, status: BLKIF_RSP.OKAY },
    ]);
    expect([...g.get(data[1]!.va, 4096)]).toEqual([...pattern]);
    expect(back.stats).toMatchObject({ reads: 1, writes: 1, flushes: 1, errors: 0 });
  });

  it('reads and writes partial pages by first_sect..last_sect', async () => {
    const { g, data, back, path, submit, responses } = await setup(kind);
    g.put(data[0]!.va + 2 * 512, new Uint8Array(512).fill(0xab));
    submit(BLKIF_OP.WRITE, 100, [{ gref: data[0]!.ref, first_sect: 2, last_sect: 2 }]);
    await back.service();
    expect(responses()[0]!.status).toBe(BLKIF_RSP.OKAY);
    const img = readFileSync(path);
    expect(img[100 * 512]).toBe(0xab);
    expect(img[100 * 512 + 511]).toBe(0xab);
    expect(img[101 * 512]).toBe(0);
  });

  it('answers hostile requests with errors, one by one, and then still serves good ones', async () => {
    const { g, data, back, path, dv, front, submit, responses } = await setup(kind);
    const before = readFileSync(path);
    submit(9, 0, [whole(data[0]!.ref)]); // unknown operation
    submit(BLKIF_OP.WRITE, 0, []); // no segments
    writeBlkifRequest(dv, front.nextRequest(), { operation: BLKIF_OP.WRITE, nr_segments: 12, handle: 0, id: 99n, sector_number: 0n, seg: [] });
    front.produced();
    front.pushRequestsAndCheckNotify();
    submit(BLKIF_OP.WRITE, 0, [{ gref: data[0]!.ref, first_sect: 5, last_sect: 2 }]); // first > last
    submit(BLKIF_OP.WRITE, 0, [{ gref: data[0]!.ref, first_sect: 0, last_sect: 8 }]); // past the page
    submit(BLKIF_OP.READ, 2047, [whole(data[0]!.ref)]); // past the end of the disk
    submit(BLKIF_OP.READ, 0, [whole(4000)]); // a gref never granted
    submit(BLKIF_OP.WRITE, 0, [whole(data[0]!.ref), whole(4001)]); // one bad grant: writes nothing
    g.setGrantFlags(data[2]!.ref, GTF.permit_access | GTF.readonly);
    submit(BLKIF_OP.READ, 0, [whole(data[2]!.ref)]); // a read into a read-only grant
    await back.service();
    const r = responses();
    expect(r.map((x) => x.status)).toEqual([
      BLKIF_RSP.EOPNOTSUPP,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
      BLKIF_RSP.ERROR,
    ]);
    expect(r[2]!.id).toBe(99n);
    expect(readFileSync(path).equals(before)).toBe(true);
    g.put(data[0]!.va, new Uint8Array(4096).fill(0x5a));
    submit(BLKIF_OP.WRITE, 16, [whole(data[0]!.ref)]);
    await back.service();
    expect(responses()[0]!.status).toBe(BLKIF_RSP.OKAY);
    expect(readFileSync(path)[16 * 512]).toBe(0x5a);
  });

  it('refuses writes to a read-only disk', async () => {
    const { data, back, submit, responses } = await setup(kind, { readonly: true });
    submit(BLKIF_OP.WRITE, 0, [whole(data[0]!.ref)]);
    submit(BLKIF_OP.READ, 0, [whole(data[0]!.ref)]);
    await back.service();
    expect(responses().map((x) => x.status)).toEqual([BLKIF_RSP.ERROR, BLKIF_RSP.OKAY]);
  });

  it('discards to zeros', async () => {
    const { g, data, back, path, dv, front, submit, responses } = await setup(kind);
    g.put(data[0]!.va, new Uint8Array(4096).fill(1));
    submit(BLKIF_OP.WRITE, 0, [whole(data[0]!.ref)]);
    writeBlkifRequestDiscard(dv, front.nextRequest(), { operation: BLKIF_OP.DISCARD, flag: 0, handle: 0, id: 50n, sector_number: 2n, nr_sectors: 4n });
    front.produced();
    front.pushRequestsAndCheckNotify();
    await back.service();
    expect(responses().map((x) => x.status)).toEqual([BLKIF_RSP.OKAY, BLKIF_RSP.OKAY]);
    const img = readFileSync(path);
    expect(img[512]).toBe(1);
    expect(img[2 * 512]).toBe(0);
    expect(img[5 * 512 + 511]).toBe(0);
    expect(img[6 * 512]).toBe(1);
  });

  it('serves indirect requests: segments read from a granted indirect page, answered with the inner operation', async () => {
    const { g, data, back, path, dv, front, responses } = await setup(kind);
    const ind = data[2]!;
    const writeSegs = (segs: BlkifSegment[]) => {
      const page = new Uint8Array(4096);
      const pdv = new DataView(page.buffer);
      segs.forEach((s, i) => writeBlkifSegment(pdv, i * BLKIF_REQUEST_SEGMENT.SIZE, s));
      g.put(ind.va, page);
    };
    const submitIndirect = (indirect_op: number, nr_segments: number, id: bigint, sector: number) => {
      const grefs = [ind.ref, 0, 0, 0, 0, 0, 0, 0];
      writeBlkifRequestIndirect(dv, front.nextRequest(), { operation: BLKIF_OP.INDIRECT, indirect_op, nr_segments, id, sector_number: BigInt(sector), handle: 0, indirect_grefs: grefs });
      front.produced();
      front.pushRequestsAndCheckNotify();
    };
    // 12 segments: one more than a direct request may carry. Each names a sector of data[0] or data[1].
    const segs = Array.from({ length: 12 }, (_, i) => ({ gref: data[i % 2]!.ref, first_sect: i >> 1, last_sect: i >> 1 }));
    g.put(data[0]!.va, Uint8Array.from({ length: 4096 }, (_, i) => (i >> 9) + 1));
    g.put(data[1]!.va, Uint8Array.from({ length: 4096 }, (_, i) => (i >> 9) + 101));
    writeSegs(segs);
    submitIndirect(BLKIF_OP.WRITE, 12, 7n, 40);
    await back.service();
    expect(responses()).toEqual([{ id: 7n, status: BLKIF_RSP.OKAY }]);
    const img = readFileSync(path);
    expect(Array.from({ length: 12 }, (_, i) => img[(40 + i) * 512])).toEqual([1, 101, 2, 102, 3, 103, 4, 104, 5, 105, 6, 106]);
    expect(img[51 * 512 + 511]).toBe(106);

    g.put(data[0]!.va, new Uint8Array(4096));
    writeSegs([{ gref: data[0]!.ref, first_sect: 0, last_sect: 7 }]);
    submitIndirect(BLKIF_OP.READ, 1, 8n, 40);
    await back.service();
    const slot = front.sring.rspProd - 1;
    expect(readBlkifResponse(dv, blkifRingSlot(slot)).operation).toBe(BLKIF_OP.READ);
    expect(responses()).toEqual([{ id: 8n, status: BLKIF_RSP.OKAY }]);
    expect(g.get(data[0]!.va, 1)[0]).toBe(1);
    expect(g.get(data[0]!.va + 512, 1)[0]).toBe(101);

    submitIndirect(BLKIF_OP.DISCARD, 1, 9n, 0); // only READ and WRITE may be indirect
    submitIndirect(BLKIF_OP.WRITE, 0, 10n, 0);
    submitIndirect(BLKIF_OP.WRITE, 257, 11n, 0);
    writeBlkifRequestIndirect(dv, front.nextRequest(), { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.READ, nr_segments: 1, id: 12n, sector_number: 0n, handle: 0, indirect_grefs: [4000, 0, 0, 0, 0, 0, 0, 0] });
    front.produced();
    front.pushRequestsAndCheckNotify();
    await back.service();
    expect(responses().map((r) => r.status)).toEqual([BLKIF_RSP.EOPNOTSUPP, BLKIF_RSP.ERROR, BLKIF_RSP.ERROR, BLKIF_RSP.ERROR]);
  });

  it('keeps persistent grants mapped across requests (feature-persistent), serving the live page, and lets go on disconnect', async () => {
    const { g, data, back, path, submit, responses } = await setup(kind, { persistent: true });
    g.put(data[0]!.va, new Uint8Array(4096).fill(0x11));
    submit(BLKIF_OP.WRITE, 0, [whole(data[0]!.ref)]);
    await back.service();
    expect(back.persistentGrants).toBe(1);
    // The mapping stays: the guest's next contents of the same page are what the next write takes.
    expect(g.grantFlags(data[0]!.ref) & (GTF.reading | GTF.writing)).not.toBe(0);
    g.put(data[0]!.va, new Uint8Array(4096).fill(0x22));
    submit(BLKIF_OP.WRITE, 8, [whole(data[0]!.ref)]);
    submit(BLKIF_OP.READ, 0, [whole(data[1]!.ref)]);
    submit(BLKIF_OP.READ, 0, [whole(4000)]); // never granted: an error for this request only
    await back.service();
    expect(responses().map((r) => r.status)).toEqual([BLKIF_RSP.OKAY, BLKIF_RSP.OKAY, BLKIF_RSP.OKAY, BLKIF_RSP.ERROR]);
    const img = readFileSync(path);
    expect([img[0], img[8 * 512], img[8 * 512 + 4095]]).toEqual([0x11, 0x22, 0x22]);
    expect(g.get(data[1]!.va + 4095, 1)[0]).toBe(0x11);
    expect(back.persistentGrants).toBe(2);
    await back.releasePersistent();
    expect(back.persistentGrants).toBe(0);
    expect(g.grantFlags(data[0]!.ref) & (GTF.reading | GTF.writing)).toBe(0);
  });

  it('serves each request once when events arrive while a pass is under way', async () => {
    const { g, data, back, submit, responses } = await setup(kind);
    g.put(data[0]!.va, new Uint8Array(4096).fill(7));
    submit(BLKIF_OP.WRITE, 0, [whole(data[0]!.ref)]);
    submit(BLKIF_OP.READ, 0, [whole(data[1]!.ref)]);
    await Promise.all([back.service(), back.service(), back.service()]);
    expect(responses()).toEqual([
      { id: 1n, status: BLKIF_RSP.OKAY },
      { id: 2n, status: BLKIF_RSP.OKAY },
    ]);
    expect(back.stats.requests).toBe(2);
  });

  it('halts a ring whose frontend pushes req_prod past it, as Xen does, serving nothing from it', async () => {
    const { back, dv } = await setup(kind);
    dv.setUint32(0, 1_000_000, true); // req_prod
    await back.service();
    expect(back.halted).toBe(true);
    expect(back.lastError).toMatch(/past the ring/);
    expect(back.stats.requests).toBe(0);
  });
});
