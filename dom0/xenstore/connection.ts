// One client of the daemon: a dom0 socket, a domain's ring, or an in-process tool. The
// connection holds what Xen keeps per connection (identity, watches, open transactions)
// and a bounded queue of encoded frames (replies and watch events) that its transport
// drains. A client that stops reading cannot grow the queue without limit: past
// `maxOutputBytes` the connection is closed.

import {
  encodeXsMessage,
  XENSTORE_PAYLOAD_MAX,
  XS_TYPE,
  xsWatchEventPayload,
  type XsMessage,
} from '../../protocol/xen/xs_wire.ts';
import type { Caller } from './perms.ts';
import { domainPath } from './path.ts';
import type { Transaction } from './store.ts';

/** The transport side of a connection: how its output leaves, and how it learns of the end. */
export interface ConnectionTransport {
  /** Frames were queued; take them with `conn.takeOutput()` when there is room. */
  outputReady(conn: Connection): void;
  /** The daemon ended the connection (released domain, output overflow, daemon closing). */
  closed(conn: Connection, reason: string): void;
  /** A domain was introduced again: drop partial input/output and reset the ring indices. */
  reset?(conn: Connection): void;
  /** Bytes in flight inside the transport (a message half read, replies not yet written). */
  pending?(): { input: Uint8Array; output: Uint8Array };
}

/** What the daemon needs from itself to serve a connection. */
export interface ConnectionHost {
  dispatch(conn: Connection, msg: XsMessage): void;
  detach(conn: Connection): void;
  abortTransaction(tx: Transaction): void;
  /** A watch path gained or lost its last watch on this connection (the daemon's index of watchers). */
  watchPath?(conn: Connection, path: string, watched: boolean): void;
}

export interface Watch {
  /** Absolute (or special '@') path watched. */
  readonly path: string;
  readonly token: string;
  /** Given relative to the home path: events are reported relative too. */
  readonly relative: boolean;
}

export interface ConnectionOptions {
  domid: number;
  /** dom0's tools (sockets, in-process): full access, no quotas. Defaults to domid === 0. */
  privileged?: boolean;
  transport: ConnectionTransport;
  /** Queued output bytes past which the connection is closed. */
  maxOutputBytes: number;
  /** Text for logs. */
  label?: string;
}

let nextConnectionId = 1;

export class Connection {
  /** Unique, for logs. */
  readonly id = nextConnectionId++;
  readonly domid: number;
  readonly privileged: boolean;
  /** Base of relative paths: /local/domain/<domid>. */
  readonly homePath: string;
  readonly label: string;
  /** Domain this connection may act for (SET_TARGET). */
  target: number | undefined;
  /** Watches in the order they were set (change them with addWatch / removeWatch). */
  private readonly watchList: Watch[] = [];
  /**
   * The same watches by path, with the order they were set in: a change looks up the paths
   * that cover it (itself and its ancestors), so its cost does not grow with the number of
   * watches (tens of thousands made every write of every client cost milliseconds).
   */
  private readonly watchIndex = new Map<string, { watch: Watch; seq: number }[]>();
  private watchSeq = 0;
  readonly transactions = new Map<number, Transaction>();
  private nextTxId = 1;
  private readonly out: Uint8Array[] = [];
  private outBytes = 0;
  private isClosed = false;
  private readonly maxOutputBytes: number;

  constructor(
    private readonly host: ConnectionHost,
    opts: ConnectionOptions,
    readonly transport: ConnectionTransport,
  ) {
    this.domid = opts.domid;
    this.privileged = opts.privileged ?? opts.domid === 0;
    this.homePath = domainPath(opts.domid);
    this.maxOutputBytes = opts.maxOutputBytes;
    this.label = opts.label ?? `conn${this.id}/dom${opts.domid}`;
  }

  get caller(): Caller {
    return { domid: this.domid, privileged: this.privileged, target: this.target };
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Bytes queued and not yet taken by the transport. */
  get pendingOutputBytes(): number {
    return this.outBytes;
  }

  /** Watches in the order they were set. */
  get watches(): readonly Watch[] {
    return this.watchList;
  }

  /** The watch on `path` with `token`, if set. */
  findWatch(path: string, token: string): Watch | undefined {
    return this.watchIndex.get(path)?.find((e) => e.watch.token === token)?.watch;
  }

  addWatch(w: Watch): void {
    this.watchList.push(w);
    let at = this.watchIndex.get(w.path);
    if (!at) {
      this.watchIndex.set(w.path, (at = []));
      this.host.watchPath?.(this, w.path, true);
    }
    at.push({ watch: w, seq: this.watchSeq++ });
  }

  /** Removes the watch on `path` with `token`; false if there is none. */
  removeWatch(path: string, token: string): boolean {
    const w = this.findWatch(path, token);
    if (!w) return false;
    this.watchList.splice(this.watchList.indexOf(w), 1);
    const at = this.watchIndex.get(path)!.filter((e) => e.watch !== w);
    if (at.length) this.watchIndex.set(path, at);
    else {
      this.watchIndex.delete(path);
      this.host.watchPath?.(this, path, false);
    }
    return true;
  }

  /** The watches set on exactly one of `paths`, in the order they were set. */
  watchesOn(paths: readonly string[]): Watch[] {
    const hits: { watch: Watch; seq: number }[] = [];
    for (const p of paths) {
      const at = this.watchIndex.get(p);
      if (at) hits.push(...at);
    }
    if (hits.length > 1) hits.sort((a, b) => a.seq - b.seq);
    return hits.map((e) => e.watch);
  }

  /** Hands one complete request to the daemon. Ignored once closed. */
  receive(msg: XsMessage): void {
    if (this.isClosed) return;
    this.host.dispatch(this, msg);
  }

  /** The next queued frame, removed from the queue. */
  takeOutput(): Uint8Array | undefined {
    const f = this.out.shift();
    if (f) this.outBytes -= f.length;
    return f;
  }

  /** The queued frames, oldest first, left in place (a daemon saving its state). */
  peekOutput(): readonly Uint8Array[] {
    return this.out;
  }

  /** Puts a frame back at the head of the queue (the transport took more than it could send). */
  unshiftOutput(frame: Uint8Array): void {
    this.out.unshift(frame);
    this.outBytes += frame.length;
  }

  /** @internal Queues a reply. */
  send(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    if (this.isClosed) return;
    this.queue(encodeXsMessage({ type, reqId, txId, payload }));
  }

  /** @internal Queues a watch event; one too long for a message is dropped, as Xen does. */
  sendEvent(path: string, token: string): void {
    if (this.isClosed) return;
    const payload = xsWatchEventPayload(path, token);
    if (payload.length > XENSTORE_PAYLOAD_MAX) return;
    this.queue(encodeXsMessage({ type: XS_TYPE.WATCH_EVENT, reqId: 0, txId: 0, payload }));
  }

  private queue(frame: Uint8Array): void {
    this.out.push(frame);
    this.outBytes += frame.length;
    if (this.outBytes > this.maxOutputBytes) {
      this.close(`output queue over ${this.maxOutputBytes} bytes: the client is not reading`);
      return;
    }
    this.transport.outputReady(this);
  }

  /** @internal A new transaction id, unused on this connection and never 0. */
  allocTransactionId(): number {
    for (;;) {
      const id = this.nextTxId;
      this.nextTxId = (this.nextTxId + 1) >>> 0 || 1;
      if (!this.transactions.has(id)) return id;
    }
  }

  /** Drops watches and open transactions (RESET_WATCHES). */
  resetWatchesAndTransactions(): void {
    this.watchList.length = 0;
    for (const path of this.watchIndex.keys()) this.host.watchPath?.(this, path, false);
    this.watchIndex.clear();
    for (const tx of this.transactions.values()) this.host.abortTransaction(tx);
    this.transactions.clear();
  }

  /** Drops watches, open transactions and queued output (ring reset or reconnection). */
  resetState(): void {
    this.resetWatchesAndTransactions();
    this.out.length = 0;
    this.outBytes = 0;
  }

  /** Ends the connection: its state goes, the daemon forgets it, the transport is told. */
  close(reason: string): void {
    if (this.isClosed) return;
    this.resetState();
    this.isClosed = true;
    this.host.detach(this);
    this.transport.closed(this, reason);
  }
}
