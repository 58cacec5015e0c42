// Runs a scenario in one process: builds every domain it lists, starts them, runs the
// machine to the end time, and gathers per-domain figures.

import { resolve } from 'node:path';
import { KernelFileError, readKernelFile } from '../../xenguest/kernel_file.ts';
import { Hypervisor, type SchedulerName } from '../../hypervisor/hypervisor.ts';
import { DEFAULT_ENGINE, type EngineKind } from '../../hypervisor/cpu/engines.ts';
import { startLocalDom0 } from '../local.ts';
import type { Domain } from '../../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../../hypervisor/hvm/board.ts';
import type { CostModel } from '../../hypervisor/time/cost_model.ts';
import { domainConfig, instanceName, poolCpus, pvDeviceNames, ScenarioError, type DomainSpecT, type FaultSpecT, type Scenario } from './schema.ts';
import { faultCounts, newFaultPlan, spuriousNow } from '../../hypervisor/evtchn/faults.ts';
import { registerRingFaults, ringsStuck } from '../../hypervisor/evtchn/ring_faults.ts';
import type { XlConfig } from '../../dom0/toolstack/xlcfg/index.ts';
import { configDevices, type DeviceSpec } from '../../dom0/toolstack/devices.ts';
import { CreateRequestError, deviceEmulation, validateCreateDomain } from '../../dom0/toolstack/validate.ts';

import type { DomainPerfSnapshot } from '../../hypervisor/domain/perf.ts';
import { defaultSampleInterval } from '../../hypervisor/sched/metrics.ts';
import { runMetrics, sampledSeries, type LatencySummary, type RunMetrics } from './metrics.ts';
import { rng } from '../rng.ts';

export interface DomainReport {
  domid: number;
  name: string;
  /** The scenario entry it is a copy of (its `name`): the domain group. */
  group: string;
  /** The cpupool it is in (Pool-0 without `pools`). */
  pool: string;
  vcpus: number;
  weight: number;
  cap: number;
  state: string;
  /** ns per run state (running, runnable, blocked, offline), summed over vCPUs. */
  runstate: [number, number, number, number];
  cpuNs: number;
  /** Running time as a share of one pCPU over the run. */
  cpuShare: number;
  instructions: number;
  hypercalls: number;
  events: number;
  traps: number;
  /** RTDS: periods its vCPUs ended without their budget while wanting to run (0 under other schedulers). */
  deadlineMisses: number;
  /** Running time per sample (metrics.sampleIntervalNs) as a share of one pCPU. */
  shareOverTime: number[];
  /** Scheduling latency from wake-up (blocked to runnable) to running. */
  latency: LatencySummary;
  /** For an HVM domain: its mode, shadow policy and exits by reason (counts and virtual ns). */
  hvm?: HvmDomainReport;
  /** The domain's performance counters (Domain.perf; `pvsim compare`'s figures): in the JSON report only. */
  perf: DomainPerfSnapshot;
  /** With a `faults` key: injections per device and kind, and what the run's end found stuck. */
  faults?: DomainFaultReport;
  console: string;
}

export interface DomainFaultReport {
  /** { 'vbd/51712': { 'lose-notify': 3 } }: every fault of the domain, 0 when it never bit. */
  injected: Record<string, Record<string, number>>;
  /** "no progress on vbd/51712 ring-ref: ..." per ring left with a lost wake-up (ring_faults.ts ringsStuck). */
  stuck: string[];
}

export interface HvmDomainReport {
  mode: string;
  shadow_sync: string;
  exits: Record<string, number>;
  exit_ns: Record<string, number>;
}

export interface ScenarioResult {
  name: string;
  pcpus: number;
  scheduler: SchedulerName;
  seed: number;
  until: number;
  /** The cpupools, Pool-0 first: name, scheduler, pCPUs. */
  pools: { name: string; scheduler: string; cpus: number[] }[];
  domains: DomainReport[];
  traceHash: string;
  /** Scheduling metrics of the run (metrics.ts): over time, latency, fairness. */
  metrics: RunMetrics;
  hv: Hypervisor;
}

export interface RunScenarioOptions {
  /** Directory image paths are relative to (the scenario file's). */
  baseDir: string;
  seed?: number;
  until?: number;
  /** Receives guest console output as it happens. */
  onConsole?: (domain: Domain, bytes: Uint8Array) => void;
  /** In-process dom0: capture every frame crossing its bridges to this pcap file. */
  pcap?: string;
  /** Cost-model values over the defaults (`pvsim compare --vary`); ignored on an external hypervisor. */
  costs?: Partial<CostModel>;
  /**
   * `--cpu`: the engine for every domain, over the scenario's cpu and each domain's
   * cpu_engine; ignored on an external hypervisor (which was started with its own).
   */
  cpu?: EngineKind;
  /** Receives a progress line about every two wall seconds (virtual time reached, rate); never stdout. */
  progress?: (line: string) => void;
  /** Keep the trace's side records (a trace file is asked for); changes no trace hash. */
  traceDetail?: boolean;
}

/** Progress lines for a long run: virtual time reached, its rate against wall time, the time left. */
export function progressReporter(until: number, domains: number, write: (line: string) => void, dispatches: () => number = () => 0): (virtualNs: number) => void {
  let lastWall = Date.now();
  let lastVirtual = 0;
  return (now) => {
    const wall = Date.now();
    if (wall - lastWall < 2000) return;
    // The rate over the last interval: domain set-up runs at virtual time 0 for a while,
    // and a rate since the start would promise hours.
    const rate = (now - lastVirtual) / 1e6 / ((wall - lastWall) / 1000);
    lastWall = wall;
    lastVirtual = now;
    const left = rate > 0 && until !== Infinity ? ` ~${((until - now) / 1e6 / rate).toFixed(0)} s to go` : '';
    const pct = until > 0 && until !== Infinity ? ` (${((100 * now) / until).toFixed(0)}%)` : '';
    write(`progress: ${(now / 1e6).toFixed(1)} of ${(until / 1e6).toFixed(1)} ms virtual${pct}, ${domains} domains, ${dispatches()} dom0 dispatches, ${rate.toFixed(2)} ms virtual per wall s${left}`);
  };
}

/**
 * A domain's disks and vifs as dom0's toolstack announces them (configDevices, as xl does).
 * dom0 gets them with the domain's creation, in either home, so a scenario with devices
 * keeps its trace hash across them. Copies of one spec may not share a writable image.
 */
function scenarioDevices(spec: DomainSpecT, cfg: XlConfig): DeviceSpec[] {
  for (const [k, d] of cfg.disks.entries()) {
    // Like xl, which refuses a writable image another domain has: copies need their own.
    if (spec.count > 1 && d.access === 'w' && d.targetPath !== null && !/\{index\}|\{name\}/.test(spec.disk[k]!)) {
      throw new ScenarioError(`domain ${cfg.name}: disk[${k}]: the ${spec.count} domains of "${spec.name}" would share the writable image ${d.targetPath}: put {index} or {name} in its path`);
    }
  }
  return configDevices(cfg);
}

/**
 * A domain's event-channel faults (hypervisor/evtchn/faults.ts), their PRNG seeded from the
 * copy's {seed} (itself drawn from the scenario's seed): no draw from the scenario's own
 * stream, so a scenario without faults keeps its trace.
 */
function armFaults(hv: Hypervisor, d: Domain, faults: FaultSpecT[], seed: number, devices: DeviceSpec[]): void {
  const schedule = (at: number, fn: () => void) => void hv.events.schedule(at, fn);
  const plan = newFaultPlan(
    faults.map((f) => ({ device: f.device, kind: f.kind, when: f.when, dir: f.dir ?? 'both', delayNs: f.by ?? 0, windowNs: f.window ?? 0, after: f.after ?? 1, point: f.point ?? 'request-consumed', ring: f.ring ?? null })),
    rng(seed ^ 0x5eed_fa17),
    schedule,
    pvDeviceNames(devices),
  );
  d.evtchnFaults = plan;
  registerRingFaults(hv, d);
  // crash-backend: dom0 (either home) restarts the device's backend in a dispatch of its own.
  plan.restart = (device, done) => {
    const [kind, devid] = device.split('/') as [string, string];
    hv.dispatch(async () => {
      if (hv.domain(d.domid) === d) await hv.dom0RestartDevice?.(d.domid, kind, Number(devid));
      done();
    });
  };
  plan.faults.forEach((f, k) => {
    if (f.kind === 'spurious' && 'at' in f.when) schedule(f.when.at, () => spuriousNow(hv, plan, d, f.device, k));
  });
}

/** The scenario's PRNG (mulberry32, sim/rng.ts), still exported from here for its callers. */
export { rng };

/** Most samples a run's metrics keep per domain and pCPU. */
export const MAX_SAMPLES = 10_000;

/** Seed-dependent start jitter: domains do not all start in the same nanosecond. */
const START_JITTER_NS = 100_000;

/** The hypervisor options a scenario asks for. */
export function scenarioMachine(s: Scenario, cpu?: EngineKind): { pcpus: number; scheduler: SchedulerName; machineMemoryBytes: number; commandLine: string; cpupools: { name: string; scheduler: SchedulerName; cpus: number[] }[]; cpu: EngineKind; forceCpu: boolean } {
  return {
    // --cpu over the scenario's cpu over the default; --cpu also overrides domains' cpu_engine.
    cpu: cpu ?? s.cpu ?? DEFAULT_ENGINE,
    forceCpu: cpu !== undefined,
    pcpus: s.pcpus,
    scheduler: s.scheduler,
    machineMemoryBytes: s.machineMemory * 1024 * 1024,
    commandLine: s.xen_cmdline,
    cpupools: s.pools.map((p) => ({ name: p.name, scheduler: p.scheduler, cpus: poolCpus(p, s.pcpus) })),
  };
}

/**
 * Runs a scenario on a hypervisor whose dom0 is served elsewhere (a dom0 process connected
 * through the hypervisor server): the same machine, the same dispatches, the same hash.
 */
export async function runScenarioOn(hv: Hypervisor, s: Scenario, opts: RunScenarioOptions): Promise<ScenarioResult> {
  const setup = buildScenario(s, opts, hv);
  await runChecked(setup);
  return collect(s, setup);
}

export async function runScenario(s: Scenario, opts: RunScenarioOptions): Promise<ScenarioResult> {
  const setup = buildScenario(s, opts);
  try {
    await runChecked(setup);
  } finally {
    setup.dom0?.close();
  }
  return collect(s, setup);
}

/**
 * runAsync, stopping as soon as dom0 could not set a domain up: a scenario is a batch of
 * creates, and as `xl create` fails when a domain's disk cannot be attached, so does the
 * run, naming the domain and the disk (rather than running on with that domain stuck).
 */
async function runChecked(setup: ScenarioSetup): Promise<void> {
  for (;;) {
    const r = setup.hv.run({ until: setup.until });
    if (setup.failure.reason) break;
    if (r.kind !== 'blocked') return;
    await r.wait;
    if (setup.failure.reason) break;
  }
  throw new ScenarioError(setup.failure.reason!);
}

/** The same, paced to wall time (`speed` virtual seconds per wall second). */
export async function runScenarioRealtime(s: Scenario, opts: RunScenarioOptions & { speed?: number }): Promise<ScenarioResult> {
  const setup = buildScenario(s, opts);
  try {
    await setup.hv.runRealtime({ until: setup.until, speed: opts.speed });
  } finally {
    setup.dom0?.close();
  }
  if (setup.failure.reason) throw new ScenarioError(setup.failure.reason);
  return collect(s, setup);
}

interface ScenarioSetup {
  hv: Hypervisor;
  seed: number;
  until: number;
  consoles: Map<Domain, string>;
  /** dom0's daemons when they run in this process (closed after the run). */
  dom0: { close(): void } | null;
  /** Set when dom0 could not set a domain up: the run stops and fails with it. */
  failure: { reason?: string };
  /** Domain name -> the scenario entry it is a copy of. */
  groups: Map<string, string>;
}

function buildScenario(s: Scenario, opts: RunScenarioOptions, external?: Hypervisor): ScenarioSetup {
  const seed = opts.seed ?? s.seed;
  const until = opts.until ?? s.until;
  const random = rng(seed);
  const interval = s.sample_interval ?? defaultSampleInterval(until);
  // Each domain and pCPU keeps a number per sample: bounded, whatever --until asks.
  if (!(interval > 0) || until / interval > MAX_SAMPLES) throw new ScenarioError(`sample_interval ${interval} ns: ${Math.ceil(until / interval)} samples over ${until} ns; at most ${MAX_SAMPLES} (a longer interval, or none for the default)`);
  const hv = external ?? new Hypervisor({ ...scenarioMachine(s, opts.cpu), ...(opts.costs ? { costs: opts.costs } : {}) });
  hv.sched.metrics.intervalNs = interval;
  if (opts.traceDetail) hv.traceBuffer.enableDetail();
  const consoles = new Map<Domain, string>();
  const onConsole = (d: Domain, bytes: Uint8Array) => {
    opts.onConsole?.(d, bytes);
    const text = (consoles.get(d) ?? '') + new TextDecoder().decode(bytes);
    consoles.set(d, text.length > 16_384 ? text.slice(-16_384) : text);
  };
  hv.onConsole = onConsole;
  const failure: { reason?: string } = {};
  hv.onDom0SetupFailed = (d, reason) => {
    failure.reason ??= `domain ${d.name}: ${reason.replace(/^domain \S+ \(d\d+\): /, '')}`;
    hv.stopRealtime = true;
  };
  // Any other dom0 dispatch that failed (serving a domain's event): the run fails with it.
  hv.loop.onDispatchFailed = (message) => {
    failure.reason ??= `dom0 dispatch failed: ${message}`;
    hv.stopRealtime = true;
  };
  const dom0 = external ? null : startLocalDom0(hv, { onConsole, pcap: opts.pcap });
  const images = new Map<string, Uint8Array>();
  const image = (cfg: XlConfig) => {
    const full = cfg.kernelPath!;
    let img = images.get(full);
    if (!img) {
      try {
        img = readKernelFile(full);
      } catch (e) {
        if (!(e instanceof KernelFileError)) throw e;
        throw new ScenarioError(`image ${cfg.kernel}: ${e.message}`);
      }
      images.set(full, img);
    }
    return img;
  };
  const machineMiB = Math.floor(hv.frames.nrFrames / 256);
  const groups = new Map<string, string>();

  s.domains.forEach((spec, k) => {
    for (let i = 1; i <= spec.count; i++) {
      const name = instanceName(spec, i);
      groups.set(name, spec.name);
      // One random draw per copy, {seed} or not: the draws (and so the trace) stay as they were.
      const seedValue = Math.floor(random() * 2 ** 32);
      // The copy as xl.cfg settings, checked by xl.cfg's key rules and then as the toolstack
      // checks any create request (validate.ts): one language, one set of limits.
      const cfg = domainConfig(spec, k, { name, index: i, seed: seedValue }, `domain ${name}`, { baseDir: opts.baseDir, machineMiB });
      const devices = scenarioDevices(spec, cfg);
      const kernel = image(cfg);
      try {
        validateCreateDomain(
          {
            name, kernel, cmdline: cfg.cmdline, memoryMib: cfg.memoryMiB, maxmemMib: cfg.maxmemMiB, vcpus: cfg.vcpus, weight: cfg.weight, cap: cfg.cap, devices,
            cpus: cfg.cpus ? [...cfg.cpus] : [],
            cpusSoft: cfg.cpusSoft ? [...cfg.cpusSoft] : [],
            type: cfg.type,
            ...(cfg.cpuEngine ? { cpuEngine: cfg.cpuEngine } : {}),
            ...(cfg.type === 'hvm' ? { hvmMode: cfg.hvmMode, shadowSync: cfg.shadowSync } : {}),
          },
          machineMiB,
        );
      } catch (e) {
        if (e instanceof CreateRequestError) throw new ScenarioError(`domain ${name}: ${e.message}`);
        throw e;
      }
      let d: Domain;
      try {
        const base = {
          devices,
          name,
          memoryBytes: cfg.memoryMiB * 1024 * 1024,
          // {domid} once the domain has one: the id it really has.
          cmdlineFor: (domid: number) => cfg.cmdline.replaceAll('{domid}', String(domid)),
          vcpus: cfg.vcpus,
          weight: cfg.weight,
          cap: cfg.cap,
          hardAffinity: cfg.cpus,
          softAffinity: cfg.cpusSoft,
          // Pools are numbered in scenario order after Pool-0 (0).
          cpupool: spec.pool === undefined || spec.pool === 'Pool-0' ? 0 : s.pools.findIndex((p) => p.name === spec.pool) + 1,
        };
        d = cfg.type === 'hvm'
          ? hv.createHvmDomain(kernel, { ...base, hvm: { mode: cfg.hvmMode, shadowSync: cfg.shadowSync, ata: devices.some((dev) => deviceEmulation(dev) === 'ata'), xenPlatform: cfg.xenPlatformPci } })
          : hv.createPvDomain(kernel, base).domain;
      } catch (e) {
        throw new ScenarioError(`domain ${name}: ${(e as Error).message}`);
      }
      if (cfg.maxmemMiB > cfg.memoryMiB) d.maxPages = cfg.maxmemMiB * 256;
      // Checked above (validateCreateDomain): one of the engine names.
      if (cfg.cpuEngine) d.cpuEngine = cfg.cpuEngine as EngineKind;
      if (spec.faults.length > 0) armFaults(hv, d, spec.faults, seedValue, devices);
      const at = (spec.start ?? 0) + Math.floor(random() * START_JITTER_NS);
      hv.events.schedule(at, () => hv.unpause(d));
    }
  });
  if (opts.progress) hv.loop.onProgress = progressReporter(until, hv.domains.size - 1, opts.progress, () => hv.loop.dispatches);
  return { hv, seed, until, consoles, dom0, failure, groups };
}

function hvmReport(d: Domain): HvmDomainReport {
  const b = d.hvm as HvmBoard;
  return { mode: b.mode, shadow_sync: b.shadowSync, exits: { ...b.stats.count }, exit_ns: { ...b.stats.ns } };
}

function collect(s: Scenario, { hv, seed, until, consoles, groups }: ScenarioSetup): ScenarioResult {

  const domains: DomainReport[] = [];
  const series = sampledSeries(hv, until);
  for (const d of hv.domains.values()) {
    if (d.vcpus.length === 0) continue; // the control domain: dom0's daemons, not a guest
    const rs: [number, number, number, number] = [0, 0, 0, 0];
    let instructions = 0;
    let hypercalls = 0;
    let events = 0;
    let traps = 0;
    for (const v of d.vcpus) {
      hv.runstateTimes(v).forEach((t, k) => (rs[k as 0 | 1 | 2 | 3] += t));
      instructions += v.stats.instructions;
      hypercalls += v.stats.hypercalls;
      events += v.stats.events;
      for (const [cause, n] of v.stats.traps) if (cause !== 9) traps += n;
    }
    domains.push({
      domid: d.domid,
      name: d.name,
      group: groups.get(d.name) ?? d.name,
      pool: hv.sched.poolOf(d).name,
      vcpus: d.vcpus.length,
      weight: d.sched.weight,
      cap: d.sched.cap,
      state: d.state === 'running' || d.state === 'paused' ? d.state : `${d.state}(${d.shutdownReason ?? '?'})`,
      runstate: rs,
      cpuNs: rs[0],
      cpuShare: until > 0 ? rs[0] / until : 0,
      instructions,
      hypercalls,
      events,
      traps,
      deadlineMisses: d.vcpus.reduce((a, v) => a + v.deadlineMisses, 0),
      ...series.perDomain(d),
      ...(d.hvm ? { hvm: hvmReport(d) } : {}),
      perf: d.perf.snapshot(),
      ...(d.evtchnFaults ? { faults: { injected: faultCounts(d.evtchnFaults), stuck: ringsStuck(hv, d) } } : {}),
      console: consoles.get(d) ?? '',
    });
  }
  const metrics = runMetrics(hv, series, domains);
  const pools = hv.cpupools.map((p) => ({ name: p.name, scheduler: p.policy.name, cpus: [...p.cpus] }));
  return { name: s.name ?? 'scenario', pcpus: s.pcpus, scheduler: s.scheduler, seed, until, pools, domains, traceHash: hv.traceBuffer.hash(), metrics, hv };
}
