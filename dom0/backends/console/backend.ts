// The PV console backend (xenconsoled's job): drains a guest's `out` ring into a bounded
// log and its listeners, and feeds input into the `in` ring. A hostile guest can set the
// indices to anything: the backend never reads more than the ring holds.
//
// Input is bounded as xenconsoled bounds it: it stops reading the console's pty while the
// guest's ring is full, so whoever types blocks. Here at most CONSOLE_INPUT_BYTES wait
// for the ring; a writer whose bytes do not fit waits (its input() resolves when they are
// all queued), and one writer at a time may wait: another gets ConsoleInputBusy (EAGAIN).

import type { Dom0Platform, MappedPage } from '../../platform.ts';
import { XENCONS } from '../../../protocol/xen/console.ts';
import { CONSOLE_LOG_BYTES } from '../../../protocol/wire.ts';

/** Input bytes dom0 holds for a guest that has not taken them into its ring yet. */
export const CONSOLE_INPUT_BYTES = 64 * 1024;

/** Input refused: the queue is full and another writer already waits for room. */
export class ConsoleInputBusy extends Error {
  override readonly name = 'ConsoleInputBusy';
}

/**
 * Input refused: one request carries more than CONSOLE_INPUT_BYTES. A waiting writer's
 * bytes are held until the guest reads them (even after its client has gone), so one
 * request may not be larger than the queue: 24 MiB (a whole frame) parked per console
 * would make the queue's bound meaningless.
 */
export class ConsoleInputTooLarge extends Error {
  override readonly name = 'ConsoleInputTooLarge';
}

export class ConsoleBackend {
  private readonly page: MappedPage;
  private readonly port: number;
  private readonly log: number[] = [];
  /** Bytes dropped from the front of the log so far (absolute offsets for readers). */
  private dropped = 0;
  /** Input waiting for room in the ring: chunks, the first one consumed from `inputHead`. */
  private readonly pendingInput: Uint8Array[] = [];
  private inputHead = 0;
  private inputBytes = 0;
  /** The writer whose bytes did not all fit: the rest, and how to tell it. */
  private waiter: { rest: Uint8Array; resolve: () => void; reject: (e: Error) => void } | null = null;
  private closed = false;
  readonly listeners = new Set<(bytes: Uint8Array) => void>();

  /** Serves the console ring on `page` (already mapped) whose dom0 port is `port`. */
  constructor(private readonly platform: Dom0Platform, readonly domid: number, page: MappedPage, port: number) {
    this.page = page;
    this.port = port;
    platform.onEvent(this.port, () => this.service());
  }

  /** The ring's indices as they are now (the guest may be moving them). */
  ringIndices(): { port: number; outProd: number; outCons: number; inProd: number; inCons: number } {
    return { port: this.port, outProd: this.u32(XENCONS.out_prod), outCons: this.u32(XENCONS.out_cons), inProd: this.u32(XENCONS.in_prod), inCons: this.u32(XENCONS.in_cons) };
  }

  private u32(off: number): number {
    return this.page.mem.u32le(off);
  }

  /** Reads what the guest produced and writes what input fits; notifies if anything moved. */
  service(): void {
    const m = this.page.mem;
    let moved = false;
    const cons = this.u32(XENCONS.out_cons);
    const prod = this.u32(XENCONS.out_prod);
    const avail = (prod - cons) >>> 0;
    if (avail > 0 && avail <= XENCONS.OUT_SIZE) {
      const out = new Uint8Array(avail);
      for (let i = 0; i < avail; i++) out[i] = m.u8(XENCONS.out + ((cons + i) & (XENCONS.OUT_SIZE - 1)));
      m.setU32le(XENCONS.out_cons, prod);
      this.append(out);
      moved = true;
    } else if (avail > XENCONS.OUT_SIZE) {
      // Corrupt indices: resynchronize rather than read past the ring.
      m.setU32le(XENCONS.out_cons, prod);
    }
    if (this.pendingInput.length) moved = this.pushInput() || moved;
    if (moved) void this.platform.notify(this.port);
  }

  /** Input bytes held for the guest (at most CONSOLE_INPUT_BYTES). */
  get queuedInputBytes(): number {
    return this.inputBytes;
  }

  private pushInput(): boolean {
    const m = this.page.mem;
    const cons = this.u32(XENCONS.in_cons);
    let prod = this.u32(XENCONS.in_prod);
    const start = prod;
    // A guest's corrupt indices (more than the ring "in use") leave no room: nothing moves.
    while (this.pendingInput.length && ((prod - cons) >>> 0) < XENCONS.IN_SIZE) {
      const chunk = this.pendingInput[0]!;
      const off = XENCONS.in + (prod & (XENCONS.IN_SIZE - 1));
      m.setU8(off, chunk[this.inputHead++]!);
      prod = (prod + 1) >>> 0;
      this.inputBytes--;
      if (this.inputHead === chunk.length) {
        this.pendingInput.shift(); // given back as soon as the guest took it
        this.inputHead = 0;
      }
    }
    if (prod === start) return false;
    m.setU32le(XENCONS.in_prod, prod);
    this.admitWaiter();
    return true;
  }

  /** Moves what fits of `bytes` into the queue (copied); returns the rest. */
  private enqueue(bytes: Uint8Array): Uint8Array {
    const n = Math.min(bytes.length, CONSOLE_INPUT_BYTES - this.inputBytes);
    if (n > 0) {
      this.pendingInput.push(bytes.slice(0, n));
      this.inputBytes += n;
    }
    return bytes.subarray(n);
  }

  private admitWaiter(): void {
    const w = this.waiter;
    if (!w) return;
    w.rest = this.enqueue(w.rest);
    if (w.rest.length === 0) {
      this.waiter = null;
      w.resolve();
    }
  }

  /**
   * Queues keyboard input for the guest. Resolves once every byte is queued, which for a
   * guest that does not read may be never; rejects with ConsoleInputBusy if another
   * writer already waits (nothing of `bytes` is taken), with ConsoleInputTooLarge for
   * more than CONSOLE_INPUT_BYTES (nothing taken), or when the console closes.
   */
  input(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`console of d${this.domid} is closed`));
    if (bytes.length > CONSOLE_INPUT_BYTES) {
      return Promise.reject(new ConsoleInputTooLarge(`console input of ${bytes.length} bytes: at most ${CONSOLE_INPUT_BYTES} per request`));
    }
    if (this.waiter) return Promise.reject(new ConsoleInputBusy(`console input of d${this.domid} is full (${this.inputBytes} bytes wait for the guest)`));
    const rest = this.enqueue(bytes);
    if (this.pushInput()) void this.platform.notify(this.port);
    if (rest.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiter = { rest, resolve, reject };
      this.admitWaiter(); // pushInput above may have made room since
    });
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
    this.closed = true;
    this.pendingInput.length = 0;
    this.inputBytes = 0;
    this.waiter?.reject(new Error(`console of d${this.domid} is closed`));
    this.waiter = null;
    void this.platform.closePort(this.port);
    this.page.unmap();
  }
}
