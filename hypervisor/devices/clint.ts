// The SiFive CLINT as on QEMU's virt board: msip at 0x0, mtimecmp at 0x4000, mtime at
// 0xbff8. mtime is the machine's virtual time (1 GHz), so timer interrupts are as
// deterministic as the clock they are derived from.

import type { MmioDevice } from '../cpu/memory.ts';

export const CLINT_SIZE = 0x10000;
const MSIP = 0x0;
const MTIMECMP = 0x4000;
const MTIME = 0xbff8;

export interface ClintTarget {
  /** Raises or clears a machine interrupt: 3 = MSIP, 7 = MTIP. */
  setInterruptPending(bit: number, on: boolean): void;
}

export class Clint implements MmioDevice {
  private msip = 0;
  /** mtimecmp, initially "never". */
  mtimecmp = Number.MAX_SAFE_INTEGER;

  constructor(private readonly hart: ClintTarget, private readonly now: () => number) {}

  /** Re-evaluates MTIP against the current time; call after time advances. */
  update(): void {
    this.hart.setInterruptPending(7, this.now() >= this.mtimecmp);
  }

  read(offset: number): number {
    const t = this.now();
    switch (offset) {
      case MSIP: return this.msip;
      case MTIMECMP: return this.mtimecmp >>> 0;
      case MTIMECMP + 4: return Math.floor(this.mtimecmp / 2 ** 32) >>> 0;
      case MTIME: return t >>> 0;
      case MTIME + 4: return Math.floor(t / 2 ** 32) >>> 0;
      default: return 0;
    }
  }

  write(offset: number, _size: 1 | 2 | 4, value: number): void {
    const v = value >>> 0;
    switch (offset) {
      case MSIP:
        this.msip = v & 1;
        this.hart.setInterruptPending(3, this.msip !== 0);
        return;
      case MTIMECMP:
        this.mtimecmp = Math.floor(this.mtimecmp / 2 ** 32) * 2 ** 32 + v;
        break;
      case MTIMECMP + 4:
        this.mtimecmp = v * 2 ** 32 + (this.mtimecmp % 2 ** 32);
        break;
      default:
        return; // mtime is read-only here: it is the virtual clock
    }
    this.update();
  }
}
