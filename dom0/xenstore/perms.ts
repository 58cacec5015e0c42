// XenStore permissions. Every node carries a list of entries `<mode><domid>`:
//
//   n  none     r  read     w  write     b  both (read and write)
//
// The first entry names the node's owner and, with its mode, the access of every domain
// not listed after it: ["n0"] is "owned by dom0, nobody else may access it", ["r1", "b2"]
// is "owned by dom1, dom2 may read and write, everyone else may read". The owner (and a
// domain targeting it, see SET_TARGET) has full access, as do privileged callers (dom0).
// Only the owner or a privileged caller may change a node's permissions.

export type PermMode = 'n' | 'r' | 'w' | 'b';

export interface XsPerm {
  readonly domid: number;
  readonly mode: PermMode;
}

/** Who asks: a connection's identity for access checks and quotas. */
export interface Caller {
  readonly domid: number;
  /** dom0 and its tools: all access, no quotas. */
  readonly privileged: boolean;
  /** Domain this caller acts for (SET_TARGET): it gets that domain's access too. */
  readonly target?: number;
}

export interface Access {
  read: boolean;
  write: boolean;
  owner: boolean;
}

const FULL: Access = { read: true, write: true, owner: true };

function modeAccess(mode: PermMode): Access {
  return { read: mode === 'r' || mode === 'b', write: mode === 'w' || mode === 'b', owner: false };
}

/** What `caller` may do to a node with `perms` (Xen's perm_for_conn). */
export function accessFor(caller: Caller, perms: readonly XsPerm[]): Access {
  const owner = perms[0];
  if (caller.privileged || owner === undefined) return FULL;
  const isMe = (domid: number) => domid === caller.domid || (caller.target !== undefined && domid === caller.target);
  if (isMe(owner.domid)) return FULL;
  for (let i = 1; i < perms.length; i++) {
    if (isMe(perms[i].domid)) return modeAccess(perms[i].mode);
  }
  return modeAccess(owner.mode);
}

const PERM_RE = /^([nrwb])(\d{1,5})$/;

/** Parses one entry such as "r5"; null if malformed or the domid is out of range. */
export function parsePerm(s: string): XsPerm | null {
  const m = PERM_RE.exec(s);
  if (!m) return null;
  const domid = Number(m[2]);
  if (domid > 0xffff) return null;
  return { domid, mode: m[1] as PermMode };
}

/** Parses a list of entries; null if any is malformed or the list is empty. */
export function parsePerms(strings: readonly string[]): XsPerm[] | null {
  if (strings.length === 0) return null;
  const out: XsPerm[] = [];
  for (const s of strings) {
    const p = parsePerm(s);
    if (!p) return null;
    out.push(p);
  }
  return out;
}

export function formatPerm(p: XsPerm): string {
  return `${p.mode}${p.domid}`;
}

export function formatPerms(perms: readonly XsPerm[]): string[] {
  return perms.map(formatPerm);
}

/** The permissions Xen gives the root and the special watch nodes: dom0's, no access for others. */
export const DOM0_ONLY: readonly XsPerm[] = Object.freeze([{ domid: 0, mode: 'n' }]);
