// The seam between the hypervisor and whatever executes guest instructions. An interpreter
// and (later) a block translator both implement `Engine`, so they can be swapped and
// tested against each other.

import type { Hart } from './hart.ts';

/** Why `Engine.run` returned. */
export const ExitReason = {
  /** The instruction budget ran out. */
  Budget: 0,
  /**
   * A trap that would be taken in M-mode while `hart.hostTraps` is set. The hart is left
   * at the trapping instruction: `hart.pc` is its address and `hart.trapCause` /
   * `hart.trapTval` say what happened. The host emulates it and resumes.
   */
  HostTrap: 1,
  /** WFI executed with nothing pending and enabled; the host may advance time. */
  Wfi: 2,
  /** A device or store watcher asked to stop (`hart.stopRequested`), after the instruction completed. */
  Stop: 3,
} as const;
export type ExitReason = (typeof ExitReason)[keyof typeof ExitReason];

export interface Engine {
  /** Runs `hart` for at most `budget` instructions and says why it stopped. */
  run(hart: Hart, budget: number): ExitReason;
}
