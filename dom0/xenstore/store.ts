// The XenStore data model: a tree of nodes, each with a value (bytes), permissions, an
// ordered child list and a generation count; transactions; and the quotas Xen enforces on
// unprivileged domains. Paths given to this module are absolute (the daemon resolves
// relative ones); every operation checks the caller's access the way cxenstored does and
// reports a failure by throwing XsError with Xen's error name, which the daemon turns into
// an XS_ERROR reply.
//
// Generations: every change to a node (value, permissions, child list) gives it a fresh
// generation from one global counter. DIRECTORY_PART reports it so a client can tell a
// child list did not change between two partial reads, and transactions use it to detect
// conflicts.
//
// Transactions: a transaction sees the store as it was when it started. Nodes it changes
// live in a private overlay; when the global store changes a node the transaction has not
// itself changed, the old version is saved for it first, so its reads stay on the
// snapshot. It records the generation of every node it read or wrote (absence counts); it
// commits only if all those nodes still have those generations, else EAGAIN and nothing is
// applied. A child list is part of its node, so creating or removing a child conflicts
// with a transaction that listed or changed the parent, as in Xen.
//
// The saved versions are bounded: a transaction left open while the store changes more
// than MAX_TX_SAVED nodes under it stops keeping them (and costs writes nothing more); it
// then reads the current store, as cxenstored's transactions do, and its commit is EAGAIN,
// so a client that never ends its transactions cannot make dom0 grow with every write.

import type { XsErrorName } from '../../protocol/xen/xs_wire.ts';
import { accessFor, type Caller, DOM0_ONLY, type XsPerm } from './perms.ts';
import { ancestors, baseName, childPath, isValidNodePath, parentPath } from './path.ts';

export interface XsNode {
  readonly value: Uint8Array;
  readonly perms: readonly XsPerm[];
  readonly children: readonly string[];
  readonly generation: number;
}

export type NodeData = Omit<XsNode, 'generation'>;

/** A failure with Xen's error name; the daemon answers it as XS_ERROR. */
export class XsError extends Error {
  constructor(
    readonly code: XsErrorName,
    message?: string,
  ) {
    super(message ?? code);
    this.name = 'XsError';
  }
}

/** Limits for unprivileged domains; privileged callers are exempt, as in Xen. */
export interface Quotas {
  /** Nodes a domain may own (xenstored -E). */
  maxNodesPerDomain: number;
  /** A node record (value, child names, permissions, header) must stay below this (-S). */
  maxEntrySize: number;
  /** Watches per connection (-W). */
  maxWatchesPerConnection: number;
  /** Open transactions per connection (-t). */
  maxTransactionsPerConnection: number;
  /** Permission entries per node (-A). */
  maxPermsPerNode: number;
}

/** cxenstored's defaults. */
export const DEFAULT_QUOTAS: Readonly<Quotas> = Object.freeze({
  maxNodesPerDomain: 1000,
  maxEntrySize: 2048,
  maxWatchesPerConnection: 128,
  maxTransactionsPerConnection: 10,
  maxPermsPerNode: 5,
});

/**
 * The size Xen charges a node against maxEntrySize: its database record, a 24-byte header,
 * 8 bytes per permission entry, the value, and the NUL-terminated child names.
 */
export function entrySize(node: NodeData): number {
  let size = 24 + 8 * node.perms.length + node.value.length;
  for (const c of node.children) size += c.length + 1;
  return size;
}

/**
 * A change to report to watchers. `exact` events match only watches on exactly `path`
 * (the descendants of a removed node); others match watches on `path` or above it. A
 * watcher sees the event only if one of `readers` grants it read access (the node's
 * permissions, its parent's, and for SET_PERMS the old ones), or it is privileged.
 */
export interface WatchFire {
  path: string;
  exact: boolean;
  readers: (readonly XsPerm[])[];
}

/** The store as seen by one context: the global tree, or a transaction's snapshot. */
interface NodeView {
  get(path: string): XsNode | undefined;
  put(path: string, node: NodeData): void;
  del(path: string): void;
  /** Nodes owned by `domid` in this view. */
  ownedBy(domid: number): number;
}

type Need = 'read' | 'write' | 'owner';

const EMPTY = new Uint8Array(0);

/** Node versions one transaction keeps for itself before it gives up its snapshot. */
export const MAX_TX_SAVED = 1024;

function adjust(map: Map<number, number>, domid: number, by: number): void {
  const v = (map.get(domid) ?? 0) + by;
  if (v === 0) map.delete(domid);
  else map.set(domid, v);
}

/** A transaction's private view. Created by Store.startTransaction. */
export class Transaction {
  /** Watch events of the operations done in it, fired when it commits. */
  readonly pendingFires: WatchFire[] = [];
  /** Nodes changed (null: removed) by the transaction. */
  private readonly overlay = new Map<string, XsNode | null>();
  /** Versions of nodes as of the transaction's start, saved before global changes. */
  private readonly snapshot = new Map<string, XsNode | null>();
  /** Generation of every node read or written (0: absent), checked at commit. */
  private readonly accessed = new Map<string, number>();
  private readonly ownerDelta = new Map<number, number>();
  private open = true;
  /** Its snapshot outgrew MAX_TX_SAVED: it reads the current store and cannot commit. */
  private overrun = false;

  /** @internal */
  readonly view: NodeView;

  constructor(private readonly store: Store) {
    this.view = {
      get: (path) => this.get(path),
      put: (path, node) => this.put(path, node),
      del: (path) => this.del(path),
      ownedBy: (domid) => store.nodesOwnedBy(domid) + (this.ownerDelta.get(domid) ?? 0),
    };
  }

  get isOpen(): boolean {
    return this.open;
  }

  private get(path: string): XsNode | undefined {
    const mine = this.overlay.get(path);
    if (mine !== undefined) return mine ?? undefined;
    const base = this.snapshot.has(path) ? (this.snapshot.get(path) ?? undefined) : this.store.node(path);
    if (!this.accessed.has(path)) this.accessed.set(path, base?.generation ?? 0);
    return base;
  }

  private put(path: string, data: NodeData): void {
    const prev = this.get(path);
    if (prev) adjust(this.ownerDelta, prev.perms[0].domid, -1);
    adjust(this.ownerDelta, data.perms[0].domid, +1);
    this.overlay.set(path, { ...data, generation: this.store.newGeneration() });
  }

  private del(path: string): void {
    const prev = this.get(path);
    if (prev) adjust(this.ownerDelta, prev.perms[0].domid, -1);
    this.overlay.set(path, null);
  }

  /** Node versions kept for the transaction's snapshot. */
  get savedVersions(): number {
    return this.snapshot.size;
  }

  /**
   * @internal Called by the store before it changes `path` globally. False once the
   * transaction has given up its snapshot: the store need not tell it again.
   */
  saveOriginal(path: string, node: XsNode | undefined): boolean {
    if (this.overrun) return false;
    if (!this.snapshot.has(path) && !this.overlay.has(path)) this.snapshot.set(path, node ?? null);
    if (this.snapshot.size <= MAX_TX_SAVED) return true;
    this.overrun = true;
    this.snapshot.clear();
    return false;
  }

  /** @internal */
  conflicts(): boolean {
    if (this.overrun) return true;
    for (const [path, gen] of this.accessed) {
      if ((this.store.node(path)?.generation ?? 0) !== gen) return true;
    }
    return false;
  }

  /** @internal */
  changes(): IterableIterator<[string, XsNode | null]> {
    return this.overlay.entries();
  }

  /** @internal */
  ownerChange(domid: number): number {
    return this.ownerDelta.get(domid) ?? 0;
  }

  /** @internal */
  close(): void {
    this.open = false;
    this.overlay.clear();
    this.snapshot.clear();
    this.accessed.clear();
  }
}

export class Store {
  readonly quotas: Quotas;
  private readonly nodes = new Map<string, XsNode>();
  private readonly owners = new Map<number, number>();
  private readonly transactions = new Set<Transaction>();
  private nextGeneration = 1;
  private readonly global: NodeView = {
    get: (path) => this.nodes.get(path),
    put: (path, data) => this.setGlobal(path, { ...data, generation: this.newGeneration() }),
    del: (path) => this.setGlobal(path, undefined),
    ownedBy: (domid) => this.nodesOwnedBy(domid),
  };

  constructor(quotas: Partial<Quotas> = {}) {
    this.quotas = { ...DEFAULT_QUOTAS, ...quotas };
    // The nodes cxenstored starts with, all owned by dom0 with no access for others.
    this.setGlobal('/', { value: EMPTY, perms: DOM0_ONLY, children: ['tool'], generation: this.newGeneration() });
    this.setGlobal('/tool', { value: EMPTY, perms: DOM0_ONLY, children: ['xenstored'], generation: this.newGeneration() });
    this.setGlobal('/tool/xenstored', { value: EMPTY, perms: DOM0_ONLY, children: [], generation: this.newGeneration() });
  }

  /** The committed node at `path`, unchecked (for the daemon's own use and tests). */
  node(path: string): XsNode | undefined {
    return this.nodes.get(path);
  }

  /** Number of committed nodes. */
  get size(): number {
    return this.nodes.size;
  }

  /** Committed paths, in no particular order. */
  paths(): IterableIterator<string> {
    return this.nodes.keys();
  }

  nodesOwnedBy(domid: number): number {
    return this.owners.get(domid) ?? 0;
  }

  /** @internal */
  newGeneration(): number {
    return this.nextGeneration++;
  }

  /** Open transactions, over all connections. */
  get openTransactions(): number {
    return this.transactions.size;
  }

  /**
   * Told of every committed change, with the node before and after (undefined: absent), in
   * the order they happen: persistence journals them.
   */
  onChange: ((path: string, prev: XsNode | undefined, next: XsNode | undefined) => void) | null = null;

  /** Replaces every committed node (a restart restoring a saved store). */
  load(nodes: Iterable<[string, NodeData]>): void {
    for (const path of [...this.nodes.keys()]) this.setGlobal(path, undefined);
    for (const [path, data] of nodes) this.setGlobal(path, { ...data, generation: this.newGeneration() });
  }

  private setGlobal(path: string, node: XsNode | undefined): void {
    const prev = this.nodes.get(path);
    this.onChange?.(path, prev, node);
    for (const tx of this.transactions) if (!tx.saveOriginal(path, prev)) this.transactions.delete(tx);
    if (prev) adjust(this.owners, prev.perms[0].domid, -1);
    if (node) {
      adjust(this.owners, node.perms[0].domid, +1);
      this.nodes.set(path, node);
    } else {
      this.nodes.delete(path);
    }
  }

  private view(tx: Transaction | undefined): NodeView {
    if (!tx) return this.global;
    if (!tx.isOpen) throw new XsError('ENOENT', 'transaction is closed');
    return tx.view;
  }

  // ---- transactions ----

  startTransaction(): Transaction {
    const tx = new Transaction(this);
    this.transactions.add(tx);
    return tx;
  }

  /**
   * Applies `tx` if none of the nodes it used changed since it started (else EAGAIN) and
   * `caller`'s node quota still holds (else ENOSPC). The transaction is closed either way.
   * Returns the watch events to fire.
   */
  commit(tx: Transaction, caller: Caller): WatchFire[] {
    if (!tx.isOpen) throw new XsError('ENOENT', 'transaction is closed');
    this.transactions.delete(tx);
    try {
      if (tx.conflicts()) throw new XsError('EAGAIN');
      if (!caller.privileged) {
        const owned = this.nodesOwnedBy(caller.domid) + tx.ownerChange(caller.domid);
        if (tx.ownerChange(caller.domid) > 0 && owned > this.quotas.maxNodesPerDomain) throw new XsError('ENOSPC');
      }
      for (const [path, node] of tx.changes()) {
        if (node) this.global.put(path, node);
        else this.global.del(path);
      }
      return tx.pendingFires.slice();
    } finally {
      tx.close();
    }
  }

  /** Discards `tx`. */
  abort(tx: Transaction): void {
    this.transactions.delete(tx);
    tx.close();
  }

  // ---- operations ----

  /**
   * The node at `path` if `caller` may `need` it. Otherwise ENOENT or EACCES as Xen
   * decides: a node the caller may not access is EACCES; a missing node is ENOENT only if
   * its nearest existing ancestor grants the caller the same kind of access, so the error
   * does not reveal what exists where the caller cannot look.
   */
  lookup(caller: Caller, path: string, need: Need, tx?: Transaction): XsNode {
    return this.lookupIn(this.view(tx), caller, path, need);
  }

  private lookupIn(view: NodeView, caller: Caller, path: string, need: Need): XsNode {
    const r = this.find(view, caller, path, need);
    if (typeof r === 'string') throw new XsError(r, r === 'EINVAL' ? `invalid path ${JSON.stringify(path)}` : undefined);
    return r;
  }

  /** lookupIn's answer without throwing: the node, or the error code (a write to a new node is a normal path). */
  private find(view: NodeView, caller: Caller, path: string, need: Need): XsNode | XsErrorName {
    if (!isValidNodePath(path)) return 'EINVAL';
    const node = view.get(path);
    if (node && grants(caller, node.perms, need, true)) return node;
    let code: XsErrorName = node ? 'EACCES' : 'ENOENT';
    if (path !== '/') {
      for (const a of ancestors(path)) {
        const an = view.get(a);
        if (!an) continue;
        if (!grants(caller, an.perms, need, false)) code = 'EACCES';
        break;
      }
    }
    return code;
  }

  read(caller: Caller, path: string, tx?: Transaction): Uint8Array {
    return this.lookup(caller, path, 'read', tx).value;
  }

  directory(caller: Caller, path: string, tx?: Transaction): readonly string[] {
    return this.lookup(caller, path, 'read', tx).children;
  }

  getPerms(caller: Caller, path: string, tx?: Transaction): readonly XsPerm[] {
    return this.lookup(caller, path, 'read', tx).perms;
  }

  /** Sets the value at `path`, creating it and any missing parents. */
  write(caller: Caller, path: string, value: Uint8Array, tx?: Transaction): WatchFire[] {
    const view = this.view(tx);
    const node = this.lookupOrMissing(view, caller, path, 'write');
    if (node) {
      const data: NodeData = { value, perms: node.perms, children: node.children };
      this.checkEntry(caller, data);
      view.put(path, data);
    } else {
      this.create(view, caller, path, value);
    }
    return this.record(tx, [this.fire(view, path, false)]);
  }

  /** Creates `path` and any missing parents with empty values; an existing node is left alone. */
  mkdir(caller: Caller, path: string, tx?: Transaction): WatchFire[] {
    const view = this.view(tx);
    if (this.lookupOrMissing(view, caller, path, 'write')) return [];
    this.create(view, caller, path, EMPTY);
    return this.record(tx, [this.fire(view, path, false)]);
  }

  /**
   * Removes `path` and everything below it. Removing a missing node is not an error if
   * its parent exists (ENOENT otherwise); removing '/' is EINVAL.
   */
  rm(caller: Caller, path: string, tx?: Transaction): WatchFire[] {
    const view = this.view(tx);
    const node = this.lookupOrMissing(view, caller, path, 'write');
    if (!node) {
      if (view.get(parentPath(path))) return [];
      throw new XsError('ENOENT');
    }
    if (path === '/') throw new XsError('EINVAL', 'cannot remove the root');
    const parent = parentPath(path);
    const parentNode = view.get(parent);
    if (!parentNode) throw new XsError('EINVAL');
    const fires: WatchFire[] = [{ path, exact: false, readers: [node.perms, parentNode.perms] }];
    // Children before their parents, as cxenstored deletes them.
    const doomed: string[] = [];
    const walk = (p: string, n: XsNode): void => {
      for (const c of n.children) {
        const cp = childPath(p, c);
        const cn = view.get(cp);
        if (!cn) continue;
        walk(cp, cn);
        fires.push({ path: cp, exact: true, readers: [cn.perms, n.perms] });
        doomed.push(cp);
      }
    };
    walk(path, node);
    doomed.push(path);
    for (const p of doomed) view.del(p);
    const name = baseName(path);
    view.put(parent, { ...parentNode, children: parentNode.children.filter((c) => c !== name) });
    return this.record(tx, fires);
  }

  /**
   * Replaces the permissions of `path`. Needs ownership (or privilege); an unprivileged
   * owner may not give the node away (EPERM) nor list more than maxPermsPerNode entries.
   */
  setPerms(caller: Caller, path: string, perms: readonly XsPerm[], tx?: Transaction): WatchFire[] {
    if (perms.length === 0) throw new XsError('EINVAL');
    if (!caller.privileged && perms.length > this.quotas.maxPermsPerNode) throw new XsError('ENOSPC');
    const view = this.view(tx);
    const node = this.lookupIn(view, caller, path, 'owner');
    if (!caller.privileged && perms[0].domid !== node.perms[0].domid) throw new XsError('EPERM');
    const data: NodeData = { value: node.value, perms: perms.slice(), children: node.children };
    this.checkEntry(caller, data);
    view.put(path, data);
    const fire = this.fire(view, path, false);
    fire.readers.push(node.perms);
    return this.record(tx, [fire]);
  }

  // ---- helpers ----

  private lookupOrMissing(view: NodeView, caller: Caller, path: string, need: Need): XsNode | undefined {
    const r = this.find(view, caller, path, need);
    if (r === 'ENOENT') return undefined;
    if (typeof r === 'string') throw new XsError(r, r === 'EINVAL' ? `invalid path ${JSON.stringify(path)}` : undefined);
    return r;
  }

  /**
   * Creates `path` with `value` and its missing ancestors with empty values. Each new node
   * inherits its parent's permissions; an unprivileged creator becomes the owner. All
   * checks happen before the first change, so a failure leaves nothing behind.
   */
  private create(view: NodeView, caller: Caller, path: string, value: Uint8Array): void {
    const missing = [path];
    let top = parentPath(path);
    while (!view.get(top)) {
      missing.push(top);
      top = parentPath(top);
    }
    if (!caller.privileged && view.ownedBy(caller.domid) + missing.length > this.quotas.maxNodesPerDomain) {
      throw new XsError('ENOSPC', `domain ${caller.domid} would own more than ${this.quotas.maxNodesPerDomain} nodes`);
    }
    const existing = view.get(top)!;
    const plan: [string, NodeData][] = [];
    let parentData: NodeData = { ...existing, children: [...existing.children, baseName(missing[missing.length - 1])] };
    plan.push([top, parentData]);
    for (let i = missing.length - 1; i >= 0; i--) {
      const p = missing[i];
      const perms = caller.privileged ? parentData.perms.slice() : [{ domid: caller.domid, mode: parentData.perms[0].mode }, ...parentData.perms.slice(1)];
      const data: NodeData = { value: i === 0 ? value : EMPTY, perms, children: i === 0 ? [] : [baseName(missing[i - 1])] };
      plan.push([p, data]);
      parentData = data;
    }
    for (const [, data] of plan) this.checkEntry(caller, data);
    for (const [p, data] of plan) view.put(p, data);
  }

  private checkEntry(caller: Caller, data: NodeData): void {
    if (!caller.privileged && entrySize(data) >= this.quotas.maxEntrySize) {
      throw new XsError('ENOSPC', `node of ${entrySize(data)} bytes exceeds the entry size quota`);
    }
  }

  private fire(view: NodeView, path: string, exact: boolean): WatchFire {
    const readers: (readonly XsPerm[])[] = [];
    const n = view.get(path);
    if (n) readers.push(n.perms);
    if (path !== '/') {
      const p = view.get(parentPath(path));
      if (p) readers.push(p.perms);
    }
    return { path, exact, readers };
  }

  /** Inside a transaction, events wait for the commit. */
  private record(tx: Transaction | undefined, fires: WatchFire[]): WatchFire[] {
    if (!tx) return fires;
    tx.pendingFires.push(...fires);
    return [];
  }
}

function grants(caller: Caller, perms: readonly XsPerm[], need: Need, all: boolean): boolean {
  const a = accessFor(caller, perms);
  if (need === 'read') return a.read;
  if (need === 'write') return a.write;
  // SET_PERMS: write and ownership on the node; either suffices on the ancestor (Xen masks).
  return all ? a.write && a.owner : a.write || a.owner;
}
