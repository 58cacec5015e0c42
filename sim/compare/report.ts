// A comparison from its request to its report: the options checked (a mistake is an error
// before anything runs), the cells to run, and the report assembled from the cells (slowdowns
// against native, the orderings). Running the cells is the caller's (cli/compare.ts runs them
// in worker processes; tests may run them in-process with runCell).

import { DEFAULT_COSTS, type CostModel } from '../../hypervisor/time/cost_model.ts';
import { COMPARE_IO_PATHS, COMPARE_MODES, type CompareCell, type CompareIoPath, type CompareMode, type CompareReport, type CompareShadow } from './types.ts';
import { CompareInputError, parseWorkload, type WorkloadSpec } from './workloads.ts';
import { computeOrderings } from './orderings.ts';
import type { CellJob } from './run_cell.ts';

export const COMPARE_SHADOWS: readonly CompareShadow[] = ['wp', 'lazy'];

export interface CompareRequest {
  workloads: WorkloadSpec[];
  modes: CompareMode[];
  ioPaths: CompareIoPath[];
  shadows: CompareShadow[];
  seed: number;
  varied: { key: keyof CostModel; values: number[] }[];
}

export interface CompareArgs {
  workloads: string[];
  modes?: string;
  io?: string;
  shadow?: string;
  seed?: string | number;
  /** Each `cost.KEY=V1,V2,...`. */
  vary?: string[];
}

function list<T extends string>(what: string, value: string | undefined, known: readonly T[], fallback: readonly T[]): T[] {
  if (value === undefined) return [...fallback];
  const items = value.split(',').map((s) => s.trim());
  const out: T[] = [];
  for (const it of items) {
    if (!(known as readonly string[]).includes(it)) throw new CompareInputError(`unknown ${what} "${it}"; known: ${known.join(', ')}`);
    if (out.includes(it as T)) throw new CompareInputError(`${what} "${it}" given twice`);
    out.push(it as T);
  }
  if (out.length === 0) throw new CompareInputError(`no ${what} given`);
  return out;
}

export const COST_KEYS = Object.keys(DEFAULT_COSTS) as (keyof CostModel)[];

/** `cost.KEY=V1,V2,...` → the key and its values; a bad key names the valid ones. */
export function parseVary(arg: string): { key: keyof CostModel; values: number[] } {
  const m = /^cost\.([A-Za-z0-9_]+)=(.+)$/.exec(arg);
  if (!m) throw new CompareInputError(`--vary "${arg}": expected cost.KEY=V1,V2,... (e.g. cost.hvmExitNs=300,600)`);
  const key = m[1]!;
  if (!(COST_KEYS as string[]).includes(key)) throw new CompareInputError(`--vary: unknown cost key "${key}"; valid keys: ${COST_KEYS.join(', ')}`);
  const values = m[2]!.split(',').map((v) => {
    const t = v.trim();
    const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
    if (!Number.isFinite(n) || n > 1e12) throw new CompareInputError(`--vary cost.${key}: "${v}" is not a non-negative number`);
    return n;
  });
  if (new Set(values).size !== values.length) throw new CompareInputError(`--vary cost.${key}: a value is given twice`);
  // Every other cost may be 0 (an assumption worth trying); an instruction must take time,
  // or a guest that spins would never let virtual time reach its timer.
  if (key === 'instructionNs' && values.includes(0)) throw new CompareInputError('--vary cost.instructionNs: must be above 0');
  return { key: key as keyof CostModel, values };
}

export function parseCompareArgs(a: CompareArgs): CompareRequest {
  if (a.workloads.length === 0) throw new CompareInputError('no workload given');
  const workloads = a.workloads.map(parseWorkload);
  const labels = new Set<string>();
  for (const w of workloads) {
    if (labels.has(w.label)) throw new CompareInputError(`workload "${w.label}" given twice`);
    labels.add(w.label);
  }
  let seed = 1;
  if (a.seed !== undefined) {
    const s = String(a.seed);
    if (!/^\d+$/.test(s) || Number(s) > 2 ** 32 - 1) throw new CompareInputError(`--seed must be an integer from 0 to ${2 ** 32 - 1}, got "${s}"`);
    seed = Number(s);
  }
  const varied = (a.vary ?? []).map(parseVary);
  const keys = new Set<string>();
  for (const v of varied) {
    if (keys.has(v.key)) throw new CompareInputError(`--vary cost.${v.key} given twice`);
    keys.add(v.key);
  }
  const req: CompareRequest = {
    workloads,
    modes: list('mode', a.modes, COMPARE_MODES, COMPARE_MODES),
    ioPaths: list('I/O path', a.io, COMPARE_IO_PATHS, COMPARE_IO_PATHS),
    shadows: list('shadow policy', a.shadow, COMPARE_SHADOWS, ['wp']),
    seed,
    varied,
  };
  // Counted before the --vary combinations are built (five keys of 100 values are 10^10 of
  // them): each combination runs the same cells.
  const cells = planJobs({ ...req, varied: [] }).length * varied.reduce((n, v) => n * v.values.length, 1);
  if (cells > MAX_CELLS) throw new CompareInputError(`${cells > 1e15 ? cells.toExponential(2) : cells} runs asked for (workloads × modes × I/O paths × shadows × --vary values); at most ${MAX_CELLS}`);
  if (cells === 0) throw new CompareInputError('no run: none of the modes has any of the I/O paths given');
  return req;
}

/** Every combination of the varied keys' values ([{}] when nothing is varied). */
export function varyCombos(varied: CompareRequest['varied']): Record<string, number>[] {
  let out: Record<string, number>[] = [{}];
  for (const { key, values } of varied) out = out.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return out;
}

/** The I/O paths a mode has: native has the emulated devices' real twins, PV its split drivers. */
const MODE_IO: Record<CompareMode, readonly CompareIoPath[]> = {
  native: ['virtio', 'legacy'],
  pv: ['pv'],
  'hvm-trap': ['virtio', 'legacy', 'pvhvm'],
  'hvm-hw': ['virtio', 'legacy', 'pvhvm'],
};

export type PlannedJob = Omit<CellJob, 'images' | 'tmpDir' | 'maxVirtualNs'>;

/** A comparison of more cells than this is refused (a typo in --vary should not start 10^6 runs). */
export const MAX_CELLS = 4096;

/** The cells to run, in report order: vary combination, workload, mode, I/O path, shadow. */
export function planJobs(req: CompareRequest): PlannedJob[] {
  const jobs: PlannedJob[] = [];
  for (const vary of varyCombos(req.varied)) {
    for (const w of req.workloads) {
      for (const mode of req.modes) {
        // The network has no legacy device (pvsim emulates only virtio-net).
        const ios: (CompareIoPath | null)[] = w.def.io === 'none' ? [null] : req.ioPaths.filter((io) => MODE_IO[mode].includes(io) && !(w.def.io === 'net' && io === 'legacy'));
        for (const io of ios) {
          for (const shadow of mode === 'hvm-trap' ? req.shadows : [null]) jobs.push({ workload: w.label, mode, io, shadow, vary, seed: req.seed });
        }
      }
    }
  }
  return jobs;
}

const sameVary = (a: Record<string, number>, b: Record<string, number>) => JSON.stringify(a) === JSON.stringify(b);

/** The report of a run: cells in plan order with their slowdowns, and the orderings. */
export function assembleReport(req: CompareRequest, cells: CompareCell[]): CompareReport {
  const out = cells.map((c) => ({ ...c }));
  for (const c of out) {
    if (!c.ok) continue;
    // The baseline: the native cell of the same workload and cost values, on the same
    // device (a PV or PVHVM path against native virtio, the device the native kernel has).
    const io = c.io === 'pv' || c.io === 'pvhvm' ? 'virtio' : c.io;
    const nat = out.find((n) => n.mode === 'native' && n.ok && n.workload === c.workload && n.io === io && sameVary(n.vary, c.vary));
    c.slowdown = nat && nat.virtualNs > 0 ? Math.round((c.virtualNs / nat.virtualNs) * 1e4) / 1e4 : null;
  }
  return {
    version: 1,
    seed: req.seed,
    costModel: { ...DEFAULT_COSTS },
    workloads: req.workloads.map((w) => w.label),
    modes: req.modes,
    ioPaths: req.ioPaths,
    shadows: req.shadows,
    varied: req.varied.map((v) => ({ key: v.key, values: v.values })),
    cells: out,
    orderings: computeOrderings(out, varyCombos(req.varied)),
  };
}

/** Workloads whose ok cells disagree on the checksum (each with the values seen). */
export function checksumDisagreements(r: CompareReport): { workload: string; values: string[] }[] {
  const out: { workload: string; values: string[] }[] = [];
  for (const w of r.workloads) {
    const values = [...new Set(r.cells.filter((c) => c.workload === w && c.ok).map((c) => c.checksum))];
    if (values.length > 1) out.push({ workload: w, values });
  }
  return out;
}
