// The ring library (protocol/ring.ts) against Xen's own io/ring.h: a host C oracle
// (tests/oracle/ring_oracle.c, compiled with the host gcc against /usr/include/xen) runs
// operation scripts with ring.h's macros and prints every index, count and flag after each
// step; the TypeScript library runs the same scripts and must print the same lines —
// including indices wrapping around 2^32, hostile producers (RING_REQUEST_PROD_OVERFLOW,
// RING_RESPONSE_PROD_OVERFLOW), the guards' refusals and the flex byte rings. The guests'
// own C ring macros (guests/include/pvsim/ring.h), frontend and backend side, run beside
// ring.h's in the same oracle on a copy of the page and must agree too, page, private
// indices, results and counts (a difference would print "guest-mismatch").

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BackRing, FrontRing, RingError, SharedRing, flexMask, flexQueued, flexReadPacket, flexWritePacket, rd32, ringSize } from '../protocol/ring.ts';

const ORACLE_SRC = join(import.meta.dirname, 'oracle', 'ring_oracle.c');
const ENTRY = 16; // struct t_req / t_rsp in the oracle

function hostCcAvailable(): boolean {
  if (!existsSync('/usr/include/xen/io/ring.h')) return false;
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const available = hostCcAvailable();
if (!available && process.env.CI) throw new Error('CI needs gcc and libxen-dev for the ring.h oracle');

let dir = '';
let oracle = '';
let mutant = '';
beforeAll(() => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'pvsim-ring-oracle-'));
  oracle = join(dir, 'ring_oracle');
  const cc = (out: string, extra: string[]) => execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', ...extra, '-I', join(import.meta.dirname, '..', 'guests', 'include'), '-o', out, ORACLE_SRC], { stdio: 'pipe' });
  cc(oracle, []);
  mutant = join(dir, 'ring_oracle_mutant');
  cc(mutant, ['-DORACLE_MUTANT']);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runOracle(args: string[], script: string): string[] {
  return execFileSync(oracle, args, { input: script, encoding: 'utf8', timeout: 10_000 }).trimEnd().split('\n');
}

type Op = { op: string; arg: number };

/** The same script through protocol/ring.ts, printing the oracle's line format. */
function runTs(bytes: number, ops: Op[]): string[] {
  const page = new Uint8Array(bytes);
  const dv = new DataView(page.buffer);
  const s = new SharedRing(page, ENTRY);
  s.init(0);
  let f = FrontRing.init(s);
  let b = BackRing.init(s);
  const out = [`size ${f.size}`];
  const refusing = (fn: () => string): string => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof RingError) return 'refused';
      throw e;
    }
  };
  for (const { op, arg } of ops) {
    const a = arg >>> 0;
    let res = '-';
    switch (op) {
      case 'init':
        s.init(a);
        f = FrontRing.attach(s, a);
        b = BackRing.attach(s, a);
        break;
      case 'fattach':
        f = FrontRing.attach(s, a);
        break;
      case 'battach':
        b = BackRing.attach(s, a);
        break;
      case 'fprod':
        res = refusing(() => {
          dv.setUint32(f.nextRequest(), (f.reqProdPvt ^ a) >>> 0, true);
          f.produced();
          return '-';
        });
        break;
      case 'fpush':
        f.pushRequests();
        break;
      case 'fpushn':
        res = f.pushRequestsAndCheckNotify() ? '1' : '0';
        break;
      case 'bcons':
        res = refusing(() => {
          const copy = b.copyRequest();
          b.consumed();
          return String(new DataView(copy.buffer).getUint32(0, true));
        });
        break;
      case 'bprod':
        res = refusing(() => {
          dv.setUint32(b.nextResponse(), (b.rspProdPvt ^ a) >>> 0, true);
          b.produced();
          return '-';
        });
        break;
      case 'bpush':
        b.pushResponses();
        break;
      case 'bpushn':
        res = b.pushResponsesAndCheckNotify() ? '1' : '0';
        break;
      case 'bfinal':
        res = String(b.finalCheckForRequestsCount());
        break;
      case 'ffinal':
        res = String(f.finalCheckForResponsesCount());
        break;
      case 'fcons':
        res = refusing(() => {
          const copy = f.copyResponse();
          f.consumed();
          return String(new DataView(copy.buffer).getUint32(0, true));
        });
        break;
      case 'hreqprod':
        s.reqProd = a;
        break;
      case 'hrspprod':
        s.rspProd = a;
        break;
      case 'hrsprel':
        s.rspProd = f.rspCons + a;
        break;
      case 'hreqrel':
        s.reqProd = b.rspProdPvt + a;
        break;
      case 'fsetpvt':
        f.reqProdPvt = a;
        break;
      case 'fsetcons':
        f.rspCons = a;
        break;
      case 'bsetpvt':
        b.rspProdPvt = a;
        break;
      case 'bsetcons':
        b.reqCons = a;
        break;
      case 'hreqevent':
        s.reqEvent = a;
        break;
      case 'hrspevent':
        s.rspEvent = a;
        break;
      default:
        throw new Error(`unknown op ${op}`);
    }
    const flag = (x: boolean) => (x ? 1 : 0);
    out.push(
      [
        res,
        s.reqProd,
        s.reqEvent,
        s.rspProd,
        s.rspEvent,
        f.reqProdPvt,
        f.rspCons,
        b.rspProdPvt,
        b.reqCons,
        f.freeRequests(),
        flag(f.full()),
        f.unconsumedResponses(),
        b.unconsumedRequests(),
        flag(b.requestProdOverflow()),
        flag(f.responseProdOverflow()),
        flag(b.requestConsOverflow()),
      ].join(' '),
    );
  }
  return out;
}

const script = (ops: Op[]) => ops.map((o) => `${o.op} ${o.arg >>> 0}\n`).join('');

const index = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0xffff_ffe0, max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff }));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom('fprod', 'bcons', 'bprod', 'fcons'), arg: fc.nat({ max: 0xffff }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('fpushn', 'bpushn', 'bfinal', 'ffinal', 'fpush', 'bpush'), arg: fc.constant(0) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('hrsprel', 'hreqrel'), arg: fc.integer({ min: 0, max: 260 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('fsetpvt', 'fsetcons', 'bsetpvt', 'bsetcons'), arg: index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('hreqprod', 'hrspprod', 'hreqevent', 'hrspevent', 'fattach', 'battach', 'init'), arg: index }) },
);
const start = fc.oneof(fc.constant(0), fc.integer({ min: 0xffff_fff0, max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff }));
// 192 bytes: 8 slots; 144: 5 fit, rounded down to 4 (__RD32); 4096: 252 fit, 128 slots.
const bytesArb = fc.constantFrom(192, 144, 4096);

describe.skipIf(!available)("ring library against Xen's io/ring.h (host gcc oracle)", () => {
  it('__RD32 and __RING_SIZE', () => {
    const xs = [0, 1, 2, 3, 4, 5, 7, 8, 9, 127, 128, 129, 252, 4032, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff];
    for (let i = 0; i < 40; i++) xs.push((Math.imul(i + 1, 0x9e3779b1) >>> 0) >>> i % 32);
    expect(runOracle(['rd32', ...xs.map(String)], '').map(Number)).toEqual(xs.map(rd32));
    for (const bytes of [144, 192, 4096]) expect(runOracle(['ring', String(bytes)], '')[0]).toBe(`size ${ringSize(bytes, ENTRY)}`);
    // The guests' PVSIM_CONST_RING_SIZE rounds as ring.h does, for every entry size of a page.
    expect(runOracle(['gsize'], '')).toEqual(['0']);
  });

  it('agrees with ring.h on every index, count, notify and overflow flag, for any operation sequence, across 2^32 wrap-around', () => {
    fc.assert(
      fc.property(bytesArb, start, fc.array(op, { minLength: 1, maxLength: 120 }), (bytes, s0, ops) => {
        const all = [{ op: 'init', arg: s0 }, ...ops];
        expect(runTs(bytes, all)).toEqual(runOracle(['ring', String(bytes)], script(all)));
      }),
      { numRuns: 120 },
    );
  });

  it("the guests' C macros, both ends, agree with ring.h and the library over many seeds near 2^32 (backend side: BACK_RING_ATTACH, COPY_REQUEST, REQUEST_CONS_OVERFLOW, PUSH_RESPONSES_AND_CHECK_NOTIFY, FINAL_CHECK_FOR_REQUESTS)", () => {
    // Scripts weighted to the backend's steps; every seed starts within 64 of the wrap.
    const backOp: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ op: fc.constantFrom('fprod', 'bcons', 'bprod', 'bcons', 'bprod'), arg: fc.nat({ max: 0xffff }) }) },
      { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('fpushn', 'bpushn', 'bfinal', 'bfinal', 'bpush', 'fcons', 'ffinal'), arg: fc.constant(0) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('hreqrel', 'hrsprel'), arg: fc.integer({ min: 0, max: 10 }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('battach', 'bsetcons', 'bsetpvt', 'hreqevent', 'hrspevent'), arg: fc.integer({ min: 0xffff_ffc0, max: 0xffff_ffff }) }) },
    );
    let runs = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      fc.assert(
        fc.property(fc.constantFrom(192, 144, 4096), fc.integer({ min: 0xffff_ffc0, max: 0xffff_ffff }), fc.array(backOp, { minLength: 1, maxLength: 80 }), (bytes, s0, ops) => {
          runs++;
          const all = [{ op: 'init', arg: s0 }, ...ops];
          const want = runOracle(['ring', String(bytes)], script(all));
          expect(want.filter((l) => l.startsWith('guest-mismatch'))).toEqual([]);
          expect(runTs(bytes, all)).toEqual(want);
        }),
        { numRuns: 15, seed },
      );
    }
    expect(runs).toBe(8 * 15);
  });

  it('a wrong guest macro is caught: req_event rearmed one short prints guest-mismatch', () => {
    const lines = execFileSync(mutant, ['ring', '192'], { input: script([{ op: 'init', arg: 0xfffffffa }, { op: 'fprod', arg: 1 }, { op: 'bfinal', arg: 0 }]), encoding: 'utf8', timeout: 10_000 }).trimEnd().split('\n');
    expect(lines[0]).toBe('size 8');
    expect(lines.at(-1)).toMatch(/^guest-mismatch /);
  });

  it('agrees at the edges: a full ring, hostile producers far ahead and behind, wrap exactly at 2^32', () => {
    const edge: Op[] = [{ op: 'init', arg: 0xfffffffc }];
    for (let i = 0; i < 9; i++) edge.push({ op: 'fprod', arg: i }); // the 9th is refused: 8 slots
    edge.push({ op: 'fpushn', arg: 0 });
    for (let i = 0; i < 9; i++) edge.push({ op: 'bcons', arg: 0 }); // the 9th: RING_REQUEST_CONS_OVERFLOW
    edge.push({ op: 'bprod', arg: 1 }, { op: 'bpushn', arg: 0 }, { op: 'fcons', arg: 0 }, { op: 'fcons', arg: 0 });
    edge.push({ op: 'hreqprod', arg: 0xfffffffc + 100 }, { op: 'bfinal', arg: 0 }); // RING_REQUEST_PROD_OVERFLOW
    edge.push({ op: 'hrspprod', arg: 0xfffffffc + 3 }, { op: 'fcons', arg: 0 }); // responses for requests never answered
    edge.push({ op: 'hrspprod', arg: 0xfffffffc - 5 }, { op: 'ffinal', arg: 0 }, { op: 'fcons', arg: 0 }); // behind: wraps
    edge.push({ op: 'hreqprod', arg: 0 }, { op: 'fattach', arg: 7 }, { op: 'battach', arg: 0xffffffff }, { op: 'bfinal', arg: 0 }, { op: 'ffinal', arg: 0 });
    // Exactly at and one past each overflow border (8 slots), and private indices a driver
    // got wrong, where ring.h's unsigned arithmetic wraps.
    for (const k of [7, 8, 9]) edge.push({ op: 'hrsprel', arg: k }, { op: 'hreqrel', arg: k }, { op: 'bfinal', arg: 0 }, { op: 'ffinal', arg: 0 });
    edge.push({ op: 'fsetcons', arg: 20 }, { op: 'fsetpvt', arg: 10 }, { op: 'fprod', arg: 0 }, { op: 'bsetcons', arg: 30 }, { op: 'bsetpvt', arg: 10 }, { op: 'bfinal', arg: 0 }, { op: 'bcons', arg: 0 });
    const expected = runOracle(['ring', '192'], script(edge));
    expect(runTs(192, edge)).toEqual(expected);
    expect(expected.filter((l) => l.startsWith('refused')).length).toBeGreaterThanOrEqual(3);
  });

  it('flex byte rings: mask, queued, read/write packets with wrap-around, as DEFINE_XEN_FLEX_RING', () => {
    const step = fc.record({ write: fc.boolean(), n: fc.integer({ min: 0, max: 64 }) });
    fc.assert(
      fc.property(fc.oneof(fc.constant(0), fc.integer({ min: 0xffff_ff00, max: 0xffff_ffff })), fc.array(step, { maxLength: 60 }), (at, steps) => {
        const RING = 64;
        const buf = new Uint8Array(RING);
        let prod = at >>> 0;
        let cons = at >>> 0;
        let next = 1;
        const lines = [`at ${prod}`];
        const ts: string[] = [[prod, cons, flexMask(prod, RING), flexMask(cons, RING), flexQueued(prod, cons, RING), 0].join(' ')];
        for (const { write, n } of steps) {
          const queued = flexQueued(prod, cons, RING);
          let sum = 0;
          if (write) {
            const len = Math.min(n, RING - queued);
            const data = new Uint8Array(len).map(() => next++ & 0xff);
            flexWritePacket(buf, data, flexMask(prod, RING), flexMask(cons, RING), RING);
            prod = (prod + len) >>> 0;
            lines.push(`write ${len}`);
          } else {
            const len = Math.min(n, queued);
            const { data } = flexReadPacket(buf, len, flexMask(prod, RING), flexMask(cons, RING), RING);
            for (const x of data) sum = (Math.imul(sum, 31) + x) >>> 0;
            cons = (cons + len) >>> 0;
            lines.push(`read ${len}`);
          }
          ts.push([prod, cons, flexMask(prod, RING), flexMask(cons, RING), flexQueued(prod, cons, RING), sum].join(' '));
        }
        expect(ts).toEqual(runOracle(['flex', String(RING)], lines.map((l) => l + '\n').join('')));
      }),
      { numRuns: 40 },
    );
  });
});
