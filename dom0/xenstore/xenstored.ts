// The XenStore daemon's core: connections, the dispatch of each request type
// (docs/misc/xenstore.txt) to the store, watches, and the table of introduced domains.
// Transports (socket.ts, ring.ts, client.ts) turn bytes into XsMessages and hand them to
// Connection.receive; this file never sees a socket or a page.
//
// Order of output, as cxenstored: a request that changes the store queues the watch events
// it causes (to every connection, the requester included) before its own reply; WATCH
// queues its reply before the watch's initial event.

import {
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  XS_TYPE,
  xsJoinStrings,
  xsStrings,
  bytesToLatin1,
  latin1ToBytes,
  type XsMessage,
} from '../../protocol/xen/xs_wire.ts';
import { Connection, type ConnectionHost, type ConnectionTransport, type Watch } from './connection.ts';
import {
  atoi,
  canonicalize,
  domainPath,
  INTRODUCE_DOMAIN,
  isChildOrSelf,
  isSpecialPath,
  isValidNodePath,
  RELEASE_DOMAIN,
} from './path.ts';
import { accessFor, DOM0_ONLY, formatPerms, parsePerms, type XsPerm } from './perms.ts';
import { DOMID } from '../../protocol/xen/xen.ts';
import { Store, XsError, type Quotas, type Transaction, type WatchFire } from './store.ts';

export interface XenstoredOptions {
  quotas?: Partial<Quotas>;
  /** Queued output bytes after which a connection that does not read is closed. Default 1 MiB. */
  maxOutputBytes?: number;
  /**
   * XS_INTRODUCE accepted a domain (first time or again): map its ring page (`mfn`), bind
   * `port` and call attachRing. Throw XsError to refuse (the error goes to the requester).
   */
  onIntroduce?(domid: number, mfn: number, port: number): void;
  /** A domain was released (XS_RELEASE or releaseDomain): unmap its page, unbind its port. */
  onRelease?(domid: number): void;
  /** Diagnostics (bad clients, internal errors). Default: none. */
  log?(message: string): void;
}

export interface SavedDomain {
  domid: number;
  mfn: number;
  port: number;
  target: number | undefined;
  watches: Watch[];
  /** Ring bytes in flight (base64): a request half read from req[], replies not yet in rsp[]. */
  ringInput?: string;
  ringOutput?: string;
}

export interface DomainRecord {
  readonly domid: number;
  mfn: number;
  port: number;
  /** The domain's ring connection, once a transport is attached. */
  conn: Connection | undefined;
  /** SET_TARGET: the domain this one acts for. */
  target: number | undefined;
  /** Shutdown already reported with @releaseDomain (cleared by RESUME). */
  shutdown: boolean;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1 << 20;

type Handler = (conn: Connection, msg: XsMessage, tx: Transaction | undefined) => void;

interface HandlerSpec {
  fn: Handler;
  /** Only privileged connections (dom0) may send it: EACCES otherwise. */
  priv?: boolean;
  /** The header's tx_id is ignored. */
  noTx?: boolean;
}

const OK = latin1ToBytes('OK\0');
const CONTROL_COMMANDS = ['check', 'help', 'print|<string>'];

export class Xenstored {
  readonly store: Store;
  private readonly conns = new Set<Connection>();
  /** Watch path -> connections watching it (kept by Connection through watchPath). */
  private readonly watchers = new Map<string, Set<Connection>>();
  /** Each connection's place in connection order. */
  private readonly connOrder = new WeakMap<Connection, number>();
  private nextConnOrder = 0;
  private readonly domains = new Map<number, DomainRecord>();
  private readonly specialPerms = new Map<string, readonly XsPerm[]>([
    [INTRODUCE_DOMAIN, DOM0_ONLY],
    [RELEASE_DOMAIN, DOM0_ONLY],
  ]);
  private readonly maxOutputBytes: number;
  private readonly handlers: (HandlerSpec | undefined)[] = [];
  private readonly host: ConnectionHost;
  private readonly restoredRings = new Map<number, { input: Uint8Array; output: Uint8Array }>();
  /** Domains taken over from a previous daemon (restoreDomains). */
  private readonly restoredDomainIds = new Set<number>();
  /** Watches of domains' ring connections saved by a previous daemon, until the rings are served again. */
  private readonly restoredWatches = new Map<number, Watch[]>();
  /** Told when what saveDomain(domid) returns may have changed (persistence journals it). */
  onStateChange: ((domid: number) => void) | null = null;
  /** Called before a reply becomes visible to a socket client: persistence saves first. */
  beforeReplyVisible: (() => void) | null = null;

  constructor(private readonly opts: XenstoredOptions = {}) {
    this.store = new Store(opts.quotas);
    this.maxOutputBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.host = {
      dispatch: (conn, msg) => this.dispatch(conn, msg),
      detach: (conn) => this.detach(conn),
      abortTransaction: (tx) => this.store.abort(tx),
      watchPath: (conn, path, watched) => {
        let at = this.watchers.get(path);
        if (watched) {
          if (!at) this.watchers.set(path, (at = new Set()));
          at.add(conn);
        } else if (at) {
          at.delete(conn);
          if (at.size === 0) this.watchers.delete(path);
        }
      },
    };
    this.installHandlers();
  }

  get quotas(): Readonly<Quotas> {
    return this.store.quotas;
  }

  /** Live connections, oldest first. */
  get connections(): readonly Connection[] {
    return [...this.conns];
  }

  /** A new connection for a transport. Sockets and in-process tools are dom0 and privileged. */
  connect(opts: { domid: number; privileged?: boolean; transport: ConnectionTransport; label?: string }): Connection {
    const conn = new Connection(this.host, { ...opts, maxOutputBytes: this.maxOutputBytes }, opts.transport);
    const dom = this.domains.get(conn.domid);
    if (dom && dom.target !== undefined && !conn.privileged) conn.target = dom.target;
    this.conns.add(conn);
    this.connOrder.set(conn, this.nextConnOrder++);
    return conn;
  }

  /**
   * @internal Makes `conn` the ring connection of `domid` (ring.ts). A previous ring
   * connection of the domain is closed.
   */
  bindDomainConnection(domid: number, conn: Connection): void {
    const dom = this.domains.get(domid);
    if (!dom) return;
    const old = dom.conn;
    dom.conn = conn;
    // A restarted daemon gives the ring back the watches it had (restore()).
    const saved = this.restoredWatches.get(domid);
    if (saved && !old) {
      this.restoredWatches.delete(domid);
      for (const w of saved) {
        if (conn.findWatch(w.path, w.token)) continue;
        conn.addWatch(w);
        // Changes made while the ring was not served were not reported: each watch fires
        // once (a spurious event is always allowed; a lost one is not).
        conn.sendEvent(eventPath(conn, w, w.path), w.token);
      }
    }
    if (dom.target !== undefined) conn.target = dom.target;
    if (old && old !== conn) old.close('replaced by a new ring');
  }

  /** Closes every connection (the daemon is stopping). */
  closeAll(reason = 'xenstored stopping'): void {
    for (const c of [...this.conns]) c.close(reason);
  }

  // ---- domains ----

  isIntroduced(domid: number): boolean {
    return this.domains.has(domid);
  }

  domain(domid: number): DomainRecord | undefined {
    return this.domains.get(domid);
  }

  /**
   * XS_INTRODUCE: starts serving `domid`. The first time, records the domain, calls
   * onIntroduce (which may attach the ring straight away) and fires @introduceDomain. For a
   * domain already introduced, resets its connection (watches, transactions, ring indices)
   * as Xen does and calls onIntroduce again with the new page and port.
   */
  introduceDomain(domid: number, mfn: number, port: number): void {
    if (!Number.isInteger(domid) || domid <= 0 || domid >= DOMID.FIRST_RESERVED) throw new XsError('EINVAL', `bad domid ${domid}`);
    if (!Number.isInteger(port) || port <= 0) throw new XsError('EINVAL', `bad port ${port}`);
    this.onStateChange?.(domid);
    const existing = this.domains.get(domid);
    if (existing) {
      existing.mfn = mfn;
      existing.port = port;
      if (existing.conn) {
        existing.conn.resetState();
        existing.conn.transport.reset?.(existing.conn);
      }
      this.callOnIntroduce(domid, mfn, port);
      return;
    }
    const rec: DomainRecord = { domid, mfn, port, conn: undefined, target: undefined, shutdown: false };
    this.domains.set(domid, rec);
    try {
      this.callOnIntroduce(domid, mfn, port);
    } catch (e) {
      this.domains.delete(domid);
      rec.conn?.close('introduction failed');
      throw e;
    }
    this.fireSpecial(INTRODUCE_DOMAIN);
  }

  private callOnIntroduce(domid: number, mfn: number, port: number): void {
    if (!this.opts.onIntroduce) return;
    try {
      this.opts.onIntroduce(domid, mfn, port);
    } catch (e) {
      if (e instanceof XsError) throw e;
      this.log(`onIntroduce(${domid}) failed: ${String(e)}`);
      throw new XsError('EIO');
    }
  }

  /** What a restarted daemon needs: introduced domains and their rings' watches (the store is saved apart). */
  saveDomains(): SavedDomain[] {
    return [...this.domains.values()].map((d) => this.savedDomain(d));
  }

  /** What saveDomains() holds for `domid`; undefined if it is not introduced. */
  saveDomain(domid: number): SavedDomain | undefined {
    const d = this.domains.get(domid);
    return d && this.savedDomain(d);
  }

  private savedDomain(d: DomainRecord): SavedDomain {
    return {
      domid: d.domid,
      mfn: d.mfn,
      port: d.port,
      target: d.target,
      watches: (d.conn?.watches ?? this.restoredWatches.get(d.domid) ?? []).map((w) => ({ ...w })),
      ...this.ringBytes(d),
    };
  }

  private ringBytes(d: DomainRecord): { ringInput?: string; ringOutput?: string } {
    const p = d.conn?.transport.pending?.();
    if (p) return p.input.length || p.output.length ? { ringInput: Buffer.from(p.input).toString('base64'), ringOutput: Buffer.from(p.output).toString('base64') } : {};
    const r = this.restoredRings.get(d.domid); // not served again yet: keep what was saved
    return r ? { ringInput: Buffer.from(r.input).toString('base64'), ringOutput: Buffer.from(r.output).toString('base64') } : {};
  }

  /**
   * @internal What a previous daemon left in flight on `domid`'s ring, taken once by the
   * ring transport that serves it again.
   */
  takeRestoredRing(domid: number): { input: Uint8Array; output: Uint8Array } | undefined {
    const r = this.restoredRings.get(domid);
    this.restoredRings.delete(domid);
    return r;
  }

  /**
   * Takes back what saveDomains() returned, in a daemon that has served nothing yet: each
   * domain is introduced again without firing @introduceDomain and without a ring (the
   * caller attaches it), and gets its watches back when it is.
   */
  restoreDomains(saved: readonly SavedDomain[]): void {
    for (const s of saved) {
      this.domains.set(s.domid, { domid: s.domid, mfn: s.mfn, port: s.port, conn: undefined, target: s.target, shutdown: false });
      this.restoredWatches.set(s.domid, s.watches.map((w) => ({ ...w })));
      this.restoredDomainIds.add(s.domid);
      if (s.ringInput || s.ringOutput) this.restoredRings.set(s.domid, { input: Buffer.from(s.ringInput ?? '', 'base64'), output: Buffer.from(s.ringOutput ?? '', 'base64') });
    }
  }

  /** XS_RELEASE (or the domain's destruction): stops serving it and fires @releaseDomain. */
  releaseDomain(domid: number): void {
    const dom = this.domains.get(domid);
    if (!dom) throw new XsError('ENOENT', `domain ${domid} is not introduced`);
    this.domains.delete(domid);
    this.restoredWatches.delete(domid);
    this.onStateChange?.(domid);
    dom.conn?.close('domain released');
    for (const c of this.conns) if (c.target === domid) c.target = undefined;
    this.opts.onRelease?.(domid);
    this.fireSpecial(RELEASE_DOMAIN);
  }

  /** The domain shut down or crashed: fires @releaseDomain once (until RESUME). */
  domainShutdown(domid: number): void {
    const dom = this.domains.get(domid);
    if (!dom || dom.shutdown) return;
    dom.shutdown = true;
    this.fireSpecial(RELEASE_DOMAIN);
  }

  // ---- watches ----

  /** Queues the events of `fires` to every watcher allowed to see them. */
  fire(fires: readonly WatchFire[]): void {
    for (const f of fires) {
      // The watch paths that see this change: itself, and for a non-exact change every
      // path it is below (watchCovers).
      const covering = f.exact ? [f.path] : coveringPaths(f.path);
      for (const c of this.watchersOf(covering)) {
        if (c.watches.length === 0 || c.closed) continue;
        if (!c.privileged && !f.readers.some((p) => accessFor(c.caller, p).read)) continue;
        // Collected first: a queued event may close the connection (overflow) and clear its watches.
        for (const w of c.watchesOn(covering)) c.sendEvent(eventPath(c, w, f.path), w.token);
      }
    }
  }

  /**
   * Connections with a watch on one of `paths`, in the order they connected (the order a
   * walk over every connection gave): with 10,000 guests connected, a write no longer
   * costs a look at each of them.
   */
  private watchersOf(paths: readonly string[]): Connection[] {
    let out: Connection[] | null = null;
    for (const p of paths) {
      const at = this.watchers.get(p);
      if (!at) continue;
      out ??= [];
      for (const c of at) out.push(c);
    }
    if (out === null) return [];
    if (out.length > 1) {
      out.sort((a, b) => this.connOrder.get(a)! - this.connOrder.get(b)!);
      out = out.filter((c, i) => i === 0 || c !== out![i - 1]);
    }
    return out;
  }

  private fireSpecial(path: string): void {
    this.fire([{ path, exact: false, readers: [this.specialPerms.get(path) ?? DOM0_ONLY] }]);
  }

  // ---- dispatch ----

  private detach(conn: Connection): void {
    this.conns.delete(conn);
    for (const d of this.domains.values()) {
      if (d.conn !== conn) continue;
      d.conn = undefined;
      this.onStateChange?.(d.domid); // its watches went with it
    }
  }

  private log(message: string): void {
    this.opts.log?.(message);
  }

  /** Serves one request of `conn`. Never throws: failures become XS_ERROR replies. */
  dispatch(conn: Connection, msg: XsMessage): void {
    // A domain's ring watches are part of what a restarted daemon takes back.
    if ((msg.type === XS_TYPE.WATCH || msg.type === XS_TYPE.UNWATCH || msg.type === XS_TYPE.RESET_WATCHES) && this.domains.get(conn.domid)?.conn === conn) this.onStateChange?.(conn.domid);
    const spec = this.handlers[msg.type];
    try {
      if (!spec) throw new XsError('ENOSYS', `unknown message type ${msg.type}`);
      if (spec.priv && !conn.privileged) throw new XsError('EACCES');
      let tx: Transaction | undefined;
      if (!spec.noTx && msg.txId !== 0) {
        tx = conn.transactions.get(msg.txId);
        // A transaction a previous daemon had open is gone: EAGAIN makes the guest start
        // it over (as for a conflict), where ENOENT would fail its xs_transaction for good.
        if (!tx) throw new XsError(this.restoredDomainIds.has(conn.domid) && !conn.privileged ? 'EAGAIN' : 'ENOENT', `no transaction ${msg.txId}`);
      }
      spec.fn(conn, msg, tx);
    } catch (e) {
      let code = 'EIO';
      if (e instanceof XsError) code = e.code;
      else this.log(`internal error serving ${conn.label} type ${msg.type}: ${e instanceof Error ? e.stack : String(e)}`);
      conn.send(XS_TYPE.ERROR, msg.reqId, msg.txId, latin1ToBytes(`${code}\0`));
    }
  }

  private reply(conn: Connection, msg: XsMessage, payload: Uint8Array): void {
    if (payload.length > XENSTORE_PAYLOAD_MAX) throw new XsError('E2BIG');
    conn.send(msg.type, msg.reqId, msg.txId, payload);
  }

  private installHandlers(): void {
    const h = (type: number, fn: Handler, flags: Omit<HandlerSpec, 'fn'> = {}) => {
      this.handlers[type] = { fn, ...flags };
    };
    const T = XS_TYPE;

    h(T.CONTROL, (c, m) => this.control(c, m), { priv: true });

    h(T.DIRECTORY, (c, m, tx) => {
      const path = this.nodePath(c, oneArg(m));
      this.reply(c, m, xsJoinStrings(this.store.directory(c.caller, path, tx)));
    });

    h(T.DIRECTORY_PART, (c, m, tx) => {
      const args = xsStrings(m.payload);
      if (args.length !== 2) throw new XsError('EINVAL');
      const path = this.nodePath(c, args[0]);
      const node = this.store.lookup(c.caller, path, 'read', tx);
      this.reply(c, m, directoryPart(node.generation, node.children, atoi(args[1])));
    });

    h(T.READ, (c, m, tx) => {
      this.reply(c, m, this.store.read(c.caller, this.nodePath(c, oneArg(m)), tx));
    });

    h(T.GET_PERMS, (c, m, tx) => {
      const arg = oneArg(m);
      const perms = isSpecialPath(arg) ? this.specialNodePerms(c, arg, 'read') : this.store.getPerms(c.caller, this.nodePath(c, arg), tx);
      this.reply(c, m, xsJoinStrings(formatPerms(perms)));
    });

    h(T.SET_PERMS, (c, m, tx) => {
      const args = xsStrings(m.payload);
      if (args.length < 2) throw new XsError('EINVAL');
      if (!c.privileged && args.length - 1 > this.quotas.maxPermsPerNode) throw new XsError('ENOSPC');
      const perms = parsePerms(args.slice(1));
      if (!perms) throw new XsError('EINVAL');
      if (isSpecialPath(args[0])) {
        this.specialNodePerms(c, args[0], 'owner');
        this.specialPerms.set(args[0], perms);
        this.reply(c, m, OK);
        return;
      }
      const fires = this.store.setPerms(c.caller, this.nodePath(c, args[0]), perms, tx);
      this.fire(fires);
      this.reply(c, m, OK);
    });

    h(T.WRITE, (c, m, tx) => {
      const nul = m.payload.indexOf(0);
      if (nul < 0) throw new XsError('EINVAL');
      const path = this.nodePath(c, bytesToLatin1(m.payload.subarray(0, nul)));
      const fires = this.store.write(c.caller, path, m.payload.slice(nul + 1), tx);
      this.fire(fires);
      this.reply(c, m, OK);
    });

    h(T.MKDIR, (c, m, tx) => {
      this.fire(this.store.mkdir(c.caller, this.nodePath(c, oneArg(m)), tx));
      this.reply(c, m, OK);
    });

    h(T.RM, (c, m, tx) => {
      this.fire(this.store.rm(c.caller, this.nodePath(c, oneArg(m)), tx));
      this.reply(c, m, OK);
    });

    h(T.WATCH, (c, m) => this.watch(c, m), { noTx: true });
    h(T.UNWATCH, (c, m) => this.unwatch(c, m), { noTx: true });

    h(T.RESET_WATCHES, (c, m) => {
      c.resetWatchesAndTransactions();
      this.reply(c, m, OK);
    });

    h(T.TRANSACTION_START, (c, m, tx) => {
      if (tx) throw new XsError('EBUSY', 'nested transactions are not supported');
      if (!c.privileged && c.transactions.size >= this.quotas.maxTransactionsPerConnection) throw new XsError('ENOSPC');
      const id = c.allocTransactionId();
      c.transactions.set(id, this.store.startTransaction());
      this.reply(c, m, latin1ToBytes(`${id}\0`));
    });

    h(T.TRANSACTION_END, (c, m, tx) => {
      const arg = oneArg(m);
      if (arg !== 'T' && arg !== 'F') throw new XsError('EINVAL');
      if (!tx) throw new XsError('ENOENT', 'not in a transaction');
      c.transactions.delete(m.txId);
      if (arg === 'F') {
        this.store.abort(tx);
      } else {
        this.fire(this.store.commit(tx, c.caller));
      }
      this.reply(c, m, OK);
    });

    h(
      T.INTRODUCE,
      (c, m) => {
        const args = xsStrings(m.payload);
        if (args.length < 3) throw new XsError('EINVAL');
        this.introduceDomain(atoi(args[0]), atoi(args[1]), atoi(args[2]));
        this.reply(c, m, OK);
      },
      { priv: true },
    );

    h(
      T.RELEASE,
      (c, m) => {
        const domid = atoi(oneArg(m));
        if (domid === 0) throw new XsError('EINVAL');
        this.releaseDomain(domid);
        this.reply(c, m, OK);
      },
      { priv: true },
    );

    h(
      T.RESUME,
      (c, m) => {
        const domid = atoi(oneArg(m));
        if (domid === 0) throw new XsError('EINVAL');
        const dom = this.domains.get(domid);
        if (!dom) throw new XsError('ENOENT');
        dom.shutdown = false;
        this.reply(c, m, OK);
      },
      { priv: true },
    );

    h(T.GET_DOMAIN_PATH, (c, m) => {
      this.reply(c, m, latin1ToBytes(`${domainPath(atoi(oneArg(m)))}\0`));
    });

    h(
      T.IS_DOMAIN_INTRODUCED,
      (c, m) => {
        const domid = atoi(oneArg(m));
        const yes = domid === DOMID.SELF || domid === 0 || this.domains.has(domid);
        this.reply(c, m, latin1ToBytes(yes ? 'T\0' : 'F\0'));
      },
      { priv: true },
    );

    h(
      T.SET_TARGET,
      (c, m) => {
        const args = xsStrings(m.payload);
        if (args.length < 2) throw new XsError('EINVAL');
        const domid = atoi(args[0]);
        const target = atoi(args[1]);
        const dom = this.domains.get(domid);
        if (!dom || !this.domains.has(target)) throw new XsError('ENOENT');
        dom.target = target;
        this.onStateChange?.(dom.domid);
        if (dom.conn) dom.conn.target = target;
        this.reply(c, m, OK);
      },
      { priv: true },
    );
  }

  /** A request's path argument made absolute and checked (EINVAL if malformed). */
  private nodePath(conn: Connection, arg: string): string {
    if (!arg.startsWith('/') && arg.length > XENSTORE_REL_PATH_MAX) throw new XsError('EINVAL');
    const path = canonicalize(arg, conn.homePath);
    if (!isValidNodePath(path)) throw new XsError('EINVAL', `invalid path ${JSON.stringify(arg)}`);
    return path;
  }

  private specialNodePerms(conn: Connection, path: string, need: 'read' | 'owner'): readonly XsPerm[] {
    const perms = this.specialPerms.get(path);
    if (!perms) throw new XsError('EINVAL');
    const a = accessFor(conn.caller, perms);
    if (need === 'read' ? !a.read : !(a.write && a.owner)) throw new XsError('EACCES');
    return perms;
  }

  private watch(conn: Connection, msg: XsMessage): void {
    const args = xsStrings(msg.payload);
    if (args.length < 2) throw new XsError('EINVAL');
    const [arg, token] = args;
    let path: string;
    let relative = false;
    if (isSpecialPath(arg)) {
      if (arg.length > XENSTORE_REL_PATH_MAX) throw new XsError('EINVAL');
      path = arg;
    } else {
      relative = !arg.startsWith('/');
      path = this.nodePath(conn, arg);
    }
    if (conn.findWatch(path, token)) throw new XsError('EEXIST');
    if (!conn.privileged && conn.watches.length >= this.quotas.maxWatchesPerConnection) throw new XsError('E2BIG');
    const w: Watch = { path, token, relative };
    conn.addWatch(w);
    this.reply(conn, msg, OK);
    // The initial event, fired straight away whatever the permissions (cxenstored does so).
    conn.sendEvent(eventPath(conn, w, path), token);
  }

  private unwatch(conn: Connection, msg: XsMessage): void {
    const args = xsStrings(msg.payload);
    if (args.length < 2) throw new XsError('EINVAL');
    const path = canonicalize(args[0], conn.homePath);
    if (!conn.removeWatch(path, args[1])) throw new XsError('ENOENT');
    this.reply(conn, msg, OK);
  }

  private control(conn: Connection, msg: XsMessage): void {
    const args = xsStrings(msg.payload);
    const cmd = args[0] ?? '';
    if (cmd === 'help') {
      this.reply(conn, msg, latin1ToBytes(`${CONTROL_COMMANDS.join('\n')}\n\0`));
    } else if (cmd === 'check') {
      this.reply(conn, msg, OK);
    } else if (cmd === 'print') {
      this.log(`control print: ${args.slice(1).join(' ')}`);
      this.reply(conn, msg, OK);
    } else {
      throw new XsError('EINVAL', `unknown control command ${JSON.stringify(cmd)}`);
    }
  }
}

/** The payload must be exactly one NUL-terminated string (Xen's onearg). */
function oneArg(msg: XsMessage): string {
  const p = msg.payload;
  if (p.length === 0 || p.indexOf(0) !== p.length - 1) throw new XsError('EINVAL');
  return bytesToLatin1(p.subarray(0, p.length - 1));
}

/** Whether an event at `event` reaches a watch on `watched` (not counting '@' specials' own rule). */
/**
 * Every watch path that covers a change of `event` (a watch on a path sees changes of it
 * and below): the path itself and each prefix ending before a '/', and '/' for a node path.
 */
function coveringPaths(event: string): string[] {
  const out = [event];
  for (let i = event.lastIndexOf('/'); i > 0; i = event.lastIndexOf('/', i - 1)) out.push(event.slice(0, i));
  if (event.startsWith('/') && event !== '/') out.push('/');
  return out;
}

/** The path reported to `w`: relative to the connection's home if the watch was set relative. */
function eventPath(conn: Connection, w: Watch, path: string): string {
  if (!w.relative || !path.startsWith(conn.homePath)) return path;
  const rest = path.slice(conn.homePath.length);
  return rest.startsWith('/') ? rest.slice(1) : rest;
}

/**
 * DIRECTORY_PART's reply: the node's generation, then whole child names from byte
 * `offset` of the NUL-separated child list while they fit in a message; an empty name
 * (a second NUL) marks the end of the list.
 */
export function directoryPart(generation: number, children: readonly string[], offset: number): Uint8Array {
  const list = xsJoinStrings(children);
  const gen = latin1ToBytes(`${generation}\0`);
  const off = offset < 0 ? 0 : offset;
  if (off >= list.length) {
    const out = new Uint8Array(gen.length + 1);
    out.set(gen);
    return out;
  }
  const room = XENSTORE_PAYLOAD_MAX - gen.length - 1;
  let end = off;
  while (end < list.length) {
    const nul = list.indexOf(0, end);
    const next = (nul < 0 ? list.length : nul) + 1;
    if (next - off > room) break;
    end = next;
  }
  const atEnd = end >= list.length;
  const out = new Uint8Array(gen.length + (end - off) + (atEnd ? 1 : 0));
  out.set(gen);
  out.set(list.subarray(off, end), gen.length);
  return out;
}
