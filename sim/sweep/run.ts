// One run of a sweep, in this process (a sweep worker, or a Kubernetes pod given --index):
// the scenario with the run's values, dom0's daemons in-process (the same hash as with
// processes), reduced to what the sweep's CSV, JSON and HTML show.

import { dirname } from 'node:path';
import { runScenario } from '../scenario/runner.ts';
import type { EngineKind } from '../../hypervisor/cpu/engines.ts';
import { ScenarioError } from '../scenario/schema.ts';
import { runScenarioOf, type SweepPlan, type SweepRunSpec } from './plan.ts';
import type { FairnessEntry, LatencySummary } from '../scenario/metrics.ts';

export interface SweepDomainRow {
  name: string;
  group: string;
  weight: number;
  cap: number;
  /** Share of one pCPU over the run (4 decimals). */
  cpuShare: number;
  latency: LatencySummary;
  deadlineMisses: number;
}

export interface SweepRunResult {
  index: number;
  values: Record<string, string>;
  seed: number;
  ok: boolean;
  /** Why the run failed (ok false). */
  error?: string;
  scheduler: string;
  pcpus: number;
  traceHash: string;
  /** Mean utilisation per pCPU over the run (4 decimals). */
  pcpuUtilisation: number[];
  fairness: { byWeight: FairnessEntry[]; byGroup: FairnessEntry[] };
  latencyByGroup: (LatencySummary & { group: string })[];
  deadlineMisses: number;
  domains: SweepDomainRow[];
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export function failedRun(r: SweepRunSpec, error: string): SweepRunResult {
  return {
    index: r.index, values: r.values, seed: r.seed, ok: false, error, scheduler: '', pcpus: 0, traceHash: '',
    pcpuUtilisation: [], fairness: { byWeight: [], byGroup: [] }, latencyByGroup: [], deadlineMisses: 0, domains: [],
  };
}

/** One run of the sweep; `cpu`: the sweep's --cpu (every domain's engine), else the scenario's. */
export async function runSweepRun(plan: SweepPlan, r: SweepRunSpec, cpu?: EngineKind): Promise<SweepRunResult> {
  try {
    const s = runScenarioOf(plan, r);
    const res = await runScenario(s, { baseDir: dirname(plan.header.scenario), seed: r.seed, ...(cpu ? { cpu } : {}) });
    const m = res.metrics;
    return {
      index: r.index,
      values: r.values,
      seed: r.seed,
      ok: true,
      scheduler: res.scheduler,
      pcpus: res.pcpus,
      traceHash: res.traceHash,
      pcpuUtilisation: m.pcpuUtilisation.map((u) => r4(u.reduce((a, b) => a + b, 0) / Math.max(1, u.length))),
      fairness: m.fairness,
      latencyByGroup: m.latencyByGroup.map(({ histogram: _h, ...g }) => g),
      deadlineMisses: m.deadlineMisses,
      domains: res.domains.map((d) => ({ name: d.name, group: d.group, weight: d.weight, cap: d.cap, cpuShare: r4(d.cpuShare), latency: d.latency, deadlineMisses: d.deadlineMisses })),
    };
  } catch (e) {
    if (e instanceof ScenarioError) return failedRun(r, e.message);
    return failedRun(r, `${(e as Error).name}: ${(e as Error).message}`);
  }
}
