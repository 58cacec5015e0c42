// XenStore path rules (docs/misc/xenstore.txt, "Paths"): absolute paths start with '/',
// use only A-Z a-z 0-9 and - / _ @, have no doubled or trailing '/' (except the root) and
// are at most XENSTORE_ABS_PATH_MAX bytes. A relative path is relative to the caller's
// home, /local/domain/<domid> (dom0's socket clients included, as cxenstored does).
// Special watch paths start with '@' (@introduceDomain, @releaseDomain).

import { XENSTORE_ABS_PATH_MAX } from '../../protocol/xen/xs_wire.ts';

const VALID = /^[A-Za-z0-9\-/_@]*$/;

export const INTRODUCE_DOMAIN = '@introduceDomain';
export const RELEASE_DOMAIN = '@releaseDomain';

/** /local/domain/<domid>: a domain's home, the base of its relative paths. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid >>> 0}`;
}

/** Whether `p` is a well-formed absolute node path. */
export function isValidNodePath(p: string): boolean {
  if (!p.startsWith('/')) return false;
  if (p.length > XENSTORE_ABS_PATH_MAX) return false;
  if (p !== '/' && p.endsWith('/')) return false;
  if (p.includes('//')) return false;
  return VALID.test(p);
}

/** Whether `p` names a special watch path (any '@' path; only two are ever fired). */
export function isSpecialPath(p: string): boolean {
  return p.startsWith('@');
}

/** `p` made absolute against `home` (absolute and special paths are returned as they are). */
export function canonicalize(p: string, home: string): string {
  if (p.startsWith('/') || p.startsWith('@')) return p;
  return `${home}/${p}`;
}

/** The parent of a non-root absolute path ('/' for top-level nodes). */
export function parentPath(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** The last component of a non-root absolute path. */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** `parent/name`, without doubling the root's slash. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** Whether `child` is `parent` or below it (every path is below '/'). */
export function isChildOrSelf(child: string, parent: string): boolean {
  if (parent === '/') return child.startsWith('/');
  if (!child.startsWith(parent)) return false;
  return child.length === parent.length || child.charCodeAt(parent.length) === 0x2f;
}

/** The ancestors of an absolute path, nearest first, ending with '/'. */
export function ancestors(p: string): string[] {
  const out: string[] = [];
  let cur = p;
  while (cur !== '/') {
    cur = parentPath(cur);
    out.push(cur);
  }
  return out;
}

/** Xen's atoi: optional blanks and sign, then decimal digits; anything else stops (0 if none). */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  if (!m || m[2] === '') return 0;
  const v = Number(m[2].slice(0, 12));
  return m[1] === '-' ? -v : v;
}
