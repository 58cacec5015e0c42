// A transmit-only-plus-status 16550 UART, enough for bare programs and unmodified kernels
// to print: THR writes go to `sink`; LSR always reports the transmitter empty; the receive
// side holds bytes pushed with `input` (LSR.DR while any are queued).

import type { MmioDevice } from '../cpu/memory.ts';

const RBR_THR = 0;
const IER = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LCR_DLAB = 0x80;

export const UART16550_SIZE = 0x100;

export class Uart16550 implements MmioDevice {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private readonly rx: number[] = [];

  constructor(private readonly sink: (byte: number) => void) {}

  input(bytes: Uint8Array): void {
    for (const b of bytes) this.rx.push(b);
  }

  read(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR: return dlab ? this.dll : (this.rx.shift() ?? 0);
      case IER: return dlab ? this.dlm : this.ier;
      case IIR_FCR: return 0xc1; // FIFOs enabled, no interrupt pending
      case LCR: return this.lcr;
      case MCR: return this.mcr;
      case LSR: return LSR_THRE | LSR_TEMT | (this.rx.length > 0 ? LSR_DR : 0);
      case MSR: return 0xb0; // CTS, DSR, DCD asserted
      case SCR: return this.scr;
      default: return 0;
    }
  }

  write(offset: number, _size: 1 | 2 | 4, value: number): void {
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR: if (dlab) this.dll = v; else this.sink(v); break;
      case IER: if (dlab) this.dlm = v; else this.ier = v & 0x0f; break;
      case LCR: this.lcr = v; break;
      case MCR: this.mcr = v; break;
      case SCR: this.scr = v; break;
      default: break; // FCR and read-only registers: ignored
    }
  }
}
