// Random RV32IM programs (ALU, M, LUI/AUIPC, every load and store width at aligned and
// misaligned offsets, branches both ways, JAL, JALR, stores into the program's own code)
// under the interpreter and the translator, in random slices: the whole hart must be equal
// after every slice. A failing case is shrunk by fast-check and printed as words.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import type { Hart } from '../../hypervisor/cpu/hart.ts';
import { Interpreter } from '../../hypervisor/cpu/interpreter.ts';
import { Translator, jitStats } from '../../hypervisor/cpu/jit/index.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

const BASE = 8; // s0: the data page; never written by generated code
const DATA = RAM_BASE + 0x8000;
const regs = [0, 1, 5, 6, 7, 9, 10, 11, 12, 13];
const reg = fc.constantFrom(...regs);
const src = fc.constantFrom(...regs, BASE);

const R_OPS = [a.add, a.sub, a.sll, a.slt, a.sltu, a.xor, a.srl, a.sra, a.or, a.and, a.mul, a.mulh, a.mulhsu, a.mulhu, a.div, a.divu, a.rem, a.remu];
const I_OPS = [a.addi, a.slti, a.sltiu, a.xori, a.ori, a.andi];
const SH_OPS = [a.slli, a.srli, a.srai];
const LOADS = [a.lb, a.lh, a.lw, a.lbu, a.lhu];
const STORES = [a.sb, a.sh, a.sw];
const BRANCHES = [a.beq, a.bne, a.blt, a.bge, a.bltu, a.bgeu];

type Gen = (i: number, n: number) => number;

const insn: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...R_OPS), reg, src, src).map(([op, d, s1, s2]) => () => op(d, s1, s2)) },
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...I_OPS), reg, src, fc.integer({ min: -2048, max: 2047 })).map(([op, d, s, imm]) => () => op(d, s, imm)) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...SH_OPS), reg, src, fc.integer({ min: 0, max: 31 })).map(([op, d, s, sh]) => () => op(d, s, sh)) },
  { weight: 1, arbitrary: fc.tuple(reg, fc.integer({ min: 0, max: 0xfffff })).map(([d, imm]) => () => a.lui(d, imm)) },
  { weight: 1, arbitrary: fc.tuple(reg, fc.integer({ min: 0, max: 0xfffff })).map(([d, imm]) => () => a.auipc(d, imm)) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...LOADS), reg, fc.integer({ min: 0, max: 2040 })).map(([op, d, off]) => () => op(d, off, BASE)) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...STORES), src, fc.integer({ min: 0, max: 2040 })).map(([op, s, off]) => () => op(s, off, BASE)) },
  // A branch to anywhere in the program (both ways), or past its end (the ebreak).
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...BRANCHES), src, src, fc.integer({ min: 0, max: 1000 })).map(([op, r1, r2, t]) => (i: number, n: number) => op(r1, r2, 4 * ((t % (n + 1)) - i))) },
  { weight: 1, arbitrary: fc.tuple(reg, fc.integer({ min: 0, max: 1000 })).map(([d, t]) => (i: number, n: number) => a.jal(d, 4 * Math.max(1, (t % (n + 1)) - i))) },
  // Self-modification: a store of a register into the program's own words (via s1 = code base).
  { weight: 1, arbitrary: fc.tuple(src, fc.integer({ min: 0, max: 60 })).map(([s, w]) => () => a.sw(s, 4 * w, 9)) },
);

function state(h: Hart, why: ExitReason): string {
  return JSON.stringify({ why, pc: h.pc, instret: h.instret, retired: h.retired, x: Array.from(h.x), trap: [h.trapCause, h.trapTval] });
}

describe('translator = interpreter on random programs', () => {
  it('random programs, random slices', { timeout: 600_000 }, () => {
    const ms = [new Machine(), new Machine()];
    const runs = jitStats.blockRuns, stale = jitStats.stale;
    fc.assert(
      fc.property(
        fc.array(insn, { minLength: 4, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        (gens, slices, seed) => {
          const n = gens.length;
          const prog = [...a.li(BASE, DATA), ...a.li(9, RAM_BASE), ...gens.map((g, i) => g(i + 4, n + 4)), a.ebreak()];
          const engines = [new Interpreter(), new Translator()];
          for (const m of ms) {
            m.resetHart();
            m.mem.writeBytes(RAM_BASE, new Uint8Array(4096));
            m.load(RAM_BASE, prog);
            for (let i = 0; i < 1024; i++) m.mem.write32(DATA + 4 * i, Math.imul(seed ^ i, 0x9e3779b1) >>> 0);
            m.hart.hostTraps = true;
            for (let r = 1; r < 32; r++) if (r !== BASE && r !== 9) m.hart.x[r] = Math.imul(seed + r, 0x85ebca6b);
          }
          for (let k = 0, total = 0; total < 6000; k++) {
            const budget = slices[k % slices.length]!;
            const wa = engines[0]!.run(ms[0]!.hart, budget);
            const wb = engines[1]!.run(ms[1]!.hart, budget);
            expect(state(ms[1]!.hart, wb)).toBe(state(ms[0]!.hart, wa));
            total += budget;
            if (wa === ExitReason.HostTrap) break;
          }
          expect(Buffer.compare(ms[1]!.mem.frames[DATA >>> 12]!, ms[0]!.mem.frames[DATA >>> 12]!)).toBe(0);
        },
      ),
      { numRuns: Number(process.env.JIT_FUZZ_RUNS ?? 100), seed: Number(process.env.JIT_FUZZ_SEED ?? 17) },
    );
    // Blocks ran, and some were found stale after the programs stored into their own code.
    expect(jitStats.blockRuns - runs).toBeGreaterThan(1000);
    expect(jitStats.stale - stale).toBeGreaterThan(0);
  });
});
