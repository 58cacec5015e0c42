// The CLINT of an HVM board (SiFive's layout as on QEMU's virt): msip per hart at 0x0,
// mtimecmp per hart at 0x4000, mtime at 0xbff8. mtime is the domain's virtual time in the
// board's timebase. msip and mtimecmp hold what the guest writes and read back, as a guest
// would see them, but raise nothing: they are machine-level lines and a guest has no
// M-mode (a real S-mode kernel uses SBI TIME and IPI, which the hypervisor serves).

import type { MmioDevice } from '../cpu/memory.ts';

const MSIP = 0x0;
const MTIMECMP = 0x4000;
const MTIME = 0xbff8;

export class HvmClint implements MmioDevice {
  private readonly msip: Uint8Array;
  /** mtimecmp halves (reset value all ones, as a timer that never fires). */
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;

  constructor(readonly harts: number, private readonly now: () => number) {
    this.msip = new Uint8Array(harts);
    this.cmpLo = new Uint32Array(harts).fill(0xffffffff);
    this.cmpHi = new Uint32Array(harts).fill(0xffffffff);
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 4 || (offset & 3) !== 0) return 0;
    if (offset >= MTIME && offset < MTIME + 8) {
      const t = this.now();
      return offset === MTIME ? t >>> 0 : Math.floor(t / 2 ** 32) >>> 0;
    }
    if (offset >= MTIMECMP) {
      const h = (offset - MTIMECMP) >>> 3;
      if (h >= this.harts) return 0;
      return (offset & 4) === 0 ? this.cmpLo[h]! : this.cmpHi[h]!;
    }
    const h = offset >>> 2;
    return h < this.harts ? this.msip[h]! : 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = value >>> 0;
    if (offset >= MTIME) return; // mtime is the virtual clock: read-only here
    if (offset >= MTIMECMP) {
      const h = (offset - MTIMECMP) >>> 3;
      if (h >= this.harts) return;
      if ((offset & 4) === 0) this.cmpLo[h] = v;
      else this.cmpHi[h] = v;
      return;
    }
    const h = offset >>> 2;
    if (h < this.harts) this.msip[h] = v & 1;
  }
}
