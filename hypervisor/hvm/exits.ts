// What both virtualization modes do on an exit, whatever traps them there: retiring the
// emulated instruction, the watchdog against a guest that exits forever without progress,
// and completing a decoded load or store to a device (at once, or when an ioreq server
// answers, with the vCPU blocked meanwhile).

import type { Hart } from '../cpu/hart.ts';
import type { HvmBoard } from './board.ts';
import { extendLoad, type MemAccess } from './decode.ts';
import type { HvmVcpu } from './vcpu.ts';
import { MIP_SEIP, MIP_STIP } from '../cpu/csr.ts';
import { TRACE_WAKE, TRC } from '../trace/trace.ts';

/**
 * Tells a detailed trace why a blocked HVM vCPU wakes (a side record, never hashed): its
 * timer line, an external (device) line or an answered ioreq are I/O and timer waits that
 * no event channel names.
 */
export function traceHvmWake(board: HvmBoard, v: HvmVcpu, cause?: number): void {
  const c = cause ?? (v.lines & MIP_STIP ? TRACE_WAKE.timer : v.lines & MIP_SEIP ? TRACE_WAKE.io : TRACE_WAKE.other);
  board.deps.hv.traceSide?.(TRC.PVSIM_WAKE_CAUSE, board.domain.domid, v.id, c);
}

/**
 * Exits in a row at one pc with one cause and no instruction retired before the domain is
 * crashed: the shadow "fixing" a fault that recurs, or a guest faulting at its own trap
 * vector, which on a real hart would spin forever.
 */
export const MAX_EXITS_WITHOUT_PROGRESS = 64;

/** The emulated instruction is done: the guest goes on after it. */
export function retireInstruction(hart: Hart): void {
  hart.pc = (hart.pc + 4) >>> 0;
  hart.instret++;
}

/** Counts identical exits without progress; crashes the domain at the bound. */
export class ProgressWatch {
  private last = { pc: -1, cause: -1, instret: -1, n: 0 };

  constructor(private readonly board: HvmBoard, private readonly vcpuId: number) {}

  /** False (and the domain crashed) after MAX_EXITS_WITHOUT_PROGRESS identical exits with nothing retired. */
  progressed(hart: Hart, cause: number): boolean {
    const l = this.last;
    if (l.pc === hart.pc && l.cause === cause && l.instret === hart.instret) l.n++;
    else {
      l.pc = hart.pc;
      l.cause = cause;
      l.instret = hart.instret;
      l.n = 0;
    }
    if (l.n < MAX_EXITS_WITHOUT_PROGRESS) return true;
    const d = this.board.domain;
    this.board.deps.crashDomain(d, `d${d.domid}v${this.vcpuId}: ${l.n} exits in a row at pc 0x${(hart.pc >>> 0).toString(16)} (cause ${cause}) without progress`);
    return false;
  }
}

/**
 * Performs the decoded plain load or store `d` at guest-physical `gpa` on the board's
 * devices for vCPU `v`: 'done' (the destination register written, the instruction
 * retired), 'pending' (sent to an ioreq server; the vCPU is blocked, `ioWait(true)`, until
 * the answer completes it the same way and `ioWait(false)`), or 'fault' (nothing there:
 * the caller gives the guest its access fault).
 */
export function deviceAccess(
  v: HvmVcpu,
  board: HvmBoard,
  gpa: number,
  d: Extract<MemAccess, { kind: 'load' | 'store' }>,
  ioWait: (on: boolean) => void,
): 'done' | 'pending' | 'fault' {
  const hart = v.vcpu.hart;
  const x = hart.x;
  const value = d.kind === 'store' ? (d.size === 4 ? x[d.rs2]! : x[d.rs2]! & ((1 << (d.size * 8)) - 1)) : 0;
  const finish = (val: number): void => {
    if (d.kind === 'load' && d.rd !== 0) x[d.rd] = extendLoad(val, d.size, d.signed);
    retireInstruction(hart);
  };
  const r = board.mmioAccess(v.id, gpa, d.size, d.kind === 'store', value, (val) => {
    // An ioreq server (the device model) answered: the access completes, the vCPU goes on.
    finish(val);
    ioWait(false);
    traceHvmWake(board, v, TRACE_WAKE.io);
    board.deps.hv.wakeVcpu(v.vcpu);
  });
  if (r.kind === 'fault') return 'fault';
  if (r.kind === 'done') {
    finish(r.value);
    return 'done';
  }
  ioWait(true);
  board.deps.hv.blockVcpu(v.vcpu);
  return 'pending';
}
