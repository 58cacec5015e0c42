// The synchronous XenStore interface of dom0's own components (the toolstack's layout and
// device writes, the xenbus backends), as libxenstore's xs_handle is for libxl and Linux's
// xenbus for its backends. Every operation is a request on a Connection of the daemon,
// served by the daemon's normal dispatch (path checks, the caller's permissions,
// transactions, the reply size limit), not a reach into the store. Requests are served at
// once, in the caller's stack, and the watch events a change causes are queued exactly as
// the same change made by any other client would queue them.
//
// Failures are results, never throws: a caller that writes a device's keys learns that one
// failed and fails the device (or logs), and a throw can never unwind a backend's pass.
//
//   const xs = openXsHandle(daemon, { label: 'libxl' });
//   const r = xs.read('/local/domain/1/name');           // { ok: true, value: 'guest1' }
//   xs.transaction((tx) => { tx.write(a, '1'); tx.write(b, '2'); });   // both or neither

import {
  bytesToLatin1,
  isXsErrorName,
  XENSTORE_PAYLOAD_MAX,
  XS_TYPE,
  XsFrameDecoder,
  xsJoinStrings,
  xsStrings,
  type XsErrorName,
  type XsMessage,
} from '../../protocol/xen/xs_wire.ts';
import type { Connection } from './connection.ts';
import type { Xenstored } from './xenstored.ts';

/** What one XenStore operation gave: its value, or Xen's error name. */
export type XsResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: XsErrorName };

/** The operations, on the store or inside a transaction. */
export interface XsOps {
  /** The node's value (UTF-8). */
  read(path: string): XsResult<string>;
  /** Sets the value, creating the node and missing parents. */
  write(path: string, value: string): XsResult<void>;
  mkdir(path: string): XsResult<void>;
  /** Removes the node and everything below it (a missing node under an existing parent is not an error). */
  rm(path: string): XsResult<void>;
  /** The node's children's names. */
  directory(path: string): XsResult<string[]>;
  /** Permission entries such as ["n0", "r1"]. */
  setPerms(path: string, perms: readonly string[]): XsResult<void>;
}

export interface XsHandle extends XsOps {
  /**
   * Runs `body` in a transaction and commits it: watchers see all of its changes or none.
   * The first operation that fails makes the later ones fail the same way without being
   * sent, and the transaction is aborted; so is it if `body` returns a failure. A commit
   * that conflicts (EAGAIN) runs `body` again, up to `attempts` times.
   */
  transaction(body: (tx: XsOps) => XsResult<void> | void, attempts?: number): XsResult<void>;
  /** Requests this handle has sent (what its connection served). */
  readonly requests: number;
  /** Ends the connection; later operations fail with EIO. */
  close(): void;
}

export const XS_OK: XsResult<void> = Object.freeze({ ok: true, value: undefined });

export function xsFail(error: XsErrorName): XsResult<never> {
  return { ok: false, error };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export interface XsHandleOptions {
  /** Defaults to 0 (dom0). */
  domid?: number;
  /** Defaults to domid === 0: dom0's components are privileged, as xenstored treats dom0. */
  privileged?: boolean;
  /** For the daemon's logs. */
  label?: string;
}

/** A new connection to `daemon` and the synchronous interface over it. */
export function openXsHandle(daemon: Xenstored, opts: XsHandleOptions = {}): XsHandle {
  return new SyncXsHandle(daemon, opts);
}

class SyncXsHandle implements XsHandle {
  private readonly conn: Connection;
  private readonly decoder = new XsFrameDecoder();
  /** Replies by request id, taken by the request that waits for each (a nested request's come first). */
  private readonly replies = new Map<number, XsMessage>();
  private nextReqId = 1;
  private sent = 0;
  private closedReason: string | null = null;

  constructor(daemon: Xenstored, opts: XsHandleOptions) {
    const domid = opts.domid ?? 0;
    this.conn = daemon.connect({
      domid,
      privileged: opts.privileged ?? domid === 0,
      label: opts.label ?? `handle/dom${domid}`,
      transport: {
        outputReady: (conn) => this.drain(conn),
        closed: (_conn, reason) => {
          this.closedReason = reason;
        },
      },
    });
  }

  get requests(): number {
    return this.sent;
  }

  close(): void {
    this.conn.close('handle closed');
  }

  read(path: string): XsResult<string> {
    return this.readIn(path, 0);
  }

  write(path: string, value: string): XsResult<void> {
    return this.writeIn(path, value, 0);
  }

  mkdir(path: string): XsResult<void> {
    return done(this.request(XS_TYPE.MKDIR, xsJoinStrings([path]), 0));
  }

  rm(path: string): XsResult<void> {
    return done(this.request(XS_TYPE.RM, xsJoinStrings([path]), 0));
  }

  directory(path: string): XsResult<string[]> {
    return this.directoryIn(path, 0);
  }

  setPerms(path: string, perms: readonly string[]): XsResult<void> {
    return done(this.request(XS_TYPE.SET_PERMS, xsJoinStrings([path, ...perms]), 0));
  }

  transaction(body: (tx: XsOps) => XsResult<void> | void, attempts = 10): XsResult<void> {
    for (let i = 1; ; i++) {
      const start = this.request(XS_TYPE.TRANSACTION_START, xsJoinStrings(['']), 0);
      if (!start.ok) return start;
      const id = Number(xsStrings(start.value)[0]);
      let failed: XsResult<never> | null = null;
      // Once one operation failed, the rest are not sent: the transaction is aborted anyway.
      const guard = <T>(op: () => XsResult<T>): XsResult<T> => {
        if (failed) return failed;
        const r = op();
        if (!r.ok) failed = r;
        return r;
      };
      const tx: XsOps = {
        read: (p) => guard(() => this.readIn(p, id)),
        write: (p, v) => guard(() => this.writeIn(p, v, id)),
        mkdir: (p) => guard(() => done(this.request(XS_TYPE.MKDIR, xsJoinStrings([p]), id))),
        rm: (p) => guard(() => done(this.request(XS_TYPE.RM, xsJoinStrings([p]), id))),
        directory: (p) => guard(() => this.directoryIn(p, id)),
        setPerms: (p, perms) => guard(() => done(this.request(XS_TYPE.SET_PERMS, xsJoinStrings([p, ...perms]), id))),
      };
      let verdict: XsResult<void> | void;
      try {
        verdict = body(tx);
      } catch (e) {
        this.request(XS_TYPE.TRANSACTION_END, xsJoinStrings(['F']), id);
        throw e; // a bug in the body, not a XenStore failure: not ours to hide
      }
      const failure = failed ?? (verdict && !verdict.ok ? verdict : null);
      if (failure) {
        this.request(XS_TYPE.TRANSACTION_END, xsJoinStrings(['F']), id);
        return failure;
      }
      const end = done(this.request(XS_TYPE.TRANSACTION_END, xsJoinStrings(['T']), id));
      if (end.ok || end.error !== 'EAGAIN' || i >= attempts) return end;
    }
  }

  private readIn(path: string, tx: number): XsResult<string> {
    const r = this.request(XS_TYPE.READ, xsJoinStrings([path]), tx);
    return r.ok ? { ok: true, value: fromUtf8.decode(r.value) } : r;
  }

  private writeIn(path: string, value: string, tx: number): XsResult<void> {
    const p = xsJoinStrings([path]);
    const v = utf8.encode(value);
    const payload = new Uint8Array(p.length + v.length);
    payload.set(p);
    payload.set(v, p.length);
    return done(this.request(XS_TYPE.WRITE, payload, tx));
  }

  private directoryIn(path: string, tx: number): XsResult<string[]> {
    const r = this.request(XS_TYPE.DIRECTORY, xsJoinStrings([path]), tx);
    return r.ok ? { ok: true, value: xsStrings(r.value) } : r;
  }

  /** One request, served now; its reply payload or error. */
  private request(type: number, payload: Uint8Array, txId: number): XsResult<Uint8Array> {
    if (this.closedReason !== null) return xsFail('EIO');
    // What fits in one message, as libxenstore refuses a longer request before sending it.
    if (payload.length > XENSTORE_PAYLOAD_MAX) return xsFail('E2BIG');
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
    this.sent++;
    this.conn.receive({ type, reqId, txId, payload });
    const reply = this.replies.get(reqId);
    if (!reply) return xsFail('EIO'); // the connection closed while serving it
    this.replies.delete(reqId);
    if (reply.type !== XS_TYPE.ERROR) return { ok: true, value: reply.payload };
    const name = bytesToLatin1(reply.payload).replace(/\0.*$/s, '');
    return xsFail(isXsErrorName(name) ? name : 'EIO');
  }

  private drain(conn: Connection): void {
    for (let f = conn.takeOutput(); f; f = conn.takeOutput()) {
      for (const msg of this.decoder.push(f)) {
        // No watches are set on this connection: only replies are kept.
        if (msg.type !== XS_TYPE.WATCH_EVENT) this.replies.set(msg.reqId, msg);
      }
    }
  }
}

function done(r: XsResult<Uint8Array>): XsResult<void> {
  return r.ok ? XS_OK : r;
}
