// `pvsim compare <workload>...`: one workload in every mode (native, PV, HVM trap-and-emulate,
// HVM hardware-assisted), each I/O path and shadow policy, in deterministic virtual time in
// worker processes; prints the table and the orderings, writes --json / --html. See
// docs/compare.md.

import type { EngineKind } from '../hypervisor/cpu/engines.ts';
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './self.ts';
import { elapsed, Progress, progressBar } from './progress.ts';
import { runJobsInProcess, runJobsInWorkers } from './compare_pool.ts';
import { assembleReport, checksumDisagreements, parseCompareArgs, planJobs, type CompareRequest } from '../sim/compare/report.ts';
import { formatCompareTable } from '../sim/compare/table.ts';
import { renderCompareHtml } from '../sim/compare/html.ts';
import { CompareInputError } from '../sim/compare/workloads.ts';
import type { CompareReport } from '../sim/compare/types.ts';
import type { CellJob } from '../sim/compare/run_cell.ts';

export const COMPARE_EXIT_BAD_INPUT = 2;

export interface CompareCliOptions {
  modes?: string;
  io?: string;
  shadow?: string;
  seed?: string;
  json?: string;
  html?: string;
  vary?: string[];
  jobs?: number;
  /** Wall-clock bound of one run, in seconds. */
  timeout?: number;
  /** --progress / --no-progress; default: when stderr is a terminal. */
  progress?: boolean;
  /** --cpu: the engine of every run. */
  cpu?: EngineKind;
}

export const IMAGES = {
  work: join(PACKAGE_ROOT, 'guests/build/work.elf'),
  native: join(PACKAGE_ROOT, 'guests/build/native.elf'),
  sbi: join(PACKAGE_ROOT, 'guests/build/sbi.elf'),
};

/** Virtual time after which a run that has not printed its result fails. */
export const MAX_VIRTUAL_NS = 120e9;
export const DEFAULT_TIMEOUT_S = 600;
export const MAX_JOBS = 64;

export interface RunComparisonOptions {
  jobs: number;
  timeoutMs: number;
  /** --progress (true) / --no-progress (false); undefined: on stderr when it is a terminal (cli/progress.ts). */
  progress?: boolean;
  /** Run the cells in this process instead of workers (tests). */
  inProcess?: boolean;
  /** --cpu: the engine of every run (absent: DEFAULT_ENGINE). */
  cpu?: EngineKind;
}

export async function runComparison(req: CompareRequest, o: RunComparisonOptions): Promise<CompareReport> {
  const jobs: Omit<CellJob, 'tmpDir'>[] = planJobs(req).map((j) => ({ ...j, images: IMAGES, maxVirtualNs: MAX_VIRTUAL_NS, ...(o.cpu ? { cpu: o.cpu } : {}) }));
  const t0 = Date.now();
  const progress = new Progress({ prefix: 'pvsim compare', flag: o.progress });
  let state: [number, number, string[]] = [0, jobs.length, []];
  const text = () => {
    const [done, total, running] = state;
    return `${progressBar(done, total, 20)} ${done}/${total} runs, ${elapsed(t0)}${running.length ? `, running: ${running.join('; ')}` : ''}`;
  };
  const onProgress = progress.enabled ? (done: number, total: number, running: string[]) => ((state = [done, total, running]), progress.update(text(), done === total)) : undefined;
  // Also every second: a long cell reports nothing between its start and its end.
  progress.every(1000, text);
  try {
    const cells = o.inProcess ? await runJobsInProcess(jobs, onProgress) : await runJobsInWorkers(jobs, { jobs: o.jobs, timeoutMs: o.timeoutMs, onProgress });
    return assembleReport(req, cells);
  } finally {
    progress.done();
  }
}

/** Cells that failed. */
export function realFailures(r: CompareReport): string[] {
  return r.cells.filter((c) => !c.ok).map((c) => `${c.workload} ${c.mode}${c.io ? ` ${c.io}` : ''}: ${c.error}`);
}

export async function compareCommand(workloads: string[], o: CompareCliOptions): Promise<number> {
  let req: CompareRequest;
  try {
    req = parseCompareArgs({ workloads, modes: o.modes, io: o.io, shadow: o.shadow, seed: o.seed, vary: o.vary });
    if (o.jobs !== undefined && o.jobs > MAX_JOBS) throw new CompareInputError(`--jobs ${o.jobs}: at most ${MAX_JOBS} worker processes`);
    // One file for both: the HTML would overwrite the JSON after the whole run.
    if (o.json !== undefined && o.json === o.html) throw new CompareInputError(`--json and --html name the same file ${o.json}`);
  } catch (e) {
    if (!(e instanceof CompareInputError)) throw e;
    process.stderr.write(`pvsim compare: ${e.message}\n`);
    return COMPARE_EXIT_BAD_INPUT;
  }
  const report = await runComparison(req, { jobs: o.jobs ?? Math.min(availableParallelism(), MAX_JOBS), timeoutMs: (o.timeout ?? DEFAULT_TIMEOUT_S) * 1000, progress: o.progress, ...(o.cpu ? { cpu: o.cpu } : {}) });
  process.stdout.write(formatCompareTable(report));
  // A file that cannot be written (its disk full, its directory gone or read-only since the
  // start) costs that file only, with a message: the other file is still written and the
  // table was printed, so a long comparison is not lost to a stack trace.
  let unwritten = 0;
  const write = (what: string, file: string, text: () => string) => {
    try {
      writeFileSync(file, text());
      process.stdout.write(`\n${what} report: ${file}\n`);
    } catch (e) {
      unwritten++;
      process.stderr.write(`pvsim compare: cannot write the ${what} report ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    }
  };
  if (o.json) write('JSON', o.json, () => JSON.stringify(report, null, 2) + '\n');
  if (o.html) write('HTML', o.html, () => renderCompareHtml(report));
  if (unwritten) return 1;
  const failures = realFailures(report);
  const bad = checksumDisagreements(report);
  if (failures.length || bad.length) {
    process.stderr.write(`pvsim compare: ${failures.length} run(s) failed${bad.length ? `, checksums differ for ${bad.map((b) => b.workload).join(', ')}` : ''}\n`);
    return 1;
  }
  return 0;
}
