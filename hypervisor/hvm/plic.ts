// The platform-level interrupt controller of an HVM board (RISC-V PLIC specification 1.0.0;
// the register map of SiFive's PLIC as QEMU's virt machine has it): per-source priority,
// pending bits, per-context enables, threshold and claim/complete. Sources are level
// triggered through a gateway: a source is pending while its line is high and it is not
// in service; completing it re-arms the gateway. Each context's output (an enabled pending
// source above the threshold) drives `onOutput`; on the HVM board context 2c + 1 is vCPU c's
// supervisor external interrupt (SEIP), context 2c its M-mode line, which nothing takes.
//
// Devices (the UART here, the next issue's virtio and legacy disk) raise lines with setIrq.

import type { MmioDevice } from '../cpu/memory.ts';

const PRIORITY_BASE = 0x0;
const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x20_0000;
const CONTEXT_STRIDE = 0x1000;
/** Priorities and thresholds are WARL 0..7 (QEMU virt's 3 bits). */
const PRIORITY_MASK = 7;

export class Plic implements MmioDevice {
  readonly priority: Uint32Array;
  private readonly pending: Uint8Array;
  private readonly level: Uint8Array;
  private readonly inService: Uint8Array;
  private readonly enable: Uint32Array;
  readonly threshold: Uint32Array;
  private readonly words: number;
  private readonly outputs: Uint8Array;

  /** `ndev` sources (1..ndev), `contexts` targets; `onOutput(ctx, level)` on every change of a context's line. */
  constructor(
    readonly ndev: number,
    readonly contexts: number,
    private readonly onOutput: (ctx: number, level: boolean) => void,
  ) {
    this.priority = new Uint32Array(ndev + 1);
    this.pending = new Uint8Array(ndev + 1);
    this.level = new Uint8Array(ndev + 1);
    this.inService = new Uint8Array(ndev + 1);
    this.words = Math.ceil((ndev + 1) / 32);
    this.enable = new Uint32Array(contexts * this.words);
    this.threshold = new Uint32Array(contexts);
    this.outputs = new Uint8Array(contexts);
  }

  /** A device's interrupt line `src` (1..ndev) goes high or low. */
  setIrq(src: number, high: boolean): void {
    if (!(src >= 1 && src <= this.ndev)) throw new RangeError(`PLIC source ${src} out of range 1..${this.ndev}`);
    this.level[src] = high ? 1 : 0;
    if (high && !this.inService[src]) this.pending[src] = 1;
    if (!high) this.pending[src] = 0;
    this.update();
  }

  isPending(src: number): boolean {
    return this.pending[src] === 1;
  }

  private enabled(ctx: number, src: number): boolean {
    return ((this.enable[ctx * this.words + (src >>> 5)]! >>> (src & 31)) & 1) === 1;
  }

  /** The source a claim by `ctx` would return now (0 = none). */
  private best(ctx: number): number {
    let best = 0;
    let prio = this.threshold[ctx]!;
    for (let s = 1; s <= this.ndev; s++) {
      if (this.pending[s] && this.priority[s]! > prio && this.enabled(ctx, s)) {
        best = s;
        prio = this.priority[s]!;
      }
    }
    return best;
  }

  private update(): void {
    for (let c = 0; c < this.contexts; c++) {
      const on = this.best(c) !== 0 ? 1 : 0;
      if (on !== this.outputs[c]) {
        this.outputs[c] = on;
        this.onOutput(c, on === 1);
      }
    }
  }

  claim(ctx: number): number {
    const s = this.best(ctx);
    if (s !== 0) {
      this.pending[s] = 0;
      this.inService[s] = 1;
      this.update();
    }
    return s;
  }

  complete(ctx: number, src: number): void {
    // A completion for a source not enabled for the context is ignored (PLIC spec, 1.0.0).
    if (!(src >= 1 && src <= this.ndev) || !this.enabled(ctx, src) || !this.inService[src]) return;
    this.inService[src] = 0;
    if (this.level[src]) this.pending[src] = 1;
    this.update();
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 4 || (offset & 3) !== 0) return 0;
    if (offset < PENDING_BASE) {
      const s = (offset - PRIORITY_BASE) >>> 2;
      return s <= this.ndev ? this.priority[s]! : 0;
    }
    if (offset < ENABLE_BASE) {
      const w = (offset - PENDING_BASE) >>> 2;
      let v = 0;
      for (let b = 0; b < 32; b++) if (this.pending[w * 32 + b]) v |= 1 << b;
      return v >>> 0;
    }
    if (offset < CONTEXT_BASE) {
      const ctx = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((offset - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      return ctx < this.contexts && w < this.words ? this.enable[ctx * this.words + w]! >>> 0 : 0;
    }
    const ctx = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
    if (ctx >= this.contexts) return 0;
    const reg = (offset - CONTEXT_BASE) % CONTEXT_STRIDE;
    if (reg === 0) return this.threshold[ctx]!;
    if (reg === 4) return this.claim(ctx);
    return 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = value >>> 0;
    if (offset < PENDING_BASE) {
      const s = (offset - PRIORITY_BASE) >>> 2;
      if (s >= 1 && s <= this.ndev) this.priority[s] = v & PRIORITY_MASK;
    } else if (offset < ENABLE_BASE) {
      return; // pending bits are read-only
    } else if (offset < CONTEXT_BASE) {
      const ctx = Math.floor((offset - ENABLE_BASE) / ENABLE_STRIDE);
      const w = ((offset - ENABLE_BASE) % ENABLE_STRIDE) >>> 2;
      if (ctx >= this.contexts || w >= this.words) return;
      // Source 0 does not exist, nor do sources past ndev: their enable bits stay zero.
      let mask = 0xffffffff;
      if (w === 0) mask &= ~1;
      const top = this.ndev - w * 32; // bits 0..top are real sources
      if (top < 31) mask &= (2 ** (top + 1) - 1);
      this.enable[ctx * this.words + w] = (v & mask) >>> 0;
    } else {
      const ctx = Math.floor((offset - CONTEXT_BASE) / CONTEXT_STRIDE);
      if (ctx >= this.contexts) return;
      const reg = (offset - CONTEXT_BASE) % CONTEXT_STRIDE;
      if (reg === 0) this.threshold[ctx] = v & PRIORITY_MASK;
      else if (reg === 4) this.complete(ctx, v);
      else return;
    }
    this.update();
  }
}
