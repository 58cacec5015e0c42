// Interpreter throughput on a compute-heavy loop: bitwise CRC32 plus a multiply-add hash
// over a 16 KiB buffer, with one byte load and one word store per byte (~66 instructions
// per byte, mostly ALU and branches). Two configurations:
//   paging: false  M-mode, satp = Bare
//   paging: true   U-mode under Sv32 with 4 KiB pages (code and data in user pages)
// Run directly: `npx tsx bench/cpu-loop.ts [instructions]`.

import { ExitReason } from '../hypervisor/cpu/engine.ts';
import { Hart, PRIV_U } from '../hypervisor/cpu/hart.ts';
import { Interpreter } from '../hypervisor/cpu/interpreter.ts';
import { PhysMemory } from '../hypervisor/cpu/memory.ts';
import { CSR_MSTATUS, CSR_SATP, MSTATUS_MPP } from '../hypervisor/cpu/csr.ts';
import * as a from '../tests/cpu/asm.ts';

const RAM = 0x80000000;
const CODE_VA = 0x00010000;
const BUF_VA = 0x00100000;
const OUT_VA = 0x00200000;
const BUF_LEN = 16 * 1024;

// Registers
const T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A2 = 12, S2 = 18, S3 = 19, T3 = 28, T4 = 29;

function program(buf: number, out: number): number[] {
  return [
    a.li(A0, buf),
    a.li(A1, BUF_LEN),
    a.li(A2, out),
    a.li(S1, 0xedb88320),
    a.li(S3, 0x01000193), // FNV prime
    // outer: (index 10)
    a.addi(T0, A0, 0),
    a.add(T1, A0, A1),
    a.addi(S0, 0, -1),
    // byte loop
    a.lbu(T2, 0, T0),
    a.xor(S0, S0, T2),
    a.addi(T3, 0, 8),
    // bit loop (7 instructions)
    a.andi(T4, S0, 1),
    a.srli(S0, S0, 1),
    a.sub(T4, 0, T4),
    a.and(T4, T4, S1),
    a.xor(S0, S0, T4),
    a.addi(T3, T3, -1),
    a.bne(T3, 0, -24),
    // hash and store
    a.mul(S2, S2, S3),
    a.add(S2, S2, T2),
    a.sw(S2, 0, A2),
    a.addi(T0, T0, 1),
    a.bne(T0, T1, -56),
    a.sw(S0, 4, A2),
    a.jal(0, -76),
  ].flat();
}

/** Builds the benchmark machine (exported for sanity checks). */
export function setupCpuLoop(paging: boolean): { hart: Hart; cpu: Interpreter } {
  const mem = new PhysMemory();
  mem.addRam(RAM, 1 << 20);
  const hart = new Hart(mem);
  const codePa = RAM;
  const bufPa = RAM + 0x10000;
  const outPa = RAM + 0x20000;
  const ptPa = RAM + 0x30000;
  const code = program(paging ? BUF_VA : bufPa, paging ? OUT_VA : outPa);
  code.forEach((w, i) => mem.write32(codePa + 4 * i, w >>> 0));
  for (let i = 0; i < BUF_LEN; i++) mem.frames[(bufPa + i) >>> 12]![(bufPa + i) & 0xfff] = (i * 131 + 7) & 0xff;
  if (!paging) {
    hart.pc = codePa;
    return { hart, cpu: new Interpreter() };
  }
  // Sv32: root at ptPa, one level-0 table at ptPa + 4K covering 0..4 MiB of VA.
  const l0 = ptPa + 0x1000;
  mem.write32(ptPa, ((l0 >>> 12) << 10) | 1);
  const map = (va: number, pa: number, flags: number): void =>
    mem.write32(l0 + ((va >>> 12) & 0x3ff) * 4, (((pa >>> 12) << 10) | flags | 0x11) >>> 0); // V|U
  map(CODE_VA, codePa, 0x08 | 0x02); // X R
  for (let p = 0; p < BUF_LEN; p += 4096) map(BUF_VA + p, bufPa + p, 0x02); // R
  map(OUT_VA, outPa, 0x02 | 0x04); // R W
  hart.writeCsr(CSR_SATP, 0x80000000 | (ptPa >>> 12));
  hart.writeCsr(CSR_MSTATUS, hart.readCsr(CSR_MSTATUS) & ~MSTATUS_MPP); // MPP = U
  hart.priv = PRIV_U;
  hart.pc = CODE_VA;
  return { hart, cpu: new Interpreter() };
}

/** Runs the loop for `instructions` and returns millions of instructions per second. */
export async function measureInterp(opts: { paging: boolean; instructions?: number }): Promise<{ mips: number }> {
  const total = opts.instructions ?? 200_000_000;
  const { hart, cpu } = setupCpuLoop(opts.paging);
  // Warm-up so the JIT has optimised run() before timing.
  for (let i = 0; i < 400; i++) cpu.run(hart, 50_000);
  const slice = 10_000_000;
  const start = process.hrtime.bigint();
  let done = 0;
  while (done < total) {
    const r = cpu.run(hart, Math.min(slice, total - done));
    if (r !== ExitReason.Budget) throw new Error(`unexpected exit ${r} at pc 0x${hart.pc.toString(16)}`);
    done += Math.min(slice, total - done);
  }
  const ns = Number(process.hrtime.bigint() - start);
  return { mips: (done / ns) * 1000 };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const n = Number(process.argv[2] ?? 200_000_000);
  for (const paging of [false, true]) {
    const { mips } = await measureInterp({ paging, instructions: n });
    console.log(`interpreter ${paging ? 'Sv32 U-mode' : 'bare M-mode '}: ${mips.toFixed(1)} MIPS`);
  }
}
