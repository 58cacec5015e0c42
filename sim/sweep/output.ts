// A sweep's results as CSV and JSON (one row per run and domain) and as an HTML page (the
// report kit): deterministic, from the header and the runs alone, so a direct sweep and one
// collected from a Kubernetes Job's per-index files give the same bytes. docs/sweep.md.

import { renderHtmlReport, type Block, type HtmlReport, type ReportSection } from '../report_html/index.ts';
import type { SweepHeader } from './plan.ts';
import type { SweepRunResult } from './run.ts';

export interface SweepReport {
  sweep: SweepHeader;
  runs: SweepRunResult[];
}

const us = (ns: number) => (ns / 1e3).toFixed(3);

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const CSV_COLUMNS = [
  'run', 'seed', 'scheduler', 'pcpus', 'domain', 'group', 'weight', 'cap', 'cpu_share', 'wakeups',
  'latency_p50_us', 'latency_p99_us', 'latency_max_us', 'latency_mean_us', 'deadline_misses', 'jain_group', 'jain_weight', 'trace_hash', 'error',
] as const;

/**
 * One row per run and domain (a failed run: one row with its error); the varied keys after
 * `run`, as `vary.KEY` columns (a key may share a name with a column, e.g. scheduler).
 */
export function sweepCsv(r: SweepReport): string {
  const keys = r.sweep.vary.map((a) => a.key);
  const head = [CSV_COLUMNS[0], ...keys.map((k) => `vary.${k}`), ...CSV_COLUMNS.slice(1)];
  const lines = [head.map(csvCell).join(',')];
  for (const run of r.runs) {
    const vals = keys.map((k) => run.values[k] ?? '');
    if (!run.ok) {
      lines.push([run.index, ...vals, run.seed, ...new Array<string>(CSV_COLUMNS.length - 3).fill(''), run.error ?? 'failed'].map(csvCell).join(','));
      continue;
    }
    const jg = new Map(run.fairness.byGroup.map((f) => [f.key, f.jain]));
    const jw = new Map(run.fairness.byWeight.map((f) => [f.key, f.jain]));
    for (const d of run.domains) {
      lines.push(
        [
          run.index, ...vals, run.seed, run.scheduler, run.pcpus, d.name, d.group, d.weight, d.cap, d.cpuShare.toFixed(4), d.latency.wakeups,
          us(d.latency.p50Ns), us(d.latency.p99Ns), us(d.latency.maxNs), us(d.latency.meanNs), d.deadlineMisses,
          (jg.get(d.group) ?? 1).toFixed(4), (jw.get(String(d.weight)) ?? 1).toFixed(4), run.traceHash, '',
        ].map(csvCell).join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

export function sweepJson(r: SweepReport): string {
  return JSON.stringify({ sweep: r.sweep, runs: r.runs }, null, 2) + '\n';
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

interface Figure {
  title: string;
  yLabel: string;
  unit: string;
  /** The run's figure for a group (null: the group is not in the run, or has none). */
  of: (run: SweepRunResult, group: string) => number | null;
}

const FIGURES: Figure[] = [
  { title: 'CPU share per domain (mean of the group)', yLabel: 'CPU share (% of one pCPU)', unit: ' %', of: (run, g) => { const f = run.fairness.byGroup.find((x) => x.key === g); return f ? 100 * f.meanShare : null; } },
  { title: 'Wake-to-run latency, p99', yLabel: 'p99 latency (µs)', unit: ' µs', of: (run, g) => { const l = run.latencyByGroup.find((x) => x.group === g); return l && l.wakeups > 0 ? l.p99Ns / 1e3 : null; } },
  { title: "Jain's fairness index within the group", yLabel: "Jain's index (1 = equal)", unit: '', of: (run, g) => run.fairness.byGroup.find((x) => x.key === g)?.jain ?? null },
];

/** The figures against one axis's values (means over seeds and the other keys' values). */
function axisBlocks(r: SweepReport, key: string, values: string[], valueOf: (run: SweepRunResult) => string, groups: string[]): Block[] {
  const ok = r.runs.filter((x) => x.ok);
  const numeric = values.every((v) => /^-?\d+(\.\d+)?$/.test(v));
  const at = (v: string) => ok.filter((x) => valueOf(x) === v);
  const blocks: Block[] = [];
  const chart = (title: string, yLabel: string, unit: string, series: { name: string; values: (number | null)[] }[], extra: { valueMax?: number } = {}): Block =>
    numeric
      ? { kind: 'line', title, xLabel: key, yLabel, unit, yMin: 0, ...(extra.valueMax !== undefined ? { yMax: extra.valueMax } : {}), markers: true, series: series.map((s) => ({ name: s.name, points: values.map((v, i) => [Number(v), s.values[i] ?? null] as [number, number | null]) })) }
      : { kind: 'bar', title, xLabel: key, yLabel, unit, valueMin: 0, ...(extra.valueMax !== undefined ? { valueMax: extra.valueMax } : {}), categories: values, series };
  for (const f of FIGURES) {
    const series = groups.map((g) => ({ name: g, values: values.map((v) => r3(mean(at(v).map((run) => f.of(run, g)).filter((x): x is number => x !== null)))) }));
    if (series.every((s) => s.values.every((x) => x === null))) continue;
    blocks.push(chart(`${f.title} against ${key}`, f.yLabel, f.unit, series, f.unit === '' ? { valueMax: 1 } : {}));
  }
  blocks.push(chart(`pCPU utilisation against ${key}`, 'mean utilisation (%)', ' %', [{ name: 'all pCPUs', values: values.map((v) => r3(mean(at(v).flatMap((run) => run.pcpuUtilisation.map((u) => 100 * u))))) }], { valueMax: 100 }));
  return blocks;
}

export function sweepHtmlReport(r: SweepReport): HtmlReport {
  const groups = [...new Set(r.runs.flatMap((x) => x.domains.map((d) => d.group)))];
  const failed = r.runs.filter((x) => !x.ok);
  const axes = r.sweep.vary.length ? r.sweep.vary : [{ key: 'seed', values: r.sweep.seeds.map(String) }];
  const sections: ReportSection[] = axes.map((a) => ({
    heading: `Against ${a.key}`,
    intro: `Each point is the mean over ${r.sweep.seeds.length} seed(s)${r.sweep.vary.length > 1 ? ' and the other keys\' values' : ''} of the runs with ${a.key} at that value.`,
    blocks: axisBlocks(r, a.key, a.values, (run) => (a.key === 'seed' && r.sweep.vary.length === 0 ? String(run.seed) : run.values[a.key]!), groups),
  }));
  const keys = r.sweep.vary.map((a) => a.key);
  sections.push({
    heading: 'Runs',
    blocks: [
      ...(failed.length
        ? [{ kind: 'table', title: 'Failed runs', columns: [{ label: 'run' }, ...keys.map((k) => ({ label: k })), { label: 'seed' }, { label: 'error' }], rows: failed.map((x) => [x.index, ...keys.map((k) => x.values[k] ?? ''), x.seed, x.error ?? '']), rowStatus: failed.map(() => 'bad' as const) } satisfies Block]
        : []),
      {
        kind: 'table',
        title: 'Every run, per domain group',
        collapsed: r.runs.length > 20,
        columns: [{ label: 'run' }, ...keys.map((k) => ({ label: k })), { label: 'seed' }, { label: 'group' }, { label: 'domains', numeric: true }, { label: 'mean share (%)', numeric: true }, { label: 'Jain', numeric: true }, { label: 'p99 (µs)', numeric: true }, { label: 'trace hash' }],
        rows: r.runs.filter((x) => x.ok).flatMap((x) =>
          x.fairness.byGroup.map((f) => {
            const l = x.latencyByGroup.find((y) => y.group === f.key);
            return [x.index, ...keys.map((k) => x.values[k] ?? ''), x.seed, f.key, f.domains, r3(100 * f.meanShare), f.jain, l && l.wakeups ? r3(l.p99Ns / 1e3) : null, x.traceHash];
          }),
        ),
      },
    ],
  });
  return {
    title: `pvsim sweep: ${r.sweep.name}`,
    subtitle: `${r.sweep.runs} runs${failed.length ? `, ${failed.length} failed` : ''}`,
    meta: [
      ['scenario', r.sweep.scenario],
      ['scenario sha256', r.sweep.scenarioSha256],
      ...r.sweep.vary.map((a) => [`--vary ${a.key}`, a.values.join(', ')] as [string, string]),
      ['seeds', r.sweep.seeds.join(', ')],
    ],
    sections,
  };
}

export function sweepHtml(r: SweepReport): string {
  return renderHtmlReport(sweepHtmlReport(r));
}
