// Deliberately broken echoif backends the ring kit ships (issue 16): each the example's
// backend (../echodev.ts) with one classic ring bug, for checking that the kit's three
// tools catch it — the conformance cases (`pvsim ringtest backend`), the fault cases
// (`pvsim ringtest faults`) and the exploration (`pvsim ringtest explore --backend`).
// Written, like the example, only against pvsim/driver.
//
//   no-final-check        answers, then sleeps without re-arming req_event
//                         (RING_FINAL_CHECK_FOR_REQUESTS left out)
//   no-recheck            re-arms req_event, but does not look at req_prod again after it
//                         (the lost wake-up window of a final check done by hand)
//   double-fetch          checks a request from one read of its slot, answers from a second
//                         (what the frontend wrote in between is what it answers)
//   publish-before-write  moves rsp_prod past a response before writing it
//   out-of-order          answers each batch newest first, for an in-order variant of
//                         echoif (`inOrder`: the frontend matches responses by slot)
//   rsp-overflow          publishes rsp_prod one past its responses (a response for a
//                         request never made), by hand: the ring library would refuse it

import { BackRing, SharedRing, defineBackend, type Backend, type RingProtocol } from 'pvsim/driver';
import { ECHOIF, protocol as echoProtocol } from '../echodev.ts';

export const ECHO_BUGS = ['no-final-check', 'no-recheck', 'double-fetch', 'publish-before-write', 'out-of-order', 'rsp-overflow'] as const;
export type EchoBug = (typeof ECHO_BUGS)[number];

interface Req {
  id: number;
  op: number;
  len: number;
  data: Uint8Array;
}

const parse = (b: Uint8Array): Req => {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { id: dv.getUint32(ECHOIF.req.id, true), op: dv.getUint16(ECHOIF.req.op, true), len: dv.getUint16(ECHOIF.req.len, true), data: b.slice(ECHOIF.req.data, ECHOIF.req.data + ECHOIF.MAX_INLINE) };
};

/** The answer to an ECHO (SUM is answered as an error here: these bugs are about the ring). */
function answer(req: Req): Uint8Array {
  const rsp = new Uint8Array(ECHOIF.ENTRY_BYTES);
  const dv = new DataView(rsp.buffer);
  dv.setUint32(ECHOIF.rsp.id, req.id, true);
  if (req.op !== ECHOIF.OP_ECHO || req.len > ECHOIF.MAX_INLINE) {
    dv.setInt16(ECHOIF.rsp.status, ECHOIF.RSP_ERROR, true);
    return rsp;
  }
  dv.setUint16(ECHOIF.rsp.len, req.len, true);
  for (let i = 0; i < req.len; i++) {
    const c = req.data[i]!;
    rsp[ECHOIF.rsp.data + i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
  }
  return rsp;
}

export function echoWithBug(bug: EchoBug): Backend {
  return defineBackend({
    type: 'echo',
    features: () => ({ 'max-len': String(ECHOIF.MAX_INLINE) }),
    async connect(dev) {
      const page = await dev.mapGrant(dev.frontendNumber('ring-ref'));
      const sring = new SharedRing(page.mem, ECHOIF.ENTRY_BYTES);
      const ring = new BackRing(sring);
      const work = async (): Promise<void> => {
        for (;;) {
          const snap = ring.snapshotRequests();
          if (snap.overflow) return dev.fail(`req_prod ${snap.prod} past the ring`);
          const batch: Req[] = [];
          for (let i = 0; i < snap.count; i++) {
            const idx = ring.reqCons;
            const first = parse(ring.copyRequest());
            if (bug === 'double-fetch') {
              // The bug: the checks above were on one read; the answer comes from another.
              const again = parse(ring.copyRequestAt(idx));
              batch.push({ ...again, len: first.len });
            } else batch.push(first);
            ring.consumed();
          }
          if (bug === 'out-of-order') batch.reverse();
          for (const req of batch) {
            const off = ring.nextResponse();
            if (bug === 'publish-before-write') {
              ring.produced();
              ring.pushResponses(); // the bug: published, then written
              page.mem.write(off, answer(req));
              continue;
            }
            page.mem.write(off, answer(req));
            ring.produced();
          }
          if (bug === 'rsp-overflow' && batch.length > 0) {
            ring.pushResponses();
            sring.rspProd = ring.rspProdPvt + 1; // the bug: one more than answered
            await channel.notify();
            if (!ring.finalCheckForRequests()) return;
            continue;
          }
          if (ring.pushResponsesAndCheckNotify()) await channel.notify();
          if (bug === 'no-final-check') return; // the bug: req_event never re-armed
          if (bug === 'no-recheck') {
            sring.reqEvent = ring.reqCons + 1; // re-armed, but req_prod not read again
            return;
          }
          if (!ring.finalCheckForRequests()) return;
        }
      };
      const channel = await dev.bindEvent(dev.frontendNumber('event-channel', 1), work);
      await work();
    },
  });
}

/** echoif for all but out-of-order; the in-order variant for it. */
export function protocolFor(bug: EchoBug): RingProtocol {
  // Only ECHO requests (even ids in echodev's protocol are ECHO; odd ones SUM over a grant).
  const p: RingProtocol = { ...echoProtocol, request: (id, grant) => echoProtocol.request(id * 2, grant) , responseId: (slot) => echoProtocol.responseId(slot) / 2 };
  return bug === 'out-of-order' ? { ...p, inOrder: true } : p;
}
