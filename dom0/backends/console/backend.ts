// The PV console backend (xenconsoled's job): drains a guest's `out` ring into a bounded
// log and its listeners, and feeds input into the `in` ring. A hostile guest can set the
// indices to anything: the backend never reads more than the ring holds.

import type { Dom0Platform, MappedPage } from '../../platform.ts';
import { XENCONS } from './ring.ts';

export const CONSOLE_LOG_BYTES = 64 * 1024;

export class ConsoleBackend {
  private readonly page: MappedPage;
  private readonly dv: DataView;
  private readonly port: number;
  private readonly log: number[] = [];
  /** Bytes dropped from the front of the log so far (absolute offsets for readers). */
  private dropped = 0;
  private readonly pendingInput: number[] = [];
  readonly listeners = new Set<(bytes: Uint8Array) => void>();

  /** Serves the console ring on `page` (already mapped) whose dom0 port is `port`. */
  constructor(private readonly platform: Dom0Platform, readonly domid: number, page: MappedPage, port: number) {
    this.page = page;
    const b = this.page.bytes;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.port = port;
    platform.onEvent(this.port, () => this.service());
  }

  private u32(off: number): number {
    return this.dv.getUint32(off, true);
  }

  /** Reads what the guest produced and writes what input fits; notifies if anything moved. */
  service(): void {
    const b = this.page.bytes;
    let moved = false;
    const cons = this.u32(XENCONS.out_cons);
    const prod = this.u32(XENCONS.out_prod);
    const avail = (prod - cons) >>> 0;
    if (avail > 0 && avail <= XENCONS.OUT_SIZE) {
      const out = new Uint8Array(avail);
      for (let i = 0; i < avail; i++) out[i] = b[XENCONS.out + ((cons + i) & (XENCONS.OUT_SIZE - 1))]!;
      this.dv.setUint32(XENCONS.out_cons, prod, true);
      this.page.dirty(XENCONS.out_cons, 4);
      this.append(out);
      moved = true;
    } else if (avail > XENCONS.OUT_SIZE) {
      // Corrupt indices: resynchronize rather than read past the ring.
      this.dv.setUint32(XENCONS.out_cons, prod, true);
      this.page.dirty(XENCONS.out_cons, 4);
    }
    if (this.pendingInput.length) moved = this.pushInput() || moved;
    if (moved) void this.platform.notify(this.port);
  }

  private pushInput(): boolean {
    const b = this.page.bytes;
    const cons = this.u32(XENCONS.in_cons);
    let prod = this.u32(XENCONS.in_prod);
    const start = prod;
    while (this.pendingInput.length && ((prod - cons) >>> 0) < XENCONS.IN_SIZE) {
      const off = XENCONS.in + (prod & (XENCONS.IN_SIZE - 1));
      b[off] = this.pendingInput.shift()!;
      this.page.dirty(off, 1);
      prod = (prod + 1) >>> 0;
    }
    if (prod === start) return false;
    this.dv.setUint32(XENCONS.in_prod, prod, true);
    this.page.dirty(XENCONS.in_prod, 4);
    return true;
  }

  /** Queues keyboard input for the guest. */
  input(bytes: Uint8Array): void {
    for (const x of bytes) this.pendingInput.push(x);
    if (this.pushInput()) void this.platform.notify(this.port);
  }

  private append(bytes: Uint8Array): void {
    for (const x of bytes) this.log.push(x);
    const over = this.log.length - CONSOLE_LOG_BYTES;
    if (over > 0) {
      this.log.splice(0, over);
      this.dropped += over;
    }
    for (const l of this.listeners) l(bytes);
  }

  /** The log from absolute offset `from` (what `xl console` shows after the fact). */
  read(from = 0): { bytes: Uint8Array; next: number } {
    const start = Math.max(0, from - this.dropped);
    return { bytes: Uint8Array.from(this.log.slice(start)), next: this.dropped + this.log.length };
  }

  close(): void {
    void this.platform.closePort(this.port);
    this.page.unmap();
  }
}
