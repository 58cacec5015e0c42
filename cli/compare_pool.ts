// Worker processes for `pvsim compare`: each a fork of our own CLI (`pvsim compare-worker`)
// that runs one cell at a time and answers over the IPC channel. A cell that outlives its
// wall-clock bound has its worker killed and is reported as failed; every worker is killed
// when the comparison ends, fails or this process exits.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pvsimArgv } from './self.ts';
import { runCell, type CellJob } from '../sim/compare/run_cell.ts';
import type { CompareCell } from '../sim/compare/types.ts';

/** setTimeout's largest delay: a longer one (--timeout past 24.8 days) fires at once, killing every run. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the parent sends a worker, and what it answers. */
export interface WorkerRequest {
  id: number;
  job: Omit<CellJob, 'tmpDir'>;
}
export interface WorkerAnswer {
  id: number;
  cell: CompareCell;
}

export interface PoolOptions {
  jobs: number;
  /** Wall-clock bound of one cell (ms). */
  timeoutMs: number;
  /** Called when a cell starts and when it ends. */
  onProgress?: (done: number, total: number, running: string[]) => void;
}

const describe = (j: Omit<CellJob, 'tmpDir'>) => [j.workload, j.mode, j.io, j.shadow, ...Object.entries(j.vary).map(([k, v]) => `${k}=${v}`)].filter((x) => x).join(' ');

function failedCell(job: Omit<CellJob, 'tmpDir'>, error: string): CompareCell {
  return {
    workload: job.workload, mode: job.mode, io: job.io, shadow: job.shadow, vary: { ...job.vary },
    ok: false, error, checksum: '', result: {}, virtualNs: 0, slowdown: null,
    instructions: { guestUser: 0, guestKernel: 0, hypervisor: 0, dom0: 0 },
    timeNs: { guestUser: 0, guestKernel: 0, hypervisor: 0, dom0: 0, idle: 0 },
    exits: [], illegalInsn: [], hypercalls: [],
    mmu: { pageWalks: 0, refsPerWalk: 0, tlbMisses: 0, shadowFills: 0, shadowFlushes: {}, wpFaults: 0, mmuUpdateCalls: 0, ptesPerMmuUpdate: 0 },
  };
}

interface Worker {
  child: ChildProcess;
  busy: { id: number; timer: NodeJS.Timeout } | null;
  stderr: string;
}

/** Runs the jobs on up to `opts.jobs` workers; the cells come back in the jobs' order. */
export async function runJobsInWorkers(jobs: Omit<CellJob, 'tmpDir'>[], opts: PoolOptions): Promise<CompareCell[]> {
  const cells: (CompareCell | undefined)[] = new Array(jobs.length);
  const workers = new Set<Worker>();
  let next = 0;
  let done = 0;
  const killAll = () => {
    for (const w of workers) w.child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  // Ctrl-C or a kill: the workers go first (a worker deep in a run would not notice the
  // closed channel until its run ends).
  const onSignal = (sig: NodeJS.Signals) => {
    killAll();
    process.stderr.write(`\npvsim compare: ${sig}: workers stopped\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = () => opts.onProgress?.(done, jobs.length, [...workers].filter((w) => w.busy).map((w) => describe(jobs[w.busy!.id]!)));
  try {
    await new Promise<void>((resolve) => {
      const finish = (w: Worker, id: number, cell: CompareCell, more = true) => {
        if (cells[id] === undefined) {
          cells[id] = cell;
          done++;
        }
        if (w.busy) clearTimeout(w.busy.timer);
        w.busy = null;
        progress();
        if (done === jobs.length) return resolve();
        if (more) give(w);
      };
      const give = (w: Worker) => {
        if (next >= jobs.length) {
          workers.delete(w);
          w.child.kill('SIGKILL');
          return;
        }
        const id = next++;
        const timer = setTimeout(() => {
          // Killed: its exit handler reports the cell and starts a fresh worker.
          w.child.kill('SIGKILL');
        }, Math.min(opts.timeoutMs, MAX_TIMER_MS));
        w.busy = { id, timer };
        const req: WorkerRequest = { id, job: jobs[id]! };
        w.child.send(req);
        progress();
      };
      const spawn = () => {
        const [main, ...args] = pvsimArgv(['compare-worker']);
        const child = fork(main!, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
        const w: Worker = { child, busy: null, stderr: '' };
        workers.add(w);
        // A send to a worker that just died: its exit handler reports the cell.
        child.on('error', () => {});
        child.stderr!.on('data', (b: Buffer) => {
          w.stderr = (w.stderr + b.toString()).slice(-2048);
        });
        // The worker says when it is ready: its start-up (loading the simulator) is not
        // part of any run's time bound.
        child.on('message', (m: WorkerAnswer | { ready: true }) => {
          if ('ready' in m) give(w);
          else if (w.busy && m.id === w.busy.id) finish(w, m.id, m.cell);
        });
        child.on('exit', (code, signal) => {
          const was = workers.delete(w);
          if (!w.busy) {
            // No worker left while cells wait (workers that cannot even start): those cells fail.
            if (workers.size === 0 && done < jobs.length) {
              const why = `worker exited before it was ready (${signal ?? `status ${code}`})${w.stderr ? `: ${w.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
              while (next < jobs.length) {
                const id = next++;
                finish(w, id, failedCell(jobs[id]!, why), false);
              }
            }
            return;
          }
          const { id, timer } = w.busy;
          clearTimeout(timer);
          w.busy = null;
          const why = signal === 'SIGKILL' ? `timed out after ${opts.timeoutMs / 1000} s of wall time` : `worker exited (${signal ?? `status ${code}`})${w.stderr ? `: ${w.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
          // A fresh worker takes the next cell once it is ready.
          if (was && next < jobs.length) spawn();
          finish(w, id, failedCell(jobs[id]!, why), false);
        });
        return w;
      };
      if (jobs.length === 0) return resolve();
      for (let i = 0; i < Math.min(opts.jobs, jobs.length); i++) spawn();
    });
  } finally {
    killAll();
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return cells as CompareCell[];
}

/** Runs the jobs one after the other in this process (tests, `--jobs 1` without forking). */
export async function runJobsInProcess(jobs: Omit<CellJob, 'tmpDir'>[], onProgress?: PoolOptions['onProgress']): Promise<CompareCell[]> {
  const out: CompareCell[] = [];
  for (const job of jobs) {
    onProgress?.(out.length, jobs.length, [describe(job)]);
    out.push(await runCellInTmp(job));
  }
  onProgress?.(out.length, jobs.length, []);
  return out;
}

/** runCell with a private temporary directory for its disk images, removed afterwards. */
export async function runCellInTmp(job: Omit<CellJob, 'tmpDir'>): Promise<CompareCell> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-compare-'));
  try {
    return await runCell({ ...job, tmpDir: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `pvsim compare-worker`: runs the cells its parent sends, one at a time, until disconnected. */
export function compareWorker(): void {
  if (!process.send) {
    process.stderr.write('pvsim compare-worker: run by `pvsim compare` only (needs an IPC channel)\n');
    process.exitCode = 2;
    return;
  }
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
  process.on('message', (m: WorkerRequest) => {
    void runCellInTmp(m.job)
      .catch((e: unknown) => failedCell(m.job, `worker: ${(e as Error).message}`))
      .then((cell) => process.send!({ id: m.id, cell } satisfies WorkerAnswer));
  });
}
