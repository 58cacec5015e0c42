// The shared ring (protocol/ring.ts) against ring.h's rules: property tests over any
// interleaving of frontend and backend steps, with indices that wrap around 2^32.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BackRing, FrontRing, RingError, SharedRing, ringSize, RING_HEADER_BYTES } from '../protocol/ring.ts';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';

const ENTRY = 16;

function rings(start: number) {
  const page = new Uint8Array(4096);
  const s = new SharedRing(page, ENTRY);
  s.init(start);
  return { page, s, front: new FrontRing(s), back: new BackRing(s) };
}

type Step = { who: 'front-produce'; n: number } | { who: 'back-work' } | { who: 'back-sleep' } | { who: 'front-consume' } | { who: 'front-sleep' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ who: fc.constant('front-produce' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.constant({ who: 'back-work' as const }),
  fc.constant({ who: 'back-sleep' as const }),
  fc.constant({ who: 'front-consume' as const }),
  fc.constant({ who: 'front-sleep' as const }),
);

/**
 * Frontend and backend over one page. A side that finds nothing after its final check
 * sleeps, and only a notification wakes it. Requests carry sequence numbers; the backend
 * answers each with the same number.
 */
function simulate(start: number, steps: Step[]) {
  const { page, front, back } = rings(start);
  const dv = new DataView(page.buffer);
  let nextReq = 0;
  let expectReq = 0;
  let expectRsp = 0;
  let backAsleep = false;
  let frontAsleep = false;
  const produce = (n: number) => {
    for (let i = 0; i < n && !front.full(); i++) {
      dv.setUint32(front.nextRequest(), nextReq++, true);
      front.produced();
      // Never more requests outstanding than the ring holds.
      expect((front.reqProdPvt - front.rspCons) >>> 0).toBeLessThanOrEqual(front.size);
    }
    if (front.pushRequestsAndCheckNotify()) backAsleep = false;
  };
  const backWork = () => {
    if (backAsleep) return;
    while (back.unconsumedRequests() > 0) {
      const v = dv.getUint32(back.nextRequest(), true);
      expect(v).toBe(expectReq++); // in order, none lost, none twice
      back.consumed();
      // The response slot belongs to a request already consumed: nothing is overwritten.
      expect((back.reqCons - back.rspProdPvt) >>> 0).toBeGreaterThan(0);
      dv.setUint32(back.nextResponse(), v, true);
      back.produced();
    }
    if (back.pushResponsesAndCheckNotify()) frontAsleep = false;
  };
  const frontConsume = () => {
    if (frontAsleep) return;
    while (front.unconsumedResponses() > 0) {
      expect(dv.getUint32(front.nextResponse(), true)).toBe(expectRsp++);
      front.consumed();
    }
  };
  for (const s of steps) {
    if (s.who === 'front-produce') produce(s.n);
    else if (s.who === 'back-work') backWork();
    else if (s.who === 'back-sleep') backAsleep = !back.finalCheckForRequests();
    else if (s.who === 'front-consume') frontConsume();
    else frontAsleep = !front.finalCheckForResponses();
  }
  // Drain: each side works while awake and sleeps when its final check says so. With no
  // lost wake-up, everything produced is answered and consumed.
  for (let i = 0; i < 1000; i++) {
    backWork();
    if (!backAsleep) backAsleep = !back.finalCheckForRequests();
    frontConsume();
    if (!frontAsleep) frontAsleep = !front.finalCheckForResponses();
    if (backAsleep && frontAsleep) break;
  }
  return { produced: nextReq, answered: expectReq, consumed: expectRsp };
}

describe('shared ring', () => {
  it('sizes like ring.h: a power of two of entries after the 64-byte header', () => {
    expect(RING_HEADER_BYTES).toBe(64);
    expect(ringSize(4096, 112)).toBe(32); // blkif
    expect(ringSize(4096, 12)).toBe(256); // netif tx
    expect(ringSize(4096, 8)).toBe(256); // netif rx
    expect(ringSize(4096, 4096)).toBe(0);
  });

  it.skipIf(!oracleAvailable())("agrees with Xen's __CONST_RING_SIZE", () => {
    const [blk, tx, rx] = evalXenExpressions(['xen/io/blkif.h', 'xen/io/netif.h'], ['__CONST_RING_SIZE(blkif, 4096)', '__CONST_RING_SIZE(netif_tx, 4096)', '__CONST_RING_SIZE(netif_rx, 4096)']);
    expect([blk, tx, rx]).toEqual([ringSize(4096, 112), ringSize(4096, 12), ringSize(4096, 8)]);
  });

  it('keeps indices consistent, never overwrites an unanswered slot, and loses no wake-up, for any interleaving', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(0), fc.constant(0xfffffff0), fc.nat()), fc.array(step, { maxLength: 200 }), (start, steps) => {
        const r = simulate(start >>> 0, steps);
        expect(r.answered).toBe(r.produced);
        expect(r.consumed).toBe(r.produced);
      }),
      { numRuns: 500 },
    );
  });

  it('serves requests published before the backend attached (BACK_RING_INIT/ATTACH), from the last published response', () => {
    for (const start of [0, 0xfffffffe]) {
      const { s, front } = rings(start);
      for (let i = 0; i < 3; i++) {
        front.nextRequest();
        front.produced();
      }
      front.pushRequestsAndCheckNotify();
      const late = new BackRing(s); // e.g. netfront's rx buffers, posted before Connected
      expect(late.unconsumedRequests()).toBe(3);
      late.consumed();
      late.nextResponse();
      late.produced();
      late.pushResponsesAndCheckNotify();
      expect(new BackRing(s).unconsumedRequests()).toBe(2); // a backend attaching again
    }
  });

  it('notifies only when the other side asked to be told (req_event/rsp_event)', () => {
    const { front, back } = rings(0);
    front.nextRequest();
    front.produced();
    expect(front.pushRequestsAndCheckNotify()).toBe(true); // req_event = 1 initially
    front.nextRequest();
    front.produced();
    expect(front.pushRequestsAndCheckNotify()).toBe(false); // the backend has not asked again
    while (back.unconsumedRequests()) back.consumed();
    expect(back.finalCheckForRequests()).toBe(false); // now it asks: req_event = 3
    front.nextRequest();
    front.produced();
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
  });

  it('bounds what a backend reads when a hostile frontend pushes req_prod past the ring', () => {
    const { s, back } = rings(0);
    s.reqProd = 1_000_000;
    expect(back.unconsumedRequests()).toBe(s.size); // never more than the slots it may read
    for (let i = 0; i < s.size; i++) back.consumed();
    expect(back.requestConsOverflow()).toBe(true);
    expect(back.unconsumedRequests()).toBe(0);
  });

  it('refuses to produce into a full ring', () => {
    const { front } = rings(0xfffffffe);
    for (let i = 0; i < front.size; i++) {
      front.nextRequest();
      front.produced();
    }
    expect(front.full()).toBe(true);
    expect(() => front.nextRequest()).toThrow(/ring full/);
  });

  it('never lets a hostile frontend make a backend step throw: the backend guards read only its private indices', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(fc.oneof(fc.record({ hostile: fc.constant(true as const), field: fc.constantFrom(0, 4, 8, 12), v: fc.nat() }), fc.record({ hostile: fc.constant(false as const), n: fc.integer({ min: 0, max: 20 }) })), { maxLength: 80 }),
        (start, steps) => {
          const { page, s, back } = rings(start >>> 0);
          const dv = new DataView(page.buffer);
          let halted = false;
          for (const st of steps) {
            if (st.hostile) {
              dv.setUint32(st.field, st.v >>> 0, true);
              continue;
            }
            if (halted) continue;
            // A backend written as docs/ringkit.md says: one snapshot, stop on overflow, copy each slot once.
            const snap = back.snapshotRequests();
            if (snap.overflow) {
              halted = true;
              continue;
            }
            for (let i = 0; i < Math.min(snap.count, st.n); i++) {
              back.copyRequest();
              back.consumed();
              back.nextResponse();
              back.produced();
            }
            back.pushResponsesAndCheckNotify();
            back.finalCheckForRequestsCount();
            expect(((back.reqCons - back.rspProdPvt) >>> 0) <= s.size).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses, with a RingError and no change, what breaks the protocol at either end', () => {
    const { s, front, back } = rings(0xfffffffe);
    expect(() => back.produced()).toThrow(RingError); // nothing consumed to answer
    expect(() => front.consumed()).toThrow(/no published response/);
    for (let i = 0; i < s.size; i++) back.consumed(); // a backend running ahead of its answers...
    expect(() => back.consumed()).toThrow(expect.objectContaining({ code: 'cons-overflow' })); // ...a ring ahead
    s.rspProd = front.rspCons + 1; // a response to a request never made
    expect(front.snapshotResponses()).toMatchObject({ overflow: true, count: 0 });
    expect(() => front.consumed()).toThrow(expect.objectContaining({ code: 'rsp-overflow' }));
    expect(front.rspCons).toBe(0xfffffffe);
  });

  it('batches wake-ups with a custom event placement and still loses none', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 30 }), fc.nat(), (batch, bursts, start) => {
        const { s, front, back } = rings(start >>> 0);
        let asleep = false;
        let served = 0;
        let produced = 0;
        const work = () => {
          for (;;) {
            const snap = back.snapshotRequests();
            for (let i = 0; i < snap.count; i++) {
              back.consumed();
              back.produced();
              served++;
            }
            back.pushResponses();
            if (!back.finalCheckForRequests(batch)) return;
          }
        };
        for (const n of bursts) {
          for (let i = 0; i < n && !front.full(); i++, produced++) front.produced();
          if (front.pushRequestsAndCheckNotify()) asleep = false;
          if (!asleep) {
            work();
            asleep = true;
          }
          while (front.unconsumedResponses() > 0) front.consumed();
          // Asleep with fewer than `batch` requests pending: exactly what was asked for.
          expect(((s.reqProd - back.reqCons) >>> 0) < batch || !asleep).toBe(true);
        }
        expect(produced - served).toBeLessThan(batch);
      }),
      { numRuns: 300 },
    );
  });

  it('attaches at a given index (FRONT_RING_ATTACH, BACK_RING_ATTACH) and publishes without a notify test (RING_PUSH_*)', () => {
    const { s } = rings(0);
    const front = FrontRing.attach(s, 0xfffffffe);
    const back = BackRing.attach(s, 0xfffffffe);
    s.reqProd = s.rspProd = 0xfffffffe;
    for (let i = 0; i < 3; i++) front.produced();
    front.pushRequests();
    expect(s.reqProd).toBe(1);
    expect(back.unconsumedRequests()).toBe(3);
    expect(FrontRing.xenInit(s).reqProdPvt).toBe(0);
    expect([s.reqProd, s.reqEvent, s.rspProd, s.rspEvent]).toEqual([0, 1, 0, 1]);
  });
});
