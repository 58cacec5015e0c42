// The NS16550A UART, as on QEMU's virt board: the HVM board's (transmit to the domain's
// console, receive fed from it) and the bare machine's (`run-bare`: transmit to stdout), with the interrupt-enable, identification and line-status registers a driver
// polls or takes interrupts from (receive-data-available and THR-empty; PLIC source 10).
// The transmitter is never busy: the console behind it buffers (bounded, see board.ts).

import type { MmioDevice } from '../cpu/memory.ts';

const RBR_THR = 0;
const IER = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const IER_ERBFI = 0x01;
const IER_ETBEI = 0x02;
const LSR_DR = 0x01;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LCR_DLAB = 0x80;
const IIR_NONE = 0x01;
const IIR_THRE = 0x02;
const IIR_RDA = 0x04;
/** IIR bits 7:6 when the FIFOs are enabled (FCR bit 0). */
const IIR_FIFO = 0xc0;
/** Receive FIFO depth of a 16550A. */
export const UART_RX_FIFO = 16;
/** Register window (bytes): eight registers, as QEMU's virt maps them (reg-shift 0). */
export const NS16550_SIZE = 0x100;

export interface UartBackend {
  /** A byte the guest transmitted. */
  tx(byte: number): void;
  /** The next received byte, or -1 when there is none. */
  rx(): number;
  /** True if rx() would return a byte. */
  rxReady(): boolean;
  /** The UART's interrupt line. */
  irq(high: boolean): void;
}

export class Ns16550 implements MmioDevice {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  /** THR-empty interrupt armed (set by emptying THR or enabling ETBEI, cleared by reading IIR or writing THR). */
  private thrIntr = false;

  constructor(private readonly be: UartBackend) {}

  /** Re-evaluates the interrupt line (after input arrived, too). */
  update(): void {
    this.be.irq(this.intrId() !== IIR_NONE);
  }

  private intrId(): number {
    if ((this.ier & IER_ERBFI) !== 0 && this.be.rxReady()) return IIR_RDA;
    if ((this.ier & IER_ETBEI) !== 0 && this.thrIntr) return IIR_THRE;
    return IIR_NONE;
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 1) return 0;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    let v = 0;
    switch (offset) {
      case RBR_THR:
        if (dlab) return this.dll;
        v = this.be.rx();
        v = v < 0 ? 0 : v;
        break;
      case IER: return dlab ? this.dlm : this.ier;
      case IIR_FCR: {
        const id = this.intrId();
        if (id === IIR_THRE) this.thrIntr = false;
        v = id | ((this.fcr & 1) !== 0 ? IIR_FIFO : 0);
        break;
      }
      case LCR: return this.lcr;
      case MCR: return this.mcr;
      case LSR: return LSR_THRE | LSR_TEMT | (this.be.rxReady() ? LSR_DR : 0);
      case MSR: return 0xb0; // CTS, DSR, DCD asserted
      case SCR: return this.scr;
      default: return 0;
    }
    this.update();
    return v;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size !== 1) return;
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR:
        if (dlab) {
          this.dll = v;
          return;
        }
        this.be.tx(v);
        this.thrIntr = true; // sent at once: THR is empty again
        break;
      case IER:
        if (dlab) {
          this.dlm = v;
          return;
        }
        if ((v & IER_ETBEI) !== 0 && (this.ier & IER_ETBEI) === 0) this.thrIntr = true;
        this.ier = v & 0x0f;
        break;
      case IIR_FCR: this.fcr = v & 0xc9; break;
      case LCR: this.lcr = v; return;
      case MCR: this.mcr = v & 0x1f; return;
      case SCR: this.scr = v; return;
      default: return; // LSR, MSR: read-only
    }
    this.update();
  }
}
