// The in-process API for pvsim's own tools (the toolstack, `pvsim xl`, later the browser
// over WebSockets): a client that speaks the real wire protocol to the daemon through a
// Connection, without a socket. Requests are served synchronously; the promises settle on
// the next microtask. Failures reject with XsError carrying Xen's error name.
//
//   const xs = new XsClient(daemon);
//   await xs.write('/local/domain/1/name', 'guest1');
//   await xs.watch('/local/domain/1', 'tok', (path, token) => ...);
//   await xs.transaction(async (tx) => { ...; await xs.write(p, v, tx); });

import {
  bytesToLatin1,
  XS_TYPE,
  XsFrameDecoder,
  xsJoinStrings,
  xsStrings,
  isXsErrorName,
  type XsMessage,
} from '../../protocol/xen/xs_wire.ts';
import type { Connection, ConnectionTransport } from './connection.ts';
import { XsError } from './store.ts';
import type { Xenstored } from './xenstored.ts';

export type WatchCallback = (path: string, token: string) => void;

interface Pending {
  type: number;
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
}

interface ClientWatch {
  path: string;
  token: string;
  cb: WatchCallback;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function toBytes(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? utf8.encode(v) : v;
}

export interface XsClientOptions {
  /** Defaults to 0 (dom0's tools). */
  domid?: number;
  /** Defaults to domid === 0. */
  privileged?: boolean;
  label?: string;
}

export class XsClient {
  private readonly conn: Connection;
  private readonly decoder = new XsFrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly watches: ClientWatch[] = [];
  private nextReqId = 1;
  private closedReason: string | null = null;

  constructor(daemon: Xenstored, opts: XsClientOptions = {}) {
    const transport: ConnectionTransport = {
      outputReady: (conn) => this.drain(conn),
      closed: (_conn, reason) => this.onClosed(reason),
    };
    const domid = opts.domid ?? 0;
    this.conn = daemon.connect({ domid, privileged: opts.privileged ?? domid === 0, transport, label: opts.label ?? `client/dom${domid}` });
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Sends one raw request; resolves with the reply payload, rejects with XsError on XS_ERROR. */
  request(type: number, payload: Uint8Array, tx = 0): Promise<Uint8Array> {
    if (this.closedReason !== null) return Promise.reject(new XsError('EIO', `xenstore client closed: ${this.closedReason}`));
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
    const p = new Promise<Uint8Array>((resolve, reject) => this.pending.set(reqId, { type, resolve, reject }));
    this.conn.receive({ type, reqId, txId: tx, payload });
    return p;
  }

  private async requestStrings(type: number, args: string[], tx = 0): Promise<string[]> {
    return xsStrings(await this.request(type, xsJoinStrings(args), tx));
  }

  async read(path: string, tx = 0): Promise<string> {
    return fromUtf8.decode(await this.readBytes(path, tx));
  }

  readBytes(path: string, tx = 0): Promise<Uint8Array> {
    return this.request(XS_TYPE.READ, xsJoinStrings([path]), tx);
  }

  /** Whether `path` exists and is readable (the test xenstore-exists makes). */
  async exists(path: string, tx = 0): Promise<boolean> {
    try {
      await this.readBytes(path, tx);
      return true;
    } catch (e) {
      if (e instanceof XsError && (e.code === 'ENOENT' || e.code === 'EACCES')) return false;
      throw e;
    }
  }

  async write(path: string, value: string | Uint8Array, tx = 0): Promise<void> {
    const p = xsJoinStrings([path]);
    const v = toBytes(value);
    const payload = new Uint8Array(p.length + v.length);
    payload.set(p);
    payload.set(v, p.length);
    await this.request(XS_TYPE.WRITE, payload, tx);
  }

  async mkdir(path: string, tx = 0): Promise<void> {
    await this.request(XS_TYPE.MKDIR, xsJoinStrings([path]), tx);
  }

  async rm(path: string, tx = 0): Promise<void> {
    await this.request(XS_TYPE.RM, xsJoinStrings([path]), tx);
  }

  directory(path: string, tx = 0): Promise<string[]> {
    return this.requestStrings(XS_TYPE.DIRECTORY, [path], tx);
  }

  /** Permission entries such as ["n0", "r1"]. */
  getPerms(path: string, tx = 0): Promise<string[]> {
    return this.requestStrings(XS_TYPE.GET_PERMS, [path], tx);
  }

  async setPerms(path: string, perms: string[], tx = 0): Promise<void> {
    await this.request(XS_TYPE.SET_PERMS, xsJoinStrings([path, ...perms]), tx);
  }

  /** Sets a watch; `cb` runs for the initial event and every later one (asynchronously). */
  async watch(path: string, token: string, cb: WatchCallback): Promise<void> {
    const w: ClientWatch = { path, token, cb };
    this.watches.push(w);
    try {
      await this.request(XS_TYPE.WATCH, xsJoinStrings([path, token]));
    } catch (e) {
      this.watches.splice(this.watches.indexOf(w), 1);
      throw e;
    }
  }

  async unwatch(path: string, token: string): Promise<void> {
    await this.request(XS_TYPE.UNWATCH, xsJoinStrings([path, token]));
    const i = this.watches.findIndex((w) => w.path === path && w.token === token);
    if (i >= 0) this.watches.splice(i, 1);
  }

  async resetWatches(): Promise<void> {
    await this.request(XS_TYPE.RESET_WATCHES, xsJoinStrings(['']));
    this.watches.length = 0;
  }

  /** Starts a transaction; pass the id as `tx` to other calls. */
  async transactionStart(): Promise<number> {
    const [id] = await this.requestStrings(XS_TYPE.TRANSACTION_START, ['']);
    return Number(id);
  }

  /** Commits (rejects with EAGAIN on a conflict) or aborts. */
  async transactionEnd(tx: number, commit: boolean): Promise<void> {
    await this.request(XS_TYPE.TRANSACTION_END, xsJoinStrings([commit ? 'T' : 'F']), tx);
  }

  /** Runs `fn` in a transaction and commits, retrying on EAGAIN up to `attempts` times. */
  async transaction<T>(fn: (tx: number) => Promise<T>, attempts = 10): Promise<T> {
    for (let i = 1; ; i++) {
      const tx = await this.transactionStart();
      let result: T;
      try {
        result = await fn(tx);
      } catch (e) {
        await this.transactionEnd(tx, false).catch(() => undefined);
        throw e;
      }
      try {
        await this.transactionEnd(tx, true);
        return result;
      } catch (e) {
        if (!(e instanceof XsError && e.code === 'EAGAIN') || i >= attempts) throw e;
      }
    }
  }

  async getDomainPath(domid: number): Promise<string> {
    return (await this.requestStrings(XS_TYPE.GET_DOMAIN_PATH, [String(domid)]))[0] ?? '';
  }

  async introduce(domid: number, mfn: number, port: number): Promise<void> {
    await this.request(XS_TYPE.INTRODUCE, xsJoinStrings([String(domid), String(mfn), String(port)]));
  }

  async release(domid: number): Promise<void> {
    await this.request(XS_TYPE.RELEASE, xsJoinStrings([String(domid)]));
  }

  async resume(domid: number): Promise<void> {
    await this.request(XS_TYPE.RESUME, xsJoinStrings([String(domid)]));
  }

  async isDomainIntroduced(domid: number): Promise<boolean> {
    return (await this.requestStrings(XS_TYPE.IS_DOMAIN_INTRODUCED, [String(domid)]))[0] === 'T';
  }

  async setTarget(domid: number, target: number): Promise<void> {
    await this.request(XS_TYPE.SET_TARGET, xsJoinStrings([String(domid), String(target)]));
  }

  /** Closes the connection; its watches and transactions go with it. */
  close(): void {
    this.conn.close('client closed');
  }

  private drain(conn: Connection): void {
    for (let f = conn.takeOutput(); f; f = conn.takeOutput()) {
      for (const msg of this.decoder.push(f)) this.deliver(msg);
    }
  }

  private deliver(msg: XsMessage): void {
    if (msg.type === XS_TYPE.WATCH_EVENT) {
      const [path, token] = xsStrings(msg.payload);
      if (path === undefined || token === undefined) return;
      for (const w of this.watches) {
        if (w.token !== token) continue;
        const covered = path === w.path || (w.path === '/' ? path.startsWith('/') : path.startsWith(`${w.path}/`));
        if (covered) queueMicrotask(() => w.cb(path, token));
      }
      return;
    }
    const p = this.pending.get(msg.reqId);
    if (!p) return;
    this.pending.delete(msg.reqId);
    if (msg.type === XS_TYPE.ERROR) {
      const name = bytesToLatin1(msg.payload).replace(/\0.*$/s, '');
      p.reject(new XsError(isXsErrorName(name) ? name : 'EIO', name));
    } else {
      p.resolve(msg.payload);
    }
  }

  private onClosed(reason: string): void {
    this.closedReason = reason;
    for (const p of this.pending.values()) p.reject(new XsError('EIO', `xenstore connection closed: ${reason}`));
    this.pending.clear();
    this.watches.length = 0;
  }
}
