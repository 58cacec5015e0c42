// The example device's backend (examples/echodev): serves the echoif protocol (echoif.h)
// for device type `echo`, loaded by dom0 from xl.cfg's
//   vdev = [ 'type=echo,driver=./echodev.ts' ]
// Written only against the public API, pvsim/driver, as a user's backend would be.

import { BackRing, SharedRing, defineBackend, type DeviceContext, type RingProtocol } from 'pvsim/driver';

/** echoif.h, as offsets: struct echoif_request / echoif_response, 32 bytes each. */
export const ECHOIF = {
  ENTRY_BYTES: 32,
  MAX_INLINE: 20,
  OP_ECHO: 0,
  OP_SUM: 1,
  RSP_OKAY: 0,
  RSP_ERROR: -1,
  req: { id: 0, op: 4, len: 6, gref: 8, data: 12 },
  rsp: { id: 0, status: 4, len: 6, value: 8, data: 12 },
} as const;

interface EchoRequest {
  id: number;
  op: number;
  len: number;
  gref: number;
  data: Uint8Array;
}

/** Parses a private copy of a request slot (never the shared slot: no double fetch). */
function parseRequest(copy: Uint8Array): EchoRequest {
  const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  return {
    id: dv.getUint32(ECHOIF.req.id, true),
    op: dv.getUint16(ECHOIF.req.op, true),
    len: dv.getUint16(ECHOIF.req.len, true),
    gref: dv.getUint32(ECHOIF.req.gref, true),
    data: copy.slice(ECHOIF.req.data, ECHOIF.req.data + ECHOIF.MAX_INLINE),
  };
}

async function serve(dev: DeviceContext, req: EchoRequest): Promise<{ status: number; len: number; value: number; data: Uint8Array }> {
  const none = new Uint8Array(ECHOIF.MAX_INLINE);
  const error = { status: ECHOIF.RSP_ERROR, len: 0, value: 0, data: none };
  if (req.op === ECHOIF.OP_ECHO) {
    if (req.len > ECHOIF.MAX_INLINE) return error;
    const data = new Uint8Array(ECHOIF.MAX_INLINE);
    for (let i = 0; i < req.len; i++) {
      const c = req.data[i]!;
      data[i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
    }
    return { status: ECHOIF.RSP_OKAY, len: req.len, value: 0, data };
  }
  if (req.op === ECHOIF.OP_SUM) {
    if (req.len < 1 || req.len > 4096) return error;
    let bytes: Uint8Array;
    try {
      bytes = await dev.copyFromGrant(req.gref, 0, req.len);
    } catch {
      return error; // a bad grant is the request's error, not the device's
    }
    let sum = 0;
    for (const b of bytes) sum = (sum + b) >>> 0;
    return { status: ECHOIF.RSP_OKAY, len: 0, value: sum, data: none };
  }
  return error;
}

export default defineBackend({
  type: 'echo',

  features: () => ({ 'feature-sum': '1', 'max-len': String(ECHOIF.MAX_INLINE) }),

  async connect(dev) {
    const ringRef = dev.frontendNumber('ring-ref');
    const port = dev.frontendNumber('event-channel', 1);
    const page = await dev.mapGrant(ringRef);
    const ring = new BackRing(new SharedRing(page.mem, ECHOIF.ENTRY_BYTES));
    let halted = false;

    const work = async (): Promise<void> => {
      for (;;) {
        if (halted) return;
        const snap = ring.snapshotRequests();
        if (snap.overflow) {
          halted = true;
          dev.fail(`frontend published req_prod ${snap.prod} past the ring`);
          return;
        }
        const batch: EchoRequest[] = [];
        for (let i = 0; i < snap.count; i++) {
          batch.push(parseRequest(ring.copyRequest()));
          ring.consumed();
        }
        for (const req of batch) {
          const r = await serve(dev, req);
          const off = ring.nextResponse();
          const rsp = new Uint8Array(ECHOIF.ENTRY_BYTES);
          const dv = new DataView(rsp.buffer);
          dv.setUint32(ECHOIF.rsp.id, req.id, true);
          dv.setInt16(ECHOIF.rsp.status, r.status, true);
          dv.setUint16(ECHOIF.rsp.len, r.len, true);
          dv.setUint32(ECHOIF.rsp.value, r.value, true);
          rsp.set(r.data, ECHOIF.rsp.data);
          page.mem.write(off, rsp);
          ring.produced();
        }
        if (ring.pushResponsesAndCheckNotify()) await channel.notify();
        if (!ring.finalCheckForRequests()) return;
      }
    };

    const channel = await dev.bindEvent(port, work);
    await work(); // requests published before the connection
    return {
      disconnect() {
        halted = true;
      },
    };
  },
});

/** echoif's shape for pvsim's ring conformance cases (`pvsim ringtest backend`). */
export const protocol: RingProtocol = {
  entryBytes: ECHOIF.ENTRY_BYTES,
  request(id, grant) {
    const req = new Uint8Array(ECHOIF.ENTRY_BYTES);
    const dv = new DataView(req.buffer);
    dv.setUint32(ECHOIF.req.id, id, true);
    if (id % 2 === 1) {
      // A SUM over a granted page of the frontend's.
      dv.setUint16(ECHOIF.req.op, ECHOIF.OP_SUM, true);
      dv.setUint16(ECHOIF.req.len, 64, true);
      dv.setUint32(ECHOIF.req.gref, grant(new Uint8Array(4096).fill(id & 0xff), true), true);
    } else {
      dv.setUint16(ECHOIF.req.op, ECHOIF.OP_ECHO, true);
      dv.setUint16(ECHOIF.req.len, 3, true);
      req.set([0x61, 0x62, 0x63], ECHOIF.req.data);
    }
    return req;
  },
  responseId: (slot) => new DataView(slot.buffer, slot.byteOffset, slot.byteLength).getUint32(ECHOIF.rsp.id, true),
};
