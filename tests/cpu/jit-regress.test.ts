// Divergences the differential fuzzer (docs/cpufuzz.md) found in the block translator, kept
// as fixed cases: each runs under the interpreter and the translator (compiling on the first
// visit) and must agree after every step.

import { describe, expect, it } from 'vitest';
import { Interpreter } from '../../hypervisor/cpu/interpreter.ts';
import { Translator } from '../../hypervisor/cpu/jit/index.ts';
import { compare, describeCase, MODES, type FuzzCase } from './fuzz/rvfuzz.ts';

const REGS = [0x80000000, 0x0, 0x7fffffff, 0xfffffff3, 0xa76ea9ae, 0x4, 0x9, 0xcddf8b6d, 0x800, 0x20, 0xc7bc6b2a, 0x4ceb2e09,
  0x5e2f0e7e, 0x780ac54c, 0x1, 0xce1201af, 0x1, 0xf4f4b2ca, 0x1f, 0xffffffff, 0x7fffffff, 0xfffffffe, 0x7ffffff1, 0x7fffffff].map((v) => v | 0);

describe('translator regressions found by cpufuzz', () => {
  // A loop that stores into its own code page (seed 202). Once the loop was compiled, the frame
  // was marked as code and its write TLB entry was no longer cached at all: every later store
  // to the page walked the page table again (mmu.walks 4 vs 8), which under a PTE changed
  // without sfence.vma would also pick a different translation than the interpreter's. Code
  // frames are now cached writable with W_SLOW, like the interpreter's entry plus a slow path.
  it.each(MODES)('stores to a code page after its blocks are compiled walk as often as the interpreter (%s)', (mode) => {
    const c: FuzzCase = {
      mode,
      ops: [
        { k: 'smc', target: 0, word: 2983493651, fence: false },
        { k: 'branch', c: 1, rs1: 2, rs2: 0, target: 80 },
        { k: 'load', w: 4, rd: 0, region: 'bad', off: 4 },
      ],
      regs: REGS,
      steps: [{ budget: 709, irq: { bit: 1, on: false } }, { budget: 6, irq: { bit: 3, on: true } }],
    };
    const d = compare(c, new Interpreter(), new Translator({ hot: 1 }));
    expect(d === null ? '' : describeCase(c, d)).toBe('');
  });
});
