// The shared part of an HVM vCPU: the platform's interrupt lines into its virtual hart
// (SSIP from SBI IPI, STIP from the SBI timer, SEIP from the PLIC), the SBI timer itself,
// its SBI HSM state, and the virtualization mode that runs it (mode.ts).

import { MIP_SEIP, MIP_SSIP, MIP_STIP } from '../cpu/csr.ts';
import type { Vcpu, VcpuArch } from '../domain/domain.ts';
import type { TimedEvent } from '../time/event_queue.ts';
import type { ExitClock, VirtMode } from './mode.ts';
import type { EventQueue } from '../time/event_queue.ts';
import type { CostModel } from '../time/cost_model.ts';
import type { HvmStats } from './stats.ts';
import { TRC } from '../trace/trace.ts';

/** What an HVM vCPU needs of its board (board.ts implements it; no import back, no cycle). */
export interface VcpuBoard {
  readonly deps: {
    readonly events: EventQueue;
    readonly costs: CostModel;
    /** Side records for a detailed trace (HypervisorServices.traceSide). */
    readonly hv?: { traceSide?(event: number, d0?: number, d1?: number, d2?: number, d3?: number): void };
  };
  readonly stats: HvmStats;
}

/** SBI HSM hart states (SBI v2.0, chapter 9). */
export const HSM_STATE = { started: 0, stopped: 1, startPending: 2, stopPending: 3, suspended: 4 } as const;

export class HvmVcpu implements VcpuArch {
  /** Virtual sip bits the platform drives: MIP_SSIP (IPI; the guest clears it), MIP_STIP, MIP_SEIP. */
  lines = 0;
  /** The SBI timer's event (STIP at its deadline). */
  private timer: TimedEvent | null = null;
  hsm: number = HSM_STATE.stopped;
  /** Set once constructed by the board (the mode needs the HvmVcpu). */
  mode!: VirtMode;

  constructor(readonly vcpu: Vcpu, readonly board: VcpuBoard) {
    // Page walks are charged by the run loop for every vCPU (PageWalkCharge); the board counts an HVM guest's as `walk`.
    const perDomain = vcpu.walks.onCharge;
    vcpu.walks.onCharge = (n, ns) => {
      perDomain?.(n, ns);
      board.stats.count.walk += n;
      board.stats.ns.walk += ns;
    };
  }

  get id(): number {
    return this.vcpu.vcpuId;
  }

  enter(clock: ExitClock): void {
    // An injection at entry is hypervisor work of its own (Domain.perf's irq_inject).
    const stats = this.board.stats;
    stats.beginExit();
    const t0 = clock.now;
    this.mode.enter(clock);
    const r = stats.endExit();
    if (r !== null) this.vcpu.domain.perf.exit(r, clock.now - t0);
  }

  handleExit(clock: ExitClock): void {
    // One exit, named by its most telling reason, with everything it cost (perf kvm stat).
    const stats = this.board.stats;
    stats.beginExit();
    const t0 = clock.now;
    const cause = this.vcpu.hart.trapCause >>> 0;
    try {
      this.mode.handleExit(clock);
    } finally {
      this.vcpu.domain.perf.exit(stats.endExit() ?? 'world_switch', clock.now - t0);
      this.board.deps.hv?.traceSide?.(TRC.PVSIM_EXIT_END, this.vcpu.domain.domid, this.vcpu.vcpuId, cause, clock.now - t0);
    }
  }

  /** Trap mode: the virtual privilege the guest runs at (every change of it is an exit); undefined in hw mode, where the hart counts VS and VU itself. */
  guestPriv(): number | undefined {
    return this.mode.virtualPriv?.();
  }

  /** Raises or lowers platform lines `mask` (MIP_* bits). */
  setLines(mask: number, on: boolean): void {
    this.mode?.syncFromGuest?.();
    const before = this.lines;
    this.lines = on ? this.lines | mask : this.lines & ~mask;
    if (this.lines !== before) this.mode.linesChanged();
  }

  /** The guest cleared SSIP through sip (trap mode) or hvip (hw mode). */
  clearSsip(): void {
    this.lines &= ~MIP_SSIP;
  }

  /**
   * SBI set_timer: STIP goes low now and high at `deadline` (timebase ticks = ns of virtual
   * time). A deadline already past raises it at once; 2^64 - 1 (all ones) never fires.
   */
  setTimer(deadline: number, now: number): void {
    const events = this.board.deps.events;
    events.cancel(this.timer);
    this.timer = null;
    this.setLines(MIP_STIP, false);
    if (deadline >= 2 ** 64 - 2 ** 12) return; // "never" (the top of the 64-bit range)
    if (deadline <= now) {
      this.setLines(MIP_STIP, true);
      return;
    }
    this.timer = events.schedule(deadline, () => {
      this.timer = null;
      this.setLines(MIP_STIP, true);
    });
  }

  /** The PLIC's S-mode context output for this hart. */
  setExternal(on: boolean): void {
    this.setLines(MIP_SEIP, on);
  }

  /** An SBI IPI (send_ipi): SSIP set. */
  sendIpi(): void {
    this.setLines(MIP_SSIP, true);
  }

  destroy(): void {
    this.board.deps.events.cancel(this.timer);
    this.timer = null;
    this.mode.destroy();
  }
}
