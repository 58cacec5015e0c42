// Differential CPU fuzzing (issue 17, item 5c/5d; docs/cpufuzz.md): random RV32IMA + Zicsr
// programs run under the interpreter and under createEngine('jit') with the same budgets and
// interrupt lines, state compared after every run call. A bounded number of runs here; long
// runs: `npx tsx scripts/cpufuzz.ts --runs N`. The broken engines show the harness catches a
// wrong result and a mis-counted trap and shrinks each to a few instructions.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../hypervisor/cpu/engines.ts';
import { Interpreter } from '../../hypervisor/cpu/interpreter.ts';
import { jitStats, Translator } from '../../hypervisor/cpu/jit/index.ts';
import { ExitReason, type Engine } from '../../hypervisor/cpu/engine.ts';
import { brokenEcallCount, brokenSra, StaleCodeEngine, SteppingEngine } from './fuzz/broken.ts';
import { assemble, caseArb, compare, describeCase, MODES, setup, release, type FuzzCase } from './fuzz/rvfuzz.ts';

/** Fixed in CI; CPUFUZZ_SEED=N tries another. */
const SEED = Number(process.env.CPUFUZZ_SEED ?? 17);
/** Smaller cases for the single-stepping broken engines (slow per instruction). */
const BROKEN_CASES = caseArb({ modes: ['M'], maxSteps: 4, maxBudget: 60 });

/** An engine, or a maker of a fresh one per case (the harness writes each case's memory directly, behind any cache). */
type EngineSource = Engine | (() => Engine);
const get = (e: EngineSource): Engine => (typeof e === 'function' ? e() : e);

function property(a: EngineSource, b: EngineSource, arb: fc.Arbitrary<FuzzCase>) {
  return fc.property(arb, (c) => {
    const d = compare(c, get(a), get(b));
    if (d) throw new Error(describeCase(c, d));
  });
}

/** Runs the property and returns the shrunk counterexample (or null when it holds). */
function counterexample(a: EngineSource, b: EngineSource, arb: fc.Arbitrary<FuzzCase>, numRuns: number): FuzzCase | null {
  const r = fc.check(property(a, b, arb), { seed: SEED, numRuns });
  if (process.env.CPUFUZZ_SHOW) console.log(`runs ${r.numRuns}, shrinks ${r.numShrinks}`);
  return r.failed ? (r.counterexample![0] as FuzzCase) : null;
}

describe('differential fuzzing: interpreter vs createEngine("jit")', () => {
  it.each(MODES)('agree step by step on random programs (%s)', { timeout: 30_000 }, (mode) => {
    const jit = () => createEngine('jit');
    const c = counterexample(new Interpreter(), jit, caseArb({ modes: [mode] }), 150);
    expect(c && describeCase(c, compare(c, new Interpreter(), jit()), `npx tsx scripts/cpufuzz.ts --seed ${SEED} --mode ${mode}`)).toBeNull();
  });

  // The same with the translator compiling every pc on its first visit (Translator `hot: 1`):
  // the short random programs then run mostly as translated blocks, not interpreted.
  it.each(MODES)('agree step by step with blocks compiled at once (%s)', { timeout: 30_000 }, (mode) => {
    const jit = () => new Translator({ hot: 1 });
    const runs = jitStats.blockRuns;
    const c = counterexample(new Interpreter(), jit, caseArb({ modes: [mode] }), 150);
    expect(c && describeCase(c, compare(c, new Interpreter(), jit()), `npx tsx scripts/cpufuzz.ts --seed ${SEED} --mode ${mode} --hot 1`)).toBeNull();
    expect(jitStats.blockRuns - runs).toBeGreaterThan(150);
  });

  it('single-stepping the interpreter equals running it (the broken engines below rely on it)', { timeout: 30_000 }, () => {
    const c = counterexample(new Interpreter(), new SteppingEngine(), caseArb({ modes: ['M'] }), 40);
    expect(c && describeCase(c, compare(c, new Interpreter(), new SteppingEngine()))).toBeNull();
  });

  it('the generated programs exercise what they should: traps, self-modification, page crossing, loops', () => {
    // Run a batch and look at what happened: the handler ran with several causes, ...
    const causes = new Set<number>();
    let smcRuns = 0, backward = 0, stops = 0;
    fc.assert(
      fc.property(caseArb(), (c) => {
        const h = setup(c);
        const interp = new Interpreter();
        // One instruction at a time, noting every trap's cause (the handler's first word reads it).
        for (const st of c.steps) {
          for (const h2 of [h]) if (st.irq) { h2.setInterruptPending(st.irq.bit, st.irq.on); if (st.irq.on) h2.mie |= 1 << st.irq.bit; }
          for (let i = 0; i < st.budget; i++) {
            if (interp.run(h, 1) === ExitReason.Stop) stops++;
            if (h.pc === 0x80000000) causes.add(h.mcause);
          }
        }
        release(h.mem);
        if (c.ops.some((o) => o.k === 'smc')) smcRuns++;
        if (c.ops.some((o, i) => o.k === 'branch' && o.target % (c.ops.length + 1) <= i)) backward++;
      }),
      { seed: SEED, numRuns: 150 },
    );
    // ... including page faults after a program remapped its own pages, and SEIP raised by a device store (0x80000009).
    for (const cause of [0, 1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 15, 0x80000007, 0x80000009, 0x8000000b]) expect(causes.has(cause), `cause ${cause} seen: ${[...causes]}`).toBe(true);
    expect(smcRuns).toBeGreaterThan(20);
    expect(stops, 'stores to the watched page that asked to stop').toBeGreaterThan(0);
    expect(backward).toBeGreaterThan(20);
  });

  describe('a broken engine is caught and shrunk', () => {
    it('a wrong sra result', { timeout: 30_000 }, () => {
      const c = counterexample(new Interpreter(), brokenSra, BROKEN_CASES, 300);
      expect(c).not.toBeNull();
      const text = describeCase(c!, compare(c!, new Interpreter(), brokenSra), 'npx tsx scripts/cpufuzz.ts --seed 17 --broken sra');
      if (process.env.CPUFUZZ_SHOW) console.log(text);
      // Shrunk: one op (the sra), its report names the register.
      expect(c!.ops.length, text).toBeLessThanOrEqual(2);
      expect(text).toMatch(/\bsra\b/);
      expect(text).toMatch(/x\d+: /);
      expect(assemble(c!).words.length).toBeLessThanOrEqual(6);
    });

    it('stale code after self-modification (no invalidation)', { timeout: 30_000 }, () => {
      const stale = () => new StaleCodeEngine();
      const c = counterexample(new Interpreter(), stale, caseArb({ modes: ['M'], maxOps: 16, maxSteps: 3, maxBudget: 80 }), 300);
      expect(c).not.toBeNull();
      const text = describeCase(c!, compare(c!, new Interpreter(), stale()));
      if (process.env.CPUFUZZ_SHOW) console.log(text);
      expect(c!.ops.length, text).toBeLessThanOrEqual(4);
      expect(c!.ops.some((o) => o.k === 'smc' || (o.k === 'store' && o.region === 'code')), text).toBe(true);
    });

    it('an ecall counted in instret', { timeout: 30_000 }, () => {
      const c = counterexample(new Interpreter(), brokenEcallCount, BROKEN_CASES, 300);
      expect(c).not.toBeNull();
      const text = describeCase(c!, compare(c!, new Interpreter(), brokenEcallCount));
      if (process.env.CPUFUZZ_SHOW) console.log(text);
      expect(c!.ops.length, text).toBeLessThanOrEqual(2);
      expect(text).toMatch(/\becall\b/);
      expect(text).toMatch(/instret: /);
    });
  });
});
