// Xen's XenStore layout for split devices, as libxl writes it when it adds one:
//
//   /local/domain/0/backend/<kind>/<domid>/<devid>/    owner dom0, the guest may read
//       frontend, frontend-id, online = 1, state = 1 (Initialising), <kind-specific keys>
//   /local/domain/<domid>/device/<kind>/<devid>/       owner the guest, dom0 may read
//       (device/ and device/<kind>/ likewise, so the guest can list its devices)
//       backend, backend-id = 0, state = 1, <kind-specific keys>

import { xsFail, type XsHandle, type XsResult } from '../xenstore/index.ts';
import { XenbusState } from '../../protocol/xen/xenbus.ts';
import { BLKBACK_KEY, BLKFRONT_KEY } from '../../protocol/xen/blkif.ts';
import { deviceKeysProblem, EMULATION_KEY, type Emulation } from './validate.ts';
import type { XlConfig } from './xlcfg/index.ts';

/** The backend key naming a user device's backend module (xl.cfg vdev's driver=). */
export const USER_DRIVER_KEY = 'driver';

export interface DeviceSpec {
  /** `vbd`, `vif`, or a user backend's type (pvsim/driver). */
  kind: string;
  devid: number;
  /** Keys for the backend directory (e.g. params, mode, mac, bridge). */
  backend: Record<string, string>;
  /** Keys for the frontend directory (e.g. virtual-device, mac, handle). */
  frontend: Record<string, string>;
}

/** The vbd keys libxl writes for a file-backed disk (xl.cfg `disk=['file:<path>,<vdev>,<mode>']`); device-type on both sides. */
export function vbdDevice(d: { devid: number; path: string; access: 'r' | 'w'; vdev: string; devtype?: string; emulation?: Emulation }): DeviceSpec {
  const devtype = d.devtype ?? 'disk';
  return {
    kind: 'vbd',
    devid: d.devid,
    backend: { [BLKBACK_KEY.params]: d.path, [BLKBACK_KEY.mode]: d.access, [BLKBACK_KEY.type]: 'file', dev: d.vdev, [BLKFRONT_KEY.device_type]: devtype, removable: '0', bootable: '1', ...emulationKeys(d.emulation) },
    frontend: { [BLKFRONT_KEY.virtual_device]: String(d.devid), [BLKFRONT_KEY.device_type]: devtype },
  };
}

/**
 * The devices an xl.cfg config asks for, as xl announces them: its disks (not an empty CD-ROM
 * drive), then its vifs. An HVM domain's disk is emulated (virtio, or the legacy disk) and,
 * with xen_platform_pci (the default), also offered as a PV vbd of the same image and device
 * number, as Xen offers an HVM guest's disks both ways (its PV drivers unplug the emulated
 * ones; here the guest simply uses one of them). A vif of type ioemu (an HVM domain's default)
 * is virtio-net and, with the platform, a PV vif with the same MAC; type vif is PV only.
 * Then the devices of user backends (xl.cfg vdev).
 */
export function configDevices(cfg: Pick<XlConfig, 'disks' | 'vifs'> & { vdevs?: XlConfig['vdevs']; type?: XlConfig['type']; xenPlatformPci?: boolean }): DeviceSpec[] {
  const hvm = cfg.type === 'hvm';
  const pvTwins = hvm && cfg.xenPlatformPci !== false;
  const disks = cfg.disks.filter((d) => d.targetPath !== null);
  return [
    ...disks.flatMap((d) => {
      const base = { devid: d.devid, path: d.targetPath!, access: d.access, vdev: d.vdev, devtype: d.devtype };
      if (!d.emulation) return [vbdDevice(base)];
      const emulated = vbdDevice({ ...base, emulation: d.emulation === 'legacy' ? 'ata' : 'virtio' });
      return pvTwins ? [emulated, vbdDevice(base)] : [emulated];
    }),
    ...cfg.vifs.flatMap((v) => {
      const base = { devid: v.devid, mac: v.mac, bridge: v.bridge, ip: v.ip };
      if (!hvm) return [vifDevice({ ...base, type: v.type })];
      if (v.type === 'vif') return [vifDevice({ ...base, type: 'vif' })];
      const emulated = vifDevice({ ...base, type: 'ioemu', emulation: 'virtio' });
      return pvTwins ? [emulated, vifDevice({ ...base, type: 'vif' })] : [emulated];
    }),
    ...(cfg.vdevs ?? []).map((v) => userDevice(v)),
  ];
}

/**
 * A device served by a user backend (xl.cfg vdev): the spec's keys and `driver` (the module's
 * host path, as libxl writes a vif's hotplug `script`) in the backend directory; dom0 loads
 * the module for the type before it announces the device.
 */
export function userDevice(v: { type: string; devid: number; driverPath: string; keys: Record<string, string> }): DeviceSpec {
  return { kind: v.type, devid: v.devid, backend: { ...v.keys, [USER_DRIVER_KEY]: v.driverPath }, frontend: {} };
}

/** An emulated device's backend keys (validate.ts EMULATION_KEY; libxl's for a virtio disk). */
function emulationKeys(e: Emulation | undefined): Record<string, string> {
  if (!e) return {};
  return e === 'virtio' ? { [EMULATION_KEY]: 'virtio', transport: 'mmio' } : { [EMULATION_KEY]: 'ata' };
}

/**
 * The vif keys libxl writes (xl.cfg `vif=['mac=...,bridge=...']`): the backend gets mac,
 * bridge, handle, type and ip if given; the frontend mac and handle. netback reads bridge
 * (default xenbr0); the guest's netfront takes its MAC from the frontend's `mac`.
 */
export function vifDevice(v: { devid: number; mac: string; bridge?: string; type?: string; ip?: string | null; emulation?: 'virtio' }): DeviceSpec {
  return {
    kind: 'vif',
    devid: v.devid,
    backend: { mac: v.mac, bridge: v.bridge ?? 'xenbr0', handle: String(v.devid), type: v.type ?? 'vif', ...(v.ip ? { ip: v.ip } : {}), ...emulationKeys(v.emulation) },
    frontend: { mac: v.mac, handle: String(v.devid) },
  };
}

export function backendPath(kind: string, domid: number, devid: number): string {
  return `/local/domain/0/backend/${kind}/${domid}/${devid}`;
}

/**
 * Where a backend in dom0 reports a device's failure: Linux's xenbus_dev_fatal writes
 * "<errno> <message>" to error/<nodename>/error under its own domain's home, the nodename
 * of a backend being backend/<kind>/<domid>/<devid>.
 */
export function backendErrorPath(kind: string, domid: number, devid: number): string {
  return `/local/domain/0/error/backend/${kind}/${domid}/${devid}`;
}

export function frontendPath(kind: string, domid: number, devid: number): string {
  return `/local/domain/${domid}/device/${kind}/${devid}`;
}

/**
 * Announces a device to both ends (before the domain runs, as libxl does): its backend and
 * frontend directories in one transaction, so a watcher sees the device whole or not at
 * all, and a failure (returned, with `problem` saying why for a refused key) leaves nothing.
 */
export function addDevice(xs: XsHandle, domid: number, d: DeviceSpec): XsResult<void> & { problem?: string } {
  // Keys become path elements: one with "/" or ".." would write outside the device's
  // directories. Checked before anything is written, whoever built the device.
  const bad = deviceKeysProblem(d);
  if (bad) return { ...xsFail('EINVAL'), problem: bad };
  const be = backendPath(d.kind, domid, d.devid);
  const fe = frontendPath(d.kind, domid, d.devid);
  return xs.transaction((tx) => {
    tx.mkdir(be);
    tx.setPerms(be, ['n0', `r${domid}`]);
    tx.mkdir(fe);
    // The guest owns device/ and device/<kind>/ too (libxl makes device/ the domain's), so its
    // frontend drivers can list them to find their devices.
    for (const p of [`/local/domain/${domid}/device`, `/local/domain/${domid}/device/${d.kind}`, fe]) tx.setPerms(p, [`n${domid}`, 'r0']);
    tx.write(`${be}/frontend`, fe);
    tx.write(`${be}/frontend-id`, String(domid));
    tx.write(`${be}/online`, '1');
    for (const [k, v] of Object.entries(d.backend)) tx.write(`${be}/${k}`, v);
    tx.write(`${be}/state`, String(XenbusState.Initialising));
    tx.write(`${fe}/backend`, be);
    tx.write(`${fe}/backend-id`, '0');
    for (const [k, v] of Object.entries(d.frontend)) tx.write(`${fe}/${k}`, v);
    tx.write(`${fe}/state`, String(XenbusState.Initialising));
  });
}

/** The device kinds with backend directories in XenStore (vbd and vif at least). */
function deviceKinds(xs: XsHandle): string[] {
  const r = xs.directory('/local/domain/0/backend');
  return [...new Set(['vbd', 'vif', ...(r.ok ? r.value : [])])];
}

/** libxl's first step of unplugging: `online` = 0 in every backend directory of `domid`. */
export function offlineDevices(xs: XsHandle, domid: number): void {
  for (const kind of deviceKinds(xs)) {
    const ids = xs.directory(`/local/domain/0/backend/${kind}/${domid}`);
    if (!ids.ok) continue; // none of this kind
    for (const id of ids.value) xs.write(`${backendPath(kind, domid, Number(id))}/online`, '0');
  }
}

/** Removes the backend directories of every device of `domid` (after teardown), and their error nodes. */
export function removeDevices(xs: XsHandle, domid: number): void {
  for (const kind of deviceKinds(xs)) {
    // A kind the domain has none of is ENOENT (its parent is missing too): nothing to do.
    for (const dir of [`/local/domain/0/backend/${kind}/${domid}`, `/local/domain/0/error/backend/${kind}/${domid}`]) xs.rm(dir);
  }
}

/**
 * The devices of `domid` whose backend failed (Closed, with an error node), with the
 * reason each gave: what libxl reports when a device does not come up. Read after the
 * backends have acted (Dom0Daemons.settle).
 */
export function failedDevices(xs: XsHandle, domid: number): { kind: string; devid: number; errno: number; message: string; params?: string; vdev?: string }[] {
  const out: { kind: string; devid: number; errno: number; message: string; params?: string; vdev?: string }[] = [];
  const read = (path: string): string | undefined => {
    const r = xs.read(path);
    return r.ok ? r.value : undefined;
  };
  for (const kind of deviceKinds(xs)) {
    const ids = xs.directory(`/local/domain/0/backend/${kind}/${domid}`);
    if (!ids.ok) continue;
    for (const id of ids.value) {
      const be = backendPath(kind, domid, Number(id));
      if (read(`${be}/state`) !== String(XenbusState.Closed)) continue;
      const text = read(`${backendErrorPath(kind, domid, Number(id))}/error`);
      if (text === undefined) continue;
      const m = /^(\d+) ([\s\S]*)$/.exec(text);
      out.push({ kind, devid: Number(id), errno: m ? Number(m[1]) : 5, message: m ? m[2]! : text, params: read(`${be}/params`), vdev: read(`${be}/dev`) });
    }
  }
  return out;
}
