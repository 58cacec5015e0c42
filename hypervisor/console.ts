// The hypervisor console (Xen's drivers/char/console.c): the log `xl dmesg` shows, with
// printk for the hypervisor's own lines and "(dN)" lines for guests' CONSOLEIO_write, and
// the input queue dom0 drains with CONSOLEIO_read. Both are bounded.

import type { Domain } from './domain/domain.ts';

/** Bytes of console input kept until dom0 reads them; more is dropped (as Xen's serial rx ring). */
export const CONSOLE_INPUT_MAX = 64 * 1024;
/** A guest's unfinished console line is cut to its last this many characters. */
const PARTIAL_LINE_MAX = 4096;

export class Console {
  private readonly log: string[] = [];
  private readonly input: number[] = [];

  /**
   * `logLimit`: lines kept (the oldest go first). `onOutput` sees each guest write's raw
   * bytes as they arrive (e.g. for `pvsim boot` to print).
   */
  constructor(
    private readonly logLimit: number,
    private readonly onOutput: (domain: Domain, bytes: Uint8Array) => void,
  ) {}

  /** Appends a line to the hypervisor log, dropping the oldest beyond the limit. */
  printk(line: string): void {
    this.log.push(`(XEN) ${line}`);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  dmesg(): readonly string[] {
    return this.log;
  }

  /** A guest's CONSOLEIO_write. */
  write(domain: Domain, bytes: Uint8Array): void {
    this.onOutput(domain, bytes);
    // Like Xen, the log keeps printable text only, one "(dN)" line per guest line.
    let text = domain.consolePartial;
    for (const b of bytes) {
      if (b === 0x0a) {
        this.log.push(`(d${domain.domid}) ${text}`);
        text = '';
      } else if ((b >= 0x20 && b < 0x7f) || b === 0x09) {
        text += String.fromCharCode(b);
      }
    }
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    domain.consolePartial = text.slice(-PARTIAL_LINE_MAX);
  }

  /** Takes up to `max` bytes of input (CONSOLEIO_read). */
  read(max: number): Uint8Array {
    return Uint8Array.from(this.input.splice(0, max));
  }

  /** Queues input bytes; beyond CONSOLE_INPUT_MAX waiting, the rest is dropped. Returns the bytes queued. */
  pushInput(bytes: Uint8Array): number {
    const room = Math.max(0, CONSOLE_INPUT_MAX - this.input.length);
    const n = Math.min(room, bytes.length);
    for (let i = 0; i < n; i++) this.input.push(bytes[i]!);
    if (n < bytes.length) this.printk(`console input full (${CONSOLE_INPUT_MAX} bytes unread): ${bytes.length - n} byte(s) dropped`);
    return n;
  }
}
