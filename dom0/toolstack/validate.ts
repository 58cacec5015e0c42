// What the toolstack accepts in a create request, whatever sent it: `pvsim xl create`
// (which has checked the same things while parsing xl.cfg) or any other client holding the
// client token. libxl checks a domain config in libxl_domain_create_new before it makes
// anything; this is that check, so a bad request is refused before a domain exists.
// xl.cfg's key rules (xlcfg/keys.ts), and through them a scenario's domains, use the same
// rules for the same fields (the *Problem functions below): one set of limits, one message.

import { deviceTypeProblem } from '../driver/index.ts';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import type { CreateDomain, Device } from '../../protocol/wire.ts';
import { MAX_GUEST_CMDLINE } from '../../protocol/xen/start_info.ts';
import { XEN_LEGACY_MAX_VCPUS } from '../../protocol/xen/shared_info.ts';
import { MAX_KERNEL_BYTES } from '../../xenguest/kernel_file.ts';
import { HVM_BOARD, HVM_MAX_MEMORY_BYTES, HVM_MODES, SHADOW_SYNCS } from '../../xenguest/hvm_image.ts';

export class CreateRequestError extends Error {
  override readonly name = 'CreateRequestError';
}

/** pvsim's bounds (an RV32 guest's memory, shared_info's vcpu_info slots, Xen's credit weight). */
export const CREATE_LIMITS = {
  maxMemoryMiB: 4096,
  maxVcpus: XEN_LEGACY_MAX_VCPUS,
  /** sched_credit.c: weights are 1..65535 (0 in a request means the default, 256). */
  maxWeight: 65535,
  maxNameLength: 64,
  /** Devices of one domain (xl gives each disk and vif one). */
  maxDevices: 64,
  /** Keys in one device's backend or frontend directory. */
  maxDeviceKeys: 32,
  /** One XenStore value the toolstack writes for a device (a disk's path, a MAC...). */
  maxDeviceValueBytes: 1024,
  /** Linux's IFNAMSIZ - 1: a bridge is a host network interface name. */
  maxBridgeName: 15,
} as const;

/** xl.cfg's on_poweroff / on_reboot / on_crash actions (xl.cfg(5)); dom0 acts on each. */
export const XL_ACTIONS = ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset'] as const;
export type XlAction = (typeof XL_ACTIONS)[number];

/** The device kinds dom0 has backends for. */
export const DEVICE_KINDS = ['vbd', 'vif'] as const;

/**
 * Keys the toolstack writes itself in every device directory (devices.ts addDevice): a
 * request may not set them, or its backend could name another domain's frontend.
 */
const BLKFRONT_DEVICE_TYPE = 'device-type';

const RESERVED_DEVICE_KEYS = new Set(['frontend', 'frontend-id', 'backend', 'backend-id', 'online', 'state']);

const NAME_RE = /^[A-Za-z0-9_.-]+$/;
/** One XenStore path element: Xen's path characters less '/' and '@' (docs/misc/xenstore.txt). */
const KEY_RE = /^[A-Za-z0-9_-]{1,64}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const BRIDGE_RE = /^[A-Za-z0-9_.-]+$/;

const q = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);

/** Why `name` cannot name a domain, or null if it can. */
export function domainNameProblem(name: string): string | null {
  if (name.length === 0) return 'a domain needs a name';
  if (name.length > CREATE_LIMITS.maxNameLength || !NAME_RE.test(name)) {
    return `${q(name)} is not a domain name: use 1-${CREATE_LIMITS.maxNameLength} of A-Z a-z 0-9 _ . -`;
  }
  if (/^[0-9]+$/.test(name)) return `${q(name)} is all digits, which xl commands would read as a domid`;
  if (/^\.+$/.test(name)) return `${q(name)} is not a domain name: it is only dots`;
  return null;
}

/**
 * Why `mac` cannot be a NIC's address, or null: six colon-separated lower-case hex octets,
 * not multicast (the group bit, bit 0 of the first octet) and not all zero, which Linux's
 * is_valid_ether_addr refuses as a device address too.
 */
export function macProblem(mac: string): string | null {
  if (!MAC_RE.test(mac)) return `mac ${q(mac)} is not six colon-separated lower-case hex octets, e.g. 00:16:3e:12:34:56`;
  if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0) return `mac ${mac} is a multicast address; a NIC's address must be unicast`;
  if (mac === '00:00:00:00:00:00') return 'mac 00:00:00:00:00:00 is not a valid address';
  return null;
}

/** Why `bridge` cannot name a bridge, or null: a host interface name. */
export function bridgeProblem(bridge: string): string | null {
  if (bridge === '') return 'empty bridge name';
  if (bridge.length > CREATE_LIMITS.maxBridgeName || !BRIDGE_RE.test(bridge) || /^\.+$/.test(bridge)) {
    return `bridge ${q(bridge)} is not an interface name: use 1-${CREATE_LIMITS.maxBridgeName} of A-Z a-z 0-9 _ . -`;
  }
  return null;
}


const isCount = (n: unknown, lo: number, hi: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;

/** The most memory one domain may have: pvsim's bound, or less on a smaller machine. */
export function maxDomainMiB(machineMiB?: number): number {
  return machineMiB === undefined ? CREATE_LIMITS.maxMemoryMiB : Math.min(CREATE_LIMITS.maxMemoryMiB, Math.floor(machineMiB));
}

const rangeNote = (max: number) => (max < CREATE_LIMITS.maxMemoryMiB ? ", the machine's memory" : '');

/** Why `mib` cannot be a domain's memory (xl.cfg memory=), or null. */
export function memoryProblem(mib: number, machineMiB?: number): string | null {
  const max = maxDomainMiB(machineMiB);
  return isCount(mib, 1, max) ? null : `${mib} MiB is out of range (1-${max} MiB${rangeNote(max)})`;
}

/** Why `mib` cannot be a domain's maximum memory (xl.cfg maxmem=) beside `memoryMiB`, or null. */
export function maxmemProblem(mib: number, memoryMiB: number, machineMiB?: number): string | null {
  const max = maxDomainMiB(machineMiB);
  if (!isCount(mib, 1, max)) return `${mib} MiB is out of range (1-${max} MiB${rangeNote(max)})`;
  if (mib < memoryMiB) return `${mib} MiB is below memory = ${memoryMiB} MiB`;
  return null;
}

/** Why `n` cannot be a domain's vCPU count (xl.cfg vcpus= and maxvcpus=), or null. */
export function vcpusProblem(n: number): string | null {
  return isCount(n, 1, CREATE_LIMITS.maxVcpus) ? null : `${n} is out of range (1-${CREATE_LIMITS.maxVcpus})`;
}

/** Why `n` cannot be a credit weight (xl.cfg cpu_weight=), or null. */
export function weightProblem(n: number): string | null {
  return isCount(n, 1, CREATE_LIMITS.maxWeight) ? null : `${n} is out of range (1-${CREATE_LIMITS.maxWeight})`;
}

/** Why `n` cannot be a credit cap (xl.cfg cap=, percent of one pCPU) for `vcpus` vCPUs, or null. */
export function capProblem(n: number, vcpus: number): string | null {
  return isCount(n, 0, 100 * vcpus) ? null : `${n} is out of range (0-${100 * vcpus}, 100 x vcpus; 0 = no cap)`;
}

/** The most pCPUs a machine has (the hypervisor's limit): cpus= names pCPUs 0..maxPcpus-1. */
export const MAX_PCPUS = 256;

/**
 * xl.cfg's cpus= / cpus_soft= (xl.cfg(5) "CPU Allocation"): "all", or a comma list of pCPUs
 * "N", ranges "M-N" and exclusions "^N" / "^M-N". Returns the pCPUs ascending, null for
 * "all", or a string saying what is wrong. (xl's "nodes:" form needs NUMA: not here.)
 */
export function parseCpuList(text: string): readonly number[] | null | string {
  const t = text.trim();
  if (t === 'all') return null;
  if (t === '') return 'expected "all" or a list of pCPUs like "0-3,^2"';
  const set = new Set<number>();
  let included = false;
  for (const part of t.split(',')) {
    const m = /^\s*(\^?)(\d{1,3})(?:-(\d{1,3}))?\s*$/.exec(part);
    if (!m) return `${q(part.trim())} is not a pCPU, a range M-N or an exclusion ^N`;
    const lo = Number(m[2]);
    const hi = m[3] === undefined ? lo : Number(m[3]);
    if (hi < lo) return `range ${lo}-${hi} is empty`;
    if (hi >= MAX_PCPUS) return `pCPU ${hi} is out of range (0-${MAX_PCPUS - 1})`;
    for (let c = lo; c <= hi; c++) {
      if (m[1]) set.delete(c);
      else set.add(c);
    }
    if (!m[1]) included = true;
  }
  if (!included) return 'names no pCPU to include (only exclusions)';
  if (set.size === 0) return 'excludes every pCPU it names';
  return [...set].sort((a, b) => a - b);
}

/** Why `cpus` (pCPU numbers) cannot be an affinity on a machine of `nrPcpus` pCPUs, or null. */
export function affinityProblem(cpus: readonly number[], nrPcpus = MAX_PCPUS): string | null {
  if (cpus.length === 0) return 'names no pCPU';
  const bad = cpus.find((c) => !Number.isInteger(c) || c < 0 || c >= nrPcpus);
  return bad === undefined ? null : `pCPU ${bad} does not exist (the machine has ${nrPcpus}: 0-${nrPcpus - 1})`;
}

/** Why `cmdline` cannot be a guest's command line (it must fit start_info.cmd_line), or null. */
export function cmdlineProblem(cmdline: string): string | null {
  const bytes = Buffer.byteLength(cmdline, 'utf8');
  if (bytes >= MAX_GUEST_CMDLINE) return `the command line is ${bytes} bytes; start_info holds at most ${MAX_GUEST_CMDLINE - 1}`;
  if (cmdline.includes('\0')) return 'the command line contains a NUL character';
  return null;
}

/** Domain types a create request may ask for (xl.cfg type=); pvh is xl's but not pvsim's. */
export const DOMAIN_TYPES = ['pv', 'hvm'] as const;

/** Why `t` cannot be a domain's type, or null. */
export function domainTypeProblem(t: string): string | null {
  if ((DOMAIN_TYPES as readonly string[]).includes(t)) return null;
  if (t === 'pvh') return 'type "pvh" is not supported (use "pv", or "hvm" for an unmodified kernel)';
  return `unknown type ${q(t)}; expected one of ${DOMAIN_TYPES.join(', ')}`;
}

/** Why `m` cannot be an HVM domain's hvm_mode ("trap" or "hw"), or null. */
export function hvmModeProblem(m: string): string | null {
  if (!(HVM_MODES as readonly string[]).includes(m)) return `unknown hvm_mode ${q(m)}; expected one of ${HVM_MODES.join(', ')}`;
  return null;
}

/**
 * pvsim's CPU engines (xl.cfg cpu_engine): hypervisor/cpu/engines.ts's ENGINE_KINDS, which
 * dom0 may not import (layers); tests/xlcfg.test.ts checks the two lists agree.
 */
export const CPU_ENGINES = ['interp', 'jit'] as const;

/** Why `s` cannot be a domain's cpu_engine, or null. */
export function cpuEngineProblem(s: string): string | null {
  return (CPU_ENGINES as readonly string[]).includes(s) ? null : `unknown cpu_engine ${q(s)}; expected one of ${CPU_ENGINES.join(', ')}`;
}

/** Why `s` cannot be an HVM domain's shadow_sync, or null. */
export function shadowSyncProblem(s: string): string | null {
  return (SHADOW_SYNCS as readonly string[]).includes(s) ? null : `unknown shadow_sync ${q(s)}; expected one of ${SHADOW_SYNCS.join(', ')}`;
}

/** Why `mib` cannot be an HVM domain's memory (RAM from 0x80000000 must end below 4 GiB), or null. */
export function hvmMemoryProblem(mib: number): string | null {
  const max = HVM_MAX_MEMORY_BYTES / 2 ** 20;
  return mib <= max ? null : `${mib} MiB does not fit an HVM domain: its RAM starts at 0x80000000, so at most ${max} MiB`;
}

/**
 * The backend key that marks a device as emulated by dom0's device model for an HVM domain
 * rather than served to a PV frontend: `specification` = "virtio" (with `transport` = "mmio",
 * the keys libxl writes for a virtio disk) or "ata" (pvsim's legacy disk). Absent: PV.
 */
export const EMULATION_KEY = 'specification';
export const EMULATIONS = ['virtio', 'ata'] as const;
export type Emulation = (typeof EMULATIONS)[number];

/** How a device is emulated (its backend's `specification`), or null for a PV device. */
export function deviceEmulation(dev: { backend?: Record<string, string> }): Emulation | null {
  const v = dev.backend?.[EMULATION_KEY];
  return v === 'virtio' || v === 'ata' ? v : null;
}

/**
 * Why an HVM domain cannot have `virtio` virtio devices (disks and NICs, one slot each) and
 * `legacy` legacy disks, or null: the board has HVM_BOARD.virtio.count slots and one ATA disk.
 */
export function hvmDeviceCountProblem(virtio: number, legacy: number): string | null {
  const slots = HVM_BOARD.virtio.count;
  if (virtio > slots) return `${virtio} virtio devices (disks and vifs); the board has ${slots} virtio-mmio slots`;
  if (legacy > 1) return `${legacy} legacy disks; the board has one ATA disk`;
  return null;
}

/** Why `a` is not an on_poweroff / on_reboot / on_crash action, or null. */
export function actionProblem(a: string): string | null {
  return (XL_ACTIONS as readonly string[]).includes(a) ? null : `unknown action ${q(a)}; expected one of ${XL_ACTIONS.join(', ')}`;
}

function validateDevice(dev: Device, i: number): void {
  const where = `device ${i}`;
  const fail = (msg: string): never => {
    throw new CreateRequestError(`${where}: ${msg}`);
  };
  if (!(DEVICE_KINDS as readonly string[]).includes(dev.kind)) {
    // Any other kind is a user backend's device type (xl.cfg vdev): it names its module.
    const bad = typeof dev.kind === 'string' ? deviceTypeProblem(dev.kind) : 'not a string';
    if (bad) fail(`unknown device kind ${q(String(dev.kind))} (known: ${DEVICE_KINDS.join(', ')}, or a user backend's type: ${bad})`);
    const driver = dev.backend?.driver;
    if (typeof driver !== 'string' || !isAbsolute(driver)) fail(`device kind ${q(dev.kind)} is served by a user backend: its backend key driver must be the module's absolute path`);
  }
  const spec = dev.backend?.[EMULATION_KEY];
  if (spec !== undefined) {
    if (!(EMULATIONS as readonly string[]).includes(spec)) fail(`backend key ${EMULATION_KEY} ${q(spec)}: expected one of ${EMULATIONS.join(', ')}`);
    if (spec === 'ata' && dev.kind !== 'vbd') fail(`${EMULATION_KEY} "ata" is a disk's (this is a ${dev.kind})`);
    if (spec === 'ata' && dev.backend[BLKFRONT_DEVICE_TYPE] === 'cdrom') fail('the legacy disk cannot be a cdrom');
    if (spec === 'virtio' && dev.backend.transport !== undefined && dev.backend.transport !== 'mmio') fail(`backend key transport ${q(dev.backend.transport)}: virtio devices use "mmio"`);
  }
  if (!isCount(dev.devid, 0, 0x7fffffff)) fail(`devid ${dev.devid} is out of range (0-${0x7fffffff})`);
  const dirs = { backend: dev.backend ?? {}, frontend: dev.frontend ?? {} };
  for (const [side, keys] of Object.entries(dirs)) {
    const entries = Object.entries(keys);
    if (entries.length > CREATE_LIMITS.maxDeviceKeys) fail(`${entries.length} ${side} keys; at most ${CREATE_LIMITS.maxDeviceKeys}`);
    for (const [k, v] of entries) {
      if (!KEY_RE.test(k)) fail(`${side} key ${q(k)} is not a XenStore name (1-64 of A-Z a-z 0-9 _ -; no "/", no "..")`);
      if (RESERVED_DEVICE_KEYS.has(k)) fail(`${side} key ${q(k)} is written by the toolstack itself`);
      if (typeof v !== 'string') fail(`${side} key ${k}: the value must be a string`);
      if (Buffer.byteLength(v, 'utf8') > CREATE_LIMITS.maxDeviceValueBytes) fail(`${side} key ${k}: the value is longer than ${CREATE_LIMITS.maxDeviceValueBytes} bytes`);
      if (v.includes('\0')) fail(`${side} key ${k}: the value contains a NUL character`);
    }
  }
  const be = dirs.backend;
  const fe = dirs.frontend;
  if (dev.kind === 'vbd') {
    const params = be.params;
    if (params === undefined || params === '') fail('a vbd needs backend key params (the image file)');
    if (!isAbsolute(params!)) fail(`params ${q(params!)} is not an absolute path`);
    if (be.mode !== 'r' && be.mode !== 'w') fail(`backend key mode must be "r" or "w", got ${q(String(be.mode))}`);
    for (const k of ['virtual-device', 'handle'] as const) if (fe[k] !== undefined && !/^[0-9]{1,10}$/.test(fe[k]!)) fail(`frontend key ${k} must be a device number, got ${q(fe[k]!)}`);
  } else if (dev.kind === 'vif') {
    for (const side of ['backend', 'frontend'] as const) {
      const mac = dirs[side].mac;
      if (mac === undefined) fail(`a vif needs ${side} key mac`);
      const p = macProblem(mac!);
      if (p) fail(p);
    }
    if (be.mac !== fe.mac) fail(`backend mac ${be.mac} and frontend mac ${fe.mac} differ`);
    if (be.bridge !== undefined) {
      const p = bridgeProblem(be.bridge);
      if (p) fail(p);
    }
    if (be.ip !== undefined) for (const a of be.ip.split(/\s+/).filter(Boolean)) if (isIP(a) === 0) fail(`ip ${q(a)} is not an IPv4 or IPv6 address`);
    for (const k of ['handle'] as const) {
      for (const side of ['backend', 'frontend'] as const) {
        const v = dirs[side][k];
        if (v !== undefined && !/^[0-9]{1,10}$/.test(v)) fail(`${side} key ${k} must be a device number, got ${q(v)}`);
      }
    }
  }
}

/**
 * Checks a create request; throws CreateRequestError saying what is wrong. `machineMiB` is
 * the machine's memory: no domain can have more.
 */
export function validateCreateDomain(c: CreateDomain, machineMiB: number): void {
  const fail = (msg: string): never => {
    throw new CreateRequestError(msg);
  };
  const nameP = domainNameProblem(typeof c.name === 'string' ? c.name : '');
  if (nameP) fail(`name: ${nameP}`);
  if (!(c.kernel instanceof Uint8Array) || c.kernel.length === 0) fail('kernel: the request carries no kernel image');
  if (c.kernel.length > MAX_KERNEL_BYTES) fail(`kernel: ${c.kernel.length} bytes is larger than ${MAX_KERNEL_BYTES >> 20} MiB, the largest kernel pvsim loads`);
  const check = (key: string, problem: string | null) => {
    if (problem) fail(`${key}: ${problem}`);
  };
  check('cmdline', cmdlineProblem(c.cmdline ?? ''));
  check('memory', memoryProblem(c.memoryMib, machineMiB));
  // maxmem 0 (unset in the request) means the same as memory, as in xl.
  if (c.maxmemMib) check('maxmem', maxmemProblem(c.maxmemMib, c.memoryMib, machineMiB));
  const vcpus = c.vcpus || 1;
  check('vcpus', vcpusProblem(vcpus));
  // 0 means the scheduler's default weight, as an unset cpu_weight does.
  if (c.weight) check('weight', weightProblem(c.weight));
  if (c.cap) check('cap', capProblem(c.cap, vcpus));
  // Empty: no affinity given (all pCPUs; no preference). The machine's pCPU count is the
  // hypervisor's to check; here the range every machine shares.
  if (c.cpus?.length) check('cpus', affinityProblem(c.cpus));
  if (c.cpusSoft?.length) check('cpus_soft', affinityProblem(c.cpusSoft));
  for (const [key, v] of [['on_poweroff', c.onPoweroff], ['on_reboot', c.onReboot], ['on_crash', c.onCrash]] as const) {
    if (v) check(key, actionProblem(v));
  }
  if (c.cpuEngine) check('cpu_engine', cpuEngineProblem(c.cpuEngine));
  // An empty type is pv (older clients); hvm_mode and shadow_sync belong to hvm domains.
  const type = c.type || 'pv';
  check('type', domainTypeProblem(type));
  if (type === 'hvm') {
    check('hvm_mode', hvmModeProblem(c.hvmMode || 'trap'));
    check('shadow_sync', shadowSyncProblem(c.shadowSync || 'wp'));
    check('memory', hvmMemoryProblem(c.memoryMib));
    // Its disks and vifs are emulated by dom0's device model, or PV (blkfront, netfront
    // through Xen's platform: PVHVM), which xen_platform_pci = 0 takes away.
    let virtio = 0;
    let legacy = 0;
    (c.devices ?? []).forEach((dev, i) => {
      const e = deviceEmulation(dev);
      if (e === null) {
        if (c.noXenPlatform) fail(`device ${i}: a PV ${dev.kind} of an hvm domain needs xen_platform_pci (this one has it off); emulate it (backend key ${EMULATION_KEY} = virtio, or ata for the legacy disk)`);
      } else if (e === 'virtio') virtio++;
      else legacy++;
    });
    check('devices', hvmDeviceCountProblem(virtio, legacy));
  } else {
    (c.devices ?? []).forEach((dev, i) => {
      if (dev.backend?.[EMULATION_KEY] !== undefined) fail(`device ${i}: backend key ${EMULATION_KEY} (an emulated device) applies to type "hvm" domains only (this one is ${q(type)})`);
    });
    if (c.hvmMode) fail(`hvm_mode: applies to type "hvm" domains only (this one is ${q(type)})`);
    if (c.shadowSync) fail(`shadow_sync: applies to type "hvm" domains only (this one is ${q(type)})`);
    if (c.noXenPlatform) fail(`xen_platform_pci: applies to type "hvm" domains only (this one is ${q(type)})`);
  }

  const devices = c.devices ?? [];
  if (devices.length > CREATE_LIMITS.maxDevices) fail(`${devices.length} devices; a domain may have at most ${CREATE_LIMITS.maxDevices}`);
  const seen = new Map<string, number>();
  devices.forEach((dev, i) => {
    validateDevice(dev, i);
    // An HVM domain's disk or vif may be both emulated and PV (its twin, same number).
    const id = `${dev.kind} ${dev.devid}${deviceEmulation(dev) ? ' (emulated)' : ''}`;
    const other = seen.get(id);
    if (other !== undefined) fail(`device ${i}: ${id} is already device ${other}`);
    seen.set(id, i);
  });
  const macs = new Map<string, number>();
  devices.forEach((dev, i) => {
    if (dev.kind !== 'vif') return;
    // An emulated NIC shares its mac with its PV twin only (two of either kind may not).
    const key = `${dev.backend.mac!}${deviceEmulation(dev) ? ' emulated' : ''}`;
    const other = macs.get(key);
    if (other !== undefined) fail(`device ${i}: mac ${dev.backend.mac} is already used by device ${other}`);
    macs.set(key, i);
  });
}

/**
 * Why a device's directory keys cannot be written under its XenStore directories, or null:
 * the last check before devices.ts writes them, whoever built the device (a scenario too).
 */
export function deviceKeysProblem(dev: { kind: string; backend: Record<string, string>; frontend: Record<string, string> }): string | null {
  for (const [side, keys] of [['backend', dev.backend], ['frontend', dev.frontend]] as const) {
    for (const k of Object.keys(keys)) {
      if (!KEY_RE.test(k)) return `${dev.kind} ${side} key ${q(k)} is not a XenStore name (1-64 of A-Z a-z 0-9 _ -; no "/", no "..")`;
      if (RESERVED_DEVICE_KEYS.has(k)) return `${dev.kind} ${side} key ${q(k)} is written by the toolstack itself`;
    }
  }
  return null;
}
