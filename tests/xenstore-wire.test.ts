// protocol/xen/xs_wire.ts: pinned to Xen's xs_wire.h with the cross-compiler oracle, and
// the frame codec checked on round trips, arbitrary chunking and hostile byte streams.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CROSS_CC, evalXenExpressions, oracleAvailable, XEN_INCLUDE } from './helpers/xen_oracle.ts';
import {
  encodeXsMessage,
  latin1ToBytes,
  bytesToLatin1,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_CONNECTED,
  XENSTORE_DOMAIN_INTERFACE,
  XENSTORE_ERROR_COMM,
  XENSTORE_ERROR_NONE,
  XENSTORE_ERROR_PROTO,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_RECONNECT,
  XENSTORE_REL_PATH_MAX,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_ERROR,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XS_DEBUG,
  XS_INVALID,
  XS_TYPE,
  XS_TYPE_COUNT,
  XS_WATCH_PATH,
  XS_WATCH_TOKEN,
  XSD_ERRORS,
  XSD_SOCKMSG,
  XsFrameDecoder,
  xsJoinStrings,
  xsStrings,
  xsTypeName,
  type XsMessage,
} from '../protocol/xen/xs_wire.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

/**
 * The strings of Xen's xsd_errors table, in order. The table is compiled only when the
 * errno names are defined, and the cross compiler has no libc, so each name is defined
 * here; a name Xen adds that is missing below makes the compile (and the test) fail.
 */
function xsdErrorNamesFromHeader(): string[] {
  const errnos: Record<string, number> = {
    EPERM: 1, ENOENT: 2, EIO: 5, E2BIG: 7, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EBUSY: 16, EEXIST: 17,
    EISDIR: 21, EINVAL: 22, ENOSPC: 28, EROFS: 30, ENOSYS: 38, ENOTEMPTY: 39, EISCONN: 106,
  };
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-xsd-errors-'));
  try {
    symlinkSync(XEN_INCLUDE, join(dir, 'xen'));
    const src = [
      '#include <stdint.h>',
      ...Object.entries(errnos).map(([n, v]) => `#define ${n} ${v}`),
      '#include <xen/io/xs_wire.h>',
      'const struct xsd_errors *pvsim_errors = xsd_errors;',
    ].join('\n');
    writeFileSync(join(dir, 'errors.c'), src);
    const asm = execFileSync(CROSS_CC, ['-march=rv32ima_zicsr', '-mabi=ilp32', '-ffreestanding', '-O0', '-S', '-o', '-', '-I', dir, join(dir, 'errors.c')], {
      encoding: 'utf8',
    });
    return [...asm.matchAll(/^\s*\.string\s+"([^"]*)"/gm)].map((m) => m[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!available)('xs_wire.h oracle (riscv64-unknown-elf-gcc against /usr/include/xen)', () => {
  it('message type numbers match enum xsd_sockmsg_type', () => {
    const names = Object.keys(XS_TYPE) as (keyof typeof XS_TYPE)[];
    const got = evalXenExpressions(['xen/io/xs_wire.h'], [...names.map((n) => `XS_${n}`), 'XS_DEBUG', 'XS_TYPE_COUNT', 'XS_INVALID']);
    expect(Object.fromEntries(names.map((n, i) => [n, got[i]]))).toEqual(XS_TYPE);
    expect(got.slice(names.length)).toEqual([XS_DEBUG, XS_TYPE_COUNT, XS_INVALID]);
  });

  it('error names and their order match xsd_errors[]', () => {
    expect(xsdErrorNamesFromHeader()).toEqual([...XSD_ERRORS]);
  });

  it('limits, header and xenstore_domain_interface layout match', () => {
    const x = XENSTORE_DOMAIN_INTERFACE;
    const checks: [string, number][] = [
      ['XENSTORE_PAYLOAD_MAX', XENSTORE_PAYLOAD_MAX],
      ['XENSTORE_ABS_PATH_MAX', XENSTORE_ABS_PATH_MAX],
      ['XENSTORE_REL_PATH_MAX', XENSTORE_REL_PATH_MAX],
      ['XENSTORE_RING_SIZE', XENSTORE_RING_SIZE],
      ['XS_WATCH_PATH', XS_WATCH_PATH],
      ['XS_WATCH_TOKEN', XS_WATCH_TOKEN],
      ['sizeof(struct xsd_sockmsg)', XSD_SOCKMSG.SIZE],
      ['offsetof(struct xsd_sockmsg, type)', XSD_SOCKMSG.type],
      ['offsetof(struct xsd_sockmsg, req_id)', XSD_SOCKMSG.req_id],
      ['offsetof(struct xsd_sockmsg, tx_id)', XSD_SOCKMSG.tx_id],
      ['offsetof(struct xsd_sockmsg, len)', XSD_SOCKMSG.len],
      ['offsetof(struct xenstore_domain_interface, req)', x.req],
      ['offsetof(struct xenstore_domain_interface, rsp)', x.rsp],
      ['offsetof(struct xenstore_domain_interface, req_cons)', x.req_cons],
      ['offsetof(struct xenstore_domain_interface, req_prod)', x.req_prod],
      ['offsetof(struct xenstore_domain_interface, rsp_cons)', x.rsp_cons],
      ['offsetof(struct xenstore_domain_interface, rsp_prod)', x.rsp_prod],
      ['offsetof(struct xenstore_domain_interface, server_features)', x.server_features],
      ['offsetof(struct xenstore_domain_interface, connection)', x.connection],
      ['offsetof(struct xenstore_domain_interface, error)', x.error],
      ['sizeof(struct xenstore_domain_interface)', x.SIZE],
      ['XENSTORE_SERVER_FEATURE_RECONNECTION', XENSTORE_SERVER_FEATURE_RECONNECTION],
      ['XENSTORE_SERVER_FEATURE_ERROR', XENSTORE_SERVER_FEATURE_ERROR],
      ['XENSTORE_CONNECTED', XENSTORE_CONNECTED],
      ['XENSTORE_RECONNECT', XENSTORE_RECONNECT],
      ['XENSTORE_ERROR_NONE', XENSTORE_ERROR_NONE],
      ['XENSTORE_ERROR_COMM', XENSTORE_ERROR_COMM],
      ['XENSTORE_ERROR_RINGIDX', XENSTORE_ERROR_RINGIDX],
      ['XENSTORE_ERROR_PROTO', XENSTORE_ERROR_PROTO],
    ];
    const got = evalXenExpressions(['xen/io/xs_wire.h'], checks.map((c) => c[0]));
    expect(Object.fromEntries(checks.map((c, i) => [c[0], got[i]]))).toEqual(Object.fromEntries(checks));
  });
});

const arbMessage: fc.Arbitrary<XsMessage> = fc.record({
  type: fc.nat(0xffffffff),
  reqId: fc.nat(0xffffffff),
  txId: fc.nat(0xffffffff),
  payload: fc.uint8Array({ maxLength: XENSTORE_PAYLOAD_MAX }),
});

/** Cuts `bytes` at the given points (sorted, deduplicated, in range). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

describe('xs_wire codec', () => {
  it('encodes the 16-byte little-endian header', () => {
    const f = encodeXsMessage({ type: XS_TYPE.READ, reqId: 0x01020304, txId: 7, payload: latin1ToBytes('/a\0') });
    expect([...f.subarray(0, 16)]).toEqual([2, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0, 0, 3, 0, 0, 0]);
    expect(bytesToLatin1(f.subarray(16))).toBe('/a\0');
    expect(() => encodeXsMessage({ type: 0, reqId: 0, txId: 0, payload: new Uint8Array(XENSTORE_PAYLOAD_MAX + 1) })).toThrow(RangeError);
    expect(xsTypeName(XS_TYPE.DIRECTORY_PART)).toBe('DIRECTORY_PART');
    expect(xsTypeName(20)).toBe('UNKNOWN(20)');
  });

  it('splits payload strings as Xen does (bytes after the last NUL are ignored)', () => {
    expect(xsStrings(latin1ToBytes('a\0bc\0\0tail'))).toEqual(['a', 'bc', '']);
    expect(xsStrings(xsJoinStrings(['x', '\xff\x01']))).toEqual(['x', '\xff\x01']);
  });

  it('round-trips any message sequence under any chunking', () => {
    fc.assert(
      fc.property(fc.array(arbMessage, { maxLength: 6 }), fc.array(fc.nat(40000), { maxLength: 12 }), (msgs, cuts) => {
        const stream = concat(msgs.map((m) => encodeXsMessage(m)));
        const d = new XsFrameDecoder();
        const got: XsMessage[] = [];
        for (const c of chunk(stream, cuts)) got.push(...d.push(c));
        expect(d.error).toBeNull();
        expect(d.buffered).toBe(0);
        expect(got).toEqual(msgs);
      }),
      { numRuns: 150 },
    );
  });

  it('never throws on random bytes, never buffers more than one message, and stops at a bad length', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), (chunks) => {
        const d = new XsFrameDecoder();
        for (const c of chunks) {
          for (const m of d.push(c)) expect(m.payload.length).toBeLessThanOrEqual(XENSTORE_PAYLOAD_MAX);
          expect(d.buffered).toBeLessThanOrEqual(XSD_SOCKMSG.SIZE + XENSTORE_PAYLOAD_MAX);
        }
        if (d.error) {
          expect(d.error.len).toBeGreaterThan(XENSTORE_PAYLOAD_MAX);
          expect(d.push(new Uint8Array(64))).toEqual([]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a header announcing more than XENSTORE_PAYLOAD_MAX without waiting for the payload', () => {
    const d = new XsFrameDecoder();
    const good = encodeXsMessage({ type: XS_TYPE.READ, reqId: 1, txId: 0, payload: latin1ToBytes('/\0') });
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, XENSTORE_PAYLOAD_MAX + 1, true);
    const got = d.push(concat([good, bad, good]));
    expect(got).toHaveLength(1);
    expect(d.error).toMatchObject({ kind: 'payload-too-long', len: XENSTORE_PAYLOAD_MAX + 1 });
    d.reset();
    expect(d.push(good)).toHaveLength(1);
  });
});
