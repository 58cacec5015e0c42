// The block translator against the interpreter on targeted cases: self-modifying code (with
// and without fence.i, the next instruction of the same block, through a second virtual
// mapping, by the host between runs, by a second hart), budgets that end inside blocks and
// loops, and faults in the middle of a hot block. Each case runs the same program on two
// machines, one per engine, and compares the whole hart after every run() call.

import { describe, expect, it } from 'vitest';
import { ExitReason, type Engine } from '../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import { Interpreter } from '../../hypervisor/cpu/interpreter.ts';
import { Translator, jitStats } from '../../hypervisor/cpu/jit/index.ts';
import { CSR_MSTATUS, CSR_SATP, MSTATUS_MPP } from '../../hypervisor/cpu/csr.ts';
import * as a from './asm.ts';
import { Machine, PageTables, R, RAM_BASE, RAM_SIZE, U, V, W, X, A as PTE_A, D as PTE_D } from './helpers.ts';

const A0 = 10, A1 = 11, S0 = 8, S1 = 9, S2 = 18, S3 = 19, T0 = 5, T1 = 6, T2 = 7;

function state(h: Hart, why: ExitReason): string {
  return JSON.stringify({ why, pc: h.pc, priv: h.priv, instret: h.instret, retired: h.retired, x: Array.from(h.x), trap: [h.trapCause, h.trapTval], mepc: h.readCsr(0x341), mcause: h.readCsr(0x342) });
}

/** One program on two machines: the interpreter's and the translator's. */
class Pair {
  readonly m: [Machine, Machine] = [new Machine(), new Machine()];
  readonly engines: [Engine, Engine] = [new Interpreter(), new Translator()];

  constructor(private readonly prog: Array<number | number[]>) {
    this.reset();
  }

  /** Fresh harts, the program reloaded and the data page cleared (translations stay). */
  reset(): void {
    for (const m of this.m) {
      m.resetHart();
      m.mem.writeBytes(RAM_BASE + 0x8000, new Uint8Array(4096));
      m.load(RAM_BASE, this.prog);
      m.hart.hostTraps = true;
    }
  }

  /** Runs both for `budget`; they must agree. Returns the exit reason. */
  run(budget: number, harts?: [Hart, Hart]): ExitReason {
    const h = harts ?? [this.m[0].hart, this.m[1].hart];
    const wa = this.engines[0].run(h[0], budget);
    const wb = this.engines[1].run(h[1], budget);
    expect(state(h[1], wb)).toBe(state(h[0], wa));
    return wa;
  }

  /** Same host action on both machines. */
  both(f: (m: Machine) => void): void {
    for (const m of this.m) f(m);
  }

  /** Runs in slices until a host trap; returns the trap cause. */
  finish(slice: number): number {
    for (let i = 0; i < 100_000; i++) {
      if (this.run(slice) === ExitReason.HostTrap) return this.m[0].hart.trapCause;
    }
    throw new Error('no host trap');
  }
}

const ADDI_1 = a.addi(A0, A0, 1);
const ADDI_100 = a.addi(A0, A0, 100);

describe('self-modifying code', () => {
  // loop: P: addi a0,a0,1 ; t0++ ; at t0 == 100 store addi a0,a0,100 over P (then fence.i
  // or not) ; until t0 == 200 ; ebreak.
  function patchLoop(withFence: boolean): Array<number | number[]> {
    const P = RAM_BASE + 4 * 8; // address of the patched instruction (after 8 words of setup)
    return [
      a.li(S0, P), a.li(S1, ADDI_100), a.addi(T0, 0, 0), a.addi(T1, 0, 200), a.addi(T2, 0, 100), a.nop(),
      // P (word 9):
      ADDI_1,
      a.addi(T0, T0, 1),
      a.bne(T0, T2, withFence ? 12 : 8),
      a.sw(S1, 0, S0),
      ...(withFence ? [a.fence_i()] : []),
      a.bne(T0, T1, withFence ? -20 : -16),
      a.ebreak(),
    ];
  }

  it.each([true, false])('a hot loop patches its own body (fence.i: %s)', (withFence) => {
    const p = new Pair(patchLoop(withFence));
    const stale = jitStats.stale;
    expect(p.finish(1_000_000)).toBe(3);
    expect(p.m[1].hart.x[A0]).toBe(100 + 100 * 100);
    expect(jitStats.stale).toBeGreaterThan(stale); // the old block was found stale and dropped
  });

  it('a store rewrites the next instruction of the same block, every iteration', () => {
    // loop: sw s1, 4(s2) (s2 = address of this sw) ; <patched> ; s1 ^= s3 ; t0++ ; bne t0, t1
    const LOOP = RAM_BASE + 4 * 8;
    const p = new Pair([
      a.li(S2, LOOP), a.li(S1, ADDI_1), a.li(S3, ADDI_1 ^ ADDI_100), a.addi(T0, 0, 0), a.addi(T1, 0, 301),
      a.sw(S1, 4, S2),
      a.nop(),
      a.xor(S1, S1, S3),
      a.addi(T0, T0, 1),
      a.bne(T0, T1, -16),
      a.ebreak(),
    ]);
    expect(p.finish(1_000_000)).toBe(3);
    expect(p.m[1].hart.x[A0]).toBe(151 * 1 + 150 * 100);
  });

  it('the host rewrites code between runs (DMA, a grant copy, a loader)', () => {
    // An endless hot loop: addi a0,a0,1 ; j loop (back edge inside the block).
    const p = new Pair([ADDI_1, a.jal(0, -4)]);
    p.run(5000);
    p.both((m) => m.mem.write32(RAM_BASE, ADDI_100));
    p.run(5000);
    p.both((m) => m.mem.writeBytes(RAM_BASE, new Uint8Array([0x13, 0x05, 0x35, 0x00]))); // addi a0,a0,3
    p.run(5001);
    expect(p.m[1].hart.x[A0]).toBe(2500 + 2500 * 100 + 2501 * 3); // 5001 = 2501 addi + 2500 j
  });

  it('a second hart writes the code of the first', () => {
    const p = new Pair([ADDI_1, a.jal(0, -4)]);
    const other: [Hart, Hart] = [new Hart(p.m[0].mem), new Hart(p.m[1].mem)];
    const writer = [a.li(S0, RAM_BASE), a.li(S1, ADDI_100), a.sw(S1, 0, S0), a.ebreak()].flat();
    p.both((m) => m.load(RAM_BASE + 0x10000, writer));
    for (const h of other) {
      h.pc = RAM_BASE + 0x10000;
      h.hostTraps = true;
    }
    p.run(10_000);
    expect(p.run(100, other)).toBe(ExitReason.HostTrap);
    p.run(10_000);
    expect(p.m[1].hart.x[A0]).toBe(5000 + 5000 * 100);
  });

  it('code written through a second virtual mapping of the same frame (U-mode, Sv32)', () => {
    // Code frame at VA 0x10000 (X) and at VA 0x20000 (RW): the loop patches itself through the alias.
    const CODE = 0x10000, ALIAS = 0x20000;
    const prog = [
      a.li(S0, ALIAS + 4 * 8), a.li(S1, ADDI_100), a.addi(T0, 0, 0), a.addi(T1, 0, 200), a.addi(T2, 0, 100), a.nop(),
      ADDI_1, a.addi(T0, T0, 1), a.bne(T0, T2, 8), a.sw(S1, 0, S0), a.bne(T0, T1, -16), a.ecall(),
    ].flat();
    const p = new Pair([]);
    p.both((m) => {
      m.load(RAM_BASE + 0x4000, prog);
      const pt = new PageTables(m.mem, RAM_BASE + 0x100000);
      pt.map(CODE, RAM_BASE + 0x4000, V | R | X | U | PTE_A);
      pt.map(ALIAS, RAM_BASE + 0x4000, V | R | W | U | PTE_A | PTE_D);
      m.hart.writeCsr(CSR_SATP, pt.satp);
      m.hart.writeCsr(CSR_MSTATUS, m.hart.readCsr(CSR_MSTATUS) & ~MSTATUS_MPP);
      m.hart.priv = PRIV_U;
      m.hart.pc = CODE;
    });
    expect(p.finish(1_000_000)).toBe(8); // ecall from U
    expect(p.m[1].hart.x[A0]).toBe(100 + 100 * 100);
  });
});

describe('budgets and faults', () => {
  // A load/store/branch loop over a buffer with an if/else and a nested loop.
  const loop = [
    a.li(S0, RAM_BASE + 0x8000), a.addi(T0, 0, 0), a.addi(T1, 0, 64),
    // outer (word 5):
    a.lw(A1, 0, S0), a.addi(T2, 0, 3),
    // inner:
    a.add(A0, A0, A1), a.addi(T2, T2, -1), a.bne(T2, 0, -8),
    a.andi(A1, T0, 1), a.beq(A1, 0, 8), a.xori(A0, A0, 0x55),
    a.sw(A0, 0, S0), a.addi(S0, S0, 4), a.addi(T0, T0, 1), a.bne(T0, T1, -44),
    a.ebreak(),
  ];

  it('every budget from 1 to 120, run repeatedly: the same state after each run', () => {
    const p = new Pair(loop);
    for (let budget = 1; budget <= 120; budget++) {
      p.reset();
      expect(p.finish(budget)).toBe(3);
    }
  });

  it('mixed budgets after the blocks are hot', () => {
    const p = new Pair(loop);
    const runs = jitStats.blockRuns;
    const budgets = [500, 1, 2, 3, 7, 11, 13, 64, 65, 1, 1, 200, 5, 9, 1000];
    for (let i = 0; ; i++) if (p.run(budgets[i % budgets.length]!) === ExitReason.HostTrap) break;
    expect(jitStats.blockRuns).toBeGreaterThan(runs);
  });

  it('a load faults in the middle of a hot block: exact pc, tval and instret', () => {
    // Walk words up to the end of RAM; the first load past it is an access fault.
    const p = new Pair([
      a.li(S0, RAM_BASE + RAM_SIZE - 4096),
      a.lw(A1, 0, S0), a.add(A0, A0, A1), a.addi(S0, S0, 4), a.jal(0, -12),
    ]);
    expect(p.finish(1_000_000)).toBe(5);
    expect(p.m[1].hart.trapTval >>> 0).toBe((RAM_BASE + RAM_SIZE) >>> 0);
    expect(p.m[1].hart.pc).toBe(RAM_BASE + 8);
  });

  it('a store faults in the middle of a hot block (read-only page under Sv32)', () => {
    const p = new Pair([]);
    const prog = [
      a.li(S0, 0x30000 - 64), a.addi(T0, 0, 0),
      a.sw(T0, 0, S0), a.addi(T0, T0, 1), a.addi(S0, S0, 4), a.jal(0, -12),
    ].flat();
    p.both((m) => {
      m.load(RAM_BASE + 0x4000, prog);
      const pt = new PageTables(m.mem, RAM_BASE + 0x100000);
      pt.map(0x10000, RAM_BASE + 0x4000, V | R | X | U | PTE_A);
      pt.map(0x2f000, RAM_BASE + 0x6000, V | R | W | U | PTE_A | PTE_D);
      pt.map(0x30000, RAM_BASE + 0x7000, V | R | U | PTE_A);
      m.hart.writeCsr(CSR_SATP, pt.satp);
      m.hart.priv = PRIV_U;
      m.hart.pc = 0x10000;
    });
    expect(p.finish(7)).toBe(15); // store page fault
    expect(p.m[1].hart.trapTval >>> 0).toBe(0x30000);
  });
});
