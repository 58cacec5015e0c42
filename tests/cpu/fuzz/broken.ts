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
