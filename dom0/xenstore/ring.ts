// The domain transport: XenStore over a guest's ring page (xenstore_domain_interface,
// docs/misc/xenstore-ring.txt), the daemon's end. The page is any 4 KiB guest-memory view
// the lead maps onto the guest's store frame (every store goes through it, so a mirrored
// page knows exactly which bytes the daemon wrote); `notify` signals the guest's event
// channel. The guest writes requests into req[] and advances req_prod, then notifies: the lead calls
// kick(). The daemon answers into rsp[] and advances rsp_prod.
//
// Both indices of a stream are free-running u32s; byte x lives at x mod 1024; a stream
// never holds more than 1024 bytes, so prod - cons (mod 2^32) > 1024 means the guest
// corrupted an index. Messages may straddle the wrap and arrive over several kicks.
//
// A hostile or broken guest never makes the daemon throw or spin: a bad index or a header
// announcing more than XENSTORE_PAYLOAD_MAX stops service of the ring with the `error`
// field set (XENSTORE_ERROR_RINGIDX / _PROTO), dropping the connection's watches and
// transactions, as cxenstored does. A guest that stops reading replies while events pile
// up past the daemon's output limit gets XENSTORE_ERROR_COMM. The guest may then ask for a
// reconnection (connection = XENSTORE_RECONNECT, then notify): the daemon empties both
// streams, clears the error and answers with connection = XENSTORE_CONNECTED.

import {
  maskXenstoreIdx,
  ringDistance,
  XENSTORE_CONNECTED,
  XENSTORE_DOMAIN_INTERFACE as XDI,
  XENSTORE_ERROR_COMM,
  XENSTORE_ERROR_NONE,
  XENSTORE_ERROR_PROTO,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_RECONNECT,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_ERROR,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XSD_SOCKMSG,
  XsFrameDecoder,
} from '../../protocol/xen/xs_wire.ts';
import { ByteMemory, type GuestMemory } from '../../protocol/guest_memory.ts';
import type { Connection, ConnectionTransport } from './connection.ts';
import type { Xenstored } from './xenstored.ts';

export interface RingOptions {
  /**
   * Replies waiting for room above which no further requests are consumed (the guest
   * must read first). Default: two maximal messages.
   */
  inputPauseBytes?: number;
  /** Diagnostics. */
  log?(message: string): void;
}

/** Upper bound of read/flush rounds in one kick, so a kick always returns. */
const MAX_ROUNDS = 256;

export class RingTransport implements ConnectionTransport {
  private connection: Connection;
  private readonly page: GuestMemory;
  private readonly decoder = new XsFrameDecoder();
  /** A frame partly written into rsp[]: the rest goes out when the guest makes room. */
  private partial: Uint8Array | null = null;
  private partialOff = 0;
  /** XENSTORE_ERROR_* once service stopped, else 0. */
  private failure = XENSTORE_ERROR_NONE;
  private detached = false;
  private busy = false;
  private outputPending = false;
  private notifyWanted = false;
  private readonly inputPauseBytes: number;
  private hadInFlight = false;

  /**
   * Starts serving domain `domid` (already introduced) on `page`. Advertises the
   * reconnection and error features; does not touch the indices (the guest must not
   * assume they start at zero).
   */
  constructor(
    private readonly daemon: Xenstored,
    readonly domid: number,
    page: GuestMemory | Uint8Array,
    private readonly notify: () => void,
    private readonly opts: RingOptions = {},
  ) {
    if (page.length < XDI.SIZE) throw new RangeError(`xenstore ring page of ${page.length} bytes is smaller than ${XDI.SIZE}`);
    if (!daemon.isIntroduced(domid)) throw new Error(`domain ${domid} is not introduced to xenstored`);
    this.page = page instanceof Uint8Array ? new ByteMemory(page) : page;
    this.inputPauseBytes = opts.inputPauseBytes ?? 2 * (XSD_SOCKMSG.SIZE + XENSTORE_PAYLOAD_MAX);
    this.setU32(XDI.server_features, this.u32(XDI.server_features) | XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR);
    this.connection = this.newConnection();
    // A restarted daemon carries on where its predecessor stopped mid-message, in either direction.
    const saved = daemon.takeRestoredRing(domid);
    if (saved) {
      if (saved.input.length) this.decoder.push(saved.input);
      if (saved.output.length) {
        this.partial = saved.output;
        this.partialOff = 0;
      }
    }
  }

  /** Bytes in flight here: the message half read from req[], and replies not yet all in rsp[]. */
  pending(): { input: Uint8Array; output: Uint8Array } {
    const parts = [this.partial ? this.partial.subarray(this.partialOff) : new Uint8Array(0), ...this.connection.peekOutput()];
    const output = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) {
      output.set(p, off);
      off += p.length;
    }
    return { input: this.decoder.pendingBytes(), output };
  }

  /** The daemon-side connection currently serving the ring. */
  get conn(): Connection {
    return this.connection;
  }

  /** XENSTORE_ERROR_* if service stopped, else 0. */
  get error(): number {
    return this.failure;
  }

  /** The guest notified its event channel: reconnect if asked, consume requests, write replies. */
  kick(): void {
    if (this.detached) return;
    if (this.u32(XDI.connection) === XENSTORE_RECONNECT) {
      this.reconnect();
      return;
    }
    if (this.failure !== XENSTORE_ERROR_NONE) return;
    this.pump(true);
  }

  /** Stops serving the page (the lead unmapped it). The connection is closed. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.connection.close('ring detached');
  }

  // ---- ConnectionTransport ----

  outputReady(conn: Connection): void {
    if (conn !== this.connection || this.detached || this.failure !== XENSTORE_ERROR_NONE) return;
    if (this.busy) {
      this.outputPending = true;
      return;
    }
    this.pump(false);
  }

  closed(conn: Connection, reason: string): void {
    if (conn !== this.connection || this.detached || this.failure !== XENSTORE_ERROR_NONE) return;
    const dom = this.daemon.domain(this.domid);
    if (!dom || (dom.conn !== undefined && dom.conn !== conn) || reason === 'xenstored stopping') {
      this.detached = true; // released, replaced, or the daemon is going away
      return;
    }
    this.fail(XENSTORE_ERROR_COMM, reason);
  }

  reset(conn: Connection): void {
    if (conn !== this.connection || this.detached) return;
    this.clearStreams();
    this.failure = XENSTORE_ERROR_NONE;
    this.setU32(XDI.error, XENSTORE_ERROR_NONE);
  }

  // ---- internals ----

  private newConnection(): Connection {
    const conn = this.daemon.connect({ domid: this.domid, privileged: this.domid === 0, transport: this, label: `ring/dom${this.domid}` });
    this.daemon.bindDomainConnection(this.domid, conn);
    return conn;
  }

  private u32(off: number): number {
    return this.page.u32le(off);
  }

  private setU32(off: number, v: number): void {
    this.page.setU32le(off, v);
  }

  private pump(readInput: boolean): void {
    this.busy = true;
    this.notifyWanted = false;
    let changed = false;
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        this.outputPending = false;
        if (this.flushOutput()) changed = true;
        if (this.failure !== XENSTORE_ERROR_NONE || this.detached) break;
        if (!readInput) {
          if (!this.outputPending) break;
          continue;
        }
        if (this.pendingOutput() > this.inputPauseBytes) break;
        const consumed = this.readInput();
        if (consumed > 0) changed = true;
        if (this.failure !== XENSTORE_ERROR_NONE || this.detached) break;
        if (consumed === 0 && !this.outputPending) break;
      }
    } finally {
      this.busy = false;
    }
    // Bytes left in flight (or no longer) are part of what a restarted daemon needs.
    const inFlight = this.decoder.buffered > 0 || this.pendingOutput() > 0;
    if (inFlight || this.hadInFlight) this.daemon.onStateChange?.(this.domid);
    this.hadInFlight = inFlight;
    if ((changed || this.notifyWanted) && !this.detached) this.notify();
  }

  /** Copies queued output into rsp[]; true if any byte was written. */
  private flushOutput(): boolean {
    const cons = this.u32(XDI.rsp_cons);
    let prod = this.u32(XDI.rsp_prod);
    const used = ringDistance(prod, cons);
    if (used > XENSTORE_RING_SIZE) {
      this.fail(XENSTORE_ERROR_RINGIDX, `rsp_prod ${prod} - rsp_cons ${cons} exceeds the ring`);
      return false;
    }
    let space = XENSTORE_RING_SIZE - used;
    let wrote = 0;
    while (space > 0) {
      if (!this.partial) {
        const f = this.connection.takeOutput();
        if (!f) break;
        this.partial = f;
        this.partialOff = 0;
      }
      const at = maskXenstoreIdx(prod);
      const n = Math.min(space, this.partial.length - this.partialOff, XENSTORE_RING_SIZE - at);
      this.page.write(XDI.rsp + at, this.partial.subarray(this.partialOff, this.partialOff + n));
      this.partialOff += n;
      prod = (prod + n) >>> 0;
      space -= n;
      wrote += n;
      if (this.partialOff === this.partial.length) this.partial = null;
    }
    // Publish: the bytes above are in place before the producer index that exposes them.
    if (wrote > 0) this.setU32(XDI.rsp_prod, prod);
    return wrote > 0;
  }

  /**
   * Consumes what the guest produced in req[] and serves complete messages, one at a
   * time, stopping early once replies pile up (inputPauseBytes); returns bytes consumed.
   */
  private readInput(): number {
    const cons = this.u32(XDI.req_cons);
    const prod = this.u32(XDI.req_prod);
    const avail = ringDistance(prod, cons);
    if (avail > XENSTORE_RING_SIZE) {
      this.fail(XENSTORE_ERROR_RINGIDX, `req_prod ${prod} - req_cons ${cons} exceeds the ring`);
      return 0;
    }
    let consumed = 0;
    while (consumed < avail) {
      const n = Math.min(Math.max(1, this.decoder.wanted), avail - consumed);
      const bytes = new Uint8Array(n);
      const at = maskXenstoreIdx(cons + consumed);
      const first = Math.min(n, XENSTORE_RING_SIZE - at);
      bytes.set(this.page.read(XDI.req + at, first), 0);
      if (first < n) bytes.set(this.page.read(XDI.req, n - first), first);
      consumed += n;
      const msgs = this.decoder.push(bytes);
      const err = this.decoder.error;
      if (err) {
        this.fail(XENSTORE_ERROR_PROTO, `header announces ${err.len} payload bytes (max ${XENSTORE_PAYLOAD_MAX})`);
        return consumed;
      }
      for (const msg of msgs) this.connection.receive(msg);
      if (this.failure !== XENSTORE_ERROR_NONE || this.detached) return consumed;
      if (msgs.length > 0 && this.pendingOutput() > this.inputPauseBytes) break;
    }
    // Publish: the bytes were copied out above before the consumer index frees their slots.
    if (consumed > 0) this.setU32(XDI.req_cons, (cons + consumed) >>> 0);
    return consumed;
  }

  private pendingOutput(): number {
    return this.connection.pendingOutputBytes + (this.partial ? this.partial.length - this.partialOff : 0);
  }

  /** Stops service: error field set, connection state dropped (until a reconnection). */
  private fail(code: number, why: string): void {
    if (this.failure !== XENSTORE_ERROR_NONE) return;
    this.failure = code;
    this.opts.log?.(`xenstore ring of dom${this.domid}: ${why}; error ${code}, connection stopped`);
    this.setU32(XDI.error, code);
    this.partial = null;
    this.decoder.reset();
    this.connection.close(`ring error ${code}`);
    if (this.busy) this.notifyWanted = true;
    else this.notify();
  }

  private clearStreams(): void {
    this.decoder.reset();
    this.partial = null;
    this.partialOff = 0;
    this.setU32(XDI.req_cons, 0);
    this.setU32(XDI.req_prod, 0);
    this.setU32(XDI.rsp_cons, 0);
    this.setU32(XDI.rsp_prod, 0);
  }

  /** The guest asked to start over: empty both streams, forget its watches and transactions. */
  private reconnect(): void {
    if (this.connection.closed) {
      if (!this.daemon.isIntroduced(this.domid)) return;
      this.connection = this.newConnection();
    } else {
      this.connection.resetState();
    }
    this.clearStreams();
    this.failure = XENSTORE_ERROR_NONE;
    this.setU32(XDI.error, XENSTORE_ERROR_NONE);
    this.daemon.onStateChange?.(this.domid); // watches dropped
    // Publish: the emptied ring is in place before the guest sees "connected".
    this.setU32(XDI.connection, XENSTORE_CONNECTED);
    this.notify();
  }
}

/** Serves domain `domid`'s xenstore ring on `page`; the lead calls kick() on each guest notification. */
export function attachRing(daemon: Xenstored, domid: number, page: GuestMemory | Uint8Array, notify: () => void, opts?: RingOptions): RingTransport {
  return new RingTransport(daemon, domid, page, notify, opts);
}
