// Worker processes for `pvsim sweep`: each a fork of our own CLI (`pvsim sweep-worker`) that
// runs one sweep run at a time and answers over the IPC channel. At most `jobs` workers; a
// run that outlives its wall-clock bound has its worker killed and is reported failed; every
// worker is killed when the sweep ends, fails, or this process exits or is signalled.

import { fork, type ChildProcess } from 'node:child_process';
import { pvsimArgv } from './self.ts';
import { describeRun, makePlan, type SweepPlan } from '../sim/sweep/plan.ts';
import { failedRun, runSweepRun, type SweepRunResult } from '../sim/sweep/run.ts';

/** setTimeout's largest delay: a longer one (--timeout past 24.8 days) fires at once, killing every run. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What identifies the sweep to a worker: it builds the same plan from the same arguments. */
export interface SweepArgs {
  scenario: string;
  vary: string[];
  seeds: string;
  /** The parent's scenario hash: a worker that reads another version refuses. */
  scenarioSha256: string;
}

interface WorkerRequest {
  args: SweepArgs;
  index: number;
}
interface WorkerAnswer {
  index: number;
  result: SweepRunResult;
}

export interface SweepPoolOptions {
  jobs: number;
  timeoutMs: number;
  onProgress?: (done: number, total: number, running: number) => void;
}

interface Worker {
  child: ChildProcess;
  busy: { index: number; timer: NodeJS.Timeout } | null;
  stderr: string;
}

/** Runs every run of the plan on up to `jobs` workers; results in run order. */
export async function runSweepInWorkers(plan: SweepPlan, args: SweepArgs, opts: SweepPoolOptions): Promise<SweepRunResult[]> {
  const total = plan.runs.length;
  const results: (SweepRunResult | undefined)[] = new Array(total);
  const workers = new Set<Worker>();
  let next = 0;
  let done = 0;
  const killAll = () => {
    for (const w of workers) w.child.kill('SIGKILL');
  };
  const onSignal = (sig: NodeJS.Signals) => {
    killAll();
    process.stderr.write(`\npvsim sweep: ${sig}: workers stopped\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', killAll);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const running = () => [...workers].filter((w) => w.busy).length;
  try {
    if (total === 0) return [];
    await new Promise<void>((resolve) => {
      const finish = (w: Worker, index: number, result: SweepRunResult) => {
        if (results[index] === undefined) {
          results[index] = result;
          done++;
        }
        if (w.busy) clearTimeout(w.busy.timer);
        w.busy = null;
        opts.onProgress?.(done, total, running());
        if (done === total) return resolve();
        give(w);
      };
      const give = (w: Worker) => {
        if (next >= total) {
          workers.delete(w);
          w.child.kill('SIGKILL');
          return;
        }
        const index = next++;
        const timer = setTimeout(() => w.child.kill('SIGKILL'), Math.min(opts.timeoutMs, MAX_TIMER_MS));
        w.busy = { index, timer };
        w.child.send({ args, index } satisfies WorkerRequest);
        opts.onProgress?.(done, total, running());
      };
      const spawn = () => {
        const [main, ...rest] = pvsimArgv(['sweep-worker']);
        const child = fork(main!, rest, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
        const w: Worker = { child, busy: null, stderr: '' };
        workers.add(w);
        child.on('error', () => {});
        child.stderr!.on('data', (b: Buffer) => {
          w.stderr = (w.stderr + b.toString()).slice(-2048);
        });
        child.on('message', (m: WorkerAnswer | { ready: true }) => {
          if ('ready' in m) give(w);
          else if (w.busy && m.index === w.busy.index) finish(w, m.index, m.result);
        });
        child.on('exit', (code, signal) => {
          const was = workers.delete(w);
          if (!w.busy) return;
          const { index, timer } = w.busy;
          clearTimeout(timer);
          w.busy = null;
          const why = signal === 'SIGKILL' ? `no result within ${opts.timeoutMs / 1000} s of wall time: worker killed` : `worker exited (${signal ?? `status ${code}`})${w.stderr ? `: ${w.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
          if (results[index] === undefined) {
            results[index] = failedRun(plan.runs[index]!, why);
            done++;
          }
          opts.onProgress?.(done, total, running());
          if (done === total) return resolve();
          // A fresh worker for the rest (the dead one cannot take more).
          if (was && next < total) spawn();
        });
      };
      for (let i = 0; i < Math.min(opts.jobs, total); i++) spawn();
    });
    return results as SweepRunResult[];
  } finally {
    killAll();
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `pvsim sweep-worker`: runs the runs its parent sends, one at a time, until disconnected. */
export function sweepWorker(): void {
  if (!process.send) {
    process.stderr.write('pvsim sweep-worker: run by `pvsim sweep` only (needs an IPC channel)\n');
    process.exitCode = 2;
    return;
  }
  process.on('disconnect', () => process.exit(0));
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
  process.send({ ready: true });
  process.on('message', (m: WorkerRequest) => {
    let plan: SweepPlan;
    try {
      plan = planFor(m.args);
    } catch (e) {
      process.send!({ index: m.index, result: failedRun({ index: m.index, values: {}, seed: 0 }, `worker: ${(e as Error).message}`) } satisfies WorkerAnswer);
      return;
    }
    const spec = plan.runs[m.index]!;
    void runSweepRun(plan, spec)
      .catch((e: unknown) => failedRun(spec, `worker: ${describeRun(spec)}: ${(e as Error).message}`))
      .then((result) => process.send!({ index: m.index, result } satisfies WorkerAnswer));
  });
}
