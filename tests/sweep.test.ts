// pvsim sweep: the key grammar, parallel runs with byte-identical results, and the
// Kubernetes form (manifest checked against batch/v1 Job's schema, the indexed runs run
// locally exactly as the Job's pods run them, --collect equal to a direct sweep).

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyValues, makePlan, parseSeeds, planRuns, setCmdlineParam, SweepInputError } from '../sim/sweep/plan.ts';
import { collectResults } from '../cli/sweep.ts';
import { sweepCsv } from '../sim/sweep/output.ts';
import { failedRun } from '../sim/sweep/run.ts';
import { BatchV1Job } from './helpers/k8s_job_schema.ts';
import { writeTestGuests } from './helpers/test_guests.ts';
import { chromiumFor, expectAllDrawn, useReportBrowser, withReport } from './helpers/report_suite.ts';

const ROOT = resolve(import.meta.dirname, '..');
const guests = writeTestGuests();
const dir = mkdtempSync(join(tmpdir(), 'pvsim-sweep-'));
const scenarioFile = join(dir, 'sweep.json');
writeFileSync(
  scenarioFile,
  JSON.stringify({
    name: 'sweep test',
    pcpus: 1,
    until: '40ms',
    domains: [
      { name: 'hog', image: guests.spin, memory: 4, count: 2 },
      { name: 'io', image: guests.io1ms, memory: 4 },
    ],
  }),
);
const VARY = ['scheduler=credit,credit2'];
const SEEDS = '1..2';

const pvsim = (args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) =>
  spawnSync(process.execPath, [join(ROOT, 'bin/pvsim.js'), ...args], { encoding: 'utf8', timeout: 90_000, cwd: opts.cwd ?? ROOT, env: { ...process.env, TMPDIR: dir, ...opts.env } });

describe('sweep plans', () => {
  it('runs every combination, first key outermost and seeds innermost', () => {
    const runs = planRuns([{ key: 'scheduler', values: ['credit', 'credit2'] }, { key: 'pcpus', values: ['1', '2'] }], [1, 2]);
    expect(runs.map((r) => `${r.values.scheduler}/${r.values.pcpus}/${r.seed}`)).toEqual([
      'credit/1/1', 'credit/1/2', 'credit/2/1', 'credit/2/2', 'credit2/1/1', 'credit2/1/2', 'credit2/2/1', 'credit2/2/2',
    ]);
    expect(runs.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(parseSeeds('3..5')).toEqual([3, 4, 5]);
    expect(parseSeeds('7,1')).toEqual([7, 1]);
  });

  it('sets scenario fields, Xen parameters and domain fields by group', () => {
    const raw = { pcpus: 1, xen_cmdline: 'sched_ratelimit_us=500 foo', domains: [{ name: 'a', weight: 256 }, { name: 'b' }] };
    const s = applyValues(raw, { pcpus: '4', 'xen_cmdline.sched-ratelimit-us': '0', 'domains.a.weight': '512', 'domains.*.cmdline': '7' }) as typeof raw & { domains: Record<string, unknown>[] };
    expect(s.pcpus).toBe(4);
    expect(s.xen_cmdline).toBe('foo sched-ratelimit-us=0');
    expect(s.domains[0]).toEqual({ name: 'a', weight: 512, cmdline: '7' });
    expect(s.domains[1]).toEqual({ name: 'b', cmdline: '7' });
    expect(raw.domains[0]!.weight).toBe(256); // the original is untouched
    expect(setCmdlineParam('', 'sched', 'rtds')).toBe('sched=rtds');
  });

  it('refuses bad keys, values and seeds with messages that say what is allowed', () => {
    const bad: [string[], string | undefined, RegExp][] = [
      [['nope=1'], undefined, /--vary nope: unknown key; keys are scheduler, pcpus/],
      [['domains.hogg.weight=1'], undefined, /has no domain entry named "hogg" \(it has hog, io; \* means all\)/],
      [['domains.hog.wieght=1'], undefined, /"wieght" is not a domain field --vary can set/],
      [['xen_cmdline.sched_ratelimit=1'], undefined, /"sched_ratelimit" is not a Xen parameter pvsim reads/],
      [['domains.hog.weight=256,0'], undefined, /run 1 \(domains\.hog\.weight=0 seed 1\): .*domains\[0\]\.weight: 0 is out of range/],
      [['scheduler=credit,cfs'], undefined, /run 1 \(scheduler=cfs seed 1\): .*scheduler: Invalid option/],
      [['pcpus=1', 'pcpus=2'], undefined, /--vary pcpus is given twice/],
      [['pcpus=1,1'], undefined, /a value is given twice/],
      [['pcpus'], undefined, /expected KEY=V1,V2/],
      [['seed=1,2'], undefined, /give seeds with --seeds/],
      [[], '5..1', /--seeds 5\.\.1: the range is empty/],
      [[], '1,x', /"x" is not a seed/],
    ];
    for (const [vary, seeds, msg] of bad) {
      expect(() => makePlan(scenarioFile, vary, seeds), vary.join(' ')).toThrowError(SweepInputError);
      expect(() => makePlan(scenarioFile, vary, seeds), vary.join(' ')).toThrowError(msg);
    }
    expect(() => makePlan(join(dir, 'missing.json'), [], undefined)).toThrowError(/cannot read: ENOENT/);
  });
});

describe('sweep outputs', () => {
  it('gives a failed run one CSV row of the same width, with its error', () => {
    const header = { scenario: 's.json', scenarioSha256: '0', name: 's', vary: [{ key: 'scheduler', values: ['credit', 'x,y'] }], seeds: [1], runs: 2 };
    const ok = { index: 0, values: { scheduler: 'credit' }, seed: 1, ok: true, scheduler: 'credit', pcpus: 1, traceHash: 'ab', pcpuUtilisation: [1], fairness: { byWeight: [], byGroup: [] }, latencyByGroup: [], deadlineMisses: 0,
      domains: [{ name: 'd', group: 'd', weight: 256, cap: 0, cpuShare: 1, latency: { wakeups: 0, p50Ns: 0, p99Ns: 0, maxNs: 0, meanNs: 0 }, deadlineMisses: 0 }] };
    const bad = failedRun({ index: 1, values: { scheduler: 'x,y' }, seed: 1 }, 'it said "no"');
    const rows = sweepCsv({ sweep: header, runs: [ok, bad] }).trim().split('\n');
    const width = (row: string) => row.replace(/"(?:[^"]|"")*"/g, 'q').split(',').length;
    expect(rows.map(width)).toEqual([20, 20, 20]);
    expect(rows[2]).toMatch(/^1,"x,y",1,,.*,"it said ""no"""$/);
  });
});

describe('pvsim sweep', () => {
  const out = (name: string) => join(dir, name);
  let direct: { csv: string; json: string; html: string };

  it('runs every combination in worker processes; the same sweep gives the same bytes', () => {
    const a = pvsim(['sweep', scenarioFile, ...VARY.flatMap((v) => ['--vary', v]), '--seeds', SEEDS, '--jobs', '2', '--csv', out('a.csv'), '--json', out('a.json'), '--html', out('a.html')]);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toBe(''); // no progress bar when stderr is not a terminal
    expect(a.stdout).toMatch(/^sweep sweep test: 4 runs \(scheduler x2, seeds x2\)\nrun 0 scheduler=credit seed 1: hog \d+\.\d%, io /);
    const b = pvsim(['sweep', scenarioFile, ...VARY.flatMap((v) => ['--vary', v]), '--seeds', SEEDS, '--jobs', '1', '--csv', out('b.csv'), '--json', out('b.json'), '--html', out('b.html')]);
    expect(b.status, b.stderr).toBe(0);
    direct = { csv: readFileSync(out('a.csv'), 'utf8'), json: readFileSync(out('a.json'), 'utf8'), html: readFileSync(out('a.html'), 'utf8') };
    expect(readFileSync(out('b.csv'), 'utf8')).toBe(direct.csv);
    expect(readFileSync(out('b.json'), 'utf8')).toBe(direct.json);
    expect(readFileSync(out('b.html'), 'utf8')).toBe(direct.html);
    const rows = direct.csv.trim().split('\n');
    expect(rows[0]).toMatch(/^run,vary\.scheduler,seed,scheduler,pcpus,domain,group,weight,cap,cpu_share,wakeups,latency_p50_us,latency_p99_us,/);
    expect(rows).toHaveLength(1 + 4 * 3); // one row per run and domain
    const json = JSON.parse(direct.json) as { sweep: { runs: number }; runs: { ok: boolean; scheduler: string; seed: number; traceHash: string }[] };
    expect(json.sweep.runs).toBe(4);
    expect(json.runs.map((r) => [r.scheduler, r.seed, r.ok])).toEqual([['credit', 1, true], ['credit', 2, true], ['credit2', 1, true], ['credit2', 2, true]]);
    // The same run as `pvsim run` gives: the same trace hash.
    const single = pvsim(['run', '--in-process', scenarioFile, '--seed', '2']);
    expect(single.stdout).toContain(`trace-hash: ${json.runs[3]!.traceHash}`);
  }, 120_000);

  it('refuses a bad key before anything runs, and writes nothing', () => {
    const r = pvsim(['sweep', scenarioFile, '--vary', 'domains.hog.wieght=1,2', '--csv', out('bad.csv')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^pvsim sweep: --vary domains\.hog\.wieght: "wieght" is not a domain field/);
    expect(existsSync(out('bad.csv'))).toBe(false);
    expect(pvsim(['sweep', scenarioFile, '--emit', 'slurm']).stderr).toMatch(/--emit slurm: the one form is k8s/);
    expect(pvsim(['sweep', scenarioFile, '--index', '9', '--out', dir]).stderr).toMatch(/--index 9: the sweep has 1 runs \(0\.\.0\)/);
  }, 60_000);

  it('as a Kubernetes Indexed Job: a valid batch/v1 manifest, pods run locally as the Job runs them, --collect equals the direct sweep', () => {
    const emit = pvsim(['sweep', scenarioFile, ...VARY.flatMap((v) => ['--vary', v]), '--seeds', SEEDS, '--emit', 'k8s', '--image', 'registry.example/pvsim:0.1.0', '--parallelism', '3', '--workdir', ROOT]);
    expect(emit.status, emit.stderr).toBe(0);
    const parsed = BatchV1Job.safeParse(JSON.parse(emit.stdout));
    expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues)).toBe(true);
    const job = parsed.data!;
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.completions).toBe(4);
    expect(job.spec.parallelism).toBe(3);
    const c = job.spec.template.spec.containers[0]!;
    expect(c.image).toBe('registry.example/pvsim:0.1.0');
    expect(c.command!.slice(0, 2)).toEqual(['sh', '-c']);
    expect(c.command![2]).toContain('--index "$JOB_COMPLETION_INDEX"');
    // The schema catches what kubectl would refuse.
    expect(BatchV1Job.safeParse({ ...job, spec: { ...job.spec, completions: undefined } }).success).toBe(false);
    expect(BatchV1Job.safeParse({ ...job, spec: { ...job.spec, template: { ...job.spec.template, spec: { ...job.spec.template.spec, restartPolicy: 'Always' } } } }).success).toBe(false);
    expect(BatchV1Job.safeParse({ ...job, metadata: { name: 'Pvsim_Sweep' } }).success).toBe(false);
    expect(BatchV1Job.safeParse({ ...job, spec: { ...job.spec, paralellism: 2 } }).success).toBe(false);

    // Each pod: the container's command under sh, with the environment the Job gives it
    // (its env, JOB_COMPLETION_INDEX), in its working directory, the volume at a local path.
    const volume = join(dir, 'volume');
    mkdirSync(volume);
    const mount = c.volumeMounts![0]!.mountPath;
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'pvsim'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/pvsim.js')}" "$@"\n`);
    chmodSync(join(bin, 'pvsim'), 0o755);
    const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env.PATH}`, TMPDIR: dir };
    for (const e of c.env ?? []) env[e.name] = e.value!.startsWith(mount) ? volume + e.value!.slice(mount.length) : e.value;
    for (let i = 0; i < job.spec.completions!; i++) {
      const pod = spawnSync(c.command![0]!, c.command!.slice(1), { encoding: 'utf8', timeout: 60_000, cwd: c.workingDir, env: { ...env, JOB_COMPLETION_INDEX: String(i) } });
      expect(pod.status, pod.stderr).toBe(0);
    }
    const results = join(volume, job.metadata.name);
    expect(readdirSync(results).sort()).toEqual(['run-000000.json', 'run-000001.json', 'run-000002.json', 'run-000003.json']);
    const col = pvsim(['sweep', '--collect', results, '--csv', out('k.csv'), '--json', out('k.json'), '--html', out('k.html')]);
    expect(col.status, col.stderr).toBe(0);
    expect(readFileSync(out('k.csv'), 'utf8')).toBe(direct.csv);
    expect(readFileSync(out('k.json'), 'utf8')).toBe(direct.json);
    expect(readFileSync(out('k.html'), 'utf8')).toBe(direct.html);

    // An incomplete or mixed directory is refused, naming what is wrong.
    const partial = join(dir, 'partial');
    mkdirSync(partial);
    for (const n of ['run-000000.json', 'run-000002.json']) writeFileSync(join(partial, n), readFileSync(join(results, n)));
    expect(() => collectResults(partial)).toThrowError(/2 of 4 runs missing \(index 1, 3\)/);
    const other = JSON.parse(readFileSync(join(results, 'run-000001.json'), 'utf8')) as { sweep: { seeds: number[] } };
    other.sweep.seeds = [9];
    writeFileSync(join(partial, 'run-000001.json'), JSON.stringify(other));
    expect(() => collectResults(partial)).toThrowError(/run-000001\.json is from another sweep/);
    rmSync(partial, { recursive: true });
  }, 120_000);
});

const CHROMIUM = chromiumFor('sweep.test.ts');
describe.skipIf(!CHROMIUM)('the sweep report in headless chromium', () => {
  const browser = useReportBrowser(CHROMIUM);

  it('draws every figure against the varied key', async () => {
    const html = readFileSync(join(dir, 'a.html'), 'utf8');
    await withReport(browser(), html, 'sweep-report', (page) => {
      expect(page.drawn).toBeGreaterThanOrEqual(3);
      expectAllDrawn(page);
      expect(page.figures.map((f) => f.title)).toContain('CPU share per domain (mean of the group) against scheduler');
    });
  }, 60_000);
});
