// XenStore that outlives its daemon. C xenstored kept its tree in a tdb file under
// /var/lib/xenstored; pvsim's dom0 keeps the tree, the introduced domains and their rings'
// watches in a snapshot (`<file>`, JSON) and an append-only journal of the changes made
// since (`<file>.journal`), so a dom0 that restarts (after a crash or kill -9) serves the
// same store to the same rings, and a write costs what it changes, not the whole store.
//
// Crash guarantee (unchanged from when every change rewrote the whole file): what a reply
// acknowledges is written to the file system before the reply is visible (flush() runs
// before a ring is notified, before a socket reply is written, and before dom0 answers a
// dispatch). Like the old whole-file rename it is not fsync'd: it survives the process
// being killed at any point, not the host losing power.
//
// Journal: records of [u32 length][u32 CRC-32][JSON], little-endian. The first names the
// snapshot's epoch; each other is the batch of changes of one flush, in the order they
// were made (node set, value change, child appended or removed, node removed, domain
// saved or released). A record cut short or corrupted by a crash is where recovery stops:
// everything before it is replayed, it and anything after it are dropped (a batch is
// never half applied). Compaction, when the journal outgrows the snapshot, writes a new
// snapshot with the next epoch (write, then rename) and then starts a new journal; a
// crash between the two leaves a journal of the old epoch, which recovery ignores.

import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import type { Xenstored, SavedDomain } from './xenstored.ts';
import { formatPerms, parsePerms } from './perms.ts';
import type { NodeData, XsNode } from './store.ts';
import { RateLimitedLog } from '../backends/ratelimit.ts';

const VERSION = 2;
/** Snapshots of version 1 (one whole-store file, no journal) are still read. */
const VERSIONS = [1, VERSION];
/** The journal is compacted once it exceeds the snapshot's size, and at least this. */
const MIN_COMPACT_BYTES = 256 * 1024;
const HEADER = 8;

/** [path, value (base64), perms (Xen's "<mode><domid>" strings), children]. */
type SavedNode = [string, string, string[], string[]];

interface SavedState {
  version: number;
  /** Journals of another epoch are stale (the snapshot already holds them). */
  epoch?: number;
  nodes: SavedNode[];
  domains: SavedDomain[];
}

/** One change, as journaled. */
type Op =
  | ['s', string, string, string[], string[]] // node set: path, value, perms, children
  | ['v', string, string, string[]] // value and perms of an existing node
  | ['+', string, string] // child name appended to a node's list
  | ['-', string, string] // child name removed from a node's list
  | ['c', string, string[]] // a node's whole child list
  | ['d', string] // node removed
  | ['D', SavedDomain] // domain introduced or changed
  | ['R', number]; // domain released

interface JournalHead {
  epoch: number;
}
interface JournalBatch {
  ops: Op[];
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function record(obj: JournalHead | JournalBatch): Buffer {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, HEADER);
  return out;
}

const b64 = (v: Uint8Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');

function sameList(a: readonly string[], b: readonly string[], skipA = -1): boolean {
  // a with index skipA left out equals b
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    if (i === skipA) continue;
    if (a[i] !== b[j++]) return false;
  }
  return j === b.length;
}

/** The journal op(s) for one committed change of `path`. */
function nodeOps(path: string, prev: XsNode | undefined, next: XsNode | undefined): Op[] {
  if (!next) return [['d', path]];
  if (!prev) return [['s', path, b64(next.value), formatPerms(next.perms), [...next.children]]];
  const ops: Op[] = [];
  if (next.value !== prev.value || next.perms !== prev.perms) ops.push(['v', path, b64(next.value), formatPerms(next.perms)]);
  if (next.children !== prev.children) {
    const p = prev.children;
    const n = next.children;
    // What create() and rm() do: one name appended, or one removed. Anything else (a
    // transaction's commit of several) is journaled whole.
    if (n.length === p.length + 1 && sameList(p, n.slice(0, p.length))) ops.push(['+', path, n[n.length - 1]!]);
    else if (n.length === p.length - 1) {
      let k = 0;
      while (k < n.length && n[k] === p[k]) k++;
      if (sameList(p, n, k)) ops.push(['-', path, p[k]!]);
      else ops.push(['c', path, [...n]]);
    } else if (!sameList(p, n)) ops.push(['c', path, [...n]]);
  }
  return ops;
}

/** What a snapshot plus its journal hold, replayed. */
export interface RecoveredState {
  nodes: Map<string, NodeData>;
  domains: Map<number, SavedDomain>;
  epoch: number;
  /** Bytes of the journal that replayed; a torn or corrupt tail starts here. */
  journalGood: number;
  /** Bytes found in the journal (more than journalGood if its tail was torn). */
  journalBytes: number;
}

function parseNode(file: string, [path, value, perms, children]: SavedNode): [string, NodeData] {
  const p = parsePerms(perms);
  if (!p) throw new Error(`xenstore state ${file}: bad permissions on ${path}`);
  return [path, { value: Buffer.from(value, 'base64'), perms: p, children }];
}

function applyOp(file: string, s: RecoveredState, op: Op): void {
  const node = (path: string) => {
    const n = s.nodes.get(path);
    if (!n) throw new Error(`xenstore journal ${file}.journal changes missing node ${path}`);
    return n;
  };
  switch (op[0]) {
    case 's': {
      const [path, data] = parseNode(file, [op[1], op[2], op[3], op[4]]);
      s.nodes.set(path, data);
      break;
    }
    case 'v': {
      const n = node(op[1]);
      const p = parsePerms(op[3]);
      if (!p) throw new Error(`xenstore journal ${file}.journal: bad permissions on ${op[1]}`);
      s.nodes.set(op[1], { value: Buffer.from(op[2], 'base64'), perms: p, children: n.children });
      break;
    }
    case '+': {
      const n = node(op[1]);
      s.nodes.set(op[1], { ...n, children: [...n.children, op[2]] });
      break;
    }
    case '-': {
      const n = node(op[1]);
      s.nodes.set(op[1], { ...n, children: n.children.filter((c) => c !== op[2]) });
      break;
    }
    case 'c':
      s.nodes.set(op[1], { ...node(op[1]), children: op[2] });
      break;
    case 'd':
      s.nodes.delete(op[1]);
      break;
    case 'D':
      s.domains.set(op[1].domid, op[1]);
      break;
    case 'R':
      s.domains.delete(op[1]);
      break;
    default:
      throw new Error(`xenstore journal ${file}.journal: unknown change ${JSON.stringify(op)}`);
  }
}

export class XenstoreStateFile {
  private readonly journalFile: string;
  private fd: number | null = null;
  private epoch = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** Changes made since the last flush, in order. */
  private ops: Op[] = [];
  private readonly dirtyDomains = new Set<number>();
  private timer: NodeJS.Immediate | null = null;
  private closed = false;
  /** Save failures (a full or failing filesystem): logged, a burst at a time. */
  private readonly failures: RateLimitedLog;

  constructor(
    private readonly file: string,
    private readonly xsd: Xenstored,
    log: (line: string) => void = () => {},
  ) {
    this.journalFile = `${file}.journal`;
    this.failures = new RateLimitedLog(log);
  }

  /**
   * Reads the snapshot and replays its journal, without touching a daemon or the files.
   * Null if there is no snapshot. Throws on an unreadable snapshot; a journal's torn or
   * corrupt tail is not an error (journalGood < journalBytes says it was there).
   */
  static read(file: string): RecoveredState | null {
    if (!existsSync(file)) return null;
    let state: SavedState;
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as SavedState;
    } catch (e) {
      throw new Error(`xenstore state ${file} is unreadable: ${(e as Error).message}`);
    }
    if (!VERSIONS.includes(state.version)) throw new Error(`xenstore state ${file} has version ${state.version}, not ${VERSION}`);
    const s: RecoveredState = {
      nodes: new Map(state.nodes.map((n) => parseNode(file, n))),
      domains: new Map(state.domains.map((d) => [d.domid, d])),
      epoch: state.epoch ?? 0,
      journalGood: 0,
      journalBytes: 0,
    };
    const jf = `${file}.journal`;
    if (state.version < 2 || !existsSync(jf)) return s;
    const j = readFileSync(jf);
    s.journalBytes = j.length;
    let off = 0;
    let first = true;
    while (off + HEADER <= j.length) {
      const len = j.readUInt32LE(off);
      const crc = j.readUInt32LE(off + 4);
      if (off + HEADER + len > j.length) break; // torn: the crash came mid-write
      const body = j.subarray(off + HEADER, off + HEADER + len);
      if (crc32(body) !== crc) break;
      let rec: JournalHead | JournalBatch;
      try {
        rec = JSON.parse(body.toString('utf8')) as JournalHead | JournalBatch;
      } catch {
        break;
      }
      if (first) {
        // A journal of another epoch predates the snapshot, which already holds it.
        if (!('epoch' in rec) || rec.epoch !== s.epoch) return s;
        first = false;
      } else {
        if (!('ops' in rec) || !Array.isArray(rec.ops)) break;
        // A batch replays whole or not at all: what it changed is put back if it fails.
        const undoNodes = new Map<string, NodeData | undefined>();
        const undoDomains = new Map<number, SavedDomain | undefined>();
        try {
          for (const op of rec.ops) {
            if (op[0] === 'D' || op[0] === 'R') {
              const domid = op[0] === 'D' ? op[1].domid : op[1];
              if (!undoDomains.has(domid)) undoDomains.set(domid, s.domains.get(domid));
            } else if (typeof op[1] === 'string' && !undoNodes.has(op[1])) undoNodes.set(op[1], s.nodes.get(op[1]));
            applyOp(file, s, op);
          }
        } catch {
          for (const [k, v] of undoNodes) v ? s.nodes.set(k, v) : s.nodes.delete(k);
          for (const [k, v] of undoDomains) v ? s.domains.set(k, v) : s.domains.delete(k);
          break;
        }
      }
      off += HEADER + len;
      s.journalGood = off;
    }
    return s;
  }

  /** Loads a saved state into a daemon that has served nothing yet; false if there is none. */
  restore(): boolean {
    const s = XenstoreStateFile.read(this.file);
    if (!s) return false;
    this.xsd.store.load(s.nodes);
    this.xsd.restoreDomains([...s.domains.values()]);
    this.epoch = s.epoch;
    return true;
  }

  /**
   * Starts saving every change: writes a snapshot of what is there now with a new, empty
   * journal, then journals changes at once when flush() is called, else on the next turn.
   */
  track(): void {
    const soon = () => {
      this.timer ??= setImmediate(() => {
        this.timer = null;
        this.flush();
      });
    };
    this.xsd.store.onChange = (path, prev, next) => {
      for (const op of nodeOps(path, prev, next)) this.ops.push(op);
      soon();
    };
    this.xsd.onStateChange = (domid) => {
      this.dirtyDomains.add(domid);
      soon();
    };
    this.xsd.beforeReplyVisible = () => this.flush();
    this.tryCompact();
  }

  /** Writes the changes made since the last flush, if any; compacts a journal grown too big. */
  flush(): void {
    if (this.closed) return; // a stopped dom0 writes no more (a new one may own the file)
    if (this.ops.length === 0 && this.dirtyDomains.size === 0) return;
    const ops = this.ops;
    this.ops = [];
    for (const domid of this.dirtyDomains) {
      const d = this.xsd.saveDomain(domid);
      ops.push(d ? ['D', d] : ['R', domid]);
    }
    this.dirtyDomains.clear();
    if (this.fd === null) {
      this.tryCompact();
      return;
    }
    const rec = record({ ops });
    try {
      // A short write (the filesystem just filled up) is retried, and then fails as ENOSPC.
      for (let off = 0; off < rec.length; ) off += writeSync(this.fd, rec, off, rec.length - off);
    } catch (e) {
      this.failed(e);
      return;
    }
    this.journalBytes += rec.length;
    if (this.journalBytes > Math.max(MIN_COMPACT_BYTES, this.snapshotBytes)) this.tryCompact();
  }

  private tryCompact(): void {
    try {
      this.compact();
    } catch (e) {
      this.failed(e);
    }
  }

  /**
   * The host failed a save (ENOSPC, EIO, the directory gone): dom0 serves on with the
   * store in memory, says so, and writes a whole new snapshot at the next change (the
   * batch that failed is in it then). A torn record it may have left ends recovery of the
   * old journal, whose epoch the new snapshot supersedes. Thrown from a timer, this ended dom0.
   */
  private failed(e: unknown): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // already unusable
      }
    }
    this.fd = null;
    const err = e as NodeJS.ErrnoException;
    this.failures.log(`xenstored: cannot save ${this.file}: ${err.code ?? ''} ${err.message}; XenStore is kept in memory and saved at the next change`);
  }

  /** A new snapshot of everything, then an empty journal of its epoch. */
  private compact(): void {
    this.ops = [];
    this.dirtyDomains.clear();
    const store = this.xsd.store;
    const nodes: SavedNode[] = [];
    for (const path of store.paths()) {
      const n = store.node(path)!;
      nodes.push([path, b64(n.value), formatPerms(n.perms), [...n.children]]);
    }
    const epoch = this.epoch + 1;
    const snap = Buffer.from(JSON.stringify({ version: VERSION, epoch, nodes, domains: this.xsd.saveDomains() } satisfies SavedState));
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, snap, { mode: 0o600 });
    renameSync(tmp, this.file);
    // From here the old journal is stale (its epoch is not the snapshot's).
    this.epoch = epoch;
    this.snapshotBytes = snap.length;
    const head = record({ epoch });
    const jtmp = `${this.journalFile}.tmp`;
    writeFileSync(jtmp, head, { mode: 0o600 });
    renameSync(jtmp, this.journalFile);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = openSync(this.journalFile, 'a');
    this.journalBytes = head.length;
  }

  /** Bytes of the journal now (for tests and diagnostics). */
  get journalSize(): number {
    return this.journalBytes;
  }

  close(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = null;
    if (this.fd !== null || this.ops.length || this.dirtyDomains.size) this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.closed = true;
    this.xsd.store.onChange = null;
    this.xsd.onStateChange = null;
    this.xsd.beforeReplyVisible = null;
  }
}
