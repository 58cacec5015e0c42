// Worker processes for `pvsim compare` (cli/worker_pool.ts): each a fork of our own CLI
// (`pvsim compare-worker`) that runs one cell at a time. A cell that outlives its wall-clock
// bound has its worker killed and is reported as failed; every worker is killed when the
// comparison ends, fails or this process exits.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInWorkers, serveWorker } from './worker_pool.ts';
import { runCell, type CellJob } from '../sim/compare/run_cell.ts';
import type { CompareCell } from '../sim/compare/types.ts';

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

/** Runs the jobs on up to `opts.jobs` workers; the cells come back in the jobs' order. */
export async function runJobsInWorkers(jobs: Omit<CellJob, 'tmpDir'>[], opts: PoolOptions): Promise<CompareCell[]> {
  const onProgress = opts.onProgress;
  return runInWorkers(jobs, {
    command: 'compare-worker',
    name: 'pvsim compare',
    workers: opts.jobs,
    timeoutMs: opts.timeoutMs,
    failed: failedCell,
    timedOut: (ms) => `timed out after ${ms / 1000} s of wall time`,
    onProgress: onProgress && ((done, total, running) => onProgress(done, total, running.map(describe))),
  });
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
  serveWorker({ command: 'compare-worker', name: 'pvsim compare', run: runCellInTmp, failed: failedCell });
}
