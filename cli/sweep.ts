// `pvsim sweep <scenario> --vary KEY=V1,V2,... --seeds 1..N`: every combination of the
// varied values and seeds, run in parallel worker processes (a progress bar on stderr when
// it is a terminal), written as CSV, JSON and HTML with one row per run and domain. Also
// the Kubernetes form: --emit k8s (an Indexed Job), --index I --out DIR (one run, as each
// pod runs it) and --collect DIR (the merged results). docs/sweep.md.

import { elapsed, Progress, progressBar } from './progress.ts';
import type { EngineKind } from '../hypervisor/cpu/engines.ts';
import { availableParallelism } from 'node:os';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeRun, makePlan, MAX_RUNS, SweepInputError, type SweepHeader, type SweepPlan } from '../sim/sweep/plan.ts';
import { KernelFileError, readRegularFile } from '../xenguest/kernel_file.ts';
import { runSweepRun, type SweepRunResult } from '../sim/sweep/run.ts';
import { sweepCsv, sweepHtml, sweepJson, type SweepReport } from '../sim/sweep/output.ts';
import { k8sJobManifest, seedsText } from '../sim/sweep/k8s.ts';
import { runSweepInWorkers } from './sweep_pool.ts';

export const SWEEP_EXIT_BAD_INPUT = 2;
export const MAX_SWEEP_JOBS = 64;

export interface SweepCliOptions {
  vary?: string[];
  seeds?: string;
  jobs?: number;
  csv?: string;
  json?: string;
  html?: string;
  timeout?: number;
  emit?: string;
  image?: string;
  claim?: string;
  parallelism?: number;
  jobName?: string;
  workdir?: string;
  index?: string;
  out?: string;
  collect?: string;
  /** --progress / --no-progress; default: when stderr is a terminal. */
  progress?: boolean;
  /** --cpu: every domain's engine (over the scenario's cpu and domains' cpu_engine). */
  cpu?: EngineKind;
}

/** The name of the file run `index` writes under --out (and --collect reads). */
export const runFileName = (index: number) => `run-${String(index).padStart(6, '0')}.json`;


/** The table on stdout: a line per run, each group's mean CPU share and p99 latency. */
export function sweepTable(r: SweepReport): string {
  const keys = r.sweep.vary.map((a) => a.key);
  const lines = [`sweep ${r.sweep.name}: ${r.sweep.runs} runs (${r.sweep.vary.map((a) => `${a.key} x${a.values.length}`).concat(`seeds x${r.sweep.seeds.length}`).join(', ')})`];
  for (const run of r.runs) {
    const head = [`run ${run.index}`, ...keys.map((k) => `${k}=${run.values[k]}`), `seed ${run.seed}`].join(' ');
    if (!run.ok) {
      lines.push(`${head}: FAILED: ${run.error}`);
      continue;
    }
    const groups = run.fairness.byGroup.map((f) => {
      const l = run.latencyByGroup.find((x) => x.group === f.key);
      return `${f.key} ${(100 * f.meanShare).toFixed(1)}%${l && l.wakeups ? ` p99 ${(l.p99Ns / 1e3).toFixed(1)}us` : ''}`;
    });
    lines.push(`${head}: ${groups.join(', ')}; trace-hash ${run.traceHash}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Writes --csv, --json and --html; one that cannot be written (disk full, directory gone)
 * is named on stderr and the others are still written. Returns how many failed.
 */
function writeOutputs(report: SweepReport, o: SweepCliOptions): number {
  let failed = 0;
  const write = (opt: string, file: string | undefined, text: () => string) => {
    if (!file) return;
    try {
      writeFileSync(file, text());
    } catch (e) {
      failed++;
      process.stderr.write(`pvsim sweep: cannot write ${opt} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    }
  };
  write('--csv', o.csv, () => sweepCsv(report));
  write('--json', o.json, () => sweepJson(report));
  write('--html', o.html, () => sweepHtml(report));
  return failed;
}

// What a result file must hold before anything uses it: the files come from a volume pods
// (or anyone) wrote, and a field of the wrong type would only fail later, in the middle of
// writing the CSV. Checked, not parsed: the file's own objects are kept (their key order
// is what a direct sweep writes).
const finite = z.number().finite();
const Latency = z.object({ wakeups: finite, p50Ns: finite, p99Ns: finite, maxNs: finite, meanNs: finite });
const Fairness = z.object({ key: z.string(), weight: finite, domains: finite, jain: finite, meanShare: finite, minShare: finite, maxShare: finite });
const ResultFile = z.object({
  sweep: z.object({
    scenario: z.string(),
    scenarioSha256: z.string(),
    name: z.string(),
    vary: z.array(z.object({ key: z.string(), values: z.array(z.string()) })),
    seeds: z.array(z.number().int().min(0)),
    runs: z.number().int().min(1).max(MAX_RUNS),
  }),
  run: z.object({
    index: z.number().int().min(0),
    values: z.record(z.string(), z.string()),
    seed: z.number().int().min(0),
    ok: z.boolean(),
    error: z.string().optional(),
    scheduler: z.string(),
    pcpus: finite,
    traceHash: z.string(),
    pcpuUtilisation: z.array(finite),
    fairness: z.object({ byWeight: z.array(Fairness), byGroup: z.array(Fairness) }),
    latencyByGroup: z.array(Latency.extend({ group: z.string() })),
    deadlineMisses: finite,
    domains: z.array(z.object({ name: z.string(), group: z.string(), weight: finite, cap: finite, cpuShare: finite, latency: Latency, deadlineMisses: finite })),
  }),
});

/** The largest result file --collect reads (one run's rows: a 10,000-domain run is about 3 MiB). */
export const MAX_RESULT_FILE_BYTES = 64 * 1024 * 1024;

/** Reads the per-index files of one sweep and puts them in run order; refuses gaps and mixtures. */
export function collectResults(dir: string): SweepReport {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^run-\d+\.json$/.test(n)).sort();
  } catch (e) {
    throw new SweepInputError(`--collect ${dir}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (names.length === 0) throw new SweepInputError(`--collect ${dir}: no run-NNNNNN.json files`);
  let header: SweepHeader | undefined;
  let headerText = '';
  const runs = new Map<number, SweepRunResult>();
  for (const n of names) {
    let f: { sweep: SweepHeader; run: SweepRunResult };
    let bytes: Uint8Array;
    try {
      // A regular file in DIR only: no symlink out of it, no FIFO to hang on, bounded.
      bytes = readRegularFile(join(dir, n), { maxBytes: MAX_RESULT_FILE_BYTES, what: 'result file', noFollow: true });
    } catch (e) {
      if (e instanceof KernelFileError) throw new SweepInputError(`--collect: ${e.message}`);
      throw e;
    }
    try {
      f = JSON.parse(new TextDecoder().decode(bytes)) as typeof f;
    } catch (e) {
      throw new SweepInputError(`--collect: ${join(dir, n)}: not a result file: ${(e as Error).message.slice(0, 200)}`);
    }
    const shape = ResultFile.safeParse(f);
    if (!shape.success) {
      const issue = shape.error.issues[0]!;
      throw new SweepInputError(`--collect: ${join(dir, n)}: not a result file: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
    }
    const text = JSON.stringify(f.sweep);
    if (header === undefined) {
      header = f.sweep;
      headerText = text;
    } else if (text !== headerText) throw new SweepInputError(`--collect: ${join(dir, n)} is from another sweep (its scenario, --vary or --seeds differ from ${join(dir, names[0]!)})`);
    if (n !== runFileName(f.run.index)) throw new SweepInputError(`--collect: ${join(dir, n)} holds run ${f.run.index}`);
    runs.set(f.run.index, f.run);
  }
  const missing = Array.from({ length: header!.runs }, (_, i) => i).filter((i) => !runs.has(i));
  if (missing.length) throw new SweepInputError(`--collect ${dir}: ${missing.length} of ${header!.runs} runs missing (index ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''})`);
  const extra = [...runs.keys()].filter((i) => i >= header!.runs);
  if (extra.length) throw new SweepInputError(`--collect ${dir}: run index ${extra[0]} is past the sweep's ${header!.runs} runs`);
  return { sweep: header!, runs: Array.from({ length: header!.runs }, (_, i) => runs.get(i)!) };
}

function failedCount(r: SweepReport): number {
  return r.runs.filter((x) => !x.ok).length;
}

export async function sweepCommand(scenario: string | undefined, o: SweepCliOptions): Promise<number> {
  const bad = (msg: string) => {
    process.stderr.write(`pvsim sweep: ${msg}\n`);
    return SWEEP_EXIT_BAD_INPUT;
  };
  // Two outputs in one file: the later would overwrite the earlier after the whole sweep.
  const outs = ([['--csv', o.csv], ['--json', o.json], ['--html', o.html]] as const).filter(([, f]) => f !== undefined);
  for (const [i, [opt, f]] of outs.entries()) {
    const same = outs.slice(i + 1).find(([, g]) => g === f);
    if (same) return bad(`${opt} and ${same[0]} name the same file ${f}`);
  }
  try {
    if (o.collect !== undefined) {
      if (scenario !== undefined || o.vary?.length || o.seeds || o.index !== undefined || o.emit) return bad('--collect DIR takes no scenario, --vary, --seeds, --index or --emit: the result files say which sweep they are');
      const report = collectResults(o.collect);
      const unwritten = writeOutputs(report, o);
      process.stdout.write(sweepTable(report));
      return failedCount(report) || unwritten ? 1 : 0;
    }
    if (scenario === undefined) return bad('a scenario file is needed (or --collect DIR)');
    if (o.jobs !== undefined && o.jobs > MAX_SWEEP_JOBS) return bad(`--jobs ${o.jobs}: at most ${MAX_SWEEP_JOBS} worker processes`);
    const vary = o.vary ?? [];
    const plan: SweepPlan = makePlan(scenario, vary, o.seeds);
    if (o.emit !== undefined) {
      if (o.emit !== 'k8s') return bad(`--emit ${o.emit}: the one form is k8s (a Kubernetes Indexed Job)`);
      if (o.index !== undefined) return bad('--emit and --index do not go together');
      // What the API server would refuse, refused here.
      if (o.jobName !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.jobName)) return bad(`--job-name ${o.jobName}: a Job name is an RFC 1123 label (a-z, 0-9 and -, at most 63, alphanumeric at both ends)`);
      if (o.claim !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(o.claim)) return bad(`--claim ${o.claim}: a PersistentVolumeClaim name is an RFC 1123 subdomain`);
      if (o.image !== undefined && (o.image === '' || /\s/.test(o.image))) return bad(`--image "${o.image}": an image reference has no spaces`);
      if (o.workdir !== undefined && !o.workdir.startsWith('/')) return bad(`--workdir ${o.workdir}: an absolute path in the container`);
      const m = k8sJobManifest(plan.header, vary, {
        image: o.image ?? 'pvsim:latest',
        claim: o.claim ?? 'pvsim-sweep-results',
        parallelism: o.parallelism ?? 8,
        ...(o.jobName ? { jobName: o.jobName } : {}),
        ...(o.workdir ? { workingDir: o.workdir } : {}),
        ...(o.cpu ? { cpu: o.cpu } : {}),
      });
      process.stdout.write(JSON.stringify(m, null, 2) + '\n');
      return 0;
    }
    if (o.index !== undefined) {
      if (!/^\d+$/.test(o.index)) return bad(`--index "${o.index}": a run index 0..${plan.runs.length - 1} (in a Job: $JOB_COMPLETION_INDEX)`);
      const i = Number(o.index);
      if (i >= plan.runs.length) return bad(`--index ${i}: the sweep has ${plan.runs.length} runs (0..${plan.runs.length - 1})`);
      if (!o.out) return bad('--index needs --out DIR (where the run\'s result file goes)');
      // The directory before the run, so a bad --out costs no run.
      try {
        mkdirSync(o.out, { recursive: true });
      } catch (e) {
        return bad(`--out ${o.out}: cannot make the directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const result = await runSweepRun(plan, plan.runs[i]!, o.cpu);
      // Written whole or not at all: a pod killed mid-write leaves no half file to collect.
      // The temporary name is made afresh (wx): a stale one, or a symlink someone put there
      // on the shared volume, is removed rather than written through.
      const file = join(o.out, runFileName(i));
      rmSync(`${file}.tmp`, { force: true });
      writeFileSync(`${file}.tmp`, JSON.stringify({ sweep: plan.header, run: result }) + '\n', { flag: 'wx' });
      renameSync(`${file}.tmp`, file);
      process.stdout.write(`run ${i} (${describeRun(plan.runs[i]!)}): ${result.ok ? `trace-hash ${result.traceHash}` : `FAILED: ${result.error}`} -> ${file}\n`);
      // A failed run is a result (in the file; --collect reports it and exits 1): a Job
      // retrying the pod would only repeat the same deterministic failure.
      return 0;
    }
    const t0 = Date.now();
    const progress = new Progress({ prefix: 'pvsim sweep', flag: o.progress });
    // Drawn at each start and end of a run, and every second (long runs).
    let last: [number, number, number] = [0, plan.runs.length, 0];
    const text = () => `${progressBar(last[0], last[1], Math.max(10, Math.min(40, (process.stderr.columns || 80) - 50)))} ${last[0]}/${last[1]} runs, ${last[2]} running, ${elapsed(t0)}`;
    progress.every(1000, text);
    let runs: SweepRunResult[];
    try {
      runs = await runSweepInWorkers(plan, { scenario, vary, seeds: seedsText(plan.header.seeds), scenarioSha256: plan.header.scenarioSha256, ...(o.cpu ? { cpu: o.cpu } : {}) }, {
        jobs: o.jobs ?? Math.min(availableParallelism(), MAX_SWEEP_JOBS),
        timeoutMs: (o.timeout ?? 600) * 1000,
        onProgress: progress.enabled ? (d, t, r) => ((last = [d, t, r]), progress.update(text(), d === t)) : undefined,
      });
    } finally {
      progress.done();
    }
    const report: SweepReport = { sweep: plan.header, runs };
    const unwritten = writeOutputs(report, o);
    process.stdout.write(sweepTable(report));
    const failed = failedCount(report);
    if (failed) process.stderr.write(`pvsim sweep: ${failed} of ${runs.length} run(s) failed\n`);
    return failed || unwritten ? 1 : 0;
  } catch (e) {
    if (e instanceof SweepInputError) return bad(e.message);
    throw e;
  }
}
