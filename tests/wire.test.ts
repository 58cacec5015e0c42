// protocol/pvsim.proto and protocol/wire.ts agree field by field; every operation and
// result survives a round trip; no byte string makes the decoder do anything but return
// a frame or throw a WireError.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { decodeFrame, dispatchRequest, encodeFrame, FrameType, MAX_FRAME_BYTES, OP_NAMES, requestOp, RESULT_NAMES, WireError, type Frame, type OpTable, type Request } from '../protocol/wire.ts';

const req = FrameType.lookupType('pvsim.Request');
const rsp = FrameType.lookupType('pvsim.Response');

describe('pvsim.proto and wire.ts', () => {
  it('name the same operations and results', () => {
    expect([...req.oneofs.op!.fieldsArray.map((f) => f.name)].sort()).toEqual([...OP_NAMES].sort());
    expect([...rsp.oneofs.result!.fieldsArray.map((f) => f.name)].sort()).toEqual([...RESULT_NAMES].sort());
  });

  it('round-trips a request of every operation and a response of every result', () => {
    const samples: Frame[] = [
      { request: { id: 1, createDomain: { name: 'g', kernel: new Uint8Array([1, 2, 3]), memoryMib: 16, vcpus: 2, weight: 512, cap: 50, paused: true, onReboot: 'destroy' } } },
      { request: { id: 2, shutdownDomain: { domain: { name: 'g' }, reason: 1 } } },
      { request: { id: 3, schedCredit: { domain: { domid: 4 }, set: true, weight: 256, cap: 65535 } } },
      { request: { id: 4, writes: [{ mfn: 0x80001, offset: 12, data: new Uint8Array([9, 9]) }], evtchnSend: { port: 3 } } },
      { request: { id: 5, dom0Event: { port: 2, timeNs: 123456789, pages: [{ mfn: 0x80002, offset: 0, data: new Uint8Array(4096).fill(7) }] } } },
      { request: { id: 6, grantCopy: { domid: 1, ref: 8, offset: 100, data: new Uint8Array([1]) } } },
      { request: { id: 7, xenstore: { op: 'set-perms', path: '/a', perms: ['n0', 'r1'] } } },
      { response: { id: 1, rc: -22, error: 'no' } },
      { response: { id: 2, rc: 0, domains: { domains: [{ domid: 1, name: 'g', flags: 4 | (3 << 16), totPages: 2048, maxPages: 4096, cpuTimeNs: 2 ** 40, onlineVcpus: 1, maxVcpuId: 0, weight: 256, cap: 0 }] } } },
      { response: { id: 3, rc: 0, grant: { status: -4, handle: 7, mfn: 0x80003 } } },
      { request: { id: 8, deviceStats: {} } },
      { request: { id: 9, hvmStats: { name: 'h' } } },
      { request: { id: 10, createDomain: { name: 'h', kernel: new Uint8Array([1]), memoryMib: 16, type: 'hvm', hvmMode: 'trap', shadowSync: 'lazy' } } },
      { response: { id: 5, rc: 0, hvmStats: { domains: [{ domid: 1, name: 'h', mode: 'trap', shadowSync: 'wp', exits: [{ reason: 'csr', count: 2 ** 33, ns: 100 }] }] } } },
      { response: { id: 4, rc: 0, deviceStats: { domains: [{ domid: 1, vbds: 1, vbdReads: 64, vbdWrites: 64, vbdFlushes: 1, vbdErrors: 0, nets: 1, netTxPackets: 124, netTxBytes: 2 ** 33, netRxPackets: 120, netRxBytes: 101000, netRxDropped: 0 }] } } },
      // xentop's per-device lines (-x, -n) and sector counts.
      { response: { id: 6, rc: 0, deviceStats: { domains: [{ domid: 2, vbds: 1, vbdReads: 3, vbdWrites: 4, vbdFlushes: 0, vbdErrors: 0, nets: 1, netTxPackets: 5, netTxBytes: 600, netRxPackets: 7, netRxBytes: 800, netRxDropped: 1, vbdRdSect: 24, vbdWrSect: 2 ** 33, netTxErrors: 2, netRxErrors: 3, vbd: [{ devid: 51712, rdReqs: 3, wrReqs: 4, rdSect: 24, wrSect: 2 ** 33, ooReqs: 0, flushes: 1, errors: 0 }], vif: [{ devid: 0, rxBytes: 800, rxPackets: 7, rxErrs: 3, rxDrop: 1, txBytes: 600, txPackets: 5, txErrs: 2, txDrop: 0 }] }] } } },
      { notice: { domainState: { domid: 2, name: 'x', flags: 4, totPages: 1, maxPages: 1, cpuTimeNs: 0, onlineVcpus: 0, maxVcpuId: 0, weight: 256, cap: 0 } } },
    ];
    for (const f of samples) {
      const back = decodeFrame(encodeFrame(f));
      // Compare through JSON with bytes as arrays; defaults filled in on decode are ignored.
      const norm = (x: unknown) =>
        JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? [...v] : v && v.type === 'Buffer' && Array.isArray(v.data) ? v.data : v)));
      expect(norm(back)).toMatchObject(norm(f));
    }
  });

  it('refuses an empty or oversized frame; a request never carries two operations', () => {
    expect(() => decodeFrame(new Uint8Array(0))).toThrowError(WireError);
    expect(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1))).toThrowError(/exceeds/);
  });

  it('refuses a frame whose oneofs are set twice on the wire, which protobuf would decode as the last one (issue 9, item 12)', () => {
    const w = () => protobuf.Writer.create();
    const empty = new Uint8Array(0);
    const frameOf = (field: number, body: Uint8Array) => w().uint32((field << 3) | 2).bytes(body).finish();
    // Request { id = 1, info {}, dmesg {} }: two operations (fields 17 and 18).
    const twoOps = w().uint32((1 << 3) | 0).uint64(1).uint32((17 << 3) | 2).bytes(empty).uint32((18 << 3) | 2).bytes(empty).finish();
    expect(() => decodeFrame(frameOf(4, twoOps))).toThrowError(/a request carries exactly one operation/);
    // The same operation twice (protobuf would merge them) is refused as well.
    const sameTwice = w().uint32((17 << 3) | 2).bytes(empty).uint32((17 << 3) | 2).bytes(empty).finish();
    expect(() => decodeFrame(frameOf(4, sameTwice))).toThrowError(/a request carries exactly one operation/);
    // Two messages in one frame: a hello and a request.
    const hello = w().uint32((1 << 3) | 0).uint32(1).finish();
    const both = new Uint8Array([...frameOf(1, hello), ...frameOf(4, w().uint32((15 << 3) | 2).bytes(empty).finish())]);
    expect(() => decodeFrame(both)).toThrowError(/a frame carries exactly one message/);
    // Two results in one response (domains and port).
    const twoResults = w().uint32((11 << 3) | 2).bytes(empty).uint32((18 << 3) | 0).uint32(5).finish();
    expect(() => decodeFrame(frameOf(5, twoResults))).toThrowError(/a response carries exactly one result/);
    // One operation with its fields is still fine.
    expect(decodeFrame(frameOf(4, w().uint32((1 << 3) | 0).uint64(7).uint32((17 << 3) | 2).bytes(empty).finish())).request).toMatchObject({ id: 7, info: {} });
  });

  it('never does anything but decode or throw a WireError, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('request dispatch by table', () => {
  it('finds the one operation of a decoded request and calls its handler with its argument', () => {
    const bytes = encodeFrame({ request: { id: 7, pauseDomain: { name: 'g' } } });
    const r = decodeFrame(bytes).request!;
    expect(requestOp(r)).toBe('pauseDomain');
    const seen: unknown[] = [];
    const table: Partial<OpTable<string>> = {
      pauseDomain: (ref) => (seen.push(ref), `pause ${ref.name}`),
      info: () => 'info',
    };
    expect(dispatchRequest(table, r)).toEqual({ op: 'pauseDomain', result: 'pause g' });
    expect(seen).toEqual([{ name: 'g' }].map((x) => expect.objectContaining(x)));
  });

  it('is undefined for an operation the table has no handler for, and for no operation', () => {
    const table: Partial<OpTable<string>> = { info: () => 'info' };
    expect(dispatchRequest(table, { id: 1, dmesg: {} } as Request)).toBeUndefined();
    expect(dispatchRequest(table, { id: 1 } as Request)).toBeUndefined();
    expect(requestOp({ id: 1 } as Request)).toBeUndefined();
  });
});
