// xl.cfg disk specs (docs/misc/xl-disk-configuration.txt): one string per disk, as in
// `disk = [ 'file:disk.img,xvda,w' ]`, and Xen's virtual device numbers for their vdevs.

import { isAbsolute, resolve } from 'node:path';
import { parseCLong, q, XlSpecError } from './syntax.ts';

export interface XlDisk {
  /** The spec as written and the line of its list item. */
  spec: string;
  line: number;
  /** The image as written; null for an empty cdrom drive. */
  target: string | null;
  /** `target` resolved against the directory of the cfg file. */
  targetPath: string | null;
  /** `raw`, or `empty` for a cdrom drive with no target (pvsim supports no other format). */
  format: 'raw' | 'empty';
  /** The guest's name for the device (`xvda`, `hdc`, `xvdb1`, ...). */
  vdev: string;
  /** Xen's virtual device number for vdev, as libxl computes it (docs/misc/vbd-interface). */
  devid: number;
  access: 'r' | 'w';
  devtype: 'disk' | 'cdrom';
  /**
   * How an HVM domain sees the disk (pvsim's devtype=virtio | devtype=legacy): a virtio-blk
   * device or the legacy ATA disk, emulated by dom0's device model. null when not given:
   * PV domains' disks are PV (blkfront), an HVM domain's are virtio (xlcfg/keys.ts).
   */
  emulation: 'virtio' | 'legacy' | null;
  /** Backend domain, a name or a domid; '0' by default. */
  backend: string;
}

const DISK_FLAGS_IGNORED = new Set(['direct-io-safe', 'discard', 'no-discard', 'trusted', 'untrusted']);
const DISK_PARAMS_UNSUPPORTED = new Set(['script', 'specification', 'colo-host', 'colo-port', 'colo-export', 'active-disk', 'hidden-disk', 'grant_usage']);
const DISK_FORMATS = new Set(['raw', 'qcow', 'qcow2', 'vhd', 'empty', 'qed']);

/**
 * Xen's virtual device number for a vdev, as libxl computes it, or null if libxl would
 * reject it: xvd<letters>[<partition>] (disks 0-15 with partitions 0-15 as 202<<8 |
 * disk<<4 | part, beyond that 1<<28 | disk<<8 | part; letters count a..z, aa.. like
 * spreadsheet columns), d<disk>p<part>, hd[a-d][1-63], sd[a-p][1-15], or a bare number.
 */
export function vdevToDevid(vdev: string): number | null {
  const match = (prefix: string, maxDisk: number, maxPart: number): { disk: number; part: number } | null => {
    if (!vdev.startsWith(prefix)) return null;
    let k = prefix.length;
    let disk = -1;
    while (k < vdev.length && vdev[k]! >= 'a' && vdev[k]! <= 'z') {
      disk = (disk + 1) * 26 + (vdev.charCodeAt(k) - 97);
      if (disk > maxDisk) return null;
      k++;
    }
    if (disk < 0) return null;
    const rest = vdev.slice(k);
    if (rest === '') return { disk, part: 0 };
    if (!/^[1-9][0-9]*$/.test(rest)) return null;
    const part = Number(rest);
    return part > maxPart ? null : { disk, part };
  };
  const xvd = (disk: number, part: number) => (disk <= 15 && part <= 15 ? (202 << 8) | (disk << 4) | part : ((1 << 28) | (disk << 8) | part) >>> 0);

  const dp = /^d([0-9]+)p([0-9]+)$/.exec(vdev);
  if (dp) {
    const disk = Number(dp[1]);
    const part = Number(dp[2]);
    if (disk < 1 << 20 && part < 256) return xvd(disk, part);
  }
  const x = match('xvd', (1 << 20) - 1, 255);
  if (x) return xvd(x.disk, x.part);
  const n = parseCLong(vdev);
  if (n !== null && /^[0-9]/.test(vdev) && n <= 0x7fffffff) return n;
  const h = match('hd', 3, 63);
  if (h) return ((h.disk < 2 ? 3 : 22) << 8) | ((h.disk & 1) << 6) | h.part;
  const s = match('sd', 15, 15);
  if (s) return (8 << 8) | (s.disk << 4) | s.part;
  return null;
}

/**
 * Parses one disk spec: comma-separated positional parameters (target, format, vdev,
 * access), key=value parameters, flags, and the deprecated `raw:` / `file:` / `phy:` ...
 * prefixes, with the rules of xl's disk spec lexer. Relative targets resolve against baseDir.
 */
export function parseDiskSpec(spec: string, baseDir = '.'): Omit<XlDisk, 'line'> {
  const err = (msg: string): never => {
    throw new XlSpecError(msg);
  };
  let target: string | undefined;
  let format: string | undefined;
  let vdev: string | undefined;
  let access: 'r' | 'w' = 'w';
  let accessSet = false;
  let cdrom = false;
  let emulation: 'virtio' | 'legacy' | null = null;
  let backend: string | undefined;
  let hadPrefix = false;

  // A string may be given again only where it was given empty.
  const save = (what: string, old: string | undefined, v: string): string => {
    if (old) err(`${what} respecified: ${q(v)}`);
    return v;
  };
  const setFormat = (v: string) => {
    const f = v === '' ? 'raw' : v;
    if (!DISK_FORMATS.has(f)) err(`unknown value for format: ${q(v)}`);
    if (format !== undefined && format !== f) err(`format respecified: ${q(v)}`);
    format = f;
  };
  const setAccess = (v: string) => {
    if (v === 'r' || v === 'ro') access = 'r';
    else if (v === 'w' || v === 'rw' || v === '') access = 'w';
    else err(`unknown value for access: ${q(v)} (r, ro, w or rw)`);
  };
  // A positional vdev may carry a deprecated type: hdc:cdrom.
  const vdevAndDevtype = (v: string): boolean => {
    const colon = v.lastIndexOf(':');
    if (colon < 0) return false;
    vdev = save('vdev', vdev, v.slice(0, colon));
    const t = v.slice(colon + 1);
    if (t === 'cdrom') cdrom = true;
    else if (t === 'disk') cdrom = false;
    else err(`unknown deprecated type ${q(t)} after vdev`);
    return true;
  };

  let rest = spec;
  for (;;) {
    rest = rest.replace(/^[ \t\n]+/, '');
    if (rest === '') break;
    if (rest.startsWith('target=')) {
      // target= takes the rest of the spec, commas and all.
      let v = rest.slice('target='.length);
      if (v.endsWith(',')) v = v.slice(0, -1);
      target = save('target', target, v);
      break;
    }
    const prefix = /^(raw|qcow2?|vhd|iscsi|e?nbd|drbd|tapdisk|tap2?|aio|ioemu|file|phy):/.exec(rest);
    if (prefix) {
      const p = prefix[1]!;
      if (p === 'raw' || p === 'qcow' || p === 'qcow2' || p === 'vhd') setFormat(p);
      else if (p === 'iscsi' || p === 'nbd' || p === 'enbd' || p === 'drbd') err(`the ${q(p + ':')} prefix selects a block script, which pvsim does not support`);
      hadPrefix = true;
      rest = rest.slice(prefix[0].length);
      continue;
    }
    const comma = rest.indexOf(',');
    const tok = comma < 0 ? rest : rest.slice(0, comma);
    rest = comma < 0 ? '' : rest.slice(comma + 1);

    const named = /^([a-z][-a-z0-9_]*)=(.*)$/s.exec(tok);
    if (named) {
      const k = named[1]!;
      const v = named[2]!;
      if (k === 'format') setFormat(v);
      else if (k === 'vdev') vdev = save('vdev', vdev, v);
      else if (k === 'access') setAccess(v);
      else if (k === 'devtype') {
        if (v === 'cdrom') cdrom = true;
        else if (v === 'disk') cdrom = false;
        else if (v === 'virtio' || v === 'legacy') emulation = v;
        else err(`unknown value for devtype: ${q(v)} (disk, cdrom, or for an hvm domain virtio or legacy)`);
      } else if (k === 'backend') backend = save('backend', backend, v);
      else if (k === 'backendtype') {
        if (!['phy', 'tap', 'qdisk', 'standalone'].includes(v)) err(`unknown value for backendtype: ${q(v)}`);
      } else if (DISK_PARAMS_UNSUPPORTED.has(k)) err(`parameter ${q(k)} is not supported by pvsim`);
      else err(`unknown parameter ${q(k)}`);
      continue;
    }
    if (tok === 'cdrom') {
      cdrom = true;
      continue;
    }
    if (DISK_FLAGS_IGNORED.has(tok)) continue;
    if (tok === 'colo' || tok === 'no-colo') err(`${q(tok)} is not supported by pvsim`);
    if (tok.includes('=')) err(`bad disk syntax near ${q(tok)}`);
    const badPrefix = /^[a-z][a-z0-9]*:(?=[^a-z0-9]|$)/.exec(tok);
    if (badPrefix) err(`unknown deprecated disk prefix ${q(badPrefix[0])}`);

    if (target === undefined) target = tok;
    else if (!hadPrefix && format === undefined) {
      if (target === '' && vdevAndDevtype(tok)) format = 'empty';
      else setFormat(tok);
    } else if (vdev === undefined) {
      if (!vdevAndDevtype(tok)) vdev = tok;
    } else if (!accessSet) {
      accessSet = true;
      setAccess(tok);
    } else err(`too many positional parameters: ${q(tok)}`);
  }

  if (cdrom && emulation) err(`devtype=${emulation} is for a disk: pvsim emulates no cdrom drive`);
  if (cdrom) {
    access = 'r';
    if (!target) format = 'empty';
  }
  if (!vdev) return err('no vdev specified');
  if (!target && !cdrom) return err('no target specified (and device not removable)');
  const fmt = format ?? 'raw';
  if (fmt === 'empty' && target) err('format "empty" is only for a cdrom drive with no target');
  if (fmt !== 'raw' && fmt !== 'empty') err(`format ${q(fmt)} is not supported by pvsim (only raw images)`);
  const diskFormat = fmt as 'raw' | 'empty';
  const devid = vdevToDevid(vdev);
  if (devid === null) return err(`invalid vdev ${q(vdev)} (xvda, xvdb1, hdc, sda, d0p1, ...)`);
  return {
    spec,
    target: target || null,
    targetPath: target ? (isAbsolute(target) ? target : resolve(baseDir, target)) : null,
    format: diskFormat,
    vdev,
    devid,
    access,
    devtype: cdrom ? 'cdrom' : 'disk',
    emulation,
    backend: backend || '0',
  };
}
