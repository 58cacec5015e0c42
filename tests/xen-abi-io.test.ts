// Pins the block and network split-driver layouts (protocol/xen/blkif.ts, netif.ts) to Xen's
// own headers (xen/io/blkif.h, xen/io/netif.h, xen/io/ring.h) compiled for RV32 ilp32, and
// round-trips the typed read/write helpers.

import { SharedRing } from '../protocol/ring.ts';
import { XENCONS } from '../protocol/xen/console.ts';
import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_REQUEST,
  BLKIF_REQUEST_DISCARD,
  BLKIF_REQUEST_INDIRECT,
  BLKIF_REQUEST_SEGMENT,
  BLKIF_RESPONSE,
  BLKIF_RING_ENTRY_SIZE,
  BLKIF_RING_SIZE,
  BLKIF_RSP,
  BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
  type BlkifRequest,
  type BlkifRequestDiscard,
  type BlkifRequestIndirect,
  type BlkifResponse,
  VDISK,
  XEN_IO_PROTO_ABI,
  blkifRingSlot,
  readBlkifRequest,
  readBlkifRequestDiscard,
  readBlkifRequestIndirect,
  readBlkifResponse,
  writeBlkifRequest,
  writeBlkifRequestDiscard,
  writeBlkifRequestIndirect,
  writeBlkifResponse,
} from '../protocol/xen/blkif.ts';
import { SRING, ringSize } from '../protocol/ring.ts';
import {
  NETIF_EXTRA_INFO,
  NETIF_RSP,
  NETIF_RX_REQUEST,
  NETIF_RX_RESPONSE,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_REQUEST,
  NETIF_TX_RESPONSE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETRXF,
  NETTXF,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  type NetifExtraInfo,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE,
  XEN_NETIF_GSO_TYPE,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
  netifRxRingSlot,
  netifTxRingSlot,
  readNetifExtraInfo,
  readNetifRxRequest,
  readNetifRxResponse,
  readNetifTxRequest,
  readNetifTxResponse,
  writeNetifExtraInfo,
  writeNetifRxRequest,
  writeNetifRxResponse,
  writeNetifTxRequest,
  writeNetifTxResponse,
} from '../protocol/xen/netif.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

const BLK = ['xen/xen.h', 'xen/grant_table.h', 'xen/io/blkif.h', 'xen/io/protocols.h'];
const NET = ['xen/xen.h', 'xen/grant_table.h', 'xen/io/netif.h'];

/** Evaluates `prefix + name` for every key of `t`, as signed ints. */
function constants(includes: string[], prefix: string, t: Record<string, number>) {
  const names = Object.keys(t);
  const got = evalXenExpressions(includes, names.map((n) => prefix + n)).map((v) => v | 0);
  return Object.fromEntries(names.map((n, i) => [n, got[i]]));
}

/** offsetof/sizeof for every key of `t` (SIZE = sizeof); `field` maps a key to a C member designator. */
function offsets(includes: string[], struct: string, t: Record<string, number>, field: (n: string) => string = (n) => n) {
  const names = Object.keys(t);
  const got = evalXenExpressions(includes, names.map((n) => (n === 'SIZE' ? `sizeof(${struct})` : `offsetof(${struct}, ${field(n)})`)));
  return Object.fromEntries(names.map((n, i) => [n, got[i]]));
}

describe.skipIf(!available)('blkif ABI (xen/io/blkif.h, ring.h)', () => {
  it('BLKIF_OP_*, BLKIF_RSP_*, VDISK_* and limits', () => {
    expect(constants(BLK, 'BLKIF_OP_', BLKIF_OP)).toEqual(BLKIF_OP);
    expect(constants(BLK, 'BLKIF_RSP_', BLKIF_RSP)).toEqual(BLKIF_RSP);
    expect(constants(BLK, 'VDISK_', VDISK)).toEqual(VDISK);
    expect(
      evalXenExpressions(BLK, [
        'BLKIF_MAX_SEGMENTS_PER_REQUEST',
        'BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST',
        'BLKIF_DISCARD_SECURE',
        '4096 / sizeof(struct blkif_request_segment)',
      ]),
    ).toEqual([BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_DISCARD_SECURE, BLKIF_SEGMENTS_PER_INDIRECT_FRAME]);
  });

  it('struct layouts', () => {
    expect(offsets(BLK, 'struct blkif_request_segment', BLKIF_REQUEST_SEGMENT)).toEqual(BLKIF_REQUEST_SEGMENT);
    expect(offsets(BLK, 'struct blkif_request', BLKIF_REQUEST)).toEqual(BLKIF_REQUEST);
    expect(offsets(BLK, 'struct blkif_request_discard', BLKIF_REQUEST_DISCARD)).toEqual(BLKIF_REQUEST_DISCARD);
    expect(offsets(BLK, 'struct blkif_request_indirect', BLKIF_REQUEST_INDIRECT)).toEqual(BLKIF_REQUEST_INDIRECT);
    expect(offsets(BLK, 'struct blkif_response', BLKIF_RESPONSE)).toEqual(BLKIF_RESPONSE);
    // Every request variant fits a ring slot.
    for (const s of [BLKIF_REQUEST_DISCARD, BLKIF_REQUEST_INDIRECT]) expect(s.SIZE).toBeLessThanOrEqual(BLKIF_REQUEST.SIZE);
  });

  it('shared ring header and RING_SIZE', () => {
    const ringFields: Record<string, string> = { pad: '__pad' };
    expect(offsets(BLK, 'struct blkif_sring', SRING, (n) => ringFields[n] ?? n)).toEqual(SRING);
    expect(
      evalXenExpressions(BLK, [
        'sizeof(union blkif_sring_entry)',
        '__CONST_RING_SIZE(blkif, 4096)',
        'sizeof(RING_IDX)',
        'sizeof(((struct blkif_sring *)0)->pvt)',
        'sizeof(((struct blkif_sring *)0)->__pad)',
      ]),
    ).toEqual([BLKIF_RING_ENTRY_SIZE, BLKIF_RING_SIZE, 4, 4, SRING.ring - SRING.pad]);
    expect(BLKIF_RING_ENTRY_SIZE).toBe(112);
    expect(BLKIF_RING_SIZE).toBe(32);
  });

  it('protocol names', () => {
    // String macros can't go through the word oracle; compare their lengths and first bytes.
    for (const [k, v] of Object.entries(XEN_IO_PROTO_ABI)) {
      const got = evalXenExpressions(BLK, [`sizeof(XEN_IO_PROTO_ABI_${k}) - 1`, ...[...v].map((_, i) => `XEN_IO_PROTO_ABI_${k}[${i}]`)]);
      expect(String.fromCharCode(...got.slice(1)), k).toBe(v);
      expect(got[0], k).toBe(v.length);
    }
  });
});

describe.skipIf(!available)('netif ABI (xen/io/netif.h, ring.h)', () => {
  it('NETTXF_*, NETRXF_*, NETIF_RSP_*, extra-info and limits', () => {
    expect(constants(NET, 'NETTXF_', NETTXF)).toEqual(NETTXF);
    expect(constants(NET, 'NETRXF_', NETRXF)).toEqual(NETRXF);
    expect(constants(NET, 'NETIF_RSP_', NETIF_RSP)).toEqual(NETIF_RSP);
    expect(constants(NET, 'XEN_NETIF_EXTRA_TYPE_', XEN_NETIF_EXTRA_TYPE)).toEqual(XEN_NETIF_EXTRA_TYPE);
    expect(constants(NET, 'XEN_NETIF_GSO_TYPE_', XEN_NETIF_GSO_TYPE)).toEqual(XEN_NETIF_GSO_TYPE);
    expect(evalXenExpressions(NET, ['XEN_NETIF_EXTRA_FLAG_MORE', 'XEN_NETIF_NR_SLOTS_MIN', 'XEN_NETIF_MAX_TX_SIZE'])).toEqual([
      XEN_NETIF_EXTRA_FLAG_MORE,
      XEN_NETIF_NR_SLOTS_MIN,
      XEN_NETIF_MAX_TX_SIZE,
    ]);
  });

  it('struct layouts', () => {
    expect(offsets(NET, 'struct netif_tx_request', NETIF_TX_REQUEST)).toEqual(NETIF_TX_REQUEST);
    expect(offsets(NET, 'struct netif_tx_response', NETIF_TX_RESPONSE)).toEqual(NETIF_TX_RESPONSE);
    expect(offsets(NET, 'struct netif_rx_request', NETIF_RX_REQUEST)).toEqual(NETIF_RX_REQUEST);
    expect(offsets(NET, 'struct netif_rx_response', NETIF_RX_RESPONSE)).toEqual(NETIF_RX_RESPONSE);
    const extra: Record<string, string> = {
      gso_size: 'u.gso.size',
      gso_type: 'u.gso.type',
      gso_features: 'u.gso.features',
      mcast_addr: 'u.mcast.addr',
      hash_type: 'u.hash.type',
      hash_algorithm: 'u.hash.algorithm',
      hash_value: 'u.hash.value',
    };
    expect(offsets(NET, 'struct netif_extra_info', NETIF_EXTRA_INFO, (n) => extra[n] ?? n)).toEqual(NETIF_EXTRA_INFO);
    expect(evalXenExpressions(NET, ['sizeof(((struct netif_extra_info *)0)->u)'])).toEqual([6]);
  });

  it('ring entry and ring sizes for a 4 KiB page', () => {
    expect(
      evalXenExpressions(NET, [
        'sizeof(union netif_tx_sring_entry)',
        'sizeof(union netif_rx_sring_entry)',
        '__CONST_RING_SIZE(netif_tx, 4096)',
        '__CONST_RING_SIZE(netif_rx, 4096)',
        'offsetof(struct netif_tx_sring, ring)',
        'offsetof(struct netif_rx_sring, ring)',
      ]),
    ).toEqual([NETIF_TX_RING_ENTRY_SIZE, NETIF_RX_RING_ENTRY_SIZE, NET_TX_RING_SIZE, NET_RX_RING_SIZE, SRING.ring, SRING.ring]);
    expect([NET_TX_RING_SIZE, NET_RX_RING_SIZE]).toEqual([256, 256]);
  });
});

describe('ring arithmetic', () => {
  it('ringSize rounds down to a power of two', () => {
    expect(ringSize(4096, 112)).toBe(32);
    expect(ringSize(4096, 12)).toBe(256);
    expect(ringSize(4096, 8)).toBe(256);
    expect(ringSize(4096, 4)).toBe(512); // 1008 entries -> 512
    expect(ringSize(8192, 112)).toBe(64);
    expect(ringSize(64, 8)).toBe(0);
  });

  it('slot offsets wrap with free-running indices', () => {
    expect(blkifRingSlot(0)).toBe(64);
    expect(blkifRingSlot(31)).toBe(64 + 31 * 112);
    expect(blkifRingSlot(32)).toBe(64);
    expect(blkifRingSlot(0xffffffff)).toBe(64 + 31 * 112);
    expect(blkifRingSlot(31) + BLKIF_RING_ENTRY_SIZE).toBeLessThanOrEqual(4096);
    expect(netifTxRingSlot(255) + NETIF_TX_RING_ENTRY_SIZE).toBeLessThanOrEqual(4096);
    expect(netifRxRingSlot(257)).toBe(64 + 8);
  });

  it('ring indices round-trip through SharedRing (protocol/ring.ts) at the header offsets', () => {
    const page = new Uint8Array(4096);
    const dv = new DataView(page.buffer);
    const s = new SharedRing(page, BLKIF_RING_ENTRY_SIZE);
    s.init();
    expect([s.reqProd, s.reqEvent, s.rspProd, s.rspEvent]).toEqual([0, 1, 0, 1]);
    s.rspProd = 0x80000000;
    s.reqProd = 0xffffffff + 3; // wraps
    expect(dv.getUint32(SRING.rsp_prod, true)).toBe(0x80000000);
    expect(dv.getUint32(SRING.req_prod, true)).toBe(2);
    expect(s.size).toBe(BLKIF_RING_SIZE);
  });
});

describe('blkif helpers', () => {
  const page = () => new DataView(new ArrayBuffer(4096));

  it('blkif_request round-trips with byte-exact placement', () => {
    const dv = page();
    const req: BlkifRequest = {
      operation: BLKIF_OP.WRITE,
      nr_segments: 3,
      handle: 0xca02,
      id: 0x0123456789abcdefn,
      sector_number: 0xfedcba9876543210n,
      seg: [
        { gref: 8, first_sect: 0, last_sect: 7 },
        { gref: 0xfffffffe, first_sect: 2, last_sect: 5 },
        { gref: 77, first_sect: 7, last_sect: 7 },
      ],
    };
    const off = blkifRingSlot(5);
    dv.setUint8(off + 5, 0xaa); // padding must be cleared
    writeBlkifRequest(dv, off, req);
    expect(readBlkifRequest(dv, off)).toEqual(req);
    expect(dv.getUint8(off + 5)).toBe(0);
    expect(dv.getUint8(off)).toBe(1);
    expect(dv.getUint8(off + 1)).toBe(3);
    expect(dv.getUint16(off + 2, true)).toBe(0xca02);
    expect(dv.getUint32(off + 8, true)).toBe(0x89abcdef);
    expect(dv.getUint32(off + 12, true)).toBe(0x01234567);
    expect(dv.getUint32(off + 24 + 8, true)).toBe(0xfffffffe);
    expect(dv.getUint8(off + 24 + 8 + 4)).toBe(2);
    expect(dv.getUint8(off + 24 + 16 + 5)).toBe(7);
    // Unused segment slots are zeroed.
    expect(dv.getUint32(off + 24 + 3 * 8, true)).toBe(0);
  });

  it('a lying nr_segments reads at most 11 segments', () => {
    const dv = page();
    dv.setUint8(BLKIF_REQUEST.nr_segments, 200);
    expect(readBlkifRequest(dv, 0).seg).toHaveLength(BLKIF_MAX_SEGMENTS_PER_REQUEST);
    expect(readBlkifRequest(dv, 0).nr_segments).toBe(200);
    expect(() =>
      writeBlkifRequest(dv, 0, { operation: 0, nr_segments: 12, handle: 0, id: 0n, sector_number: 0n, seg: new Array(12).fill({ gref: 0, first_sect: 0, last_sect: 0 }) }),
    ).toThrow(RangeError);
  });

  it('discard and indirect requests round-trip', () => {
    const dv = page();
    const d: BlkifRequestDiscard = { operation: BLKIF_OP.DISCARD, flag: BLKIF_DISCARD_SECURE, handle: 51712, id: 42n, sector_number: 2048n, nr_sectors: 1n << 40n };
    writeBlkifRequestDiscard(dv, 64, d);
    expect(readBlkifRequestDiscard(dv, 64)).toEqual(d);
    expect(dv.getBigUint64(64 + 24, true)).toBe(1n << 40n);

    const ind: BlkifRequestIndirect = {
      operation: BLKIF_OP.INDIRECT,
      indirect_op: BLKIF_OP.READ,
      nr_segments: 700,
      id: 0xffffffffffffffffn,
      sector_number: 9n,
      handle: 768,
      indirect_grefs: [10, 11, 12, 0, 0, 0, 0, 0],
    };
    writeBlkifRequestIndirect(dv, 176, ind);
    expect(readBlkifRequestIndirect(dv, 176)).toEqual(ind);
    expect(dv.getUint16(176 + 2, true)).toBe(700);
    expect(dv.getUint16(176 + 24, true)).toBe(768);
    expect(dv.getUint32(176 + 28 + 8, true)).toBe(12);
  });

  it('blkif_response round-trips, negative status included, over a stale request', () => {
    const dv = page();
    const off = blkifRingSlot(0);
    for (let i = 0; i < BLKIF_RING_ENTRY_SIZE; i++) dv.setUint8(off + i, 0xff);
    const rsp: BlkifResponse = { id: 0x1122334455667788n, operation: BLKIF_OP.FLUSH_DISKCACHE, status: BLKIF_RSP.EOPNOTSUPP };
    writeBlkifResponse(dv, off, rsp);
    expect(readBlkifResponse(dv, off)).toEqual(rsp);
    expect(dv.getUint16(off + 10, true)).toBe(0xfffe);
    expect(dv.getUint8(off + 9)).toBe(0);
    expect(dv.getUint32(off + 12, true)).toBe(0);
    for (const status of [BLKIF_RSP.OKAY, BLKIF_RSP.ERROR]) {
      writeBlkifResponse(dv, off, { ...rsp, status });
      expect(readBlkifResponse(dv, off).status).toBe(status);
    }
  });
});

describe('netif helpers', () => {
  const page = () => new DataView(new ArrayBuffer(4096));

  it('tx request and response round-trip in the same slot', () => {
    const dv = page();
    const off = netifTxRingSlot(3);
    const req = { gref: 0x12345678, offset: 4000, flags: NETTXF.csum_blank | NETTXF.more_data, id: 255, size: 1514 };
    writeNetifTxRequest(dv, off, req);
    expect(readNetifTxRequest(dv, off)).toEqual(req);
    expect(dv.getUint16(off + 10, true)).toBe(1514);
    const rsp = { id: 255, status: NETIF_RSP.DROPPED };
    writeNetifTxResponse(dv, off, rsp);
    expect(readNetifTxResponse(dv, off)).toEqual(rsp);
    expect(dv.getInt16(off + 2, true)).toBe(-2);
  });

  it('rx request and response round-trip', () => {
    const dv = page();
    const off = netifRxRingSlot(10);
    dv.setUint16(off + 2, 0xbeef, true);
    writeNetifRxRequest(dv, off, { id: 9, gref: 4242 });
    expect(readNetifRxRequest(dv, off)).toEqual({ id: 9, gref: 4242 });
    expect(dv.getUint16(off + 2, true)).toBe(0);
    const rsp = { id: 9, offset: 16, flags: NETRXF.data_validated | NETRXF.extra_info, status: 1500 };
    writeNetifRxResponse(dv, off, rsp);
    expect(readNetifRxResponse(dv, off)).toEqual(rsp);
    writeNetifRxResponse(dv, off, { ...rsp, status: NETIF_RSP.ERROR });
    expect(readNetifRxResponse(dv, off).status).toBe(-1);
  });

  it('extra-info variants round-trip', () => {
    const dv = page();
    const cases: NetifExtraInfo[] = [
      { type: XEN_NETIF_EXTRA_TYPE.GSO, flags: XEN_NETIF_EXTRA_FLAG_MORE, gso: { size: 1448, type: XEN_NETIF_GSO_TYPE.TCPV6, features: 0 } },
      { type: XEN_NETIF_EXTRA_TYPE.MCAST_ADD, flags: 0, mcast: { addr: Uint8Array.of(0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb) } },
      { type: XEN_NETIF_EXTRA_TYPE.HASH, flags: 0, hash: { type: 1, algorithm: 1, value: Uint8Array.of(1, 2, 3, 4) } },
      { type: 9, flags: 0, raw: Uint8Array.of(6, 5, 4, 3, 2, 1) },
    ];
    for (const e of cases) {
      dv.setUint8(100 + 7, 0xee);
      writeNetifExtraInfo(dv, 100, e);
      expect(readNetifExtraInfo(dv, 100)).toEqual(e);
    }
    writeNetifExtraInfo(dv, 100, cases[0]!);
    expect(dv.getUint16(100 + 2, true)).toBe(1448);
    expect(dv.getUint8(100 + 4)).toBe(2);
    expect(dv.getUint8(100 + 5)).toBe(0);
  });
});

describe.skipIf(!available)('console ring ABI (xen/io/console.h)', () => {
  it('struct xencons_interface', () => {
    const CONS = ['xen/xen.h', 'xen/io/console.h'];
    const { IN_SIZE, OUT_SIZE, ...fields } = XENCONS;
    expect(offsets(CONS, 'struct xencons_interface', fields)).toEqual(fields);
    expect(evalXenExpressions(CONS, ['sizeof(((struct xencons_interface *)0)->in)', 'sizeof(((struct xencons_interface *)0)->out)'])).toEqual([IN_SIZE, OUT_SIZE]);
  });
});
