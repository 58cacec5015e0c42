// XenStore that outlives its daemon. C xenstored kept its tree in a tdb file under
// /var/lib/xenstored; pvsim's dom0 keeps the tree, the introduced domains and their rings'
// watches in one JSON file, so a dom0 that restarts (after a crash or kill -9) serves the
// same store to the same rings. The file is replaced atomically (write, then rename) and
// written before dom0 answers a dispatch, so nothing a guest has seen acknowledged is lost.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Xenstored, SavedDomain } from './xenstored.ts';
import { formatPerms, parsePerms } from './perms.ts';
import type { NodeData } from './store.ts';
import { RateLimitedLog } from '../backends/ratelimit.ts';

const VERSION = 1;

interface SavedState {
  version: number;
  /** [path, value (base64), perms (Xen's "<mode><domid>" strings), children]. */
  nodes: [string, string, string[], string[]][];
  domains: SavedDomain[];
}

export class XenstoreStateFile {
  private dirty = false;
  private timer: NodeJS.Immediate | null = null;
  private closed = false;
  /** Save failures (a full or failing filesystem): logged, a burst at a time. */
  private readonly failures: RateLimitedLog;

  constructor(
    private readonly file: string,
    private readonly xsd: Xenstored,
    log: (line: string) => void = () => {},
  ) {
    this.failures = new RateLimitedLog(log);
  }

  /** Loads a saved state into a daemon that has served nothing yet; false if there is none. */
  restore(): boolean {
    if (!existsSync(this.file)) return false;
    let state: SavedState;
    try {
      state = JSON.parse(readFileSync(this.file, 'utf8')) as SavedState;
    } catch (e) {
      throw new Error(`xenstore state ${this.file} is unreadable: ${(e as Error).message}`);
    }
    if (state.version !== VERSION) throw new Error(`xenstore state ${this.file} has version ${state.version}, not ${VERSION}`);
    const nodes: [string, NodeData][] = state.nodes.map(([path, value, perms, children]) => {
      const p = parsePerms(perms);
      if (!p) throw new Error(`xenstore state ${this.file}: bad permissions on ${path}`);
      return [path, { value: Buffer.from(value, 'base64'), perms: p, children }];
    });
    this.xsd.store.load(nodes);
    this.xsd.restoreDomains(state.domains);
    return true;
  }

  /** Starts saving on every change: at once when flush() is called, else on the next turn. */
  track(): void {
    const mark = () => {
      if (this.closed) return; // a stopped dom0 writes no more (a new one may own the file)
      this.dirty = true;
      this.timer ??= setImmediate(() => {
        this.timer = null;
        this.flush();
      });
    };
    this.xsd.store.onChange = mark;
    this.xsd.onStateChange = mark;
    mark();
  }

  /** Writes the state now if anything changed since the last write. */
  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const store = this.xsd.store;
    const nodes: SavedState['nodes'] = [];
    for (const path of store.paths()) {
      const n = store.node(path)!;
      nodes.push([path, Buffer.from(n.value).toString('base64'), formatPerms(n.perms), [...n.children]]);
    }
    const state: SavedState = { version: VERSION, nodes, domains: this.xsd.saveDomains() };
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      // The host failed the save (ENOSPC, EIO, the directory gone): dom0 serves on with the
      // store in memory, says so, and saves again at the next change. The previous file
      // stays whole (the rename did not happen). Thrown from a timer, this ended dom0.
      this.dirty = true;
      const err = e as NodeJS.ErrnoException;
      this.failures.log(`xenstored: cannot save ${this.file}: ${err.code ?? ''} ${err.message}; XenStore is kept in memory and saved at the next change`);
    }
  }

  close(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = null;
    this.flush();
    this.closed = true;
  }
}
