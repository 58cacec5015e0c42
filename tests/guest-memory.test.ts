// Guest memory that records its own writes (protocol/guest_memory.ts), and the page sync
// built on it between the hypervisor and a dom0 in its own process: guest stores and dom0
// stores to disjoint bytes of one page, in any order and with syncs anywhere between them,
// leave each side's bytes intact on both copies. Page updates carry exact spans, so neither
// side's sync writes bytes it did not store over the other side's.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteMemory, SpanSet, TrackedMemory } from '../protocol/guest_memory.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { decodeHot, encodeHot, type HotFrame, type HotOp } from '../protocol/hot_wire.ts';
import { Dom0Bridge } from '../hypervisor/server/dom0_bridge.ts';
import { RemotePlatform } from '../dom0/remote_platform.ts';
import type { Peer } from '../protocol/session.ts';
import { decodeFrame, encodeFrame, type OpName, type PageUpdate, type Request, type RequestOps, type Response } from '../protocol/wire.ts';
import { MmGuest, SPARE_VA, MiB } from './mm_helpers.ts';

const PAGE = 4096;

describe('SpanSet', () => {
  it('holds exactly the bytes added, merging only ranges that overlap or touch', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(PAGE), fc.nat(64)), { maxLength: 60 }), (adds) => {
        const s = new SpanSet();
        const want = new Uint8Array(PAGE + 64);
        for (const [lo, n] of adds) {
          s.add(lo, lo + n);
          want.fill(1, lo, lo + n);
        }
        const got = new Uint8Array(PAGE + 64);
        const spans = s.take();
        for (const [i, sp] of spans.entries()) {
          expect(sp.lo).toBeLessThan(sp.hi);
          // Sorted, and a gap between neighbours (touching ones are one span).
          if (i > 0) expect(sp.lo).toBeGreaterThan(spans[i - 1]!.hi);
          got.fill(1, sp.lo, sp.hi);
        }
        expect(got).toEqual(want);
        expect(s.size).toBe(0);
      }),
    );
  });
});

describe('TrackedMemory', () => {
  it('records every write method with its exact range, and not bytes from the other side', () => {
    const m = new TrackedMemory(new Uint8Array(PAGE));
    m.setU32le(8, 0xdeadbeef);
    m.setU16le(100, 7);
    m.setU8(12, 1); // touches [8, 12): one span
    m.write(200, new Uint8Array([1, 2, 3]));
    m.fill(300, 5, 9);
    m.applyRemote(0, new Uint8Array(64)); // the guest's bytes: not dom0's writes
    expect(m.takeSpans()).toEqual([
      { lo: 8, hi: 13 },
      { lo: 100, hi: 102 },
      { lo: 200, hi: 203 },
      { lo: 300, hi: 305 },
    ]);
    expect(m.takeSpans()).toEqual([]);
    expect(m.u32le(8)).toBe(0); // applyRemote did overwrite the bytes themselves
  });

  it('refuses accesses outside its page', () => {
    const m = new ByteMemory(new Uint8Array(16));
    expect(() => m.u32le(13)).toThrow(RangeError);
    expect(() => m.write(10, new Uint8Array(7))).toThrow(RangeError);
    expect(() => m.setU8(-1, 0)).toThrow(RangeError);
  });
});

/**
 * A hypervisor with a mirrored-page bridge and a RemotePlatform talking to it through the
 * wire encoding (no socket): requests are encoded, decoded and handled as the server does.
 */
function mirroredPair() {
  const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
  const bridge = new Dom0Bridge(hv, () => null);
  const frames: Request[] = [];
  const peer = {
    request<K extends OpName>(op: K, arg: RequestOps[K], _timeoutMs?: number, writes?: PageUpdate[]): Promise<Response> {
      const req = decodeFrame(encodeFrame({ request: { id: 1, ...(writes && writes.length ? { writes } : {}), [op]: arg } as Request })).request!;
      frames.push(req);
      const r = bridge.handle(req);
      return Promise.resolve({ id: 1, ...(r ?? { rc: -38 }) });
    },
    /** dom0's batches (protocol/hot_wire.ts), through the real encoding; their stores are recorded as a request's writes. */
    requestHot(req: { kind: 'batch'; ops: HotOp[] }): Promise<HotFrame> {
      const f = decodeHot(encodeHot({ ...req, id: 1 }));
      if (f.kind !== 'batch') throw new Error('not a batch');
      frames.push({ id: 1, writes: f.ops.flatMap((o) => (o.op === 'write' ? [{ mfn: o.mfn, offset: o.offset, data: o.data }] : [])) });
      return Promise.resolve({ kind: 'batchDone', id: 1, ...bridge.applyOps(f.ops) });
    },
  };
  const platform = new RemotePlatform(peer as unknown as Peer);
  /** The hypervisor's dispatch: the guests' stores since the last one reach dom0's mirrors. */
  const dispatch = () => platform.event({ port: 0, timeNs: 0, pages: bridge.service.takePageUpdates() });
  return { hv, bridge, platform, dispatch, frames };
}

type Step = { kind: 'guest' | 'dom0'; at: number; len: number; value: number } | { kind: 'dispatch' } | { kind: 'flush' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('guest' as const, 'dom0' as const), at: fc.nat(PAGE - 1), len: fc.integer({ min: 1, max: 48 }), value: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'dispatch' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
);

describe('page sync between the hypervisor and a dom0 in its own process', () => {
  it('random interleavings of guest and dom0 stores to disjoint bytes of one page leave both sides\' bytes intact on both copies', async () => {
    const { hv, platform, dispatch } = mirroredPair();
    const g = MmGuest.create(hv, { name: 'sync' });
    const mfn = g.mfnOfVa(SPARE_VA);
    const frame = hv.frames.frameStorage(mfn);
    const page = await platform.mapForeign(g.domid, mfn);
    await fc.assert(
      fc.asyncProperty(
        // Who owns each byte: the page in chunks of 2^shift bytes, by a random pattern.
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        fc.array(stepArb, { minLength: 1, maxLength: 40 }),
        async (shift, pattern, steps) => {
          const owner = (i: number): 'guest' | 'dom0' => (pattern[(i >> shift) % 64] ? 'guest' : 'dom0');
          // Start in step: both copies equal.
          await platform.flush();
          await dispatch();
          const want = frame.slice();
          for (const s of steps) {
            if (s.kind === 'dispatch') await dispatch();
            else if (s.kind === 'flush') await platform.flush();
            else {
              // The side stores each run of its own bytes in the range (one store each).
              for (let i = s.at; i < Math.min(PAGE, s.at + s.len); ) {
                if (owner(i) !== s.kind) {
                  i++;
                  continue;
                }
                let j = i;
                while (j < Math.min(PAGE, s.at + s.len) && owner(j) === s.kind) j++;
                const data = new Uint8Array(j - i).fill(s.value);
                want.set(data, i);
                if (s.kind === 'dom0') page.mem.write(i, data);
                else {
                  frame.set(data, i); // the guest's store instruction, as the CPU reports it
                  hv.mem.onStore?.(mfn * PAGE + i, j - i);
                }
                i = j;
              }
            }
          }
          // Sync both ways (dom0's stores ahead of its next request; the guest's with the next dispatch).
          await platform.flush();
          await dispatch();
          for (let i = 0; i < PAGE; i++) {
            if (frame[i] !== want[i]) throw new Error(`hypervisor's frame byte ${i} (${owner(i)}'s) is ${frame[i]}, want ${want[i]}`);
          }
          expect(page.mem.read(0, PAGE)).toEqual(want);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('sends several spans of one page as several page updates, each only the bytes written', async () => {
    const { hv, platform, frames } = mirroredPair();
    const g = MmGuest.create(hv, { name: 'spans' });
    const mfn = g.mfnOfVa(SPARE_VA);
    const page = await platform.mapForeign(g.domid, mfn);
    page.mem.setU32le(8, 1);
    page.mem.setU32le(64, 2);
    page.mem.setU32le(12, 3); // touches the first: merged
    await platform.flush();
    const sent = frames.at(-1)!.writes!.map((w) => [w.mfn, w.offset, w.data.length]);
    expect(sent).toEqual([
      [mfn, 8, 8],
      [mfn, 64, 4],
    ]);
  });
});
