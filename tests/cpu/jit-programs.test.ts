// The block translator against the interpreter on every conformance program: both engines run
// the same program on the bare machine (runBare) in the same slices of varying size (1 instruction to a million, so
// budgets end inside blocks, loops and traps), and after every slice the exit reason, pc,
// privilege, instret, registers, the trap CSRs and the host-trap record must be equal; at the
// end the console output, outcome and all of RAM.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBare, type BareResult } from '../../hypervisor/bare/machine.ts';
import type { EngineKind } from '../../hypervisor/cpu/engines.ts';
import { jitStats } from '../../hypervisor/cpu/jit/index.ts';
import type { Hart } from '../../hypervisor/cpu/hart.ts';
import type { PhysMemory } from '../../hypervisor/cpu/memory.ts';

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

interface Run {
  result: BareResult;
  output: number[];
  /** Exit reason and state after every slice. */
  slices: string[];
  mem: PhysMemory | null;
}

/** `elf` on the bare machine (runBare) under `cpu`, in slices of seeded random size. */
function sliced(elf: Uint8Array, cpu: EngineKind, hExt: boolean, seed: number, limit: number): Run {
  const next = rng(seed);
  const run: Run = { result: { outcome: { kind: 'timeout' }, instructions: 0, hasTohost: false }, output: [], slices: [], mem: null };
  run.result = runBare(elf, {
    cpu, hExt, maxInstructions: limit,
    onOutput: (b) => run.output.push(b),
    // Mostly large slices (blocks run), often tiny ones (budget ends inside a block).
    sliceCap: () => {
      const r = next();
      return r < 0.2 ? 1 + Math.floor(next() * 4) : r < 0.5 ? 1 + Math.floor(next() * 100) : 1 + Math.floor(next() * 200_000);
    },
    onSlice: (hart, mem, why) => {
      run.slices.push(`${why} ${snapshot(hart, hExt)}`);
      run.mem = mem;
    },
  });
  return run;
}

/** Runs `elf` under both engines with the same slices; returns the interpreter's run. */
export function lockstep(elf: Uint8Array, hExt: boolean, seed: number, limit = 3_000_000): Run {
  const a = sliced(elf, 'interp', hExt, seed, limit);
  const b = sliced(elf, 'jit', hExt, seed, limit);
  const n = Math.min(a.slices.length, b.slices.length);
  for (let i = 0; i < n; i++) {
    if (a.slices[i] !== b.slices[i]) throw new Error(`diverged after slice ${i + 1}: interp ${a.slices[i]}\n jit ${b.slices[i]}`);
  }
  expect(b.slices.length).toBe(a.slices.length);
  expect(b.result).toEqual(a.result);
  expect(b.output).toEqual(a.output);
  for (let pfn = 0; pfn < a.mem!.nrFrames; pfn++) {
    const fa = a.mem!.frames[pfn];
    if (!fa) continue;
    const fb = b.mem!.frames[pfn];
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
    if (name !== 'fail.elf' && name !== 'hang.elf') expect(a.result.outcome.kind).toBe('pass');
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
