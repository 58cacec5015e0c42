// The blkif conformance suite (xen/io/blkif.h) for a block backend: the handshake in every
// order, every operation (READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE, DISCARD, INDIRECT)
// answered as the backend's advertised features say, the segment and sector limits, and
// hostile requests (bad grants, garbage in padding, a request rewritten after it was read).
// Runs on the guestless bench (harness.ts) with indices across the 2^32 wrap; the
// protocol-independent ring cases (RING_CASES) run with blkif's shape beside these.

import {
  BLKBACK_KEY,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_REQUEST,
  BLKIF_REQUEST_SEGMENT,
  BLKIF_RING_ENTRY_SIZE,
  BLKIF_RSP,
  readBlkifResponse,
  writeBlkifRequest,
  writeBlkifRequestDiscard,
  writeBlkifRequestIndirect,
  type BlkifSegment,
} from '../../../protocol/xen/blkif.ts';
import { Bench, ringConformance, type BackendUnderTest, type RingProtocol } from '../harness.ts';
import type { FakePlatform } from '../harness.ts';
import { expectThat, runConformance, turns, type ConformanceCase, type ConformanceResult } from './common.ts';
import { HANDSHAKE_CASES, openHandshake } from './xenbus.ts';

const PAGE = 4096;

export interface BlkifCtx {
  b: Bench;
  features: Record<string, string>;
  /** Disk size in sectors, as advertised. */
  sectors: number;
  /** A fresh data page granted to the backend. */
  page(readonly?: boolean, fill?: number): { ref: number; bytes: Uint8Array };
  /** Sends requests (raw entries) and returns the responses that came back. */
  ask(entries: Uint8Array[]): Promise<{ id: bigint; operation: number; status: number }[]>;
}

/** A blkif_request for the ring, built with every byte a caller may want to spoil. */
export function blkReq(r: { op: number; id: number; sector?: number; seg: BlkifSegment[]; nr?: number }): Uint8Array {
  const e = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
  const dv = new DataView(e.buffer);
  writeBlkifRequest(dv, 0, { operation: r.op, nr_segments: r.seg.length, handle: 0, id: BigInt(r.id), sector_number: BigInt(r.sector ?? 0), seg: r.seg });
  if (r.nr !== undefined) dv.setUint8(BLKIF_REQUEST.nr_segments, r.nr);
  return e;
}

const seg = (gref: number, first = 0, last = 7): BlkifSegment => ({ gref, first_sect: first, last_sect: last });
const ok = (rs: { id: bigint; status: number }[], n: number, what: string) => {
  expectThat(rs.length === n, `${what}: ${rs.length} responses for ${n} requests`);
  for (const r of rs) expectThat(r.status === BLKIF_RSP.OKAY, `${what}: status ${r.status} for id ${r.id}, not BLKIF_RSP_OKAY`);
};
const refused = (rs: { status: number }[], what: string) => {
  expectThat(rs.length === 1, `${what}: ${rs.length} responses, not 1`);
  expectThat(rs[0]!.status === BLKIF_RSP.ERROR || rs[0]!.status === BLKIF_RSP.EOPNOTSUPP, `${what}: status ${rs[0]!.status}, not an error`);
};
const feature = (c: BlkifCtx, k: string) => c.features[k] === '1';

/** Writes `fill` to `n` sectors at `sector`, one page a segment. */
async function writeSectors(c: BlkifCtx, id: number, sector: number, fill: number, segs = 1): Promise<number> {
  const pages = Array.from({ length: segs }, () => c.page(true, fill));
  const [r] = await c.ask([blkReq({ op: BLKIF_OP.WRITE, id, sector, seg: pages.map((p) => seg(p.ref)) })]);
  return r?.status ?? NaN;
}

export const BLKIF_CASES: readonly ConformanceCase<BlkifCtx>[] = [
  {
    name: 'blkif: WRITE then READ returns the bytes written',
    run: async (c) => {
      expectThat((await writeSectors(c, 1, 8, 0x5a)) === BLKIF_RSP.OKAY, 'WRITE not OKAY');
      const dst = c.page(false, 0);
      ok(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 2, sector: 8, seg: [seg(dst.ref)] })]), 1, 'READ');
      expectThat(dst.bytes.every((x) => x === 0x5a), 'READ did not return what WRITE wrote');
    },
  },
  {
    name: 'blkif: READ and WRITE with every segment count 1..11',
    run: async (c) => {
      for (let n = 1; n <= BLKIF_MAX_SEGMENTS_PER_REQUEST; n++) {
        expectThat((await writeSectors(c, n, 0, n, n)) === BLKIF_RSP.OKAY, `WRITE of ${n} segments not OKAY`);
        const dst = Array.from({ length: n }, () => c.page(false, 0));
        ok(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 100 + n, sector: 0, seg: dst.map((p) => seg(p.ref)) })]), 1, `READ of ${n} segments`);
        expectThat(dst.every((p) => p.bytes.every((x) => x === n)), `READ of ${n} segments: wrong data`);
      }
    },
  },
  {
    name: 'blkif: first_sect/last_sect move data within the page only',
    run: async (c) => {
      expectThat((await writeSectors(c, 1, 16, 0x33)) === BLKIF_RSP.OKAY, 'WRITE not OKAY');
      const dst = c.page(false, 0xee);
      ok(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 2, sector: 16, seg: [seg(dst.ref, 3, 4)] })]), 1, 'READ of sectors 3..4');
      const inside = dst.bytes.subarray(3 * 512, 5 * 512);
      expectThat(inside.every((x) => x === 0x33), 'sectors 3..4 of the page not filled');
      expectThat(dst.bytes.subarray(0, 3 * 512).every((x) => x === 0xee) && dst.bytes.subarray(5 * 512).every((x) => x === 0xee), 'bytes outside first_sect..last_sect were written');
    },
  },
  {
    name: 'blkif: a READ of 0 segments is an error',
    hostile: true,
    run: async (c) => refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, seg: [] })]), 'nr_segments 0'),
  },
  {
    name: 'blkif: nr_segments 12 (past BLKIF_MAX_SEGMENTS_PER_REQUEST) is an error',
    hostile: true,
    run: async (c) => {
      const p = c.page(false);
      refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, seg: Array.from({ length: 11 }, () => seg(p.ref)), nr: 12 })]), 'nr_segments 12');
    },
  },
  {
    name: 'blkif: nr_segments 255 is an error',
    hostile: true,
    run: async (c) => refused(await c.ask([blkReq({ op: BLKIF_OP.WRITE, id: 1, seg: [seg(c.page(true).ref)], nr: 255 })]), 'nr_segments 255'),
  },
  {
    name: 'blkif: last_sect 8 (past the page) is an error',
    hostile: true,
    run: async (c) => refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, seg: [seg(c.page().ref, 0, 8)] })]), 'last_sect 8'),
  },
  {
    name: 'blkif: first_sect > last_sect is an error',
    hostile: true,
    run: async (c) => refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, seg: [seg(c.page().ref, 5, 2)] })]), 'first_sect 5 last_sect 2'),
  },
  {
    name: 'blkif: a request past the end of the disk is an error',
    hostile: true,
    run: async (c) => {
      refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, sector: c.sectors - 4, seg: [seg(c.page().ref)] })]), 'READ across the end');
      refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 2, sector: 2 ** 40, seg: [seg(c.page().ref)] })]), 'READ at sector 2^40');
    },
  },
  {
    name: 'blkif: WRITE_BARRIER answered as feature-barrier says',
    run: async (c) => {
      const [r] = await c.ask([blkReq({ op: BLKIF_OP.WRITE_BARRIER, id: 9, seg: [seg(c.page(true, 1).ref)] })]);
      expectThat(r !== undefined, 'no response');
      if (feature(c, BLKBACK_KEY.feature_barrier)) expectThat(r.status === BLKIF_RSP.OKAY, `feature-barrier=1 but status ${r.status}`);
      else expectThat(r.status === BLKIF_RSP.EOPNOTSUPP, `no feature-barrier: status ${r.status}, not BLKIF_RSP_EOPNOTSUPP`);
      expectThat(r.operation === BLKIF_OP.WRITE_BARRIER, `response operation ${r.operation}`);
    },
  },
  {
    name: 'blkif: FLUSH_DISKCACHE (0 segments) answered as feature-flush-cache says',
    run: async (c) => {
      const [r] = await c.ask([blkReq({ op: BLKIF_OP.FLUSH_DISKCACHE, id: 9, seg: [] })]);
      expectThat(r !== undefined, 'no response');
      if (feature(c, BLKBACK_KEY.feature_flush_cache)) expectThat(r.status === BLKIF_RSP.OKAY, `feature-flush-cache=1 but status ${r.status}`);
      else expectThat(r.status === BLKIF_RSP.EOPNOTSUPP, `no feature-flush-cache: status ${r.status}`);
      expectThat(r.operation === BLKIF_OP.FLUSH_DISKCACHE, `response operation ${r.operation}`);
    },
  },
  {
    name: 'blkif: DISCARD in range answered as feature-discard says, and reads back zero',
    run: async (c) => {
      await writeSectors(c, 1, 64, 0x77);
      const e = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      writeBlkifRequestDiscard(new DataView(e.buffer), 0, { operation: BLKIF_OP.DISCARD, flag: 0, handle: 0, id: 5n, sector_number: 64n, nr_sectors: 8n });
      const [r] = await c.ask([e]);
      expectThat(r !== undefined, 'no response');
      if (!feature(c, BLKBACK_KEY.feature_discard)) return expectThat(r.status === BLKIF_RSP.EOPNOTSUPP || r.status === BLKIF_RSP.ERROR, `no feature-discard: status ${r.status}`);
      expectThat(r.status === BLKIF_RSP.OKAY, `DISCARD status ${r.status}`);
      const dst = c.page(false, 0x11);
      ok(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 6, sector: 64, seg: [seg(dst.ref)] })]), 1, 'READ after DISCARD');
      expectThat(dst.bytes.every((x) => x === 0 || x === 0x77), 'a discarded range read back neither zeros nor the old data');
    },
  },
  {
    name: 'blkif: DISCARD past the end of the disk is an error',
    hostile: true,
    run: async (c) => {
      const e = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      writeBlkifRequestDiscard(new DataView(e.buffer), 0, { operation: BLKIF_OP.DISCARD, flag: 0, handle: 0, id: 5n, sector_number: BigInt(c.sectors - 1), nr_sectors: 0xffff_ffff_ffffn });
      refused(await c.ask([e]), 'DISCARD past the end');
    },
  },
  {
    name: 'blkif: INDIRECT READ of 32 segments answered as feature-max-indirect-segments says',
    run: async (c) => {
      const max = Number(c.features[BLKBACK_KEY.feature_max_indirect_segments] ?? 0);
      const n = 32;
      const data = Array.from({ length: n }, () => c.page(false, 0));
      const ind = c.page(true, 0);
      const dv = new DataView(ind.bytes.buffer);
      data.forEach((p, i) => {
        dv.setUint32(i * BLKIF_REQUEST_SEGMENT.SIZE + BLKIF_REQUEST_SEGMENT.gref, p.ref, true);
        dv.setUint8(i * BLKIF_REQUEST_SEGMENT.SIZE + BLKIF_REQUEST_SEGMENT.first_sect, 0);
        dv.setUint8(i * BLKIF_REQUEST_SEGMENT.SIZE + BLKIF_REQUEST_SEGMENT.last_sect, 7);
      });
      const e = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      writeBlkifRequestIndirect(new DataView(e.buffer), 0, { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.READ, nr_segments: n, id: 3n, sector_number: 0n, handle: 0, indirect_grefs: [ind.ref, 0, 0, 0, 0, 0, 0, 0] });
      const [r] = await c.ask([e]);
      expectThat(r !== undefined, 'no response');
      if (max >= n) expectThat(r.status === BLKIF_RSP.OKAY && r.operation === BLKIF_OP.READ, `INDIRECT: status ${r.status} operation ${r.operation} (want OKAY, READ)`);
      else expectThat(r.status !== BLKIF_RSP.OKAY, `feature-max-indirect-segments ${max} but an indirect request of ${n} was OKAY`);
    },
  },
  {
    name: 'blkif: INDIRECT past feature-max-indirect-segments, or wrapping a DISCARD, is an error',
    hostile: true,
    run: async (c) => {
      const max = Number(c.features[BLKBACK_KEY.feature_max_indirect_segments] ?? 0);
      const e = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      writeBlkifRequestIndirect(new DataView(e.buffer), 0, { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.READ, nr_segments: Math.min(0xffff, max + 1), id: 3n, sector_number: 0n, handle: 0, indirect_grefs: Array(8).fill(c.page().ref) });
      refused(await c.ask([e]), `INDIRECT of ${max + 1} segments`);
      writeBlkifRequestIndirect(new DataView(e.buffer), 0, { operation: BLKIF_OP.INDIRECT, indirect_op: BLKIF_OP.DISCARD, nr_segments: 1, id: 4n, sector_number: 0n, handle: 0, indirect_grefs: Array(8).fill(c.page().ref) });
      refused(await c.ask([e]), 'INDIRECT wrapping DISCARD');
    },
  },
  {
    name: 'blkif: an unknown operation is answered EOPNOTSUPP or ERROR, the ring goes on',
    hostile: true,
    run: async (c) => {
      refused(await c.ask([blkReq({ op: 0x63, id: 1, seg: [seg(c.page().ref)] })]), 'operation 99');
      ok(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 2, seg: [seg(c.page().ref)] })]), 1, 'READ after it');
    },
  },
  {
    name: 'blkif: a data grant that is no grant is an error, the ring goes on',
    hostile: true,
    run: async (c) => {
      refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, seg: [seg(0x7fff_0000)] })]), 'READ into grant 0x7fff0000');
      ok(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 2, seg: [seg(c.page().ref)] })]), 1, 'READ after it');
    },
  },
  {
    name: 'blkif: a READ into a read-only grant is an error',
    hostile: true,
    run: async (c) => {
      const p = c.page(true, 0x42);
      refused(await c.ask([blkReq({ op: BLKIF_OP.READ, id: 1, seg: [seg(p.ref)] })]), 'READ into a read-only grant');
      expectThat(p.bytes.every((x) => x === 0x42), 'a read-only page was written');
    },
  },
  {
    name: 'blkif: garbage in the padding and unused segments is ignored',
    run: async (c) => {
      const e = blkReq({ op: BLKIF_OP.READ, id: 7, seg: [seg(c.page().ref)] });
      e.fill(0xa5, 4, 8); // padding after handle
      e.fill(0xa5, BLKIF_REQUEST.seg + 6, BLKIF_REQUEST.seg + 8); // the segment's padding
      e.fill(0xa5, BLKIF_REQUEST.seg + BLKIF_REQUEST_SEGMENT.SIZE, BLKIF_REQUEST.SIZE); // segments past nr_segments
      const rs = await c.ask([e]);
      ok(rs, 1, 'READ with garbage padding');
      expectThat(rs[0]!.id === 7n && rs[0]!.operation === BLKIF_OP.READ, `response id ${rs[0]!.id} operation ${rs[0]!.operation}`);
    },
  },
  {
    name: 'blkif: a request rewritten after it was read is carried out as read (no double fetch)',
    hostile: true,
    run: async (c) => {
      const good = c.page(false, 0);
      const p = c.b.platform;
      p.holdCopies = true;
      const sent = c.b.sendRaw([blkReq({ op: BLKIF_OP.READ, id: 11, sector: 0, seg: [seg(good.ref)] })]);
      const held = await c.b.untilCopyHeld();
      // The frontend rewrites the published slot: another id, a wild sector, a bad grant.
      const off = (c.b.front.reqProdPvt - 1) >>> 0;
      const slot = c.b.sring.slot(off);
      c.b.ringPage.set(blkReq({ op: BLKIF_OP.WRITE, id: 66, sector: 2 ** 40, seg: [seg(0x7fff_0000, 0, 7)] }), slot);
      p.holdCopies = false;
      p.releaseCopies();
      await sent;
      await turns(20);
      await c.b.kick();
      const rs = c.b.takeRaw().map((s) => readBlkifResponse(new DataView(s.buffer, s.byteOffset, s.byteLength), 0));
      expectThat(!held || (rs.length === 1 && rs[0]!.id === 11n), `responses ${JSON.stringify(rs.map((r) => `${r.id}:${r.status}`))}, want one for id 11`);
    },
  },
  {
    name: 'blkif: responses carry the request id and operation, in any order, each once',
    run: async (c) => {
      const ids = [3, 1, 4, 15, 9, 2, 6];
      const rs = await c.ask(ids.map((id) => blkReq({ op: id % 2 ? BLKIF_OP.READ : BLKIF_OP.WRITE, id: id * 1_000_000_007, sector: id, seg: [seg(c.page(id % 2 === 0).ref)] })));
      ok(rs, ids.length, 'seven requests');
      const got = rs.map((r) => Number(r.id / 1_000_000_007n)).sort((a, b) => a - b);
      expectThat(JSON.stringify(got) === JSON.stringify([...ids].sort((a, b) => a - b)), `ids answered ${JSON.stringify(got)}`);
      for (const r of rs) expectThat(r.operation === (Number(r.id / 1_000_000_007n) % 2 ? BLKIF_OP.READ : BLKIF_OP.WRITE), `id ${r.id}: operation ${r.operation}`);
    },
  },
];

/** What the suite runs against: a backend, and the backend keys of a fresh disk for each case. */
export interface BlkifSubject {
  def: BackendUnderTest;
  backendKeys: () => Record<string, string>;
}

/** blkif's shape for the protocol-independent ring cases: a one-segment READ of sector 0. */
export function blkifRingProtocol(backendKeys: Record<string, string>): RingProtocol {
  return {
    entryBytes: BLKIF_RING_ENTRY_SIZE,
    request: (id, grant) => blkReq({ op: BLKIF_OP.READ, id, seg: [seg(grant(new Uint8Array(PAGE), false))] }),
    responseId: (slot) => Number(readBlkifResponse(new DataView(slot.buffer, slot.byteOffset, slot.byteLength), 0).id),
    backendKeys,
  };
}

function grantPage(platform: FakePlatform, readonly: boolean, fill: number): { ref: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(PAGE).fill(fill);
  return { ref: platform.grant(bytes, readonly), bytes };
}

/** Every case of the blkif suite: handshake, blkif's own, then the ring cases with blkif's shape. */
export async function blkifConformance(s: BlkifSubject, only?: string): Promise<ConformanceResult[]> {
  const out: ConformanceResult[] = [];
  out.push(
    ...(await runConformance(HANDSHAKE_CASES, () => openHandshake({ def: s.def, backendKeys: s.backendKeys(), frontendKeys: (p) => ({ 'ring-ref': String(p.grant(new Uint8Array(PAGE))), 'event-channel': '7' }) }), only)),
  );
  out.push(
    ...(await runConformance(
      BLKIF_CASES,
      async () => {
        const b = new Bench(s.def, blkifRingProtocol(s.backendKeys()), { syncBoundMs: 300, asyncBoundMs: 1000 });
        const features = b.features();
        await b.connect();
        const ctx: BlkifCtx = {
          b,
          features,
          sectors: Number(features[BLKBACK_KEY.sectors] ?? features.sectors ?? 0),
          page: (ro = false, fill = 0) => grantPage(b.platform, ro, fill),
          ask: async (entries) => {
            await b.sendRaw(entries);
            await turns(3);
            return b.takeRaw().map((x) => readBlkifResponse(new DataView(x.buffer, x.byteOffset, x.byteLength), 0));
          },
        };
        return {
          ctx,
          gaveUp: () => b.failed,
          close: async () => {
            await b.disconnect();
            return b.held() ? `${b.held()} grant mappings or ports still held after disconnect` : null;
          },
        };
      },
      only,
    )),
  );
  if (only === undefined || !out.some((r) => r.name === only)) {
    const t0 = Date.now();
    const ring = await ringConformance(s.def, blkifRingProtocol(s.backendKeys()));
    const ms = Math.round((Date.now() - t0) / Math.max(1, ring.length));
    for (const r of ring) if (only === undefined || only === `ring: ${r.name}`) out.push({ name: `ring: ${r.name}`, ok: r.ok, detail: r.detail, ms });
  }
  return out;
}

