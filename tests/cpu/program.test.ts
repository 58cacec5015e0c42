// Whole-program checks: a CRC32 + multiply-hash loop computed by the guest must match the
// same computation in JS, bare and under Sv32 in U-mode, and in one run or many slices.

import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { PRIV_U } from '../../hypervisor/cpu/hart.ts';
import * as a from './asm.ts';
import { Machine, PageTables, R, RAM_BASE, U, V, W, X } from './helpers.ts';

const LEN = 3000; // spans a page boundary
const T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A2 = 12, S2 = 18, S3 = 19, T3 = 28, T4 = 29;

function program(buf: number, out: number): number[] {
  return [
    a.li(A0, buf), a.li(A1, LEN), a.li(A2, out), a.li(S1, 0xedb88320), a.li(S3, 0x01000193),
    a.addi(T0, A0, 0), a.add(T1, A0, A1), a.addi(S0, 0, -1), a.addi(S2, 0, 0),
    // byte loop
    a.lbu(T2, 0, T0), a.xor(S0, S0, T2), a.addi(T3, 0, 8),
    a.andi(T4, S0, 1), a.srli(S0, S0, 1), a.sub(T4, 0, T4), a.and(T4, T4, S1), a.xor(S0, S0, T4),
    a.addi(T3, T3, -1), a.bne(T3, 0, -24),
    a.mul(S2, S2, S3), a.add(S2, S2, T2),
    a.addi(T0, T0, 1), a.bne(T0, T1, -52),
    a.xori(S0, S0, -1), a.sw(S0, 0, A2), a.sw(S2, 4, A2),
    a.ecall(),
  ].flat();
}

function reference(data: Uint8Array): [number, number] {
  let crc = 0xffffffff;
  let h = 0;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
    h = (Math.imul(h, 0x01000193) + b) | 0;
  }
  return [(crc ^ 0xffffffff) >>> 0, h >>> 0];
}

const data = Uint8Array.from({ length: LEN }, (_, i) => (i * 131 + (i >> 3) + 7) & 0xff);
const BUF_PA = RAM_BASE + 0x10800;
const OUT_PA = RAM_BASE + 0x20000;

function runSliced(m: Machine, slice: number): void {
  for (let i = 0; i < 10_000_000; i++) {
    const r = m.run(slice);
    if (r === ExitReason.HostTrap) return;
    if (r !== ExitReason.Budget) throw new Error(`unexpected exit ${r}`);
  }
  throw new Error('did not finish');
}

describe('CRC32 program', () => {
  const [crc, hash] = reference(data);

  it.each([1_000_000, 997, 1])('bare M-mode, slices of %i', (slice) => {
    const m = new Machine();
    m.mem.writeBytes(BUF_PA, data);
    m.load(RAM_BASE, program(BUF_PA, OUT_PA));
    m.hart.hostTraps = true;
    runSliced(m, slice);
    expect(m.hart.trapCause).toBe(11);
    expect([m.mem.read32(OUT_PA), m.mem.read32(OUT_PA + 4)]).toEqual([crc, hash]);
  });

  it('Sv32 U-mode with the buffer in discontiguous frames', () => {
    const m = new Machine();
    const pt = new PageTables(m.mem, RAM_BASE + 0x100000);
    const BUF_VA = 0x00400800;
    pt.map(0x10000, RAM_BASE, V | R | X | U);
    pt.map(0x00400000, RAM_BASE + 0x30000, V | R | U);
    pt.map(0x00401000, RAM_BASE + 0x50000, V | R | U);
    pt.map(0x00500000, OUT_PA, V | R | W | U);
    m.mem.writeBytes(RAM_BASE + 0x30800, data.subarray(0, 0x800));
    m.mem.writeBytes(RAM_BASE + 0x50000, data.subarray(0x800));
    m.load(RAM_BASE, program(BUF_VA, 0x00500000));
    m.hart.writeCsr(C.CSR_SATP, pt.satp);
    m.hart.priv = PRIV_U;
    m.hart.pc = 0x10000;
    m.hart.hostTraps = true;
    runSliced(m, 50_000);
    expect(m.hart.trapCause).toBe(8);
    expect([m.mem.read32(OUT_PA), m.mem.read32(OUT_PA + 4)]).toEqual([crc, hash]);
  });
});
