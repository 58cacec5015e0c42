// Worker processes for `pvsim sweep` (cli/worker_pool.ts): each a fork of our own CLI
// (`pvsim sweep-worker`) that runs one sweep run at a time. At most `jobs` workers; a run that
// outlives its wall-clock bound has its worker killed and is reported failed; every worker is
// killed when the sweep ends, fails, or this process exits or is signalled.

import { runInWorkers, serveWorker } from './worker_pool.ts';
import type { EngineKind } from '../hypervisor/cpu/engines.ts';
import { describeRun, makePlan, type SweepPlan } from '../sim/sweep/plan.ts';
import { failedRun, runSweepRun, type SweepRunResult } from '../sim/sweep/run.ts';

/** What identifies the sweep to a worker: it builds the same plan from the same arguments. */
export interface SweepArgs {
  scenario: string;
  vary: string[];
  seeds: string;
  /** The parent's scenario hash: a worker that reads another version refuses. */
  scenarioSha256: string;
  /** --cpu (every domain's engine); absent: the scenario's. */
  cpu?: EngineKind;
}

/** One job of a worker: run `index` of the sweep `args` names. */
interface SweepJob {
  args: SweepArgs;
  index: number;
}

export interface SweepPoolOptions {
  jobs: number;
  timeoutMs: number;
  onProgress?: (done: number, total: number, running: number) => void;
}

/** Runs every run of the plan on up to `jobs` workers; results in run order. */
export async function runSweepInWorkers(plan: SweepPlan, args: SweepArgs, opts: SweepPoolOptions): Promise<SweepRunResult[]> {
  const onProgress = opts.onProgress;
  return runInWorkers(
    plan.runs.map((_, index): SweepJob => ({ args, index })),
    {
      command: 'sweep-worker',
      name: 'pvsim sweep',
      workers: opts.jobs,
      timeoutMs: opts.timeoutMs,
      failed: (job, why) => failedRun(plan.runs[job.index]!, why),
      timedOut: (ms) => `no result within ${ms / 1000} s of wall time: worker killed`,
      onProgress: onProgress && ((done, total, running) => onProgress(done, total, running.length)),
    },
  );
}

/** `pvsim sweep-worker`: runs the runs its parent sends, one at a time, until disconnected. */
export function sweepWorker(): void {
  const plans = new Map<string, SweepPlan>();
  const planFor = (a: SweepArgs): SweepPlan => {
    const key = JSON.stringify(a);
    let p = plans.get(key);
    if (!p) {
      p = makePlan(a.scenario, a.vary, a.seeds);
      if (p.header.scenarioSha256 !== a.scenarioSha256) throw new Error(`${a.scenario} changed while the sweep ran`);
      plans.set(key, p);
    }
    return p;
  };
  serveWorker({
    command: 'sweep-worker',
    name: 'pvsim sweep',
    // A plan that cannot be built (the scenario changed) throws: `failed` below, with no spec.
    run: async (job: SweepJob) => {
      const plan = planFor(job.args);
      const spec = plan.runs[job.index]!;
      return runSweepRun(plan, spec, job.args.cpu).catch((e: unknown) => failedRun(spec, `worker: ${describeRun(spec)}: ${(e as Error).message}`));
    },
    failed: (job, why) => failedRun({ index: job.index, values: {}, seed: 0 }, why),
  });
}
