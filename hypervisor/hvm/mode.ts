// The pluggable part of an HVM vCPU: how the guest runs and what happens on its exits.
// Trap-and-emulate (trap_mode.ts) runs virtual S and U in the real U-mode and emulates
// every privileged operation; hardware-assisted mode (the H extension, `hvm_mode = "hw"`)
// will run the guest in VS/VU and serve what the CPU does not. Everything else an HVM
// vCPU has (the board, SBI, the interrupt lines, the timer, the costs and counts) is
// shared and lives in vcpu.ts and board.ts.

import type { HvmMode } from '../../xenguest/hvm_image.ts';

export interface ExitClock {
  /** The pCPU's virtual time; an exit adds what it costs. */
  now: number;
}

export interface VirtMode {
  readonly kind: HvmMode;
  /** Puts the vCPU at `pc` in (virtual) S-mode with a0, a1, translation off, interrupts off (boot, SBI HSM hart_start). */
  reset(pc: number, a0: number, a1: number): void;
  /** Before the hart runs: take a virtual interrupt the guest can take now (charges irq_inject). */
  enter(clock: ExitClock): void;
  /** A host trap of the hart (cause in hart.trapCause / trapTval). */
  handleExit(clock: ExitClock): void;
  /** The platform's interrupt lines (HvmVcpu.lines) changed: wake a vCPU waiting in wfi if it can now take one. */
  linesChanged(): void;
  /**
   * Before anything changes the lines: take back what the guest itself did to them since
   * the last entry (hw mode: a guest's sip.SSIP clear is still only in hvip), so that an
   * IPI sent now is not mistaken for the one the guest already cleared.
   */
  syncFromGuest?(): void;
  /**
   * A supervisor access of the guest at virtual `va` (a hypercall's pointer): the machine
   * address, or -1 when the guest's own tables (or the p2m) do not allow it.
   */
  guestTranslate(va: number, access: 'r' | 'w'): number;
  /** Another vCPU's SBI RFENCE asked this one to drop translations (null = all). */
  remoteSfence(va: number | null): void;
  /** The vCPU stopped (SBI HSM hart_stop): let go of what it was running on. */
  stop(): void;
  /** Trap mode: the guest's virtual privilege (U 0, S 1); absent where the hart runs the guest's privileges itself (hw). */
  virtualPriv?(): number;
  /** Frees what the mode holds (called with the domain's destruction). */
  destroy(): void;
}
