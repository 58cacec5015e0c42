// The block translator against the interpreter on every conformance program: both engines run
// the same program side by side in slices of varying size (1 instruction to a million, so
// budgets end inside blocks, loops and traps), and after every slice the exit reason, pc,
// privilege, instret, registers, the trap CSRs and the host-trap record must be equal; at the
// end the console output, outcome and all of RAM.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Interpreter } from '../../hypervisor/cpu/interpreter.ts';
import { Translator, jitStats } from '../../hypervisor/cpu/jit/index.ts';
import type { Hart } from '../../hypervisor/cpu/hart.ts';
import { bareSim, type BareSim } from './jit-bare.ts';

const CSRS = [0x300, 0x304, 0x305, 0x341, 0x342, 0x343, 0x344, 0x100, 0x105, 0x141, 0x142, 0x143, 0x180, 0xb00, 0xb02];
const CSRS_H = [0x600, 0x602, 0x603, 0x643, 0x64a, 0x680, 0x200, 0x241, 0x242, 0x243, 0x280, 0x34a, 0x34b];

function snapshot(h: Hart, hExt: boolean): string {
  const csrs = (hExt ? [...CSRS, ...CSRS_H] : CSRS).map((c) => h.readCsr(c).toString(16));
  return JSON.stringify({
    pc: h.pc, priv: h.priv, virt: h.virt, instret: h.instret, retired: h.retired,
    x: Array.from(h.x), csrs, trap: [h.trapCause, h.trapTval], res: h.mmu.resValid,
  });
}

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Runs `elf` under both engines in lockstep; returns the interpreter's sim. */
export function lockstep(elf: Uint8Array, hExt: boolean, seed: number, limit = 3_000_000): BareSim {
  const a = bareSim(elf, new Interpreter(), { hExt });
  const b = bareSim(elf, new Translator(), { hExt });
  const next = rng(seed);
  let slices = 0;
  while (a.outcome === null && a.executed < limit) {
    const r = next();
    // Mostly large slices (blocks run), often tiny ones (budget ends inside a block).
    const cap = r < 0.2 ? 1 + Math.floor(next() * 4) : r < 0.5 ? 1 + Math.floor(next() * 100) : 1 + Math.floor(next() * 200_000);
    const wa = a.slice(cap);
    const wb = b.slice(cap);
    slices++;
    const sa = snapshot(a.hart, hExt);
    const sb = snapshot(b.hart, hExt);
    if (wa !== wb || sa !== sb) {
      throw new Error(`diverged after slice ${slices} (cap ${cap}): interp ${wa} ${sa}\n jit ${wb} ${sb}`);
    }
  }
  expect(b.outcome).toBe(a.outcome);
  expect(b.output).toEqual(a.output);
  expect(b.executed).toBe(a.executed);
  for (let pfn = 0; pfn < a.mem.nrFrames; pfn++) {
    const fa = a.mem.frames[pfn];
    if (!fa) continue;
    const fb = b.mem.frames[pfn];
    if (!fb || Buffer.compare(fa, fb) !== 0) throw new Error(`RAM differs in frame 0x${pfn.toString(16)}`);
  }
  return a;
}

const dir = join(process.cwd(), 'tests/programs/build');
const programs = readdirSync(dir).filter((f) => f.endsWith('.elf')).sort();

describe('translator = interpreter on the conformance programs', () => {
  it.each(programs)('%s', (name) => {
    const elf = readFileSync(join(dir, name));
    const a = lockstep(elf, name.startsWith('h_'), name.length * 7919, name === 'hang.elf' ? 300_000 : 3_000_000);
    if (name !== 'fail.elf' && name !== 'hang.elf') expect(a.outcome).toBe('pass');
  });
  it('blocks really ran', () => {
    expect(jitStats.blockRuns).toBeGreaterThan(100_000);
  });
});

describe('translator = interpreter on the compute benchmark', () => {
  it.each(['bench-compute', 'bench-compute-sv32'])('%s (first 400k instructions)', (name) => {
    const elf = readFileSync(join(process.cwd(), 'guests/build', `${name}.elf`));
    lockstep(elf, false, 12345, 400_000);
  });
});
