// Deliberately wrong engines, to show the differential harness catches and shrinks a
// divergence (issue 17, item 5d). Each single-steps the reference interpreter (run(hart, 1)
// `budget` times: the same result as one run(hart, budget), checked by the fuzz test) and
// damages one thing after an instruction of one kind. They read the instruction at the old
// pc physically, so they are meant for paging-off (mode 'M') cases only.

import { ExitReason, type Engine } from '../../../hypervisor/cpu/engine.ts';
import type { Hart } from '../../../hypervisor/cpu/hart.ts';
import { Interpreter } from '../../../hypervisor/cpu/interpreter.ts';

type Damage = (hart: Hart, word: number, retired: boolean) => void;

export class SteppingEngine implements Engine {
  private readonly inner = new Interpreter();
  constructor(private readonly damage: Damage | null = null) {}

  run(hart: Hart, budget: number): ExitReason {
    for (let i = 0; i < budget; i++) {
      const pc = hart.pc >>> 0;
      const before = hart.instret;
      const word = hart.mem.isBacked(pc, 4) ? hart.mem.read32(pc) : -1;
      const why = this.inner.run(hart, 1);
      if (this.damage && word !== -1) this.damage(hart, word, hart.instret !== before);
      if (why !== ExitReason.Budget) return why;
    }
    return ExitReason.Budget;
  }
}

/** `sra` with its result's low bit flipped. */
export const brokenSra = new SteppingEngine((hart, word, retired) => {
  const rd = (word >>> 7) & 31;
  if (retired && (word & 0xfe00707f) === 0x40005033 && rd !== 0) hart.x[rd]! ^= 1;
});

/** `ecall` counted in instret (it traps, so it does not retire). */
export const brokenEcallCount = new SteppingEngine((hart, word) => {
  if (word === 0x00000073) hart.instret += 1;
});

/**
 * Stale code: remembers the first word it executed at each address and keeps executing that
 * one after the program overwrote it (a translator that never invalidates). It puts the old
 * word back for the one step and restores the new one afterwards; the memory comparison
 * cannot see the trick, only its effect.
 */
export class StaleCodeEngine implements Engine {
  private readonly inner = new Interpreter();
  private readonly seen = new Map<number, number>();

  run(hart: Hart, budget: number): ExitReason {
    const mem = hart.mem;
    for (let i = 0; i < budget; i++) {
      const pc = hart.pc >>> 0;
      const backed = mem.isBacked(pc, 4);
      const now = backed ? mem.read32(pc) : 0;
      const old = this.seen.get(pc);
      if (backed && old === undefined) this.seen.set(pc, now);
      const stale = backed && old !== undefined && old !== now;
      if (stale) mem.write32(pc, old);
      const why = this.inner.run(hart, 1);
      if (stale && mem.read32(pc) === old) mem.write32(pc, now);
      if (why !== ExitReason.Budget) return why;
    }
    return ExitReason.Budget;
  }
}
