// The scenario file format (JSON), validated with zod so that an error names the field.
// See docs/scenarios.md.

import { KernelFileError, readRegularFile } from '../../xenguest/kernel_file.ts';
import { dirname } from 'node:path';
import { configDevices, type DeviceSpec } from '../../dom0/toolstack/devices.ts';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { FIRST_MFN, LOW_LIMIT_MFN, MAX_MACHINE_MEMORY_MIB } from '../../hypervisor/mm/frame_table.ts';
import { affinityProblem, CREATE_LIMITS, deviceEmulation, parseCpuList } from '../../dom0/toolstack/validate.ts';
import { DEFAULT_SCHEDULER, parseSchedOptions, SCHEDULER_NAMES, SchedOptionError, type SchedulerName } from '../../hypervisor/sched/options.ts';
import { ENGINE_KINDS } from '../../hypervisor/cpu/engines.ts';
import { XlCfgError, xlConfigFromSettings, type XlCfgSettings, type XlConfig, type XlSetting } from '../../dom0/toolstack/xlcfg/index.ts';

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** An xl.cfg number: a JSON number, or a string xl would read as one (xl.cfg takes `memory = "512"`). */
const xlNumber = z.union([z.number(), z.string()]);

/** When a fault bites: every N-th notification, once at a virtual time, or each with probability p (seeded). */
const FaultWhen = z.union([
  z.object({ every: z.number().int().min(1).max(1_000_000) }).strict(),
  z.object({ at: duration }).strict(),
  z.object({ prob: z.number().min(0).max(1) }).strict(),
]);

/** Fault kinds on a device's event channel; on its shared ring pages (RING_FAULT_KINDS). */
export const NOTIFY_FAULT_KINDS = ['lose-notify', 'delay-notify', 'dup-notify', 'spurious', 'stall', 'reorder-notify'] as const;
const PAGE_FAULT_KINDS = ['publish-late', 'publish-early', 'revoke-grant', 'crash-backend', 'req-publish-late', 'req-publish-early'] as const;
/** The kinds a vif's `ring` (tx or rx) narrows. */
const RING_NARROWED = ['publish-late', 'publish-early', 'crash-backend', 'req-publish-late', 'req-publish-early'];

/** One fault on a device's event channel or ring (hypervisor/evtchn/faults.ts, ring_faults.ts). */
export const FaultSpec = z
  .object({
    /** 'vbd/<devid>' (xvda: vbd/51712) or 'vif/<devid>'. */
    device: z.string().regex(/^(vbd|vif)\/\d+$/, "a device as 'vbd/51712' or 'vif/0'"),
    kind: z.enum([...NOTIFY_FAULT_KINDS, ...PAGE_FAULT_KINDS]),
    when: FaultWhen,
    /** Which notifications (default both ways); a stall is always the frontend's to its backend. */
    dir: z.enum(['to-backend', 'to-frontend', 'both']).optional(),
    /** delay-notify, publish-late, publish-early: how long (virtual time), at most 1 s; reorder-notify: the longest hold (default 1ms). */
    by: duration.optional(),
    /** stall: how long the backend hears nothing, at most 10 s. */
    window: duration.optional(),
    /** reorder-notify: delivered after this many later notifications (default 1). */
    after: z.number().int().min(1).max(64).optional(),
    /** crash-backend: where the backend stops. */
    point: z.enum(['request-consumed', 'response-written', 'response-published']).optional(),
    /** publish-late, publish-early, crash-backend on a vif: only its tx or rx ring (default both). */
    ring: z.enum(['tx', 'rx']).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const bad = (message: string) => ctx.addIssue({ code: 'custom', message });
    const needsBy = f.kind === 'delay-notify' || f.kind === 'publish-late' || f.kind === 'publish-early';
    if (needsBy && (f.by === undefined || f.by <= 0 || f.by > 1e9)) bad(`${f.kind} needs 'by': a duration over 0 and at most 1s`);
    if (f.kind === 'reorder-notify' && f.by !== undefined && (f.by <= 0 || f.by > 1e9)) bad("reorder-notify's 'by' (the longest hold) is over 0 and at most 1s");
    const reqKind = f.kind === 'req-publish-late' || f.kind === 'req-publish-early';
    if (reqKind && f.by !== undefined && (f.by <= 0 || f.by > 1e9)) bad(`${f.kind}'s 'by' (how long dom0 is shown it; without it, one dispatch) is over 0 and at most 1s`);
    if (!needsBy && f.kind !== 'reorder-notify' && !reqKind && f.by !== undefined) bad(`'by' is for delay-notify, reorder-notify, publish-late, publish-early, req-publish-late and req-publish-early, not ${f.kind}`);
    if (f.kind === 'stall' && (f.window === undefined || f.window <= 0 || f.window > 1e10)) bad("stall needs 'window': a duration over 0 and at most 10s");
    if (f.kind !== 'stall' && f.window !== undefined) bad(`'window' is for stall, not ${f.kind}`);
    if (f.kind === 'stall' && !('at' in f.when)) bad("stall needs when: { at: '...' } (the window's start)");
    if (f.kind !== 'reorder-notify' && f.after !== undefined) bad(`'after' is for reorder-notify, not ${f.kind}`);
    if (f.ring !== undefined && !(f.device.startsWith('vif/') && RING_NARROWED.includes(f.kind))) bad(`'ring' (tx or rx) is for ${RING_NARROWED.join(', ')} on a vif${f.device.startsWith('vbd/') ? ' (a vbd has one ring)' : ''}`);
    if (f.kind === 'crash-backend' && f.point === undefined) bad("crash-backend needs 'point': request-consumed, response-written or response-published");
    if (f.kind !== 'crash-backend' && f.point !== undefined) bad(`'point' is for crash-backend, not ${f.kind}`);
    if ((PAGE_FAULT_KINDS as readonly string[]).includes(f.kind) && f.dir !== undefined) bad(`'dir' is for notification faults, not ${f.kind} (the ring's own direction is implied)`);
  });
export type FaultSpecT = z.output<typeof FaultSpec>;

/**
 * A scenario's domain: xl.cfg settings (the same keys, limits and messages as `pvsim xl
 * create`: xlcfg/keys.ts, with the toolstack's rules from validate.ts) under their JSON
 * names, plus what only a scenario has (count, start, templates). The shapes are checked
 * here; the values by xl.cfg's key rules in validateScenario, and again for each copy with
 * its templates filled when the run builds it (domainConfig).
 */
export const DomainSpec = z
  .object({
    // --- xl.cfg keys (XL_FIELDS) ---
    name: z.string(),
    /** xl.cfg kernel=; relative to the scenario file. */
    image: z.string(),
    /** `start_info.cmd_line`; {domid} (once the domain exists), {index} and {seed} are substituted. */
    cmdline: z.string().default(''),
    /** MiB, as xl.cfg's memory= (a scenario's default is 16, xl's 32). */
    memory: xlNumber.default(16),
    /** MiB the domain may balloon up to (xl.cfg maxmem=); memory by default. */
    maxmem: xlNumber.optional(),
    vcpus: xlNumber.default(1),
    /** xl.cfg cpu_weight=. */
    weight: xlNumber.default(256),
    /** Percent of one pCPU; 0 = none (xl.cfg cap=, xl sched-credit -c). */
    cap: xlNumber.default(0),
    /** xl.cfg disk specs ('file:disk-{index}.img,xvda,w'); paths relative to the scenario. */
    disk: z.array(z.string()).max(CREATE_LIMITS.maxDevices).default([]),
    /** xl.cfg vif specs ('mac=00:16:3e:00:00:01,bridge=xenbr0'); no mac: one from the name. */
    vif: z.array(z.string()).max(CREATE_LIMITS.maxDevices).default([]),
    /** xl.cfg type= ("pv" or "hvm"). */
    type: z.string().optional(),
    /** xl.cfg cpus= and cpus_soft=: hard and soft affinity ("all", "0-3,^2", or a pCPU number). */
    cpus: z.union([z.string(), z.number()]).optional(),
    cpus_soft: z.union([z.string(), z.number()]).optional(),
    /** xl.cfg hvm_mode= ("trap" or "hw") and shadow_sync= ("wp" or "lazy"), for type "hvm". */
    hvm_mode: z.string().optional(),
    shadow_sync: z.string().optional(),
    /** xl.cfg cpu_engine (pvsim's): "interp" or "jit" for this domain's vCPUs; `--cpu` overrides it. */
    cpu_engine: z.string().optional(),
    /** xl.cfg xen_platform_pci= (0 or 1, default 1), for type "hvm". */
    xen_platform_pci: xlNumber.optional(),
    // --- scenario only ---
    /** How many alike domains to create; names get -1, -2, ... */
    count: z.number().int().min(1).max(10000).default(1),
    /** Virtual time at which the domain is unpaused. */
    start: duration.optional(),
    /** The cpupool it is created in (a name from `pools`, or Pool-0, the default). */
    pool: z.string().optional(),
    /** Faults on a device's event channel (docs/ringkit.md, "Fault injection in a live run"). */
    faults: z.array(z.lazy(() => FaultSpec)).max(16).default([]),
  })
  .strict();

/** A cpupool besides Pool-0 (xl cpupool-create's name=, sched=, cpus=). */
export const PoolSpec = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a pool name: 1-64 of A-Z a-z 0-9 _ . -'),
    scheduler: z.enum(SCHEDULER_NAMES),
    /** Its pCPUs ("2-3", "4,6", or one number); taken from Pool-0, which keeps the rest. */
    cpus: z.union([z.string(), z.number().int().min(0)]),
  })
  .strict();

export const ScenarioSpec = z
  .object({
    name: z.string().optional(),
    description: z.string().optional(),
    pcpus: z.number().int().min(1).max(256).default(1),
    /**
     * The engine running guest code (`pvsim run --cpu` overrides it): "interp" (the reference
     * interpreter) or "jit" (the block translator); results are identical, speed is not.
     */
    cpu: z.enum(ENGINE_KINDS, { error: (i) => `expected one of ${ENGINE_KINDS.join(', ')}, got ${JSON.stringify(i.input)}` }).optional(),
    /** Xen's sched=; else xen_cmdline's sched=; else credit2, Xen's default since 4.12. */
    scheduler: z.enum(SCHEDULER_NAMES).optional(),
    /**
     * The hypervisor's command line, Xen's boot parameters: the scheduler's are read
     * (sched_ratelimit_us=, credit2_runqueue=, sched_credit_tslice_ms=, ... docs/scheduling.md).
     */
    xen_cmdline: z.string().max(1024).default(''),
    /** Machine memory in MiB. */
    machineMemory: z.number().int().min(16).max(MAX_MACHINE_MEMORY_MIB).default(8192),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
    until: duration.default(1e9),
    /**
     * Width of the metrics' samples in virtual time (CPU share and pCPU utilisation over
     * time); default: 1, 2 or 5 x 10^k ns giving at most 100 samples, at least 100 us.
     */
    sample_interval: duration.optional(),
    /** Cpupools besides Pool-0, each with its pCPUs and its own scheduler. */
    pools: z.array(PoolSpec).max(64).default([]),
    domains: z.array(DomainSpec).min(1),
  })
  .strict();

/** A validated scenario: its scheduler resolved (scheduler, else xen_cmdline's sched=, else credit2). */
export type Scenario = Omit<z.output<typeof ScenarioSpec>, 'scheduler'> & { scheduler: SchedulerName };
export type DomainSpecT = z.output<typeof DomainSpec>;

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

function where(path: PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(top level)';
}

/** A scenario domain's xl.cfg keys: JSON name -> xl.cfg key. */
const XL_FIELDS = {
  name: 'name',
  image: 'kernel',
  cmdline: 'cmdline',
  memory: 'memory',
  maxmem: 'maxmem',
  vcpus: 'vcpus',
  weight: 'cpu_weight',
  cap: 'cap',
  disk: 'disk',
  vif: 'vif',
  type: 'type',
  hvm_mode: 'hvm_mode',
  shadow_sync: 'shadow_sync',
  cpu_engine: 'cpu_engine',
  cpus: 'cpus',
  cpus_soft: 'cpus_soft',
  xen_platform_pci: 'xen_platform_pci',
} as const satisfies Partial<Record<keyof DomainSpecT, string>>;

/** One copy of a domain spec: its name, its index (1..count), the value of {seed}. */
export interface DomainInstance {
  name: string;
  index: number;
  seed: number;
}

/** The name of copy `index` of a spec (count > 1: name-1, name-2, ...). */
export function instanceName(spec: DomainSpecT, index: number): string {
  return spec.count > 1 ? `${spec.name}-${index}` : spec.name;
}

/**
 * One copy's xl.cfg settings: {index}, {name} (disk, vif) and {seed} (cmdline) filled in.
 * {domid} is left for when the domain exists (the runner fills it with the real domid).
 */
export function domainSettings(spec: DomainSpecT, inst: DomainInstance): XlCfgSettings {
  const fill = (t: string) => t.replaceAll('{index}', String(inst.index)).replaceAll('{name}', inst.name);
  const assignments: XlSetting[] = [];
  // A scenario's settings have no line; 0 says so (errors are named by field, see domainConfig).
  const atom = (text: string) => ({ kind: 'string' as const, text, line: 0 });
  for (const [field, key] of Object.entries(XL_FIELDS) as [keyof typeof XL_FIELDS, string][]) {
    const v = field === 'name' ? inst.name : spec[field];
    if (v === undefined) continue;
    let value: XlSetting['value'];
    if (Array.isArray(v)) value = { kind: 'list', items: v.map((t) => atom(fill(t))), line: 0 };
    else if (field === 'cmdline') value = atom(String(v).replaceAll('{index}', String(inst.index)).replaceAll('{seed}', String(inst.seed)));
    else value = atom(String(v));
    assignments.push({ key, op: '=', value, line: 0 });
  }
  return { assignments, settings: new Map(assignments.map((a) => [a.key, a])) };
}

/**
 * One copy's configuration, checked by xl.cfg's key rules (the toolstack's limits and
 * messages). Throws ScenarioError naming the file and field: `f.json: domains[2].memory: ...`.
 */
export function domainConfig(spec: DomainSpecT, k: number, inst: DomainInstance, file: string, opts: { baseDir: string; machineMiB?: number }): XlConfig {
  try {
    return xlConfigFromSettings(domainSettings(spec, inst), file, opts);
  } catch (e) {
    if (!(e instanceof XlCfgError)) throw e;
    const key = e.key ?? '';
    const base = key.replace(/\[.*$/, '');
    const field = Object.entries(XL_FIELDS).find(([, x]) => x === base)?.[0];
    const at = field ? `.${field}${key.slice(base.length)}` : '';
    throw new ScenarioError(`${file}: domains[${k}]${at}: ${e.detail}`);
  }
}

/** The largest value {seed} takes: the longest command line a copy can have. */
const SEED_MAX = 2 ** 32 - 1;

/** A pool's pCPUs as numbers (its `cpus` checked by validateScenario). */
export function poolCpus(p: z.output<typeof PoolSpec>, pcpus: number): number[] {
  const list = parseCpuList(String(p.cpus));
  if (typeof list === 'string') return [];
  return list === null ? Array.from({ length: pcpus }, (_, i) => i) : [...list];
}

/** Pools: pCPUs of the machine, none in two pools, one left for Pool-0, names unique; domains name pools that exist. */
function checkPools(s: Scenario, file: string): void {
  const problems: string[] = [];
  const owner = new Map<number, string>();
  const names = new Set(['Pool-0']);
  s.pools.forEach((p, k) => {
    if (names.has(p.name)) problems.push(`${file}: pools[${k}].name: "${p.name}" is ${p.name === 'Pool-0' ? 'the pool of the pCPUs left over' : 'given twice'}`);
    names.add(p.name);
    const list = parseCpuList(String(p.cpus));
    if (typeof list === 'string') return void problems.push(`${file}: pools[${k}].cpus: ${list}`);
    const cpus = poolCpus(p, s.pcpus);
    const bad = cpus.find((c) => c >= s.pcpus);
    if (bad !== undefined) return void problems.push(`${file}: pools[${k}].cpus: pCPU ${bad} does not exist (the machine has ${s.pcpus})`);
    if (cpus.length === 0) return void problems.push(`${file}: pools[${k}].cpus: no pCPU`);
    for (const c of cpus) {
      if (owner.has(c)) problems.push(`${file}: pools[${k}].cpus: pCPU ${c} is already in pool ${owner.get(c)}`);
      owner.set(c, p.name);
    }
  });
  if (problems.length === 0 && owner.size >= s.pcpus) problems.push(`${file}: pools: every pCPU is in a pool: leave Pool-0 at least one`);
  s.domains.forEach((d, k) => {
    if (d.pool !== undefined && !names.has(d.pool)) problems.push(`${file}: domains[${k}].pool: no pool "${d.pool}" (${[...names].join(', ')})`);
  });
  if (problems.length) throw new ScenarioError(problems.join('\n'));
}

/** Validates parsed JSON; every problem is reported as `<file>: <field>: <message>`. */
export function validateScenario(data: unknown, file: string): Scenario {
  const r = ScenarioSpec.safeParse(data);
  if (!r.success) throw new ScenarioError(r.error.issues.map((i) => `${file}: ${where(i.path)}: ${i.message}`).join('\n'));
  let sched: SchedulerName;
  try {
    sched = r.data.scheduler ?? parseSchedOptions(r.data.xen_cmdline).sched ?? DEFAULT_SCHEDULER;
  } catch (e) {
    if (e instanceof SchedOptionError) throw new ScenarioError(`${file}: xen_cmdline: ${e.message}`);
    throw e;
  }
  const s: Scenario = { ...r.data, scheduler: sched };
  checkPools(s, file);
  // The metrics keep a number per sample per domain and pCPU (runner.ts checks again against --until).
  if (s.sample_interval !== undefined && (s.sample_interval <= 0 || s.until / s.sample_interval > 10_000)) {
    throw new ScenarioError(`${file}: sample_interval: ${s.sample_interval} ns gives more than 10000 samples over until (${s.until} ns)`);
  }
  // The xl.cfg keys, as the last copy (the longest name) has them; each copy is checked
  // again with its own values when the run builds it.
  const problems: string[] = [];
  let frames = 0;
  let domains = 0;
  s.domains.forEach((spec, k) => {
    try {
      const cfg = domainConfig(spec, k, { name: instanceName(spec, spec.count), index: spec.count, seed: SEED_MAX }, file, { baseDir: dirname(file), machineMiB: s.machineMemory });
      // The machine is known here: an affinity must name its pCPUs (xl checks against the host).
      for (const [field, mask] of [['cpus', cfg.cpus], ['cpus_soft', cfg.cpusSoft]] as const) {
        const p = mask ? affinityProblem(mask, s.pcpus) : null;
        if (p) problems.push(`${file}: domains[${k}].${field}: ${p}`);
      }
      const problem = faultsProblem(spec.faults, configDevices(cfg));
      if (problem) problems.push(`${file}: domains[${k}].faults: ${problem}`);
      frames += spec.count * domainFrames(cfg);
      domains += spec.count;
      // In a pool, a hard affinity must name one of its pCPUs (else it could run nowhere it asked).
      const pool = s.pools.find((p) => p.name === spec.pool);
      if (pool && cfg.cpus && !poolCpus(pool, s.pcpus).some((c) => cfg.cpus!.includes(c))) {
        problems.push(`${file}: domains[${k}].cpus: names no pCPU of pool ${pool.name} (${poolCpus(pool, s.pcpus).join(',')})`);
      }
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      problems.push(e.message);
    }
  });
  if (problems.length > 0) throw new ScenarioError(problems.join('\n'));
  checkMachineMemory(s, file, frames, domains);
  return s;
}

/**
 * Faults name a PV device the domain has. With several, the fault point tells their channels
 * and rings apart by the frontend's own XenStore writes (hypervisor/evtchn/faults.ts).
 */
export function faultsProblem(faults: FaultSpecT[], devices: DeviceSpec[]): string | null {
  if (faults.length === 0) return null;
  const names = pvDeviceNames(devices);
  for (const f of faults) if (!names.includes(f.device)) return `no device ${f.device} (${names.join(', ') || 'the domain has no vbd or vif'})`;
  return null;
}

/** A domain's PV ring devices as faults name them ('vbd/51712', 'vif/0'); emulated ones are not. */
export function pvDeviceNames(devices: DeviceSpec[]): string[] {
  return devices.filter((d) => (d.kind === 'vbd' || d.kind === 'vif') && deviceEmulation(d) === null).map((d) => `${d.kind}/${d.devid}`);
}

/** Machine frames a domain takes when built: its memory plus the hypervisor's pages for it. */
export function domainFrames(cfg: Pick<XlConfig, 'type' | 'memoryMiB' | 'hvmMode'>): number {
  const pages = cfg.memoryMiB * 256;
  // PV: shared_info and the first grant table frame. HVM: those, the xenstore and console
  // rings, and in hw mode the G-stage tables (a 16 KiB root and one table per 4 MiB).
  if (cfg.type !== 'hvm') return pages + PV_OVERHEAD_FRAMES;
  return pages + HVM_OVERHEAD_FRAMES + (cfg.hvmMode === 'hw' ? 4 + Math.ceil(pages / 1024) : 0);
}

const PV_OVERHEAD_FRAMES = 2;
const HVM_OVERHEAD_FRAMES = 4;

/**
 * The whole scenario against the machine, before anything starts: a run that cannot build
 * its last domains would otherwise fail minutes in, after building thousands. Every domain
 * also needs one frame below 4 GiB (its shared_info page).
 */
function checkMachineMemory(s: Scenario, file: string, frames: number, domains: number): void {
  const machine = s.machineMemory * 256;
  // dom0's shared_info is the one frame taken before any domain.
  const available = machine - 1;
  const mib = (n: number) => Math.ceil(n / 256);
  if (frames > available) {
    throw new ScenarioError(
      `${file}: the ${domains} domains need ${mib(frames)} MiB of machine memory (${frames} frames: their memory plus ${PV_OVERHEAD_FRAMES} pages each for the hypervisor, more for HVM), ` +
        `the machine has ${mib(available)} MiB available (machineMemory ${s.machineMemory}): raise machineMemory (at most ${MAX_MACHINE_MEMORY_MIB}) or give the domains less memory`,
    );
  }
  const low = Math.min(machine, LOW_LIMIT_MFN - FIRST_MFN) - 1;
  if (domains > low) {
    throw new ScenarioError(`${file}: ${domains} domains need ${domains} frames below 4 GiB for their shared_info pages, the machine has ${low}`);
  }
}

/** The largest scenario file read (examples are a few KiB; `count` makes thousands of domains). */
export const MAX_SCENARIO_BYTES = 16 * 1024 * 1024;

/**
 * A scenario file's bytes: a regular file of at most MAX_SCENARIO_BYTES, so a FIFO cannot
 * hang the reader and /dev/zero cannot fill its memory (as kernels are read).
 */
export function readScenarioBytes(file: string): Uint8Array {
  try {
    return readRegularFile(file, { maxBytes: MAX_SCENARIO_BYTES, what: 'scenario' });
  } catch (e) {
    // `x.json: cannot read: ENOENT`; the other refusals name the file already.
    const code = `cannot read ${file}: `;
    if (e instanceof KernelFileError) throw new ScenarioError(e.message.startsWith(code) ? `${file}: cannot read: ${e.message.slice(code.length)}` : e.message);
    throw e;
  }
}

export function loadScenario(file: string): Scenario {
  const text = new TextDecoder().decode(readScenarioBytes(file));
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  return validateScenario(data, file);
}
