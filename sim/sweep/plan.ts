// `pvsim sweep`: the runs of a sweep, from a scenario, --vary keys and --seeds. Pure and
// deterministic: the same arguments give the same runs in the same order (run index =
// position), whichever machine or pod computes them. docs/sweep.md.

import { createHash } from 'node:crypto';
import { readScenarioBytes, validateScenario, ScenarioError, DomainSpec, type Scenario } from '../scenario/schema.ts';
import { SCHED_PARAMS } from '../../hypervisor/sched/options.ts';

export class SweepInputError extends Error {
  override readonly name = 'SweepInputError';
}

/** One --vary: a key and its values, as written. */
export interface VaryAxis {
  key: string;
  values: string[];
}

/** What identifies a sweep: every run, collected result and report carries it. */
export interface SweepHeader {
  /** The scenario file as named on the command line. */
  scenario: string;
  /** sha256 of the scenario file's bytes: results of another version are refused. */
  scenarioSha256: string;
  name: string;
  vary: VaryAxis[];
  seeds: number[];
  runs: number;
}

export interface SweepRunSpec {
  index: number;
  /** Key -> value, in --vary order. */
  values: Record<string, string>;
  seed: number;
}

export interface SweepPlan {
  header: SweepHeader;
  runs: SweepRunSpec[];
  /** The scenario JSON as read (overrides are applied to copies of it). */
  raw: Record<string, unknown>;
}

/** At most this many runs in one sweep (and values per key, seeds). */
export const MAX_RUNS = 100_000;

const TOP_KEYS = ['scheduler', 'pcpus', 'until', 'machineMemory', 'sample_interval', 'cpu'] as const;
/** Scenario fields that hold strings: a value is kept as written, never made a number. */
const STRING_FIELDS = new Set(['scheduler', 'until', 'sample_interval', 'cmdline', 'image', 'type', 'hvm_mode', 'shadow_sync', 'cpus', 'cpus_soft', 'start', 'cpu', 'cpu_engine']);
/** Domain fields --vary may set: every DomainSpec field but the name and the lists. */
const DOMAIN_FIELDS = Object.keys(DomainSpec.shape).filter((k) => k !== 'name' && k !== 'disk' && k !== 'vif');

export const KEY_GRAMMAR = `scheduler, pcpus, until, machineMemory, sample_interval, cpu, xen_cmdline.PARAM (${SCHED_PARAMS.join(', ')}) or domains.GROUP.FIELD (GROUP a domain entry's name or *; FIELD one of ${DOMAIN_FIELDS.join(', ')})`;

/** Parses `KEY=V1,V2,...`. */
export function parseVary(arg: string): VaryAxis {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new SweepInputError(`--vary ${arg}: expected KEY=V1,V2,... with KEY one of ${KEY_GRAMMAR}`);
  const key = arg.slice(0, eq).trim();
  const values = arg.slice(eq + 1).split(',').map((v) => v.trim());
  if (values.some((v) => v === '')) throw new SweepInputError(`--vary ${arg}: an empty value`);
  if (new Set(values).size !== values.length) throw new SweepInputError(`--vary ${arg}: a value is given twice`);
  return { key, values };
}

/** Parses --seeds: `N` (one), `A..B` (inclusive), or `A,B,C`. */
export function parseSeeds(arg: string): number[] {
  const seed = (t: string) => {
    if (!/^\d+$/.test(t) || Number(t) > 2 ** 32 - 1) throw new SweepInputError(`--seeds ${arg}: "${t}" is not a seed (0..${2 ** 32 - 1})`);
    return Number(t);
  };
  const range = /^(\d+)\.\.(\d+)$/.exec(arg.trim());
  let seeds: number[];
  if (range) {
    const [a, b] = [seed(range[1]!), seed(range[2]!)];
    if (b < a) throw new SweepInputError(`--seeds ${arg}: the range is empty`);
    if (b - a + 1 > MAX_RUNS) throw new SweepInputError(`--seeds ${arg}: more than ${MAX_RUNS} seeds`);
    seeds = Array.from({ length: b - a + 1 }, (_, i) => a + i);
  } else seeds = arg.split(',').map((t) => seed(t.trim()));
  if (new Set(seeds).size !== seeds.length) throw new SweepInputError(`--seeds ${arg}: a seed is given twice`);
  return seeds;
}

/** A value as JSON puts it in the scenario: numbers where the field takes numbers. */
function typed(field: string, v: string): string | number {
  return !STRING_FIELDS.has(field) && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
}

/** Sets `PARAM=value` in a Xen command line, replacing an earlier setting of it. */
export function setCmdlineParam(cmdline: string, param: string, value: string): string {
  const norm = (k: string) => k.replaceAll('-', '_');
  const words = cmdline.split(/\s+/).filter(Boolean).filter((w) => norm(w.split('=')[0]!) !== norm(param));
  return [...words, `${param}=${value}`].join(' ');
}

function groupsOf(raw: Record<string, unknown>): string[] {
  const ds = Array.isArray(raw.domains) ? raw.domains : [];
  return ds.map((d) => (d && typeof d === 'object' && typeof (d as { name?: unknown }).name === 'string' ? (d as { name: string }).name : ''));
}

/** Checks a key against the grammar and the scenario; throws naming what is wrong. */
export function checkKey(key: string, raw: Record<string, unknown>, file: string): void {
  const parts = key.split('.');
  if (parts.length === 1) {
    if ((TOP_KEYS as readonly string[]).includes(key)) return;
    if (key === 'seed') throw new SweepInputError(`--vary seed: give seeds with --seeds (e.g. --seeds 1..10)`);
    throw new SweepInputError(`--vary ${key}: unknown key; keys are ${KEY_GRAMMAR}`);
  }
  if (parts[0] === 'xen_cmdline' && parts.length === 2) {
    const p = parts[1]!.replaceAll('-', '_');
    if ((SCHED_PARAMS as readonly string[]).includes(p)) return;
    throw new SweepInputError(`--vary ${key}: "${parts[1]}" is not a Xen parameter pvsim reads; xen_cmdline.PARAM takes ${SCHED_PARAMS.join(', ')}`);
  }
  if (parts[0] === 'domains' && parts.length === 3) {
    const [, group, field] = parts as [string, string, string];
    const groups = groupsOf(raw);
    if (group !== '*' && !groups.includes(group)) throw new SweepInputError(`--vary ${key}: ${file} has no domain entry named "${group}" (it has ${groups.join(', ')}; * means all)`);
    if (!DOMAIN_FIELDS.includes(field)) throw new SweepInputError(`--vary ${key}: "${field}" is not a domain field --vary can set (${DOMAIN_FIELDS.join(', ')})`);
    return;
  }
  throw new SweepInputError(`--vary ${key}: unknown key; keys are ${KEY_GRAMMAR}`);
}

/** A copy of the scenario JSON with the run's values set. */
export function applyValues(raw: Record<string, unknown>, values: Record<string, string>): Record<string, unknown> {
  const s = structuredClone(raw);
  for (const [key, v] of Object.entries(values)) {
    const parts = key.split('.');
    if (parts.length === 1) s[key] = typed(key, v);
    else if (parts[0] === 'xen_cmdline') s.xen_cmdline = setCmdlineParam(typeof s.xen_cmdline === 'string' ? s.xen_cmdline : '', parts[1]!, v);
    else {
      const [, group, field] = parts as [string, string, string];
      for (const d of (s.domains as Record<string, unknown>[]) ?? []) if (group === '*' || d.name === group) d[field] = typed(field, v);
    }
  }
  return s;
}

/** Every combination of the axes' values (first axis outermost), each with every seed (innermost). */
export function planRuns(vary: readonly VaryAxis[], seeds: readonly number[]): SweepRunSpec[] {
  // Counted before anything is built: five keys of 100 values are 10^10 combinations, which
  // building first would take all memory to find out.
  const count = vary.reduce((n, a) => n * a.values.length, seeds.length);
  if (count > MAX_RUNS) throw new SweepInputError(`the sweep has ${count > 1e15 ? count.toExponential(2) : count} runs; at most ${MAX_RUNS}`);
  let combos: Record<string, string>[] = [{}];
  for (const a of vary) combos = combos.flatMap((c) => a.values.map((v) => ({ ...c, [a.key]: v })));
  return combos.flatMap((values) => seeds.map((seed) => ({ values, seed }))).map((r, index) => ({ index, ...r }));
}

export function describeRun(r: SweepRunSpec): string {
  return [...Object.entries(r.values).map(([k, v]) => `${k}=${v}`), `seed ${r.seed}`].join(' ');
}

/**
 * Reads the scenario, checks every key, builds the runs and validates each run's scenario
 * (so a value out of range is refused before anything runs).
 */
export function makePlan(file: string, varyArgs: readonly string[], seedsArg: string | undefined): SweepPlan {
  let bytes: Uint8Array;
  try {
    bytes = readScenarioBytes(file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new SweepInputError(e.message);
    throw e;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch (e) {
    throw new SweepInputError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SweepInputError(`${file}: not a scenario (a JSON object)`);
  let base: Scenario;
  try {
    base = validateScenario(raw, file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new SweepInputError(e.message);
    throw e;
  }
  const vary = varyArgs.map(parseVary);
  const seen = new Set<string>();
  for (const a of vary) {
    if (seen.has(a.key)) throw new SweepInputError(`--vary ${a.key} is given twice`);
    seen.add(a.key);
    checkKey(a.key, raw, file);
  }
  const seeds = seedsArg === undefined ? [base.seed] : parseSeeds(seedsArg);
  const runs = planRuns(vary, seeds);
  // Each distinct combination once (seeds do not change validity).
  for (const r of runs) {
    if (r.seed !== seeds[0]) continue;
    try {
      validateScenario(applyValues(raw, r.values), file);
    } catch (e) {
      if (e instanceof ScenarioError) throw new SweepInputError(`run ${r.index} (${describeRun(r)}): ${e.message}`);
      throw e;
    }
  }
  const header: SweepHeader = {
    scenario: file,
    scenarioSha256: createHash('sha256').update(bytes).digest('hex'),
    name: typeof raw.name === 'string' ? raw.name : 'scenario',
    vary,
    seeds,
    runs: runs.length,
  };
  return { header, runs, raw };
}

/** The scenario of one run, validated. */
export function runScenarioOf(plan: SweepPlan, r: SweepRunSpec): Scenario {
  return validateScenario(applyValues(plan.raw, r.values), plan.header.scenario);
}
