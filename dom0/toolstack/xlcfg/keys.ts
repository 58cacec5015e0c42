// xl.cfg(5)'s keys as pvsim implements them (a subset of xl's; any other key is an error,
// where xl would silently ignore it), with xl's defaults: settings (syntax.ts) in, an
// XlConfig out. The limits and messages are the toolstack's (validate.ts: the *Problem
// functions), so a value xl.cfg accepts is one a create request may carry, and a scenario's
// domains (sim's schema), which are xl.cfg settings too, are checked by this same code.
//
// Every error is an XlCfgError whose message names the file and line, and the key where
// there is one:  guest.cfg:7: memory: expected an integer number of MiB, got "lots".
// See docs/xl.md.

import { dirname, isAbsolute, resolve } from 'node:path';
import {
  actionProblem,
  capProblem,
  cmdlineProblem,
  CREATE_LIMITS,
  hvmDeviceCountProblem,
  hvmMemoryProblem,
  hvmModeProblem,
  shadowSyncProblem,
  cpuEngineProblem,
  domainNameProblem,
  maxmemProblem,
  memoryProblem,
  vcpusProblem,
  weightProblem,
  parseCpuList,
  XL_ACTIONS,
  type XlAction,
} from '../validate.ts';
import { parseCLong, q, XlCfgError, XlSpecError, type XlCfgSettings, type XlSetting, type XlValue } from './syntax.ts';
import { parseDiskSpec, type XlDisk } from './disk.ts';
import { parseVifSpec, VIF_DEFAULTS, type XlDomainType, type XlVif } from './vif.ts';
import { parseVdevSpec, type XlVdev } from './vdev.ts';
import type { HvmMode, ShadowSync } from '../../../xenguest/hvm_image.ts';

/** What to do when the domain shuts down for a given reason (xl.cfg's on_* keys); the toolstack checks the same list. */
export { XL_ACTIONS, type XlAction };

export interface XlConfig {
  file: string;
  name: string;
  type: XlDomainType;
  /** For type = "hvm": how the CPU is virtualized and how shadow page tables follow the guest's. */
  hvmMode: HvmMode;
  shadowSync: ShadowSync;
  /** cpu_engine (pvsim's key): "interp" or "jit" runs its vCPUs; null = the machine's engine. */
  cpuEngine: string | null;
  /**
   * xen_platform_pci (type = "hvm"; default 1, as Xen's): the guest is offered Xen's PV
   * interfaces (the /hypervisor node) and PV twins of its disks and ioemu vifs. 0: neither.
   */
  xenPlatformPci: boolean;
  /** The kernel as written and resolved against the cfg file's directory; null only for hvm. */
  kernel: string | null;
  kernelPath: string | null;
  memoryMiB: number;
  maxmemMiB: number;
  vcpus: number;
  maxvcpus: number;
  /** The kernel command line: cmdline, or else root= and extra combined as xl does. */
  cmdline: string;
  /** Credit scheduler weight (xl.cfg's cpu_weight) and cap (percent of one pCPU, 0 = none). */
  weight: number;
  cap: number;
  /** cpus= and cpus_soft=: hard and soft affinity, pCPUs ascending; null = all / no preference. */
  cpus: readonly number[] | null;
  cpusSoft: readonly number[] | null;
  /** pool=: the cpupool to create the domain in; null = Pool-0. */
  pool: string | null;
  disks: XlDisk[];
  vifs: XlVif[];
  /** Devices served by user backends (pvsim/driver), xlcfg/vdev.ts. */
  vdevs: XlVdev[];
  onPoweroff: XlAction;
  onReboot: XlAction;
  onCrash: XlAction;
  onWatchdog: XlAction;
  onSoftReset: XlAction;
  /** Lower-case canonical form, or null when the config gives none. */
  uuid: string | null;
  /** What xl would warn about (the config is still used). */
  warnings: string[];
}

export const XL_DEFAULTS = {
  type: 'pv' as XlDomainType,
  hvmMode: 'trap' as HvmMode,
  shadowSync: 'wp' as ShadowSync,
  /** libxl's default when neither memory nor maxmem is given. */
  memoryMiB: 32,
  vcpus: 1,
  weight: 256,
  cap: 0,
  onPoweroff: 'destroy' as XlAction,
  onReboot: 'restart' as XlAction,
  onCrash: 'destroy' as XlAction,
  onWatchdog: 'destroy' as XlAction,
  onSoftReset: 'soft-reset' as XlAction,
  bridge: VIF_DEFAULTS.bridge,
  nicModel: VIF_DEFAULTS.nicModel,
} as const;

/** pvsim's limits: the toolstack's (validate.ts), which every create request is held to. */
export const XL_LIMITS = CREATE_LIMITS;

export const XL_KEYS = [
  'name',
  'type',
  'uuid',
  'kernel',
  'memory',
  'maxmem',
  'vcpus',
  'maxvcpus',
  'cmdline',
  'root',
  'extra',
  'cpu_weight',
  'cap',
  'cpus',
  'cpus_soft',
  'pool',
  'disk',
  'vif',
  'vdev',
  'on_poweroff',
  'on_reboot',
  'on_crash',
  'on_watchdog',
  'on_soft_reset',
  'hvm_mode',
  'shadow_sync',
  'xen_platform_pci',
  'cpu_engine',
] as const;

/** Keys of xl.cfg(5) that pvsim does not implement: named as such rather than "unknown". */
const XL_ONLY_KEYS = new Set([
  'builder', 'ramdisk', 'bootloader', 'bootloader_args', 'firmware', 'device_tree', 'pool',
  'seclabel', 'init_seclabel', 'max_grant_frames', 'max_maptrack_frames', 'max_event_channels', 'e820_host',
  'driver_domain', 'nomigrate', 'pci', 'dtdev', 'vfb', 'vkb', 'vtpm', 'p9', 'pvcalls', 'vdispl', 'vsnd', 'channel',
  'usbctrl', 'usbdev', 'vif2', 'period', 'slice', 'latency', 'extratime', 'vnuma', 'hap', 'oos', 'acpi', 'apic',
  'pae', 'nx', 'hpet', 'viridian', 'serial', 'vnc', 'sdl', 'boot', 'localtime', 'rtc_timeoffset', 'tsc_mode',
  'shadow_memory', 'videoram', 'device_model_version', 'device_model_override', 'stdvga', 'vga', 'nestedhvm',
  'altp2m', 'vpmu', 'claim_mode', 'passthrough', 'gic_version', 'vuart', 'on_watchdog_action',
]);

/** Names people reach for that xl spells differently. */
const KEY_HINTS: Record<string, string> = { weight: 'cpu_weight', cpu_cap: 'cap', mem: 'memory', maxmemory: 'maxmem', maxcpus: 'maxvcpus' };

/** Edit distance with adjacent transpositions (memroy -> memory is 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function unknownKeyMessage(key: string): string {
  if (XL_ONLY_KEYS.has(key)) return `key ${q(key)} is an xl.cfg key that pvsim does not support`;
  const hint = KEY_HINTS[key];
  if (hint) return `unknown key ${q(key)} (xl.cfg calls it ${q(hint)})`;
  let best: string | null = null;
  let bestD = 3;
  for (const k of XL_KEYS) {
    const dist = editDistance(key, k);
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  return best ? `unknown key ${q(key)} (did you mean ${q(best)}?)` : `unknown key ${q(key)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where a config's relative paths resolve, and the machine it is for. */
export interface XlKeyOptions {
  /** Relative kernel and disk paths resolve against this; the cfg file's directory by default. */
  baseDir?: string;
  /** The machine's memory: no domain can have more (the toolstack checks the same). */
  machineMiB?: number;
}

/**
 * Interprets parsed settings as pvsim's xl.cfg keys. `file` names the source in errors (and
 * anchors relative paths unless opts.baseDir says otherwise).
 */
export function xlConfigFromSettings({ assignments, settings }: XlCfgSettings, file: string, opts: XlKeyOptions = {}): XlConfig {
  for (const a of assignments) {
    if (!(XL_KEYS as readonly string[]).includes(a.key)) throw new XlCfgError(file, a.line, null, unknownKeyMessage(a.key));
  }
  const baseDir = opts.baseDir ?? dirname(file);
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  for (const a of assignments) {
    const first = seen.get(a.key);
    if (first !== undefined && a.op === '=') warnings.push(`${file}:${a.line}: ${a.key} is set again (first on line ${first}); the last setting wins`);
    if (first === undefined) seen.set(a.key, a.line);
  }
  const fail = (s: XlSetting, msg: string): never => {
    throw new XlCfgError(file, s.line, s.key, msg);
  };

  const atom = (key: string): { s: XlSetting; text: string } | null => {
    const s = settings.get(key);
    if (!s) return null;
    if (s.value.kind !== 'string') fail(s, 'expected a single value, not a list');
    return { s, text: (s.value as { text: string }).text };
  };
  const integer = (key: string, what: string): { s: XlSetting; n: number } | null => {
    const a = atom(key);
    if (!a) return null;
    if (a.s.op === '+=') fail(a.s, `"+=" cannot be used with a number`);
    const n = parseCLong(a.text);
    if (n === null) fail(a.s, `expected ${what}, got ${q(a.text)}`);
    return { s: a.s, n: n! };
  };
  // The toolstack's rule for the same field (validate.ts), under this key and line.
  const check = (s: XlSetting, problem: string | null) => {
    if (problem) fail(s, problem);
  };

  const typeA = atom('type');
  let type: XlDomainType = XL_DEFAULTS.type;
  if (typeA) {
    if (typeA.text !== 'pv' && typeA.text !== 'pvh' && typeA.text !== 'hvm') fail(typeA.s, `expected "pv", "pvh" or "hvm", got ${q(typeA.text)}`);
    type = typeA.text as XlDomainType;
  }
  // hvm_mode and shadow_sync: an HVM domain's; the toolstack's rules (validate.ts).
  const hvmModeA = atom('hvm_mode');
  const shadowSyncA = atom('shadow_sync');
  for (const a of [hvmModeA, shadowSyncA]) if (a && type !== 'hvm') fail(a.s, `applies to type = "hvm" domains only (this one is ${q(type)})`);
  if (hvmModeA) check(hvmModeA.s, hvmModeProblem(hvmModeA.text));
  if (shadowSyncA) check(shadowSyncA.s, shadowSyncProblem(shadowSyncA.text));
  // cpu_engine: any domain type; which engine runs its vCPUs (identical results, speed differs).
  const cpuEngineA = atom('cpu_engine');
  if (cpuEngineA) check(cpuEngineA.s, cpuEngineProblem(cpuEngineA.text));
  // xen_platform_pci: a boolean as xl reads one (an integer, non-zero = true); HVM only.
  const platformV = integer('xen_platform_pci', 'a boolean (0 or 1)');
  if (platformV && type !== 'hvm') fail(platformV.s, `applies to type = "hvm" domains only (a ${type} domain always talks to Xen)`);
  const xenPlatformPci = platformV ? platformV.n !== 0 : true;

  const nameA = atom('name');
  if (!nameA) throw new XlCfgError(file, null, null, 'missing required key "name" (every domain needs a name)');
  // The toolstack applies the same rule to every request (validate.ts).
  const nameProblem = domainNameProblem(nameA.text);
  if (nameProblem) fail(nameA.s, nameProblem);
  const name = nameA.text;

  const uuidA = atom('uuid');
  if (uuidA && !UUID_RE.test(uuidA.text)) fail(uuidA.s, `expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got ${q(uuidA.text)}`);

  const kernelA = atom('kernel');
  if (kernelA && kernelA.text === '') fail(kernelA.s, 'empty path');
  if (!kernelA) throw new XlCfgError(file, null, null, `missing required key "kernel" (a ${type} domain boots a kernel image${type === 'hvm' ? ' loaded at its physical addresses: pvsim has no firmware or bootloader' : ''})`);
  const resolvePath = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

  const memory = integer('memory', 'an integer number of MiB');
  if (memory) check(memory.s, memoryProblem(memory.n, opts.machineMiB));
  if (memory && type === 'hvm') check(memory.s, hvmMemoryProblem(memory.n));
  const maxmem = integer('maxmem', 'an integer number of MiB');
  const memoryMiB = memory?.n ?? maxmem?.n ?? XL_DEFAULTS.memoryMiB;
  if (maxmem) check(maxmem.s, maxmemProblem(maxmem.n, memoryMiB, opts.machineMiB));

  const vcpusV = integer('vcpus', 'an integer number of vCPUs');
  if (vcpusV) check(vcpusV.s, vcpusProblem(vcpusV.n));
  const vcpus = vcpusV?.n ?? XL_DEFAULTS.vcpus;
  const maxvcpusV = integer('maxvcpus', 'an integer number of vCPUs');
  if (maxvcpusV) {
    check(maxvcpusV.s, vcpusProblem(maxvcpusV.n));
    if (maxvcpusV.n < vcpus) fail(maxvcpusV.s, `${maxvcpusV.n} is below vcpus = ${vcpus}`);
  }
  const maxvcpus = maxvcpusV?.n ?? vcpus;

  const weightV = integer('cpu_weight', 'an integer weight (1-65535)');
  if (weightV) check(weightV.s, weightProblem(weightV.n));
  const capV = integer('cap', 'an integer percentage of one pCPU (0 = no cap)');
  // Against vcpus, as the toolstack checks the request xl sends (which carries no maxvcpus).
  if (capV) check(capV.s, capProblem(capV.n, vcpus));

  // cpus= / cpus_soft=: one mask for every vCPU (xl's per-vCPU list form is not taken).
  const cpuList = (key: string): readonly number[] | null => {
    const st = settings.get(key);
    if (!st) return null;
    if (st.value.kind !== 'string') fail(st, 'expected one pCPU list for every vCPU, e.g. "0-3,^2" (the per-vCPU list form is not supported)');
    const r = parseCpuList((st.value as { text: string }).text);
    if (typeof r === 'string') fail(st, r);
    return r as readonly number[] | null;
  };
  const cpus = cpuList('cpus');
  const cpusSoft = cpuList('cpus_soft');
  // pool=: a cpupool name; whether it exists is the hypervisor's to say at create time.
  const poolA = atom('pool');
  if (poolA && !/^[A-Za-z0-9_.-]{1,64}$/.test(poolA.text)) fail(poolA.s, `"${poolA.text}" is not a cpupool name (1-64 of A-Z a-z 0-9 _ . -)`);

  // xl: cmdline wins; otherwise "root=<root> <extra>", "root=<root>" or extra alone.
  const cmdlineA = atom('cmdline');
  const rootA = atom('root');
  const extraA = atom('extra');
  let cmdline = '';
  let cmdlineFrom: XlSetting | undefined;
  if (cmdlineA) {
    cmdline = cmdlineA.text;
    cmdlineFrom = cmdlineA.s;
    if (rootA || extraA) warnings.push(`${file}:${cmdlineA.s.line}: ignoring root= and extra= in favour of cmdline=`);
  } else if (rootA && extraA) {
    cmdline = `root=${rootA.text} ${extraA.text}`;
    cmdlineFrom = extraA.s;
  } else if (rootA) {
    cmdline = `root=${rootA.text}`;
    cmdlineFrom = rootA.s;
  } else if (extraA) {
    cmdline = extraA.text;
    cmdlineFrom = extraA.s;
  }
  if (cmdlineFrom) check(cmdlineFrom, cmdlineProblem(cmdline));

  const action = (key: string, dflt: XlAction): XlAction => {
    const a = atom(key);
    if (!a) return dflt;
    check(a.s, actionProblem(a.text));
    return a.text as XlAction;
  };

  const specList = (key: string, example: string): { s: XlSetting; items: { text: string; line: number }[] } | null => {
    const s = settings.get(key);
    if (!s) return null;
    if (s.value.kind !== 'list') fail(s, `expected a list of specs, e.g. ${key} = [ ${example} ]`);
    const items = (s.value as { items: XlValue[] }).items.map((v, i) => {
      if (v.kind !== 'string') throw new XlCfgError(file, v.line, `${key}[${i}]`, 'expected a string, not a list');
      return { text: v.text, line: v.line };
    });
    return { s, items };
  };

  const disks: XlDisk[] = [];
  for (const [i, item] of (specList('disk', `'disk.img,raw,xvda,rw'`)?.items ?? []).entries()) {
    const key = `disk[${i}]`;
    let d: Omit<XlDisk, 'line'>;
    try {
      d = parseDiskSpec(item.text, baseDir);
    } catch (e) {
      if (e instanceof XlSpecError) throw new XlCfgError(file, item.line, key, `${e.message} (in ${q(item.text)})`);
      throw e;
    }
    const clash = disks.findIndex((o) => o.devid === d.devid);
    if (clash >= 0) throw new XlCfgError(file, item.line, key, `vdev ${d.vdev} (device ${d.devid}) is already used by disk[${clash}]`);
    disks.push({ ...d, line: item.line });
  }

  const vifs: XlVif[] = [];
  for (const [i, item] of (specList('vif', `'bridge=xenbr0'`)?.items ?? []).entries()) {
    const key = `vif[${i}]`;
    let v: Omit<XlVif, 'line'>;
    try {
      v = parseVifSpec(item.text, { domainName: name, devid: i, domainType: type });
    } catch (e) {
      if (e instanceof XlSpecError) throw new XlCfgError(file, item.line, key, `${e.message} (in ${q(item.text)})`);
      throw e;
    }
    const clash = vifs.findIndex((o) => o.mac === v.mac);
    if (clash >= 0) throw new XlCfgError(file, item.line, key, `mac ${v.mac} is already used by vif[${clash}]`);
    vifs.push({ ...v, line: item.line });
  }

  const vdevs: XlVdev[] = [];
  for (const [i, item] of (specList('vdev', `'type=echo,driver=./echodev.ts'`)?.items ?? []).entries()) {
    const key = `vdev[${i}]`;
    let v: Omit<XlVdev, 'line'>;
    try {
      const p = parseVdevSpec(item.text, { baseDir });
      // Without devid=, a type's devices are numbered in order (as xl numbers vifs).
      v = { ...p, devid: p.devid ?? vdevs.filter((o) => o.type === p.type).length };
    } catch (e) {
      if (e instanceof XlSpecError) throw new XlCfgError(file, item.line, key, `${e.message} (in ${q(item.text)})`);
      throw e;
    }
    const clash = vdevs.findIndex((o) => o.type === v.type && o.devid === v.devid);
    if (clash >= 0) throw new XlCfgError(file, item.line, key, `${v.type} device ${v.devid} is already vdev[${clash}]`);
    const other = vdevs.find((o) => o.type === v.type && o.driverPath !== v.driverPath);
    if (other) throw new XlCfgError(file, item.line, key, `type ${v.type} is served by ${other.driverPath} already; one driver per type`);
    vdevs.push({ ...v, line: item.line });
  }

  // Emulated devices: an HVM domain's disks are virtio unless devtype=legacy says the ATA
  // disk, its vifs virtio-net (type=ioemu, the default) or PV only (type=vif); with
  // xen_platform_pci (the default) each disk and ioemu vif is also offered as its PV twin
  // (devices.ts configDevices). A PV domain's are PV (blkfront, netfront) and take neither.
  let virtio = 0;
  let legacy = 0;
  for (const [i, d] of disks.entries()) {
    if (type !== 'hvm') {
      if (d.emulation) throw new XlCfgError(file, d.line, `disk[${i}]`, `devtype=${d.emulation} applies to type = "hvm" domains only (a ${type} domain's disks are PV; in ${q(d.spec)})`);
      continue;
    }
    if (d.targetPath === null) continue; // an empty cdrom drive: nothing to emulate
    if (d.devtype === 'cdrom') throw new XlCfgError(file, d.line, `disk[${i}]`, `pvsim emulates no cdrom drive for an hvm domain (in ${q(d.spec)})`);
    d.emulation ??= 'virtio';
    if (d.emulation === 'virtio') virtio++;
    else legacy++;
    const p = hvmDeviceCountProblem(virtio, legacy);
    if (p) throw new XlCfgError(file, d.line, `disk[${i}]`, p);
  }
  for (const [i, v] of vifs.entries()) {
    if (type !== 'hvm') {
      if (v.model === 'virtio') throw new XlCfgError(file, v.line, `vif[${i}]`, `model=virtio applies to type = "hvm" domains only (a ${type} domain's vifs are PV; in ${q(v.spec)})`);
      continue;
    }
    if (v.type === 'vif') {
      // PV only: netfront through Xen's platform, as Xen's type=vif for an HVM guest.
      if (!xenPlatformPci) throw new XlCfgError(file, v.line, `vif[${i}]`, `type=vif is a PV vif: it needs xen_platform_pci = 1 (in ${q(v.spec)})`);
      continue;
    }
    if (v.model !== 'virtio') throw new XlCfgError(file, v.line, `vif[${i}]`, `model=${v.model}: pvsim emulates only virtio-net for an hvm domain (model=virtio, the default; in ${q(v.spec)})`);
    virtio++;
    const p = hvmDeviceCountProblem(virtio, legacy);
    if (p) throw new XlCfgError(file, v.line, `vif[${i}]`, p);
  }

  return {
    file,
    name,
    type,
    hvmMode: (hvmModeA?.text as HvmMode | undefined) ?? XL_DEFAULTS.hvmMode,
    shadowSync: (shadowSyncA?.text as ShadowSync | undefined) ?? XL_DEFAULTS.shadowSync,
    cpuEngine: cpuEngineA?.text ?? null,
    xenPlatformPci,
    kernel: kernelA?.text ?? null,
    kernelPath: kernelA ? resolvePath(kernelA.text) : null,
    memoryMiB,
    maxmemMiB: maxmem?.n ?? memoryMiB,
    vcpus,
    maxvcpus,
    cmdline,
    weight: weightV?.n ?? XL_DEFAULTS.weight,
    cap: capV?.n ?? XL_DEFAULTS.cap,
    cpus,
    cpusSoft,
    pool: poolA?.text ?? null,
    disks,
    vifs,
    vdevs,
    onPoweroff: action('on_poweroff', XL_DEFAULTS.onPoweroff),
    onReboot: action('on_reboot', XL_DEFAULTS.onReboot),
    onCrash: action('on_crash', XL_DEFAULTS.onCrash),
    onWatchdog: action('on_watchdog', XL_DEFAULTS.onWatchdog),
    onSoftReset: action('on_soft_reset', XL_DEFAULTS.onSoftReset),
    uuid: uuidA ? uuidA.text.toLowerCase() : null,
    warnings,
  };
}
