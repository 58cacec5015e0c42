import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

const INT_MIN = -0x80000000;

/** Reference semantics in BigInt, straight from the spec's definitions. */
function ref(op: string, x: number, y: number): number {
  const sx = BigInt(x | 0), sy = BigInt(y | 0);
  const ux = BigInt(x >>> 0), uy = BigInt(y >>> 0);
  const lo = (v: bigint): number => Number(BigInt.asIntN(32, v));
  switch (op) {
    case 'mul': return lo(sx * sy);
    case 'mulh': return lo((sx * sy) >> 32n);
    case 'mulhsu': return lo((sx * uy) >> 32n);
    case 'mulhu': return lo((ux * uy) >> 32n);
    case 'div': return y === 0 ? -1 : (x | 0) === INT_MIN && (y | 0) === -1 ? INT_MIN : lo(sx / sy);
    case 'divu': return y === 0 ? -1 : lo(ux / uy);
    case 'rem': return y === 0 ? x | 0 : (x | 0) === INT_MIN && (y | 0) === -1 ? 0 : lo(sx % sy);
    case 'remu': return y === 0 ? x | 0 : lo(ux % uy);
  }
  throw new Error(op);
}

const OPS = { mul: a.mul, mulh: a.mulh, mulhsu: a.mulhsu, mulhu: a.mulhu, div: a.div, divu: a.divu, rem: a.rem, remu: a.remu };

/** One machine running "op x3, x1, x2 ; ebreak" for many operand pairs. */
function evaluator(op: keyof typeof OPS): (x: number, y: number) => number {
  const m = new Machine(0x1000);
  m.load(RAM_BASE, [OPS[op](3, 1, 2), a.ebreak()]);
  m.hart.hostTraps = true;
  return (x, y) => {
    m.hart.pc = RAM_BASE;
    m.hart.x[1] = x;
    m.hart.x[2] = y;
    expect(m.run(10)).toBe(ExitReason.HostTrap);
    return m.hart.x[3]!;
  };
}

describe('M extension', () => {
  it('division by zero and overflow', () => {
    const m = new Machine();
    m.exec([
      a.li(1, 0x80000000), a.addi(2, 0, -1), a.addi(9, 0, 7),
      a.div(3, 9, 0), a.divu(4, 9, 0), a.rem(5, 9, 0), a.remu(6, 9, 0),
      a.div(7, 1, 2), a.rem(8, 1, 2),
      a.addi(10, 0, -7), a.addi(11, 0, 2),
      a.div(12, 10, 11), a.rem(13, 10, 11), // truncation toward zero: -3, -1
      a.divu(14, 10, 11), a.remu(15, 10, 11),
      a.div(16, 1, 0), a.rem(17, 1, 0),
    ]);
    const x = m.hart.x;
    expect([x[3], x[4], x[5], x[6]]).toEqual([-1, -1, 7, 7]);
    expect([x[7], x[8]]).toEqual([INT_MIN, 0]);
    expect([x[12], x[13]]).toEqual([-3, -1]);
    expect([m.xu(14), m.xu(15)]).toEqual([0x7ffffffc, 1]);
    expect([x[16], x[17]]).toEqual([-1, INT_MIN]);
  });

  it('multiplication high halves at the extremes', () => {
    const m = new Machine();
    m.exec([
      a.li(1, 0x80000000), a.addi(2, 0, -1), a.li(3, 0x7fffffff),
      a.mulh(4, 1, 1), // 2^62 -> 0x40000000
      a.mulhu(5, 2, 2), // (2^32-1)^2 >> 32 = 0xfffffffe
      a.mulhsu(6, 2, 2), // -1 * (2^32-1) -> high = -1
      a.mulh(7, 1, 2), // INT_MIN * -1 = 2^31 -> high 0
      a.mul(8, 1, 2), // low = INT_MIN
      a.mulhsu(9, 1, 2), // -2^31 * (2^32-1) -> high 0x80000000
      a.mulh(10, 3, 3), // (2^31-1)^2 >> 32 = 0x3fffffff
      a.mul(11, 3, 3), // low = 1
    ]);
    expect(m.xu(4)).toBe(0x40000000);
    expect(m.xu(5)).toBe(0xfffffffe);
    expect(m.hart.x[6]).toBe(-1);
    expect(m.hart.x[7]).toBe(0);
    expect(m.hart.x[8]).toBe(INT_MIN);
    expect(m.xu(9)).toBe(0x80000000);
    expect(m.xu(10)).toBe(0x3fffffff);
    expect(m.hart.x[11]).toBe(1);
  });

  for (const op of Object.keys(OPS) as Array<keyof typeof OPS>) {
    it(`${op} matches a BigInt reference on random and edge operands`, () => {
      const run = evaluator(op);
      const edge = fc.constantFrom(0, 1, -1, 2, -2, 0x7fffffff, INT_MIN, 0xffff, 0x10000, 3, -3);
      const word = fc.oneof(fc.integer({ min: INT_MIN, max: 0x7fffffff }), edge);
      fc.assert(fc.property(word, word, (x, y) => run(x, y) === ref(op, x, y)), { numRuns: 400 });
    });
  }
});
